package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/storetest"
)

// open opens a new database in a fresh temporary directory.
func open(t *testing.T) *DB {
	t.Helper()
	return openAt(t, filepath.Join(t.TempDir(), "dvs2s.db"))
}

func openAt(t *testing.T, path string) *DB {
	t.Helper()
	db, err := Open(t.Context(), path)
	if err != nil {
		t.Fatalf("Open(%s): %v", path, err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// TestConformance runs the store conformance suite.
func TestConformance(t *testing.T) {
	storetest.Run(t, func(t *testing.T) store.Store { return open(t) })
}

// TestReopen: reopening applies no migration twice and keeps the data.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dvs2s.db")
	db, err := Open(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	tn := store.Tenant{ID: "6a0e8f7c-0000-4000-8000-000000000001", Name: "reopen", Domain: "reopen.onmicrosoft.com", CreatedAt: time.Now()}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		db := openAt(t, path)
		if _, err := db.Tenant(ctx, tn.Domain); err != nil {
			t.Fatalf("tenant lost on reopen: %v", err)
		}
		var n, max int
		if err := db.db.QueryRowContext(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) || max != len(migrations) {
			t.Fatalf("schema_migrations has %d rows up to version %d, want %d", n, max, len(migrations))
		}
		db.Close()
	}
}

// TestNewerSchemaRefused: a database migrated by a newer binary is refused
// with an error that says so, and is left as it was.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dvs2s.db")
	db := openAt(t, path)
	future := len(migrations) + 1
	if _, err := db.db.ExecContext(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES (?, ?)`, future, time.Now().Unix()); err != nil {
		t.Fatal(err)
	}
	db.Close()
	db2, err := Open(ctx, path)
	if err == nil {
		db2.Close()
		t.Fatal("Open accepted a database from a newer schema")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the database is newer", err)
	}
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	defer raw.Close()
	var max int
	if err := raw.QueryRowContext(ctx, `SELECT MAX(version) FROM schema_migrations`).Scan(&max); err != nil || max != future {
		t.Errorf("schema version after refusal: %d, %v; want %d", max, err, future)
	}
}

// TestUpgradeFromVersion1: a version-1 database that let the same
// certificate in twice migrates, keeping one copy.
func TestUpgradeFromVersion1(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "dvs2s.db")
	raw, err := sql.Open("sqlite", path)
	if err != nil {
		t.Fatal(err)
	}
	stmts := []string{
		`CREATE TABLE schema_migrations (version INTEGER PRIMARY KEY, applied_at INTEGER NOT NULL)`,
		migrations[0],
		`INSERT INTO schema_migrations VALUES (1, 0)`,
		`INSERT INTO tenants VALUES ('t', 't', 't.example', 0)`,
		`INSERT INTO apps VALUES ('a', 'o', 't', 'A', 'AzureADMyOrg', '[]', '[]', 0, 0)`,
		`INSERT INTO key_credentials VALUES ('k1', 'a', 'first', x'01', x'02', x'03', 0, 1)`,
		`INSERT INTO key_credentials VALUES ('k2', 'a', 'again', x'01', x'02', x'03', 0, 1)`,
	}
	for _, s := range stmts {
		if _, err := raw.ExecContext(ctx, s); err != nil {
			t.Fatalf("%s: %v", s, err)
		}
	}
	raw.Close()
	db := openAt(t, path)
	keys, err := db.Keys(ctx, "a")
	if err != nil {
		t.Fatal(err)
	}
	if len(keys) != 1 || keys[0].KeyID != "k1" {
		t.Fatalf("keys after upgrade: %+v, want k1 only", keys)
	}
}

// TestWAL: the database runs in WAL mode with foreign keys enforced on
// every connection.
func TestWAL(t *testing.T) {
	ctx := t.Context()
	db := open(t)
	// Hold several connections at once, so more than one is checked.
	var conns []*sql.Conn
	for range 3 {
		c, err := db.db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		conns = append(conns, c)
	}
	for i, c := range conns {
		var mode string
		var fk int
		if err := c.QueryRowContext(ctx, `PRAGMA journal_mode`).Scan(&mode); err != nil {
			t.Fatal(err)
		}
		if err := c.QueryRowContext(ctx, `PRAGMA foreign_keys`).Scan(&fk); err != nil {
			t.Fatal(err)
		}
		if mode != "wal" || fk != 1 {
			t.Errorf("connection %d: journal_mode %q, foreign_keys %d; want wal, 1", i, mode, fk)
		}
		c.Close()
	}
}

// TestFilePermissions: the database and its WAL and shared-memory files
// hold credential hashes and sealed keys, and environment databases hold
// business data, so only the owner may read them.
func TestFilePermissions(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dvs2s.db")
	db := openAt(t, path)
	ctx := t.Context()
	if err := db.CreateTenant(ctx, store.Tenant{ID: "6a0e8f7c-0000-4000-8000-000000000002", Name: "perm", Domain: "perm.example", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	// An environment's data database too.
	dataPath := filepath.Join(dir, "env.db")
	data, err := OpenData(ctx, dataPath)
	if err != nil {
		t.Fatal(err)
	}
	defer data.Close()
	for _, f := range []string{path, path + "-wal", path + "-shm", dataPath, dataPath + "-wal", dataPath + "-shm"} {
		fi, err := os.Stat(f)
		if err != nil {
			t.Errorf("%s: %v", filepath.Base(f), err)
			continue
		}
		if perm := fi.Mode().Perm(); perm&0o077 != 0 {
			t.Errorf("%s has mode %v, want no group or other access", filepath.Base(f), perm)
		}
	}
}

// TestUnusualPath: a data directory whose name has URI metacharacters
// (t.TempDir keeps '#', '%' and spaces; users may have '?') still opens the
// databases (identity and environment) at exactly that path.
func TestUnusualPath(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "data #1 %41 ?x=y&z")
	if err := os.MkdirAll(dir, 0o700); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, "dvs2s.db")
	db := openAt(t, path)
	ctx := t.Context()
	if err := db.CreateTenant(ctx, store.Tenant{ID: "6a0e8f7c-0000-4000-8000-000000000003", Name: "odd", Domain: "odd.example", CreatedAt: time.Now()}); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := os.Stat(path); err != nil {
		entries, _ := os.ReadDir(filepath.Dir(dir))
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Fatalf("database not at %s (%v); parent holds %q", path, err, names)
	}
	db = openAt(t, path)
	if _, err := db.Tenant(ctx, "odd.example"); err != nil {
		t.Fatalf("reopen: %v", err)
	}

	dataPath := filepath.Join(dir, "env.db")
	data, err := OpenData(ctx, dataPath)
	if err != nil {
		t.Fatal(err)
	}
	data.Close()
	if _, err := os.Stat(dataPath); err != nil {
		t.Fatalf("environment database not at %s: %v", dataPath, err)
	}
}

// TestClosedStore: calls after Close fail cleanly rather than panic.
func TestClosedStore(t *testing.T) {
	db := open(t)
	db.Close()
	_, err := db.Tenant(context.Background(), "x")
	if err == nil || errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Tenant on a closed store: %v", err)
	}
}
