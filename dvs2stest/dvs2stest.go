// Package dvs2stest gives Go tests a complete dvs2s stack — the identity
// service and the Dataverse Web API, over real HTTPS on loopback — and the
// demo's credentials, ready to use:
//
//	func TestSync(t *testing.T) {
//		s := dvs2stest.Start(t) // stopped and removed when the test ends
//		id, err := s.Client.Create(ctx, "accounts", map[string]any{"name": "Contoso"})
//		...
//	}
//
// Every Start gets its own stack: a new temporary data directory and free
// ports, so tests may run in parallel (t.Parallel). The stack speaks the
// real protocols; the code under test needs only a base URL, an
// azcore.TokenCredential (or an authority, client id and secret) and an
// HTTP client that trusts the stack's CA — all in Stack.
//
// # Speed
//
// A stack's first start on an empty directory generates its keys (the
// local CA, the TLS certificate, the token-signing RSA key, the demo
// app's RSA certificate) and hashes the demo users' passwords with
// argon2id, and creates and seeds the environment database: about a
// second or two of CPU. Start does that once per test process, into a
// template data directory held in memory, and gives every stack a copy,
// whose start takes tens of milliseconds (docs/benchmarks.md). The
// consequence: the stacks of one test process share their master key,
// local CA and signing key (each has its own ports, issuer URLs and data,
// so a token of one stack is refused by another). Use WithoutTemplate for
// a stack with keys of its own.
package dvs2stest

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net/http"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/snapshot"
	"github.com/dvs2s/dvs2s/stack"
)

// Stack is a running stack and what a client needs to use it. The demo
// fields are empty (and Credential and Client nil) when the demo is not
// seeded (WithConfig setting NoDemo).
type Stack struct {
	// Server is the running stack: its Directory, Envs and Store let a
	// test set up tenants, apps, users and rows directly.
	Server *stack.Stack
	// Info is what the stack's stack.json holds: every tenant, app (with
	// the demo's secrets and certificate files), environment and user.
	Info    stack.Info
	DataDir string

	// AuthorityHost is the identity service, e.g. https://localhost:41234
	// (no trailing slash); an authority is AuthorityHost + "/" + tenant.
	AuthorityHost string
	// CAFile, CAPEM and CAPool are the stack's local CA; HTTPClient trusts
	// it (and nothing else).
	CAFile     string
	CAPEM      []byte
	CAPool     *x509.CertPool
	HTTPClient *http.Client

	// The demo's S2S credentials: the multi-tenant Fabrikam Portal app, in
	// the customer tenant contoso, for the contoso environment, where it
	// has an application user with a custom security role.
	TenantID       string
	Authority      string // AuthorityHost + "/" + TenantID
	ClientID       string
	ClientSecret   string
	EnvironmentURL string // e.g. https://localhost:41235 (no trailing slash)
	Scope          string // EnvironmentURL + "/.default"
	// Credential is an azidentity client-secret credential of the demo
	// app in contoso; Client a dataverse.Client of the environment that
	// uses it.
	Credential azcore.TokenCredential
	Client     *dataverse.Client

	logs      *logBuffer
	tmp       string // removed by Close when New made it
	closeOnce sync.Once
	closeErr  error
}

// Option configures a stack.
type Option func(*options)

type options struct {
	config     []func(*stack.Config)
	logger     *slog.Logger
	snapshot   string
	noTemplate bool
}

// WithConfig changes the stack's configuration before it starts (token
// lifetime, service protection limits, NoDemo...). DataDir and Port are
// set by dvs2stest; changing them is at your own risk.
func WithConfig(f func(*stack.Config)) Option {
	return func(o *options) { o.config = append(o.config, f) }
}

// WithLogger sends the stack's logs to l. By default Start keeps them and
// writes them to the test log if the test fails; New discards them.
func WithLogger(l *slog.Logger) Option {
	return func(o *options) { o.logger = l }
}

// WithSnapshot seeds the data directory from a snapshot file written by
// `dvs2s snapshot export` (or snapshot.Export), instead of the template:
// the stack starts with that snapshot's tenants, apps, secrets and rows.
func WithSnapshot(file string) Option {
	return func(o *options) { o.snapshot = file }
}

