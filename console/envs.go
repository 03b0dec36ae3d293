package console

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// --- environments ---

func (s *Server) tenantEnvs(r *http.Request, a *admin) ([]store.Environment, error) {
	all, err := s.c.Envs.List(r.Context())
	if err != nil {
		return nil, err
	}
	var out []store.Environment
	for _, e := range all {
		if e.TenantID == a.Tenant.ID {
			out = append(out, e)
		}
	}
	return out, nil
}

func (s *Server) envsPage(w http.ResponseWriter, r *http.Request, a *admin) {
	s.renderEnvs(w, r, a, http.StatusOK, &view{})
}

func (s *Server) renderEnvs(w http.ResponseWriter, r *http.Request, a *admin, status int, v *view) {
	envs, err := s.tenantEnvs(r, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	v.Title, v.Nav, v.Data = "Environments", "envs", envs
	s.render(w, r, a, status, "envs", v)
}

func (s *Server) createEnv(w http.ResponseWriter, r *http.Request, a *admin) {
	ctx := r.Context()
	f := fields{}
	name := strings.ToLower(text(r, "name"))
	if name == "" {
		f.add("name", "Enter a name.")
	} else if !envNameRE.MatchString(name) {
		f.add("name", "Use 1 to 40 lower-case letters, digits or hyphens, starting with a letter.")
	} else if _, err := s.c.Store.Environment(ctx, name); err == nil {
		f.add("name", "An environment named "+name+" already exists (names are unique across the server).")
	}
	if !f.ok() {
		s.renderEnvs(w, r, a, http.StatusUnprocessableEntity, &view{Errors: f, Form: r.PostForm})
		return
	}
	create := s.c.CreateEnvironment
	if create == nil {
		create = func(ctx context.Context, name, tenant string) (*environment.Env, error) {
			return s.c.Envs.Create(ctx, name, tenant, "")
		}
	}
	env, err := create(ctx, name, a.Tenant.ID)
	if err != nil {
		if msg, ok := problem(err); ok {
			s.renderEnvs(w, r, a, http.StatusUnprocessableEntity, &view{Problem: msg, Form: r.PostForm})
			return
		}
		s.fail(w, r, a, err)
		return
	}
	msg := "Environment " + env.Name + " created"
	if env.URL != "" {
		msg += " at " + env.URL
	} else {
		msg += "; it is served from the next start of the server"
	}
	s.done(w, r, "/environments/"+env.Name, msg+". Next: create the application user of your app and give it a security role.")
}

// openEnv opens the environment of the request's path; one of another
// tenant is not found.
func (s *Server) openEnv(w http.ResponseWriter, r *http.Request, a *admin) (*environment.Env, bool) {
	name := r.PathValue("env")
	if !envNameRE.MatchString(name) {
		s.notFound(w, r, a)
		return nil, false
	}
	env, err := s.c.Envs.Open(r.Context(), name)
	if err != nil {
		if errors.Is(err, store.ErrNotFound) {
			s.notFound(w, r, a)
		} else {
			s.fail(w, r, a, err)
		}
		return nil, false
	}
	if env.TenantID != a.Tenant.ID {
		s.notFound(w, r, a)
		return nil, false
	}
	return env, true
}

func envView(env *environment.Env, nav, title string) *view {
	e := env.Environment
	return &view{Title: title + " – " + env.Name, Nav: "envs", Env: &e, EnvNav: nav}
}

func (s *Server) envHome(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	http.Redirect(w, r, s.c.Prefix+"/environments/"+env.Name+"/appusers", http.StatusSeeOther)
}

// actor is the administrator's user in the environment (provisioned from
// the directory if needed), whom the console's changes are recorded as.
func (s *Server) actor(ctx context.Context, env *environment.Env, a *admin) (environment.Caller, error) {
	row, err := env.UserByObjectID(ctx, a.User.ObjectID)
	if errors.Is(err, store.ErrNotFound) {
		row, err = env.SyncUser(ctx, a.User)
	}
	if err != nil {
		return environment.Caller{}, err
	}
	id, _ := row["systemuserid"].(string)
	bu, _ := row["businessunitid"].(store.Ref)
	if bu.ID == "" {
		bu.ID = env.RootBU
	}
	return environment.Caller{UserID: id, BU: bu.ID}, nil
}

// --- lookups ---

func rowStr(r store.Row, col string) string { s, _ := r[col].(string); return s }

func rowRef(r store.Row, col string) string { ref, _ := r[col].(store.Ref); return ref.ID }

func rowBool(r store.Row, col string) bool { b, _ := r[col].(bool); return b }

type option struct{ ID, Name string }

func (s *Server) options(ctx context.Context, env *environment.Env, table string, where store.Cond) ([]option, map[string]string, error) {
	t := env.Schema().Table(table)
	rows, err := env.Data.Query(ctx, t, store.Query{Columns: []string{t.PrimaryID, t.PrimaryName}, Where: where,
		OrderBy: []store.Order{{Column: t.PrimaryName}, {Column: t.PrimaryID}}})
	if err != nil {
		return nil, nil, err
	}
	out := make([]option, 0, len(rows))
	names := map[string]string{}
	for _, r := range rows {
		o := option{ID: rowStr(r, t.PrimaryID), Name: rowStr(r, t.PrimaryName)}
		out = append(out, o)
		names[o.ID] = o.Name
	}
	return out, names, nil
}

func (s *Server) roleOptions(ctx context.Context, env *environment.Env) ([]option, map[string]string, error) {
	return s.options(ctx, env, schema.TableRole, nil)
}

func (s *Server) buOptions(ctx context.Context, env *environment.Env) ([]option, map[string]string, error) {
	return s.options(ctx, env, schema.TableBusinessUnit, nil)
}

// directRoles returns the roles assigned to a user directly.
func directRoles(ctx context.Context, env *environment.Env, userID string) ([]option, error) {
	sch := env.Schema()
	rt := sch.Table(schema.TableRole)
	rows, err := env.Data.Query(ctx, rt, store.Query{Columns: []string{"roleid", "name"}, OrderBy: []store.Order{{Column: "name"}},
		Where: store.Linked{Intersect: "systemuserroles", ThisCol: "roleid", OtherCol: "systemuserid", Target: sch.Table(schema.TableSystemUser),
			Where: store.Compare{Column: "systemuserid", Op: "eq", Value: userID}}})
	if err != nil {
		return nil, err
	}
	out := make([]option, len(rows))
	for i, r := range rows {
		out[i] = option{ID: rowStr(r, "roleid"), Name: rowStr(r, "name")}
	}
	return out, nil
}

// linked returns the rows of table linked to id through an intersect.
func linked(ctx context.Context, env *environment.Env, table, intersect, thisCol, otherCol, otherTable, id string) ([]option, error) {
	sch := env.Schema()
	t := sch.Table(table)
	ot := sch.Table(otherTable)
	rows, err := env.Data.Query(ctx, t, store.Query{Columns: []string{t.PrimaryID, t.PrimaryName}, OrderBy: []store.Order{{Column: t.PrimaryName}},
		Where: store.Linked{Intersect: intersect, ThisCol: thisCol, OtherCol: otherCol, Target: ot,
			Where: store.Compare{Column: ot.PrimaryID, Op: "eq", Value: id}}})
	if err != nil {
		return nil, err
	}
	out := make([]option, len(rows))
	for i, r := range rows {
		out[i] = option{ID: rowStr(r, t.PrimaryID), Name: rowStr(r, t.PrimaryName)}
	}
	return out, nil
}

func m2m(env *environment.Env, name string) *schema.ManyToMany {
	for _, m := range env.Schema().ManyToManys() {
		if m.SchemaName == name {
			return m
		}
	}
	return nil
}

// --- application users ---

type userRow struct {
	ID, Name, Domain, AppID, ObjectID, BU string
	Disabled                              bool
	Roles                                 []option
}

type appUsersData struct {
	Users []userRow
	BUs   []option
	Roles []option
}

func (s *Server) appUsersPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	s.renderAppUsers(w, r, a, env, http.StatusOK, envView(env, "appusers", "Application users"))
}

