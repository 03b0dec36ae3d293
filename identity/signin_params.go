package identity

import (
	"crypto/sha256"
	"crypto/subtle"
	"net/url"
	"strconv"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
)

// This file holds the pure parsers of the browser-facing endpoints: the
// authorization request, scopes, redirect URI matching and PKCE. They take
// untrusted input and are fuzzed (signin_fuzz_test.go).

// authzParams is a parsed authorization request (§11.1; RFC 6749 section
// 4.1.1, OpenID Connect Core 1.0 section 3.1.2.1, RFC 7636 section 4.3).
type authzParams struct {
	ClientID     string
	RedirectURI  string
	State        string
	ResponseType string
	ResponseMode string   // "query" (default for code), "fragment" or "form_post"
	Scopes       []string // normalized: OIDC scopes lower case, duplicates dropped
	Resource     string   // v1 only: the resource parameter
	Nonce        string
	Prompt       string // "", "login", "none", "consent" or "select_account"
	LoginHint    string
	DomainHint   string
	Challenge    string
	Method       string // code_challenge_method: "S256" or "plain" ("" when no challenge)
	MaxAge       int    // seconds; -1 when absent
}

// Limits on parameter sizes. Entra documents none of them except the
// redirect URI (256 characters in a registration); these are generous and
// only keep stored and echoed values bounded.
const (
	maxRedirectURI = 2048
	maxState       = 4096
	maxNonce       = 1024
	maxHint        = 256
	maxScope       = 4096
	maxScopes      = 50
)

// singleValued are the parameters that must not repeat (RFC 6749 section
// 3.1: "Request and response parameters MUST NOT be included more than
// once").
var singleValued = []string{"response_type", "response_mode", "scope", "state", "nonce", "prompt",
	"login_hint", "domain_hint", "code_challenge", "code_challenge_method", "max_age", "resource"}

// parseAuthorize parses an authorization request. The returned params always
// carry what an error redirect needs (client id, redirect URI, state and a
// valid response mode). redirectable reports whether an error may be sent to
// the redirect URI (once the caller has checked that the URI is registered
// for the client); when it is false the error must be shown on a page, since
// the client or the redirect URI itself is in doubt (RFC 6749 section
// 4.1.2.1).
func parseAuthorize(q url.Values, ver int) (p authzParams, e *Error, redirectable bool) {
	p.MaxAge = -1
	p.ResponseMode = "query"
	for _, n := range []string{"client_id", "redirect_uri"} {
		if len(q[n]) > 1 {
			return p, badRequest("invalid_request", 90023, "The request is not valid: the parameter '%s' is included more than once.", n), false
		}
	}
	p.ClientID = strings.ToLower(strings.TrimSpace(q.Get("client_id")))
	p.RedirectURI = q.Get("redirect_uri")
	switch {
	case p.ClientID == "":
		return p, missingParam("client_id"), false
	case !directory.IsGUID(p.ClientID):
		return p, badRequest("unauthorized_client", 700038, "%s is not a valid application identifier.", clip(q.Get("client_id"), 64)), false
	case p.RedirectURI == "":
		return p, badRequest("invalid_request", 900971, "No reply address provided."), false
	case len(p.RedirectURI) > maxRedirectURI:
		return p, badRequest("invalid_request", 50011, "The redirect URI specified in the request is longer than %d characters.", maxRedirectURI), false
	}
	// From here on errors may go to the (registered) redirect URI.
	if st := q["state"]; len(st) == 1 && len(st[0]) <= maxState {
		p.State = st[0]
	}
	for _, n := range singleValued {
		if len(q[n]) > 1 {
			return p, badRequest("invalid_request", 90023, "The request is not valid: the parameter '%s' is included more than once.", n), true
		}
	}
	if len(q.Get("state")) > maxState {
		return p, badRequest("invalid_request", 90100, "The 'state' parameter is longer than %d characters.", maxState), true
	}
	switch m := q.Get("response_mode"); m {
	case "", "query":
	case "fragment", "form_post":
		p.ResponseMode = m
	default:
		return p, badRequest("invalid_request", 70007, "The response_mode '%s' is not supported. Use 'query', 'fragment' or 'form_post'.", clip(m, 64)), true
	}
	p.ResponseType = q.Get("response_type")
	switch p.ResponseType {
	case "":
		return p, missingParam("response_type"), true
	case "code":
	default:
		return p, badRequest("unsupported_response_type", 70005, "The response_type '%s' is not supported: this service implements the authorization code flow (response_type=code) only.", clip(p.ResponseType, 64)), true
	}
	scope := q.Get("scope")
	if ver == 2 && strings.TrimSpace(scope) == "" {
		return p, missingParam("scope"), true
	}
	var se *Error
	if p.Scopes, se = parseScopes(scope); se != nil {
		return p, se, true
	}
	if ver == 1 {
		p.Resource = q.Get("resource")
		if p.Resource != "" && !validResource(p.Resource) {
			return p, badRequest("invalid_resource", 50001, "The resource '%s' is not a valid resource identifier (an absolute URI or an application id).", clip(p.Resource, 256)), true
		}
	} else if q.Has("resource") {
		return p, badRequest("invalid_request", 901002, "The 'resource' request parameter isn't supported."), true
	}
	if _, e := classifyScopes(p.Scopes); e != nil {
		return p, e, true
	}
	p.Nonce = q.Get("nonce")
	if len(p.Nonce) > maxNonce {
		return p, badRequest("invalid_request", 90100, "The 'nonce' parameter is longer than %d characters.", maxNonce), true
	}
	if p.Prompt, e = parsePrompt(q.Get("prompt")); e != nil {
		return p, e, true
	}
	p.LoginHint = strings.TrimSpace(q.Get("login_hint"))
	p.DomainHint = q.Get("domain_hint")
	if len(p.LoginHint) > maxHint || len(p.DomainHint) > maxHint {
		return p, badRequest("invalid_request", 90100, "The 'login_hint' or 'domain_hint' parameter is longer than %d characters.", maxHint), true
	}
	if ma := q.Get("max_age"); ma != "" {
		n, err := strconv.Atoi(ma)
		if err != nil || n < 0 {
			return p, badRequest("invalid_request", 90100, "The 'max_age' parameter must be a non-negative number of seconds."), true
		}
		p.MaxAge = n
	}
	p.Challenge = q.Get("code_challenge")
	p.Method = q.Get("code_challenge_method")
	if e := checkChallenge(p.Challenge, p.Method); e != nil {
		return p, e, true
	}
	if p.Challenge != "" && p.Method == "" {
		p.Method = "plain" // RFC 7636 section 4.3: defaults to "plain"
	}
	return p, nil, true
}

