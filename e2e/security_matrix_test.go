package e2e

// The access matrix of the security model (issue 4; reference dataverse.md
// §2 and §5), over real HTTPS with real tokens. Fixtures are built in
// process on the demo environment: a business-unit tree, owner users,
// teams, roles at each depth and rows owned by each; every call then goes
// through the Web API as an application user, a signed-in user, a team
// member or an impersonating caller, and each answer is checked against
// the documented algorithm (§5.4): privilege check, then access check by
// ownership, owning team, depth against the row's business unit, sharing.
//
// Tokens for another environment of the tenant, for another tenant, of
// another authority, and each environment refusing the other's tokens and
// keeping its data apart are covered by TestWebAPIAuthentication and
// TestWebAPITrust (webapi_auth_test.go); they are not repeated here.

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
	"github.com/google/uuid"
)

// secEnv builds security fixtures in the demo environment of a running
// stack.
type secEnv struct {
	t       *testing.T
	ts      *testStack
	ctx     context.Context
	env     *environment.Env
	url     string
	s       *schema.Schema
	sys     environment.Caller
	admin   *apiClient // an application user with System Administrator
	adminID string
}

func newSecEnv(t *testing.T) *secEnv {
	t.Helper()
	ts := start(t, "")
	ctx := context.Background()
	env, err := ts.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	se := &secEnv{t: t, ts: ts, ctx: ctx, env: env, url: demoEnv(t, ts), s: env.Schema(), sys: environment.Caller{UserID: env.System, BU: env.RootBU}}
	sa, err := env.RoleByName(ctx, "System Administrator")
	se.must(err)
	var tok string
	se.adminID, tok = se.appUser("Matrix Administrator", env.RootBU, sa["roleid"].(string))
	se.admin = ts.api(se.url, tok)
	return se
}

func (se *secEnv) must(err error) {
	se.t.Helper()
	if err != nil {
		se.t.Fatal(err)
	}
}

func (se *secEnv) ref(table, id string) store.Ref { return store.Ref{ID: id, Table: table} }

func (se *secEnv) insert(table string, r store.Row) string {
	se.t.Helper()
	t := se.s.Table(table)
	_, err := se.env.Insert(se.ctx, se.env.Data, t, r, se.sys)
	se.must(err)
	return r[t.PrimaryID].(string)
}

// bu creates a business unit under parent.
func (se *secEnv) bu(name, parent string) string {
	se.t.Helper()
	return se.insert(schema.TableBusinessUnit, store.Row{"name": name, "parentbusinessunitid": se.ref(schema.TableBusinessUnit, parent),
		"isdisabled": false, "organizationid": se.ref(schema.TableOrganization, se.env.ID)})
}

// owner creates a user that only owns rows (no directory user, no role).
func (se *secEnv) owner(name, bu string) string {
	se.t.Helper()
	return se.insert(schema.TableSystemUser, store.Row{"firstname": "Owner", "lastname": name, "domainname": strings.ReplaceAll(strings.ToLower(name), " ", ".") + "@owners.test",
		"accessmode": int64(0), "isdisabled": false, "businessunitid": se.ref(schema.TableBusinessUnit, bu), "organizationid": se.ref(schema.TableOrganization, se.env.ID)})
}

// team creates an owner team.
func (se *secEnv) team(name, bu string) string {
	se.t.Helper()
	return se.insert(schema.TableTeam, store.Row{"name": name, "teamtype": int64(0), "isdefault": false,
		"businessunitid": se.ref(schema.TableBusinessUnit, bu), "organizationid": se.ref(schema.TableOrganization, se.env.ID)})
}

func (se *secEnv) m2m(name string) *schema.ManyToMany {
	for _, m := range se.s.ManyToManys() {
		if m.SchemaName == name {
			return m
		}
	}
	se.t.Fatalf("no relationship %s", name)
	return nil
}

// member adds a user to a team; teamRole gives a team a role.
func (se *secEnv) member(team, user string) {
	se.t.Helper()
	se.must(se.env.Data.Associate(se.ctx, se.m2m("teammembership_association"), user, team))
}

func (se *secEnv) teamRole(team, role string) {
	se.t.Helper()
	se.must(se.env.Data.Associate(se.ctx, se.m2m("teamroles_association"), team, role))
}

// role creates a role with privileges.
func (se *secEnv) role(name string, privs ...map[string]security.Depth) string {
	se.t.Helper()
	r, err := se.env.CreateRole(se.ctx, name)
	se.must(err)
	id := r["roleid"].(string)
	for _, p := range privs {
		se.must(se.env.GrantByName(se.ctx, se.env.Data, id, p))
	}
	return id
}

// tablePrivs is every privilege (or the given ones) on tables at depth d.
func (se *secEnv) tablePrivs(d security.Depth, tables []string, actions ...security.Action) map[string]security.Depth {
	out := map[string]security.Depth{}
	for _, tn := range tables {
		for k, v := range environment.TablePrivileges(se.s.Table(tn), d, actions...) {
			out[k] = v
		}
	}
	return out
}

func (se *secEnv) give(user string, roles ...string) {
	se.t.Helper()
	for _, r := range roles {
		se.must(se.env.AssignRole(se.ctx, user, r))
	}
}

// appUser registers an app in contoso, makes it an application user of
// the environment in business unit bu with roles, and returns its
// systemuserid and an app-only token.
func (se *secEnv) appUser(name, bu string, roles ...string) (string, string) {
	se.t.Helper()
	app, err := se.ts.Directory.CreateApp(se.ctx, directory.AppSpec{Tenant: demo.ContosoTenantID, DisplayName: name})
	se.must(err)
	_, secretText, err := se.ts.Directory.AddSecret(se.ctx, app.AppID, "matrix", time.Hour)
	se.must(err)
	row, err := se.env.CreateAppUser(se.ctx, se.env.Data, environment.AppUserSpec{AppID: app.AppID, BusinessUnitID: bu}, se.sys)
	se.must(err)
	id := row["systemuserid"].(string)
	se.give(id, roles...)
	return id, appToken(se.t, se.ts, demo.ContosoTenantID, app.AppID, secretText, se.url)
}

// dirUser is a user of the contoso directory with a systemuser.
type dirUser struct{ id, oid, upn, pass string }

// dirUser creates a directory user, syncs it into the environment in
// business unit bu and gives it roles.
func (se *secEnv) dirUser(name, bu string, roles ...string) dirUser {
	se.t.Helper()
	slug := strings.ToLower(strings.NewReplacer(" ", ".", "/", "-").Replace(name))
	u := dirUser{upn: slug + "@contoso.onmicrosoft.com", pass: "Matrix-" + uuid.NewString()[:8] + "-Pw1"}
	du, err := se.ts.Directory.CreateUser(se.ctx, demo.ContosoTenantID, "", u.upn, name, u.pass, false)
	se.must(err)
	row, err := se.env.SyncUser(se.ctx, du)
	se.must(err)
	u.id, u.oid = row["systemuserid"].(string), du.ObjectID
	_, err = se.env.Data.Update(se.ctx, se.s.Table(schema.TableSystemUser), u.id, store.Row{"businessunitid": se.ref(schema.TableBusinessUnit, bu)}, 0)
	se.must(err)
	se.give(u.id, roles...)
	return u
}

// account creates an account owned by owner (a systemuser or team ref)
// in business unit bu.
func (se *secEnv) account(name string, owner store.Ref, bu string) string {
	se.t.Helper()
	return se.insert(schema.TableAccount, store.Row{"name": name, "ownerid": owner, "owningbusinessunit": se.ref(schema.TableBusinessUnit, bu)})
}

// contact creates a contact owned by owner in bu, under an account when
// parent is not "".
func (se *secEnv) contact(lastname string, owner store.Ref, bu, parent string) string {
	se.t.Helper()
	r := store.Row{"firstname": "Matrix", "lastname": lastname, "ownerid": owner, "owningbusinessunit": se.ref(schema.TableBusinessUnit, bu)}
	if parent != "" {
		r["parentcustomerid"] = se.ref(schema.TableAccount, parent)
	}
	return se.insert(schema.TableContact, r)
}

