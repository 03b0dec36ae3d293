package webapi

import (
	"net/http"

	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// maxExpandRows bounds a collection-valued expansion per parent row.
const maxExpandRows = 5000

// expand adds the $expand items to encoded rows (reference §4.9):
// single-valued navigation properties as objects (or null), collection
// valued ones as arrays, nav/$ref as entity references. Related rows are
// fetched with one query per expanded property, not one per row.
func (q *request) expand(t *schema.Table, out []map[string]any, rows []store.Row, items []odata.Expand) *Error {
	for _, it := range items {
		nav := q.sch.Nav(t, it.Property)
		if nav == nil {
			return propertyNotFound(t, it.Property)
		}
		opts := it.Options
		if opts == nil {
			opts = &odata.Query{}
		}
		if it.Ref && nav.Collection() {
			return errorf(http.StatusBadRequest, codeExpandRefNotLookup, "Expand with $ref is only supported on lookup type navigation property.")
		}
		sel, e := q.selection(nav.Target, opts.Select)
		if e != nil {
			return e
		}
		if !nav.Collection() {
			if e := q.expandSingle(t, nav, out, rows, it.Ref, sel, opts); e != nil {
				return e
			}
			continue
		}
		if e := q.expandMany(t, nav, out, rows, sel, opts); e != nil {
			return e
		}
	}
	return nil
}

func (q *request) expandSingle(t *schema.Table, nav *schema.Nav, out []map[string]any, rows []store.Row, ref bool, sel []*schema.Column, opts *odata.Query) *Error {
	target := nav.Target
	var ids []any
	seen := map[string]bool{}
	for _, r := range rows {
		if v, ok := r[nav.Column.LogicalName].(store.Ref); ok && v.Table == target.LogicalName && !seen[v.ID] {
			seen[v.ID] = true
			ids = append(ids, v.ID)
		}
	}
	related := map[string]store.Row{}
	// Related rows the principal may not read come back as null; without
	// the privilege to read the table at all, the expansion fails, rows to
	// expand or not.
	where, e := q.readableWhere(target, nil, store.In{Column: target.PrimaryID, Values: ids})
	if e != nil {
		return e
	}
	if len(ids) > 0 {
		cols := q.withExpandColumns(target, readColumns(target, sel), opts.Expand)
		rs, err := q.data().Query(q.ctx, target, store.Query{Columns: cols, Where: where})
		if err != nil {
			return q.internal(err)
		}
		for _, r := range rs {
			related[r[target.PrimaryID].(string)] = r
		}
	}
	var relRows []store.Row
	var relOut []map[string]any
	for i, r := range rows {
		v, ok := r[nav.Column.LogicalName].(store.Ref)
		rr, found := related[v.ID]
		if !ok || !found {
			out[i][nav.Name] = nil
			continue
		}
		if ref {
			out[i][nav.Name] = map[string]any{"@odata.id": q.entityURL(target, v.ID)}
			continue
		}
		enc := q.encodeRow(target, rr, sel)
		out[i][nav.Name] = enc
		relRows, relOut = append(relRows, rr), append(relOut, enc)
	}
	if len(opts.Expand) > 0 && len(relRows) > 0 {
		return q.expand(target, relOut, relRows, opts.Expand)
	}
	return nil
}

func (q *request) expandMany(t *schema.Table, nav *schema.Nav, out []map[string]any, rows []store.Row, sel []*schema.Column, opts *odata.Query) *Error {
	target := nav.Target
	parents := make([]any, 0, len(rows))
	for _, r := range rows {
		parents = append(parents, r[t.PrimaryID])
	}
	filter, e := q.readableWhere(target, opts.Filter, nil)
	if e != nil {
		return e
	}
	order, e := q.orderBy(target, opts.OrderBy)
	if e != nil {
		return e
	}
	groups := map[string][]store.Row{}
	cols := q.withExpandColumns(target, readColumns(target, sel), opts.Expand)
	switch {
	case nav.Many != nil:
		fk := nav.Many.ReferencingAttribute
		if cols != nil {
			cols = append(cols, fk)
		}
		where := store.And{store.In{Column: fk, Values: parents}}
		if filter != nil {
			where = append(where, filter)
		}
		rs, err := q.data().Query(q.ctx, target, store.Query{Columns: cols, Where: where, OrderBy: order})
		if err != nil {
			return q.internal(err)
		}
		for _, r := range rs {
			if ref, ok := r[fk].(store.Ref); ok {
				groups[ref.ID] = append(groups[ref.ID], r)
			}
		}
	default:
		m := nav.M2M
		this, other := m.Entity1Col, m.Entity2Col
		if m.Entity1 != t.LogicalName {
			this, other = other, this
		}
		for _, p := range parents {
			pid := p.(string)
			where := store.And{store.Linked{Intersect: m.Intersect, ThisCol: other, OtherCol: this, Target: t,
				Where: store.Compare{Column: t.PrimaryID, Op: "eq", Value: pid}}}
			if filter != nil {
				where = append(where, filter)
			}
			rs, err := q.data().Query(q.ctx, target, store.Query{Columns: cols, Where: where, OrderBy: order, Limit: maxExpandRows})
			if err != nil {
				return q.internal(err)
			}
			groups[pid] = rs
		}
	}
	var relRows []store.Row
	var relOut []map[string]any
	for i, r := range rows {
		g := groups[r[t.PrimaryID].(string)]
		if opts.Top != nil && len(g) > *opts.Top {
			g = g[:*opts.Top]
		}
		if len(g) > maxExpandRows {
			g = g[:maxExpandRows]
		}
		list := make([]map[string]any, len(g))
		for j, cr := range g {
			list[j] = q.encodeRow(target, cr, sel)
		}
		out[i][nav.Name] = list
		relRows, relOut = append(relRows, g...), append(relOut, list...)
	}
	if len(opts.Expand) > 0 && len(relRows) > 0 {
		return q.expand(target, relOut, relRows, opts.Expand)
	}
	return nil
}
