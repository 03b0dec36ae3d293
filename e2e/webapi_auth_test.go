package e2e

// Authentication of the Web API and mapping of tokens to principals
// (reference dataverse.md §1.5–1.7): the 401 challenge, tokens that are
// expired, tampered with, for another environment, tenant or authority;
// application users, users, and the 403s of §1.7.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/google/uuid"
	"golang.org/x/oauth2"
)

// bearerChallenge is the WWW-Authenticate header of a 401 (reference §1.6).
func bearerChallenge(authorityHost, tenantID, envURL string) string {
	return "Bearer authorization_uri=" + authorityHost + "/" + tenantID + "/oauth2/authorize, resource_id=" + envURL + "/"
}

// checkAPI401 checks a 401 answer: the challenge naming the environment's
// authority and URL, and a Dataverse error body with code.
func checkAPI401(t testing.TB, r apiReply, wantChallenge, code string) {
	t.Helper()
	if r.status != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401: %s", r.status, r.body)
	}
	if got := r.header.Values("WWW-Authenticate"); len(got) != 1 || got[0] != wantChallenge {
		t.Errorf("WWW-Authenticate %q,\nwant            %q", got, wantChallenge)
	}
	if r.errCode() != code {
		t.Errorf("code %q, want %q: %s", r.errCode(), code, r.body)
	}
}

// flipJWSSignature changes one byte of a JWS signature.
func flipJWSSignature(jws string) string {
	i := strings.LastIndexByte(jws, '.') + 10
	b := []byte(jws)
	if b[i] == 'A' {
		b[i] = 'B'
	} else {
		b[i] = 'A'
	}
	return string(b)
}

const (
	apiCodeNotAuthenticated = "0x80044302"
	apiCodeTokenInvalid     = "0x8005f101"
)

// TestWebAPIAuthentication sends requests without a token, with tokens
// that are not for the environment, and with tokens changed after issue:
// each gets 401 with exactly the challenge Dataverse sends, and a
// Dataverse error body; the demo environment's own tokens get in.
func TestWebAPIAuthentication(t *testing.T) {
	ctx := context.Background()
	ts := start(t, "")
	env := demoEnv(t, ts)
	tid := demo.ContosoTenantID
	want := bearerChallenge(ts.Info.AuthorityHost, tid, env)

	// Another resource of the same tenant, and the environment's URL
	// registered in another tenant (fabrikam, the portal's home).
	const other = "https://other-environment.dvs2s.test"
	if _, err := ts.Directory.RegisterResource(ctx, tid, other, "", "Another environment", 1); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Directory.RegisterResource(ctx, demo.FabrikamTenantID, env, "", "contoso's URL in fabrikam", 1); err != nil {
		t.Fatal(err)
	}
	registerV2Resource(t, ts)
	good := appToken(t, ts, tid, demo.PortalAppID, demo.PortalSecret, env)

	cases := []struct {
		name   string
		header string // Authorization
		code   string
	}{
		{"no token", "", apiCodeNotAuthenticated},
		{"Basic", "Basic " + url.QueryEscape(demo.PortalAppID) + ":x", apiCodeNotAuthenticated},
		{"Bearer without token", "Bearer ", apiCodeNotAuthenticated},
		{"not a JWT", "Bearer not-a-jwt", apiCodeTokenInvalid},
		{"three garbage parts", "Bearer a.b.c", apiCodeTokenInvalid},
		{"wrong signature", "Bearer " + flipJWSSignature(good), apiCodeTokenInvalid},
		{"tampered claims", "Bearer " + tamper(good), apiCodeTokenInvalid},
		{"signature removed", "Bearer " + good[:strings.LastIndexByte(good, '.')+1], apiCodeTokenInvalid},
		{"another environment of the tenant", "Bearer " + appToken(t, ts, tid, demo.PortalAppID, demo.PortalSecret, other), apiCodeTokenInvalid},
		{"v2 token of another API", "Bearer " + appToken(t, ts, tid, demo.PortalAppID, demo.PortalSecret, compatV2Resource), apiCodeTokenInvalid},
		{"another tenant", "Bearer " + appToken(t, ts, demo.FabrikamTenantID, demo.PortalAppID, demo.PortalSecret, env), apiCodeTokenInvalid},
		{"ID token", "Bearer " + signInTokens(t, ts, demo.AliceUPN, demo.AlicePass, env).id, apiCodeTokenInvalid},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			for _, path := range []string{"WhoAmI", "accounts?$select=name", ""} {
				r := ts.api(env, "").do(t, http.MethodGet, path, nil, "Authorization", tc.header)
				checkAPI401(t, r, want, tc.code)
			}
			// The answer does not depend on the method either.
			r := ts.api(env, "").do(t, http.MethodPost, "accounts", `{"name":"x"}`, "Authorization", tc.header)
			checkAPI401(t, r, want, tc.code)
		})
	}

	t.Run("good token", func(t *testing.T) {
		for _, scheme := range []string{"Bearer ", "bearer ", "BEARER "} {
			r := ts.api(env, "").get(t, "WhoAmI", "Authorization", scheme+good).wantStatus(t, 200)
			if r.header.Get("WWW-Authenticate") != "" {
				t.Errorf("200 with a challenge")
			}
		}
	})

	t.Run("no token on a missing resource", func(t *testing.T) {
		// Authentication comes first: even a path that names nothing.
		r := ts.api(env, "").get(t, "nosuchthings")
		checkAPI401(t, r, want, apiCodeNotAuthenticated)
		r = ts.api(env, "").do(t, http.MethodDelete, "accounts("+uuid.NewString()+")", nil)
		checkAPI401(t, r, want, apiCodeNotAuthenticated)
	})
}

