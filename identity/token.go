package identity

import (
	"context"
	"crypto/x509"
	"encoding/hex"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/store"
)

// tokenRequest is one call of a token endpoint.
type tokenRequest struct {
	ver  int    // 1: /oauth2/token, 2: /oauth2/v2.0/token
	seg  string // tenant path segment, lower case
	form url.Values
	r    *http.Request
}

const maxTokenBody = 1 << 20

// token serves the token endpoint (RFC 6749 section 3.2; §6, §7) and
// dispatches on grant_type to the grant's own file.
func (s *Server) token(ver int) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		r.Body = http.MaxBytesReader(w, r.Body, maxTokenBody)
		if err := r.ParseForm(); err != nil {
			s.writeError(w, r, badRequest("invalid_request", 900144, "The request body must contain the following parameter: 'grant_type'. The body could not be parsed as application/x-www-form-urlencoded."))
			return
		}
		req := &tokenRequest{ver: ver, seg: strings.ToLower(r.PathValue("tenant")), form: r.PostForm, r: r}
		gt := req.form.Get("grant_type")
		switch gt {
		case "":
			s.writeError(w, r, missingParam("grant_type"))
		case "client_credentials":
			s.clientCredentials(w, req)
		case "authorization_code":
			s.authorizationCode(w, req)
		case "refresh_token":
			s.refreshToken(w, req)
		default:
			s.writeError(w, r, badRequest("unsupported_grant_type", 70003, "The app requested an unsupported grant type '%s'.", gt))
		}
	}
}

// client is an authenticated client application in one tenant.
type client struct {
	app    store.App
	sp     store.ServicePrincipal
	tenant store.Tenant
	acr    string // "1": client secret, "2": certificate (appidacr/azpacr)
}

const assertionType = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"

// authenticateClient finds the client application, its service principal in
// tenant t, and checks its credential: client_secret in the body or in HTTP
// Basic (RFC 6749 section 2.3.1), or a certificate-signed client_assertion
// (RFC 7523 section 2.2; §6.2).
func (s *Server) authenticateClient(ctx context.Context, req *tokenRequest, t store.Tenant) (*client, *Error) {
	clientID := req.form.Get("client_id")
	secretText := req.form.Get("client_secret")
	if u, p, ok := req.r.BasicAuth(); ok {
		bu, err1 := url.QueryUnescape(u)
		bp, err2 := url.QueryUnescape(p)
		if err1 != nil || err2 != nil {
			return nil, invalidClient(7000215, "Invalid client secret provided. The HTTP Basic credentials are not correctly URL-encoded.")
		}
		if clientID != "" && !strings.EqualFold(clientID, bu) {
			return nil, badRequest("invalid_request", 900144, "The 'client_id' in the body does not match the client in the Authorization header.")
		}
		if secretText != "" {
			return nil, badRequest("invalid_request", 90014, "Only one client credential may be sent: 'client_secret' in the body or HTTP Basic, not both.")
		}
		clientID, secretText = bu, bp
	}
	if clientID == "" {
		return nil, missingParam("client_id")
	}
	if !directory.IsGUID(clientID) {
		return nil, badRequest("unauthorized_client", 700038, "%s is not a valid application identifier.", clientID)
	}
	notFound := badRequest("unauthorized_client", 700016, "Application with identifier '%s' was not found in the directory '%s'. This can happen if the application has not been installed by the administrator of the tenant or consented to by any user in the tenant. You may have sent your authentication request to the wrong tenant.", clientID, t.Domain)
	app, err := s.view.app(ctx, clientID)
	if err != nil {
		return nil, s.storeErr(err, notFound)
	}
	sp, err := s.view.sp(ctx, t.ID, app.AppID)
	if err != nil {
		return nil, s.storeErr(err, notFound)
	}
	if !sp.Enabled {
		return nil, badRequest("unauthorized_client", 7000112, "Application '%s'(%s) is disabled.", app.AppID, app.DisplayName)
	}
	c := &client{app: app, sp: sp, tenant: t}
	assertion := req.form.Get("client_assertion")
	switch {
	case secretText != "" && assertion != "":
		return nil, badRequest("invalid_request", 90014, "Only one client credential may be sent: 'client_secret' or 'client_assertion', not both.")
	case secretText != "":
		if e := s.checkSecret(ctx, app, secretText); e != nil {
			return nil, e
		}
		c.acr = "1"
	case assertion != "":
		if at := req.form.Get("client_assertion_type"); at != assertionType {
			if at == "" {
				return nil, missingParam("client_assertion_type")
			}
			return nil, badRequest("invalid_request", 50027, "Invalid client_assertion_type '%s'. Expected '%s'.", at, assertionType)
		}
		if e := s.checkAssertion(ctx, req, app, t, assertion); e != nil {
			return nil, e
		}
		c.acr = "2"
	default:
		return nil, invalidClient(7000218, "The request body must contain the following parameter: 'client_assertion' or 'client_secret'.")
	}
	return c, nil
}

