// Package stack assembles and runs the whole dvs2s stack: data directory,
// master key, local CA and TLS certificate, store, identity service, demo
// seed, stack.json. `dvs2s serve` and in-process tests both start it here.
package stack

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	encpem "encoding/pem"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/console"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/identity"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/throttle"
	"github.com/dvs2s/dvs2s/webapi"
)

// Config is the stack's configuration; every field has a flag and a
// DVS2S_* environment variable in `dvs2s serve`.
type Config struct {
	DataDir string // data directory (created 0700)
	Listen  string // address to listen on (default 127.0.0.1)
	Port    int    // first port the stack may use; 0 picks free ports
	// Hosts are extra host names (or IPs) for the TLS certificate. The
	// first host, or "localhost", is the public host in every URL.
	Hosts []string
	// BaseDomain switches environments to host-based routing: environment
	// <name> is served at https://<name>.<BaseDomain>:<port+1> (one
	// listener for all). Empty: one origin (port) per environment.
	BaseDomain string
	// NoDemo skips the demo seed; AllowDemoOnNetwork accepts the well-known
	// demo credentials even when listening beyond loopback.
	NoDemo             bool
	AllowDemoOnNetwork bool
	// MasterKey (hex) overrides <data>/master.key, so instances can share it.
	MasterKey     string
	TokenLifetime time.Duration
	KeyRotation   time.Duration
	KeyOverlap    time.Duration
	CacheTTL      time.Duration
	// ReadCache is the memory budget, in bytes, of the read cache of each
	// SQLite environment database: 0 means the default
	// (sqlite.DefaultReadCache), negative none. PostgreSQL has none.
	ReadCache int64
	Logger    *slog.Logger
	// Limits are the service protection limits of every environment (zero
	// fields: Dataverse's defaults); EnvLimits override them per
	// environment name. ThrottleNow is their clock (nil: time.Now), for
	// tests.
	Limits      throttle.Limits
	EnvLimits   map[string]throttle.Limits
	ThrottleNow func() time.Time
	// Now is the clock, for tests; nil means time.Now.
	Now func() time.Time
	// TrustCAFiles are PEM files of extra CA certificates the data service
	// trusts, besides the system roots and the local CA, when it fetches
	// the metadata of an environment's authority over HTTPS (an identity
	// provider behind a private CA, e.g. another dvs2s).
	TrustCAFiles []string

	// Database is a postgres:// URL: identity and environments in that
	// PostgreSQL database, which several stacks may share (see
	// stack/database.go). Empty: embedded SQLite in DataDir.
	Database string
}

// Stack is a running stack.
type Stack struct {
	Config   Config
	Info     Info // what stack.json holds
	Identity *identity.Server
	Envs     *environment.Manager
	WebAPI   *webapi.Server
	Store    store.Store
	// Directory changes the identity model, seen at once by the running
	// identity service.
	Directory *directory.Directory
	CAPool    []byte // PEM of the local CA
	// Metrics are served at /metrics on the identity service's port.
	Metrics *Metrics
	// Traffic is the Web API traffic per environment and user (the admin
	// console's throttling dashboard, at /console/ on that port).
	Traffic *console.Traffic
	live    *liveState

	log          *slog.Logger
	servers      []*http.Server
	envListeners []envListener
	cancel       context.CancelFunc
	wg           sync.WaitGroup
	ready        chan struct{}
}

// Info is the shape of <data>/stack.json (version 1).
type Info struct {
	Version       int          `json:"version"`
	CAFile        string       `json:"ca_file"`
	AuthorityHost string       `json:"authority_host"`
	Tenants       []TenantInfo `json:"tenants"`
	Apps          []AppInfo    `json:"apps"`
	Environments  []EnvInfo    `json:"environments"`
	Users         []UserInfo   `json:"users"`
}

// TenantInfo is a tenant in stack.json.
type TenantInfo struct {
	Name   string `json:"name"`
	ID     string `json:"id"`
	Domain string `json:"domain"`
}

// AppInfo is an app registration in stack.json.
type AppInfo struct {
	Name            string `json:"name"`
	ClientID        string `json:"client_id"`
	HomeTenantID    string `json:"home_tenant_id"`
	MultiTenant     bool   `json:"multi_tenant"`
	ClientSecret    string `json:"client_secret,omitempty"`
	CertificateFile string `json:"certificate_file,omitempty"`
	PrivateKeyFile  string `json:"private_key_file,omitempty"`
}

// EnvInfo is a Dataverse environment in stack.json.
type EnvInfo struct {
	Name     string `json:"name"`
	URL      string `json:"url"`
	TenantID string `json:"tenant_id"`
}

