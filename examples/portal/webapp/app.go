// Package webapp is the Fabrikam Portal sample: a multi-tenant web
// application that signs its users in with OpenID Connect (authorization
// code + PKCE, coreos/go-oidc and x/oauth2) and reaches each customer's
// Dataverse environment as its own application user with server-to-server
// (S2S) tokens (azidentity client credentials, the dataverse SDK),
// optionally impersonating the signed-in user (CallerObjectId).
//
// It imports only the public dataverse SDK and public libraries, so it
// works the same against dvs2s and against Microsoft Entra ID and
// Dataverse: only the configuration differs.
package webapp

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
)

// Config configures the portal.
type Config struct {
	// BaseURL is the portal's public URL, such as http://localhost:8080.
	// The app registration must list BaseURL/auth/callback (sign-in) and
	// BaseURL/onboarding/consent (admin consent) as redirect URIs, and may
	// list BaseURL/ for sign-out.
	BaseURL string
	// AuthorityHost is the identity provider: https://login.microsoftonline.com
	// for Entra ID, or a dvs2s identity service (https://localhost:8443).
	AuthorityHost string
	// ClientID and ClientSecret are the app registration's (a multi-tenant
	// app: customers consent to it in their own tenant).
	ClientID, ClientSecret string
	// Connections are the customer tenants already connected: tenant id →
	// Dataverse environment URL. Onboarding adds more.
	Connections map[string]string
	// StateFile keeps the connections made by onboarding (JSON); empty:
	// in memory only.
	StateFile string
	// HTTPClient reaches the identity provider and Dataverse (give one
	// trusting a private CA for dvs2s); nil: http.DefaultClient.
	HTTPClient *http.Client
	// MaxRetryAfter is the longest service protection wait the portal sits
	// out within a page request (default 3 s); a longer Retry-After is
	// shown to the user, and the portal makes no call to that
	// environment before it ends.
	MaxRetryAfter time.Duration
	// PageSize of the lists (default 10).
	PageSize int
	Logger   *slog.Logger
}

// App is the portal.
type App struct {
	c     Config
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
	https bool

	auth *auth

	mu       sync.Mutex
	sessions map[string]*session
	conns    map[string]string     // tenant id → environment URL
	clients  map[string]*envClient // environment URL →
	creds    *dataverse.TenantCredentials
	onb      map[string]*onboarding // onboardings in progress, by cookie
}

// envClient is the Dataverse client of one environment and when its
// service protection penalty ends.
type envClient struct {
	client *dataverse.Client
	mu     sync.Mutex
	until  time.Time
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns the portal; it reads the identity provider's metadata.
func New(ctx context.Context, c Config) (*App, error) {
	if c.BaseURL == "" || c.AuthorityHost == "" || c.ClientID == "" || c.ClientSecret == "" {
		return nil, errors.New("portal: BaseURL, AuthorityHost, ClientID and ClientSecret are required")
	}
	c.BaseURL = strings.TrimRight(c.BaseURL, "/")
	c.AuthorityHost = strings.TrimRight(c.AuthorityHost, "/")
	if c.HTTPClient == nil {
		c.HTTPClient = http.DefaultClient
	}
	if c.MaxRetryAfter <= 0 {
		c.MaxRetryAfter = 3 * time.Second
	}
	if c.PageSize <= 0 {
		c.PageSize = 10
	}
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	a := &App{c: c, log: c.Logger, sessions: map[string]*session{}, conns: map[string]string{}, clients: map[string]*envClient{},
		https: strings.HasPrefix(c.BaseURL, "https://")}
	for t, u := range c.Connections {
		a.conns[strings.ToLower(t)] = strings.TrimRight(u, "/")
	}
	if err := a.loadState(); err != nil {
		return nil, err
	}
	a.creds = dataverse.NewTenantCredentials(func(tenantID string) (azcore.TokenCredential, error) {
		return a.credential(tenantID)
	})
	var err error
	if a.auth, err = newAuth(ctx, a); err != nil {
		return nil, err
	}
	if err := a.parse(); err != nil {
		return nil, err
	}
	a.routes()
	return a, nil
}

// credential is the app's client-credentials credential in a tenant.
func (a *App) credential(tenantID string) (azcore.TokenCredential, error) {
	return azidentity.NewClientSecretCredential(tenantID, a.c.ClientID, a.c.ClientSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: a.c.AuthorityHost + "/"}, Transport: a.c.HTTPClient},
		DisableInstanceDiscovery: !strings.Contains(a.c.AuthorityHost, "login.microsoftonline.com"),
	})
}

