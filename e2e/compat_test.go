package e2e

// Compatibility tests: tokens obtained by unmodified MSAL Go and azidentity
// (and by hand-built legacy assertions) are decoded and every claim, header
// field and response field is checked against reference/entra.md (§6, §7,
// §8), the signature against the JWKS the discovery document points to.
// Multi-tenant rules (§8.5) are checked over raw HTTPS.

import (
	"bytes"
	"context"
	"crypto"
	"crypto/hmac"
	"crypto/rand"
	"crypto/rsa"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"errors"
	"io"
	"math/big"
	"net/http"
	"net/url"
	"os"
	"regexp"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/google/uuid"
)

// compatV2Resource is an API registered in contoso that accepts v2 tokens;
// compatV2AppID is its application id (the v2 audience).
const (
	compatV2Resource = "api://dvs2s-compat-v2"
	compatV2AppID    = "3c9a7e51-0d2b-4f6e-9a8c-71b2d4e6f809"
)

// stepClock is a clock a test moves forward (stack.Config.Now).
type stepClock struct {
	mu  sync.Mutex
	off time.Duration
}

func (c *stepClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return time.Now().Add(c.off)
}

func (c *stepClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.off += d
	c.mu.Unlock()
}

func withClock(c *stepClock) func(*stack.Config) { return func(sc *stack.Config) { sc.Now = c.Now } }

// exchange is one HTTP call seen by a recorder.
type exchange struct {
	method, path string
	status       int
	reqHeader    http.Header
	reqBody      []byte
	respHeader   http.Header
	respBody     []byte
}

// recorder is a RoundTripper that records every call, so a test can count
// requests (cache hits make none) and see what a client library sent.
type recorder struct {
	base http.RoundTripper
	mu   sync.Mutex
	log  []exchange
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	var body []byte
	out := req.Clone(req.Context())
	if req.Body != nil {
		b, err := io.ReadAll(req.Body)
		req.Body.Close()
		if err != nil {
			return nil, err
		}
		body = b
		out.Body = io.NopCloser(bytes.NewReader(b))
	}
	resp, err := r.base.RoundTrip(out)
	if err != nil {
		return nil, err
	}
	rb, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return nil, err
	}
	resp.Body = io.NopCloser(bytes.NewReader(rb))
	r.mu.Lock()
	r.log = append(r.log, exchange{method: req.Method, path: req.URL.Path, status: resp.StatusCode,
		reqHeader: req.Header.Clone(), reqBody: body, respHeader: resp.Header.Clone(), respBody: rb})
	r.mu.Unlock()
	return resp, nil
}

// calls returns the recorded calls whose path ends with suffix ("" for all).
func (r *recorder) calls(suffix string) []exchange {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []exchange
	for _, e := range r.log {
		if strings.HasSuffix(e.path, suffix) {
			out = append(out, e)
		}
	}
	return out
}

// recordingClient returns an HTTP client trusting the stack's CA whose
// calls r records.
func recordingClient(ts *testStack) (*http.Client, *recorder) {
	r := &recorder{base: ts.client.Transport}
	return &http.Client{Transport: r, Timeout: 30 * time.Second}, r
}

// portalCertPEM returns the demo certificate and key of the Fabrikam
// Portal, as stack.json lists them.
func portalCertPEM(t testing.TB, ts *testStack) (certPEM, keyPEM []byte) {
	t.Helper()
	for _, a := range ts.Info.Apps {
		if a.ClientID == demo.PortalAppID && a.CertificateFile != "" {
			c, err := os.ReadFile(a.CertificateFile)
			if err != nil {
				t.Fatal(err)
			}
			k, err := os.ReadFile(a.PrivateKeyFile)
			if err != nil {
				t.Fatal(err)
			}
			return c, k
		}
	}
	t.Fatal("stack.json lists no certificate for the portal")
	return nil, nil
}

func portalCert(t testing.TB, ts *testStack) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	c, k := portalCertPEM(t, ts)
	certs, key, err := confidential.CertFromPEM(append(c, k...), "")
	if err != nil {
		t.Fatal(err)
	}
	rk, ok := key.(*rsa.PrivateKey)
	if !ok {
		t.Fatalf("portal key is %T", key)
	}
	return certs[0], rk
}

// spOID is the object id of app's service principal in tenant.
func spOID(t testing.TB, ts *testStack, tenant, app string) string {
	t.Helper()
	sp, err := ts.Store.ServicePrincipal(context.Background(), tenant, app)
	if err != nil {
		t.Fatalf("service principal of %s in %s: %v", app, tenant, err)
	}
	return sp.ObjectID
}

// registerV2Resource registers compatV2Resource in contoso.
func registerV2Resource(t testing.TB, ts *testStack) {
	t.Helper()
	if _, err := ts.Directory.RegisterResource(context.Background(), demo.ContosoTenantID, compatV2Resource, compatV2AppID, "Compat API (v2 tokens)", 2); err != nil {
		t.Fatal(err)
	}
}

