package e2e

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/AzureAD/microsoft-authentication-library-for-go/apps/confidential"
	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
	"golang.org/x/net/html"
	"golang.org/x/oauth2"
)

// Tests of OpenID Connect sign-in (authorize, code and refresh grants,
// logout) over real HTTPS, driving the sign-in pages as a browser does. The
// helpers here serve consent_test.go too.

// webBrowser is a minimal web browser for the identity service's pages: a
// cookie jar, redirects not followed (the tests read them), and HTML forms
// driven by parsing them.
type webBrowser struct {
	t testing.TB
	c *http.Client
}

func newWebBrowser(t testing.TB, ts *testStack) *webBrowser {
	jar, err := cookiejar.New(nil)
	if err != nil {
		t.Fatal(err)
	}
	return &webBrowser{t: t, c: &http.Client{Transport: ts.client.Transport, Jar: jar, Timeout: ts.client.Timeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}}
}

// webPage is a response as a browser sees it.
type webPage struct {
	status int
	header http.Header
	body   string
	url    *url.URL
}

func (b *webBrowser) do(req *http.Request) *webPage {
	b.t.Helper()
	res, err := b.c.Do(req)
	if err != nil {
		b.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	if err != nil {
		b.t.Fatal(err)
	}
	return &webPage{status: res.StatusCode, header: res.Header, body: string(body), url: req.URL}
}

func (b *webBrowser) get(u string) *webPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodGet, u, nil)
	if err != nil {
		b.t.Fatal(err)
	}
	return b.do(req)
}

