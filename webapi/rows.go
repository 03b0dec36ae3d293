package webapi

import (
	"encoding/json"
	"net/http"
	"net/url"
	"sort"
	"strings"

	"github.com/dvs2s/dvs2s/directory"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/security"
	"github.com/dvs2s/dvs2s/store"
)

// caller is who the request's changes are attributed to.
func (q *request) caller() environment.Caller {
	return environment.Caller{UserID: q.p.UserID, BU: q.p.BU, OnBehalfOf: q.p.OnBehalfOf}
}

// entityURL is the canonical URL of a row.
func (q *request) entityURL(t *schema.Table, id string) string {
	return q.base + t.EntitySetName + "(" + id + ")"
}

// selection resolves $select to columns (nil: all). The primary id is
// always read.
func (q *request) selection(t *schema.Table, sel []string) ([]*schema.Column, *Error) {
	if len(sel) == 0 || (len(sel) == 1 && sel[0] == "*") {
		return nil, nil
	}
	var out []*schema.Column
	seen := map[string]bool{}
	for _, s := range sel {
		if s == "*" {
			return nil, nil
		}
		c := columnByProperty(t, s)
		if c == nil {
			return nil, propertyNotFound(t, s)
		}
		if !seen[c.LogicalName] {
			seen[c.LogicalName] = true
			out = append(out, c)
		}
	}
	return out, nil
}

func propertyNotFound(t *schema.Table, name string) *Error {
	return errorf(http.StatusBadRequest, "0x0", "Could not find a property named '%s' on type 'Microsoft.Dynamics.CRM.%s'.", name, t.LogicalName)
}

// readColumns is the column list to read for a selection: the selection,
// the primary id and the version number (for the ETag).
func readColumns(t *schema.Table, sel []*schema.Column) []string {
	if sel == nil {
		return nil
	}
	cols := []string{t.PrimaryID, "versionnumber"}
	for _, c := range sel {
		if c.LogicalName != t.PrimaryID && c.LogicalName != "versionnumber" {
			cols = append(cols, c.LogicalName)
		}
	}
	return cols
}

// withExpandColumns adds the lookup columns that single-valued $expand
// items need to a column list (nil stays nil: all columns).
func (q *request) withExpandColumns(t *schema.Table, cols []string, items []odata.Expand) []string {
	if cols == nil {
		return nil
	}
	for _, it := range items {
		if n := q.sch.Nav(t, it.Property); n != nil && n.Column != nil {
			cols = append(cols, n.Column.LogicalName)
		}
	}
	return cols
}

// encodeRow renders a row as the Web API does: @odata.etag, the selected
// properties (lookups as _x_value), and the requested annotations.
func (q *request) encodeRow(t *schema.Table, r store.Row, sel []*schema.Column) map[string]any {
	out := make(map[string]any, len(r)+2)
	out["@odata.etag"] = etag(r)
	cols := sel
	if cols == nil {
		cols = t.Columns
	}
	ann := q.prefer.IncludeAnnotations
	wantFormatted, wantLookup := ann.Match(annFormatted), ann.Match(annLookupName)
	wantNav := ann.Match(annNav)
	emit := func(c *schema.Column) {
		v := r[c.LogicalName]
		name := propertyName(c)
		out[name] = jsonValue(c, v)
		if v == nil {
			return
		}
		if c.Type.IsLookup() {
			ref := v.(store.Ref)
			if wantLookup {
				out[name+"@"+annLookupName] = ref.Table
			}
			if wantNav {
				out[name+"@"+annNav] = q.lookupNav(t, c, ref.Table)
			}
			if wantFormatted {
				if n := q.primaryName(ref); n != "" {
					out[name+"@"+annFormatted] = n
				}
			}
			return
		}
		if wantFormatted {
			if f := formatted(c, v); f != "" {
				out[name+"@"+annFormatted] = f
			}
		}
	}
	for _, c := range cols {
		if c.LogicalName == "owninguser" || c.LogicalName == "owningteam" {
			// present on the table but, as in Dataverse, only returned when selected
			if sel == nil {
				continue
			}
		}
		emit(c)
	}
	if sel != nil {
		if _, ok := out[t.PrimaryID]; !ok {
			out[t.PrimaryID] = r[t.PrimaryID]
		}
	}
	return out
}

