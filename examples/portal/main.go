// Command portal runs the Fabrikam Portal sample: a multi-tenant web app
// that signs users in with OpenID Connect and reaches each customer's
// Dataverse environment with server-to-server tokens (package webapp).
//
// With a dvs2s stack running (`go run ./cmd/dvs2s serve`), it needs no
// configuration: it reads the stack's .dvs2s/stack.json (authority,
// CA, the demo's Fabrikam Portal app and its secret, the environments):
//
//	go run ./examples/portal
//
// then open http://localhost:8080 and sign in as
// alice@contoso.onmicrosoft.com / Alice-Demo-Passw0rd.
//
// Against Microsoft Entra ID and Dataverse, configure it instead:
//
//	PORTAL_AUTHORITY_HOST=https://login.microsoftonline.com \
//	PORTAL_CLIENT_ID=<app id> PORTAL_CLIENT_SECRET=<secret> \
//	PORTAL_CONNECTIONS=<customer tenant id>=https://<org>.crm.dynamics.com \
//	go run ./examples/portal -base-url https://portal.example.com
package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"net/http"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/dvs2s/dvs2s/examples/portal/webapp"
)

// stackInfo is the part of a dvs2s stack.json the portal reads.
type stackInfo struct {
	CAFile        string `json:"ca_file"`
	AuthorityHost string `json:"authority_host"`
	Apps          []struct {
		Name         string `json:"name"`
		ClientID     string `json:"client_id"`
		MultiTenant  bool   `json:"multi_tenant"`
		ClientSecret string `json:"client_secret"`
	} `json:"apps"`
	Environments []struct {
		Name     string `json:"name"`
		URL      string `json:"url"`
		TenantID string `json:"tenant_id"`
	} `json:"environments"`
}

func env(name, def string) string {
	if v := os.Getenv(name); v != "" {
		return v
	}
	return def
}

func main() {
	addr := flag.String("addr", env("PORTAL_ADDR", "localhost:8080"), "address to listen on (PORTAL_ADDR)")
	base := flag.String("base-url", env("PORTAL_BASE_URL", ""), "public URL of the portal (PORTAL_BASE_URL; default http://<addr>)")
	stackFile := flag.String("stack", env("PORTAL_STACK", filepath.Join(".dvs2s", "stack.json")), "a dvs2s stack.json to read the configuration from (PORTAL_STACK)")
	state := flag.String("state", env("PORTAL_STATE", ""), "file keeping the organizations connected by onboarding (PORTAL_STATE; default portal.json next to stack.json)")
	clientID := flag.String("client-id", env("PORTAL_CLIENT_ID", ""), "application (client) ID (PORTAL_CLIENT_ID; default the stack's Fabrikam Portal app)")
	flag.Parse()
	log := slog.New(slog.NewTextHandler(os.Stderr, nil))
	if err := run(log, *addr, *base, *stackFile, *state, *clientID); err != nil {
		fmt.Fprintln(os.Stderr, "portal:", err)
		os.Exit(1)
	}
}

func run(log *slog.Logger, addr, base, stackFile, state, clientID string) error {
	if base == "" {
		base = "http://" + addr
	}
	c := webapp.Config{BaseURL: base, AuthorityHost: os.Getenv("PORTAL_AUTHORITY_HOST"), ClientID: clientID,
		ClientSecret: os.Getenv("PORTAL_CLIENT_SECRET"), Connections: map[string]string{}, Logger: log, StateFile: state}
	caFile := os.Getenv("PORTAL_CA_FILE")
	if c.AuthorityHost == "" {
		// Zero configuration: a dvs2s stack's stack.json.
		b, err := os.ReadFile(stackFile)
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("%s not found: start dvs2s first (go run ./cmd/dvs2s serve), or set PORTAL_AUTHORITY_HOST, PORTAL_CLIENT_ID, PORTAL_CLIENT_SECRET and PORTAL_CONNECTIONS", stackFile)
		}
		if err != nil {
			return err
		}
		var si stackInfo
		if err := json.Unmarshal(b, &si); err != nil {
			return fmt.Errorf("%s: %w", stackFile, err)
		}
		c.AuthorityHost, caFile = si.AuthorityHost, si.CAFile
		for _, a := range si.Apps {
			if a.ClientSecret == "" || !a.MultiTenant {
				continue
			}
			if strings.EqualFold(a.ClientID, clientID) || clientID == "" && a.Name == "Fabrikam Portal" {
				c.ClientID, c.ClientSecret = a.ClientID, a.ClientSecret
			}
		}
		if c.ClientID == "" {
			return fmt.Errorf("%s lists no multi-tenant app with a known secret (the demo's Fabrikam Portal): run the stack with its demo", stackFile)
		}
		for _, e := range si.Environments {
			if _, ok := c.Connections[e.TenantID]; !ok {
				c.Connections[e.TenantID] = e.URL
			}
		}
		if c.StateFile == "" {
			c.StateFile = filepath.Join(filepath.Dir(stackFile), "portal.json")
		}
	}
	for _, kv := range strings.Split(os.Getenv("PORTAL_CONNECTIONS"), ",") {
		if t, u, ok := strings.Cut(strings.TrimSpace(kv), "="); ok {
			c.Connections[strings.ToLower(t)] = u
		}
	}
	hc := &http.Client{Timeout: 60 * time.Second}
	if caFile != "" {
		pem, err := os.ReadFile(caFile)
		if err != nil {
			return err
		}
		pool, err := x509.SystemCertPool()
		if err != nil {
			pool = x509.NewCertPool()
		}
		if !pool.AppendCertsFromPEM(pem) {
			return fmt.Errorf("%s holds no PEM certificate", caFile)
		}
		hc.Transport = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}
	}
	c.HTTPClient = hc

	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	app, err := webapp.New(ctx, c)
	if err != nil {
		return err
	}
	srv := &http.Server{Addr: addr, Handler: app.Handler(), ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Printf("Fabrikam Portal on %s (identity provider %s, app %s)\n", base, c.AuthorityHost, c.ClientID)
	for t, u := range app.Connections() {
		fmt.Printf("  connected: tenant %s → %s\n", t, u)
	}
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return srv.Shutdown(sctx)
	}
}
