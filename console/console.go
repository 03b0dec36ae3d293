// Package console is the admin web UI of dvs2s, served by `dvs2s serve`
// under /console/ on the identity service's origin: what the Entra admin
// center and the Power Platform admin center let an administrator see and
// change — the tenant and its users, app registrations and their
// credentials, consented (enterprise) applications, Dataverse
// environments with their application users, security roles (a privilege
// × depth grid), business units and teams, the audit log, and the Web API
// traffic and throttling of this server.
//
// Sign-in: the console shares the identity service's browser session (same
// process, same origin; see identity.BrowserUser). Only tenant
// administrators (store.User.Admin) get in, and each administrator sees and
// changes their own tenant only: its users, the apps registered in it, the
// apps consented in it and its environments. Creating a tenant makes a new,
// separate tenant with its own first administrator, as Entra does.
//
// Pages are server-rendered html/template with one stylesheet and no
// script. Every form carries an anti-forgery token bound to the session and
// is checked against the Origin header; every change made in an
// environment is written to that environment's audit table in the change's
// own transaction, attributed to the administrator's user there.
package console

import (
	"bytes"
	"context"
	"crypto/subtle"
	"embed"
	"encoding/base64"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/identity"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/throttle"
)

// Config configures the console.
type Config struct {
	// Prefix is where the console is mounted (default "/console").
	Prefix    string
	Identity  *identity.Server
	Directory *directory.Directory
	Store     store.Store
	Envs      *environment.Manager
	// CreateEnvironment creates an environment and starts serving it
	// (package stack gives it its origin); nil: environments are created
	// with Envs.Create and served after the next start.
	CreateEnvironment func(ctx context.Context, name, tenantID string) (*environment.Env, error)
	// Traffic is the Web API traffic of this server (throttling dashboard).
	Traffic *Traffic
	// Limits returns the service protection limits of an environment.
	Limits func(envName string) throttle.Limits
	Logger *slog.Logger
	Now    func() time.Time
}

// Server serves the console.
type Server struct {
	c     Config
	log   *slog.Logger
	mux   *http.ServeMux
	pages map[string]*template.Template
}

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// New returns the console.
func New(c Config) (*Server, error) {
	if c.Prefix == "" {
		c.Prefix = "/console"
	}
	c.Prefix = strings.TrimRight(c.Prefix, "/")
	if c.Logger == nil {
		c.Logger = slog.Default()
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	s := &Server{c: c, log: c.Logger}
	if err := s.parse(); err != nil {
		return nil, err
	}
	s.routes()
	return s, nil
}

// ServeHTTP implements http.Handler.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h := w.Header()
	h.Set("Content-Security-Policy", "default-src 'none'; style-src 'self'; img-src 'self' data:; form-action 'self'; frame-ancestors 'none'; base-uri 'none'")
	h.Set("X-Frame-Options", "DENY")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Referrer-Policy", "same-origin")
	h.Set("Cross-Origin-Opener-Policy", "same-origin")
	s.mux.ServeHTTP(w, r)
}

func (s *Server) parse() error {
	funcs := template.FuncMap{
		"prefix":   func() string { return s.c.Prefix },
		"time":     fmtTime,
		"short":    shortID,
		"join":     strings.Join,
		"depthOpt": depthOptions,
		"add":      func(a, b int) int { return a + b },
		"sub":      func(a, b int) int { return a - b },
	}
	base, err := template.New("layout.html").Funcs(funcs).ParseFS(templateFS, "templates/layout.html")
	if err != nil {
		return err
	}
	files, err := fs.Glob(templateFS, "templates/*.html")
	if err != nil {
		return err
	}
	s.pages = map[string]*template.Template{}
	for _, f := range files {
		name := strings.TrimSuffix(strings.TrimPrefix(f, "templates/"), ".html")
		if name == "layout" {
			continue
		}
		t, err := template.Must(base.Clone()).ParseFS(templateFS, f)
		if err != nil {
			return fmt.Errorf("console template %s: %w", f, err)
		}
		s.pages[name] = t
	}
	return nil
}

