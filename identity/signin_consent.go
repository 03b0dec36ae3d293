package identity

import (
	"log/slog"
	"net/http"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
)

// adminConsent serves the admin consent endpoints, v1 /{tenant}/adminconsent
// (§10.1) and v2 /{tenant}/v2.0/adminconsent (§10.2): a tenant
// administrator signs in (the sign-in page and session of authorize), sees
// the application (name, publisher tenant, client id, permissions) and
// accepts or cancels with a form post. Accepting creates the application's
// service principal in the administrator's tenant
// (directory.GrantAdminConsent), after which client credentials work there.
//
// With common or organizations the administrator's tenant consents. The
// redirect URI must be registered for the app; v1 allows extra path
// segments (§10.1), v2 requires an exact match (§10.2).
//
// Responses to the redirect URI (query):
//   - accepted: v1 tenant, state, admin_consent=True; v2 admin_consent=True,
//     tenant, scope, state;
//   - cancelled: v1 error=permission_denied, "The admin canceled the
//     request" (§10.1); v2 error=access_denied with AADSTS65004 (§10.2's
//     example shows error=consent_required with admin_consent=True; we send
//     the OAuth access_denied without admin_consent, which is what a
//     refusal means to a client);
//   - a user who is not an administrator sees AADSTS90094 on a page, and
//     may return to the app with error=access_denied (AADSTS90094).
func (s *Server) adminConsent(ver int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ctx := r.Context()
		params, form, e := s.browserParams(w, r)
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		for _, n := range []string{"client_id", "redirect_uri", "state", "scope", "prompt"} {
			if len(params[n]) > 1 {
				s.showError(w, r, badRequest("invalid_request", 90023, "The request is not valid: the parameter '%s' is included more than once.", n), nil)
				return
			}
		}
		clientID := strings.ToLower(strings.TrimSpace(params.Get("client_id")))
		redirectURI := params.Get("redirect_uri")
		switch {
		case clientID == "":
			e = missingParam("client_id")
		case !directory.IsGUID(clientID):
			e = badRequest("unauthorized_client", 700038, "%s is not a valid application identifier.", clip(clientID, 64))
		case redirectURI == "":
			e = badRequest("invalid_request", 900971, "No reply address provided.")
		}
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		seg := strings.ToLower(r.PathValue("tenant"))
		app, e := s.browserApp(ctx, clientID, seg)
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		if len(redirectURI) > maxRedirectURI || !redirectRegistered(app.RedirectURIs, redirectURI, ver == 1) {
			s.showError(w, r, badRequest("invalid_request", 50011, "The redirect URI '%s' specified in the request does not match the redirect URIs configured for the application '%s'. Make sure the redirect URI sent in the request matches one added to your application registration.", clip(redirectURI, 512), app.AppID), nil)
			return
		}
		pathTenant, e := s.pathTenant(ctx, seg, app)
		if e != nil {
			s.showError(w, r, e, nil)
			return
		}
		state := params.Get("state")
		if len(state) > maxState {
			state = ""
		}
		fail := func(e *Error) { s.respondError(w, r, redirectURI, "query", state, e) }
		scope := params.Get("scope")
		var scopes []string
		if ver == 2 {
			if strings.TrimSpace(scope) == "" {
				fail(missingParam("scope"))
				return
			}
			if scopes, e = parseScopes(scope); e != nil {
				fail(e)
				return
			}
		}
		prompt, e := parsePrompt(params.Get("prompt"))
		if e != nil {
			fail(e)
			return
		}
		c := &signInCtx{
			params: params, form: form, pathTenant: pathTenant, app: app,
			prompt: prompt, maxAge: -1, loginHint: strings.TrimSpace(params.Get("login_hint")),
			redirectOrigin: cspOrigin(redirectURI),
			heading:        "Sign in as an administrator",
			intro:          "An administrator of your organization must approve " + app.DisplayName + " before it can be used there.",
			promptNone:     fail,
		}
		if len(c.loginHint) > maxHint {
			c.loginHint = ""
		}
		who := s.signInStep(w, r, c)
		if who == nil {
			return
		}
		u := who.user
		if !app.MultiTenant() && u.TenantID != app.HomeTenantID {
			s.showError(w, r, badRequest("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s': it is a single-tenant application of another organization and cannot be consented to here.", app.AppID, s.tenantName(ctx, u.TenantID)),
				&page{OtherAccountURL: c.otherAccountURL(r)})
			return
		}
		if !u.Admin {
			e := newErr(http.StatusForbidden, "access_denied", 90094, "Admin consent is required: %s needs permission to access resources in your organization that only an admin can grant. Sign in with an administrator account of your organization to grant it.", app.DisplayName)
			if c.action == "cancel" {
				fail(e)
				return
			}
			s.showError(w, r, e, &page{Heading: "Need admin approval", Action: c.formURL(r), CSRF: s.csrfToken(w, r), OtherAccountURL: c.otherAccountURL(r)})
			return
		}
		switch c.action {
		case "approve":
			if _, err := s.dir.GrantAdminConsent(ctx, u.TenantID, app.AppID); err != nil {
				s.unavailable(w, r, err)
				return
			}
			s.log.LogAttrs(ctx, slog.LevelInfo, "admin consent granted", slogStr("client_id", app.AppID), slogStr("tenant", u.TenantID), slogStr("admin", u.ObjectID))
			var resp [][2]string
			if ver == 1 {
				resp = [][2]string{{"tenant", u.TenantID}}
				if state != "" {
					resp = append(resp, [2]string{"state", state})
				}
				resp = append(resp, [2]string{"admin_consent", "True"})
			} else {
				resp = [][2]string{{"admin_consent", "True"}, {"tenant", u.TenantID}, {"scope", strings.Join(scopes, " ")}}
				if state != "" {
					resp = append(resp, [2]string{"state", state})
				}
			}
			s.respond(w, r, redirectURI, "query", resp)
			return
		case "cancel":
			if ver == 1 {
				// §10.1: the plain message, no AADSTS code.
				params := [][2]string{{"error", "permission_denied"}, {"error_description", "The admin canceled the request"}}
				if state != "" {
					params = append(params, [2]string{"state", state})
				}
				s.respond(w, r, redirectURI, "query", params)
				return
			}
			fail(newErr(http.StatusBadRequest, "access_denied", 65004, "The resource owner or authorization server denied the request."))
			return
		}
		perms := []string{"All the application permissions (app roles) " + app.DisplayName + " requests, for your whole organization"}
		if ver == 2 {
			perms = nil
			for _, sc := range scopes {
				perms = append(perms, sc)
			}
		}
		s.consentPage(w, r, c, who, "Permissions requested — accept for your organization",
			app.DisplayName+" asks an administrator of your organization to grant:", perms)
	}
}
