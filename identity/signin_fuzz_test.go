package identity

import (
	"crypto/sha256"
	"net/url"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/directory"
)

// FuzzParseAuthorize checks the authorization request parser never panics
// and that what it accepts is sound: a GUID client, a redirect URI, code
// flow, bounded state and nonce, a consistent PKCE pair, and an Entra-shaped
// 4xx otherwise.
func FuzzParseAuthorize(f *testing.F) {
	good := "client_id=0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60&response_type=code&redirect_uri=http%3A%2F%2Flocalhost%3A8080%2Fauth%2Fcallback&scope=openid+profile+offline_access&state=xyz&nonce=n"
	f.Add(good, true)
	f.Add(good+"&code_challenge=E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM&code_challenge_method=S256", true)
	f.Add(good+"&code_challenge=dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", false)
	f.Add(good+"&prompt=login+none&max_age=-1", true)
	f.Add(good+"&scope=https://x/.default&resource=https://x", false)
	f.Add(good+"&response_mode=form_post&scope=a%22b", true)
	f.Add("client_id=&redirect_uri=", true)
	f.Add(good+"&state=a&state=b", true)
	f.Fuzz(func(t *testing.T, raw string, v2 bool) {
		q, err := url.ParseQuery(raw)
		if err != nil {
			return
		}
		ver := 1
		if v2 {
			ver = 2
		}
		p, e, redirectable := parseAuthorize(q, ver)
		if p.ResponseMode != "query" && p.ResponseMode != "fragment" && p.ResponseMode != "form_post" {
			t.Fatalf("response mode %q", p.ResponseMode)
		}
		if len(p.State) > maxState {
			t.Fatalf("state of %d bytes", len(p.State))
		}
		if e != nil {
			if e.Code == 0 || e.Status != 400 || e.Err == "" || e.Msg == "" {
				t.Fatalf("malformed error %+v", e)
			}
			if redirectable && (!directory.IsGUID(p.ClientID) || p.RedirectURI == "") {
				t.Fatalf("redirectable error without a client and redirect URI: %+v", p)
			}
			return
		}
		if !directory.IsGUID(p.ClientID) || p.RedirectURI == "" || p.ResponseType != "code" || len(p.Nonce) > maxNonce {
			t.Fatalf("accepted %+v", p)
		}
		if (p.Challenge == "") != (p.Method == "") || p.Method != "" && p.Method != "S256" && p.Method != "plain" {
			t.Fatalf("PKCE pair %q %q", p.Challenge, p.Method)
		}
		if ver == 2 && len(p.Scopes) == 0 {
			t.Fatal("v2 request without scopes accepted")
		}
		for _, sc := range p.Scopes {
			if sc == "" || strings.ContainsAny(sc, " \t\r\n\"\\") {
				t.Fatalf("scope %q", sc)
			}
		}
	})
}

// FuzzRedirectRegistered checks redirect URI matching: an exact match only,
// or with extra path (v1 admin consent) a URI on the same scheme, host and
// port whose path extends the registered one by plain segments.
func FuzzRedirectRegistered(f *testing.F) {
	f.Add("http://localhost/myapp/permissions", "http://localhost/myapp/permissions/more")
	f.Add("http://localhost/myapp/permissions", "http://localhost/myapp/permissions/../../evil")
	f.Add("http://localhost/myapp/permissions", "http://localhost/myapp/permissions/a%2F..%2Fb")
	f.Add("https://app.example/cb?x=1", "https://app.example/cb/z?x=1")
	f.Add("https://app.example/", "https://app.example//evil.example")
	f.Add("https://app.example/cb", "https://app.example@evil.example/cb/x")
	f.Fuzz(func(t *testing.T, registered, uri string) {
		if redirectRegistered([]string{registered}, uri, false) && uri != registered {
			t.Fatalf("%q matched %q without being equal", uri, registered)
		}
		if !redirectRegistered([]string{registered}, uri, true) || uri == registered {
			return
		}
		u, err1 := url.Parse(uri)
		r, err2 := url.Parse(registered)
		if err1 != nil || err2 != nil {
			t.Fatalf("unparseable URIs matched: %q %q", uri, registered)
		}
		if !strings.EqualFold(u.Host, r.Host) || !strings.EqualFold(u.Scheme, r.Scheme) || u.User != nil || u.RawQuery != r.RawQuery {
			t.Fatalf("%q escaped %q", uri, registered)
		}
		extra := strings.TrimPrefix(u.EscapedPath(), strings.TrimSuffix(r.EscapedPath(), "/"))
		for _, seg := range strings.Split(strings.TrimPrefix(extra, "/"), "/") {
			if seg == "" || seg == "." || seg == ".." || strings.Contains(strings.ToLower(seg), "%2f") || strings.Contains(strings.ToLower(seg), "%5c") {
				t.Fatalf("%q: unsafe extra segment %q", uri, seg)
			}
		}
		if ref, err := u.Parse("."); err != nil || !strings.HasPrefix(ref.Path, strings.TrimSuffix(r.Path, "/")) {
			t.Fatalf("%q resolves outside %q", uri, registered)
		}
	})
}

