package webapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"net/http"
	"strings"

	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// odataError converts a parser error to the Web API's.
func odataError(err error) *Error {
	var oe *odata.Error
	if errors.As(err, &oe) {
		return &Error{Status: oe.Status, Code: oe.Code, Message: oe.Message}
	}
	return badRequest("Bad Request - Error in query syntax.")
}

// segmentNotFound is the answer for a path segment that names nothing
// (reference §4.15, 0x8006088a).
func segmentNotFound(seg string) *Error {
	return errorf(http.StatusNotFound, codeSegmentNotFound, "Resource not found for the segment '%s'.", seg)
}

func methodNotAllowed(method, what string) *Error {
	return errorf(http.StatusMethodNotAllowed, codeNotSupported, "The HTTP method '%s' is not supported on %s.", method, what)
}

// route dispatches a request on its resource path (OData Part 2 §4).
func (q *request) route() {
	p, err := odata.ParsePath(q.path)
	if err != nil {
		q.fail(odataError(err))
		return
	}
	qo, err := odata.ParseQuery(q.r.URL.RawQuery)
	if err != nil {
		q.fail(odataError(err))
		return
	}
	q.opts = qo
	q.prefer = odata.ParsePrefer(q.r.Header.Values("Prefer"))
	// Query forms dvs2s does not implement are refused, never ignored:
	// ignoring them would answer with the wrong rows.
	raw := q.r.URL.Query()
	for _, p := range []string{"fetchXml", "savedQuery", "userQuery"} {
		if raw.Has(p) {
			q.fail(errorf(http.StatusNotImplemented, codeNotSupported, "The %s query parameter is not supported by dvs2s; use OData query options.", p))
			return
		}
	}
	if qo.Apply != "" {
		q.fail(errorf(http.StatusNotImplemented, codeNotSupported, "$apply (aggregation) is not supported by dvs2s yet."))
		return
	}
	segs := p.Segments
	if len(segs) == 0 {
		q.only(http.MethodGet, q.serviceDocument)
		return
	}
	first := &segs[0]
	switch first.Kind {
	case odata.SegmentMetadata:
		q.only(http.MethodGet, q.metadata)
		return
	case odata.SegmentBatch:
		q.batch()
		return
	case odata.SegmentName:
	default:
		q.fail(segmentNotFound(first.Text))
		return
	}
	if first.Namespace == "" {
		if h, ok := q.s.functions[first.Name]; ok {
			h(q, segs)
			return
		}
	}
	t := q.sch.BySet(first.Name)
	if t == nil || first.Namespace != "" {
		q.fail(segmentNotFound(first.Text))
		return
	}
	if t.LogicalName == schema.TableAudit && q.r.Method != http.MethodGet {
		q.fail(methodNotAllowed(q.r.Method, "the audit table (it is written by the platform only)"))
		return
	}
	if !first.Parens {
		switch {
		case len(segs) == 1:
			switch q.r.Method {
			case http.MethodGet:
				q.list(t, nil)
			case http.MethodPost:
				q.create(t)
			default:
				q.fail(methodNotAllowed(q.r.Method, "a collection"))
			}
		case len(segs) == 2 && segs[1].Kind == odata.SegmentCount:
			q.only(http.MethodGet, func() { q.countSet(t, nil) })
		default:
			q.fail(segmentNotFound(segs[1].Text))
		}
		return
	}
	id, e := q.keyID(t, first)
	if e != nil {
		q.fail(e)
		return
	}
	rest := segs[1:]
	if len(rest) == 0 {
		switch q.r.Method {
		case http.MethodGet:
			q.retrieve(t, id)
		case http.MethodPatch:
			q.update(t, id, first)
		case http.MethodDelete:
			q.delete(t, id)
		default:
			q.fail(methodNotAllowed(q.r.Method, "an entity"))
		}
		return
	}
	q.entityPath(t, id, rest)
}

// only runs h when the method is GET (or the given one), else 405.
func (q *request) only(method string, h func()) {
	if q.r.Method != method {
		q.fail(methodNotAllowed(q.r.Method, "this resource"))
		return
	}
	h()
}

