package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// Demo application users and roles in the contoso environment.
const (
	PortalAppUserID    = "b1a2c3d4-0000-4000-8000-00000000a001"
	InventoryAppUserID = "b1a2c3d4-0000-4000-8000-00000000a002"
	PortalRole         = "Fabrikam Portal Integration"
	InventoryRole      = "Inventory Sync Integration"
)

// EnsureEnvironment seeds the demo environment: an application user for
// each demo app with its own custom security role, the contoso users
// (admin as System Administrator, the others as Basic User), and a few
// accounts and contacts. It is idempotent.
func EnsureEnvironment(ctx context.Context, env *environment.Env) error {
	s := env.Schema()
	tp := func(table string, d security.Depth, actions ...security.Action) map[string]security.Depth {
		return environment.TablePrivileges(s.Table(table), d, actions...)
	}
	portal := merge(tp(schema.TableAccount, security.Global), tp(schema.TableContact, security.Global),
		tp(schema.TableSystemUser, security.Global, security.Create, security.Read, security.Write, security.Append, security.AppendTo),
		tp(schema.TableBusinessUnit, security.Global, security.Read, security.AppendTo),
		tp(schema.TableTeam, security.Global, security.Read), tp(schema.TableRole, security.Global, security.Read),
		tp(schema.TableOrganization, security.Global, security.Read),
		map[string]security.Depth{security.PrvActOnBehalf: security.Global})
	inventory := merge(tp(schema.TableAccount, security.Global, security.Read, security.Write),
		tp(schema.TableContact, security.Local, security.Read))
	for _, a := range []struct {
		app, user, role string
		privs           map[string]security.Depth
	}{
		{PortalAppID, PortalAppUserID, PortalRole, portal},
		{InventoryAppID, InventoryAppUserID, InventoryRole, inventory},
	} {
		role, err := ensureRole(ctx, env, a.role, a.privs)
		if err != nil {
			return fmt.Errorf("demo: role %s: %w", a.role, err)
		}
		if _, err := env.UserByApplicationID(ctx, a.app); errors.Is(err, store.ErrNotFound) {
			sys := environment.Caller{UserID: env.System, BU: env.RootBU}
			if _, err := env.CreateAppUser(ctx, env.Data, environment.AppUserSpec{AppID: a.app, UserID: a.user}, sys); err != nil {
				return fmt.Errorf("demo: application user: %w", err)
			}
		} else if err != nil {
			return err
		}
		if err := env.AssignRole(ctx, a.user, role["roleid"].(string)); err != nil {
			return err
		}
	}
	if err := env.SyncUsers(ctx); err != nil {
		return err
	}
	// Two business units: bob works in Contoso West, the others in the
	// root unit; the sales role reads and writes the rows of one's own
	// business unit, so alice and bob see different accounts.
	west, err := ensureChildBU(ctx, env, WestBU)
	if err != nil {
		return err
	}
	sales := merge(tp(schema.TableAccount, security.Local), tp(schema.TableContact, security.Local))
	if _, err := ensureRole(ctx, env, SalesRole, sales); err != nil {
		return err
	}
	for _, u := range []struct{ id, role string }{{AdminID, "System Administrator"}, {AliceID, "Basic User"}, {BobID, "Basic User"},
		{AliceID, SalesRole}, {BobID, SalesRole}} {
		row, err := env.UserByObjectID(ctx, u.id)
		if err != nil {
			return fmt.Errorf("demo: user %s: %w", u.id, err)
		}
		role, err := env.RoleByName(ctx, u.role)
		if err != nil {
			return err
		}
		if err := env.AssignRole(ctx, row["systemuserid"].(string), role["roleid"].(string)); err != nil {
			return err
		}
		if u.id == BobID {
			if bu, _ := row["businessunitid"].(store.Ref); bu.ID != west {
				if _, err := env.Data.Update(ctx, s.Table(schema.TableSystemUser), row["systemuserid"].(string),
					store.Row{"businessunitid": store.Ref{ID: west, Table: schema.TableBusinessUnit}}, 0); err != nil {
					return err
				}
			}
		}
	}
	return seedRows(ctx, env, west)
}

// Demo business unit and role names.
const (
	WestBU    = "Contoso West"
	SalesRole = "Contoso Sales"
)

