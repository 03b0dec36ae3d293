// Package sqlite is the embedded store: pure-Go SQLite (modernc.org/sqlite)
// in WAL mode, with schema migrations applied on open.
package sqlite

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/store"
	sqlite "modernc.org/sqlite"
	sqlite3 "modernc.org/sqlite/lib"
)

// DB is a store.Store backed by one SQLite database file.
type DB struct {
	db *sql.DB
}

var _ store.Store = (*DB)(nil)

// Open opens (creating if needed) the database at path and migrates it.
// A new database file is readable by its owner only; SQLite gives its WAL
// and shared-memory files the same mode.
func Open(ctx context.Context, path string) (*DB, error) {
	if err := createPrivate(path); err != nil {
		return nil, err
	}
	q := url.Values{}
	for _, p := range []string{"journal_mode(WAL)", "busy_timeout(10000)", "foreign_keys(1)", "synchronous(NORMAL)"} {
		q.Add("_pragma", p)
	}
	q.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", fileURI(path)+"?"+q.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	db.SetMaxOpenConns(8)
	db.SetMaxIdleConns(8)
	s := &DB{db: db}
	if err := s.migrate(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// createPrivate creates the database file, if missing, readable by its
// owner only; SQLite gives the -wal and -shm files the same mode.
func createPrivate(path string) error {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return fmt.Errorf("sqlite: open %s: %w", path, err)
	}
	return f.Close()
}

// fileURI is the file: URI of path, with the characters a URI gives a
// meaning ('%', '?', '#') escaped.
func fileURI(path string) string {
	return "file:" + strings.NewReplacer("%", "%25", "?", "%3f", "#", "%23").Replace(path)
}

func (s *DB) migrate(ctx context.Context) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	defer tx.Rollback()
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	var v int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&v); err != nil {
		return fmt.Errorf("sqlite: migrate: %w", err)
	}
	if v > len(migrations) {
		return fmt.Errorf("sqlite: database schema version %d is newer than this binary (%d)", v, len(migrations))
	}
	for i := v; i < len(migrations); i++ {
		if _, err := tx.ExecContext(ctx, migrations[i]); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", i+1, err)
		}
		if _, err := tx.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, i+1, time.Now().Unix()); err != nil {
			return fmt.Errorf("sqlite: migration %d: %w", i+1, err)
		}
	}
	return tx.Commit()
}

func ts(t time.Time) int64 {
	if t.IsZero() {
		return 0
	}
	return t.UnixNano()
}

