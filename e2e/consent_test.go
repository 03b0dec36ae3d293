package e2e

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"golang.org/x/oauth2"
)

// Tests of admin consent (§10) and of consent inside sign-in, driving the
// HTML forms as a browser does.

// siNewApp registers a fresh multi-tenant app in fabrikam with a client
// secret, as a publisher would.
func siNewApp(t testing.TB, ts *testStack, name string, redirect ...string) (appID, secretText string) {
	t.Helper()
	ctx := context.Background()
	app, err := ts.Directory.CreateApp(ctx, directory.AppSpec{Tenant: demo.FabrikamTenantID, DisplayName: name, MultiTenant: true, RedirectURIs: redirect})
	if err != nil {
		t.Fatal(err)
	}
	_, text, err := ts.Directory.AddSecret(ctx, app.AppID, "test", time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	return app.AppID, text
}

// siClientCredentials asks contoso for an app-only token for the demo
// environment and returns the status and body.
func siClientCredentials(t testing.TB, ts *testStack, appID, secretText string) (int, map[string]any) {
	t.Helper()
	return siTokenPost(t, ts, "/"+demo.ContosoTenantID+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {appID}, "client_secret": {secretText}, "scope": {ts.envURL(t) + "/.default"}})
}

// TestAdminConsent drives the admin consent page end to end: a new
// multi-tenant app of fabrikam cannot get tokens in contoso until contoso's
// administrator accepts it on the consent page; cancelling and non-admins
// leave it out.
func TestAdminConsent(t *testing.T) {
	ts := start(t, "")
	const redirect = "https://localhost:9443/onboarding/consent"
	cases := []struct {
		name        string
		tenant      string // path segment
		ver         int
		extraPath   string // appended to the redirect URI (v1 allows it)
		upn, pass   string
		button      string // "Accept", "Cancel", "Return to the application"; "" stops at the page
		nonAdmin    bool   // the page is "Need admin approval" (403), not the consent page
		wantParams  map[string]string
		wantConsent bool
	}{
		{name: "v2 accept", tenant: demo.ContosoTenantID, ver: 2, upn: demo.AdminUPN, pass: demo.AdminPass, button: "Accept",
			wantParams: map[string]string{"admin_consent": "True", "tenant": demo.ContosoTenantID, "state": "st-1", "scope": "{env}/.default"}, wantConsent: true},
		{name: "v1 accept via organizations, extra path", tenant: "organizations", ver: 1, extraPath: "/contoso", upn: demo.AdminUPN, pass: demo.AdminPass, button: "Accept",
			wantParams: map[string]string{"admin_consent": "True", "tenant": demo.ContosoTenantID, "state": "st-1"}, wantConsent: true},
		{name: "v2 accept via common", tenant: "common", ver: 2, upn: demo.AdminUPN, pass: demo.AdminPass, button: "Accept",
			wantParams: map[string]string{"admin_consent": "True", "tenant": demo.ContosoTenantID, "state": "st-1"}, wantConsent: true},
		{name: "v2 cancel", tenant: demo.ContosoTenantID, ver: 2, upn: demo.AdminUPN, pass: demo.AdminPass, button: "Cancel",
			wantParams: map[string]string{"error": "access_denied", "error_description": "AADSTS65004:", "state": "st-1"}},
		{name: "v1 cancel", tenant: "contoso.onmicrosoft.com", ver: 1, upn: demo.AdminUPN, pass: demo.AdminPass, button: "Cancel",
			wantParams: map[string]string{"error": "permission_denied", "error_description": "The admin canceled the request", "state": "st-1"}},
		{name: "non-admin", tenant: demo.ContosoTenantID, ver: 2, upn: demo.AliceUPN, pass: demo.AlicePass, nonAdmin: true},
		{name: "non-admin returns to the app", tenant: demo.ContosoTenantID, ver: 2, upn: demo.AliceUPN, pass: demo.AlicePass, button: "Return to the application", nonAdmin: true,
			wantParams: map[string]string{"error": "access_denied", "error_description": "AADSTS90094:", "state": "st-1"}},
	}
	for i, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			appID, secretText := siNewApp(t, ts, fmt.Sprintf("Northwind Sync %d", i), redirect)
			status, body := siClientCredentials(t, ts, appID, secretText)
			if status != http.StatusBadRequest || siErrorCode(body) != 700016 {
				t.Fatalf("client credentials before consent: %d %v", status, body["error_description"])
			}

			path := "/adminconsent"
			if c.ver == 2 {
				path = "/v2.0/adminconsent"
			}
			q := url.Values{"client_id": {appID}, "redirect_uri": {redirect + c.extraPath}, "state": {"st-1"}}
			if c.ver == 2 {
				q.Set("scope", ts.envURL(t)+"/.default")
			}
			b := newWebBrowser(t, ts)
			signIn := b.get(ts.authority(c.tenant) + path + "?" + q.Encode())
			consent := b.signIn(signIn, c.upn, c.pass)
			if c.nonAdmin {
				if consent.status != http.StatusForbidden || !strings.Contains(consent.body, "AADSTS90094") || consent.hasButton(t, "Accept") {
					t.Fatalf("status %d, want 403 with AADSTS90094 and no Accept button:\n%s", consent.status, shortBody(consent.body))
				}
			} else if consent.status != http.StatusOK || !consent.hasButton(t, "Accept") {
				t.Fatalf("consent page: status %d:\n%s", consent.status, shortBody(consent.body))
			}
			if c.button == "Accept" {
				// The page says what is being approved.
				for _, want := range []string{fmt.Sprintf("Northwind Sync %d", i), appID, "fabrikam.onmicrosoft.com"} {
					if !strings.Contains(consent.body, want) {
						t.Errorf("consent page does not show %q", want)
					}
				}
			}
			if c.button != "" {
				u, got := b.press(consent, c.button).redirect(t)
				if u.Scheme+"://"+u.Host+u.Path != redirect+c.extraPath {
					t.Fatalf("redirected to %s", u)
				}
				for k, want := range c.wantParams {
					want = strings.ReplaceAll(want, "{env}", ts.envURL(t))
					g := got.Get(k)
					if strings.HasSuffix(want, ":") { // an AADSTS code: the description starts with it
						g = g[:min(len(g), len(want))]
					}
					if g != want {
						t.Errorf("%s = %q, want %q", k, g, want)
					}
				}
				if c.ver == 1 && got.Has("scope") {
					t.Errorf("v1 response has a scope")
				}
			}

			status, body = siClientCredentials(t, ts, appID, secretText)
			if !c.wantConsent {
				if status != http.StatusBadRequest || siErrorCode(body) != 700016 {
					t.Fatalf("client credentials without consent: %d %v", status, body["error_description"])
				}
				return
			}
			if status != http.StatusOK {
				t.Fatalf("client credentials after consent: %d %v", status, body["error_description"])
			}
			sp, err := ts.Store.ServicePrincipal(context.Background(), demo.ContosoTenantID, appID)
			if err != nil {
				t.Fatal(err)
			}
			if claims := siClaims(t, body["access_token"].(string)); claims["oid"] != sp.ObjectID || claims["tid"] != demo.ContosoTenantID {
				t.Errorf("token oid %v tid %v, want the new service principal %s in contoso", claims["oid"], claims["tid"], sp.ObjectID)
			}
		})
	}

	t.Run("bad requests", func(t *testing.T) {
		appID, _ := siNewApp(t, ts, "Northwind Errors", redirect)
		cases := []struct {
			name     string
			ver      int
			q        url.Values
			page     int // status of an error page; 0: error redirect
			code     int
			redirErr string
		}{
			{"unregistered redirect", 2, url.Values{"client_id": {appID}, "redirect_uri": {"https://evil.example/consent"}, "scope": {"x/.default"}}, 400, 50011, ""},
			{"v2 extra path", 2, url.Values{"client_id": {appID}, "redirect_uri": {redirect + "/more"}, "scope": {"https://a.example/.default"}}, 400, 50011, ""},
			{"v1 dot segment", 1, url.Values{"client_id": {appID}, "redirect_uri": {redirect + "/../../evil"}}, 400, 50011, ""},
			{"v1 encoded slash", 1, url.Values{"client_id": {appID}, "redirect_uri": {redirect + "/a%2F..%2F..%2Fevil"}}, 400, 50011, ""},
			{"unknown app", 1, url.Values{"client_id": {"99999999-2222-3333-4444-555555555555"}, "redirect_uri": {redirect}}, 400, 700016, ""},
			{"no client", 1, url.Values{"redirect_uri": {redirect}}, 400, 900144, ""},
			{"v2 without scope", 2, url.Values{"client_id": {appID}, "redirect_uri": {redirect}, "state": {"s"}}, 0, 900144, "invalid_request"},
		}
		for _, c := range cases {
			t.Run(c.name, func(t *testing.T) {
				path := "/adminconsent"
				if c.ver == 2 {
					path = "/v2.0/adminconsent"
				}
				p := newWebBrowser(t, ts).get(ts.authority(demo.ContosoTenantID) + path + "?" + c.q.Encode())
				if c.page != 0 {
					if p.status != c.page || p.header.Get("Location") != "" || !strings.Contains(p.body, fmt.Sprintf("AADSTS%d:", c.code)) {
						t.Fatalf("status %d, location %q:\n%s", p.status, p.header.Get("Location"), shortBody(p.body))
					}
					return
				}
				_, q := p.redirect(t)
				if q.Get("error") != c.redirErr || !strings.HasPrefix(q.Get("error_description"), fmt.Sprintf("AADSTS%d:", c.code)) || q.Get("state") != "s" {
					t.Fatalf("redirect %v", q)
				}
			})
		}
	})
}

