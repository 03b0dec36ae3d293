package dataverse

import (
	"context"
	"fmt"
	"iter"
	"math"
	"net/http"
	"reflect"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Query is a small builder for the OData query options Dataverse supports
// ($select, $filter, $orderby, $top, $expand, $count, $apply). The zero
// value (or nil) is an empty query. Methods return the receiver, so calls
// chain:
//
//	q := dataverse.NewQuery().
//		Select("name", "revenue").
//		Filter(dataverse.And(dataverse.Gt("revenue", 1000000), dataverse.Contains("name", "coffee"))).
//		OrderBy("revenue desc").
//		Top(50)
//
// Dataverse does not support $skip: page with the iterator (and
// WithPageSize) instead.
type Query struct {
	sel     []string
	filter  string
	orderby []string
	top     int
	expand  []expansion
	count   bool
	apply   string
	params  []string
}

type expansion struct {
	nav string
	q   *Query
}

// NewQuery returns an empty query.
func NewQuery() *Query { return &Query{} }

// Select sets the columns to return ($select). Always select: Dataverse
// returns every column otherwise.
func (q *Query) Select(columns ...string) *Query { q.sel = append(q.sel, columns...); return q }

// Filter sets $filter to an expression, such as one built with Eq, And, ...
// or written by hand; Filterf formats literal values safely.
func (q *Query) Filter(expr string) *Query { q.filter = expr; return q }

// Filterf sets $filter to format with each argument written as an OData
// literal (see Literal): strings quoted and escaped, times in ISO 8601,
// GUID values bare. Use %s (or %v) for every argument.
//
//	q.Filterf("lastname eq %s and createdon ge %s", "O'Bryan", since)
func (q *Query) Filterf(format string, args ...any) *Query {
	lits := make([]any, len(args))
	for i, a := range args {
		lits[i] = Literal(a)
	}
	q.filter = fmt.Sprintf(format, lits...)
	return q
}

// OrderBy adds sort keys ($orderby), each "column" or "column desc".
func (q *Query) OrderBy(keys ...string) *Query { q.orderby = append(q.orderby, keys...); return q }

// Top limits the number of rows ($top). Dataverse ignores $top together
// with a page size (WithPageSize).
func (q *Query) Top(n int) *Query { q.top = n; return q }

// Count asks for the number of matching rows (@odata.count, at most
// 5,000) in the first page (see Page.Count).
func (q *Query) Count() *Query { q.count = true; return q }

// Apply sets $apply (aggregation), such as "groupby((statuscode),aggregate($count as count))".
func (q *Query) Apply(expr string) *Query { q.apply = expr; return q }

// Expand joins a related table through a navigation property ($expand),
// with its own options (sub may be nil): Select, Filter, OrderBy, Top and
// nested Expand.
func (q *Query) Expand(nav string, sub *Query) *Query {
	q.expand = append(q.expand, expansion{nav, sub})
	return q
}

// Param adds another query parameter, such as a parameter alias: Param("@p1", "'x'").
func (q *Query) Param(name, value string) *Query {
	q.params = append(q.params, name+"="+escapeQueryValue(value))
	return q
}

// Encode returns the query string (without "?"), percent-encoded.
func (q *Query) Encode() string {
	if q == nil {
		return ""
	}
	var parts []string
	add := func(name, v string) { parts = append(parts, name+"="+escapeQueryValue(v)) }
	if len(q.sel) > 0 {
		add("$select", strings.Join(q.sel, ","))
	}
	if q.filter != "" {
		add("$filter", q.filter)
	}
	if len(q.orderby) > 0 {
		add("$orderby", strings.Join(q.orderby, ","))
	}
	if q.top > 0 {
		add("$top", strconv.Itoa(q.top))
	}
	if len(q.expand) > 0 {
		add("$expand", q.expandString())
	}
	if q.count {
		add("$count", "true")
	}
	if q.apply != "" {
		add("$apply", q.apply)
	}
	parts = append(parts, q.params...)
	return strings.Join(parts, "&")
}

// String returns the query in readable (not encoded) form.
func (q *Query) String() string {
	if q == nil {
		return ""
	}
	var parts []string
	if len(q.sel) > 0 {
		parts = append(parts, "$select="+strings.Join(q.sel, ","))
	}
	if q.filter != "" {
		parts = append(parts, "$filter="+q.filter)
	}
	if len(q.orderby) > 0 {
		parts = append(parts, "$orderby="+strings.Join(q.orderby, ","))
	}
	if q.top > 0 {
		parts = append(parts, "$top="+strconv.Itoa(q.top))
	}
	if len(q.expand) > 0 {
		parts = append(parts, "$expand="+q.expandString())
	}
	if q.count {
		parts = append(parts, "$count=true")
	}
	if q.apply != "" {
		parts = append(parts, "$apply="+q.apply)
	}
	return strings.Join(parts, "&")
}

// expandString renders $expand: nav($select=a,b;$filter=...;...),...
func (q *Query) expandString() string {
	var b strings.Builder
	for i, e := range q.expand {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(e.nav)
		if s := e.q; s != nil {
			var opts []string
			if len(s.sel) > 0 {
				opts = append(opts, "$select="+strings.Join(s.sel, ","))
			}
			if s.filter != "" {
				opts = append(opts, "$filter="+s.filter)
			}
			if len(s.orderby) > 0 {
				opts = append(opts, "$orderby="+strings.Join(s.orderby, ","))
			}
			if s.top > 0 {
				opts = append(opts, "$top="+strconv.Itoa(s.top))
			}
			if len(s.expand) > 0 {
				opts = append(opts, "$expand="+s.expandString())
			}
			if len(opts) > 0 {
				b.WriteString("(" + strings.Join(opts, ";") + ")")
			}
		}
	}
	return b.String()
}

// escapeQueryValue percent-encodes a query option value, keeping OData's
// punctuation readable. Spaces become %20 and '+' %2B (never '+', which
// some servers read as a plus).
func escapeQueryValue(s string) string {
	return escape(s, "-._~!$'()*,;:@/")
}

// escapePathSegment percent-encodes a key inside parentheses.
func escapePathSegment(s string) string {
	return escape(s, "-._~!$'()*,;=:@")
}

func escape(s, keep string) string {
	const hex = "0123456789ABCDEF"
	n := 0
	for i := 0; i < len(s); i++ {
		if !plain(s[i], keep) {
			n++
		}
	}
	if n == 0 {
		return s
	}
	b := make([]byte, 0, len(s)+2*n)
	for i := 0; i < len(s); i++ {
		c := s[i]
		if plain(c, keep) {
			b = append(b, c)
		} else {
			b = append(b, '%', hex[c>>4], hex[c&15])
		}
	}
	return string(b)
}

func plain(c byte, keep string) bool {
	return 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || strings.IndexByte(keep, c) >= 0
}

// GUID is a unique identifier value: Literal writes it bare (not quoted),
// as OData wants for Edm.Guid, e.g. in Eq("_parentcustomerid_value", GUID(id)).
type GUID string

// Literal writes v as an OData literal: strings quoted with ' doubled,
// GUID bare, time.Time as an ISO 8601 UTC timestamp, bools and numbers as
// such, nil as null, slices as a JSON-ish array of literals.
func Literal(v any) string {
	switch x := v.(type) {
	case nil:
		return "null"
	case string:
		return "'" + strings.ReplaceAll(x, "'", "''") + "'"
	case GUID:
		return strings.Trim(string(x), "{}")
	case bool:
		return strconv.FormatBool(x)
	case int:
		return strconv.Itoa(x)
	case int64:
		return strconv.FormatInt(x, 10)
	case int32:
		return strconv.FormatInt(int64(x), 10)
	case uint:
		return strconv.FormatUint(uint64(x), 10)
	case uint64:
		return strconv.FormatUint(x, 10)
	case float64:
		return formatFloat(x)
	case float32:
		return formatFloat(float64(x))
	case time.Time:
		return x.UTC().Format(time.RFC3339Nano)
	case fmt.Stringer:
		return Literal(x.String())
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Slice, reflect.Array:
		parts := make([]string, rv.Len())
		for i := range parts {
			parts[i] = Literal(rv.Index(i).Interface())
		}
		return "[" + strings.Join(parts, ",") + "]"
	case reflect.String:
		return Literal(rv.String())
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64:
		return strconv.FormatInt(rv.Int(), 10)
	case reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64:
		return strconv.FormatUint(rv.Uint(), 10)
	}
	return Literal(fmt.Sprint(v))
}

func formatFloat(f float64) string {
	if f == math.Trunc(f) && math.Abs(f) < 1e15 {
		return strconv.FormatFloat(f, 'f', -1, 64)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Eq returns "column eq <literal>"; with a nil value "column eq null".
func Eq(column string, v any) string { return column + " eq " + Literal(v) }

// Ne returns "column ne <literal>".
func Ne(column string, v any) string { return column + " ne " + Literal(v) }

// Gt returns "column gt <literal>".
func Gt(column string, v any) string { return column + " gt " + Literal(v) }

// Ge returns "column ge <literal>".
func Ge(column string, v any) string { return column + " ge " + Literal(v) }

// Lt returns "column lt <literal>".
func Lt(column string, v any) string { return column + " lt " + Literal(v) }

// Le returns "column le <literal>".
func Le(column string, v any) string { return column + " le " + Literal(v) }

// Contains returns "contains(column,'s')" (case-insensitive in Dataverse).
func Contains(column, s string) string { return "contains(" + column + "," + Literal(s) + ")" }

// StartsWith returns "startswith(column,'s')".
func StartsWith(column, s string) string { return "startswith(" + column + "," + Literal(s) + ")" }

// EndsWith returns "endswith(column,'s')".
func EndsWith(column, s string) string { return "endswith(" + column + "," + Literal(s) + ")" }

// In returns Dataverse's In query function:
// Microsoft.Dynamics.CRM.In(PropertyName='column',PropertyValues=["a","b"]).
func In(column string, values ...any) string {
	parts := make([]string, len(values))
	for i, v := range values {
		s := fmt.Sprint(v)
		if g, ok := v.(GUID); ok {
			s = strings.Trim(string(g), "{}")
		}
		parts[i] = strconv.Quote(s)
	}
	return "Microsoft.Dynamics.CRM.In(PropertyName=" + Literal(column) + ",PropertyValues=[" + strings.Join(parts, ",") + "])"
}

// And joins expressions with "and", each in parentheses when needed;
// empty expressions are skipped.
func And(exprs ...string) string { return join(" and ", exprs) }

// Or joins expressions with "or".
func Or(exprs ...string) string { return join(" or ", exprs) }

// Not negates an expression.
func Not(expr string) string { return "not (" + expr + ")" }

func join(op string, exprs []string) string {
	var parts []string
	for _, e := range exprs {
		if e = strings.TrimSpace(e); e == "" {
			continue
		}
		parts = append(parts, e)
	}
	if len(parts) == 1 {
		return parts[0]
	}
	for i, p := range parts {
		if strings.Contains(p, " and ") || strings.Contains(p, " or ") {
			parts[i] = "(" + p + ")"
		}
	}
	return strings.Join(parts, op)
}

// AltKey is an alternate key: column values that identify a row, for use
// where a key is expected (String gives "accountnumber='A-1'").
type AltKey map[string]any

// String writes the key's columns, sorted, as name=literal pairs.
func (k AltKey) String() string {
	names := make([]string, 0, len(k))
	for n := range k {
		names = append(names, n)
	}
	sort.Strings(names)
	parts := make([]string, len(names))
	for i, n := range names {
		parts[i] = n + "=" + Literal(k[n])
	}
	return strings.Join(parts, ",")
}

// entityPath returns "set(key)" with the key escaped: a GUID (braces
// allowed) or an alternate key (AltKey.String()).
func entityPath(set, key string) string {
	key = strings.TrimSpace(key)
	if strings.HasPrefix(key, "{") && strings.HasSuffix(key, "}") {
		key = key[1 : len(key)-1]
	}
	return set + "(" + escapePathSegment(key) + ")"
}

// Page is one page of a query's answer.
type Page[T any] struct {
	Rows []T
	// Count is @odata.count (with Query.Count), else -1.
	Count int64
	// NextLink is the URL of the next page ("" on the last page).
	NextLink string
}

// pageShape is the JSON of a collection answer.
type pageShape[T any] struct {
	Value    []T    `json:"value"`
	NextLink string `json:"@odata.nextLink"`
	Count    *int64 `json:"@odata.count"`
}

// QueryPage gets one page: the first page of set with q, or, when
// pathOrNextLink is an absolute URL (a NextLink), that page.
func QueryPage[T any](ctx context.Context, c *Client, pathOrNextLink string, opts ...RequestOption) (*Page[T], error) {
	k, err := c.newCall(http.MethodGet, pathOrNextLink, nil, opts)
	if err != nil {
		return nil, err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return nil, err
	}
	var ps pageShape[T]
	if err := c.unmarshal(resp.body, &ps); err != nil {
		return nil, decodeError(k, err)
	}
	p := &Page[T]{Rows: ps.Value, NextLink: ps.NextLink, Count: -1}
	if ps.Count != nil {
		p.Count = *ps.Count
	}
	return p, nil
}

// QueryPath returns the path of a query of set: "set?<encoded query>".
func QueryPath(set string, q *Query) string {
	if s := q.Encode(); s != "" {
		return set + "?" + s
	}
	return set
}

// Query returns every row of set matching q, following @odata.nextLink
// page after page as the caller ranges over it (stop early with break).
// An error ends the sequence, as its last element.
//
//	for row, err := range client.Query(ctx, "accounts", q) {
//		if err != nil { return err }
//		fmt.Println(row["name"])
//	}
func (c *Client) Query(ctx context.Context, set string, q *Query, opts ...RequestOption) iter.Seq2[Row, error] {
	return QueryAs[Row](ctx, c, QueryPath(set, q), opts...)
}

// QueryRaw is Query with a hand-written path and query string relative to
// the Web API base, such as "accounts?$select=name&$filter=revenue gt 5"
// (encoded as given: escape it yourself, e.g. with url.PathEscape for
// values), or a full URL.
func (c *Client) QueryRaw(ctx context.Context, pathAndQuery string, opts ...RequestOption) iter.Seq2[Row, error] {
	return QueryAs[Row](ctx, c, pathAndQuery, opts...)
}

// QueryAs is Query decoding each row into T (a struct with json tags, or
// Row). path is QueryPath(set, q) or any query path; see QueryRaw.
func QueryAs[T any](ctx context.Context, c *Client, path string, opts ...RequestOption) iter.Seq2[T, error] {
	return func(yield func(T, error) bool) {
		next := path
		for next != "" {
			p, err := QueryPage[T](ctx, c, next, opts...)
			if err != nil {
				var zero T
				yield(zero, err)
				return
			}
			for _, r := range p.Rows {
				if !yield(r, nil) {
					return
				}
			}
			next = p.NextLink
		}
	}
}

// Collect gathers a sequence (such as Query's) into a slice, stopping at
// the first error.
func Collect[T any](seq iter.Seq2[T, error]) ([]T, error) {
	var out []T
	for v, err := range seq {
		if err != nil {
			return out, err
		}
		out = append(out, v)
	}
	return out, nil
}

// Count returns the number of rows of set matching filter ("" for all)
// with GET set/$count (Dataverse caps it at 5,000).
func (c *Client) Count(ctx context.Context, set, filter string, opts ...RequestOption) (int64, error) {
	path := set + "/$count"
	if filter != "" {
		path += "?$filter=" + escapeQueryValue(filter)
	}
	k, err := c.newCall(http.MethodGet, path, nil, opts)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return 0, err
	}
	s := strings.TrimSpace(strings.TrimPrefix(string(resp.body), "\ufeff"))
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, decodeError(k, err)
	}
	return n, nil
}
