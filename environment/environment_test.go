package environment_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/sqlite"
)

// fixture is a store with a publisher tenant (fabrikam) whose multi-tenant
// app has consent in a customer tenant (contoso), a second multi-tenant app
// without consent there, a single-tenant app in contoso, and a contoso
// user.
type fixture struct {
	ctx               context.Context
	root              string // environment databases
	db                *sqlite.DB
	dir               *directory.Directory
	m                 *environment.Manager
	fabrikam, contoso store.Tenant
	portal            store.App // multi-tenant, consented in contoso
	unconsented       store.App // multi-tenant, no consent in contoso
	local             store.App // single-tenant in contoso
	alice             store.User
}

func newFixture(t *testing.T) *fixture {
	t.Helper()
	ctx := context.Background()
	tmp := t.TempDir()
	db, err := sqlite.Open(ctx, filepath.Join(tmp, "dvs2s.db"))
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{ctx: ctx, root: filepath.Join(tmp, "env"), db: db, dir: &directory.Directory{Store: db}}
	f.m = f.manager()
	t.Cleanup(func() {
		f.m.Close()
		db.Close()
	})
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	f.fabrikam, err = f.dir.CreateTenant(ctx, "fabrikam", "", "")
	must(err)
	f.contoso, err = f.dir.CreateTenant(ctx, "contoso", "", "")
	must(err)
	f.portal, err = f.dir.CreateApp(ctx, directory.AppSpec{Tenant: f.fabrikam.ID, DisplayName: "Fabrikam Portal", MultiTenant: true,
		IdentifierURIs: []string{"api://fabrikam-portal"}})
	must(err)
	_, err = f.dir.GrantAdminConsent(ctx, f.contoso.ID, f.portal.AppID)
	must(err)
	f.unconsented, err = f.dir.CreateApp(ctx, directory.AppSpec{Tenant: f.fabrikam.ID, DisplayName: "Fabrikam Reports", MultiTenant: true})
	must(err)
	f.local, err = f.dir.CreateApp(ctx, directory.AppSpec{Tenant: f.contoso.ID, DisplayName: "Contoso Inventory Sync"})
	must(err)
	f.alice, err = f.dir.CreateUser(ctx, f.contoso.ID, "", "alice@contoso.onmicrosoft.com", "Alice Anderson", "Alice-Passw0rd", false)
	must(err)
	return f
}

// manager returns a new Manager on the fixture's store and root.
func (f *fixture) manager() *environment.Manager {
	return &environment.Manager{Root: f.root, Store: f.db, Directory: f.dir}
}

func (f *fixture) create(t *testing.T, name, url string) *environment.Env {
	t.Helper()
	env, err := f.m.Create(f.ctx, name, f.contoso.ID, url)
	if err != nil {
		t.Fatalf("create environment %s: %v", name, err)
	}
	return env
}

func count(t *testing.T, env *environment.Env, table string, where store.Cond) int {
	t.Helper()
	n, err := env.Data.Count(context.Background(), env.Schema().Table(table), where)
	if err != nil {
		t.Fatalf("count %s: %v", table, err)
	}
	return n
}

func eq(col string, v any) store.Compare { return store.Compare{Column: col, Op: "eq", Value: v} }

