package webapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/textproto"
	"net/url"
	"slices"
	"strings"

	"github.com/dvs2s/dvs2s/store"
	"github.com/google/uuid"
)

// $batch (reference §4.13; OData Part 1 §11.7, multipart format): a POST
// of multipart/mixed whose parts are HTTP requests (application/http) or
// change sets (multipart/mixed of HTTP requests). Requests run in order
// through the same routing as single requests, as the batch's principal
// (so the batch's impersonation applies to every part); a change set runs
// in one transaction and commits or rolls back as a whole. The batch is
// one request for the service protection limits, and its execution time
// counts in full.

// maxBatchRequests is Dataverse's limit on requests in one batch.
const maxBatchRequests = 1000

// batchPart is one HTTP request of a batch.
type batchPart struct {
	method    string
	target    string // request target as written
	header    http.Header
	body      []byte
	contentID string
}

// batchItem is a top-level part: one request, or a change set.
type batchItem struct {
	part      batchPart
	changeSet []batchPart
	isSet     bool
}

var errRollback = errors.New("change set rolled back")

// batchError is the answer to a malformed batch: 400 ODataClientPayloadError
// (0x80048d19), as Dataverse answers a body it cannot read (reference
// §4.13: non-CRLF line endings give "Stream was not readable").
func batchError(inner string) *Error {
	return errorf(http.StatusBadRequest, codePayload,
		"Error identified in Payload provided by the user for Entity :'', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : %s", inner)
}

// batch answers POST $batch.
func (q *request) batch() {
	if q.r.Method != http.MethodPost {
		q.fail(methodNotAllowed(q.r.Method, "$batch"))
		return
	}
	boundary, e := batchBoundary(q.r.Header.Get("Content-Type"))
	if e != nil {
		q.fail(e)
		return
	}
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(q.r.Body); err != nil {
		var mbe *http.MaxBytesError
		if asMaxBytes(err, &mbe) {
			q.fail(errorf(http.StatusRequestEntityTooLarge, codeRequestTooLarge, "Request message length is too large."))
			return
		}
		q.fail(batchError("System.ArgumentException: Stream was not readable."))
		return
	}
	items, e := parseBatch(buf.Bytes(), boundary)
	if e != nil {
		q.fail(e)
		return
	}
	q.runBatch(items)
}

// batchBoundary reads the boundary of a multipart/mixed content type.
func batchBoundary(ct string) (string, *Error) {
	mt, params, err := mime.ParseMediaType(ct)
	if err != nil || mt != "multipart/mixed" || params["boundary"] == "" {
		return "", batchError("Microsoft.OData.ODataException: The content type '" + ct + "' specifies a batch payload; however, the payload either does not include a batch boundary or includes more than one boundary. In OData, batch payload content types must specify exactly one batch boundary in the 'boundary' parameter of the content type.")
	}
	b := params["boundary"]
	if len(b) > 70 {
		return "", batchError("Microsoft.OData.ODataException: The boundary delimiter of the batch is longer than 70 characters.")
	}
	return b, nil
}

// parseBatch parses a batch body. Framing errors are the whole batch's
// 400; a part's own problems (its URL, its body) are that part's answer.
func parseBatch(body []byte, boundary string) ([]batchItem, *Error) {
	if e := checkCRLF(body, boundary); e != nil {
		return nil, e
	}
	mr := multipart.NewReader(bytes.NewReader(body), boundary)
	var items []batchItem
	n := 0
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, batchError("Microsoft.OData.ODataException: " + err.Error())
		}
		mt, params, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil {
			return nil, batchError("Microsoft.OData.ODataException: A part of the batch has no valid Content-Type header.")
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, batchError("Microsoft.OData.ODataException: " + err.Error())
		}
		switch mt {
		case "application/http":
			bp, e := parseHTTPPart(data, p.Header)
			if e != nil {
				return nil, e
			}
			n++
			items = append(items, batchItem{part: bp})
		case "multipart/mixed":
			parts, e := parseChangeSet(data, params["boundary"])
			if e != nil {
				return nil, e
			}
			n += len(parts)
			items = append(items, batchItem{changeSet: parts, isSet: true})
		default:
			return nil, batchError("Microsoft.OData.ODataException: The content type '" + mt + "' of a batch part is not supported; use application/http or multipart/mixed.")
		}
		if n > maxBatchRequests {
			// The real message is not documented; the limit is (reference §4.13).
			return nil, badRequest("The number of requests in the batch exceeded the maximum of %d.", maxBatchRequests)
		}
	}
	if len(items) == 0 {
		return nil, batchError("Microsoft.OData.ODataException: The batch contains no request.")
	}
	return items, nil
}