// lookupNav names the navigation property behind a lookup value.
func (q *request) lookupNav(t *schema.Table, c *schema.Column, target string) string {
	for _, rel := range q.sch.Relationships() {
		if rel.Referencing == t.LogicalName && rel.ReferencingAttribute == c.LogicalName && rel.Referenced == target {
			return rel.ReferencingNav
		}
	}
	return c.LogicalName
}

// primaryName reads the primary name of a referenced row (FormattedValue
// of lookups).
func (q *request) primaryName(ref store.Ref) string {
	t := q.sch.Table(ref.Table)
	if t == nil {
		return ""
	}
	r, err := q.env.Data.Get(q.ctx, t, ref.ID, []string{t.PrimaryName})
	if err != nil {
		return ""
	}
	s, _ := r[t.PrimaryName].(string)
	return s
}

// contextURL builds @odata.context for a set with an optional selection.
func (q *request) contextURL(t *schema.Table, sel []*schema.Column, entity bool) string {
	s := q.base + "$metadata#" + t.EntitySetName
	if sel != nil {
		names := make([]string, len(sel))
		for i, c := range sel {
			names[i] = propertyName(c)
		}
		s += "(" + strings.Join(names, ",") + ")"
	}
	if entity {
		s += "/$entity"
	}
	return s
}

// retrieve answers GET set(id) (reference §4.7) with $select and $expand,
// the ETag header and conditional GET (If-None-Match → 304).
func (q *request) retrieve(t *schema.Table, id string) {
	if id == "" {
		q.fail(q.altKeyNotFound(t))
		return
	}
	sel, e := q.selection(t, q.opts.Select)
	if e != nil {
		q.fail(e)
		return
	}
	// The privilege check, then one read serving both the access check
	// and the answer (checkID would read the row twice).
	if e := q.requirePrivilege(security.Read, t); e != nil {
		q.fail(e)
		return
	}
	cols := q.withExpandColumns(t, readColumns(t, sel), q.opts.Expand)
	if cols != nil {
		for _, c := range security.OwnershipColumns(t) {
			if !contains(cols, c) {
				cols = append(cols, c)
			}
		}
	}
	r, err := q.env.Data.Get(q.ctx, t, id, cols)
	if err != nil {
		q.fail(q.storeError(t, id, err))
		return
	}
	if e := q.checkRow(security.Read, t, r); e != nil {
		q.fail(e)
		return
	}
	tag := etag(r)
	if inm := q.r.Header.Get("If-None-Match"); inm != "" && inm == tag && len(q.opts.Expand) == 0 && len(q.prefer.IncludeAnnotations) == 0 {
		q.w.Header().Set("ETag", tag)
		q.w.WriteHeader(http.StatusNotModified)
		return
	}
	out := q.encodeRow(t, r, sel)
	if len(q.opts.Expand) > 0 {
		if e := q.expand(t, []map[string]any{out}, []store.Row{r}, q.opts.Expand); e != nil {
			q.fail(e)
			return
		}
	}
	out["@odata.context"] = q.contextURL(t, sel, true)
	q.w.Header().Set("ETag", tag)
	q.writeJSON(http.StatusOK, out)
}

func (q *request) altKeyNotFound(t *schema.Table) *Error {
	return errorf(http.StatusNotFound, codeObjectDoesNotExist, "A record with the specified key values does not exist in %s entity", t.LogicalName)
}

// bind is an @odata.bind or deep-insert instruction of a request body.
type bind struct {
	nav  *schema.Nav
	ids  []string    // bound rows (for a collection: several)
	deep []store.Row // nested rows to create (deep insert)
	raw  []map[string]json.RawMessage
}

// parsedBody is a request body turned into columns and relationships.
type parsedBody struct {
	row   store.Row
	binds []bind // collection binds and deep inserts, applied after the row exists
	pre   []bind // single-valued deep inserts, created before the row
}