// decodeJWT splits a compact JWS and decodes its header and claims.
func decodeJWT(t testing.TB, tok string) (header, claims map[string]any) {
	t.Helper()
	parts := strings.Split(tok, ".")
	if len(parts) != 3 {
		t.Fatalf("token has %d parts, want 3: %.40q", len(parts), tok)
	}
	dec := func(s string, v any) {
		b, err := base64.RawURLEncoding.DecodeString(s)
		if err != nil {
			t.Fatalf("token part is not base64url: %v", err)
		}
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(v); err != nil {
			t.Fatalf("token part is not JSON: %v: %s", err, b)
		}
	}
	dec(parts[0], &header)
	dec(parts[1], &claims)
	return header, claims
}

func sortedKeys(m map[string]any) []string {
	k := make([]string, 0, len(m))
	for n := range m {
		k = append(k, n)
	}
	sort.Strings(k)
	return k
}

func claimInt(t testing.TB, claims map[string]any, name string) int64 {
	t.Helper()
	n, ok := claims[name].(json.Number)
	if !ok {
		t.Fatalf("claim %s = %#v, want an integer", name, claims[name])
	}
	i, err := n.Int64()
	if err != nil {
		t.Fatalf("claim %s = %v, want an integer", name, n)
	}
	return i
}

// wantToken is what an app-only access token must say.
type wantToken struct {
	ver   int    // 1 or 2
	aud   string // v1: the resource as requested; v2: the resource app id
	tid   string
	oid   string // the client's service principal in tid
	appID string
	acr   string // "1" secret, "2" certificate
}

var utiRE = regexp.MustCompile(`^[A-Za-z0-9_-]{22}$`)

// checkAccessToken checks every header field and claim of an app-only
// access token (§8.2, §8.3, §8.4) and its signature against the JWKS of the
// matching discovery document (§4, §5). now is the stack's clock.
func checkAccessToken(t testing.TB, ts *testStack, now time.Time, tok string, w wantToken) {
	t.Helper()
	h, c := decodeJWT(t, tok)
	kid, _ := h["kid"].(string)
	if h["typ"] != "JWT" || h["alg"] != "RS256" || kid == "" {
		t.Errorf("header %v: want typ JWT, alg RS256 and a kid", h)
	}
	wantHdr := []string{"alg", "kid", "typ"}
	if w.ver == 1 {
		wantHdr = []string{"alg", "kid", "typ", "x5t"}
		if h["x5t"] != kid {
			t.Errorf("v1 header x5t = %v, want the kid %q", h["x5t"], kid)
		}
	}
	if got := sortedKeys(h); !slices.Equal(got, wantHdr) {
		t.Errorf("header fields %v, want %v", got, wantHdr)
	}

	iss := ts.Info.AuthorityHost + "/" + w.tid + "/"
	wantClaims := []string{"aud", "exp", "iat", "idtyp", "iss", "nbf", "oid", "rh", "sub", "tid", "uti", "ver"}
	str := map[string]string{"aud": w.aud, "tid": w.tid, "oid": w.oid, "sub": w.oid, "idtyp": "app"}
	if w.ver == 1 {
		wantClaims = append(wantClaims, "appid", "appidacr", "idp")
		str["ver"], str["appid"], str["appidacr"], str["idp"] = "1.0", w.appID, w.acr, iss
	} else {
		iss += "v2.0"
		wantClaims = append(wantClaims, "azp", "azpacr")
		str["ver"], str["azp"], str["azpacr"] = "2.0", w.appID, w.acr
	}
	str["iss"] = iss
	sort.Strings(wantClaims)
	if got := sortedKeys(c); !slices.Equal(got, wantClaims) {
		t.Errorf("claims %v, want exactly %v", got, wantClaims)
	}
	for name, want := range str {
		if got, _ := c[name].(string); got != want {
			t.Errorf("claim %s = %#v, want %q", name, c[name], want)
		}
	}
	iat, nbf, exp := claimInt(t, c, "iat"), claimInt(t, c, "nbf"), claimInt(t, c, "exp")
	if iat != nbf {
		t.Errorf("iat %d != nbf %d", iat, nbf)
	}
	const slack = 15 // seconds a test may take between issuance and this check
	if d := now.Add(-5*time.Minute).Unix() - iat; d < -2 || d > slack {
		t.Errorf("iat = now-300s%+ds, want now-300s (back-dated 5 minutes)", -d)
	}
	if d := now.Add(time.Hour).Unix() - exp; d < -2 || d > slack {
		t.Errorf("exp = now+3600s%+ds, want now+3600s", -d)
	}
	if exp-iat != 3900 {
		t.Errorf("exp-iat = %d, want 3900", exp-iat)
	}
	if uti, _ := c["uti"].(string); !utiRE.MatchString(uti) {
		t.Errorf("uti %q is not 22 base64url characters", uti)
	}
	if rh, _ := c["rh"].(string); rh == "" {
		t.Error("rh is empty")
	}
	verifyWithJWKS(t, ts, w.tid, w.ver, tok, iss)
}

