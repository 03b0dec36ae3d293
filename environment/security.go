package environment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// syncPrivileges creates the privilege rows of every table (eight each)
// and the miscellaneous privileges, once.
func (e *Env) syncPrivileges(ctx context.Context, d store.Data) error {
	s := e.Schema()
	t := s.Table(schema.TablePrivilege)
	existing, err := d.Query(ctx, t, store.Query{Columns: []string{"privilegeid"}})
	if err != nil {
		return err
	}
	have := map[string]bool{}
	for _, r := range existing {
		have[r["privilegeid"].(string)] = true
	}
	c := Caller{UserID: e.System, BU: e.RootBU}
	for _, p := range security.Privileges(s) {
		if have[p.ID] {
			continue
		}
		r := store.Row{"privilegeid": p.ID, "name": p.Name, "accessright": p.Right, "canbebasic": p.CanBeBasic,
			"canbelocal": p.CanBeLocal, "canbedeep": p.CanBeDeep, "canbeglobal": true}
		if _, err := e.Insert(ctx, d, t, r, c); err != nil {
			return fmt.Errorf("privilege %s: %w", p.Name, err)
		}
	}
	return nil
}

// ErrPrivilege marks an unknown privilege or a depth it cannot have.
var ErrPrivilege = errors.New("invalid privilege")

// PrivilegeByName finds a privilege row by name (case-insensitive).
func (e *Env) PrivilegeByName(ctx context.Context, d store.Data, name string) (store.Row, error) {
	r, err := first(ctx, d, e.Schema().Table(schema.TablePrivilege), store.Compare{Column: "name", Op: "eq", Value: name})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: privilege %q does not exist", ErrPrivilege, name)
	}
	return r, err
}

// Grant gives a role a privilege at a depth (replacing the depth it had).
// The depth is clamped to what the privilege allows (organization-owned
// tables and miscellaneous privileges are Global only), as Dataverse does.
func (e *Env) Grant(ctx context.Context, d store.Data, roleID, privilegeID string, depth security.Depth) error {
	s := e.Schema()
	priv, err := d.Get(ctx, s.Table(schema.TablePrivilege), privilegeID, nil)
	if errors.Is(err, store.ErrNotFound) {
		return fmt.Errorf("%w: privilege %s does not exist", ErrPrivilege, privilegeID)
	} else if err != nil {
		return err
	}
	depth = clampDepth(priv, depth)
	rp := s.Table(schema.TableRolePrivileges)
	where := store.And{store.Compare{Column: "roleid", Op: "eq", Value: store.Ref{ID: roleID}},
		store.Compare{Column: "privilegeid", Op: "eq", Value: store.Ref{ID: privilegeID}}}
	existing, err := d.Query(ctx, rp, store.Query{Columns: []string{"roleprivilegesid"}, Where: where, Limit: 1})
	if err != nil {
		return err
	}
	c := Caller{UserID: e.System, BU: e.RootBU}
	if len(existing) > 0 {
		_, err = d.Update(ctx, rp, existing[0]["roleprivilegesid"].(string), store.Row{"privilegedepthmask": depth.Mask()}, 0)
		return err
	}
	name, _ := priv["name"].(string)
	_, err = e.Insert(ctx, d, rp, store.Row{"name": name, "roleid": store.Ref{ID: roleID, Table: schema.TableRole},
		"privilegeid": store.Ref{ID: privilegeID, Table: schema.TablePrivilege}, "privilegedepthmask": depth.Mask()}, c)
	return err
}

// Revoke removes a privilege from a role (store.ErrNotFound if absent).
func (e *Env) Revoke(ctx context.Context, d store.Data, roleID, privilegeID string) error {
	rp := e.Schema().Table(schema.TableRolePrivileges)
	rows, err := d.Query(ctx, rp, store.Query{Columns: []string{"roleprivilegesid"}, Where: store.And{
		store.Compare{Column: "roleid", Op: "eq", Value: store.Ref{ID: roleID}},
		store.Compare{Column: "privilegeid", Op: "eq", Value: store.Ref{ID: privilegeID}}}})
	if err != nil {
		return err
	}
	if len(rows) == 0 {
		return store.ErrNotFound
	}
	for _, r := range rows {
		if err := d.Delete(ctx, rp, r["roleprivilegesid"].(string), 0); err != nil {
			return err
		}
	}
	return nil
}

func clampDepth(priv store.Row, d security.Depth) security.Depth {
	ok := func(col string) bool { b, _ := priv[col].(bool); return b }
	for d > security.None {
		switch {
		case d == security.Global,
			d == security.Deep && ok("canbedeep"),
			d == security.Local && ok("canbelocal"),
			d == security.Basic && ok("canbebasic"):
			return d
		}
		d++ // a depth the privilege cannot have rounds up, as in the role editor
	}
	return security.Global
}

// GrantByName grants privileges given as name → depth.
func (e *Env) GrantByName(ctx context.Context, d store.Data, roleID string, privs map[string]security.Depth) error {
	for name, depth := range privs {
		p, err := e.PrivilegeByName(ctx, d, name)
		if err != nil {
			return err
		}
		if err := e.Grant(ctx, d, roleID, p["privilegeid"].(string), depth); err != nil {
			return err
		}
	}
	return nil
}

// TablePrivileges returns the eight record privileges of a table at a
// depth, for the given actions (all when none given).
func TablePrivileges(t *schema.Table, depth security.Depth, actions ...security.Action) map[string]security.Depth {
	if len(actions) == 0 {
		actions = security.Actions
	}
	out := map[string]security.Depth{}
	for _, a := range actions {
		out[security.PrivilegeName(a, t)] = depth
	}
	return out
}

// standardRolePrivileges are the privileges of the seeded standard roles
// (System Administrator holds everything implicitly).
func (e *Env) standardRolePrivileges(template string) map[string]security.Depth {
	s := e.Schema()
	out := map[string]security.Depth{}
	merge := func(m map[string]security.Depth) {
		for k, v := range m {
			out[k] = v
		}
	}
	switch strings.ToLower(template) {
	case security.TemplateBasic:
		merge(TablePrivileges(s.Table(schema.TableAccount), security.Basic))
		merge(TablePrivileges(s.Table(schema.TableContact), security.Basic))
		for _, t := range []string{schema.TableSystemUser, schema.TableTeam, schema.TableBusinessUnit, schema.TableRole} {
			merge(TablePrivileges(s.Table(t), security.Local, security.Read))
		}
		merge(TablePrivileges(s.Table(schema.TableOrganization), security.Global, security.Read))
		merge(TablePrivileges(s.Table(schema.TablePrivilege), security.Global, security.Read))
	case security.TemplateDelegat:
		out[security.PrvActOnBehalf] = security.Global
	}
	return out
}
