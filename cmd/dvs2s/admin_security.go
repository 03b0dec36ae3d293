package main

// The security model from the command line (issue 4; reference
// dataverse.md §5): privileges of roles (grant, revoke, show), business
// units, owner teams with members and roles, moving users between business
// units, and the audit trail. Like the other environment commands they
// work on the environment databases next to a running server; the server
// caches a principal's rights for 2 s. Every change is recorded in the
// environment's audit table in the same transaction, as the SYSTEM user.

import (
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"sort"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// roleSecurityVerbs are the role commands of this file, listed with the
// role noun of admin_env.go.
var roleSecurityVerbs = []adminVerb{
	{name: "grant", synopsis: "--env <name|id> --role <name> (--privilege <prvName>... | --table <table> [--actions read,write,...]) --depth Basic|Local|Deep|Global",
		summary: "give a role privileges at a depth (replacing the depth it had)", run: roleGrant},
	{name: "revoke", synopsis: "--env <name|id> --role <name> (--privilege <prvName>... | --table <table> [--actions read,write,...])",
		summary: "take privileges away from a role", run: roleRevoke},
	{name: "show", synopsis: "--env <name|id> --role <name>", summary: "show a role's privileges as a table × action grid of depths", run: roleShow},
}

func init() {
	registerNoun(adminNoun{name: "bu", summary: "create and list business units of environments", verbs: []adminVerb{
		{name: "create", synopsis: "--env <name|id> --name <name> [--parent <name|id>]", summary: "create a business unit (under the root business unit unless --parent)", run: buCreate},
		{name: "list", synopsis: "--env <name|id>", summary: "list an environment's business units as a tree", run: buList},
	}})
	registerNoun(adminNoun{name: "team", summary: "create owner teams, add members and give them roles", verbs: []adminVerb{
		{name: "create", synopsis: "--env <name|id> --name <name> [--bu <name|id>]", summary: "create an owner team (in the root business unit unless --bu)", run: teamCreate},
		{name: "list", synopsis: "--env <name|id>", summary: "list an environment's teams with their members and roles", run: teamList},
		{name: "add-member", synopsis: "--env <name|id> --team <name|id> (--user <upn|systemuserid> | --app <client id>)", summary: "add a user or an application user to a team", run: teamAddMember},
		{name: "assign-role", synopsis: "--env <name|id> --team <name|id> --role <name>", summary: "give a team a security role (its members get its privileges)", run: teamAssignRole},
	}})
	registerNoun(adminNoun{name: "audit", summary: "read the audit trail of environments", verbs: []adminVerb{
		{name: "list", synopsis: "--env <name|id> [--table <table>] [--user <upn|systemuserid|client id>] [--action <name>] [--since <duration>] [--limit <n>]",
			summary: "list audit entries, newest first", run: auditList},
	}})
}

// --- helpers ---

// schemaTable finds a table by logical, schema or entity set name.
func (c *adminCall) schemaTable(env *environment.Env, name string) (*schema.Table, error) {
	s := env.Schema()
	if t := s.Table(strings.ToLower(name)); t != nil {
		return t, nil
	}
	if t := s.BySet(strings.ToLower(name)); t != nil {
		return t, nil
	}
	for _, t := range s.Tables() {
		if strings.EqualFold(t.SchemaName, name) {
			return t, nil
		}
	}
	var names []string
	for _, t := range s.Tables() {
		names = append(names, t.LogicalName)
	}
	sort.Strings(names)
	return nil, c.usage("--table %q is not a table of environment %s; its tables are: %s", name, env.Name, strings.Join(names, ", "))
}

// parseActions parses --actions: record privilege actions, comma
// separated ("all" or empty: the eight of them).
func (c *adminCall) parseActions(s string) ([]security.Action, error) {
	if strings.TrimSpace(s) == "" || strings.EqualFold(strings.TrimSpace(s), "all") {
		return security.Actions, nil
	}
	var out []security.Action
	for _, part := range strings.Split(s, ",") {
		p := strings.ToLower(strings.NewReplacer("-", "", "_", "", " ", "").Replace(part))
		found := false
		for _, a := range security.Actions {
			if p == strings.ToLower(a.String()) {
				if !containsAction(out, a) {
					out = append(out, a)
				}
				found = true
			}
		}
		if !found {
			return nil, c.usage("--actions: %q is not one of create, read, write, delete, append, appendto, assign, share (or all)", strings.TrimSpace(part))
		}
	}
	return out, nil
}

func containsAction(list []security.Action, a security.Action) bool {
	for _, x := range list {
		if x == a {
			return true
		}
	}
	return false
}

// parseDepthFlag parses --depth (Basic/Local/Deep/Global, or the UI names
// User, Business Unit, Parent: Child Business Units, Organization).
func (c *adminCall) parseDepthFlag(s string) (security.Depth, error) {
	if d, ok := security.ParseDepth(strings.TrimSpace(s)); ok {
		return d, nil
	}
	switch strings.ToLower(strings.NewReplacer(" ", "", "-", "", ":", "").Replace(s)) {
	case "user":
		return security.Basic, nil
	case "businessunit", "bu":
		return security.Local, nil
	case "parentchildbusinessunits", "parentchild":
		return security.Deep, nil
	case "organization", "org":
		return security.Global, nil
	}
	return security.None, c.usage("--depth %q is not one of Basic (user), Local (business unit), Deep (parent: child business units), Global (organization)", s)
}

// privilegeSelection resolves --privilege or --table/--actions to privilege
// names (the privileges must exist in the environment).
func (c *adminCall) privilegeSelection(env *environment.Env, privs adminList, table, actions string) ([]store.Row, error) {
	var names []string
	switch {
	case len(privs) > 0 && (table != "" || actions != ""):
		return nil, c.usage("give either --privilege or --table (with --actions), not both")
	case len(privs) > 0:
		for _, p := range privs {
			for _, n := range strings.Split(p, ",") {
				if n = strings.TrimSpace(n); n != "" {
					names = append(names, n)
				}
			}
		}
	case table != "":
		t, err := c.schemaTable(env, table)
		if err != nil {
			return nil, err
		}
		acts, err := c.parseActions(actions)
		if err != nil {
			return nil, err
		}
		for _, a := range acts {
			names = append(names, security.PrivilegeName(a, t))
		}
	case actions != "":
		return nil, c.usage("--actions needs --table")
	default:
		return nil, c.usage("give --privilege <prvName> or --table <table> [--actions ...]")
	}
	var rows []store.Row
	seen := map[string]bool{}
	for _, n := range names {
		r, err := env.PrivilegeByName(c.ctx, env.Data, n)
		if errors.Is(err, environment.ErrPrivilege) {
			return nil, adminErr(err, "environment %s has no privilege %q: privileges are named prv<Action><Table> (prvReadAccount, prvWriteContact, prvReadUser for systemuser) or are miscellaneous (%s); 'dvs2s role show' lists a role's",
				env.Name, n, strings.Join(security.MiscPrivileges, ", "))
		} else if err != nil {
			return nil, err
		}
		if id := r["privilegeid"].(string); !seen[id] {
			seen[id] = true
			rows = append(rows, r)
		}
	}
	return rows, nil
}

// editableRole finds a role that can be edited: not System Administrator,
// which holds every privilege implicitly (as in Dataverse, where it cannot
// be changed).
func (c *adminCall) editableRole(env *environment.Env, name string) (store.Row, error) {
	role, err := c.role(env, name)
	if err != nil {
		return nil, err
	}
	if tpl, _ := role["roletemplateid"].(string); strings.EqualFold(tpl, security.TemplateSysAdm) {
		return nil, adminErr(environment.ErrInvalid, "the System Administrator role holds every privilege at Global depth and cannot be changed")
	}
	return role, nil
}

// link associates row id1 of table t1 with row id2 of table t2 through
// the many-to-many relationship rel, with its audit record (action, on the
// first row), in one transaction; changed is false when they were linked
// already.
func (c *adminCall) link(env *environment.Env, rel string, action int, t1, id1, t2, id2 string) (changed bool, err error) {
	assoc, err := m2m(env, rel)
	if err != nil {
		return false, err
	}
	changed = true
	err = env.Data.InTx(c.ctx, func(tx store.Data) error {
		if err := tx.Associate(c.ctx, assoc, id1, id2); errors.Is(err, store.ErrConflict) {
			changed = false
			return nil
		} else if err != nil {
			return err
		}
		return c.audit(env, tx, action, t1, id1,
			map[string]any{"relationship": rel, "target": map[string]string{"table": t2, "id": id2}, "removed": false})
	})
	return changed, err
}

// audit records an administrative change in the environment's audit
// table, inside the change's transaction, as the SYSTEM user.
func (c *adminCall) audit(env *environment.Env, tx store.Data, action int, table, id string, change any) error {
	at := env.Schema().Table(schema.TableAudit)
	if at == nil {
		return nil
	}
	label, _ := at.Column("action").OptionLabel(action)
	op := map[int]int64{schema.AuditCreate: 1, schema.AuditUpdate: 2, schema.AuditDelete: 3}[action]
	if op == 0 {
		op = 2
	}
	b, _ := json.Marshal(change)
	sys := store.Ref{ID: env.System, Table: schema.TableSystemUser}
	r := store.Row{"summary": fmt.Sprintf("%s %s %s (dvs2s %s)", label, table, id, c.name), "action": int64(action), "operation": op,
		"objecttypecode": table, "objectid": id, "userid": sys, "callinguserid": sys, "changedata": string(b), "outcome": "succeeded"}
	_, err := env.Insert(c.ctx, tx, at, r, environment.Caller{UserID: env.System, BU: env.RootBU})
	return err
}

// privilegeNames maps privilege names to the table and action they are
// for (miscellaneous privileges are absent).
func privilegeNames(s *schema.Schema) map[string]struct {
	table  string
	action security.Action
} {
	out := map[string]struct {
		table  string
		action security.Action
	}{}
	for _, t := range s.Tables() {
		for _, a := range security.Actions {
			out[strings.ToLower(security.PrivilegeName(a, t))] = struct {
				table  string
				action security.Action
			}{t.LogicalName, a}
		}
	}
	return out
}

// --- role grant, revoke, show ---

// privilegeJSON is one privilege of a role in --json output.
type privilegeJSON struct {
	Name        string `json:"name"`
	PrivilegeID string `json:"privilegeid"`
	Table       string `json:"table,omitempty"`  // "" for miscellaneous privileges
	Action      string `json:"action,omitempty"` // Create, Read, ...
	Depth       string `json:"depth"`            // Basic, Local, Deep, Global
}

// roleGrantJSON is role grant's and role revoke's --json output.
type roleGrantJSON struct {
	RoleID     string          `json:"roleid"`
	RoleName   string          `json:"role_name"`
	Privileges []privilegeJSON `json:"privileges"` // granted (with the depth now held) or revoked
	// Adjusted lists privileges whose depth was raised to one they can
	// have (organization-owned tables and miscellaneous privileges are
	// Global only).
	Adjusted []string `json:"adjusted"`
	// NotHeld lists privileges revoke found the role did not hold.
	NotHeld []string `json:"not_held"`
}

// roleShowJSON is role show's --json output.
type roleShowJSON struct {
	RoleID              string          `json:"roleid"`
	Name                string          `json:"name"`
	RoleTemplateID      string          `json:"roletemplateid"`
	SystemAdministrator bool            `json:"system_administrator"` // every privilege at Global, implicitly
	Privileges          []privilegeJSON `json:"privileges"`
}

func toPrivilegeJSON(s *schema.Schema, name, id string, d security.Depth) privilegeJSON {
	p := privilegeJSON{Name: name, PrivilegeID: id, Depth: d.String()}
	if ta, ok := privilegeNames(s)[strings.ToLower(name)]; ok {
		p.Table, p.Action = ta.table, ta.action.String()
	}
	return p
}

func roleGrant(c *adminCall, args []string) error { return roleChange(c, args, true) }

func roleRevoke(c *adminCall, args []string) error { return roleChange(c, args, false) }

func roleChange(c *adminCall, args []string, grant bool) error {
	var roleName, table, actions, depthFlag *string
	var privs adminList
	required := []string{"role"}
	if grant {
		required = append(required, "depth")
	}
	_, env, closeAll, err := c.envFlags(args, required, func(fs *flag.FlagSet) {
		roleName = fs.String("role", "", "the role's name (required)")
		fs.Var(&privs, "privilege", "a privilege by name, such as prvReadAccount or prvActOnBehalfOfAnotherUser (repeatable, or comma separated)")
		table = fs.String("table", "", "or every privilege of a table (logical name, such as account) ...")
		actions = fs.String("actions", "", "... for these actions only: create, read, write, delete, append, appendto, assign, share (comma separated; default all)")
		if grant {
			depthFlag = fs.String("depth", "", "the depth: Basic (user), Local (business unit), Deep (parent: child business units) or Global (organization) (required)")
		}
	})
	if err != nil {
		return err
	}
	defer closeAll()
	var depth security.Depth
	if grant {
		if depth, err = c.parseDepthFlag(*depthFlag); err != nil {
			return err
		}
	}
	selected, err := c.privilegeSelection(env, privs, *table, *actions)
	if err != nil {
		return err
	}
	role, err := c.editableRole(env, *roleName)
	if err != nil {
		return err
	}
	roleID := role["roleid"].(string)
	s := env.Schema()
	out := roleGrantJSON{RoleID: roleID, Privileges: []privilegeJSON{}, Adjusted: []string{}, NotHeld: []string{}}
	out.RoleName, _ = role["name"].(string)
	err = env.Data.InTx(c.ctx, func(tx store.Data) error {
		var changed []map[string]any
		for _, p := range selected {
			id, name := p["privilegeid"].(string), p["name"].(string)
			if grant {
				if err := env.Grant(c.ctx, tx, roleID, id, depth); err != nil {
					return err
				}
				held, err := security.RolePrivileges(c.ctx, tx, s, store.Ref{ID: roleID})
				if err != nil {
					return err
				}
				got := depth
				for _, h := range held {
					if h.PrivilegeID == id {
						got = h.Depth
					}
				}
				if got != depth {
					out.Adjusted = append(out.Adjusted, name)
				}
				out.Privileges = append(out.Privileges, toPrivilegeJSON(s, name, id, got))
				changed = append(changed, map[string]any{"PrivilegeId": id, "PrivilegeName": name, "Depth": got.String()})
				continue
			}
			err := env.Revoke(c.ctx, tx, roleID, id)
			if errors.Is(err, store.ErrNotFound) {
				out.NotHeld = append(out.NotHeld, name)
				continue
			} else if err != nil {
				return err
			}
			out.Privileges = append(out.Privileges, toPrivilegeJSON(s, name, id, security.None))
			changed = append(changed, map[string]any{"PrivilegeId": id, "PrivilegeName": name})
		}
		if len(changed) == 0 {
			return nil
		}
		key := "privileges"
		if !grant {
			key = "removed"
		}
		return c.audit(env, tx, schema.AuditUpdate, schema.TableRole, roleID, map[string]any{key: changed})
	})
	if err != nil {
		return err
	}
	if !grant && len(out.Privileges) == 0 {
		return adminErr(store.ErrNotFound, "role %q does not hold %s", out.RoleName, strings.Join(out.NotHeld, ", "))
	}
	if c.json {
		return c.printJSON(out)
	}
	verb := "Granted"
	if !grant {
		verb = "Revoked"
	}
	fmt.Fprintf(c.stdout, "%s on role %q in environment %s:\n", verb, out.RoleName, env.Name)
	var rows [][]string
	for _, p := range out.Privileges {
		d := p.Depth
		if !grant {
			d = "-"
		}
		rows = append(rows, []string{p.Name, orDash(p.Table, "(miscellaneous)"), orDash(p.Action, "-"), d})
	}
	if err := adminTable(c.stdout, "  ", []string{"PRIVILEGE", "TABLE", "ACTION", "DEPTH"}, rows); err != nil {
		return err
	}
	if len(out.Adjusted) > 0 {
		fmt.Fprintf(c.stdout, "Note: %s cannot have depth %s (organization-owned tables and miscellaneous privileges are Global only); granted at the next depth they can have.\n", strings.Join(out.Adjusted, ", "), depth)
	}
	if len(out.NotHeld) > 0 {
		fmt.Fprintf(c.stdout, "Not held (nothing to revoke): %s\n", strings.Join(out.NotHeld, ", "))
	}
	fmt.Fprintf(c.stdout, "A running server applies this within 2 seconds.\n")
	return nil
}

func roleShow(c *adminCall, args []string) error {
	var roleName *string
	_, env, closeAll, err := c.envFlags(args, []string{"role"}, func(fs *flag.FlagSet) {
		roleName = fs.String("role", "", "the role's name (required)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	role, err := c.role(env, *roleName)
	if err != nil {
		return err
	}
	s := env.Schema()
	out := roleShowJSON{RoleID: role["roleid"].(string), Privileges: []privilegeJSON{}}
	out.Name, _ = role["name"].(string)
	out.RoleTemplateID, _ = role["roletemplateid"].(string)
	out.SystemAdministrator = strings.EqualFold(out.RoleTemplateID, security.TemplateSysAdm)
	if out.SystemAdministrator {
		for _, p := range security.Privileges(s) {
			out.Privileges = append(out.Privileges, toPrivilegeJSON(s, p.Name, p.ID, security.Global))
		}
	} else {
		held, err := security.RolePrivileges(c.ctx, env.Data, s, store.Ref{ID: out.RoleID})
		if err != nil {
			return err
		}
		for _, h := range held {
			out.Privileges = append(out.Privileges, toPrivilegeJSON(s, h.Name, h.PrivilegeID, h.Depth))
		}
	}
	sort.Slice(out.Privileges, func(i, j int) bool {
		a, b := out.Privileges[i], out.Privileges[j]
		if a.Table != b.Table {
			return a.Table < b.Table
		}
		return a.Name < b.Name
	})
	if c.json {
		return c.printJSON(out)
	}
	fmt.Fprintf(c.stdout, "Role %q in environment %s (roleid %s)\n", out.Name, env.Name, out.RoleID)
	if out.SystemAdministrator {
		fmt.Fprintf(c.stdout, "System Administrator: every privilege of every table at Global depth, implicitly.\n")
		return nil
	}
	if len(out.Privileges) == 0 {
		fmt.Fprintf(c.stdout, "No privileges: give some with 'dvs2s role grant --env %s --role %s --table <table> --actions read --depth Basic%s'.\n", env.Name, shellQuote(out.Name), c.dataArg())
		return nil
	}
	header := []string{"TABLE"}
	for _, a := range security.Actions {
		header = append(header, strings.ToUpper(a.String()))
	}
	grid := map[string]map[string]string{}
	var tables, misc []string
	var miscRows [][]string
	for _, p := range out.Privileges {
		if p.Table == "" {
			misc = append(misc, p.Name)
			miscRows = append(miscRows, []string{p.Name, p.Depth})
			continue
		}
		if grid[p.Table] == nil {
			grid[p.Table] = map[string]string{}
			tables = append(tables, p.Table)
		}
		grid[p.Table][p.Action] = p.Depth
	}
	var rows [][]string
	for _, t := range tables {
		row := []string{t}
		for _, a := range security.Actions {
			row = append(row, orDash(grid[t][a.String()], "-"))
		}
		rows = append(rows, row)
	}
	if len(rows) > 0 {
		fmt.Fprintln(c.stdout)
		if err := adminTable(c.stdout, "", header, rows); err != nil {
			return err
		}
	}
	if len(misc) > 0 {
		fmt.Fprintf(c.stdout, "\nMiscellaneous privileges:\n")
		if err := adminTable(c.stdout, "  ", []string{"PRIVILEGE", "DEPTH"}, miscRows); err != nil {
			return err
		}
	}
	fmt.Fprintf(c.stdout, "\nDepths: Basic = the user's own rows (and its teams' and shared ones), Local = its business unit, Deep = its business unit and those below, Global = the organization.\n")
	return nil
}

// --- business units ---

// buJSON is a business unit in --json output.
type buJSON struct {
	BusinessUnitID       string `json:"businessunitid"`
	Name                 string `json:"name"`
	ParentBusinessUnitID string `json:"parentbusinessunitid"` // "" for the root
	ParentName           string `json:"parent_name"`
	Level                int    `json:"level"` // 0 for the root
	Users                int    `json:"users"`
	Teams                int    `json:"teams"`
}

// businessUnit finds a business unit by id or (unique) name.
func (c *adminCall) businessUnit(env *environment.Env, ref string) (store.Row, error) {
	t := env.Schema().Table(schema.TableBusinessUnit)
	ref = strings.TrimSpace(ref)
	if directory.IsGUID(ref) {
		r, err := env.Data.Get(c.ctx, t, strings.ToLower(ref), nil)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
	}
	rows, err := env.Data.Query(c.ctx, t, store.Query{Where: store.Compare{Column: "name", Op: "eq", Value: ref}, Limit: 2})
	if err != nil {
		return nil, err
	}
	switch len(rows) {
	case 1:
		return rows[0], nil
	case 0:
		return nil, adminErr(store.ErrNotFound, "unknown business unit %q in environment %s ('dvs2s bu list --env %s' shows them)", ref, env.Name, env.Name)
	}
	return nil, adminErr(store.ErrConflict, "several business units of environment %s are named %q: give the id instead", env.Name, ref)
}

// checkName reports a usage error unless name is 1-max printable
// characters.
func (c *adminCall) checkName(flagName, name string, max int) (string, error) {
	n := strings.TrimSpace(name)
	if n == "" || len(n) > max || strings.ContainsFunc(n, func(r rune) bool { return r < ' ' || r == 0x7f }) {
		return "", c.usage("--%s %q: give 1-%d printable characters", flagName, name, max)
	}
	return n, nil
}

func buCreate(c *adminCall, args []string) error {
	var name, parent *string
	_, env, closeAll, err := c.envFlags(args, []string{"name"}, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "the business unit's name, unique in the environment (required)")
		parent = fs.String("parent", "", "the parent business unit: name or id (default: the root business unit)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	n, err := c.checkName("name", *name, 160)
	if err != nil {
		return err
	}
	parentID := env.RootBU
	if *parent != "" {
		p, err := c.businessUnit(env, *parent)
		if err != nil {
			return err
		}
		parentID = p["businessunitid"].(string)
	}
	if existing, err := c.businessUnit(env, n); err == nil {
		return adminErr(store.ErrConflict, "environment %s already has a business unit named %q (businessunitid %s)", env.Name, existing["name"], existing["businessunitid"])
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	t := env.Schema().Table(schema.TableBusinessUnit)
	r := store.Row{"name": n, "parentbusinessunitid": store.Ref{ID: parentID, Table: schema.TableBusinessUnit}, "isdisabled": false,
		"organizationid": store.Ref{ID: env.ID, Table: schema.TableOrganization}}
	err = env.Data.InTx(c.ctx, func(tx store.Data) error {
		if _, err := env.Insert(c.ctx, tx, t, r, environment.Caller{UserID: env.System, BU: env.RootBU}); err != nil {
			return err
		}
		return c.audit(env, tx, schema.AuditCreate, schema.TableBusinessUnit, r["businessunitid"].(string),
			map[string]any{"name": map[string]any{"new": n}, "parentbusinessunitid": map[string]any{"new": parentID}})
	})
	if err != nil {
		return err
	}
	all, err := c.buTree(env)
	if err != nil {
		return err
	}
	var j buJSON
	for _, b := range all {
		if b.BusinessUnitID == r["businessunitid"] {
			j = b
		}
	}
	if c.json {
		return c.printJSON(j)
	}
	fmt.Fprintf(c.stdout, "Created business unit %q in environment %s\n  businessunitid: %s\n  parent:         %s (%s)\n\nPut users in it with 'dvs2s user move --env %s --user <upn> --bu %s%s'.\n",
		j.Name, env.Name, j.BusinessUnitID, j.ParentName, j.ParentBusinessUnitID, env.Name, shellQuote(j.Name), c.dataArg())
	return nil
}

// buTree lists the business units depth first from the root, children by
// name.
func (c *adminCall) buTree(env *environment.Env) ([]buJSON, error) {
	s := env.Schema()
	rows, err := env.Data.Query(c.ctx, s.Table(schema.TableBusinessUnit), store.Query{Columns: []string{"businessunitid", "name", "parentbusinessunitid"},
		OrderBy: []store.Order{{Column: "name"}, {Column: "businessunitid"}}})
	if err != nil {
		return nil, err
	}
	count := func(table string) (map[string]int, error) {
		rs, err := env.Data.Query(c.ctx, s.Table(table), store.Query{Columns: []string{"businessunitid"}})
		m := map[string]int{}
		for _, r := range rs {
			if b, ok := r["businessunitid"].(store.Ref); ok {
				m[b.ID]++
			}
		}
		return m, err
	}
	users, err := count(schema.TableSystemUser)
	if err != nil {
		return nil, err
	}
	teams, err := count(schema.TableTeam)
	if err != nil {
		return nil, err
	}
	byID := map[string]store.Row{}
	children := map[string][]string{}
	var roots []string
	for _, r := range rows {
		id := r["businessunitid"].(string)
		byID[id] = r
		if p, ok := r["parentbusinessunitid"].(store.Ref); ok && p.ID != "" {
			children[p.ID] = append(children[p.ID], id)
		} else {
			roots = append(roots, id)
		}
	}
	var out []buJSON
	seen := map[string]bool{}
	var walk func(id string, level int)
	walk = func(id string, level int) {
		if seen[id] {
			return
		}
		seen[id] = true
		r := byID[id]
		j := buJSON{BusinessUnitID: id, Level: level, Users: users[id], Teams: teams[id]}
		j.Name, _ = r["name"].(string)
		if p, ok := r["parentbusinessunitid"].(store.Ref); ok {
			j.ParentBusinessUnitID = p.ID
			j.ParentName, _ = byID[p.ID]["name"].(string)
		}
		out = append(out, j)
		for _, ch := range children[id] {
			walk(ch, level+1)
		}
	}
	for _, r := range roots {
		walk(r, 0)
	}
	for _, r := range rows { // units whose parent is missing
		walk(r["businessunitid"].(string), 0)
	}
	return out, nil
}

func buList(c *adminCall, args []string) error {
	_, env, closeAll, err := c.envFlags(args, nil, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	out, err := c.buTree(env)
	if err != nil {
		return err
	}
	if c.json {
		if out == nil {
			out = []buJSON{}
		}
		return c.printJSON(out)
	}
	var rows [][]string
	for _, b := range out {
		rows = append(rows, []string{strings.Repeat("  ", b.Level) + b.Name, b.BusinessUnitID, strconv.Itoa(b.Users), strconv.Itoa(b.Teams)})
	}
	return c.table("No business units in environment "+env.Name+".", []string{"NAME", "BUSINESSUNITID", "USERS", "TEAMS"}, rows)
}

// --- teams ---

// memberJSON is a team member in --json output.
type memberJSON struct {
	SystemUserID string `json:"systemuserid"`
	FullName     string `json:"fullname"`
}

// teamJSON is a team in --json output.
type teamJSON struct {
	TeamID           string        `json:"teamid"`
	Name             string        `json:"name"`
	TeamType         string        `json:"teamtype"` // Owner, Access, ...
	IsDefault        bool          `json:"isdefault"`
	BusinessUnitID   string        `json:"businessunitid"`
	BusinessUnitName string        `json:"business_unit_name"`
	Members          []memberJSON  `json:"members"`
	Roles            []roleRefJSON `json:"roles"`
}

// teamChangeJSON is team add-member's and team assign-role's --json output.
type teamChangeJSON struct {
	Team teamJSON `json:"team"`
	// Changed is false when the member or role was already there.
	Changed bool `json:"changed"`
}

// team finds a team by id or (unique) name.
func (c *adminCall) team(env *environment.Env, ref string) (store.Row, error) {
	t := env.Schema().Table(schema.TableTeam)
	ref = strings.TrimSpace(ref)
	if directory.IsGUID(ref) {
		r, err := env.Data.Get(c.ctx, t, strings.ToLower(ref), nil)
		if err == nil || !errors.Is(err, store.ErrNotFound) {
			return r, err
		}
	}
	rows, err := env.Data.Query(c.ctx, t, store.Query{Where: store.Compare{Column: "name", Op: "eq", Value: ref}, Limit: 2})
	if err != nil {
		return nil, err
	}
	switch len(rows) {
	case 1:
		return rows[0], nil
	case 0:
		return nil, adminErr(store.ErrNotFound, "unknown team %q in environment %s ('dvs2s team list --env %s' shows them)", ref, env.Name, env.Name)
	}
	return nil, adminErr(store.ErrConflict, "several teams of environment %s are named %q: give the id instead", env.Name, ref)
}

func (c *adminCall) toTeamJSON(env *environment.Env, r store.Row) (teamJSON, error) {
	s := env.Schema()
	j := teamJSON{Members: []memberJSON{}, Roles: []roleRefJSON{}}
	j.TeamID, _ = r["teamid"].(string)
	j.Name, _ = r["name"].(string)
	j.IsDefault, _ = r["isdefault"].(bool)
	tt, _ := r["teamtype"].(int64)
	j.TeamType, _ = s.Table(schema.TableTeam).Column("teamtype").OptionLabel(int(tt))
	if b, ok := r["businessunitid"].(store.Ref); ok {
		j.BusinessUnitID = b.ID
		if bu, err := env.Data.Get(c.ctx, s.Table(schema.TableBusinessUnit), b.ID, []string{"name"}); err == nil {
			j.BusinessUnitName, _ = bu["name"].(string)
		}
	}
	members, err := env.Data.Query(c.ctx, s.Table(schema.TableSystemUser), store.Query{Columns: []string{"systemuserid", "fullname"},
		Where: store.Linked{Intersect: "teammembership", ThisCol: "systemuserid", OtherCol: "teamid", Target: s.Table(schema.TableTeam),
			Where: store.Compare{Column: "teamid", Op: "eq", Value: j.TeamID}},
		OrderBy: []store.Order{{Column: "fullname"}, {Column: "systemuserid"}}})
	if err != nil {
		return j, err
	}
	for _, m := range members {
		mj := memberJSON{}
		mj.SystemUserID, _ = m["systemuserid"].(string)
		mj.FullName, _ = m["fullname"].(string)
		j.Members = append(j.Members, mj)
	}
	roles, err := env.Data.Query(c.ctx, s.Table(schema.TableRole), store.Query{Columns: []string{"roleid", "name"},
		Where: store.Linked{Intersect: "teamroles", ThisCol: "roleid", OtherCol: "teamid", Target: s.Table(schema.TableTeam),
			Where: store.Compare{Column: "teamid", Op: "eq", Value: j.TeamID}},
		OrderBy: []store.Order{{Column: "name"}}})
	if err != nil {
		return j, err
	}
	for _, r := range roles {
		rj := roleRefJSON{}
		rj.RoleID, _ = r["roleid"].(string)
		rj.Name, _ = r["name"].(string)
		j.Roles = append(j.Roles, rj)
	}
	return j, nil
}

func teamCreate(c *adminCall, args []string) error {
	var name, buRef *string
	_, env, closeAll, err := c.envFlags(args, []string{"name"}, func(fs *flag.FlagSet) {
		name = fs.String("name", "", "the team's name, unique in the environment (required)")
		buRef = fs.String("bu", "", "its business unit: name or id (default: the root business unit)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	n, err := c.checkName("name", *name, 160)
	if err != nil {
		return err
	}
	buID := env.RootBU
	if *buRef != "" {
		b, err := c.businessUnit(env, *buRef)
		if err != nil {
			return err
		}
		buID = b["businessunitid"].(string)
	}
	if existing, err := c.team(env, n); err == nil {
		return adminErr(store.ErrConflict, "environment %s already has a team named %q (teamid %s)", env.Name, existing["name"], existing["teamid"])
	} else if !errors.Is(err, store.ErrNotFound) {
		return err
	}
	r := store.Row{"name": n, "teamtype": int64(0), "isdefault": false, "businessunitid": store.Ref{ID: buID, Table: schema.TableBusinessUnit},
		"organizationid": store.Ref{ID: env.ID, Table: schema.TableOrganization}}
	err = env.Data.InTx(c.ctx, func(tx store.Data) error {
		if _, err := env.Insert(c.ctx, tx, env.Schema().Table(schema.TableTeam), r, environment.Caller{UserID: env.System, BU: env.RootBU}); err != nil {
			return err
		}
		return c.audit(env, tx, schema.AuditCreate, schema.TableTeam, r["teamid"].(string),
			map[string]any{"name": map[string]any{"new": n}, "businessunitid": map[string]any{"new": buID}, "teamtype": map[string]any{"new": 0}})
	})
	if err != nil {
		return err
	}
	j, err := c.toTeamJSON(env, r)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(j)
	}
	fmt.Fprintf(c.stdout, "Created owner team %q in environment %s\n  teamid:        %s\n  business unit: %s (%s)\n\nAdd members with 'dvs2s team add-member --env %s --team %s --user <upn>%s' and give it roles with 'dvs2s team assign-role'.\n",
		j.Name, env.Name, j.TeamID, j.BusinessUnitName, j.BusinessUnitID, env.Name, shellQuote(j.Name), c.dataArg())
	return nil
}

func teamList(c *adminCall, args []string) error {
	_, env, closeAll, err := c.envFlags(args, nil, nil)
	if err != nil {
		return err
	}
	defer closeAll()
	rows, err := env.Data.Query(c.ctx, env.Schema().Table(schema.TableTeam), store.Query{OrderBy: []store.Order{{Column: "name"}, {Column: "teamid"}}})
	if err != nil {
		return err
	}
	out := []teamJSON{}
	for _, r := range rows {
		j, err := c.toTeamJSON(env, r)
		if err != nil {
			return err
		}
		out = append(out, j)
	}
	if c.json {
		return c.printJSON(out)
	}
	var table [][]string
	for _, j := range out {
		var members []string
		for _, m := range j.Members {
			members = append(members, m.FullName)
		}
		table = append(table, []string{j.Name, j.TeamID, j.TeamType, j.BusinessUnitName, orDash(strings.Join(members, ", "), "-"), roleNamesText(j.Roles)})
	}
	return c.table("No teams in environment "+env.Name+".", []string{"NAME", "TEAMID", "TYPE", "BUSINESS UNIT", "MEMBERS", "ROLES"}, table)
}

// memberRef resolves --user or --app to a systemuser.
func (c *adminCall) memberRef(d *directory.Directory, env *environment.Env, userRef, appRef string) (store.Row, error) {
	if (userRef == "") == (appRef == "") {
		return nil, c.usage("give either --user or --app")
	}
	if appRef != "" {
		if _, err := c.appClientID(appRef, nil); err != nil {
			return nil, err
		}
		return c.appUser(env, strings.ToLower(appRef))
	}
	return c.user(d, env, userRef)
}

func teamAddMember(c *adminCall, args []string) error {
	var teamRef, userRef, appRef *string
	d, env, closeAll, err := c.envFlags(args, []string{"team"}, func(fs *flag.FlagSet) {
		teamRef = fs.String("team", "", "the team: name or id (required)")
		userRef = fs.String("user", "", "the user: user principal name or systemuserid")
		appRef = fs.String("app", "", "or the application user of this app (client id)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	team, err := c.team(env, *teamRef)
	if err != nil {
		return err
	}
	u, err := c.memberRef(d, env, *userRef, *appRef)
	if err != nil {
		return err
	}
	userID, teamID := u["systemuserid"].(string), team["teamid"].(string)
	changed, err := c.link(env, "teammembership_association", schema.AuditAssociate, schema.TableSystemUser, userID, schema.TableTeam, teamID)
	if err != nil {
		return err
	}
	j, err := c.toTeamJSON(env, team)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(teamChangeJSON{Team: j, Changed: changed})
	}
	name, _ := u["fullname"].(string)
	if !changed {
		fmt.Fprintf(c.stdout, "%q (systemuserid %s) is already a member of team %q.\n", name, userID, j.Name)
		return nil
	}
	fmt.Fprintf(c.stdout, "Added %q (systemuserid %s) to team %q in environment %s; it owns the team's rows with the team, and holds its roles (%s). A running server applies this within 2 seconds.\n",
		name, userID, j.Name, env.Name, roleNamesText(j.Roles))
	return nil
}

func teamAssignRole(c *adminCall, args []string) error {
	var teamRef, roleName *string
	_, env, closeAll, err := c.envFlags(args, []string{"team", "role"}, func(fs *flag.FlagSet) {
		teamRef = fs.String("team", "", "the team: name or id (required)")
		roleName = fs.String("role", "", "the role's name (required)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	team, err := c.team(env, *teamRef)
	if err != nil {
		return err
	}
	role, err := c.role(env, *roleName)
	if err != nil {
		return err
	}
	teamID, roleID := team["teamid"].(string), role["roleid"].(string)
	changed, err := c.link(env, "teamroles_association", schema.AuditRoleChange, schema.TableTeam, teamID, schema.TableRole, roleID)
	if err != nil {
		return err
	}
	j, err := c.toTeamJSON(env, team)
	if err != nil {
		return err
	}
	if c.json {
		return c.printJSON(teamChangeJSON{Team: j, Changed: changed})
	}
	rn, _ := role["name"].(string)
	if !changed {
		fmt.Fprintf(c.stdout, "Team %q already has role %q.\n", j.Name, rn)
		return nil
	}
	fmt.Fprintf(c.stdout, "Gave role %q to team %q in environment %s; its %d members get the role's privileges. A running server applies this within 2 seconds.\n", rn, j.Name, env.Name, len(j.Members))
	return nil
}

// --- users ---

// userMoveJSON is user move's --json output.
type userMoveJSON struct {
	SystemUserID       string `json:"systemuserid"`
	FullName           string `json:"fullname"`
	BusinessUnitID     string `json:"businessunitid"`
	BusinessUnitName   string `json:"business_unit_name"`
	FromBusinessUnitID string `json:"from_businessunitid"`
	Moved              bool   `json:"moved"`      // false when already there
	RowsMoved          int    `json:"rows_moved"` // rows it owns, moved along
}

// userSecurityVerbs are the user commands of this file, listed with the
// user noun of admin_tenant.go (users of the directory).
var userSecurityVerbs = []adminVerb{
	{name: "move", synopsis: "--env <name|id> (--user <upn|systemuserid> | --app <client id>) --bu <name|id>",
		summary: "move a user or application user of an environment to another business unit, with the rows it owns", run: userMove},
}

func userMove(c *adminCall, args []string) error {
	var userRef, appRef, buRef *string
	d, env, closeAll, err := c.envFlags(args, []string{"bu"}, func(fs *flag.FlagSet) {
		userRef = fs.String("user", "", "the user: user principal name or systemuserid")
		appRef = fs.String("app", "", "or the application user of this app (client id)")
		buRef = fs.String("bu", "", "the business unit to move to: name or id (required)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	u, err := c.memberRef(d, env, *userRef, *appRef)
	if err != nil {
		return err
	}
	bu, err := c.businessUnit(env, *buRef)
	if err != nil {
		return err
	}
	s := env.Schema()
	users := s.Table(schema.TableSystemUser)
	j := userMoveJSON{BusinessUnitID: bu["businessunitid"].(string), Moved: true}
	j.SystemUserID, _ = u["systemuserid"].(string)
	j.FullName, _ = u["fullname"].(string)
	j.BusinessUnitName, _ = bu["name"].(string)
	if b, ok := u["businessunitid"].(store.Ref); ok {
		j.FromBusinessUnitID = b.ID
	}
	if j.SystemUserID == env.System {
		return adminErr(environment.ErrInvalid, "the SYSTEM user stays in the root business unit")
	}
	if j.FromBusinessUnitID == j.BusinessUnitID {
		j.Moved = false
	} else {
		newBU := store.Ref{ID: j.BusinessUnitID, Table: schema.TableBusinessUnit}
		sys := environment.Caller{UserID: env.System, BU: env.RootBU}
		err = env.Data.InTx(c.ctx, func(tx store.Data) error {
			change := store.Row{"businessunitid": newBU}
			env.Touch(users, change, u, sys)
			if _, err := tx.Update(c.ctx, users, j.SystemUserID, change, 0); err != nil {
				return err
			}
			// The rows it owns follow it (Dataverse moves them by default):
			// Local and Deep access is decided on the owner's business unit.
			for _, t := range s.Tables() {
				if t.Ownership != schema.UserOwned {
					continue
				}
				rows, err := tx.Query(c.ctx, t, store.Query{Columns: []string{t.PrimaryID}, Where: store.Compare{Column: "ownerid", Op: "eq",
					Value: store.Ref{ID: j.SystemUserID, Table: schema.TableSystemUser}}})
				if err != nil {
					return err
				}
				for _, r := range rows {
					if _, err := tx.Update(c.ctx, t, r[t.PrimaryID].(string), store.Row{"owningbusinessunit": newBU}, 0); err != nil {
						return err
					}
					j.RowsMoved++
				}
			}
			return c.audit(env, tx, schema.AuditUpdate, schema.TableSystemUser, j.SystemUserID,
				map[string]any{"businessunitid": map[string]any{"old": j.FromBusinessUnitID, "new": j.BusinessUnitID}})
		})
		if err != nil {
			return err
		}
	}
	if c.json {
		return c.printJSON(j)
	}
	if !j.Moved {
		fmt.Fprintf(c.stdout, "%q (systemuserid %s) is already in business unit %q.\n", j.FullName, j.SystemUserID, j.BusinessUnitName)
		return nil
	}
	fmt.Fprintf(c.stdout, "Moved %q (systemuserid %s) to business unit %q in environment %s, with the %d rows it owns. It keeps its roles and teams; Local and Deep privileges now reach %q. A running server applies this within 2 seconds.\n",
		j.FullName, j.SystemUserID, j.BusinessUnitName, env.Name, j.RowsMoved, j.BusinessUnitName)
	return nil
}

// --- audit ---

// auditJSON is an audit entry in --json output; the field names are the
// audit table's columns.
type auditJSON struct {
	AuditID           string          `json:"auditid"`
	CreatedOn         time.Time       `json:"createdon"`
	Action            int64           `json:"action"`
	ActionName        string          `json:"action_name"`
	Operation         int64           `json:"operation"`
	ObjectTypeCode    string          `json:"objecttypecode"`
	ObjectID          string          `json:"objectid"`
	UserID            string          `json:"userid"`
	UserName          string          `json:"user_name"`
	CallingUserID     string          `json:"callinguserid"`
	CallingUserName   string          `json:"calling_user_name"`
	Outcome           string          `json:"outcome"`
	ChangeData        json.RawMessage `json:"changedata"`
	OnBehalfOfAnother bool            `json:"impersonated"` // the calling user acted for the user
}

// parseSince parses --since: a Go duration, or a number of days ("7d").
func (c *adminCall) parseSince(s string) (time.Duration, error) {
	if s == "" {
		return 0, nil
	}
	if n, ok := strings.CutSuffix(s, "d"); ok {
		if days, err := strconv.Atoi(n); err == nil && days > 0 {
			return time.Duration(days) * 24 * time.Hour, nil
		}
	}
	d, err := time.ParseDuration(s)
	if err != nil || d <= 0 {
		return 0, c.usage("--since %q is not a positive duration such as 30m, 24h or 7d", s)
	}
	return d, nil
}

// auditUser resolves --user for audit list without provisioning anyone:
// a user principal name, a systemuserid, an Entra object id or an app's
// client id.
func (c *adminCall) auditUser(env *environment.Env, ref string) (string, error) {
	t := env.Schema().Table(schema.TableSystemUser)
	ref = strings.ToLower(strings.TrimSpace(ref))
	var where store.Cond
	if directory.IsGUID(ref) {
		where = store.Or{store.Compare{Column: "systemuserid", Op: "eq", Value: ref}, store.Compare{Column: "azureactivedirectoryobjectid", Op: "eq", Value: ref},
			store.Compare{Column: "applicationid", Op: "eq", Value: ref}}
	} else if strings.Contains(ref, "@") {
		where = store.Compare{Column: "domainname", Op: "eq", Value: ref}
	} else {
		return "", c.usage("--user %q is neither a user principal name (user@domain) nor a systemuserid, object id or client id (GUID)", ref)
	}
	rows, err := env.Data.Query(c.ctx, t, store.Query{Columns: []string{"systemuserid"}, Where: where, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(rows) == 0 {
		return "", adminErr(store.ErrNotFound, "environment %s has no user %q", env.Name, ref)
	}
	return rows[0]["systemuserid"].(string), nil
}

// auditActions maps --action names to audit actions.
var auditActions = map[string]int{"create": schema.AuditCreate, "update": schema.AuditUpdate, "delete": schema.AuditDelete, "assign": schema.AuditAssign,
	"share": schema.AuditShare, "unshare": schema.AuditUnshare, "associate": schema.AuditAssociate, "disassociate": schema.AuditDisassociate,
	"role": schema.AuditRoleChange, "denied": schema.AuditDenied}

func auditList(c *adminCall, args []string) error {
	var table, userRef, action, since *string
	var limit *int
	_, env, closeAll, err := c.envFlags(args, nil, func(fs *flag.FlagSet) {
		table = fs.String("table", "", "only entries about rows of this table (logical name, such as account)")
		userRef = fs.String("user", "", "only entries where this user acted or was acted for: user principal name, systemuserid or an app's client id")
		action = fs.String("action", "", "only this action: create, update, delete, assign, share, unshare, associate, disassociate, role, denied")
		since = fs.String("since", "", "only entries of this last period: a duration such as 30m, 24h or 7d")
		limit = fs.Int("limit", 100, "at most this many entries (the newest)")
	})
	if err != nil {
		return err
	}
	defer closeAll()
	if *limit <= 0 || *limit > 100000 {
		return c.usage("--limit %d: give 1-100000", *limit)
	}
	s := env.Schema()
	var where store.And
	if *table != "" {
		t, err := c.schemaTable(env, *table)
		if err != nil {
			return err
		}
		where = append(where, store.Compare{Column: "objecttypecode", Op: "eq", Value: t.LogicalName})
	}
	if *action != "" {
		a, ok := auditActions[strings.ToLower(*action)]
		if !ok {
			return c.usage("--action %q is not one of create, update, delete, assign, share, unshare, associate, disassociate, role, denied", *action)
		}
		where = append(where, store.Compare{Column: "action", Op: "eq", Value: int64(a)})
	}
	d, err := c.parseSince(*since)
	if err != nil {
		return err
	}
	if d > 0 {
		where = append(where, store.Compare{Column: "createdon", Op: "ge", Value: time.Now().UTC().Add(-d)})
	}
	if *userRef != "" {
		id, err := c.auditUser(env, *userRef)
		if err != nil {
			return err
		}
		ref := store.Ref{ID: id, Table: schema.TableSystemUser}
		where = append(where, store.Or{store.Compare{Column: "userid", Op: "eq", Value: ref}, store.Compare{Column: "callinguserid", Op: "eq", Value: ref}})
	}
	q := store.Query{OrderBy: []store.Order{{Column: "createdon", Desc: true}, {Column: "versionnumber", Desc: true}}, Limit: *limit}
	if len(where) > 0 {
		q.Where = where
	}
	rows, err := env.Data.Query(c.ctx, s.Table(schema.TableAudit), q)
	if err != nil {
		return err
	}
	names := map[string]string{}
	name := func(id string) string {
		if id == "" {
			return ""
		}
		if n, ok := names[id]; ok {
			return n
		}
		u, err := env.Data.Get(c.ctx, s.Table(schema.TableSystemUser), id, []string{"fullname"})
		if err == nil {
			names[id], _ = u["fullname"].(string)
		}
		return names[id]
	}
	actionCol := s.Table(schema.TableAudit).Column("action")
	out := []auditJSON{}
	for _, r := range rows {
		j := auditJSON{}
		j.AuditID, _ = r["auditid"].(string)
		j.CreatedOn, _ = r["createdon"].(time.Time)
		j.Action, _ = r["action"].(int64)
		j.ActionName, _ = actionCol.OptionLabel(int(j.Action))
		j.Operation, _ = r["operation"].(int64)
		j.ObjectTypeCode, _ = r["objecttypecode"].(string)
		j.ObjectID, _ = r["objectid"].(string)
		if u, ok := r["userid"].(store.Ref); ok {
			j.UserID, j.UserName = u.ID, name(u.ID)
		}
		if u, ok := r["callinguserid"].(store.Ref); ok {
			j.CallingUserID, j.CallingUserName = u.ID, name(u.ID)
		}
		j.OnBehalfOfAnother = j.CallingUserID != "" && j.CallingUserID != j.UserID
		j.Outcome, _ = r["outcome"].(string)
		cd, _ := r["changedata"].(string)
		if json.Valid([]byte(cd)) {
			j.ChangeData = json.RawMessage(cd)
		} else {
			b, _ := json.Marshal(cd)
			j.ChangeData = b
		}
		out = append(out, j)
	}
	if c.json {
		return c.printJSON(out)
	}
	var table2 [][]string
	for _, j := range out {
		who := orDash(j.UserName, j.UserID)
		if j.OnBehalfOfAnother {
			who += " (by " + orDash(j.CallingUserName, j.CallingUserID) + ")"
		}
		table2 = append(table2, []string{j.CreatedOn.UTC().Format("2006-01-02 15:04:05Z"), j.ActionName, j.ObjectTypeCode, orDash(j.ObjectID, "-"), who, j.Outcome})
	}
	return c.table("No audit entries in environment "+env.Name+" match.", []string{"TIME", "ACTION", "TABLE", "RECORD", "USER", "OUTCOME"}, table2)
}
