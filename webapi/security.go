package webapi

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"sort"
	"strings"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// Every access decision of the Web API goes through the functions in this
// file, which ask package security; handlers never decide access.

// accessModeLabels are systemuser.accessmode labels for messages.
var accessModeLabels = map[int64]string{0: "Read-Write", 1: "Administrative", 2: "Read", 3: "Support User", 4: "Non-interactive", 5: "Delegated Admin"}

// denied turns a security.Denial into the Dataverse error (reference §5.6):
// 0x80040220 for a missing privilege, 0x80048306 for a failed access
// check. With Prefer odata.include-annotations="*" or the header
// x-dvs2s-explain: true, the error also explains the decision.
func (q *request) denied(d *security.Denial) *Error {
	var e *Error
	if !d.Access {
		privID := security.PrivilegeID(d.Privilege)
		e = errorf(http.StatusForbidden, "0x80040220",
			"Principal user (Id=%s, type=8, roleCount=%d, privilegeCount=%d, accessMode='%d %s', AADObjectId='%s', businessUnitId=%s), is missing %s privilege (Id=%s) on OTC=%d for entity '%s'. context.Caller=%s. Consider adding missed privilege to one of the principal (user/team) roles.",
			q.p.UserID, len(q.p.sec.Roles), len(q.p.sec.Privileges), q.p.AccessMode, accessModeLabels[q.p.AccessMode], q.p.ObjectID, q.p.BU,
			d.Privilege, privID, d.Table.ObjectTypeCode, d.Table.LogicalName, q.p.callerID())
	} else {
		e = errorf(http.StatusForbidden, "0x80048306", "Principal with id %s does not have %s right(s) for record with id %s of entity %s",
			q.p.UserID, d.Action.RightName(), d.RowID, d.Table.LogicalName)
	}
	if q.explain() {
		e.Details = q.explanation(d)
	}
	q.auditDenied(d)
	return e
}

// explain reports whether the caller asked for decision details.
func (q *request) explain() bool {
	return strings.EqualFold(q.r.Header.Get("x-dvs2s-explain"), "true") || q.prefer.IncludeAnnotations.Match("dvs2s.explanation")
}

// explanation describes a decision for developers (dvs2s only).
func (q *request) explanation(d *security.Denial) map[string]any {
	var roles []string
	for _, r := range q.p.sec.Roles {
		s := r.Name
		if r.ViaTeam != "" {
			s += " (through team " + r.ViaTeam + ")"
		}
		roles = append(roles, s)
	}
	sort.Strings(roles)
	x := map[string]any{
		"principal":     q.p.UserID,
		"businessUnit":  q.p.BU,
		"roles":         roles,
		"teams":         q.p.sec.Teams,
		"privilege":     d.Privilege,
		"heldDepth":     d.Held.String(),
		"systemAdmin":   q.p.sec.SysAdmin,
		"impersonating": q.p.OnBehalfOf != "",
	}
	if d.Access {
		x["neededDepth"] = d.Needed.String()
		x["row"] = d.RowID
		x["rowOwner"] = d.Owner.ID
		x["rowOwnerType"] = d.Owner.Table
		x["rowBusinessUnit"] = d.OwnerBU
		x["reason"] = fmt.Sprintf("the row is not owned by the principal or its teams, not shared with them for %s, and %s depth %s does not reach the row's business unit (needs %s)",
			d.Action.RightName(), d.Privilege, d.Held, d.Needed)
	} else {
		x["reason"] = fmt.Sprintf("none of the principal's roles grants %s at any depth", d.Privilege)
	}
	return x
}

// requirePrivilege is the privilege check alone (any depth).
func (q *request) requirePrivilege(a security.Action, t *schema.Table) *Error {
	if d := q.p.sec.Check(a, t, nil, 0); d != nil {
		return q.denied(d)
	}
	return nil
}

// requireMisc checks a miscellaneous privilege.
func (q *request) requireMisc(name string) *Error {
	if q.p.sec.Depth(name) == security.None {
		return q.denied(&security.Denial{Privilege: name, Table: q.sch.Table(schema.TableOrganization)})
	}
	return nil
}

