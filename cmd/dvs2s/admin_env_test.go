package main

import (
	"bytes"
	"context"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/environment"
)

// envFixture is a fixture with an environment "sales" in contoso.
type envFixture struct {
	*fixture
	sales envJSON
}

func newEnvFixture(t *testing.T) *envFixture {
	t.Helper()
	f := &envFixture{fixture: newFixture(t)}
	cliJSON(t, f.dir, &f.sales, "env", "create", "--tenant", "contoso", "--name", "sales")
	return f
}

// wantFail runs a command that must fail with code, with want in stderr.
func wantFail(t *testing.T, dir string, code int, want []string, args ...string) {
	t.Helper()
	r := cli(t, dir, args...)
	if r.code != code {
		t.Errorf("dvs2s %s: exit %d, want %d\nstdout: %s\nstderr: %s", strings.Join(args, " "), r.code, code, r.stdout, r.stderr)
		return
	}
	for _, w := range want {
		if !strings.Contains(r.stderr, w) {
			t.Errorf("dvs2s %s: stderr does not say %q:\n%s", strings.Join(args, " "), w, r.stderr)
		}
	}
}

func TestAdminEnvHelp(t *testing.T) {
	var out, errb bytes.Buffer
	if code := run(context.Background(), []string{"help"}, &out, &errb); code != 0 {
		t.Fatalf("help: exit %d", code)
	}
	for _, n := range []string{"env", "appuser", "role"} {
		if !strings.Contains(out.String(), "\n  "+n+" ") {
			t.Errorf("help does not list %q:\n%s", n, out.String())
		}
	}
	for _, tt := range []struct {
		args        []string
		code        int
		out, errOut string
	}{
		{[]string{"env"}, 2, "", "Usage: dvs2s env <command>"},
		{[]string{"appuser", "help"}, 0, "disable", ""},
		{[]string{"role", "-h"}, 0, "assign", ""},
		{[]string{"appuser", "create", "-h"}, 2, "", "Usage: dvs2s appuser create --env <name|id> --app <client id>"},
		{[]string{"env", "create", "-h"}, 2, "", "-port"},
	} {
		var out, errb bytes.Buffer
		code := run(context.Background(), tt.args, &out, &errb)
		if code != tt.code || !strings.Contains(out.String(), tt.out) || !strings.Contains(errb.String(), tt.errOut) {
			t.Errorf("%v: exit %d, want %d\nstdout: %s\nstderr: %s", tt.args, code, tt.code, out.String(), errb.String())
		}
	}
}