// parseBody converts a JSON body for table t (create: forCreate).
func (q *request) parseBody(t *schema.Table, body map[string]json.RawMessage, forCreate bool) (*parsedBody, *Error) {
	pb := &parsedBody{row: store.Row{}}
	keys := make([]string, 0, len(body))
	for k := range body {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		raw := body[k]
		if strings.HasPrefix(k, "@") {
			continue // instance annotations (@odata.type, @odata.etag)
		}
		if nav, ok := strings.CutSuffix(k, "@odata.bind"); ok {
			if e := q.parseBind(t, nav, raw, pb); e != nil {
				return nil, e
			}
			continue
		}
		if strings.Contains(k, "@") {
			continue // property annotations
		}
		if c := t.Column(k); c != nil && !c.Type.IsLookup() {
			if c.ReadOnly || (c.CreateOnly && !forCreate && c.LogicalName != t.PrimaryID) {
				continue // platform-managed; Dataverse ignores them
			}
			v, e := parseValue(t, c, raw)
			if e != nil {
				return nil, e
			}
			pb.row[c.LogicalName] = v
			continue
		}
		if n := q.sch.Nav(t, k); n != nil && forCreate {
			if e := q.parseDeep(t, n, raw, pb); e != nil {
				return nil, e
			}
			continue
		}
		if c := t.Column(k); c != nil && c.Type.IsLookup() {
			return nil, payloadError(t.EntitySetName, "An undeclared property '"+k+"' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.")
		}
		return nil, payloadError(t.EntitySetName, "The property '"+k+"' does not exist on type 'Microsoft.Dynamics.CRM."+t.LogicalName+"'. Make sure to only use property names that are defined by the type or mark the type as open type.")
	}
	if st, ok := pb.row["statuscode"].(int64); ok {
		c := t.Column("statuscode")
		state, _ := pb.row["statecode"].(int64)
		for _, o := range c.Options {
			if int64(o.Value) == st && int64(o.State) != state && pb.row["statecode"] != nil {
				return nil, errorf(http.StatusBadRequest, "0x8004431a", "%d is not a valid status code for state code %s.%d", st, t.SchemaName, state)
			}
		}
	}
	return pb, nil
}

// parseBind handles nav@odata.bind: a single reference sets the lookup; an
// array associates rows on create.
func (q *request) parseBind(t *schema.Table, navName string, raw json.RawMessage, pb *parsedBody) *Error {
	nav := q.sch.Nav(t, navName)
	if nav == nil {
		if c := t.Column(navName); c != nil && c.Type == schema.Owner {
			// ownerid binds through the lookup column; a customer lookup
			// (parentcustomerid) has no navigation property of its own:
			// parentcustomerid_account / _contact (reference §4.12)
			nav = &schema.Nav{Name: navName, Column: c}
		} else {
			return payloadError(t.EntitySetName, "An undeclared property '"+navName+"' which only has property annotations in the payload but no property value was found in the payload. In OData, only declared navigation properties and declared named streams can be represented as properties without values.")
		}
	}
	if string(raw) == "null" {
		if nav.Collection() && nav.Column == nil {
			return payloadError(t.EntitySetName, "A null value was found for the collection navigation property '"+navName+"'.")
		}
		pb.row[nav.Column.LogicalName] = nil
		return nil
	}
	if nav.Column != nil { // single-valued
		var s string
		if err := json.Unmarshal(raw, &s); err != nil {
			return payloadError(t.EntitySetName, "The value of '"+navName+"@odata.bind' must be a string: the URL of the related record.")
		}
		ref, e := q.parseEntityRef(s)
		if e != nil {
			return e
		}
		if !contains(nav.Column.Targets, ref.Table) || (nav.Target != nil && nav.Target.LogicalName != ref.Table) {
			return payloadError(t.EntitySetName, "The record '"+s+"' cannot be bound to '"+navName+"': it must be a "+strings.Join(navTargets(nav), " or ")+".")
		}
		if e := q.mustExist(ref); e != nil {
			return e
		}
		pb.row[nav.Column.LogicalName] = ref
		return nil
	}
	var list []string
	if err := json.Unmarshal(raw, &list); err != nil {
		return payloadError(t.EntitySetName, "The value of '"+navName+"@odata.bind' must be an array of record URLs.")
	}
	b := bind{nav: nav}
	for _, s := range list {
		ref, e := q.parseEntityRef(s)
		if e != nil {
			return e
		}
		if ref.Table != nav.Target.LogicalName {
			return payloadError(t.EntitySetName, "The record '"+s+"' cannot be bound to '"+navName+"': it must be a "+nav.Target.LogicalName+".")
		}
		if e := q.mustExist(ref); e != nil {
			return e
		}
		b.ids = append(b.ids, ref.ID)
	}
	pb.binds = append(pb.binds, b)
	return nil
}

