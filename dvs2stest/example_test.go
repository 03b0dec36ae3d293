package dvs2stest_test

import (
	"context"
	"fmt"
	"log"
	"testing"

	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/dvs2stest"
)

// A test gets a stack of its own with Start; the stack stops when the
// test ends. The code under test takes the environment URL and a
// credential (or a ready client), as it would with real Dataverse.
func ExampleStart() {
	// In a _test.go file:
	testAccountSync := func(t *testing.T) {
		s := dvs2stest.Start(t)
		ctx := context.Background()
		id, err := s.Client.Create(ctx, "accounts", map[string]any{"name": "Contoso Pharmaceuticals", "revenue": 5000000})
		if err != nil {
			t.Fatal(err)
		}
		row, err := s.Client.Retrieve(ctx, "accounts", id, dataverse.NewQuery().Select("name"))
		if err != nil || row["name"] != "Contoso Pharmaceuticals" {
			t.Fatalf("retrieve: %v %v", row, err)
		}
	}
	_ = testAccountSync
}

// New starts a stack outside of a test: in TestMain, to share one stack
// among a package's tests, or here.
func ExampleNew() {
	ctx := context.Background()
	s, err := dvs2stest.New(ctx)
	if err != nil {
		log.Fatal(err)
	}
	defer s.Close()

	who, err := s.Client.WhoAmI(ctx) // the demo app's application user
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("user:", who.UserID)
	id, err := s.Client.Create(ctx, "accounts", map[string]any{"name": "Fourth Coffee"})
	if err != nil {
		log.Fatal(err)
	}
	row, err := s.Client.Retrieve(ctx, "accounts", id, dataverse.NewQuery().Select("name"))
	if err != nil {
		log.Fatal(err)
	}
	fmt.Println("account:", row["name"])
	// Output:
	// user: b1a2c3d4-0000-4000-8000-00000000a001
	// account: Fourth Coffee
}
