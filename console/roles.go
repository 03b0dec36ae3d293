package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// Security roles: the list, and the privilege × depth grid editor of a
// role — for each table the eight record privileges (Create, Read, Write,
// Delete, Append, Append To, Assign, Share) at None, User (Basic),
// Business unit (Local), Parent: child business units (Deep) or
// Organization (Global), only the depths a privilege can have offered,
// plus the miscellaneous privileges.

type roleRow struct {
	ID, Name, BU string
	Managed      bool
	SysAdmin     bool
	Privileges   int
	Holders      int
}

type rolesData struct {
	Roles []roleRow
	BUs   []option
}

func isSysAdmin(row store.Row) bool {
	return strings.EqualFold(rowStr(row, "roletemplateid"), environment.TemplateSystemAdministrator)
}

func (s *Server) rolesPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	s.renderRoles(w, r, a, env, http.StatusOK, envView(env, "roles", "Security roles"))
}

func (s *Server) renderRoles(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, status int, v *view) {
	ctx := r.Context()
	sch := env.Schema()
	var d rolesData
	var buNames map[string]string
	var err error
	if d.BUs, buNames, err = s.buOptions(ctx, env); err != nil {
		s.fail(w, r, a, err)
		return
	}
	rows, err := env.Data.Query(ctx, sch.Table(schema.TableRole), store.Query{OrderBy: []store.Order{{Column: "name"}, {Column: "roleid"}}})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	for _, row := range rows {
		id := rowStr(row, "roleid")
		n, err := env.Data.Count(ctx, sch.Table(schema.TableRolePrivileges), store.Compare{Column: "roleid", Op: "eq", Value: store.Ref{ID: id}})
		if err != nil {
			s.fail(w, r, a, err)
			return
		}
		holders, err := linked(ctx, env, schema.TableSystemUser, "systemuserroles", "systemuserid", "roleid", schema.TableRole, id)
		if err != nil {
			s.fail(w, r, a, err)
			return
		}
		d.Roles = append(d.Roles, roleRow{ID: id, Name: rowStr(row, "name"), BU: buNames[rowRef(row, "businessunitid")],
			Managed: rowBool(row, "ismanaged"), SysAdmin: isSysAdmin(row), Privileges: n, Holders: len(holders)})
	}
	v.Data = d
	s.render(w, r, a, status, "roles", v)
}