// TestWebAPITokenTimes gets tokens from an identity service whose clock
// is three hours behind (expired on arrival) and one hour ahead (not yet
// valid): both 401. The data service allows five minutes of skew.
func TestWebAPITokenTimes(t *testing.T) {
	clk := &stepClock{}
	clk.Advance(-3 * time.Hour)
	ts := start(t, "", withClock(clk))
	env := demoEnv(t, ts)
	want := bearerChallenge(ts.Info.AuthorityHost, demo.ContosoTenantID, env)

	expired := appToken(t, ts, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret, env)
	c := jwtClaims(t, expired)
	if exp := time.Unix(claimInt(t, c, "exp"), 0); time.Until(exp) > -time.Hour {
		t.Fatalf("token expires at %v, want well in the past", exp)
	}
	r := ts.api(env, expired).get(t, "WhoAmI")
	checkAPI401(t, r, want, apiCodeTokenInvalid)
	if !strings.Contains(r.errMessage(), "expired") {
		t.Errorf("message %q does not say the token expired", r.errMessage())
	}

	clk.Advance(4 * time.Hour)
	early := appToken(t, ts, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret, env)
	r = ts.api(env, early).get(t, "WhoAmI")
	checkAPI401(t, r, want, apiCodeTokenInvalid)
	if !strings.Contains(r.errMessage(), "not yet valid") {
		t.Errorf("message %q does not say the token is not yet valid", r.errMessage())
	}

	clk.Advance(-time.Hour + 2*time.Minute) // within the skew
	skewed := appToken(t, ts, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret, env)
	ts.api(env, skewed).get(t, "WhoAmI").wantStatus(t, 200)
}

func jwtClaims(t testing.TB, tok string) map[string]any {
	t.Helper()
	_, c := decodeJWT(t, tok)
	return c
}

// userTokenPair is what a user's sign-in yields.
type userTokenPair struct{ access, id string }

