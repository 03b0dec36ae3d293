package webapi

import (
	"encoding/json"
	"net/http"

	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// entityPath serves what follows an entity key: a property
// (GET/PUT/DELETE, reference §4.7–4.8), a navigation property (GET, /$count,
// /$ref for associate and disassociate, reference §4.12).
func (q *request) entityPath(t *schema.Table, id string, rest []odata.Segment) {
	if id == "" {
		q.fail(q.altKeyNotFound(t))
		return
	}
	seg := &rest[0]
	if seg.Kind == odata.SegmentName && seg.Namespace == nsCRM && len(rest) == 1 {
		q.boundOperation(t, id, seg)
		return
	}
	if seg.Kind != odata.SegmentName || seg.Namespace != "" {
		q.fail(segmentNotFound(seg.Text))
		return
	}
	if c := columnByProperty(t, seg.Name); c != nil && !seg.Parens {
		if len(rest) == 2 && rest[1].Kind == odata.SegmentValue && q.r.Method == http.MethodGet {
			q.propertyValue(t, id, c, true)
			return
		}
		if len(rest) > 1 {
			q.fail(segmentNotFound(rest[1].Text))
			return
		}
		q.property1(t, id, c)
		return
	}
	nav := q.sch.Nav(t, seg.Name)
	if nav == nil {
		q.fail(segmentNotFound(seg.Text))
		return
	}
	if !nav.Collection() {
		q.singleNav(t, id, nav, seg, rest[1:])
		return
	}
	q.collectionNav(t, id, nav, seg, rest[1:])
}

// property1 serves GET/PUT/DELETE on a single property.
func (q *request) property1(t *schema.Table, id string, c *schema.Column) {
	switch q.r.Method {
	case http.MethodGet:
		q.propertyValue(t, id, c, false)
	case http.MethodPut:
		body, e := q.readBody(t.EntitySetName)
		if e != nil {
			q.fail(e)
			return
		}
		raw, ok := body["value"]
		if !ok || c.Type.IsLookup() || c.ReadOnly || c.LogicalName == t.PrimaryID {
			q.fail(badRequest("PUT on a property needs a body {\"value\": ...} and a writable, non-lookup property."))
			return
		}
		v, e := parseValue(t, c, raw)
		if e != nil {
			q.fail(e)
			return
		}
		q.setColumns(t, id, store.Row{c.LogicalName: v})
	case http.MethodDelete:
		if c.Type.IsLookup() || c.ReadOnly || c.LogicalName == t.PrimaryID {
			q.fail(badRequest("The property '%s' cannot be deleted.", propertyName(c)))
			return
		}
		if c.Required == schema.SystemRequired {
			q.fail(errorf(http.StatusBadRequest, codeInvalidArgument, "Attribute '%s' cannot be set to NULL", c.LogicalName))
			return
		}
		q.setColumns(t, id, store.Row{c.LogicalName: nil})
	default:
		q.fail(methodNotAllowed(q.r.Method, "a property"))
	}
}

// propertyValue answers GET set(id)/prop (JSON) or prop/$value (raw).
func (q *request) propertyValue(t *schema.Table, id string, c *schema.Column, raw bool) {
	if e := q.checkID(security.Read, t, id); e != nil {
		q.fail(e)
		return
	}
	r, err := q.env.Data.Get(q.ctx, t, id, []string{c.LogicalName})
	if err != nil {
		q.fail(q.storeError(t, id, err))
		return
	}
	v := r[c.LogicalName]
	if v == nil {
		q.w.WriteHeader(http.StatusNoContent)
		return
	}
	if raw {
		q.w.Header().Set("Content-Type", "text/plain")
		b, _ := json.Marshal(jsonValue(c, v))
		if s, ok := jsonValue(c, v).(string); ok {
			b = []byte(s)
		}
		q.w.Write(b)
		return
	}
	q.writeJSON(http.StatusOK, map[string]any{
		"@odata.context": q.base + "$metadata#" + t.EntitySetName + "(" + id + ")/" + propertyName(c),
		"value":          jsonValue(c, v),
	})
}

// setColumns updates columns of a row (property PUT/DELETE, $ref).
func (q *request) setColumns(t *schema.Table, id string, cols store.Row) {
	e := q.inTx(func() *Error {
		prev, err := q.data().Get(q.ctx, t, id, nil)
		if err != nil {
			return q.storeError(t, id, err)
		}
		if e := q.s.beforeUpdate(q, t, prev, cols); e != nil {
			return e
		}
		q.env.Touch(t, cols, prev, q.caller())
		if _, err := q.data().Update(q.ctx, t, id, cols, 0); err != nil {
			return q.storeError(t, id, err)
		}
		return q.auditChange(updateAction(cols, prev), t, id, prev, cols)
	})
	if e != nil {
		q.fail(e)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

// singleNav serves a single-valued navigation property: GET the related
// row, GET/PUT/DELETE nav/$ref.
func (q *request) singleNav(t *schema.Table, id string, nav *schema.Nav, seg *odata.Segment, rest []odata.Segment) {
	if seg.Parens {
		q.fail(segmentNotFound(seg.Text))
		return
	}
	isRef := len(rest) == 1 && rest[0].Kind == odata.SegmentRef
	if len(rest) > 0 && !isRef {
		q.fail(segmentNotFound(rest[0].Text))
		return
	}
	col := nav.Column.LogicalName
	switch {
	case q.r.Method == http.MethodGet:
		if e := q.checkID(security.Read, t, id); e != nil {
			q.fail(e)
			return
		}
		r, err := q.env.Data.Get(q.ctx, t, id, []string{col})
		if err != nil {
			q.fail(q.storeError(t, id, err))
			return
		}
		ref, ok := r[col].(store.Ref)
		if !ok || ref.Table != nav.Target.LogicalName {
			q.w.WriteHeader(http.StatusNoContent)
			return
		}
		if isRef {
			q.writeJSON(http.StatusOK, map[string]any{"@odata.context": q.base + "$metadata#$ref", "@odata.id": q.entityURL(nav.Target, ref.ID)})
			return
		}
		q.retrieve(nav.Target, ref.ID)
	case isRef && q.r.Method == http.MethodPut:
		ref, e := q.refBody(t)
		if e != nil {
			q.fail(e)
			return
		}
		if ref.Table != nav.Target.LogicalName {
			q.fail(badRequest("The record must be a %s.", nav.Target.LogicalName))
			return
		}
		if e := q.mustExist(ref); e != nil {
			q.fail(e)
			return
		}
		q.setColumns(t, id, store.Row{col: ref})
	case isRef && q.r.Method == http.MethodDelete:
		q.setColumns(t, id, store.Row{col: nil})
	default:
		q.fail(methodNotAllowed(q.r.Method, "a navigation property"))
	}
}

// refBody reads {"@odata.id": "<record url>"}.
func (q *request) refBody(t *schema.Table) (store.Ref, *Error) {
	body, e := q.readBody(t.EntitySetName)
	if e != nil {
		return store.Ref{}, e
	}
	var s string
	if raw, ok := body["@odata.id"]; !ok || json.Unmarshal(raw, &s) != nil {
		return store.Ref{}, payloadError(t.EntitySetName, "The body must be {\"@odata.id\": \"<record URL>\"}.")
	}
	return q.parseEntityRef(s)
}

// collectionNav serves a collection-valued navigation property: GET the
// related rows (with query options), /$count, /$ref GET, POST to
// associate, DELETE nav(id)/$ref or nav/$ref?$id= to disassociate.
func (q *request) collectionNav(t *schema.Table, id string, nav *schema.Nav, seg *odata.Segment, rest []odata.Segment) {
	if e := q.checkID(security.Read, t, id); e != nil {
		q.fail(e)
		return
	}
	scope := q.navScope(t, id, nav)
	isRef := len(rest) == 1 && rest[0].Kind == odata.SegmentRef
	if seg.Parens { // nav(<id>)/$ref
		if !isRef || q.r.Method != http.MethodDelete {
			q.fail(segmentNotFound(seg.Text))
			return
		}
		childID, e := q.keyID(nav.Target, seg)
		if e != nil {
			q.fail(e)
			return
		}
		q.unlink(t, id, nav, childID)
		return
	}
	switch {
	case len(rest) == 0 && q.r.Method == http.MethodGet:
		q.list(nav.Target, scope)
	case len(rest) == 1 && rest[0].Kind == odata.SegmentCount && q.r.Method == http.MethodGet:
		q.countSet(nav.Target, scope)
	case isRef && q.r.Method == http.MethodGet:
		filter, e := q.readFilter(nav.Target)
		if e != nil {
			q.fail(e)
			return
		}
		if filter != nil {
			scope = store.And{scope, filter}
		}
		rows, err := q.env.Data.Query(q.ctx, nav.Target, store.Query{Columns: []string{nav.Target.PrimaryID}, Where: scope,
			OrderBy: []store.Order{{Column: nav.Target.PrimaryID}}, Limit: maxPageSize})
		if err != nil {
			q.fail(q.internal(err))
			return
		}
		refs := make([]map[string]string, len(rows))
		for i, r := range rows {
			refs[i] = map[string]string{"@odata.id": q.entityURL(nav.Target, r[nav.Target.PrimaryID].(string))}
		}
		q.writeJSON(http.StatusOK, map[string]any{"@odata.context": q.base + "$metadata#Collection($ref)", "value": refs})
	case isRef && q.r.Method == http.MethodPost:
		ref, e := q.refBody(t)
		if e != nil {
			q.fail(e)
			return
		}
		if ref.Table != nav.Target.LogicalName {
			q.fail(badRequest("The record must be a %s.", nav.Target.LogicalName))
			return
		}
		if e := q.mustExist(ref); e != nil {
			q.fail(e)
			return
		}
		if e := q.inTx(func() *Error { return q.link(t, id, nav, ref.ID) }); e != nil {
			q.fail(e)
			return
		}
		q.w.WriteHeader(http.StatusNoContent)
	case isRef && q.r.Method == http.MethodDelete:
		if q.opts.ID == "" {
			q.fail(badRequest("DELETE on a collection $ref needs the $id of the record to remove."))
			return
		}
		ref, e := q.parseEntityRef(q.opts.ID)
		if e != nil {
			q.fail(e)
			return
		}
		q.unlink(t, id, nav, ref.ID)
	case len(rest) == 0 && q.r.Method == http.MethodPost:
		// POST to a collection navigation property creates a related row.
		body, e := q.readBody(nav.Target.EntitySetName)
		if e != nil {
			q.fail(e)
			return
		}
		var childID string
		if e := q.inTx(func() *Error {
			var e *Error
			if childID, e = q.createRow(nav.Target, body, ""); e != nil {
				return e
			}
			return q.link(t, id, nav, childID)
		}); e != nil {
			q.fail(e)
			return
		}
		q.created(nav.Target, childID, http.StatusCreated)
	default:
		q.fail(methodNotAllowed(q.r.Method, "a collection-valued navigation property"))
	}
}

// navScope is the condition selecting the rows related through nav.
func (q *request) navScope(t *schema.Table, id string, nav *schema.Nav) store.Cond {
	if nav.Many != nil {
		return store.Compare{Column: nav.Many.ReferencingAttribute, Op: "eq", Value: store.Ref{ID: id, Table: t.LogicalName}}
	}
	m := nav.M2M
	this, other := m.Entity1Col, m.Entity2Col
	if m.Entity1 != t.LogicalName {
		this, other = other, this
	}
	return store.Linked{Intersect: m.Intersect, ThisCol: other, OtherCol: this, Target: t,
		Where: store.Compare{Column: t.PrimaryID, Op: "eq", Value: id}}
}

// unlink removes a relationship between two rows.
func (q *request) unlink(t *schema.Table, id string, nav *schema.Nav, childID string) {
	e := q.inTx(func() *Error {
		if e := q.checkLink(t, id, nav, childID); e != nil {
			return e
		}
		if nav.Many != nil {
			child := nav.Target
			col := nav.Many.ReferencingAttribute
			r, err := q.data().Get(q.ctx, child, childID, []string{col})
			if err != nil {
				return q.storeError(child, childID, err)
			}
			if ref, ok := r[col].(store.Ref); !ok || ref.ID != id {
				return notFound(child.LogicalName, childID)
			}
			cols := store.Row{col: nil}
			q.env.Touch(child, cols, nil, q.caller())
			_, err = q.data().Update(q.ctx, child, childID, cols, 0)
			if err != nil {
				return q.storeError(child, childID, err)
			}
			return q.auditChange(schema.AuditUpdate, child, childID, r, cols)
		}
		a, b := id, childID
		if nav.M2M.Entity1 != t.LogicalName {
			a, b = childID, id
		}
		if err := q.data().Disassociate(q.ctx, nav.M2M, a, b); err != nil {
			return q.storeError(nav.Target, childID, err)
		}
		if e := q.s.afterAssociate(q, nav.M2M); e != nil {
			return e
		}
		return q.auditLink(schema.AuditDisassociate, nav.M2M, t, id, nav.Target, childID)
	})
	if e != nil {
		q.fail(e)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}
