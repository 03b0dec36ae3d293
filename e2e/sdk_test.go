package e2e

// Tests of the public Go SDK (package dataverse) against the whole stack
// over HTTPS: the SDK is used exactly as an app would use it with real
// Dataverse, with azidentity credentials pointed at the stack's authority.

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/azcore/cloud"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
	"github.com/dvs2s/dvs2s/dataverse"
	"github.com/dvs2s/dvs2s/demo"
)

// sdkCred returns an azidentity client-secret credential of the stack.
func (ts *testStack) sdkCred(t testing.TB, tenantID, clientID, secret string) azcore.TokenCredential {
	t.Helper()
	cred, err := azidentity.NewClientSecretCredential(tenantID, clientID, secret, &azidentity.ClientSecretCredentialOptions{
		ClientOptions:            azcore.ClientOptions{Cloud: cloud.Configuration{ActiveDirectoryAuthorityHost: ts.Info.AuthorityHost + "/"}, Transport: ts.client},
		DisableInstanceDiscovery: true,
	})
	if err != nil {
		t.Fatal(err)
	}
	return cred
}

// sdkClient returns a client of the demo environment as the Fabrikam
// Portal app (multi-tenant, consented in contoso).
func (ts *testStack) sdkClient(t testing.TB, opts *dataverse.Options) *dataverse.Client {
	t.Helper()
	return ts.sdkClientFor(t, ts.envURL(t), ts.sdkCred(t, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret), opts)
}

func (ts *testStack) sdkClientFor(t testing.TB, envURL string, cred azcore.TokenCredential, opts *dataverse.Options) *dataverse.Client {
	t.Helper()
	o := dataverse.Options{}
	if opts != nil {
		o = *opts
	}
	if o.HTTPClient == nil {
		o.HTTPClient = &http.Client{Transport: ts.client.Transport, Timeout: 60 * time.Second}
	}
	c, err := dataverse.NewClient(envURL, cred, &o)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

func sdkCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	t.Cleanup(cancel)
	return ctx
}

func TestSDKWhoAmI(t *testing.T) {
	ts := start(t, "")
	c := ts.sdkClient(t, nil)
	w, err := c.WhoAmI(sdkCtx(t))
	if err != nil {
		t.Fatal(err)
	}
	if w.UserID != demo.PortalAppUserID || w.BusinessUnitID == "" || w.OrganizationID == "" {
		t.Fatalf("WhoAmI = %+v, want the portal's application user %s", w, demo.PortalAppUserID)
	}
}

// account is a typed row for the generic helpers.
type account struct {
	ID        string  `json:"accountid,omitempty"`
	Name      string  `json:"name"`
	City      string  `json:"address1_city,omitempty"`
	Revenue   float64 `json:"revenue,omitempty"`
	Employees int     `json:"numberofemployees,omitempty"`
	ETag      string  `json:"@odata.etag,omitempty"`
}

