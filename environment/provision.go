package environment

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// provision loads the schema (system tables plus custom ones kept in the
// environment's metadata), syncs the SQL tables, and seeds the rows every
// environment has: organization, SYSTEM user, root business unit, default
// team and the standard roles. It is idempotent.
func (e *Env) provision(ctx context.Context) error {
	s, err := e.loadSchema(ctx)
	if err != nil {
		return err
	}
	if err := e.Data.Sync(ctx, s); err != nil {
		return err
	}
	e.schema.Store(s)
	return e.Data.InTx(ctx, func(d store.Data) error { return e.seed(ctx, d) })
}

// customPrefix is the metadata key prefix of custom table definitions.
const customPrefix = "table/"

// CustomTable is the stored definition of a custom table and its
// relationships.
type CustomTable struct {
	Table         *schema.Table          `json:"table"`
	Relationships []*schema.Relationship `json:"relationships"`
}

func (e *Env) loadSchema(ctx context.Context) (*schema.Schema, error) {
	sys := schema.System()
	docs, err := e.Data.Meta(ctx, customPrefix)
	if err != nil {
		return nil, err
	}
	if len(docs) == 0 {
		return sys, nil
	}
	var tables []*schema.Table
	var rels []*schema.Relationship
	for k, b := range docs {
		var ct CustomTable
		if err := json.Unmarshal(b, &ct); err != nil || ct.Table == nil {
			return nil, fmt.Errorf("custom table %s: bad definition: %v", k, err)
		}
		tables = append(tables, ct.Table)
		rels = append(rels, ct.Relationships...)
	}
	return sys.With(tables, rels, nil)
}

// AddTable adds a custom table: it is stored in the environment's metadata,
// its SQL table created, and the schema swapped.
func (e *Env) AddTable(ctx context.Context, t *schema.Table, rels []*schema.Relationship) error {
	cur := e.Schema()
	next, err := cur.With([]*schema.Table{t}, rels, nil)
	if err != nil {
		return fmt.Errorf("%w: %v", ErrInvalid, err)
	}
	b, err := json.Marshal(CustomTable{Table: t, Relationships: rels})
	if err != nil {
		return err
	}
	if err := e.Data.Sync(ctx, next); err != nil {
		return err
	}
	if err := e.Data.SetMeta(ctx, customPrefix+t.LogicalName, b); err != nil {
		return err
	}
	if err := e.touchSchema(ctx); err != nil { // see schemasync.go
		return err
	}
	e.schema.Store(next)
	return e.Data.InTx(ctx, func(d store.Data) error { return e.syncPrivileges(ctx, d) })
}