func (b *webBrowser) post(u string, form url.Values) *webPage {
	b.t.Helper()
	req, err := http.NewRequest(http.MethodPost, u, strings.NewReader(form.Encode()))
	if err != nil {
		b.t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	if pu, err := url.Parse(u); err == nil {
		req.Header.Set("Origin", pu.Scheme+"://"+pu.Host) // as a webBrowser posting a same-origin form
	}
	return b.do(req)
}

// redirect returns the parameters of a redirect response's Location query.
func (p *webPage) redirect(t testing.TB) (*url.URL, url.Values) {
	t.Helper()
	if p.status != http.StatusFound && p.status != http.StatusSeeOther {
		t.Fatalf("status %d, want a redirect; body:\n%s", p.status, shortBody(p.body))
	}
	u, err := url.Parse(p.header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	return u, u.Query()
}

func shortBody(s string) string {
	if len(s) > 3000 {
		return s[:3000] + "..."
	}
	return s
}

// webForm is a parsed <form>.
type webForm struct {
	action  string // absolute
	method  string
	inputs  []webInput
	buttons []webInput // submit buttons: name, value, text
}

type webInput struct {
	name, value, typ, autocomplete, id, text string
	attrs                                    map[string]string
}

// forms parses the webPage's forms.
func (p *webPage) forms(t testing.TB) []webForm {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var out []webForm
	var cur *webForm
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			a := htmlAttrs(n)
			switch n.Data {
			case "form":
				action, err := p.url.Parse(a["action"])
				if err != nil {
					t.Fatalf("form action %q: %v", a["action"], err)
				}
				out = append(out, webForm{action: action.String(), method: strings.ToUpper(a["method"])})
				cur = &out[len(out)-1]
				for c := n.FirstChild; c != nil; c = c.NextSibling {
					walk(c)
				}
				cur = nil
				return
			case "input":
				if cur != nil {
					cur.inputs = append(cur.inputs, webInput{name: a["name"], value: a["value"], typ: a["type"], autocomplete: a["autocomplete"], id: a["id"], attrs: a})
				}
			case "button":
				if cur != nil && (a["type"] == "" || a["type"] == "submit") {
					cur.buttons = append(cur.buttons, webInput{name: a["name"], value: a["value"], text: strings.TrimSpace(htmlText(n)), attrs: a})
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	return out
}

func htmlAttrs(n *html.Node) map[string]string {
	m := map[string]string{}
	for _, a := range n.Attr {
		m[a.Key] = a.Val
	}
	return m
}

func htmlText(n *html.Node) string {
	if n.Type == html.TextNode {
		return n.Data
	}
	var b strings.Builder
	for c := n.FirstChild; c != nil; c = c.NextSibling {
		b.WriteString(htmlText(c))
	}
	return b.String()
}

// elementText returns the text of the element with the given id, and
// whether it exists.
func (p *webPage) elementText(t testing.TB, id string) (string, bool) {
	t.Helper()
	doc, err := html.Parse(strings.NewReader(p.body))
	if err != nil {
		t.Fatal(err)
	}
	var found *html.Node
	var walk func(n *html.Node)
	walk = func(n *html.Node) {
		if found != nil {
			return
		}
		if n.Type == html.ElementNode && htmlAttrs(n)["id"] == id {
			found = n
			return
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if found == nil {
		return "", false
	}
	return strings.TrimSpace(htmlText(found)), true
}

// formWith returns the first form that has an input or button matching
// pred.
func (p *webPage) formWith(t testing.TB, pred func(webInput) bool) webForm {
	t.Helper()
	for _, f := range p.forms(t) {
		for _, in := range append(append([]webInput{}, f.inputs...), f.buttons...) {
			if pred(in) {
				return f
			}
		}
	}
	t.Fatalf("no matching form on the webPage (status %d):\n%s", p.status, shortBody(p.body))
	return webForm{}
}

// submit posts the form as a webBrowser would: every named input with its
// value, values in fill replacing them (keyed by the input's autocomplete
// token, else its name), plus the name/value of the button whose text is
// button ("" for the first).
func (f webForm) submit(b *webBrowser, fill map[string]string, button string) *webPage {
	b.t.Helper()
	v := url.Values{}
	for _, in := range f.inputs {
		if in.name == "" {
			continue
		}
		val := in.value
		if x, ok := fill[in.autocomplete]; ok && in.autocomplete != "" {
			val = x
		} else if x, ok := fill[in.name]; ok {
			val = x
		}
		v.Add(in.name, val)
	}
	pressed := false
	for _, bt := range f.buttons {
		if button == "" || strings.EqualFold(bt.text, button) {
			if bt.name != "" {
				v.Add(bt.name, bt.value)
			}
			pressed = true
			break
		}
	}
	if !pressed {
		b.t.Fatalf("no button %q in form %s", button, f.action)
	}
	if f.method != http.MethodPost {
		b.t.Fatalf("form method %q, want POST", f.method)
	}
	return b.post(f.action, v)
}

// signIn fills and submits the sign-in form on p (the form with a
// current-password field) with the user's credentials.
func (b *webBrowser) signIn(p *webPage, upn, password string) *webPage {
	b.t.Helper()
	if p.status != http.StatusOK {
		b.t.Fatalf("sign-in webPage: status %d:\n%s", p.status, shortBody(p.body))
	}
	f := p.formWith(b.t, func(in webInput) bool { return in.autocomplete == "current-password" })
	return f.submit(b, map[string]string{"username": upn, "current-password": password}, "")
}

// press submits the form that holds the button with the given text.
func (b *webBrowser) press(p *webPage, button string) *webPage {
	b.t.Helper()
	f := p.formWith(b.t, func(in webInput) bool { return in.text != "" && strings.EqualFold(in.text, button) })
	return f.submit(b, nil, button)
}

// hasButton reports whether the webPage has a button with that text.
func (p *webPage) hasButton(t testing.TB, text string) bool {
	for _, f := range p.forms(t) {
		for _, bt := range f.buttons {
			if strings.EqualFold(bt.text, text) {
				return true
			}
		}
	}
	return false
}

// cookie returns the Set-Cookie line for name, or "".
func (p *webPage) cookie(name string) string {
	for _, c := range p.header.Values("Set-Cookie") {
		if strings.HasPrefix(c, name+"=") {
			return c
		}
	}
	return ""
}

// --- helpers of the sign-in and consent tests ---

// siAuthorizeURL builds an authorization request URL.
func siAuthorizeURL(base string, q map[string]string) string {
	v := url.Values{}
	for k, x := range q {
		v.Set(k, x)
	}
	return base + "?" + v.Encode()
}

// siTokenPost posts a form to a token endpoint path and decodes the JSON
// answer.
func siTokenPost(t testing.TB, ts *testStack, path string, form url.Values) (int, map[string]any) {
	t.Helper()
	res, err := ts.client.PostForm(ts.Info.AuthorityHost+path, form)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var body map[string]any
	if err := json.NewDecoder(res.Body).Decode(&body); err != nil {
		t.Fatalf("%s: status %d, body is not JSON: %v", path, res.StatusCode, err)
	}
	return res.StatusCode, body
}

// siErrorCode returns the first AADSTS code of an Entra error body.
func siErrorCode(body map[string]any) int {
	codes, _ := body["error_codes"].([]any)
	if len(codes) == 0 {
		return 0
	}
	n, _ := codes[0].(float64)
	return int(n)
}

// siClaims decodes a JWT's payload without checking it.
func siClaims(t testing.TB, jwt string) map[string]any {
	t.Helper()
	parts := strings.Split(jwt, ".")
	if len(parts) != 3 {
		t.Fatalf("not a JWT: %d parts", len(parts))
	}
	b, err := base64.RawURLEncoding.DecodeString(parts[1])
	if err != nil {
		t.Fatalf("JWT payload is not unpadded base64url: %v", err)
	}
	var m map[string]any
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	return m
}

// siRetrieveError checks err is an OAuth error response with this error
// value and AADSTS code.
func siRetrieveError(t testing.TB, err error, oauthErr string, code int) {
	t.Helper()
	var re *oauth2.RetrieveError
	if !errors.As(err, &re) {
		t.Fatalf("error %v, want an OAuth error response", err)
	}
	if re.ErrorCode != oauthErr || !strings.Contains(re.ErrorDescription, fmt.Sprintf("AADSTS%d:", code)) {
		t.Fatalf("got %s %q, want %s AADSTS%d", re.ErrorCode, re.ErrorDescription, oauthErr, code)
	}
}

// siOIDC is a relying party configured like the sample portal: go-oidc
// discovery and verification, x/oauth2 for the code flow.
type siOIDC struct {
	ctx      context.Context
	provider *oidc.Provider
	conf     oauth2.Config
	verifier *oidc.IDTokenVerifier
}

func newSIOIDC(t testing.TB, ts *testStack, tenant string) *siOIDC {
	t.Helper()
	ctx := oidc.ClientContext(context.Background(), ts.client)
	p, err := oidc.NewProvider(ctx, ts.authority(tenant)+"/v2.0")
	if err != nil {
		t.Fatal(err)
	}
	// The secret goes in the body (client_secret_post, as Entra's docs
	// show): with auto-detection x/oauth2 retries a refused request with
	// the other style, and the retry of a spent code reports AADSTS54005
	// instead of the first error.
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &siOIDC{ctx: ctx, provider: p, verifier: p.Verifier(&oidc.Config{ClientID: demo.PortalAppID}),
		conf: oauth2.Config{ClientID: demo.PortalAppID, ClientSecret: demo.PortalSecret, Endpoint: ep,
			RedirectURL: demo.PortalRedirect, Scopes: []string{oidc.ScopeOpenID, "profile", oidc.ScopeOfflineAccess}}}
}

// codeFrom checks a redirect to the portal's callback and returns its code.
func codeFrom(t testing.TB, p *webPage, state string) string {
	t.Helper()
	u, q := p.redirect(t)
	if got := u.Scheme + "://" + u.Host + u.Path; got != demo.PortalRedirect {
		t.Fatalf("redirected to %s, want %s", got, demo.PortalRedirect)
	}
	if q.Get("error") != "" {
		t.Fatalf("error redirect: %s: %s", q.Get("error"), q.Get("error_description"))
	}
	if q.Get("state") != state {
		t.Fatalf("state %q, want %q", q.Get("state"), state)
	}
	if q.Get("code") == "" {
		t.Fatal("no code")
	}
	return q.Get("code")
}

// TestOIDCSignIn signs a user in to the demo portal with the OpenID Connect
// authorization code flow and PKCE, as the sample portal does (go-oidc +
// x/oauth2), and checks what follows: ID token, refresh rotation, code
// single use, PKCE, single sign-on, MSAL Go's code redemption, logout.
func TestOIDCSignIn(t *testing.T) {
	ts := start(t, "")
	rp := newSIOIDC(t, ts, demo.ContosoTenantID)
	ctx := rp.ctx
	b := newWebBrowser(t, ts)

	verifier := oauth2.GenerateVerifier()
	state, nonce := oauth2.GenerateVerifier()[:16], oauth2.GenerateVerifier()[:20]
	authURL := rp.conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))

	signIn := b.get(authURL)
	if signIn.status != http.StatusOK || !strings.Contains(signIn.header.Get("Content-Type"), "text/html") {
		t.Fatalf("authorize: status %d %s", signIn.status, signIn.header.Get("Content-Type"))
	}
	if csp := signIn.header.Get("Content-Security-Policy"); !strings.Contains(csp, "frame-ancestors 'none'") {
		t.Errorf("CSP %q", csp)
	}
	done := b.signIn(signIn, demo.AliceUPN, demo.AlicePass)
	sc := done.cookie("__Host-dvs2s-session")
	for _, attr := range []string{"Secure", "HttpOnly", "SameSite=Lax", "Path=/"} {
		if !strings.Contains(sc, attr) {
			t.Errorf("session cookie %q lacks %s", strings.SplitN(sc, ";", 2)[1:], attr)
		}
	}
	code := codeFrom(t, done, state)

	basic := rp.conf // this first redemption authenticates with HTTP Basic (client_secret_basic)
	basic.Endpoint.AuthStyle = oauth2.AuthStyleInHeader
	tok, err := basic.Exchange(ctx, code, oauth2.VerifierOption(verifier))
	if err != nil {
		t.Fatal(err)
	}
	rawID, _ := tok.Extra("id_token").(string)
	idt, err := rp.verifier.Verify(ctx, rawID)
	if err != nil {
		t.Fatalf("go-oidc refused the ID token: %v", err)
	}
	if idt.Nonce != nonce {
		t.Errorf("nonce %q, want %q", idt.Nonce, nonce)
	}
	var claims struct {
		Oid, Tid, Name, Ver string
		PreferredUsername   string `json:"preferred_username"`
		AuthTime            int64  `json:"auth_time"`
	}
	if err := idt.Claims(&claims); err != nil {
		t.Fatal(err)
	}
	if claims.Oid != demo.AliceID || claims.Tid != demo.ContosoTenantID || claims.PreferredUsername != demo.AliceUPN || claims.Name == "" || claims.Ver != "2.0" || claims.AuthTime == 0 {
		t.Errorf("ID token claims %+v", claims)
	}
	if idt.Subject == "" || idt.Subject == demo.AliceID {
		t.Errorf("sub %q should be pairwise, not the object id", idt.Subject)
	}
	if tok.RefreshToken == "" || tok.AccessToken == "" || tok.Expiry.IsZero() {
		t.Fatalf("token response lacks refresh token, access token or expiry")
	}
	if at := siClaims(t, tok.AccessToken); at["aud"] != demo.PortalAppID || at["idtyp"] != "user" || at["oid"] != demo.AliceID {
		t.Errorf("OIDC-only access token claims %v", at)
	}

	defer func() {
		// Nothing secret reaches the logs: codes, tokens, passwords, cookies.
		secrets := map[string]string{"code": code, "refresh token": tok.RefreshToken, "access token": tok.AccessToken,
			"ID token": rawID, "password": demo.AlicePass, "PKCE verifier": verifier}
		base, _ := url.Parse(ts.Info.AuthorityHost)
		for _, c := range b.c.Jar.Cookies(base) {
			secrets["cookie "+c.Name] = c.Value
		}
		logs := ts.logs.String()
		for what, v := range secrets {
			if v != "" && strings.Contains(logs, v) {
				t.Errorf("the logs contain the %s", what)
			}
		}
	}()

	t.Run("refresh rotates", func(t *testing.T) {
		fresh, err := rp.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		if err != nil {
			t.Fatal(err)
		}
		if fresh.RefreshToken == "" || fresh.RefreshToken == tok.RefreshToken {
			t.Fatal("refresh token not rotated")
		}
		if _, err := rp.verifier.Verify(ctx, fresh.Extra("id_token").(string)); err != nil {
			t.Errorf("refreshed ID token: %v", err)
		}
		_, err = rp.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token()
		siRetrieveError(t, err, "invalid_grant", 70000)
		if _, err := rp.conf.TokenSource(ctx, &oauth2.Token{RefreshToken: fresh.RefreshToken}).Token(); err != nil {
			t.Errorf("the rotated refresh token does not work: %v", err)
		}
	})

	t.Run("refresh for a resource", func(t *testing.T) {
		rt := siRefreshToken(t, b, rp)
		refresh := func(rt, scope string) (int, map[string]any) {
			return siTokenPost(t, ts, "/"+demo.ContosoTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"refresh_token"},
				"client_id": {demo.PortalAppID}, "client_secret": {demo.PortalSecret}, "refresh_token": {rt}, "scope": {scope}})
		}
		// A request refused for its resource keeps the refresh token.
		status, body := refresh(rt, "https://unknown.example/.default offline_access")
		if status != 400 || body["error"] != "invalid_resource" || siErrorCode(body) != 500011 {
			t.Fatalf("unknown resource: %d %v", status, body["error_description"])
		}
		env := ts.envURL(t)
		status, body = refresh(rt, env+"/.default openid profile offline_access")
		if status != 200 {
			t.Fatalf("refresh for %s: %d %v", env, status, body["error_description"])
		}
		if at := siClaims(t, body["access_token"].(string)); at["aud"] != env || at["scp"] != "user_impersonation" || at["upn"] != demo.AliceUPN {
			t.Errorf("access token %v", at)
		}
		if sc, _ := body["scope"].(string); !strings.HasPrefix(sc, env+"/.default ") || body["refresh_token"] == nil || body["id_token"] == nil {
			t.Errorf("response scope %q, refresh token %v", sc, body["refresh_token"] != nil)
		}
	})

	t.Run("code is single use", func(t *testing.T) {
		_, err := rp.conf.Exchange(ctx, code, oauth2.VerifierOption(verifier))
		siRetrieveError(t, err, "invalid_grant", 54005)
	})

	t.Run("single sign-on and PKCE", func(t *testing.T) {
		cases := []struct {
			name      string
			challenge []oauth2.AuthCodeOption
			redeem    []oauth2.AuthCodeOption
			wantCode  int // 0: success
		}{
			{"S256 right verifier", []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, 0},
			{"S256 wrong verifier", []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}, 501481},
			{"S256 no verifier", []oauth2.AuthCodeOption{oauth2.S256ChallengeOption(verifier)}, nil, 501481},
			{"plain", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", verifier), oauth2.SetAuthURLParam("code_challenge_method", "plain")}, []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, 0},
			{"plain wrong verifier", []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_challenge", verifier)}, []oauth2.AuthCodeOption{oauth2.VerifierOption(oauth2.GenerateVerifier())}, 501481},
			{"no PKCE, empty verifier", nil, []oauth2.AuthCodeOption{oauth2.SetAuthURLParam("code_verifier", "")}, 0},
			{"no PKCE, verifier sent", nil, []oauth2.AuthCodeOption{oauth2.VerifierOption(verifier)}, 501481},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				// The session signs the user in without a password.
				code := codeFrom(t, b.get(rp.conf.AuthCodeURL("s1", c.challenge...)), "s1")
				_, err := rp.conf.Exchange(ctx, code, c.redeem...)
				if c.wantCode == 0 {
					if err != nil {
						t.Fatal(err)
					}
					return
				}
				siRetrieveError(t, err, "invalid_grant", c.wantCode)
			})
		}
	})

	t.Run("token endpoint refuses bad redemptions", func(t *testing.T) {
		fresh := func() string { return codeFrom(t, b.get(rp.conf.AuthCodeURL("s2")), "s2") }
		base := func(code string) url.Values {
			return url.Values{"grant_type": {"authorization_code"}, "client_id": {demo.PortalAppID}, "client_secret": {demo.PortalSecret},
				"code": {code}, "redirect_uri": {demo.PortalRedirect}}
		}
		cases := []struct {
			name       string
			path       string
			mod        func(url.Values)
			wantStatus int
			wantErr    string
			wantCode   int
		}{
			{"unknown code", "v2", func(v url.Values) { v.Set("code", "not-a-code") }, 400, "invalid_grant", 70000},
			{"missing code", "v2", func(v url.Values) { v.Del("code") }, 400, "invalid_request", 900144},
			{"wrong redirect_uri", "v2", func(v url.Values) { v.Set("redirect_uri", demo.PortalConsent) }, 400, "invalid_grant", 500112},
			{"missing redirect_uri", "v2", func(v url.Values) { v.Del("redirect_uri") }, 400, "invalid_request", 900144},
			{"wrong secret", "v2", func(v url.Values) { v.Set("client_secret", "wrong-secret-value-1234") }, 401, "invalid_client", 7000215},
			{"another tenant's endpoint", "fabrikam", nil, 400, "invalid_grant", 700005},
			{"another client", "v2", func(v url.Values) {
				v.Set("client_id", demo.InventoryAppID)
				v.Set("client_secret", demo.InventorySecret)
			}, 400, "invalid_grant", 70000},
			{"v2 with resource", "v2", func(v url.Values) { v.Set("resource", ts.envURL(t)) }, 400, "invalid_request", 901002},
			{"two resources", "v2", func(v url.Values) { v.Set("scope", ts.envURL(t)+"/.default api://other/.default") }, 400, "invalid_scope", 700022},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				form := base(fresh())
				if c.mod != nil {
					c.mod(form)
				}
				path := "/" + demo.ContosoTenantID + "/oauth2/v2.0/token"
				if c.path == "fabrikam" {
					path = "/" + demo.FabrikamTenantID + "/oauth2/v2.0/token"
				}
				status, body := siTokenPost(t, ts, path, form)
				if status != c.wantStatus || body["error"] != c.wantErr || siErrorCode(body) != c.wantCode {
					t.Fatalf("got %d %v %v, want %d %s %d", status, body["error"], body["error_description"], c.wantStatus, c.wantErr, c.wantCode)
				}
			})
		}
	})

	t.Run("resource token, v1 endpoint and client_info", func(t *testing.T) {
		env := ts.envURL(t)
		code := codeFrom(t, b.get(rp.conf.AuthCodeURL("s3", oauth2.SetAuthURLParam("scope", "openid profile offline_access "+env+"/user_impersonation"))), "s3")
		status, body := siTokenPost(t, ts, "/"+demo.ContosoTenantID+"/oauth2/token", url.Values{"grant_type": {"authorization_code"},
			"client_id": {demo.PortalAppID}, "client_secret": {demo.PortalSecret}, "code": {code}, "redirect_uri": {demo.PortalRedirect},
			"resource": {env}, "client_info": {"1"}})
		if status != 200 {
			t.Fatalf("status %d: %v", status, body["error_description"])
		}
		at := siClaims(t, body["access_token"].(string))
		if at["aud"] != env || at["scp"] != "user_impersonation" || at["upn"] != demo.AliceUPN || at["unique_name"] != demo.AliceUPN ||
			at["appid"] != demo.PortalAppID || at["appidacr"] != "1" || at["idtyp"] != "user" || at["ver"] != "1.0" || at["tid"] != demo.ContosoTenantID {
			t.Errorf("v1 delegated token claims %v", at)
		}
		if body["resource"] != env || body["expires_in"] == nil {
			t.Errorf("v1 response %v", body)
		}
		ci, err := base64.RawURLEncoding.DecodeString(body["client_info"].(string))
		if err != nil || string(ci) != `{"uid":"`+demo.AliceID+`","utid":"`+demo.ContosoTenantID+`"}` {
			t.Errorf("client_info %q (%v)", ci, err)
		}
		if idc := siClaims(t, body["id_token"].(string)); idc["ver"] != "1.0" || idc["upn"] != demo.AliceUPN {
			t.Errorf("v1 ID token %v", idc)
		}
	})

	t.Run("MSAL Go redeems the code", func(t *testing.T) {
		cred, err := confidential.NewCredFromSecret(demo.PortalSecret)
		if err != nil {
			t.Fatal(err)
		}
		app, err := confidential.New(ts.authority(demo.ContosoTenantID), demo.PortalAppID, cred,
			confidential.WithHTTPClient(ts.client), confidential.WithInstanceDiscovery(false))
		if err != nil {
			t.Fatal(err)
		}
		scopes := []string{ts.envURL(t) + "/user_impersonation"}
		u, err := app.AuthCodeURL(ctx, demo.PortalAppID, demo.PortalRedirect, scopes)
		if err != nil {
			t.Fatal(err)
		}
		_, q := b.get(u).redirect(t)
		res, err := app.AcquireTokenByAuthCode(ctx, q.Get("code"), demo.PortalRedirect, scopes)
		if err != nil {
			t.Fatal(err)
		}
		if res.Account.HomeAccountID != demo.AliceID+"."+demo.ContosoTenantID || res.IDToken.PreferredUsername != demo.AliceUPN {
			t.Errorf("account %q, id token user %q", res.Account.HomeAccountID, res.IDToken.PreferredUsername)
		}
		silent, err := app.AcquireTokenSilent(ctx, scopes, confidential.WithSilentAccount(res.Account))
		if err != nil || silent.AccessToken != res.AccessToken {
			t.Errorf("silent: %v", err)
		}
	})

	t.Run("response modes", func(t *testing.T) {
		fp := b.get(rp.conf.AuthCodeURL("fp", oauth2.SetAuthURLParam("response_mode", "form_post")))
		if fp.status != http.StatusOK || !strings.Contains(fp.header.Get("Content-Security-Policy"), "form-action 'self' http://localhost:8080") {
			t.Fatalf("form_post: status %d, CSP %q", fp.status, fp.header.Get("Content-Security-Policy"))
		}
		f := fp.formWith(t, func(in webInput) bool { return in.name == "code" })
		got := map[string]string{}
		for _, in := range f.inputs {
			got[in.name] = in.value
		}
		if f.action != demo.PortalRedirect || got["state"] != "fp" || got["code"] == "" {
			t.Fatalf("form_post form to %s with %v", f.action, got)
		}
		if _, err := rp.conf.Exchange(ctx, got["code"]); err != nil {
			t.Errorf("code from form_post: %v", err)
		}
		fr := b.get(rp.conf.AuthCodeURL("fr", oauth2.SetAuthURLParam("response_mode", "fragment")))
		u, _ := fr.redirect(t)
		frag, err := url.ParseQuery(u.Fragment)
		if err != nil || frag.Get("code") == "" || frag.Get("state") != "fr" || u.RawQuery != "" {
			t.Fatalf("fragment response %s", u)
		}
	})

	t.Run("prompt=login asks for the password again", func(t *testing.T) {
		p := b.get(rp.conf.AuthCodeURL("s4", oauth2.SetAuthURLParam("prompt", "login")))
		if p.status != http.StatusOK {
			t.Fatalf("status %d", p.status)
		}
		codeFrom(t, b.signIn(p, demo.AliceUPN, demo.AlicePass), "s4")
	})

	t.Run("logout", func(t *testing.T) {
		cases := []struct {
			name     string
			params   url.Values
			redirect string // "" : the signed-out page
		}{
			{"unregistered post-logout URI", url.Values{"client_id": {demo.PortalAppID}, "post_logout_redirect_uri": {"https://evil.example/bye"}}, ""},
			{"no client", url.Values{"post_logout_redirect_uri": {demo.PortalRedirect}}, ""},
			{"id_token_hint", url.Values{"id_token_hint": {rawID}, "post_logout_redirect_uri": {demo.PortalRedirect}, "state": {"bye"}}, demo.PortalRedirect + "?state=bye"},
			{"client_id", url.Values{"client_id": {demo.PortalAppID}, "post_logout_redirect_uri": {demo.PortalRedirect}}, demo.PortalRedirect},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				codeFrom(t, b.get(rp.conf.AuthCodeURL("s5")), "s5") // signed in
				out := b.get(ts.authority(demo.ContosoTenantID) + "/oauth2/v2.0/logout?" + c.params.Encode())
				if c.redirect == "" {
					if out.status != http.StatusOK || out.header.Get("Location") != "" || !strings.Contains(out.body, "signed out") {
						t.Fatalf("status %d, location %q", out.status, out.header.Get("Location"))
					}
				} else if loc := out.header.Get("Location"); out.status != http.StatusFound || loc != c.redirect {
					t.Fatalf("status %d, location %q, want %s", out.status, loc, c.redirect)
				}
				if sc := out.cookie("__Host-dvs2s-session"); !strings.Contains(sc, "Max-Age=0") {
					t.Errorf("session cookie not cleared: %q", sc)
				}
				// The session is over: silent sign-in fails, and the
				// sign-in page is shown again.
				_, q := b.get(rp.conf.AuthCodeURL("s6", oauth2.SetAuthURLParam("prompt", "none"))).redirect(t)
				if q.Get("error") != "login_required" || q.Get("state") != "s6" {
					t.Fatalf("prompt=none after logout: %v", q)
				}
				p := b.get(rp.conf.AuthCodeURL("s7"))
				if p.status != http.StatusOK {
					t.Fatalf("authorize after logout: status %d", p.status)
				}
				codeFrom(t, b.signIn(p, demo.AliceUPN, demo.AlicePass), "s7")
			})
		}
	})
}

