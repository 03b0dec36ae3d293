package dataverse

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"strconv"
	"strings"
)

// MaxBatchSize is the most operations one $batch may hold (reference §4.13).
const MaxBatchSize = 1000

// Batch is a $batch request: operations that run one after the other on
// the server, in one HTTP request. Operations in a ChangeSet run in one
// transaction: all succeed or all are rolled back. Build it with the
// methods below and run it with Client.ExecuteBatch.
//
// A batch saves round trips and counts as one request against the
// "number of requests" service protection limit, but not against the
// execution-time limit; start with batches of 10-100 operations.
type Batch struct {
	opAdder
	items []batchItem
	n     int
}

// ChangeSet is an atomic group of modifying operations in a Batch. A later
// operation can refer to the row an earlier one created with its Ref, in
// URLs and in @odata.bind values.
type ChangeSet struct {
	opAdder
	ops []*BatchOp
}

type batchItem struct {
	op *BatchOp   // a single operation, or
	cs *ChangeSet // a change set
}

// BatchOp is one operation of a Batch.
type BatchOp struct {
	Method string
	// Path is relative to the Web API base ("accounts", "accounts(<id>)"),
	// an absolute URL, or a Content-ID reference such as "$1".
	Path string
	Body []byte
	// Index is the operation's position in the batch (0-based); results
	// come in the same order.
	Index int
	// ContentID identifies the operation inside its change set ("" outside
	// change sets).
	ContentID string

	ro        *requestOptions
	changeSet *ChangeSet
}

// Ref returns "$<Content-ID>", the reference to this operation's row that
// later operations of the same change set may use as a path ("$1") or in
// "<nav>@odata.bind". It panics for an operation outside a change set.
func (op *BatchOp) Ref() string {
	if op.ContentID == "" {
		panic("dataverse: BatchOp.Ref: only operations of a change set have a Content-ID")
	}
	return "$" + op.ContentID
}

// opAdder holds the operation builders shared by Batch and ChangeSet.
type opAdder struct {
	add func(method, path string, body any, opts []RequestOption) *BatchOp
	err *error
}

// NewBatch returns an empty batch.
func NewBatch() *Batch {
	b := &Batch{}
	var err error
	b.opAdder = opAdder{err: &err, add: func(method, path string, body any, opts []RequestOption) *BatchOp {
		op := b.newOp(method, path, body, opts)
		b.items = append(b.items, batchItem{op: op})
		return op
	}}
	return b
}

func (b *Batch) newOp(method, path string, body any, opts []RequestOption) *BatchOp {
	ro := &requestOptions{}
	for _, o := range opts {
		if o != nil {
			o(ro)
		}
	}
	op := &BatchOp{Method: method, Path: path, Index: b.n, ro: ro}
	b.n++
	switch v := body.(type) {
	case nil:
	case []byte:
		op.Body = v
	case json.RawMessage:
		op.Body = v
	default:
		out, err := json.Marshal(v)
		if err != nil && *b.err == nil {
			*b.err = fmt.Errorf("dataverse: batch operation %d (%s %s): encoding the body: %w", op.Index, method, path, err)
		}
		op.Body = out
	}
	if len(ro.query) > 0 {
		sep := "?"
		if strings.Contains(op.Path, "?") {
			sep = "&"
		}
		op.Path += sep + strings.Join(ro.query, "&")
	}
	return op
}

// ChangeSet starts a new change set at the end of the batch.
func (b *Batch) ChangeSet() *ChangeSet {
	cs := &ChangeSet{}
	cs.opAdder = opAdder{err: b.err, add: func(method, path string, body any, opts []RequestOption) *BatchOp {
		op := b.newOp(method, path, body, opts)
		op.changeSet = cs
		op.ContentID = strconv.Itoa(op.Index + 1)
		cs.ops = append(cs.ops, op)
		return op
	}}
	b.items = append(b.items, batchItem{cs: cs})
	return cs
}

// Len returns the number of operations.
func (b *Batch) Len() int { return b.n }

// Request adds any operation; body is JSON-encoded unless it is []byte.
func (a opAdder) Request(method, path string, body any, opts ...RequestOption) *BatchOp {
	return a.add(method, path, body, opts)
}

