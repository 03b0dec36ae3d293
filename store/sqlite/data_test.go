package sqlite

import (
	"path/filepath"
	"testing"

	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/storetest"
)

// TestDataConformance runs the store.Data conformance suite, one new
// environment database per test.
func TestDataConformance(t *testing.T) {
	storetest.RunData(t, func(t *testing.T) store.Data {
		d, err := OpenData(t.Context(), filepath.Join(t.TempDir(), "env.db"))
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { d.Close() })
		return d
	})
}
