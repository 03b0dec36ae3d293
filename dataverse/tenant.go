package dataverse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"strings"
	"sync"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
)

// Challenge is the Bearer challenge Dataverse answers an unauthenticated
// request with (reference §1.6):
//
//	WWW-Authenticate: Bearer authorization_uri=https://login.microsoftonline.com/<tenant id>/oauth2/authorize, resource_id=https://org.crm.dynamics.com/
type Challenge struct {
	// AuthorizationURI is the authorize endpoint of the environment's tenant.
	AuthorizationURI string
	// AuthorityHost is AuthorizationURI's scheme and host, such as
	// https://login.microsoftonline.com (the azidentity
	// cloud.Configuration.ActiveDirectoryAuthorityHost, plus "/").
	AuthorityHost string
	// TenantID is the tenant the environment belongs to (the first path
	// segment of AuthorizationURI).
	TenantID string
	// ResourceID is the environment's resource (token audience), as sent.
	ResourceID string
}

// ParseChallenge parses a WWW-Authenticate header of the Bearer scheme.
func ParseChallenge(header string) (*Challenge, error) {
	scheme, rest, _ := strings.Cut(strings.TrimSpace(header), " ")
	if !strings.EqualFold(scheme, "Bearer") {
		return nil, fmt.Errorf("dataverse: not a Bearer challenge: %q", header)
	}
	params := map[string]string{}
	for rest = strings.TrimSpace(rest); rest != ""; {
		name, after, ok := strings.Cut(rest, "=")
		if !ok {
			break
		}
		name = strings.ToLower(strings.TrimSpace(name))
		after = strings.TrimLeft(after, " ")
		var val string
		if strings.HasPrefix(after, `"`) {
			end := strings.IndexByte(after[1:], '"')
			if end < 0 {
				return nil, fmt.Errorf("dataverse: unterminated quoted value in challenge %q", header)
			}
			val, rest = after[1:end+1], after[end+2:]
		} else {
			end := strings.IndexByte(after, ',')
			if end < 0 {
				end = len(after)
			}
			val, rest = strings.TrimSpace(after[:end]), after[end:]
		}
		params[name] = val
		rest = strings.TrimLeft(rest, ", ")
	}
	c := &Challenge{AuthorizationURI: params["authorization_uri"], ResourceID: params["resource_id"]}
	if c.AuthorizationURI == "" {
		return nil, fmt.Errorf("dataverse: challenge has no authorization_uri: %q", header)
	}
	u, err := url.Parse(c.AuthorizationURI)
	if err != nil || u.Host == "" {
		return nil, fmt.Errorf("dataverse: challenge authorization_uri %q is not a URL", c.AuthorizationURI)
	}
	c.AuthorityHost = u.Scheme + "://" + u.Host
	seg, _, _ := strings.Cut(strings.TrimPrefix(u.Path, "/"), "/")
	c.TenantID = seg
	return c, nil
}

// DiscoverTenant finds the tenant an environment belongs to, the way the
// Dataverse documentation describes: it sends a request without an
// access token and reads the 401 answer's Bearer challenge. hc may be nil
// (http.DefaultClient).
func DiscoverTenant(ctx context.Context, environmentURL string, hc *http.Client) (*Challenge, error) {
	if hc == nil {
		hc = http.DefaultClient
	}
	base, err := normalizeEnvURL(environmentURL)
	if err != nil {
		return nil, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/api/data/v9.2/", nil)
	if err != nil {
		return nil, err
	}
	req.Header.Set("Accept", "application/json")
	resp, err := hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("dataverse: discovering the tenant of %s: %w", base, err)
	}
	io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	resp.Body.Close()
	h := resp.Header.Get("WWW-Authenticate")
	if resp.StatusCode != http.StatusUnauthorized || h == "" {
		return nil, fmt.Errorf("dataverse: discovering the tenant of %s: expected 401 with a Bearer challenge, got %s", base, resp.Status)
	}
	return ParseChallenge(h)
}

