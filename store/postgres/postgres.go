// Package postgres is the scale-out store: PostgreSQL through pgx, shared
// by any number of `dvs2s serve` processes. The identity model lives in
// the tables of the connection's current schema (public, or the first
// schema of the URL's search_path), migrated on open; each Dataverse
// environment's rows live in a schema of their own (OpenData), one SQL
// table per Dataverse table with typed columns.
//
// Everything that must not race between instances is decided by the
// database: migrations and schema changes run under advisory locks,
// signing-key rotation under a table lock, grant redemption by DELETE ...
// RETURNING, row versions come from a sequence.
package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/store"
	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"
)

// DB is a store.Store backed by a PostgreSQL database.
type DB struct {
	pool *pgxpool.Pool
	// prefix starts the names of environment schemas: "" when the
	// identity tables are in public, else "<schema>_", so deployments (and
	// tests) that share a database with different search paths do not
	// share environments.
	prefix string
	utf8   bool // server_encoding is UTF8
}

var _ store.Store = (*DB)(nil)

// DefaultMaxConns is the connection pool size when the URL does not set
// pool_max_conns.
const DefaultMaxConns = 16

// IsURL reports whether s is a PostgreSQL connection URL (postgres:// or
// postgresql://), as accepted by --database.
func IsURL(s string) bool {
	return strings.HasPrefix(s, "postgres://") || strings.HasPrefix(s, "postgresql://")
}

// Open connects to the database at url (postgres://user:password@host:port/db?...;
// every libpq parameter and pgxpool's pool_* parameters are accepted) and
// migrates it. Several processes may open the same database at once.
func Open(ctx context.Context, url string) (*DB, error) {
	cfg, err := pgxpool.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	if !strings.Contains(url, "pool_max_conns") {
		cfg.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, fmt.Errorf("postgres: %w", err)
	}
	s := &DB{pool: pool}
	if err := s.migrate(ctx); err != nil {
		pool.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the connection pool.
func (s *DB) Close() error {
	s.pool.Close()
	return nil
}

// Pool is the connection pool (for tests and tools).
func (s *DB) Pool() *pgxpool.Pool { return s.pool }

// lockKey is the advisory lock key of a name (a schema, "migrations").
func lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("dvs2s:" + name))
	return int64(h.Sum64())
}