func TestSDKCRUD(t *testing.T) {
	ts := start(t, "")
	c := ts.sdkClient(t, nil)
	ctx := sdkCtx(t)

	// Create: 204 with OData-EntityId; and with return=representation.
	id, err := c.Create(ctx, "accounts", dataverse.Row{"name": "SDK Create", "address1_city": "Oslo", "revenue": 1234.5})
	if err != nil {
		t.Fatal(err)
	}
	if len(id) != 36 {
		t.Fatalf("Create returned id %q", id)
	}
	var rep account
	id2, err := c.Create(ctx, "accounts", account{Name: "SDK Create 2", Employees: 7},
		dataverse.WithReturnRepresentation(&rep), dataverse.WithSelect("name", "numberofemployees"))
	if err != nil {
		t.Fatal(err)
	}
	if rep.Name != "SDK Create 2" || rep.Employees != 7 || rep.ID != id2 || id2 == "" || rep.ETag == "" {
		t.Fatalf("representation %+v (id %s)", rep, id2)
	}

	// Retrieve as Row and as a struct.
	row, err := c.Retrieve(ctx, "accounts", id, dataverse.NewQuery().Select("name", "address1_city", "revenue"))
	if err != nil {
		t.Fatal(err)
	}
	if row.String("name") != "SDK Create" || row["revenue"] != 1234.5 || row.ETag() == "" {
		t.Fatalf("Retrieve = %v", row)
	}
	a, err := dataverse.RetrieveAs[account](ctx, c, "accounts", "{"+strings.ToUpper(id)+"}", nil)
	if err != nil {
		t.Fatal(err)
	}
	if a.Name != "SDK Create" || a.City != "Oslo" || a.ID != id {
		t.Fatalf("RetrieveAs = %+v", a)
	}

	// Conditional GET: 304 -> ErrNotModified.
	if _, err := c.Retrieve(ctx, "accounts", id, nil, dataverse.WithIfNoneMatch(a.ETag)); !errors.Is(err, dataverse.ErrNotModified) {
		t.Fatalf("Retrieve If-None-Match current ETag: %v, want ErrNotModified", err)
	}

	// Update with the current ETag, then the stale one fails.
	if err := c.Update(ctx, "accounts", id, dataverse.Row{"address1_city": "Bergen"}, dataverse.WithIfMatch(a.ETag)); err != nil {
		t.Fatal(err)
	}
	err = c.Update(ctx, "accounts", id, dataverse.Row{"address1_city": "Trondheim"}, dataverse.WithIfMatch(a.ETag))
	if !dataverse.IsPreconditionFailed(err) {
		t.Fatalf("update with stale ETag: %v, want 412", err)
	}
	var upd dataverse.Row
	if err := c.Update(ctx, "accounts", id, dataverse.Row{"numberofemployees": 3}, dataverse.WithReturnRepresentation(&upd),
		dataverse.WithSelect("address1_city", "numberofemployees")); err != nil {
		t.Fatal(err)
	}
	if upd["address1_city"] != "Bergen" || upd["numberofemployees"] != float64(3) {
		t.Fatalf("update representation = %v", upd)
	}

	// Update never creates: 404.
	missing := "00000000-0000-4000-8000-00000000beef"
	if err := c.Update(ctx, "accounts", missing, dataverse.Row{"name": "x"}); !dataverse.IsNotFound(err) {
		t.Fatalf("update of a missing row: %v, want 404", err)
	}
	// Upsert creates with the given id, then updates; create-only fails on
	// the second time.
	uid, err := c.Upsert(ctx, "accounts", missing, dataverse.Row{"name": "Upserted"})
	if err != nil || uid != missing {
		t.Fatalf("upsert create: %q, %v", uid, err)
	}
	if _, err := c.Upsert(ctx, "accounts", missing, dataverse.Row{"name": "Upserted again"}); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Upsert(ctx, "accounts", missing, dataverse.Row{"name": "x"}, dataverse.WithIfNoneMatch("*")); !dataverse.IsPreconditionFailed(err) {
		t.Fatalf("create-only upsert of an existing row: %v, want 412", err)
	}
	got, err := c.Retrieve(ctx, "accounts", missing, dataverse.NewQuery().Select("name"))
	if err != nil || got.String("name") != "Upserted again" {
		t.Fatalf("after upserts: %v, %v", got, err)
	}

	// Delete, then it is gone.
	for _, k := range []string{id, id2, missing} {
		if err := c.Delete(ctx, "accounts", k); err != nil {
			t.Fatal(err)
		}
	}
	_, err = c.Retrieve(ctx, "accounts", id, nil)
	if !dataverse.IsNotFound(err) {
		t.Fatalf("retrieve after delete: %v", err)
	}
	e := dataverse.AsError(err)
	if e.Code != dataverse.CodeObjectDoesNotExist || !strings.Contains(e.Message, id) || e.RequestID == "" {
		t.Fatalf("not-found error %+v", e)
	}
	if err := c.Delete(ctx, "accounts", id); !dataverse.IsNotFound(err) {
		t.Fatalf("second delete: %v", err)
	}
}