// WithoutTemplate starts the stack on an empty data directory, as a
// first `dvs2s serve` does: slower (new keys, new password hashes), for
// tests of that first start or that need keys no other stack has.
func WithoutTemplate() Option {
	return func(o *options) { o.noTemplate = true }
}

// Start starts a stack for the test and stops it, and removes its data
// directory, when the test and its subtests end. It fails the test if the
// stack does not start.
func Start(t testing.TB, opts ...Option) *Stack {
	t.Helper()
	var o options
	for _, f := range opts {
		f(&o)
	}
	var logs *logBuffer
	if o.logger == nil {
		logs = &logBuffer{}
		o.logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	s, err := start(context.Background(), t.TempDir(), o)
	if err != nil {
		t.Fatalf("dvs2stest: %v", err)
	}
	s.logs = logs
	t.Cleanup(func() {
		if err := s.Close(); err != nil {
			t.Errorf("dvs2stest: stopping the stack: %v", err)
		}
		if t.Failed() && logs != nil {
			t.Logf("dvs2stest: the stack's log:\n%s", logs.String())
		}
	})
	return s
}

// New starts a stack outside of a test's lifetime — in TestMain, to share
// one stack among a package's tests, or in an example. Close stops it and
// removes its data directory.
func New(ctx context.Context, opts ...Option) (*Stack, error) {
	var o options
	for _, f := range opts {
		f(&o)
	}
	if o.logger == nil {
		o.logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	tmp, err := os.MkdirTemp("", "dvs2stest-")
	if err != nil {
		return nil, err
	}
	s, err := start(ctx, tmp, o)
	if err != nil {
		os.RemoveAll(tmp)
		return nil, err
	}
	s.tmp = tmp
	return s, nil
}

// Close stops the stack (in-flight requests finish first, for up to ten
// seconds). Start calls it when the test ends; calling it again does
// nothing.
func (s *Stack) Close() error {
	s.closeOnce.Do(func() {
		// Idle HTTP/2 connections first: a server's graceful shutdown
		// waits up to a second for each one still open.
		if t, ok := s.HTTPClient.Transport.(*http.Transport); ok {
			t.CloseIdleConnections()
		}
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.closeErr = s.Server.Close(ctx)
		if s.tmp != "" {
			if err := os.RemoveAll(s.tmp); err != nil && s.closeErr == nil {
				s.closeErr = err
			}
		}
	})
	return s.closeErr
}

// NewCredential returns an azidentity client-secret credential of an app
// registered in the stack (tenant: id or domain), trusting the stack's CA.
func (s *Stack) NewCredential(tenantID, clientID, secret string) (azcore.TokenCredential, error) {
	return azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: s.AuthorityHost + "/"}, Transport: s.HTTPClient},
		DisableInstanceDiscovery: true, // instance discovery would ask login.microsoftonline.com
	})
}

// NewClient returns a dataverse.Client of an environment of the stack
// with the credential; o may be nil. Its HTTPClient, if not set, trusts
// the stack's CA.
func (s *Stack) NewClient(environmentURL string, cred azcore.TokenCredential, o *dataverse.Options) (*dataverse.Client, error) {
	opts := dataverse.Options{}
	if o != nil {
		opts = *o
	}
	if opts.HTTPClient == nil {
		opts.HTTPClient = s.HTTPClient
	}
	return dataverse.NewClient(environmentURL, cred, &opts)
}

// start starts a stack with data directory dir (existing and empty).
func start(ctx context.Context, dir string, o options) (*Stack, error) {
	c := stack.Config{DataDir: filepath.Join(dir, "data"), Port: 0, Logger: o.logger}
	for _, f := range o.config {
		f(&c)
	}
	switch {
	case o.snapshot != "":
		f, err := os.Open(o.snapshot)
		if err != nil {
			return nil, err
		}
		_, err = snapshot.Import(ctx, f, c.DataDir, snapshot.ImportOptions{MasterKey: c.MasterKey, Database: c.Database})
		f.Close()
		if err != nil {
			return nil, fmt.Errorf("snapshot %s: %w", o.snapshot, err)
		}
	case !o.noTemplate && c.MasterKey == "" && c.Database == "": // the template is SQLite files
		tp, err := templateFor(c.NoDemo)
		if err != nil {
			return nil, err
		}
		if err := tp.copyTo(c.DataDir); err != nil {
			return nil, err
		}
	}
	srv, err := stack.Start(ctx, c)
	if err != nil {
		return nil, err
	}
	s, err := newStack(srv)
	if err != nil {
		srv.Close(ctx)
		return nil, err
	}
	return s, nil
}