// client returns the Dataverse client of a connected tenant.
func (a *App) client(tenantID string) (*envClient, string, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	envURL, ok := a.conns[tenantID]
	if !ok {
		return nil, "", errNotConnected
	}
	if ec, ok := a.clients[envURL]; ok {
		return ec, envURL, nil
	}
	c, err := dataverse.NewClient(envURL, a.creds, &dataverse.Options{HTTPClient: a.c.HTTPClient, TenantID: tenantID,
		MaxRetries: 2, MaxRetryAfter: a.c.MaxRetryAfter, UserAgent: "fabrikam-portal-sample"})
	if err != nil {
		return nil, "", err
	}
	ec := &envClient{client: c}
	a.clients[envURL] = ec
	return ec, envURL, nil
}

var errNotConnected = errors.New("the organization is not connected")

// Connect records (and persists) a tenant's environment.
func (a *App) connect(tenantID, envURL string) error {
	a.mu.Lock()
	a.conns[tenantID] = envURL
	delete(a.clients, envURL)
	a.mu.Unlock()
	return a.saveState()
}

// Connections returns the connected tenants and their environments.
func (a *App) Connections() map[string]string {
	a.mu.Lock()
	defer a.mu.Unlock()
	out := make(map[string]string, len(a.conns))
	for k, v := range a.conns {
		out[k] = v
	}
	return out
}

func (a *App) loadState() error {
	if a.c.StateFile == "" {
		return nil
	}
	b, err := os.ReadFile(a.c.StateFile)
	if errors.Is(err, os.ErrNotExist) {
		return nil
	}
	if err != nil {
		return err
	}
	var st struct {
		Connections map[string]string `json:"connections"`
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return fmt.Errorf("portal state %s: %w", a.c.StateFile, err)
	}
	for t, u := range st.Connections {
		a.conns[t] = u
	}
	return nil
}

func (a *App) saveState() error {
	if a.c.StateFile == "" {
		return nil
	}
	b, err := json.MarshalIndent(map[string]any{"connections": a.Connections()}, "", "  ")
	if err != nil {
		return err
	}
	tmp := a.c.StateFile + ".tmp"
	if err := os.WriteFile(tmp, b, 0o600); err != nil {
		return err
	}
	return os.Rename(tmp, a.c.StateFile)
}

// Handler serves the portal.
func (a *App) Handler() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self'; form-action 'self' "+a.c.AuthorityHost+"; frame-ancestors 'none'; base-uri 'none'")
		h.Set("X-Frame-Options", "DENY")
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Referrer-Policy", "same-origin")
		a.mux.ServeHTTP(w, r)
	})
}

