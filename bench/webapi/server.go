package main

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// The process helpers here follow bench/tokens (server.go): same start,
// readiness check, CPU accounting and HTTP/1.1 client, so the two
// benchmarks measure the same way.

// stackInfo is the part of <data>/stack.json the benchmark reads.
type stackInfo struct {
	CAFile        string `json:"ca_file"`
	AuthorityHost string `json:"authority_host"`
	Tenants       []struct {
		Name string `json:"name"`
		ID   string `json:"id"`
	} `json:"tenants"`
	Apps []struct {
		Name         string `json:"name"`
		ClientID     string `json:"client_id"`
		ClientSecret string `json:"client_secret"`
	} `json:"apps"`
	Environments []struct {
		Name string `json:"name"`
		URL  string `json:"url"`
	} `json:"environments"`
}

// proc is a process the benchmark started and measures: `dvs2s serve`, or
// the bare baseline server.
type proc struct {
	cmd    *exec.Cmd
	stderr *lockedBuffer
	done   chan struct{}
}

func startProc(name string, args ...string) (*proc, error) {
	p := &proc{stderr: &lockedBuffer{}, done: make(chan struct{})}
	p.cmd = exec.Command(name, args...)
	p.cmd.Stderr = p.stderr
	if err := p.cmd.Start(); err != nil {
		return nil, err
	}
	go func() { p.cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

func (p *proc) exited() bool {
	select {
	case <-p.done:
		return true
	default:
		return false
	}
}

// stop interrupts the process (graceful shutdown) and kills it if it has
// not exited within 15 seconds.
func (p *proc) stop() {
	if p == nil || p.exited() {
		return
	}
	p.cmd.Process.Signal(os.Interrupt)
	select {
	case <-p.done:
	case <-time.After(15 * time.Second):
		p.cmd.Process.Kill()
		<-p.done
	}
}

// cpuSeconds returns the CPU time (user + system) the process has used so
// far, from /proc (Linux), or -1.
func (p *proc) cpuSeconds() float64 { return procCPUSeconds(p.pid()) }

// server is a running `dvs2s serve` process.
// serveArgs are extra arguments of the measured server's serve command
// (-serve-args).
var serveArgs string

type server struct {
	*proc
	port int
	info stackInfo
}

// startServer starts `bin serve` on free ports (P for the identity service,
// P+1 for the demo environment) with the service protection limits off
// (Dataverse's defaults, 6000 requests per 5 minutes per user, would
// refuse most of the benchmark's requests) and waits until /readyz
// answers.
func startServer(ctx context.Context, bin, dataDir string) (*server, error) {
	port, err := freePortPair()
	if err != nil {
		return nil, err
	}
	args := []string{"serve", "--data", dataDir, "--port", strconv.Itoa(port), "--log-level", "warn",
		"--limit-requests", "-1", "--limit-execution-time", "-1s", "--limit-concurrent", "-1", "--token-lifetime", "12h"}
	if database != "" {
		args = append(args, "--database", database)
	}
	args = append(args, strings.Fields(serveArgs)...)
	p, err := startProc(bin, args...)
	if err != nil {
		return nil, err
	}
	s := &server{proc: p, port: port}
	deadline := time.Now().Add(120 * time.Second)
	stackFile := filepath.Join(dataDir, "stack.json")
	for {
		select {
		case <-s.done:
			return nil, fmt.Errorf("dvs2s serve exited: %s\n%s", s.cmd.ProcessState, s.stderr.String())
		case <-ctx.Done():
			s.stop()
			return nil, ctx.Err()
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			s.stop()
			return nil, fmt.Errorf("dvs2s serve not ready after 120s:\n%s", s.stderr.String())
		}
		b, err := os.ReadFile(stackFile)
		if err != nil {
			continue
		}
		var info stackInfo
		if json.Unmarshal(b, &info) != nil || !strings.HasSuffix(info.AuthorityHost, ":"+strconv.Itoa(port)) {
			continue // being written, or left by an earlier start
		}
		c, err := httpClient(info.CAFile, 1)
		if err != nil {
			continue
		}
		resp, err := c.Get(info.AuthorityHost + "/readyz")
		if err != nil {
			continue
		}
		resp.Body.Close()
		if resp.StatusCode == http.StatusOK {
			s.info = info
			return s, nil
		}
	}
}

// procCPUSeconds reads utime + stime of a process from /proc/PID/stat.
func procCPUSeconds(pid int) float64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return -1
	}
	// The command name (field 2) may hold spaces; fields after it are fixed.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return -1
	}
	f := strings.Fields(string(b[i+1:]))
	if len(f) < 13 {
		return -1
	}
	ut, err1 := strconv.ParseFloat(f[11], 64) // field 14
	st, err2 := strconv.ParseFloat(f[12], 64) // field 15
	if err1 != nil || err2 != nil {
		return -1
	}
	return (ut + st) / clockTicks
}

// clockTicks is USER_HZ, 100 on every Linux architecture Go supports.
const clockTicks = 100

// procMemKB reads a field of /proc/PID/status in kB (VmRSS: resident set
// now; VmHWM: its peak since the process started), or -1.
func procMemKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// rssSampler records the peak VmRSS of a process while a phase runs.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	peak int64
	last int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: -1}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := procMemKB(pid, "VmRSS"); v >= 0 {
				s.last = v
				s.peak = max(s.peak, v)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the peak and the last VmRSS in kB.
func (s *rssSampler) end() (peak, last int64) {
	close(s.stop)
	<-s.done
	return s.peak, s.last
}

// freePortPair returns a port P such that P and P+1 are both free on
// 127.0.0.1 (the stack uses P+1 for the demo environment).
func freePortPair() (int, error) {
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

// httpClient returns a client trusting caFile that keeps up to conns
// HTTP/1.1 connections alive (HTTP/1.1 as wrk speaks it, one request per
// connection at a time).
func httpClient(caFile string, conns int) (*http.Client, error) {
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

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len() > 1<<20 {
		return len(p), nil
	}
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}