func TestSDKQuery(t *testing.T) {
	ts := start(t, "")
	c := ts.sdkClient(t, nil)
	ctx := sdkCtx(t)
	const n = 23
	for i := range n {
		if _, err := c.Create(ctx, "accounts", dataverse.Row{"name": fmt.Sprintf("Paging %02d", i), "numberofemployees": i,
			"address1_city": map[bool]string{true: "O'Hare", false: "Elsewhere"}[i%2 == 0]}); err != nil {
			t.Fatal(err)
		}
	}
	paging := dataverse.StartsWith("name", "Paging ")
	tests := []struct {
		name  string
		q     *dataverse.Query
		opts  []dataverse.RequestOption
		want  int
		first string
	}{
		{"all pages of 5", dataverse.NewQuery().Select("name").Filter(paging).OrderBy("name"), []dataverse.RequestOption{dataverse.WithPageSize(5)}, n, "Paging 00"},
		{"one page", dataverse.NewQuery().Select("name").Filter(paging).OrderBy("name desc"), nil, n, "Paging 22"},
		{"top", dataverse.NewQuery().Select("name").Filter(paging).OrderBy("name").Top(4), nil, 4, "Paging 00"},
		{"quote in literal", dataverse.NewQuery().Select("name").Filter(dataverse.And(paging, dataverse.Eq("address1_city", "O'Hare"))).OrderBy("name"),
			[]dataverse.RequestOption{dataverse.WithPageSize(3)}, 12, "Paging 00"},
		{"filterf and numbers", dataverse.NewQuery().Select("name").Filterf("startswith(name,%s) and numberofemployees ge %v", "Paging", 20).OrderBy("numberofemployees"),
			nil, 3, "Paging 20"},
		{"or and not", dataverse.NewQuery().Select("name").Filter(dataverse.And(paging, dataverse.Not(dataverse.Or(dataverse.Lt("numberofemployees", 10), dataverse.Gt("numberofemployees", 12))))).OrderBy("name"),
			nil, 3, "Paging 10"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rows, err := dataverse.Collect(c.Query(ctx, "accounts", tt.q, tt.opts...))
			if err != nil {
				t.Fatal(err)
			}
			if len(rows) != tt.want || rows[0].String("name") != tt.first {
				t.Fatalf("%s: %d rows, first %v; want %d, first %q", tt.q, len(rows), rows[0], tt.want, tt.first)
			}
		})
	}

	t.Run("page, count and next link", func(t *testing.T) {
		p, err := dataverse.QueryPage[account](ctx, c, dataverse.QueryPath("accounts", dataverse.NewQuery().Select("name").Filter(paging).Count()),
			dataverse.WithPageSize(10))
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Rows) != 10 || p.Count != n || p.NextLink == "" {
			t.Fatalf("page: %d rows, count %d, next %q", len(p.Rows), p.Count, p.NextLink)
		}
		p2, err := dataverse.QueryPage[account](ctx, c, p.NextLink, dataverse.WithPageSize(10))
		if err != nil || len(p2.Rows) != 10 || p2.Rows[0].ID == p.Rows[0].ID {
			t.Fatalf("second page: %+v, %v", p2, err)
		}
	})

	t.Run("break stops paging", func(t *testing.T) {
		seen := 0
		for _, err := range c.Query(ctx, "accounts", dataverse.NewQuery().Select("name").Filter(paging), dataverse.WithPageSize(2)) {
			if err != nil {
				t.Fatal(err)
			}
			seen++
			if seen == 3 {
				break
			}
		}
		if seen != 3 {
			t.Fatal(seen)
		}
	})

	t.Run("typed and raw", func(t *testing.T) {
		var names []string
		for a, err := range dataverse.QueryAs[account](ctx, c, "accounts?$select=name,numberofemployees&$filter=numberofemployees%20ge%2021%20and%20startswith(name,'Paging')&$orderby=name") {
			if err != nil {
				t.Fatal(err)
			}
			names = append(names, fmt.Sprintf("%s/%d", a.Name, a.Employees))
		}
		if strings.Join(names, ",") != "Paging 21/21,Paging 22/22" {
			t.Fatal(names)
		}
		rows, err := dataverse.Collect(c.QueryRaw(ctx, "accounts?$select=name&$filter=name%20eq%20'Paging%2007'"))
		if err != nil || len(rows) != 1 {
			t.Fatalf("%v %v", rows, err)
		}
		cnt, err := c.Count(ctx, "accounts", paging)
		if err != nil || cnt != n {
			t.Fatalf("Count = %d, %v", cnt, err)
		}
	})

	t.Run("expand and annotations", func(t *testing.T) {
		rows, err := dataverse.Collect(c.Query(ctx, "accounts", dataverse.NewQuery().Select("name", "_primarycontactid_value").
			Filter(dataverse.Eq("name", "Fourth Coffee")).
			Expand("primarycontactid", dataverse.NewQuery().Select("fullname", "emailaddress1")).
			Expand("contact_customer_accounts", dataverse.NewQuery().Select("lastname")),
			dataverse.WithFormattedValues()))
		if err != nil {
			t.Fatal(err)
		}
		if len(rows) != 1 {
			t.Fatal(rows)
		}
		pc, _ := rows[0]["primarycontactid"].(map[string]any)
		if !strings.Contains(fmt.Sprint(pc["fullname"]), "Fourth Coffee") {
			t.Fatalf("expanded primary contact: %v", rows[0])
		}
		if cs, _ := rows[0]["contact_customer_accounts"].([]any); len(cs) != 1 {
			t.Fatalf("expanded contacts: %v", rows[0])
		}
		if fv := rows[0].FormattedValue("_primarycontactid_value"); !strings.Contains(fv, "Fourth Coffee") {
			t.Fatalf("formatted value of the lookup: %q in %v", fv, rows[0])
		}
	})

	t.Run("bad query surfaces the server's message", func(t *testing.T) {
		_, err := dataverse.Collect(c.Query(ctx, "accounts", dataverse.NewQuery().Select("Name")))
		e := dataverse.AsError(err)
		if e == nil || e.StatusCode != http.StatusBadRequest || !strings.Contains(e.Message, "Name") {
			t.Fatalf("err = %v", err)
		}
		_, err = dataverse.Collect(c.Query(ctx, "Accounts", nil))
		if !dataverse.IsNotFound(err) || !strings.Contains(err.Error(), "Accounts") {
			t.Fatalf("wrong-case entity set: %v", err)
		}
	})
}

