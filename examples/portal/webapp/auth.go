package webapp

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"
)

// auth signs users in with OpenID Connect: the authorization code flow
// with PKCE against the identity provider's "organizations" authority, so
// users of any tenant that approved the app can sign in. The ID token is
// validated as a multi-tenant app must: signature (the provider's keys),
// audience, expiry, nonce, and an issuer that matches the token's own
// tenant (the discovery document's issuer is a {tenantid} template).
type auth struct {
	a          *App
	ctx        context.Context // carries the HTTP client for go-oidc and x/oauth2
	provider   *oidc.Provider
	conf       oauth2.Config
	verifier   *oidc.IDTokenVerifier
	endSession string

	mu      sync.Mutex
	pending map[string]*pendingSignIn // state →
}

type pendingSignIn struct {
	verifier, nonce, ret string
	expires              time.Time
}

func newAuth(ctx context.Context, a *App) (*auth, error) {
	ctx = oidc.ClientContext(context.WithoutCancel(ctx), a.c.HTTPClient)
	// The organizations document's issuer is the {tenantid} template, not
	// its own URL: accept it for discovery, and check each token's issuer
	// against its tenant below.
	dctx := oidc.InsecureIssuerURLContext(ctx, a.c.AuthorityHost+"/{tenantid}/v2.0")
	p, err := oidc.NewProvider(dctx, a.c.AuthorityHost+"/organizations/v2.0")
	if err != nil {
		return nil, err
	}
	var extra struct {
		EndSession string `json:"end_session_endpoint"`
	}
	p.Claims(&extra)
	ep := p.Endpoint()
	ep.AuthStyle = oauth2.AuthStyleInParams
	return &auth{a: a, ctx: ctx, provider: p, endSession: extra.EndSession, pending: map[string]*pendingSignIn{},
		verifier: p.Verifier(&oidc.Config{ClientID: a.c.ClientID, SkipIssuerCheck: true}),
		conf: oauth2.Config{ClientID: a.c.ClientID, ClientSecret: a.c.ClientSecret, Endpoint: ep,
			RedirectURL: a.c.BaseURL + "/auth/callback", Scopes: []string{oidc.ScopeOpenID, "profile", "email"}}}, nil
}

// localPath accepts only a path of this site as a place to return to.
func localPath(p string) bool {
	return strings.HasPrefix(p, "/") && !strings.HasPrefix(p, "//") && !strings.ContainsAny(p, "\\\r\n\t")
}

func (au *auth) signIn(w http.ResponseWriter, r *http.Request) {
	ret := r.URL.Query().Get("return")
	if !localPath(ret) {
		ret = "/accounts"
	}
	state, verifier, nonce := randomToken(), oauth2.GenerateVerifier(), randomToken()
	au.mu.Lock()
	now := time.Now()
	for k, p := range au.pending {
		if now.After(p.expires) {
			delete(au.pending, k)
		}
	}
	if len(au.pending) > 10000 {
		au.pending = map[string]*pendingSignIn{}
	}
	au.pending[state] = &pendingSignIn{verifier: verifier, nonce: nonce, ret: ret, expires: now.Add(10 * time.Minute)}
	au.mu.Unlock()
	// The state is also bound to this browser, so a sign-in started
	// elsewhere cannot be completed here (login CSRF).
	au.a.setCookie(w, "portal-auth", state, 600)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, au.conf.AuthCodeURL(state, oidc.Nonce(nonce), oauth2.S256ChallengeOption(verifier)), http.StatusFound)
}

// idClaims are the claims the portal reads from the ID token.
type idClaims struct {
	TenantID string `json:"tid"`
	OID      string `json:"oid"`
	Name     string `json:"name"`
	UPN      string `json:"preferred_username"`
}