// checkProvisioned checks the rows every environment has, exactly once.
func checkProvisioned(t *testing.T, env *environment.Env) {
	t.Helper()
	ctx := context.Background()
	s := env.Schema()
	if n := count(t, env, schema.TableOrganization, nil); n != 1 {
		t.Errorf("%d organization rows, want 1", n)
	}
	org, err := env.Data.Get(ctx, s.Table(schema.TableOrganization), env.ID, nil)
	if err != nil {
		t.Fatalf("organization row with the environment id: %v", err)
	}
	if org["name"] != env.Name {
		t.Errorf("organization name %v, want %s", org["name"], env.Name)
	}
	if n := count(t, env, schema.TableBusinessUnit, nil); n != 1 {
		t.Errorf("%d business units, want 1", n)
	}
	bu, err := env.Data.Get(ctx, s.Table(schema.TableBusinessUnit), env.RootBU, nil)
	if err != nil {
		t.Fatalf("root business unit %s: %v", env.RootBU, err)
	}
	if bu["parentbusinessunitid"] != nil {
		t.Errorf("root business unit has a parent: %v", bu["parentbusinessunitid"])
	}
	if n := count(t, env, schema.TableSystemUser, eq("domainname", "SYSTEM")); n != 1 {
		t.Errorf("%d SYSTEM users, want 1", n)
	}
	sys, err := env.Data.Get(ctx, s.Table(schema.TableSystemUser), env.System, nil)
	if err != nil || sys["domainname"] != "SYSTEM" {
		t.Errorf("SYSTEM user %s: %v %v", env.System, sys, err)
	}
	buRef := store.Ref{ID: env.RootBU, Table: schema.TableBusinessUnit}
	if n := count(t, env, schema.TableTeam, store.And{eq("isdefault", true), eq("businessunitid", buRef)}); n != 1 {
		t.Errorf("%d default teams, want 1", n)
	}
	if n := count(t, env, schema.TableTeam, nil); n != 1 {
		t.Errorf("%d teams, want 1", n)
	}
	roles, err := env.Data.Query(ctx, s.Table(schema.TableRole), store.Query{})
	if err != nil {
		t.Fatal(err)
	}
	if len(roles) != len(environment.StandardRoles) {
		t.Errorf("%d roles, want %d", len(roles), len(environment.StandardRoles))
	}
	for _, sr := range environment.StandardRoles {
		found := 0
		for _, r := range roles {
			if r["roletemplateid"] == sr.Template {
				found++
				if r["name"] != sr.Name || r["ismanaged"] != true || r["businessunitid"] != buRef {
					t.Errorf("role %s: %v", sr.Name, r)
				}
			}
		}
		if found != 1 {
			t.Errorf("%d roles with template %s (%s), want 1", found, sr.Template, sr.Name)
		}
	}
}

func TestProvisionIdempotent(t *testing.T) {
	f := newFixture(t)
	env := f.create(t, "contoso", "https://localhost:9001")
	checkProvisioned(t, env)
	rootBU, sys := env.RootBU, env.System

	// Opening again, by name and by id, in the same manager.
	for _, ref := range []string{"contoso", "CONTOSO", env.ID, strings.ToUpper(env.ID)} {
		again, err := f.m.Open(f.ctx, ref)
		if err != nil {
			t.Fatalf("open %s: %v", ref, err)
		}
		if again.ID != env.ID || again.RootBU != rootBU || again.System != sys {
			t.Errorf("open %s: got %s/%s/%s, want %s/%s/%s", ref, again.ID, again.RootBU, again.System, env.ID, rootBU, sys)
		}
	}
	checkProvisioned(t, env)

	// Reopening after close, in a new manager, provisions again: nothing
	// is added and the ids stay.
	for i := 0; i < 2; i++ {
		if err := f.m.Close(); err != nil {
			t.Fatal(err)
		}
		f.m = f.manager()
		re, err := f.m.Open(f.ctx, "contoso")
		if err != nil {
			t.Fatalf("reopen: %v", err)
		}
		if re.ID != env.ID || re.RootBU != rootBU || re.System != sys || re.TenantID != f.contoso.ID || re.URL != "https://localhost:9001" {
			t.Errorf("reopened environment %+v (root BU %s, SYSTEM %s); want id %s, root BU %s, SYSTEM %s", re.Environment, re.RootBU, re.System, env.ID, rootBU, sys)
		}
		checkProvisioned(t, re)
	}

	if _, err := f.m.Open(f.ctx, "nosuch"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("open unknown environment: %v, want ErrNotFound", err)
	}
}