func merge(ms ...map[string]security.Depth) map[string]security.Depth {
	out := map[string]security.Depth{}
	for _, m := range ms {
		for k, v := range m {
			out[k] = v
		}
	}
	return out
}

// ensureRole finds or creates a role and gives it its privileges.
func ensureRole(ctx context.Context, env *environment.Env, name string, privs map[string]security.Depth) (store.Row, error) {
	role, err := env.RoleByName(ctx, name)
	if errors.Is(err, store.ErrNotFound) {
		if role, err = env.CreateRole(ctx, name); err == nil {
			err = env.GrantByName(ctx, env.Data, role["roleid"].(string), privs)
		}
	}
	return role, err
}

// ensureChildBU finds or creates a business unit under the root.
func ensureChildBU(ctx context.Context, env *environment.Env, name string) (string, error) {
	t := env.Schema().Table(schema.TableBusinessUnit)
	rows, err := env.Data.Query(ctx, t, store.Query{Columns: []string{"businessunitid"}, Where: store.Compare{Column: "name", Op: "eq", Value: name}, Limit: 1})
	if err != nil {
		return "", err
	}
	if len(rows) > 0 {
		return rows[0]["businessunitid"].(string), nil
	}
	r := store.Row{"name": name, "parentbusinessunitid": store.Ref{ID: env.RootBU, Table: schema.TableBusinessUnit}, "isdisabled": false,
		"organizationid": store.Ref{ID: env.ID, Table: schema.TableOrganization}}
	if _, err := env.Insert(ctx, env.Data, t, r, environment.Caller{UserID: env.System, BU: env.RootBU}); err != nil {
		return "", err
	}
	return r["businessunitid"].(string), nil
}

// seedRows adds a few accounts and contacts owned by the portal's
// application user, once.
func seedRows(ctx context.Context, env *environment.Env, west string) error {
	s := env.Schema()
	accounts, contacts := s.Table(schema.TableAccount), s.Table(schema.TableContact)
	n, err := env.Data.Count(ctx, accounts, nil)
	if err != nil || n > 0 {
		return err
	}
	c := environment.Caller{UserID: PortalAppUserID, BU: env.RootBU}
	return env.Data.InTx(ctx, func(d store.Data) error {
		for _, a := range []struct {
			name, city string
			revenue    float64
			employees  int64
		}{
			{"Contoso Pharmaceuticals", "Redmond", 5000000, 900},
			{"Fourth Coffee", "Seattle", 750000, 45},
			{"Litware, Inc.", "Dallas", 12000000, 2100},
			{"Adventure Works", "Santa Cruz", 3200000, 310},
		} {
			acc := store.Row{"name": a.name, "address1_city": a.city, "revenue": a.revenue, "numberofemployees": a.employees}
			if _, err := env.Insert(ctx, d, accounts, acc, c); err != nil {
				return err
			}
			first, last := "Pat", "Contact of "+a.name
			con := store.Row{"firstname": first, "lastname": last, "emailaddress1": "pat@" + fmt.Sprint(len(a.name)) + ".example.com",
				"parentcustomerid": store.Ref{ID: acc["accountid"].(string), Table: schema.TableAccount}}
			if _, err := env.Insert(ctx, d, contacts, con, c); err != nil {
				return err
			}
			if _, err := d.Update(ctx, accounts, acc["accountid"].(string), store.Row{"primarycontactid": store.Ref{ID: con["contactid"].(string), Table: schema.TableContact}}, 0); err != nil {
				return err
			}
		}
		// Rows of the two sales people, one business unit each.
		for _, o := range []struct{ user, bu, name string }{
			{AliceID, env.RootBU, "Alice's Bakery"}, {AliceID, env.RootBU, "Northwind Traders"},
			{BobID, west, "Bob's Bikes (West)"}, {BobID, west, "Tailspin Toys (West)"},
		} {
			u, err := env.UserByObjectID(ctx, o.user)
			if err != nil {
				return err
			}
			uid := u["systemuserid"].(string)
			acc := store.Row{"name": o.name, "ownerid": store.Ref{ID: uid, Table: schema.TableSystemUser},
				"owningbusinessunit": store.Ref{ID: o.bu, Table: schema.TableBusinessUnit}}
			if _, err := env.Insert(ctx, d, accounts, acc, environment.Caller{UserID: uid, BU: o.bu}); err != nil {
				return err
			}
		}
		return nil
	})
}
