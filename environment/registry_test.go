package environment_test

import (
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/schema"
)

// TestOpenRegistryCache: Open answers from the registry record it read
// less than a second ago (by name or id), sees a change made straight to
// the store after that, and never hands out an environment that Close
// closed.
func TestOpenRegistryCache(t *testing.T) {
	f := newFixture(t)
	env := f.create(t, "cached", "https://localhost:9444")
	for _, ref := range []string{"cached", "CACHED", env.ID} {
		got, err := f.m.Open(f.ctx, ref)
		if err != nil || got != env {
			t.Fatalf("Open(%s) = %p, %v; want the open environment %p", ref, got, err, env)
		}
	}

	rec := env.Environment
	rec.Authority = "https://login.example.test"
	if err := f.db.UpdateEnvironment(f.ctx, rec); err != nil {
		t.Fatal(err)
	}
	time.Sleep(1100 * time.Millisecond) // the registry TTL is one second
	got, err := f.m.Open(f.ctx, "cached")
	if err != nil || got.Authority != rec.Authority || got.Data != env.Data || got.Schema() != env.Schema() {
		t.Fatalf("after a store change and a second: Open = %+v, %v; want authority %q, the same rows and schema", got, err, rec.Authority)
	}
	if env.Authority != "" { // requests holding the old Env may still read it
		t.Fatalf("the old Env was changed in place: authority %q", env.Authority)
	}
	if again, err := f.m.Open(f.ctx, "cached"); err != nil || again != got {
		t.Fatalf("Open again = %p, %v; want %p", again, err, got)
	}
	env = got

	if err := f.m.Close(); err != nil {
		t.Fatal(err)
	}
	again, err := f.m.Open(f.ctx, "cached")
	if err != nil {
		t.Fatal(err)
	}
	if again == env {
		t.Fatal("Open after Close returned the closed environment")
	}
	if n := count(t, again, schema.TableRole, nil); n == 0 {
		t.Fatal("the reopened environment has no roles")
	}
}