func navTargets(n *schema.Nav) []string {
	if n.Target != nil {
		return []string{n.Target.LogicalName}
	}
	return n.Column.Targets
}

func contains(list []string, s string) bool {
	for _, x := range list {
		if x == s {
			return true
		}
	}
	return false
}

// parseDeep handles a nested object or array under a navigation property
// (deep insert, reference §4.6).
func (q *request) parseDeep(t *schema.Table, nav *schema.Nav, raw json.RawMessage, pb *parsedBody) *Error {
	if nav.Collection() {
		var items []map[string]json.RawMessage
		if err := json.Unmarshal(raw, &items); err != nil {
			return payloadError(t.EntitySetName, "The value of collection navigation property '"+nav.Name+"' must be an array of objects.")
		}
		pb.binds = append(pb.binds, bind{nav: nav, raw: items})
		return nil
	}
	var item map[string]json.RawMessage
	if err := json.Unmarshal(raw, &item); err != nil || item == nil {
		return payloadError(t.EntitySetName, "The value of navigation property '"+nav.Name+"' must be an object.")
	}
	pb.pre = append(pb.pre, bind{nav: nav, raw: []map[string]json.RawMessage{item}})
	return nil
}

// parseEntityRef parses a record URL of @odata.bind / @odata.id: "/contacts(<id>)",
// "contacts(<id>)", an absolute URL of this environment's Web API, or a
// $batch Content-ID reference.
func (q *request) parseEntityRef(s string) (store.Ref, *Error) {
	orig := s
	if strings.HasPrefix(s, "$") && q.contentIDs != nil {
		if ref, ok := q.contentIDs[s[1:]]; ok {
			return ref, nil
		}
		return store.Ref{}, badRequest("Content-ID Reference: '%s' does not exist in the batch context.", s)
	}
	if u, err := url.Parse(s); err == nil && u.IsAbs() {
		i := strings.Index(u.Path, "/api/data/v9.")
		if i < 0 || !strings.EqualFold(u.Scheme+"://"+u.Host, q.env.URL) {
			return store.Ref{}, badRequest("The URI '%s' is not valid for this environment.", orig)
		}
		s = u.Path[i+len("/api/data/v9."):]
		if j := strings.IndexByte(s, '/'); j >= 0 {
			s = s[j+1:]
		}
	}
	s = strings.TrimPrefix(s, "/")
	p, err := odata.ParsePath(s)
	if err != nil || len(p.Segments) != 1 || !p.Segments[0].Parens {
		return store.Ref{}, badRequest("The URI '%s' is not a valid entity reference.", orig)
	}
	seg := &p.Segments[0]
	t := q.sch.BySet(seg.Name)
	if t == nil {
		return store.Ref{}, segmentNotFound(seg.Text)
	}
	id, e := q.keyID(t, seg)
	if e != nil {
		return store.Ref{}, e
	}
	if id == "" {
		return store.Ref{}, q.altKeyNotFound(t)
	}
	return store.Ref{ID: id, Table: t.LogicalName}, nil
}

// mustExist checks a referenced row exists.
func (q *request) mustExist(ref store.Ref) *Error {
	t := q.sch.Table(ref.Table)
	if _, err := q.data().Get(q.ctx, t, ref.ID, []string{t.PrimaryID}); err != nil {
		return q.storeError(t, ref.ID, err)
	}
	return nil
}

// data is the store to use: the change set's transaction inside $batch.
func (q *request) data() store.Data {
	if q.tx != nil {
		return q.tx
	}
	return q.env.Data
}

// create answers POST set (reference §4.6): 204 with OData-EntityId, or
// 201 with the row when Prefer: return=representation.
func (q *request) create(t *schema.Table) {
	body, e := q.readBody(t.EntitySetName)
	if e != nil {
		q.fail(e)
		return
	}
	var id string
	err := q.inTx(func() *Error {
		var e *Error
		id, e = q.createRow(t, body, "")
		return e
	})
	if err != nil {
		q.fail(err)
		return
	}
	q.created(t, id, http.StatusCreated)
}

