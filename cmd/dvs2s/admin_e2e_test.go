package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
)

// TestAdminWithRunningServer administers the data directory of a running
// stack through the CLI and gets a token with what the CLI created: the
// server sees the changes once its directory cache expires (1 s).
func TestAdminWithRunningServer(t *testing.T) {
	dir := t.TempDir()
	s, err := stack.Start(context.Background(), stack.Config{DataDir: dir, Port: 0,
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := s.Close(ctx); err != nil {
			t.Errorf("stop stack: %v", err)
		}
	})
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(s.CAPool) {
		t.Fatal("bad CA PEM")
	}
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}

	var app appJSON
	cliJSON(t, dir, &app, "app", "create", "--tenant", "contoso", "--name", "CLI Daemon")
	var sec secretAddJSON
	cliJSON(t, dir, &sec, "secret", "add", "--app", app.ClientID, "--name", "e2e")
	const resourceApp = "6e5d4c3b-2a19-4f08-8e7d-6c5b4a392817"
	var res resourceJSON
	cliJSON(t, dir, &res, "resource", "register", "--tenant", "contoso", "--uri", "https://orders.cli.example",
		"--app-id", resourceApp, "--token-version", "2", "--name", "Orders")
	if app.HomeTenantID != demo.ContosoTenantID || res.TenantID != demo.ContosoTenantID {
		t.Fatalf("the CLI did not use the demo's contoso tenant: %+v %+v", app, res)
	}

	tokenURL := s.Info.AuthorityHost + "/" + demo.ContosoTenantID + "/oauth2/v2.0/token"
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {app.ClientID},
		"client_secret": {sec.Secret}, "scope": {res.URI + "/.default"}}
	post := func() (int, map[string]any) {
		t.Helper()
		r, err := client.PostForm(tokenURL, form)
		if err != nil {
			t.Fatalf("POST %s: %v", tokenURL, err)
		}
		defer r.Body.Close()
		var body map[string]any
		if err := json.NewDecoder(r.Body).Decode(&body); err != nil {
			t.Fatalf("token response: %v", err)
		}
		return r.StatusCode, body
	}
	// poll posts until ok says the answer is the expected one, for up to 3 s.
	poll := func(ok func(int) bool) (int, map[string]any) {
		t.Helper()
		deadline := time.Now().Add(3 * time.Second)
		for {
			code, body := post()
			if ok(code) || time.Now().After(deadline) {
				return code, body
			}
			time.Sleep(100 * time.Millisecond)
		}
	}

	code, body := poll(func(c int) bool { return c == http.StatusOK })
	if code != http.StatusOK {
		t.Fatalf("token request: %d %v", code, body)
	}
	at, _ := body["access_token"].(string)
	parts := strings.Split(at, ".")
	if len(parts) != 3 {
		t.Fatalf("access token is not a JWS: %q", at)
	}
	payload, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatal(err)
	}
	var claims map[string]any
	if err := json.Unmarshal(payload, &claims); err != nil {
		t.Fatal(err)
	}
	if claims["aud"] != resourceApp || claims["azp"] != app.ClientID || claims["tid"] != demo.ContosoTenantID || claims["ver"] != "2.0" {
		t.Errorf("token claims: %v", claims)
	}

	// Disabling the service principal through the CLI stops new tokens.
	mustCLI(t, dir, "sp", "disable", "--tenant", "contoso", "--app", app.ClientID)
	code, body = poll(func(c int) bool { return c != http.StatusOK })
	if code == http.StatusOK || !strings.Contains(body["error_description"].(string), "AADSTS7000112") {
		t.Errorf("token request for a disabled app: %d %v", code, body)
	}
}