func (s *DB) migrate(ctx context.Context) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	defer tx.Rollback(ctx)
	var cur, enc string
	if err := tx.QueryRow(ctx, `SELECT COALESCE(current_schema(), ''), current_setting('server_encoding')`).Scan(&cur, &enc); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if cur == "" {
		return errors.New("postgres: no schema to create tables in: the search_path names no existing schema")
	}
	if cur != "public" {
		s.prefix = cur + "_"
	}
	s.utf8 = enc == "UTF8"
	// Instances starting together migrate one at a time.
	if _, err := tx.Exec(ctx, `SELECT pg_advisory_xact_lock($1)`, lockKey(cur+".migrations")); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if _, err := tx.Exec(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, applied_at timestamptz NOT NULL)`); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	var v int
	if err := tx.QueryRow(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("postgres: database schema version %d is newer than this binary (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.Exec(ctx, migrations[i]); err != nil {
			return fmt.Errorf("postgres: migration %d: %w", i+1, err)
		}
		if _, err := tx.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, i+1); err != nil {
			return fmt.Errorf("postgres: migration %d: %w", i+1, err)
		}
	}
	if err := tx.Commit(ctx); err != nil {
		return fmt.Errorf("postgres: migrate: %w", err)
	}
	return nil
}

// utc returns t in UTC (pgx returns timestamptz in the local zone). The
// zero time stays zero.
func utc(t time.Time) time.Time {
	if t.IsZero() {
		return time.Time{}
	}
	return t.UTC()
}

// mapErr turns driver errors into store errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, pgx.ErrNoRows) {
		return store.ErrNotFound
	}
	var pe *pgconn.PgError
	if errors.As(err, &pe) {
		switch pe.Code {
		case "23505": // unique_violation
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		case "23503": // foreign_key_violation
			return fmt.Errorf("%w: referenced record missing: %v", store.ErrNotFound, err)
		}
	}
	return err
}

func (s *DB) exec(ctx context.Context, q string, args ...any) error {
	_, err := s.pool.Exec(ctx, q, args...)
	return mapErr(err)
}

// execOne runs a statement that must affect exactly one row.
func (s *DB) execOne(ctx context.Context, q string, args ...any) error {
	tag, err := s.pool.Exec(ctx, q, args...)
	if err != nil {
		return mapErr(err)
	}
	if tag.RowsAffected() == 0 {
		return store.ErrNotFound
	}
	return nil
}

// list runs q and scans every row with scan.
func list[T any](ctx context.Context, s *DB, scan func(pgx.Row) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.pool.Query(ctx, q, args...)
	if err != nil {
		return nil, mapErr(err)
	}
	defer rows.Close()
	var out []T
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, mapErr(rows.Err())
}

func nonNil(v []string) []string {
	if v == nil {
		return []string{}
	}
	return v
}

// --- tenants ---

const tenantCols = `id, name, domain, created_at`

func scanTenant(r pgx.Row) (store.Tenant, error) {
	var t store.Tenant
	err := r.Scan(&t.ID, &t.Name, &t.Domain, &t.CreatedAt)
	t.CreatedAt = utc(t.CreatedAt)
	return t, mapErr(err)
}

// CreateTenant implements store.Tenants.
func (s *DB) CreateTenant(ctx context.Context, t store.Tenant) error {
	return s.exec(ctx, `INSERT INTO tenants (`+tenantCols+`) VALUES ($1, $2, $3, $4)`,
		strings.ToLower(t.ID), t.Name, strings.ToLower(t.Domain), t.CreatedAt)
}

// Tenant implements store.Tenants.
func (s *DB) Tenant(ctx context.Context, idOrDomain string) (store.Tenant, error) {
	k := strings.ToLower(idOrDomain)
	return scanTenant(s.pool.QueryRow(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = $1 OR domain = $1`, k))
}

// ListTenants implements store.Tenants.
func (s *DB) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	return list(ctx, s, scanTenant, `SELECT `+tenantCols+` FROM tenants ORDER BY created_at, id`)
}

// --- users ---

const userCols = `object_id, tenant_id, upn, display_name, password_hash, admin, enabled, created_at`

func scanUser(r pgx.Row) (store.User, error) {
	var u store.User
	err := r.Scan(&u.ObjectID, &u.TenantID, &u.UPN, &u.DisplayName, &u.PasswordHash, &u.Admin, &u.Enabled, &u.CreatedAt)
	u.CreatedAt = utc(u.CreatedAt)
	return u, mapErr(err)
}

// CreateUser implements store.Users.
func (s *DB) CreateUser(ctx context.Context, u store.User) error {
	return s.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		u.ObjectID, u.TenantID, strings.ToLower(u.UPN), u.DisplayName, u.PasswordHash, u.Admin, u.Enabled, u.CreatedAt)
}

// UpdateUser implements store.Users.
func (s *DB) UpdateUser(ctx context.Context, u store.User) error {
	return s.execOne(ctx, `UPDATE users SET upn = $1, display_name = $2, password_hash = $3, admin = $4, enabled = $5 WHERE object_id = $6`,
		strings.ToLower(u.UPN), u.DisplayName, u.PasswordHash, u.Admin, u.Enabled, u.ObjectID)
}