func (s *Server) createRole(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	ctx := r.Context()
	f := fields{}
	name := text(r, "name")
	f.required("name", name, "a name", 100)
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	bu := r.PostFormValue("business_unit")
	if _, ok := buNames[bu]; !ok {
		f.add("business_unit", "Choose a business unit.")
	}
	if f.ok() {
		if _, err := env.RoleByName(ctx, name); err == nil {
			f.add("name", "A role named "+name+" already exists.")
		}
	}
	if !f.ok() {
		v := envView(env, "roles", "Security roles")
		v.Errors, v.Form = f, r.PostForm
		s.renderRoles(w, r, a, env, http.StatusUnprocessableEntity, v)
		return
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	t := env.Schema().Table(schema.TableRole)
	var id string
	err = env.Data.InTx(ctx, func(d store.Data) error {
		row := store.Row{"name": name, "businessunitid": store.Ref{ID: bu, Table: schema.TableBusinessUnit}, "ismanaged": false,
			"organizationid": store.Ref{ID: env.ID, Table: schema.TableOrganization}}
		if _, err := env.Insert(ctx, d, t, row, c); err != nil {
			return err
		}
		id = rowStr(row, "roleid")
		return writeAudit(ctx, d, env, c, schema.AuditCreate, 1, schema.TableRole, id, "Security role "+name+" created (console)",
			map[string]any{"name": map[string]any{"new": name}, "businessunitid": map[string]any{"new": bu}})
	})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.done(w, r, "/environments/"+env.Name+"/roles/"+id, "Role "+name+" created. It has no privileges yet: choose them below.")
}

// privCell is one privilege of the grid.
type privCell struct {
	Name    string // prvReadAccount
	Action  string // Read
	Depth   security.Depth
	Invalid bool
	can     [5]bool
}

func (p privCell) allows(d security.Depth) bool { return d == security.None || p.can[d] }

// Field is the form field of the cell.
func (p privCell) Field() string { return "p." + p.Name }

type gridRow struct {
	Table   string // display name
	Logical string
	Cells   []privCell
}

type roleData struct {
	ID, Name, BU string
	SysAdmin     bool
	Actions      []string
	Rows         []gridRow
	Misc         []privCell
	Holders      []option
}

// grid builds the grid of a role with its current depths (or, when form is
// given, the submitted ones).
func grid(ctx context.Context, env *environment.Env, roleID string) ([]gridRow, []privCell, map[string]security.Depth, error) {
	sch := env.Schema()
	rows, err := env.Data.Query(ctx, sch.Table(schema.TableRolePrivileges), store.Query{Columns: []string{"privilegeid", "privilegedepthmask"},
		Where: store.Compare{Column: "roleid", Op: "eq", Value: store.Ref{ID: roleID}}})
	if err != nil {
		return nil, nil, nil, err
	}
	byID := map[string]security.Depth{}
	for _, r := range rows {
		m, _ := r["privilegedepthmask"].(int64)
		byID[rowRef(r, "privilegeid")] = security.DepthFromMask(m)
	}
	current := map[string]security.Depth{}
	defs := map[string]security.Privilege{}
	for _, p := range security.Privileges(sch) {
		defs[p.Name] = p
		current[p.Name] = byID[p.ID]
	}
	cell := func(name, action string) privCell {
		p := defs[name]
		return privCell{Name: name, Action: action, Depth: current[name],
			can: [5]bool{true, p.CanBeBasic, p.CanBeLocal, p.CanBeDeep, true}}
	}
	tables := sch.Tables()
	slices.SortFunc(tables, func(a, b *schema.Table) int { return strings.Compare(a.DisplayName, b.DisplayName) })
	var out []gridRow
	for _, t := range tables {
		if t.LogicalName == schema.TableAudit {
			continue
		}
		g := gridRow{Table: t.DisplayName, Logical: t.LogicalName}
		for _, act := range security.Actions {
			g.Cells = append(g.Cells, cell(security.PrivilegeName(act, t), act.String()))
		}
		out = append(out, g)
	}
	var misc []privCell
	for _, n := range security.MiscPrivileges {
		misc = append(misc, cell(n, n))
	}
	return out, misc, current, nil
}

func (s *Server) role(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env) (store.Row, bool) {
	return s.pathRow(w, r, a, env, "role", schema.TableRole)
}

func (s *Server) rolePage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	row, ok := s.role(w, r, a, env)
	if !ok {
		return
	}
	s.renderRole(w, r, a, env, row, http.StatusOK, &view{}, nil)
}

func (s *Server) renderRole(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, row store.Row, status int, v *view, submitted map[string]privCell) {
	ctx := r.Context()
	id := rowStr(row, "roleid")
	rows, misc, _, err := grid(ctx, env, id)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	if submitted != nil {
		for i := range rows {
			for j, c := range rows[i].Cells {
				if sc, ok := submitted[c.Name]; ok {
					rows[i].Cells[j].Depth, rows[i].Cells[j].Invalid = sc.Depth, sc.Invalid
				}
			}
		}
		for j, c := range misc {
			if sc, ok := submitted[c.Name]; ok {
				misc[j].Depth, misc[j].Invalid = sc.Depth, sc.Invalid
			}
		}
	}
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	holders, err := linked(ctx, env, schema.TableSystemUser, "systemuserroles", "systemuserid", "roleid", schema.TableRole, id)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	d := roleData{ID: id, Name: rowStr(row, "name"), BU: buNames[rowRef(row, "businessunitid")], SysAdmin: isSysAdmin(row),
		Rows: rows, Misc: misc, Holders: holders}
	for _, act := range security.Actions {
		d.Actions = append(d.Actions, map[security.Action]string{security.AppendTo: "Append To"}[act])
		if d.Actions[len(d.Actions)-1] == "" {
			d.Actions[len(d.Actions)-1] = act.String()
		}
	}
	ev := envView(env, "roles", d.Name)
	v.Title, v.Nav, v.Env, v.EnvNav, v.Data = ev.Title, ev.Nav, ev.Env, ev.EnvNav, d
	s.render(w, r, a, status, "role", v)
}

