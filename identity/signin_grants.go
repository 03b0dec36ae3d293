package identity

import (
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
)

// userTokenV1 is the claim set of a v1.0 delegated (user) access token
// (§8.3 for the shared claims; access-token-claims-reference for scp, upn,
// unique_name and idtyp "user").
type userTokenV1 struct {
	Aud        string   `json:"aud"`
	Iss        string   `json:"iss"`
	Iat        int64    `json:"iat"`
	Nbf        int64    `json:"nbf"`
	Exp        int64    `json:"exp"`
	Acr        string   `json:"acr"`
	Amr        []string `json:"amr"`
	AppID      string   `json:"appid"`
	AppIDAcr   string   `json:"appidacr"`
	IDTyp      string   `json:"idtyp"`
	Name       string   `json:"name,omitempty"`
	Oid        string   `json:"oid"`
	Rh         string   `json:"rh"`
	Scp        string   `json:"scp"`
	Sub        string   `json:"sub"`
	Tid        string   `json:"tid"`
	UniqueName string   `json:"unique_name"`
	Upn        string   `json:"upn"`
	Uti        string   `json:"uti"`
	Ver        string   `json:"ver"`
}

// userTokenV2 is the claim set of a v2.0 delegated access token.
type userTokenV2 struct {
	Aud               string `json:"aud"`
	Iss               string `json:"iss"`
	Iat               int64  `json:"iat"`
	Nbf               int64  `json:"nbf"`
	Exp               int64  `json:"exp"`
	Azp               string `json:"azp"`
	AzpAcr            string `json:"azpacr"`
	IDTyp             string `json:"idtyp"`
	Name              string `json:"name,omitempty"`
	Oid               string `json:"oid"`
	PreferredUsername string `json:"preferred_username"`
	Rh                string `json:"rh"`
	Scp               string `json:"scp"`
	Sub               string `json:"sub"`
	Tid               string `json:"tid"`
	Uti               string `json:"uti"`
	Ver               string `json:"ver"`
}

// idTokenClaims is an ID token (§11.3; OpenID Connect Core 1.0 section 2):
// v2 from the v2 token endpoint, v1 (upn, unique_name, sts-style issuer)
// from the v1 endpoint. name, preferred_username and oid need the profile
// scope in v2, as in Entra.
type idTokenClaims struct {
	Aud               string   `json:"aud"`
	Iss               string   `json:"iss"`
	Iat               int64    `json:"iat"`
	Nbf               int64    `json:"nbf"`
	Exp               int64    `json:"exp"`
	AuthTime          int64    `json:"auth_time,omitempty"`
	Amr               []string `json:"amr,omitempty"`
	Name              string   `json:"name,omitempty"`
	Nonce             string   `json:"nonce,omitempty"`
	Oid               string   `json:"oid,omitempty"`
	PreferredUsername string   `json:"preferred_username,omitempty"`
	Rh                string   `json:"rh"`
	Sub               string   `json:"sub"`
	Tid               string   `json:"tid"`
	UniqueName        string   `json:"unique_name,omitempty"`
	Upn               string   `json:"upn,omitempty"`
	Uti               string   `json:"uti"`
	Ver               string   `json:"ver"`
}

// redeemedMarker marks the tombstone left in place of a redeemed
// authorization code (in the ChallengeMethod field, whose real values are
// "", "plain" and "S256"), so a second redemption is told AADSTS54005 and
// not just "invalid". It lives as long as the code would have.
const redeemedMarker = "redeemed"

// userGrant is what a code or refresh token grants.
type userGrant struct {
	tenantID string
	user     store.User
	scope    string // the authorization's scopes
	nonce    string
	authTime time.Time
}