func newStack(srv *stack.Stack) (*Stack, error) {
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(srv.CAPool) {
		return nil, errors.New("the stack's CA is not PEM")
	}
	s := &Stack{
		Server: srv, Info: srv.Info, DataDir: srv.Config.DataDir,
		AuthorityHost: srv.Info.AuthorityHost, CAFile: srv.Info.CAFile, CAPEM: srv.CAPool, CAPool: pool,
		HTTPClient: &http.Client{Timeout: time.Minute, Transport: &http.Transport{
			TLSClientConfig: &tls.Config{RootCAs: pool}, ForceAttemptHTTP2: true, MaxIdleConnsPerHost: 64}},
	}
	for _, a := range srv.Info.Apps {
		if a.ClientID != demo.PortalAppID || a.ClientSecret == "" {
			continue
		}
		for _, e := range srv.Info.Environments {
			if e.Name == demo.EnvironmentName {
				s.TenantID, s.ClientID, s.ClientSecret = e.TenantID, a.ClientID, a.ClientSecret
				s.EnvironmentURL, s.Scope = e.URL, e.URL+"/.default"
				s.Authority = s.AuthorityHost + "/" + e.TenantID
			}
		}
	}
	if s.ClientID == "" {
		return s, nil
	}
	var err error
	if s.Credential, err = s.NewCredential(s.TenantID, s.ClientID, s.ClientSecret); err != nil {
		return nil, err
	}
	if s.Client, err = s.NewClient(s.EnvironmentURL, s.Credential, nil); err != nil {
		return nil, err
	}
	return s, nil
}

// template is a data directory after a first start, in memory: every
// file but stack.json, by slash-separated relative path.
type template struct {
	once  sync.Once
	files map[string][]byte
	err   error
}

// templates are per NoDemo value, built on first use.
var templates [2]template

func templateFor(noDemo bool) (*template, error) {
	i := 0
	if noDemo {
		i = 1
	}
	tp := &templates[i]
	tp.once.Do(func() { tp.files, tp.err = buildTemplate(noDemo) })
	if tp.err != nil {
		return nil, fmt.Errorf("building the template data directory: %w", tp.err)
	}
	return tp, nil
}

// buildTemplate starts and stops a stack on a new directory and reads the
// directory into memory.
func buildTemplate(noDemo bool) (map[string][]byte, error) {
	dir, err := os.MkdirTemp("", "dvs2stest-template-")
	if err != nil {
		return nil, err
	}
	defer os.RemoveAll(dir)
	ctx := context.Background()
	s, err := stack.Start(ctx, stack.Config{DataDir: dir, Port: 0, NoDemo: noDemo, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		return nil, err
	}
	if err := s.Close(ctx); err != nil {
		return nil, err
	}
	files := map[string][]byte{}
	err = filepath.WalkDir(dir, func(p string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		rel, err := filepath.Rel(dir, p)
		if err != nil {
			return err
		}
		if rel == "stack.json" || !d.Type().IsRegular() {
			return nil
		}
		b, err := os.ReadFile(p)
		files[filepath.ToSlash(rel)] = b
		return err
	})
	return files, err
}

// copyTo writes the template into dir: files 0600, directories 0700, as
// the stack makes them.
func (tp *template) copyTo(dir string) error {
	for rel, b := range tp.files {
		p := filepath.Join(dir, filepath.FromSlash(rel))
		if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
			return err
		}
		if err := os.WriteFile(p, b, 0o600); err != nil {
			return err
		}
	}
	return nil
}

// logBuffer keeps the last logBufferSize bytes of a stack's log.
type logBuffer struct {
	mu      sync.Mutex
	b       bytes.Buffer
	dropped bool
}

const logBufferSize = 1 << 20

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.b.Len()+len(p) > logBufferSize {
		keep := l.b.Bytes()[l.b.Len()/2:]
		if i := bytes.IndexByte(keep, '\n'); i >= 0 {
			keep = keep[i+1:]
		}
		rest := append([]byte{}, keep...)
		l.b.Reset()
		l.b.Write(rest)
		l.dropped = true
	}
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.dropped {
		return "[earlier lines dropped]\n" + l.b.String()
	}
	return l.b.String()
}