func TestCreate(t *testing.T) {
	f := newFixture(t)
	env, err := f.m.Create(f.ctx, "  Sales ", f.contoso.Domain, "https://sales.example.com/")
	if err != nil {
		t.Fatalf("create with a domain: %v", err)
	}
	if env.Name != "sales" || env.TenantID != f.contoso.ID || env.URL != "https://sales.example.com" || !directory.IsGUID(env.ID) {
		t.Errorf("created %+v", env.Environment)
	}
	rec, err := f.db.Environment(f.ctx, "sales")
	if err != nil || rec.ID != env.ID || rec.URL != env.URL {
		t.Errorf("registry record %+v %v", rec, err)
	}
	res, err := f.db.Resource(f.ctx, f.contoso.ID, "https://sales.example.com")
	if err != nil {
		t.Fatalf("the environment URL is not a resource of its tenant: %v", err)
	}
	if res.AppID != directory.DataverseAppID || res.TokenVersion != 1 || res.URI != "https://sales.example.com" {
		t.Errorf("resource %+v", res)
	}
	if _, err := f.db.Resource(f.ctx, f.fabrikam.ID, "https://sales.example.com"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("resource in another tenant: %v", err)
	}

	// Without a URL nothing is registered yet (the server assigns it).
	noURL, err := f.m.Create(f.ctx, "later", f.contoso.ID, "")
	if err != nil {
		t.Fatal(err)
	}
	if noURL.URL != "" {
		t.Errorf("URL %q, want empty", noURL.URL)
	}
	rs, err := f.db.ListResources(f.ctx, f.contoso.ID)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if r.URI == "" {
			t.Errorf("empty resource registered: %+v", r)
		}
	}

	tests := []struct {
		name, tenant, url string
		want              error
	}{
		{"", f.contoso.ID, "", environment.ErrInvalid},
		{"bad_name", f.contoso.ID, "", environment.ErrInvalid},
		{"1sales", f.contoso.ID, "", environment.ErrInvalid},
		{"a b", f.contoso.ID, "", environment.ErrInvalid},
		{strings.Repeat("a", 41), f.contoso.ID, "", environment.ErrInvalid},
		{"-x", f.contoso.ID, "", environment.ErrInvalid},
		{"valid", "", "", store.ErrNotFound},
		{"valid", "nosuch.example", "", store.ErrNotFound},
		{"valid", "0f0e0d0c-0b0a-4000-8000-000000000000", "", store.ErrNotFound},
		{"valid", f.contoso.ID, "not a url", environment.ErrInvalid},
		{"valid", f.contoso.ID, "/relative", environment.ErrInvalid},
		{"sales", f.contoso.ID, "", store.ErrConflict},
		{"SALES", f.fabrikam.ID, "", store.ErrConflict},
	}
	for _, tt := range tests {
		t.Run(tt.name+"|"+tt.tenant+"|"+tt.url, func(t *testing.T) {
			_, err := f.m.Create(f.ctx, tt.name, tt.tenant, tt.url)
			if !errors.Is(err, tt.want) {
				t.Errorf("Create(%q, %q, %q) = %v, want %v", tt.name, tt.tenant, tt.url, err, tt.want)
			}
		})
	}
	// A refused environment leaves nothing behind.
	envs, err := f.m.List(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range envs {
		names = append(names, e.Name)
	}
	if !slices.Equal(names, []string{"sales", "later"}) {
		t.Errorf("environments %v, want [sales later] in creation order", names)
	}
	// 40 characters is the limit.
	if _, err := f.m.Create(f.ctx, "a"+strings.Repeat("b", 39), f.contoso.ID, ""); err != nil {
		t.Errorf("40-character name: %v", err)
	}
}

// TestListCreationOrder: the server gives environments ports in creation
// order, so the order must not depend on ids when environments are created
// within the same second.
func TestListCreationOrder(t *testing.T) {
	f := newFixture(t)
	var want []string
	for i := 0; i < 6; i++ {
		name := "env" + string(rune('a'+i))
		f.create(t, name, "")
		want = append(want, name)
	}
	envs, err := f.m.List(f.ctx)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range envs {
		got = append(got, e.Name)
	}
	if !slices.Equal(got, want) {
		t.Errorf("List order %v, want creation order %v", got, want)
	}
}