// siRefreshToken signs in (with the browser's session) and returns a fresh
// refresh token.
func siRefreshToken(t testing.TB, b *webBrowser, rp *siOIDC) string {
	t.Helper()
	tok, err := rp.conf.Exchange(rp.ctx, codeFrom(t, b.get(rp.conf.AuthCodeURL("rt")), "rt"))
	if err != nil {
		t.Fatal(err)
	}
	return tok.RefreshToken
}

// siClock is a settable clock for the stack.
type siClock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *siClock) now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *siClock) advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// TestSignInExpiry checks lifetimes: codes expire after 10 minutes, browser
// sessions after 12 hours.
func TestSignInExpiry(t *testing.T) {
	clock := &siClock{t: time.Now()}
	ts := start(t, "", func(c *stack.Config) { c.Now = clock.now })
	rp := newSIOIDC(t, ts, demo.ContosoTenantID)
	b := newWebBrowser(t, ts)
	code := codeFrom(t, b.signIn(b.get(rp.conf.AuthCodeURL("e1")), demo.BobUPN, demo.BobPass), "e1")
	clock.advance(11 * time.Minute)
	_, err := rp.conf.Exchange(rp.ctx, code)
	siRetrieveError(t, err, "invalid_grant", 70008)

	codeFrom(t, b.get(rp.conf.AuthCodeURL("e2")), "e2") // the session still signs in
	clock.advance(13 * time.Hour)
	if p := b.get(rp.conf.AuthCodeURL("e3")); p.status != http.StatusOK || !p.hasButton(t, "Sign in") {
		t.Fatalf("after the session's lifetime: status %d", p.status)
	}
}

