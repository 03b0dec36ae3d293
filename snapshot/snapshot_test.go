package snapshot_test

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/snapshot"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store/postgres/pgtest"
)

// running is a started stack and a client trusting it.
type running struct {
	*stack.Stack
	hc *http.Client
}

func startStack(t *testing.T, dir string, database ...string) *running {
	t.Helper()
	c := stack.Config{DataDir: dir, Port: 0}
	if len(database) > 0 {
		c.Database = database[0]
	}
	s, err := stack.Start(context.Background(), c)
	if err != nil {
		t.Fatalf("start: %v", err)
	}
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPool)
	r := &running{Stack: s, hc: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}}
	t.Cleanup(func() { r.stop(t) })
	return r
}

func (r *running) stop(t *testing.T) {
	if r.Stack == nil {
		return
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := r.Close(ctx); err != nil {
		t.Errorf("stop: %v", err)
	}
	r.Stack = nil
}

func (r *running) envURL(t *testing.T) string {
	for _, e := range r.Info.Environments {
		if e.Name == demo.EnvironmentName {
			return e.URL
		}
	}
	t.Fatal("no demo environment")
	return ""
}

// token gets an app-only token for the demo environment, or the error
// status and body.
func (r *running) token(t *testing.T, tenant, clientID, secret string) (int, string) {
	t.Helper()
	resp, err := r.hc.PostForm(r.Info.AuthorityHost+"/"+tenant+"/oauth2/v2.0/token", url.Values{
		"grant_type": {"client_credentials"}, "client_id": {clientID}, "client_secret": {secret}, "scope": {r.envURL(t) + "/.default"}})
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var b bytes.Buffer
	b.ReadFrom(resp.Body)
	return resp.StatusCode, b.String()
}

func (r *running) client(t *testing.T) *dataverse.Client {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: r.Info.AuthorityHost + "/"}, Transport: r.hc},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	c, err := dataverse.NewClient(r.envURL(t), cred, &dataverse.Options{HTTPClient: r.hc})
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func label(s string) map[string]any {
	return map[string]any{"LocalizedLabels": []any{map[string]any{"Label": s, "LanguageCode": 1033}}}
}