func TestSetURL(t *testing.T) {
	f := newFixture(t)
	env := f.create(t, "contoso", "https://localhost:9001")
	if err := f.m.SetURL(f.ctx, env, "https://localhost:9002/"); err != nil {
		t.Fatal(err)
	}
	if env.URL != "https://localhost:9002" {
		t.Errorf("URL %q", env.URL)
	}
	if _, err := f.db.Resource(f.ctx, f.contoso.ID, "https://localhost:9001"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("old URL still a resource: %v", err)
	}
	res, err := f.db.Resource(f.ctx, f.contoso.ID, "https://localhost:9002")
	if err != nil || res.AppID != directory.DataverseAppID || res.TokenVersion != 1 {
		t.Errorf("new URL resource %+v %v", res, err)
	}
	rec, err := f.db.Environment(f.ctx, env.ID)
	if err != nil || rec.URL != "https://localhost:9002" {
		t.Errorf("registry %+v %v", rec, err)
	}
	// The same URL again is a no-op that keeps the registration.
	if err := f.m.SetURL(f.ctx, env, "https://localhost:9002"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Resource(f.ctx, f.contoso.ID, "https://localhost:9002"); err != nil {
		t.Errorf("resource after setting the same URL: %v", err)
	}
	rs, err := f.db.ListResources(f.ctx, f.contoso.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(rs) != 1 {
		t.Errorf("resources %+v, want only the current URL", rs)
	}
	// A new manager sees the new URL.
	f.m.Close()
	f.m = f.manager()
	re, err := f.m.Open(f.ctx, "contoso")
	if err != nil || re.URL != "https://localhost:9002" {
		t.Errorf("reopened: %v %v", re, err)
	}
	// A bad URL changes nothing.
	if err := f.m.SetURL(f.ctx, re, "ftp://x"); !errors.Is(err, environment.ErrInvalid) {
		t.Errorf("SetURL(ftp://x) = %v, want ErrInvalid", err)
	}
	if rec, _ := f.db.Environment(f.ctx, env.ID); rec.URL != "https://localhost:9002" || re.URL != rec.URL {
		t.Errorf("a refused URL was stored: %q / %q", rec.URL, re.URL)
	}
	// From no URL to one.
	later := f.create(t, "later", "")
	if err := f.m.SetURL(f.ctx, later, "https://localhost:9003"); err != nil {
		t.Fatal(err)
	}
	if _, err := f.db.Resource(f.ctx, f.contoso.ID, "https://localhost:9003"); err != nil {
		t.Errorf("resource: %v", err)
	}
}

func TestCreateAppUser(t *testing.T) {
	f := newFixture(t)
	env := f.create(t, "contoso", "https://localhost:9001")
	sys := environment.Caller{UserID: env.System, BU: env.RootBU}
	sp, err := f.db.ServicePrincipal(f.ctx, f.contoso.ID, f.portal.AppID)
	if err != nil {
		t.Fatal(err)
	}
	home, err := f.db.ServicePrincipal(f.ctx, f.fabrikam.ID, f.portal.AppID)
	if err != nil {
		t.Fatal(err)
	}
	if home.ObjectID == sp.ObjectID {
		t.Fatal("fixture: same service principal object id in two tenants")
	}

	row, err := env.CreateAppUser(f.ctx, env.Data, environment.AppUserSpec{AppID: strings.ToUpper(f.portal.AppID)}, sys)
	if err != nil {
		t.Fatalf("CreateAppUser: %v", err)
	}
	id, _ := row["systemuserid"].(string)
	if !directory.IsGUID(id) {
		t.Fatalf("systemuserid %v", row["systemuserid"])
	}
	stored, err := env.Data.Get(f.ctx, env.Schema().Table(schema.TableSystemUser), id, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"applicationid":                f.portal.AppID,
		"azureactivedirectoryobjectid": sp.ObjectID,
		"accessmode":                   int64(4),
		"firstname":                    "#",
		"fullname":                     "Fabrikam Portal",
		"isdisabled":                   false,
		"applicationiduri":             "api://fabrikam-portal",
		"domainname":                   f.portal.AppID + "@contoso.onmicrosoft.com",
		"internalemailaddress":         f.portal.AppID + "@contoso.onmicrosoft.com",
		"businessunitid":               store.Ref{ID: env.RootBU, Table: schema.TableBusinessUnit},
		"organizationid":               store.Ref{ID: env.ID, Table: schema.TableOrganization},
		"createdby":                    store.Ref{ID: env.System, Table: schema.TableSystemUser},
	}
	for k, v := range want {
		if stored[k] != v {
			t.Errorf("%s = %#v, want %#v", k, stored[k], v)
		}
		if row[k] != v {
			t.Errorf("returned %s = %#v, want %#v", k, row[k], v)
		}
	}
	if f.portal.AppID != strings.ToLower(f.portal.AppID) {
		t.Fatal("fixture: app id not lower case")
	}
	for _, lookup := range []string{f.portal.AppID, strings.ToUpper(f.portal.AppID)} {
		u, err := env.UserByApplicationID(f.ctx, lookup)
		if err != nil || u["systemuserid"] != id {
			t.Errorf("UserByApplicationID(%s) = %v %v", lookup, u, err)
		}
	}
	if u, err := env.UserByObjectID(f.ctx, strings.ToUpper(sp.ObjectID)); err != nil || u["systemuserid"] != id {
		t.Errorf("UserByObjectID = %v %v", u, err)
	}

	// Updating an application user keeps its fullname (the app's name).
	users := env.Schema().Table(schema.TableSystemUser)
	upd := store.Row{"isdisabled": true}
	env.Touch(users, upd, stored, sys)
	if _, err := env.Data.Update(f.ctx, users, id, upd, 0); err != nil {
		t.Fatal(err)
	}
	if u, err := env.Data.Get(f.ctx, users, id, nil); err != nil || u["fullname"] != "Fabrikam Portal" || u["isdisabled"] != true || u["firstname"] != "#" {
		t.Errorf("after an update: fullname %v, firstname %v, isdisabled %v (%v)", u["fullname"], u["firstname"], u["isdisabled"], err)
	}

	// One application user per app.
	if _, err := env.CreateAppUser(f.ctx, env.Data, environment.AppUserSpec{AppID: f.portal.AppID}, sys); !errors.Is(err, store.ErrConflict) {
		t.Errorf("second application user: %v, want ErrConflict", err)
	}
	// No consent in the environment's tenant.
	_, err = env.CreateAppUser(f.ctx, env.Data, environment.AppUserSpec{AppID: f.unconsented.AppID}, sys)
	if !errors.Is(err, environment.ErrNoConsent) || !strings.Contains(err.Error(), f.contoso.ID) {
		t.Errorf("app without consent: %v, want ErrNoConsent naming the tenant", err)
	}
	if _, err := env.CreateAppUser(f.ctx, env.Data, environment.AppUserSpec{AppID: "0f0e0d0c-0b0a-4000-8000-000000000000"}, sys); !errors.Is(err, environment.ErrNoConsent) {
		t.Errorf("unregistered app: %v, want ErrNoConsent", err)
	}
	if _, err := env.CreateAppUser(f.ctx, env.Data, environment.AppUserSpec{AppID: "not-a-guid"}, sys); !errors.Is(err, environment.ErrInvalid) {
		t.Errorf("bad app id: %v, want ErrInvalid", err)
	}
	if n := count(t, env, schema.TableSystemUser, store.Compare{Column: "applicationid", Op: "ne", Value: nil}); n != 1 {
		t.Errorf("%d application users after the refusals, want 1", n)
	}

	// A single-tenant app of the environment's tenant, with a fixed id,
	// inside a transaction.
	fixed := "B1A2C3D4-0000-4000-8000-00000000A0FF"
	err = env.Data.InTx(f.ctx, func(d store.Data) error {
		_, err := env.CreateAppUser(f.ctx, d, environment.AppUserSpec{AppID: f.local.AppID, UserID: fixed}, sys)
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	u, err := env.UserByApplicationID(f.ctx, f.local.AppID)
	if err != nil || u["systemuserid"] != strings.ToLower(fixed) || u["fullname"] != "Contoso Inventory Sync" || u["applicationiduri"] != nil {
		t.Errorf("single-tenant app user %v %v", u, err)
	}
	if _, err := env.CreateAppUser(f.ctx, env.Data, environment.AppUserSpec{AppID: f.unconsented.AppID, UserID: fixed}, sys); err == nil {
		t.Error("a second user with the same systemuserid was created")
	}
}

func TestRoles(t *testing.T) {
	f := newFixture(t)
	env := f.create(t, "contoso", "https://localhost:9001")
	sys := environment.Caller{UserID: env.System, BU: env.RootBU}
	row, err := env.CreateAppUser(f.ctx, env.Data, environment.AppUserSpec{AppID: f.portal.AppID}, sys)
	if err != nil {
		t.Fatal(err)
	}
	user := row["systemuserid"].(string)
	other, err := env.SyncUser(f.ctx, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	roles := func(id string) []string {
		t.Helper()
		r, err := env.Roles(f.ctx, id)
		if err != nil {
			t.Fatalf("Roles: %v", err)
		}
		slices.Sort(r)
		return r
	}
	if r := roles(user); len(r) != 0 {
		t.Errorf("roles of a new application user: %v", r)
	}

	// Standard roles are found by name, case-insensitively.
	for _, sr := range environment.StandardRoles {
		r, err := env.RoleByName(f.ctx, strings.ToUpper(sr.Name))
		if err != nil || r["roletemplateid"] != sr.Template {
			t.Errorf("RoleByName(%s) = %v %v", sr.Name, r, err)
		}
	}
	if _, err := env.RoleByName(f.ctx, "No Such Role"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("unknown role: %v", err)
	}

	// Direct assignment, idempotent.
	direct, err := env.CreateRole(f.ctx, "Direct Integration")
	if err != nil {
		t.Fatal(err)
	}
	directID := direct["roleid"].(string)
	if direct["ismanaged"] != false || direct["businessunitid"] != (store.Ref{ID: env.RootBU, Table: schema.TableBusinessUnit}) {
		t.Errorf("created role %v", direct)
	}
	if r, err := env.RoleByName(f.ctx, "direct integration"); err != nil || r["roleid"] != directID {
		t.Errorf("RoleByName(created) = %v %v", r, err)
	}
	for i := 0; i < 2; i++ {
		if err := env.AssignRole(f.ctx, user, directID); err != nil {
			t.Fatalf("AssignRole #%d: %v", i+1, err)
		}
	}
	if r := roles(user); !slices.Equal(r, []string{directID}) {
		t.Errorf("roles after direct assignment %v, want [%s]", r, directID)
	}
	if r := roles(strings.ToUpper(user)); !slices.Equal(r, []string{directID}) {
		t.Errorf("roles by upper-case id %v", r)
	}

	// Through team membership.
	s := env.Schema()
	team := store.Row{"name": "Integrations", "teamtype": int64(0), "isdefault": false,
		"businessunitid": store.Ref{ID: env.RootBU, Table: schema.TableBusinessUnit}}
	if _, err := env.Insert(f.ctx, env.Data, s.Table(schema.TableTeam), team, sys); err != nil {
		t.Fatal(err)
	}
	teamID := team["teamid"].(string)
	viaTeam, err := env.CreateRole(f.ctx, "Team Integration")
	if err != nil {
		t.Fatal(err)
	}
	viaTeamID := viaTeam["roleid"].(string)
	m2m := func(name string) *schema.ManyToMany {
		for _, m := range s.ManyToManys() {
			if m.SchemaName == name {
				return m
			}
		}
		t.Fatalf("no relationship %s", name)
		return nil
	}
	if err := env.Data.Associate(f.ctx, m2m("teamroles_association"), teamID, viaTeamID); err != nil {
		t.Fatal(err)
	}
	if r := roles(user); !slices.Equal(r, []string{directID}) {
		t.Errorf("a team role reached a non-member: %v", r)
	}
	if err := env.Data.Associate(f.ctx, m2m("teammembership_association"), user, teamID); err != nil {
		t.Fatal(err)
	}
	want := []string{directID, viaTeamID}
	slices.Sort(want)
	if r := roles(user); !slices.Equal(r, want) {
		t.Errorf("roles with a team %v, want %v", r, want)
	}
	// The same role directly and through a team counts once.
	if err := env.AssignRole(f.ctx, user, viaTeamID); err != nil {
		t.Fatal(err)
	}
	if r := roles(user); !slices.Equal(r, want) {
		t.Errorf("roles with a role held twice %v, want %v", r, want)
	}
	// Only through the team.
	otherID := other["systemuserid"].(string)
	if r := roles(otherID); len(r) != 0 {
		t.Errorf("roles of another user %v", r)
	}
	if err := env.Data.Associate(f.ctx, m2m("teammembership_association"), otherID, teamID); err != nil {
		t.Fatal(err)
	}
	if r := roles(otherID); !slices.Equal(r, []string{viaTeamID}) {
		t.Errorf("roles through the team only %v, want [%s]", r, viaTeamID)
	}
	if err := env.Data.Disassociate(f.ctx, m2m("teammembership_association"), otherID, teamID); err != nil {
		t.Fatal(err)
	}
	if r := roles(otherID); len(r) != 0 {
		t.Errorf("roles after leaving the team %v", r)
	}
}

func TestSyncUser(t *testing.T) {
	f := newFixture(t)
	env := f.create(t, "contoso", "https://localhost:9001")
	users := env.Schema().Table(schema.TableSystemUser)
	byOID := eq("azureactivedirectoryobjectid", f.alice.ObjectID)

	row, err := env.SyncUser(f.ctx, f.alice)
	if err != nil {
		t.Fatalf("SyncUser (create): %v", err)
	}
	id, _ := row["systemuserid"].(string)
	got, err := env.Data.Get(f.ctx, users, id, nil)
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]any{
		"firstname": "Alice", "lastname": "Anderson", "fullname": "Alice Anderson",
		"domainname": f.alice.UPN, "internalemailaddress": f.alice.UPN,
		"azureactivedirectoryobjectid": f.alice.ObjectID, "accessmode": int64(0), "isdisabled": false,
		"businessunitid": store.Ref{ID: env.RootBU, Table: schema.TableBusinessUnit},
		"applicationid":  nil,
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("created %s = %#v, want %#v", k, got[k], v)
		}
	}
	ver := got["versionnumber"]

	// Unchanged: nothing is written.
	again, err := env.SyncUser(f.ctx, f.alice)
	if err != nil {
		t.Fatal(err)
	}
	if again["systemuserid"] != id {
		t.Errorf("second sync returned %v, want %s", again["systemuserid"], id)
	}
	if cur, _ := env.Data.Get(f.ctx, users, id, nil); cur["versionnumber"] != ver {
		t.Errorf("an unchanged user was rewritten: version %v -> %v", ver, cur["versionnumber"])
	}
	if n := count(t, env, schema.TableSystemUser, byOID); n != 1 {
		t.Errorf("%d rows for the user, want 1", n)
	}

	// Disabled and renamed in the directory: the row follows.
	u := f.alice
	u.Enabled = false
	u.DisplayName = "Alice Smith"
	if err := f.db.UpdateUser(f.ctx, u); err != nil {
		t.Fatal(err)
	}
	u, err = f.db.User(f.ctx, u.ObjectID)
	if err != nil {
		t.Fatal(err)
	}
	updated, err := env.SyncUser(f.ctx, u)
	if err != nil {
		t.Fatalf("SyncUser (update): %v", err)
	}
	if updated["systemuserid"] != id || updated["isdisabled"] != true || updated["lastname"] != "Smith" || updated["fullname"] != "Alice Smith" {
		t.Errorf("updated row %v", updated)
	}
	if n := count(t, env, schema.TableSystemUser, byOID); n != 1 {
		t.Errorf("%d rows for the user after the update, want 1", n)
	}
	if cur, _ := env.UserByObjectID(f.ctx, u.ObjectID); cur["isdisabled"] != true {
		t.Errorf("stored isdisabled %v", cur["isdisabled"])
	}

	// Enabled again.
	u.Enabled = true
	if updated, err = env.SyncUser(f.ctx, u); err != nil || updated["isdisabled"] != false {
		t.Errorf("re-enabled: %v %v", updated, err)
	}

	// Users of another tenant are refused.
	bob, err := f.dir.CreateUser(f.ctx, f.fabrikam.ID, "", "bob@fabrikam.onmicrosoft.com", "Bob", "Bob-Passw0rd", false)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := env.SyncUser(f.ctx, bob); !errors.Is(err, environment.ErrInvalid) {
		t.Errorf("user of another tenant: %v, want ErrInvalid", err)
	}

	// SyncUsers brings in every user of the tenant, once.
	if _, err := f.dir.CreateUser(f.ctx, f.contoso.ID, "", "carol@contoso.onmicrosoft.com", "Carol", "Carol-Passw0rd", false); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 2; i++ {
		if err := env.SyncUsers(f.ctx); err != nil {
			t.Fatal(err)
		}
	}
	interactive := store.And{eq("applicationid", nil), store.Compare{Column: "domainname", Op: "ne", Value: "SYSTEM"}}
	if n := count(t, env, schema.TableSystemUser, interactive); n != 2 {
		t.Errorf("%d users after SyncUsers, want 2 (alice, carol)", n)
	}
	carol, err := first(t, env, eq("domainname", "carol@contoso.onmicrosoft.com"))
	if err != nil || carol["firstname"] != "" || carol["lastname"] != "Carol" || carol["fullname"] != "Carol" {
		t.Errorf("single-word display name: %v %v", carol, err)
	}
}

func first(t *testing.T, env *environment.Env, where store.Cond) (store.Row, error) {
	t.Helper()
	rows, err := env.Data.Query(context.Background(), env.Schema().Table(schema.TableSystemUser), store.Query{Where: where})
	if err != nil || len(rows) == 0 {
		return nil, errors.Join(err, store.ErrNotFound)
	}
	return rows[0], nil
}