func TestSDKAssociate(t *testing.T) {
	ts := start(t, "")
	c := ts.sdkClient(t, nil)
	ctx := sdkCtx(t)
	acc, err := c.Create(ctx, "accounts", dataverse.Row{"name": "Assoc Parent"})
	if err != nil {
		t.Fatal(err)
	}
	con, err := c.Create(ctx, "contacts", dataverse.Row{"lastname": "Assoc Child"})
	if err != nil {
		t.Fatal(err)
	}
	con2, err := c.Create(ctx, "contacts", dataverse.Row{"lastname": "Bound Child",
		"parentcustomerid_account@odata.bind": dataverse.Bind("accounts", acc)})
	if err != nil {
		t.Fatal(err)
	}
	children := func() []string {
		t.Helper()
		rows, err := dataverse.Collect(c.Query(ctx, "contacts", dataverse.NewQuery().Select("lastname").
			Filter(dataverse.Eq("_parentcustomerid_value", dataverse.GUID(acc))).OrderBy("lastname")))
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, r := range rows {
			out = append(out, r.String("lastname"))
		}
		return out
	}
	if got := strings.Join(children(), ","); got != "Bound Child" {
		t.Fatalf("after @odata.bind: %q", got)
	}
	if err := c.Associate(ctx, "accounts", acc, "contact_customer_accounts", "contacts", con); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(children(), ","); got != "Assoc Child,Bound Child" {
		t.Fatalf("after associate: %q", got)
	}
	if err := c.Disassociate(ctx, "accounts", acc, "contact_customer_accounts", con2); err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(children(), ","); got != "Assoc Child" {
		t.Fatalf("after disassociate: %q", got)
	}
	// Single-valued: set and clear the primary contact.
	if err := c.SetReference(ctx, "accounts", acc, "primarycontactid", "contacts", con); err != nil {
		t.Fatal(err)
	}
	r, err := c.Retrieve(ctx, "accounts", acc, dataverse.NewQuery().Select("_primarycontactid_value"))
	if err != nil || r.String("_primarycontactid_value") != con {
		t.Fatalf("after SetReference: %v %v", r, err)
	}
	if err := c.ClearReference(ctx, "accounts", acc, "primarycontactid"); err != nil {
		t.Fatal(err)
	}
	r, err = c.Retrieve(ctx, "accounts", acc, dataverse.NewQuery().Select("_primarycontactid_value"))
	if err != nil || r["_primarycontactid_value"] != nil {
		t.Fatalf("after ClearReference: %v %v", r, err)
	}
	// Function with parameters, bound path.
	var out struct {
		Value string `json:"value"`
	}
	if err := c.CallFunction(ctx, "accounts("+acc+")/name", nil, &out); err != nil || out.Value != "Assoc Parent" {
		t.Fatalf("property read through CallFunction: %+v %v", out, err)
	}
}
