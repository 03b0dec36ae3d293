package identity

import (
	"context"
	"errors"
	"net/http"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/store"
)

// appTokenV1 is the claim set of a v1.0 app-only access token (§8.3).
type appTokenV1 struct {
	Aud      string `json:"aud"`
	Iss      string `json:"iss"`
	Iat      int64  `json:"iat"`
	Nbf      int64  `json:"nbf"`
	Exp      int64  `json:"exp"`
	AppID    string `json:"appid"`
	AppIDAcr string `json:"appidacr"`
	Idp      string `json:"idp"`
	IDTyp    string `json:"idtyp"`
	Oid      string `json:"oid"`
	Rh       string `json:"rh"`
	Sub      string `json:"sub"`
	Tid      string `json:"tid"`
	Uti      string `json:"uti"`
	Ver      string `json:"ver"`
}

// appTokenV2 is the claim set of a v2.0 app-only access token (§8.3).
type appTokenV2 struct {
	Aud    string `json:"aud"`
	Iss    string `json:"iss"`
	Iat    int64  `json:"iat"`
	Nbf    int64  `json:"nbf"`
	Exp    int64  `json:"exp"`
	Azp    string `json:"azp"`
	AzpAcr string `json:"azpacr"`
	IDTyp  string `json:"idtyp"`
	Oid    string `json:"oid"`
	Rh     string `json:"rh"`
	Sub    string `json:"sub"`
	Tid    string `json:"tid"`
	Uti    string `json:"uti"`
	Ver    string `json:"ver"`
}

// target is the resource a token is for.
type target struct {
	aud     string // v1 audience: the identifier as requested
	appID   string // v2 audience: the resource's application id
	version int    // token version the resource accepts
}