// TestSignInBadInput sends malformed requests to the browser endpoints and
// to the code and refresh grants: every answer is a 4xx (or a normal page),
// never a 5xx.
func TestSignInBadInput(t *testing.T) {
	ts := start(t, "")
	b := newWebBrowser(t, ts)
	host := ts.Info.AuthorityHost
	long := strings.Repeat("x", 20000)
	gets := []string{
		"/%00/oauth2/v2.0/authorize",
		"/common/oauth2/v2.0/authorize?client_id=" + long,
		"/common/oauth2/authorize?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=%ff%fe&response_type=code",
		"/organizations/oauth2/v2.0/authorize?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&client_id=x",
		"/organizations/oauth2/v2.0/authorize?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fauth%2Fcallback&response_type=code&scope=openid&state=" + long,
		"/organizations/oauth2/v2.0/authorize?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fauth%2Fcallback&response_type=code&scope=openid&max_age=99999999999999999999",
		"/organizations/oauth2/v2.0/authorize?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fauth%2Fcallback&response_type=code&scope=%01%02",
		"/common/oauth2/v2.0/logout?post_logout_redirect_uri=%ff&id_token_hint=a.b.c",
		"/common/oauth2/logout?id_token_hint=" + long,
		"/common/adminconsent?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fonboarding%2Fconsent%2F%252e%252e",
		"/common/v2.0/adminconsent?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fonboarding%2Fconsent&scope=%22",
		"/consumers/adminconsent?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fonboarding%2Fconsent",
	}
	for _, g := range gets {
		if p := b.get(host + g); p.status >= 500 {
			t.Errorf("GET %.120s: status %d", g, p.status)
		}
	}
	posts := []struct{ path, body string }{
		{"/common/oauth2/v2.0/authorize", "dvs2s_form=signin&login=a&passwd=b"},
		{"/common/oauth2/v2.0/authorize?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fauth%2Fcallback&response_type=code&scope=openid", "dvs2s_form=approve"},
		{"/common/oauth2/v2.0/authorize?client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fauth%2Fcallback&response_type=code&scope=openid", "dvs2s_form=other"},
		{"/common/oauth2/v2.0/authorize", "%zz=1"},
		{"/common/oauth2/v2.0/authorize", "dvs2s_form=signin&passwd=" + strings.Repeat("p", 70000)},
		{"/common/oauth2/v2.0/logout", "post_logout_redirect_uri=x"},
		{"/common/oauth2/v2.0/token", "grant_type=authorization_code&client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&client_secret=x&code=" + long},
		{"/common/oauth2/v2.0/token", "grant_type=refresh_token&client_id=x&refresh_token=y"},
		{"/consumers/oauth2/v2.0/token", "grant_type=refresh_token&client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&refresh_token=y"},
		{"/organizations/oauth2/token", "grant_type=authorization_code&code=x&client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&client_assertion_type=urn%3Aietf%3Aparams%3Aoauth%3Aclient-assertion-type%3Ajwt-bearer&client_assertion=a.b.c"},
	}
	for _, p := range posts {
		if r := b.post(host+p.path, url.Values{}); r.status >= 500 {
			t.Errorf("POST %s (empty): status %d", p.path, r.status)
		}
		req, _ := http.NewRequest(http.MethodPost, host+p.path, strings.NewReader(p.body))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		if r := b.do(req); r.status >= 500 || r.status < 200 {
			t.Errorf("POST %s %.60s: status %d", p.path, p.body, r.status)
		}
	}
}