// readFilter is the condition limiting a query to readable rows; it
// fails with the privilege error when the principal cannot read the table
// at all.
func (q *request) readFilter(t *schema.Table) (store.Cond, *Error) {
	if e := q.requirePrivilege(security.Read, t); e != nil {
		return nil, e
	}
	return q.p.sec.Filter(security.Read, t, q.sch), nil
}

// sharedRights is the access mask shared with the principal (or its
// teams) on a row.
func (q *request) sharedRights(t *schema.Table, id string) (int64, *Error) {
	if t.Ownership != schema.UserOwned {
		return 0, nil
	}
	principals := []any{q.p.UserID}
	for _, tm := range q.p.sec.Teams {
		principals = append(principals, tm)
	}
	rows, err := q.data().Query(q.ctx, q.sch.Table(schema.TablePOA), store.Query{Columns: []string{"accessrightsmask"}, Where: store.And{
		store.Compare{Column: "objectid", Op: "eq", Value: id},
		store.In{Column: "principalid", Values: principals},
	}})
	if err != nil {
		return 0, q.internal(err)
	}
	var m int64
	for _, r := range rows {
		v, _ := r["accessrightsmask"].(int64)
		m |= v
	}
	return m, nil
}

// checkRow decides action a on row r (which holds the ownership columns).
func (q *request) checkRow(a security.Action, t *schema.Table, r store.Row) *Error {
	d := q.p.sec.Check(a, t, r, 0)
	if d == nil {
		return nil
	}
	if d.Access {
		shared, e := q.sharedRights(t, d.RowID)
		if e != nil {
			return e
		}
		if d = q.p.sec.Check(a, t, r, shared); d == nil {
			return nil
		}
	}
	return q.denied(d)
}

// checkID decides action a on the row with id, reading what the decision
// needs.
func (q *request) checkID(a security.Action, t *schema.Table, id string) *Error {
	if t.Ownership == schema.OrganizationOwned || t.Ownership == schema.NoOwnership ||
		q.p.sec.Depth(security.PrivilegeName(a, t)) == security.Global {
		return q.requirePrivilege(a, t) // no row relation can change the answer
	}
	// The privilege check comes first (reference §5.4): without the
	// privilege, whether the row exists is none of the caller's business.
	if e := q.requirePrivilege(a, t); e != nil {
		return e
	}
	r, err := q.data().Get(q.ctx, t, id, security.OwnershipColumns(t))
	if err != nil {
		return q.storeError(t, id, err)
	}
	return q.checkRow(a, t, r)
}

// checkLookups checks Append on the row and AppendTo on every row a
// changed lookup points at (reference §5.4).
func (q *request) checkLookups(t *schema.Table, row, change store.Row) *Error {
	appendChecked := false
	for name, v := range change {
		c := t.Column(name)
		ref, ok := v.(store.Ref)
		if c == nil || !ok || c.ReadOnly || c.Type == schema.Owner {
			continue
		}
		if !appendChecked {
			if e := q.checkRow(security.Append, t, row); e != nil {
				return e
			}
			appendChecked = true
		}
		target := q.sch.Table(ref.Table)
		if target == nil {
			continue
		}
		if e := q.checkID(security.AppendTo, target, ref.ID); e != nil {
			return e
		}
	}
	return nil
}

// checkCreate decides a create: Create at a depth reaching the new row's
// owner and business unit, Assign when the owner is someone else, and
// Append/AppendTo for the lookups it sets.
func (q *request) checkCreate(t *schema.Table, r store.Row) *Error {
	if e := q.checkRow(security.Create, t, r); e != nil {
		return e
	}
	if owner, ok := r["ownerid"].(store.Ref); ok && owner.ID != q.p.UserID {
		if e := q.requirePrivilege(security.Assign, t); e != nil {
			return e
		}
	}
	return q.checkLookups(t, r, r)
}

// checkUpdate decides an update: Write on the row, Assign when the owner
// changes, Append/AppendTo for changed lookups.
func (q *request) checkUpdate(t *schema.Table, prev, change store.Row) *Error {
	if e := q.checkRow(security.Write, t, prev); e != nil {
		return e
	}
	if owner, ok := change["ownerid"].(store.Ref); ok {
		if old, _ := prev["ownerid"].(store.Ref); old.ID != owner.ID {
			if e := q.checkRow(security.Assign, t, prev); e != nil {
				return e
			}
			if e := q.checkID(security.AppendTo, q.sch.Table(owner.Table), owner.ID); owner.Table == schema.TableTeam && e != nil {
				return e
			}
		}
	}
	return q.checkLookups(t, prev, change)
}