// User implements store.Users.
func (s *DB) User(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE object_id = $1`, id))
}

// UserByUPN implements store.Users.
func (s *DB) UserByUPN(ctx context.Context, upn string) (store.User, error) {
	return scanUser(s.pool.QueryRow(ctx, `SELECT `+userCols+` FROM users WHERE upn = $1`, strings.ToLower(upn)))
}

// ListUsers implements store.Users.
func (s *DB) ListUsers(ctx context.Context, tenantID string) ([]store.User, error) {
	return list(ctx, s, scanUser, `SELECT `+userCols+` FROM users WHERE tenant_id = $1 ORDER BY upn`, tenantID)
}

// --- apps ---

const appCols = `app_id, object_id, home_tenant_id, display_name, sign_in_audience, redirect_uris, identifier_uris, access_token_version, created_at`

func scanApp(r pgx.Row) (store.App, error) {
	var a store.App
	err := r.Scan(&a.AppID, &a.ObjectID, &a.HomeTenantID, &a.DisplayName, &a.SignInAudience, &a.RedirectURIs, &a.IdentifierURIs, &a.AccessTokenVersion, &a.CreatedAt)
	a.CreatedAt = utc(a.CreatedAt)
	return a, mapErr(err)
}

// CreateApp implements store.Apps.
func (s *DB) CreateApp(ctx context.Context, a store.App) error {
	return s.exec(ctx, `INSERT INTO apps (`+appCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9)`,
		strings.ToLower(a.AppID), a.ObjectID, a.HomeTenantID, a.DisplayName, a.SignInAudience,
		nonNil(a.RedirectURIs), nonNil(a.IdentifierURIs), a.AccessTokenVersion, a.CreatedAt)
}

// UpdateApp implements store.Apps.
func (s *DB) UpdateApp(ctx context.Context, a store.App) error {
	return s.execOne(ctx, `UPDATE apps SET display_name = $1, sign_in_audience = $2, redirect_uris = $3, identifier_uris = $4, access_token_version = $5 WHERE app_id = $6`,
		a.DisplayName, a.SignInAudience, nonNil(a.RedirectURIs), nonNil(a.IdentifierURIs), a.AccessTokenVersion, strings.ToLower(a.AppID))
}

// App implements store.Apps.
func (s *DB) App(ctx context.Context, appID string) (store.App, error) {
	return scanApp(s.pool.QueryRow(ctx, `SELECT `+appCols+` FROM apps WHERE app_id = $1`, strings.ToLower(appID)))
}

// ListApps implements store.Apps.
func (s *DB) ListApps(ctx context.Context, tenantID string) ([]store.App, error) {
	return list(ctx, s, scanApp, `SELECT `+appCols+` FROM apps WHERE $1 = '' OR home_tenant_id = $1 ORDER BY created_at, app_id`, tenantID)
}

const pwCols = `key_id, app_id, display_name, hint, hash, start_at, end_at`

func scanPassword(r pgx.Row) (store.PasswordCredential, error) {
	var p store.PasswordCredential
	err := r.Scan(&p.KeyID, &p.AppID, &p.DisplayName, &p.Hint, &p.Hash, &p.Start, &p.End)
	p.Start, p.End = utc(p.Start), utc(p.End)
	return p, mapErr(err)
}

// AddPassword implements store.Apps.
func (s *DB) AddPassword(ctx context.Context, p store.PasswordCredential) error {
	return s.exec(ctx, `INSERT INTO password_credentials (`+pwCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		p.KeyID, strings.ToLower(p.AppID), p.DisplayName, p.Hint, p.Hash, p.Start, p.End)
}

// Passwords implements store.Apps.
func (s *DB) Passwords(ctx context.Context, appID string) ([]store.PasswordCredential, error) {
	return list(ctx, s, scanPassword, `SELECT `+pwCols+` FROM password_credentials WHERE app_id = $1 ORDER BY start_at, key_id`, strings.ToLower(appID))
}

// RemovePassword implements store.Apps.
func (s *DB) RemovePassword(ctx context.Context, appID, keyID string) error {
	return s.execOne(ctx, `DELETE FROM password_credentials WHERE app_id = $1 AND key_id = $2`, strings.ToLower(appID), keyID)
}

const keyCols = `key_id, app_id, display_name, cert_der, sha1, sha256, start_at, end_at`

func scanKey(r pgx.Row) (store.KeyCredential, error) {
	var k store.KeyCredential
	err := r.Scan(&k.KeyID, &k.AppID, &k.DisplayName, &k.CertDER, &k.SHA1, &k.SHA256, &k.Start, &k.End)
	k.Start, k.End = utc(k.Start), utc(k.End)
	return k, mapErr(err)
}