// storeErr maps a lookup failure: not found becomes the protocol error
// notFound, anything else a 503 (never a 500 with internals).
func (s *Server) storeErr(err error, notFound *Error) *Error {
	if errors.Is(err, store.ErrNotFound) {
		return notFound
	}
	s.log.Error("directory read failed", "err", err)
	return newErr(http.StatusServiceUnavailable, "temporarily_unavailable", 90033, "A transient error has occurred. Please try again.")
}

// checkSecret compares the secret with every registered password credential
// by keyed hash (§9.2: 7000215 wrong, 7000222 expired).
func (s *Server) checkSecret(ctx context.Context, app store.App, text string) *Error {
	creds, err := s.view.passwords(ctx, app.AppID)
	if err != nil {
		return s.storeErr(err, nil)
	}
	now := s.now()
	h := s.secrets.Hash(text)
	expired := false
	for _, p := range creds {
		if !equalHash(p.Hash, h) {
			continue
		}
		if s.refused[p.KeyID] {
			return invalidClient(7000215, "Invalid client secret provided. This is a well-known dvs2s demo secret; it is refused because the server listens beyond loopback (start it with --allow-demo-on-network to accept it).")
		}
		if now.Before(p.Start) || !now.Before(p.End) {
			expired = true
			continue
		}
		return nil
	}
	if expired {
		return invalidClient(7000222, "The provided client secret keys for app '%s' are expired. Visit the Azure portal to create new keys for your app: https://aka.ms/NewClientSecret, or consider using certificate credentials for added security: https://aka.ms/certCreds.", app.AppID)
	}
	return invalidClient(7000215, "Invalid client secret provided. Ensure the secret being sent in the request is the client secret value, not the client secret ID, for a secret added to app '%s'.", app.AppID)
}

// assertionSkew is the clock skew allowed on a client assertion's nbf/exp.
const assertionSkew = 5 * time.Minute

// checkAssertion verifies a certificate-signed client assertion (§6.2,
// "server-side verification algorithm"). A jti may be replayed within the
// assertion's lifetime, because msal-node resends the same assertion.
func (s *Server) checkAssertion(ctx context.Context, req *tokenRequest, app store.App, t store.Tenant, assertion string) *Error {
	j, err := parseJWS(assertion)
	if err != nil {
		return invalidClient(50027, "JWT token is invalid or malformed.")
	}
	if j.header.Alg != "RS256" && j.header.Alg != "PS256" {
		return invalidClient(700027, "Invalid JWT token. Unsupported asymmetric signing algorithm '%s'. Use RS256 or PS256.", j.header.Alg)
	}
	var want []byte
	var sha256Print bool
	switch {
	case j.header.X5tS256 != "":
		want, sha256Print = decodeThumbprint(j.header.X5tS256), true
	case j.header.X5t != "":
		want = decodeThumbprint(j.header.X5t)
	default:
		return invalidClient(700027, "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", app.AppID)
	}
	keys, err := s.view.certs(ctx, app.AppID)
	if err != nil {
		return s.storeErr(err, nil)
	}
	var cred *store.KeyCredential
	for i := range keys {
		tp := keys[i].SHA1
		if sha256Print {
			tp = keys[i].SHA256
		}
		if want != nil && equalHash(tp, want) {
			cred = &keys[i]
			break
		}
	}
	if cred == nil {
		return invalidClient(700027, "Client assertion failed signature validation. [Reason - The key was not found., Thumbprint of key used by client: '%s', Please visit the Azure Portal, Graph Explorer or directly use MS Graph to see configured keys for app Id '%s'.]", strings.ToUpper(hex.EncodeToString(want)), app.AppID)
	}
	now := s.now()
	if now.After(cred.End) || now.Before(cred.Start) {
		return invalidClient(700027, "Client assertion failed signature validation. [Reason - The key used is expired., Thumbprint of key used by client: '%s', Found key 'Start=%s, End=%s']", strings.ToUpper(hex.EncodeToString(want)), cred.Start.Format(time.RFC3339), cred.End.Format(time.RFC3339))
	}
	cert, err := x509.ParseCertificate(cred.CertDER)
	if err != nil {
		return s.storeErr(fmt.Errorf("stored certificate %s: %w", cred.KeyID, err), nil)
	}
	pub, ok := rsaPublicKey(cert)
	if !ok || !j.verify(pub) {
		return invalidClient(700027, "Client assertion failed signature validation. [Reason - The provided signature value did not match the expected signature value., Thumbprint of key used by client: '%s']", strings.ToUpper(hex.EncodeToString(want)))
	}
	iss, sub := j.str("iss"), j.str("sub")
	if iss != sub {
		return invalidClient(50048, "Subject mismatches Issuer claim in the client assertion for application '%s'.", app.AppID)
	}
	if !strings.EqualFold(iss, app.AppID) {
		return invalidClient(700021, "Client assertion application identifier doesn't match 'client_id' parameter. Review the documentation at https://aka.ms/certCreds .")
	}
	if !s.assertionAudienceOK(j.aud(), req.seg, t) {
		return invalidClient(700023, "Client assertion audience claim does not match Realm issuer. Expected the token endpoint of this tenant, e.g. '%s/%s/oauth2/v2.0/token'. Review the documentation at https://aka.ms/certCreds .", s.base, req.seg)
	}
	exp, okExp := j.num("exp")
	nbf, okNbf := j.num("nbf")
	if !okExp {
		return invalidClient(50027, "JWT token is invalid or malformed: the 'exp' claim is missing.")
	}
	if !okNbf {
		nbf, _ = j.num("iat")
	}
	if now.Add(-assertionSkew).Unix() >= exp || now.Add(assertionSkew).Unix() < nbf {
		return invalidClient(700024, "Client assertion is not within its valid time range. Current time: %s, assertion valid from %s, expiry time of assertion %s. Review the documentation at https://aka.ms/certCreds .",
			now.Format("2006-01-02T15:04:05.0000000Z"), time.Unix(nbf, 0).UTC().Format("2006-01-02T15:04:05.0000000Z"), time.Unix(exp, 0).UTC().Format("2006-01-02T15:04:05.0000000Z"))
	}
	return nil
}