// verifyWithJWKS fetches the tenant's discovery document of the token's
// version, checks its issuer, fetches its jwks_uri and verifies the RS256
// signature with the key whose kid the token names.
func verifyWithJWKS(t testing.TB, ts *testStack, tid string, ver int, tok, iss string) {
	t.Helper()
	docURL := ts.authority(tid) + "/v2.0/.well-known/openid-configuration"
	if ver == 1 {
		docURL = ts.authority(tid) + "/.well-known/openid-configuration"
	}
	var doc struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	getJSON(t, ts, docURL, &doc)
	if doc.Issuer != iss {
		t.Errorf("discovery issuer %q, token iss %q", doc.Issuer, iss)
	}
	var set struct {
		Keys []struct {
			Kty, Use, Kid, X5t, N, E string
			X5c                      []string
		} `json:"keys"`
	}
	getJSON(t, ts, doc.JWKSURI, &set)
	h, _ := decodeJWT(t, tok)
	for _, k := range set.Keys {
		if k.Kid != h["kid"] {
			continue
		}
		if k.Kty != "RSA" || k.Use != "sig" || k.X5t != k.Kid || len(k.X5c) != 1 {
			t.Errorf("JWK %+v: want kty RSA, use sig, x5t = kid, one x5c", k)
		}
		n, err1 := base64.RawURLEncoding.DecodeString(k.N)
		e, err2 := base64.RawURLEncoding.DecodeString(k.E)
		if err1 != nil || err2 != nil {
			t.Fatalf("JWK n/e not base64url: %v %v", err1, err2)
		}
		pub := &rsa.PublicKey{N: new(big.Int).SetBytes(n), E: int(new(big.Int).SetBytes(e).Int64())}
		der, err := base64.StdEncoding.DecodeString(k.X5c[0])
		if err != nil {
			t.Fatalf("x5c is not standard base64: %v", err)
		}
		cert, err := x509.ParseCertificate(der)
		if err != nil {
			t.Fatalf("x5c: %v", err)
		}
		if !pub.Equal(cert.PublicKey) {
			t.Error("x5c certificate's key differs from n/e")
		}
		if sum := sha1.Sum(der); base64.RawURLEncoding.EncodeToString(sum[:]) != k.Kid {
			t.Errorf("kid %q is not the base64url SHA-1 thumbprint of x5c", k.Kid)
		}
		i := strings.LastIndexByte(tok, '.')
		sig, err := base64.RawURLEncoding.DecodeString(tok[i+1:])
		if err != nil {
			t.Fatal(err)
		}
		sum := sha256.Sum256([]byte(tok[:i]))
		if err := rsa.VerifyPKCS1v15(pub, crypto.SHA256, sum[:], sig); err != nil {
			t.Errorf("signature does not verify with the JWKS key: %v", err)
		}
		return
	}
	t.Errorf("no key with kid %v in %s", h["kid"], doc.JWKSURI)
}

func getJSON(t testing.TB, ts *testStack, u string, v any) http.Header {
	t.Helper()
	resp, err := ts.client.Get(u)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK {
		t.Fatalf("GET %s: %d %s", u, resp.StatusCode, b)
	}
	if err := json.Unmarshal(b, v); err != nil {
		t.Fatalf("GET %s: not JSON: %v", u, err)
	}
	return resp.Header
}

// checkTokenResponse checks a v2 success body: exactly token_type,
// expires_in, ext_expires_in (integers above 300, so MSAL caches) and
// access_token; no scope (§6.4); no-store.
func checkTokenResponse(t testing.TB, hdr http.Header, body []byte) {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("token response is not JSON: %v: %s", err, body)
	}
	if got, want := sortedKeys(m), []string{"access_token", "expires_in", "ext_expires_in", "token_type"}; !slices.Equal(got, want) {
		t.Errorf("token response fields %v, want %v", got, want)
	}
	if m["token_type"] != "Bearer" {
		t.Errorf("token_type %v", m["token_type"])
	}
	for _, f := range []string{"expires_in", "ext_expires_in"} {
		if n, ok := m[f].(json.Number); !ok || n.String() != "3599" {
			t.Errorf("%s = %#v, want the integer 3599", f, m[f])
		}
	}
	if cc := hdr.Get("Cache-Control"); !strings.Contains(cc, "no-store") {
		t.Errorf("Cache-Control %q, want no-store", cc)
	}
	if ct := hdr.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q", ct)
	}
}