// TestSignInConsent signs users of contoso in to a fabrikam app that has no
// service principal in contoso yet: an ordinary user needs admin approval;
// the administrator sees the consent page, and accepting lets everyone in.
func TestSignInConsent(t *testing.T) {
	ts := start(t, "")
	const redirect = "https://localhost:9443/auth/callback"
	appID, secretText := siNewApp(t, ts, "Northwind Portal", redirect)
	conf := oauth2.Config{ClientID: appID, ClientSecret: secretText, RedirectURL: redirect, Scopes: []string{oidc.ScopeOpenID, "profile"},
		Endpoint: oauth2.Endpoint{AuthURL: ts.authority("organizations") + "/oauth2/v2.0/authorize", TokenURL: ts.authority("organizations") + "/oauth2/v2.0/token"}}
	ctx := oidc.ClientContext(context.Background(), ts.client)

	alice := newWebBrowser(t, ts)
	need := alice.signIn(alice.get(conf.AuthCodeURL("a1")), demo.AliceUPN, demo.AlicePass)
	if need.status != http.StatusForbidden || !strings.Contains(need.body, "AADSTS90094") {
		t.Fatalf("non-admin: status %d:\n%s", need.status, shortBody(need.body))
	}
	_, q := alice.press(need, "Return to the application").redirect(t)
	if q.Get("error") != "access_denied" || q.Get("state") != "a1" {
		t.Fatalf("return to the app: %v", q)
	}
	// prompt=none cannot ask either.
	if _, q := alice.get(conf.AuthCodeURL("a2", oauth2.SetAuthURLParam("prompt", "none"))).redirect(t); q.Get("error") != "access_denied" {
		t.Fatalf("prompt=none: %v", q)
	}

	admin := newWebBrowser(t, ts)
	consent := admin.signIn(admin.get(conf.AuthCodeURL("b1")), demo.AdminUPN, demo.AdminPass)
	if consent.status != http.StatusOK || !consent.hasButton(t, "Accept") {
		t.Fatalf("admin: status %d:\n%s", consent.status, shortBody(consent.body))
	}
	_, q = admin.press(consent, "Accept").redirect(t)
	if q.Get("code") == "" || q.Get("state") != "b1" {
		t.Fatalf("after accepting: %v", q)
	}
	if _, err := conf.Exchange(ctx, q.Get("code")); err != nil {
		t.Fatal(err)
	}
	// Now alice gets in without being asked.
	_, q = alice.get(conf.AuthCodeURL("a3")).redirect(t)
	if q.Get("code") == "" {
		t.Fatalf("alice after consent: %v", q)
	}
	tok, err := conf.Exchange(ctx, q.Get("code"))
	if err != nil {
		t.Fatal(err)
	}
	if c := siClaims(t, tok.Extra("id_token").(string)); c["tid"] != demo.ContosoTenantID || c["aud"] != appID {
		t.Errorf("ID token %v", c)
	}
}
