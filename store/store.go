// Package store defines the persistence interfaces of dvs2s and the records
// they hold. Implementations live in sub-packages (store/sqlite, and later
// store/postgres); every implementation runs the conformance suite in
// store/storetest.
//
// Secrets never reach a store in plain text: client secrets arrive as keyed
// hashes, user passwords as slow password hashes, signing keys sealed with
// the data directory's master key, authorization codes and refresh tokens as
// hashes. The store only persists what it is given.
package store

import (
	"context"
	"errors"
	"time"
)

// ErrNotFound is returned when a record does not exist.
var ErrNotFound = errors.New("store: not found")

// ErrConflict is returned when a record would violate a uniqueness rule
// (same id, same domain, same user principal name, ...).
var ErrConflict = errors.New("store: conflict")

// Tenant is a directory (an Entra ID tenant).
type Tenant struct {
	ID        string // GUID
	Name      string // short name, e.g. "contoso"
	Domain    string // verified domain, e.g. "contoso.onmicrosoft.com" (lower case)
	CreatedAt time.Time
}

// User is a member of a tenant who can sign in interactively.
type User struct {
	ObjectID     string
	TenantID     string
	UPN          string // user principal name (lower case)
	DisplayName  string
	PasswordHash string // PHC-formatted slow hash, never the password
	Admin        bool   // tenant administrator (may grant admin consent)
	Enabled      bool
	CreatedAt    time.Time
}

// Audience values of an app registration (signInAudience).
const (
	AudienceSingleTenant = "AzureADMyOrg"
	AudienceMultiTenant  = "AzureADMultipleOrgs"
)

// App is an app registration, owned by its home tenant.
type App struct {
	AppID          string // client id (GUID)
	ObjectID       string // application object id in the home tenant
	HomeTenantID   string
	DisplayName    string
	SignInAudience string // AudienceSingleTenant or AudienceMultiTenant
	RedirectURIs   []string
	IdentifierURIs []string
	// AccessTokenVersion is the token version the app accepts when it is
	// itself the resource (1 or 2; 0 means 1, as Entra's null).
	AccessTokenVersion int
	CreatedAt          time.Time
}

// MultiTenant reports whether the app may have service principals outside
// its home tenant.
func (a App) MultiTenant() bool { return a.SignInAudience == AudienceMultiTenant }

// PasswordCredential is a client secret, kept as a keyed hash.
type PasswordCredential struct {
	KeyID       string // GUID
	AppID       string
	DisplayName string
	Hint        string // first three characters of the secret
	Hash        []byte // keyed hash of the secret
	Start       time.Time
	End         time.Time
}

// KeyCredential is a certificate registered on an app.
type KeyCredential struct {
	KeyID       string // GUID
	AppID       string
	DisplayName string
	CertDER     []byte
	SHA1        []byte // SHA-1 thumbprint of CertDER
	SHA256      []byte // SHA-256 thumbprint of CertDER
	Start       time.Time
	End         time.Time
}

// ServicePrincipal is an app's instance in one tenant.
type ServicePrincipal struct {
	ObjectID  string // differs per tenant
	TenantID  string
	AppID     string
	Enabled   bool
	CreatedAt time.Time
}

// Resource is an API that tokens can be issued for in a tenant, identified by
// URI (a Dataverse environment URL, or anything registered by CLI).
type Resource struct {
	TenantID    string
	URI         string // identifier URI, without trailing slash
	AppID       string // the resource's application id (the v2 audience)
	DisplayName string
	// TokenVersion is the access token version the resource accepts (1 or 2).
	TokenVersion int
	CreatedAt    time.Time
}

// SigningKey is an RSA token-signing key. PrivateKey is sealed (encrypted)
// by the caller before it reaches the store.
type SigningKey struct {
	KID        string
	PrivateKey []byte // sealed PKCS#8
	CertDER    []byte // self-signed certificate published in x5c
	CreatedAt  time.Time
	ActivateAt time.Time // signing starts at this time (publication starts at CreatedAt)
	RetireAt   time.Time // no longer published after this time
}

// AuthCode is an OAuth 2.0 authorization code awaiting redemption.
type AuthCode struct {
	Hash            []byte // hash of the code
	ClientID        string
	TenantID        string
	UserID          string
	RedirectURI     string
	Scope           string
	Nonce           string
	Challenge       string
	ChallengeMethod string
	AuthTime        time.Time
	ExpiresAt       time.Time
}

