package sqlite

import (
	"errors"
	"fmt"
	"path/filepath"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/google/uuid"
)

// TestReadCache: cached reads answer as the database would — after this
// Data's writes at once (every write path), after another connection's
// commit (another process) within pollInterval, never with a
// transaction's uncommitted rows outside it — and callers may change what
// they get; the cache stays within its budget.
func TestReadCache(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "env.db")
	d, s := openSynced(t, path)
	acc := s.Table(schema.TableAccount)
	team := s.Table(schema.TableTeam)
	user := s.Table(schema.TableSystemUser)
	var m2m *schema.ManyToMany
	for _, m := range s.ManyToManys() {
		if m.Intersect == "teammembership" {
			m2m = m
		}
	}
	if m2m == nil {
		t.Fatal("no teammembership intersect")
	}
	id := uuid.NewString()
	if _, err := d.Insert(ctx, acc, store.Row{"accountid": id, "name": "first"}); err != nil {
		t.Fatal(err)
	}
	name := func() any {
		t.Helper()
		r, err := d.Get(ctx, acc, id, nil)
		if err != nil {
			t.Fatalf("Get: %v", err)
		}
		return r["name"]
	}
	named := func(n string) int {
		t.Helper()
		rows, err := d.Query(ctx, acc, store.Query{Columns: []string{"accountid"}, Where: store.Compare{Column: "name", Op: "eq", Value: n}})
		if err != nil {
			t.Fatal(err)
		}
		c, err := d.Count(ctx, acc, store.Compare{Column: "name", Op: "eq", Value: n})
		if err != nil {
			t.Fatal(err)
		}
		if c != len(rows) {
			t.Fatalf("Count %d, Query %d rows", c, len(rows))
		}
		return c
	}
	for range 2 { // the second time from the cache
		if n := name(); n != "first" {
			t.Fatalf("name %v", n)
		}
		if n := named("first"); n != 1 {
			t.Fatalf("%d rows named first", n)
		}
	}
	if d.cache.size == 0 {
		t.Fatal("nothing cached")
	}

	// This Data's writes show at once, whatever the path.
	if _, err := d.Update(ctx, acc, id, store.Row{"name": "second"}, 0); err != nil {
		t.Fatal(err)
	}
	if n := name(); n != "second" {
		t.Fatalf("after Update: %v", n)
	}
	if n := named("second"); n != 1 {
		t.Fatalf("after Update: %d rows named second", n)
	}
	err := d.InTx(ctx, func(tx store.Data) error {
		_, err := tx.Update(ctx, acc, id, store.Row{"name": "third"}, 0)
		if r, _ := tx.Get(ctx, acc, id, nil); r["name"] != "third" {
			t.Errorf("inside the transaction: %v", r["name"])
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if n := name(); n != "third" {
		t.Fatalf("after InTx: %v", n)
	}
	teamID, userID := uuid.NewString(), uuid.NewString()
	for _, r := range []struct {
		t  *schema.Table
		id string
	}{{team, teamID}, {user, userID}} {
		if _, err := d.Insert(ctx, r.t, store.Row{r.t.PrimaryID: r.id}); err != nil {
			t.Fatal(err)
		}
	}
	members := func() int {
		t.Helper()
		n, err := d.Count(ctx, user, store.Linked{Intersect: m2m.Intersect, ThisCol: m2m.Entity1Col, OtherCol: m2m.Entity2Col, Target: team, Where: store.Bool(true)})
		if err != nil {
			t.Fatal(err)
		}
		return n
	}
	if n := members(); n != 0 {
		t.Fatalf("%d members before Associate", n)
	}
	if err := d.Associate(ctx, m2m, userID, teamID); err != nil {
		t.Fatal(err)
	}
	if n := members(); n != 1 {
		t.Fatalf("%d members after Associate", n)
	}
	if err := d.Disassociate(ctx, m2m, userID, teamID); err != nil {
		t.Fatal(err)
	}
	if n := members(); n != 0 {
		t.Fatalf("%d members after Disassociate", n)
	}

	// A rolled-back transaction changes nothing, inside it the reads see
	// its rows, outside they do not.
	rollback := errors.New("rollback")
	err = d.InTx(ctx, func(tx store.Data) error {
		if _, err := tx.Update(ctx, acc, id, store.Row{"name": "uncommitted"}, 0); err != nil {
			return err
		}
		if n := name(); n != "third" {
			t.Errorf("outside the transaction: %v", n)
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if n := name(); n != "third" {
		t.Fatalf("after a rollback: %v", n)
	}

	// Callers may change their copy.
	r, _ := d.Get(ctx, acc, id, nil)
	r["name"] = "scribbled"
	rows, _ := d.Query(ctx, acc, store.Query{Where: store.Compare{Column: "accountid", Op: "eq", Value: id}})
	rows[0]["name"] = "scribbled"
	if n := name(); n != "third" {
		t.Fatalf("a caller's change reached the cache: %v", n)
	}

	// Another connection's commit (as another process's) shows within
	// pollInterval.
	other, err := OpenData(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()
	if err := other.SetReadCache(ctx, 0); err != nil {
		t.Fatal(err)
	}
	if _, err := other.Update(ctx, acc, id, store.Row{"name": "elsewhere"}, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * pollInterval)
	if n := name(); n != "elsewhere" {
		t.Fatalf("after another connection's commit: %v", n)
	}
	if err := other.Delete(ctx, acc, id, 0); err != nil {
		t.Fatal(err)
	}
	time.Sleep(2 * pollInterval)
	if _, err := d.Get(ctx, acc, id, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get after another connection's delete: %v", err)
	}

	// The budget holds.
	const budget = 64 << 10
	if err := d.SetReadCache(ctx, budget); err != nil {
		t.Fatal(err)
	}
	for i := range 500 {
		if _, err := d.Query(ctx, acc, store.Query{Where: store.Compare{Column: "name", Op: "eq", Value: fmt.Sprint("nobody ", i)}}); err != nil {
			t.Fatal(err)
		}
		if d.cache.size > budget {
			t.Fatalf("after %d queries: %d bytes cached, budget %d", i+1, d.cache.size, budget)
		}
	}
	if len(d.cache.m) == 0 {
		t.Fatal("nothing cached within the budget")
	}
}

// TestReadCacheGetAfterQuery: a Query by primary id has Get's query text,
// so they share cache entries; Get of an id a Query found no row for is
// not found (not a panic), and a row found by either serves the other.
func TestReadCacheGetAfterQuery(t *testing.T) {
	ctx := t.Context()
	d, s := openSynced(t, filepath.Join(t.TempDir(), "env.db"))
	acc := s.Table(schema.TableAccount)
	byID := func(id string) store.Query {
		return store.Query{Where: store.Compare{Column: "accountid", Op: "eq", Value: id}}
	}
	missing := uuid.NewString()
	if rows, err := d.Query(ctx, acc, byID(missing)); err != nil || len(rows) != 0 {
		t.Fatalf("Query of a missing id: %v, %v", rows, err)
	}
	if _, err := d.Get(ctx, acc, missing, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a missing id after its Query: %v", err)
	}
	id := uuid.NewString()
	if _, err := d.Insert(ctx, acc, store.Row{"accountid": id, "name": "shared"}); err != nil {
		t.Fatal(err)
	}
	if rows, err := d.Query(ctx, acc, byID(id)); err != nil || len(rows) != 1 {
		t.Fatalf("Query: %v, %v", rows, err)
	}
	if r, err := d.Get(ctx, acc, id, nil); err != nil || r["name"] != "shared" {
		t.Fatalf("Get after Query: %v, %v", r, err)
	}
}

// TestCacheKey: distinct arguments give distinct keys.
func TestCacheKey(t *testing.T) {
	q := "SELECT ? , ?"
	seen := map[string][]any{}
	for _, args := range [][]any{
		{"a", "b"}, {"a\x00s1:b"}, {"ab", ""}, {int64(1), "1"}, {1.0, int64(1)}, {nil, "n"},
		{"", nil}, {0.0, -0.0}, {int64(-1), int64(1)}, {"s1:a", "b"},
	} {
		k, ok := cacheKey(q, args)
		if !ok {
			t.Fatalf("%v: not keyed", args)
		}
		if prev, dup := seen[k]; dup {
			t.Fatalf("%v and %v share the key %q", prev, args, k)
		}
		seen[k] = args
	}
	if _, ok := cacheKey(q, []any{[]int{1}}); ok {
		t.Fatal("an unknown argument type was keyed")
	}
}

// TestReadCacheConcurrent: readers racing a writer never get a value older
// than the last commit made before their read began.
func TestReadCacheConcurrent(t *testing.T) {
	ctx := t.Context()
	d, s := openSynced(t, filepath.Join(t.TempDir(), "env.db"))
	acc := s.Table(schema.TableAccount)
	id := uuid.NewString()
	if _, err := d.Insert(ctx, acc, store.Row{"accountid": id, "name": "n", "numberofemployees": int64(0)}); err != nil {
		t.Fatal(err)
	}
	const writes = 200
	var committed atomic.Int64
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 4 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for committed.Load() < writes {
				before := committed.Load()
				r, err := d.Get(ctx, acc, id, nil)
				if err != nil {
					errs <- err
					return
				}
				rows, err := d.Query(ctx, acc, store.Query{Columns: []string{"numberofemployees"}, Where: store.Compare{Column: "accountid", Op: "eq", Value: id}})
				if err != nil || len(rows) != 1 {
					errs <- fmt.Errorf("query: %v, %v", rows, err)
					return
				}
				for _, v := range []any{r["numberofemployees"], rows[0]["numberofemployees"]} {
					if n, _ := v.(int64); n < before {
						errs <- fmt.Errorf("read %d after commit %d", n, before)
						return
					}
				}
			}
		}()
	}
	for i := int64(1); i <= writes; i++ {
		if _, err := d.Update(ctx, acc, id, store.Row{"numberofemployees": i}, 0); err != nil {
			t.Fatal(err)
		}
		committed.Store(i)
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
}

// openSynced opens (creating) the environment database path, closed when
// the test ends, with the system tables.
func openSynced(t *testing.T, path string) (*Data, *schema.Schema) {
	t.Helper()
	d, err := OpenData(t.Context(), path)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { d.Close() })
	s := schema.System()
	if err := d.Sync(t.Context(), s); err != nil {
		t.Fatal(err)
	}
	return d, s
}
