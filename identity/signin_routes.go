package identity

import (
	"bytes"
	"context"
	"crypto/rand"
	_ "embed"
	"errors"
	"html/template"
	"log/slog"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
)

// signInRoutes registers the user-facing endpoints: authorize (§11.1),
// logout, and admin consent (§10). The grants they lead to are served by the
// token endpoint (signin_grants.go).
func (s *Server) signInRoutes(m *http.ServeMux) {
	for _, p := range []string{"/{tenant}/oauth2/v2.0/authorize", "/{tenant}/oauth2/authorize"} {
		ver := 2
		if !strings.Contains(p, "v2.0") {
			ver = 1
		}
		m.HandleFunc("GET "+p, s.authorize(ver))
		m.HandleFunc("POST "+p, s.authorize(ver))
	}
	for _, p := range []string{"/{tenant}/oauth2/v2.0/logout", "/{tenant}/oauth2/logout"} {
		m.HandleFunc("GET "+p, s.logout)
		m.HandleFunc("POST "+p, s.logout)
	}
	m.HandleFunc("GET /{tenant}/adminconsent", s.adminConsent(1))
	m.HandleFunc("POST /{tenant}/adminconsent", s.adminConsent(1))
	m.HandleFunc("GET /{tenant}/v2.0/adminconsent", s.adminConsent(2))
	m.HandleFunc("POST /{tenant}/v2.0/adminconsent", s.adminConsent(2))
}

// Cookies of the browser endpoints. The __Host- prefix makes browsers
// insist on Secure, Path=/ and no Domain (RFC 6265bis section 4.1.3.2).
const (
	sessionCookie = "__Host-dvs2s-session"
	csrfCookie    = "__Host-dvs2s-csrf"
)

// Lifetimes of the grants this service hands out to browsers and clients.
const (
	// sessionLifetime bounds a browser session; the cookie itself is a
	// session cookie (gone when the browser closes).
	sessionLifetime = 12 * time.Hour
	// codeLifetime: "authorization codes ... expire after about 10 minutes"
	// (§11.1).
	codeLifetime = 10 * time.Minute
	// refreshLifetime is Entra's default inactivity lifetime of refresh
	// tokens (90 days); every use rotates the token and restarts it.
	refreshLifetime = 90 * 24 * time.Hour
)

const maxFormBody = 64 << 10

//go:embed signin_pages.html
var pagesHTML string

var pages = template.Must(template.New("pages").Parse(pagesHTML))

// page is what every template receives.
type page struct {
	Nonce string // CSP nonce of the inline style (and form_post script)
	Title string

	Heading, Intro, Message string
	AppName, Publisher      string
	ClientID, TenantName    string
	UserUPN                 string
	Permissions             []string

	Action, CSRF    string
	Login           string
	FormError       string
	LoginError      string
	PasswordError   string
	OtherAccountURL string
	Fields          []formField

	TraceID, CorrelationID, Timestamp string
}

type formField struct{ Name, Value string }

