package webapi

import (
	"errors"
	"net/http"
	"strings"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// The hooks below run inside the change's transaction, before or after the
// row operation: the place where platform rules (application users) and,
// with the security model, access decisions apply.

// beforeCreate validates and completes a new row.
func (s *Server) beforeCreate(q *request, t *schema.Table, r store.Row) *Error {
	if t.LogicalName == schema.TableSystemUser {
		if e := q.completeSystemUser(r); e != nil {
			return e
		}
	}
	if owner, ok := r["ownerid"].(store.Ref); ok && owner.ID != q.p.UserID && t.Ownership == schema.UserOwned {
		if e := q.ownerBusinessUnit(r); e != nil {
			return e
		}
	}
	return q.checkCreate(t, r)
}

// ownerBusinessUnit sets a row's owningbusinessunit to its owner's
// business unit (a user's or a team's), as Dataverse does on create and
// assign: the business unit that Local and Deep access is decided on
// follows the owner.
func (q *request) ownerBusinessUnit(r store.Row) *Error {
	owner := r["ownerid"].(store.Ref)
	ot := q.sch.Table(owner.Table)
	if ot == nil {
		ot = q.sch.Table(schema.TableSystemUser)
	}
	o, err := q.data().Get(q.ctx, ot, owner.ID, []string{"businessunitid"})
	if err != nil {
		return q.storeError(ot, owner.ID, err)
	}
	if bu, ok := o["businessunitid"].(store.Ref); ok {
		r["owningbusinessunit"] = store.Ref{ID: bu.ID, Table: schema.TableBusinessUnit}
	}
	return nil
}

// beforeUpdate validates a change to an existing row.
func (s *Server) beforeUpdate(q *request, t *schema.Table, prev, change store.Row) *Error {
	if t.LogicalName == schema.TableSystemUser {
		if v, ok := change["applicationid"]; ok && v != prev["applicationid"] {
			return badRequest("The applicationid of a user cannot be changed.")
		}
		if v, ok := change["azureactivedirectoryobjectid"]; ok && v != prev["azureactivedirectoryobjectid"] {
			return badRequest("The azureactivedirectoryobjectid of a user cannot be changed.")
		}
	}
	if e := q.checkUpdate(t, prev, change); e != nil {
		return e
	}
	if owner, ok := change["ownerid"].(store.Ref); ok && t.Ownership == schema.UserOwned {
		if old, _ := prev["ownerid"].(store.Ref); old.ID != owner.ID {
			return q.ownerBusinessUnit(change)
		}
	}
	return nil
}

// beforeDelete validates a delete.
func (s *Server) beforeDelete(q *request, t *schema.Table, id string) *Error {
	if t.LogicalName == schema.TableSystemUser && id == q.env.System {
		return errorf(http.StatusForbidden, "0x80048405", "Access is denied.")
	}
	return q.checkID(security.Delete, t, id)
}

// afterAssociate runs after a many-to-many link changed.
func (s *Server) afterAssociate(q *request, m *schema.ManyToMany) *Error { return nil }

// changed is called after a committed change.
func (s *Server) changed(env *environment.Env) { s.flushPrincipals() }

// completeSystemUser fills an application user created through the Web
// API (POST systemusers with applicationid, reference §1.5): the service
// principal's object id, accessmode 4, firstname "#", fullname from the
// app. Ordinary users come from the directory, not from POST.
func (q *request) completeSystemUser(r store.Row) *Error {
	appID, _ := r["applicationid"].(string)
	if appID == "" {
		return badRequest("Users are provisioned from the tenant's directory; create application users with an applicationid.")
	}
	fields, err := q.env.AppUserRow(q.ctx, appID)
	if err != nil {
		switch {
		case errors.Is(err, environment.ErrNoConsent), errors.Is(err, environment.ErrInvalid):
			return badRequest("%s", err.Error())
		case errors.Is(err, store.ErrConflict):
			return errorf(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists: %s.",
				strings.TrimPrefix(err.Error(), store.ErrConflict.Error()+": "))
		}
		return q.internal(err)
	}
	for k, v := range fields {
		if _, set := r[k]; !set || k == "azureactivedirectoryobjectid" || k == "accessmode" || k == "firstname" {
			r[k] = v
		}
	}
	return nil
}