// authorizationCode redeems an authorization code (RFC 6749 section 4.1.3,
// RFC 7636 section 4.5; §11.2). The client authenticates first, so a
// request without the client's credential cannot spend a code; then the
// code is deleted (single use) whatever the outcome.
func (s *Server) authorizationCode(w http.ResponseWriter, req *tokenRequest) {
	ctx, r := req.r.Context(), req.r
	code := req.form.Get("code")
	if code == "" {
		s.writeError(w, r, missingParam("code"))
		return
	}
	c, pt, e := s.grantClient(ctx, req)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	invalid := badRequest("invalid_grant", 70000, "Provided grant is invalid or malformed: the authorization code is not valid. Send a new interactive authorization request for this user and resource.")
	if len(code) > 512 {
		s.writeError(w, r, invalid)
		return
	}
	ac, err := s.store.RedeemAuthCode(ctx, s.secrets.Hash(code))
	if err != nil {
		s.writeError(w, r, s.storeErr(err, invalid))
		return
	}
	if err := s.store.CreateAuthCode(ctx, store.AuthCode{Hash: ac.Hash, ClientID: ac.ClientID, TenantID: ac.TenantID,
		UserID: ac.UserID, ChallengeMethod: redeemedMarker, ExpiresAt: ac.ExpiresAt}); err != nil && !errors.Is(err, store.ErrConflict) {
		s.log.Error("recording a redeemed code failed", "err", err)
	}
	if ac.ChallengeMethod == redeemedMarker {
		s.writeError(w, r, badRequest("invalid_grant", 54005, "OAuth2 Authorization code was already redeemed, please retry with a new valid code or use an existing refresh token."))
		return
	}
	verifier := req.form.Get("code_verifier")
	redirectURI := req.form.Get("redirect_uri")
	switch {
	case !strings.EqualFold(ac.ClientID, c.app.AppID):
		e = badRequest("invalid_grant", 70000, "Provided grant is invalid or malformed: the authorization code was issued to another client.")
	case !s.now().Before(ac.ExpiresAt):
		e = badRequest("invalid_grant", 70008, "The provided authorization code or refresh token has expired due to inactivity. Send a new interactive authorization request for this user and resource.")
	case pt != nil && pt.ID != ac.TenantID:
		e = badRequest("invalid_grant", 700005, "Provided Authorization Code is intended to use against other tenant, thus rejected.")
	case redirectURI == "":
		e = missingParam("redirect_uri")
	case redirectURI != ac.RedirectURI:
		e = badRequest("invalid_grant", 500112, "The reply address '%s' does not match the reply address '%s' provided when requesting Authorization code.", clip(redirectURI, 512), ac.RedirectURI)
	case ac.Challenge != "" && !verifyPKCE(ac.Challenge, ac.ChallengeMethod, verifier):
		e = badRequest("invalid_grant", 501481, "The Code_Verifier does not match the code_challenge supplied in the authorization request.")
	case ac.Challenge == "" && verifier != "":
		// OAuth 2.1 section 4.1.3: a verifier for a code issued without a
		// challenge is refused (PKCE downgrade). An empty one is accepted:
		// MSAL Go always sends the parameter (§11.2).
		e = badRequest("invalid_grant", 501481, "The Code_Verifier was sent but the authorization request had no code_challenge.")
	}
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	if c, e = s.clientIn(ctx, c, ac.TenantID); e != nil {
		s.writeError(w, r, e)
		return
	}
	u, e := s.grantUser(ctx, ac.UserID)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	tr, _, e := s.userTokens(ctx, req, c, userGrant{tenantID: ac.TenantID, user: u, scope: ac.Scope, nonce: ac.Nonce, authTime: ac.AuthTime})
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	s.tokenIssued("authorization_code", ac.TenantID)
	s.log.LogAttrs(ctx, -8, "token issued", slogStr("grant", "authorization_code"), slogStr("client_id", c.app.AppID), slogStr("tenant", ac.TenantID), slogStr("user", u.ObjectID))
	s.writeToken(w, tr)
}

// refreshToken redeems a refresh token (RFC 6749 section 6). Refresh tokens
// rotate: the one used is deleted and a new one returned; presenting an old
// one is invalid_grant. A request refused for its scope or resource gives
// the token back, so a typo does not sign the user out.
func (s *Server) refreshToken(w http.ResponseWriter, req *tokenRequest) {
	ctx, r := req.r.Context(), req.r
	rt := req.form.Get("refresh_token")
	if rt == "" {
		s.writeError(w, r, missingParam("refresh_token"))
		return
	}
	c, pt, e := s.grantClient(ctx, req)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	invalid := badRequest("invalid_grant", 70000, "Provided grant is invalid or malformed: the refresh token is not valid. Refresh tokens are single use: use the one returned with the last token, or sign the user in again.")
	if len(rt) > 512 {
		s.writeError(w, r, invalid)
		return
	}
	g, err := s.store.RedeemRefreshToken(ctx, s.secrets.Hash(rt))
	if err != nil {
		s.writeError(w, r, s.storeErr(err, invalid))
		return
	}
	switch {
	case !strings.EqualFold(g.ClientID, c.app.AppID):
		e = badRequest("invalid_grant", 70000, "Provided grant is invalid or malformed: the refresh token was issued to another client.")
	case !s.now().Before(g.ExpiresAt):
		e = badRequest("invalid_grant", 700082, "The refresh token has expired due to inactivity. The token was inactive for %s. Sign the user in again.", refreshLifetime)
	case pt != nil && pt.ID != g.TenantID:
		e = badRequest("invalid_grant", 700005, "Provided refresh token is intended to use against other tenant, thus rejected.")
	}
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	if c, e = s.clientIn(ctx, c, g.TenantID); e != nil {
		s.writeError(w, r, e)
		return
	}
	u, e := s.grantUser(ctx, g.UserID)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	tr, requestErr, e := s.userTokens(ctx, req, c, userGrant{tenantID: g.TenantID, user: u, scope: g.Scope, authTime: g.AuthTime})
	if e != nil {
		if requestErr {
			if err := s.store.CreateRefreshToken(ctx, g); err != nil {
				s.log.Error("restoring a refresh token failed", "err", err)
			}
		}
		s.writeError(w, r, e)
		return
	}
	s.tokenIssued("refresh_token", g.TenantID)
	s.log.LogAttrs(ctx, -8, "token issued", slogStr("grant", "refresh_token"), slogStr("client_id", c.app.AppID), slogStr("tenant", g.TenantID), slogStr("user", u.ObjectID))
	s.writeToken(w, tr)
}

