// Package snapshot writes the whole state of a dvs2s data directory to one
// file and seeds a new data directory from it: `dvs2s export` and
// `dvs2s import`.
//
// # Format (version 1)
//
// A snapshot is UTF-8 JSON lines (one JSON object per line), optionally
// gzip-compressed (Import recognises gzip by its magic bytes; Export
// compresses when asked). Every line has a "kind"; the fields of each kind
// are the exported types of this package (lower_snake_case JSON names;
// byte strings in standard base64; times in RFC 3339 UTC). The lines come
// in this order:
//
//	header            format "dvs2s-snapshot", version 1, created_at, warning
//	master_key        the 32-byte master key, hex
//	file*             ca.pem, ca-key.pem, demo/* of the data directory
//	tenant*           the identity model: tenants,
//	user*             users (argon2id password hashes),
//	app*              app registrations,
//	secret*           client secrets (keyed hashes),
//	certificate*      app certificates,
//	service_principal*
//	resource*
//	signing_key*      token-signing keys not yet retired (private key sealed)
//	environment*      the environment registry
//	env_meta*         per environment: metadata documents (custom tables),
//	row*              then every row of every table,
//	link*             then every many-to-many link,
//	end               the number of lines before it (a truncated file is refused)
//
// A reader refuses a header whose format is not "dvs2s-snapshot" or whose
// version it does not know, and any kind it does not know. A change that
// an older reader could not apply correctly gets a new version number.
//
// # What it carries, and what that means
//
// Client secrets are stored as keyed hashes and signing keys sealed, both
// under keys derived from the master key, so a snapshot without the master
// key could not seed a working stack: the snapshot carries it. Whoever
// holds a snapshot can therefore unseal the signing keys and mint tokens the
// restored stack (and any stack sharing that master key) accepts, and can
// test guesses of client secrets offline. Export writes the file with mode
// 0600; treat it like the data directory itself. The local CA's private key
// is in it too, so clients that trusted the old stack's CA trust the
// restored one.
//
// The store may be SQLite (the data directory's files) or PostgreSQL
// (ExportOptions.Database, ImportOptions.Database): the format is the same,
// so a snapshot of one seeds the other.
//
// Not carried: authorization codes, refresh tokens and sign-in sessions
// (short-lived grants; users sign in again), retired signing keys, the
// server's TLS certificate (issued again at start) and stack.json (written
// at start). Row version numbers (ETags) are assigned afresh on import;
// every other column keeps its value.
package snapshot

import (
	"encoding/json"
	"time"
)

// Format and Version identify the snapshot format in the header.
const (
	Format  = "dvs2s-snapshot"
	Version = 1
)

// Warning is the header's warning, also what the CLI prints.
const Warning = "this snapshot contains key material (the master key, sealed signing keys, the local CA's private key, secret and password hashes): keep it private"

// Record kinds.
const (
	KindHeader           = "header"
	KindMasterKey        = "master_key"
	KindFile             = "file"
	KindTenant           = "tenant"
	KindUser             = "user"
	KindApp              = "app"
	KindSecret           = "secret"
	KindCertificate      = "certificate"
	KindServicePrincipal = "service_principal"
	KindResource         = "resource"
	KindSigningKey       = "signing_key"
	KindEnvironment      = "environment"
	KindEnvMeta          = "env_meta"
	KindRow              = "row"
	KindLink             = "link"
	KindEnd              = "end"
)

// Header is the first line.
type Header struct {
	Kind      string    `json:"kind"`
	Format    string    `json:"format"`
	Version   int       `json:"version"`
	CreatedAt time.Time `json:"created_at"`
	Warning   string    `json:"warning"`
}

// MasterKey is the data directory's master key.
type MasterKey struct {
	Kind string `json:"kind"`
	Hex  string `json:"hex"`
}

// File is a file of the data directory, by slash-separated path relative
// to it: ca.pem, ca-key.pem, or demo/<name>.
type File struct {
	Kind string `json:"kind"`
	Path string `json:"path"`
	Data []byte `json:"data"`
}

// Tenant is a store.Tenant.
type Tenant struct {
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	Domain    string    `json:"domain"`
	CreatedAt time.Time `json:"created_at"`
}

// User is a store.User.
type User struct {
	Kind         string    `json:"kind"`
	ObjectID     string    `json:"object_id"`
	TenantID     string    `json:"tenant_id"`
	UPN          string    `json:"upn"`
	DisplayName  string    `json:"display_name"`
	PasswordHash string    `json:"password_hash"`
	Admin        bool      `json:"admin"`
	Enabled      bool      `json:"enabled"`
	CreatedAt    time.Time `json:"created_at"`
}