func tm(n int64) time.Time {
	if n == 0 {
		return time.Time{}
	}
	return time.Unix(0, n).UTC()
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// mapErr turns driver errors into store errors.
func mapErr(err error) error {
	if err == nil {
		return nil
	}
	if errors.Is(err, sql.ErrNoRows) {
		return store.ErrNotFound
	}
	var se *sqlite.Error
	if errors.As(err, &se) {
		switch se.Code() {
		case sqlite3.SQLITE_CONSTRAINT_PRIMARYKEY, sqlite3.SQLITE_CONSTRAINT_UNIQUE:
			return fmt.Errorf("%w: %v", store.ErrConflict, err)
		case sqlite3.SQLITE_CONSTRAINT_FOREIGNKEY:
			return fmt.Errorf("%w: referenced record missing: %v", store.ErrNotFound, err)
		}
	}
	return err
}

func (s *DB) exec(ctx context.Context, q string, args ...any) error {
	_, err := s.db.ExecContext(ctx, q, args...)
	return mapErr(err)
}

// execOne runs a statement that must affect exactly one row.
func (s *DB) execOne(ctx context.Context, q string, args ...any) error {
	res, err := s.db.ExecContext(ctx, q, args...)
	if err != nil {
		return mapErr(err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return err
	}
	if n == 0 {
		return store.ErrNotFound
	}
	return nil
}

type scanner interface{ Scan(...any) error }

// list runs q and scans every row with scan.
func list[T any](ctx context.Context, s *DB, scan func(scanner) (T, error), q string, args ...any) ([]T, error) {
	rows, err := s.db.QueryContext(ctx, q, args...)
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
	return out, rows.Err()
}

// --- tenants ---

const tenantCols = `id, name, domain, created_at`

func scanTenant(r scanner) (store.Tenant, error) {
	var t store.Tenant
	var c int64
	err := r.Scan(&t.ID, &t.Name, &t.Domain, &c)
	t.CreatedAt = tm(c)
	return t, mapErr(err)
}

// CreateTenant implements store.Tenants.
func (s *DB) CreateTenant(ctx context.Context, t store.Tenant) error {
	return s.exec(ctx, `INSERT INTO tenants (`+tenantCols+`) VALUES (?, ?, ?, ?)`,
		strings.ToLower(t.ID), t.Name, strings.ToLower(t.Domain), ts(t.CreatedAt))
}

// Tenant implements store.Tenants.
func (s *DB) Tenant(ctx context.Context, idOrDomain string) (store.Tenant, error) {
	k := strings.ToLower(idOrDomain)
	return scanTenant(s.db.QueryRowContext(ctx, `SELECT `+tenantCols+` FROM tenants WHERE id = ? OR domain = ?`, k, k))
}

// ListTenants implements store.Tenants.
func (s *DB) ListTenants(ctx context.Context) ([]store.Tenant, error) {
	return list(ctx, s, scanTenant, `SELECT `+tenantCols+` FROM tenants ORDER BY created_at, id`)
}

// --- users ---

const userCols = `object_id, tenant_id, upn, display_name, password_hash, admin, enabled, created_at`

func scanUser(r scanner) (store.User, error) {
	var u store.User
	var c int64
	err := r.Scan(&u.ObjectID, &u.TenantID, &u.UPN, &u.DisplayName, &u.PasswordHash, &u.Admin, &u.Enabled, &c)
	u.CreatedAt = tm(c)
	return u, mapErr(err)
}

// CreateUser implements store.Users.
func (s *DB) CreateUser(ctx context.Context, u store.User) error {
	return s.exec(ctx, `INSERT INTO users (`+userCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		u.ObjectID, u.TenantID, strings.ToLower(u.UPN), u.DisplayName, u.PasswordHash, b2i(u.Admin), b2i(u.Enabled), ts(u.CreatedAt))
}

// UpdateUser implements store.Users.
func (s *DB) UpdateUser(ctx context.Context, u store.User) error {
	return s.execOne(ctx, `UPDATE users SET upn = ?, display_name = ?, password_hash = ?, admin = ?, enabled = ? WHERE object_id = ?`,
		strings.ToLower(u.UPN), u.DisplayName, u.PasswordHash, b2i(u.Admin), b2i(u.Enabled), u.ObjectID)
}

// User implements store.Users.
func (s *DB) User(ctx context.Context, id string) (store.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE object_id = ?`, id))
}

// UserByUPN implements store.Users.
func (s *DB) UserByUPN(ctx context.Context, upn string) (store.User, error) {
	return scanUser(s.db.QueryRowContext(ctx, `SELECT `+userCols+` FROM users WHERE upn = ?`, strings.ToLower(upn)))
}

// ListUsers implements store.Users.
func (s *DB) ListUsers(ctx context.Context, tenantID string) ([]store.User, error) {
	return list(ctx, s, scanUser, `SELECT `+userCols+` FROM users WHERE tenant_id = ? ORDER BY upn`, tenantID)
}

// --- apps ---

const appCols = `app_id, object_id, home_tenant_id, display_name, sign_in_audience, redirect_uris, identifier_uris, access_token_version, created_at`

func scanApp(r scanner) (store.App, error) {
	var a store.App
	var redirect, ident string
	var c int64
	if err := r.Scan(&a.AppID, &a.ObjectID, &a.HomeTenantID, &a.DisplayName, &a.SignInAudience, &redirect, &ident, &a.AccessTokenVersion, &c); err != nil {
		return a, mapErr(err)
	}
	a.CreatedAt = tm(c)
	if err := json.Unmarshal([]byte(redirect), &a.RedirectURIs); err != nil {
		return a, fmt.Errorf("sqlite: app %s redirect uris: %w", a.AppID, err)
	}
	if err := json.Unmarshal([]byte(ident), &a.IdentifierURIs); err != nil {
		return a, fmt.Errorf("sqlite: app %s identifier uris: %w", a.AppID, err)
	}
	return a, nil
}

func jsonList(v []string) string {
	if v == nil {
		v = []string{}
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// CreateApp implements store.Apps.
func (s *DB) CreateApp(ctx context.Context, a store.App) error {
	return s.exec(ctx, `INSERT INTO apps (`+appCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		strings.ToLower(a.AppID), a.ObjectID, a.HomeTenantID, a.DisplayName, a.SignInAudience,
		jsonList(a.RedirectURIs), jsonList(a.IdentifierURIs), a.AccessTokenVersion, ts(a.CreatedAt))
}

// UpdateApp implements store.Apps.
func (s *DB) UpdateApp(ctx context.Context, a store.App) error {
	return s.execOne(ctx, `UPDATE apps SET display_name = ?, sign_in_audience = ?, redirect_uris = ?, identifier_uris = ?, access_token_version = ? WHERE app_id = ?`,
		a.DisplayName, a.SignInAudience, jsonList(a.RedirectURIs), jsonList(a.IdentifierURIs), a.AccessTokenVersion, strings.ToLower(a.AppID))
}

// App implements store.Apps.
func (s *DB) App(ctx context.Context, appID string) (store.App, error) {
	return scanApp(s.db.QueryRowContext(ctx, `SELECT `+appCols+` FROM apps WHERE app_id = ?`, strings.ToLower(appID)))
}

// ListApps implements store.Apps.
func (s *DB) ListApps(ctx context.Context, tenantID string) ([]store.App, error) {
	return list(ctx, s, scanApp, `SELECT `+appCols+` FROM apps WHERE ? = '' OR home_tenant_id = ? ORDER BY created_at, app_id`, tenantID, tenantID)
}

const pwCols = `key_id, app_id, display_name, hint, hash, start_at, end_at`

func scanPassword(r scanner) (store.PasswordCredential, error) {
	var p store.PasswordCredential
	var st, en int64
	err := r.Scan(&p.KeyID, &p.AppID, &p.DisplayName, &p.Hint, &p.Hash, &st, &en)
	p.Start, p.End = tm(st), tm(en)
	return p, mapErr(err)
}

// AddPassword implements store.Apps.
func (s *DB) AddPassword(ctx context.Context, p store.PasswordCredential) error {
	return s.exec(ctx, `INSERT INTO password_credentials (`+pwCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		p.KeyID, strings.ToLower(p.AppID), p.DisplayName, p.Hint, p.Hash, ts(p.Start), ts(p.End))
}

// Passwords implements store.Apps.
func (s *DB) Passwords(ctx context.Context, appID string) ([]store.PasswordCredential, error) {
	return list(ctx, s, scanPassword, `SELECT `+pwCols+` FROM password_credentials WHERE app_id = ? ORDER BY start_at, key_id`, strings.ToLower(appID))
}

// RemovePassword implements store.Apps.
func (s *DB) RemovePassword(ctx context.Context, appID, keyID string) error {
	return s.execOne(ctx, `DELETE FROM password_credentials WHERE app_id = ? AND key_id = ?`, strings.ToLower(appID), keyID)
}

const keyCols = `key_id, app_id, display_name, cert_der, sha1, sha256, start_at, end_at`

func scanKey(r scanner) (store.KeyCredential, error) {
	var k store.KeyCredential
	var st, en int64
	err := r.Scan(&k.KeyID, &k.AppID, &k.DisplayName, &k.CertDER, &k.SHA1, &k.SHA256, &st, &en)
	k.Start, k.End = tm(st), tm(en)
	return k, mapErr(err)
}

// AddKey implements store.Apps.
func (s *DB) AddKey(ctx context.Context, k store.KeyCredential) error {
	return s.exec(ctx, `INSERT INTO key_credentials (`+keyCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?)`,
		k.KeyID, strings.ToLower(k.AppID), k.DisplayName, k.CertDER, k.SHA1, k.SHA256, ts(k.Start), ts(k.End))
}

// Keys implements store.Apps.
func (s *DB) Keys(ctx context.Context, appID string) ([]store.KeyCredential, error) {
	return list(ctx, s, scanKey, `SELECT `+keyCols+` FROM key_credentials WHERE app_id = ? ORDER BY start_at, key_id`, strings.ToLower(appID))
}

// RemoveKey implements store.Apps.
func (s *DB) RemoveKey(ctx context.Context, appID, keyID string) error {
	return s.execOne(ctx, `DELETE FROM key_credentials WHERE app_id = ? AND key_id = ?`, strings.ToLower(appID), keyID)
}

// --- service principals ---

const spCols = `object_id, tenant_id, app_id, enabled, created_at`

func scanSP(r scanner) (store.ServicePrincipal, error) {
	var sp store.ServicePrincipal
	var c int64
	err := r.Scan(&sp.ObjectID, &sp.TenantID, &sp.AppID, &sp.Enabled, &c)
	sp.CreatedAt = tm(c)
	return sp, mapErr(err)
}

// CreateServicePrincipal implements store.ServicePrincipals.
func (s *DB) CreateServicePrincipal(ctx context.Context, sp store.ServicePrincipal) error {
	return s.exec(ctx, `INSERT INTO service_principals (`+spCols+`) VALUES (?, ?, ?, ?, ?)`,
		sp.ObjectID, sp.TenantID, strings.ToLower(sp.AppID), b2i(sp.Enabled), ts(sp.CreatedAt))
}

// UpdateServicePrincipal implements store.ServicePrincipals.
func (s *DB) UpdateServicePrincipal(ctx context.Context, sp store.ServicePrincipal) error {
	return s.execOne(ctx, `UPDATE service_principals SET enabled = ? WHERE tenant_id = ? AND app_id = ?`,
		b2i(sp.Enabled), sp.TenantID, strings.ToLower(sp.AppID))
}

// ServicePrincipal implements store.ServicePrincipals.
func (s *DB) ServicePrincipal(ctx context.Context, tenantID, appID string) (store.ServicePrincipal, error) {
	return scanSP(s.db.QueryRowContext(ctx, `SELECT `+spCols+` FROM service_principals WHERE tenant_id = ? AND app_id = ?`, tenantID, strings.ToLower(appID)))
}

// ListServicePrincipals implements store.ServicePrincipals.
func (s *DB) ListServicePrincipals(ctx context.Context, tenantID string) ([]store.ServicePrincipal, error) {
	return list(ctx, s, scanSP, `SELECT `+spCols+` FROM service_principals WHERE ? = '' OR tenant_id = ? ORDER BY created_at, object_id`, tenantID, tenantID)
}

// --- resources ---

const resCols = `tenant_id, uri, app_id, display_name, token_version, created_at`

func scanResource(r scanner) (store.Resource, error) {
	var res store.Resource
	var c int64
	err := r.Scan(&res.TenantID, &res.URI, &res.AppID, &res.DisplayName, &res.TokenVersion, &c)
	res.CreatedAt = tm(c)
	return res, mapErr(err)
}

// uriKey is the case-insensitive, trailing-slash-insensitive lookup key.
func uriKey(u string) string { return strings.TrimRight(strings.ToLower(u), "/") }

// PutResource implements store.Resources.
func (s *DB) PutResource(ctx context.Context, r store.Resource) error {
	return s.exec(ctx, `INSERT INTO resources (tenant_id, uri, uri_key, app_id, display_name, token_version, created_at) VALUES (?, ?, ?, ?, ?, ?, ?)
		ON CONFLICT (tenant_id, uri_key) DO UPDATE SET uri = excluded.uri, app_id = excluded.app_id, display_name = excluded.display_name, token_version = excluded.token_version`,
		r.TenantID, r.URI, uriKey(r.URI), strings.ToLower(r.AppID), r.DisplayName, r.TokenVersion, ts(r.CreatedAt))
}

// Resource implements store.Resources.
func (s *DB) Resource(ctx context.Context, tenantID, uri string) (store.Resource, error) {
	return scanResource(s.db.QueryRowContext(ctx, `SELECT `+resCols+` FROM resources WHERE tenant_id = ? AND uri_key = ?`, tenantID, uriKey(uri)))
}

// ListResources implements store.Resources.
func (s *DB) ListResources(ctx context.Context, tenantID string) ([]store.Resource, error) {
	return list(ctx, s, scanResource, `SELECT `+resCols+` FROM resources WHERE ? = '' OR tenant_id = ? ORDER BY created_at, uri_key`, tenantID, tenantID)
}

// DeleteResource implements store.Resources.
func (s *DB) DeleteResource(ctx context.Context, tenantID, uri string) error {
	return s.execOne(ctx, `DELETE FROM resources WHERE tenant_id = ? AND uri_key = ?`, tenantID, uriKey(uri))
}

// --- signing keys ---

const skCols = `kid, private_key, cert_der, created_at, activate_at, retire_at`

func scanSigningKey(r scanner) (store.SigningKey, error) {
	var k store.SigningKey
	var c, a, rt int64
	err := r.Scan(&k.KID, &k.PrivateKey, &k.CertDER, &c, &a, &rt)
	k.CreatedAt, k.ActivateAt, k.RetireAt = tm(c), tm(a), tm(rt)
	return k, mapErr(err)
}

// AddSigningKey implements store.SigningKeys. The check and the insert run in
// one IMMEDIATE transaction, so concurrent rotations cannot both win.
func (s *DB) AddSigningKey(ctx context.Context, k store.SigningKey, notBefore time.Time) error {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return mapErr(err)
	}
	defer tx.Rollback()
	var n int
	if err := tx.QueryRowContext(ctx, `SELECT COUNT(*) FROM signing_keys WHERE created_at > ?`, ts(notBefore)).Scan(&n); err != nil {
		return mapErr(err)
	}
	if n > 0 {
		return store.ErrConflict
	}
	if _, err := tx.ExecContext(ctx, `INSERT INTO signing_keys (`+skCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		k.KID, k.PrivateKey, k.CertDER, ts(k.CreatedAt), ts(k.ActivateAt), ts(k.RetireAt)); err != nil {
		return mapErr(err)
	}
	return mapErr(tx.Commit())
}

// SigningKeys implements store.SigningKeys.
func (s *DB) SigningKeys(ctx context.Context, now time.Time) ([]store.SigningKey, error) {
	return list(ctx, s, scanSigningKey, `SELECT `+skCols+` FROM signing_keys WHERE retire_at > ? ORDER BY created_at DESC, kid`, ts(now))
}

// --- grants ---

const codeCols = `hash, client_id, tenant_id, user_id, redirect_uri, scope, nonce, challenge, challenge_method, auth_time, expires_at`

// CreateAuthCode implements store.Grants.
func (s *DB) CreateAuthCode(ctx context.Context, c store.AuthCode) error {
	return s.exec(ctx, `INSERT INTO auth_codes (`+codeCols+`) VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)`,
		c.Hash, c.ClientID, c.TenantID, c.UserID, c.RedirectURI, c.Scope, c.Nonce, c.Challenge, c.ChallengeMethod, ts(c.AuthTime), ts(c.ExpiresAt))
}

// RedeemAuthCode implements store.Grants.
func (s *DB) RedeemAuthCode(ctx context.Context, hash []byte) (store.AuthCode, error) {
	var c store.AuthCode
	var at, ex int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM auth_codes WHERE hash = ? RETURNING `+codeCols, hash).Scan(
		&c.Hash, &c.ClientID, &c.TenantID, &c.UserID, &c.RedirectURI, &c.Scope, &c.Nonce, &c.Challenge, &c.ChallengeMethod, &at, &ex)
	c.AuthTime, c.ExpiresAt = tm(at), tm(ex)
	return c, mapErr(err)
}

const rtCols = `hash, client_id, tenant_id, user_id, scope, auth_time, expires_at`

// CreateRefreshToken implements store.Grants.
func (s *DB) CreateRefreshToken(ctx context.Context, r store.RefreshToken) error {
	return s.exec(ctx, `INSERT INTO refresh_tokens (`+rtCols+`) VALUES (?, ?, ?, ?, ?, ?, ?)`,
		r.Hash, r.ClientID, r.TenantID, r.UserID, r.Scope, ts(r.AuthTime), ts(r.ExpiresAt))
}

// RedeemRefreshToken implements store.Grants.
func (s *DB) RedeemRefreshToken(ctx context.Context, hash []byte) (store.RefreshToken, error) {
	var r store.RefreshToken
	var at, ex int64
	err := s.db.QueryRowContext(ctx, `DELETE FROM refresh_tokens WHERE hash = ? RETURNING `+rtCols, hash).Scan(
		&r.Hash, &r.ClientID, &r.TenantID, &r.UserID, &r.Scope, &at, &ex)
	r.AuthTime, r.ExpiresAt = tm(at), tm(ex)
	return r, mapErr(err)
}

// CreateSession implements store.Grants.
func (s *DB) CreateSession(ctx context.Context, se store.Session) error {
	return s.exec(ctx, `INSERT INTO sessions (hash, user_id, tenant_id, auth_time, expires_at) VALUES (?, ?, ?, ?, ?)`,
		se.Hash, se.UserID, se.TenantID, ts(se.AuthTime), ts(se.ExpiresAt))
}

// Session implements store.Grants.
func (s *DB) Session(ctx context.Context, hash []byte) (store.Session, error) {
	var se store.Session
	var at, ex int64
	err := s.db.QueryRowContext(ctx, `SELECT hash, user_id, tenant_id, auth_time, expires_at FROM sessions WHERE hash = ?`, hash).Scan(
		&se.Hash, &se.UserID, &se.TenantID, &at, &ex)
	se.AuthTime, se.ExpiresAt = tm(at), tm(ex)
	return se, mapErr(err)
}

// DeleteSession implements store.Grants.
func (s *DB) DeleteSession(ctx context.Context, hash []byte) error {
	return s.execOne(ctx, `DELETE FROM sessions WHERE hash = ?`, hash)
}

// DeleteExpired implements store.Grants.
func (s *DB) DeleteExpired(ctx context.Context, now time.Time) error {
	for _, t := range []string{"auth_codes", "refresh_tokens", "sessions"} {
		if err := s.exec(ctx, `DELETE FROM `+t+` WHERE expires_at <= ?`, ts(now)); err != nil {
			return err
		}
	}
	return nil
}

// --- environments ---

const envCols = `id, name, tenant_id, url, authority, created_at`

func scanEnv(r scanner) (store.Environment, error) {
	var e store.Environment
	var c int64
	err := r.Scan(&e.ID, &e.Name, &e.TenantID, &e.URL, &e.Authority, &c)
	e.CreatedAt = tm(c)
	return e, mapErr(err)
}

// CreateEnvironment implements store.Environments.
func (s *DB) CreateEnvironment(ctx context.Context, e store.Environment) error {
	return s.exec(ctx, `INSERT INTO environments (`+envCols+`) VALUES (?, ?, ?, ?, ?, ?)`,
		strings.ToLower(e.ID), strings.ToLower(e.Name), e.TenantID, e.URL, e.Authority, ts(e.CreatedAt))
}

// Environment implements store.Environments.
func (s *DB) Environment(ctx context.Context, idOrName string) (store.Environment, error) {
	k := strings.ToLower(idOrName)
	return scanEnv(s.db.QueryRowContext(ctx, `SELECT `+envCols+` FROM environments WHERE id = ? OR name = ?`, k, k))
}

// UpdateEnvironment implements store.Environments.
func (s *DB) UpdateEnvironment(ctx context.Context, e store.Environment) error {
	return s.execOne(ctx, `UPDATE environments SET url = ?, authority = ? WHERE id = ?`, e.URL, e.Authority, strings.ToLower(e.ID))
}

// ListEnvironments implements store.Environments.
func (s *DB) ListEnvironments(ctx context.Context) ([]store.Environment, error) {
	return list(ctx, s, scanEnv, `SELECT `+envCols+` FROM environments ORDER BY created_at, id`)
}