// parseChangeSet parses the parts of a change set.
func parseChangeSet(data []byte, boundary string) ([]batchPart, *Error) {
	if boundary == "" || len(boundary) > 70 {
		return nil, batchError("Microsoft.OData.ODataException: A change set has no valid boundary.")
	}
	if e := checkCRLF(data, boundary); e != nil {
		return nil, e
	}
	mr := multipart.NewReader(bytes.NewReader(data), boundary)
	var parts []batchPart
	seen := map[string]bool{}
	for {
		p, err := mr.NextRawPart()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, batchError("Microsoft.OData.ODataException: " + err.Error())
		}
		mt, _, err := mime.ParseMediaType(p.Header.Get("Content-Type"))
		if err != nil || mt != "application/http" {
			return nil, batchError("Microsoft.OData.ODataException: Change sets contain only application/http parts; nested change sets are not supported.")
		}
		data, err := io.ReadAll(p)
		if err != nil {
			return nil, batchError("Microsoft.OData.ODataException: " + err.Error())
		}
		bp, e := parseHTTPPart(data, p.Header)
		if e != nil {
			return nil, e
		}
		if bp.method == http.MethodGet {
			return nil, batchError("Microsoft.OData.ODataException: An invalid HTTP method 'GET' was detected for a request in a change set. Requests in change sets only support the HTTP methods 'POST', 'PUT', 'DELETE', and 'PATCH'.")
		}
		if bp.contentID != "" {
			if seen[bp.contentID] {
				return nil, batchError("Microsoft.OData.ODataException: The content ID '" + bp.contentID + "' was found more than once in the same change set or same batch request. Content IDs have to be unique across all operations of a change set for requests and across all operations in a batch for responses.")
			}
			seen[bp.contentID] = true
		}
		parts = append(parts, bp)
		if len(parts) > maxBatchRequests {
			return nil, badRequest("The number of requests in the batch exceeded the maximum of %d.", maxBatchRequests)
		}
	}
	return parts, nil
}

// checkCRLF refuses a body whose boundary delimiter lines do not end in
// CRLF, as Dataverse does (reference §4.13: "Stream was not readable").
func checkCRLF(body []byte, boundary string) *Error {
	delim := []byte("--" + boundary)
	bad := batchError("System.ArgumentException: Stream was not readable.")
	for i := 0; ; {
		j := bytes.Index(body[i:], delim)
		if j < 0 {
			return nil
		}
		at := i + j
		i = at + len(delim)
		rest := bytes.TrimLeft(body[i:], " \t") // transport padding
		switch {
		case bytes.HasPrefix(rest, []byte("\n")):
			return bad // a delimiter line ending in a bare LF
		case len(rest) > 0 && !bytes.HasPrefix(rest, []byte("--")) && !bytes.HasPrefix(rest, []byte("\r\n")):
			continue // not a delimiter: the boundary is the prefix of a longer word
		}
		if at > 0 && body[at-1] == '\n' && (at < 2 || body[at-2] != '\r') {
			return bad // a delimiter after a bare LF
		}
	}
}