// tokenFunc gets a token for one scope with a client built once, so that a
// second call can be served from the library's cache.
type tokenFunc func(ctx context.Context, scope string) (string, error)

// TestCompatClientLibraries gets app-only tokens with unmodified MSAL Go and
// azidentity, with a secret and with the portal's certificate (with and
// without x5c), for a v1 and a v2 resource, and checks the tokens, the wire
// responses and the requests the libraries sent; the second call must come
// from the library's cache.
func TestCompatClientLibraries(t *testing.T) {
	ts := start(t, "")
	registerV2Resource(t, ts)
	certPEM, keyPEM := portalCertPEM(t, ts)
	certs, key, err := confidential.CertFromPEM(append(certPEM, keyPEM...), "")
	if err != nil {
		t.Fatal(err)
	}
	tid := demo.ContosoTenantID
	msal := func(tenant string, cred func() (confidential.Credential, error), opts ...confidential.Option) func(*testing.T, *http.Client) tokenFunc {
		return func(t *testing.T, hc *http.Client) tokenFunc {
			c, err := cred()
			if err != nil {
				t.Fatal(err)
			}
			app, err := confidential.New(ts.authority(tenant), demo.PortalAppID, c,
				append([]confidential.Option{confidential.WithHTTPClient(hc), confidential.WithInstanceDiscovery(false)}, opts...)...)
			if err != nil {
				t.Fatal(err)
			}
			return func(ctx context.Context, scope string) (string, error) {
				r, err := app.AcquireTokenByCredential(ctx, []string{scope})
				return r.AccessToken, err
			}
		}
	}
	secret := func() (confidential.Credential, error) { return confidential.NewCredFromSecret(demo.PortalSecret) }
	cert := func() (confidential.Credential, error) { return confidential.NewCredFromCert(certs, key) }
	azOpts := func(hc *http.Client) azcore.ClientOptions {
		return azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ts.Info.AuthorityHost + "/"}, Transport: hc}
	}
	azGet := func(cred azcore.TokenCredential) tokenFunc {
		return func(ctx context.Context, scope string) (string, error) {
			// EnableCAE as azcore's BearerTokenPolicy always sets it: the
			// request then carries claims={"access_token":{"xms_cc":...}}.
			tk, err := cred.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{scope}, EnableCAE: true})
			return tk.Token, err
		}
	}
	azCert := func(chain bool) func(*testing.T, *http.Client) tokenFunc {
		return func(t *testing.T, hc *http.Client) tokenFunc {
			cs, k, err := azidentity.ParseCertificates(append(certPEM, keyPEM...), nil)
			if err != nil {
				t.Fatal(err)
			}
			cred, err := azidentity.NewClientCertificateCredential(tid, demo.PortalAppID, cs, k,
				&azidentity.ClientCertificateCredentialOptions{ClientOptions: azOpts(hc), DisableInstanceDiscovery: true, SendCertificateChain: chain})
			if err != nil {
				t.Fatal(err)
			}
			return azGet(cred)
		}
	}
	clients := []struct {
		name   string
		acr    string
		x5c    int // certificate clients: 1 with the x5c header, 0 without; -1 secret
		client func(*testing.T, *http.Client) tokenFunc
	}{
		{"MSAL/secret", "1", -1, msal(tid, secret)},
		{"MSAL/secret/domain-authority", "1", -1, msal("Contoso.OnMicrosoft.com", secret)},
		{"MSAL/cert", "2", 0, msal(tid, cert)},
		{"MSAL/cert+x5c", "2", 1, msal(tid, cert, confidential.WithX5C())},
		{"azidentity/secret", "1", -1, func(t *testing.T, hc *http.Client) tokenFunc {
			cred, err := azidentity.NewClientSecretCredential(tid, demo.PortalAppID, demo.PortalSecret,
				&azidentity.ClientSecretCredentialOptions{ClientOptions: azOpts(hc), DisableInstanceDiscovery: true})
			if err != nil {
				t.Fatal(err)
			}
			return azGet(cred)
		}},
		{"azidentity/cert", "2", 0, azCert(false)},
		{"azidentity/cert+chain", "2", 1, azCert(true)},
	}
	resources := []struct {
		name, scope, aud string
		ver              int
	}{
		{"v1", ts.envURL(t) + "/.default", ts.envURL(t), 1},
		{"v2", compatV2Resource + "/.default", compatV2AppID, 2},
	}
	oid := spOID(t, ts, tid, demo.PortalAppID)
	for _, c := range clients {
		for _, r := range resources {
			t.Run(c.name+"/"+r.name, func(t *testing.T) {
				hc, rec := recordingClient(ts)
				get := c.client(t, hc)
				ctx := context.Background()
				tok, err := get(ctx, r.scope)
				if err != nil {
					t.Fatalf("first call: %v\nstack log:\n%s", err, ts.logs.String())
				}
				posts := rec.calls("/oauth2/v2.0/token")
				if len(posts) != 1 {
					t.Fatalf("%d token requests, want 1", len(posts))
				}
				calls := len(rec.calls(""))
				tok2, err := get(ctx, r.scope)
				if err != nil {
					t.Fatalf("second call: %v", err)
				}
				if n := len(rec.calls("")); n != calls || tok2 != tok {
					t.Errorf("second call made %d requests (same token: %v); want it served from the cache", n-calls, tok2 == tok)
				}
				checkAccessToken(t, ts, time.Now(), tok, wantToken{ver: r.ver, aud: r.aud, tid: tid, oid: oid, appID: demo.PortalAppID, acr: c.acr})
				checkTokenResponse(t, posts[0].respHeader, posts[0].respBody)
				form, err := url.ParseQuery(string(posts[0].reqBody))
				if err != nil {
					t.Fatal(err)
				}
				if c.x5c < 0 {
					return
				}
				// What the library sent: PS256 with x5t#S256 as padded
				// standard base64 (§6.2), x5c only when asked for.
				h, cl := decodeJWT(t, form.Get("client_assertion"))
				sum := sha256.Sum256(certs[0].Raw)
				if h["alg"] != "PS256" || h["x5t#S256"] != base64.StdEncoding.EncodeToString(sum[:]) {
					t.Errorf("assertion header %v: want PS256 and the padded standard base64 SHA-256 thumbprint", h)
				}
				if _, has := h["x5c"]; has != (c.x5c == 1) {
					t.Errorf("assertion header has x5c: %v, want %v", has, c.x5c == 1)
				}
				if cl["aud"] != ts.authority(tid)+"/oauth2/v2.0/token" {
					t.Errorf("assertion aud %v", cl["aud"])
				}
			})
		}
	}
}