// AddKey implements store.Apps.
func (s *DB) AddKey(ctx context.Context, k store.KeyCredential) error {
	return s.exec(ctx, `INSERT INTO key_credentials (`+keyCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)`,
		k.KeyID, strings.ToLower(k.AppID), k.DisplayName, k.CertDER, k.SHA1, k.SHA256, k.Start, k.End)
}

// Keys implements store.Apps.
func (s *DB) Keys(ctx context.Context, appID string) ([]store.KeyCredential, error) {
	return list(ctx, s, scanKey, `SELECT `+keyCols+` FROM key_credentials WHERE app_id = $1 ORDER BY start_at, key_id`, strings.ToLower(appID))
}

// RemoveKey implements store.Apps.
func (s *DB) RemoveKey(ctx context.Context, appID, keyID string) error {
	return s.execOne(ctx, `DELETE FROM key_credentials WHERE app_id = $1 AND key_id = $2`, strings.ToLower(appID), keyID)
}

// --- service principals ---

const spCols = `object_id, tenant_id, app_id, enabled, created_at`

func scanSP(r pgx.Row) (store.ServicePrincipal, error) {
	var sp store.ServicePrincipal
	err := r.Scan(&sp.ObjectID, &sp.TenantID, &sp.AppID, &sp.Enabled, &sp.CreatedAt)
	sp.CreatedAt = utc(sp.CreatedAt)
	return sp, mapErr(err)
}

// CreateServicePrincipal implements store.ServicePrincipals.
func (s *DB) CreateServicePrincipal(ctx context.Context, sp store.ServicePrincipal) error {
	return s.exec(ctx, `INSERT INTO service_principals (`+spCols+`) VALUES ($1, $2, $3, $4, $5)`,
		sp.ObjectID, sp.TenantID, strings.ToLower(sp.AppID), sp.Enabled, sp.CreatedAt)
}

// UpdateServicePrincipal implements store.ServicePrincipals.
func (s *DB) UpdateServicePrincipal(ctx context.Context, sp store.ServicePrincipal) error {
	return s.execOne(ctx, `UPDATE service_principals SET enabled = $1 WHERE tenant_id = $2 AND app_id = $3`,
		sp.Enabled, sp.TenantID, strings.ToLower(sp.AppID))
}

// ServicePrincipal implements store.ServicePrincipals.
func (s *DB) ServicePrincipal(ctx context.Context, tenantID, appID string) (store.ServicePrincipal, error) {
	return scanSP(s.pool.QueryRow(ctx, `SELECT `+spCols+` FROM service_principals WHERE tenant_id = $1 AND app_id = $2`, tenantID, strings.ToLower(appID)))
}

// ListServicePrincipals implements store.ServicePrincipals.
func (s *DB) ListServicePrincipals(ctx context.Context, tenantID string) ([]store.ServicePrincipal, error) {
	return list(ctx, s, scanSP, `SELECT `+spCols+` FROM service_principals WHERE $1 = '' OR tenant_id = $1 ORDER BY created_at, object_id`, tenantID)
}

// --- resources ---

const resCols = `tenant_id, uri, app_id, display_name, token_version, created_at`

func scanResource(r pgx.Row) (store.Resource, error) {
	var res store.Resource
	err := r.Scan(&res.TenantID, &res.URI, &res.AppID, &res.DisplayName, &res.TokenVersion, &res.CreatedAt)
	res.CreatedAt = utc(res.CreatedAt)
	return res, mapErr(err)
}

// uriKey is the case-insensitive, trailing-slash-insensitive lookup key.
func uriKey(u string) string { return strings.TrimRight(strings.ToLower(u), "/") }

// PutResource implements store.Resources.
func (s *DB) PutResource(ctx context.Context, r store.Resource) error {
	return s.exec(ctx, `INSERT INTO resources (tenant_id, uri, uri_key, app_id, display_name, token_version, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7)
		ON CONFLICT (tenant_id, uri_key) DO UPDATE SET uri = EXCLUDED.uri, app_id = EXCLUDED.app_id, display_name = EXCLUDED.display_name, token_version = EXCLUDED.token_version`,
		r.TenantID, r.URI, uriKey(r.URI), strings.ToLower(r.AppID), r.DisplayName, r.TokenVersion, r.CreatedAt)
}

// Resource implements store.Resources.
func (s *DB) Resource(ctx context.Context, tenantID, uri string) (store.Resource, error) {
	return scanResource(s.pool.QueryRow(ctx, `SELECT `+resCols+` FROM resources WHERE tenant_id = $1 AND uri_key = $2`, tenantID, uriKey(uri)))
}

// ListResources implements store.Resources.
func (s *DB) ListResources(ctx context.Context, tenantID string) ([]store.Resource, error) {
	return list(ctx, s, scanResource, `SELECT `+resCols+` FROM resources WHERE $1 = '' OR tenant_id = $1 ORDER BY created_at, uri_key`, tenantID)
}

// DeleteResource implements store.Resources.
func (s *DB) DeleteResource(ctx context.Context, tenantID, uri string) error {
	return s.execOne(ctx, `DELETE FROM resources WHERE tenant_id = $1 AND uri_key = $2`, tenantID, uriKey(uri))
}

// --- signing keys ---

const skCols = `kid, private_key, cert_der, created_at, activate_at, retire_at`

func scanSigningKey(r pgx.Row) (store.SigningKey, error) {
	var k store.SigningKey
	err := r.Scan(&k.KID, &k.PrivateKey, &k.CertDER, &k.CreatedAt, &k.ActivateAt, &k.RetireAt)
	k.CreatedAt, k.ActivateAt, k.RetireAt = utc(k.CreatedAt), utc(k.ActivateAt), utc(k.RetireAt)
	return k, mapErr(err)
}

// AddSigningKey implements store.SigningKeys. The check and the insert run
// in one transaction holding a self-exclusive lock on signing_keys, so
// instances rotating at the same moment (in any process) cannot both win;
// readers are not blocked.
func (s *DB) AddSigningKey(ctx context.Context, k store.SigningKey, notBefore time.Time) error {
	tx, err := s.pool.Begin(ctx)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback(ctx)
	if _, err := tx.Exec(ctx, `LOCK TABLE signing_keys IN SHARE ROW EXCLUSIVE MODE`); err != nil {
		return mapErr(err)
	}
	var newer bool
	if err := tx.QueryRow(ctx, `SELECT EXISTS (SELECT 1 FROM signing_keys WHERE created_at > $1)`, notBefore).Scan(&newer); err != nil {
		return mapErr(err)
	}
	if newer {
		return store.ErrConflict
	}
	if _, err := tx.Exec(ctx, `INSERT INTO signing_keys (`+skCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		k.KID, k.PrivateKey, k.CertDER, k.CreatedAt, k.ActivateAt, k.RetireAt); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit(ctx))
}

// SigningKeys implements store.SigningKeys.
func (s *DB) SigningKeys(ctx context.Context, now time.Time) ([]store.SigningKey, error) {
	return list(ctx, s, scanSigningKey, `SELECT `+skCols+` FROM signing_keys WHERE retire_at > $1 ORDER BY created_at DESC, kid`, now)
}

// --- grants ---

const codeCols = `hash, client_id, tenant_id, user_id, redirect_uri, scope, nonce, challenge, challenge_method, auth_time, expires_at`

// CreateAuthCode implements store.Grants.
func (s *DB) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	return s.exec(ctx, `INSERT INTO auth_codes (`+codeCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)`,
		c.Hash, c.ClientID, c.TenantID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.Challenge, c.ChallengeMethod, c.AuthTime, c.ExpiresAt)
}

// RedeemAuthCode implements store.Grants: DELETE ... RETURNING lets exactly
// one of several concurrent redemptions have the row.
func (s *DB) RedeemAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	var c store.AuthCode
	err := s.pool.QueryRow(ctx, `DELETE FROM auth_codes WHERE hash = $1 RETURNING `+codeCols, hash).Scan(
		&c.Hash, &c.ClientID, &c.TenantID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.Challenge, &c.ChallengeMethod, &c.AuthTime, &c.ExpiresAt)
	c.AuthTime, c.ExpiresAt = utc(c.AuthTime), utc(c.ExpiresAt)
	return c, mapErr(err)
}