// parseHTTPPart parses an application/http part: request line, headers,
// blank line, body. The blank line may be missing when there is no body
// (dynamics-web-api sends GET parts so).
func parseHTTPPart(data []byte, mimeHeader textproto.MIMEHeader) (batchPart, *Error) {
	bp := batchPart{header: http.Header{}, contentID: strings.TrimSpace(mimeHeader.Get("Content-ID"))}
	// Leading blank lines before the request line are tolerated.
	for {
		if rest, ok := bytes.CutPrefix(data, []byte("\r\n")); ok {
			data = rest
		} else if rest, ok := bytes.CutPrefix(data, []byte("\n")); ok {
			data = rest
		} else {
			break
		}
	}
	line, data := cutLine(data)
	f := strings.Fields(line)
	if len(f) != 3 || !strings.HasPrefix(f[2], "HTTP/") || !validMethod(f[0]) {
		return bp, batchError("Microsoft.OData.ODataException: The HTTP request line '" + clip(line, 200) + "' of a batch part is not valid.")
	}
	bp.method, bp.target = f[0], f[1]
	for len(data) > 0 {
		line, data = cutLine(data)
		if line == "" {
			break
		}
		k, v, ok := strings.Cut(line, ":")
		k = strings.TrimSpace(k)
		if !ok || k == "" || strings.ContainsAny(k, " \t") {
			return bp, batchError("Microsoft.OData.ODataException: The header '" + clip(line, 200) + "' of a batch part is not valid.")
		}
		bp.header.Add(k, strings.TrimSpace(v))
	}
	bp.body = data
	if id := strings.TrimSpace(bp.header.Get("Content-ID")); id != "" && bp.contentID == "" {
		bp.contentID = id
	}
	bp.header.Del("Content-ID")
	if bp.contentID != "" && !isToken(bp.contentID) {
		return bp, batchError("Microsoft.OData.ODataException: The Content-ID '" + clip(strings.ToValidUTF8(bp.contentID, "?"), 100) + "' is not valid.")
	}
	return bp, nil
}

// isToken reports whether s is printable ASCII without spaces: what a
// Content-ID may be (it is echoed in the answer and used in "$" references).
func isToken(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] <= ' ' || s[i] >= 0x7f {
			return false
		}
	}
	return len(s) <= 256
}