// signJWT signs a compact JWS with key: RS256, PS256 (salt = hash length,
// as MSAL and node sign), HS256 (key's modulus bytes as secret) or none.
func signJWT(t testing.TB, key *rsa.PrivateKey, header, claims map[string]any) string {
	t.Helper()
	hb, err := json.Marshal(header)
	if err != nil {
		t.Fatal(err)
	}
	cb, err := json.Marshal(claims)
	if err != nil {
		t.Fatal(err)
	}
	in := base64.RawURLEncoding.EncodeToString(hb) + "." + base64.RawURLEncoding.EncodeToString(cb)
	sum := sha256.Sum256([]byte(in))
	var sig []byte
	switch header["alg"] {
	case "RS256":
		sig, err = rsa.SignPKCS1v15(rand.Reader, key, crypto.SHA256, sum[:])
	case "PS256":
		sig, err = rsa.SignPSS(rand.Reader, key, crypto.SHA256, sum[:], &rsa.PSSOptions{SaltLength: rsa.PSSSaltLengthEqualsHash})
	case "HS256":
		m := hmac.New(sha256.New, key.N.Bytes())
		m.Write([]byte(in))
		sig = m.Sum(nil)
	}
	if err != nil {
		t.Fatal(err)
	}
	return in + "." + base64.RawURLEncoding.EncodeToString(sig)
}

// assertionClaims are the claims MSAL and msal-node put in a client
// assertion (§6.2), for client, addressed to aud, valid from now.
func assertionClaims(client, aud string, now time.Time) map[string]any {
	return map[string]any{"aud": aud, "iss": client, "sub": client, "jti": uuid.NewString(),
		"nbf": now.Unix(), "iat": now.Unix(), "exp": now.Add(10 * time.Minute).Unix()}
}

// rawReply is a token endpoint answer read over raw HTTPS.
type rawReply struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any
}

// postToken POSTs form to path (e.g. "/{tenant}/oauth2/v2.0/token").
func postToken(t testing.TB, ts *testStack, path string, form url.Values, mod ...func(*http.Request)) rawReply {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, ts.Info.AuthorityHost+path, strings.NewReader(form.Encode()))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for _, m := range mod {
		m(req)
	}
	return doRaw(t, ts, req)
}

func doRaw(t testing.TB, ts *testStack, req *http.Request) rawReply {
	t.Helper()
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	r := rawReply{status: resp.StatusCode, header: resp.Header, body: b}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	if err := d.Decode(&r.json); err != nil {
		t.Fatalf("%s %s: %d, body is not JSON: %v: %q", req.Method, req.URL.Path, resp.StatusCode, err, b)
	}
	return r
}

// accessToken returns the access_token of a 200 reply, failing otherwise.
func (r rawReply) accessToken(t testing.TB) string {
	t.Helper()
	if r.status != http.StatusOK {
		t.Fatalf("status %d: %s", r.status, r.body)
	}
	s, _ := r.json["access_token"].(string)
	if s == "" {
		t.Fatalf("no access_token: %s", r.body)
	}
	return s
}