func TestAdminEnvCreate(t *testing.T) {
	f := newEnvFixture(t)
	s := f.sales
	if s.Name != "sales" || s.TenantID != f.contoso.ID || s.TenantDomain != "contoso.onmicrosoft.com" || s.URL != "https://localhost:8444" || s.CreatedAt.IsZero() {
		t.Errorf("env create --json: %+v", s)
	}

	// The URL follows the environment's position and the server's port.
	var hr, ops, eu, free envJSON
	cliJSON(t, f.dir, &hr, "env", "create", "--tenant", f.contoso.Domain, "--name", "HR", "--port", "9000")
	if hr.Name != "hr" || hr.URL != "https://localhost:9002" {
		t.Errorf("second environment with --port 9000: %+v", hr)
	}
	out := mustCLI(t, f.dir, "env", "create", "--tenant", "contoso", "--name", "text", "--port", "8443")
	for _, w := range []string{"organization id:", "contoso.onmicrosoft.com (" + f.contoso.ID + ")", "https://localhost:8446", "dvs2s serve --port 8443", "environment number 3", "restart"} {
		if !strings.Contains(out, w) {
			t.Errorf("env create output does not say %q:\n%s", w, out)
		}
	}
	t.Setenv("DVS2S_PORT", "10000")
	cliJSON(t, f.dir, &ops, "env", "create", "--tenant", f.fabrikam.ID, "--name", "ops")
	if ops.URL != "https://localhost:10004" || ops.TenantID != f.fabrikam.ID {
		t.Errorf("fourth environment with DVS2S_PORT=10000: %+v", ops)
	}
	cliJSON(t, f.dir, &eu, "env", "create", "--tenant", "contoso", "--name", "eu", "--host", "dv.example.com,localhost")
	if eu.URL != "https://dv.example.com:10005" {
		t.Errorf("--host: %+v", eu)
	}
	out = mustCLI(t, f.dir, "env", "create", "--tenant", "contoso", "--name", "ext", "--url", "https://ext.example.com/")
	for _, w := range []string{"Created environment ext", "https://ext.example.com\n", "replaced at the next start", "restart"} {
		if !strings.Contains(out, w) {
			t.Errorf("env create --url output does not say %q:\n%s", w, out)
		}
	}
	cliJSON(t, f.dir, &free, "env", "create", "--tenant", "contoso", "--name", "free", "--port", "0")
	if free.URL != "" {
		t.Errorf("--port 0: URL %q, want it left to the server", free.URL)
	}

	var list []envJSON
	cliJSON(t, f.dir, &list, "env", "list")
	var names []string
	for _, e := range list {
		names = append(names, e.Name)
		if e.Name == "ext" && e.URL != "https://ext.example.com" {
			t.Errorf("ext URL %q", e.URL)
		}
	}
	if !slices.Equal(names, []string{"sales", "hr", "text", "ops", "eu", "ext", "free"}) {
		t.Errorf("env list order %v", names)
	}
	table := mustCLI(t, f.dir, "env", "list")
	if !strings.Contains(table, "ORGANIZATION ID") || !strings.Contains(table, s.ID) || !strings.Contains(table, "https://localhost:9002") {
		t.Errorf("env list:\n%s", table)
	}

	// The environment URL is a resource of its tenant (Dataverse's app id).
	db, _ := openData(t, f.dir)
	res, err := db.Resource(context.Background(), f.contoso.ID, "https://localhost:8444")
	if err != nil || res.AppID != "00000007-0000-0000-c000-000000000000" {
		t.Errorf("resource of the environment URL: %+v %v", res, err)
	}

	wantFail(t, f.dir, 2, []string{"--tenant is required"}, "env", "create", "--name", "x")
	wantFail(t, f.dir, 2, []string{"--name is required"}, "env", "create", "--tenant", "contoso")
	wantFail(t, f.dir, 2, []string{"environment name", "lower-case"}, "env", "create", "--tenant", "contoso", "--name", "bad_name")
	wantFail(t, f.dir, 2, []string{"--url"}, "env", "create", "--tenant", "contoso", "--name", "x", "--url", "http://x.example.com")
	wantFail(t, f.dir, 2, []string{"--url"}, "env", "create", "--tenant", "contoso", "--name", "x", "--url", "https://x.example.com/path")
	wantFail(t, f.dir, 2, []string{"--port"}, "env", "create", "--tenant", "contoso", "--name", "x", "--port", "70000")
	wantFail(t, f.dir, 1, []string{`unknown tenant "nosuch"`}, "env", "create", "--tenant", "nosuch", "--name", "x")
	wantFail(t, f.dir, 1, []string{`environment named "sales" already exists`}, "env", "create", "--tenant", "contoso", "--name", "Sales")
	wantFail(t, f.dir, 1, []string{"already has the URL"}, "env", "create", "--tenant", "contoso", "--name", "x", "--url", "https://EXT.example.com")
	wantFail(t, f.dir, 1, []string{"beyond 65535"}, "env", "create", "--tenant", "contoso", "--name", "x", "--port", "65530")
	wantFail(t, filepath.Join(t.TempDir(), "none"), 1, []string{"no database"}, "env", "list")
	cliJSON(t, f.dir, &list, "env", "list")
	if len(list) != 7 {
		t.Errorf("%d environments after the refusals, want 7", len(list))
	}
}

