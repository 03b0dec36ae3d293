package postgres

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/postgres/pgtest"
	"github.com/dvs2s/dvs2s/store/storetest"
	"github.com/google/uuid"
)

// open opens a store in a fresh schema of the test database.
func open(t *testing.T) *DB {
	t.Helper()
	return openAt(t, pgtest.NewSchema(t))
}

func openAt(t *testing.T, url string) *DB {
	t.Helper()
	db, err := Open(t.Context(), url)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// identityTables are the tables a new store starts with empty.
// (children first).
var identityTables = []string{"environments", "resources", "service_principals", "key_credentials", "password_credentials",
	"apps", "users", "tenants", "signing_keys", "auth_codes", "refresh_tokens", "sessions"}

// TestConformance runs the store conformance suite: one schema, migrated
// once, emptied before each test (a new schema each time costs a second).
func TestConformance(t *testing.T) {
	t.Parallel()
	url := pgtest.NewSchema(t)
	storetest.Run(t, func(t *testing.T) store.Store {
		db := openAt(t, url)
		if _, err := db.pool.Exec(t.Context(), `DELETE FROM `+strings.Join(identityTables, `; DELETE FROM `)); err != nil {
			t.Fatal(err)
		}
		return db
	})
}

// TestDataConformance runs the store.Data conformance suite, one new
// environment (schema) per test.
func TestDataConformance(t *testing.T) {
	t.Parallel()
	db := open(t)
	storetest.RunData(t, func(t *testing.T) store.Data {
		d, err := db.OpenData(t.Context(), uuid.NewString())
		if err != nil {
			t.Fatal(err)
		}
		return d
	})
}

// TestReopen: opening again (as a second instance does) applies no
// migration twice and keeps the data.
func TestReopen(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewSchema(t)
	db := openAt(t, url)
	tn := store.Tenant{ID: "6a0e8f7c-0000-4000-8000-000000000001", Name: "reopen", Domain: "reopen.example", CreatedAt: time.Now()}
	if err := db.CreateTenant(ctx, tn); err != nil {
		t.Fatal(err)
	}
	for range 2 {
		db2 := openAt(t, url)
		if _, err := db2.Tenant(ctx, tn.Domain); err != nil {
			t.Fatalf("tenant lost on reopen: %v", err)
		}
		var n, max int
		if err := db2.pool.QueryRow(ctx, `SELECT COUNT(*), MAX(version) FROM schema_migrations`).Scan(&n, &max); err != nil {
			t.Fatal(err)
		}
		if n != len(migrations) || max != len(migrations) {
			t.Fatalf("schema_migrations has %d rows up to version %d, want %d", n, max, len(migrations))
		}
	}
}

// TestConcurrentOpen: instances starting at the same moment against a new
// database migrate it once, without errors.
func TestConcurrentOpen(t *testing.T) {
	url := pgtest.NewSchema(t)
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(t.Context(), url)
			if err != nil {
				errs <- err
				return
			}
			db.Close()
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// TestNewerSchemaRefused: a database migrated by a newer binary is refused.
func TestNewerSchemaRefused(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewSchema(t)
	db := openAt(t, url)
	if _, err := db.pool.Exec(ctx, `INSERT INTO schema_migrations (version, applied_at) VALUES ($1, now())`, len(migrations)+1); err != nil {
		t.Fatal(err)
	}
	db2, err := Open(ctx, url)
	if err == nil {
		db2.Close()
		t.Fatal("Open accepted a database from a newer schema")
	}
	if !strings.Contains(err.Error(), "newer") {
		t.Errorf("error %q does not say the database is newer", err)
	}
}

// TestSigningKeyRaceAcrossPools: two instances (two pools) rotating at
// once; exactly one key wins.
func TestSigningKeyRaceAcrossPools(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewSchema(t)
	dbs := []*DB{openAt(t, url), openAt(t, url), openAt(t, url)}
	now := time.Now().UTC()
	var wg sync.WaitGroup
	results := make(chan error, 3*4)
	for i, db := range dbs {
		for j := range 4 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				k := store.SigningKey{KID: uuid.NewString(), PrivateKey: []byte{byte(i)}, CertDER: []byte{byte(j)},
					CreatedAt: now.Add(time.Duration(i*4+j) * time.Millisecond), ActivateAt: now, RetireAt: now.Add(time.Hour)}
				results <- db.AddSigningKey(ctx, k, time.Time{})
			}()
		}
	}
	wg.Wait()
	close(results)
	wins := 0
	for err := range results {
		switch {
		case err == nil:
			wins++
		case !errors.Is(err, store.ErrConflict):
			t.Errorf("AddSigningKey: %v", err)
		}
	}
	keys, err := dbs[0].SigningKeys(ctx, now)
	if err != nil {
		t.Fatal(err)
	}
	if wins != 1 || len(keys) != 1 {
		t.Fatalf("%d rotations won, %d keys stored; want exactly 1", wins, len(keys))
	}
}