// signInTokens signs a user in to the demo portal (authorization code flow
// through the sign-in page, as a browser does) asking for the environment,
// and returns the access and ID tokens.
func signInTokens(t testing.TB, ts *testStack, upn, password, env string) userTokenPair {
	t.Helper()
	rp := newSIOIDC(t, ts, demo.ContosoTenantID)
	b := newWebBrowser(t, ts)
	state := uuid.NewString()
	page := b.get(rp.conf.AuthCodeURL(state, oauth2.SetAuthURLParam("scope", "openid profile offline_access "+env+"/user_impersonation")))
	code := codeFrom(t, b.signIn(page, upn, password), state)
	tok, err := rp.conf.Exchange(rp.ctx, code)
	if err != nil {
		t.Fatalf("redeeming %s's code: %v", upn, err)
	}
	id, _ := tok.Extra("id_token").(string)
	if c := jwtClaims(t, tok.AccessToken); c["aud"] != env || c["idtyp"] != "user" {
		t.Fatalf("%s's access token: %v", upn, c)
	}
	return userTokenPair{access: tok.AccessToken, id: id}
}

// whoAmI calls WhoAmI until it answers status (principals are cached for
// 2 s), for at most 5 s, and returns the last answer.
func whoAmIUntil(t testing.TB, c *apiClient, status int) apiReply {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		r := c.get(t, "WhoAmI")
		if r.status == status || time.Now().After(deadline) {
			return r
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// TestWebAPIPrincipals maps tokens to systemusers (reference §1.5–1.7):
// application users by the token's application id, users by object id
// (provisioned from the directory on first access), and the 403s: an app
// with a service principal but no application user (0x80072560), an
// application user or user without a role (0x80042f09), a disabled one
// (0x80040225).
func TestWebAPIPrincipals(t *testing.T) {
	ctx := context.Background()
	ts := start(t, "")
	env := demoEnv(t, ts)
	tid := demo.ContosoTenantID
	e, err := ts.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	// The tenant's System Administrator administers users and roles.
	admin := ts.api(env, signInTokens(t, ts, demo.AdminUPN, demo.AdminPass, env).access)
	userID := func(oid string) string {
		t.Helper()
		r, err := e.UserByObjectID(ctx, oid)
		if err != nil {
			t.Fatalf("systemuser of %s: %v", oid, err)
		}
		return r["systemuserid"].(string)
	}
	// newApp registers a single-tenant app in contoso (which gives it a
	// service principal there) and returns its id and a token of it.
	newApp := func(name string) (string, string) {
		t.Helper()
		app, err := ts.Directory.CreateApp(ctx, directory.AppSpec{Tenant: tid, DisplayName: name})
		if err != nil {
			t.Fatal(err)
		}
		_, secretText, err := ts.Directory.AddSecret(ctx, app.AppID, "test", time.Hour)
		if err != nil {
			t.Fatal(err)
		}
		return app.AppID, appToken(t, ts, tid, app.AppID, secretText, env)
	}

	t.Run("mapped", func(t *testing.T) {
		alice := signInTokens(t, ts, demo.AliceUPN, demo.AlicePass, env)
		for _, tc := range []struct {
			name, token, userID string
		}{
			{"multi-tenant app user (v2 endpoint)", appToken(t, ts, tid, demo.PortalAppID, demo.PortalSecret, env), demo.PortalAppUserID},
			{"multi-tenant app user (v1 endpoint)", postToken(t, ts, v1Path(tid), with(secretForm(demo.PortalAppID, demo.PortalSecret, ""), "scope", "", "resource", env)).accessToken(t), demo.PortalAppUserID},
			{"single-tenant app user", appToken(t, ts, tid, demo.InventoryAppID, demo.InventorySecret, env), demo.InventoryAppUserID},
			{"user by object id", alice.access, userID(demo.AliceID)},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := ts.api(env, tc.token).get(t, "WhoAmI").wantStatus(t, 200)
				if r.str("UserId") != tc.userID || r.str("BusinessUnitId") != e.RootBU || !strings.EqualFold(r.str("OrganizationId"), e.ID) {
					t.Errorf("WhoAmI %s, want UserId %s", r.body, tc.userID)
				}
			})
		}
	})

	t.Run("app without application user", func(t *testing.T) {
		_, tok := newApp("No Application User")
		r := ts.api(env, tok).get(t, "WhoAmI")
		checkAPIError(t, r, http.StatusForbidden, "0x80072560", "The user is not a member of the organization.", "")
		// The same for every request, not only WhoAmI.
		r = ts.api(env, tok).get(t, "accounts?$select=name")
		checkAPIError(t, r, http.StatusForbidden, "0x80072560", "", "")
	})

	t.Run("application user without a role, then with one", func(t *testing.T) {
		appID, tok := newApp("No Role Yet")
		// Created through the Web API, as an administrator does (§1.5).
		r := admin.do(t, http.MethodPost, "systemusers?$select=applicationid,accessmode,fullname,azureactivedirectoryobjectid", map[string]any{"applicationid": appID},
			"Prefer", "return=representation").wantStatus(t, http.StatusCreated)
		uid := r.str("systemuserid")
		sp := spOID(t, ts, tid, appID)
		if r.str("azureactivedirectoryobjectid") != sp || r.str("fullname") != "No Role Yet" || r.json["accessmode"] == nil || r.json["accessmode"].(interface{ String() string }).String() != "4" {
			t.Errorf("application user %s, want the service principal %s, accessmode 4, the app's name", r.body, sp)
		}
		c := ts.api(env, tok)
		checkAPIError(t, c.get(t, "WhoAmI"), http.StatusForbidden, "0x80042f09", "The user (Id = "+uid+") has not been assigned any roles.", "")
		roles := admin.get(t, "roles?$select=roleid&$filter="+url.QueryEscape("name eq 'Basic User'")).wantStatus(t, 200)
		role := roles.json["value"].([]any)[0].(map[string]any)["roleid"].(string)
		admin.do(t, http.MethodPost, "systemusers("+uid+")/systemuserroles_association/$ref", map[string]any{"@odata.id": env + "/api/data/v9.2/roles(" + role + ")"}).
			wantStatus(t, http.StatusNoContent)
		r = whoAmIUntil(t, c, 200).wantStatus(t, 200)
		if r.str("UserId") != uid {
			t.Errorf("WhoAmI %s, want UserId %s", r.body, uid)
		}
		// Taking the role away takes the access away.
		admin.do(t, http.MethodDelete, "systemusers("+uid+")/systemuserroles_association("+role+")/$ref", nil).wantStatus(t, http.StatusNoContent)
		checkAPIError(t, whoAmIUntil(t, c, 403), http.StatusForbidden, "0x80042f09", "", "")
	})

	t.Run("disabled application user", func(t *testing.T) {
		appID, tok := newApp("Soon Disabled")
		sys := environment.Caller{UserID: e.System, BU: e.RootBU}
		u, err := e.CreateAppUser(ctx, e.Data, environment.AppUserSpec{AppID: appID}, sys)
		if err != nil {
			t.Fatal(err)
		}
		uid := u["systemuserid"].(string)
		role, err := e.RoleByName(ctx, "Basic User")
		if err != nil {
			t.Fatal(err)
		}
		if err := e.AssignRole(ctx, uid, role["roleid"].(string)); err != nil {
			t.Fatal(err)
		}
		c := ts.api(env, tok)
		whoAmIUntil(t, c, 200).wantStatus(t, 200)
		admin.do(t, http.MethodPatch, "systemusers("+uid+")", map[string]any{"isdisabled": true}).wantStatus(t, http.StatusNoContent)
		r := whoAmIUntil(t, c, 403)
		checkAPIError(t, r, http.StatusForbidden, "0x80040225", "", "The specified user(Id = "+uid+") is disabled. Consider enabling this user.")
		admin.do(t, http.MethodPatch, "systemusers("+uid+")", map[string]any{"isdisabled": false}).wantStatus(t, http.StatusNoContent)
		whoAmIUntil(t, c, 200).wantStatus(t, 200)
	})

	t.Run("new directory user", func(t *testing.T) {
		// A user of the tenant is provisioned on first access, without a
		// role: 403 0x80042f09 naming the new systemuser.
		const pass = "Dana-WebAPI-Passw0rd"
		u, err := ts.Directory.CreateUser(ctx, tid, "", "dana@contoso.onmicrosoft.com", "Dana Diaz", pass, false)
		if err != nil {
			t.Fatal(err)
		}
		dana := signInTokens(t, ts, u.UPN, pass, env)
		r := ts.api(env, dana.access).get(t, "WhoAmI")
		uid := userID(u.ObjectID)
		checkAPIError(t, r, http.StatusForbidden, "0x80042f09", "The user (Id = "+uid+") has not been assigned any roles.", "")
		got := admin.get(t, "systemusers("+uid+")?$select=fullname,domainname,azureactivedirectoryobjectid,accessmode").wantStatus(t, 200)
		if got.str("fullname") != "Dana Diaz" || got.str("domainname") != u.UPN || got.str("azureactivedirectoryobjectid") != u.ObjectID {
			t.Errorf("provisioned user %s", got.body)
		}
	})
}