// UserInfo is a user in stack.json.
type UserInfo struct {
	UPN      string `json:"upn"`
	Password string `json:"password,omitempty"`
	TenantID string `json:"tenant_id"`
	ObjectID string `json:"object_id"`
}

// DefaultPort is the first port of a stack started without --port.
const DefaultPort = 8443

// Start starts the stack and returns once it is ready to serve. Stop it
// with Close.
func Start(ctx context.Context, c Config) (*Stack, error) {
	if c.DataDir == "" {
		c.DataDir = ".dvs2s"
	}
	abs, err := filepath.Abs(c.DataDir)
	if err != nil {
		return nil, err
	}
	c.DataDir = abs
	if c.Listen == "" {
		c.Listen = "127.0.0.1"
	}
	if c.Port < 0 || c.Port > 65535 {
		return nil, fmt.Errorf("port %d is out of range", c.Port)
	}
	log := c.Logger
	if log == nil {
		log = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return nil, fmt.Errorf("data directory: %w", err)
	}
	var trusted [][]byte
	for _, f := range c.TrustCAFiles {
		b, err := os.ReadFile(f)
		if err == nil && !x509.NewCertPool().AppendCertsFromPEM(b) {
			err = errors.New("no PEM certificate in it")
		}
		if err != nil {
			return nil, fmt.Errorf("trusted CA file %s: %w", f, err)
		}
		trusted = append(trusted, b)
	}
	loopback := isLoopback(c.Listen)
	if !loopback && !c.NoDemo && !c.AllowDemoOnNetwork {
		log.Warn("listening beyond loopback: the well-known demo credentials will be refused (use --allow-demo-on-network to accept them, or --no-demo)")
	}

	master, err := secret.LoadOrCreateMaster(filepath.Join(c.DataDir, "master.key"), c.MasterKey)
	if err != nil {
		return nil, err
	}
	keys, err := secret.NewKeys(master)
	if err != nil {
		return nil, err
	}
	ca, err := pki.LoadOrCreateCA(filepath.Join(c.DataDir, "ca.pem"), filepath.Join(c.DataDir, "ca-key.pem"))
	if err != nil {
		return nil, err
	}
	publicHost := "localhost"
	if len(c.Hosts) > 0 {
		publicHost = c.Hosts[0]
	}
	hosts := []string{publicHost}
	extra := append([]string{"localhost", "127.0.0.1", "::1"}, c.Hosts...)
	if c.BaseDomain != "" {
		extra = append(extra, "*."+c.BaseDomain)
	}
	for _, h := range extra {
		if !slices.Contains(hosts, h) {
			hosts = append(hosts, h)
		}
	}
	cert, err := ca.ServerCert(filepath.Join(c.DataDir, "server.pem"), filepath.Join(c.DataDir, "server-key.pem"), hosts)
	if err != nil {
		return nil, err
	}

	// Listen first, so the URLs (and with port 0, the ports) are known.
	idLn, err := listen(c.Listen, c.Port)
	if err != nil {
		return nil, err
	}
	idPort := idLn[0].Addr().(*net.TCPAddr).Port
	base := "https://" + net.JoinHostPort(publicHost, strconv.Itoa(idPort))
	if strings.Contains(publicHost, ":") {
		base = "https://[" + publicHost + "]:" + strconv.Itoa(idPort)
	}

	db, err := openStore(ctx, c)
	if err != nil {
		closeAll(idLn)
		return nil, err
	}
	s := &Stack{Config: c, Store: db, log: log, ready: make(chan struct{}), Metrics: NewMetrics()}
	fail := func(err error) (*Stack, error) {
		closeAll(idLn)
		db.Close()
		return nil, err
	}
	now := c.Now
	if now == nil {
		now = time.Now
	}
	dir := &directory.Directory{Store: db, Keys: keys, Now: now}
	var seed *demo.Seed
	if !c.NoDemo {
		if seed, err = demo.Ensure(ctx, dir, filepath.Join(c.DataDir, "demo")); err != nil {
			return fail(err)
		}
	}
	refused := map[string]bool{}
	if seed != nil && !loopback && !c.AllowDemoOnNetwork {
		for _, id := range append(seed.PasswordKeyIDs, seed.UserIDs...) {
			refused[id] = true
		}
	}
	idp, err := identity.New(ctx, identity.Config{
		BaseURL: base, Store: db, Keys: keys, Logger: log, Now: c.Now,
		CacheTTL: c.CacheTTL, KeyRotation: c.KeyRotation, KeyOverlap: c.KeyOverlap,
		TokenLifetime: c.TokenLifetime, Refused: refused, OnToken: s.Metrics.TokenIssued,
	})
	if err != nil {
		return fail(err)
	}
	s.Identity = idp
	s.Directory = idp.Directory()
	s.CAPool = caPEM(ca)

	s.Envs = &environment.Manager{Root: filepath.Join(c.DataDir, "env"), Store: db, Directory: s.Directory, Now: c.Now, ReadCache: c.ReadCache}
	envLns, err := s.startEnvironments(ctx, publicHost, seed != nil)
	if err != nil {
		s.Envs.Close()
		return fail(err)
	}
	idLn = append(idLn, envLns...) // closed together on failure

	info, err := s.buildInfo(ctx, base, seed)
	if err != nil {
		return fail(err)
	}
	s.Info = info
	if err := writeJSONFile(filepath.Join(c.DataDir, "stack.json"), info); err != nil {
		return fail(err)
	}

	mux := http.NewServeMux()
	mux.HandleFunc("GET /readyz", s.readyz)
	mux.HandleFunc("GET /healthz", s.readyz)
	mux.Handle("GET /metrics", s.Metrics.Handler())
	mux.Handle("/", idp)
	tlsConf := &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12, NextProtos: []string{"h2", "http/1.1"}}
	s.Traffic = console.NewTraffic(c.ThrottleNow)
	con, err := s.newConsole(tlsConf)
	if err != nil {
		return fail(err)
	}
	mux.Handle("/console", con)
	mux.Handle("/console/", con)
	runCtx, cancel := context.WithCancel(context.Background())
	s.cancel = cancel
	pool := x509.NewCertPool()
	pool.AddCert(ca.Cert)
	if sys, err := x509.SystemCertPool(); err == nil {
		sys.AddCert(ca.Cert)
		pool = sys
	}
	for _, b := range trusted {
		pool.AppendCertsFromPEM(b)
	}
	s.WebAPI = webapi.New(webapi.Config{Envs: s.Envs, Authority: base, Logger: log,
		Client: &http.Client{Timeout: 15 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}},
		Limits: c.Limits, EnvLimits: c.EnvLimits, ThrottleNow: c.ThrottleNow, Observer: s.Metrics})
	s.Metrics.WatchWebAPI(s.WebAPI)
	for _, el := range s.envListeners {
		h := s.WebAPI.Handler(el.envID)
		if el.envID == "" {
			h = s.WebAPI.HostHandler(c.BaseDomain)
		}
		s.serve(el.ln, h, tlsConf)
	}
	for _, ln := range idLn[:len(idLn)-len(envLns)] {
		s.serve(ln, mux, tlsConf)
	}
	s.wg.Add(1)
	go func() { defer s.wg.Done(); idp.Run(runCtx) }()
	close(s.ready)
	return s, nil
}

