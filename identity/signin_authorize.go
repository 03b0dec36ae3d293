package identity

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
)

// browserParams reads a browser request: the protocol parameters and, for a
// post of one of this service's own forms (marked by dvs2s_form), the form.
// A post without the marker is an authorization request sent by POST
// (OpenID Connect Core 1.0 section 3.1.2.1), its parameters in the body.
func (s *Server) browserParams(w http.ResponseWriter, r *http.Request) (params, form url.Values, e *Error) {
	if r.Method != http.MethodPost {
		return r.URL.Query(), nil, nil
	}
	r.Body = http.MaxBytesReader(w, r.Body, maxFormBody)
	if err := r.ParseForm(); err != nil {
		return nil, nil, badRequest("invalid_request", 90023, "The request is not valid: the form could not be read as application/x-www-form-urlencoded.")
	}
	if r.PostForm.Has("dvs2s_form") {
		return r.URL.Query(), r.PostForm, nil
	}
	params = r.URL.Query()
	for k, v := range r.PostForm {
		params[k] = append(v, params[k]...)
	}
	return params, nil, nil
}

// authorize serves the authorization endpoint, v2 /{tenant}/oauth2/v2.0/authorize
// and v1 /{tenant}/oauth2/authorize: the authorization code flow (RFC 6749
// section 4.1) with PKCE (RFC 7636) and OpenID Connect (Core 1.0 section
// 3.1), parameters and responses as §11.1.
//
// The user signs in on this service's own page, once per browser session.
// With common or organizations, the user's home tenant is the tenant of the
// code. Errors about the client or its redirect URI are shown on a page and
// never redirected; others go to the redirect URI.
//
// Where Entra and this service differ on purpose:
//   - a single-tenant app may be used through common/organizations (Entra
//     refuses apps created after 2018 there, AADSTS50194); a user of another
//     tenant is then refused with AADSTS50020;
//   - user consent: a multi-tenant app without a service principal in the
//     user's tenant is shown to a tenant administrator as a consent page
//     whose approval is admin consent (creates the service principal, as
//     directory.GrantAdminConsent); other users get AADSTS90094 "admin
//     consent required", as in an Entra tenant where user consent is
//     disabled. This service keeps no per-user delegated grants, so once the
//     service principal exists nobody is asked again (prompt=consent shows
//     nothing more);
//   - there is no account picker: prompt=select_account continues with the
//     session's account; "Sign in with a different account" is
//     prompt=login.
func (s *Server) authorize(ver int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		params, form, e := s.browserParams(w, r)
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		p, perr, redirectable := parseAuthorize(params, ver)
		if perr != nil && !redirectable {
			s.showError(w, r, perr, nil)
			return
		}
		seg := strings.ToLower(r.PathValue("tenant"))
		app, e := s.browserApp(ctx, p.ClientID, seg)
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		if !redirectRegistered(app.RedirectURIs, p.RedirectURI, false) {
			s.showError(w, r, badRequest("invalid_request", 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application registration.", clip(p.RedirectURI, 512), app.AppID), nil)
			return
		}
		pathTenant, e := s.pathTenant(ctx, seg, app)
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		fail := func(e *Error) { s.respondError(w, r, p.RedirectURI, p.ResponseMode, p.State, e) }
		if perr != nil {
			fail(perr)
			return
		}
		c := &signInCtx{
			params: params, form: form, pathTenant: pathTenant, app: app,
			prompt: p.Prompt, maxAge: p.MaxAge, loginHint: p.LoginHint,
			redirectOrigin: cspOrigin(p.RedirectURI),
			heading:        "Sign in",
			promptNone:     fail,
		}
		who := s.signInStep(w, r, c)
		if who == nil {
			return
		}
		u := who.user
		if !app.MultiTenant() && u.TenantID != app.HomeTenantID {
			home := s.tenantName(ctx, app.HomeTenantID)
			e := badRequest("interaction_required", 50020, "User account '%s' from identity provider '%s' does not exist in tenant '%s' and cannot access the application '%s'(%s) in that tenant. The account needs to be added as an external user in the tenant first. Sign out and sign in again with a different Microsoft Entra user account.",
				u.UPN, s.issuerV2(u.TenantID), home, app.AppID, app.DisplayName)
			if p.Prompt == "none" {
				fail(e)
				return
			}
			s.signInPage(w, r, c, http.StatusOK, &page{FormError: "AADSTS50020: " + e.Msg})
			return
		}
		sp, err := s.store.ServicePrincipal(ctx, u.TenantID, app.AppID)
		switch {
		case err == nil && !sp.Enabled:
			fail(badRequest("unauthorized_client", 7000112, "Application '%s'(%s) is disabled.", app.AppID, app.DisplayName))
			return
		case err == nil:
			if c.action == "cancel" {
				fail(newErr(http.StatusBadRequest, "access_denied", 65004, "The user declined to consent to access the app."))
				return
			}
		case errors.Is(err, store.ErrNotFound):
			if !s.consentStep(w, r, c, who, p, fail) {
				return
			}
		default:
			s.unavailable(w, r, err)
			return
		}
		code, err := s.issueCode(ctx, p, app, who)
		if err != nil {
			s.unavailable(w, r, err)
			return
		}
		s.log.LogAttrs(ctx, -8, "authorization code issued", slogStr("client_id", app.AppID), slogStr("tenant", u.TenantID), slogStr("user", u.ObjectID))
		resp := [][2]string{{"code", code}}
		if p.State != "" {
			resp = append(resp, [2]string{"state", p.State})
		}
		s.respond(w, r, p.RedirectURI, p.ResponseMode, resp)
	}
}

// consentStep handles a multi-tenant app without a service principal in the
// user's tenant (see authorize for the policy). It reports whether the
// service principal now exists; if not, it has answered the request.
func (s *Server) consentStep(w http.ResponseWriter, r *http.Request, c *signInCtx, who *signedIn, p authzParams, fail func(*Error)) bool {
	ctx := r.Context()
	u := who.user
	needAdmin := newErr(http.StatusForbidden, "access_denied", 90094, "Admin consent is required: %s needs permission to access resources in your organization that only an admin can grant. Please ask an admin to grant permission to this app before you can use it.", c.app.DisplayName)
	switch {
	case c.action == "cancel" && !u.Admin:
		fail(needAdmin)
		return false
	case c.action == "cancel":
		fail(newErr(http.StatusBadRequest, "access_denied", 65004, "The user declined to consent to access the app."))
		return false
	case !u.Admin && p.Prompt == "none":
		fail(needAdmin)
		return false
	case !u.Admin:
		s.showError(w, r, needAdmin, &page{Heading: "Need admin approval", Action: c.formURL(r), CSRF: s.csrfToken(w, r), OtherAccountURL: c.otherAccountURL(r)})
		return false
	case c.action == "approve":
		if _, err := s.dir.GrantAdminConsent(ctx, u.TenantID, c.app.AppID); err != nil {
			s.unavailable(w, r, err)
			return false
		}
		s.log.LogAttrs(ctx, slog.LevelInfo, "admin consent granted", slogStr("client_id", c.app.AppID), slogStr("tenant", u.TenantID), slogStr("admin", u.ObjectID))
		return true
	case p.Prompt == "none":
		e := badRequest("consent_required", 65001, "The user or administrator has not consented to use the application with ID '%s' named '%s'. Send an interactive authorization request for this user and resource.", c.app.AppID, c.app.DisplayName)
		fail(e)
		return false
	}
	si, _ := classifyScopes(p.Scopes)
	s.consentPage(w, r, c, who, "Permissions requested", "This application would like to:", consentPermissions(si, p.Resource))
	return false
}

// consentPermissions describes requested scopes in words.
func consentPermissions(si scopeInfo, v1Resource string) []string {
	var out []string
	if si.oidc["openid"] || si.oidc["profile"] || si.oidc["email"] {
		out = append(out, "Sign you in and read your profile")
	}
	if si.oidc["offline_access"] {
		out = append(out, "Maintain access to data you have given it access to")
	}
	if si.resource != "" {
		out = append(out, "Access "+si.resource+" as you ("+strings.Join(si.names, ", ")+")")
	}
	if v1Resource != "" {
		out = append(out, "Access "+v1Resource+" as you")
	}
	return out
}

// issueCode stores a new authorization code (only its keyed hash) and
// returns it.
func (s *Server) issueCode(ctx context.Context, p authzParams, app store.App, who *signedIn) (string, error) {
	scope := strings.Join(p.Scopes, " ")
	if p.Resource != "" {
		// v1: the resource travels in the code as its .default scope.
		scope = strings.TrimSpace(scope + " " + p.Resource + "/.default")
	}
	code := secret.NewToken()
	now := s.now()
	err := s.store.CreateAuthCode(ctx, store.AuthCode{
		Hash: s.secrets.Hash(code), ClientID: app.AppID, TenantID: who.user.TenantID, UserID: who.user.ObjectID,
		RedirectURI: p.RedirectURI, Scope: scope, Nonce: p.Nonce, Challenge: p.Challenge, ChallengeMethod: p.Method,
		AuthTime: who.authTime, ExpiresAt: now.Add(codeLifetime),
	})
	return code, err
}

// browserApp finds the client application of a browser request; an unknown
// one is AADSTS700016, shown on a page.
func (s *Server) browserApp(ctx context.Context, clientID, seg string) (store.App, *Error) {
	app, err := s.view.app(ctx, clientID)
	if err != nil {
		return app, s.storeErr(err, badRequest("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, clip(seg, 256)))
	}
	return app, nil
}

// pathTenant resolves the tenant segment of a browser endpoint: nil for
// common and organizations (the user's tenant decides), the tenant
// otherwise. consumers has no users here. A single-tenant app addressed
// through a foreign tenant is AADSTS700016 before anyone signs in.
func (s *Server) pathTenant(ctx context.Context, seg string, app store.App) (*store.Tenant, *Error) {
	switch seg {
	case segCommon, segOrganizations:
		return nil, nil
	case segConsumers:
		return nil, badRequest("invalid_request", 9002332, "Application '%s'(%s) is configured for use by Microsoft Entra users only. Please do not use the /consumers endpoint to serve this request.", app.AppID, app.DisplayName)
	}
	t, e := s.tenant(ctx, seg, "invalid_request")
	if e != nil {
		return nil, e
	}
	if !app.MultiTenant() && app.HomeTenantID != t.ID {
		return nil, badRequest("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", app.AppID, t.Domain)
	}
	return &t, nil
}

// tenantName is a tenant's domain for messages.
func (s *Server) tenantName(ctx context.Context, id string) string {
	if t, err := s.view.tenant(ctx, id); err == nil {
		return t.Domain
	}
	return id
}

// unavailable answers a store failure with a 503 page (never a 500 with
// internals).
func (s *Server) unavailable(w http.ResponseWriter, r *http.Request, err error) {
	if r.Context().Err() == nil {
		s.log.Error("identity store failed", "path", r.URL.Path, "err", err)
	}
	s.showError(w, r, newErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."), nil)
}

// signInCtx is what the shared sign-in step needs to know about the
// request it serves.
type signInCtx struct {
	params         url.Values // the protocol request, re-sent with every form
	form           url.Values // a posted form of this service, or nil
	action         string     // the form's dvs2s_form value
	pathTenant     *store.Tenant
	app            store.App
	prompt         string
	maxAge         int
	loginHint      string
	redirectOrigin string
	heading, intro string
	promptNone     func(*Error) // answers prompt=none when interaction is needed
}

// formURL is where this request's forms post: the same endpoint with the
// same protocol parameters.
func (c *signInCtx) formURL(r *http.Request) string {
	return r.URL.EscapedPath() + "?" + c.params.Encode()
}

// otherAccountURL restarts the request with prompt=login.
func (c *signInCtx) otherAccountURL(r *http.Request) string {
	q := url.Values{}
	for k, v := range c.params {
		q[k] = v
	}
	q.Set("prompt", "login")
	return r.URL.EscapedPath() + "?" + q.Encode()
}

// signInStep authenticates the browser's user for authorize and admin
// consent: a posted sign-in form, or the session, re-asking for the password
// when prompt=login, max_age, login_hint or the tenant in the path demand
// it. It returns nil once it has answered the request itself (the sign-in
// page, an error).
func (s *Server) signInStep(w http.ResponseWriter, r *http.Request, c *signInCtx) *signedIn {
	ctx := r.Context()
	if c.form != nil {
		c.action = c.form.Get("dvs2s_form")
	}
	switch c.action {
	case "signin":
		if !s.checkCSRF(r) {
			s.signInPage(w, r, c, http.StatusBadRequest, &page{Login: clip(c.form.Get("login"), maxHint),
				FormError: "This sign-in page expired or your browser blocked its cookie. Please sign in again."})
			return nil
		}
		login := c.form.Get("login")
		u, f, err := s.checkPassword(ctx, login, c.form.Get("passwd"))
		if err != nil {
			s.unavailable(w, r, err)
			return nil
		}
		if f == nil && c.pathTenant != nil && u.TenantID != c.pathTenant.ID {
			f = &signInFailure{loginErr: "This account does not exist in the " + c.pathTenant.Domain + " directory. Sign in with an account of that organization (AADSTS50034).", code: 50034}
		}
		if f != nil {
			s.log.LogAttrs(ctx, slog.LevelInfo, "sign-in failed", slogInt("aadsts", f.code), slogStr("correlation_id", correlationID(r)))
			s.signInPage(w, r, c, http.StatusOK, &page{Login: clip(login, maxHint), LoginError: f.loginErr, PasswordError: f.passwordErr, FormError: f.formErr})
			return nil
		}
		who, err := s.startSession(ctx, w, r, u)
		if err != nil {
			s.unavailable(w, r, err)
			return nil
		}
		return who
	case "", "approve", "cancel":
	default:
		s.showError(w, r, badRequest("invalid_request", 90023, "The request is not valid: unknown form."), nil)
		return nil
	}
	if c.action != "" && !s.checkCSRF(r) {
		s.showError(w, r, badRequest("invalid_request", 90023, "This page expired or your browser blocked its cookie. Go back to the application and try again."), nil)
		return nil
	}
	who, err := s.session(ctx, r)
	if err != nil {
		s.unavailable(w, r, err)
		return nil
	}
	pg := &page{Login: c.loginHint}
	need := who == nil
	if who != nil && c.action == "" {
		// Demands of the request; a posted consent form was shown to this
		// session's user after they were met.
		switch {
		case c.prompt == "login":
			need, pg.Login = true, who.user.UPN
		case c.maxAge >= 0 && s.now().Sub(who.authTime).Seconds() > float64(c.maxAge):
			need, pg.Login = true, who.user.UPN
		case c.loginHint != "" && !strings.EqualFold(c.loginHint, who.user.UPN):
			need = true
		}
	}
	if who != nil && !need && c.pathTenant != nil && who.user.TenantID != c.pathTenant.ID {
		need = true
		pg.FormError = "You are signed in as " + who.user.UPN + ", which is not an account of the " + c.pathTenant.Domain + " directory. Sign in with an account of that organization."
	}
	if !need {
		return who
	}
	if c.prompt == "none" {
		c.promptNone(badRequest("login_required", 50058, "A silent sign-in request was sent but no user is signed in, or the signed-in user does not match the request."))
		return nil
	}
	if c.action != "" {
		pg.FormError = "Your session ended. Please sign in again."
	}
	s.signInPage(w, r, c, http.StatusOK, pg)
	return nil
}

// signInPage renders the sign-in form.
func (s *Server) signInPage(w http.ResponseWriter, r *http.Request, c *signInCtx, status int, p *page) {
	p.Title = "Sign in"
	p.Heading, p.Intro, p.AppName = c.heading, c.intro, c.app.DisplayName
	p.Action = c.formURL(r)
	p.CSRF = s.csrfToken(w, r)
	s.render(w, r, status, "signin", p, c.redirectOrigin)
}

// consentPage renders the consent form: the application, its publisher
// tenant and client id, and what it asks for.
func (s *Server) consentPage(w http.ResponseWriter, r *http.Request, c *signInCtx, who *signedIn, heading, intro string, perms []string) {
	p := &page{Title: heading, Heading: heading, Intro: intro, Permissions: perms,
		AppName: c.app.DisplayName, Publisher: s.tenantName(r.Context(), c.app.HomeTenantID), ClientID: c.app.AppID,
		TenantName: s.tenantName(r.Context(), who.user.TenantID), UserUPN: who.user.UPN,
		Action: c.formURL(r), CSRF: s.csrfToken(w, r), OtherAccountURL: c.otherAccountURL(r)}
	s.render(w, r, http.StatusOK, "consent", p, c.redirectOrigin)
}