// RefreshToken is a long-lived grant for a signed-in user.
type RefreshToken struct {
	Hash      []byte
	ClientID  string
	TenantID  string
	UserID    string
	Scope     string
	AuthTime  time.Time
	ExpiresAt time.Time
}

// Session is a browser sign-in session at the identity service.
type Session struct {
	Hash      []byte
	UserID    string
	TenantID  string
	AuthTime  time.Time
	ExpiresAt time.Time
}

// Tenants persists tenants.
type Tenants interface {
	CreateTenant(ctx context.Context, t Tenant) error
	// Tenant finds a tenant by GUID or by domain, case-insensitively.
	Tenant(ctx context.Context, idOrDomain string) (Tenant, error)
	ListTenants(ctx context.Context) ([]Tenant, error)
}

// Users persists users.
type Users interface {
	CreateUser(ctx context.Context, u User) error
	UpdateUser(ctx context.Context, u User) error
	User(ctx context.Context, objectID string) (User, error)
	UserByUPN(ctx context.Context, upn string) (User, error)
	ListUsers(ctx context.Context, tenantID string) ([]User, error)
}

// Apps persists app registrations and their credentials.
type Apps interface {
	CreateApp(ctx context.Context, a App) error
	UpdateApp(ctx context.Context, a App) error
	App(ctx context.Context, appID string) (App, error)
	// ListApps lists apps registered in tenantID, or all apps if it is empty.
	ListApps(ctx context.Context, tenantID string) ([]App, error)

	AddPassword(ctx context.Context, p PasswordCredential) error
	Passwords(ctx context.Context, appID string) ([]PasswordCredential, error)
	RemovePassword(ctx context.Context, appID, keyID string) error

	AddKey(ctx context.Context, k KeyCredential) error
	Keys(ctx context.Context, appID string) ([]KeyCredential, error)
	RemoveKey(ctx context.Context, appID, keyID string) error
}

// ServicePrincipals persists service principals.
type ServicePrincipals interface {
	CreateServicePrincipal(ctx context.Context, sp ServicePrincipal) error
	UpdateServicePrincipal(ctx context.Context, sp ServicePrincipal) error
	ServicePrincipal(ctx context.Context, tenantID, appID string) (ServicePrincipal, error)
	// ListServicePrincipals lists a tenant's service principals, or all of
	// them if tenantID is empty.
	ListServicePrincipals(ctx context.Context, tenantID string) ([]ServicePrincipal, error)
}

// Resources persists per-tenant resources.
type Resources interface {
	// PutResource creates or replaces the resource (tenant, URI).
	PutResource(ctx context.Context, r Resource) error
	// Resource finds a resource by URI, case-insensitively.
	Resource(ctx context.Context, tenantID, uri string) (Resource, error)
	ListResources(ctx context.Context, tenantID string) ([]Resource, error)
	DeleteResource(ctx context.Context, tenantID, uri string) error
}

// SigningKeys persists token-signing keys.
type SigningKeys interface {
	// AddSigningKey adds k unless a key created after notBefore exists, in
	// which case it returns ErrConflict. This lets several instances sharing
	// one database rotate without racing each other.
	AddSigningKey(ctx context.Context, k SigningKey, notBefore time.Time) error
	// SigningKeys lists keys not retired at now, newest first.
	SigningKeys(ctx context.Context, now time.Time) ([]SigningKey, error)
}

// Grants persists authorization codes, refresh tokens and sign-in sessions.
type Grants interface {
	CreateAuthCode(ctx context.Context, c AuthCode) error
	// RedeemAuthCode deletes and returns the code; a second redemption gets
	// ErrNotFound.
	RedeemAuthCode(ctx context.Context, hash []byte) (AuthCode, error)

	CreateRefreshToken(ctx context.Context, r RefreshToken) error
	// RedeemRefreshToken deletes and returns the token (refresh tokens rotate).
	RedeemRefreshToken(ctx context.Context, hash []byte) (RefreshToken, error)

	CreateSession(ctx context.Context, s Session) error
	Session(ctx context.Context, hash []byte) (Session, error)
	DeleteSession(ctx context.Context, hash []byte) error

	// DeleteExpired removes codes, refresh tokens and sessions expired at now.
	DeleteExpired(ctx context.Context, now time.Time) error
}

// Store is everything the identity service persists.
type Store interface {
	Tenants
	Users
	Apps
	ServicePrincipals
	Resources
	SigningKeys
	Grants
	Environments
	Close() error
}