// share shares a row with a user or team through GrantAccess, as the
// administrator.
func (se *secEnv) share(table, id, principalTable, principalID, mask string) {
	se.t.Helper()
	se.admin.do(se.t, http.MethodPost, "GrantAccess", grantBody(table, id, principalTable, principalID, mask)).wantStatus(se.t, http.StatusNoContent)
}

func grantBody(table, id, principalTable, principalID, mask string) map[string]any {
	return map[string]any{
		"Target":          map[string]any{"@odata.type": "Microsoft.Dynamics.CRM." + table, table + "id": id},
		"PrincipalAccess": map[string]any{"Principal": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM." + principalTable, principalTable + "id": principalID}, "AccessMask": mask},
	}
}

// accessDenied is the 0x80048306 message (reference §5.6).
func accessDenied(userID string, a security.Action, rowID, table string) string {
	return fmt.Sprintf("Principal with id %s does not have %s right(s) for record with id %s of entity %s", userID, a.RightName(), rowID, table)
}

// checkAccessDenied checks a 403 0x80048306 answer naming the right and
// the row.
func checkAccessDenied(t testing.TB, what string, r apiReply, userID string, a security.Action, rowID, table string) {
	t.Helper()
	if want := accessDenied(userID, a, rowID, table); r.status != http.StatusForbidden || r.errCode() != "0x80048306" || r.errMessage() != want {
		t.Errorf("%s: %d %s, want 403 0x80048306 %q", what, r.status, r.body, want)
	}
}

// --- zero leaks ---

// leakWatch holds the rows a principal may not read; check fails the
// test when an answer shows one: its name anywhere, or its id unless the
// request itself named that row (a 403 for a row names the row asked for,
// as Dataverse's does) or the id is a lookup value of a row the principal
// may read (known: Dataverse returns _x_value even when the related row is
// unreadable).
type leakWatch struct {
	hidden map[string]string // id → name
	known  map[string]bool
}

func (w *leakWatch) hide(id, name string) {
	if w.hidden == nil {
		w.hidden = map[string]string{}
	}
	w.hidden[id] = name
}

// know marks the id of a hidden row as a lookup value of a readable row.
func (w *leakWatch) know(id string) {
	if w.known == nil {
		w.known = map[string]bool{}
	}
	w.known[id] = true
}

func (w *leakWatch) check(t testing.TB, request string, r apiReply) {
	t.Helper()
	body := string(r.body)
	for id, name := range w.hidden {
		if name != "" && strings.Contains(body, name) {
			t.Errorf("LEAK: %s answered %d with the name of hidden row %s (%q): %s", request, r.status, id, name, r.body)
		}
		if strings.Contains(body, id) && !strings.Contains(request, id) && !w.known[id] {
			t.Errorf("LEAK: %s answered %d with the id of hidden row %s: %s", request, r.status, id, r.body)
		}
	}
}

// watched is an apiClient whose every answer is checked for leaks, with
// extra headers (impersonation) on every request.
type watched struct {
	c     *apiClient
	hdr   []string
	watch *leakWatch
}

func (w *watched) do(t testing.TB, method, path string, body any, hdr ...string) apiReply {
	t.Helper()
	r := w.c.do(t, method, path, body, append(append([]string{}, w.hdr...), hdr...)...)
	b, _ := json.Marshal(body)
	w.watch.check(t, method+" "+path+" "+string(b), r)
	return r
}

func (w *watched) get(t testing.TB, path string, hdr ...string) apiReply {
	t.Helper()
	return w.do(t, http.MethodGet, path, nil, hdr...)
}

// names returns the values of a property in a list answer.
func listNames(t testing.TB, r apiReply, prop string) []string {
	t.Helper()
	vals, ok := r.json["value"].([]any)
	if !ok {
		t.Fatalf("not a list: %s", r.body)
	}
	var out []string
	for _, v := range vals {
		s, _ := v.(map[string]any)[prop].(string)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// --- the matrix ---

// Ownership relations of a row to the principal (whose business unit is
// "child" in the tree root → parent → child → grandchild, parent →
// sibling).
const (
	relOwn    = "own row"
	relTeam   = "team's row" // owned by an owner team of the principal (in the sibling unit)
	relSame   = "same BU"    // owned by another user of the principal's unit
	relChild  = "child BU"   // owned by a user of the unit below the principal's
	relParent = "parent BU"  // owned by a user of the unit above (Deep reaches down only)
	relOther  = "other BU"   // owned by a user of the sibling unit
	relShared = "shared row" // other BU, shared with the principal through GrantAccess
	sharedAs  = "ReadAccess, WriteAccess, AppendAccess, AppendToAccess, ShareAccess"
)

var matrixRelations = []string{relOwn, relTeam, relSame, relChild, relParent, relOther, relShared}

// sharedRights are the rights sharedAs grants: Delete and Assign are not
// shared, so those follow the depth alone.
var sharedRights = map[security.Action]bool{security.Read: true, security.Write: true, security.Append: true, security.AppendTo: true, security.Share: true}

// mayAccess is the documented access check (§5.4) for a principal whose
// record privileges on the table are all at depth d.
func mayAccess(rel string, a security.Action, d security.Depth) bool {
	switch rel {
	case relOwn, relTeam:
		return true
	case relSame:
		return d >= security.Local
	case relChild:
		return d >= security.Deep
	case relShared:
		return sharedRights[a] || d == security.Global
	}
	return d == security.Global
}

// matrixSubject is one principal of the matrix: the effective user (whose
// relations the rows have) and the client that calls as it.
type matrixSubject struct {
	name   string
	depth  security.Depth
	userID string
	caller string // the impersonating caller ("" when none)
	client *apiClient
	hdr    []string // impersonation headers
}

// matrixRows are one subject's rows of one relation: one for the
// non-destructive operations, one to assign, one to delete.
type matrixRows struct{ main, assign, del string }

// TestSecurityMatrix checks every depth × ownership relation × operation
// for application users, signed-in users, team members (the role held by
// a team only) and impersonated calls in both directions (a strong caller
// acting for a weaker user, and a weak caller acting for a stronger one:
// the intersection applies either way). Each denial is 403 0x80048306
// naming the missing right and the row; nothing a denied principal gets
// back names a row it cannot read; every change and every denied attempt
// has its audit entry, with the effective user and the actual caller.
func TestSecurityMatrix(t *testing.T) {
	se := newSecEnv(t)
	root := se.env.RootBU
	parent := se.bu("Matrix Parent", root)
	child := se.bu("Matrix Child", parent)
	grand := se.bu("Matrix Grandchild", child)
	sibling := se.bu("Matrix Sibling", parent)
	peer, below, above, aside := se.owner("Peer Child", child), se.owner("Grandchild Owner", grand), se.owner("Parent Owner", parent), se.owner("Sibling Owner", sibling)
	receiver := se.owner("Assign Receiver", root)
	ownerTeam := se.team("Matrix Owner Team", sibling)

	depths := []security.Depth{security.Basic, security.Local, security.Deep, security.Global}
	tables := []string{schema.TableAccount, schema.TableContact}
	roleAt := map[security.Depth]string{}
	delegateAt := map[security.Depth]string{}
	for _, d := range depths {
		roleAt[d] = se.role("Matrix "+d.String(), se.tablePrivs(d, tables))
		delegateAt[d] = se.role("Matrix Delegate "+d.String(), se.tablePrivs(d, tables), map[string]security.Depth{security.PrvActOnBehalf: security.Global})
	}
	strongID, strongTok := se.appUser("Matrix Strong Delegate", root, delegateAt[security.Global])

	var subjects []*matrixSubject
	for i, d := range depths {
		// application user
		id, tok := se.appUser("Matrix App "+d.String(), child, roleAt[d])
		subjects = append(subjects, &matrixSubject{name: "application user/" + d.String(), depth: d, userID: id, client: se.ts.api(se.url, tok)})
		// signed-in user
		u := se.dirUser("Matrix User "+d.String(), child, roleAt[d])
		subjects = append(subjects, &matrixSubject{name: "user/" + d.String(), depth: d, userID: u.id,
			client: se.ts.api(se.url, signInTokens(t, se.ts, u.upn, u.pass, se.url).access)})
		// team member: the role is the team's only
		roleTeam := se.team("Matrix Role Team "+d.String(), child)
		se.teamRole(roleTeam, roleAt[d])
		id, tok = se.appUser("Matrix Team Member "+d.String(), child)
		se.member(roleTeam, id)
		subjects = append(subjects, &matrixSubject{name: "team member/" + d.String(), depth: d, userID: id, client: se.ts.api(se.url, tok)})
		// a strong caller acting for a user at depth d (CallerObjectId and
		// MSCRMCallerID in turn)
		weak := se.dirUser("Matrix Impersonated "+d.String(), child, roleAt[d])
		hdr := []string{"MSCRMCallerID", weak.id}
		if i%2 == 0 {
			hdr = []string{"CallerObjectId", weak.oid}
		}
		subjects = append(subjects, &matrixSubject{name: "impersonating a weaker user/" + d.String(), depth: d, userID: weak.id, caller: strongID,
			client: se.ts.api(se.url, strongTok), hdr: hdr})
		// a caller at depth d acting for a user at Global
		strong := se.dirUser("Matrix Impersonated Global for "+d.String(), child, roleAt[security.Global])
		id, tok = se.appUser("Matrix Weak Delegate "+d.String(), root, delegateAt[d])
		subjects = append(subjects, &matrixSubject{name: "impersonating a stronger user/" + d.String(), depth: d, userID: strong.id, caller: id,
			client: se.ts.api(se.url, tok), hdr: []string{"MSCRMCallerID", strong.id}})
	}

	// Rows: for each subject and relation, three accounts.
	user := func(id string) store.Ref { return se.ref(schema.TableSystemUser, id) }
	rows := map[*matrixSubject]map[string]matrixRows{}
	names := map[string]string{}
	ownContact := map[*matrixSubject]string{}
	for _, sj := range subjects {
		se.member(ownerTeam, sj.userID)
		rows[sj] = map[string]matrixRows{}
		ownContact[sj] = se.contact("Contact of "+sj.name, user(sj.userID), child, "")
		for _, rel := range matrixRelations {
			owner, bu := user(sj.userID), child
			switch rel {
			case relTeam:
				owner, bu = se.ref(schema.TableTeam, ownerTeam), sibling
			case relSame:
				owner = user(peer)
			case relChild:
				owner, bu = user(below), grand
			case relParent:
				owner, bu = user(above), parent
			case relOther, relShared:
				owner, bu = user(aside), sibling
			}
			var rr [3]string
			for i, purpose := range []string{"main", "assign", "delete"} {
				name := fmt.Sprintf("mx %s %s %s %s", sj.name, rel, purpose, uuid.NewString()[:8])
				rr[i] = se.account(name, owner, bu)
				names[rr[i]] = name
				if rel == relShared {
					se.share(schema.TableAccount, rr[i], schema.TableSystemUser, sj.userID, sharedAs)
				}
			}
			rows[sj][rel] = matrixRows{main: rr[0], assign: rr[1], del: rr[2]}
		}
	}

	accounts := se.s.Table(schema.TableAccount)
	for _, sj := range subjects {
		t.Run(sj.name, func(t *testing.T) {
			d := sj.depth
			watch := &leakWatch{}
			for _, rel := range matrixRelations {
				if !mayAccess(rel, security.Read, d) {
					rr := rows[sj][rel]
					for _, id := range []string{rr.main, rr.assign, rr.del} {
						watch.hide(id, names[id])
					}
				}
			}
			c := &watched{c: sj.client, hdr: sj.hdr, watch: watch}
			deniedOn := map[string]int{} // row → denied attempts (each audited)
			allowedOn := map[string][]int{}
			expect := func(what string, r apiReply, rel string, ok bool, okStatus int, right security.Action, row string) {
				t.Helper()
				if ok {
					if r.status != okStatus {
						t.Errorf("%s on %s: %d %s, want %d", what, rel, r.status, r.body, okStatus)
					}
					return
				}
				deniedOn[row]++
				checkAccessDenied(t, what+" on "+rel, r, sj.userID, right, row, schema.TableAccount)
			}
			// first of two actions that is not allowed
			firstDenied := func(rel string, actions ...security.Action) (bool, security.Action) {
				for _, a := range actions {
					if !mayAccess(rel, a, d) {
						return false, a
					}
				}
				return true, 0
			}

			// Appear in a list: exactly the readable rows.
			prefix := "mx " + sj.name + " "
			got := listNames(t, c.get(t, "accounts?$select=name&$filter="+url.QueryEscape("startswith(name,'"+prefix+"')")).wantStatus(t, 200), "name")
			var want []string
			for _, rel := range matrixRelations {
				if mayAccess(rel, security.Read, d) {
					rr := rows[sj][rel]
					want = append(want, names[rr.main], names[rr.assign], names[rr.del])
				}
			}
			sort.Strings(want)
			if strings.Join(got, "\n") != strings.Join(want, "\n") {
				t.Errorf("list shows\n  %s\nwant\n  %s", strings.Join(got, "\n  "), strings.Join(want, "\n  "))
			}

			for _, rel := range matrixRelations {
				rr := rows[sj][rel]
				// read by id
				r := c.get(t, "accounts("+rr.main+")?$select=name")
				expect("read", r, rel, mayAccess(rel, security.Read, d), 200, security.Read, rr.main)
				if r.status == 200 && r.str("name") != names[rr.main] {
					t.Errorf("read %s: %s", rel, r.body)
				}
				// update
				r = c.do(t, http.MethodPatch, "accounts("+rr.main+")", map[string]any{"description": "updated by " + sj.name})
				expect("update", r, rel, mayAccess(rel, security.Write, d), 204, security.Write, rr.main)
				if r.status == 204 {
					allowedOn[rr.main] = append(allowedOn[rr.main], schema.AuditUpdate)
				}
				// append: set a lookup of the row (Write + Append on it,
				// AppendTo on the principal's own contact)
				ok, right := firstDenied(rel, security.Write, security.Append)
				r = c.do(t, http.MethodPatch, "accounts("+rr.main+")", map[string]any{"primarycontactid@odata.bind": "/contacts(" + ownContact[sj] + ")"})
				expect("append (@odata.bind on the row)", r, rel, ok, 204, right, rr.main)
				if r.status == 204 {
					allowedOn[rr.main] = append(allowedOn[rr.main], schema.AuditUpdate)
				}
				// append to: a new contact of the principal bound to the row
				r = c.do(t, http.MethodPost, "contacts", map[string]any{"lastname": "bound by " + sj.name, "parentcustomerid_account@odata.bind": "/accounts(" + rr.main + ")"})
				expect("append to (@odata.bind to the row)", r, rel, mayAccess(rel, security.AppendTo, d), 204, security.AppendTo, rr.main)
				// share (Share, and the shared right itself)
				ok, right = firstDenied(rel, security.Share, security.Read)
				r = c.do(t, http.MethodPost, "GrantAccess", grantBody(schema.TableAccount, rr.main, schema.TableSystemUser, receiver, "ReadAccess"))
				expect("share", r, rel, ok, 204, right, rr.main)
				if r.status == 204 {
					allowedOn[rr.main] = append(allowedOn[rr.main], schema.AuditShare)
				}
				// assign (Write, then Assign)
				ok, right = firstDenied(rel, security.Write, security.Assign)
				r = c.do(t, http.MethodPatch, "accounts("+rr.assign+")", map[string]any{"ownerid@odata.bind": "/systemusers(" + receiver + ")"})
				expect("assign", r, rel, ok, 204, right, rr.assign)
				after, err := se.env.Data.Get(se.ctx, accounts, rr.assign, []string{"ownerid", "owningbusinessunit"})
				se.must(err)
				owner, _ := after["ownerid"].(store.Ref)
				obu, _ := after["owningbusinessunit"].(store.Ref)
				if r.status == 204 {
					allowedOn[rr.assign] = append(allowedOn[rr.assign], schema.AuditAssign)
					// The row follows its new owner into the owner's business unit.
					if owner.ID != receiver || obu.ID != root {
						t.Errorf("assigned %s: owner %v, business unit %v; want %s in the root unit", rel, owner, obu, receiver)
					}
				} else if owner.ID == receiver {
					t.Errorf("refused assign of %s changed the owner", rel)
				}
				// delete
				r = c.do(t, http.MethodDelete, "accounts("+rr.del+")", nil)
				expect("delete", r, rel, mayAccess(rel, security.Delete, d), 204, security.Delete, rr.del)
				_, err = se.env.Data.Get(se.ctx, accounts, rr.del, []string{"accountid"})
				if r.status == 204 {
					allowedOn[rr.del] = append(allowedOn[rr.del], schema.AuditDelete)
					if err == nil {
						t.Errorf("deleted %s still exists", rel)
					}
				} else if err != nil {
					t.Errorf("refused delete of %s: the row is gone: %v", rel, err)
				}
			}

			// Audit: every change and every denied attempt, with the
			// effective user and the actual caller, nothing more.
			checkMatrixAudit(t, se, sj, rows[sj], allowedOn, deniedOn)
		})
	}
}

// checkMatrixAudit compares a subject's audit entries on its rows with
// what it did.
func checkMatrixAudit(t *testing.T, se *secEnv, sj *matrixSubject, rows map[string]matrixRows, allowed map[string][]int, denied map[string]int) {
	t.Helper()
	var ids []any
	for _, rr := range rows {
		ids = append(ids, rr.main, rr.assign, rr.del)
	}
	audits, err := se.env.Data.Query(se.ctx, se.s.Table(schema.TableAudit), store.Query{
		Columns: []string{"objectid", "action", "userid", "callinguserid", "outcome"},
		Where: store.And{store.In{Column: "objectid", Values: ids},
			store.Compare{Column: "userid", Op: "eq", Value: se.ref(schema.TableSystemUser, sj.userID)}}})
	se.must(err)
	caller := sj.caller
	if caller == "" {
		caller = sj.userID
	}
	gotAllowed, gotDenied := map[string][]int{}, map[string]int{}
	for _, a := range audits {
		obj, _ := a["objectid"].(string)
		action, _ := a["action"].(int64)
		cu, _ := a["callinguserid"].(store.Ref)
		if cu.ID != caller {
			t.Errorf("audit action %d on %s: calling user %s, want %s", action, obj, cu.ID, caller)
		}
		if action == schema.AuditDenied {
			gotDenied[obj]++
			if a["outcome"] != "denied" {
				t.Errorf("denied attempt audited with outcome %v", a["outcome"])
			}
			continue
		}
		gotAllowed[obj] = append(gotAllowed[obj], int(action))
	}
	for rel, rr := range rows {
		for _, id := range []string{rr.main, rr.assign, rr.del} {
			if gotDenied[id] != denied[id] {
				t.Errorf("%s: %d denied attempts audited on %s, want %d", rel, gotDenied[id], id, denied[id])
			}
			g, w := append([]int{}, gotAllowed[id]...), append([]int{}, allowed[id]...)
			sort.Ints(g)
			sort.Ints(w)
			if fmt.Sprint(g) != fmt.Sprint(w) {
				t.Errorf("%s: audit actions %v on %s, want %v", rel, g, id, w)
			}
		}
	}
}

// rawCall sends a request and returns the status and the decoded body,
// without the error-shape checks of apiClient.do (an explained error
// carries an annotation besides code and message).
func rawCall(t testing.TB, c *apiClient, method, path string, body any, hdr ...string) (int, map[string]any) {
	t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = strings.NewReader(string(b))
	}
	req, err := http.NewRequest(method, c.url(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	var m map[string]any
	json.NewDecoder(res.Body).Decode(&m)
	return res.StatusCode, m
}

// TestSecurityRules covers the rules around the matrix: the privilege
// check and its error, the explanation of a decision, impersonation
// without the privilege and its edge cases, self-escalation through role
// assignment and through the role-privilege messages, @odata.bind to a row
// the principal may not read, $expand and filters through relations to
// such rows, paging and $count under row filtering, and the audit table.
func TestSecurityRules(t *testing.T) {
	se := newSecEnv(t)
	root := se.env.RootBU
	east := se.bu("Rules East", root)
	west := se.bu("Rules West", root)
	user := func(id string) store.Ref { return se.ref(schema.TableSystemUser, id) }
	tables := []string{schema.TableAccount, schema.TableContact}
	basic := se.role("Rules Basic", se.tablePrivs(security.Basic, tables))
	stranger := se.owner("Rules Stranger", west)

	t.Run("privilege check", func(t *testing.T) {
		role := se.role("Rules Account Reader", se.tablePrivs(security.Basic, []string{schema.TableAccount}, security.Read))
		id, tok := se.appUser("Rules Reader", east, role)
		c := se.ts.api(se.url, tok)
		own := se.account("Rules reader's account", user(id), east)
		missing := func(prv, entity string, otc int) string {
			return fmt.Sprintf("is missing %s privilege (Id=%s) on OTC=%d for entity '%s'. context.Caller=%s. Consider adding missed privilege to one of the principal (user/team) roles.",
				prv, security.PrivilegeID(prv), otc, entity, id)
		}
		prefix := "Principal user (Id=" + id + ", type=8, roleCount=1, "
		for _, tc := range []struct {
			method, path string
			body         any
			prv, entity  string
			otc          int
		}{
			{http.MethodPatch, "accounts(" + own + ")", map[string]any{"name": "x"}, "prvWriteAccount", "account", 1},
			{http.MethodDelete, "accounts(" + own + ")", nil, "prvDeleteAccount", "account", 1},
			{http.MethodPost, "accounts", map[string]any{"name": "x"}, "prvCreateAccount", "account", 1},
			{http.MethodGet, "contacts?$select=fullname", nil, "prvReadContact", "contact", 2},
			{http.MethodGet, "accounts?$select=name&$expand=primarycontactid($select=fullname)", nil, "prvReadContact", "contact", 2},
			{http.MethodGet, "audits", nil, security.PrvReadAudit, "audit", 4567},
		} {
			r := c.do(t, tc.method, tc.path, tc.body)
			checkAPIError(t, r, http.StatusForbidden, "0x80040220", "", missing(tc.prv, tc.entity, tc.otc))
			if !strings.HasPrefix(r.errMessage(), prefix) {
				t.Errorf("%s %s: message %q, want it to start with %q", tc.method, tc.path, r.errMessage(), prefix)
			}
		}
		// The privilege is checked before the row: a missing row gives
		// the privilege error too.
		checkAPIError(t, c.do(t, http.MethodDelete, "accounts("+uuid.NewString()+")", nil), http.StatusForbidden, "0x80040220", "", "prvDeleteAccount")
		// Reading its own account works.
		c.get(t, "accounts("+own+")?$select=name").wantStatus(t, 200)
	})

	t.Run("explanation", func(t *testing.T) {
		id, tok := se.appUser("Rules Explained", east, basic)
		c := se.ts.api(se.url, tok)
		hidden := se.account("Rules hidden from the explained", user(stranger), west)
		for _, hdr := range [][]string{{"Prefer", `odata.include-annotations="*"`}, {"x-dvs2s-explain", "true"}} {
			status, body := rawCall(t, c, http.MethodGet, "accounts("+hidden+")?$select=name", nil, hdr...)
			e, _ := body["error"].(map[string]any)
			x, _ := e["@dvs2s.explanation"].(map[string]any)
			if status != 403 || e["code"] != "0x80048306" || x == nil {
				t.Fatalf("%v: %d %v, want 403 with an explanation", hdr, status, body)
			}
			want := map[string]any{"principal": id, "businessUnit": east, "privilege": "prvReadAccount", "heldDepth": "Basic", "neededDepth": "Global",
				"row": hidden, "rowOwner": stranger, "rowOwnerType": "systemuser", "rowBusinessUnit": west, "impersonating": false, "systemAdmin": false}
			for k, v := range want {
				if x[k] != v {
					t.Errorf("%v: explanation %s = %v, want %v", hdr, k, x[k], v)
				}
			}
			if roles := fmt.Sprint(x["roles"]); roles != "[Rules Basic]" {
				t.Errorf("explanation roles %s", roles)
			}
		}
		// Not asked for: no explanation.
		status, body := rawCall(t, c, http.MethodGet, "accounts("+hidden+")?$select=name", nil)
		if e, _ := body["error"].(map[string]any); status != 403 || len(e) != 2 {
			t.Errorf("unasked: %d %v, want code and message only", status, body)
		}
		// A missing privilege is explained too.
		status, body = rawCall(t, c, http.MethodGet, "audits", nil, "x-dvs2s-explain", "true")
		e, _ := body["error"].(map[string]any)
		if x, _ := e["@dvs2s.explanation"].(map[string]any); status != 403 || x["privilege"] != security.PrvReadAudit || x["heldDepth"] != "None" {
			t.Errorf("privilege explanation: %d %v", status, body)
		}
	})

	t.Run("impersonation", func(t *testing.T) {
		target := se.dirUser("Rules Impersonated", east, basic)
		noPrivID, noPrivTok := se.appUser("Rules No Delegate", root, basic)
		delegateRole := se.role("Rules Delegate", se.tablePrivs(security.Global, tables), map[string]security.Depth{security.PrvActOnBehalf: security.Global})
		callerID, callerTok := se.appUser("Rules Delegate Caller", root, delegateRole)
		noPriv, caller := se.ts.api(se.url, noPrivTok), se.ts.api(se.url, callerTok)
		const msg = "User does not have the privilege to act on behalf another user."
		for _, hdr := range [][]string{{"CallerObjectId", target.oid}, {"MSCRMCallerID", target.id}, {"MSCRMCallerID", "{" + strings.ToUpper(target.id) + "}"}} {
			checkAPIError(t, noPriv.get(t, "WhoAmI", hdr...), http.StatusForbidden, "0x8004a110", msg, "")
			checkAPIError(t, noPriv.do(t, http.MethodPost, "accounts", map[string]any{"name": "Rules never created"}, hdr...), http.StatusForbidden, "0x8004a110", msg, "")
		}
		// Impersonating oneself is no impersonation, and needs no privilege.
		if r := noPriv.get(t, "WhoAmI", "MSCRMCallerID", noPrivID).wantStatus(t, 200); r.str("UserId") != noPrivID {
			t.Errorf("self-impersonation: %s", r.body)
		}
		// With the privilege, the request runs as the user.
		for _, hdr := range [][]string{{"CallerObjectId", target.oid}, {"MSCRMCallerID", target.id}} {
			if r := caller.get(t, "WhoAmI", hdr...).wantStatus(t, 200); r.str("UserId") != target.id || r.str("BusinessUnitId") != east {
				t.Errorf("WhoAmI impersonating with %s: %s", hdr[0], r.body)
			}
		}
		// createdby, modifiedby and the owner are the user; the
		// on-behalf-of columns the caller (reference §2.3).
		id := caller.do(t, http.MethodPost, "accounts", map[string]any{"name": "Rules created on behalf"}, "CallerObjectId", target.oid).wantStatus(t, 204).entityID(t)
		r := se.admin.get(t, "accounts("+id+")?$select=_createdby_value,_modifiedby_value,_createdonbehalfby_value,_modifiedonbehalfby_value,_ownerid_value,_owningbusinessunit_value").wantStatus(t, 200)
		for k, v := range map[string]string{"_createdby_value": target.id, "_modifiedby_value": target.id, "_ownerid_value": target.id,
			"_createdonbehalfby_value": callerID, "_modifiedonbehalfby_value": callerID, "_owningbusinessunit_value": east} {
			if r.str(k) != v {
				t.Errorf("%s = %q, want %q: %s", k, r.str(k), v, r.body)
			}
		}
		// The intersection: the user holds Basic only, so the caller's
		// Global does not reach a stranger's row.
		other := se.account("Rules stranger's row", user(stranger), west)
		checkAccessDenied(t, "impersonated read", caller.get(t, "accounts("+other+")?$select=name", "MSCRMCallerID", target.id), target.id, security.Read, other, "account")
		caller.get(t, "accounts("+other+")?$select=name").wantStatus(t, 200)
		// Unknown, malformed and disabled users.
		unknown := uuid.NewString()
		checkAPIError(t, caller.get(t, "WhoAmI", "MSCRMCallerID", unknown), http.StatusForbidden, "0x80072560", "", unknown)
		checkAPIError(t, caller.get(t, "WhoAmI", "CallerObjectId", unknown), http.StatusForbidden, "0x80072560", "", unknown)
		checkAPIError(t, caller.get(t, "WhoAmI", "CallerObjectId", "not-a-guid"), http.StatusBadRequest, "", "", "not a valid GUID")
		disabled := se.dirUser("Rules Disabled", east, basic)
		_, err := se.env.Data.Update(se.ctx, se.s.Table(schema.TableSystemUser), disabled.id, store.Row{"isdisabled": true}, 0)
		se.must(err)
		checkAPIError(t, caller.get(t, "WhoAmI", "MSCRMCallerID", disabled.id), http.StatusForbidden, "0x80040225", "", disabled.id)
		// The audit names both.
		a := auditRows(t, se, id)
		if len(a) != 1 || a[0]["userid"] != target.id || a[0]["callinguserid"] != callerID || a[0]["action"] != int64(schema.AuditCreate) {
			t.Errorf("audit of the impersonated create: %v", a)
		}
		// The refused impersonations are audited as denied attempts of the caller.
		n, err := se.env.Data.Count(se.ctx, se.s.Table(schema.TableAudit), store.And{
			store.Compare{Column: "userid", Op: "eq", Value: user(noPrivID)}, store.Compare{Column: "action", Op: "eq", Value: int64(schema.AuditDenied)},
			store.Match{Column: "changedata", Mode: "contains", Pattern: security.PrvActOnBehalf}})
		se.must(err)
		if n != 6 {
			t.Errorf("%d refused impersonations audited, want 6", n)
		}
	})

	t.Run("self-escalation through role assignment", func(t *testing.T) {
		sa, err := se.env.RoleByName(se.ctx, "System Administrator")
		se.must(err)
		sysAdmin := sa["roleid"].(string)
		admin := se.role("Rules Role Admin",
			se.tablePrivs(security.Global, []string{schema.TableRole}, security.Read, security.Write, security.Append, security.AppendTo, security.Assign),
			se.tablePrivs(security.Global, []string{schema.TableSystemUser, schema.TableTeam}, security.Read, security.Append, security.AppendTo),
			se.tablePrivs(security.Local, []string{schema.TableAccount}, security.Read))
		id, tok := se.appUser("Rules Role Administrator", root, admin)
		c := se.ts.api(se.url, tok)
		stronger := se.role("Rules Stronger", se.tablePrivs(security.Global, []string{schema.TableAccount}, security.Delete))
		deeper := se.role("Rules Deeper", se.tablePrivs(security.Deep, []string{schema.TableAccount}, security.Read))
		weaker := se.role("Rules Weaker", se.tablePrivs(security.Basic, []string{schema.TableAccount}, security.Read))
		team := se.team("Rules Admin's Team", root)
		se.member(team, id)
		other := se.dirUser("Rules Other User", root)
		roleURL := func(r string) map[string]any {
			return map[string]any{"@odata.id": se.url + "/api/data/v9.2/roles(" + r + ")"}
		}
		userURL := func(u string) map[string]any {
			return map[string]any{"@odata.id": se.url + "/api/data/v9.2/systemusers(" + u + ")"}
		}
		for _, tc := range []struct {
			name, path string
			body       map[string]any
			contain    string
		}{
			{"System Administrator to itself", "systemusers(" + id + ")/systemuserroles_association/$ref", roleURL(sysAdmin), "System Administrator"},
			{"System Administrator to itself, from the role's side", "roles(" + sysAdmin + ")/systemuserroles_association/$ref", userURL(id), "System Administrator"},
			{"System Administrator to its team", "teams(" + team + ")/teamroles_association/$ref", roleURL(sysAdmin), "System Administrator"},
			{"a role with a privilege it lacks", "systemusers(" + id + ")/systemuserroles_association/$ref", roleURL(stronger), "prvDeleteAccount at Global depth (you hold None)"},
			{"a role with a deeper depth", "systemusers(" + id + ")/systemuserroles_association/$ref", roleURL(deeper), "prvReadAccount at Deep depth (you hold Local)"},
			{"a stronger role to someone else", "systemusers(" + other.id + ")/systemuserroles_association/$ref", roleURL(stronger), "prvDeleteAccount"},
		} {
			t.Run(tc.name, func(t *testing.T) {
				r := c.do(t, http.MethodPost, tc.path, tc.body)
				checkAPIError(t, r, http.StatusForbidden, "0x80040231", "", tc.contain)
			})
		}
		roles, err := se.env.Roles(se.ctx, id)
		se.must(err)
		if len(roles) != 1 || roles[0] != admin {
			t.Errorf("after refused assignments it holds %v, want only %s", roles, admin)
		}
		// A role it holds every privilege of can be handed out.
		c.do(t, http.MethodPost, "systemusers("+other.id+")/systemuserroles_association/$ref", roleURL(weaker)).wantStatus(t, 204)
		// Without Assign on roles, no role at all.
		noAssign := se.role("Rules No Assign",
			se.tablePrivs(security.Global, []string{schema.TableRole, schema.TableSystemUser}, security.Read, security.Append, security.AppendTo))
		_, tok2 := se.appUser("Rules No Assign User", root, noAssign)
		checkAPIError(t, se.ts.api(se.url, tok2).do(t, http.MethodPost, "systemusers("+other.id+")/systemuserroles_association/$ref", roleURL(weaker)),
			http.StatusForbidden, "0x80040220", "", "prvAssignRole")
		// Refused attempts are audited.
		n, err := se.env.Data.Count(se.ctx, se.s.Table(schema.TableAudit), store.And{
			store.Compare{Column: "userid", Op: "eq", Value: user(id)}, store.Compare{Column: "action", Op: "eq", Value: int64(schema.AuditDenied)}})
		se.must(err)
		if n < 6 {
			t.Errorf("%d denied attempts audited, want at least 6", n)
		}
	})

	t.Run("AddPrivilegesRole escalation", func(t *testing.T) {
		editor := se.role("Rules Role Editor",
			se.tablePrivs(security.Global, []string{schema.TableRole}, security.Read, security.Write),
			se.tablePrivs(security.Local, []string{schema.TableAccount}, security.Read, security.Write))
		_, tok := se.appUser("Rules Role Editor User", root, editor)
		c := se.ts.api(se.url, tok)
		target := se.role("Rules Edited")
		priv := func(name string) string { return security.PrivilegeID(name) }
		add := func(role string, privs ...any) apiReply {
			var list []map[string]any
			for i := 0; i+1 < len(privs); i += 2 {
				list = append(list, map[string]any{"PrivilegeId": priv(privs[i].(string)), "Depth": privs[i+1]})
			}
			return c.do(t, http.MethodPost, "roles("+role+")/Microsoft.Dynamics.CRM.AddPrivilegesRole", map[string]any{"Privileges": list})
		}
		checkAPIError(t, add(target, "prvDeleteAccount", "Global"), http.StatusForbidden, "0x80040231", "", "prvDeleteAccount at Global depth (you hold None)")
		checkAPIError(t, add(target, "prvReadAccount", "Global"), http.StatusForbidden, "0x80040231", "", "prvReadAccount at Global depth (you hold Local)")
		checkAPIError(t, add(target, "prvReadAccount", 2), http.StatusForbidden, "0x80040231", "", "prvReadAccount at Deep depth") // the enum: 2 = Deep
		checkAPIError(t, add(editor, "prvDeleteAccount", "Basic"), http.StatusForbidden, "0x80040231", "", "prvDeleteAccount")     // its own role
		checkAPIError(t, c.do(t, http.MethodPost, "roles("+target+")/Microsoft.Dynamics.CRM.ReplacePrivilegesRole",
			map[string]any{"Privileges": []map[string]any{{"PrivilegeId": priv(security.PrvActOnBehalf), "Depth": "Global"}}}), http.StatusForbidden, "0x80040231", "", security.PrvActOnBehalf)
		// What it holds, it may grant.
		add(target, "prvReadAccount", "Local", "prvWriteAccount", 0).wantStatus(t, 204)
		r := c.get(t, "roles("+target+")/Microsoft.Dynamics.CRM.RetrieveRolePrivilegesRole").wantStatus(t, 200)
		got := map[string]string{}
		for _, p := range r.json["RolePrivileges"].([]any) {
			m := p.(map[string]any)
			got[m["PrivilegeName"].(string)] = m["Depth"].(string)
		}
		if len(got) != 2 || got["prvReadAccount"] != "Local" || got["prvWriteAccount"] != "Basic" {
			t.Errorf("role privileges %v", got)
		}
		// Without Write on roles: the privilege error.
		_, tok2 := se.appUser("Rules Role Reader", root, se.role("Rules Role Read Only", se.tablePrivs(security.Global, []string{schema.TableRole}, security.Read)))
		checkAPIError(t, se.ts.api(se.url, tok2).do(t, http.MethodPost, "roles("+target+")/Microsoft.Dynamics.CRM.RemovePrivilegeRole", map[string]any{"PrivilegeId": priv("prvReadAccount")}),
			http.StatusForbidden, "0x80040220", "", "prvWriteRole")
		// The change is audited on the role.
		if a := auditRows(t, se, target); len(a) != 1 || a[0]["action"] != int64(schema.AuditUpdate) {
			t.Errorf("audit of the role change: %v", a)
		}
	})

	// The lookup and expansion cases share one Basic principal: its own
	// contact belongs to a stranger's account, and its own account has a
	// stranger's contact.
	pid, ptok := se.appUser("Rules Basic Principal", east, basic)
	hiddenAccName, hiddenConName := "Rules hidden account "+uuid.NewString()[:8], "Hidden "+uuid.NewString()[:8]
	hiddenAcc := se.account(hiddenAccName, user(stranger), west)
	ownAcc := se.account("Rules own account", user(pid), east)
	ownCon := se.contact("Own", user(pid), east, hiddenAcc)
	hiddenCon := se.contact(hiddenConName, user(stranger), west, ownAcc)
	watch := &leakWatch{}
	watch.hide(hiddenAcc, hiddenAccName)
	watch.hide(hiddenCon, hiddenConName)
	watch.know(hiddenAcc) // the parent of its own contact
	p := &watched{c: se.ts.api(se.url, ptok), watch: watch}

	t.Run("@odata.bind to an unreadable row", func(t *testing.T) {
		// Reference §5.4: setting a lookup needs Append on the row being
		// changed and AppendTo on the row it points at; Read on the target
		// is not part of that check, and Dataverse's access check for the
		// target (SecLib::AccessCheckEx) names AppendToAccess. So binding
		// to a row the principal can neither read nor append to is refused
		// with 0x80048306 AppendToAccess, not ReadAccess.
		r := p.do(t, http.MethodPost, "contacts", map[string]any{"lastname": "Rules bound", "parentcustomerid_account@odata.bind": "/accounts(" + hiddenAcc + ")"})
		checkAccessDenied(t, "create with a bind", r, pid, security.AppendTo, hiddenAcc, "account")
		r = p.do(t, http.MethodPatch, "accounts("+ownAcc+")", map[string]any{"primarycontactid@odata.bind": se.url + "/api/data/v9.2/contacts(" + hiddenCon + ")"})
		checkAccessDenied(t, "update with a bind", r, pid, security.AppendTo, hiddenCon, "contact")
		r = p.do(t, http.MethodPut, "accounts("+ownAcc+")/primarycontactid/$ref", map[string]any{"@odata.id": se.url + "/api/data/v9.2/contacts(" + hiddenCon + ")"})
		checkAccessDenied(t, "PUT $ref", r, pid, security.AppendTo, hiddenCon, "contact")
		// Relating through the one-to-many side changes the contact's lookup: Append on it.
		r = p.do(t, http.MethodPost, "accounts("+ownAcc+")/contact_customer_accounts/$ref", map[string]any{"@odata.id": se.url + "/api/data/v9.2/contacts(" + hiddenCon + ")"})
		checkAccessDenied(t, "associate", r, pid, security.Append, hiddenCon, "contact")
		// A missing row is 404, whatever the rights.
		checkAPIError(t, p.do(t, http.MethodPost, "contacts", map[string]any{"lastname": "x", "parentcustomerid_account@odata.bind": "/accounts(" + uuid.NewString() + ")"}),
			http.StatusNotFound, "0x80040217", "", "")
		// AppendTo is independent of Read: with AppendTo at Global the
		// bind succeeds, and the row stays unreadable.
		appender := se.role("Rules Appender", se.tablePrivs(security.Basic, tables), se.tablePrivs(security.Global, []string{schema.TableAccount}, security.AppendTo))
		aid, atok := se.appUser("Rules Appender User", east, appender)
		a := &watched{c: se.ts.api(se.url, atok), watch: watch}
		id := a.do(t, http.MethodPost, "contacts", map[string]any{"lastname": "Rules bound blind", "parentcustomerid_account@odata.bind": "/accounts(" + hiddenAcc + ")"}).wantStatus(t, 204).entityID(t)
		r = a.get(t, "contacts("+id+")?$select=lastname,_parentcustomerid_value&$expand=parentcustomerid_account($select=name)").wantStatus(t, 200)
		if r.json["parentcustomerid_account"] != nil || r.str("_parentcustomerid_value") != hiddenAcc {
			t.Errorf("blind bind read back: %s", r.body)
		}
		checkAccessDenied(t, "read the bound row", a.get(t, "accounts("+hiddenAcc+")?$select=name"), aid, security.Read, hiddenAcc, "account")
	})

	t.Run("$expand and filters through unreadable relations", func(t *testing.T) {
		// The lookup stays (its id is the row's own data), the related
		// row comes back null, as in Dataverse.
		r := p.get(t, "contacts("+ownCon+")?$select=lastname,_parentcustomerid_value&$expand=parentcustomerid_account($select=name)").wantStatus(t, 200)
		if v, ok := r.json["parentcustomerid_account"]; !ok || v != nil || r.str("_parentcustomerid_value") != hiddenAcc {
			t.Errorf("expand of an unreadable account: %s", r.body)
		}
		r = p.get(t, "contacts?$select=lastname,_parentcustomerid_value&$expand=parentcustomerid_account($select=name)&$filter="+url.QueryEscape("contactid eq "+ownCon)).wantStatus(t, 200)
		if v := r.json["value"].([]any); len(v) != 1 || v[0].(map[string]any)["parentcustomerid_account"] != nil {
			t.Errorf("expand in a list: %s", r.body)
		}
		// Collection-valued: only readable children.
		r = p.get(t, "accounts("+ownAcc+")?$select=name&$expand=contact_customer_accounts($select=lastname)").wantStatus(t, 200)
		if v := r.json["contact_customer_accounts"].([]any); len(v) != 0 {
			t.Errorf("expanded children: %s", r.body)
		}
		if n := listNames(t, p.get(t, "accounts("+ownAcc+")/contact_customer_accounts?$select=lastname").wantStatus(t, 200), "lastname"); len(n) != 0 {
			t.Errorf("navigation shows %v", n)
		}
		if r := p.get(t, "accounts("+ownAcc+")/contact_customer_accounts/$count").wantStatus(t, 200); strings.TrimPrefix(string(r.body), "\ufeff") != "0" {
			t.Errorf("navigation count %q", r.body)
		}
		// Filters cannot probe the values of unreadable rows.
		for _, f := range []string{
			"parentcustomerid_account/name eq '" + hiddenAccName + "'",
			"startswith(parentcustomerid_account/name,'Rules hidden')",
		} {
			if n := listNames(t, p.get(t, "contacts?$select=lastname&$filter="+url.QueryEscape(f)).wantStatus(t, 200), "lastname"); len(n) != 0 {
				t.Errorf("$filter=%s matches %v", f, n)
			}
		}
		if n := listNames(t, p.get(t, "accounts?$select=name&$filter="+url.QueryEscape("contact_customer_accounts/any(c: c/lastname eq '"+hiddenConName+"')")).wantStatus(t, 200), "name"); len(n) != 0 {
			t.Errorf("any() over unreadable children matches %v", n)
		}
		// all() ranges over the readable children only: the own account's
		// only readable child set is empty, so all() holds.
		if n := listNames(t, p.get(t, "accounts?$select=name&$filter="+url.QueryEscape("contact_customer_accounts/all(c: c/lastname eq 'nobody')")).wantStatus(t, 200), "name"); len(n) != 1 || n[0] != "Rules own account" {
			t.Errorf("all() over unreadable children: %v", n)
		}
		// Properties and navigation of an unreadable row.
		for _, path := range []string{"accounts(" + hiddenAcc + ")/name", "accounts(" + hiddenAcc + ")/name/$value", "accounts(" + hiddenAcc + ")/primarycontactid/$ref",
			"accounts(" + hiddenAcc + ")/primarycontactid", "accounts(" + hiddenAcc + ")/contact_customer_accounts", "contacts(" + ownCon + ")/parentcustomerid_account"} {
			checkAccessDenied(t, path, p.get(t, path), pid, security.Read, hiddenAcc, "account")
		}
		// The lookup of a readable row is its own data.
		if r := p.get(t, "contacts("+ownCon+")/parentcustomerid_account/$ref").wantStatus(t, 200); !strings.Contains(r.str("@odata.id"), hiddenAcc) {
			t.Errorf("$ref of a readable row's lookup: %s", r.body)
		}
	})

	t.Run("upsert and sharing with a team", func(t *testing.T) {
		// Upsert is a create when the row is missing (owned by the
		// caller) and an update otherwise (Write access on the row).
		id, tok := se.appUser("Rules Upserter", east, basic)
		c := se.ts.api(se.url, tok)
		fresh := uuid.NewString()
		c.do(t, http.MethodPatch, "accounts("+fresh+")", map[string]any{"name": "Rules upserted"}).wantStatus(t, 204)
		if r := c.get(t, "accounts("+fresh+")?$select=_ownerid_value").wantStatus(t, 200); r.str("_ownerid_value") != id {
			t.Errorf("upserted row: %s", r.body)
		}
		c.do(t, http.MethodPatch, "accounts("+fresh+")", map[string]any{"name": "Rules upserted twice"}).wantStatus(t, 204)
		theirs := se.account("Rules upsert target", user(stranger), west)
		checkAccessDenied(t, "upsert of an existing row", c.do(t, http.MethodPatch, "accounts("+theirs+")", map[string]any{"name": "taken"}), id, security.Write, theirs, "account")
		// Shared with a team: its members get the shared rights, no more.
		team := se.team("Rules Share Team", west)
		se.member(team, id)
		se.share("account", theirs, "team", team, "ReadAccess")
		if r := c.get(t, "accounts("+theirs+")?$select=name").wantStatus(t, 200); r.str("name") != "Rules upsert target" {
			t.Errorf("row shared with the team: %s", r.body)
		}
		checkAccessDenied(t, "write a row shared for reading", c.do(t, http.MethodPatch, "accounts("+theirs+")", map[string]any{"name": "taken"}), id, security.Write, theirs, "account")
		// Sharing cannot exceed the role's privileges (§5.4): without Read
		// on contacts, a contact shared with the team stays unreadable.
		id2, tok2 := se.appUser("Rules No Contact Reader", east, se.role("Rules Accounts Only", se.tablePrivs(security.Basic, []string{schema.TableAccount})))
		se.member(team, id2)
		con := se.contact("Shared contact", user(stranger), west, "")
		se.share("contact", con, "team", team, "ReadAccess")
		other := se.ts.api(se.url, tok2)
		checkAPIError(t, other.get(t, "contacts("+con+")?$select=fullname"), http.StatusForbidden, "0x80040220", "", "prvReadContact")
		// Revoking takes the access away.
		se.admin.do(t, http.MethodPost, "RevokeAccess", map[string]any{"Target": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.account", "accountid": theirs},
			"Revokee": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.team", "teamid": team}}).wantStatus(t, 204)
		checkAccessDenied(t, "read after RevokeAccess", c.get(t, "accounts("+theirs+")?$select=name"), id, security.Read, theirs, "account")
	})

	t.Run("paging and $count under row filtering", func(t *testing.T) {
		pager := se.dirUser("Rules Pager", east, basic)
		id, tok := se.appUser("Rules Pager App", east, basic)
		_ = pager
		var visible []string
		watch := &leakWatch{}
		for i := 0; i < 30; i++ {
			name := fmt.Sprintf("pg %02d %s", i, uuid.NewString()[:8])
			switch {
			case i%4 == 1: // its own
				se.account(name, user(id), east)
				visible = append(visible, name)
			case i%4 == 2: // a neighbour's, in its business unit: Basic does not reach
				watch.hide(se.account(name, user(pager.id), east), name)
			default:
				watch.hide(se.account(name, user(stranger), west), name)
			}
		}
		sort.Strings(visible)
		c := &watched{c: se.ts.api(se.url, tok), watch: watch}
		filter := "&$filter=" + url.QueryEscape("startswith(name,'pg ')") + "&$orderby=name"
		r := c.get(t, "accounts?$select=name&$count=true"+filter, "Prefer", "odata.maxpagesize=3").wantStatus(t, 200)
		if n, _ := r.json["@odata.count"].(json.Number).Int64(); int(n) != len(visible) {
			t.Errorf("@odata.count %d, want %d", n, len(visible))
		}
		var got []string
		for pages := 1; ; pages++ {
			page := listNames(t, r, "name")
			if len(page) > 3 || len(page) == 0 {
				t.Fatalf("page %d has %d rows", pages, len(page))
			}
			got = append(got, page...)
			next := r.str("@odata.nextLink")
			if next == "" {
				if pages != (len(visible)+2)/3 {
					t.Errorf("%d pages, want %d", pages, (len(visible)+2)/3)
				}
				break
			}
			r = c.get(t, next, "Prefer", "odata.maxpagesize=3").wantStatus(t, 200)
		}
		if strings.Join(got, ",") != strings.Join(visible, ",") {
			t.Errorf("pages hold %v, want %v", got, visible)
		}
		if r := c.get(t, "accounts/$count?$filter="+url.QueryEscape("startswith(name,'pg ')")).wantStatus(t, 200); strings.TrimPrefix(string(r.body), "\ufeff") != fmt.Sprint(len(visible)) {
			t.Errorf("$count %q, want %d", r.body, len(visible))
		}
		if n := listNames(t, c.get(t, "accounts?$select=name&$top=5"+filter).wantStatus(t, 200), "name"); strings.Join(n, ",") != strings.Join(visible[:5], ",") {
			t.Errorf("$top=5: %v", n)
		}
		// The administrator sees all 30.
		if r := se.admin.get(t, "accounts/$count?$filter="+url.QueryEscape("startswith(name,'pg ')")).wantStatus(t, 200); strings.TrimPrefix(string(r.body), "\ufeff") != "30" {
			t.Errorf("administrator $count %q", r.body)
		}
	})

	t.Run("audits", func(t *testing.T) {
		auditor := se.role("Rules Auditor", map[string]security.Depth{security.PrvReadAudit: security.Global})
		_, atok := se.appUser("Rules Auditor User", root, auditor)
		au := se.ts.api(se.url, atok)
		wid, wtok := se.appUser("Rules Writer", east, basic)
		w := se.ts.api(se.url, wtok)
		// create, update, share, delete, a denied attempt, a role change
		id := w.do(t, http.MethodPost, "accounts", map[string]any{"name": "Rules audited", "description": "before"}).wantStatus(t, 204).entityID(t)
		w.do(t, http.MethodPatch, "accounts("+id+")", map[string]any{"description": "after"}).wantStatus(t, 204)
		w.do(t, http.MethodPost, "GrantAccess", grantBody("account", id, "systemuser", stranger, "ReadAccess")).wantStatus(t, 204)
		checkAccessDenied(t, "denied", w.do(t, http.MethodDelete, "accounts("+hiddenAcc+")", nil), wid, security.Delete, hiddenAcc, "account")
		w.do(t, http.MethodDelete, "accounts("+id+")", nil).wantStatus(t, 204)
		se.admin.do(t, http.MethodPost, "systemusers("+wid+")/systemuserroles_association/$ref",
			map[string]any{"@odata.id": se.url + "/api/data/v9.2/roles(" + auditor + ")"}).wantStatus(t, 204)

		r := au.get(t, "audits?$select=action,operation,objecttypecode,_userid_value,_callinguserid_value,changedata,outcome,createdon&$orderby=createdon&$filter="+
			url.QueryEscape("objectid eq "+id)).wantStatus(t, 200)
		var actions []string
		for _, v := range r.json["value"].([]any) {
			m := v.(map[string]any)
			actions = append(actions, fmt.Sprint(m["action"]))
			if m["_userid_value"] != wid || m["_callinguserid_value"] != wid || m["objecttypecode"] != "account" || m["outcome"] != "succeeded" {
				t.Errorf("audit entry %v", m)
			}
			if fmt.Sprint(m["action"]) == fmt.Sprint(schema.AuditUpdate) {
				var diff map[string]map[string]any
				if err := json.Unmarshal([]byte(m["changedata"].(string)), &diff); err != nil || diff["description"]["old"] != "before" || diff["description"]["new"] != "after" {
					t.Errorf("update changedata %v", m["changedata"])
				}
			}
		}
		sort.Strings(actions)
		if want := []string{"1", "14", "2", "3"}; strings.Join(actions, ",") != strings.Join(want, ",") {
			t.Errorf("audited actions %v, want create, update, share, delete %v", actions, want)
		}
		r = au.get(t, "audits?$select=action,outcome,changedata&$filter="+url.QueryEscape(fmt.Sprintf("objectid eq %s and action eq %d and _userid_value eq %s", hiddenAcc, schema.AuditDenied, wid))).wantStatus(t, 200)
		if v := r.json["value"].([]any); len(v) != 1 || v[0].(map[string]any)["outcome"] != "denied" || !strings.Contains(v[0].(map[string]any)["changedata"].(string), "prvDeleteAccount") {
			t.Errorf("denied attempt: %s", r.body)
		}
		r = au.get(t, "audits?$select=action,_userid_value&$filter="+url.QueryEscape(fmt.Sprintf("objectid eq %s and action eq %d", wid, schema.AuditRoleChange))).wantStatus(t, 200)
		if v := r.json["value"].([]any); len(v) != 1 || v[0].(map[string]any)["_userid_value"] != se.adminID {
			t.Errorf("role change: %s", r.body)
		}
		// Nobody writes the audit table.
		checkAPIError(t, au.do(t, http.MethodPost, "audits", map[string]any{"summary": "forged"}), http.StatusMethodNotAllowed, "", "", "")
	})
}

// auditRows reads the audit entries of a row.
func auditRows(t testing.TB, se *secEnv, objectID string) []map[string]any {
	t.Helper()
	rows, err := se.env.Data.Query(se.ctx, se.s.Table(schema.TableAudit), store.Query{
		Columns: []string{"action", "userid", "callinguserid", "outcome"}, Where: store.Compare{Column: "objectid", Op: "eq", Value: objectID}})
	if err != nil {
		t.Fatal(err)
	}
	var out []map[string]any
	for _, r := range rows {
		m := map[string]any{"action": r["action"], "outcome": r["outcome"]}
		for _, k := range []string{"userid", "callinguserid"} {
			if ref, ok := r[k].(store.Ref); ok {
				m[k] = ref.ID
			}
		}
		out = append(out, m)
	}
	return out
}