// App is a store.App.
type App struct {
	Kind               string    `json:"kind"`
	AppID              string    `json:"app_id"`
	ObjectID           string    `json:"object_id"`
	HomeTenantID       string    `json:"home_tenant_id"`
	DisplayName        string    `json:"display_name"`
	SignInAudience     string    `json:"sign_in_audience"`
	RedirectURIs       []string  `json:"redirect_uris"`
	IdentifierURIs     []string  `json:"identifier_uris"`
	AccessTokenVersion int       `json:"access_token_version"`
	CreatedAt          time.Time `json:"created_at"`
}

// Secret is a store.PasswordCredential (a client secret's keyed hash).
type Secret struct {
	Kind        string    `json:"kind"`
	KeyID       string    `json:"key_id"`
	AppID       string    `json:"app_id"`
	DisplayName string    `json:"display_name"`
	Hint        string    `json:"hint"`
	Hash        []byte    `json:"hash"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
}

// Certificate is a store.KeyCredential.
type Certificate struct {
	Kind        string    `json:"kind"`
	KeyID       string    `json:"key_id"`
	AppID       string    `json:"app_id"`
	DisplayName string    `json:"display_name"`
	CertDER     []byte    `json:"cert_der"`
	SHA1        []byte    `json:"sha1"`
	SHA256      []byte    `json:"sha256"`
	Start       time.Time `json:"start"`
	End         time.Time `json:"end"`
}

// ServicePrincipal is a store.ServicePrincipal.
type ServicePrincipal struct {
	Kind      string    `json:"kind"`
	ObjectID  string    `json:"object_id"`
	TenantID  string    `json:"tenant_id"`
	AppID     string    `json:"app_id"`
	Enabled   bool      `json:"enabled"`
	CreatedAt time.Time `json:"created_at"`
}

// Resource is a store.Resource.
type Resource struct {
	Kind         string    `json:"kind"`
	TenantID     string    `json:"tenant_id"`
	URI          string    `json:"uri"`
	AppID        string    `json:"app_id"`
	DisplayName  string    `json:"display_name"`
	TokenVersion int       `json:"token_version"`
	CreatedAt    time.Time `json:"created_at"`
}

// SigningKey is a store.SigningKey; the private key stays sealed with the
// master key.
type SigningKey struct {
	Kind             string    `json:"kind"`
	KID              string    `json:"kid"`
	SealedPrivateKey []byte    `json:"sealed_private_key"`
	CertDER          []byte    `json:"cert_der"`
	CreatedAt        time.Time `json:"created_at"`
	ActivateAt       time.Time `json:"activate_at"`
	RetireAt         time.Time `json:"retire_at"`
}

// Environment is a store.Environment. Its URL is the one it had; a stack
// started on the restored directory gives it its new address.
type Environment struct {
	Kind      string    `json:"kind"`
	ID        string    `json:"id"`
	Name      string    `json:"name"`
	TenantID  string    `json:"tenant_id"`
	URL       string    `json:"url"`
	Authority string    `json:"authority"`
	CreatedAt time.Time `json:"created_at"`
}

// EnvMeta is a metadata document of an environment (custom table
// definitions): JSON when the document is JSON, else base64 in Base64.
type EnvMeta struct {
	Kind          string          `json:"kind"`
	EnvironmentID string          `json:"environment_id"`
	Key           string          `json:"key"`
	JSON          json.RawMessage `json:"json,omitempty"`
	Base64        []byte          `json:"base64,omitempty"`
}

// Row is one row of an environment's table. Values by column type: text,
// GUIDs and memo as strings; whole numbers (integer, bigint, choice, state,
// status) and decimals (decimal, double, money) as JSON numbers; booleans;
// date-times as RFC 3339 UTC strings; lookups as {"id": …, "table": …}.
// Null columns are left out.
type Row struct {
	Kind          string                     `json:"kind"`
	EnvironmentID string                     `json:"environment_id"`
	Table         string                     `json:"table"`
	Values        map[string]json.RawMessage `json:"values"`
}

// Link is a many-to-many link: ID1 is the row of the relationship's
// Entity1, ID2 of its Entity2.
type Link struct {
	Kind          string `json:"kind"`
	EnvironmentID string `json:"environment_id"`
	Relationship  string `json:"relationship"` // schema name
	ID1           string `json:"id1"`
	ID2           string `json:"id2"`
}

// End is the last line.
type End struct {
	Kind  string `json:"kind"`
	Lines int    `json:"lines"` // lines before this one, header included
}

// Counts says what a snapshot held.
type Counts struct {
	Tenants, Users, Apps, Secrets, Certificates int
	ServicePrincipals, Resources, SigningKeys   int
	Environments, Rows, Links, Files            int
}

// refValue is a lookup in a Row.
type refValue struct {
	ID    string `json:"id"`
	Table string `json:"table"`
}

// timeFormat is how row date-times are written (Dataverse keeps seconds).
const timeFormat = time.RFC3339