func (s *Server) listUsers(ctx context.Context, env *environment.Env, apps bool) ([]userRow, error) {
	t := env.Schema().Table(schema.TableSystemUser)
	where := store.Cond(store.Compare{Column: "applicationid", Op: "ne", Value: nil})
	if !apps {
		where = store.And{store.Compare{Column: "applicationid", Op: "eq", Value: nil}, store.Compare{Column: "domainname", Op: "ne", Value: "SYSTEM"}}
	}
	rows, err := env.Data.Query(ctx, t, store.Query{Where: where, OrderBy: []store.Order{{Column: "fullname"}, {Column: "systemuserid"}}, Limit: 1000})
	if err != nil {
		return nil, err
	}
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		return nil, err
	}
	out := make([]userRow, 0, len(rows))
	for _, row := range rows {
		u := userRow{ID: rowStr(row, "systemuserid"), Name: rowStr(row, "fullname"), Domain: rowStr(row, "domainname"),
			AppID: rowStr(row, "applicationid"), ObjectID: rowStr(row, "azureactivedirectoryobjectid"),
			BU: buNames[rowRef(row, "businessunitid")], Disabled: rowBool(row, "isdisabled")}
		if u.Roles, err = directRoles(ctx, env, u.ID); err != nil {
			return nil, err
		}
		out = append(out, u)
	}
	return out, nil
}