// checkAssociate decides linking two rows through a many-to-many
// relationship: Append and AppendTo on both (reference §5.1), and for role
// assignments, no escalation.
func (q *request) checkAssociate(t *schema.Table, id string, other *schema.Table, otherID string) *Error {
	for _, side := range []struct {
		t  *schema.Table
		id string
	}{{t, id}, {other, otherID}} {
		if e := q.checkID(security.Append, side.t, side.id); e != nil {
			return e
		}
		if e := q.checkID(security.AppendTo, side.t, side.id); e != nil {
			return e
		}
	}
	roleID := ""
	switch {
	case t.LogicalName == schema.TableRole:
		roleID = id
	case other.LogicalName == schema.TableRole:
		roleID = otherID
	}
	if roleID != "" {
		if e := q.requirePrivilege(security.Assign, q.sch.Table(schema.TableRole)); e != nil {
			return e
		}
		return q.noEscalation(roleID)
	}
	return nil
}

// noEscalation refuses handing out a role holding privileges (or depths)
// the caller lacks itself (reference §5.1).
func (q *request) noEscalation(roleID string) *Error {
	if q.p.sec.SysAdmin {
		return nil
	}
	role, err := q.data().Get(q.ctx, q.sch.Table(schema.TableRole), roleID, []string{"roletemplateid", "name"})
	if err != nil {
		return q.storeError(q.sch.Table(schema.TableRole), roleID, err)
	}
	if tpl, _ := role["roletemplateid"].(string); strings.EqualFold(tpl, security.TemplateSysAdm) {
		return q.escalation(role, "System Administrator (every privilege at Global depth)")
	}
	privs, err := security.RolePrivileges(q.ctx, q.data(), q.sch, store.Ref{ID: roleID})
	if err != nil {
		return q.internal(err)
	}
	return q.holdsAll(role, privs)
}

// holdsAll refuses unless the caller holds every privilege at its depth.
func (q *request) holdsAll(role store.Row, privs []security.RolePrivilege) *Error {
	for _, rp := range privs {
		if held := q.p.sec.Depth(rp.Name); held < rp.Depth {
			return q.escalation(role, fmt.Sprintf("%s at %s depth (you hold %s)", rp.Name, rp.Depth, held))
		}
	}
	return nil
}

func (q *request) escalation(role store.Row, what string) *Error {
	name, _ := role["name"].(string)
	q.auditDenied(&security.Denial{Privilege: "prvAssignRole", Table: q.sch.Table(schema.TableRole)})
	return errorf(http.StatusForbidden, "0x80040231", "Target user or team does not hold required privileges. The role '%s' grants %s, which the caller does not hold itself; a principal cannot hand out privileges it lacks.", name, what)
}

// auditDenied records a denied attempt (outside the failed transaction).
// A denial inside a transaction is written once that transaction has
// ended: it rolls back, and while it is open SQLite makes any other writer
// wait (for the busy timeout, then fail).
func (q *request) auditDenied(d *security.Denial) {
	if q.env == nil || d.Table == nil {
		return
	}
	switch {
	case q.tx == nil:
		q.writeDenied(d)
	case q.txOwner:
		q.deniedInTx = append(q.deniedInTx, d) // written by inTx when the transaction ends
	default:
		// A $batch change set's part: the batch owns the transaction. The
		// entry waits for it in the background.
		cp := *q
		cp.ctx, cp.tx = context.WithoutCancel(q.ctx), nil
		go cp.writeDenied(d)
	}
}

// writeDenied writes the audit entry of a denied attempt.
func (q *request) writeDenied(d *security.Denial) {
	b, _ := json.Marshal(map[string]any{"privilege": d.Privilege, "access": d.Access, "held": d.Held.String(), "needed": d.Needed.String()})
	q.s.writeAudit(q, q.env.Data, schema.AuditDenied, 4, d.Table, d.RowID, string(b), "denied")
}

// flushDenied writes the denials recorded inside the transaction that
// just ended.
func (q *request) flushDenied() {
	for _, d := range q.deniedInTx {
		q.writeDenied(d)
	}
	q.deniedInTx = nil
}

var errNoAudit = errors.New("no audit table")
