package console

import (
	"bytes"
	"crypto/x509"
	"encoding/hex"
	"encoding/pem"
	"errors"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/pki"
	"github.com/dvs2s/dvs2s/store"
)

// --- overview ---

type overviewData struct {
	Users, Apps, Consents, Envs int
	Authority                   string
	Environments                []store.Environment
}

func (s *Server) overview(w http.ResponseWriter, r *http.Request, a *admin) {
	ctx := r.Context()
	var d overviewData
	users, err := s.c.Store.ListUsers(ctx, a.Tenant.ID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	apps, err := s.c.Store.ListApps(ctx, a.Tenant.ID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	sps, err := s.c.Store.ListServicePrincipals(ctx, a.Tenant.ID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	envs, err := s.tenantEnvs(r, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	d.Users, d.Apps, d.Consents, d.Envs, d.Environments = len(users), len(apps), len(sps), len(envs), envs
	d.Authority = "https://" + r.Host + "/" + a.Tenant.ID
	s.render(w, r, a, http.StatusOK, "overview", &view{Title: "Overview", Nav: "overview", Data: d})
}

// --- tenant ---

type tenantData struct {
	Authority string
	Created   []store.Tenant
}

func (s *Server) tenantPage(w http.ResponseWriter, r *http.Request, a *admin) {
	s.renderTenant(w, r, a, http.StatusOK, &view{})
}

func (s *Server) renderTenant(w http.ResponseWriter, r *http.Request, a *admin, status int, v *view) {
	v.Title, v.Nav = "Tenant", "tenant"
	v.Data = tenantData{Authority: "https://" + r.Host + "/" + a.Tenant.ID}
	s.render(w, r, a, status, "tenant", v)
}

// createTenant creates a new tenant with its first administrator. The
// administrator creating it does not get access to it (as in Entra, where
// the new tenant is administered by its own accounts): its administrator
// signs in to the console separately.
func (s *Server) createTenant(w http.ResponseWriter, r *http.Request, a *admin) {
	ctx := r.Context()
	f := fields{}
	name := strings.ToLower(text(r, "name"))
	domain := strings.ToLower(text(r, "domain"))
	user := strings.ToLower(text(r, "admin_user"))
	display := text(r, "admin_name")
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	if name == "" {
		f.add("name", "Enter a name.")
	} else if !tenantNameRE.MatchString(name) {
		f.add("name", "Use 1 to 63 lower-case letters, digits or hyphens, starting with a letter or digit.")
	}
	if domain != "" && !domainRE.MatchString(domain) {
		f.add("domain", "Enter a DNS name such as northwind.example.com, or leave it empty for <name>.onmicrosoft.com.")
	}
	if user == "" {
		f.add("admin_user", "Enter the administrator's user name.")
	} else if !localPartRE.MatchString(user) {
		f.add("admin_user", "Use lower-case letters, digits, dots, hyphens or underscores (the part before @).")
	}
	if len(display) > 256 {
		f.add("admin_name", "The display name is too long (at most 256 characters).")
	}
	f.password(pw, confirm)
	if domain == "" {
		domain = name + ".onmicrosoft.com"
	}
	if f.ok() {
		if _, err := s.c.Store.Tenant(ctx, domain); err == nil {
			f.add("domain", "A tenant with the domain "+domain+" already exists.")
		}
	}
	if !f.ok() {
		s.renderTenant(w, r, a, http.StatusUnprocessableEntity, &view{Errors: f, Form: r.PostForm})
		return
	}
	t, err := s.c.Directory.CreateTenant(ctx, name, domain, "")
	if err != nil {
		if msg, ok := problem(err); ok {
			s.renderTenant(w, r, a, http.StatusUnprocessableEntity, &view{Problem: msg, Form: r.PostForm})
			return
		}
		s.fail(w, r, a, err)
		return
	}
	upn := user + "@" + t.Domain
	if _, err := s.c.Directory.CreateUser(ctx, t.ID, "", upn, display, pw, true); err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.log.Info("console: tenant created", "tenant", t.ID, "by", a.User.ObjectID)
	s.done(w, r, "/tenant", "Tenant "+t.Name+" ("+t.ID+") created. Its administrator "+upn+" can now sign in to the console.")
}

// --- users ---

func (s *Server) usersPage(w http.ResponseWriter, r *http.Request, a *admin) {
	s.renderUsers(w, r, a, http.StatusOK, &view{})
}

func (s *Server) renderUsers(w http.ResponseWriter, r *http.Request, a *admin, status int, v *view) {
	users, err := s.c.Store.ListUsers(r.Context(), a.Tenant.ID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	slices.SortFunc(users, func(x, y store.User) int { return strings.Compare(x.UPN, y.UPN) })
	v.Title, v.Nav, v.Data = "Users", "users", users
	s.render(w, r, a, status, "users", v)
}

func (s *Server) createUser(w http.ResponseWriter, r *http.Request, a *admin) {
	f := fields{}
	user := strings.ToLower(text(r, "user"))
	display := text(r, "display_name")
	pw, confirm := r.PostFormValue("password"), r.PostFormValue("confirm")
	if user == "" {
		f.add("user", "Enter a user name.")
	} else if !localPartRE.MatchString(user) {
		f.add("user", "Use lower-case letters, digits, dots, hyphens or underscores (the part before @).")
	}
	f.required("display_name", display, "a display name", 256)
	f.password(pw, confirm)
	if f.ok() {
		if _, err := s.c.Store.UserByUPN(r.Context(), user+"@"+a.Tenant.Domain); err == nil {
			f.add("user", user+"@"+a.Tenant.Domain+" already exists.")
		}
	}
	if !f.ok() {
		s.renderUsers(w, r, a, http.StatusUnprocessableEntity, &view{Errors: f, Form: r.PostForm})
		return
	}
	u, err := s.c.Directory.CreateUser(r.Context(), a.Tenant.ID, "", user+"@"+a.Tenant.Domain, display, pw, r.PostFormValue("admin") != "")
	if err != nil {
		if msg, ok := problem(err); ok {
			s.renderUsers(w, r, a, http.StatusUnprocessableEntity, &view{Problem: msg, Form: r.PostForm})
			return
		}
		s.fail(w, r, a, err)
		return
	}
	s.done(w, r, "/users", "User "+u.UPN+" created.")
}

func (s *Server) setUserState(w http.ResponseWriter, r *http.Request, a *admin) {
	ctx := r.Context()
	u, err := s.c.Store.User(ctx, r.PathValue("id"))
	if err != nil || u.TenantID != a.Tenant.ID {
		s.notFound(w, r, a)
		return
	}
	enable := r.PostFormValue("enabled") == "true"
	if u.ObjectID == a.User.ObjectID && !enable {
		s.done(w, r, "/users", "You cannot disable your own account.")
		return
	}
	u.Enabled = enable
	if err := s.c.Store.UpdateUser(ctx, u); err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.changed()
	state := "disabled"
	if enable {
		state = "enabled"
	}
	s.done(w, r, "/users", "User "+u.UPN+" "+state+".")
}

// changed tells the identity service that the directory changed behind
// the Directory's back (store calls the Directory has no method for).
func (s *Server) changed() {
	if s.c.Directory.Changed != nil {
		s.c.Directory.Changed()
	}
}

// --- app registrations ---

func (s *Server) appsPage(w http.ResponseWriter, r *http.Request, a *admin) {
	s.renderApps(w, r, a, http.StatusOK, &view{})
}

func (s *Server) renderApps(w http.ResponseWriter, r *http.Request, a *admin, status int, v *view) {
	apps, err := s.c.Store.ListApps(r.Context(), a.Tenant.ID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	slices.SortFunc(apps, func(x, y store.App) int {
		return strings.Compare(strings.ToLower(x.DisplayName), strings.ToLower(y.DisplayName))
	})
	v.Title, v.Nav, v.Data = "App registrations", "apps", apps
	s.render(w, r, a, status, "apps", v)
}

func lines(s string) []string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l = strings.TrimSpace(l); l != "" {
			out = append(out, l)
		}
	}
	return out
}

func (s *Server) createApp(w http.ResponseWriter, r *http.Request, a *admin) {
	f := fields{}
	name := text(r, "name")
	f.required("name", name, "a display name", 120)
	redirects := lines(r.PostFormValue("redirect_uris"))
	if len(redirects) > 20 {
		f.add("redirect_uris", "At most 20 redirect URIs.")
	}
	for _, u := range redirects {
		if err := checkRedirect(u); err != "" {
			f.add("redirect_uris", err)
		}
	}
	if !f.ok() {
		s.renderApps(w, r, a, http.StatusUnprocessableEntity, &view{Errors: f, Form: r.PostForm})
		return
	}
	app, err := s.c.Directory.CreateApp(r.Context(), directory.AppSpec{Tenant: a.Tenant.ID, DisplayName: name,
		MultiTenant: r.PostFormValue("multi_tenant") != "", RedirectURIs: redirects})
	if err != nil {
		if msg, ok := problem(err); ok {
			s.renderApps(w, r, a, http.StatusUnprocessableEntity, &view{Problem: msg, Form: r.PostForm})
			return
		}
		s.fail(w, r, a, err)
		return
	}
	s.done(w, r, "/apps/"+app.AppID, "App "+app.DisplayName+" registered. Its application (client) ID is "+app.AppID+". Add a secret or a certificate so it can get tokens.")
}

// checkRedirect applies Entra's redirect URI rules for a field message.
func checkRedirect(u string) string {
	switch {
	case len(u) > 512:
		return "A redirect URI is too long (at most 512 characters)."
	case strings.HasPrefix(u, "https://"):
	case strings.HasPrefix(u, "http://localhost"), strings.HasPrefix(u, "http://127.0.0.1"), strings.HasPrefix(u, "http://[::1]"):
	default:
		return "Redirect URI " + strconvQuote(u) + " must use https (http only for localhost)."
	}
	if strings.Contains(u, "#") {
		return "Redirect URI " + strconvQuote(u) + " must not have a fragment (#)."
	}
	return ""
}

func strconvQuote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "…"
	}
	return strconv.Quote(s)
}

type appData struct {
	App          store.App
	Home         string
	Secrets      []store.PasswordCredential
	Certificates []certRow
	// Shown once, right after they were made.
	NewSecret     string
	NewSecretName string
	NewCertPEM    string
	NewKeyPEM     string
}

type certRow struct {
	store.KeyCredential
	Thumbprint string
	Subject    string
}

// ownApp returns an app registered in the admin's tenant.
func (s *Server) ownApp(r *http.Request, a *admin) (store.App, bool) {
	app, err := s.c.Store.App(r.Context(), strings.ToLower(r.PathValue("app")))
	if err != nil || app.HomeTenantID != a.Tenant.ID {
		return app, false
	}
	return app, true
}

func (s *Server) appPage(w http.ResponseWriter, r *http.Request, a *admin) {
	app, ok := s.ownApp(r, a)
	if !ok {
		s.notFound(w, r, a)
		return
	}
	s.renderApp(w, r, a, http.StatusOK, app, &view{}, appData{})
}

func (s *Server) renderApp(w http.ResponseWriter, r *http.Request, a *admin, status int, app store.App, v *view, d appData) {
	ctx := r.Context()
	var err error
	d.App, d.Home = app, a.Tenant.Domain
	if d.Secrets, err = s.c.Store.Passwords(ctx, app.AppID); err != nil {
		s.fail(w, r, a, err)
		return
	}
	keys, err := s.c.Store.Keys(ctx, app.AppID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	d.Certificates = nil
	for _, k := range keys {
		row := certRow{KeyCredential: k, Thumbprint: strings.ToUpper(hex.EncodeToString(k.SHA1))}
		if c, err := x509.ParseCertificate(k.CertDER); err == nil {
			row.Subject = c.Subject.String()
		}
		d.Certificates = append(d.Certificates, row)
	}
	v.Title, v.Nav, v.Data = app.DisplayName, "apps", d
	s.render(w, r, a, status, "app", v)
}

func (s *Server) addRedirect(w http.ResponseWriter, r *http.Request, a *admin) {
	app, ok := s.ownApp(r, a)
	if !ok {
		s.notFound(w, r, a)
		return
	}
	u := text(r, "redirect_uri")
	f := fields{}
	if u == "" {
		f.add("redirect_uri", "Enter a redirect URI.")
	} else if msg := checkRedirect(u); msg != "" {
		f.add("redirect_uri", msg)
	} else if len(app.RedirectURIs) >= 20 {
		f.add("redirect_uri", "An app can have at most 20 redirect URIs here.")
	}
	if f.ok() {
		if err := s.c.Directory.AddRedirectURI(r.Context(), app.AppID, u); err != nil {
			if msg, ok := problem(err); ok {
				f.add("redirect_uri", msg)
			} else {
				s.fail(w, r, a, err)
				return
			}
		}
	}
	if !f.ok() {
		s.renderApp(w, r, a, http.StatusUnprocessableEntity, app, &view{Errors: f, Form: r.PostForm}, appData{})
		return
	}
	s.done(w, r, "/apps/"+app.AppID, "Redirect URI added.")
}

var secretValidities = map[string]time.Duration{
	"90d": 90 * 24 * time.Hour, "180d": 180 * 24 * time.Hour, "1y": 365 * 24 * time.Hour, "2y": 2 * 365 * 24 * time.Hour,
}

// addSecret adds a client secret and shows it on this response only: it is
// stored as a keyed hash and never available again (no redirect, so it is
// not in any URL or cookie either).
func (s *Server) addSecret(w http.ResponseWriter, r *http.Request, a *admin) {
	app, ok := s.ownApp(r, a)
	if !ok {
		s.notFound(w, r, a)
		return
	}
	f := fields{}
	desc := text(r, "description")
	f.required("description", desc, "a description", 100)
	validity, ok := secretValidities[r.PostFormValue("expires")]
	if !ok {
		f.add("expires", "Choose when the secret expires.")
	}
	if !f.ok() {
		s.renderApp(w, r, a, http.StatusUnprocessableEntity, app, &view{Errors: f, Form: r.PostForm}, appData{})
		return
	}
	_, secretText, err := s.c.Directory.AddSecret(r.Context(), app.AppID, desc, validity)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.renderApp(w, r, a, http.StatusOK, app, &view{Flash: "Secret added. Copy its value now: it is shown only once."},
		appData{NewSecret: secretText, NewSecretName: desc})
}

func (s *Server) removeSecret(w http.ResponseWriter, r *http.Request, a *admin) {
	app, ok := s.ownApp(r, a)
	if !ok {
		s.notFound(w, r, a)
		return
	}
	if err := s.c.Store.RemovePassword(r.Context(), app.AppID, r.PathValue("key")); err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.changed()
	s.done(w, r, "/apps/"+app.AppID, "Secret removed: it no longer authenticates the app.")
}

// addCertificate registers an uploaded certificate (PEM or DER), or
// generates a self-signed RSA-2048 certificate whose private key is shown
// once and never stored.
func (s *Server) addCertificate(w http.ResponseWriter, r *http.Request, a *admin) {
	app, ok := s.ownApp(r, a)
	if !ok {
		s.notFound(w, r, a)
		return
	}
	f := fields{}
	desc := text(r, "description")
	if len(desc) > 100 {
		f.add("description", "The description is too long (at most 100 characters).")
	}
	var cert *x509.Certificate
	var keyPEM string
	switch r.PostFormValue("mode") {
	case "generate":
		cn := text(r, "subject")
		if cn == "" {
			cn = app.DisplayName
		}
		if len(cn) > 64 {
			f.add("subject", "The subject is too long (at most 64 characters).")
		}
		days, err := strconv.Atoi(r.PostFormValue("days"))
		if err != nil || days < 1 || days > 3650 {
			f.add("days", "Enter a number of days between 1 and 3650.")
		}
		if !f.ok() {
			break
		}
		c, key, err := pki.SelfSigned(cn, time.Duration(days)*24*time.Hour)
		if err != nil {
			s.fail(w, r, a, err)
			return
		}
		kb, err := x509.MarshalPKCS8PrivateKey(key)
		if err != nil {
			s.fail(w, r, a, err)
			return
		}
		cert, keyPEM = c, string(pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: kb}))
	case "upload":
		file, _, err := r.FormFile("certificate")
		if err != nil {
			f.add("certificate", "Choose a certificate file (.pem, .cer or .crt).")
			break
		}
		data, err := io.ReadAll(io.LimitReader(file, 64<<10))
		file.Close()
		if err != nil {
			s.fail(w, r, a, err)
			return
		}
		c, msg := parseCert(data)
		if msg != "" {
			f.add("certificate", msg)
			break
		}
		cert = c
	default:
		f.add("mode", "Choose to upload a certificate or to generate one.")
	}
	if !f.ok() {
		s.renderApp(w, r, a, http.StatusUnprocessableEntity, app, &view{Errors: f, Form: r.PostForm}, appData{})
		return
	}
	ks, err := s.c.Store.Keys(r.Context(), app.AppID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	for _, k := range ks {
		if bytes.Equal(k.CertDER, cert.Raw) {
			f.add("certificate", "This certificate is already registered on the app.")
			s.renderApp(w, r, a, http.StatusUnprocessableEntity, app, &view{Errors: f, Form: r.PostForm}, appData{})
			return
		}
	}
	if _, err := s.c.Directory.AddCertificate(r.Context(), app.AppID, desc, cert); err != nil {
		if msg, ok := problem(err); ok {
			f.add("certificate", msg)
			s.renderApp(w, r, a, http.StatusUnprocessableEntity, app, &view{Errors: f, Form: r.PostForm}, appData{})
			return
		}
		s.fail(w, r, a, err)
		return
	}
	if keyPEM == "" {
		s.done(w, r, "/apps/"+app.AppID, "Certificate added.")
		return
	}
	certPEM := string(pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: cert.Raw}))
	s.renderApp(w, r, a, http.StatusOK, app, &view{Flash: "Certificate generated and added. Save the private key now: it is shown only once and not kept."},
		appData{NewCertPEM: certPEM, NewKeyPEM: keyPEM})
}

