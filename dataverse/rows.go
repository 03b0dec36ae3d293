package dataverse

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"net/http"
	"regexp"
	"slices"
	"strings"
)

// Row is a table row as the Web API sends it: column logical names (and
// _lookup_value names) to values, plus annotations such as
// "@odata.etag". Numbers are float64 (json.Number with
// Options.UseNumber); decode into your own struct with RetrieveAs,
// QueryAs or Decode.
type Row map[string]any

// ETag returns the row's @odata.etag (for WithIfMatch), or "".
func (r Row) ETag() string { s, _ := r["@odata.etag"].(string); return s }

// String returns a column's value if it is a string.
func (r Row) String(column string) string { s, _ := r[column].(string); return s }

// Annotation returns an instance annotation of a column, such as
// r.Annotation("_ownerid_value", "Microsoft.Dynamics.CRM.lookuplogicalname").
func (r Row) Annotation(column, name string) any { return r[column+"@"+name] }

// FormattedValue returns a column's formatted value (asked for with
// WithFormattedValues or WithAnnotations), or "".
func (r Row) FormattedValue(column string) string {
	s, _ := r.Annotation(column, "OData.Community.Display.V1.FormattedValue").(string)
	return s
}

// Decode converts a Row (or any JSON-shaped value) into T through JSON.
func Decode[T any](r Row) (T, error) {
	var v T
	b, err := json.Marshal(r)
	if err != nil {
		return v, err
	}
	err = json.Unmarshal(b, &v)
	return v, err
}

// ErrNotModified is returned by Retrieve with WithIfNoneMatch(etag) when
// the row did not change (304).
var ErrNotModified = errors.New("dataverse: not modified")

func (c *Client) unmarshal(b []byte, v any) error {
	b = bytes.TrimPrefix(b, []byte("\ufeff"))
	if !c.o.UseNumber {
		return json.Unmarshal(b, v)
	}
	d := json.NewDecoder(bytes.NewReader(b))
	d.UseNumber()
	return d.Decode(v)
}

func decodeError(k *call, err error) error {
	return &Error{Method: k.method, URL: k.url, Message: "decoding the answer", Err: err}
}

// Retrieve gets one row of set by key: a GUID, or an alternate key written
// with AltKey{...}.String(). q may be nil; only its Select and Expand
// matter.
func (c *Client) Retrieve(ctx context.Context, set, key string, q *Query, opts ...RequestOption) (Row, error) {
	return RetrieveAs[Row](ctx, c, set, key, q, opts...)
}

// RetrieveAs is Retrieve decoding the row into T.
func RetrieveAs[T any](ctx context.Context, c *Client, set, key string, q *Query, opts ...RequestOption) (T, error) {
	var v T
	k, err := c.newCall(http.MethodGet, QueryPath(entityPath(set, key), q), nil, opts)
	if err != nil {
		return v, err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return v, err
	}
	if resp.status == http.StatusNotModified {
		return v, ErrNotModified
	}
	if err := c.unmarshal(resp.body, &v); err != nil {
		return v, decodeError(k, err)
	}
	return v, nil
}

// Create creates a row in set and returns its id. row is a Row, a map or
// a struct (marshalled to JSON). Set lookups with
// "<nav>@odata.bind": "/accounts(<id>)" (see Bind). With
// WithReturnRepresentation the created row is decoded into its target.
func (c *Client) Create(ctx context.Context, set string, row any, opts ...RequestOption) (string, error) {
	k, err := c.newCall(http.MethodPost, set, row, opts)
	if err != nil {
		return "", err
	}
	return c.write(ctx, k, set)
}

// Update changes columns of an existing row (PATCH with If-Match: *, so
// it never creates one: a missing row is a 404). Pass WithIfMatch(etag)
// for optimistic concurrency.
func (c *Client) Update(ctx context.Context, set, key string, row any, opts ...RequestOption) error {
	k, err := c.newCall(http.MethodPatch, entityPath(set, key), row, append([]RequestOption{WithIfMatch("*")}, opts...))
	if err != nil {
		return err
	}
	_, err = c.write(ctx, k, set)
	return err
}

// Upsert updates the row with this key, or creates it (with this id or
// these alternate key values) if it does not exist, and returns its id.
// WithIfNoneMatch("*") makes it create-only, WithIfMatch("*") update-only.
func (c *Client) Upsert(ctx context.Context, set, key string, row any, opts ...RequestOption) (string, error) {
	k, err := c.newCall(http.MethodPatch, entityPath(set, key), row, opts)
	if err != nil {
		return "", err
	}
	return c.write(ctx, k, set)
}

