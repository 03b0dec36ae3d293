package environment

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Caller is who performs a change: the user whose rights apply, and the
// actual caller when impersonating (OnBehalfOf is then the impersonator).
type Caller struct {
	UserID     string
	BU         string // the user's business unit
	OnBehalfOf string // impersonator; "" when not impersonating
}

// Stamp fills the platform-managed columns of a new row: primary id (if
// absent), createdon/modifiedon, createdby/modifiedby (+ onbehalfby),
// owner and owning business unit (user-owned tables; ownerid defaults to
// the caller), state and status.
func (e *Env) Stamp(t *schema.Table, r store.Row, c Caller) {
	now := e.m.now()
	if _, ok := r[t.PrimaryID]; !ok {
		r[t.PrimaryID] = directory.NewID()
	}
	r["createdon"], r["modifiedon"] = now, now
	r["createdby"] = store.Ref{ID: c.UserID, Table: schema.TableSystemUser}
	r["modifiedby"] = r["createdby"]
	if c.OnBehalfOf != "" {
		r["createdonbehalfby"] = store.Ref{ID: c.OnBehalfOf, Table: schema.TableSystemUser}
		r["modifiedonbehalfby"] = r["createdonbehalfby"]
	}
	if t.Ownership == schema.UserOwned {
		if _, ok := r["ownerid"]; !ok {
			r["ownerid"] = store.Ref{ID: c.UserID, Table: schema.TableSystemUser}
		}
		if _, ok := r["owningbusinessunit"]; !ok {
			r["owningbusinessunit"] = store.Ref{ID: c.BU, Table: schema.TableBusinessUnit}
		}
		SetOwner(r)
	}
	if _, ok := r["statecode"]; !ok && t.Column("statecode") != nil {
		r["statecode"] = int64(0)
	}
	if _, ok := r["statuscode"]; !ok && t.Column("statuscode") != nil {
		r["statuscode"] = defaultStatus(t, r["statecode"])
	}
	computeNames(t, r)
}

// SetOwner derives owninguser/owningteam from ownerid.
func SetOwner(r store.Row) {
	o, ok := r["ownerid"].(store.Ref)
	if !ok {
		return
	}
	r["owninguser"], r["owningteam"] = nil, nil
	switch o.Table {
	case schema.TableTeam:
		r["owningteam"] = o
	default:
		r["owninguser"] = store.Ref{ID: o.ID, Table: schema.TableSystemUser}
	}
}

// defaultStatus is the first status option of the row's state.
func defaultStatus(t *schema.Table, state any) int64 {
	st, _ := state.(int64)
	if c := t.Column("statuscode"); c != nil {
		for _, o := range c.Options {
			if int64(o.State) == st {
				return int64(o.Value)
			}
		}
	}
	return st + 1
}

// computeNames keeps the computed full names of users and contacts.
func computeNames(t *schema.Table, r store.Row) {
	if t.LogicalName != schema.TableContact && t.LogicalName != schema.TableSystemUser {
		return
	}
	_, f := r["firstname"]
	_, l := r["lastname"]
	if !f && !l {
		return
	}
	first, _ := r["firstname"].(string)
	last, _ := r["lastname"].(string)
	r["fullname"] = strings.TrimSpace(first + " " + last)
}

// Touch fills the columns an update changes: modifiedon, modifiedby
// (+ onbehalfby), derived owner columns and full names. prev is the row
// before the change (for computed names).
func (e *Env) Touch(t *schema.Table, r store.Row, prev store.Row, c Caller) {
	r["modifiedon"] = e.m.now()
	r["modifiedby"] = store.Ref{ID: c.UserID, Table: schema.TableSystemUser}
	r["modifiedonbehalfby"] = nil
	if c.OnBehalfOf != "" {
		r["modifiedonbehalfby"] = store.Ref{ID: c.OnBehalfOf, Table: schema.TableSystemUser}
	}
	if _, ok := r["ownerid"]; ok && t.Ownership == schema.UserOwned {
		SetOwner(r)
	}
	if st, ok := r["statecode"]; ok {
		if _, set := r["statuscode"]; !set {
			r["statuscode"] = defaultStatus(t, st)
		}
	}
	if app, _ := prev["applicationid"].(string); app != "" && t.LogicalName == schema.TableSystemUser {
		return // an application user's fullname is the app's name, not "# <name>" (reference §1.5)
	}
	// The full name follows the first and last name, whichever changed.
	names := store.Row{}
	for _, k := range []string{"firstname", "lastname"} {
		if v, ok := r[k]; ok {
			names[k] = v
		} else if v, ok := prev[k]; ok {
			names[k] = v
		}
	}
	if _, f := r["firstname"]; f {
		computeNames(t, names)
	} else if _, l := r["lastname"]; l {
		computeNames(t, names)
	}
	if fn, ok := names["fullname"]; ok {
		r["fullname"] = fn
	}
}