// parseCert reads a PEM or DER certificate, RSA and not expired.
func parseCert(data []byte) (*x509.Certificate, string) {
	var cert *x509.Certificate
	if bytes.Contains(data, []byte("-----BEGIN")) {
		if !bytes.Contains(data, []byte("CERTIFICATE-----")) {
			return nil, "The file has no PEM certificate (-----BEGIN CERTIFICATE-----). Upload the certificate, never the private key."
		}
		certs, err := pki.ParseCertificates(data)
		if err != nil || len(certs) == 0 {
			return nil, "The certificate is not valid PEM/X.509."
		}
		cert = certs[0]
	} else {
		c, err := x509.ParseCertificate(data)
		if err != nil {
			return nil, "The file is neither a PEM nor a DER (.cer) certificate."
		}
		cert = c
	}
	if cert.PublicKeyAlgorithm != x509.RSA {
		return nil, "This is an " + cert.PublicKeyAlgorithm.String() + " certificate: app credentials must be RSA."
	}
	if time.Now().After(cert.NotAfter) {
		return nil, "The certificate expired on " + fmtTime(cert.NotAfter) + "."
	}
	return cert, ""
}

func (s *Server) removeCertificate(w http.ResponseWriter, r *http.Request, a *admin) {
	app, ok := s.ownApp(r, a)
	if !ok {
		s.notFound(w, r, a)
		return
	}
	if err := s.c.Store.RemoveKey(r.Context(), app.AppID, r.PathValue("key")); err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.changed()
	s.done(w, r, "/apps/"+app.AppID, "Certificate removed.")
}

