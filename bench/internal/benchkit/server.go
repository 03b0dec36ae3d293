package benchkit

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/stack"
)

// Server is a running `dvs2s serve` process.
type Server struct {
	*Proc
	Port int        // the identity service's; the demo environment is on Port+1
	Info stack.Info // its stack.json
}

// Serve starts `bin serve --data dataDir --port P --log-level warn`, then
// args, on free ports (P for the identity service, P+1 for the demo
// environment) and waits, at most ready, until its stack.json names port
// P and /readyz answers 200.
func Serve(ctx context.Context, bin, dataDir string, ready time.Duration, args ...string) (*Server, error) {
	port, err := FreePortPair()
	if err != nil {
		return nil, err
	}
	p, err := Start(bin, append([]string{"serve", "--data", dataDir, "--port", strconv.Itoa(port), "--log-level", "warn"}, args...)...)
	if err != nil {
		return nil, err
	}
	s := &Server{Proc: p, Port: port}
	deadline := time.Now().Add(ready)
	stackFile := filepath.Join(dataDir, "stack.json")
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("dvs2s serve exited: %s\n%s", s.Cmd.ProcessState, s.Stderr.String())
		case <-ctx.Done():
			s.Stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.Stop()
			return nil, fmt.Errorf("dvs2s serve not ready after %.0fs:\n%s", ready.Seconds(), s.Stderr.String())
		}
		b, err := os.ReadFile(stackFile)
		if err != nil {
			continue
		}
		var info stack.Info
		if json.Unmarshal(b, &info) != nil || !strings.HasSuffix(info.AuthorityHost, ":"+strconv.Itoa(port)) {
			continue // being written, or left by an earlier start
		}
		c, err := Client(info.CAFile, 1)
		if err != nil {
			continue
		}
		resp, err := c.Get(info.AuthorityHost + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			s.Info = info
			return s, nil
		}
	}
}

// FreePortPair returns a port P such that P and P+1 are both free on
// 127.0.0.1 (the stack uses P+1 for the demo environment).
func FreePortPair() (int, error) {
	for range 50 {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return 0, err
		}
		p := ln.Addr().(*net.TCPAddr).Port
		ln2, err := net.Listen("tcp", "127.0.0.1:"+strconv.Itoa(p+1))
		ln.Close()
		if err == nil {
			ln2.Close()
			return p, nil
		}
	}
	return 0, errors.New("no free pair of adjacent ports")
}

// Client returns a client trusting the certificates in caFile that keeps
// up to conns HTTP/1.1 connections alive (HTTP/1.1 as wrk and hey speak
// it, one request per connection at a time).
func Client(caFile string, conns int) (*http.Client, error) {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s: no certificate", caFile)
	}
	tr := &http.Transport{
		TLSClientConfig:     &tls.Config{RootCAs: pool},
		TLSNextProto:        map[string]func(string, *tls.Conn) http.RoundTripper{}, // no HTTP/2
		MaxIdleConns:        conns,
		MaxIdleConnsPerHost: conns,
		MaxConnsPerHost:     conns,
		IdleConnTimeout:     time.Minute,
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, nil
}
