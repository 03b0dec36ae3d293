package postgres

// migrations are applied in order; each runs once, recorded in
// schema_migrations. Never edit a released migration: append a new one.
//
// They mirror store/sqlite's migrations with PostgreSQL's types: times are
// timestamptz (microseconds; the zero time.Time is 0001-01-01 UTC), flags
// boolean, hashes and certificates bytea, URI lists text[]. Case-insensitive
// names (domains, UPNs, resource URIs) are lower-cased by the store before
// they reach a column, as in SQLite.
var migrations = []string{
	// 1: identity model (SQLite's migrations 1 and 2).
	`
CREATE TABLE tenants (
	id         text PRIMARY KEY,
	name       text NOT NULL,
	domain     text NOT NULL UNIQUE,
	created_at timestamptz NOT NULL
);
CREATE TABLE users (
	object_id     text PRIMARY KEY,
	tenant_id     text NOT NULL REFERENCES tenants(id),
	upn           text NOT NULL UNIQUE,
	display_name  text NOT NULL,
	password_hash text NOT NULL,
	admin         boolean NOT NULL,
	enabled       boolean NOT NULL,
	created_at    timestamptz NOT NULL
);
CREATE INDEX users_tenant ON users(tenant_id);
CREATE TABLE apps (
	app_id               text PRIMARY KEY,
	object_id            text NOT NULL UNIQUE,
	home_tenant_id       text NOT NULL REFERENCES tenants(id),
	display_name         text NOT NULL,
	sign_in_audience     text NOT NULL,
	redirect_uris        text[] NOT NULL,
	identifier_uris      text[] NOT NULL,
	access_token_version integer NOT NULL,
	created_at           timestamptz NOT NULL
);
CREATE INDEX apps_tenant ON apps(home_tenant_id);
CREATE TABLE password_credentials (
	key_id       text PRIMARY KEY,
	app_id       text NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
	display_name text NOT NULL,
	hint         text NOT NULL,
	hash         bytea NOT NULL,
	start_at     timestamptz NOT NULL,
	end_at       timestamptz NOT NULL
);
CREATE INDEX password_credentials_app ON password_credentials(app_id);
CREATE TABLE key_credentials (
	key_id       text PRIMARY KEY,
	app_id       text NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
	display_name text NOT NULL,
	cert_der     bytea NOT NULL,
	sha1         bytea NOT NULL,
	sha256       bytea NOT NULL,
	start_at     timestamptz NOT NULL,
	end_at       timestamptz NOT NULL,
	UNIQUE (app_id, sha256)
);
CREATE TABLE service_principals (
	object_id  text PRIMARY KEY,
	tenant_id  text NOT NULL REFERENCES tenants(id),
	app_id     text NOT NULL REFERENCES apps(app_id) ON DELETE CASCADE,
	enabled    boolean NOT NULL,
	created_at timestamptz NOT NULL,
	UNIQUE (tenant_id, app_id)
);
CREATE TABLE resources (
	tenant_id     text NOT NULL REFERENCES tenants(id),
	uri           text NOT NULL,
	uri_key       text NOT NULL,
	app_id        text NOT NULL,
	display_name  text NOT NULL,
	token_version integer NOT NULL,
	created_at    timestamptz NOT NULL,
	PRIMARY KEY (tenant_id, uri_key)
);
CREATE TABLE signing_keys (
	kid         text PRIMARY KEY,
	private_key bytea NOT NULL,
	cert_der    bytea NOT NULL,
	created_at  timestamptz NOT NULL,
	activate_at timestamptz NOT NULL,
	retire_at   timestamptz NOT NULL
);
CREATE TABLE auth_codes (
	hash             bytea PRIMARY KEY,
	client_id        text NOT NULL,
	tenant_id        text NOT NULL,
	user_id          text NOT NULL,
	redirect_uri     text NOT NULL,
	scope            text NOT NULL,
	nonce            text NOT NULL,
	challenge        text NOT NULL,
	challenge_method text NOT NULL,
	auth_time        timestamptz NOT NULL,
	expires_at       timestamptz NOT NULL
);
CREATE TABLE refresh_tokens (
	hash       bytea PRIMARY KEY,
	client_id  text NOT NULL,
	tenant_id  text NOT NULL,
	user_id    text NOT NULL,
	scope      text NOT NULL,
	auth_time  timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
CREATE TABLE sessions (
	hash       bytea PRIMARY KEY,
	user_id    text NOT NULL,
	tenant_id  text NOT NULL,
	auth_time  timestamptz NOT NULL,
	expires_at timestamptz NOT NULL
);
`,
	// 2: Dataverse environments (SQLite's migration 3). Each environment's
	// rows live in a schema of their own, env_<id without dashes>.
	`
CREATE TABLE environments (
	id         text PRIMARY KEY,
	name       text NOT NULL UNIQUE,
	tenant_id  text NOT NULL REFERENCES tenants(id),
	url        text NOT NULL,
	authority  text NOT NULL,
	created_at timestamptz NOT NULL
);
`,
}