func (s *Server) renderAppUsers(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, status int, v *view) {
	ctx := r.Context()
	var d appUsersData
	var err error
	if d.Users, err = s.listUsers(ctx, env, true); err == nil {
		if d.BUs, _, err = s.buOptions(ctx, env); err == nil {
			d.Roles, _, err = s.roleOptions(ctx, env)
		}
	}
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	v.Data = d
	s.render(w, r, a, status, "appusers", v)
}

// createAppUser creates the application user of an app (which must have a
// service principal in the tenant: admin consent), optionally with a role.
func (s *Server) createAppUser(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	ctx := r.Context()
	f := fields{}
	appID := f.guid("app_id", r.PostFormValue("app_id"), "the application (client) ID")
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	_, roleNames, err := s.roleOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	bu := r.PostFormValue("business_unit")
	if _, ok := buNames[bu]; !ok {
		f.add("business_unit", "Choose a business unit.")
	}
	role := r.PostFormValue("role")
	if _, ok := roleNames[role]; role != "" && !ok {
		f.add("role", "Choose a security role, or none.")
	}
	if f.ok() {
		if _, err := env.UserByApplicationID(ctx, appID); err == nil {
			f.add("app_id", "This application already has an application user in "+env.Name+".")
		} else if _, err := env.AppUserRow(ctx, appID); err != nil {
			if errors.Is(err, environment.ErrNoConsent) {
				if _, aerr := s.c.Store.App(ctx, appID); aerr != nil {
					f.add("app_id", "No application with this ID is registered (AADSTS700016).")
				} else {
					f.add("app_id", "This application has no service principal in "+a.Tenant.Domain+": grant admin consent first (Enterprise applications).")
				}
			} else if msg, ok := problem(err); ok {
				f.add("app_id", msg)
			} else {
				s.fail(w, r, a, err)
				return
			}
		}
	}
	v := envView(env, "appusers", "Application users")
	if !f.ok() {
		v.Errors, v.Form = f, r.PostForm
		s.renderAppUsers(w, r, a, env, http.StatusUnprocessableEntity, v)
		return
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	var name string
	err = env.Data.InTx(ctx, func(d store.Data) error {
		row, err := env.CreateAppUser(ctx, d, environment.AppUserSpec{AppID: appID, BusinessUnitID: bu}, c)
		if err != nil {
			return err
		}
		id := rowStr(row, "systemuserid")
		name = rowStr(row, "fullname")
		if err := writeAudit(ctx, d, env, c, schema.AuditCreate, 1, schema.TableSystemUser, id,
			"Application user "+name+" created (console)", map[string]any{"applicationid": map[string]any{"new": appID}, "businessunitid": map[string]any{"new": bu}}); err != nil {
			return err
		}
		if role != "" {
			return s.assign(ctx, d, env, c, id, role, roleNames[role], false)
		}
		return nil
	})
	if err != nil {
		if msg, ok := problem(err); ok {
			v.Problem, v.Form = msg, r.PostForm
			s.renderAppUsers(w, r, a, env, http.StatusUnprocessableEntity, v)
			return
		}
		s.fail(w, r, a, err)
		return
	}
	msg := "Application user " + name + " created."
	if role == "" {
		msg += " It has no security role yet: every call it makes is refused (0x80042f09) until you assign one."
	}
	s.done(w, r, "/environments/"+env.Name+"/appusers", msg)
}

// assign adds (or removes) a role of a user in transaction d, audited.
func (s *Server) assign(ctx context.Context, d store.Data, env *environment.Env, c environment.Caller, userID, roleID, roleName string, remove bool) error {
	m := m2m(env, "systemuserroles_association")
	var err error
	if remove {
		err = d.Disassociate(ctx, m, userID, roleID)
	} else {
		err = d.Associate(ctx, m, userID, roleID)
	}
	if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
		return nil // already so
	}
	if err != nil {
		return err
	}
	verb := "assigned"
	if remove {
		verb = "removed"
	}
	return writeAudit(ctx, d, env, c, schema.AuditRoleChange, 2, schema.TableSystemUser, userID,
		"Role "+roleName+" "+verb+" (console)",
		map[string]any{"relationship": m.SchemaName, "target": map[string]string{"table": schema.TableRole, "id": roleID, "name": roleName}, "removed": remove})
}

