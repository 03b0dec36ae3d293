package sqlite

// migrations are applied in order; each runs once, recorded in
// schema_migrations. Never edit a released migration: append a new one.
var migrations = []string{
	// 1: identity model.
	`
CREATE TABLE tenants (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL,
	domain     TEXT NOT NULL UNIQUE,
	created_at INTEGER NOT NULL
);
CREATE TABLE users (
	object_id     TEXT PRIMARY KEY,
	tenant_id     TEXT NOT NULL REFERENCES tenants(id),
	upn           TEXT NOT NULL UNIQUE,
	display_name  TEXT NOT NULL,
	password_hash TEXT NOT NULL,
	admin         INTEGER NOT NULL,
	enabled       INTEGER NOT NULL,
	created_at    INTEGER NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);
CREATE TABLE apps (
	app_id               TEXT PRIMARY KEY,
	object_id            TEXT NOT NULL UNIQUE,
	home_tenant_id       TEXT NOT NULL REFERENCES tenants(id),
	display_name         TEXT NOT NULL,
	sign_in_audience     TEXT NOT NULL,
	redirect_uris        TEXT NOT NULL,
	identifier_uris      TEXT NOT NULL,
	access_token_version INTEGER NOT NULL,
	created_at           INTEGER NOT NULL
);
CREATE INDEX apps_tenant ON apps(home_tenant_id);
CREATE TABLE password_credentials (
	key_id       TEXT PRIMARY KEY,
	app_id       TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
	display_name TEXT NOT NULL,
	hint         TEXT NOT NULL,
	hash         BLOB NOT NULL,
	start_at     INTEGER NOT NULL,
	end_at       INTEGER NOT NULL
);
CREATE INDEX password_credentials_app ON password_credentials(app_id);
CREATE TABLE key_credentials (
	key_id       TEXT PRIMARY KEY,
	app_id       TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
	display_name TEXT NOT NULL,
	cert_der     BLOB NOT NULL,
	sha1         BLOB NOT NULL,
	sha256       BLOB NOT NULL,
	start_at     INTEGER NOT NULL,
	end_at       INTEGER NOT NULL
);
CREATE INDEX key_credentials_app ON key_credentials(app_id);
CREATE TABLE service_principals (
	object_id  TEXT PRIMARY KEY,
	tenant_id  TEXT NOT NULL REFERENCES tenants(id),
	app_id     TEXT NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
	enabled    INTEGER NOT NULL,
	created_at INTEGER NOT NULL,
	UNIQUE (tenant_id, app_id)
);
CREATE TABLE resources (
	tenant_id     TEXT NOT NULL REFERENCES tenants(id),
	uri           TEXT NOT NULL,
	uri_key       TEXT NOT NULL,
	app_id        TEXT NOT NULL,
	display_name  TEXT NOT NULL,
	token_version INTEGER NOT NULL,
	created_at    INTEGER NOT NULL,
	PRIMARY KEY (tenant_id, uri_key)
);
CREATE TABLE signing_keys (
	kid         TEXT PRIMARY KEY,
	private_key BLOB NOT NULL,
	cert_der    BLOB NOT NULL,
	created_at  INTEGER NOT NULL,
	activate_at INTEGER NOT NULL,
	retire_at   INTEGER NOT NULL
);
CREATE TABLE auth_codes (
	hash             BLOB PRIMARY KEY,
	client_id        TEXT NOT NULL,
	tenant_id        TEXT NOT NULL,
	user_id          TEXT NOT NULL,
	redirect_uri     TEXT NOT NULL,
	scope            TEXT NOT NULL,
	nonce            TEXT NOT NULL,
	challenge        TEXT NOT NULL,
	challenge_method TEXT NOT NULL,
	auth_time        INTEGER NOT NULL,
	expires_at       INTEGER NOT NULL
);
CREATE TABLE refresh_tokens (
	hash       BLOB PRIMARY KEY,
	client_id  TEXT NOT NULL,
	tenant_id  TEXT NOT NULL,
	user_id    TEXT NOT NULL,
	scope      TEXT NOT NULL,
	auth_time  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
CREATE TABLE sessions (
	hash       BLOB PRIMARY KEY,
	user_id    TEXT NOT NULL,
	tenant_id  TEXT NOT NULL,
	auth_time  INTEGER NOT NULL,
	expires_at INTEGER NOT NULL
);
`,
	// 2: a certificate is registered at most once per app (Entra refuses a
	// duplicate upload; directory.AddCertificate reports the conflict).
	// Duplicates an earlier version let in are dropped, keeping the first.
	`
DELETE FROM key_credentials WHERE rowid NOT IN (SELECT MIN(rowid) FROM key_credentials GROUP BY app_id, sha256);
CREATE UNIQUE INDEX key_credentials_app_cert ON key_credentials(app_id, sha256);
`,
	// 3: Dataverse environments.
	`
CREATE TABLE environments (
	id         TEXT PRIMARY KEY,
	name       TEXT NOT NULL UNIQUE,
	tenant_id  TEXT NOT NULL REFERENCES tenants(id),
	url        TEXT NOT NULL,
	authority  TEXT NOT NULL,
	created_at INTEGER NOT NULL
);
`,
}
