package sqlite

import (
	"database/sql"
	"errors"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/google/uuid"
)

// TestOptimize: Sync gathers statistics for a table that grew since the
// last ones, as when an environment opens on rows inserted while it was
// closed.
func TestOptimize(t *testing.T) {
	ctx := t.Context()
	path := filepath.Join(t.TempDir(), "env.db")
	d, err := OpenData(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	s := schema.System()
	if err := d.Sync(ctx, s); err != nil {
		t.Fatal(err)
	}
	acc := s.Table(schema.TableAccount)
	err = d.InTx(ctx, func(tx store.Data) error {
		for i := range 3000 {
			if _, err := tx.Insert(ctx, acc, store.Row{"accountid": uuid.NewString(), "name": fmt.Sprintf("account %05d", i)}); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	stat := func(d *Data) string {
		t.Helper()
		var v string
		err := d.db.QueryRowContext(ctx, `SELECT stat FROM sqlite_stat1 WHERE tbl = 'account' AND idx = 'account_name'`).Scan(&v)
		if err != nil && !errors.Is(err, sql.ErrNoRows) {
			t.Fatalf("statistics of account_name: %v", err)
		}
		return v
	}
	before := stat(d) // none, or the empty table's from the first Sync
	if err := d.Close(); err != nil {
		t.Fatal(err)
	}

	d, err = OpenData(ctx, path)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Sync(ctx, s); err != nil {
		t.Fatal(err)
	}
	after := stat(d)
	var rows int
	if _, err := fmt.Sscan(after, &rows); err != nil || rows < 1000 {
		t.Fatalf("statistics after the table grew: %q (before %q), want ≥ 1000 rows", after, before)
	}
}

// TestOptimizeAfterCommits: a database growing while open gathers
// statistics again after optimizeCommits commits, without waiting for
// optimizeInterval.
func TestOptimizeAfterCommits(t *testing.T) {
	ctx := t.Context()
	d, s := openSynced(t, filepath.Join(t.TempDir(), "env.db"))
	acc := s.Table(schema.TableAccount)
	for i := range optimizeCommits {
		if _, err := d.Insert(ctx, acc, store.Row{"accountid": uuid.NewString(), "name": fmt.Sprintf("account %05d", i)}); err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		var v string
		err := d.db.QueryRowContext(ctx, `SELECT stat FROM sqlite_stat1 WHERE tbl = 'account' AND idx = 'account_name'`).Scan(&v)
		var rows int
		fmt.Sscan(v, &rows)
		if err == nil && rows >= optimizeCommits/2 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("statistics of account_name after %d commits: %q, %v", optimizeCommits, v, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
}