func (a *App) routes() {
	m := http.NewServeMux()
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET /static/", http.StripPrefix("/static/", http.FileServerFS(static)))
	m.HandleFunc("GET /{$}", a.home)
	m.HandleFunc("GET /auth/signin", a.auth.signIn)
	m.HandleFunc("GET /auth/callback", a.auth.callback)
	m.HandleFunc("POST /auth/signout", a.withUser(a.auth.signOut, true))
	m.HandleFunc("GET /auth/signedout", a.signedOut)
	m.HandleFunc("POST /mode", a.withUser(a.toggleMode, true))

	for _, e := range entities {
		e := e
		m.HandleFunc("GET /"+e.Set, a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.list(w, r, s, e) }, false))
		m.HandleFunc("GET /"+e.Set+"/new", a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.newForm(w, r, s, e) }, false))
		m.HandleFunc("POST /"+e.Set, a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.create(w, r, s, e) }, true))
		m.HandleFunc("GET /"+e.Set+"/{id}", a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.view(w, r, s, e) }, false))
		m.HandleFunc("GET /"+e.Set+"/{id}/edit", a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.editForm(w, r, s, e) }, false))
		m.HandleFunc("POST /"+e.Set+"/{id}", a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.update(w, r, s, e) }, true))
		m.HandleFunc("GET /"+e.Set+"/{id}/delete", a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.confirmDelete(w, r, s, e) }, false))
		m.HandleFunc("POST /"+e.Set+"/{id}/delete", a.withUser(func(w http.ResponseWriter, r *http.Request, s *session) { a.remove(w, r, s, e) }, true))
	}

	m.HandleFunc("GET /onboarding", a.onboardingStart)
	m.HandleFunc("POST /onboarding", a.onboardingConsent)
	m.HandleFunc("GET /onboarding/consent", a.onboardingCallback)
	m.HandleFunc("GET /onboarding/environment", a.onboardingEnvironment)
	m.HandleFunc("POST /onboarding/environment", a.onboardingCheck)
	m.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		a.render(w, r, nil, http.StatusNotFound, "message", &view{Title: "Not found", Problem: "There is no such page."})
	})
	a.mux = m
}

// --- sessions ---

// session is a signed-in user's server-side session; the browser holds
// only its random id in a cookie.
type session struct {
	ID       string
	OID      string // the user's object id (impersonation: CallerObjectId)
	TenantID string
	Name     string
	UPN      string
	IDToken  string
	CSRF     string
	ActAsMe  bool
	Expires  time.Time
	// cursors are the nextLinks of the lists the user paged through
	// (server-side: a nextLink is never taken from the browser, so a
	// crafted one cannot send the app's token elsewhere).
	cursors map[string][]string
}

const sessionLifetime = 8 * time.Hour

func (a *App) cookieName(base string) string {
	if a.https {
		return "__Host-" + base
	}
	return base
}

func (a *App) setCookie(w http.ResponseWriter, name, value string, maxAge int) {
	http.SetCookie(w, &http.Cookie{Name: a.cookieName(name), Value: value, Path: "/", MaxAge: maxAge, HttpOnly: true,
		Secure: a.https, SameSite: http.SameSiteLaxMode})
}

func randomToken() string {
	b := make([]byte, 32)
	rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func (a *App) newSession(w http.ResponseWriter, s *session) {
	s.ID, s.CSRF, s.Expires, s.cursors = randomToken(), randomToken(), time.Now().Add(sessionLifetime), map[string][]string{}
	a.mu.Lock()
	now := time.Now()
	for id, x := range a.sessions {
		if now.After(x.Expires) {
			delete(a.sessions, id)
		}
	}
	a.sessions[s.ID] = s
	a.mu.Unlock()
	a.setCookie(w, "portal-session", s.ID, 0)
}

func (a *App) session(r *http.Request) *session {
	c, err := r.Cookie(a.cookieName("portal-session"))
	if err != nil {
		return nil
	}
	a.mu.Lock()
	defer a.mu.Unlock()
	s := a.sessions[c.Value]
	if s == nil || time.Now().After(s.Expires) {
		return nil
	}
	return s
}

func (a *App) endSession(w http.ResponseWriter, s *session) {
	a.mu.Lock()
	delete(a.sessions, s.ID)
	a.mu.Unlock()
	a.setCookie(w, "portal-session", "", -1)
}

// withUser runs h for a signed-in user; posted forms must carry the
// session's anti-forgery token and come from this origin.
func (a *App) withUser(h func(http.ResponseWriter, *http.Request, *session), post bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		s := a.session(r)
		if s == nil {
			if post {
				http.Error(w, "Your session ended. Sign in again.", http.StatusForbidden)
				return
			}
			http.Redirect(w, r, "/auth/signin?return="+url.QueryEscape(r.URL.RequestURI()), http.StatusSeeOther)
			return
		}
		if post {
			r.Body = http.MaxBytesReader(w, r.Body, 64<<10)
			if err := r.ParseForm(); err != nil {
				http.Error(w, "The form could not be read.", http.StatusBadRequest)
				return
			}
			if !a.sameOrigin(r) || subtle.ConstantTimeCompare([]byte(r.PostFormValue("csrf_token")), []byte(s.CSRF)) != 1 {
				http.Error(w, "This form expired or did not come from the portal. Reload the page and try again.", http.StatusForbidden)
				return
			}
		}
		h(w, r, s)
	}
}

