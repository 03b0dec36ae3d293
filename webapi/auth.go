package webapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"time"

	jose "github.com/go-jose/go-jose/v4"
	"github.com/go-jose/go-jose/v4/jwt"
)

// Claims are the access token claims the data service uses.
type Claims struct {
	Aud   jwt.Audience `json:"aud"`
	Iss   string       `json:"iss"`
	Tid   string       `json:"tid"`
	Oid   string       `json:"oid"`
	AppID string       `json:"appid"` // v1
	Azp   string       `json:"azp"`   // v2
	IDTyp string       `json:"idtyp"`
	Scp   string       `json:"scp"`
	Ver   string       `json:"ver"`
	Exp   int64        `json:"exp"`
	Nbf   int64        `json:"nbf"`
}

// App reports whether the token is app-only (client credentials) and the
// client application id.
func (c *Claims) App() (appID string, appOnly bool) {
	id := c.AppID
	if id == "" {
		id = c.Azp
	}
	return strings.ToLower(id), c.IDTyp == "app" || (c.Scp == "" && c.IDTyp == "")
}

// Verifier validates access tokens the way Dataverse does: against the
// issuer's OpenID discovery document and JWKS fetched over HTTPS from the
// authority (cached; the JWKS refetched on an unknown kid, at most once per
// refetchInterval), signature (RS256), exp/nbf with skew, audience and
// issuer. It trusts the identity service only through the protocol.
type Verifier struct {
	Authority string       // e.g. https://localhost:8443 or https://login.microsoftonline.com
	Client    *http.Client // trusts the authority's CA
	Now       func() time.Time

	mu        sync.Mutex
	fetchMu   sync.Mutex         // serialises JWKS fetches
	tenants   map[string]*issuer // by tenant id
	keys      map[string]*jose.JSONWebKey
	jwksURI   string
	lastFetch time.Time
	valid     map[string]*Claims // tokens already verified
}

type issuer struct {
	v1, v2  string
	fetched time.Time
}

const (
	skew            = 5 * time.Minute
	refetchInterval = 10 * time.Second
	metadataTTL     = 24 * time.Hour
	maxValidCache   = 20000
)

// errAuth is an authentication failure; its text is safe to show.
type errAuth struct{ msg string }

func (e *errAuth) Error() string { return e.msg }

func authErr(format string, a ...any) error { return &errAuth{fmt.Sprintf(format, a...)} }

func (v *Verifier) now() time.Time {
	if v.Now != nil {
		return v.Now()
	}
	return time.Now()
}

// Verify validates raw for an environment of tenant tenantID whose URL is
// audience.
func (v *Verifier) Verify(ctx context.Context, raw, tenantID, audience string) (*Claims, error) {
	now := v.now()
	v.mu.Lock()
	c, ok := v.valid[raw]
	v.mu.Unlock()
	if ok {
		if err := v.check(c, now, tenantID, audience, nil); err != nil {
			return nil, err
		}
		return c, nil
	}
	tok, err := jwt.ParseSigned(raw, []jose.SignatureAlgorithm{jose.RS256})
	if err != nil {
		return nil, authErr("The access token is malformed.")
	}
	if len(tok.Headers) != 1 || tok.Headers[0].KeyID == "" {
		return nil, authErr("The access token has no key id.")
	}
	var unverified Claims
	if err := tok.UnsafeClaimsWithoutVerification(&unverified); err != nil {
		return nil, authErr("The access token claims are malformed.")
	}
	if !strings.EqualFold(unverified.Tid, tenantID) {
		return nil, authErr("The access token was issued for tenant '%s', not for this environment's tenant.", unverified.Tid)
	}
	key, err := v.key(ctx, tok.Headers[0].KeyID)
	if err != nil {
		return nil, err
	}
	c = &Claims{}
	if err := tok.Claims(key.Key, c); err != nil {
		return nil, authErr("The access token signature is invalid.")
	}
	iss, err := v.issuer(ctx, tenantID)
	if err != nil {
		return nil, err
	}
	if err := v.check(c, now, tenantID, audience, iss); err != nil {
		return nil, err
	}
	v.mu.Lock()
	if v.valid == nil || len(v.valid) >= maxValidCache {
		v.valid = map[string]*Claims{}
	}
	v.valid[raw] = c
	v.mu.Unlock()
	return c, nil
}

