// Package directory administers the identity model: tenants, users, app
// registrations and their credentials, service principals, admin consent and
// resources. It is what the CLI, the demo seed and the consent page use to
// change state; the token endpoints only read it.
package directory

import (
	"context"
	"crypto/sha1"
	"crypto/sha256"
	"crypto/x509"
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/secret"
	"github.com/dvs2s/dvs2s/store"
	"github.com/google/uuid"
)

// DataverseAppID is the application id of the first-party "Dynamics CRM"
// resource in Entra ID; Dataverse environments are its identifier URIs.
const DataverseAppID = "00000007-0000-0000-c000-000000000000"

// Directory changes the identity model in a store.
type Directory struct {
	Store store.Store
	Keys  *secret.Keys
	Now   func() time.Time // nil means time.Now
	// Changed, if set, is called after every change (a server uses it to
	// drop cached reads).
	Changed func()
}

func (d *Directory) changed(err error) error {
	if err == nil && d.Changed != nil {
		d.Changed()
	}
	return err
}

func (d *Directory) now() time.Time {
	if d.Now != nil {
		return d.Now().UTC()
	}
	return time.Now().UTC()
}

// ErrInvalid marks an argument error; the message says what is wrong.
var ErrInvalid = errors.New("invalid argument")

func invalid(format string, a ...any) error {
	return fmt.Errorf("%w: %s", ErrInvalid, fmt.Sprintf(format, a...))
}

var (
	nameRE   = regexp.MustCompile(`^[a-z0-9][a-z0-9-]{0,62}$`)
	domainRE = regexp.MustCompile(`^([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$`)
)

// IsGUID reports whether s is a GUID in its canonical 8-4-4-4-12 form.
func IsGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	_, err := uuid.Parse(s)
	return err == nil
}

// NewID returns a new random GUID.
func NewID() string { return uuid.NewString() }

// CreateTenant creates a tenant named name (lower-case letters, digits and
// hyphens) whose verified domain is domain, or name.onmicrosoft.com when
// domain is empty. id may be empty for a new GUID.
func (d *Directory) CreateTenant(ctx context.Context, name, domain, id string) (store.Tenant, error) {
	name = strings.ToLower(strings.TrimSpace(name))
	if !nameRE.MatchString(name) {
		return store.Tenant{}, invalid("tenant name %q: use 1-63 lower-case letters, digits or hyphens", name)
	}
	if domain == "" {
		domain = name + ".onmicrosoft.com"
	}
	domain = strings.ToLower(domain)
	if !domainRE.MatchString(domain) {
		return store.Tenant{}, invalid("domain %q is not a valid DNS name", domain)
	}
	if id == "" {
		id = NewID()
	} else if !IsGUID(id) {
		return store.Tenant{}, invalid("tenant id %q is not a GUID", id)
	}
	t := store.Tenant{ID: strings.ToLower(id), Name: name, Domain: domain, CreatedAt: d.now()}
	if err := d.changed(d.Store.CreateTenant(ctx, t)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return t, fmt.Errorf("tenant %s or domain %s already exists: %w", t.ID, domain, err)
		}
		return t, err
	}
	return t, nil
}

// Tenant finds a tenant by id or domain, with a clear error.
func (d *Directory) Tenant(ctx context.Context, idOrDomain string) (store.Tenant, error) {
	t, err := d.Store.Tenant(ctx, idOrDomain)
	if errors.Is(err, store.ErrNotFound) {
		return t, fmt.Errorf("tenant %q: %w", idOrDomain, err)
	}
	return t, err
}

// CreateUser creates a user in tenant with a password (kept as a slow hash).
// The UPN's domain must be the tenant's domain.
// id may be empty for a new GUID.
func (d *Directory) CreateUser(ctx context.Context, tenant, id, upn, displayName, password string, admin bool) (store.User, error) {
	if id == "" {
		id = NewID()
	} else if !IsGUID(id) {
		return store.User{}, invalid("user object id %q is not a GUID", id)
	}
	t, err := d.Tenant(ctx, tenant)
	if err != nil {
		return store.User{}, err
	}
	upn = strings.ToLower(strings.TrimSpace(upn))
	local, dom, ok := strings.Cut(upn, "@")
	if !ok || local == "" || dom != t.Domain {
		return store.User{}, invalid("user principal name %q must be user@%s", upn, t.Domain)
	}
	if len(password) < 8 {
		return store.User{}, invalid("password must have at least 8 characters")
	}
	if displayName == "" {
		displayName = local
	}
	u := store.User{ObjectID: id, TenantID: t.ID, UPN: upn, DisplayName: displayName,
		PasswordHash: secret.HashPassword(password), Admin: admin, Enabled: true, CreatedAt: d.now()}
	if err := d.changed(d.Store.CreateUser(ctx, u)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return u, fmt.Errorf("user %s already exists: %w", upn, err)
		}
		return u, err
	}
	return u, nil
}