// --- users of the environment ---

func (s *Server) envUsersPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	ctx := r.Context()
	// Users of the tenant are provisioned into the environment, as
	// Dataverse does from Entra ID.
	if err := env.SyncUsers(ctx); err != nil {
		s.fail(w, r, a, err)
		return
	}
	users, err := s.listUsers(ctx, env, false)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	v := envView(env, "users", "Users")
	v.Data = users
	s.render(w, r, a, http.StatusOK, "envusers", v)
}

type envUserData struct {
	User      userRow
	IsApp     bool
	Roles     []option // all roles, for the select
	TeamRoles []option
	Teams     []option
	Self      bool
}

func (s *Server) envUser(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env) (store.Row, bool) {
	id := strings.ToLower(r.PathValue("id"))
	if !directory.IsGUID(id) {
		s.notFound(w, r, a)
		return nil, false
	}
	row, err := env.Data.Get(r.Context(), env.Schema().Table(schema.TableSystemUser), id, nil)
	if err != nil || rowStr(row, "domainname") == "SYSTEM" {
		s.notFound(w, r, a)
		return nil, false
	}
	return row, true
}

func (s *Server) envUserPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	row, ok := s.envUser(w, r, a, env)
	if !ok {
		return
	}
	s.renderEnvUser(w, r, a, env, row, http.StatusOK, nil)
}

func (s *Server) renderEnvUser(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, row store.Row, status int, v *view) {
	ctx := r.Context()
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	u := userRow{ID: rowStr(row, "systemuserid"), Name: rowStr(row, "fullname"), Domain: rowStr(row, "domainname"),
		AppID: rowStr(row, "applicationid"), ObjectID: rowStr(row, "azureactivedirectoryobjectid"),
		BU: buNames[rowRef(row, "businessunitid")], Disabled: rowBool(row, "isdisabled")}
	d := envUserData{User: u, IsApp: u.AppID != "", Self: strings.EqualFold(u.ObjectID, a.User.ObjectID)}
	if d.User.Roles, err = directRoles(ctx, env, u.ID); err == nil {
		if d.Roles, _, err = s.roleOptions(ctx, env); err == nil {
			if d.Teams, err = linked(ctx, env, schema.TableTeam, "teammembership", "teamid", "systemuserid", schema.TableSystemUser, u.ID); err == nil {
				for _, t := range d.Teams {
					rs, lerr := linked(ctx, env, schema.TableRole, "teamroles", "roleid", "teamid", schema.TableTeam, t.ID)
					if lerr != nil {
						err = lerr
						break
					}
					for _, r := range rs {
						d.TeamRoles = append(d.TeamRoles, option{ID: r.ID, Name: r.Name + " (team " + t.Name + ")"})
					}
				}
			}
		}
	}
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	nav := "users"
	if d.IsApp {
		nav = "appusers"
	}
	if v == nil {
		v = &view{}
	}
	ev := envView(env, nav, u.Name)
	v.Title, v.Nav, v.Env, v.EnvNav, v.Data = ev.Title, ev.Nav, ev.Env, ev.EnvNav, d
	s.render(w, r, a, status, "envuser", v)
}