// render writes a page with the headers every browser response of this
// service carries: no caching, no framing, no referrer (authorization URLs
// carry state and hints), and a Content-Security-Policy that allows only
// the page's own inline style and script (by nonce) and form posts to this
// service and, when given, the client's redirect origin (browsers apply
// form-action to the redirect that follows a post).
func (s *Server) render(w http.ResponseWriter, r *http.Request, status int, name string, p *page, formOrigin string) {
	nonce := newNonce()
	p.Nonce = nonce
	var buf bytes.Buffer
	if err := pages.ExecuteTemplate(&buf, name, p); err != nil {
		s.log.Error("rendering page failed", "page", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusServiceUnavailable)
		return
	}
	formAction := "'self'"
	if formOrigin != "" {
		formAction += " " + formOrigin
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'nonce-"+nonce+"'; script-src 'nonce-"+nonce+"'; form-action "+formAction+"; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "no-referrer")
	noStore(w)
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

func newNonce() string {
	b := make([]byte, 16)
	rand.Read(b)
	return b64(b)
}

// showError shows a protocol error to the user instead of redirecting: used
// when the client or its redirect URI cannot be trusted (RFC 6749 section
// 4.1.2.1), and for errors the user, not the client, has to act on.
func (s *Server) showError(w http.ResponseWriter, r *http.Request, e *Error, p *page) {
	if p == nil {
		p = &page{}
	}
	now := s.now()
	p.Title = "Sign-in error"
	if p.Heading == "" {
		p.Heading = "Sorry, but we’re having trouble signing you in."
	}
	p.Message = "AADSTS" + strconv.Itoa(e.Code) + ": " + e.Msg
	p.TraceID, p.CorrelationID, p.Timestamp = newGUID(), correlationID(r), now.Format(entraTime)
	s.log.LogAttrs(r.Context(), levelFor(e.Status), "identity error page",
		slogStr("path", r.URL.Path), slogStr("error", e.Err), slogInt("aadsts", e.Code), slogStr("correlation_id", p.CorrelationID))
	status := e.Status
	if status == 0 {
		status = http.StatusBadRequest
	}
	s.render(w, r, status, "error", p, "")
}

// respond sends an authorization or consent response to the client's
// redirect URI (already checked against the registration) in the requested
// response mode (OAuth 2.0 Multiple Response Type Encoding Practices,
// OAuth 2.0 Form Post Response Mode). params keep their order.
func (s *Server) respond(w http.ResponseWriter, r *http.Request, redirectURI, mode string, params [][2]string) {
	if mode == "form_post" {
		p := &page{Title: "Continue", Action: redirectURI}
		for _, kv := range params {
			p.Fields = append(p.Fields, formField{kv[0], kv[1]})
		}
		s.render(w, r, http.StatusOK, "formpost", p, cspOrigin(redirectURI))
		return
	}
	var q strings.Builder
	for _, kv := range params {
		if q.Len() > 0 {
			q.WriteByte('&')
		}
		q.WriteString(url.QueryEscape(kv[0]))
		q.WriteByte('=')
		q.WriteString(url.QueryEscape(kv[1]))
	}
	loc := redirectURI
	if mode == "fragment" {
		loc += "#" + q.String()
	} else if strings.Contains(loc, "?") {
		loc += "&" + q.String()
	} else {
		loc += "?" + q.String()
	}
	h := w.Header()
	h.Set("Location", loc)
	h.Set("Referrer-Policy", "no-referrer")
	noStore(w)
	status := http.StatusFound
	if r.Method == http.MethodPost {
		status = http.StatusSeeOther
	}
	w.WriteHeader(status)
}

// respondError sends a protocol error to the redirect URI (§11.1: error,
// error_description, state), the description in Entra's format.
func (s *Server) respondError(w http.ResponseWriter, r *http.Request, redirectURI, mode, state string, e *Error, extra ...[2]string) {
	now := s.now()
	trace, corr := newGUID(), correlationID(r)
	params := append(extra, [2]string{"error", e.Err},
		[2]string{"error_description", "AADSTS" + strconv.Itoa(e.Code) + ": " + e.Msg + "\r\nTrace ID: " + trace + "\r\nCorrelation ID: " + corr + "\r\nTimestamp: " + now.Format(entraTime)},
		[2]string{"error_uri", s.base + "/error?code=" + strconv.Itoa(e.Code)})
	if e.Suberror != "" {
		params = append(params, [2]string{"suberror", e.Suberror})
	}
	if state != "" {
		params = append(params, [2]string{"state", state})
	}
	s.log.LogAttrs(r.Context(), slog.LevelInfo, "identity error redirect",
		slogStr("path", r.URL.Path), slogStr("error", e.Err), slogInt("aadsts", e.Code), slogStr("correlation_id", corr))
	s.respond(w, r, redirectURI, mode, params)
}

// --- cookies, CSRF and sessions ---

func setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: name, Value: value, Path: "/", MaxAge: maxAge,
		Secure: true, HttpOnly: true, SameSite: http.SameSiteLaxMode})
}

// csrfToken returns the anti-forgery token for the forms of this response,
// bound to a random cookie (set now if absent): the token is the keyed hash
// of the cookie's value, so a page from another origin can neither read nor
// forge it (OWASP "signed double-submit cookie").
func (s *Server) csrfToken(w http.ResponseWriter, r *http.Request) string {
	v := ""
	if c, err := r.Cookie(csrfCookie); err == nil && len(c.Value) >= 32 && len(c.Value) <= 64 {
		v = c.Value
	} else {
		v = secret.NewToken()
		setCookie(w, csrfCookie, v, 0)
	}
	return b64(s.secrets.Hash("csrf\x00" + v))
}

// checkCSRF verifies a posted form's token against the cookie, and the
// Origin header when the browser sent one. Browsers send "Origin: null"
// for posts from pages whose Referrer-Policy is no-referrer, as this
// service's pages are (Fetch standard, "append a request Origin header"):
// the token alone decides then.
func (s *Server) checkCSRF(r *http.Request) bool {
	if o := r.Header.Get("Origin"); o != "" && o != "null" {
		own := cspOrigin(s.base)
		if o != own && o != strings.TrimSuffix(own, ":443") {
			return false
		}
	}
	c, err := r.Cookie(csrfCookie)
	if err != nil || c.Value == "" {
		return false
	}
	got := r.PostForm.Get("csrf_token")
	return got != "" && equalHash([]byte(got), []byte(b64(s.secrets.Hash("csrf\x00"+c.Value))))
}

// signedIn is the user of a browser session.
type signedIn struct {
	user     store.User
	authTime time.Time
	fresh    bool // signed in with a password in this request
}