// Insert stamps and inserts a row as caller c.
func (e *Env) Insert(ctx context.Context, d store.Data, t *schema.Table, r store.Row, c Caller) (int64, error) {
	e.Stamp(t, r, c)
	return d.Insert(ctx, t, r)
}

// first returns the first row matching where, or ErrNotFound.
func first(ctx context.Context, d store.Data, t *schema.Table, where store.Cond) (store.Row, error) {
	rows, err := d.Query(ctx, t, store.Query{Where: where, Limit: 1, OrderBy: []store.Order{{Column: "createdon"}, {Column: t.PrimaryID}}})
	if err != nil {
		return nil, err
	}
	if len(rows) == 0 {
		return nil, store.ErrNotFound
	}
	return rows[0], nil
}

// Roles returns the ids of the roles a user holds, directly or through
// teams.
func (e *Env) Roles(ctx context.Context, userID string) ([]string, error) {
	s := e.Schema()
	role := s.Table(schema.TableRole)
	rows, err := e.Data.Query(ctx, role, store.Query{Columns: []string{"roleid"}, Where: store.Or{
		store.Linked{Intersect: "systemuserroles", ThisCol: "roleid", OtherCol: "systemuserid", Target: s.Table(schema.TableSystemUser),
			Where: store.Compare{Column: "systemuserid", Op: "eq", Value: strings.ToLower(userID)}},
		store.Linked{Intersect: "teamroles", ThisCol: "roleid", OtherCol: "teamid", Target: s.Table(schema.TableTeam),
			Where: store.Linked{Intersect: "teammembership", ThisCol: "teamid", OtherCol: "systemuserid", Target: s.Table(schema.TableSystemUser),
				Where: store.Compare{Column: "systemuserid", Op: "eq", Value: strings.ToLower(userID)}}},
	}})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(rows))
	for i, r := range rows {
		out[i], _ = r["roleid"].(string)
	}
	return out, nil
}

// RoleByName finds a role of the root business unit by name
// (case-insensitive).
func (e *Env) RoleByName(ctx context.Context, name string) (store.Row, error) {
	r, err := first(ctx, e.Data, e.Schema().Table(schema.TableRole), store.Compare{Column: "name", Op: "eq", Value: name})
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("role %q: %w", name, err)
	}
	return r, err
}

// CreateRole creates a role in the root business unit.
func (e *Env) CreateRole(ctx context.Context, name string) (store.Row, error) {
	t := e.Schema().Table(schema.TableRole)
	r := store.Row{"name": name, "businessunitid": store.Ref{ID: e.RootBU, Table: schema.TableBusinessUnit}, "ismanaged": false}
	if _, err := e.Insert(ctx, e.Data, t, r, Caller{UserID: e.System, BU: e.RootBU}); err != nil {
		return nil, err
	}
	return r, nil
}

// AssignRole gives a user a role (idempotent).
func (e *Env) AssignRole(ctx context.Context, userID, roleID string) error {
	m := e.m2m("systemuserroles_association")
	err := e.Data.Associate(ctx, m, userID, roleID)
	if errors.Is(err, store.ErrConflict) {
		return nil
	}
	return err
}

func (e *Env) m2m(name string) *schema.ManyToMany {
	for _, m := range e.Schema().ManyToManys() {
		if m.SchemaName == name {
			return m
		}
	}
	return nil
}