// grantClient authenticates the client of a code or refresh token request
// (s.authenticateClient). On a tenant's endpoint the client's service
// principal must exist in that tenant, which is returned; on common and
// organizations the credential is checked in the app's home tenant and the
// grant's tenant is checked once known (clientIn).
func (s *Server) grantClient(ctx context.Context, req *tokenRequest) (*client, *store.Tenant, *Error) {
	switch req.seg {
	case segConsumers:
		return nil, nil, badRequest("invalid_request", 9002332, "This service has Microsoft Entra users only. Please do not use the /consumers endpoint to serve this request.")
	case segCommon, segOrganizations:
		id := req.form.Get("client_id")
		if u, _, ok := req.r.BasicAuth(); ok && id == "" {
			id, _ = url.QueryUnescape(u)
		}
		if id == "" {
			return nil, nil, missingParam("client_id")
		}
		if !directory.IsGUID(id) {
			return nil, nil, badRequest("unauthorized_client", 700038, "%s is not a valid application identifier.", clip(id, 64))
		}
		app, err := s.view.app(ctx, id)
		if err != nil {
			return nil, nil, s.storeErr(err, badRequest("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", id, req.seg))
		}
		home, err := s.view.tenant(ctx, app.HomeTenantID)
		if err != nil {
			return nil, nil, s.storeErr(err, nil)
		}
		c, e := s.authenticateClient(ctx, req, home)
		return c, nil, e
	}
	t, e := s.tenant(ctx, req.seg, "invalid_request")
	if e != nil {
		return nil, nil, e
	}
	c, e := s.authenticateClient(ctx, req, t)
	return c, &t, e
}

// clientIn returns the client as used in tenant tid: its service principal
// there must exist and be enabled (§8.5).
func (s *Server) clientIn(ctx context.Context, c *client, tid string) (*client, *Error) {
	if c.tenant.ID == tid {
		return c, nil
	}
	t, err := s.view.tenant(ctx, tid)
	if err != nil {
		return nil, s.storeErr(err, badRequest("invalid_grant", 70000, "Provided grant is invalid or malformed: its tenant no longer exists."))
	}
	sp, err := s.view.sp(ctx, tid, c.app.AppID)
	if err != nil {
		return nil, s.storeErr(err, badRequest("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", c.app.AppID, t.Domain))
	}
	if !sp.Enabled {
		return nil, badRequest("unauthorized_client", 7000112, "Application '%s'(%s) is disabled.", c.app.AppID, c.app.DisplayName)
	}
	return &client{app: c.app, sp: sp, tenant: t, acr: c.acr}, nil
}

// grantUser loads the user of a grant, who must still be allowed to sign in.
func (s *Server) grantUser(ctx context.Context, id string) (store.User, *Error) {
	u, err := s.store.User(ctx, id)
	if err != nil {
		return u, s.storeErr(err, badRequest("invalid_grant", 50034, "The user account of this grant does not exist in the directory anymore."))
	}
	if !u.Enabled {
		return u, badRequest("invalid_grant", 50057, "The user account is disabled.")
	}
	if s.refused[u.ObjectID] {
		return u, badRequest("invalid_grant", 50057, "The user account is a well-known dvs2s demo account, refused because the server listens beyond loopback.")
	}
	return u, nil
}