// handler is a console page or action: it runs for a signed-in tenant
// administrator.
type handler func(w http.ResponseWriter, r *http.Request, a *admin)

// admin is the signed-in administrator of a request.
type admin struct {
	identity.BrowserUser
	Tenant store.Tenant
}

func (s *Server) routes() {
	m := http.NewServeMux()
	p := s.c.Prefix
	static, _ := fs.Sub(staticFS, "static")
	m.Handle("GET "+p+"/static/", http.StripPrefix(p+"/static/", cacheStatic(http.FileServerFS(static))))
	m.Handle(p+"/signin", s.c.Identity.SignInPage("dvs2s admin console", p+"/", func(next string) bool { return identity.LocalPath(next, p+"/") }))
	m.HandleFunc("POST "+p+"/signout", s.signOut)
	m.HandleFunc("GET "+p, func(w http.ResponseWriter, r *http.Request) { http.Redirect(w, r, p+"/", http.StatusMovedPermanently) })

	get := func(path string, h handler) { m.HandleFunc("GET "+p+path, s.auth(h, false)) }
	post := func(path string, h handler) { m.HandleFunc("POST "+p+path, s.auth(h, true)) }

	get("/{$}", s.overview)
	get("/tenant", s.tenantPage)
	post("/tenants", s.createTenant)
	get("/users", s.usersPage)
	post("/users", s.createUser)
	post("/users/{id}/state", s.setUserState)

	get("/apps", s.appsPage)
	post("/apps", s.createApp)
	get("/apps/{app}", s.appPage)
	post("/apps/{app}/redirects", s.addRedirect)
	post("/apps/{app}/secrets", s.addSecret)
	post("/apps/{app}/secrets/{key}/delete", s.removeSecret)
	post("/apps/{app}/certificates", s.addCertificate)
	post("/apps/{app}/certificates/{key}/delete", s.removeCertificate)

	get("/consents", s.consentsPage)
	post("/consents", s.grantConsent)
	post("/consents/{app}/state", s.setConsentState)

	get("/environments", s.envsPage)
	post("/environments", s.createEnv)
	get("/environments/{env}", s.envHome)
	get("/environments/{env}/appusers", s.appUsersPage)
	post("/environments/{env}/appusers", s.createAppUser)
	get("/environments/{env}/users", s.envUsersPage)
	get("/environments/{env}/users/{id}", s.envUserPage)
	post("/environments/{env}/users/{id}/state", s.setEnvUserState)
	post("/environments/{env}/users/{id}/roles", s.addUserRole)
	post("/environments/{env}/users/{id}/roles/{role}/remove", s.removeUserRole)
	get("/environments/{env}/roles", s.rolesPage)
	post("/environments/{env}/roles", s.createRole)
	get("/environments/{env}/roles/{role}", s.rolePage)
	post("/environments/{env}/roles/{role}", s.saveRole)
	get("/environments/{env}/businessunits", s.busPage)
	post("/environments/{env}/businessunits", s.createBU)
	get("/environments/{env}/teams", s.teamsPage)
	post("/environments/{env}/teams", s.createTeam)
	get("/environments/{env}/teams/{team}", s.teamPage)
	post("/environments/{env}/teams/{team}/members", s.addTeamMember)
	post("/environments/{env}/teams/{team}/members/{user}/remove", s.removeTeamMember)
	post("/environments/{env}/teams/{team}/roles", s.addTeamRole)
	post("/environments/{env}/teams/{team}/roles/{role}/remove", s.removeTeamRole)
	get("/environments/{env}/audit", s.auditPage)
	get("/throttling", s.throttlingPage)

	m.HandleFunc(p+"/", func(w http.ResponseWriter, r *http.Request) {
		s.auth(func(w http.ResponseWriter, r *http.Request, a *admin) { s.notFound(w, r, a) }, false)(w, r)
	})
	s.mux = m
}