// parsePrompt accepts one prompt value (Entra accepts one; OpenID Connect
// allows a list, where "none" must stand alone).
func parsePrompt(v string) (string, *Error) {
	fields := strings.Fields(v)
	if len(fields) == 0 {
		return "", nil
	}
	out := ""
	for _, f := range fields {
		switch f {
		case "login", "none", "consent", "select_account":
		default:
			return "", badRequest("invalid_request", 90100, "The 'prompt' value '%s' is not valid. Use 'login', 'none', 'consent' or 'select_account'.", clip(f, 64))
		}
		if out != "" && (out == "none" || f == "none") {
			return "", badRequest("invalid_request", 90100, "The prompt value 'none' cannot be combined with other values.")
		}
		if out == "" || f == "login" {
			out = f // "login" is the strongest demand; keep it
		}
	}
	return out, nil
}

// parseScopes splits a scope parameter (RFC 6749 section 3.3). OpenID
// Connect scopes are lower-cased; duplicates are dropped; other scopes are
// kept as given.
func parseScopes(s string) ([]string, *Error) {
	if len(s) > maxScope {
		return nil, badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid: it is longer than %d characters.", maxScope)
	}
	var out []string
	seen := map[string]bool{}
	for _, sc := range strings.Fields(s) {
		for _, c := range []byte(sc) {
			// scope-token = 1*( %x21 / %x23-5B / %x5D-7E )
			if c < 0x21 || c == 0x22 || c == 0x5c || c > 0x7e {
				return nil, badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid: it contains characters a scope may not contain.")
			}
		}
		if oidcScopes[strings.ToLower(sc)] {
			sc = strings.ToLower(sc)
		}
		key := strings.ToLower(sc)
		if seen[key] {
			continue
		}
		seen[key] = true
		out = append(out, sc)
		if len(out) > maxScopes {
			return nil, badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid: it names more than %d scopes.", maxScopes)
		}
	}
	return out, nil
}

// scopeInfo is a classified scope list.
type scopeInfo struct {
	oidc     map[string]bool // openid, profile, email, offline_access
	resource string          // the first resource named ("" if none)
	names    []string        // its permissions ("user_impersonation", ".default")
	raw      []string        // its scopes as given
	multi    bool            // more than one resource was named
}

// classifyScopes splits scopes into the OpenID Connect ones and those of a
// resource (§6.3: the resource is everything before the last slash, the
// permission what follows). A scope without a resource ("User.Read") means
// Microsoft Graph to Entra, which this service does not emulate: it is
// refused with a clear message. Several resources are reported in multi:
// Entra accepts them at /authorize (consent covers them all) and issues the
// token for the first; the token endpoint refuses them (700022).
func classifyScopes(scopes []string) (scopeInfo, *Error) {
	si := scopeInfo{oidc: map[string]bool{}}
	for _, sc := range scopes {
		if oidcScopes[sc] {
			si.oidc[sc] = true
			continue
		}
		res, name, ok := splitResourceScope(sc)
		if !ok {
			return si, badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid. The scope '%s' names no resource: Entra would read it as a Microsoft Graph permission, and this service does not emulate Microsoft Graph. Name the resource, e.g. 'https://org.crm.dynamics.com/user_impersonation' or 'api://{app-id}/.default'.", clip(sc, 256))
		}
		switch {
		case si.resource == "":
			si.resource = res
		case !sameResource(si.resource, res):
			si.multi = true
			continue
		}
		si.names = append(si.names, name)
		si.raw = append(si.raw, sc)
	}
	return si, nil
}