func TestAdminAppUser(t *testing.T) {
	f := newEnvFixture(t)
	var role roleJSON
	cliJSON(t, f.dir, &role, "role", "create", "--env", "sales", "--name", "Sales Integration")

	// The multi-tenant portal of fabrikam has no consent in contoso yet.
	wantFail(t, f.dir, 1, []string{"no service principal in tenant contoso.onmicrosoft.com", "admin consent",
		"dvs2s consent grant --tenant contoso.onmicrosoft.com --app " + f.portalID + " --data " + f.dir},
		"appuser", "create", "--env", "sales", "--app", f.portalID, "--role", "Sales Integration")
	mustCLI(t, f.dir, "consent", "grant", "--tenant", "contoso", "--app", f.portalID)

	var u appUserJSON
	cliJSON(t, f.dir, &u, "appuser", "create", "--env", "sales", "--app", strings.ToUpper(f.portalID), "--role", "sales integration", "--role", "Basic User", "--role", "Sales Integration")
	db, _ := openData(t, f.dir)
	sp, err := db.ServicePrincipal(context.Background(), f.contoso.ID, f.portalID)
	if err != nil {
		t.Fatal(err)
	}
	if u.ApplicationID != f.portalID || u.FullName != "Fabrikam Portal" || u.AzureActiveDirectoryObjectID != sp.ObjectID || u.IsDisabled || u.SystemUserID == "" || u.BusinessUnitID == "" {
		t.Errorf("appuser create --json: %+v (service principal %s)", u, sp.ObjectID)
	}
	if len(u.Roles) != 2 || u.Roles[0].Name != "Basic User" || u.Roles[1].Name != "Sales Integration" || u.Roles[1].RoleID != role.RoleID {
		t.Errorf("roles %+v", u.Roles)
	}

	// A single-tenant app of the environment's tenant needs no consent;
	// without a role the output says what to do.
	wantFail(t, f.dir, 1, []string{`unknown role "Nope"`, `"Basic User"`, `"System Administrator"`, `"Sales Integration"`, "dvs2s role create --env sales --name Nope"},
		"appuser", "create", "--env", "sales", "--app", f.inventoryID, "--role", "Nope")
	out := mustCLI(t, f.dir, "appuser", "create", "--env", f.sales.ID, "--app", f.inventoryID)
	for _, w := range []string{"Created the application user of \"Inventory Sync\"", "0x80042f09", "dvs2s role assign --env sales --app " + f.inventoryID} {
		if !strings.Contains(out, w) {
			t.Errorf("appuser create output does not say %q:\n%s", w, out)
		}
	}

	wantFail(t, f.dir, 1, []string{"already has the application user", "dvs2s role assign"}, "appuser", "create", "--env", "sales", "--app", f.portalID)
	wantFail(t, f.dir, 1, []string{`unknown environment "nosuch"`, "dvs2s env list"}, "appuser", "create", "--env", "nosuch", "--app", f.portalID)
	wantFail(t, f.dir, 2, []string{"not a client id"}, "appuser", "create", "--env", "sales", "--app", "portal")
	wantFail(t, f.dir, 2, []string{"--app is required"}, "appuser", "create", "--env", "sales")
	wantFail(t, f.dir, 2, []string{"--env is required"}, "appuser", "list")
	wantFail(t, f.dir, 2, []string{"--business-unit"}, "appuser", "create", "--env", "sales", "--app", f.portalID, "--business-unit", "root")
	wantFail(t, f.dir, 1, []string{`unknown app`}, "appuser", "create", "--env", "sales", "--app", "0f0e0d0c-0b0a-4000-8000-000000000000")

	// A single-tenant app cannot be used in another tenant's environment;
	// an unknown role leaves nothing behind.
	mustCLI(t, f.dir, "env", "create", "--tenant", "fabrikam", "--name", "fab")
	wantFail(t, f.dir, 1, []string{"single-tenant", "contoso.onmicrosoft.com"}, "appuser", "create", "--env", "fab", "--app", f.inventoryID)
	wantFail(t, f.dir, 1, []string{"unknown role"}, "appuser", "create", "--env", "fab", "--app", f.portalID, "--role", "Nope")
	wantFail(t, f.dir, 1, []string{"no business unit"}, "appuser", "create", "--env", "fab", "--app", f.portalID, "--business-unit", "0f0e0d0c-0b0a-4000-8000-000000000000")
	var fab []appUserJSON
	cliJSON(t, f.dir, &fab, "appuser", "list", "--env", "fab")
	if len(fab) != 0 {
		t.Errorf("refused creations left application users: %+v", fab)
	}
	if out := mustCLI(t, f.dir, "appuser", "list", "--env", "fab"); !strings.Contains(out, "No application users") {
		t.Errorf("empty list: %q", out)
	}

	var list []appUserJSON
	cliJSON(t, f.dir, &list, "appuser", "list", "--env", "sales")
	if len(list) != 2 || list[0].FullName != "Fabrikam Portal" || list[1].FullName != "Inventory Sync" || len(list[1].Roles) != 0 || list[0].SystemUserID != u.SystemUserID {
		t.Errorf("appuser list: %+v", list)
	}
	table := mustCLI(t, f.dir, "appuser", "list", "--env", "sales")
	for _, w := range []string{"SYSTEMUSERID", "AZUREACTIVEDIRECTORYOBJECTID", sp.ObjectID, "Basic User, Sales Integration"} {
		if !strings.Contains(table, w) {
			t.Errorf("appuser list does not show %q:\n%s", w, table)
		}
	}

	// Disable and enable.
	var d appUserJSON
	cliJSON(t, f.dir, &d, "appuser", "disable", "--env", "sales", "--app", f.portalID)
	if !d.IsDisabled || d.FullName != "Fabrikam Portal" || len(d.Roles) != 2 {
		t.Errorf("disabled: %+v", d)
	}
	if out := mustCLI(t, f.dir, "appuser", "disable", "--env", "sales", "--app", f.portalID); !strings.Contains(out, "already disabled") {
		t.Errorf("second disable: %q", out)
	}
	cliJSON(t, f.dir, &list, "appuser", "list", "--env", "sales")
	if !list[0].IsDisabled || list[1].IsDisabled {
		t.Errorf("after disable: %+v", list)
	}
	if out := mustCLI(t, f.dir, "appuser", "enable", "--env", "sales", "--app", f.portalID); !strings.Contains(out, "now enabled") {
		t.Errorf("enable: %q", out)
	}
	cliJSON(t, f.dir, &list, "appuser", "list", "--env", "sales")
	if list[0].IsDisabled || list[0].FullName != "Fabrikam Portal" {
		t.Errorf("after enable: %+v", list[0])
	}
	wantFail(t, f.dir, 1, []string{"no application user for app", "dvs2s appuser create"}, "appuser", "disable", "--env", "fab", "--app", f.portalID)
	wantFail(t, f.dir, 2, []string{"--app is required"}, "appuser", "enable", "--env", "sales")
}