// TestSignInPageErrors checks what the browser sees for bad requests and
// failed sign-ins: errors about the client or its redirect URI on a page
// (never a redirect), the others at the redirect URI, sign-in mistakes next
// to the fields.
func TestSignInPageErrors(t *testing.T) {
	ts := start(t, "")
	authz := ts.authority(demo.ContosoTenantID) + "/oauth2/v2.0/authorize"
	good := map[string]string{"client_id": demo.PortalAppID, "response_type": "code", "redirect_uri": demo.PortalRedirect,
		"scope": "openid profile", "state": "st"}
	with := func(mod map[string]string) string {
		q := map[string]string{}
		for k, v := range good {
			q[k] = v
		}
		for k, v := range mod {
			if v == "-" {
				delete(q, k)
			} else {
				q[k] = v
			}
		}
		return siAuthorizeURL(authz, q)
	}
	pageCases := []struct {
		name   string
		url    string
		status int
		code   int
	}{
		{"unregistered redirect_uri", with(map[string]string{"redirect_uri": "https://evil.example/callback"}), 400, 50011},
		{"redirect_uri with extra path", with(map[string]string{"redirect_uri": demo.PortalRedirect + "/x"}), 400, 50011},
		{"missing redirect_uri", with(map[string]string{"redirect_uri": "-"}), 400, 900971},
		{"missing client_id", with(map[string]string{"client_id": "-"}), 400, 900144},
		{"malformed client_id", with(map[string]string{"client_id": "portal"}), 400, 700038},
		{"unknown client", with(map[string]string{"client_id": "11111111-2222-3333-4444-555555555555"}), 400, 700016},
		{"unknown tenant", siAuthorizeURL(ts.authority("nowhere.example.com")+"/oauth2/v2.0/authorize", good), 400, 90002},
		{"consumers", siAuthorizeURL(ts.authority("consumers")+"/oauth2/v2.0/authorize", good), 400, 9002332},
		{"single-tenant app in a foreign tenant", siAuthorizeURL(ts.authority(demo.FabrikamTenantID)+"/oauth2/v2.0/authorize",
			map[string]string{"client_id": demo.InventoryAppID, "response_type": "code", "redirect_uri": "http://localhost:8080/inventory", "scope": "openid"}), 400, 700016},
	}
	if err := ts.Directory.AddRedirectURI(context.Background(), demo.InventoryAppID, "http://localhost:8080/inventory"); err != nil {
		t.Fatal(err)
	}
	for _, c := range pageCases {
		t.Run(c.name, func(t *testing.T) {
			p := newWebBrowser(t, ts).get(c.url)
			if p.status != c.status || p.header.Get("Location") != "" || !strings.Contains(p.header.Get("Content-Type"), "text/html") {
				t.Fatalf("status %d, location %q, type %q", p.status, p.header.Get("Location"), p.header.Get("Content-Type"))
			}
			if !strings.Contains(p.body, fmt.Sprintf("AADSTS%d:", c.code)) {
				t.Fatalf("page does not show AADSTS%d:\n%s", c.code, shortBody(p.body))
			}
		})
	}
	redirectCases := []struct {
		name, err string
		mod       map[string]string
		code      int
	}{
		{"token response type", "unsupported_response_type", map[string]string{"response_type": "token"}, 70005},
		{"missing scope", "invalid_request", map[string]string{"scope": "-"}, 900144},
		{"Graph scope", "invalid_scope", map[string]string{"scope": "openid User.Read"}, 70011},
		{"bad challenge method", "invalid_request", map[string]string{"code_challenge": strings.Repeat("a", 43), "code_challenge_method": "S512"}, 90100},
		{"short challenge", "invalid_request", map[string]string{"code_challenge": "abc", "code_challenge_method": "S256"}, 501491},
		{"bad prompt", "invalid_request", map[string]string{"prompt": "maybe"}, 90100},
		{"bad response_mode", "invalid_request", map[string]string{"response_mode": "carrier_pigeon"}, 70007},
		{"prompt=none without session", "login_required", map[string]string{"prompt": "none"}, 50058},
	}
	for _, c := range redirectCases {
		t.Run(c.name, func(t *testing.T) {
			u, q := newWebBrowser(t, ts).get(with(c.mod)).redirect(t)
			if u.Scheme+"://"+u.Host+u.Path != demo.PortalRedirect || q.Get("error") != c.err || q.Get("state") != "st" ||
				!strings.HasPrefix(q.Get("error_description"), fmt.Sprintf("AADSTS%d:", c.code)) {
				t.Fatalf("redirect %s %v", u.Path, q)
			}
		})
	}

	formCases := []struct {
		name, login, password string
		fieldID               string // element holding the error
		want                  string
	}{
		{"wrong password", demo.AliceUPN, "not-the-password", "passwd-error", "incorrect"},
		{"unknown user, same message", "nobody@contoso.onmicrosoft.com", "whatever-password", "passwd-error", "incorrect"},
		{"no sign-in name", "", demo.AlicePass, "login-error", "user@domain"},
		{"no password", demo.AliceUPN, "", "passwd-error", "Enter your password"},
	}
	for _, c := range formCases {
		t.Run(c.name, func(t *testing.T) {
			b := newWebBrowser(t, ts)
			p := b.signIn(b.get(with(nil)), c.login, c.password)
			if p.status != http.StatusOK || p.header.Get("Location") != "" || p.cookie("__Host-dvs2s-session") != "" {
				t.Fatalf("status %d, location %q, session %q", p.status, p.header.Get("Location"), p.cookie("__Host-dvs2s-session"))
			}
			msg, ok := p.elementText(t, c.fieldID)
			if !ok || !strings.Contains(msg, c.want) {
				t.Fatalf("#%s = %q, want it to say %q", c.fieldID, msg, c.want)
			}
			field := strings.TrimSuffix(c.fieldID, "-error")
			f := p.formWith(t, func(in webInput) bool { return in.id == field })
			for _, in := range f.inputs {
				if in.id == field && (in.attrs["aria-invalid"] != "true" || in.attrs["aria-describedby"] != c.fieldID) {
					t.Errorf("input %s is not marked invalid: %v", field, in.attrs)
				}
			}
		})
	}

	t.Run("form without its CSRF cookie", func(t *testing.T) {
		b := newWebBrowser(t, ts)
		p := b.get(with(nil))
		f := p.formWith(t, func(in webInput) bool { return in.autocomplete == "current-password" })
		other := newWebBrowser(t, ts) // no cookies
		res := f.submit(other, map[string]string{"username": demo.AliceUPN, "current-password": demo.AlicePass}, "")
		if res.status != http.StatusBadRequest || res.header.Get("Location") != "" {
			t.Fatalf("status %d, location %q", res.status, res.header.Get("Location"))
		}
		if msg, ok := res.elementText(t, "form-error"); !ok || !strings.Contains(msg, "expired") {
			t.Fatalf("form error %q", msg)
		}
	})

	t.Run("disabled user", func(t *testing.T) {
		ctx := context.Background()
		u, err := ts.Directory.CreateUser(ctx, demo.ContosoTenantID, "", "carol@contoso.onmicrosoft.com", "Carol", "Carol-Test-Passw0rd", false)
		if err != nil {
			t.Fatal(err)
		}
		u.Enabled = false
		if err := ts.Store.UpdateUser(ctx, u); err != nil {
			t.Fatal(err)
		}
		b := newWebBrowser(t, ts)
		p := b.signIn(b.get(with(nil)), "carol@contoso.onmicrosoft.com", "Carol-Test-Passw0rd")
		if msg, ok := p.elementText(t, "form-error"); p.status != http.StatusOK || !ok || !strings.Contains(msg, "disabled") {
			t.Fatalf("status %d, form error %q", p.status, msg)
		}
	})
}