// assertionAudienceOK accepts the token endpoint of this service, v1 or v2,
// with or without a trailing slash, on this host or on
// login.microsoftonline.com (§6.2 step 5: be lenient on aliases), for the
// tenant of the request: its path segment, GUID or domain. An assertion
// made for another tenant's endpoint is refused, as Entra refuses it
// ("does not match Realm issuer", AADSTS700023).
func (s *Server) assertionAudienceOK(auds []string, seg string, t store.Tenant) bool {
	base, _ := url.Parse(s.base)
	for _, a := range auds {
		u, err := url.Parse(a)
		if err != nil || u.Scheme != "https" {
			continue
		}
		if !strings.EqualFold(u.Host, base.Host) && !strings.EqualFold(u.Host, "login.microsoftonline.com") {
			continue
		}
		p := strings.Split(strings.Trim(u.Path, "/"), "/")
		if !strings.EqualFold(p[0], seg) && !strings.EqualFold(p[0], t.ID) && !strings.EqualFold(p[0], t.Domain) {
			continue
		}
		if len(p) == 3 && p[1] == "oauth2" && p[2] == "token" || len(p) == 4 && p[1] == "oauth2" && p[2] == "v2.0" && p[3] == "token" {
			return true
		}
	}
	return false
}

// tokenResponse is the success body (§6.4; v1 numbers as strings, §7).
type tokenResponse struct {
	TokenType    string `json:"token_type"`
	Scope        string `json:"scope,omitempty"`
	ExpiresIn    any    `json:"expires_in"`
	ExtExpiresIn any    `json:"ext_expires_in"`
	ExpiresOn    string `json:"expires_on,omitempty"`
	NotBefore    string `json:"not_before,omitempty"`
	Resource     string `json:"resource,omitempty"`
	AccessToken  string `json:"access_token"`
	RefreshToken string `json:"refresh_token,omitempty"`
	IDToken      string `json:"id_token,omitempty"`
	ClientInfo   string `json:"client_info,omitempty"`
}

// newTokenResponse fills the timing fields in the endpoint version's form.
func (s *Server) newTokenResponse(ver int, issued time.Time, resource string) tokenResponse {
	expIn := s.lifetime - time.Second
	tr := tokenResponse{TokenType: "Bearer"}
	if ver == 1 {
		tr.ExpiresIn = secondsString(expIn)
		tr.ExtExpiresIn = secondsString(expIn)
		tr.ExpiresOn = strconv.FormatInt(issued.Add(s.lifetime).Unix(), 10)
		tr.NotBefore = strconv.FormatInt(issued.Add(-backdate).Unix(), 10)
		tr.Resource = resource
	} else {
		tr.ExpiresIn = int64(expIn / time.Second)
		tr.ExtExpiresIn = int64(expIn / time.Second)
	}
	return tr
}

// backdate is how far iat/nbf are set before issuance, as Entra does (§8.4).
const backdate = 5 * time.Minute

func (s *Server) writeToken(w http.ResponseWriter, tr tokenResponse) {
	noStore(w)
	writeJSON(w, http.StatusOK, tr)
}