const rtCols = `hash, client_id, tenant_id, user_id, scope, auth_time, expires_at`

// CreateRefreshToken implements store.Grants.
func (s *DB) CreateRefreshToken(ctx context.Context, r store.RefreshToken) error {
	return s.exec(ctx, `INSERT INTO refresh_tokens (`+rtCols+`) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
		r.Hash, r.ClientID, r.TenantID, r.UserID, r.Scope, r.AuthTime, r.ExpiresAt)
}

// RedeemRefreshToken implements store.Grants.
func (s *DB) RedeemRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	var r store.RefreshToken
	err := s.pool.QueryRow(ctx, `DELETE FROM refresh_tokens WHERE hash = $1 RETURNING `+rtCols, hash).Scan(
		&r.Hash, &r.ClientID, &r.TenantID, &r.UserID, &r.Scope, &r.AuthTime, &r.ExpiresAt)
	r.AuthTime, r.ExpiresAt = utc(r.AuthTime), utc(r.ExpiresAt)
	return r, mapErr(err)
}

// CreateSession implements store.Grants.
func (s *DB) CreateSession(ctx context.Context, se store.Session) error {
	return s.exec(ctx, `INSERT INTO sessions (hash, user_id, tenant_id, auth_time, expires_at) VALUES ($1, $2, $3, $4, $5)`,
		se.Hash, se.UserID, se.TenantID, se.AuthTime, se.ExpiresAt)
}

// Session implements store.Grants.
func (s *DB) Session(ctx context.Context, hash []byte) (store.Session, error) {
	var se store.Session
	err := s.pool.QueryRow(ctx, `SELECT hash, user_id, tenant_id, auth_time, expires_at FROM sessions WHERE hash = $1`, hash).Scan(
		&se.Hash, &se.UserID, &se.TenantID, &se.AuthTime, &se.ExpiresAt)
	se.AuthTime, se.ExpiresAt = utc(se.AuthTime), utc(se.ExpiresAt)
	return se, mapErr(err)
}

// DeleteSession implements store.Grants.
func (s *DB) DeleteSession(ctx context.Context, hash []byte) error {
	return s.execOne(ctx, `DELETE FROM sessions WHERE hash = $1`, hash)
}

// DeleteExpired implements store.Grants.
func (s *DB) DeleteExpired(ctx context.Context, now time.Time) error {
	for _, t := range []string{"auth_codes", "refresh_tokens", "sessions"} {
		if err := s.exec(ctx, `DELETE FROM `+t+` WHERE expires_at <= $1`, now); err != nil {
			return err
		}
	}
	return nil
}

// --- environments ---

const envCols = `id, name, tenant_id, url, authority, created_at`

func scanEnv(r pgx.Row) (store.Environment, error) {
	var e store.Environment
	err := r.Scan(&e.ID, &e.Name, &e.TenantID, &e.URL, &e.Authority, &e.CreatedAt)
	e.CreatedAt = utc(e.CreatedAt)
	return e, mapErr(err)
}

// CreateEnvironment implements store.Environments.
func (s *DB) CreateEnvironment(ctx context.Context, e store.Environment) error {
	return s.exec(ctx, `INSERT INTO environments (`+envCols+`) VALUES ($1, $2, $3, $4, $5, $6)`,
		strings.ToLower(e.ID), strings.ToLower(e.Name), e.TenantID, e.URL, e.Authority, e.CreatedAt)
}

// Environment implements store.Environments.
func (s *DB) Environment(ctx context.Context, idOrName string) (store.Environment, error) {
	k := strings.ToLower(idOrName)
	return scanEnv(s.pool.QueryRow(ctx, `SELECT `+envCols+` FROM environments WHERE id = $1 OR name = $1`, k))
}

// UpdateEnvironment implements store.Environments.
func (s *DB) UpdateEnvironment(ctx context.Context, e store.Environment) error {
	return s.execOne(ctx, `UPDATE environments SET url = $1, authority = $2 WHERE id = $3`, e.URL, e.Authority, strings.ToLower(e.ID))
}

// ListEnvironments implements store.Environments.
func (s *DB) ListEnvironments(ctx context.Context) ([]store.Environment, error) {
	return list(ctx, s, scanEnv, `SELECT `+envCols+` FROM environments ORDER BY created_at, id`)
}
