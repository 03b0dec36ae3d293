package demo

import (
	"context"
	"errors"
	"fmt"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
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
	for _, a := range []struct{ app, user, role string }{
		{PortalAppID, PortalAppUserID, PortalRole},
		{InventoryAppID, InventoryAppUserID, InventoryRole},
	} {
		role, err := env.RoleByName(ctx, a.role)
		if errors.Is(err, store.ErrNotFound) {
			role, err = env.CreateRole(ctx, a.role)
		}
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
	for _, u := range []struct{ id, role string }{{AdminID, "System Administrator"}, {AliceID, "Basic User"}, {BobID, "Basic User"}} {
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
	}
	return seedRows(ctx, env)
}

// seedRows adds a few accounts and contacts owned by the portal's
// application user, once.
func seedRows(ctx context.Context, env *environment.Env) error {
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
		return nil
	})
}
