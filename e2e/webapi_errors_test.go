package e2e

// Error cases of the Web API (reference dataverse.md §4.8, §4.9, §4.14,
// §4.15), each in Dataverse's {"error":{"code","message"}} shape, none a
// 5xx, none changing data; and upsert.

import (
	"context"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/google/uuid"
)

// apiErrCase is one request to the Web API and the error it must get.
// In path, body (a string) and message, {id} is an existing account,
// {contact} an existing contact, {missing} a GUID of no row and {env} the
// environment URL.
type apiErrCase struct {
	name    string
	method  string // default GET
	path    string
	body    any
	hdr     []string
	status  int
	code    string
	message string // the exact message, if not ""
	contain string // in the message
}

// TestWebAPIErrors sends every documented error case once, checks status,
// code and message, and that the rows they aimed at did not change.
func TestWebAPIErrors(t *testing.T) {
	ts := start(t, "")
	env := demoEnv(t, ts)
	c := portalAPI(t, ts)

	contact := c.do(t, http.MethodPost, "contacts", map[string]any{"firstname": "Erin", "lastname": "Errors"}).wantStatus(t, 204).entityID(t)
	id := c.do(t, http.MethodPost, "accounts", map[string]any{"name": "Errors Inc.", "numberofemployees": 10,
		"primarycontactid@odata.bind": "/contacts(" + contact + ")"}).wantStatus(t, 204).entityID(t)
	missing := uuid.NewString()
	before := c.get(t, "accounts("+id+")").wantStatus(t, 200)

	long := strings.Repeat("x", 161)
	notFound := "account With Id = {missing} Does Not Exist"
	mismatch := "The version of the existing record doesn't match the RowVersion property provided."
	const (
		codeQuery    = "0x80060888"
		codePayload  = "0x80048d19"
		codeNotFound = "0x80040217"
	)
	unsupported := func(opt string) apiErrCase {
		return apiErrCase{name: "option " + opt, path: "accounts?" + opt + "=1", status: 400, code: codeQuery,
			message: "The query parameter " + opt + " is not supported"}
	}
	cases := []apiErrCase{
		// §4.7, §4.8: missing rows, concurrency.
		{name: "GET missing row", path: "accounts({missing})", status: 404, code: codeNotFound, message: notFound},
		{name: "GET missing row with $select", path: "accounts({missing})?$select=name", status: 404, code: codeNotFound, message: notFound},
		{name: "PATCH If-Match * missing row", method: "PATCH", path: "accounts({missing})", body: `{"name":"x"}`, hdr: []string{"If-Match", "*"},
			status: 404, code: codeNotFound, message: notFound},
		{name: "DELETE missing row", method: "DELETE", path: "accounts({missing})", status: 404, code: codeNotFound, message: notFound},
		{name: "GET property of missing row", path: "accounts({missing})/name", status: 404, code: codeNotFound, message: notFound},
		{name: "PATCH If-Match mismatch", method: "PATCH", path: "accounts({id})", body: `{"name":"changed"}`, hdr: []string{"If-Match", `W/"1"`},
			status: 412, code: "0x80060882", message: mismatch},
		{name: "DELETE If-Match mismatch", method: "DELETE", path: "accounts({id})", hdr: []string{"If-Match", `W/"1"`},
			status: 412, code: "0x80060882", message: mismatch},
		{name: "PATCH If-None-Match * existing row", method: "PATCH", path: "accounts({id})", body: `{"name":"changed"}`, hdr: []string{"If-None-Match", "*"},
			status: 412, code: "0x80040237", message: "A record with matching key values already exists."},

		// Paths (§4.15).
		{name: "unknown entity set", path: "nosuchthings", status: 404, code: "0x8006088a", message: "Resource not found for the segment 'nosuchthings'."},
		{name: "unknown entity set with key", path: "nosuchthings({missing})", status: 404, code: "0x8006088a", contain: "Resource not found for the segment 'nosuchthings"},
		{name: "entity set wrong case", path: "Accounts", status: 404, code: "0x8006088a", message: "Resource not found for the segment 'Accounts'."},
		{name: "unknown property segment", path: "accounts({id})/nosuch", status: 404, code: "0x8006088a", message: "Resource not found for the segment 'nosuch'."},
		{name: "POST WhoAmI", method: "POST", path: "WhoAmI", body: `{}`, status: 404, code: "",
			message: "No HTTP resource was found that matches the request URI '{env}/api/data/v9.2/WhoAmI'."},
		{name: "unknown API version", path: "https://{envhost}/api/data/v8.0/accounts", status: 404, code: "", contain: "No HTTP resource was found"},
		{name: "invalid GUID key", path: "accounts(not-a-guid)", status: 400},
		{name: "malformed GUID key", path: "accounts(00000000-0000-0000-0000-00000000000z)", status: 400},
		{name: "number as key", path: "accounts(42)", status: 400, contain: "42"},
		{name: "undefined alternate key", path: "accounts(name='Errors Inc.')", status: 400, code: "0x80060890", contain: "not a defined alternate key"},

		// Query options (§4.9).
		{name: "unknown property in $select", path: "accounts?$select=name,nosuch", status: 400, code: "0x0",
			message: "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "unknown property in $select of a row", path: "accounts({id})?$select=nosuch", status: 400, code: "0x0",
			message: "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "lookup by name in $select", path: "accounts?$select=primarycontactid", status: 400, code: "0x0",
			message: "Could not find a property named 'primarycontactid' on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "unknown property in $filter", path: "accounts?$filter=" + url.QueryEscape("nosuch eq 1"), status: 400, code: "0x0",
			message: "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "unknown property in $orderby", path: "accounts?$orderby=nosuch", status: 400, code: "0x0",
			message: "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "unknown navigation in $expand", path: "accounts?$expand=nosuch", status: 400, code: "0x0",
			message: "Could not find a property named 'nosuch' on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "string for an integer in $filter", path: "accounts?$filter=" + url.QueryEscape("numberofemployees eq 'many'"), status: 400, code: codeQuery,
			message: "A binary operator with incompatible types was detected. Found operand types 'Edm.Int32' and 'Edm.String' for operator kind 'Equal'."},
		{name: "number for a string in $filter", path: "accounts?$filter=" + url.QueryEscape("name gt 5"), status: 400, code: codeQuery,
			message: "A binary operator with incompatible types was detected. Found operand types 'Edm.String' and 'Edm.Int32' for operator kind 'GreaterThan'."},
		{name: "unterminated literal in $filter", path: "contacts?$filter=" + url.QueryEscape("lastname eq 'O'Bryan'"), status: 400, code: codeQuery,
			message: "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."},
		{name: "syntax error in $filter", path: "accounts?$filter=" + url.QueryEscape("name eq"), status: 400, code: codeQuery},
		{name: "unknown function in $filter", path: "accounts?$filter=" + url.QueryEscape("frobnicate(name)"), status: 400},
		{name: "contains on a number", path: "accounts?$filter=" + url.QueryEscape("contains(numberofemployees,'1')"), status: 400, code: codeQuery},
		unsupported("$skip"),
		unsupported("$search"),
		unsupported("$format"),
		unsupported("$Select"),
		unsupported("$TOP"),
		unsupported("$Filter"),
		unsupported("$levels"),
		{name: "option twice", path: "accounts?$top=1&$top=2", status: 400, code: codeQuery, contain: "more than once"},
		{name: "negative $top", path: "accounts?$top=-1", status: 400, code: codeQuery,
			message: "Invalid value '-1' for $top query option found. The $top query option requires a non-negative integer value."},
		{name: "bad $count", path: "accounts?$count=yes", status: 400, code: codeQuery},
		{name: "$expand collection $ref", path: "accounts?$expand=contact_customer_accounts/$ref", status: 400, code: codeQuery,
			message: "Expand with $ref is only supported on lookup type navigation property."},
		{name: "forged $skiptoken", path: "accounts?$skiptoken=" + url.QueryEscape("<cookie/>"), status: 400},

		// Bodies (§4.6, §4.8, §4.15).
		{name: "unknown property in body", method: "POST", path: "accounts", body: `{"name":"x","nosuch":1}`, status: 400, code: codePayload,
			contain: "The property 'nosuch' does not exist on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "unknown property in PATCH body", method: "PATCH", path: "accounts({id})", body: `{"nosuch":1}`, status: 400, code: codePayload,
			contain: "The property 'nosuch' does not exist on type 'Microsoft.Dynamics.CRM.account'."},
		{name: "malformed JSON", method: "POST", path: "accounts", body: `{"name": "x"`, status: 400, code: codePayload, contain: "Invalid JSON"},
		{name: "JSON array body", method: "POST", path: "accounts", body: `[{"name":"x"}]`, status: 400, code: codePayload, contain: "Invalid JSON"},
		{name: "two JSON values", method: "POST", path: "accounts", body: `{"name":"x"} {"name":"y"}`, status: 400, code: codePayload, contain: "Invalid JSON"},
		{name: "empty body", method: "POST", path: "accounts", body: ``, status: 400, code: codePayload, contain: "Invalid JSON"},
		{name: "string too long", method: "POST", path: "accounts", body: `{"name":"` + long + `"}`, status: 400, code: "0x80044331",
			message: "A validation error occurred. The length of the 'name' attribute of the 'account' entity exceeded the maximum allowed length of '160'."},
		{name: "string too long on update", method: "PATCH", path: "accounts({id})", body: `{"name":"` + long + `"}`, status: 400, code: "0x80044331"},
		{name: "choice out of range", method: "POST", path: "accounts", body: `{"name":"x","accountcategorycode":99}`, status: 400, code: "0x8004431a",
			message: "A validation error occurred. The value 99 of 'accountcategorycode' on record of type 'account' is outside the valid range."},
		{name: "integer out of range", method: "POST", path: "accounts", body: `{"name":"x","numberofemployees":4294967296}`, status: 400, code: "0x8004431a"},
		{name: "string for an integer", method: "POST", path: "accounts", body: `{"name":"x","numberofemployees":"many"}`, status: 400, code: codePayload,
			contain: "'numberofemployees'"},
		{name: "number for a boolean", method: "POST", path: "accounts", body: `{"name":"x","creditonhold":1}`, status: 400, code: codePayload},
		{name: "bad date", method: "POST", path: "contacts", body: `{"lastname":"x","birthdate":"yesterday"}`, status: 400, code: codePayload},
		{name: "lookup bound to a wrong table", method: "POST", path: "accounts", body: `{"name":"x","primarycontactid@odata.bind":"/accounts({id})"}`,
			status: 400, code: codePayload, contain: "cannot be bound to 'primarycontactid'"},
		{name: "lookup bound to a wrong table on update", method: "PATCH", path: "accounts({id})", body: `{"primarycontactid@odata.bind":"accounts({id})"}`,
			status: 400, code: codePayload, contain: "cannot be bound"},
		{name: "bind to a missing row", method: "POST", path: "accounts", body: `{"name":"x","primarycontactid@odata.bind":"/contacts({missing})"}`,
			status: 404, code: codeNotFound, message: "contact With Id = {missing} Does Not Exist"},
		{name: "bind to an unknown set", method: "POST", path: "accounts", body: `{"name":"x","primarycontactid@odata.bind":"/nosuchthings({missing})"}`,
			status: 404, code: "0x8006088a"},
		{name: "bind to another environment", method: "POST", path: "accounts", body: `{"name":"x","primarycontactid@odata.bind":"https://elsewhere.example/api/data/v9.2/contacts({contact})"}`,
			status: 400},
		{name: "bind without a key", method: "POST", path: "accounts", body: `{"name":"x","primarycontactid@odata.bind":"/contacts"}`, status: 400},
		{name: "bind a number", method: "POST", path: "accounts", body: `{"name":"x","primarycontactid@odata.bind":42}`, status: 400, code: codePayload},
		{name: "bind an undeclared navigation", method: "POST", path: "contacts", body: `{"lastname":"x","parentcustomerid@odata.bind":"/accounts({id})"}`,
			status: 400, code: codePayload, contain: "An undeclared property 'parentcustomerid' which only has property annotations in the payload"},
		{name: "lookup value without bind", method: "POST", path: "accounts", body: `{"name":"x","primarycontactid":"{contact}"}`, status: 400, code: codePayload,
			contain: "'primarycontactid'"},
		{name: "lookup _value property in body", method: "POST", path: "accounts", body: `{"name":"x","_primarycontactid_value":"{contact}"}`, status: 400, code: codePayload,
			contain: "'_primarycontactid_value'"},
		{name: "primary key differs from URL", method: "PATCH", path: "accounts({id})", body: `{"accountid":"{missing}"}`, status: 400},
		{name: "SystemRequired set to null", method: "PATCH", path: "accounts({id})", body: `{"statecode":null}`, status: 400,
			message: "Attribute 'statecode' cannot be set to NULL"},

		// Methods (§4.14: 405).
		{name: "POST on an entity", method: "POST", path: "accounts({id})", body: `{"name":"x"}`, status: 405, code: "0x80040315"},
		{name: "PUT on an entity", method: "PUT", path: "accounts({id})", body: `{"name":"x"}`, status: 405, code: "0x80040315"},
		{name: "PATCH on a collection", method: "PATCH", path: "accounts", body: `{"name":"x"}`, status: 405, code: "0x80040315"},
		{name: "DELETE on a collection", method: "DELETE", path: "accounts", status: 405, code: "0x80040315"},
		{name: "POST on a property", method: "POST", path: "accounts({id})/name", body: `{"value":"x"}`, status: 405, code: "0x80040315"},
		{name: "DELETE a SystemRequired property", method: "DELETE", path: "accounts({id})/statecode", status: 400,
			message: "Attribute 'statecode' cannot be set to NULL"},
		{name: "DELETE a lookup property", method: "DELETE", path: "accounts({id})/_primarycontactid_value", status: 400},
		{name: "DELETE the primary key", method: "DELETE", path: "accounts({id})/accountid", status: 400},
		{name: "PUT a property without value", method: "PUT", path: "accounts({id})/name", body: `{"name":"x"}`, status: 400},
	}
	expand := func(s string) string {
		return strings.NewReplacer("{id}", id, "{contact}", contact, "{missing}", missing, "{env}", env,
			"{envhost}", strings.TrimPrefix(env, "https://")).Replace(s)
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			method := tc.method
			if method == "" {
				method = http.MethodGet
			}
			body := tc.body
			if s, ok := body.(string); ok {
				body = expand(s)
			}
			r := c.do(t, method, expand(tc.path), body, tc.hdr...)
			checkAPIError(t, r, tc.status, tc.code, expand(tc.message), expand(tc.contain))
		})
	}

	t.Run("oversized body", func(t *testing.T) {
		// Bodies are bounded at 16 MiB (reference §4.15 RequestLengthTooLarge).
		body := `{"name":"big","description":"` + strings.Repeat("a", 16<<20) + `"}`
		r := c.do(t, http.MethodPost, "accounts", body)
		checkAPIError(t, r, http.StatusRequestEntityTooLarge, "0x8004418a", "Request message length is too large.", "")
		r = c.do(t, http.MethodPatch, "accounts("+id+")", body)
		checkAPIError(t, r, http.StatusRequestEntityTooLarge, "0x8004418a", "Request message length is too large.", "")
	})

	t.Run("nothing changed", func(t *testing.T) {
		// None of the failed requests changed the row or created one.
		after := c.get(t, "accounts("+id+")").wantStatus(t, 200)
		if string(after.body) != string(before.body) {
			t.Errorf("the account changed:\n%s\n%s", before.body, after.body)
		}
		n := c.get(t, "accounts/$count?$filter="+url.QueryEscape("name eq 'x' or name eq 'big'")).wantStatus(t, 200)
		if strings.TrimPrefix(string(n.body), "\ufeff") != "0" {
			t.Errorf("failed creates left %s rows", n.body)
		}
		c.get(t, "contacts("+contact+")").wantStatus(t, 200)
	})
}