// created writes the answer of a create (or upsert that created).
func (q *request) created(t *schema.Table, id string, repStatus int) {
	if q.prefer.ReturnRepresentation {
		q.representation(t, id, repStatus)
		return
	}
	q.w.Header().Set("OData-EntityId", q.entityURL(t, id))
	q.w.WriteHeader(http.StatusNoContent)
}

// representation writes the row with $select (and $expand on create).
func (q *request) representation(t *schema.Table, id string, status int) {
	sel, e := q.selection(t, q.opts.Select)
	if e != nil {
		q.fail(e)
		return
	}
	r, err := q.data().Get(q.ctx, t, id, q.withExpandColumns(t, readColumns(t, sel), q.opts.Expand))
	if err != nil {
		q.fail(q.storeError(t, id, err))
		return
	}
	out := q.encodeRow(t, r, sel)
	if len(q.opts.Expand) > 0 && status == http.StatusCreated {
		if e := q.expand(t, []map[string]any{out}, []store.Row{r}, q.opts.Expand); e != nil {
			q.fail(e)
			return
		}
	}
	out["@odata.context"] = q.contextURL(t, sel, true)
	q.w.Header().Set("Preference-Applied", "return=representation")
	q.w.Header().Set("ETag", etag(r))
	q.writeJSON(status, out)
}

// inTx runs fn in one transaction (a change set's, inside $batch).
func (q *request) inTx(fn func() *Error) *Error {
	if q.tx != nil {
		return fn()
	}
	q.txOwner = true
	defer func() { q.txOwner = false; q.flushDenied() }()
	var fe *Error
	err := q.env.Data.InTx(q.ctx, func(d store.Data) error {
		q.tx = d
		defer func() { q.tx = nil }()
		if fe = fn(); fe != nil {
			return fe
		}
		return nil
	})
	if fe != nil {
		return fe
	}
	if err != nil {
		return q.internal(err)
	}
	q.s.changed(q.env)
	return nil
}

// createRow creates a row from a body (with deep inserts and binds) and
// returns its id. id, if not empty, is the id to use (upsert).
func (q *request) createRow(t *schema.Table, body map[string]json.RawMessage, id string) (string, *Error) {
	pb, e := q.parseBody(t, body, true)
	if e != nil {
		return "", e
	}
	if id != "" {
		if v, ok := pb.row[t.PrimaryID]; ok && v != id {
			return "", badRequest("The primary key in the body does not match the key in the URL.")
		}
		pb.row[t.PrimaryID] = id
	}
	if v, ok := pb.row[t.PrimaryID]; ok && v == nil {
		delete(pb.row, t.PrimaryID)
	}
	for _, c := range t.Columns {
		if c.Required == schema.SystemRequired && !c.ReadOnly {
			if v, ok := pb.row[c.LogicalName]; ok && v == nil {
				return "", errorf(http.StatusBadRequest, codeInvalidArgument, "Attribute '%s' cannot be set to NULL", c.LogicalName)
			}
		}
	}
	for _, b := range pb.pre {
		childID, e := q.createRow(b.nav.Target, b.raw[0], "")
		if e != nil {
			return "", e
		}
		pb.row[b.nav.Column.LogicalName] = store.Ref{ID: childID, Table: b.nav.Target.LogicalName}
	}
	q.env.Stamp(t, pb.row, q.caller())
	if e := q.s.beforeCreate(q, t, pb.row); e != nil {
		return "", e
	}
	newID := pb.row[t.PrimaryID].(string)
	if _, err := q.data().Insert(q.ctx, t, pb.row); err != nil {
		return "", q.storeError(t, newID, err)
	}
	if e := q.auditChange(schema.AuditCreate, t, newID, nil, pb.row); e != nil {
		return "", e
	}
	for _, b := range pb.binds {
		for _, raw := range b.raw {
			if b.nav.Many != nil {
				raw = withBind(raw, b.nav.Many.ReferencingNav, q.entityURL(t, newID))
				if _, e := q.createRow(b.nav.Target, raw, ""); e != nil {
					return "", e
				}
				continue
			}
			childID, e := q.createRow(b.nav.Target, raw, "")
			if e != nil {
				return "", e
			}
			b.ids = append(b.ids, childID)
		}
		for _, cid := range b.ids {
			if e := q.link(t, newID, b.nav, cid); e != nil {
				return "", e
			}
		}
	}
	return newID, nil
}