func (a *App) sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	return o == "" || strings.EqualFold(o, a.c.BaseURL)
}

func (a *App) toggleMode(w http.ResponseWriter, r *http.Request, s *session) {
	a.mu.Lock()
	s.ActAsMe = r.PostFormValue("act_as_me") == "on"
	s.cursors = map[string][]string{}
	a.mu.Unlock()
	back := r.PostFormValue("return")
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.ContainsAny(back, "\\\r\n") {
		back = "/accounts"
	}
	http.Redirect(w, r, back, http.StatusSeeOther)
}

// --- pages ---

type view struct {
	Title   string
	Nav     string
	S       *session
	Problem string
	Flash   string
	// Throttled is the end of a service protection penalty being honoured.
	Throttled  time.Time
	RetryAfter int
	Errors     map[string]string
	Form       url.Values
	Return     string
	Env        string
	Data       any
}

func (v *view) Err(f string) string { return v.Errors[f] }
func (v *view) Val(f string) string { return v.Form.Get(f) }

func (a *App) parse() error {
	funcs := template.FuncMap{
		"fmtTime": func(t time.Time) string { return t.UTC().Format("15:04:05 UTC") },
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	files, _ := fs.Glob(templateFS, "templates/*.html")
	a.pages = map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return fmt.Errorf("portal template %s: %w", f, err)
		}
		a.pages[name] = t
	}
	return nil
}

func (a *App) render(w http.ResponseWriter, r *http.Request, s *session, status int, name string, v *view) {
	v.S = s
	if v.Form == nil {
		v.Form = url.Values{}
	}
	if v.Return == "" {
		v.Return = r.URL.RequestURI()
	}
	if s != nil && v.Env == "" {
		a.mu.Lock()
		v.Env = a.conns[s.TenantID]
		a.mu.Unlock()
	}
	if v.Flash == "" {
		if c, err := r.Cookie(a.cookieName("portal-flash")); err == nil {
			if b, err := base64.RawURLEncoding.DecodeString(c.Value); err == nil && len(b) < 400 {
				v.Flash = string(b)
			}
			a.setCookie(w, "portal-flash", "", -1)
		}
	}
	var buf bytes.Buffer
	if err := a.pages[name].ExecuteTemplate(&buf, "layout.html", v); err != nil {
		a.log.Error("portal: rendering failed", "page", name, "err", err)
		http.Error(w, "The page could not be rendered.", http.StatusInternalServerError)
		return
	}
	h := w.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	if !v.Throttled.IsZero() {
		// Without script: the browser comes back by itself once the wait
		// is over.
		h.Set("Refresh", fmt.Sprint(v.RetryAfter+1))
	}
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

// done redirects after a successful change with a message for the next
// page.
func (a *App) done(w http.ResponseWriter, r *http.Request, path, msg string) {
	a.setCookie(w, "portal-flash", base64.RawURLEncoding.EncodeToString([]byte(msg)), 60)
	http.Redirect(w, r, path, http.StatusSeeOther)
}

func (a *App) home(w http.ResponseWriter, r *http.Request) {
	if s := a.session(r); s != nil {
		http.Redirect(w, r, "/accounts", http.StatusSeeOther)
		return
	}
	a.render(w, r, nil, http.StatusOK, "home", &view{Title: "Fabrikam Portal"})
}

func (a *App) signedOut(w http.ResponseWriter, r *http.Request) {
	a.render(w, r, nil, http.StatusOK, "message", &view{Title: "Signed out", Flash: "You are signed out."})
}