// Get adds a GET of a path such as QueryPath("accounts", q). GETs belong
// outside change sets.
func (a opAdder) Get(path string, opts ...RequestOption) *BatchOp {
	return a.add(http.MethodGet, path, nil, opts)
}

// Retrieve adds a GET of one row.
func (a opAdder) Retrieve(set, key string, q *Query, opts ...RequestOption) *BatchOp {
	return a.add(http.MethodGet, QueryPath(entityPath(set, key), q), nil, opts)
}

// Create adds a create of a row in set.
func (a opAdder) Create(set string, row any, opts ...RequestOption) *BatchOp {
	return a.add(http.MethodPost, set, row, opts)
}

// Update adds an update of an existing row (If-Match: *). key may be a
// Ref of an earlier operation of the same change set.
func (a opAdder) Update(set, key string, row any, opts ...RequestOption) *BatchOp {
	return a.add(http.MethodPatch, rowPath(set, key), row, append([]RequestOption{WithIfMatch("*")}, opts...))
}

// Upsert adds an upsert.
func (a opAdder) Upsert(set, key string, row any, opts ...RequestOption) *BatchOp {
	return a.add(http.MethodPatch, rowPath(set, key), row, opts)
}

// Delete adds a delete.
func (a opAdder) Delete(set, key string, opts ...RequestOption) *BatchOp {
	return a.add(http.MethodDelete, rowPath(set, key), nil, opts)
}

// Associate adds an association (POST set(key)/nav/$ref); target is a
// row path "targetSet(targetKey)" or a Ref.
func (a opAdder) Associate(set, key, nav, target string, opts ...RequestOption) *BatchOp {
	return a.add(http.MethodPost, rowPath(set, key)+"/"+nav+"/$ref", map[string]string{"@odata.id": target}, opts)
}

// rowPath is entityPath, or the reference itself for "$n".
func rowPath(set, key string) string {
	if strings.HasPrefix(key, "$") {
		return key
	}
	return entityPath(set, key)
}

// BatchResult is the outcome of one operation of a batch.
type BatchResult struct {
	Op         *BatchOp
	StatusCode int // 0 if the operation did not run
	Header     http.Header
	Body       []byte
	// Err is the operation's *Error, ErrNotExecuted if the batch stopped
	// before it, or, for every operation of a failed change set, the error
	// that rolled the change set back.
	Err error
	// RolledBack is true for the operations of a change set that failed:
	// none of its changes were kept.
	RolledBack bool
}

// ErrNotExecuted is the Err of batch operations the server did not run
// because an earlier one failed (without WithContinueOnError).
var ErrNotExecuted = errors.New("dataverse: batch operation not executed: an earlier operation failed")

// ID returns the id of the row the operation created or changed (from
// OData-EntityId), or "".
func (r *BatchResult) ID() string {
	if r.Header == nil {
		return ""
	}
	if id := idFromEntityURL(r.Header.Get("OData-EntityId")); id != "" {
		return id
	}
	return idFromEntityURL(r.Header.Get("Location"))
}

// Decode decodes the operation's JSON answer into v.
func (r *BatchResult) Decode(v any) error {
	if len(r.Body) == 0 {
		return errors.New("dataverse: batch operation answered with no body")
	}
	return json.Unmarshal(bytes.TrimPrefix(r.Body, []byte("\ufeff")), v)
}

// BatchResponse holds one result per operation, in batch order.
type BatchResponse struct {
	Results []BatchResult
}

// Err returns the first failed operation's error, or nil.
func (br *BatchResponse) Err() error {
	for _, r := range br.Results {
		if r.Err != nil {
			return r.Err
		}
	}
	return nil
}