// TestSignInOrganizations signs users in through the organizations
// authority: the user's tenant becomes the tenant of the code and tokens.
func TestSignInOrganizations(t *testing.T) {
	ts := start(t, "")
	ctx := context.Background()
	if _, err := ts.Directory.CreateUser(ctx, demo.FabrikamTenantID, "", "dana@fabrikam.onmicrosoft.com", "Dana Fabrikam", "Dana-Test-Passw0rd", false); err != nil {
		t.Fatal(err)
	}
	const invRedirect = "http://localhost:8080/inventory/callback"
	if err := ts.Directory.AddRedirectURI(ctx, demo.InventoryAppID, invRedirect); err != nil {
		t.Fatal(err)
	}
	orgs := newSIOIDC(t, ts, demo.ContosoTenantID) // for its verifier settings
	orgs.conf.Endpoint = oauth2.Endpoint{
		AuthURL:  ts.authority("organizations") + "/oauth2/v2.0/authorize",
		TokenURL: ts.authority("organizations") + "/oauth2/v2.0/token",
	}
	cases := []struct {
		name, upn, password, tenant string
	}{
		{"contoso user", demo.AliceUPN, demo.AlicePass, demo.ContosoTenantID},
		{"fabrikam user", "dana@fabrikam.onmicrosoft.com", "Dana-Test-Passw0rd", demo.FabrikamTenantID},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b := newWebBrowser(t, ts)
			verifier, nonce := oauth2.GenerateVerifier(), "n-"+c.tenant
			code := codeFrom(t, b.signIn(b.get(orgs.conf.AuthCodeURL("st", oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier))), c.upn, c.password), "st")
			tok, err := orgs.conf.Exchange(orgs.ctx, code, oauth2.VerifierOption(verifier))
			if err != nil {
				t.Fatal(err)
			}
			// A multi-tenant app validates the ID token against the
			// issuer of the user's tenant.
			idt, err := newSIOIDC(t, ts, c.tenant).verifier.Verify(orgs.ctx, tok.Extra("id_token").(string))
			if err != nil {
				t.Fatal(err)
			}
			var cl struct{ Tid string }
			idt.Claims(&cl)
			if cl.Tid != c.tenant || idt.Nonce != nonce || idt.Issuer != ts.authority(c.tenant)+"/v2.0" {
				t.Errorf("tid %s, iss %s, nonce %s", cl.Tid, idt.Issuer, idt.Nonce)
			}
			if _, err := orgs.conf.TokenSource(orgs.ctx, &oauth2.Token{RefreshToken: tok.RefreshToken}).Token(); err != nil {
				t.Errorf("refresh through organizations: %v", err)
			}
		})
	}

	t.Run("single-tenant app, user of another tenant", func(t *testing.T) {
		b := newWebBrowser(t, ts)
		u := siAuthorizeURL(ts.authority("organizations")+"/oauth2/v2.0/authorize", map[string]string{"client_id": demo.InventoryAppID,
			"response_type": "code", "redirect_uri": invRedirect, "scope": "openid", "state": "x"})
		p := b.signIn(b.get(u), "dana@fabrikam.onmicrosoft.com", "Dana-Test-Passw0rd")
		if msg, ok := p.elementText(t, "form-error"); p.status != http.StatusOK || !ok || !strings.Contains(msg, "AADSTS50020") {
			t.Fatalf("status %d, form error %q", p.status, msg)
		}
		// The right account works from the same page.
		_, q := b.signIn(p, demo.AliceUPN, demo.AlicePass).redirect(t)
		if q.Get("code") == "" {
			t.Fatalf("no code: %v", q)
		}
	})

	t.Run("user of another tenant at a tenant's endpoint", func(t *testing.T) {
		b := newWebBrowser(t, ts)
		p := b.signIn(b.get(newSIOIDC(t, ts, demo.ContosoTenantID).conf.AuthCodeURL("y")), "dana@fabrikam.onmicrosoft.com", "Dana-Test-Passw0rd")
		if msg, ok := p.elementText(t, "login-error"); !ok || !strings.Contains(msg, "AADSTS50034") {
			t.Fatalf("status %d, login error %q", p.status, msg)
		}
	})
}