func validMethod(m string) bool {
	switch m {
	case http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

// cutLine returns the first line (without CRLF or LF) and the rest.
func cutLine(b []byte) (string, []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		return string(bytes.TrimSuffix(b, []byte("\r"))), nil
	}
	return string(bytes.TrimSuffix(b[:i], []byte("\r"))), b[i+1:]
}

func clip(s string, n int) string {
	if len(s) > n {
		return s[:n] + "…"
	}
	return s
}

// partResponse is the recorded answer of one part.
type partResponse struct {
	header    http.Header
	status    int
	body      bytes.Buffer
	wrote     bool
	contentID string
}

func (r *partResponse) Header() http.Header { return r.header }

func (r *partResponse) WriteHeader(code int) {
	if !r.wrote {
		r.wrote, r.status = true, code
	}
}

func (r *partResponse) Write(b []byte) (int, error) {
	if !r.wrote {
		r.WriteHeader(http.StatusOK)
	}
	return r.body.Write(b)
}

func (r *partResponse) failed() bool { return r.status >= 400 }

// runBatch executes the parsed batch and writes the multipart answer.
func (q *request) runBatch(items []batchItem) {
	cont := q.prefer.ContinueOnError
	out := newBatchWriter()
	status := http.StatusOK
	for _, it := range items {
		if !it.isSet {
			resp := q.runPart(it.part, nil, nil)
			out.response(resp)
			if resp.failed() && !cont {
				status = resp.status
				break
			}
			continue
		}
		resps, failed := q.runChangeSet(it.changeSet)
		if failed != nil {
			// The change set rolled back: its answer is the failing
			// request's error alone.
			out.response(failed)
			if !cont {
				status = failed.status
				break
			}
			continue
		}
		out.changeSet(resps)
	}
	h := q.w.Header()
	h.Set("Content-Type", "multipart/mixed; boundary="+out.boundary)
	if cont {
		h.Set("Preference-Applied", "odata.continue-on-error")
	}
	q.w.WriteHeader(status)
	q.w.Write(out.finish())
}

// runChangeSet runs a change set in one transaction: every request
// succeeds and the transaction commits, or the first failure rolls it
// back and is returned.
func (q *request) runChangeSet(parts []batchPart) ([]*partResponse, *partResponse) {
	ids := map[string]store.Ref{}
	var resps []*partResponse
	var failed *partResponse
	err := q.env.Data.InTx(q.ctx, func(tx store.Data) error {
		for _, p := range parts {
			resp := q.runPart(p, tx, ids)
			if resp.failed() {
				failed = resp
				return errRollback
			}
			if p.contentID != "" {
				if ref, ok := q.createdRef(p, resp); ok {
					ids[p.contentID] = ref
				}
			}
			resps = append(resps, resp)
		}
		return nil
	})
	if failed != nil {
		return nil, failed
	}
	if err != nil {
		resp := &partResponse{header: http.Header{}}
		writeError(resp, q.internal(err))
		return nil, resp
	}
	q.s.changed(q.env)
	return resps, nil
}

// runPart runs one request of the batch through the ordinary routing, as
// the batch's principal, inside tx when it belongs to a change set.
func (q *request) runPart(p batchPart, tx store.Data, ids map[string]store.Ref) *partResponse {
	resp := &partResponse{header: http.Header{}, status: http.StatusOK, contentID: p.contentID}
	version, path, rawQuery, e := q.partTarget(p.target, ids)
	if e != nil {
		writeError(resp, e)
		return resp
	}
	u, err := url.Parse("/api/data/" + version + "/" + path)
	if err != nil {
		writeError(resp, badRequest("The URI '%s' of a batch request is not valid.", clip(p.target, 200)))
		return resp
	}
	u.RawQuery = rawQuery
	r := q.r.WithContext(q.ctx) // a shallow copy, changed below
	r.Method = p.method
	r.URL = u
	r.RequestURI = u.RequestURI()
	r.Header = p.header
	r.Body = io.NopCloser(bytes.NewReader(p.body))
	r.ContentLength = int64(len(p.body))
	pq := &request{s: q.s, w: resp, r: r, ctx: q.ctx, env: q.env, sch: q.env.Schema(), p: q.p,
		base: q.env.URL + "/api/data/" + version + "/", path: path}
	if tx != nil {
		// Every read of the part, not only its writes, goes through the
		// change set's transaction, so it sees the rows created before it.
		pq.tx, pq.contentIDs = tx, ids
		pq.env = q.env.WithData(tx)
	}
	pq.route()
	if !resp.wrote {
		resp.WriteHeader(http.StatusOK)
	}
	return resp
}

// partTarget resolves a part's request target to the API version, the
// escaped path after the service root and the query: an absolute URL of
// this environment, an absolute path, a path relative to the service root,
// or a Content-ID reference ($1, $1/lastname) inside a change set.
func (q *request) partTarget(target string, ids map[string]store.Ref) (version, path, rawQuery string, e *Error) {
	version = "v9.2"
	if v := strings.TrimSuffix(q.base, "/"); strings.Contains(v, "/api/data/") {
		version = v[strings.LastIndex(v, "/")+1:]
	}
	if strings.HasPrefix(target, "$") {
		name := target[1:]
		rest := ""
		if i := strings.IndexAny(name, "/?"); i >= 0 {
			name, rest = name[:i], name[i:]
		}
		ref, ok := ids[name]
		if !ok || ids == nil {
			return "", "", "", badRequest("Content-ID Reference: '$%s' does not exist in the batch context.", name)
		}
		t := q.sch.Table(ref.Table)
		if t == nil {
			return "", "", "", badRequest("Content-ID Reference: '$%s' does not exist in the batch context.", name)
		}
		target = t.EntitySetName + "(" + ref.ID + ")" + rest
		path, rawQuery, _ = strings.Cut(target, "?")
		return version, path, rawQuery, nil
	}
	lower := strings.ToLower(target)
	abs := strings.HasPrefix(lower, "https://") || strings.HasPrefix(lower, "http://") || strings.HasPrefix(target, "/")
	parse := target
	if !abs {
		parse = "/" + target // relative to the service root; "/" keeps a colon from reading as a scheme
	}
	u, err := url.Parse(parse)
	if err != nil || u.Opaque != "" {
		return "", "", "", badRequest("The URI '%s' of a batch request is not valid.", clip(target, 200))
	}
	p := u.EscapedPath()
	if !abs {
		p = strings.TrimPrefix(p, "/")
	} else {
		if u.IsAbs() && !strings.EqualFold(u.Scheme+"://"+u.Host, q.env.URL) && !strings.EqualFold(u.Host, q.r.Host) {
			return "", "", "", badRequest("The URI '%s' of a batch request is not a URI of this environment.", clip(target, 200))
		}
		found := false
		for _, v := range []string{"v9.2", "v9.1", "v9.0"} {
			if rest, ok := strings.CutPrefix(p, "/api/data/"+v); ok && (rest == "" || rest[0] == '/') {
				version, p, found = v, strings.TrimPrefix(rest, "/"), true
				break
			}
		}
		if !found {
			return "", "", "", noResource(clip(target, 200))
		}
	}
	if p == "$batch" {
		return "", "", "", badRequest("A batch request cannot contain another batch request.")
	}
	return version, p, u.RawQuery, nil
}

// createdRef is the row a successful request created (or addressed),
// for its Content-ID: from OData-EntityId, or from the representation.
func (q *request) createdRef(p batchPart, resp *partResponse) (store.Ref, bool) {
	if loc := resp.header.Get("OData-EntityId"); loc != "" {
		if ref, e := q.parseEntityRef(loc); e == nil {
			return ref, true
		}
	}
	if resp.status == http.StatusCreated || resp.status == http.StatusOK {
		_, path, _, e := q.partTarget(p.target, nil)
		if e != nil {
			return store.Ref{}, false
		}
		table, _ := classify(q.sch, p.method, path)
		t := q.sch.Table(table)
		if t == nil {
			return store.Ref{}, false
		}
		var body map[string]any
		if json.Unmarshal(resp.body.Bytes(), &body) == nil {
			if id, ok := body[t.PrimaryID].(string); ok && id != "" {
				return store.Ref{ID: id, Table: t.LogicalName}, true
			}
		}
	}
	return store.Ref{}, false
}

// batchWriter writes the multipart answer.
type batchWriter struct {
	boundary string
	buf      bytes.Buffer
}

func newBatchWriter() *batchWriter {
	return &batchWriter{boundary: "batchresponse_" + uuid.NewString()}
}

// response writes one part's answer.
func (b *batchWriter) response(r *partResponse) {
	fmt.Fprintf(&b.buf, "--%s\r\n", b.boundary)
	writePart(&b.buf, r)
}

// changeSet writes a committed change set's answers.
func (b *batchWriter) changeSet(rs []*partResponse) {
	cs := "changesetresponse_" + uuid.NewString()
	fmt.Fprintf(&b.buf, "--%s\r\nContent-Type: multipart/mixed; boundary=%s\r\n\r\n", b.boundary, cs)
	for _, r := range rs {
		fmt.Fprintf(&b.buf, "--%s\r\n", cs)
		writePart(&b.buf, r)
	}
	fmt.Fprintf(&b.buf, "--%s--\r\n", cs)
}

func (b *batchWriter) finish() []byte {
	fmt.Fprintf(&b.buf, "--%s--\r\n", b.boundary)
	return b.buf.Bytes()
}

var headerValue = strings.NewReplacer("\r", " ", "\n", " ")

// writePart writes an application/http part: MIME headers, then the
// response's status line, headers and body.
func writePart(w *bytes.Buffer, r *partResponse) {
	w.WriteString("Content-Type: application/http\r\nContent-Transfer-Encoding: binary\r\n")
	if r.contentID != "" && isToken(r.contentID) {
		w.WriteString("Content-ID: " + r.contentID + "\r\n")
	}
	w.WriteString("\r\n")
	fmt.Fprintf(w, "HTTP/1.1 %d %s\r\n", r.status, http.StatusText(r.status))
	h := r.header
	h.Set("OData-Version", "4.0")
	if id := h.Get("OData-EntityId"); id != "" && h.Get("Location") == "" && (r.status == http.StatusNoContent || r.status == http.StatusCreated) {
		h.Set("Location", id)
	}
	keys := make([]string, 0, len(h))
	for k := range h {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	for _, k := range keys {
		for _, v := range h[k] {
			w.WriteString(k + ": " + headerValue.Replace(v) + "\r\n")
		}
	}
	w.WriteString("\r\n")
	w.Write(r.body.Bytes())
	w.WriteString("\r\n")
}