// keyID resolves a key segment (accounts(<guid>), accounts(accountid=<guid>)
// or an alternate key) to the row's primary id. An alternate key that
// matches no row yields "" with no error (upsert creates then).
func (q *request) keyID(t *schema.Table, s *odata.Segment) (string, *Error) {
	if len(s.Args) == 1 && (s.Args[0].Name == "" || s.Args[0].Name == t.PrimaryID) {
		v, e := q.argValue(s.Args[0])
		if e != nil {
			return "", e
		}
		if v.Kind != odata.LitGUID {
			return "", badRequest("Bad Request - Error in query syntax. The key value '%s' is not a valid GUID for the entity set '%s'.", v.Raw, t.EntitySetName)
		}
		return v.Value.(string), nil
	}
	// Alternate key (reference §4.7): the named columns must form a key.
	names := map[string]*odata.Lit{}
	for _, a := range s.Args {
		if a.Name == "" {
			return "", badRequest("Bad Request - Error in query syntax.")
		}
		v, e := q.argValue(a)
		if e != nil {
			return "", e
		}
		names[a.Name] = v
	}
	var key *schema.Key
	for i, k := range t.Keys {
		if len(k.Columns) != len(names) {
			continue
		}
		match := true
		for _, c := range k.Columns {
			if _, ok := names[propertyName(t.Column(c))]; !ok {
				match = false
			}
		}
		if match {
			key = &t.Keys[i]
		}
	}
	if key == nil {
		var list []string
		for n := range names {
			list = append(list, n)
		}
		return "", errorf(http.StatusBadRequest, "0x80060890", "The key attributes (%s) are not a defined alternate key for the %s entity.", strings.Join(list, ","), t.LogicalName)
	}
	var where store.And
	for _, cn := range key.Columns {
		c := t.Column(cn)
		v, e := litValue(t, c, names[propertyName(c)])
		if e != nil {
			return "", e
		}
		where = append(where, store.Compare{Column: cn, Op: "eq", Value: v})
	}
	rows, err := q.env.Data.Query(q.ctx, t, store.Query{Columns: []string{t.PrimaryID}, Where: where, Limit: 1})
	if err != nil {
		return "", q.internal(err)
	}
	if len(rows) == 0 {
		q.altKey = where
		return "", nil
	}
	return rows[0][t.PrimaryID].(string), nil
}

// argValue resolves a key or parameter argument (a literal or an alias).
func (q *request) argValue(a odata.Arg) (*odata.Lit, *Error) {
	if a.Alias == "" {
		return a.Value, nil
	}
	raw, ok := q.opts.Aliases[a.Alias]
	if !ok {
		return &odata.Lit{Kind: odata.LitNull}, nil
	}
	e, err := odata.ParseFilter(raw)
	if err != nil {
		return nil, odataError(err)
	}
	l, ok := e.(*odata.Lit)
	if !ok {
		return nil, badRequest("The value of parameter alias '%s' must be a literal.", a.Alias)
	}
	return l, nil
}

// internal logs an unexpected failure and answers without internals.
func (q *request) internal(err error) *Error {
	q.s.log.Error("web api failure", "env", q.env.Name, "path", q.r.URL.Path, "err", err)
	return errorf(http.StatusInternalServerError, codeUnexpected, "An unexpected error occurred.")
}

// storeError maps store errors of a row operation.
func (q *request) storeError(t *schema.Table, id string, err error) *Error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return notFound(t.LogicalName, id)
	case errors.Is(err, store.ErrVersion):
		return errorf(http.StatusPreconditionFailed, codeVersionMismatch, "The version of the existing record doesn't match the RowVersion property provided.")
	case errors.Is(err, store.ErrConflict):
		return errorf(http.StatusPreconditionFailed, codeDuplicate, "A record with matching key values already exists.")
	}
	return q.internal(err)
}

func (q *request) fail(e *Error) { writeError(q.w, e) }

// writeJSON writes a JSON body with the OData minimal-metadata content type.
func (q *request) writeJSON(status int, v any) {
	bp := jsonBuffers.Get().(*[]byte)
	defer func() {
		if cap(*bp) <= 64<<10 {
			jsonBuffers.Put(bp)
		}
	}()
	body, ok := appendJSON((*bp)[:0], v) // the common shapes, without reflection
	if ok {
		*bp = body
	} else {
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(v); err != nil {
			q.s.log.Error("encoding response", "err", err)
			q.fail(errorf(http.StatusInternalServerError, codeUnexpected, "The response could not be encoded."))
			return
		}
		body = bytes.TrimSuffix(buf.Bytes(), []byte("\n"))
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	q.w.WriteHeader(status)
	q.w.Write(body)
}

// serviceDocument lists the entity sets (reference §4.4).
func (q *request) serviceDocument() {
	var sets []map[string]string
	for _, t := range q.sch.Tables() {
		sets = append(sets, map[string]string{"name": t.EntitySetName, "kind": "EntitySet", "url": t.EntitySetName})
	}
	q.writeJSON(http.StatusOK, map[string]any{"@odata.context": q.base + "$metadata", "value": sets})
}

// whoAmI answers WhoAmI (reference §4.5).
func (q *request) whoAmI(segs []odata.Segment) {
	if q.r.Method != http.MethodGet || len(segs) != 1 {
		q.fail(noResource(q.base + q.path))
		return
	}
	q.writeJSON(http.StatusOK, map[string]any{
		"@odata.context": q.base + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
		"BusinessUnitId": q.p.BU,
		"UserId":         q.p.UserID,
		"OrganizationId": q.env.ID,
	})
}