// pairwiseSub is the user's subject for one application: stable, and
// different per app (§11.3 "pairwise per app"), like Entra's 43-character
// sub.
func (s *Server) pairwiseSub(oid, appID string) string {
	return b64(s.secrets.Hash("sub\x00" + oid + "\x00" + strings.ToLower(appID)))
}

// userTokens builds the token response of a code or refresh grant (§11.2):
// an access token for the resource the request (or else the grant) names,
// an ID token with openid, a new refresh token with offline_access, and
// client_info when asked. requestErr reports that the error lies in the
// request's scope or resource rather than in the grant.
func (s *Server) userTokens(ctx context.Context, req *tokenRequest, c *client, g userGrant) (tr tokenResponse, requestErr bool, e *Error) {
	granted, _ := parseScopes(g.scope) // stored by this service
	gsi, _ := classifyScopes(granted)
	var rsi scopeInfo
	var requested []string
	if req.ver == 2 {
		if req.form.Has("resource") {
			return tr, true, badRequest("invalid_request", 901002, "The 'resource' request parameter isn't supported.")
		}
		if requested, e = parseScopes(req.form.Get("scope")); e != nil {
			return tr, true, e
		}
		if rsi, e = classifyScopes(requested); e != nil {
			return tr, true, e
		}
		if rsi.multi {
			return tr, true, badRequest("invalid_scope", 700022, "The provided value for the input parameter scope isn't valid because it contains more than one resource. Scope %s isn't valid.", clip(req.form.Get("scope"), 512))
		}
	} else {
		if requested, e = parseScopes(req.form.Get("scope")); e != nil {
			return tr, true, e
		}
		rsi = scopeInfo{oidc: map[string]bool{}}
		for _, sc := range requested {
			if oidcScopes[sc] {
				rsi.oidc[sc] = true
			}
		}
		if res := req.form.Get("resource"); res != "" {
			if !validResource(res) {
				return tr, true, badRequest("invalid_resource", 50001, "The resource '%s' is not a valid resource identifier (an absolute URI or an application id).", clip(res, 256))
			}
			rsi.resource, rsi.names, rsi.raw = res, []string{".default"}, []string{res + "/.default"}
		}
	}
	oidc := map[string]bool{}
	for k := range gsi.oidc {
		oidc[k] = true
	}
	for k := range rsi.oidc {
		oidc[k] = true
	}
	if req.ver == 1 {
		// The v1 endpoint has no OpenID Connect scopes: it always returns
		// an ID token and a refresh token with a code or refresh grant.
		oidc["openid"], oidc["offline_access"] = true, true
	}
	si := rsi
	if si.resource == "" {
		si = gsi
	}
	t, err := s.view.tenant(ctx, g.tenantID)
	if err != nil {
		return tr, false, s.storeErr(err, badRequest("invalid_grant", 70000, "Provided grant is invalid or malformed: its tenant no longer exists."))
	}
	u := g.user
	now := s.now()
	iat, exp := now.Add(-backdate).Unix(), now.Add(s.lifetime).Unix()
	sub := s.pairwiseSub(u.ObjectID, c.app.AppID)
	var claims any
	v1 := false
	var respScope []string
	aud := ""
	if si.resource != "" {
		tg, e := s.resolveResource(ctx, t, si.resource)
		if e != nil {
			return tr, true, e
		}
		scp := scpOf(si.names)
		if tg.version != 2 {
			v1 = true
			claims = userTokenV1{Aud: tg.aud, Iss: s.issuerV1(t.ID), Iat: iat, Nbf: iat, Exp: exp, Acr: "1", Amr: []string{"pwd"},
				AppID: c.app.AppID, AppIDAcr: c.acr, IDTyp: "user", Name: u.DisplayName, Oid: u.ObjectID, Rh: newRH(), Scp: scp,
				Sub: sub, Tid: t.ID, UniqueName: u.UPN, Upn: u.UPN, Uti: newUTI(), Ver: "1.0"}
		} else {
			claims = userTokenV2{Aud: tg.appID, Iss: s.issuerV2(t.ID), Iat: iat, Nbf: iat, Exp: exp, Azp: c.app.AppID, AzpAcr: c.acr,
				IDTyp: "user", Name: u.DisplayName, Oid: u.ObjectID, PreferredUsername: u.UPN, Rh: newRH(), Scp: scp,
				Sub: sub, Tid: t.ID, Uti: newUTI(), Ver: "2.0"}
		}
		aud = tg.aud
		if req.ver == 1 {
			respScope = []string{scp}
		} else {
			respScope = si.raw
		}
	} else {
		// Only OpenID Connect scopes: Entra issues a Microsoft Graph token
		// here (aud 00000003-0000-0000-c000-000000000000). This service does
		// not emulate Graph, so the access token is for the client itself,
		// a v2 token whose audience is its application id. We knowingly
		// differ; such a token is only good for the client's own API.
		var scp []string
		for _, sc := range []string{"openid", "profile", "email"} {
			if oidc[sc] {
				scp = append(scp, sc)
			}
		}
		claims = userTokenV2{Aud: c.app.AppID, Iss: s.issuerV2(t.ID), Iat: iat, Nbf: iat, Exp: exp, Azp: c.app.AppID, AzpAcr: c.acr,
			IDTyp: "user", Name: u.DisplayName, Oid: u.ObjectID, PreferredUsername: u.UPN, Rh: newRH(), Scp: strings.Join(scp, " "),
			Sub: sub, Tid: t.ID, Uti: newUTI(), Ver: "2.0"}
		aud = c.app.AppID
	}
	at, err := s.keys.sign(claims, v1)
	if err != nil {
		s.log.Error("signing failed", "err", err)
		return tr, false, newErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
	}
	tr = s.newTokenResponse(req.ver, now, aud)
	tr.AccessToken = at
	for _, sc := range []string{"openid", "profile", "email", "offline_access"} {
		if oidc[sc] && req.ver == 2 {
			respScope = append(respScope, sc)
		}
	}
	tr.Scope = strings.Join(respScope, " ")
	if oidc["openid"] {
		if tr.IDToken, err = s.idToken(req.ver, c.app.AppID, t.ID, u, sub, g, oidc["profile"], now); err != nil {
			s.log.Error("signing failed", "err", err)
			return tr, false, newErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
		}
	}
	if oidc["offline_access"] {
		// The new token carries the authorization plus the OpenID Connect
		// scopes this request added (MSAL appends them on every request).
		scopes := granted
		for _, sc := range []string{"openid", "profile", "email", "offline_access"} {
			if oidc[sc] && !slices.Contains(scopes, sc) {
				scopes = append(slices.Clip(scopes), sc)
			}
		}
		tok := secret.NewToken()
		if err := s.store.CreateRefreshToken(ctx, store.RefreshToken{Hash: s.secrets.Hash(tok), ClientID: c.app.AppID, TenantID: t.ID,
			UserID: u.ObjectID, Scope: strings.Join(scopes, " "), AuthTime: g.authTime, ExpiresAt: now.Add(refreshLifetime)}); err != nil {
			return tr, false, s.storeErr(err, nil)
		}
		tr.RefreshToken = tok
	}
	if req.form.Get("client_info") == "1" {
		ci, _ := json.Marshal(map[string]string{"uid": u.ObjectID, "utid": t.ID})
		tr.ClientInfo = b64(ci)
	}
	return tr, false, nil
}