// ExecuteBatch sends a batch. The error is about the batch as a whole
// (transport, authentication, throttling that outlasted the retries, a
// malformed batch); each operation's own outcome is in its BatchResult.
// A batch that only reads is retried like a GET; one that writes only on
// 429 (the server refused it before running anything).
func (c *Client) ExecuteBatch(ctx context.Context, b *Batch, opts ...RequestOption) (*BatchResponse, error) {
	if *b.err != nil {
		return nil, *b.err
	}
	if b.n == 0 {
		return &BatchResponse{}, nil
	}
	if b.n > MaxBatchSize {
		return nil, fmt.Errorf("dataverse: a batch holds at most %d operations, this one %d: split it", MaxBatchSize, b.n)
	}
	body, ctype, err := c.encodeBatch(b)
	if err != nil {
		return nil, err
	}
	k, err := c.newCall(http.MethodPost, "$batch", body, opts)
	if err != nil {
		return nil, err
	}
	k.ctype = ctype
	k.multipartErrors = true
	k.safe = true
	for _, it := range b.items {
		if it.cs != nil || it.op.Method != http.MethodGet {
			k.safe = false
		}
	}
	if k.ro.idempotent != nil {
		k.safe = *k.ro.idempotent
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	out, err := c.decodeBatch(b, resp)
	if err != nil {
		return nil, &Error{Method: k.method, URL: k.url, StatusCode: resp.status, Message: "decoding the $batch answer", Err: err}
	}
	return out, nil
}

func newBoundary(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// encodeBatch writes the multipart/mixed body (CRLF line ends throughout,
// reference §4.13).
func (c *Client) encodeBatch(b *Batch) ([]byte, string, error) {
	var buf bytes.Buffer
	w := multipart.NewWriter(&buf)
	if err := w.SetBoundary(newBoundary("batch_")); err != nil {
		return nil, "", err
	}
	for _, it := range b.items {
		if it.op != nil {
			if err := c.writeOpPart(w, it.op); err != nil {
				return nil, "", err
			}
			continue
		}
		if len(it.cs.ops) == 0 {
			continue
		}
		var cs bytes.Buffer
		cw := multipart.NewWriter(&cs)
		if err := cw.SetBoundary(newBoundary("changeset_")); err != nil {
			return nil, "", err
		}
		for _, op := range it.cs.ops {
			if err := c.writeOpPart(cw, op); err != nil {
				return nil, "", err
			}
		}
		if err := cw.Close(); err != nil {
			return nil, "", err
		}
		pw, err := w.CreatePart(textproto.MIMEHeader{"Content-Type": {"multipart/mixed; boundary=" + cw.Boundary()}})
		if err != nil {
			return nil, "", err
		}
		if _, err := pw.Write(cs.Bytes()); err != nil {
			return nil, "", err
		}
	}
	if err := w.Close(); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "multipart/mixed; boundary=" + w.Boundary(), nil
}

// writeOpPart writes one application/http part.
func (c *Client) writeOpPart(w *multipart.Writer, op *BatchOp) error {
	h := textproto.MIMEHeader{
		"Content-Type":              {"application/http"},
		"Content-Transfer-Encoding": {"binary"},
	}
	if op.ContentID != "" {
		h.Set("Content-ID", op.ContentID)
	}
	pw, err := w.CreatePart(h)
	if err != nil {
		return err
	}
	target := op.Path
	if !strings.HasPrefix(target, "$") {
		target = c.resolve(target)
	}
	var b bytes.Buffer
	b.WriteString(op.Method + " " + target + " HTTP/1.1\r\n")
	hdr := http.Header{}
	if op.Body != nil {
		hdr.Set("Content-Type", "application/json; type=entry")
	}
	if op.Method == http.MethodGet {
		hdr.Set("Accept", "application/json")
	}
	op.ro.apply(hdr)
	if err := hdr.Write(&b); err != nil {
		return err
	}
	b.WriteString("\r\n")
	b.Write(op.Body)
	_, err = pw.Write(b.Bytes())
	return err
}

// decodeBatch maps the multipart answer onto the operations.
func (c *Client) decodeBatch(b *Batch, resp *response) (*BatchResponse, error) {
	out := &BatchResponse{Results: make([]BatchResult, b.n)}
	var all []*BatchOp
	for _, it := range b.items {
		if it.op != nil {
			all = append(all, it.op)
		} else {
			all = append(all, it.cs.ops...)
		}
	}
	for _, op := range all {
		out.Results[op.Index] = BatchResult{Op: op, Err: ErrNotExecuted}
	}
	mt, params, err := mime.ParseMediaType(resp.header.Get("Content-Type"))
	if err != nil || !strings.HasPrefix(mt, "multipart/") || params["boundary"] == "" {
		return nil, fmt.Errorf("the answer is %q, not multipart/mixed", resp.header.Get("Content-Type"))
	}
	r := multipart.NewReader(bytes.NewReader(resp.body), params["boundary"])
	items := b.items[:0:0]
	for _, it := range b.items {
		if it.cs == nil || len(it.cs.ops) > 0 {
			items = append(items, it)
		}
	}
	for i := 0; ; i++ {
		part, err := r.NextPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if i >= len(items) {
			return nil, fmt.Errorf("the answer has more parts than the batch has requests (%d)", len(items))
		}
		it := items[i]
		pmt, pparams, _ := mime.ParseMediaType(part.Header.Get("Content-Type"))
		if strings.HasPrefix(pmt, "multipart/") {
			// A change set's answers, one per operation.
			cr := multipart.NewReader(part, pparams["boundary"])
			ops := it.cs.ops
			if it.op != nil {
				ops = []*BatchOp{it.op}
			}
			for j := 0; ; j++ {
				cp, err := cr.NextPart()
				if err == io.EOF {
					break
				}
				if err != nil {
					return nil, err
				}
				res, err := c.readPart(cp)
				if err != nil {
					return nil, err
				}
				op := byContentID(ops, cp.Header.Get("Content-ID"), j)
				if op == nil {
					return nil, fmt.Errorf("a change set answer part (Content-ID %q) matches no request", cp.Header.Get("Content-ID"))
				}
				out.Results[op.Index] = res.of(c, op)
			}
			continue
		}
		res, err := c.readPart(part)
		if err != nil {
			return nil, err
		}
		if it.op != nil {
			out.Results[it.op.Index] = res.of(c, it.op)
			continue
		}
		// One answer for a whole change set: it failed and was rolled back.
		failed := byContentID(it.cs.ops, part.Header.Get("Content-ID"), -1)
		for _, op := range it.cs.ops {
			r := res.of(c, op)
			r.RolledBack = true
			if op != failed && failed != nil {
				r.StatusCode, r.Header, r.Body = 0, nil, nil
			}
			if r.Err == nil {
				// A success answer alone cannot stand for a whole change set.
				r.Err = fmt.Errorf("dataverse: change set answered with a single %d", res.StatusCode)
			}
			out.Results[op.Index] = r
		}
	}
	return out, nil
}

func byContentID(ops []*BatchOp, id string, fallback int) *BatchOp {
	id = strings.TrimSpace(id)
	if id != "" {
		for _, op := range ops {
			if op.ContentID == id {
				return op
			}
		}
	}
	if fallback >= 0 && fallback < len(ops) {
		return ops[fallback]
	}
	return nil
}

// readPart parses one application/http answer part.
func (c *Client) readPart(p *multipart.Part) (BatchResult, error) {
	br := bufio.NewReader(p)
	resp, err := http.ReadResponse(br, nil)
	if err != nil {
		return BatchResult{}, fmt.Errorf("reading an answer part: %w", err)
	}
	body, err := io.ReadAll(resp.Body)
	resp.Body.Close()
	if err != nil {
		return BatchResult{}, err
	}
	res := BatchResult{StatusCode: resp.StatusCode, Header: resp.Header, Body: body}
	if resp.StatusCode >= 400 {
		res.Err = newResponseError("", "", resp.StatusCode, resp.Header, body)
	}
	return res, nil
}

// of returns the result attributed to op, its error naming the request.
func (r BatchResult) of(c *Client, op *BatchOp) BatchResult {
	r.Op = op
	if e, ok := r.Err.(*Error); ok {
		e2 := *e
		e2.Method, e2.URL = op.Method, op.Path
		if !strings.HasPrefix(op.Path, "$") {
			e2.URL = c.resolve(op.Path)
		}
		r.Err = &e2
	}
	return r
}