// TestWebAPITrust checks which tokens each environment trusts. A second,
// independent identity service (its own data directory, keys and CA)
// hosts tenant northwind; the first stack trusts its CA
// (stack.Config.TrustCAFiles) and has an environment of a tenant with the
// same id whose Authority is that service, plus a second environment of
// contoso. Tokens of the configured authority get in there; tokens of the
// built-in identity service, although for the same tenant id, app id and
// audience, do not; and each environment refuses the other's tokens.
func TestWebAPITrust(t *testing.T) {
	ctx := context.Background()
	nwID, appID := uuid.NewString(), uuid.NewString()

	// The other identity service.
	other := start(t, "", func(c *stack.Config) { c.NoDemo = true })
	if _, err := other.Directory.CreateTenant(ctx, "northwind", "", nwID); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Directory.CreateApp(ctx, directory.AppSpec{Tenant: nwID, DisplayName: "Northwind Sync", AppID: appID}); err != nil {
		t.Fatal(err)
	}
	_, otherSecret, err := other.Directory.AddSecret(ctx, appID, "trust test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}

	// The data service: the same tenant id and app id known locally too
	// (environments and application users live in a tenant of the local
	// directory), the northwind environment bound to the other authority.
	dir := t.TempDir()
	trust := func(c *stack.Config) { c.TrustCAFiles = []string{other.Info.CAFile} }
	ts := start(t, dir, trust)
	if _, err := ts.Directory.CreateTenant(ctx, "northwind", "", nwID); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Directory.CreateApp(ctx, directory.AppSpec{Tenant: nwID, DisplayName: "Northwind Sync", AppID: appID}); err != nil {
		t.Fatal(err)
	}
	_, localSecret, err := ts.Directory.AddSecret(ctx, appID, "trust test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	nw, err := ts.Envs.Create(ctx, "northwind", nwID, "")
	if err != nil {
		t.Fatal(err)
	}
	rec := nw.Environment
	rec.Authority = other.Info.AuthorityHost
	if err := ts.Store.UpdateEnvironment(ctx, rec); err != nil {
		t.Fatal(err)
	}
	role, err := nw.CreateRole(ctx, "Northwind Integration")
	if err != nil {
		t.Fatal(err)
	}
	u, err := nw.CreateAppUser(ctx, nw.Data, environment.AppUserSpec{AppID: appID}, environment.Caller{UserID: nw.System, BU: nw.RootBU})
	if err != nil {
		t.Fatal(err)
	}
	appUser := u["systemuserid"].(string)
	if err := nw.GrantByName(ctx, nw.Data, role["roleid"].(string), environment.TablePrivileges(nw.Schema().Table("account"), security.Global)); err != nil {
		t.Fatal(err)
	}
	if err := nw.AssignRole(ctx, appUser, role["roleid"].(string)); err != nil {
		t.Fatal(err)
	}
	if _, err := ts.Envs.Create(ctx, "contoso-two", demo.ContosoTenantID, ""); err != nil {
		t.Fatal(err)
	}
	// New environments get their origins when the stack starts.
	ts.stop(t)
	ts = start(t, dir, trust)
	nwURL, contoso, two := envURLOf(t, ts, "northwind"), demoEnv(t, ts), envURLOf(t, ts, "contoso-two")
	if _, err := other.Directory.RegisterResource(ctx, nwID, nwURL, "", "Northwind environment", 1); err != nil {
		t.Fatal(err)
	}

	fromOther := appToken(t, other, nwID, appID, otherSecret, nwURL)
	fromLocal := appToken(t, ts, nwID, appID, localSecret, nwURL)
	if jwtClaims(t, fromOther)["iss"] == jwtClaims(t, fromLocal)["iss"] {
		t.Fatal("both identity services issue with the same issuer")
	}
	portalContoso := appToken(t, ts, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret, contoso)
	portalTwo := appToken(t, ts, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret, two)
	nwChallenge := bearerChallenge(other.Info.AuthorityHost, nwID, nwURL)

	cases := []struct {
		name, env, token string
		status           int
		challenge        string // of a 401
		code             string
	}{
		{"configured authority's token", nwURL, fromOther, 200, "", ""},
		{"built-in authority's token", nwURL, fromLocal, 401, nwChallenge, apiCodeTokenInvalid},
		{"no token: the challenge names the configured authority", nwURL, "", 401, nwChallenge, apiCodeNotAuthenticated},
		{"contoso token to northwind", nwURL, portalContoso, 401, nwChallenge, apiCodeTokenInvalid},
		{"contoso's own token", contoso, portalContoso, 200, "", ""},
		{"northwind token to contoso", contoso, fromOther, 401, bearerChallenge(ts.Info.AuthorityHost, demo.ContosoTenantID, contoso), apiCodeTokenInvalid},
		{"contoso token to contoso-two", two, portalContoso, 401, bearerChallenge(ts.Info.AuthorityHost, demo.ContosoTenantID, two), apiCodeTokenInvalid},
		{"contoso-two token to contoso", contoso, portalTwo, 401, bearerChallenge(ts.Info.AuthorityHost, demo.ContosoTenantID, contoso), apiCodeTokenInvalid},
		// contoso-two accepts its token, but the portal has no application
		// user there.
		{"contoso-two's own token", two, portalTwo, 403, "", "0x80072560"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := ts.api(tc.env, tc.token).get(t, "WhoAmI")
			switch tc.status {
			case 200:
				r.wantStatus(t, 200)
			case 401:
				checkAPI401(t, r, tc.challenge, tc.code)
			default:
				checkAPIError(t, r, tc.status, tc.code, "", "")
			}
		})
	}

	t.Run("northwind data", func(t *testing.T) {
		c := ts.api(nwURL, fromOther)
		r := c.get(t, "WhoAmI").wantStatus(t, 200)
		if r.str("UserId") != appUser || !strings.EqualFold(r.str("OrganizationId"), nw.ID) {
			t.Errorf("WhoAmI %s, want UserId %s in %s", r.body, appUser, nw.ID)
		}
		id := c.do(t, http.MethodPost, "accounts", map[string]any{"name": "Northwind Traders"}).wantStatus(t, 204).entityID(t)
		// The environments keep their data apart.
		checkAPIError(t, ts.api(contoso, portalContoso).get(t, "accounts("+id+")"), 404, "0x80040217", "", "")
		if got := c.get(t, "accounts("+id+")?$select=name,_ownerid_value").wantStatus(t, 200); got.str("_ownerid_value") != appUser || got.str("name") != "Northwind Traders" {
			t.Errorf("account %s", got.body)
		}
	})
}