// scpOf is the scp claim for a resource's requested permissions. This
// service has no delegated permission model: ".default" (all consented
// permissions) is "user_impersonation", the usual delegated permission of
// an API (and Dataverse's only one).
func scpOf(names []string) string {
	var out []string
	for _, n := range names {
		if n == ".default" {
			n = "user_impersonation"
		}
		if !slices.Contains(out, n) {
			out = append(out, n)
		}
	}
	return strings.Join(out, " ")
}

// idToken signs an ID token for u (§11.3).
func (s *Server) idToken(ver int, clientID, tid string, u store.User, sub string, g userGrant, profile bool, now time.Time) (string, error) {
	iat := now.Add(-backdate).Unix()
	c := idTokenClaims{Aud: clientID, Iat: iat, Nbf: iat, Exp: now.Add(time.Hour).Unix(), Nonce: g.nonce,
		Rh: newRH(), Sub: sub, Tid: tid, Uti: newUTI()}
	if !g.authTime.IsZero() {
		c.AuthTime = g.authTime.Unix()
	}
	if ver == 1 {
		c.Iss, c.Ver = s.issuerV1(tid), "1.0"
		c.Amr, c.Name, c.Oid, c.UniqueName, c.Upn = []string{"pwd"}, u.DisplayName, u.ObjectID, u.UPN, u.UPN
	} else {
		c.Iss, c.Ver = s.issuerV2(tid), "2.0"
		if profile {
			c.Name, c.Oid, c.PreferredUsername = u.DisplayName, u.ObjectID, u.UPN
		}
	}
	return s.keys.sign(c, ver == 1)
}