// checkAPIError checks status, code and message of an error answer.
func checkAPIError(t testing.TB, r apiReply, status int, code, message, contain string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	if code != "" && r.errCode() != code {
		t.Errorf("code %q, want %q: %s", r.errCode(), code, r.body)
	}
	if message != "" && r.errMessage() != message {
		t.Errorf("message %q,\nwant    %q", r.errMessage(), message)
	}
	if !strings.Contains(r.errMessage(), contain) {
		t.Errorf("message %q does not contain %q", r.errMessage(), contain)
	}
}

// TestWebAPIUpsert covers PATCH as upsert (reference §4.8): it creates the
// row with the id of the URL (204 + OData-EntityId, or 201 with
// return=representation), updates it the second time, and honours
// If-Match: * (no create) and If-None-Match: * (no update).
func TestWebAPIUpsert(t *testing.T) {
	ts := start(t, "")
	c := portalAPI(t, ts)
	ctx := context.Background()

	for _, tc := range []struct {
		name   string
		hdr    []string
		status int
	}{
		{"minimal", nil, http.StatusNoContent},
		{"representation", []string{"Prefer", "return=representation"}, http.StatusCreated},
		{"If-None-Match *", []string{"If-None-Match", "*"}, http.StatusNoContent},
	} {
		t.Run(tc.name, func(t *testing.T) {
			id := uuid.NewString()
			r := c.do(t, http.MethodPatch, "accounts("+id+")", map[string]any{"name": "Upserted " + tc.name, "numberofemployees": 3}, tc.hdr...).
				wantStatus(t, tc.status)
			if tc.status == http.StatusNoContent {
				if got := r.entityID(t); got != id {
					t.Errorf("OData-EntityId names %s, want the URL's id %s", got, id)
				}
			} else if r.str("accountid") != id || r.header.Get("Preference-Applied") != "return=representation" {
				t.Errorf("upsert with return=representation: %s %v", r.body, r.header)
			}
			got := c.get(t, "accounts("+id+")?$select=name,numberofemployees").wantStatus(t, 200)
			if got.str("accountid") != id || got.str("name") != "Upserted "+tc.name {
				t.Errorf("after the upsert: %s", got.body)
			}
			// The row is real: the store has it, owned by the caller.
			row := demoRow(t, ts, schema.TableAccount, id)
			if row["name"] != "Upserted "+tc.name {
				t.Errorf("stored row %v", row)
			}
			// The second PATCH updates.
			c.do(t, http.MethodPatch, "accounts("+id+")", map[string]any{"numberofemployees": 4}).wantStatus(t, http.StatusNoContent)
			if n := c.get(t, "accounts("+id+")/numberofemployees").wantStatus(t, 200).json["value"]; n == nil || n.(interface{ String() string }).String() != "4" {
				t.Errorf("after the update numberofemployees = %v", n)
			}
			// If-Match with the current ETag updates; a stale one does not.
			tag := c.get(t, "accounts("+id+")?$select=name").header.Get("ETag")
			c.do(t, http.MethodPatch, "accounts("+id+")", map[string]any{"numberofemployees": 5}, "If-Match", tag).wantStatus(t, http.StatusNoContent)
			r = c.do(t, http.MethodPatch, "accounts("+id+")", map[string]any{"numberofemployees": 6}, "If-Match", tag)
			checkAPIError(t, r, http.StatusPreconditionFailed, "0x80060882", "", "")
			// DELETE with the current ETag deletes; then it is gone.
			tag = c.get(t, "accounts("+id+")?$select=name").header.Get("ETag")
			c.do(t, http.MethodDelete, "accounts("+id+")", nil, "If-Match", tag).wantStatus(t, http.StatusNoContent)
			checkAPIError(t, c.get(t, "accounts("+id+")"), http.StatusNotFound, "0x80040217", "", "")
		})
	}

	t.Run("If-Match * does not create", func(t *testing.T) {
		id := uuid.NewString()
		checkAPIError(t, c.do(t, http.MethodPatch, "accounts("+id+")", map[string]any{"name": "never"}, "If-Match", "*"),
			http.StatusNotFound, "0x80040217", "account With Id = "+id+" Does Not Exist", "")
		e, err := ts.Envs.Open(ctx, "contoso")
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.Data.Get(ctx, e.Schema().Table(schema.TableAccount), id, nil); err == nil {
			t.Errorf("PATCH with If-Match: * created %s", id)
		}
	})

	t.Run("binds that work", func(t *testing.T) {
		// ownerid binds through its lookup; a customer lookup through
		// parentcustomerid_account (reference §4.12); the primary key may
		// repeat the URL's.
		acc := c.do(t, http.MethodPost, "accounts", map[string]any{"name": "Owned", "ownerid@odata.bind": "/systemusers(" + demo.PortalAppUserID + ")"}).
			wantStatus(t, http.StatusNoContent).entityID(t)
		con := c.do(t, http.MethodPost, "contacts", map[string]any{"lastname": "Bound", "parentcustomerid_account@odata.bind": "/accounts(" + acc + ")"}).
			wantStatus(t, http.StatusNoContent).entityID(t)
		got := c.get(t, "contacts("+con+")?$select=_parentcustomerid_value,_ownerid_value").wantStatus(t, 200)
		if got.str("_parentcustomerid_value") != acc || got.str("_ownerid_value") != demo.PortalAppUserID {
			t.Errorf("contact %s", got.body)
		}
		c.do(t, http.MethodPatch, "accounts("+acc+")", map[string]any{"accountid": acc, "name": "Owned 2"}).wantStatus(t, http.StatusNoContent)
	})

	t.Run("upper-case id", func(t *testing.T) {
		// Keys are GUIDs, whatever their case.
		id := uuid.NewString()
		c.do(t, http.MethodPatch, "accounts("+strings.ToUpper(id)+")", map[string]any{"name": "Upper"}).wantStatus(t, http.StatusNoContent)
		got := c.get(t, "accounts("+id+")?$select=name").wantStatus(t, 200)
		if got.str("accountid") != id {
			t.Errorf("accountid %q, want %s", got.str("accountid"), id)
		}
	})
}