func v2Path(tenant string) string { return "/" + tenant + "/oauth2/v2.0/token" }
func v1Path(tenant string) string { return "/" + tenant + "/oauth2/token" }

func secretForm(client, secret, scope string) url.Values {
	return url.Values{"grant_type": {"client_credentials"}, "client_id": {client}, "client_secret": {secret}, "scope": {scope}}
}

// TestCompatLegacyAssertions sends certificate assertions as older and
// other clients build them (§6.2, §13.1): RS256 with a SHA-1 x5t in padded
// standard base64 (MSAL Go < 1.4.2) and in base64url (msal-node SHA-1
// mode), PS256 with x5t#S256 in base64url (msal-node), and the token must
// be the same as for MSAL's own assertion.
func TestCompatLegacyAssertions(t *testing.T) {
	ts := start(t, "")
	cert, key := portalCert(t, ts)
	s1, s256 := sha1.Sum(cert.Raw), sha256.Sum256(cert.Raw)
	tid := demo.ContosoTenantID
	env := ts.envURL(t)
	oid := spOID(t, ts, tid, demo.PortalAppID)
	for _, c := range []struct {
		name   string
		header map[string]any
		aud    string
		path   string
	}{
		{"RS256/x5t/std-padded", map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.StdEncoding.EncodeToString(s1[:])}, "", ""},
		{"RS256/x5t/base64url", map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(s1[:])}, "", ""},
		{"PS256/x5t#S256/base64url", map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.RawURLEncoding.EncodeToString(s256[:])}, "", ""},
		{"PS256/x5t#S256/std+x5c", map[string]any{"alg": "PS256", "typ": "JWT", "x5t#S256": base64.StdEncoding.EncodeToString(s256[:]),
			"x5c": []string{base64.StdEncoding.EncodeToString(cert.Raw)}}, "", ""},
		{"RS256/x5t/v1-endpoint", map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(s1[:])},
			ts.authority(tid) + "/oauth2/token", v1Path(tid)},
		{"RS256/x5t/domain-audience", map[string]any{"alg": "RS256", "typ": "JWT", "x5t": base64.RawURLEncoding.EncodeToString(s1[:])},
			ts.authority("contoso.onmicrosoft.com") + "/oauth2/v2.0/token", v2Path("contoso.onmicrosoft.com")},
	} {
		t.Run(c.name, func(t *testing.T) {
			aud, path := c.aud, c.path
			if aud == "" {
				aud, path = ts.authority(tid)+"/oauth2/v2.0/token", v2Path(tid)
			}
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID},
				"client_assertion_type": {"urn:ietf:params:oauth:client-assertion-type:jwt-bearer"},
				"client_assertion":      {signJWT(t, key, c.header, assertionClaims(demo.PortalAppID, aud, time.Now()))}}
			if strings.HasSuffix(path, "/oauth2/token") {
				form.Set("resource", env)
			} else {
				form.Set("scope", env+"/.default")
			}
			r := postToken(t, ts, path, form)
			checkAccessToken(t, ts, time.Now(), r.accessToken(t), wantToken{ver: 1, aud: env, tid: tid, oid: oid, appID: demo.PortalAppID, acr: "2"})
		})
	}
}

// TestCompatAudience checks how the audience is derived (§6.3, §7): a
// v1 resource's aud is the identifier as requested, so
// "<resource>//.default" gives a trailing slash; a v2 resource's aud is its
// app id, from either endpoint.
func TestCompatAudience(t *testing.T) {
	ts := start(t, "")
	registerV2Resource(t, ts)
	tid, env := demo.ContosoTenantID, ts.envURL(t)
	oid := spOID(t, ts, tid, demo.PortalAppID)
	for _, c := range []struct {
		name, path, param, value, aud string
		ver                           int
	}{
		{"v2 endpoint, resource/.default", v2Path(tid), "scope", env + "/.default", env, 1},
		{"v2 endpoint, resource//.default", v2Path(tid), "scope", env + "//.default", env + "/", 1},
		{"v2 endpoint, MSAL's extra scopes", v2Path(tid), "scope", env + "/.default openid offline_access profile", env, 1},
		{"v2 endpoint, v2 resource", v2Path(tid), "scope", compatV2Resource + "/.default", compatV2AppID, 2},
		{"v1 endpoint, resource", v1Path(tid), "resource", env, env, 1},
		{"v1 endpoint, resource/", v1Path(tid), "resource", env + "/", env + "/", 1},
		{"v1 endpoint, v2 resource", v1Path(tid), "resource", compatV2Resource, compatV2AppID, 2},
	} {
		t.Run(c.name, func(t *testing.T) {
			form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID}, "client_secret": {demo.PortalSecret}, c.param: {c.value}}
			r := postToken(t, ts, c.path, form)
			checkAccessToken(t, ts, time.Now(), r.accessToken(t), wantToken{ver: c.ver, aud: c.aud, tid: tid, oid: oid, appID: demo.PortalAppID, acr: "1"})
		})
	}
}