// --- consents (enterprise applications) ---

type consentRow struct {
	SP        store.ServicePrincipal
	App       store.App
	Publisher string
	Home      bool
}

func (s *Server) consentsPage(w http.ResponseWriter, r *http.Request, a *admin) {
	s.renderConsents(w, r, a, http.StatusOK, &view{})
}

func (s *Server) renderConsents(w http.ResponseWriter, r *http.Request, a *admin, status int, v *view) {
	ctx := r.Context()
	sps, err := s.c.Store.ListServicePrincipals(ctx, a.Tenant.ID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	var rows []consentRow
	for _, sp := range sps {
		app, err := s.c.Store.App(ctx, sp.AppID)
		if err != nil {
			continue
		}
		pub := app.HomeTenantID
		if t, err := s.c.Store.Tenant(ctx, app.HomeTenantID); err == nil {
			pub = t.Domain
		}
		rows = append(rows, consentRow{SP: sp, App: app, Publisher: pub, Home: app.HomeTenantID == a.Tenant.ID})
	}
	slices.SortFunc(rows, func(x, y consentRow) int {
		return strings.Compare(strings.ToLower(x.App.DisplayName), strings.ToLower(y.App.DisplayName))
	})
	v.Title, v.Nav, v.Data = "Enterprise applications", "consents", rows
	s.render(w, r, a, status, "consents", v)
}

func (s *Server) grantConsent(w http.ResponseWriter, r *http.Request, a *admin) {
	f := fields{}
	id := f.guid("app_id", r.PostFormValue("app_id"), "the application (client) ID")
	var app store.App
	if f.ok() {
		var err error
		app, err = s.c.Store.App(r.Context(), id)
		switch {
		case errors.Is(err, store.ErrNotFound):
			f.add("app_id", "No application with this ID is registered (AADSTS700016).")
		case err != nil:
			s.fail(w, r, a, err)
			return
		case !app.MultiTenant() && app.HomeTenantID != a.Tenant.ID:
			f.add("app_id", app.DisplayName+" is a single-tenant app of another tenant: it cannot be used in yours.")
		}
	}
	if !f.ok() {
		s.renderConsents(w, r, a, http.StatusUnprocessableEntity, &view{Errors: f, Form: r.PostForm})
		return
	}
	if _, err := s.c.Directory.GrantAdminConsent(r.Context(), a.Tenant.ID, app.AppID); err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.done(w, r, "/consents", "Admin consent granted to "+app.DisplayName+": it has a service principal in "+a.Tenant.Domain+". Next, create its application user in an environment.")
}

func (s *Server) setConsentState(w http.ResponseWriter, r *http.Request, a *admin) {
	app := strings.ToLower(r.PathValue("app"))
	if !directory.IsGUID(app) {
		s.notFound(w, r, a)
		return
	}
	enable := r.PostFormValue("enabled") == "true"
	if err := s.c.Directory.SetServicePrincipalEnabled(r.Context(), a.Tenant.ID, app, enable); err != nil {
		s.fail(w, r, a, err)
		return
	}
	msg := "Application disabled: it can no longer get tokens in " + a.Tenant.Domain + "."
	if enable {
		msg = "Application enabled."
	}
	s.done(w, r, "/consents", msg)
}