// serve serves HTTPS on ln with its own http.Server (one per listener:
// a Server must not Serve several listeners concurrently).
func (s *Stack) serve(ln net.Listener, h http.Handler, tlsConf *tls.Config) {
	srv := &http.Server{Handler: logRequests(s.log, h, s.Traffic.Observe), ReadHeaderTimeout: 10 * time.Second, IdleTimeout: 2 * time.Minute,
		ErrorLog: slog.NewLogLogger(s.log.Handler(), slog.LevelDebug)}
	s.servers = append(s.servers, srv)
	s.wg.Add(1)
	go func() {
		defer s.wg.Done()
		if err := srv.Serve(tls.NewListener(ln, tlsConf)); err != nil && !errors.Is(err, http.ErrServerClosed) {
			s.log.Error("server stopped", "err", err)
		}
	}()
}

func (s *Stack) buildInfo(ctx context.Context, base string, seed *demo.Seed) (Info, error) {
	info := Info{Version: 1, CAFile: filepath.Join(s.Config.DataDir, "ca.pem"), AuthorityHost: base,
		Tenants: []TenantInfo{}, Apps: []AppInfo{}, Environments: []EnvInfo{}, Users: []UserInfo{}}
	ts, err := s.Store.ListTenants(ctx)
	if err != nil {
		return info, err
	}
	known := map[string]demo.App{}
	pw := map[string]string{}
	if seed != nil {
		for _, a := range seed.Apps {
			known[a.ClientID] = a
		}
		for _, u := range seed.Users {
			pw[u.ObjectID] = u.Password
		}
	}
	envs, err := s.Store.ListEnvironments(ctx)
	if err != nil {
		return info, err
	}
	for _, e := range envs {
		info.Environments = append(info.Environments, EnvInfo{Name: e.Name, URL: e.URL, TenantID: e.TenantID})
	}
	for _, t := range ts {
		info.Tenants = append(info.Tenants, TenantInfo{Name: t.Name, ID: t.ID, Domain: t.Domain})
		apps, err := s.Store.ListApps(ctx, t.ID)
		if err != nil {
			return info, err
		}
		for _, a := range apps {
			k := known[a.AppID]
			info.Apps = append(info.Apps, AppInfo{Name: a.DisplayName, ClientID: a.AppID, HomeTenantID: a.HomeTenantID,
				MultiTenant: a.MultiTenant(), ClientSecret: k.ClientSecret, CertificateFile: k.CertFile, PrivateKeyFile: k.KeyFile})
		}
		users, err := s.Store.ListUsers(ctx, t.ID)
		if err != nil {
			return info, err
		}
		for _, u := range users {
			info.Users = append(info.Users, UserInfo{UPN: u.UPN, Password: pw[u.ObjectID], TenantID: u.TenantID, ObjectID: u.ObjectID})
		}
	}
	return info, nil
}

