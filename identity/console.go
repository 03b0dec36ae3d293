package identity

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/store"
)

// First-party pages. The admin console (package console) is served by the
// same process on the same origin as this service, the way Entra's own
// portals sit behind its sign-in: rather than being an OpenID Connect
// client of itself (an app registration with a home tenant and a secret,
// and HTTPS calls to its own endpoints), it shares this service's browser
// session. The user signs in on this service's own sign-in page (the same
// password check, throttling of password hashing, CSRF protection and
// demo-account refusal as authorize), and the console reads the session.

// BrowserUser is the user of a browser's sign-in session at this service.
type BrowserUser struct {
	User     store.User
	AuthTime time.Time
	// Binding is a secret derived from the session cookie with the
	// service's key (the cookie is HttpOnly; another origin can read
	// neither): first-party pages use it as their anti-forgery token, so
	// the token is bound to the session and changes with it.
	Binding string
}

// BrowserUser returns the signed-in user of r's browser session, or nil
// when there is none (or it expired, or its user was disabled).
func (s *Server) BrowserUser(ctx context.Context, r *http.Request) (*BrowserUser, error) {
	who, err := s.session(ctx, r)
	if err != nil || who == nil {
		return nil, err
	}
	c, err := r.Cookie(sessionCookie)
	if err != nil {
		return nil, nil
	}
	return &BrowserUser{User: who.user, AuthTime: who.authTime, Binding: b64(s.secrets.Hash("first-party binding\x00" + c.Value))}, nil
}

// SignInPage serves this service's sign-in page for a first-party
// application named appName, at whatever path it is mounted. Once the user
// has signed in (or if a session exists already) the browser goes to the
// query parameter next when allowed(next) accepts it, else to fallback.
// ?prompt=login asks for the password even when a session exists (to sign
// in with another account).
func (s *Server) SignInPage(appName, fallback string, allowed func(next string) bool) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		params, form, e := s.browserParams(w, r)
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		next := params.Get("next")
		if next == "" || !allowed(next) {
			next = fallback
		}
		keep := url.Values{"next": {next}}
		prompt := ""
		if params.Get("prompt") == "login" {
			prompt = "login"
			keep.Set("prompt", "login")
		}
		c := &signInCtx{params: keep, form: form, app: store.App{DisplayName: appName}, prompt: prompt, maxAge: -1,
			heading: "Sign in", promptNone: func(*Error) {}}
		who := s.signInStep(w, r, c)
		if who == nil {
			return
		}
		h := w.Header()
		h.Set("Location", next)
		h.Set("Referrer-Policy", "no-referrer")
		noStore(w)
		w.WriteHeader(http.StatusSeeOther)
	})
}

// EndBrowserSession signs the browser out of this service (the session is
// deleted and its cookie cleared).
func (s *Server) EndBrowserSession(ctx context.Context, w http.ResponseWriter, r *http.Request) error {
	return s.endSession(ctx, w, r)
}

// LocalPath reports whether next is a path on this origin under prefix
// (no scheme, no host, no "//" or backslash tricks): a safe place to send
// a browser after sign-in.
func LocalPath(next, prefix string) bool {
	if !strings.HasPrefix(next, prefix) || strings.HasPrefix(next, "//") || strings.ContainsAny(next, "\\\r\n\t") {
		return false
	}
	u, err := url.Parse(next)
	return err == nil && u.Scheme == "" && u.Host == "" && strings.HasPrefix(u.Path, prefix)
}
