package main

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"log"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"time"
)

// The bare baseline is this program started again with -bare <spec>: a
// Go HTTPS server with the stack's TLS and http.Server settings (same
// certificate, TLS 1.2 minimum, ALPN h2 and http/1.1, one http.Server on a
// tls.NewListener, the same timeouts; see stack/stack.go) whose handler
// answers every request with the recorded Web API response: the same
// status, the same header fields (request ids and rate-limit counters
// frozen at their recorded values) and the same body bytes. A request with
// a query string gets the list response, any other the GET-by-id
// response. It reads nothing of the request but its URL, so it is the
// cost of TLS, HTTP and the response alone.

// bareSpec is what the bare server serves.
type bareSpec struct {
	CertFile string   `json:"cert_file"`
	KeyFile  string   `json:"key_file"`
	Port     int      `json:"port"`
	Get      recorded `json:"get"`
	List     recorded `json:"list"`
}

// recorded is one Web API response, as the bare server replays it.
type recorded struct {
	Status int         `json:"status"`
	Header http.Header `json:"header"`
	Body   []byte      `json:"body"`
}

func record(resp *http.Response, body []byte) recorded {
	h := resp.Header.Clone()
	h.Del("Date")           // net/http writes its own
	h.Del("Content-Length") // and this one
	return recorded{Status: resp.StatusCode, Header: h, Body: body}
}

// serveBare runs the bare server until interrupted.
func serveBare(specFile string) {
	b, err := os.ReadFile(specFile)
	if err != nil {
		log.Fatal(err)
	}
	var spec bareSpec
	if err := json.Unmarshal(b, &spec); err != nil {
		log.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(spec.CertFile, spec.KeyFile)
	if err != nil {
		log.Fatal(err)
	}
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	ln, err := net.Listen("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(spec.Port)))
	if err != nil {
		log.Fatal(err)
	}
	reply := func(w http.ResponseWriter, rec *recorded) {
		h := w.Header()
		for k, v := range rec.Header {
			h[k] = v
		}
		w.WriteHeader(rec.Status)
		w.Write(rec.Body)
	}
	srv := &http.Server{
		Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if r.URL.RawQuery != "" {
				reply(w, &spec.List)
				return
			}
			reply(w, &spec.Get)
		}),
		ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	go func() {
		<-ctx.Done()
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		srv.Shutdown(sctx)
	}()
	fmt.Fprintln(os.Stderr, "bare server ready")
	if err := srv.Serve(tls.NewListener(ln, tlsConf)); err != nil && err != http.ErrServerClosed {
		log.Fatal(err)
	}
}