// Summary is the short human summary `serve` prints.
func (s *Stack) Summary() string {
	var b strings.Builder
	i := s.Info
	fmt.Fprintf(&b, "dvs2s is ready\n")
	fmt.Fprintf(&b, "  identity (authority host)  %s\n", i.AuthorityHost)
	fmt.Fprintf(&b, "  admin console              %s/console/ (tenant administrators)\n", i.AuthorityHost)
	fmt.Fprintf(&b, "  CA certificate             %s\n", i.CAFile)
	fmt.Fprintf(&b, "  data directory             %s\n", s.Config.DataDir)
	for _, t := range i.Tenants {
		fmt.Fprintf(&b, "  tenant %-19s %s  authority %s/%s\n", t.Name, t.ID, i.AuthorityHost, t.ID)
	}
	for _, a := range i.Apps {
		kind := "single-tenant"
		if a.MultiTenant {
			kind = "multi-tenant"
		}
		fmt.Fprintf(&b, "  app %-22s %s (%s)", a.Name, a.ClientID, kind)
		if a.ClientSecret != "" {
			fmt.Fprintf(&b, "  secret %s", a.ClientSecret)
		}
		b.WriteString("\n")
	}
	for _, e := range i.Environments {
		fmt.Fprintf(&b, "  environment %-14s %s\n", e.Name, e.URL)
	}
	for _, u := range i.Users {
		if u.Password != "" {
			fmt.Fprintf(&b, "  user %-21s password %s\n", u.UPN, u.Password)
		}
	}
	fmt.Fprintf(&b, "  everything above, for scripts: %s\n", filepath.Join(s.Config.DataDir, "stack.json"))
	return b.String()
}

func (s *Stack) readyz(w http.ResponseWriter, r *http.Request) {
	select {
	case <-s.ready:
		w.Header().Set("Content-Type", "application/json")
		w.Write([]byte(`{"status":"ready"}` + "\n"))
	default:
		http.Error(w, `{"status":"starting"}`, http.StatusServiceUnavailable)
	}
}

// Close shuts the stack down gracefully: in-flight requests finish (up to
// ctx's deadline), then the store closes.
func (s *Stack) Close(ctx context.Context) error {
	var errs []error
	for _, srv := range s.servers {
		if err := srv.Shutdown(ctx); err != nil {
			errs = append(errs, err)
		}
	}
	s.cancel()
	s.wg.Wait()
	if s.Envs != nil {
		errs = append(errs, s.Envs.Close())
	}
	errs = append(errs, s.Store.Close())
	return errors.Join(errs...)
}

func caPEM(ca *pki.CA) []byte {
	return encpem.EncodeToMemory(&encpem.Block{Type: "CERTIFICATE", Bytes: ca.Cert.Raw})
}

func isLoopback(host string) bool {
	if host == "localhost" {
		return true
	}
	ip := net.ParseIP(host)
	return ip != nil && ip.IsLoopback()
}

// listen listens on host:port; on the IPv4 loopback it also listens on the
// IPv6 loopback at the same port when it can, since "localhost" may resolve
// to either.
func listen(host string, port int) ([]net.Listener, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, strconv.Itoa(port)))
	if err != nil {
		return nil, fmt.Errorf("listen: %w", err)
	}
	out := []net.Listener{ln}
	if host == "127.0.0.1" {
		p := ln.Addr().(*net.TCPAddr).Port
		if ln6, err := net.Listen("tcp", net.JoinHostPort("::1", strconv.Itoa(p))); err == nil {
			out = append(out, ln6)
		}
	}
	return out, nil
}

func freePort(host string) (int, error) {
	ln, err := net.Listen("tcp", net.JoinHostPort(host, "0"))
	if err != nil {
		return 0, err
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func closeAll(ls []net.Listener) {
	for _, l := range ls {
		l.Close()
	}
}

func writeJSONFile(path string, v any) error {
	b, err := json.MarshalIndent(v, "", "  ")
	if err != nil {
		return err
	}
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, append(b, '\n'), 0o600); err != nil {
		return err
	}
	if err := os.Chmod(tmp, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
