package e2e

import (
	"errors"
	"net/http"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/dataverse"
)

// skipWithoutBatch skips when the data service does not implement $batch.
func skipWithoutBatch(t *testing.T, err error) {
	t.Helper()
	if e := dataverse.AsError(err); e != nil && e.StatusCode == http.StatusNotImplemented {
		t.Skipf("the data service does not implement $batch yet: %v", err)
	}
}

func TestSDKBatch(t *testing.T) {
	ts := start(t, "")
	ctx := sdkCtx(t)
	c := ts.sdkClient(t, nil)
	count := func(name string) int64 {
		t.Helper()
		n, err := c.Count(ctx, "accounts", dataverse.Eq("name", name))
		if err != nil {
			t.Fatal(err)
		}
		return n
	}

	t.Run("change set with references, and reads", func(t *testing.T) {
		b := dataverse.NewBatch()
		cs := b.ChangeSet()
		acc := cs.Create("accounts", dataverse.Row{"name": "Batch Parent"})
		con := cs.Create("contacts", dataverse.Row{"lastname": "Batch Child", "parentcustomerid_account@odata.bind": acc.Ref()})
		cs.Update("accounts", acc.Ref(), dataverse.Row{"address1_city": "Batchville"})
		cs.Update("accounts", acc.Ref(), dataverse.Row{"primarycontactid@odata.bind": con.Ref()})
		get := b.Get(dataverse.QueryPath("accounts", dataverse.NewQuery().Select("name").Filter(dataverse.Eq("name", "Fourth Coffee"))))
		res, err := c.ExecuteBatch(ctx, b)
		skipWithoutBatch(t, err)
		if err != nil {
			t.Fatal(err)
		}
		if err := res.Err(); err != nil {
			t.Fatal(err)
		}
		if len(res.Results) != 5 {
			t.Fatalf("%d results", len(res.Results))
		}
		accID, conID := res.Results[acc.Index].ID(), res.Results[con.Index].ID()
		if accID == "" || conID == "" {
			t.Fatalf("ids %q %q from %+v", accID, conID, res.Results)
		}
		var page struct{ Value []dataverse.Row }
		if err := res.Results[get.Index].Decode(&page); err != nil || len(page.Value) != 1 {
			t.Fatalf("GET in batch: %v %s", err, res.Results[get.Index].Body)
		}
		r, err := c.Retrieve(ctx, "accounts", accID, dataverse.NewQuery().Select("address1_city", "_primarycontactid_value"))
		if err != nil || r.String("address1_city") != "Batchville" || r.String("_primarycontactid_value") != conID {
			t.Fatalf("after the batch: %v %v", r, err)
		}
	})

	t.Run("a failed change set rolls back", func(t *testing.T) {
		b := dataverse.NewBatch()
		before := b.Create("accounts", dataverse.Row{"name": "Batch Before"})
		cs := b.ChangeSet()
		ok := cs.Create("accounts", dataverse.Row{"name": "Batch Rolled Back"})
		bad := cs.Create("accounts", dataverse.Row{"Name": "wrong case"})
		after := b.Create("accounts", dataverse.Row{"name": "Batch After"})
		res, err := c.ExecuteBatch(ctx, b)
		skipWithoutBatch(t, err)
		if err != nil {
			t.Fatal(err)
		}
		if r := res.Results[before.Index]; r.Err != nil || r.ID() == "" {
			t.Fatalf("operation before the change set: %+v", r)
		}
		for _, op := range []*dataverse.BatchOp{ok, bad} {
			r := res.Results[op.Index]
			if !r.RolledBack || r.Err == nil {
				t.Fatalf("change set operation %d: %+v", op.Index, r)
			}
		}
		if e := dataverse.AsError(res.Results[bad.Index].Err); e == nil || e.StatusCode != http.StatusBadRequest || !strings.Contains(e.Message, "Name") {
			t.Fatalf("failed operation's error: %v", res.Results[bad.Index].Err)
		}
		if r := res.Results[after.Index]; !errors.Is(r.Err, dataverse.ErrNotExecuted) {
			t.Fatalf("operation after the failure without continue-on-error: %+v", r)
		}
		if count("Batch Rolled Back") != 0 || count("Batch Before") != 1 || count("Batch After") != 0 {
			t.Fatal("rows do not match the batch's outcome")
		}
	})

	t.Run("continue on error", func(t *testing.T) {
		b := dataverse.NewBatch()
		b.Delete("accounts", "00000000-0000-4000-8000-00000000f00d")
		after := b.Create("accounts", dataverse.Row{"name": "Batch Continued"})
		res, err := c.ExecuteBatch(ctx, b, dataverse.WithContinueOnError())
		skipWithoutBatch(t, err)
		if err != nil {
			t.Fatal(err)
		}
		if !dataverse.IsNotFound(res.Results[0].Err) {
			t.Fatalf("delete of a missing row: %+v", res.Results[0])
		}
		if r := res.Results[after.Index]; r.Err != nil || r.ID() == "" {
			t.Fatalf("operation after the failure: %+v", r)
		}
	})

	t.Run("too many operations", func(t *testing.T) {
		b := dataverse.NewBatch()
		for range dataverse.MaxBatchSize + 1 {
			b.Get("WhoAmI")
		}
		if _, err := c.ExecuteBatch(ctx, b); err == nil || !strings.Contains(err.Error(), "at most 1000") {
			t.Fatalf("err = %v", err)
		}
	})
}