func (au *auth) callback(w http.ResponseWriter, r *http.Request) {
	a := au.a
	q := r.URL.Query()
	state := q.Get("state")
	c, cerr := r.Cookie(a.cookieName("portal-auth"))
	au.mu.Lock()
	p := au.pending[state]
	delete(au.pending, state)
	au.mu.Unlock()
	a.setCookie(w, "portal-auth", "", -1)
	if p == nil || cerr != nil || c.Value != state || time.Now().After(p.expires) {
		a.render(w, r, nil, http.StatusBadRequest, "message", &view{Title: "Sign-in expired",
			Problem: "This sign-in was not started here or took too long. Please sign in again."})
		return
	}
	if e := q.Get("error"); e != "" {
		desc := q.Get("error_description")
		if i := strings.IndexAny(desc, "\r\n"); i >= 0 {
			desc = desc[:i]
		}
		v := &view{Title: "Sign-in failed", Problem: "The identity provider answered " + e + ": " + desc}
		if strings.Contains(desc, "AADSTS90094") || strings.Contains(desc, "AADSTS65001") {
			v.Problem = "Your organization has not approved Fabrikam Portal yet. An administrator of your organization must connect it first (" + desc + ")."
		}
		a.render(w, r, nil, http.StatusForbidden, "message", v)
		return
	}
	ctx := r.Context()
	octx := context.WithValue(ctx, oauth2.HTTPClient, a.c.HTTPClient)
	tok, err := au.conf.Exchange(octx, q.Get("code"), oauth2.VerifierOption(p.verifier))
	if err != nil {
		a.log.Warn("portal: code redemption failed", "err", err)
		a.render(w, r, nil, http.StatusBadGateway, "message", &view{Title: "Sign-in failed", Problem: "The sign-in could not be completed. Please try again."})
		return
	}
	raw, _ := tok.Extra("id_token").(string)
	idt, err := au.verify(ctx, raw, p.nonce)
	if err != nil {
		a.log.Warn("portal: ID token refused", "err", err)
		a.render(w, r, nil, http.StatusBadGateway, "message", &view{Title: "Sign-in failed", Problem: "The identity provider's answer could not be validated."})
		return
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil || cl.OID == "" || cl.TenantID == "" {
		a.render(w, r, nil, http.StatusBadGateway, "message", &view{Title: "Sign-in failed", Problem: "The ID token lacks the user's object id or tenant."})
		return
	}
	if c := a.session(r); c != nil {
		a.endSession(w, c)
	}
	s := &session{OID: strings.ToLower(cl.OID), TenantID: strings.ToLower(cl.TenantID), Name: cl.Name, UPN: cl.UPN, IDToken: raw}
	if s.Name == "" {
		s.Name = s.UPN
	}
	a.newSession(w, s)
	a.log.Info("portal: user signed in", "tenant", s.TenantID, "user", s.OID)
	http.Redirect(w, r, p.ret, http.StatusSeeOther)
}

// verify validates an ID token for a multi-tenant app.
func (au *auth) verify(ctx context.Context, raw, nonce string) (*oidc.IDToken, error) {
	idt, err := au.verifier.Verify(oidc.ClientContext(ctx, au.a.c.HTTPClient), raw)
	if err != nil {
		return nil, err
	}
	var cl idClaims
	if err := idt.Claims(&cl); err != nil {
		return nil, err
	}
	if cl.TenantID == "" || idt.Issuer != au.a.c.AuthorityHost+"/"+cl.TenantID+"/v2.0" {
		return nil, errors.New("the issuer " + idt.Issuer + " does not match the token's tenant")
	}
	if idt.Nonce != nonce {
		return nil, errors.New("nonce mismatch")
	}
	return idt, nil
}

// signOut ends the portal session, then the identity provider's
// (RP-initiated logout), which returns to /auth/signedout when that URL is
// registered on the app.
func (au *auth) signOut(w http.ResponseWriter, r *http.Request, s *session) {
	au.a.endSession(w, s)
	if au.endSession == "" {
		http.Redirect(w, r, "/auth/signedout", http.StatusSeeOther)
		return
	}
	q := url.Values{"client_id": {au.a.c.ClientID}, "post_logout_redirect_uri": {au.a.c.BaseURL + "/auth/signedout"}, "id_token_hint": {s.IDToken}}
	http.Redirect(w, r, au.endSession+"?"+q.Encode(), http.StatusSeeOther)
}