// withBind returns body plus nav@odata.bind = url.
func withBind(body map[string]json.RawMessage, nav, url string) map[string]json.RawMessage {
	out := make(map[string]json.RawMessage, len(body)+1)
	for k, v := range body {
		out[k] = v
	}
	b, _ := json.Marshal(url)
	out[nav+"@odata.bind"] = b
	return out
}

// link associates row id of t with row otherID through a collection nav.
func (q *request) link(t *schema.Table, id string, nav *schema.Nav, otherID string) *Error {
	if e := q.checkLink(t, id, nav, otherID); e != nil {
		return e
	}
	switch {
	case nav.Many != nil:
		child := nav.Target
		col := child.Column(nav.Many.ReferencingAttribute)
		r := store.Row{col.LogicalName: store.Ref{ID: id, Table: t.LogicalName}}
		q.env.Touch(child, r, nil, q.caller())
		if _, err := q.data().Update(q.ctx, child, otherID, r, 0); err != nil {
			return q.storeError(child, otherID, err)
		}
	case nav.M2M != nil:
		a, b := id, otherID
		if nav.M2M.Entity1 != t.LogicalName {
			a, b = otherID, id
		}
		if err := q.data().Associate(q.ctx, nav.M2M, a, b); err != nil {
			if err == store.ErrConflict || strings.Contains(err.Error(), "conflict") {
				return errorf(http.StatusBadRequest, codeDuplicate, "Cannot insert duplicate key.")
			}
			return q.internal(err)
		}
		if e := q.s.afterAssociate(q, nav.M2M); e != nil {
			return e
		}
	}
	return q.auditLink(schema.AuditAssociate, nav.M2M, t, id, nav.Target, otherID)
}

// updateAction is Assign when the owner changes, else Update.
func updateAction(change, prev store.Row) int {
	if o, ok := change["ownerid"].(store.Ref); ok {
		if old, _ := prev["ownerid"].(store.Ref); old.ID != o.ID {
			return schema.AuditAssign
		}
	}
	return schema.AuditUpdate
}

// checkLink decides relating row id of t to row otherID through nav: for
// one-to-many, Append on the child row and AppendTo on the parent; for
// many-to-many, Append and AppendTo on both (and no role escalation).
func (q *request) checkLink(t *schema.Table, id string, nav *schema.Nav, otherID string) *Error {
	if nav.Many != nil {
		if e := q.checkID(security.Append, nav.Target, otherID); e != nil {
			return e
		}
		return q.checkID(security.AppendTo, t, id)
	}
	return q.checkAssociate(t, id, nav.Target, otherID)
}