func (s *Server) setEnvUserState(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	row, ok := s.envUser(w, r, a, env)
	if !ok {
		return
	}
	ctx := r.Context()
	disable := r.PostFormValue("enabled") != "true"
	id := rowStr(row, "systemuserid")
	if disable && rowStr(row, "applicationid") == "" {
		// A user's status follows the directory (Dataverse syncs it from
		// Entra ID): disable the user in the tenant instead.
		s.done(w, r, "/environments/"+env.Name+"/users/"+id, "A user's status follows the directory: disable the user under Users instead.")
		return
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	t := env.Schema().Table(schema.TableSystemUser)
	err = env.Data.InTx(ctx, func(d store.Data) error {
		if rowBool(row, "isdisabled") == disable {
			return nil
		}
		change := store.Row{"isdisabled": disable}
		env.Touch(t, change, row, c)
		if _, err := d.Update(ctx, t, id, change, 0); err != nil {
			return err
		}
		verb := "enabled"
		if disable {
			verb = "disabled"
		}
		return writeAudit(ctx, d, env, c, schema.AuditUpdate, 2, schema.TableSystemUser, id, "User "+rowStr(row, "fullname")+" "+verb+" (console)",
			map[string]any{"isdisabled": map[string]any{"old": rowBool(row, "isdisabled"), "new": disable}})
	})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	msg := rowStr(row, "fullname") + " enabled."
	if disable {
		msg = rowStr(row, "fullname") + " disabled: its calls are refused (0x80040225) until you enable it again."
	}
	s.done(w, r, "/environments/"+env.Name+"/users/"+id, msg)
}

func (s *Server) addUserRole(w http.ResponseWriter, r *http.Request, a *admin) {
	s.changeUserRole(w, r, a, false)
}

func (s *Server) removeUserRole(w http.ResponseWriter, r *http.Request, a *admin) {
	s.changeUserRole(w, r, a, true)
}

func (s *Server) changeUserRole(w http.ResponseWriter, r *http.Request, a *admin, remove bool) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	row, ok := s.envUser(w, r, a, env)
	if !ok {
		return
	}
	ctx := r.Context()
	_, roleNames, err := s.roleOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	role := r.PostFormValue("role")
	if remove {
		role = r.PathValue("role")
	}
	if _, ok := roleNames[role]; !ok {
		s.renderEnvUser(w, r, a, env, row, http.StatusUnprocessableEntity, &view{Errors: fields{"role": "Choose a security role."}, Form: r.PostForm})
		return
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	id := rowStr(row, "systemuserid")
	if err := env.Data.InTx(ctx, func(d store.Data) error { return s.assign(ctx, d, env, c, id, role, roleNames[role], remove) }); err != nil {
		s.fail(w, r, a, err)
		return
	}
	msg := fmt.Sprintf("Role %s assigned to %s.", roleNames[role], rowStr(row, "fullname"))
	if remove {
		msg = fmt.Sprintf("Role %s removed from %s.", roleNames[role], rowStr(row, "fullname"))
	}
	s.done(w, r, "/environments/"+env.Name+"/users/"+id, msg)
}

// --- business units ---

type buRow struct {
	ID, Name, Parent, Indent string
	Depth                    int
	Users, Teams             int
}

func (s *Server) busPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	s.renderBUs(w, r, a, env, http.StatusOK, envView(env, "bus", "Business units"))
}

type busData struct {
	Units []buRow
	All   []option
}

