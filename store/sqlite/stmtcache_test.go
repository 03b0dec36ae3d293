package sqlite

import (
	"errors"
	"path/filepath"
	"testing"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/google/uuid"
)

// TestStmtCache: reads outside a transaction go through prepared
// statements that stay right when the table gains a column; reads inside a
// transaction see its uncommitted rows; the cache stops growing at
// maxStmts and the queries beyond it still run.
func TestStmtCache(t *testing.T) {
	ctx := t.Context()
	d, err := OpenData(ctx, filepath.Join(t.TempDir(), "env.db"))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	s := schema.System()
	if err := d.Sync(ctx, s); err != nil {
		t.Fatal(err)
	}
	acc := s.Table(schema.TableAccount)
	insert := func(dd store.Data, name string) string {
		t.Helper()
		id := uuid.NewString()
		if _, err := dd.Insert(ctx, acc, store.Row{"accountid": id, "name": name}); err != nil {
			t.Fatal(err)
		}
		return id
	}
	get := func(dd store.Data, tb *schema.Table, id string) store.Row {
		t.Helper()
		r, err := dd.Get(ctx, tb, id, nil)
		if err != nil {
			t.Fatalf("Get %s: %v", id, err)
		}
		return r
	}

	id := insert(d, "first")
	for range 3 {
		if r := get(d, acc, id); r["name"] != "first" {
			t.Fatalf("Get = %v", r)
		}
	}
	if d.stmts.n.Load() == 0 {
		t.Fatal("no prepared statement cached for Get")
	}

	// A new column: the old table's cached query still works, the new
	// table's query reads the column.
	acc2 := acc.WithColumn(&schema.Column{LogicalName: "new_score", SchemaName: "new_Score", DisplayName: "Score", Type: schema.Integer, Custom: true})
	s2, err := s.Replace(acc2, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.Sync(ctx, s2); err != nil {
		t.Fatal(err)
	}
	if _, err := d.Update(ctx, acc2, id, store.Row{"new_score": int64(7)}, 0); err != nil {
		t.Fatal(err)
	}
	if r := get(d, acc, id); r["name"] != "first" {
		t.Fatalf("Get with the old table = %v", r)
	}
	if r := get(d, acc2, id); r["new_score"] != int64(7) || r["name"] != "first" {
		t.Fatalf("Get with the new column = %v", r)
	}

	// Inside a transaction: its own rows, gone after the rollback.
	var id2 string
	rollback := errors.New("rollback")
	err = d.InTx(ctx, func(tx store.Data) error {
		id2 = insert(tx, "second")
		if r := get(tx, acc, id2); r["name"] != "second" {
			t.Errorf("Get in the transaction = %v", r)
		}
		rows, err := tx.Query(ctx, acc, store.Query{Where: store.Compare{Column: "name", Op: "eq", Value: "second"}})
		if err != nil || len(rows) != 1 {
			t.Errorf("Query in the transaction = %v, %v", rows, err)
		}
		return rollback
	})
	if !errors.Is(err, rollback) {
		t.Fatal(err)
	}
	if _, err := d.Get(ctx, acc, id2, nil); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("Get of a rolled-back row: %v", err)
	}

	// Bounded: distinct query texts (IN lists of growing length).
	for i := range maxStmts + 20 {
		vals := make([]any, i+1)
		for k := range vals {
			vals[k] = "nobody"
		}
		vals[i] = "first"
		rows, err := d.Query(ctx, acc, store.Query{Columns: []string{"accountid"}, Where: store.In{Column: "name", Values: vals}})
		if err != nil || len(rows) != 1 || rows[0]["accountid"] != id {
			t.Fatalf("query %d: %v, %v", i, rows, err)
		}
	}
	if n := d.stmts.n.Load(); n > maxStmts {
		t.Fatalf("%d statements cached, bound %d", n, maxStmts)
	}
}