// TestCompatV1Endpoint checks the v1 response shape (§7): every number a
// string, expires_on and not_before 3900 s apart, resource echoed, no scope.
func TestCompatV1Endpoint(t *testing.T) {
	ts := start(t, "")
	tid, env := demo.ContosoTenantID, ts.envURL(t)
	before := time.Now()
	r := postToken(t, ts, v1Path(tid), url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.InventoryAppID},
		"client_secret": {demo.InventorySecret}, "resource": {env}})
	tok := r.accessToken(t)
	if got, want := sortedKeys(r.json), []string{"access_token", "expires_in", "expires_on", "ext_expires_in", "not_before", "resource", "token_type"}; !slices.Equal(got, want) {
		t.Errorf("fields %v, want %v", got, want)
	}
	num := func(f string) int64 {
		s, ok := r.json[f].(string)
		if !ok {
			t.Fatalf("%s = %#v, want a string", f, r.json[f])
		}
		n, err := strconv.ParseInt(s, 10, 64)
		if err != nil {
			t.Fatalf("%s = %q, want a decimal string", f, s)
		}
		return n
	}
	if num("expires_in") != 3599 || num("ext_expires_in") != 3599 {
		t.Errorf("expires_in %v, ext_expires_in %v, want \"3599\"", r.json["expires_in"], r.json["ext_expires_in"])
	}
	on, nb := num("expires_on"), num("not_before")
	if on-nb != 3900 {
		t.Errorf("expires_on - not_before = %d, want 3900", on-nb)
	}
	if d := on - before.Add(time.Hour).Unix(); d < -2 || d > 15 {
		t.Errorf("expires_on is now+3600s%+ds", d)
	}
	if r.json["resource"] != env || r.json["token_type"] != "Bearer" {
		t.Errorf("resource %v, token_type %v", r.json["resource"], r.json["token_type"])
	}
	_, c := decodeJWT(t, tok)
	if claimInt(t, c, "exp") != on || claimInt(t, c, "nbf") != nb {
		t.Errorf("token exp/nbf %v/%v differ from expires_on/not_before %d/%d", c["exp"], c["nbf"], on, nb)
	}
	checkAccessToken(t, ts, time.Now(), tok, wantToken{ver: 1, aud: env, tid: tid,
		oid: spOID(t, ts, tid, demo.InventoryAppID), appID: demo.InventoryAppID, acr: "1"})
}