// Delete deletes a row.
func (c *Client) Delete(ctx context.Context, set, key string, opts ...RequestOption) error {
	k, err := c.newCall(http.MethodDelete, entityPath(set, key), nil, opts)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, k)
	return err
}

// write sends a create/update/upsert and returns the row id from
// OData-EntityId (or from the representation).
func (c *Client) write(ctx context.Context, k *call, set string) (string, error) {
	resp, err := c.do(ctx, k)
	if err != nil {
		return "", err
	}
	id := idFromEntityURL(resp.header.Get("OData-EntityId"))
	if len(resp.body) > 0 && k.ro.represent != nil {
		if err := c.unmarshal(resp.body, k.ro.represent); err != nil {
			return id, decodeError(k, err)
		}
		if id == "" {
			id = idFromRepresentation(resp.body, set)
		}
	}
	return id, nil
}

var guidRE = regexp.MustCompile(`\(([0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12})\)\s*$`)

// idFromEntityURL extracts the GUID of ".../accounts(<guid>)".
func idFromEntityURL(u string) string {
	if m := guidRE.FindStringSubmatch(u); m != nil {
		return strings.ToLower(m[1])
	}
	return ""
}

// idFromRepresentation finds the row id in a returned row (Dataverse
// sends no OData-EntityId then): @odata.id if present, else the primary
// key column, recognised as <singular of set>id, or as the only
// GUID-valued column named ...id.
func idFromRepresentation(body []byte, set string) string {
	var m map[string]any
	if json.Unmarshal(body, &m) != nil {
		return ""
	}
	if s, _ := m["@odata.id"].(string); idFromEntityURL(s) != "" {
		return idFromEntityURL(s)
	}
	singular := map[string]bool{set: true, strings.TrimSuffix(set, "s"): true, strings.TrimSuffix(set, "es"): true}
	if t, ok := strings.CutSuffix(set, "ies"); ok {
		singular[t+"y"] = true
	}
	var only []string
	for k, v := range m {
		s, _ := v.(string)
		if !strings.HasSuffix(k, "id") || strings.HasPrefix(k, "_") || strings.Contains(k, "@") || !isGUID(s) {
			continue
		}
		if singular[strings.TrimSuffix(k, "id")] {
			return strings.ToLower(s)
		}
		only = append(only, s)
	}
	if len(only) == 1 {
		return strings.ToLower(only[0])
	}
	return ""
}

func isGUID(s string) bool { return len(s) == 36 && guidRE.MatchString("("+s+")") }

// Bind returns the value of a "<nav>@odata.bind" annotation that sets a
// lookup to a row: "/set(key)".
func Bind(set, key string) string { return "/" + entityPath(set, key) }

// entityURL returns the absolute URL of a row, for @odata.id.
func (c *Client) entityURL(set, key string) string { return c.api + entityPath(set, key) }

// Associate adds the row targetSet(targetKey) to the collection-valued
// navigation property nav of set(key) (POST .../nav/$ref): 1:N or N:N.
func (c *Client) Associate(ctx context.Context, set, key, nav, targetSet, targetKey string, opts ...RequestOption) error {
	body := map[string]string{"@odata.id": c.entityURL(targetSet, targetKey)}
	k, err := c.newCall(http.MethodPost, entityPath(set, key)+"/"+nav+"/$ref", body, opts)
	if err != nil {
		return err
	}
	// Adding an existing association again is harmless.
	k.safe = true
	_, err = c.do(ctx, k)
	return err
}

// Disassociate removes targetKey from the collection-valued navigation
// property nav of set(key) (DELETE .../nav(targetKey)/$ref).
func (c *Client) Disassociate(ctx context.Context, set, key, nav, targetKey string, opts ...RequestOption) error {
	k, err := c.newCall(http.MethodDelete, entityPath(set, key)+"/"+entityPath(nav, targetKey)+"/$ref", nil, opts)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, k)
	return err
}

