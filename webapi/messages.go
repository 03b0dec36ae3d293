package webapi

import (
	"encoding/json"
	"net/http"
	"strings"

	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// Messages of the security model: the role-privilege actions and
// functions bound to roles and users, and the sharing actions (reference
// §5.1; Web API action/function reference).

const nsCRM = "Microsoft.Dynamics.CRM"

func init() {
	unbound["GrantAccess"] = (*request).grantAccess
	unbound["ModifyAccess"] = (*request).grantAccess
	unbound["RevokeAccess"] = (*request).revokeAccess
}

// unbound are unbound actions/functions added by this file (registered
// into Server.functions by New).
var unbound = map[string]func(*request, []odata.Segment){}

// boundOperation serves set(id)/Microsoft.Dynamics.CRM.<Name>.
func (q *request) boundOperation(t *schema.Table, id string, seg *odata.Segment) {
	switch {
	case t.LogicalName == schema.TableRole && q.r.Method == http.MethodPost &&
		(seg.Name == "AddPrivilegesRole" || seg.Name == "ReplacePrivilegesRole"):
		q.changeRolePrivileges(id, seg.Name == "ReplacePrivilegesRole")
	case t.LogicalName == schema.TableRole && q.r.Method == http.MethodPost && seg.Name == "RemovePrivilegeRole":
		q.removeRolePrivilege(id)
	case t.LogicalName == schema.TableRole && q.r.Method == http.MethodGet && seg.Name == "RetrieveRolePrivilegesRole":
		q.retrieveRolePrivileges(id)
	case t.LogicalName == schema.TableSystemUser && q.r.Method == http.MethodGet && seg.Name == "RetrieveUserPrivileges":
		q.retrieveUserPrivileges(id)
	default:
		q.fail(segmentNotFound(seg.Text))
	}
}

// rolePrivilege is the RolePrivilege complex type.
type rolePrivilege struct {
	Depth                  any     `json:"Depth"`
	PrivilegeID            string  `json:"PrivilegeId"`
	BusinessUnitID         string  `json:"BusinessUnitId"`
	PrivilegeName          string  `json:"PrivilegeName"`
	RecordFilterID         string  `json:"RecordFilterId"`
	RecordFilterUniqueName *string `json:"RecordFilterUniqueName"`
}

const emptyGUID = "00000000-0000-0000-0000-000000000000"

// changeRolePrivileges serves AddPrivilegesRole and ReplacePrivilegesRole:
// {"Privileges":[{"Depth":"Global","PrivilegeId":"…"}]}. The caller needs
// Write on the role and must hold each privilege at least at the depth it
// grants (no escalation).
func (q *request) changeRolePrivileges(roleID string, replace bool) {
	roles := q.sch.Table(schema.TableRole)
	body, e := q.readBody(roles.EntitySetName)
	if e != nil {
		q.fail(e)
		return
	}
	var in []rolePrivilege
	if raw, ok := body["Privileges"]; !ok || json.Unmarshal(raw, &in) != nil {
		q.fail(badRequest("The request needs Privileges: an array of {Depth, PrivilegeId}."))
		return
	}
	type grant struct {
		id    string
		name  string
		depth security.Depth
	}
	var grants []grant
	for _, p := range in {
		d, ok := security.ParseDepth(strings.Trim(strings.TrimSpace(anyString(p.Depth)), `"`))
		if !ok {
			q.fail(badRequest("Privilege depth '%v' is not one of Basic, Local, Deep, Global.", p.Depth))
			return
		}
		id := strings.ToLower(p.PrivilegeID)
		row, err := q.env.Data.Get(q.ctx, q.sch.Table(schema.TablePrivilege), id, []string{"privilegeid", "name"})
		if err != nil {
			if p.PrivilegeName != "" {
				if row, err = q.env.PrivilegeByName(q.ctx, q.env.Data, p.PrivilegeName); err == nil {
					id = row["privilegeid"].(string)
				}
			}
			if err != nil {
				q.fail(errorf(http.StatusNotFound, codeObjectDoesNotExist, "privilege With Id = %s Does Not Exist", p.PrivilegeID))
				return
			}
		}
		grants = append(grants, grant{id: id, name: row["name"].(string), depth: d})
	}
	role, e := q.editableRole(roleID)
	if e != nil {
		q.fail(e)
		return
	}
	var asked []security.RolePrivilege
	for _, g := range grants {
		asked = append(asked, security.RolePrivilege{Name: g.name, Depth: g.depth})
	}
	if e := q.holdsAll(role, asked); e != nil {
		q.fail(e)
		return
	}
	e = q.inTx(func() *Error {
		if replace {
			existing, err := security.RolePrivileges(q.ctx, q.data(), q.sch, store.Ref{ID: roleID})
			if err != nil {
				return q.internal(err)
			}
			for _, rp := range existing {
				if err := q.env.Revoke(q.ctx, q.data(), roleID, rp.PrivilegeID); err != nil {
					return q.internal(err)
				}
			}
		}
		for _, g := range grants {
			if err := q.env.Grant(q.ctx, q.data(), roleID, g.id, g.depth); err != nil {
				return q.internal(err)
			}
		}
		b, _ := json.Marshal(map[string]any{"replace": replace, "privileges": in})
		return q.s.writeAudit(q, q.data(), schema.AuditUpdate, 2, q.sch.Table(schema.TableRole), roleID, string(b), "succeeded")
	})
	if e != nil {
		q.fail(e)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

func anyString(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case float64:
		return security.Depth(int(x) + 1).String()
	}
	b, _ := json.Marshal(v)
	return string(b)
}

// editableRole checks the caller may change a role (Write on it) and that
// it is not the System Administrator role, which cannot be edited.
func (q *request) editableRole(roleID string) (store.Row, *Error) {
	roles := q.sch.Table(schema.TableRole)
	if e := q.checkID(security.Write, roles, roleID); e != nil {
		return nil, e
	}
	role, err := q.env.Data.Get(q.ctx, roles, roleID, []string{"roleid", "name", "roletemplateid"})
	if err != nil {
		return nil, q.storeError(roles, roleID, err)
	}
	if tpl, _ := role["roletemplateid"].(string); strings.EqualFold(tpl, security.TemplateSysAdm) {
		return nil, errorf(http.StatusBadRequest, codeInvalidArgument, "The System Administrator role cannot be modified.")
	}
	return role, nil
}

// removeRolePrivilege serves RemovePrivilegeRole: {"PrivilegeId":"…"}.
func (q *request) removeRolePrivilege(roleID string) {
	body, e := q.readBody("roles")
	if e != nil {
		q.fail(e)
		return
	}
	var pid string
	if raw, ok := body["PrivilegeId"]; !ok || json.Unmarshal(raw, &pid) != nil || !isGUID(pid) {
		q.fail(badRequest("The request needs PrivilegeId, a GUID."))
		return
	}
	if _, e := q.editableRole(roleID); e != nil {
		q.fail(e)
		return
	}
	e = q.inTx(func() *Error {
		if err := q.env.Revoke(q.ctx, q.data(), roleID, strings.ToLower(pid)); err != nil {
			return q.storeError(q.sch.Table(schema.TablePrivilege), pid, err)
		}
		b, _ := json.Marshal(map[string]any{"removed": pid})
		return q.s.writeAudit(q, q.data(), schema.AuditUpdate, 2, q.sch.Table(schema.TableRole), roleID, string(b), "succeeded")
	})
	if e != nil {
		q.fail(e)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

// privilegesOf renders role privileges (all privileges at Global for
// System Administrator).
func (q *request) privilegesOf(roles []store.Row) ([]rolePrivilege, *Error) {
	var ids []any
	out := []rolePrivilege{}
	for _, r := range roles {
		bu := ""
		if b, ok := r["businessunitid"].(store.Ref); ok {
			bu = b.ID
		}
		if tpl, _ := r["roletemplateid"].(string); strings.EqualFold(tpl, security.TemplateSysAdm) {
			for _, p := range security.Privileges(q.sch) {
				out = append(out, rolePrivilege{Depth: security.Global.String(), PrivilegeID: p.ID, BusinessUnitID: bu, PrivilegeName: p.Name, RecordFilterID: emptyGUID})
			}
			continue
		}
		ids = append(ids, store.Ref{ID: r["roleid"].(string)})
	}
	if len(ids) == 0 {
		return out, nil
	}
	rps, err := security.RolePrivileges(q.ctx, q.env.Data, q.sch, ids...)
	if err != nil {
		return nil, q.internal(err)
	}
	bus := map[string]string{}
	for _, r := range roles {
		if b, ok := r["businessunitid"].(store.Ref); ok {
			bus[r["roleid"].(string)] = b.ID
		}
	}
	for _, rp := range rps {
		out = append(out, rolePrivilege{Depth: rp.Depth.String(), PrivilegeID: rp.PrivilegeID, BusinessUnitID: bus[rp.RoleID], PrivilegeName: rp.Name, RecordFilterID: emptyGUID})
	}
	return out, nil
}

// retrieveRolePrivileges serves RetrieveRolePrivilegesRole.
func (q *request) retrieveRolePrivileges(roleID string) {
	roles := q.sch.Table(schema.TableRole)
	if e := q.checkID(security.Read, roles, roleID); e != nil {
		q.fail(e)
		return
	}
	role, err := q.env.Data.Get(q.ctx, roles, roleID, []string{"roleid", "roletemplateid", "businessunitid"})
	if err != nil {
		q.fail(q.storeError(roles, roleID, err))
		return
	}
	privs, e := q.privilegesOf([]store.Row{role})
	if e != nil {
		q.fail(e)
		return
	}
	q.writeJSON(http.StatusOK, map[string]any{"@odata.context": q.base + "$metadata#" + nsCRM + ".RetrieveRolePrivilegesRoleResponse", "RolePrivileges": privs})
}

// retrieveUserPrivileges serves RetrieveUserPrivileges: the privileges of
// every role the user holds, directly or through teams.
func (q *request) retrieveUserPrivileges(userID string) {
	users := q.sch.Table(schema.TableSystemUser)
	if e := q.checkID(security.Read, users, userID); e != nil {
		q.fail(e)
		return
	}
	p, err := security.Load(q.ctx, q.env.Data, q.sch, userID)
	if err != nil {
		q.fail(q.storeError(users, userID, err))
		return
	}
	var roles []store.Row
	for _, r := range p.Roles {
		row, err := q.env.Data.Get(q.ctx, q.sch.Table(schema.TableRole), r.ID, []string{"roleid", "roletemplateid", "businessunitid"})
		if err == nil {
			roles = append(roles, row)
		}
	}
	privs, e := q.privilegesOf(roles)
	if e != nil {
		q.fail(e)
		return
	}
	q.writeJSON(http.StatusOK, map[string]any{"@odata.context": q.base + "$metadata#" + nsCRM + ".RetrieveUserPrivilegesResponse", "RolePrivileges": privs})
}

// crmEntityRef reads {"@odata.type":"Microsoft.Dynamics.CRM.account","accountid":"…"}.
func (q *request) crmEntityRef(raw json.RawMessage) (*schema.Table, string, *Error) {
	var m map[string]any
	if json.Unmarshal(raw, &m) != nil {
		return nil, "", badRequest("An entity reference must be an object with @odata.type and its primary key.")
	}
	typ, _ := m["@odata.type"].(string)
	name := strings.TrimPrefix(strings.TrimPrefix(typ, "#"), nsCRM+".")
	t := q.sch.Table(name)
	if t == nil {
		return nil, "", badRequest("The @odata.type '%s' is not an entity type of this environment.", typ)
	}
	id, _ := m[t.PrimaryID].(string)
	if !isGUID(id) {
		return nil, "", badRequest("The entity reference needs %s, a GUID.", t.PrimaryID)
	}
	return t, strings.ToLower(id), nil
}

// grantAccess serves GrantAccess and ModifyAccess (POST, unbound): share
// a row with a user or team. The caller needs Share on the row, and can
// only share rights it holds on it itself.
func (q *request) grantAccess(segs []odata.Segment) {
	if q.r.Method != http.MethodPost || len(segs) != 1 {
		q.fail(noResource(q.base + q.path))
		return
	}
	body, e := q.readBody(segs[0].Name)
	if e != nil {
		q.fail(e)
		return
	}
	t, id, e := q.crmEntityRef(body["Target"])
	if e != nil {
		q.fail(e)
		return
	}
	var pa struct {
		Principal  json.RawMessage
		AccessMask string
	}
	if json.Unmarshal(body["PrincipalAccess"], &pa) != nil {
		q.fail(badRequest("PrincipalAccess must be {Principal, AccessMask}."))
		return
	}
	pt, pid, e := q.crmEntityRef(pa.Principal)
	if e != nil {
		q.fail(e)
		return
	}
	if pt.LogicalName != schema.TableSystemUser && pt.LogicalName != schema.TableTeam {
		q.fail(badRequest("Rows can be shared with users and teams only."))
		return
	}
	mask, ok := security.ParseRights(pa.AccessMask)
	if !ok {
		q.fail(badRequest("AccessMask '%s' is not a list of access rights (ReadAccess, WriteAccess, ...).", pa.AccessMask))
		return
	}
	q.share(t, id, pt, pid, mask, segs[0].Name == "ModifyAccess")
}

// revokeAccess serves RevokeAccess: {"Target":…, "Revokee":…}.
func (q *request) revokeAccess(segs []odata.Segment) {
	if q.r.Method != http.MethodPost || len(segs) != 1 {
		q.fail(noResource(q.base + q.path))
		return
	}
	body, e := q.readBody("RevokeAccess")
	if e != nil {
		q.fail(e)
		return
	}
	t, id, e := q.crmEntityRef(body["Target"])
	if e != nil {
		q.fail(e)
		return
	}
	pt, pid, e := q.crmEntityRef(body["Revokee"])
	if e != nil {
		q.fail(e)
		return
	}
	q.share(t, id, pt, pid, 0, true)
}

// share sets (replace) or adds to the rights shared on a row with a
// principal; mask 0 with replace revokes.
func (q *request) share(t *schema.Table, id string, pt *schema.Table, pid string, mask int64, replace bool) {
	if t.Ownership != schema.UserOwned {
		q.fail(badRequest("Only rows of user-owned tables can be shared."))
		return
	}
	if e := q.checkID(security.Share, t, id); e != nil {
		q.fail(e)
		return
	}
	if e := q.mustExist(store.Ref{ID: pid, Table: pt.LogicalName}); e != nil {
		q.fail(e)
		return
	}
	for _, a := range security.Actions {
		if mask&a.Right() != 0 {
			if e := q.checkID(a, t, id); e != nil {
				q.fail(e)
				return
			}
		}
	}
	poa := q.sch.Table(schema.TablePOA)
	e := q.inTx(func() *Error {
		rows, err := q.data().Query(q.ctx, poa, store.Query{Columns: []string{"principalobjectaccessid", "accessrightsmask"}, Where: store.And{
			store.Compare{Column: "objectid", Op: "eq", Value: id}, store.Compare{Column: "principalid", Op: "eq", Value: pid}}})
		if err != nil {
			return q.internal(err)
		}
		action := schema.AuditShare
		if mask == 0 {
			action = schema.AuditUnshare
		}
		switch {
		case len(rows) == 0 && mask == 0:
			return notFound(poa.LogicalName, pid)
		case len(rows) == 0:
			r := store.Row{"name": t.LogicalName + " shared", "objectid": id, "objecttypecode": t.LogicalName, "principalid": pid,
				"principaltypecode": pt.LogicalName, "accessrightsmask": mask}
			q.env.Stamp(poa, r, q.caller())
			if _, err := q.data().Insert(q.ctx, poa, r); err != nil {
				return q.internal(err)
			}
		default:
			pk := rows[0]["principalobjectaccessid"].(string)
			if !replace {
				old, _ := rows[0]["accessrightsmask"].(int64)
				mask |= old
			}
			if mask == 0 {
				if err := q.data().Delete(q.ctx, poa, pk, 0); err != nil {
					return q.internal(err)
				}
			} else if _, err := q.data().Update(q.ctx, poa, pk, store.Row{"accessrightsmask": mask}, 0); err != nil {
				return q.internal(err)
			}
		}
		b, _ := json.Marshal(map[string]any{"principal": pid, "principalType": pt.LogicalName, "accessRightsMask": mask})
		return q.s.writeAudit(q, q.data(), action, 2, t, id, string(b), "succeeded")
	})
	if e != nil {
		q.fail(e)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}
