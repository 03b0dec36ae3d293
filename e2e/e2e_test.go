// Package e2e holds black-box tests that start the whole stack on loopback
// (free ports, temporary data directory) and talk to it over real HTTPS with
// unmodified client libraries.
package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/stack"
)

// testStack is a running stack and what a client needs to reach it.
type testStack struct {
	*stack.Stack
	dir    string
	client *http.Client // trusts the stack's CA
	logs   *syncBuffer  // everything the stack logged
}

// start starts a stack in a temporary directory (or dir, if not empty) on
// free ports and stops it when the test ends.
func start(t testing.TB, dir string, mod ...func(*stack.Config)) *testStack {
	t.Helper()
	if dir == "" {
		dir = t.TempDir()
	}
	logs := &syncBuffer{}
	c := stack.Config{DataDir: dir, Port: 0, Logger: slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))}
	for _, m := range mod {
		m(&c)
	}
	if c.Database == "" {
		c.Database = stackDatabase(t, dir) // DVS2S_E2E_POSTGRES: see postgres_test.go
	}
	s, err := stack.Start(context.Background(), c)
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	ts := &testStack{Stack: s, dir: dir, logs: logs, client: httpClient(t, s.CAPool)}
	t.Cleanup(func() { ts.stop(t) })
	return ts
}

var stopped sync.Map

func (ts *testStack) stop(t testing.TB) {
	if _, done := stopped.LoadOrStore(ts, true); done {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := ts.Close(ctx); err != nil {
		t.Errorf("stop stack: %v", err)
	}
}

func httpClient(t testing.TB, caPEM []byte) *http.Client {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(caPEM) {
		t.Fatal("bad CA PEM")
	}
	return &http.Client{
		Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}},
		Timeout:   30 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// authority returns the authority URL of a tenant.
func (ts *testStack) authority(tenantID string) string { return ts.Info.AuthorityHost + "/" + tenantID }

// envURL returns the demo environment's URL (the resource of its tokens).
func (ts *testStack) envURL(t testing.TB) string {
	t.Helper()
	rs, err := ts.Store.ListResources(context.Background(), "")
	if err != nil || len(rs) == 0 {
		t.Fatalf("no resource registered: %v", err)
	}
	return rs[0].URI
}

type syncBuffer struct {
	mu sync.Mutex
	b  strings.Builder
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var _ io.Writer = (*syncBuffer)(nil)