// SetReference sets the single-valued navigation property (lookup) nav of
// set(key) to targetSet(targetKey) (PUT .../nav/$ref).
func (c *Client) SetReference(ctx context.Context, set, key, nav, targetSet, targetKey string, opts ...RequestOption) error {
	body := map[string]string{"@odata.id": c.entityURL(targetSet, targetKey)}
	k, err := c.newCall(http.MethodPut, entityPath(set, key)+"/"+nav+"/$ref", body, opts)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, k)
	return err
}

// ClearReference empties the single-valued navigation property nav of
// set(key) (DELETE .../nav/$ref).
func (c *Client) ClearReference(ctx context.Context, set, key, nav string, opts ...RequestOption) error {
	k, err := c.newCall(http.MethodDelete, entityPath(set, key)+"/"+nav+"/$ref", nil, opts)
	if err != nil {
		return err
	}
	_, err = c.do(ctx, k)
	return err
}

// WhoAmIResponse is the answer of the WhoAmI function.
type WhoAmIResponse struct {
	UserID         string `json:"UserId"`
	BusinessUnitID string `json:"BusinessUnitId"`
	OrganizationID string `json:"OrganizationId"`
}

// WhoAmI returns the systemuser the calls run as (the application user,
// or the impersonated user with WithCallerObjectID), its business unit and
// the organization. It is also the cheapest way to check a setup.
func (c *Client) WhoAmI(ctx context.Context, opts ...RequestOption) (*WhoAmIResponse, error) {
	var w WhoAmIResponse
	if err := c.CallFunction(ctx, "WhoAmI", nil, &w, opts...); err != nil {
		return nil, err
	}
	return &w, nil
}

// CallFunction calls an OData function with GET: name is the function,
// optionally bound ("accounts(<id>)/Microsoft.Dynamics.CRM.CalculateRollupField"
// style paths work too). params become parameter aliases
// (Name(p=@p)?@p=<literal>), written with Literal unless they already are
// a json.RawMessage (sent as JSON, for complex values). The answer is
// decoded into out (may be nil).
func (c *Client) CallFunction(ctx context.Context, name string, params map[string]any, out any, opts ...RequestOption) error {
	path := name
	if len(params) > 0 {
		names := make([]string, 0, len(params))
		for n := range params {
			names = append(names, n)
		}
		slices.Sort(names)
		args := make([]string, len(names))
		var query []string
		for i, n := range names {
			args[i] = n + "=@" + n
			var lit string
			if raw, ok := params[n].(json.RawMessage); ok {
				lit = string(raw)
			} else {
				lit = Literal(params[n])
			}
			query = append(query, "@"+n+"="+escapeQueryValue(lit))
		}
		path += "(" + strings.Join(args, ",") + ")?" + strings.Join(query, "&")
	}
	k, err := c.newCall(http.MethodGet, path, nil, opts)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if out != nil && len(resp.body) > 0 {
		if err := c.unmarshal(resp.body, out); err != nil {
			return decodeError(k, err)
		}
	}
	return nil
}

// CallAction calls an OData action with POST: name is the action
// (unbound, or bound such as "accounts(<id>)/Microsoft.Dynamics.CRM.Merge"),
// params its JSON body (nil for none), and the answer is decoded into out
// (may be nil). Actions may change data, so they are not retried after a
// transient failure unless WithIdempotent(true) is given.
func (c *Client) CallAction(ctx context.Context, name string, params any, out any, opts ...RequestOption) error {
	if params == nil {
		params = json.RawMessage("{}")
	}
	k, err := c.newCall(http.MethodPost, name, params, opts)
	if err != nil {
		return err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		return err
	}
	if out != nil && len(resp.body) > 0 {
		if err := c.unmarshal(resp.body, out); err != nil {
			return decodeError(k, err)
		}
	}
	return nil
}

// Do sends any Web API request (method, path relative to the Web API base
// or absolute URL, JSON body or nil) with the client's authentication,
// retries and limits, and decodes a JSON answer into out (may be nil). It
// returns the HTTP status.
func (c *Client) Do(ctx context.Context, method, path string, body, out any, opts ...RequestOption) (int, error) {
	k, err := c.newCall(method, path, body, opts)
	if err != nil {
		return 0, err
	}
	resp, err := c.do(ctx, k)
	if err != nil {
		if e := AsError(err); e != nil {
			return e.StatusCode, err
		}
		return 0, err
	}
	if out != nil && len(resp.body) > 0 {
		if err := c.unmarshal(resp.body, out); err != nil {
			return resp.status, decodeError(k, err)
		}
	}
	return resp.status, nil
}