func cacheStatic(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "public, max-age=300")
		h.ServeHTTP(w, r)
	})
}

// maxForm bounds a posted form (certificates are uploaded as files).
const maxForm = 1 << 20

// auth runs h for a signed-in tenant administrator: others are sent to the
// sign-in page (GET) or refused. Posted forms must carry the session's
// anti-forgery token and come from this origin.
func (s *Server) auth(h handler, post bool) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-store")
		ctx := r.Context()
		bu, err := s.c.Identity.BrowserUser(ctx, r)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		if bu == nil {
			if post {
				s.plainError(w, http.StatusForbidden, "Your session ended. Sign in again and repeat the change.")
				return
			}
			next := r.URL.RequestURI()
			http.Redirect(w, r, s.c.Prefix+"/signin?next="+url.QueryEscape(next), http.StatusSeeOther)
			return
		}
		t, err := s.c.Store.Tenant(ctx, bu.User.TenantID)
		if err != nil {
			s.fail(w, r, nil, err)
			return
		}
		a := &admin{BrowserUser: *bu, Tenant: t}
		if !bu.User.Admin {
			s.render(w, r, a, http.StatusForbidden, "denied", &view{Title: "Administrators only"})
			return
		}
		if post {
			r.Body = http.MaxBytesReader(w, r.Body, maxForm)
			var perr error
			if strings.HasPrefix(r.Header.Get("Content-Type"), "multipart/form-data") {
				perr = r.ParseMultipartForm(maxForm)
			} else {
				perr = r.ParseForm()
			}
			if perr != nil {
				s.plainError(w, http.StatusBadRequest, "The form could not be read (too large, or not a form).")
				return
			}
			if !s.sameOrigin(r) || !validToken(r.PostFormValue("csrf_token"), bu.Binding) {
				s.plainError(w, http.StatusForbidden, "This form expired or did not come from the console. Reload the page and try again.")
				return
			}
		}
		h(w, r, a)
	}
}

func validToken(got, want string) bool {
	return got != "" && subtle.ConstantTimeCompare([]byte(got), []byte(want)) == 1
}

// sameOrigin checks the browser's Origin (or Sec-Fetch-Site) header when
// one is sent: a form posted from another site is refused even before its
// token is looked at.
func (s *Server) sameOrigin(r *http.Request) bool {
	if sfs := r.Header.Get("Sec-Fetch-Site"); sfs != "" && sfs != "same-origin" && sfs != "none" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	return o == "https://"+r.Host || (strings.HasSuffix(r.Host, ":443") && o == "https://"+strings.TrimSuffix(r.Host, ":443"))
}

func (s *Server) signOut(w http.ResponseWriter, r *http.Request) {
	r.Body = http.MaxBytesReader(w, r.Body, maxForm)
	if err := r.ParseForm(); err != nil {
		s.plainError(w, http.StatusBadRequest, "The form could not be read.")
		return
	}
	bu, err := s.c.Identity.BrowserUser(r.Context(), r)
	if err != nil {
		s.fail(w, r, nil, err)
		return
	}
	if bu != nil && (!s.sameOrigin(r) || !validToken(r.PostFormValue("csrf_token"), bu.Binding)) {
		s.plainError(w, http.StatusForbidden, "This form expired. Reload the page and try again.")
		return
	}
	if err := s.c.Identity.EndBrowserSession(r.Context(), w, r); err != nil {
		s.fail(w, r, nil, err)
		return
	}
	http.Redirect(w, r, s.c.Prefix+"/signin", http.StatusSeeOther)
}

// view is what every page template receives.
type view struct {
	Title   string
	Nav     string // active main navigation entry
	Admin   *admin
	CSRF    string
	Prefix  string
	Flash   string
	Env     *store.Environment
	EnvNav  string
	Errors  map[string]string // field name → message
	Form    url.Values        // submitted values, shown again with errors
	Problem string            // a form-level error
	Data    any
}

