package e2e

// Error-case tests: every error of the token endpoint, the client
// assertion checks and discovery, over raw HTTPS, each in Entra's shape
// (reference/entra.md §9); golden files for the wire shapes; a fuzz test
// of the token endpoint.

import (
	"bytes"
	"context"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/google/uuid"
)

var updateGolden = flag.Bool("update", false, "rewrite e2e/testdata/*.golden.json from the running server")

var (
	entraStampRE = regexp.MustCompile(`^\d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z$`)
	guidRE       = regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$`)
)

// checkEntraError checks an error reply has Entra's shape (§9.1): status,
// error, error_codes[0], an error_description "AADSTS<code>: …" ending in
// the trace id, correlation id and timestamp lines, correlation_id echoing
// the client-request-id sent (corr, unless empty), the timestamp format,
// error_uri, JSON and no-store.
func checkEntraError(t testing.TB, ts *testStack, r rawReply, status int, oauthErr string, code int, corr string) {
	t.Helper()
	if r.status != status || r.json["error"] != oauthErr || firstCode(r.json) != code {
		t.Errorf("got %d %v %v, want %d %s [%d]: %s", r.status, r.json["error"], r.json["error_codes"], status, oauthErr, code, r.body)
		return
	}
	if codes, _ := r.json["error_codes"].([]any); len(codes) != 1 {
		t.Errorf("error_codes %v, want one code", r.json["error_codes"])
	}
	desc, _ := r.json["error_description"].(string)
	trace, _ := r.json["trace_id"].(string)
	cid, _ := r.json["correlation_id"].(string)
	stamp, _ := r.json["timestamp"].(string)
	if !strings.HasPrefix(desc, fmt.Sprintf("AADSTS%d: ", code)) {
		t.Errorf("error_description %q does not start with AADSTS%d:", desc, code)
	}
	if want := fmt.Sprintf("\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s", trace, cid, stamp); !strings.HasSuffix(desc, want) {
		t.Errorf("error_description %q does not end with %q", desc, want)
	}
	if !guidRE.MatchString(trace) {
		t.Errorf("trace_id %q is not a GUID", trace)
	}
	if corr != "" && cid != corr {
		t.Errorf("correlation_id %q, want the client-request-id %q", cid, corr)
	}
	if !entraStampRE.MatchString(stamp) {
		t.Errorf("timestamp %q, want yyyy-MM-dd HH:mm:ssZ", stamp)
	}
	if at, err := time.Parse("2006-01-02 15:04:05Z", stamp); err != nil || time.Since(at) > 2*time.Hour || time.Until(at) > 2*time.Hour {
		t.Errorf("timestamp %q is not about now", stamp)
	}
	if got, want := r.json["error_uri"], fmt.Sprintf("%s/error?code=%d", ts.Info.AuthorityHost, code); got != want {
		t.Errorf("error_uri %v, want %s", got, want)
	}
	if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
}

// formOf builds a form from name/value pairs.
func formOf(kv ...string) url.Values {
	f := url.Values{}
	for i := 0; i+1 < len(kv); i += 2 {
		f.Set(kv[i], kv[i+1])
	}
	return f
}

// with returns a copy of f with name/value pairs set ("" deletes).
func with(f url.Values, kv ...string) url.Values {
	out := url.Values{}
	for k, v := range f {
		out[k] = append([]string(nil), v...)
	}
	for i := 0; i+1 < len(kv); i += 2 {
		if kv[i+1] == "" {
			out.Del(kv[i])
		} else {
			out.Set(kv[i], kv[i+1])
		}
	}
	return out
}

const jwtBearer = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// errCase is one request to the token endpoint and the error it must get.
type errCase struct {
	name    string
	method  string // default POST
	path    string // default the contoso v2 token endpoint
	form    url.Values
	raw     string // body sent verbatim instead of form, with ctype
	ctype   string
	basic   []string // user, password for HTTP Basic
	status  int
	err     string
	code    int
	contain string // in error_description
}

func runErrCases(t *testing.T, ts *testStack, cases []errCase) {
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			method, path, body := c.method, c.path, c.raw
			if method == "" {
				method = http.MethodPost
			}
			if path == "" {
				path = v2Path(demo.ContosoTenantID)
			}
			ctype := c.ctype
			if c.form != nil {
				body, ctype = c.form.Encode(), "application/x-www-form-urlencoded"
			}
			req, err := http.NewRequest(method, ts.Info.AuthorityHost+path, strings.NewReader(body))
			if err != nil {
				t.Fatal(err)
			}
			if ctype != "" {
				req.Header.Set("Content-Type", ctype)
			}
			if c.basic != nil {
				req.SetBasicAuth(c.basic[0], c.basic[1])
			}
			corr := uuid.NewString()
			req.Header.Set("client-request-id", corr)
			r := doRaw(t, ts, req)
			checkEntraError(t, ts, r, c.status, c.err, c.code, corr)
			if desc, _ := r.json["error_description"].(string); !strings.Contains(desc, c.contain) {
				t.Errorf("error_description %q does not contain %q", desc, c.contain)
			}
		})
	}
}

// TestErrorTokenEndpoint covers every error of the token endpoint that is
// not about a client assertion.
func TestErrorTokenEndpoint(t *testing.T) {
	clk := &stepClock{}
	ts := start(t, "", withClock(clk))
	ctx := context.Background()
	env := ts.envURL(t)
	tid := demo.ContosoTenantID

	// A secret valid for a minute, an hour ago.
	_, expired, err := ts.Directory.AddSecret(ctx, demo.PortalAppID, "short-lived", time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	clk.Advance(time.Hour)

	good := secretForm(demo.PortalAppID, demo.PortalSecret, env+"/.default")
	goodV1 := with(good, "scope", "", "resource", env)
	cases := []errCase{
		{name: "unknown tenant GUID", path: v2Path(uuid.NewString()), form: good, status: 400, err: "invalid_request", code: 90002, contain: "not found"},
		{name: "unknown tenant domain", path: v2Path("nowhere.onmicrosoft.com"), form: good, status: 400, err: "invalid_request", code: 90002, contain: "'nowhere.onmicrosoft.com'"},
		{name: "unknown tenant v1", path: v1Path(uuid.NewString()), form: goodV1, status: 400, err: "invalid_request", code: 90002},
		{name: "malformed tenant", path: v2Path("not_a_tenant"), form: good, status: 400, err: "invalid_request", code: 900023, contain: "'not_a_tenant'"},
		{name: "malformed tenant domain", path: v2Path("bad..example.com"), form: good, status: 400, err: "invalid_request", code: 900023},
		{name: "unknown client", form: with(good, "client_id", uuid.NewString()), status: 400, err: "unauthorized_client", code: 700016, contain: "was not found in the directory"},
		{name: "non-GUID client id", form: with(good, "client_id", "fabrikam-portal"), status: 400, err: "unauthorized_client", code: 700038, contain: "fabrikam-portal"},
		{name: "wrong secret", form: with(good, "client_secret", "not-the-secret-0123456789"), status: 401, err: "invalid_client", code: 7000215, contain: "Invalid client secret"},
		{name: "secret of another app", form: with(good, "client_secret", demo.InventorySecret), status: 401, err: "invalid_client", code: 7000215},
		{name: "expired secret", form: with(good, "client_secret", expired), status: 401, err: "invalid_client", code: 7000222, contain: "expired"},
		{name: "no credential", form: with(good, "client_secret", ""), status: 401, err: "invalid_client", code: 7000218, contain: "'client_assertion' or 'client_secret'"},
		{name: "secret and assertion", form: with(good, "client_assertion_type", jwtBearer, "client_assertion", "a.b.c"), status: 400, err: "invalid_request", code: 90014},
		{name: "unknown resource", form: with(good, "scope", "https://unknown.dvs2s.test/.default"), status: 400, err: "invalid_resource", code: 500011, contain: "https://unknown.dvs2s.test"},
		{name: "unknown resource v1", path: v1Path(tid), form: with(goodV1, "resource", "https://unknown.dvs2s.test"), status: 400, err: "invalid_resource", code: 500011},
		{name: "scope without .default", form: with(good, "scope", env+"/user_impersonation"), status: 400, err: "invalid_scope", code: 1002012, contain: "/.default"},
		{name: "two resources", form: with(good, "scope", env+"/.default https://other.dvs2s.test/.default"), status: 400, err: "invalid_scope", code: 700022},
		{name: ".default alone", form: with(good, "scope", "/.default"), status: 400, err: "invalid_scope", code: 700023},
		{name: "only openid scopes", form: with(good, "scope", "openid profile offline_access"), status: 400, err: "invalid_scope", code: 1002012},
		{name: "missing grant_type", form: with(good, "grant_type", ""), status: 400, err: "invalid_request", code: 900144, contain: "'grant_type'"},
		{name: "missing client_id", form: with(good, "client_id", ""), status: 400, err: "invalid_request", code: 900144, contain: "'client_id'"},
		{name: "missing scope", form: with(good, "scope", ""), status: 400, err: "invalid_request", code: 900144, contain: "'scope'"},
		{name: "missing resource v1", path: v1Path(tid), form: good, status: 400, err: "invalid_request", code: 900144, contain: "'resource'"},
		{name: "unsupported grant", form: with(good, "grant_type", "password"), status: 400, err: "unsupported_grant_type", code: 70003},
		{name: "unknown grant", form: with(good, "grant_type", "urn:dvs2s:nonsense"), status: 400, err: "unsupported_grant_type", code: 70003},
		{name: "client credentials on common", path: v2Path("common"), form: good, status: 400, err: "invalid_request", code: 9001023},
		{name: "client credentials on consumers", path: v2Path("consumers"), form: good, status: 400, err: "invalid_request", code: 9001023},
		{name: "client credentials on common v1", path: v1Path("common"), form: goodV1, status: 400, err: "invalid_request", code: 9001023},
		{name: "v2 with resource", form: with(good, "resource", env), status: 400, err: "invalid_request", code: 901002},
		{name: "GET", method: http.MethodGet, status: 400, err: "invalid_request", code: 900561, contain: "GET"},
		{name: "GET v1", method: http.MethodGet, path: v1Path(tid), status: 400, err: "invalid_request", code: 900561},
		{name: "PUT", method: http.MethodPut, form: good, status: 400, err: "invalid_request", code: 900561},
		{name: "JSON body", raw: `{"grant_type":"client_credentials","client_id":"` + demo.PortalAppID + `"}`, ctype: "application/json", status: 400, err: "invalid_request", code: 900144, contain: "'grant_type'"},
		{name: "no content type", raw: good.Encode(), status: 400, err: "invalid_request", code: 900144},
		{name: "malformed form", raw: "grant_type=%zz&client_id=x", ctype: "application/x-www-form-urlencoded", status: 400, err: "invalid_request", code: 900144},
		{name: "empty body", raw: "", ctype: "application/x-www-form-urlencoded", status: 400, err: "invalid_request", code: 900144},
		{name: "Basic wrong password", form: with(good, "client_id", "", "client_secret", ""), basic: []string{demo.PortalAppID, "wrong-secret-0123456789"}, status: 401, err: "invalid_client", code: 7000215},
		{name: "Basic client mismatch", form: with(good, "client_id", demo.InventoryAppID, "client_secret", ""), basic: []string{demo.PortalAppID, url.QueryEscape(demo.PortalSecret)}, status: 400, err: "invalid_request", code: 900144},
		{name: "Basic and body secret", form: good, basic: []string{demo.PortalAppID, url.QueryEscape(demo.PortalSecret)}, status: 400, err: "invalid_request", code: 90014},
	}
	runErrCases(t, ts, cases)

	t.Run("HTTP Basic", func(t *testing.T) {
		// RFC 6749 2.3.1: client id and secret form-urlencoded, then Basic.
		for _, withID := range []bool{false, true} {
			f := with(good, "client_id", "", "client_secret", "")
			if withID {
				f.Set("client_id", demo.PortalAppID)
			}
			r := postToken(t, ts, v2Path(tid), f, func(r *http.Request) {
				r.SetBasicAuth(url.QueryEscape(demo.PortalAppID), url.QueryEscape(demo.PortalSecret))
			})
			checkAccessToken(t, ts, clk.Now(), r.accessToken(t), wantToken{ver: 1, aud: env, tid: tid,
				oid: spOID(t, ts, tid, demo.PortalAppID), appID: demo.PortalAppID, acr: "1"})
		}
	})

	t.Run("correlation id from query and body", func(t *testing.T) {
		q := uuid.NewString()
		r := postToken(t, ts, v2Path(tid)+"?client-request-id="+q, with(good, "client_secret", "wrong-secret-0123456789"))
		checkEntraError(t, ts, r, 401, "invalid_client", 7000215, q)
		b := uuid.NewString()
		r = postToken(t, ts, v2Path(tid), with(good, "client_secret", "wrong-secret-0123456789", "client-request-id", b))
		checkEntraError(t, ts, r, 401, "invalid_client", 7000215, b)
		r = postToken(t, ts, v2Path(tid), with(good, "client_secret", "wrong-secret-0123456789"))
		if cid, _ := r.json["correlation_id"].(string); !guidRE.MatchString(cid) {
			t.Errorf("without client-request-id, correlation_id %q is not a new GUID", cid)
		}
	})
}

// TestErrorClientAssertion covers every check of a certificate client
// assertion (§6.2) and its errors (§9.2).
func TestErrorClientAssertion(t *testing.T) {
	clk := &stepClock{}
	ts := start(t, "", withClock(clk))
	ctx := context.Background()
	env := ts.envURL(t)
	tid := demo.ContosoTenantID
	cert, key := portalCert(t, ts)
	aud := ts.authority(tid) + "/oauth2/v2.0/token"
	now := clk.Now()

	// A certificate registered on the portal that expired a year ago, and
	// one that is not registered at all.
	old, oldKey := selfSignedCert(t, "expired portal cert", now.AddDate(-2, 0, 0), now.AddDate(-1, 0, 0))
	if _, err := ts.Directory.AddCertificate(ctx, demo.PortalAppID, "expired", old); err != nil {
		t.Fatal(err)
	}
	stranger, strangerKey := selfSignedCert(t, "unregistered", now.Add(-time.Hour), now.Add(time.Hour))

	hdr := func(c []byte, alg string) map[string]any {
		sum := sha256.Sum256(c)
		return map[string]any{"alg": alg, "typ": "JWT", "x5t#S256": base64.StdEncoding.EncodeToString(sum[:])}
	}
	claims := func(kv ...any) map[string]any {
		c := assertionClaims(demo.PortalAppID, aud, now)
		for i := 0; i+1 < len(kv); i += 2 {
			if kv[i+1] == nil {
				delete(c, kv[i].(string))
			} else {
				c[kv[i].(string)] = kv[i+1]
			}
		}
		return c
	}
	sign := func(k *rsa.PrivateKey, h, c map[string]any) string { return signJWT(t, k, h, c) }
	form := func(assertion string) url.Values {
		return formOf("grant_type", "client_credentials", "client_id", demo.PortalAppID, "scope", env+"/.default",
			"client_assertion_type", jwtBearer, "client_assertion", assertion)
	}
	ok := sign(key, hdr(cert.Raw, "PS256"), claims())
	fab := ts.authority(demo.FabrikamTenantID) + "/oauth2/v2.0/token"
	cases := []errCase{
		{name: "malformed JWT", form: form("not-a-jwt"), status: 401, err: "invalid_client", code: 50027},
		{name: "malformed JWT parts", form: form("a.b.c"), status: 401, err: "invalid_client", code: 50027},
		{name: "alg HS256", form: form(sign(key, hdr(cert.Raw, "HS256"), claims())), status: 401, err: "invalid_client", code: 700027, contain: "HS256"},
		{name: "alg none", form: form(sign(key, hdr(cert.Raw, "none"), claims())), status: 401, err: "invalid_client", code: 700027, contain: "none"},
		{name: "unknown thumbprint", form: form(sign(strangerKey, hdr(stranger.Raw, "PS256"), claims())), status: 401, err: "invalid_client", code: 700027, contain: "The key was not found"},
		{name: "unknown thumbprint with x5c", form: form(sign(strangerKey, map[string]any{"alg": "RS256", "typ": "JWT",
			"x5t": b64url(sha1Of(stranger.Raw)), "x5c": []string{base64.StdEncoding.EncodeToString(stranger.Raw)}}, claims())), status: 401, err: "invalid_client", code: 700027, contain: "The key was not found"},
		{name: "no thumbprint", form: form(sign(key, map[string]any{"alg": "RS256", "typ": "JWT"}, claims())), status: 401, err: "invalid_client", code: 700027, contain: "The key was not found"},
		{name: "bad signature", form: form(sign(strangerKey, hdr(cert.Raw, "PS256"), claims())), status: 401, err: "invalid_client", code: 700027, contain: "signature"},
		{name: "tampered claims", form: form(tamper(ok)), status: 401, err: "invalid_client", code: 700027, contain: "signature"},
		{name: "RS256 header, PSS signature", form: form(swapAlg(sign(key, hdr(cert.Raw, "PS256"), claims()), "RS256")), status: 401, err: "invalid_client", code: 700027},
		{name: "iss differs from sub", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("sub", uuid.NewString()))), status: 401, err: "invalid_client", code: 50048},
		{name: "iss and sub not the client", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("iss", demo.InventoryAppID, "sub", demo.InventoryAppID))), status: 401, err: "invalid_client", code: 700021},
		{name: "aud another host", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("aud", "https://login.example.com/"+tid+"/oauth2/v2.0/token"))), status: 401, err: "invalid_client", code: 700023, contain: "audience"},
		{name: "aud not a token endpoint", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("aud", ts.authority(tid)+"/v2.0"))), status: 401, err: "invalid_client", code: 700023},
		{name: "aud another tenant", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("aud", fab))), status: 401, err: "invalid_client", code: 700023},
		{name: "aud missing", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("aud", nil))), status: 401, err: "invalid_client", code: 700023},
		{name: "expired assertion", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("nbf", now.Add(-30*time.Minute).Unix(), "iat", now.Add(-30*time.Minute).Unix(), "exp", now.Add(-20*time.Minute).Unix()))), status: 401, err: "invalid_client", code: 700024, contain: "valid time range"},
		{name: "not yet valid assertion", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("nbf", now.Add(20*time.Minute).Unix(), "iat", now.Add(20*time.Minute).Unix(), "exp", now.Add(30*time.Minute).Unix()))), status: 401, err: "invalid_client", code: 700024, contain: "valid time range"},
		{name: "missing exp", form: form(sign(key, hdr(cert.Raw, "PS256"), claims("exp", nil))), status: 401, err: "invalid_client", code: 50027, contain: "exp"},
		{name: "wrong client_assertion_type", form: with(form(ok), "client_assertion_type", "urn:ietf:params:oauth:client-assertion-type:saml2-bearer"), status: 400, err: "invalid_request", code: 50027},
		{name: "missing client_assertion_type", form: with(form(ok), "client_assertion_type", ""), status: 400, err: "invalid_request", code: 900144, contain: "'client_assertion_type'"},
		{name: "expired certificate", form: form(sign(oldKey, hdr(old.Raw, "PS256"), claims())), status: 401, err: "invalid_client", code: 700027, contain: "expired"},
		{name: "assertion on another tenant's endpoint", path: v2Path(demo.FabrikamTenantID), form: with(form(ok), "scope", "https://fabrikam.dvs2s.test/.default"), status: 401, err: "invalid_client", code: 700023},
	}
	runErrCases(t, ts, cases)

	t.Run("same assertion twice", func(t *testing.T) {
		// msal-node reuses its assertion until it expires (§6.2).
		a := sign(key, hdr(cert.Raw, "PS256"), claims())
		oid := spOID(t, ts, tid, demo.PortalAppID)
		for i := 0; i < 2; i++ {
			r := postToken(t, ts, v2Path(tid), form(a))
			checkAccessToken(t, ts, clk.Now(), r.accessToken(t), wantToken{ver: 1, aud: env, tid: tid, oid: oid, appID: demo.PortalAppID, acr: "2"})
		}
	})

	t.Run("clock skew tolerated", func(t *testing.T) {
		// An assertion a little in the future or just expired is accepted,
		// as Entra allows for client clock skew.
		for _, c := range []map[string]any{
			claims("nbf", now.Add(2*time.Minute).Unix(), "exp", now.Add(12*time.Minute).Unix()),
			claims("nbf", now.Add(-12*time.Minute).Unix(), "exp", now.Add(-2*time.Minute).Unix()),
			claims("nbf", nil), // iat stands in for nbf
			claims("nbf", nil, "iat", nil),
		} {
			postToken(t, ts, v2Path(tid), form(sign(key, hdr(cert.Raw, "PS256"), c))).accessToken(t)
		}
	})
}

func sha1Of(b []byte) []byte { s := sha1.Sum(b); return s[:] }
func b64url(b []byte) string { return base64.RawURLEncoding.EncodeToString(b) }

// tamper changes the claims of a signed JWS, keeping the signature.
func tamper(jws string) string {
	p := strings.Split(jws, ".")
	c, _ := base64.RawURLEncoding.DecodeString(p[1])
	var m map[string]any
	json.Unmarshal(c, &m)
	m["exp"] = time.Now().Add(24 * time.Hour).Unix()
	c, _ = json.Marshal(m)
	return p[0] + "." + base64.RawURLEncoding.EncodeToString(c) + "." + p[2]
}

// swapAlg replaces the alg of a signed JWS, keeping the signature.
func swapAlg(jws, alg string) string {
	p := strings.Split(jws, ".")
	h, _ := base64.RawURLEncoding.DecodeString(p[0])
	var m map[string]any
	json.Unmarshal(h, &m)
	m["alg"] = alg
	h, _ = json.Marshal(m)
	return base64.RawURLEncoding.EncodeToString(h) + "." + p[1] + "." + p[2]
}

// TestErrorDiscovery covers the discovery endpoints: the documents for a
// tenant by GUID, by domain (GUID-based issuer), case-insensitively, and
// for common/organizations ({tenantid} template); unknown tenants (90002
// invalid_tenant) and foreign instances (50049 invalid_instance).
func TestErrorDiscovery(t *testing.T) {
	ts := start(t, "")
	base, tid := ts.Info.AuthorityHost, demo.ContosoTenantID
	get := func(t *testing.T, path string) rawReply {
		req, err := http.NewRequest(http.MethodGet, base+path, nil)
		if err != nil {
			t.Fatal(err)
		}
		return doRaw(t, ts, req)
	}

	t.Run("documents", func(t *testing.T) {
		for _, seg := range []string{tid, strings.ToUpper(tid), "contoso.onmicrosoft.com", "Contoso.OnMicrosoft.COM", "common", "organizations"} {
			for _, ver := range []int{1, 2} {
				t.Run(fmt.Sprintf("%s/v%d", seg, ver), func(t *testing.T) {
					path := "/" + seg + "/v2.0/.well-known/openid-configuration"
					if ver == 1 {
						path = "/" + seg + "/.well-known/openid-configuration"
					}
					r := get(t, path)
					if r.status != 200 {
						t.Fatalf("%d %s", r.status, r.body)
					}
					b, issTID := base+"/"+tid, tid
					if seg == "common" || seg == "organizations" {
						b, issTID = base+"/"+seg, "{tenantid}"
					}
					want := map[string]string{
						"issuer":                 base + "/" + issTID + "/v2.0",
						"token_endpoint":         b + "/oauth2/v2.0/token",
						"authorization_endpoint": b + "/oauth2/v2.0/authorize",
						"jwks_uri":               b + "/discovery/v2.0/keys",
						"end_session_endpoint":   b + "/oauth2/v2.0/logout",
					}
					if ver == 1 {
						want = map[string]string{
							"issuer":                 base + "/" + issTID + "/",
							"token_endpoint":         b + "/oauth2/token",
							"authorization_endpoint": b + "/oauth2/authorize",
							"jwks_uri":               b + "/discovery/keys",
							"end_session_endpoint":   b + "/oauth2/logout",
						}
					}
					for k, v := range want {
						if r.json[k] != v {
							t.Errorf("%s = %v, want %s", k, r.json[k], v)
						}
					}
					if cc := r.header.Get("Cache-Control"); !strings.Contains(cc, "max-age") {
						t.Errorf("Cache-Control %q", cc)
					}
					// The JWKS the document names serves RSA signing keys.
					var set struct {
						Keys []map[string]any `json:"keys"`
					}
					getJSON(t, ts, want["jwks_uri"], &set)
					if len(set.Keys) == 0 || set.Keys[0]["kty"] != "RSA" {
						t.Errorf("JWKS %v", set)
					}
				})
			}
		}
	})

	t.Run("errors", func(t *testing.T) {
		unknown := uuid.NewString()
		for _, c := range []struct {
			path, err string
			code      int
		}{
			{"/" + unknown + "/v2.0/.well-known/openid-configuration", "invalid_tenant", 90002},
			{"/" + unknown + "/.well-known/openid-configuration", "invalid_tenant", 90002},
			{"/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration", "invalid_tenant", 90002},
			{"/" + unknown + "/discovery/v2.0/keys", "invalid_tenant", 90002},
			{"/" + unknown + "/discovery/keys", "invalid_tenant", 90002},
			{"/not_a_tenant/v2.0/.well-known/openid-configuration", "invalid_request", 900023},
			{"/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://login.example.com/"+tid+"/oauth2/v2.0/authorize"), "invalid_instance", 50049},
			{"/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("https://login.microsoftonline.com/"+tid+"/oauth2/v2.0/authorize"), "invalid_instance", 50049},
			{"/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape("::not a url"), "invalid_instance", 50049},
		} {
			t.Run(c.path, func(t *testing.T) {
				corr := uuid.NewString()
				req, _ := http.NewRequest(http.MethodGet, base+c.path, nil)
				req.Header.Set("client-request-id", corr)
				checkEntraError(t, ts, doRaw(t, ts, req), 400, c.err, c.code, corr)
			})
		}
	})

	t.Run("instance discovery", func(t *testing.T) {
		host := strings.TrimPrefix(base, "https://")
		for _, c := range []struct{ query, tenant string }{
			{"?api-version=1.1&authorization_endpoint=" + url.QueryEscape(base+"/"+tid+"/oauth2/v2.0/authorize"), tid},
			{"?api-version=1.1&authorization_endpoint=" + url.QueryEscape(strings.ToUpper(base)+"/contoso.onmicrosoft.com/oauth2/v2.0/authorize"), "contoso.onmicrosoft.com"},
			{"?api-version=1.1", "common"},
		} {
			r := get(t, "/common/discovery/instance"+c.query)
			if r.status != 200 {
				t.Fatalf("%d %s", r.status, r.body)
			}
			if want := base + "/" + c.tenant + "/v2.0/.well-known/openid-configuration"; r.json["tenant_discovery_endpoint"] != want {
				t.Errorf("tenant_discovery_endpoint %v, want %s", r.json["tenant_discovery_endpoint"], want)
			}
			md, _ := r.json["metadata"].([]any)
			if len(md) != 1 {
				t.Fatalf("metadata %v", r.json["metadata"])
			}
			m, _ := md[0].(map[string]any)
			aliases, _ := m["aliases"].([]any)
			if m["preferred_network"] != host || m["preferred_cache"] != host || len(aliases) != 1 || aliases[0] != host {
				t.Errorf("metadata %v, want %s everywhere", m, host)
			}
		}
	})
}

// TestErrorGolden compares the wire shapes with e2e/testdata/*.golden.json,
// volatile values normalised (hosts, keys, tokens, times, trace ids); run
// with -update to rewrite them.
func TestErrorGolden(t *testing.T) {
	ts := start(t, "")
	base, tid, env := ts.Info.AuthorityHost, demo.ContosoTenantID, ts.envURL(t)
	get := func(path string) rawReply {
		req, _ := http.NewRequest(http.MethodGet, base+path, nil)
		return doRaw(t, ts, req)
	}
	const corr = "00000000-0000-4000-8000-00000000c0de"
	withCorr := func(r *http.Request) { r.Header.Set("client-request-id", corr) }
	for _, c := range []struct {
		name  string
		reply func() rawReply
	}{
		{"discovery_v2", func() rawReply { return get("/" + tid + "/v2.0/.well-known/openid-configuration") }},
		{"discovery_v1", func() rawReply { return get("/" + tid + "/.well-known/openid-configuration") }},
		{"discovery_v2_common", func() rawReply { return get("/common/v2.0/.well-known/openid-configuration") }},
		{"instance_discovery", func() rawReply {
			return get("/common/discovery/instance?api-version=1.1&authorization_endpoint=" + url.QueryEscape(base+"/"+tid+"/oauth2/v2.0/authorize"))
		}},
		{"jwks", func() rawReply { return get("/" + tid + "/discovery/v2.0/keys") }},
		{"jwks_v1", func() rawReply { return get("/" + tid + "/discovery/keys") }},
		{"token_v2", func() rawReply {
			return postToken(t, ts, v2Path(tid), secretForm(demo.PortalAppID, demo.PortalSecret, env+"/.default"))
		}},
		{"token_v1", func() rawReply {
			return postToken(t, ts, v1Path(tid), with(secretForm(demo.PortalAppID, demo.PortalSecret, ""), "scope", "", "resource", env))
		}},
		{"error_invalid_client", func() rawReply {
			return postToken(t, ts, v2Path(tid), secretForm(demo.PortalAppID, "wrong-secret-0123456789", env+"/.default"), withCorr)
		}},
		{"error_invalid_tenant", func() rawReply {
			req, _ := http.NewRequest(http.MethodGet, base+"/nowhere.onmicrosoft.com/v2.0/.well-known/openid-configuration", nil)
			withCorr(req)
			return doRaw(t, ts, req)
		}},
	} {
		t.Run(c.name, func(t *testing.T) {
			r := c.reply()
			got := normaliseGolden(t, ts, env, r.body)
			file := filepath.Join("testdata", c.name+".golden.json")
			if *updateGolden {
				if err := os.MkdirAll("testdata", 0o755); err != nil {
					t.Fatal(err)
				}
				if err := os.WriteFile(file, got, 0o644); err != nil {
					t.Fatal(err)
				}
				return
			}
			want, err := os.ReadFile(file)
			if err != nil {
				t.Fatalf("%v (run go test ./e2e/ -run TestErrorGolden -update)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("%s differs from the server's answer (run with -update if the change is intended)\n--- got\n%s\n--- want\n%s", file, got, want)
			}
		})
	}
}

var (
	traceLineRE = regexp.MustCompile(`Trace ID: [0-9a-f-]{36}`)
	stampLineRE = regexp.MustCompile(`Timestamp: \d{4}-\d{2}-\d{2} \d{2}:\d{2}:\d{2}Z`)
)

// normaliseGolden replaces what differs between runs: the stack's hosts and
// ports, signing keys, tokens, times and trace ids; it returns indented
// JSON with sorted keys.
func normaliseGolden(t testing.TB, ts *testStack, env string, body []byte) []byte {
	t.Helper()
	var v any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&v); err != nil {
		t.Fatalf("not JSON: %v: %s", err, body)
	}
	authHost := strings.TrimPrefix(ts.Info.AuthorityHost, "https://")
	envHost := strings.TrimPrefix(env, "https://")
	// The longer host first, should one port be a prefix of the other.
	pairs := [][2]string{{authHost, "{authority-host}"}, {envHost, "{environment-host}"}}
	if len(envHost) > len(authHost) {
		pairs[0], pairs[1] = pairs[1], pairs[0]
	}
	hosts := strings.NewReplacer(pairs[0][0], pairs[0][1], pairs[1][0], pairs[1][1])
	volatile := map[string]bool{"access_token": true, "expires_on": true, "not_before": true, "trace_id": true, "timestamp": true,
		"kid": true, "x5t": true, "n": true}
	var walk func(key string, v any) any
	walk = func(key string, v any) any {
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(k, e)
			}
			return x
		case []any:
			if key == "x5c" {
				return []any{"{x5c}"}
			}
			for i, e := range x {
				x[i] = walk(key, e)
			}
			return x
		case string:
			if volatile[key] {
				return "{" + key + "}"
			}
			x = hosts.Replace(x)
			x = traceLineRE.ReplaceAllString(x, "Trace ID: {trace_id}")
			return stampLineRE.ReplaceAllString(x, "Timestamp: {timestamp}")
		}
		return v
	}
	out, err := json.MarshalIndent(walk("", v), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

// FuzzTokenEndpoint feeds random tenants, bodies, content types and
// Authorization headers to both token endpoints: the answer is never a 5xx
// and always JSON (msal-node parses every body as JSON, §9.3).
func FuzzTokenEndpoint(f *testing.F) {
	ts := start(f, "")
	env := ts.envURL(f)
	tid := demo.ContosoTenantID
	form := "application/x-www-form-urlencoded"
	f.Add(tid, secretForm(demo.PortalAppID, demo.PortalSecret, env+"/.default").Encode(), form, "", true)
	f.Add(tid, with(secretForm(demo.PortalAppID, demo.PortalSecret, ""), "scope", "", "resource", env).Encode(), form, "", false)
	f.Add("common", "grant_type=client_credentials", form, "", true)
	f.Add("contoso.onmicrosoft.com", "grant_type=client_credentials&client_id="+demo.PortalAppID+"&client_assertion_type="+url.QueryEscape(jwtBearer)+"&client_assertion=eyJhbGciOiJSUzI1NiJ9.e30.AA&scope=x/.default", form, "", true)
	f.Add(tid, "grant_type=client_credentials&scope=%2F.default+openid", form, "Basic "+base64.StdEncoding.EncodeToString([]byte("a:b")), true)
	f.Add(tid, "%zz&&==;;", form, "Basic !!", false)
	f.Add("x..y", `{"grant_type":"client_credentials"}`, "application/json", "Bearer x", true)
	f.Add(tid, "--b\r\nContent-Disposition: form-data; name=\"grant_type\"\r\n\r\nclient_credentials\r\n--b--\r\n", "multipart/form-data; boundary=b", "", true)
	f.Fuzz(func(t *testing.T, tenant, body, ctype, authz string, v2 bool) {
		// A tenant with a slash is another path, which the token endpoint
		// never sees (the router answers it).
		seg := url.PathEscape(tenant)
		if seg == "" || seg == "." || seg == ".." || strings.Contains(tenant, "/") {
			seg = tid
		}
		path := v1Path(seg)
		if v2 {
			path = v2Path(seg)
		}
		req := httptest.NewRequest(http.MethodPost, ts.Info.AuthorityHost+path, strings.NewReader(body))
		req.Header.Set("Content-Type", ctype)
		if authz != "" {
			req.Header.Set("Authorization", authz)
		}
		rec := httptest.NewRecorder()
		ts.Identity.ServeHTTP(rec, req)
		if rec.Code >= 500 {
			t.Fatalf("status %d for %s %q: %s", rec.Code, path, body, rec.Body.Bytes())
		}
		if !json.Valid(rec.Body.Bytes()) {
			t.Fatalf("status %d, body is not JSON: %q", rec.Code, rec.Body.Bytes())
		}
		if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
			t.Fatalf("Content-Type %q", ct)
		}
	})
}
