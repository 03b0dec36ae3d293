package e2e

import (
	"crypto"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha256"
	"crypto/x509"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"reflect"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/google/uuid"
)

// TestRestartKeepsState starts a stack, adds a tenant, a multi-tenant app
// with a secret and a certificate consented into contoso, a user and a
// resource, gets tokens, stops it and starts it again on the same data
// directory: everything is still there, unchanged and usable, nothing was
// seeded twice, the signing key is the same and tokens issued before the
// restart still verify against the new JWKS.
func TestRestartKeepsState(t *testing.T) {
	ctx := t.Context()
	dir := t.TempDir()
	ts := start(t, dir)
	d := ts.Directory

	nw, err := d.CreateTenant(ctx, "northwind", "", "")
	if err != nil {
		t.Fatal(err)
	}
	app, err := d.CreateApp(ctx, directory.AppSpec{Tenant: nw.ID, DisplayName: "Northwind Sync", MultiTenant: true,
		RedirectURIs: []string{"https://northwind.example/callback"}, IdentifierURIs: []string{"api://northwind-sync"}})
	if err != nil {
		t.Fatal(err)
	}
	_, secretText, err := d.AddSecret(ctx, app.AppID, "restart test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	cert, key, err := pki.SelfSigned("Northwind Sync", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := d.AddCertificate(ctx, app.AppID, "", cert); err != nil {
		t.Fatal(err)
	}
	if _, err := d.GrantAdminConsent(ctx, demo.ContosoTenantID, app.AppID); err != nil {
		t.Fatal(err)
	}
	const carolPass = "Carol-Restart-Passw0rd"
	carol, err := d.CreateUser(ctx, nw.ID, "", "carol@northwind.onmicrosoft.com", "Carol", carolPass, true)
	if err != nil {
		t.Fatal(err)
	}
	const nwAPI = "https://api.northwind.example"
	if _, err := d.RegisterResource(ctx, nw.ID, nwAPI, "", "Northwind API", 1); err != nil {
		t.Fatal(err)
	}

	// Tokens before the restart: secret in contoso (consented), certificate
	// in the home tenant, and the demo secret.
	oldSecretTok := s2sToken(t, ts, demo.ContosoTenantID, s2sSecretForm(app.AppID, secretText, s2sEnvURL(t, ts)+"/.default"))
	oldCertTok := s2sToken(t, ts, nw.ID, s2sCertForm(app.AppID, s2sAssertion(t, ts, nw.ID, app.AppID, cert, key), nwAPI+"/.default"))
	oldDemoTok := s2sToken(t, ts, demo.ContosoTenantID, s2sSecretForm(demo.PortalAppID, demo.PortalSecret, s2sEnvURL(t, ts)+"/.default"))
	kid := s2sHeader(t, oldSecretTok)["kid"]
	if kid == "" {
		t.Fatal("token has no kid")
	}
	for _, tok := range []string{oldCertTok, oldDemoTok} {
		if k := s2sHeader(t, tok)["kid"]; k != kid {
			t.Fatalf("tokens signed with different keys %q and %q before any restart", kid, k)
		}
	}
	oldKids := s2sJWKSKids(t, ts)
	before := s2sSnapshot(t, ts)
	oldInfo := ts.Info
	oldAuthority := ts.Info.AuthorityHost

	ts.stop(t)

	// Damage stack.json, so the second start visibly rewrites it.
	stackJSON := filepath.Join(dir, "stack.json")
	if err := os.WriteFile(stackJSON, []byte("{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(stackJSON, 0o644); err != nil {
		t.Fatal(err)
	}

	ts2 := start(t, dir)
	if ts2.Info.AuthorityHost == oldAuthority {
		t.Logf("the second start got the same port (%s); fine, just unlikely", oldAuthority)
	}

	t.Run("state unchanged", func(t *testing.T) {
		after := s2sSnapshot(t, ts2)
		for _, l := range before {
			if !slices.Contains(after, l) {
				t.Errorf("lost or changed on restart: %s", l)
			}
		}
		for _, l := range after {
			if !slices.Contains(before, l) {
				t.Errorf("new or changed on restart: %s", l)
			}
		}
		u, err := ts2.Store.User(ctx, carol.ObjectID)
		if err != nil {
			t.Fatal(err)
		}
		if !secret.CheckPassword(u.PasswordHash, carolPass) {
			t.Error("the user's password no longer checks")
		}
	})

	t.Run("service principals keep their object ids", func(t *testing.T) {
		for _, tid := range []string{nw.ID, demo.ContosoTenantID} {
			old := s2sClaims(t, oldSecretTok)["oid"]
			if tid == nw.ID {
				old = s2sClaims(t, oldCertTok)["oid"]
			}
			sp, err := ts2.Store.ServicePrincipal(ctx, tid, app.AppID)
			if err != nil {
				t.Fatalf("service principal in %s: %v", tid, err)
			}
			if sp.ObjectID != old {
				t.Errorf("service principal in %s: object id %s, tokens before the restart said %s", tid, sp.ObjectID, old)
			}
		}
	})

	t.Run("credentials still work", func(t *testing.T) {
		tok := s2sToken(t, ts2, demo.ContosoTenantID, s2sSecretForm(app.AppID, secretText, s2sEnvURL(t, ts2)+"/.default"))
		if got, want := s2sClaims(t, tok)["oid"], s2sClaims(t, oldSecretTok)["oid"]; got != want {
			t.Errorf("oid %s after restart, %s before", got, want)
		}
		if k := s2sHeader(t, tok)["kid"]; k != kid {
			t.Errorf("signing key changed on restart: kid %s, was %s", k, kid)
		}
		tok = s2sToken(t, ts2, nw.ID, s2sCertForm(app.AppID, s2sAssertion(t, ts2, nw.ID, app.AppID, cert, key), nwAPI+"/.default"))
		if got, want := s2sClaims(t, tok)["oid"], s2sClaims(t, oldCertTok)["oid"]; got != want {
			t.Errorf("home oid %s after restart, %s before", got, want)
		}
		s2sToken(t, ts2, demo.ContosoTenantID, s2sSecretForm(demo.PortalAppID, demo.PortalSecret, s2sEnvURL(t, ts2)+"/.default"))
	})

	t.Run("signing keys unchanged", func(t *testing.T) {
		if got := s2sJWKSKids(t, ts2); !reflect.DeepEqual(got, oldKids) {
			t.Errorf("JWKS kids %v after restart, %v before", got, oldKids)
		}
		jwksURL := ts2.authority(demo.ContosoTenantID) + "/discovery/v2.0/keys"
		keySet := oidc.NewRemoteKeySet(oidc.ClientContext(ctx, ts2.client), jwksURL)
		for name, tok := range map[string]string{"secret": oldSecretTok, "certificate": oldCertTok, "demo": oldDemoTok} {
			if _, err := keySet.VerifySignature(ctx, tok); err != nil {
				t.Errorf("%s token from before the restart does not verify against the new JWKS: %v", name, err)
			}
		}
	})

	t.Run("stack.json rewritten", func(t *testing.T) {
		fi, err := os.Stat(stackJSON)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode().Perm() != 0o600 {
			t.Errorf("stack.json mode %v, want 0600", fi.Mode().Perm())
		}
		b, err := os.ReadFile(stackJSON)
		if err != nil {
			t.Fatal(err)
		}
		var info stack.Info
		if err := json.Unmarshal(b, &info); err != nil {
			t.Fatal(err)
		}
		if !reflect.DeepEqual(info, ts2.Info) {
			t.Errorf("stack.json does not hold the running stack's info:\n file %+v\n info %+v", info, ts2.Info)
		}
		if info.AuthorityHost != ts2.Info.AuthorityHost {
			t.Errorf("stack.json authority %s, stack runs at %s", info.AuthorityHost, ts2.Info.AuthorityHost)
		}
		// stack.json is written at start, so the first one predates
		// northwind; the second lists the same demo entries (secrets and
		// passwords included) followed by what was added, never a
		// generated secret or a user's password.
		wantTenants := append(slices.Clone(oldInfo.Tenants), stack.TenantInfo{Name: nw.Name, ID: nw.ID, Domain: nw.Domain})
		wantApps := append(slices.Clone(oldInfo.Apps), stack.AppInfo{Name: app.DisplayName, ClientID: app.AppID, HomeTenantID: nw.ID, MultiTenant: true})
		wantUsers := append(slices.Clone(oldInfo.Users), stack.UserInfo{UPN: carol.UPN, TenantID: nw.ID, ObjectID: carol.ObjectID})
		for _, c := range []struct {
			name      string
			want, got any
		}{
			{"tenants", wantTenants, info.Tenants},
			{"apps", wantApps, info.Apps},
			{"users", wantUsers, info.Users},
			{"environments", s2sEnvNames(oldInfo.Environments), s2sEnvNames(info.Environments)},
		} {
			if !reflect.DeepEqual(c.want, c.got) {
				t.Errorf("stack.json %s after restart:\n want %+v\n  got %+v", c.name, c.want, c.got)
			}
		}
	})
}

// s2sSnapshot describes the stack's state, one line per record, sorted:
// the identity model, the environments and their row counts. The demo
// environment's resource is listed without its URL, which names the port
// of the run.
func s2sSnapshot(t *testing.T, ts *testStack) []string {
	t.Helper()
	ctx := t.Context()
	st := ts.Store
	var out []string
	add := func(format string, a ...any) { out = append(out, fmt.Sprintf(format, a...)) }
	tenants, err := st.ListTenants(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, tn := range tenants {
		add("tenant %s %s %s %s", tn.ID, tn.Name, tn.Domain, tn.CreatedAt.Format(time.RFC3339Nano))
		users, err := st.ListUsers(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, u := range users {
			add("user %s %s %s %q %s admin=%v enabled=%v", u.ObjectID, u.TenantID, u.UPN, u.DisplayName, u.PasswordHash, u.Admin, u.Enabled)
		}
		sps, err := st.ListServicePrincipals(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, sp := range sps {
			add("service principal %s app %s in %s enabled=%v", sp.ObjectID, sp.AppID, sp.TenantID, sp.Enabled)
		}
		rs, err := st.ListResources(ctx, tn.ID)
		if err != nil {
			t.Fatal(err)
		}
		for _, r := range rs {
			uri := r.URI
			if r.DisplayName == "Dataverse environment "+demo.EnvironmentName {
				uri = "(demo environment)"
			}
			add("resource %s in %s app %s %q v%d", uri, r.TenantID, r.AppID, r.DisplayName, r.TokenVersion)
		}
	}
	apps, err := st.ListApps(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	for _, a := range apps {
		add("app %s object %s home %s %q %s redirect=%q ident=%q v%d", a.AppID, a.ObjectID, a.HomeTenantID, a.DisplayName,
			a.SignInAudience, a.RedirectURIs, a.IdentifierURIs, a.AccessTokenVersion)
		pws, err := st.Passwords(ctx, a.AppID)
		if err != nil {
			t.Fatal(err)
		}
		for _, p := range pws {
			add("secret %s of %s %q hint %s hash %s until %s", p.KeyID, p.AppID, p.DisplayName, p.Hint, hex.EncodeToString(p.Hash), p.End.Format(time.RFC3339Nano))
		}
		keys, err := st.Keys(ctx, a.AppID)
		if err != nil {
			t.Fatal(err)
		}
		for _, k := range keys {
			add("certificate %s of %s sha256 %s", k.KeyID, k.AppID, hex.EncodeToString(k.SHA256))
		}
	}
	// Environments (their URLs name the port of the run) and how many rows
	// each table of each holds: the demo seed must not add rows twice.
	envs, err := st.ListEnvironments(ctx)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range envs {
		add("environment %s %s in %s", e.ID, e.Name, e.TenantID)
		env, err := ts.Envs.Open(ctx, e.ID)
		if err != nil {
			t.Fatalf("open environment %s: %v", e.Name, err)
		}
		for _, tbl := range env.Schema().Tables() {
			n, err := env.Data.Count(ctx, tbl, nil)
			if err != nil {
				t.Fatalf("count %s in %s: %v", tbl.LogicalName, e.Name, err)
			}
			add("environment %s table %s: %d rows", e.Name, tbl.LogicalName, n)
		}
	}
	sks, err := st.SigningKeys(ctx, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	for _, k := range sks {
		add("signing key %s created %s", k.KID, k.CreatedAt.Format(time.RFC3339Nano))
	}
	slices.Sort(out)
	return out
}

// s2sEnvNames lists environments without their URLs, which name the port
// of the run.
func s2sEnvNames(envs []stack.EnvInfo) []string {
	out := []string{}
	for _, e := range envs {
		out = append(out, e.Name+" in "+e.TenantID)
	}
	return out
}

// --- token helpers shared by restart_test.go and secrets_test.go ---

// s2sEnvURL is the demo environment's URL (its resource changes with the
// port on every start, so it is not always the first resource listed).
func s2sEnvURL(t *testing.T, ts *testStack) string {
	t.Helper()
	for _, e := range ts.Info.Environments {
		if e.Name == demo.EnvironmentName && e.URL != "" {
			return strings.TrimRight(e.URL, "/")
		}
	}
	rs, err := ts.Store.ListResources(t.Context(), demo.ContosoTenantID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.DisplayName == "Dataverse environment "+demo.EnvironmentName {
			return r.URI
		}
	}
	t.Fatalf("no demo environment among %+v", rs)
	return ""
}

// s2sSecretForm is a client-credentials request authenticated by secret.
func s2sSecretForm(clientID, secretText, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secretText}, "scope": {scope}}
}

// s2sCertForm is a client-credentials request authenticated by a client
// assertion.
func s2sCertForm(clientID, assertion, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {clientID}, "scope": {scope},
		"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"}, "client_assertion": {assertion}}
}

// s2sPost posts a token request to the tenant's v2 token endpoint (v1 if
// the form has a resource) and returns the status and decoded body.
func s2sPost(t *testing.T, ts *testStack, tenant string, form url.Values, mod ...func(*http.Request)) (int, map[string]any) {
	t.Helper()
	endpoint := ts.authority(tenant) + "/oauth2/v2.0/token"
	if form.Has("resource") {
		endpoint = ts.authority(tenant) + "/oauth2/token"
	}
	req, err := http.NewRequestWithContext(t.Context(), http.MethodPost, endpoint, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, m := range mod {
		m(req)
	}
	res, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	var body map[string]any
	if err := json.Unmarshal(b, &body); err != nil {
		t.Fatalf("token endpoint answered %s with non-JSON %q", res.Status, b)
	}
	return res.StatusCode, body
}

// s2sToken gets an access token or fails the test.
func s2sToken(t *testing.T, ts *testStack, tenant string, form url.Values, mod ...func(*http.Request)) string {
	t.Helper()
	status, body := s2sPost(t, ts, tenant, form, mod...)
	tok, _ := body["access_token"].(string)
	if status != http.StatusOK || tok == "" {
		t.Fatalf("token request for %s in %s: %d %v", form.Get("client_id"), tenant, status, body)
	}
	return tok
}

// s2sAssertion signs a client assertion (RS256, SHA-256 thumbprint) for the
// tenant's v2 token endpoint.
func s2sAssertion(t *testing.T, ts *testStack, tenant, clientID string, cert *x509.Certificate, key *rsa.PrivateKey) string {
	t.Helper()
	thumb := sha256.Sum256(cert.Raw)
	now := time.Now()
	hdr, _ := json.Marshal(map[string]any{"alg": "RS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(thumb[:])})
	claims, _ := json.Marshal(map[string]any{"aud": ts.authority(tenant) + "/oauth2/v2.0/token", "iss": clientID, "sub": clientID,
		"jti": uuid.NewString(), "nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()})
	signed := base64.RawURLEncoding.EncodeToString(hdr) + "." + base64.RawURLEncoding.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signed))
	sig, err := rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	if err != nil {
		t.Fatal(err)
	}
	return signed + "." + base64.RawURLEncoding.EncodeToString(sig)
}

func s2sSegment(t *testing.T, tok string, i int) map[string]any {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("not a compact JWS: %q", tok)
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[i])
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// s2sHeader returns a JWT's header, string values only.
func s2sHeader(t *testing.T, tok string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range s2sSegment(t, tok, 0) {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// s2sClaims returns a JWT's claims, string values only.
func s2sClaims(t *testing.T, tok string) map[string]string {
	t.Helper()
	out := map[string]string{}
	for k, v := range s2sSegment(t, tok, 1) {
		if s, ok := v.(string); ok {
			out[k] = s
		}
	}
	return out
}

// s2sJWK is a key of the JWKS.
type s2sJWK struct {
	Kid string   `json:"kid"`
	N   string   `json:"n"`
	E   string   `json:"e"`
	X5c []string `json:"x5c"`
}

// s2sJWKS fetches the published signing keys.
func s2sJWKS(t *testing.T, ts *testStack) []s2sJWK {
	t.Helper()
	res, err := ts.client.Get(ts.authority(demo.ContosoTenantID) + "/discovery/v2.0/keys")
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var set struct{ Keys []s2sJWK }
	if err := json.NewDecoder(res.Body).Decode(&set); err != nil || res.StatusCode != http.StatusOK {
		t.Fatalf("JWKS: %s %v", res.Status, err)
	}
	if len(set.Keys) == 0 {
		t.Fatal("JWKS has no keys")
	}
	return set.Keys
}

// s2sJWKSKids lists the published kids, sorted.
func s2sJWKSKids(t *testing.T, ts *testStack) []string {
	t.Helper()
	var kids []string
	for _, k := range s2sJWKS(t, ts) {
		kids = append(kids, k.Kid)
	}
	slices.Sort(kids)
	return kids
}