// TestCompatMultiTenant checks the multi-tenant rules (§8.5, §10): a
// multi-tenant app needs admin consent in a tenant (a service principal
// there) and then gets tokens as that service principal; a single-tenant
// app works only at home; a disabled service principal gets 7000112; an
// app's home tenant needs no explicit consent.
func TestCompatMultiTenant(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	nw, err := ts.Directory.CreateTenant(ctx, "northwind", "", "")
	if err != nil {
		t.Fatal(err)
	}
	nwRes := "https://northwind.crm.dvs2s.test"
	if _, err := ts.Directory.RegisterResource(ctx, nw.ID, nwRes, "", "Northwind environment", 1); err != nil {
		t.Fatal(err)
	}
	fabRes := "https://fabrikam.crm.dvs2s.test"
	if _, err := ts.Directory.RegisterResource(ctx, demo.FabrikamTenantID, fabRes, "", "Fabrikam environment", 1); err != nil {
		t.Fatal(err)
	}
	portal := func(tenant, res string) rawReply {
		return postToken(t, ts, v2Path(tenant), secretForm(demo.PortalAppID, demo.PortalSecret, res+"/.default"))
	}
	wantErr := func(r rawReply, status int, oauthErr string, code int) {
		t.Helper()
		if r.status != status || r.json["error"] != oauthErr || firstCode(r.json) != code {
			t.Fatalf("got %d %v %v, want %d %s %d: %s", r.status, r.json["error"], r.json["error_codes"], status, oauthErr, code, r.body)
		}
	}

	// No consent in northwind yet.
	wantErr(portal(nw.ID, nwRes), 400, "unauthorized_client", 700016)
	wantErr(portal(nw.Domain, nwRes), 400, "unauthorized_client", 700016)

	// Admin consent creates northwind's own service principal.
	sp, err := ts.Directory.GrantAdminConsent(ctx, nw.ID, demo.PortalAppID)
	if err != nil {
		t.Fatal(err)
	}
	contosoOID := spOID(t, ts, demo.ContosoTenantID, demo.PortalAppID)
	if sp.ObjectID == contosoOID || sp.ObjectID != spOID(t, ts, nw.ID, demo.PortalAppID) {
		t.Fatalf("northwind SP %s, contoso SP %s", sp.ObjectID, contosoOID)
	}
	tok := portal(nw.ID, nwRes).accessToken(t)
	checkAccessToken(t, ts, time.Now(), tok, wantToken{ver: 1, aud: nwRes, tid: nw.ID, oid: sp.ObjectID, appID: demo.PortalAppID, acr: "1"})
	// MSAL Go per-request tenant switch reaches the same principal.
	cred, _ := confidential.NewCredFromSecret(demo.PortalSecret)
	app, err := confidential.New(ts.authority(demo.ContosoTenantID), demo.PortalAppID, cred,
		confidential.WithHTTPClient(ts.client), confidential.WithInstanceDiscovery(false))
	if err != nil {
		t.Fatal(err)
	}
	ar, err := app.AcquireTokenByCredential(ctx, []string{nwRes + "/.default"}, confidential.WithTenantID(nw.ID))
	if err != nil {
		t.Fatal(err)
	}
	checkAccessToken(t, ts, time.Now(), ar.AccessToken, wantToken{ver: 1, aud: nwRes, tid: nw.ID, oid: sp.ObjectID, appID: demo.PortalAppID, acr: "1"})

	// The resource must exist in the tenant the token is for.
	wantErr(portal(nw.ID, ts.envURL(t)), 400, "invalid_resource", 500011)

	// A single-tenant app is unknown elsewhere and cannot be consented to.
	wantErr(postToken(t, ts, v2Path(nw.ID), secretForm(demo.InventoryAppID, demo.InventorySecret, nwRes+"/.default")), 400, "unauthorized_client", 700016)
	if _, err := ts.Directory.GrantAdminConsent(ctx, nw.ID, demo.InventoryAppID); !errors.Is(err, directory.ErrInvalid) {
		t.Fatalf("consent to a single-tenant app elsewhere: %v, want ErrInvalid", err)
	}
	wantErr(postToken(t, ts, v2Path(nw.ID), secretForm(demo.InventoryAppID, demo.InventorySecret, nwRes+"/.default")), 400, "unauthorized_client", 700016)

	// Disabled in northwind only.
	if err := ts.Directory.SetServicePrincipalEnabled(ctx, nw.ID, demo.PortalAppID, false); err != nil {
		t.Fatal(err)
	}
	wantErr(portal(nw.ID, nwRes), 400, "unauthorized_client", 7000112)
	portal(demo.ContosoTenantID, ts.envURL(t)).accessToken(t)
	if err := ts.Directory.SetServicePrincipalEnabled(ctx, nw.ID, demo.PortalAppID, true); err != nil {
		t.Fatal(err)
	}
	portal(nw.ID, nwRes).accessToken(t)

	// Home tenants need no explicit consent: the portal in fabrikam, and a
	// new app in northwind.
	tok = portal(demo.FabrikamTenantID, fabRes).accessToken(t)
	checkAccessToken(t, ts, time.Now(), tok, wantToken{ver: 1, aud: fabRes, tid: demo.FabrikamTenantID,
		oid: spOID(t, ts, demo.FabrikamTenantID, demo.PortalAppID), appID: demo.PortalAppID, acr: "1"})
	a, err := ts.Directory.CreateApp(ctx, directory.AppSpec{Tenant: nw.Domain, DisplayName: "Northwind Sync"})
	if err != nil {
		t.Fatal(err)
	}
	_, sec, err := ts.Directory.AddSecret(ctx, a.AppID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	tok = postToken(t, ts, v2Path(nw.ID), secretForm(a.AppID, sec, nwRes+"/.default")).accessToken(t)
	checkAccessToken(t, ts, time.Now(), tok, wantToken{ver: 1, aud: nwRes, tid: nw.ID, oid: spOID(t, ts, nw.ID, a.AppID), appID: a.AppID, acr: "1"})
	// ... but not in contoso.
	wantErr(postToken(t, ts, v2Path(demo.ContosoTenantID), secretForm(a.AppID, sec, ts.envURL(t)+"/.default")), 400, "unauthorized_client", 700016)
}

// firstCode is error_codes[0] of an error body, or 0.
func firstCode(m map[string]any) int {
	codes, _ := m["error_codes"].([]any)
	if len(codes) == 0 {
		return 0
	}
	n, _ := codes[0].(json.Number)
	i, _ := n.Int64()
	return int(i)
}

// selfSignedCert makes an RSA certificate valid from notBefore to notAfter.
func selfSignedCert(t testing.TB, cn string, notBefore, notAfter time.Time) (*x509.Certificate, *rsa.PrivateKey) {
	t.Helper()
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(time.Now().UnixNano()), Subject: pkix.Name{CommonName: cn},
		NotBefore: notBefore, NotAfter: notAfter, KeyUsage: x509.KeyUsageDigitalSignature}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return c, key
}