func sameResource(a, b string) bool {
	return strings.EqualFold(strings.TrimRight(a, "/"), strings.TrimRight(b, "/"))
}

// splitResourceScope splits "https://host/path/permission" into resource and
// permission.
func splitResourceScope(sc string) (resource, name string, ok bool) {
	i := strings.LastIndexByte(sc, '/')
	if i <= 0 || i == len(sc)-1 {
		return "", "", false
	}
	resource, name = sc[:i], sc[i+1:]
	if !validResource(resource) {
		return "", "", false
	}
	return resource, name, true
}

// validResource accepts an application id or an absolute URI.
func validResource(r string) bool {
	if directory.IsGUID(r) {
		return true
	}
	u, err := url.Parse(r)
	return err == nil && u.Scheme != "" && (u.Host != "" || u.Opaque != "")
}

// redirectRegistered reports whether uri is one of the registered redirect
// URIs. Matching is exact (§11.1); with extraPath (v1 admin consent, §10.1:
// "it can have additional path segments") uri may also extend a registered
// URI's path by whole segments, with the same scheme, host, port and query.
func redirectRegistered(registered []string, uri string, extraPath bool) bool {
	for _, r := range registered {
		if r == uri {
			return true
		}
	}
	if !extraPath {
		return false
	}
	u, err := url.Parse(uri)
	if err != nil || u.User != nil || u.Fragment != "" || u.RawFragment != "" || u.Opaque != "" || u.Host == "" {
		return false
	}
	p := u.EscapedPath()
	for _, r := range registered {
		ru, err := url.Parse(r)
		if err != nil || !strings.EqualFold(ru.Scheme, u.Scheme) || !strings.EqualFold(ru.Host, u.Host) || ru.RawQuery != u.RawQuery {
			continue
		}
		base := strings.TrimSuffix(ru.EscapedPath(), "/")
		extra, ok := strings.CutPrefix(p, base+"/")
		if !ok || !safeExtraPath(extra) {
			continue
		}
		return true
	}
	return false
}

// safeExtraPath accepts path segments of unreserved characters and
// percent-encodings of them: no dot segments and no encoded slashes or
// backslashes, which could climb out of the registered path.
func safeExtraPath(p string) bool {
	if p == "" {
		return false
	}
	for _, seg := range strings.Split(p, "/") {
		if seg == "" || seg == "." || seg == ".." {
			return false
		}
		dec, err := url.PathUnescape(seg)
		if err != nil || dec == "." || dec == ".." {
			return false
		}
		for _, c := range []byte(dec) {
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
				return false
			}
		}
	}
	return true
}

// checkChallenge validates code_challenge and code_challenge_method at the
// authorization endpoint (RFC 7636 section 4.2/4.3).
func checkChallenge(challenge, method string) *Error {
	switch method {
	case "", "plain", "S256":
	default:
		return badRequest("invalid_request", 90100, "The code_challenge_method '%s' is not supported. Use 'S256' or 'plain'.", clip(method, 32))
	}
	if challenge == "" {
		if method != "" {
			return badRequest("invalid_request", 50147, "The code_challenge parameter is missing although a code_challenge_method was sent.")
		}
		return nil
	}
	if method == "S256" {
		if len(challenge) != 43 || !unreserved(challenge) {
			return badRequest("invalid_request", 501491, "Invalid size of Code_Challenge parameter: an S256 challenge is the 43-character base64url SHA-256 of the verifier.")
		}
		return nil
	}
	if !validVerifier(challenge) {
		return badRequest("invalid_request", 501491, "Invalid size of Code_Challenge parameter: a plain challenge is 43 to 128 characters from [A-Za-z0-9-._~].")
	}
	return nil
}

// validVerifier checks a code verifier's shape (RFC 7636 section 4.1).
func validVerifier(v string) bool { return len(v) >= 43 && len(v) <= 128 && unreserved(v) }

func unreserved(s string) bool {
	for _, c := range []byte(s) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == '_' || c == '~') {
			return false
		}
	}
	return true
}

// verifyPKCE checks a code verifier against the stored challenge (RFC 7636
// section 4.6), in constant time.
func verifyPKCE(challenge, method, verifier string) bool {
	if !validVerifier(verifier) {
		return false
	}
	want := verifier
	if method == "S256" {
		sum := sha256.Sum256([]byte(verifier))
		want = b64(sum[:])
	}
	return subtle.ConstantTimeCompare([]byte(want), []byte(challenge)) == 1
}

// cspOrigin returns the origin of uri for a Content-Security-Policy source
// list, or "" when uri has none that is safe to put in a header.
func cspOrigin(uri string) string {
	u, err := url.Parse(uri)
	if err != nil || (u.Scheme != "https" && u.Scheme != "http") || u.Host == "" {
		return ""
	}
	for _, c := range []byte(u.Host) {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '.' || c == ':' || c == '[' || c == ']') {
			return ""
		}
	}
	return u.Scheme + "://" + u.Host
}

// clip shortens untrusted text echoed in messages.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}
