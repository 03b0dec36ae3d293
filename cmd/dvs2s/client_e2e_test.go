package main

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
)

// clientStack starts the whole stack in a temporary data directory; the
// client commands find it through <data>/stack.json.
func clientStack(t *testing.T) (*stack.Stack, string) {
	t.Helper()
	dir := t.TempDir()
	s, err := stack.Start(context.Background(), stack.Config{DataDir: dir, Port: 0, Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatalf("start stack: %v", err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		s.Close(ctx)
	})
	return s, dir
}

func TestClientCommands(t *testing.T) {
	s, dir := clientStack(t)
	envURL := s.Info.Environments[0].URL
	var portal stack.AppInfo
	for _, a := range s.Info.Apps {
		if a.ClientID == demo.PortalAppID {
			portal = a
		}
	}

	var w struct {
		UserID, BusinessUnitID, OrganizationID, EnvironmentURL, TenantID, ClientID, AuthorityHost string
		DOPHint                                                                                   int
	}
	decode := func(out string, v any) {
		t.Helper()
		if err := json.Unmarshal([]byte(out), v); err != nil {
			t.Fatalf("%v in %q", err, out)
		}
	}
	whoami := func(args ...string) string {
		t.Helper()
		r := clientCLI(t, dir, append([]string{"whoami", "--json"}, args...)...)
		if r.code != 0 {
			t.Fatalf("whoami %v: exit %d\n%s", args, r.code, r.stderr)
		}
		var m map[string]any
		decode(r.stdout, &m)
		return fmt.Sprint(m["user_id"])
	}
	_ = w

	t.Run("whoami with the stack's defaults", func(t *testing.T) {
		out := mustCLI(t, dir, "whoami")
		for _, want := range []string{"UserId", demo.PortalAppUserID, envURL, demo.ContosoTenantID} {
			if !strings.Contains(out, want) {
				t.Errorf("whoami output lacks %q:\n%s", want, out)
			}
		}
	})

	t.Run("authentication variants", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			env  map[string]string
			want string
		}{
			{"certificate from stack.json", []string{"--client-id", demo.PortalAppID, "--client-secret", "", "--cert", portal.CertificateFile, "--key", portal.PrivateKeyFile}, nil, demo.PortalAppUserID},
			{"secret flags, tenant discovered from the challenge, CA file", []string{"--data", t.TempDir(), "--env-url", envURL, "--client-id", demo.InventoryAppID,
				"--client-secret", demo.InventorySecret, "--ca-file", filepath.Join(dir, "ca.pem"), "--authority-host", s.Info.AuthorityHost}, nil, demo.InventoryAppUserID},
			{"environment variables", []string{"--data", t.TempDir()}, map[string]string{"DVS2S_ENV_URL": envURL, "DVS2S_CLIENT_ID": demo.PortalAppID,
				"DVS2S_CLIENT_SECRET": demo.PortalSecret, "DVS2S_TENANT": demo.ContosoTenantID, "DVS2S_CA_FILE": filepath.Join(dir, "ca.pem"),
				"DVS2S_AUTHORITY_HOST": s.Info.AuthorityHost}, demo.PortalAppUserID},
			{"environment by name", []string{"--env", demo.EnvironmentName}, nil, demo.PortalAppUserID},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				for k, v := range tt.env {
					t.Setenv(k, v)
				}
				if got := whoami(tt.args...); got != tt.want {
					t.Fatalf("user %s, want %s", got, tt.want)
				}
			})
		}
		// Impersonation: alice's systemuser.
		if got := whoami("--as-user", demo.AliceID); got == demo.PortalAppUserID || got == "" {
			t.Fatalf("--as-user: WhoAmI %s", got)
		}
	})

	t.Run("errors", func(t *testing.T) {
		tests := []struct {
			name string
			args []string
			code int
			want []string
		}{
			{"wrong secret: Entra's error and a hint", []string{"whoami", "--client-id", demo.PortalAppID, "--client-secret", "nope"}, 1,
				[]string{"AADSTS7000215", "hint:"}},
			{"no environment", []string{"whoami", "--data", t.TempDir()}, 2, []string{"--env-url is required"}},
			{"unknown environment name", []string{"whoami", "--env", "nowhere"}, 2, []string{`no environment "nowhere"`}},
			{"not found", []string{"get", "accounts", "00000000-0000-4000-8000-000000000001"}, 1, []string{"404", "0x80040217", "Does Not Exist"}},
			{"bad body", []string{"create", "accounts", "--body", "[1]"}, 2, []string{"not a JSON object"}},
			{"missing arguments", []string{"get", "accounts"}, 2, []string{"missing arguments"}},
			{"no privilege to impersonate", []string{"whoami", "--client-id", demo.InventoryAppID, "--as-user", demo.AliceID}, 1,
				[]string{"0x8004a110", "prvActOnBehalfOfAnotherUser"}},
		}
		for _, tt := range tests {
			t.Run(tt.name, func(t *testing.T) {
				r := clientCLI(t, dir, tt.args...)
				if r.code != tt.code {
					t.Fatalf("exit %d, want %d\n%s%s", r.code, tt.code, r.stdout, r.stderr)
				}
				for _, w := range tt.want {
					if !strings.Contains(r.stderr, w) {
						t.Errorf("stderr lacks %q:\n%s", w, r.stderr)
					}
				}
			})
		}
	})

	t.Run("create, get, update, query, delete", func(t *testing.T) {
		id := strings.TrimSpace(mustCLI(t, dir, "create", "accounts", "--body", `{"name":"CLI Account","numberofemployees":12}`))
		if len(id) != 36 {
			t.Fatalf("create printed %q", id)
		}
		var row map[string]any
		decode(mustCLI(t, dir, "get", "accounts", id, "--select", "name,numberofemployees"), &row)
		if row["name"] != "CLI Account" || row["numberofemployees"] != 12.0 {
			t.Fatalf("get: %v", row)
		}
		clientStdin = strings.NewReader(`{"numberofemployees": 13}`)
		defer func() { clientStdin = os.Stdin }()
		mustCLI(t, dir, "update", "accounts", id, "--if-match", row["@odata.etag"].(string))
		if r := cli(t, dir, "update", "accounts", id, "--body", `{"name":"x"}`, "--if-match", row["@odata.etag"].(string)); r.code != 1 || !strings.Contains(r.stderr, "412") {
			t.Fatalf("update with a stale ETag: %+v", r)
		}
		out := mustCLI(t, dir, "query", "accounts", "--select", "name,numberofemployees", "--filter", "name eq 'CLI Account'", "--format", "csv")
		if out != "name,numberofemployees\nCLI Account,13\n" {
			t.Fatalf("query csv: %q", out)
		}
		out = mustCLI(t, dir, "query", "accounts?$select=name&$orderby=name&$top=2")
		if n := strings.Count(out, "\n"); n != 2 {
			t.Fatalf("raw query: %q", out)
		}
		// Pages of one row, followed: as many rows as without paging.
		all := mustCLI(t, dir, "query", "accounts", "--select", "name", "--orderby", "name")
		if paged := mustCLI(t, dir, "query", "accounts", "--select", "name", "--orderby", "name", "--page-size", "1"); paged != all || strings.Count(all, "\n") < 5 {
			t.Fatalf("paged query:\n%s\nwant\n%s", paged, all)
		}
		out = mustCLI(t, dir, "query", "accounts", "--select", "name", "--format", "json", "--max", "3")
		var arr []map[string]any
		decode(out, &arr)
		if len(arr) != 3 {
			t.Fatalf("json: %s", out)
		}
		mustCLI(t, dir, "delete", "accounts", id)
		if r := cli(t, dir, "get", "accounts", id); r.code != 1 {
			t.Fatalf("get after delete: %+v", r)
		}
		// Upsert by id creates.
		newID := "00000000-0000-4000-8000-0000000c1100"
		mustCLI(t, dir, "update", "accounts", newID, "--upsert", "--body", `{"name":"CLI Upsert"}`)
		decode(mustCLI(t, dir, "get", "accounts", newID, "--select", "name"), &row)
		if row["name"] != "CLI Upsert" {
			t.Fatalf("after upsert: %v", row)
		}
	})

	t.Run("import", func(t *testing.T) {
		tmp := t.TempDir()
		csvFile := filepath.Join(tmp, "accounts.csv")
		var b strings.Builder
		b.WriteString("name,numberofemployees,revenue,creditonhold,address1_city\n")
		const n = 250
		for i := range n {
			switch i {
			case 17:
				b.WriteString("Bad Number,many,1,false,X\n")
			case 99:
				b.WriteString("Bad Bool,1,1,perhaps,X\n")
			default:
				fmt.Fprintf(&b, "Imported %03d,%d,%d.25,%v,\"City, %d\"\n", i, i, i, i%2 == 0, i)
			}
		}
		if err := os.WriteFile(csvFile, []byte(b.String()), 0o600); err != nil {
			t.Fatal(err)
		}
		r := cli(t, dir, "import", "accounts", csvFile, "--batch-size", "20", "--json")
		if r.code != 1 || !strings.Contains(r.stderr, "2 of 250 rows rejected") {
			t.Fatalf("import: exit %d\n%s\n%s", r.code, r.stdout, r.stderr)
		}
		var sum importSummary
		decode(r.stdout, &sum)
		if sum.Rows != n || sum.Imported != n-2 || sum.Rejected != 2 || sum.Requests != 13 || sum.Parallel < 1 {
			t.Fatalf("summary %+v", sum)
		}
		rej := readLines(t, filepath.Join(tmp, "accounts.rejected.jsonl"))
		if len(rej) != 2 || !strings.Contains(rej[0]+rej[1], `"line":19`) || !strings.Contains(rej[0]+rej[1], "perhaps") {
			t.Fatalf("rejected file: %v", rej)
		}
		out := mustCLI(t, dir, "query", "accounts", "--select", "name,numberofemployees,revenue,creditonhold,address1_city",
			"--filter", "name eq 'Imported 042'", "--format", "csv")
		if out != "name,numberofemployees,revenue,creditonhold,address1_city\nImported 042,42,42.25,true,\"City, 42\"\n" {
			t.Fatalf("imported row: %q", out)
		}

		// JSON lines, one request per row, server-side rejections, and
		// upsert by alternate-key-less primary id.
		jl := filepath.Join(tmp, "rows.jsonl")
		os.WriteFile(jl, []byte(`{"name":"JL 1"}`+"\n"+`{"Name":"JL 2"}`+"\n\n"+`{"accountid":"00000000-0000-4000-8000-0000000a1001","name":"JL 3"}`+"\n"), 0o600)
		r = cli(t, dir, "import", "accounts", jl, "--batch-size", "1", "--rejected", filepath.Join(tmp, "rej.jsonl"))
		if r.code != 1 || !strings.Contains(r.stdout, "imported 2 of 3 rows") || !strings.Contains(r.stdout, "one request per row") {
			t.Fatalf("jsonl import: %+v", r)
		}
		rej = readLines(t, filepath.Join(tmp, "rej.jsonl"))
		if len(rej) != 1 || !strings.Contains(rej[0], `"status":400`) || !strings.Contains(rej[0], "Name") {
			t.Fatalf("rejected: %v", rej)
		}
		// A batch (one change set) with a row the server refuses: the
		// change set rolls back, the rows go again one by one, the good
		// ones are imported once and only the bad one is rejected.
		var lines []string
		for i := range 7 {
			if i == 3 {
				lines = append(lines, `{"name":"CS bad","numberofemployees":"not a number"}`)
				continue
			}
			lines = append(lines, fmt.Sprintf(`{"name":"CS %d"}`, i))
		}
		os.WriteFile(jl, []byte(strings.Join(lines, "\n")), 0o600)
		r = cli(t, dir, "import", "accounts", jl, "--batch-size", "5", "--rejected", filepath.Join(tmp, "rej2.jsonl"))
		if r.code != 1 || !strings.Contains(r.stdout, "imported 6 of 7 rows") {
			t.Fatalf("import with a bad row in a change set: %+v", r)
		}
		if rej = readLines(t, filepath.Join(tmp, "rej2.jsonl")); len(rej) != 1 || !strings.Contains(rej[0], `"line":4`) {
			t.Fatalf("rejected: %v", rej)
		}
		out = mustCLI(t, dir, "query", "accounts", "--select", "name", "--filter", "startswith(name,'CS ')", "--orderby", "name", "--format", "csv")
		if out != "name\nCS 0\nCS 1\nCS 2\nCS 4\nCS 5\nCS 6\n" {
			t.Fatalf("rows after the fallback: %q", out)
		}

		os.WriteFile(jl, []byte(`{"accountid":"00000000-0000-4000-8000-0000000a1001","name":"JL 3 again"}`+"\n"), 0o600)
		mustCLI(t, dir, "import", "accounts", jl, "--upsert-key", "accountid", "--batch-size", "5")
		var row map[string]any
		decode(mustCLI(t, dir, "get", "accounts", "00000000-0000-4000-8000-0000000a1001", "--select", "name"), &row)
		if row["name"] != "JL 3 again" {
			t.Fatalf("upserted row %v", row)
		}
	})
}

func readLines(t *testing.T, path string) []string {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		out = append(out, sc.Text())
	}
	return out
}

// clientCLI runs a command with --data dir unless args give their own.
func clientCLI(t *testing.T, dir string, args ...string) cliResult {
	t.Helper()
	for _, a := range args {
		if a == "--data" {
			var out, errb strings.Builder
			code := run(context.Background(), args, &out, &errb)
			return cliResult{code, out.String(), errb.String()}
		}
	}
	return cli(t, dir, args...)
}
