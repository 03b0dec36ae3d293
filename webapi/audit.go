package webapi

import (
	"encoding/json"
	"fmt"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// writeAudit records an audit entry with d — the change's own transaction,
// so a committed change never lacks its entry — for the request's
// principal: userid is the effective user (the impersonated one),
// callinguserid the actual caller.
func (s *Server) writeAudit(q *request, d store.Data, action, operation int, t *schema.Table, rowID, changeData, outcome string) *Error {
	at := q.sch.Table(schema.TableAudit)
	if at == nil || t == nil {
		return nil
	}
	label, _ := at.Column("action").OptionLabel(action)
	r := store.Row{
		"summary":        fmt.Sprintf("%s %s %s", label, t.LogicalName, rowID),
		"action":         int64(action),
		"operation":      int64(operation),
		"objecttypecode": t.LogicalName,
		"userid":         store.Ref{ID: q.p.UserID, Table: schema.TableSystemUser},
		"callinguserid":  store.Ref{ID: q.p.callerID(), Table: schema.TableSystemUser},
		"changedata":     changeData,
		"outcome":        outcome,
	}
	if isGUID(rowID) {
		r["objectid"] = rowID
	}
	if _, err := q.env.Insert(q.ctx, d, at, r, q.caller()); err != nil {
		return q.internal(err)
	}
	return nil
}

// auditChange records a create, update or delete with the changed columns
// (old and new values for updates).
func (q *request) auditChange(action int, t *schema.Table, id string, prev, change store.Row) *Error {
	if t.LogicalName == schema.TableAudit {
		return nil
	}
	diff := map[string]map[string]any{}
	for k, v := range change {
		c := t.Column(k)
		if c == nil || c.ReadOnly && k != "ownerid" {
			continue
		}
		entry := map[string]any{"new": jsonValue(c, v)}
		if prev != nil {
			entry["old"] = jsonValue(c, prev[k])
		}
		diff[k] = entry
	}
	b, _ := json.Marshal(diff)
	op := map[int]int{schema.AuditCreate: 1, schema.AuditUpdate: 2, schema.AuditDelete: 3}[action]
	if op == 0 {
		op = 2
	}
	return q.s.writeAudit(q, q.data(), action, op, t, id, string(b), "succeeded")
}

// auditLink records an association change.
func (q *request) auditLink(action int, m *schema.ManyToMany, t *schema.Table, id string, other *schema.Table, otherID string) *Error {
	if m != nil && (m.SchemaName == "systemuserroles_association" || m.SchemaName == "teamroles_association") {
		action = schema.AuditRoleChange // "removed" in the change data tells the direction
	}
	name := ""
	if m != nil {
		name = m.SchemaName
	}
	b, _ := json.Marshal(map[string]any{"relationship": name, "target": map[string]string{"table": other.LogicalName, "id": otherID}, "removed": q.r.Method == "DELETE"})
	return q.s.writeAudit(q, q.data(), action, 2, t, id, string(b), "succeeded")
}