// saveRole applies the grid: every privilege whose depth changed is
// granted at its new depth or revoked, in one transaction with one audit
// record listing the changes (old and new depth of each).
func (s *Server) saveRole(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	row, ok := s.role(w, r, a, env)
	if !ok {
		return
	}
	ctx := r.Context()
	roleID := rowStr(row, "roleid")
	if isSysAdmin(row) {
		s.done(w, r, "/environments/"+env.Name+"/roles/"+roleID, "System Administrator holds every privilege at Organization depth; it cannot be edited.")
		return
	}
	rows, misc, current, err := grid(ctx, env, roleID)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	var cells []privCell
	for _, g := range rows {
		cells = append(cells, g.Cells...)
	}
	cells = append(cells, misc...)
	submitted := map[string]privCell{}
	changes := map[string]security.Depth{}
	bad := 0
	for _, c := range cells {
		vals, sent := r.PostForm[c.Field()]
		if !sent {
			continue // not on the form: unchanged
		}
		v := ""
		if len(vals) > 0 {
			v = vals[0]
		}
		d := security.None
		ok := v == "None"
		if !ok {
			d, ok = security.ParseDepth(v)
			ok = ok && c.allows(d) && len(vals) == 1
		}
		if !ok {
			c.Invalid = true
			bad++
		} else {
			c.Depth = d
		}
		submitted[c.Name] = c
		if ok && d != current[c.Name] {
			changes[c.Name] = d
		}
	}
	if bad > 0 {
		s.renderRole(w, r, a, env, row, http.StatusUnprocessableEntity,
			&view{Problem: fmt.Sprintf("%d privilege(s) have a depth they cannot have (marked below). Nothing was saved.", bad)}, submitted)
		return
	}
	if len(changes) == 0 {
		s.done(w, r, "/environments/"+env.Name+"/roles/"+roleID, "No privilege changed.")
		return
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	names := make([]string, 0, len(changes))
	for n := range changes {
		names = append(names, n)
	}
	slices.Sort(names)
	diff := map[string]any{}
	err = env.Data.InTx(ctx, func(d store.Data) error {
		for _, n := range names {
			depth := changes[n]
			if depth == security.None {
				if err := env.Revoke(ctx, d, roleID, security.PrivilegeID(n)); err != nil && !errors.Is(err, store.ErrNotFound) {
					return err
				}
			} else if err := env.Grant(ctx, d, roleID, security.PrivilegeID(n), depth); err != nil {
				return err
			}
			diff[n] = map[string]string{"old": current[n].String(), "new": depth.String()}
		}
		summary := fmt.Sprintf("Privileges of role %s changed (console): %s", rowStr(row, "name"), strings.Join(names, ", "))
		return writeAudit(ctx, d, env, c, schema.AuditUpdate, 2, schema.TableRole, roleID, summary, map[string]any{"privileges": diff})
	})
	if err != nil {
		if msg, ok := problem(err); ok {
			s.renderRole(w, r, a, env, row, http.StatusUnprocessableEntity, &view{Problem: msg}, submitted)
			return
		}
		s.fail(w, r, a, err)
		return
	}
	s.done(w, r, "/environments/"+env.Name+"/roles/"+roleID,
		fmt.Sprintf("%d privilege(s) of %s changed. Holders of the role get the new rights within seconds.", len(changes), rowStr(row, "name")))
}