// gadget is a custom table with a column of several types.
func gadget() map[string]any {
	attr := func(typ, name string, extra map[string]any) map[string]any {
		m := map[string]any{"@odata.type": "Microsoft.Dynamics.CRM." + typ + "AttributeMetadata", "SchemaName": name,
			"DisplayName": label(name), "RequiredLevel": map[string]any{"Value": "None"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	return map[string]any{
		"@odata.type": "Microsoft.Dynamics.CRM.EntityMetadata", "SchemaName": "new_Gadget",
		"DisplayName": label("Gadget"), "DisplayCollectionName": label("Gadgets"), "OwnershipType": "UserOwned",
		"HasActivities": false, "HasNotes": false,
		"Attributes": []any{
			attr("String", "new_Name", map[string]any{"IsPrimaryName": true, "MaxLength": 100}),
			attr("Integer", "new_Count", map[string]any{"MinValue": -1000, "MaxValue": 1000}),
			attr("Decimal", "new_Weight", map[string]any{"Precision": 3, "MinValue": 0, "MaxValue": 1000}),
			attr("Boolean", "new_Shiny", map[string]any{"OptionSet": map[string]any{
				"TrueOption": map[string]any{"Value": 1, "Label": label("Yes")}, "FalseOption": map[string]any{"Value": 0, "Label": label("No")}}}),
			attr("DateTime", "new_Made", map[string]any{"Format": "DateAndTime"}),
		},
	}
}

// TestRoundTrip exports a stack with a new app, a custom table and rows,
// imports the snapshot into a fresh directory, and checks that the
// restored stack gives the same secret a token and serves the same rows.
func TestRoundTrip(t *testing.T) {
	ctx := context.Background()
	dirA, dirB := filepath.Join(t.TempDir(), "a"), filepath.Join(t.TempDir(), "b")
	a := startStack(t, dirA)

	// A new app with a secret nobody but this test knows.
	app, err := a.Directory.CreateApp(ctx, directory.AppSpec{Tenant: demo.ContosoTenantID, DisplayName: "Snapshot test app"})
	if err != nil {
		t.Fatal(err)
	}
	_, secretText, err := a.Directory.AddSecret(ctx, app.AppID, "snapshot test", 24*time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	if st, body := a.token(t, demo.ContosoTenantID, app.AppID, secretText); st != 200 {
		t.Fatalf("token before export: %d %s", st, body)
	}
	// The portal's application user defines a custom table (which takes
	// System Administrator) and writes rows.
	env, err := a.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	role, err := env.RoleByName(ctx, "System Administrator")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.AssignRole(ctx, demo.PortalAppUserID, role["roleid"].(string)); err != nil {
		t.Fatal(err)
	}
	c := a.client(t)
	if st, err := c.Do(ctx, http.MethodPost, "EntityDefinitions", gadget(), nil); err != nil || st != http.StatusNoContent {
		t.Fatalf("define table: %d %v", st, err)
	}
	made := time.Date(2024, 5, 6, 7, 8, 9, 0, time.UTC)
	gid, err := c.Create(ctx, "new_gadgets", map[string]any{"new_name": "Sprocket", "new_count": -7, "new_weight": 12.5, "new_shiny": true,
		"new_made": made.Format(time.RFC3339)})
	if err != nil {
		t.Fatalf("create gadget: %v", err)
	}
	aid, err := c.Create(ctx, "accounts", map[string]any{"name": "Snapshot Ltd", "revenue": 1234.5, "numberofemployees": 42})
	if err != nil {
		t.Fatal(err)
	}
	nAccounts, err := c.Count(ctx, "accounts", "")
	if err != nil {
		t.Fatal(err)
	}
	whoA, err := c.WhoAmI(ctx)
	if err != nil {
		t.Fatal(err)
	}
	caA := a.CAPool
	a.stop(t)

	var buf bytes.Buffer
	n, err := snapshot.Export(ctx, dirA, &buf, snapshot.ExportOptions{})
	if err != nil {
		t.Fatalf("export: %v", err)
	}
	if n.Tenants != 2 || n.Apps != 3 || n.Secrets < 3 || n.SigningKeys < 1 || n.Environments != 1 || n.Rows < 10 || n.Links < 5 || n.Files != 4 {
		t.Errorf("counts %+v", n)
	}
	first, _, _ := bytes.Cut(buf.Bytes(), []byte("\n"))
	var h snapshot.Header
	if err := json.Unmarshal(first, &h); err != nil || h.Format != snapshot.Format || h.Version != snapshot.Version || h.Warning == "" {
		t.Errorf("header %s: %v", first, err)
	}
	if bytes.Contains(buf.Bytes(), []byte(secretText)) {
		t.Error("the snapshot holds a client secret in plain text")
	}

	n2, err := snapshot.Import(ctx, bytes.NewReader(buf.Bytes()), dirB, snapshot.ImportOptions{})
	if err != nil {
		t.Fatalf("import: %v", err)
	}
	if n2 != n {
		t.Errorf("imported %+v, exported %+v", n2, n)
	}
	for _, f := range []string{"master.key", "ca-key.pem", "dvs2s.db"} {
		if st, err := os.Stat(filepath.Join(dirB, f)); err != nil || st.Mode().Perm() != 0o600 {
			t.Errorf("%s: %v %v", f, st.Mode(), err)
		}
	}
	if st, err := os.Stat(dirB); err != nil || st.Mode().Perm() != 0o700 {
		t.Errorf("data directory: %v %v", st.Mode(), err)
	}

	b := startStack(t, dirB)
	if st, body := b.token(t, demo.ContosoTenantID, app.AppID, secretText); st != 200 {
		t.Fatalf("the restored stack refuses the secret: %d %s", st, body)
	}
	if st, _ := b.token(t, demo.ContosoTenantID, app.AppID, secretText+"x"); st != 401 {
		t.Errorf("a wrong secret: %d, want 401", st)
	}
	cb := b.client(t)
	whoB, err := cb.WhoAmI(ctx)
	if err != nil || whoB.UserID != whoA.UserID || whoB.BusinessUnitID != whoA.BusinessUnitID || whoB.OrganizationID != whoA.OrganizationID {
		t.Errorf("WhoAmI after restore %+v (%v), before %+v", whoB, err, whoA)
	}
	acc, err := cb.Retrieve(ctx, "accounts", aid, dataverse.NewQuery().Select("name", "revenue", "numberofemployees"))
	if err != nil || acc["name"] != "Snapshot Ltd" || acc["revenue"] != 1234.5 || acc["numberofemployees"] != float64(42) {
		t.Errorf("account after restore: %v %v", acc, err)
	}
	if got, err := cb.Count(ctx, "accounts", ""); err != nil || got != nAccounts {
		t.Errorf("accounts after restore: %d %v, want %d", got, err, nAccounts)
	}
	g, err := cb.Retrieve(ctx, "new_gadgets", gid, nil)
	if err != nil || g["new_name"] != "Sprocket" || g["new_count"] != float64(-7) || g["new_weight"] != 12.5 || g["new_shiny"] != true ||
		g["new_made"] != made.Format(time.RFC3339) {
		t.Errorf("custom row after restore: %v %v", g, err)
	}
	// The restored table takes new rows (its definition came along).
	if _, err := cb.Create(ctx, "new_gadgets", map[string]any{"new_name": "Widget"}); err != nil {
		t.Errorf("create in the restored custom table: %v", err)
	}
	if !bytes.Equal(caA, b.CAPool) {
		t.Error("the restored stack has another CA")
	}

	t.Run("refusals", func(t *testing.T) {
		snap := buf.Bytes()
		lines := bytes.SplitAfter(snap, []byte("\n"))
		lines = lines[:len(lines)-1] // the empty piece after the last newline
		for _, tc := range []struct {
			what string
			data []byte
			opts snapshot.ImportOptions
			dir  string
			want string
		}{
			{"not empty", snap, snapshot.ImportOptions{}, dirB, "not empty"},
			{"truncated", bytes.Join(lines[:len(lines)-1], nil), snapshot.ImportOptions{}, "", "truncated"},
			{"cut", bytes.Join(lines[:len(lines)/2], nil), snapshot.ImportOptions{}, "", "truncated"},
			{"newer version", bytes.Replace(snap, []byte(`"version":1`), []byte(`"version":2`), 1), snapshot.ImportOptions{}, "", "version 2 is not supported"},
			{"not a snapshot", []byte("hello\n"), snapshot.ImportOptions{}, "", "not a dvs2s snapshot"},
			{"empty", nil, snapshot.ImportOptions{}, "", "not a dvs2s snapshot"},
			{"unknown kind", insert(lines, 2, `{"kind":"future"}`), snapshot.ImportOptions{}, "", `unknown record kind "future"`},
			{"other master key", snap, snapshot.ImportOptions{MasterKey: hex.EncodeToString(make([]byte, 32))}, "", "DVS2S_MASTER_KEY differs"},
			{"bad file path", insert(lines, 2, `{"kind":"file","path":"../evil","data":""}`), snapshot.ImportOptions{}, "", "carries ca.pem"},
		} {
			dir := tc.dir
			if dir == "" {
				dir = filepath.Join(t.TempDir(), "x")
			}
			_, err := snapshot.Import(ctx, bytes.NewReader(tc.data), dir, tc.opts)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("%s: %v, want an error with %q", tc.what, err, tc.want)
			}
			if tc.dir == "" {
				if _, err := os.Stat(dir); !os.IsNotExist(err) {
					t.Errorf("%s: a failed import left %s behind", tc.what, dir)
				}
				if ents, _ := os.ReadDir(filepath.Dir(dir)); len(ents) != 0 {
					t.Errorf("%s: a failed import left %v behind", tc.what, ents)
				}
			}
		}
	})

	t.Run("PostgreSQL", func(t *testing.T) {
		// SQLite → snapshot → PostgreSQL → snapshot: the same records.
		url := pgtest.NewSchema(t)
		dir := filepath.Join(t.TempDir(), "pg")
		if _, err := snapshot.Import(ctx, bytes.NewReader(buf.Bytes()), dir, snapshot.ImportOptions{Database: url}); err != nil {
			t.Fatalf("import into PostgreSQL: %v", err)
		}
		if _, err := snapshot.Import(ctx, bytes.NewReader(buf.Bytes()), filepath.Join(t.TempDir(), "pg2"), snapshot.ImportOptions{Database: url}); err == nil ||
			!strings.Contains(err.Error(), "not empty") {
			t.Errorf("a second import into the same database: %v", err)
		}
		p := startStack(t, dir, url)
		if st, body := p.token(t, demo.ContosoTenantID, app.AppID, secretText); st != 200 {
			t.Fatalf("the PostgreSQL stack refuses the secret: %d %s", st, body)
		}
		cp := p.client(t)
		g, err := cp.Retrieve(ctx, "new_gadgets", gid, nil)
		if err != nil || g["new_name"] != "Sprocket" || g["new_weight"] != 12.5 || g["new_made"] != made.Format(time.RFC3339) {
			t.Errorf("custom row in PostgreSQL: %v %v", g, err)
		}
		if who, err := cp.WhoAmI(ctx); err != nil || who.UserID != whoA.UserID {
			t.Errorf("WhoAmI in PostgreSQL: %+v %v", who, err)
		}
		p.stop(t)
		var again bytes.Buffer
		n3, err := snapshot.Export(ctx, dir, &again, snapshot.ExportOptions{Database: url})
		if err != nil {
			t.Fatalf("export from PostgreSQL: %v", err)
		}
		// The restored stack may have added rows (audit); identity is as
		// it was.
		if n3.Tenants != n.Tenants || n3.Apps != n.Apps || n3.Secrets != n.Secrets || n3.Environments != n.Environments || n3.Rows < n.Rows || n3.Links != n.Links {
			t.Errorf("exported from PostgreSQL %+v, from SQLite %+v", n3, n)
		}
	})
	t.Run("gzip and the master key from the environment", func(t *testing.T) {
		var gz bytes.Buffer
		master, _ := os.ReadFile(filepath.Join(dirA, "master.key"))
		if _, err := snapshot.Export(ctx, dirA, &gz, snapshot.ExportOptions{Gzip: true, MasterKey: string(master)}); err != nil {
			t.Fatal(err)
		}
		if gz.Len() >= buf.Len()/2 {
			t.Errorf("gzip: %d bytes, plain %d", gz.Len(), buf.Len())
		}
		dir := filepath.Join(t.TempDir(), "c")
		if _, err := snapshot.Import(ctx, &gz, dir, snapshot.ImportOptions{MasterKey: strings.TrimSpace(string(master))}); err != nil {
			t.Fatal(err)
		}
		if _, err := os.Stat(filepath.Join(dir, "master.key")); !os.IsNotExist(err) {
			t.Errorf("master.key written although the servers take DVS2S_MASTER_KEY: %v", err)
		}
		if _, err := snapshot.Export(ctx, dirA, new(bytes.Buffer), snapshot.ExportOptions{MasterKey: hex.EncodeToString(make([]byte, 32))}); err == nil ||
			!strings.Contains(err.Error(), "does not unseal") {
			t.Errorf("export with the wrong master key: %v", err)
		}
	})
}

// insert returns the snapshot lines with line inserted before lines[i]
// (and the end line's count left as it was).
func insert(lines [][]byte, i int, line string) []byte {
	var b []byte
	b = append(b, bytes.Join(lines[:i], nil)...)
	b = append(b, line+"\n"...)
	return append(b, bytes.Join(lines[i:], nil)...)
}