func (e *Env) seed(ctx context.Context, d store.Data) error {
	s := e.Schema()
	org, users, bus, teams, roles := s.Table(schema.TableOrganization), s.Table(schema.TableSystemUser),
		s.Table(schema.TableBusinessUnit), s.Table(schema.TableTeam), s.Table(schema.TableRole)

	// The SYSTEM user creates the seeded rows.
	sys, err := first(ctx, d, users, store.Compare{Column: "domainname", Op: "eq", Value: "SYSTEM"})
	switch {
	case err == nil:
		e.System = sys["systemuserid"].(string)
	case errors.Is(err, store.ErrNotFound):
		e.System = directory.NewID()
	default:
		return err
	}
	bu, err := first(ctx, d, bus, store.Compare{Column: "parentbusinessunitid", Op: "eq", Value: nil})
	switch {
	case err == nil:
		e.RootBU = bu["businessunitid"].(string)
	case errors.Is(err, store.ErrNotFound):
		e.RootBU = directory.NewID()
	default:
		return err
	}
	c := Caller{UserID: e.System, BU: e.RootBU}
	orgRef := store.Ref{ID: e.ID, Table: schema.TableOrganization}
	buRef := store.Ref{ID: e.RootBU, Table: schema.TableBusinessUnit}
	if _, err := d.Get(ctx, org, e.ID, []string{"organizationid"}); errors.Is(err, store.ErrNotFound) {
		if _, err := e.Insert(ctx, d, org, store.Row{"organizationid": e.ID, "name": e.Name}, c); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := d.Get(ctx, bus, e.RootBU, []string{"businessunitid"}); errors.Is(err, store.ErrNotFound) {
		if _, err := e.Insert(ctx, d, bus, store.Row{"businessunitid": e.RootBU, "name": e.Name, "isdisabled": false, "organizationid": orgRef}, c); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := d.Get(ctx, users, e.System, []string{"systemuserid"}); errors.Is(err, store.ErrNotFound) {
		if _, err := e.Insert(ctx, d, users, store.Row{"systemuserid": e.System, "firstname": "", "lastname": "SYSTEM", "domainname": "SYSTEM",
			"accessmode": int64(1), "isdisabled": false, "businessunitid": buRef, "organizationid": orgRef}, c); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if _, err := first(ctx, d, teams, store.And{store.Compare{Column: "isdefault", Op: "eq", Value: true},
		store.Compare{Column: "businessunitid", Op: "eq", Value: buRef}}); errors.Is(err, store.ErrNotFound) {
		if _, err := e.Insert(ctx, d, teams, store.Row{"name": e.Name, "teamtype": int64(0), "isdefault": true,
			"businessunitid": buRef, "organizationid": orgRef}, c); err != nil {
			return err
		}
	} else if err != nil {
		return err
	}
	if err := e.syncPrivileges(ctx, d); err != nil {
		return err
	}
	for _, sr := range StandardRoles {
		_, err := first(ctx, d, roles, store.Compare{Column: "roletemplateid", Op: "eq", Value: sr.Template})
		if errors.Is(err, store.ErrNotFound) {
			r := store.Row{"name": sr.Name, "roletemplateid": sr.Template, "businessunitid": buRef, "ismanaged": true, "organizationid": orgRef}
			if _, err = e.Insert(ctx, d, roles, r, c); err == nil {
				err = e.GrantByName(ctx, d, r["roleid"].(string), e.standardRolePrivileges(sr.Template))
			}
		}
		if err != nil {
			return err
		}
	}
	return nil
}

// UserByObjectID finds the systemuser with azureactivedirectoryobjectid.
func (e *Env) UserByObjectID(ctx context.Context, oid string) (store.Row, error) {
	return first(ctx, e.Data, e.Schema().Table(schema.TableSystemUser),
		store.Compare{Column: "azureactivedirectoryobjectid", Op: "eq", Value: strings.ToLower(oid)})
}

// UserByApplicationID finds the application user of an app.
func (e *Env) UserByApplicationID(ctx context.Context, appID string) (store.Row, error) {
	return first(ctx, e.Data, e.Schema().Table(schema.TableSystemUser),
		store.Compare{Column: "applicationid", Op: "eq", Value: strings.ToLower(appID)})
}

// ErrNoConsent is returned when an application user is requested for an
// app that has no service principal in the environment's tenant.
var ErrNoConsent = errors.New("the application has no service principal in the environment's tenant")

// AppUserSpec is what creating an application user takes.
type AppUserSpec struct {
	AppID          string
	BusinessUnitID string // "" for the root business unit
	UserID         string // "" for a new id
}

// AppUserRow returns the columns of a new application user of an app
// (reference §1.5): azureactivedirectoryobjectid is the app's service
// principal in the environment's tenant, accessmode 4 (non-interactive),
// firstname "#", fullname the app's name. It fails with ErrNoConsent when
// the app has no service principal there, and store.ErrConflict when the
// app already has an application user.
func (e *Env) AppUserRow(ctx context.Context, appID string) (store.Row, error) {
	appID = strings.ToLower(appID)
	if !directory.IsGUID(appID) {
		return nil, fmt.Errorf("%w: applicationid %q is not a GUID", ErrInvalid, appID)
	}
	app, err := e.m.Store.App(ctx, appID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: application %s is not registered in any tenant", ErrNoConsent, appID)
	} else if err != nil {
		return nil, err
	}
	sp, err := e.m.Store.ServicePrincipal(ctx, e.TenantID, appID)
	if errors.Is(err, store.ErrNotFound) {
		return nil, fmt.Errorf("%w: application %s (%s) has no service principal in tenant %s; an administrator of that tenant must grant admin consent first",
			ErrNoConsent, app.DisplayName, appID, e.TenantID)
	} else if err != nil {
		return nil, err
	}
	if _, err := e.UserByApplicationID(ctx, appID); err == nil {
		return nil, fmt.Errorf("%w: an application user for application %s already exists in environment %s", store.ErrConflict, appID, e.Name)
	}
	tenant, _ := e.m.Store.Tenant(ctx, e.TenantID)
	r := store.Row{
		"applicationid":                appID,
		"azureactivedirectoryobjectid": sp.ObjectID,
		"accessmode":                   int64(4),
		"firstname":                    "#",
		"lastname":                     app.DisplayName,
		"fullname":                     app.DisplayName, // the application's name, not "# name"
		"domainname":                   appID + "@" + tenant.Domain,
		"internalemailaddress":         appID + "@" + tenant.Domain,
		"isdisabled":                   false,
		"businessunitid":               store.Ref{ID: e.RootBU, Table: schema.TableBusinessUnit},
		"organizationid":               store.Ref{ID: e.ID, Table: schema.TableOrganization},
	}
	if len(app.IdentifierURIs) > 0 {
		r["applicationiduri"] = app.IdentifierURIs[0]
	}
	return r, nil
}

// CreateAppUser creates the application user of an app (see AppUserRow).
// At most one per app (store.ErrConflict).
func (e *Env) CreateAppUser(ctx context.Context, d store.Data, spec AppUserSpec, c Caller) (store.Row, error) {
	r, err := e.AppUserRow(ctx, spec.AppID)
	if err != nil {
		return nil, err
	}
	if spec.BusinessUnitID != "" {
		r["businessunitid"] = store.Ref{ID: strings.ToLower(spec.BusinessUnitID), Table: schema.TableBusinessUnit}
	}
	if spec.UserID != "" {
		r["systemuserid"] = strings.ToLower(spec.UserID)
	}
	t := e.Schema().Table(schema.TableSystemUser)
	name := r["fullname"]
	e.Stamp(t, r, c)
	r["fullname"] = name
	_, err = d.Insert(ctx, t, r)
	return r, err
}

// SyncUser creates or updates the systemuser of a directory user of the
// environment's tenant (Dataverse provisions users from Entra ID).
func (e *Env) SyncUser(ctx context.Context, u store.User) (store.Row, error) {
	if u.TenantID != e.TenantID {
		return nil, fmt.Errorf("%w: user %s is not in the environment's tenant", ErrInvalid, u.UPN)
	}
	t := e.Schema().Table(schema.TableSystemUser)
	first, last, _ := strings.Cut(u.DisplayName, " ")
	if last == "" {
		first, last = "", u.DisplayName
	}
	fields := store.Row{"firstname": first, "lastname": last, "domainname": u.UPN, "internalemailaddress": u.UPN, "isdisabled": !u.Enabled}
	existing, err := e.UserByObjectID(ctx, u.ObjectID)
	switch {
	case err == nil:
		id := existing["systemuserid"].(string)
		same := true
		for k, v := range fields {
			if existing[k] != v {
				same = false
			}
		}
		if same {
			return existing, nil
		}
		e.Touch(t, fields, existing, Caller{UserID: e.System, BU: e.RootBU})
		if _, err := e.Data.Update(ctx, t, id, fields, 0); err != nil {
			return nil, err
		}
		return e.Data.Get(ctx, t, id, nil)
	case errors.Is(err, store.ErrNotFound):
		fields["azureactivedirectoryobjectid"] = u.ObjectID
		fields["accessmode"] = int64(0)
		fields["businessunitid"] = store.Ref{ID: e.RootBU, Table: schema.TableBusinessUnit}
		fields["organizationid"] = store.Ref{ID: e.ID, Table: schema.TableOrganization}
		if _, err := e.Insert(ctx, e.Data, t, fields, Caller{UserID: e.System, BU: e.RootBU}); err != nil {
			return nil, err
		}
		return fields, nil
	default:
		return nil, err
	}
}

// SyncUsers syncs every user of the environment's tenant.
func (e *Env) SyncUsers(ctx context.Context) error {
	users, err := e.m.Store.ListUsers(ctx, e.TenantID)
	if err != nil {
		return err
	}
	for _, u := range users {
		if _, err := e.SyncUser(ctx, u); err != nil {
			return fmt.Errorf("sync user %s: %w", u.UPN, err)
		}
	}
	return nil
}