// TestEnvironmentSchemas: each environment's rows are in a schema of its
// own, named after the environment, which shares nothing with another
// environment's; opening it again (another instance) finds the rows.
func TestEnvironmentSchemas(t *testing.T) {
	ctx := t.Context()
	url := pgtest.NewSchema(t)
	db := openAt(t, url)
	s := schema.System()
	a, b := uuid.NewString(), uuid.NewString()
	da, err := db.Data(ctx, a)
	if err != nil {
		t.Fatal(err)
	}
	if err := da.Sync(ctx, s); err != nil {
		t.Fatal(err)
	}
	acct := s.Table(schema.TableAccount)
	id := uuid.NewString()
	if _, err := da.Insert(ctx, acct, store.Row{"accountid": id, "name": "only in a"}); err != nil {
		t.Fatal(err)
	}
	db2 := openAt(t, url)
	db2a, err := db2.Data(ctx, strings.ToUpper(a))
	if err != nil {
		t.Fatal(err)
	}
	if err := db2a.Sync(ctx, s); err != nil {
		t.Fatal(err)
	}
	if r, err := db2a.Get(ctx, acct, id, []string{"name"}); err != nil || r["name"] != "only in a" {
		t.Fatalf("second instance reading environment a: %v, %v", r, err)
	}
	db2b, err := db2.Data(ctx, b)
	if err != nil {
		t.Fatal(err)
	}
	if err := db2b.Sync(ctx, s); err != nil {
		t.Fatal(err)
	}
	if _, err := db2b.Get(ctx, acct, id, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("environment b sees a's row: %v", err)
	}
	want, _ := db.SchemaName(a)
	var n int
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM information_schema.tables WHERE table_schema = $1 AND table_name = 'account'`, want).Scan(&n); err != nil || n != 1 {
		t.Fatalf("table account in schema %s: %d, %v", want, n, err)
	}
	if _, err := db.Data(ctx, "x'; DROP SCHEMA public; --"); err == nil {
		t.Fatal("an environment id that is not a GUID was accepted")
	}
	if err := db.DropData(ctx, a); err != nil {
		t.Fatal(err)
	}
	if err := db.pool.QueryRow(ctx, `SELECT count(*) FROM pg_namespace WHERE nspname = $1`, want).Scan(&n); err != nil || n != 0 {
		t.Fatalf("schema %s after DropData: %d, %v", want, n, err)
	}
}

// TestConcurrentSync: instances opening and syncing the same environment
// at once (a first start of several replicas) do not trip over each
// other's CREATE TABLE.
func TestConcurrentSync(t *testing.T) {
	url := pgtest.NewSchema(t)
	env := uuid.NewString()
	var wg sync.WaitGroup
	errs := make(chan error, 4)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			db, err := Open(context.WithoutCancel(t.Context()), url)
			if err != nil {
				errs <- err
				return
			}
			defer db.Close()
			d, err := db.Data(t.Context(), env)
			if err == nil {
				err = d.Sync(t.Context(), schema.System())
			}
			if err != nil {
				errs <- err
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
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