// TenantCredentials keeps one credential per customer tenant, for a
// multi-tenant app that serves many customers' environments with one app
// registration: each customer tenant (after admin consent) issues tokens
// for its own environments, from its own authority.
//
// It is itself an azcore.TokenCredential that dispatches on
// policy.TokenRequestOptions.TenantID (a Client passes Options.TenantID
// there), so one TenantCredentials can back the clients of every
// customer environment; see [Clients].
type TenantCredentials struct {
	newCred func(tenantID string) (azcore.TokenCredential, error)
	mu      sync.Mutex
	creds   map[string]azcore.TokenCredential
}

// NewTenantCredentials returns a TenantCredentials that creates the
// credential of a tenant with newCred on first use, for example:
//
//	creds := dataverse.NewTenantCredentials(func(tenantID string) (azcore.TokenCredential, error) {
//		return azidentity.NewClientSecretCredential(tenantID, clientID, secret, nil)
//	})
func NewTenantCredentials(newCred func(tenantID string) (azcore.TokenCredential, error)) *TenantCredentials {
	return &TenantCredentials{newCred: newCred, creds: map[string]azcore.TokenCredential{}}
}

// For returns the credential of a tenant, creating it on first use.
func (tc *TenantCredentials) For(tenantID string) (azcore.TokenCredential, error) {
	key := strings.ToLower(strings.TrimSpace(tenantID))
	if key == "" {
		return nil, errors.New("dataverse: TenantCredentials needs a tenant id (set Options.TenantID, or use Clients, which discovers it)")
	}
	tc.mu.Lock()
	defer tc.mu.Unlock()
	if c, ok := tc.creds[key]; ok {
		return c, nil
	}
	c, err := tc.newCred(tenantID)
	if err != nil {
		return nil, err
	}
	tc.creds[key] = c
	return c, nil
}

// Tenants returns the tenants that have a credential.
func (tc *TenantCredentials) Tenants() []string {
	tc.mu.Lock()
	defer tc.mu.Unlock()
	out := make([]string, 0, len(tc.creds))
	for t := range tc.creds {
		out = append(out, t)
	}
	return out
}

// GetToken gets a token from the credential of opts.TenantID.
func (tc *TenantCredentials) GetToken(ctx context.Context, opts policy.TokenRequestOptions) (azcore.AccessToken, error) {
	c, err := tc.For(opts.TenantID)
	if err != nil {
		return azcore.AccessToken{}, err
	}
	return c.GetToken(ctx, opts)
}

// Clients keeps one Client per environment for an app that calls many
// environments, possibly of many tenants: on first use of an environment
// it discovers the environment's tenant from its challenge (DiscoverTenant)
// and creates a Client whose tokens come from that tenant.
type Clients struct {
	cred azcore.TokenCredential
	opts Options

	mu      sync.Mutex
	clients map[string]*clientEntry
}

type clientEntry struct {
	once   sync.Once
	client *Client
	err    error
}

// NewClients returns a Clients whose clients share cred (typically a
// *TenantCredentials) and options (TenantID is set per environment).
func NewClients(cred azcore.TokenCredential, opts *Options) *Clients {
	cs := &Clients{cred: cred, clients: map[string]*clientEntry{}}
	if opts != nil {
		cs.opts = *opts
	}
	return cs
}

// Client returns the client of an environment, discovering its tenant on
// first use. A failed discovery is not remembered: the next call tries
// again.
func (cs *Clients) Client(ctx context.Context, environmentURL string) (*Client, error) {
	base, err := normalizeEnvURL(environmentURL)
	if err != nil {
		return nil, err
	}
	key := strings.ToLower(base)
	cs.mu.Lock()
	ent := cs.clients[key]
	if ent == nil {
		ent = &clientEntry{}
		cs.clients[key] = ent
	}
	cs.mu.Unlock()
	ent.once.Do(func() {
		var ch *Challenge
		ch, ent.err = DiscoverTenant(ctx, base, cs.opts.HTTPClient)
		if ent.err != nil {
			return
		}
		o := cs.opts
		o.TenantID = ch.TenantID
		ent.client, ent.err = NewClient(base, cs.cred, &o)
	})
	if ent.err != nil {
		cs.mu.Lock()
		if cs.clients[key] == ent {
			delete(cs.clients, key)
		}
		cs.mu.Unlock()
		return nil, ent.err
	}
	return ent.client, nil
}