// FuzzScopes checks the scope parser and classifier.
func FuzzScopes(f *testing.F) {
	f.Add("openid profile offline_access https://org.crm.dynamics.com/user_impersonation")
	f.Add("OpenID https://a.example//.default api://x/.default")
	f.Add("User.Read")
	f.Add("0b7e4f2a-6c1d-4a3e-8f95-1d2c3b4a5e60/.default /x x/")
	f.Fuzz(func(t *testing.T, s string) {
		scopes, e := parseScopes(s)
		if e != nil {
			if e.Err != "invalid_scope" {
				t.Fatalf("error %+v", e)
			}
			return
		}
		if len(scopes) > maxScopes {
			t.Fatalf("%d scopes", len(scopes))
		}
		si, e := classifyScopes(scopes)
		if e != nil {
			return
		}
		if si.resource == "" && (len(si.names) > 0 || si.multi) {
			t.Fatalf("permissions without a resource: %+v", si)
		}
		if len(si.names) != len(si.raw) {
			t.Fatalf("names %v, raw %v", si.names, si.raw)
		}
		for i, raw := range si.raw {
			if !strings.HasSuffix(raw, "/"+si.names[i]) || !validResource(strings.TrimSuffix(raw, "/"+si.names[i])) {
				t.Fatalf("scope %q split as %q", raw, si.names[i])
			}
		}
		scpOf(si.names)
	})
}

// FuzzPKCE checks challenge validation and verification (RFC 7636).
func FuzzPKCE(f *testing.F) {
	f.Add("dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk", "S256", "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM")
	f.Add("short", "plain", "short")
	f.Add("", "", "")
	f.Fuzz(func(t *testing.T, verifier, method, challenge string) {
		if checkChallenge(challenge, method) == nil && challenge != "" {
			if method == "S256" && len(challenge) != 43 {
				t.Fatalf("S256 challenge of %d characters accepted", len(challenge))
			}
		}
		sum := sha256.Sum256([]byte(verifier))
		s256 := b64(sum[:])
		if got := verifyPKCE(s256, "S256", verifier); got != validVerifier(verifier) {
			t.Fatalf("S256 verification of %q: %v", verifier, got)
		}
		if verifyPKCE(challenge, method, verifier) && !validVerifier(verifier) {
			t.Fatalf("malformed verifier %q accepted", verifier)
		}
	})
}

// FuzzCSPOrigin checks that what goes into the Content-Security-Policy
// header cannot break out of its source list.
func FuzzCSPOrigin(f *testing.F) {
	f.Add("http://localhost:8080/auth/callback")
	f.Add("https://a.example;script-src *")
	f.Add("https://[::1]:443/x")
	f.Fuzz(func(t *testing.T, uri string) {
		o := cspOrigin(uri)
		if strings.ContainsAny(o, " ;,'\"\r\n\t") {
			t.Fatalf("%q gave origin %q", uri, o)
		}
	})
}

// FuzzParsePrompt checks prompt parsing.
func FuzzParsePrompt(f *testing.F) {
	f.Add("login")
	f.Add("none login")
	f.Add("consent select_account")
	f.Fuzz(func(t *testing.T, v string) {
		p, e := parsePrompt(v)
		if e == nil && p != "" && p != "login" && p != "none" && p != "consent" && p != "select_account" {
			t.Fatalf("prompt %q", p)
		}
	})
}