// session returns the user of the request's session cookie, or nil. A
// session whose user was disabled or removed, or is a refused demo user,
// counts as none.
func (s *Server) session(ctx context.Context, r *http.Request) (*signedIn, error) {
	c, err := r.Cookie(sessionCookie)
	if err != nil || len(c.Value) < 32 || len(c.Value) > 64 {
		return nil, nil
	}
	se, err := s.store.Session(ctx, s.secrets.Hash(c.Value))
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !s.now().Before(se.ExpiresAt) {
		return nil, nil
	}
	u, err := s.store.User(ctx, se.UserID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	if !u.Enabled || s.refused[u.ObjectID] {
		return nil, nil
	}
	return &signedIn{user: u, authTime: se.AuthTime}, nil
}

// startSession replaces the browser's session with one for u.
func (s *Server) startSession(ctx context.Context, w http.ResponseWriter, r *http.Request, u store.User) (*signedIn, error) {
	if c, err := r.Cookie(sessionCookie); err == nil && c.Value != "" {
		if err := s.store.DeleteSession(ctx, s.secrets.Hash(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
			return nil, err
		}
	}
	now := s.now()
	tok := secret.NewToken()
	if err := s.store.CreateSession(ctx, store.Session{Hash: s.secrets.Hash(tok), UserID: u.ObjectID, TenantID: u.TenantID,
		AuthTime: now, ExpiresAt: now.Add(sessionLifetime)}); err != nil {
		return nil, err
	}
	setCookie(w, sessionCookie, tok, 0)
	s.log.LogAttrs(ctx, slog.LevelInfo, "user signed in", slogStr("user", u.ObjectID), slogStr("tenant", u.TenantID))
	return &signedIn{user: u, authTime: now, fresh: true}, nil
}

// endSession deletes the browser's session and clears its cookie.
func (s *Server) endSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	setCookie(w, sessionCookie, "", -1)
	c, err := r.Cookie(sessionCookie)
	if err != nil || c.Value == "" {
		return nil
	}
	if err := s.store.DeleteSession(ctx, s.secrets.Hash(c.Value)); err != nil && !errors.Is(err, store.ErrNotFound) {
		return err
	}
	return nil
}

// --- passwords ---

// passwordSlots bounds concurrent argon2id checks (19 MiB each), so a burst
// of sign-in attempts cannot exhaust memory.
var passwordSlots = make(chan struct{}, 4)

// dummyHash is checked when no user matches, so an unknown name takes as
// long as a wrong password.
var dummyHash = sync.OnceValue(func() string { return secret.HashPassword("dvs2s timing equalizer") })

// signInFailure is why a password sign-in failed, for the form.
type signInFailure struct {
	loginErr, passwordErr, formErr string
	code                           int
}

// checkPassword authenticates login/password. The same message answers an
// unknown user and a wrong password, so the form does not tell which names
// exist (Entra says "This username may be incorrect" for unknown names; we
// deliberately do not). Whatever depends on the account (disabled, refused,
// wrong tenant) is said only after the password matched.
func (s *Server) checkPassword(ctx context.Context, login, password string) (store.User, *signInFailure, error) {
	login = strings.ToLower(strings.TrimSpace(login))
	switch {
	case login == "" || len(login) > maxHint || !strings.Contains(login, "@"):
		return store.User{}, &signInFailure{loginErr: "Enter your sign-in name in the form user@domain, for example alice@contoso.onmicrosoft.com.", code: 90100}, nil
	case password == "":
		return store.User{}, &signInFailure{passwordErr: "Enter your password.", code: 50056}, nil
	case len(password) > 1024:
		return store.User{}, &signInFailure{passwordErr: "Your account or password is incorrect.", code: 50126}, nil
	}
	select {
	case passwordSlots <- struct{}{}:
		defer func() { <-passwordSlots }()
	case <-ctx.Done():
		return store.User{}, nil, ctx.Err()
	}
	u, err := s.store.UserByUPN(ctx, login)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return u, nil, err
	}
	hash := u.PasswordHash
	if err != nil {
		hash = dummyHash()
	}
	if !secret.CheckPassword(hash, password) || err != nil {
		return store.User{}, &signInFailure{passwordErr: "Your account or password is incorrect. Check your sign-in name and password and try again.", code: 50126}, nil
	}
	if !u.Enabled {
		return u, &signInFailure{formErr: "Your account has been disabled. Contact your administrator (AADSTS50057).", code: 50057}, nil
	}
	if s.refused[u.ObjectID] {
		return u, &signInFailure{formErr: "This is a well-known dvs2s demo account. It is refused because the server listens beyond loopback (start it with --allow-demo-on-network to accept it).", code: 50057}, nil
	}
	return u, nil, nil
}