// clientCredentials implements the client credentials grant (RFC 6749
// section 4.4; Entra: v2-oauth2-client-creds-grant-flow, §6, §7): the app
// gets an app-only token as its service principal in the tenant.
func (s *Server) clientCredentials(w http.ResponseWriter, req *tokenRequest) {
	ctx, r := req.r.Context(), req.r
	if isMultiTenantSeg(req.seg) {
		s.writeError(w, r, badRequest("invalid_request", 9001023, "The grant type isn't supported over the /common or /consumers endpoints. Please use the /organizations or tenant-specific endpoint."))
		return
	}
	t, e := s.tenant(ctx, req.seg, "invalid_request")
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	ident, e := s.requestedResource(req)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	c, e := s.authenticateClient(ctx, req, t)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	tg, e := s.resolveResource(ctx, t, ident)
	if e != nil {
		s.writeError(w, r, e)
		return
	}
	now := s.now()
	var claims any
	v1 := tg.version != 2
	if v1 {
		claims = appTokenV1{Aud: tg.aud, Iss: s.issuerV1(t.ID), Iat: now.Add(-backdate).Unix(), Nbf: now.Add(-backdate).Unix(),
			Exp: now.Add(s.lifetime).Unix(), AppID: c.app.AppID, AppIDAcr: c.acr, Idp: s.issuerV1(t.ID), IDTyp: "app",
			Oid: c.sp.ObjectID, Rh: newRH(), Sub: c.sp.ObjectID, Tid: t.ID, Uti: newUTI(), Ver: "1.0"}
	} else {
		claims = appTokenV2{Aud: tg.appID, Iss: s.issuerV2(t.ID), Iat: now.Add(-backdate).Unix(), Nbf: now.Add(-backdate).Unix(),
			Exp: now.Add(s.lifetime).Unix(), Azp: c.app.AppID, AzpAcr: c.acr, IDTyp: "app",
			Oid: c.sp.ObjectID, Rh: newRH(), Sub: c.sp.ObjectID, Tid: t.ID, Uti: newUTI(), Ver: "2.0"}
	}
	at, err := s.keys.sign(claims, v1)
	if err != nil {
		s.log.Error("signing failed", "err", err)
		s.writeError(w, r, newErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again."))
		return
	}
	tr := s.newTokenResponse(req.ver, now, tg.aud)
	tr.AccessToken = at
	s.tokenIssued("client_credentials", t.ID)
	s.log.LogAttrs(ctx, -8, "token issued", slogStr("grant", "client_credentials"), slogStr("client_id", c.app.AppID), slogStr("tenant", t.ID), slogStr("aud", tg.aud))
	s.writeToken(w, tr)
}

// oidcScopes are the OpenID Connect scopes MSAL appends to every request;
// they do not name a resource (§6.3).
var oidcScopes = map[string]bool{"openid": true, "offline_access": true, "profile": true, "email": true}

// requestedResource returns the resource identifier of a client-credentials
// request: v2 from scope "<resource>/.default", v1 from resource (§6.3).
func (s *Server) requestedResource(req *tokenRequest) (string, *Error) {
	if req.ver == 1 {
		res := req.form.Get("resource")
		if res == "" {
			return "", missingParam("resource")
		}
		return res, nil
	}
	if req.form.Has("resource") {
		return "", badRequest("invalid_request", 901002, "The 'resource' request parameter isn't supported.")
	}
	scope := req.form.Get("scope")
	if scope == "" {
		return "", missingParam("scope")
	}
	var res []string
	for _, sc := range strings.Fields(scope) {
		if !oidcScopes[strings.ToLower(sc)] {
			res = append(res, sc)
		}
	}
	if len(res) == 0 {
		return "", badRequest("invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", scope)
	}
	var ident string
	for i, sc := range res {
		id, ok := strings.CutSuffix(sc, "/.default")
		if !ok {
			if i > 0 {
				return "", badRequest("invalid_scope", 70011, "The provided value for the input parameter 'scope' isn't valid. The scope %s isn't valid. static scope limit exceeded.", scope)
			}
			return "", badRequest("invalid_scope", 1002012, "The provided value for scope %s is not valid. Client credential flows must have a scope value with /.default suffixed to the resource identifier (application ID URI).", sc)
		}
		if id == "" {
			return "", badRequest("invalid_scope", 700023, "The provided value for the input parameter 'scope' isn't valid because it contains no resource. The scope %s isn't valid.", sc)
		}
		if i == 0 {
			ident = id
		} else if !strings.EqualFold(strings.TrimRight(id, "/"), strings.TrimRight(ident, "/")) {
			return "", badRequest("invalid_scope", 700022, "The provided value for the input parameter scope isn't valid because it contains more than one resource. Scope %s isn't valid.", scope)
		}
	}
	return ident, nil
}

// resolveResource finds the resource named by ident in tenant t: a resource
// registered in the tenant (Dataverse environments, CLI registrations), or
// an app registration with a service principal in the tenant, named by its
// application id or one of its identifier URIs.
func (s *Server) resolveResource(ctx context.Context, t store.Tenant, ident string) (target, *Error) {
	notFound := badRequest("invalid_resource", 500011, "The resource principal named %s was not found in the tenant named %s. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You might have sent your authentication request to the wrong tenant.", ident, t.Name)
	r, err := s.view.resource(ctx, t.ID, ident)
	if err == nil {
		return target{aud: ident, appID: r.AppID, version: r.TokenVersion}, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return target{}, s.storeErr(err, nil)
	}
	var app store.App
	if directory.IsGUID(ident) {
		if app, err = s.view.app(ctx, ident); err != nil {
			return target{}, s.storeErr(err, notFound)
		}
	} else {
		apps, err := s.view.apps(ctx)
		if err != nil {
			return target{}, s.storeErr(err, nil)
		}
		key := strings.TrimRight(strings.ToLower(ident), "/")
		found := false
		for _, a := range apps {
			for _, u := range a.IdentifierURIs {
				if strings.TrimRight(strings.ToLower(u), "/") == key {
					app, found = a, true
				}
			}
		}
		if !found {
			return target{}, notFound
		}
	}
	if _, err := s.view.sp(ctx, t.ID, app.AppID); err != nil {
		return target{}, s.storeErr(err, notFound)
	}
	v := app.AccessTokenVersion
	if v == 0 {
		v = 1
	}
	return target{aud: ident, appID: app.AppID, version: v}, nil
}