// update answers PATCH set(id): update, or upsert (create when missing),
// with If-Match / If-None-Match (reference §4.8).
func (q *request) update(t *schema.Table, id string, key *odata.Segment) {
	body, e := q.readBody(t.EntitySetName)
	if e != nil {
		q.fail(e)
		return
	}
	ifMatch, ifNone := q.r.Header.Get("If-Match"), q.r.Header.Get("If-None-Match")
	var existing store.Row
	if id != "" {
		r, err := q.env.Data.Get(q.ctx, t, id, nil)
		if err == nil {
			existing = r
		} else if err != store.ErrNotFound && !isNotFound(err) {
			q.fail(q.internal(err))
			return
		}
	}
	if existing == nil {
		if ifMatch != "" {
			if id == "" {
				q.fail(q.altKeyNotFound(t))
			} else {
				q.fail(errorf(http.StatusNotFound, codeObjectDoesNotExist, "%s With Id = %s Does Not Exist", t.LogicalName, id))
			}
			return
		}
		// Upsert creates the row, with the key from the URL.
		if id == "" {
			id = directory.NewID()
			for _, c := range q.altKeyCols() {
				b, _ := json.Marshal(jsonValue(t.Column(c.Column), c.Value))
				if _, ok := body[c.Column]; !ok {
					body[c.Column] = b
				}
			}
		}
		err := q.inTx(func() *Error {
			_, e := q.createRow(t, body, id)
			return e
		})
		if err != nil {
			q.fail(err)
			return
		}
		q.created(t, id, http.StatusCreated)
		return
	}
	id = existing[t.PrimaryID].(string)
	if ifNone == "*" {
		q.fail(errorf(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists."))
		return
	}
	var version int64
	if ifMatch != "" && ifMatch != "*" {
		if ifMatch != etag(existing) {
			q.fail(errorf(http.StatusPreconditionFailed, codeVersionMismatch, "The version of the existing record doesn't match the RowVersion property provided."))
			return
		}
		version, _ = existing["versionnumber"].(int64)
	}
	pb, e := q.parseBody(t, body, false)
	if e != nil {
		q.fail(e)
		return
	}
	if v, ok := pb.row[t.PrimaryID]; ok && v != id {
		q.fail(badRequest("The primary key in the body does not match the key in the URL."))
		return
	}
	delete(pb.row, t.PrimaryID)
	if err := q.inTx(func() *Error {
		if e := q.s.beforeUpdate(q, t, existing, pb.row); e != nil {
			return e
		}
		q.env.Touch(t, pb.row, existing, q.caller())
		if _, err := q.data().Update(q.ctx, t, id, pb.row, version); err != nil {
			return q.storeError(t, id, err)
		}
		if e := q.auditChange(updateAction(pb.row, existing), t, id, existing, pb.row); e != nil {
			return e
		}
		for _, b := range pb.binds {
			for _, cid := range b.ids {
				if e := q.link(t, id, b.nav, cid); e != nil {
					return e
				}
			}
		}
		return nil
	}); err != nil {
		q.fail(err)
		return
	}
	if q.prefer.ReturnRepresentation {
		q.representation(t, id, http.StatusOK)
		return
	}
	q.w.Header().Set("OData-EntityId", q.entityURL(t, id))
	q.w.WriteHeader(http.StatusNoContent)
}

func isNotFound(err error) bool {
	return err != nil && strings.Contains(err.Error(), store.ErrNotFound.Error())
}

// altKeyCols returns the alternate key values of the URL (upsert by key).
func (q *request) altKeyCols() []store.Compare {
	var out []store.Compare
	if and, ok := q.altKey.(store.And); ok {
		for _, c := range and {
			if cmp, ok := c.(store.Compare); ok {
				out = append(out, cmp)
			}
		}
	}
	return out
}

// delete answers DELETE set(id), honouring If-Match.
func (q *request) delete(t *schema.Table, id string) {
	if id == "" {
		q.fail(q.altKeyNotFound(t))
		return
	}
	var version int64
	if im := q.r.Header.Get("If-Match"); im != "" && im != "*" {
		r, err := q.env.Data.Get(q.ctx, t, id, []string{"versionnumber"})
		if err != nil {
			q.fail(q.storeError(t, id, err))
			return
		}
		if im != etag(r) {
			q.fail(errorf(http.StatusPreconditionFailed, codeVersionMismatch, "The version of the existing record doesn't match the RowVersion property provided."))
			return
		}
		version, _ = r["versionnumber"].(int64)
	}
	if e := q.inTx(func() *Error {
		if e := q.s.beforeDelete(q, t, id); e != nil {
			return e
		}
		if err := q.data().Delete(q.ctx, t, id, version); err != nil {
			return q.storeError(t, id, err)
		}
		if e := q.auditChange(schema.AuditDelete, t, id, nil, nil); e != nil {
			return e
		}
		return q.clearReferences(t, id)
	}); e != nil {
		q.fail(e)
		return
	}
	q.w.WriteHeader(http.StatusNoContent)
}

// clearReferences empties the lookups that pointed at a deleted row
// (Dataverse's "remove link" behaviour; we do not cascade deletes).
func (q *request) clearReferences(t *schema.Table, id string) *Error {
	for _, rel := range q.sch.Relationships() {
		if rel.Referenced != t.LogicalName {
			continue
		}
		child := q.sch.Table(rel.Referencing)
		col := child.Column(rel.ReferencingAttribute)
		if col.ReadOnly {
			continue // audit columns keep their history
		}
		rows, err := q.data().Query(q.ctx, child, store.Query{Columns: []string{child.PrimaryID},
			Where: store.Compare{Column: col.LogicalName, Op: "eq", Value: store.Ref{ID: id, Table: t.LogicalName}}})
		if err != nil {
			return q.internal(err)
		}
		for _, r := range rows {
			if _, err := q.data().Update(q.ctx, child, r[child.PrimaryID].(string), store.Row{col.LogicalName: nil}, 0); err != nil {
				return q.internal(err)
			}
		}
	}
	return nil
}