func (s *Server) renderBUs(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, status int, v *view) {
	ctx := r.Context()
	sch := env.Schema()
	rows, err := env.Data.Query(ctx, sch.Table(schema.TableBusinessUnit), store.Query{OrderBy: []store.Order{{Column: "name"}}})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	children := map[string][]store.Row{}
	names := map[string]string{}
	for _, row := range rows {
		children[rowRef(row, "parentbusinessunitid")] = append(children[rowRef(row, "parentbusinessunitid")], row)
		names[rowStr(row, "businessunitid")] = rowStr(row, "name")
	}
	var d busData
	var walk func(parent string, depth int) error
	walk = func(parent string, depth int) error {
		for _, row := range children[parent] {
			id := rowStr(row, "businessunitid")
			nu, err := env.Data.Count(ctx, sch.Table(schema.TableSystemUser), store.Compare{Column: "businessunitid", Op: "eq", Value: store.Ref{ID: id}})
			if err != nil {
				return err
			}
			nt, err := env.Data.Count(ctx, sch.Table(schema.TableTeam), store.Compare{Column: "businessunitid", Op: "eq", Value: store.Ref{ID: id}})
			if err != nil {
				return err
			}
			d.Units = append(d.Units, buRow{ID: id, Name: rowStr(row, "name"), Parent: names[parent], Depth: depth, Indent: strings.Repeat("— ", depth), Users: nu, Teams: nt})
			d.All = append(d.All, option{ID: id, Name: strings.Repeat("— ", depth) + rowStr(row, "name")})
			if depth < 20 {
				if err := walk(id, depth+1); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if err := walk("", 0); err != nil {
		s.fail(w, r, a, err)
		return
	}
	v.Data = d
	s.render(w, r, a, status, "bus", v)
}

func (s *Server) createBU(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	ctx := r.Context()
	f := fields{}
	name := text(r, "name")
	f.required("name", name, "a name", 160)
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	parent := r.PostFormValue("parent")
	if _, ok := buNames[parent]; !ok {
		f.add("parent", "Choose the parent business unit.")
	}
	for _, n := range buNames {
		if strings.EqualFold(n, name) {
			f.add("name", "A business unit named "+name+" already exists.")
		}
	}
	if !f.ok() {
		v := envView(env, "bus", "Business units")
		v.Errors, v.Form = f, r.PostForm
		s.renderBUs(w, r, a, env, http.StatusUnprocessableEntity, v)
		return
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	t := env.Schema().Table(schema.TableBusinessUnit)
	err = env.Data.InTx(ctx, func(d store.Data) error {
		row := store.Row{"name": name, "parentbusinessunitid": store.Ref{ID: parent, Table: schema.TableBusinessUnit}, "isdisabled": false,
			"organizationid": store.Ref{ID: env.ID, Table: schema.TableOrganization}}
		if _, err := env.Insert(ctx, d, t, row, c); err != nil {
			return err
		}
		return writeAudit(ctx, d, env, c, schema.AuditCreate, 1, schema.TableBusinessUnit, rowStr(row, "businessunitid"),
			"Business unit "+name+" created (console)", map[string]any{"name": map[string]any{"new": name}, "parentbusinessunitid": map[string]any{"new": parent}})
	})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.done(w, r, "/environments/"+env.Name+"/businessunits", "Business unit "+name+" created under "+buNames[parent]+".")
}

// --- teams ---

type teamRow struct {
	ID, Name, BU, Type string
	Default            bool
	Members            int
}

type teamsData struct {
	Teams []teamRow
	BUs   []option
}

var teamTypes = map[string]string{"0": "Owner", "1": "Access"}

func (s *Server) teamsPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	s.renderTeams(w, r, a, env, http.StatusOK, envView(env, "teams", "Teams"))
}

func (s *Server) renderTeams(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, status int, v *view) {
	ctx := r.Context()
	sch := env.Schema()
	var d teamsData
	var buNames map[string]string
	var err error
	if d.BUs, buNames, err = s.buOptions(ctx, env); err != nil {
		s.fail(w, r, a, err)
		return
	}
	rows, err := env.Data.Query(ctx, sch.Table(schema.TableTeam), store.Query{OrderBy: []store.Order{{Column: "name"}}})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	for _, row := range rows {
		id := rowStr(row, "teamid")
		members, err := linked(ctx, env, schema.TableSystemUser, "teammembership", "systemuserid", "teamid", schema.TableTeam, id)
		if err != nil {
			s.fail(w, r, a, err)
			return
		}
		tt, _ := row["teamtype"].(int64)
		label, _ := sch.Table(schema.TableTeam).Column("teamtype").OptionLabel(int(tt))
		d.Teams = append(d.Teams, teamRow{ID: id, Name: rowStr(row, "name"), BU: buNames[rowRef(row, "businessunitid")], Type: label,
			Default: rowBool(row, "isdefault"), Members: len(members)})
	}
	v.Data = d
	s.render(w, r, a, status, "teams", v)
}

func (s *Server) createTeam(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	ctx := r.Context()
	f := fields{}
	name := text(r, "name")
	f.required("name", name, "a name", 160)
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	bu := r.PostFormValue("business_unit")
	if _, ok := buNames[bu]; !ok {
		f.add("business_unit", "Choose a business unit.")
	}
	typ := r.PostFormValue("type")
	if _, ok := teamTypes[typ]; !ok {
		f.add("type", "Choose Owner or Access.")
	}
	if !f.ok() {
		v := envView(env, "teams", "Teams")
		v.Errors, v.Form = f, r.PostForm
		s.renderTeams(w, r, a, env, http.StatusUnprocessableEntity, v)
		return
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	t := env.Schema().Table(schema.TableTeam)
	var id string
	err = env.Data.InTx(ctx, func(d store.Data) error {
		tt := int64(0)
		if typ == "1" {
			tt = 1
		}
		row := store.Row{"name": name, "teamtype": tt, "isdefault": false, "businessunitid": store.Ref{ID: bu, Table: schema.TableBusinessUnit},
			"organizationid": store.Ref{ID: env.ID, Table: schema.TableOrganization}}
		if _, err := env.Insert(ctx, d, t, row, c); err != nil {
			return err
		}
		id = rowStr(row, "teamid")
		return writeAudit(ctx, d, env, c, schema.AuditCreate, 1, schema.TableTeam, id, "Team "+name+" created (console)",
			map[string]any{"name": map[string]any{"new": name}, "businessunitid": map[string]any{"new": bu}, "teamtype": map[string]any{"new": tt}})
	})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	s.done(w, r, "/environments/"+env.Name+"/teams/"+id, "Team "+name+" created.")
}

type teamData struct {
	Team         teamRow
	Members      []option
	Roles        []option
	AllUsers     []option
	AllRoles     []option
	OwnerTeam    bool
	DefaultNotes bool
}

func (s *Server) team(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env) (store.Row, bool) {
	return s.pathRow(w, r, a, env, "team", schema.TableTeam)
}

// pathRow reads the row of table whose id is the path parameter param,
// answering 404 (and false) for a malformed or unknown id.
func (s *Server) pathRow(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, param, table string) (store.Row, bool) {
	id := strings.ToLower(r.PathValue(param))
	if !directory.IsGUID(id) {
		s.notFound(w, r, a)
		return nil, false
	}
	row, err := env.Data.Get(r.Context(), env.Schema().Table(table), id, nil)
	if err != nil {
		s.notFound(w, r, a)
		return nil, false
	}
	return row, true
}

func (s *Server) teamPage(w http.ResponseWriter, r *http.Request, a *admin) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	row, ok := s.team(w, r, a, env)
	if !ok {
		return
	}
	s.renderTeam(w, r, a, env, row, http.StatusOK, &view{})
}

func (s *Server) renderTeam(w http.ResponseWriter, r *http.Request, a *admin, env *environment.Env, row store.Row, status int, v *view) {
	ctx := r.Context()
	sch := env.Schema()
	_, buNames, err := s.buOptions(ctx, env)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	id := rowStr(row, "teamid")
	tt, _ := row["teamtype"].(int64)
	label, _ := sch.Table(schema.TableTeam).Column("teamtype").OptionLabel(int(tt))
	d := teamData{Team: teamRow{ID: id, Name: rowStr(row, "name"), BU: buNames[rowRef(row, "businessunitid")], Type: label, Default: rowBool(row, "isdefault")},
		OwnerTeam: tt == 0}
	if d.Members, err = linked(ctx, env, schema.TableSystemUser, "teammembership", "systemuserid", "teamid", schema.TableTeam, id); err == nil {
		if d.Roles, err = linked(ctx, env, schema.TableRole, "teamroles", "roleid", "teamid", schema.TableTeam, id); err == nil {
			if d.AllUsers, _, err = s.options(ctx, env, schema.TableSystemUser, store.Compare{Column: "domainname", Op: "ne", Value: "SYSTEM"}); err == nil {
				d.AllRoles, _, err = s.roleOptions(ctx, env)
			}
		}
	}
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	ev := envView(env, "teams", d.Team.Name)
	v.Title, v.Nav, v.Env, v.EnvNav, v.Data = ev.Title, ev.Nav, ev.Env, ev.EnvNav, d
	s.render(w, r, a, status, "team", v)
}

func (s *Server) addTeamMember(w http.ResponseWriter, r *http.Request, a *admin) {
	s.teamLink(w, r, a, "teammembership_association", "user", false)
}

func (s *Server) removeTeamMember(w http.ResponseWriter, r *http.Request, a *admin) {
	s.teamLink(w, r, a, "teammembership_association", "user", true)
}

func (s *Server) addTeamRole(w http.ResponseWriter, r *http.Request, a *admin) {
	s.teamLink(w, r, a, "teamroles_association", "role", false)
}

func (s *Server) removeTeamRole(w http.ResponseWriter, r *http.Request, a *admin) {
	s.teamLink(w, r, a, "teamroles_association", "role", true)
}

// teamLink adds or removes a team member (user) or a team role.
func (s *Server) teamLink(w http.ResponseWriter, r *http.Request, a *admin, rel, kind string, remove bool) {
	env, ok := s.openEnv(w, r, a)
	if !ok {
		return
	}
	row, ok := s.team(w, r, a, env)
	if !ok {
		return
	}
	ctx := r.Context()
	teamID := rowStr(row, "teamid")
	var names map[string]string
	var err error
	if kind == "user" {
		_, names, err = s.options(ctx, env, schema.TableSystemUser, store.Compare{Column: "domainname", Op: "ne", Value: "SYSTEM"})
	} else {
		_, names, err = s.roleOptions(ctx, env)
	}
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	other := r.PostFormValue(kind)
	if remove {
		other = r.PathValue(kind)
	}
	if _, ok := names[other]; !ok {
		label := map[string]string{"user": "Choose a user.", "role": "Choose a security role."}[kind]
		s.renderTeam(w, r, a, env, row, http.StatusUnprocessableEntity, &view{Errors: fields{kind: label}, Form: r.PostForm})
		return
	}
	if kind == "role" && !remove {
		if tt, _ := row["teamtype"].(int64); tt != 0 {
			s.renderTeam(w, r, a, env, row, http.StatusUnprocessableEntity, &view{Errors: fields{"role": "Only owner teams can hold security roles."}, Form: r.PostForm})
			return
		}
	}
	c, err := s.actor(ctx, env, a)
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	m := m2m(env, rel)
	err = env.Data.InTx(ctx, func(d store.Data) error {
		id1, id2 := other, teamID // teammembership: systemuser, team
		if kind == "role" {
			id1, id2 = teamID, other // teamroles: team, role
		}
		var err error
		if remove {
			err = d.Disassociate(ctx, m, id1, id2)
		} else {
			err = d.Associate(ctx, m, id1, id2)
		}
		if errors.Is(err, store.ErrConflict) || errors.Is(err, store.ErrNotFound) {
			return nil
		}
		if err != nil {
			return err
		}
		action := schema.AuditAssociate
		if remove {
			action = schema.AuditDisassociate
		}
		targetTable := schema.TableSystemUser
		if kind == "role" {
			action, targetTable = schema.AuditRoleChange, schema.TableRole
		}
		verb := "added to"
		if remove {
			verb = "removed from"
		}
		return writeAudit(ctx, d, env, c, action, 2, schema.TableTeam, teamID, names[other]+" "+verb+" team "+rowStr(row, "name")+" (console)",
			map[string]any{"relationship": rel, "target": map[string]string{"table": targetTable, "id": other, "name": names[other]}, "removed": remove})
	})
	if err != nil {
		s.fail(w, r, a, err)
		return
	}
	verb := " added."
	if remove {
		verb = " removed."
	}
	s.done(w, r, "/environments/"+env.Name+"/teams/"+teamID, names[other]+verb)
}

func sortOptions(o []option) {
	slices.SortFunc(o, func(a, b option) int { return strings.Compare(strings.ToLower(a.Name), strings.ToLower(b.Name)) })
}
