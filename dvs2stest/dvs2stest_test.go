package dvs2stest_test

import (
	"context"
	"errors"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"testing"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/policy"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/dvs2stest"
	"github.com/dvs2s/dvs2s/snapshot"
	"github.com/dvs2s/dvs2s/stack"
)

func TestStart(t *testing.T) {
	ctx := context.Background()
	a := dvs2stest.Start(t)
	if a.TenantID != demo.ContosoTenantID || a.ClientID != demo.PortalAppID || a.ClientSecret != demo.PortalSecret ||
		a.EnvironmentURL == "" || a.Scope != a.EnvironmentURL+"/.default" || a.Authority != a.AuthorityHost+"/"+demo.ContosoTenantID {
		t.Errorf("demo credentials: %+v", a)
	}
	if st, err := os.Stat(a.CAFile); err != nil || st.Size() == 0 {
		t.Errorf("CA file: %v", err)
	}
	who, err := a.Client.WhoAmI(ctx)
	if err != nil || who.UserID != demo.PortalAppUserID {
		t.Fatalf("WhoAmI: %+v %v", who, err)
	}
	id, err := a.Client.Create(ctx, "accounts", map[string]any{"name": "Only in stack a"})
	if err != nil {
		t.Fatal(err)
	}

	// A second stack is another world: its own ports, data and issuer.
	b := dvs2stest.Start(t)
	if b.AuthorityHost == a.AuthorityHost || b.EnvironmentURL == a.EnvironmentURL || b.DataDir == a.DataDir {
		t.Errorf("two stacks share an address or a directory: %s %s %s", b.AuthorityHost, b.EnvironmentURL, b.DataDir)
	}
	if _, err := b.Client.Retrieve(ctx, "accounts", id, nil); !dataverse.IsNotFound(err) {
		t.Errorf("stack b sees stack a's row: %v", err)
	}
	tok, err := a.Credential.GetToken(ctx, policy.TokenRequestOptions{Scopes: []string{a.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	req, _ := http.NewRequest(http.MethodGet, b.EnvironmentURL+"/api/data/v9.2/WhoAmI", nil)
	req.Header.Set("Authorization", "Bearer "+tok.Token)
	resp, err := b.HTTPClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Errorf("stack b accepted a token of stack a: %d", resp.StatusCode)
	}

	// The plain protocol works with HTTPClient, as curl would use it.
	resp, err = a.HTTPClient.PostForm(a.Authority+"/oauth2/v2.0/token", url.Values{"grant_type": {"client_credentials"},
		"client_id": {a.ClientID}, "client_secret": {a.ClientSecret}, "scope": {a.Scope}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("token: %d", resp.StatusCode)
	}
}

func TestParallel(t *testing.T) {
	for _, name := range []string{"one", "two", "three"} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			s := dvs2stest.Start(t)
			if _, err := s.Client.Create(context.Background(), "accounts", map[string]any{"name": name}); err != nil {
				t.Fatal(err)
			}
			n, err := s.Client.Count(context.Background(), "accounts", "name eq '"+name+"'")
			if err != nil || n != 1 {
				t.Errorf("count %d %v", n, err)
			}
		})
	}
}

func TestNoDemo(t *testing.T) {
	s := dvs2stest.Start(t, dvs2stest.WithConfig(func(c *stack.Config) { c.NoDemo = true }))
	if s.Client != nil || s.Credential != nil || s.ClientID != "" || len(s.Info.Tenants) != 0 {
		t.Errorf("a stack without the demo has demo credentials: %+v", s.Info)
	}
	resp, err := s.HTTPClient.Get(s.AuthorityHost + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != 200 {
		t.Errorf("readyz: %d", resp.StatusCode)
	}
}

func TestWithSnapshot(t *testing.T) {
	ctx := context.Background()
	src := dvs2stest.Start(t)
	id, err := src.Client.Create(ctx, "accounts", map[string]any{"name": "From the snapshot"})
	if err != nil {
		t.Fatal(err)
	}
	if err := src.Close(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(t.TempDir(), "snap.jsonl")
	f, err := os.Create(file)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := snapshot.Export(ctx, src.DataDir, f, snapshot.ExportOptions{}); err != nil {
		t.Fatal(err)
	}
	f.Close()
	s := dvs2stest.Start(t, dvs2stest.WithSnapshot(file))
	row, err := s.Client.Retrieve(ctx, "accounts", id, dataverse.NewQuery().Select("name"))
	if err != nil || row["name"] != "From the snapshot" {
		t.Errorf("row from the snapshot: %v %v", row, err)
	}
}

func TestWithoutTemplate(t *testing.T) {
	if testing.Short() {
		t.Skip("generates keys")
	}
	a := dvs2stest.Start(t)
	b := dvs2stest.Start(t, dvs2stest.WithoutTemplate())
	if string(a.CAPEM) == string(b.CAPEM) {
		t.Error("WithoutTemplate: the same CA as the template's")
	}
	if _, err := b.Client.WhoAmI(context.Background()); err != nil {
		t.Error(err)
	}
}

func TestNew(t *testing.T) {
	s, err := dvs2stest.New(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	dir := s.DataDir
	if _, err := s.Client.WhoAmI(context.Background()); err != nil {
		t.Error(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
	if _, err := os.Stat(dir); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Close left %s: %v", dir, err)
	}
}