func TestAdminRole(t *testing.T) {
	f := newEnvFixture(t)
	var roles []roleJSON
	cliJSON(t, f.dir, &roles, "role", "list", "--env", "sales")
	templates := map[string]string{}
	for _, r := range roles {
		templates[r.Name] = r.RoleTemplateID
		if !r.IsManaged || r.BusinessUnitID == "" {
			t.Errorf("standard role %+v", r)
		}
	}
	for _, sr := range environment.StandardRoles {
		if templates[sr.Name] != sr.Template {
			t.Errorf("role %s: template %q, want %s", sr.Name, templates[sr.Name], sr.Template)
		}
	}
	if len(roles) != 3 {
		t.Errorf("%d roles, want 3", len(roles))
	}

	var created roleJSON
	cliJSON(t, f.dir, &created, "role", "create", "--env", "sales", "--name", " Order Sync ")
	if created.Name != "Order Sync" || created.RoleTemplateID != "" || created.IsManaged || created.RoleID == "" {
		t.Errorf("role create: %+v", created)
	}
	wantFail(t, f.dir, 1, []string{`already has a role named "Order Sync"`}, "role", "create", "--env", "sales", "--name", "order sync")
	wantFail(t, f.dir, 2, []string{"--name"}, "role", "create", "--env", "sales", "--name", "  ")
	wantFail(t, f.dir, 2, []string{"--name"}, "role", "create", "--env", "sales", "--name", strings.Repeat("x", 101))
	table := mustCLI(t, f.dir, "role", "list", "--env", "sales")
	if !strings.Contains(table, "Order Sync") || !strings.Contains(table, "custom") || !strings.Contains(table, "standard") {
		t.Errorf("role list:\n%s", table)
	}

	// To an application user, idempotently.
	var au appUserJSON
	cliJSON(t, f.dir, &au, "appuser", "create", "--env", "sales", "--app", f.inventoryID)
	var a roleAssignJSON
	cliJSON(t, f.dir, &a, "role", "assign", "--env", "sales", "--role", "ORDER SYNC", "--app", f.inventoryID)
	if !a.Assigned || a.RoleID != created.RoleID || a.SystemUserID != au.SystemUserID || a.RoleName != "Order Sync" || a.FullName != "Inventory Sync" {
		t.Errorf("role assign --app: %+v", a)
	}
	cliJSON(t, f.dir, &a, "role", "assign", "--env", "sales", "--role", "Order Sync", "--app", f.inventoryID)
	if a.Assigned {
		t.Errorf("second assignment: %+v", a)
	}
	if out := mustCLI(t, f.dir, "role", "assign", "--env", "sales", "--role", "Order Sync", "--app", f.inventoryID); !strings.Contains(out, "already has role") {
		t.Errorf("second assignment output: %q", out)
	}

	// To a user of the tenant who never called the environment: the user
	// is provisioned from the directory.
	mustCLI(t, f.dir, "user", "create", "--tenant", "contoso", "--upn", "dana@contoso.onmicrosoft.com", "--name", "Dana Scully")
	cliJSON(t, f.dir, &a, "role", "assign", "--env", "sales", "--role", "Basic User", "--user", "Dana@Contoso.onmicrosoft.com")
	if !a.Assigned || a.FullName != "Dana Scully" || a.SystemUserID == "" {
		t.Errorf("role assign --user: %+v", a)
	}
	dana := a.SystemUserID
	cliJSON(t, f.dir, &a, "role", "assign", "--env", "sales", "--role", "Delegate", "--user", strings.ToUpper(dana))
	if !a.Assigned || a.SystemUserID != dana {
		t.Errorf("role assign by systemuserid: %+v", a)
	}
	cliJSON(t, f.dir, &a, "role", "assign", "--env", "sales", "--role", "Basic User", "--user", "dana@contoso.onmicrosoft.com")
	if a.Assigned || a.SystemUserID != dana {
		t.Errorf("second assignment to a user: %+v", a)
	}

	var list []appUserJSON
	cliJSON(t, f.dir, &list, "appuser", "list", "--env", "sales")
	if len(list) != 1 || len(list[0].Roles) != 1 || list[0].Roles[0].RoleID != created.RoleID {
		t.Errorf("application users (users are not listed): %+v", list)
	}

	mustCLI(t, f.dir, "user", "create", "--tenant", "fabrikam", "--upn", "eve@fabrikam.example", "--name", "Eve")
	wantFail(t, f.dir, 1, []string{"another tenant"}, "role", "assign", "--env", "sales", "--role", "Basic User", "--user", "eve@fabrikam.example")
	wantFail(t, f.dir, 1, []string{`unknown user "nobody@contoso.onmicrosoft.com"`}, "role", "assign", "--env", "sales", "--role", "Basic User", "--user", "nobody@contoso.onmicrosoft.com")
	wantFail(t, f.dir, 1, []string{"unknown user"}, "role", "assign", "--env", "sales", "--role", "Basic User", "--user", "0f0e0d0c-0b0a-4000-8000-000000000000")
	wantFail(t, f.dir, 2, []string{"neither a user principal name"}, "role", "assign", "--env", "sales", "--role", "Basic User", "--user", "dana")
	wantFail(t, f.dir, 2, []string{"either --user or --app"}, "role", "assign", "--env", "sales", "--role", "Basic User")
	wantFail(t, f.dir, 2, []string{"either --user or --app"}, "role", "assign", "--env", "sales", "--role", "Basic User", "--user", dana, "--app", f.inventoryID)
	wantFail(t, f.dir, 2, []string{"--role is required"}, "role", "assign", "--env", "sales", "--app", f.inventoryID)
	wantFail(t, f.dir, 1, []string{`unknown role "Admin"`, `"Order Sync"`}, "role", "assign", "--env", "sales", "--role", "Admin", "--app", f.inventoryID)
	wantFail(t, f.dir, 1, []string{"no application user for app " + f.portalID}, "role", "assign", "--env", "sales", "--role", "Basic User", "--app", f.portalID)
}
