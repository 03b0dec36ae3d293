package e2e

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"net"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
)

// TestHostRouting starts the stack with a base domain: every environment is
// served on one listener and chosen by host name, its URL (the token
// audience) is https://<name>.<base domain>:<port>, and a token for one
// environment is refused by another.
func TestHostRouting(t *testing.T) {
	ts := start(t, "", func(c *stack.Config) { c.BaseDomain = "dvs2s.test" })
	ctx := context.Background()
	if _, err := ts.Envs.Create(ctx, "second", demo.ContosoTenantID, ""); err != nil {
		t.Fatal(err)
	}
	env := ts.Info.Environments[0].URL
	u, err := url.Parse(env)
	if err != nil || !strings.HasSuffix(u.Hostname(), ".dvs2s.test") || !strings.HasPrefix(u.Hostname(), demo.EnvironmentName+".") {
		t.Fatalf("environment URL %q is not host-routed", env)
	}
	port := u.Port()
	// Resolve every *.dvs2s.test name to loopback, as DNS would.
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(ts.CAPool)
	dialer := &net.Dialer{Timeout: 5 * time.Second}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: pool},
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			host, p, _ := net.SplitHostPort(addr)
			if strings.HasSuffix(host, ".dvs2s.test") {
				addr = net.JoinHostPort("127.0.0.1", p)
			}
			return dialer.DialContext(ctx, network, addr)
		},
	}}
	token := func(resource string) string {
		form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID},
			"client_secret": {demo.PortalSecret}, "scope": {resource + "/.default"}}
		res, err := ts.client.PostForm(ts.authority(demo.ContosoTenantID)+"/oauth2/v2.0/token", form)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		var body map[string]any
		json.NewDecoder(res.Body).Decode(&body)
		tok, _ := body["access_token"].(string)
		if tok == "" {
			t.Fatalf("token for %s: %v", resource, body)
		}
		return tok
	}
	get := func(base, tok string) int {
		req, _ := http.NewRequest(http.MethodGet, base+"/api/data/v9.2/WhoAmI", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		res, err := hc.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		return res.StatusCode
	}
	if got := get(env, token(env)); got != http.StatusOK {
		t.Fatalf("WhoAmI on %s: %d", env, got)
	}
	second := "https://second.dvs2s.test:" + port
	// The second environment exists and is routed (no application user
	// there: 403), and the first environment's token is refused there.
	if got := get(second, token(env)); got != http.StatusUnauthorized {
		t.Errorf("first environment's token on the second: %d, want 401", got)
	}
	if got := get("https://unknown.dvs2s.test:"+port, token(env)); got != http.StatusNotFound {
		t.Errorf("unknown environment host: %d, want 404", got)
	}
}