// AppSpec describes a new app registration.
type AppSpec struct {
	Tenant         string // home tenant, id or domain
	DisplayName    string
	MultiTenant    bool
	RedirectURIs   []string
	IdentifierURIs []string
	AppID          string // optional fixed client id
}

// CreateApp registers an app in its home tenant and creates its service
// principal there, as the Entra portal does.
func (d *Directory) CreateApp(ctx context.Context, s AppSpec) (store.App, error) {
	t, err := d.Tenant(ctx, s.Tenant)
	if err != nil {
		return store.App{}, err
	}
	if strings.TrimSpace(s.DisplayName) == "" {
		return store.App{}, invalid("display name is required")
	}
	for _, r := range s.RedirectURIs {
		if err := checkRedirectURI(r); err != nil {
			return store.App{}, err
		}
	}
	for _, r := range s.IdentifierURIs {
		if u, err := url.Parse(r); err != nil || u.Scheme == "" {
			return store.App{}, invalid("identifier URI %q must be an absolute URI (api://..., https://...)", r)
		}
	}
	id := s.AppID
	if id == "" {
		id = NewID()
	} else if !IsGUID(id) {
		return store.App{}, invalid("app id %q is not a GUID", id)
	}
	a := store.App{AppID: strings.ToLower(id), ObjectID: NewID(), HomeTenantID: t.ID, DisplayName: strings.TrimSpace(s.DisplayName),
		SignInAudience: store.AudienceSingleTenant, RedirectURIs: s.RedirectURIs, IdentifierURIs: s.IdentifierURIs, CreatedAt: d.now()}
	if s.MultiTenant {
		a.SignInAudience = store.AudienceMultiTenant
	}
	if err := d.changed(d.Store.CreateApp(ctx, a)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return a, fmt.Errorf("app %s already exists: %w", a.AppID, err)
		}
		return a, err
	}
	if _, err := d.ensureSP(ctx, t.ID, a.AppID); err != nil {
		return a, err
	}
	return a, nil
}

// checkRedirectURI applies Entra's rules: https, or http only on localhost.
func checkRedirectURI(r string) error {
	u, err := url.Parse(r)
	if err != nil || u.Host == "" || u.Fragment != "" {
		return invalid("redirect URI %q must be an absolute URL without a fragment", r)
	}
	switch {
	case u.Scheme == "https":
	case u.Scheme == "http" && (u.Hostname() == "localhost" || u.Hostname() == "127.0.0.1" || u.Hostname() == "::1"):
	default:
		return invalid("redirect URI %q must use https (http is allowed only for localhost)", r)
	}
	return nil
}

// App finds an app by client id, with a clear error.
func (d *Directory) App(ctx context.Context, appID string) (store.App, error) {
	a, err := d.Store.App(ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return a, fmt.Errorf("app %q: %w", appID, err)
	}
	return a, err
}

// AddRedirectURI adds a redirect URI to an app registration.
func (d *Directory) AddRedirectURI(ctx context.Context, appID, uri string) error {
	a, err := d.App(ctx, appID)
	if err != nil {
		return err
	}
	if err := checkRedirectURI(uri); err != nil {
		return err
	}
	if slices.Contains(a.RedirectURIs, uri) {
		return nil
	}
	a.RedirectURIs = append(a.RedirectURIs, uri)
	return d.changed(d.Store.UpdateApp(ctx, a))
}

// AddSecret adds a client secret valid for validity and returns the
// credential and the secret text, which is never available again.
func (d *Directory) AddSecret(ctx context.Context, appID, displayName string, validity time.Duration) (store.PasswordCredential, string, error) {
	if _, err := d.App(ctx, appID); err != nil {
		return store.PasswordCredential{}, "", err
	}
	if validity <= 0 {
		return store.PasswordCredential{}, "", invalid("secret validity must be positive")
	}
	text := secret.NewClientSecret()
	now := d.now()
	p := store.PasswordCredential{KeyID: NewID(), AppID: strings.ToLower(appID), DisplayName: displayName,
		Hint: text[:3], Hash: d.Keys.Hash(text), Start: now, End: now.Add(validity)}
	return p, text, d.changed(d.Store.AddPassword(ctx, p))
}

// AddKnownSecret adds a client secret whose text the caller chose (the
// well-known demo secrets). Only its keyed hash is stored.
func (d *Directory) AddKnownSecret(ctx context.Context, appID, keyID, displayName, text string, validity time.Duration) (store.PasswordCredential, error) {
	if _, err := d.App(ctx, appID); err != nil {
		return store.PasswordCredential{}, err
	}
	if len(text) < 16 {
		return store.PasswordCredential{}, invalid("a client secret must have at least 16 characters")
	}
	now := d.now()
	p := store.PasswordCredential{KeyID: keyID, AppID: strings.ToLower(appID), DisplayName: displayName,
		Hint: text[:3], Hash: d.Keys.Hash(text), Start: now, End: now.Add(validity)}
	return p, d.changed(d.Store.AddPassword(ctx, p))
}