// Err returns the error of a field ("" if none).
func (v *view) Err(field string) string { return v.Errors[field] }

// Val returns the submitted value of a field.
func (v *view) Val(field string) string { return v.Form.Get(field) }

// Checked reports whether a checkbox was submitted checked.
func (v *view) Checked(field string) bool { return v.Form.Get(field) != "" }

func (s *Server) render(w http.ResponseWriter, r *http.Request, a *admin, status int, name string, v *view) {
	t := s.pages[name]
	if t == nil {
		s.log.Error("console: no template", "page", name)
		s.plainError(w, http.StatusInternalServerError, "The page could not be rendered.")
		return
	}
	v.Admin, v.Prefix = a, s.c.Prefix
	if a != nil {
		v.CSRF = a.Binding
	}
	if v.Flash == "" {
		v.Flash = s.takeFlash(w, r)
	}
	if v.Form == nil {
		v.Form = url.Values{}
	}
	var buf bytes.Buffer
	if err := t.ExecuteTemplate(&buf, "layout.html", v); err != nil {
		s.log.Error("console: rendering failed", "page", name, "err", err)
		s.plainError(w, http.StatusInternalServerError, "The page could not be rendered.")
		return
	}
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	w.WriteHeader(status)
	w.Write(buf.Bytes())
}

const flashCookie = "__Host-dvs2s-console-flash"

// done redirects (303) to path after a successful change, with a message
// shown once on the next page.
func (s *Server) done(w http.ResponseWriter, r *http.Request, path, msg string) {
	if msg != "" {
		http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: base64.RawURLEncoding.EncodeToString([]byte(msg)), Path: "/",
			MaxAge: 60, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	}
	http.Redirect(w, r, s.c.Prefix+path, http.StatusSeeOther)
}

func (s *Server) takeFlash(w http.ResponseWriter, r *http.Request) string {
	c, err := r.Cookie(flashCookie)
	if err != nil {
		return ""
	}
	http.SetCookie(w, &http.Cookie{Name: flashCookie, Value: "", Path: "/", MaxAge: -1, Secure: true, HttpOnly: true, SameSite: http.SameSiteStrictMode})
	b, err := base64.RawURLEncoding.DecodeString(c.Value)
	if err != nil || len(b) > 500 {
		return ""
	}
	return string(b)
}

func (s *Server) plainError(w http.ResponseWriter, status int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.WriteHeader(status)
	w.Write([]byte(msg + "\n"))
}

// fail answers an unexpected error: logged, never shown in detail.
func (s *Server) fail(w http.ResponseWriter, r *http.Request, a *admin, err error) {
	if errors.Is(err, store.ErrNotFound) {
		s.notFound(w, r, a)
		return
	}
	s.log.Error("console request failed", "path", r.URL.Path, "err", err)
	if a == nil {
		s.plainError(w, http.StatusServiceUnavailable, "The console could not complete the request. Try again.")
		return
	}
	s.render(w, r, a, http.StatusServiceUnavailable, "message", &view{Title: "Something went wrong",
		Problem: "The console could not complete the request. Try again; if it keeps failing, the server log has the details."})
}

func (s *Server) notFound(w http.ResponseWriter, r *http.Request, a *admin) {
	if a == nil {
		s.plainError(w, http.StatusNotFound, "Not found.")
		return
	}
	s.render(w, r, a, http.StatusNotFound, "message", &view{Title: "Not found",
		Problem: "There is nothing here, or it belongs to another tenant."})
}

func fmtTime(t time.Time) string {
	if t.IsZero() {
		return "—"
	}
	return t.UTC().Format("2006-01-02 15:04:05 UTC")
}

func shortID(id string) string {
	if len(id) > 8 {
		return id[:8] + "…"
	}
	return id
}
