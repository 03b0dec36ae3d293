package main

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store"
)

// openEnv opens an environment of a data directory in process, as the
// server would (for checks the CLI output does not show).
func openEnv(t *testing.T, dir, name string) *environment.Env {
	t.Helper()
	db, keys := openData(t, dir)
	m := &environment.Manager{Root: filepath.Join(dir, "env"), Store: db, Directory: &directory.Directory{Store: db, Keys: keys}}
	t.Cleanup(func() { m.Close() })
	env, err := m.Open(context.Background(), name)
	if err != nil {
		t.Fatal(err)
	}
	return env
}

func privilegeMap(ps []privilegeJSON) map[string]string {
	m := map[string]string{}
	for _, p := range ps {
		m[p.Name] = p.Depth
	}
	return m
}

func TestAdminRolePrivileges(t *testing.T) {
	f := newEnvFixture(t)
	var role roleJSON
	cliJSON(t, f.dir, &role, "role", "create", "--env", "sales", "--name", "Sales Rep")

	var g roleGrantJSON
	cliJSON(t, f.dir, &g, "role", "grant", "--env", "sales", "--role", "sales rep", "--privilege", "prvReadAccount", "--depth", "Global")
	if g.RoleID != role.RoleID || g.RoleName != "Sales Rep" || len(g.Privileges) != 1 || len(g.Adjusted) != 0 {
		t.Fatalf("grant --privilege: %+v", g)
	}
	if p := g.Privileges[0]; p.Name != "prvReadAccount" || p.Table != "account" || p.Action != "Read" || p.Depth != "Global" || p.PrivilegeID != security.PrivilegeID("prvReadAccount") {
		t.Errorf("granted %+v", p)
	}
	// The convenience form; Read goes from Global to Local.
	cliJSON(t, f.dir, &g, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--table", "account", "--actions", "read, Write,append-to", "--depth", "Business Unit")
	if m := privilegeMap(g.Privileges); len(m) != 3 || m["prvReadAccount"] != "Local" || m["prvWriteAccount"] != "Local" || m["prvAppendToAccount"] != "Local" {
		t.Errorf("grant --table --actions: %+v", g.Privileges)
	}
	cliJSON(t, f.dir, &g, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--table", "contacts", "--depth", "basic")
	if len(g.Privileges) != 8 || g.Privileges[0].Depth != "Basic" || g.Privileges[0].Table != "contact" {
		t.Errorf("grant --table (all actions): %+v", g.Privileges)
	}
	// Depths a privilege cannot have round up: organization-owned tables
	// and miscellaneous privileges are Global only.
	cliJSON(t, f.dir, &g, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--privilege", "prvReadOrganization,prvActOnBehalfOfAnotherUser", "--depth", "Basic")
	if m := privilegeMap(g.Privileges); m["prvReadOrganization"] != "Global" || m[security.PrvActOnBehalf] != "Global" || len(g.Adjusted) != 2 {
		t.Errorf("adjusted depths: %+v", g)
	}
	out := mustCLI(t, f.dir, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--privilege", "prvReadAuditSummary", "--depth", "Local")
	for _, w := range []string{"Granted on role \"Sales Rep\"", "prvReadAuditSummary  audit  Read    Global", "Global only", "within 2 seconds"} {
		if !strings.Contains(out, w) {
			t.Errorf("grant output does not say %q:\n%s", w, out)
		}
	}

	// show: the grid and the list.
	var show roleShowJSON
	cliJSON(t, f.dir, &show, "role", "show", "--env", "sales", "--role", "Sales Rep")
	m := privilegeMap(show.Privileges)
	if show.SystemAdministrator || len(m) != 14 || m["prvReadAccount"] != "Local" || m["prvDeleteContact"] != "Basic" || m["prvReadAuditSummary"] != "Global" {
		t.Errorf("role show: %+v", show)
	}
	out = mustCLI(t, f.dir, "role", "show", "--env", "sales", "--role", "Sales Rep")
	for _, w := range []string{"TABLE", "APPENDTO", "account", "contact", "organization", "Miscellaneous privileges", "prvActOnBehalfOfAnotherUser", "Depths: Basic"} {
		if !strings.Contains(out, w) {
			t.Errorf("role show does not show %q:\n%s", w, out)
		}
	}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "account ") && strings.Join(strings.Fields(line), " ") != "account - Local Local - - Local - -" {
			t.Errorf("account row %q", line)
		}
		if strings.HasPrefix(line, "contact ") && strings.Count(line, "Basic") != 8 {
			t.Errorf("contact row %q", line)
		}
	}
	var sa roleShowJSON
	cliJSON(t, f.dir, &sa, "role", "show", "--env", "sales", "--role", "System Administrator")
	if !sa.SystemAdministrator || len(sa.Privileges) < 80 || sa.Privileges[0].Depth != "Global" {
		t.Errorf("System Administrator: %v privileges, %+v", len(sa.Privileges), sa.Privileges[:1])
	}
	var empty roleShowJSON
	cliJSON(t, f.dir, &empty, "role", "show", "--env", "sales", "--role", "Delegate")
	if len(empty.Privileges) != 1 || empty.Privileges[0].Name != security.PrvActOnBehalf {
		t.Errorf("Delegate: %+v", empty)
	}

	// The model sees the privileges the CLI granted.
	env := openEnv(t, f.dir, "sales")
	held, err := security.RolePrivileges(context.Background(), env.Data, env.Schema(), store.Ref{ID: role.RoleID})
	if err != nil || len(held) != 14 {
		t.Fatalf("role privileges in the environment: %d %v", len(held), err)
	}

	// revoke
	var r roleGrantJSON
	cliJSON(t, f.dir, &r, "role", "revoke", "--env", "sales", "--role", "Sales Rep", "--table", "account", "--actions", "write,delete")
	if len(r.Privileges) != 1 || r.Privileges[0].Name != "prvWriteAccount" || len(r.NotHeld) != 1 || r.NotHeld[0] != "prvDeleteAccount" {
		t.Errorf("revoke: %+v", r)
	}
	wantFail(t, f.dir, 1, []string{`role "Sales Rep" does not hold prvWriteAccount`}, "role", "revoke", "--env", "sales", "--role", "Sales Rep", "--privilege", "prvWriteAccount")
	cliJSON(t, f.dir, &show, "role", "show", "--env", "sales", "--role", "Sales Rep")
	if m := privilegeMap(show.Privileges); len(m) != 13 || m["prvWriteAccount"] != "" {
		t.Errorf("after revoke: %v", m)
	}

	// Every change is audited on the role.
	var audits []auditJSON
	cliJSON(t, f.dir, &audits, "audit", "list", "--env", "sales", "--table", "role", "--action", "update")
	if len(audits) != 6 {
		t.Errorf("%d role changes audited, want 6: %+v", len(audits), audits)
	}
	for _, a := range audits {
		if a.ObjectID != role.RoleID || a.UserID != env.System || a.Outcome != "succeeded" || a.ActionName != "Update" {
			t.Errorf("audit entry %+v", a)
		}
	}
	if !strings.Contains(string(audits[0].ChangeData), "prvWriteAccount") || !strings.Contains(string(audits[0].ChangeData), "removed") {
		t.Errorf("newest entry (the revoke): %s", audits[0].ChangeData)
	}

	wantFail(t, f.dir, 2, []string{"--depth is required"}, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--privilege", "prvReadAccount")
	wantFail(t, f.dir, 2, []string{"--depth \"Everything\""}, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--privilege", "prvReadAccount", "--depth", "Everything")
	wantFail(t, f.dir, 2, []string{"either --privilege or --table"}, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--privilege", "prvReadAccount", "--table", "account", "--depth", "Global")
	wantFail(t, f.dir, 2, []string{"--actions needs --table"}, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--actions", "read", "--depth", "Global")
	wantFail(t, f.dir, 2, []string{"give --privilege"}, "role", "revoke", "--env", "sales", "--role", "Sales Rep")
	wantFail(t, f.dir, 2, []string{`--actions: "fly"`}, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--table", "account", "--actions", "read,fly", "--depth", "Global")
	wantFail(t, f.dir, 2, []string{`--table "invoice" is not a table`, "account"}, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--table", "invoice", "--depth", "Global")
	wantFail(t, f.dir, 1, []string{`no privilege "prvFlyAccount"`}, "role", "grant", "--env", "sales", "--role", "Sales Rep", "--privilege", "prvFlyAccount", "--depth", "Global")
	wantFail(t, f.dir, 1, []string{"System Administrator role", "cannot be changed"}, "role", "grant", "--env", "sales", "--role", "System Administrator", "--privilege", "prvReadAccount", "--depth", "Global")
	wantFail(t, f.dir, 1, []string{`unknown role "Nope"`}, "role", "show", "--env", "sales", "--role", "Nope")
	wantFail(t, f.dir, 2, []string{"--role is required"}, "role", "show", "--env", "sales")
}

func TestAdminBusinessUnitsAndTeams(t *testing.T) {
	f := newEnvFixture(t)
	var west, coast buJSON
	cliJSON(t, f.dir, &west, "bu", "create", "--env", "sales", "--name", "West")
	if west.Level != 1 || west.ParentName != "sales" || west.BusinessUnitID == "" || west.Users != 0 {
		t.Errorf("bu create: %+v", west)
	}
	cliJSON(t, f.dir, &coast, "bu", "create", "--env", "sales", "--name", "West Coast", "--parent", "west")
	if coast.Level != 2 || coast.ParentBusinessUnitID != west.BusinessUnitID || coast.ParentName != "West" {
		t.Errorf("bu create --parent: %+v", coast)
	}
	var east buJSON
	cliJSON(t, f.dir, &east, "bu", "create", "--env", "sales", "--name", "East", "--parent", west.ParentBusinessUnitID)
	out := mustCLI(t, f.dir, "bu", "create", "--env", "sales", "--name", "North")
	if !strings.Contains(out, `Created business unit "North"`) || !strings.Contains(out, "dvs2s user move") {
		t.Errorf("bu create output:\n%s", out)
	}
	var list []buJSON
	cliJSON(t, f.dir, &list, "bu", "list", "--env", "sales")
	var names []string
	for _, b := range list {
		names = append(names, strings.Repeat(">", b.Level)+b.Name)
	}
	if strings.Join(names, ",") != "sales,>East,>North,>West,>>West Coast" {
		t.Errorf("bu list: %v", names)
	}
	if list[0].Users != 1 || list[0].Teams != 1 { // SYSTEM, the default team
		t.Errorf("root: %+v", list[0])
	}
	if out := mustCLI(t, f.dir, "bu", "list", "--env", "sales"); !strings.Contains(out, "\n    West Coast ") || !strings.Contains(out, "BUSINESSUNITID") {
		t.Errorf("bu list table:\n%s", out)
	}
	wantFail(t, f.dir, 1, []string{`already has a business unit named "West"`}, "bu", "create", "--env", "sales", "--name", "west")
	wantFail(t, f.dir, 1, []string{`unknown business unit "South"`}, "bu", "create", "--env", "sales", "--name", "X", "--parent", "South")
	wantFail(t, f.dir, 2, []string{"--name"}, "bu", "create", "--env", "sales", "--name", " ")
	wantFail(t, f.dir, 2, []string{"--name is required"}, "bu", "create", "--env", "sales")

	// Teams.
	var team teamJSON
	cliJSON(t, f.dir, &team, "team", "create", "--env", "sales", "--name", "West Sales", "--bu", "West")
	if team.TeamType != "Owner" || team.BusinessUnitID != west.BusinessUnitID || team.BusinessUnitName != "West" || len(team.Members) != 0 || len(team.Roles) != 0 {
		t.Errorf("team create: %+v", team)
	}
	wantFail(t, f.dir, 1, []string{`already has a team named "West Sales"`}, "team", "create", "--env", "sales", "--name", "west sales")
	wantFail(t, f.dir, 1, []string{`unknown business unit "South"`}, "team", "create", "--env", "sales", "--name", "S", "--bu", "South")

	mustCLI(t, f.dir, "user", "create", "--tenant", "contoso", "--upn", "dana@contoso.onmicrosoft.com", "--name", "Dana Scully")
	var ch teamChangeJSON
	cliJSON(t, f.dir, &ch, "team", "add-member", "--env", "sales", "--team", "West Sales", "--user", "dana@contoso.onmicrosoft.com")
	if !ch.Changed || len(ch.Team.Members) != 1 || ch.Team.Members[0].FullName != "Dana Scully" {
		t.Errorf("add-member: %+v", ch)
	}
	dana := ch.Team.Members[0].SystemUserID
	cliJSON(t, f.dir, &ch, "team", "add-member", "--env", "sales", "--team", team.TeamID, "--user", dana)
	if ch.Changed {
		t.Errorf("second add-member: %+v", ch)
	}
	mustCLI(t, f.dir, "appuser", "create", "--env", "sales", "--app", f.inventoryID)
	cliJSON(t, f.dir, &ch, "team", "add-member", "--env", "sales", "--team", "West Sales", "--app", f.inventoryID)
	if !ch.Changed || len(ch.Team.Members) != 2 {
		t.Errorf("add-member --app: %+v", ch)
	}
	cliJSON(t, f.dir, &ch, "team", "assign-role", "--env", "sales", "--team", "West Sales", "--role", "basic user")
	if !ch.Changed || len(ch.Team.Roles) != 1 || ch.Team.Roles[0].Name != "Basic User" {
		t.Errorf("assign-role: %+v", ch)
	}
	if out := mustCLI(t, f.dir, "team", "assign-role", "--env", "sales", "--team", "West Sales", "--role", "Basic User"); !strings.Contains(out, "already has role") {
		t.Errorf("second assign-role: %s", out)
	}
	var teams []teamJSON
	cliJSON(t, f.dir, &teams, "team", "list", "--env", "sales")
	if len(teams) != 2 || teams[0].Name != "sales" || !teams[0].IsDefault || teams[1].Name != "West Sales" || len(teams[1].Members) != 2 {
		t.Errorf("team list: %+v", teams)
	}
	if out := mustCLI(t, f.dir, "team", "list", "--env", "sales"); !strings.Contains(out, "Dana Scully, Inventory Sync") || !strings.Contains(out, "Basic User") {
		t.Errorf("team list table:\n%s", out)
	}
	wantFail(t, f.dir, 2, []string{"either --user or --app"}, "team", "add-member", "--env", "sales", "--team", "West Sales")
	wantFail(t, f.dir, 1, []string{`unknown team "Nope"`}, "team", "add-member", "--env", "sales", "--team", "Nope", "--user", dana)
	wantFail(t, f.dir, 1, []string{`unknown role "Nope"`}, "team", "assign-role", "--env", "sales", "--team", "West Sales", "--role", "Nope")
	wantFail(t, f.dir, 2, []string{"--role is required"}, "team", "assign-role", "--env", "sales", "--team", "West Sales")

	// Moving a user takes the rows it owns along.
	env := openEnv(t, f.dir, "sales")
	ctx := context.Background()
	accounts := env.Schema().Table(schema.TableAccount)
	acc := store.Row{"name": "Dana's account", "ownerid": store.Ref{ID: dana, Table: schema.TableSystemUser}}
	if _, err := env.Insert(ctx, env.Data, accounts, acc, environment.Caller{UserID: dana, BU: env.RootBU}); err != nil {
		t.Fatal(err)
	}
	var mv userMoveJSON
	cliJSON(t, f.dir, &mv, "user", "move", "--env", "sales", "--user", "dana@contoso.onmicrosoft.com", "--bu", "West Coast")
	if !mv.Moved || mv.SystemUserID != dana || mv.BusinessUnitID != coast.BusinessUnitID || mv.FromBusinessUnitID != env.RootBU || mv.RowsMoved != 1 {
		t.Errorf("user move: %+v", mv)
	}
	cliJSON(t, f.dir, &mv, "user", "move", "--env", "sales", "--user", dana, "--bu", coast.BusinessUnitID)
	if mv.Moved {
		t.Errorf("second move: %+v", mv)
	}
	got, err := env.Data.Get(ctx, accounts, acc["accountid"].(string), []string{"owningbusinessunit"})
	if err != nil || got["owningbusinessunit"].(store.Ref).ID != coast.BusinessUnitID {
		t.Errorf("the account's business unit after the move: %v %v", got, err)
	}
	// The security model sees it all: Dana's business unit and the
	// business units below it, her team and its role.
	p, err := security.Load(ctx, env.Data, env.Schema(), dana)
	if err != nil {
		t.Fatal(err)
	}
	if p.BU != coast.BusinessUnitID || len(p.Teams) != 1 || p.Teams[0] != team.TeamID || len(p.Roles) != 1 || p.Roles[0].ViaTeam != "West Sales" {
		t.Errorf("Dana's rights: %+v", p)
	}
	if p.Depth("prvReadAccount") != security.Basic {
		t.Errorf("Dana reads accounts at %v through her team's role", p.Depth("prvReadAccount"))
	}
	cliJSON(t, f.dir, &mv, "user", "move", "--env", "sales", "--app", f.inventoryID, "--bu", "East")
	if !mv.Moved || mv.BusinessUnitID != east.BusinessUnitID || mv.FullName != "Inventory Sync" {
		t.Errorf("user move --app: %+v", mv)
	}
	wantFail(t, f.dir, 1, []string{`unknown business unit "South"`}, "user", "move", "--env", "sales", "--user", dana, "--bu", "South")
	wantFail(t, f.dir, 2, []string{"--bu is required"}, "user", "move", "--env", "sales", "--user", dana)

	// The audit trail of all this.
	var audits []auditJSON
	cliJSON(t, f.dir, &audits, "audit", "list", "--env", "sales", "--user", "dana@contoso.onmicrosoft.com")
	if len(audits) != 0 { // SYSTEM made the changes, about Dana
		t.Errorf("entries by Dana: %+v", audits)
	}
	cliJSON(t, f.dir, &audits, "audit", "list", "--env", "sales", "--since", "1h")
	actions := map[string]int{}
	for _, a := range audits {
		actions[a.ObjectTypeCode+" "+a.ActionName]++
	}
	for k, n := range map[string]int{"businessunit Create": 4, "team Create": 1, "systemuser Associate Entities": 2, "team User Role Change": 1, "systemuser Update": 2} {
		if actions[k] != n {
			t.Errorf("%d audit entries %q, want %d (all: %v)", actions[k], k, n, actions)
		}
	}
	cliJSON(t, f.dir, &audits, "audit", "list", "--env", "sales", "--table", "systemuser", "--action", "update", "--limit", "1")
	if len(audits) != 1 || audits[0].ObjectID != mv.SystemUserID || !strings.Contains(string(audits[0].ChangeData), east.BusinessUnitID) {
		t.Errorf("newest user update: %+v", audits)
	}
	if out := mustCLI(t, f.dir, "audit", "list", "--env", "sales", "--table", "team"); !strings.Contains(out, "OUTCOME") || !strings.Contains(out, "User Role Change") {
		t.Errorf("audit list table:\n%s", out)
	}
	if out := mustCLI(t, f.dir, "audit", "list", "--env", "sales", "--action", "denied"); !strings.Contains(out, "No audit entries") {
		t.Errorf("no denied entries: %s", out)
	}
	wantFail(t, f.dir, 2, []string{"--since \"yesterday\""}, "audit", "list", "--env", "sales", "--since", "yesterday")
	wantFail(t, f.dir, 2, []string{"--action \"fly\""}, "audit", "list", "--env", "sales", "--action", "fly")
	wantFail(t, f.dir, 2, []string{"--limit 0"}, "audit", "list", "--env", "sales", "--limit", "0")
	wantFail(t, f.dir, 1, []string{"no user"}, "audit", "list", "--env", "sales", "--user", "nobody@contoso.onmicrosoft.com")
	wantFail(t, f.dir, 2, []string{"neither a user principal name"}, "audit", "list", "--env", "sales", "--user", "nobody")
}

// TestAdminSecurityWithRunningServer changes the demo environment's
// security model with the CLI while the server runs: the Web API follows
// within the principal cache's 2 s, and the CLI reads the audit entries
// the server wrote, denied attempts included.
func TestAdminSecurityWithRunningServer(t *testing.T) {
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
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(s.CAPool)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool}}}
	envURL := ""
	for _, e := range s.Info.Environments {
		if e.Name == demo.EnvironmentName {
			envURL = e.URL
		}
	}
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.InventoryAppID}, "client_secret": {demo.InventorySecret}, "scope": {envURL + "/.default"}}
	res, err := client.PostForm(s.Info.AuthorityHost+"/"+demo.ContosoTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	json.NewDecoder(res.Body).Decode(&tok)
	res.Body.Close()
	// count lists accounts as the inventory app: 200 with the number of
	// rows, or the error code.
	count := func() (int, string) {
		req, _ := http.NewRequest(http.MethodGet, envURL+"/api/data/v9.2/accounts?$select=name", nil)
		req.Header.Set("Authorization", "Bearer "+tok.AccessToken)
		r, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer r.Body.Close()
		var body struct {
			Value []any `json:"value"`
			Error struct {
				Code string `json:"code"`
			} `json:"error"`
		}
		json.NewDecoder(r.Body).Decode(&body)
		return len(body.Value), body.Error.Code
	}
	until := func(what string, ok func(int, string) bool) (int, string) {
		t.Helper()
		deadline := time.Now().Add(5 * time.Second)
		for {
			n, code := count()
			if ok(n, code) {
				return n, code
			}
			if time.Now().After(deadline) {
				t.Fatalf("%s: %d rows, code %q", what, n, code)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
	all, _ := until("Global read", func(n int, code string) bool { return code == "" && n > 0 })
	mustCLI(t, dir, "role", "revoke", "--env", demo.EnvironmentName, "--role", demo.InventoryRole, "--privilege", "prvReadAccount")
	until("no read privilege", func(_ int, code string) bool { return code == "0x80040220" })
	// Basic: the inventory app owns no account.
	mustCLI(t, dir, "role", "grant", "--env", demo.EnvironmentName, "--role", demo.InventoryRole, "--table", "account", "--actions", "read", "--depth", "Basic")
	until("Basic read", func(n int, code string) bool { return code == "" && n == 0 })
	mustCLI(t, dir, "role", "grant", "--env", demo.EnvironmentName, "--role", demo.InventoryRole, "--privilege", "prvReadAccount", "--depth", "Global")
	until("Global read again", func(n int, code string) bool { return code == "" && n == all })

	var denied []auditJSON
	cliJSON(t, dir, &denied, "audit", "list", "--env", demo.EnvironmentName, "--action", "denied", "--user", demo.InventoryAppID)
	if len(denied) == 0 || denied[0].UserID != demo.InventoryAppUserID || denied[0].Outcome != "denied" || !strings.Contains(string(denied[0].ChangeData), "prvReadAccount") {
		t.Errorf("denied attempts: %+v", denied)
	}
}