// AddCertificate registers an RSA certificate on an app.
func (d *Directory) AddCertificate(ctx context.Context, appID, displayName string, cert *x509.Certificate) (store.KeyCredential, error) {
	if _, err := d.App(ctx, appID); err != nil {
		return store.KeyCredential{}, err
	}
	if cert.PublicKeyAlgorithm != x509.RSA {
		return store.KeyCredential{}, invalid("only RSA certificates can authenticate apps (got %s)", cert.PublicKeyAlgorithm)
	}
	s1 := sha1.Sum(cert.Raw)
	s256 := sha256.Sum256(cert.Raw)
	if displayName == "" {
		displayName = cert.Subject.CommonName
	}
	k := store.KeyCredential{KeyID: NewID(), AppID: strings.ToLower(appID), DisplayName: displayName, CertDER: cert.Raw,
		SHA1: s1[:], SHA256: s256[:], Start: cert.NotBefore.UTC(), End: cert.NotAfter.UTC()}
	if err := d.changed(d.Store.AddKey(ctx, k)); err != nil {
		if errors.Is(err, store.ErrConflict) {
			return k, fmt.Errorf("certificate already registered: %w", err)
		}
		return k, err
	}
	return k, nil
}

// GrantAdminConsent records a tenant administrator's consent to an app:
// the app's service principal is created in the tenant (if absent).
// Single-tenant apps can only be consented to in their home tenant.
func (d *Directory) GrantAdminConsent(ctx context.Context, tenant, appID string) (store.ServicePrincipal, error) {
	t, err := d.Tenant(ctx, tenant)
	if err != nil {
		return store.ServicePrincipal{}, err
	}
	a, err := d.App(ctx, appID)
	if err != nil {
		return store.ServicePrincipal{}, err
	}
	if !a.MultiTenant() && a.HomeTenantID != t.ID {
		return store.ServicePrincipal{}, invalid("app %s is single-tenant; it can only be used in its home tenant %s", a.AppID, a.HomeTenantID)
	}
	return d.ensureSP(ctx, t.ID, a.AppID)
}

// ensureSP returns the app's service principal in tenant, creating it.
func (d *Directory) ensureSP(ctx context.Context, tenantID, appID string) (store.ServicePrincipal, error) {
	sp, err := d.Store.ServicePrincipal(ctx, tenantID, appID)
	if err == nil {
		return sp, nil
	}
	if !errors.Is(err, store.ErrNotFound) {
		return sp, err
	}
	sp = store.ServicePrincipal{ObjectID: NewID(), TenantID: tenantID, AppID: strings.ToLower(appID), Enabled: true, CreatedAt: d.now()}
	if err := d.changed(d.Store.CreateServicePrincipal(ctx, sp)); err != nil {
		if errors.Is(err, store.ErrConflict) { // created concurrently
			return d.Store.ServicePrincipal(ctx, tenantID, appID)
		}
		return sp, err
	}
	return sp, nil
}

// SetServicePrincipalEnabled enables or disables an app in a tenant.
func (d *Directory) SetServicePrincipalEnabled(ctx context.Context, tenant, appID string, enabled bool) error {
	t, err := d.Tenant(ctx, tenant)
	if err != nil {
		return err
	}
	sp, err := d.Store.ServicePrincipal(ctx, t.ID, appID)
	if err != nil {
		return fmt.Errorf("app %s has no service principal in tenant %s: %w", appID, t.Domain, err)
	}
	sp.Enabled = enabled
	return d.changed(d.Store.UpdateServicePrincipal(ctx, sp))
}

// RegisterResource registers (or updates) an API in tenant that tokens can
// be requested for, by URI. appID defaults to the Dataverse application id
// and tokenVersion to 1 (what Dataverse accepts).
func (d *Directory) RegisterResource(ctx context.Context, tenant, uri, appID, displayName string, tokenVersion int) (store.Resource, error) {
	t, err := d.Tenant(ctx, tenant)
	if err != nil {
		return store.Resource{}, err
	}
	u, err := url.Parse(uri)
	if err != nil || u.Scheme == "" || u.Host == "" && u.Opaque == "" {
		return store.Resource{}, invalid("resource %q must be an absolute URI", uri)
	}
	if appID == "" {
		appID = DataverseAppID
	} else if !IsGUID(appID) {
		return store.Resource{}, invalid("resource app id %q is not a GUID", appID)
	}
	if tokenVersion == 0 {
		tokenVersion = 1
	}
	if tokenVersion != 1 && tokenVersion != 2 {
		return store.Resource{}, invalid("token version must be 1 or 2")
	}
	if displayName == "" {
		displayName = uri
	}
	r := store.Resource{TenantID: t.ID, URI: strings.TrimRight(uri, "/"), AppID: strings.ToLower(appID), DisplayName: displayName, TokenVersion: tokenVersion, CreatedAt: d.now()}
	return r, d.changed(d.Store.PutResource(ctx, r))
}