// check applies the time, audience, tenant and (when iss is not nil)
// issuer rules.
func (v *Verifier) check(c *Claims, now time.Time, tenantID, audience string, iss *issuer) error {
	if now.Add(-skew).Unix() >= c.Exp {
		return authErr("The access token is expired.")
	}
	if c.Nbf != 0 && now.Add(skew).Unix() < c.Nbf {
		return authErr("The access token is not yet valid.")
	}
	if !strings.EqualFold(c.Tid, tenantID) {
		return authErr("The access token was issued for another tenant.")
	}
	want := strings.TrimRight(strings.ToLower(audience), "/")
	okAud := false
	for _, a := range c.Aud {
		if strings.TrimRight(strings.ToLower(a), "/") == want {
			okAud = true
		}
	}
	if !okAud {
		return authErr("The access token audience '%s' is not this environment (%s).", strings.Join(c.Aud, ","), audience)
	}
	if iss != nil && c.Iss != iss.v1 && c.Iss != iss.v2 {
		return authErr("The access token issuer '%s' is not trusted for this environment.", c.Iss)
	}
	return nil
}

// issuer returns the v1 and v2 issuers of a tenant from its discovery
// documents.
func (v *Verifier) issuer(ctx context.Context, tid string) (*issuer, error) {
	tid = strings.ToLower(tid)
	v.mu.Lock()
	is := v.tenants[tid]
	v.mu.Unlock()
	if is != nil && v.now().Sub(is.fetched) < metadataTTL {
		return is, nil
	}
	var d2, d1 struct {
		Issuer  string `json:"issuer"`
		JWKSURI string `json:"jwks_uri"`
	}
	if err := v.getJSON(ctx, v.Authority+"/"+tid+"/v2.0/.well-known/openid-configuration", &d2); err != nil {
		return nil, err
	}
	if err := v.getJSON(ctx, v.Authority+"/"+tid+"/.well-known/openid-configuration", &d1); err != nil {
		return nil, err
	}
	is = &issuer{v1: d1.Issuer, v2: d2.Issuer, fetched: v.now()}
	v.mu.Lock()
	if v.tenants == nil {
		v.tenants = map[string]*issuer{}
	}
	v.tenants[tid] = is
	if v.jwksURI == "" {
		v.jwksURI = d2.JWKSURI
	}
	v.mu.Unlock()
	return is, nil
}

// key returns the signing key kid, fetching the JWKS when the key is
// unknown (rate-limited).
func (v *Verifier) key(ctx context.Context, kid string) (*jose.JSONWebKey, error) {
	v.mu.Lock()
	k := v.keys[kid]
	uri, last := v.jwksURI, v.lastFetch
	v.mu.Unlock()
	if k != nil {
		return k, nil
	}
	// One fetch at a time; a request that waited for another's fetch
	// looks again before concluding the key is unknown.
	v.fetchMu.Lock()
	defer v.fetchMu.Unlock()
	v.mu.Lock()
	k = v.keys[kid]
	uri, last = v.jwksURI, v.lastFetch
	v.mu.Unlock()
	if k != nil {
		return k, nil
	}
	if !last.IsZero() && v.now().Sub(last) < refetchInterval {
		return nil, authErr("The access token is signed with an unknown key.")
	}
	if uri == "" {
		uri = v.Authority + "/common/discovery/v2.0/keys"
	}
	v.mu.Lock()
	v.lastFetch = v.now()
	v.mu.Unlock()
	var set jose.JSONWebKeySet
	if err := v.getJSON(ctx, uri, &set); err != nil {
		return nil, err
	}
	keys := map[string]*jose.JSONWebKey{}
	for i := range set.Keys {
		keys[set.Keys[i].KeyID] = &set.Keys[i]
	}
	v.mu.Lock()
	v.keys = keys
	v.mu.Unlock()
	if k = keys[kid]; k == nil {
		return nil, authErr("The access token is signed with an unknown key.")
	}
	return k, nil
}

// errMetadata means the authority could not be reached or answered badly.
var errMetadata = errors.New("identity metadata unavailable")

func (v *Verifier) getJSON(ctx context.Context, url string, out any) error {
	ctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", errMetadata, err)
	}
	res, err := v.Client.Do(req)
	if err != nil {
		return fmt.Errorf("%w: %v", errMetadata, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(io.LimitReader(res.Body, 1<<20))
	if err != nil {
		return fmt.Errorf("%w: %v", errMetadata, err)
	}
	if res.StatusCode != http.StatusOK {
		if res.StatusCode == http.StatusBadRequest {
			return authErr("The access token's tenant is unknown to the identity provider.")
		}
		return fmt.Errorf("%w: GET %s: %s", errMetadata, url, res.Status)
	}
	if err := json.Unmarshal(b, out); err != nil {
		return fmt.Errorf("%w: GET %s: %v", errMetadata, url, err)
	}
	return nil
}
