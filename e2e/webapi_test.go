package e2e

// Web API tests (reference dataverse.md §4): the shape of every response,
// compared with golden files e2e/testdata/webapi_*.golden.json, over real
// HTTPS with access tokens from the identity service. The helpers here
// serve webapi_errors_test.go and webapi_auth_test.go too.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/store"
)

// apiReply is a Web API answer.
type apiReply struct {
	status int
	header http.Header
	body   []byte
	json   map[string]any // the body, when it is a JSON object
}

// apiClient calls one environment's Web API (/api/data/v9.2/) as the
// holder of a bearer token ("" sends none).
type apiClient struct {
	http  *http.Client
	env   string // environment URL, no trailing slash
	token string
}

// api returns a client of the environment at envURL with token.
func (ts *testStack) api(envURL, token string) *apiClient {
	return &apiClient{http: ts.client, env: strings.TrimRight(envURL, "/"), token: token}
}

// url is the absolute URL of a Web API path (absolute URLs pass through).
func (c *apiClient) url(path string) string {
	if strings.HasPrefix(path, "https://") {
		return path
	}
	return c.env + "/api/data/v9.2/" + path
}

// do sends a request the way the Dataverse documentation's samples do
// (reference §4.2). body is sent verbatim when it is a string or []byte,
// as JSON otherwise, nothing when nil; hdr are name/value pairs that add to
// or (with value "") remove from the standard headers. Every answer is
// checked: never a 5xx, and an error in Dataverse's shape.
func (c *apiClient) do(t testing.TB, method, path string, body any, hdr ...string) apiReply {
	t.Helper()
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case string:
		rd = strings.NewReader(b)
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			t.Fatal(err)
		}
		rd = bytes.NewReader(j)
	}
	req, err := http.NewRequest(method, c.url(path), rd)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-MaxVersion", "4.0")
	req.Header.Set("OData-Version", "4.0")
	if rd != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	for i := 0; i+1 < len(hdr); i += 2 {
		if hdr[i+1] == "" {
			req.Header.Del(hdr[i])
		} else {
			req.Header.Set(hdr[i], hdr[i+1])
		}
	}
	res, err := c.http.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", method, path, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatalf("%s %s: reading the answer: %v", method, path, err)
	}
	r := apiReply{status: res.StatusCode, header: res.Header, body: b}
	if strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		d := json.NewDecoder(bytes.NewReader(b))
		d.UseNumber()
		if err := d.Decode(&r.json); err != nil {
			t.Errorf("%s %s: %d, JSON content type but the body is not a JSON object: %v: %q", method, path, r.status, err, b)
		}
	}
	checkAPIReply(t, method+" "+path, r)
	return r
}

// get is do with GET and no body.
func (c *apiClient) get(t testing.TB, path string, hdr ...string) apiReply {
	t.Helper()
	return c.do(t, http.MethodGet, path, nil, hdr...)
}

var apiCodeRE = regexp.MustCompile(`^(0x[0-9a-f]{1,8})?$`)

// checkAPIReply holds for every answer of the data service: never a 5xx;
// OData-Version 4.0; errors as {"error":{"code":"0x…","message":"…"}}
// with a JSON content type and nothing else (reference §4.14).
func checkAPIReply(t testing.TB, what string, r apiReply) {
	t.Helper()
	if r.status >= 500 {
		t.Errorf("%s: status %d (never a 5xx): %s", what, r.status, r.body)
	}
	if v := r.header.Get("OData-Version"); v != "4.0" {
		t.Errorf("%s: OData-Version %q, want 4.0", what, v)
	}
	if r.status < 400 {
		return
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("%s: error with Content-Type %q, want JSON: %q", what, ct, r.body)
		return
	}
	e, ok := r.json["error"].(map[string]any)
	if !ok || len(r.json) != 1 {
		t.Errorf("%s: error body %s is not {\"error\":{…}}", what, r.body)
		return
	}
	code, okc := e["code"].(string)
	msg, okm := e["message"].(string)
	if !okc || !okm || len(e) != 2 || msg == "" || !apiCodeRE.MatchString(code) {
		t.Errorf("%s: error %s, want exactly a code (0x + lower-case hex) and a message", what, r.body)
	}
}

// errCode and errMessage read a Dataverse error body.
func (r apiReply) errCode() string {
	e, _ := r.json["error"].(map[string]any)
	s, _ := e["code"].(string)
	return s
}

func (r apiReply) errMessage() string {
	e, _ := r.json["error"].(map[string]any)
	s, _ := e["message"].(string)
	return s
}

// str returns a string property of a JSON answer.
func (r apiReply) str(name string) string {
	s, _ := r.json[name].(string)
	return s
}

// wantStatus fails the test unless the answer has status.
func (r apiReply) wantStatus(t testing.TB, status int) apiReply {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d: %s", r.status, status, r.body)
	}
	return r
}

var apiEntityIDRE = regexp.MustCompile(`\(([0-9a-f-]{36})\)$`)

// entityID returns the id in the OData-EntityId header of a 204 create.
func (r apiReply) entityID(t testing.TB) string {
	t.Helper()
	m := apiEntityIDRE.FindStringSubmatch(r.header.Get("OData-EntityId"))
	if m == nil {
		t.Fatalf("status %d, OData-EntityId %q: %s", r.status, r.header.Get("OData-EntityId"), r.body)
	}
	return m[1]
}

// appToken gets a client-credentials access token for resource from the
// v2 token endpoint of tenant.
func appToken(t testing.TB, ts *testStack, tenant, clientID, secret, resource string) string {
	t.Helper()
	return postToken(t, ts, v2Path(tenant), secretForm(clientID, secret, resource+"/.default")).accessToken(t)
}

// demoEnv returns the URL of the demo environment (contoso).
func demoEnv(t testing.TB, ts *testStack) string {
	t.Helper()
	return envURLOf(t, ts, demo.EnvironmentName)
}

// envURLOf returns the URL the stack serves environment name at.
func envURLOf(t testing.TB, ts *testStack, name string) string {
	t.Helper()
	for _, e := range ts.Info.Environments {
		if e.Name == name {
			return e.URL
		}
	}
	t.Fatalf("no environment %s in %+v", name, ts.Info.Environments)
	return ""
}

// portalAPI is a client of the demo environment as the Fabrikam Portal's
// application user (it has a role there).
func portalAPI(t testing.TB, ts *testStack) *apiClient {
	t.Helper()
	env := demoEnv(t, ts)
	return ts.api(env, appToken(t, ts, demo.ContosoTenantID, demo.PortalAppID, demo.PortalSecret, env))
}

// --- golden files ---

// apiGoldenIDs names the GUIDs a golden file may show: each known id is
// replaced by its name, every other GUID by {guid}.
type apiGoldenIDs map[string]string

var (
	apiGUIDRE          = regexp.MustCompile(`[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}`)
	apiTimeRE          = regexp.MustCompile(`^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$`)
	apiFormattedTimeRE = regexp.MustCompile(`^\d{1,2}/\d{1,2}/\d{4} \d{1,2}:\d{2} [AP]M$`)
	apiETagRE          = regexp.MustCompile(`W/"\d+"`)
	apiGoldenHeaders   = []string{"Content-Type", "OData-Version", "OData-EntityId", "Preference-Applied", "ETag", "WWW-Authenticate", "Location"}
	apiGoldenVolatile  = map[string]string{"versionnumber": "{version}"}
)

// apiGoldenDoc is what a golden file holds: the status, the headers that
// carry meaning, and the body (JSON, or text).
type apiGoldenDoc struct {
	Status  int               `json:"status"`
	Headers map[string]string `json:"headers"`
	Body    any               `json:"body,omitempty"`
}

// normaliseAPI turns an answer into its golden form: hosts, GUIDs,
// timestamps, ETags and version numbers replaced by names.
func normaliseAPI(t testing.TB, ts *testStack, env string, ids apiGoldenIDs, r apiReply) []byte {
	t.Helper()
	envHost := strings.TrimPrefix(env, "https://")
	authHost := strings.TrimPrefix(ts.Info.AuthorityHost, "https://")
	str := func(s string) string {
		s = strings.ReplaceAll(s, envHost, "{environment}")
		s = strings.ReplaceAll(s, authHost, "{authority}")
		s = apiGUIDRE.ReplaceAllStringFunc(s, func(g string) string {
			if n, ok := ids[strings.ToLower(g)]; ok {
				return n
			}
			return "{guid}"
		})
		s = apiETagRE.ReplaceAllString(s, `W/"{version}"`)
		switch {
		case apiTimeRE.MatchString(s):
			return "{datetime}"
		case apiFormattedTimeRE.MatchString(s):
			return "{formatted-datetime}"
		}
		return s
	}
	var walk func(key string, v any) any
	walk = func(key string, v any) any {
		if n, ok := apiGoldenVolatile[key]; ok && v != nil {
			return n
		}
		switch x := v.(type) {
		case map[string]any:
			for k, e := range x {
				x[k] = walk(k, e)
			}
		case []any:
			for i, e := range x {
				x[i] = walk(key, e)
			}
		case string:
			return str(x)
		}
		return v
	}
	doc := apiGoldenDoc{Status: r.status, Headers: map[string]string{}}
	for _, h := range apiGoldenHeaders {
		if v := r.header.Get(h); v != "" {
			doc.Headers[h] = str(v)
		}
	}
	switch {
	case len(r.body) == 0:
	case r.json != nil:
		var v any
		d := json.NewDecoder(bytes.NewReader(r.body))
		d.UseNumber()
		if err := d.Decode(&v); err != nil {
			t.Fatal(err)
		}
		doc.Body = walk("", v)
	default:
		// Text bodies (/$count, /$value); the BOM made visible.
		doc.Body = strings.ReplaceAll(str(string(r.body)), "\ufeff", "{BOM}")
	}
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// checkAPIGolden compares an answer with e2e/testdata/webapi_<name>.golden.json
// (rewritten with -update).
func checkAPIGolden(t testing.TB, ts *testStack, env string, ids apiGoldenIDs, name string, r apiReply) {
	t.Helper()
	got := normaliseAPI(t, ts, env, ids, r)
	file := filepath.Join("testdata", "webapi_"+name+".golden.json")
	if *updateGolden {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./e2e/ -run TestWebAPIGolden -update)", err)
	}
	if !bytes.Equal(got, want) {
		t.Errorf("%s differs from the server's answer (run with -update if the change is intended)\n--- got\n%s\n--- want\n%s", file, got, want)
	}
}

// TestWebAPIGolden checks the shape of every kind of Web API answer
// (reference §4.3–4.11) against golden files: the service document,
// WhoAmI, create (204 + OData-EntityId; 201 + Preference-Applied),
// update with return=representation, retrieve with $select and $expand
// (single- and collection-valued), a single property, queries with
// $select/$filter/$orderby/$top, $count=true, paging by
// odata.maxpagesize and @odata.nextLink, formatted values and lookup
// annotations, $ref, ETags and conditional GET, /$count, and the two
// errors every client meets (404 and 401).
func TestWebAPIGolden(t *testing.T) {
	ctx := context.Background()
	ts := start(t, "")
	env := demoEnv(t, ts)
	c := portalAPI(t, ts)
	e, err := ts.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	ids := apiGoldenIDs{strings.ToLower(e.ID): "{organization}", e.RootBU: "{root-business-unit}", demo.PortalAppUserID: "{portal-app-user}"}

	// The rows: four "Golden" accounts, three contacts.
	post := func(set string, body map[string]any) string {
		t.Helper()
		return c.do(t, http.MethodPost, set, body).wantStatus(t, http.StatusNoContent).entityID(t)
	}
	gail := post("contacts", map[string]any{"firstname": "Gail", "lastname": "Golden", "emailaddress1": "gail@golden.example"})
	ids[gail] = "{contact-gail}"
	alphaBody := map[string]any{"name": "Golden Alpha", "revenue": 1500000, "numberofemployees": 120, "accountcategorycode": 1,
		"creditonhold": false, "address1_city": "Redmond", "primarycontactid@odata.bind": "/contacts(" + gail + ")"}
	createdAlpha := c.do(t, http.MethodPost, "accounts", alphaBody)
	alpha := createdAlpha.wantStatus(t, http.StatusNoContent).entityID(t)
	ids[alpha] = "{account-alpha}"
	createdBeta := c.do(t, http.MethodPost, "accounts?$select=name,revenue,accountcategorycode,creditonhold",
		map[string]any{"name": "Golden Beta", "revenue": 250000.5, "accountcategorycode": 2, "creditonhold": true},
		"Prefer", "return=representation").wantStatus(t, http.StatusCreated)
	beta := createdBeta.str("accountid")
	ids[beta] = "{account-beta}"
	gamma := post("accounts", map[string]any{"name": "Golden Gamma", "revenue": 42000})
	ids[gamma] = "{account-gamma}"
	delta := post("accounts", map[string]any{"name": "Golden Delta", "numberofemployees": 7})
	ids[delta] = "{account-delta}"
	glen := post("contacts", map[string]any{"firstname": "Glen", "lastname": "Golden", "parentcustomerid_account@odata.bind": "accounts(" + alpha + ")"})
	ids[glen] = "{contact-glen}"
	bea := post("contacts", map[string]any{"firstname": "Bea", "lastname": "Golden", "parentcustomerid_account@odata.bind": "/accounts(" + beta + ")"})
	ids[bea] = "{contact-bea}"
	c.do(t, http.MethodPatch, "contacts("+gail+")", map[string]any{"parentcustomerid_account@odata.bind": env + "/api/data/v9.2/accounts(" + alpha + ")"}).
		wantStatus(t, http.StatusNoContent)

	golden := "startswith(name,'Golden')"
	alphaTag := c.get(t, "accounts("+alpha+")?$select=name").wantStatus(t, http.StatusOK).header.Get("ETag")
	cases := []struct {
		name   string
		reply  func() apiReply
		status int
	}{
		{"service_document", func() apiReply { return getServiceDocument(t, c) }, 200},
		{"whoami", func() apiReply { return c.get(t, "WhoAmI") }, 200},
		{"create_204", func() apiReply { return createdAlpha }, 204},
		{"create_201", func() apiReply { return createdBeta }, 201},
		{"update_representation", func() apiReply {
			return c.do(t, http.MethodPatch, "accounts("+gamma+")?$select=name,revenue", map[string]any{"revenue": 43000.25}, "Prefer", "return=representation")
		}, 200},
		{"retrieve_select", func() apiReply {
			return c.get(t, "accounts("+alpha+")?$select=name,revenue,numberofemployees,accountcategorycode")
		}, 200},
		{"retrieve_all", func() apiReply { return c.get(t, "accounts("+alpha+")") }, 200},
		{"retrieve_expand_single", func() apiReply {
			return c.get(t, "accounts("+alpha+")?$select=name&$expand=primarycontactid($select=fullname,emailaddress1)")
		}, 200},
		{"retrieve_expand_collection", func() apiReply {
			return c.get(t, "accounts("+alpha+")?$select=name&$expand=contact_customer_accounts($select=fullname;$orderby=firstname)")
		}, 200},
		{"list_expand", func() apiReply {
			return c.get(t, "accounts?$select=name&$filter="+url.QueryEscape(golden)+"&$orderby=name&$expand=primarycontactid($select=fullname),contact_customer_accounts($select=firstname;$orderby=firstname)")
		}, 200},
		{"property", func() apiReply { return c.get(t, "accounts("+alpha+")/name") }, 200},
		{"property_value", func() apiReply { return c.get(t, "accounts("+alpha+")/numberofemployees/$value") }, 200},
		{"list", func() apiReply {
			return c.get(t, "accounts?$select=name,revenue&$filter="+url.QueryEscape(golden+" and revenue gt 100000")+"&$orderby=revenue%20desc&$top=2")
		}, 200},
		{"count_true", func() apiReply {
			return c.get(t, "accounts?$select=name&$filter="+url.QueryEscape(golden)+"&$orderby=name&$count=true")
		}, 200},
		{"annotations", func() apiReply {
			return c.get(t, "accounts("+alpha+")?$select=name,revenue,accountcategorycode,creditonhold,numberofemployees,createdon,_primarycontactid_value,_ownerid_value",
				"Prefer", `odata.include-annotations="*"`)
		}, 200},
		{"annotations_list", func() apiReply {
			return c.get(t, "contacts?$select=fullname,_parentcustomerid_value&$filter="+url.QueryEscape("lastname eq 'Golden'")+"&$orderby=firstname",
				"Prefer", `odata.include-annotations="OData.Community.Display.V1.FormattedValue,Microsoft.Dynamics.CRM.lookuplogicalname"`)
		}, 200},
		{"totalrecordcount", func() apiReply {
			return c.get(t, "accounts?$select=name&$filter="+url.QueryEscape(golden)+"&$orderby=name&$count=true&$top=1",
				"Prefer", `odata.include-annotations="Microsoft.Dynamics.CRM.totalrecordcount,Microsoft.Dynamics.CRM.totalrecordcountlimitexceeded"`)
		}, 200},
		{"ref_collection", func() apiReply { return c.get(t, "accounts("+beta+")/contact_customer_accounts/$ref") }, 200},
		{"ref_single", func() apiReply { return c.get(t, "accounts("+alpha+")/primarycontactid/$ref") }, 200},
		{"nav_single", func() apiReply { return c.get(t, "accounts("+alpha+")/primarycontactid?$select=fullname") }, 200},
		{"nav_collection", func() apiReply {
			return c.get(t, "accounts("+alpha+")/contact_customer_accounts?$select=fullname&$orderby=firstname")
		}, 200},
		{"not_modified", func() apiReply { return c.get(t, "accounts("+alpha+")?$select=name", "If-None-Match", alphaTag) }, 304},
		{"count_text", func() apiReply { return c.get(t, "accounts/$count?$filter="+url.QueryEscape(golden)) }, 200},
		{"nav_count_text", func() apiReply { return c.get(t, "accounts("+alpha+")/contact_customer_accounts/$count") }, 200},
		{"error_not_found", func() apiReply { return c.get(t, "accounts(00000000-0000-0000-0000-000000000001)") }, 404},
		{"error_unauthorized", func() apiReply { return ts.api(env, "").get(t, "WhoAmI") }, 401},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := tc.reply()
			if r.status != tc.status {
				t.Fatalf("status %d, want %d: %s", r.status, tc.status, r.body)
			}
			// The ETag header and @odata.etag agree.
			if tag, ok := r.json["@odata.etag"].(string); ok && r.header.Get("ETag") != "" && tag != r.header.Get("ETag") {
				t.Errorf("ETag %q, @odata.etag %q", r.header.Get("ETag"), tag)
			}
			checkAPIGolden(t, ts, env, ids, tc.name, r)
		})
	}

	t.Run("paging", func(t *testing.T) {
		// odata.maxpagesize=2 over four rows: two pages, the second reached
		// by following @odata.nextLink unchanged (reference §4.10).
		prefer := "odata.maxpagesize=2"
		r := c.get(t, "accounts?$select=name&$filter="+url.QueryEscape(golden)+"&$orderby=name", "Prefer", prefer).wantStatus(t, 200)
		checkAPIGolden(t, ts, env, ids, "paging_page1", r)
		next := r.str("@odata.nextLink")
		if !strings.HasPrefix(next, env+"/api/data/v9.2/accounts?") || !strings.Contains(next, "$skiptoken=") {
			t.Fatalf("@odata.nextLink %q", next)
		}
		r2 := c.get(t, next, "Prefer", prefer).wantStatus(t, 200)
		checkAPIGolden(t, ts, env, ids, "paging_page2", r2)
		if _, more := r2.json["@odata.nextLink"]; more {
			t.Errorf("the last page has a nextLink: %s", r2.body)
		}
		var names []string
		for _, p := range []apiReply{r, r2} {
			for _, v := range p.json["value"].([]any) {
				names = append(names, v.(map[string]any)["name"].(string))
			}
		}
		if want := []string{"Golden Alpha", "Golden Beta", "Golden Delta", "Golden Gamma"}; fmt.Sprint(names) != fmt.Sprint(want) {
			t.Errorf("pages hold %v, want %v", names, want)
		}
	})

	t.Run("etag", func(t *testing.T) {
		// An ETag changes with the row; the old one no longer gives 304.
		r := c.get(t, "accounts("+delta+")?$select=name").wantStatus(t, 200)
		tag := r.header.Get("ETag")
		if !apiETagRE.MatchString(tag) || tag != r.str("@odata.etag") {
			t.Fatalf("ETag %q, @odata.etag %q", tag, r.str("@odata.etag"))
		}
		c.get(t, "accounts("+delta+")?$select=name", "If-None-Match", tag).wantStatus(t, http.StatusNotModified)
		c.do(t, http.MethodPatch, "accounts("+delta+")", map[string]any{"numberofemployees": 8}).wantStatus(t, http.StatusNoContent)
		r2 := c.get(t, "accounts("+delta+")?$select=name", "If-None-Match", tag).wantStatus(t, 200)
		if r2.header.Get("ETag") == tag {
			t.Errorf("ETag %s unchanged after an update", tag)
		}
		// Never 304 with $expand or annotations (reference §4.8).
		tag2 := r2.header.Get("ETag")
		c.get(t, "accounts("+delta+")?$select=name&$expand=primarycontactid($select=fullname)", "If-None-Match", tag2).wantStatus(t, 200)
		c.get(t, "accounts("+delta+")?$select=name", "If-None-Match", tag2, "Prefer", `odata.include-annotations="*"`).wantStatus(t, 200)
	})
}

// getServiceDocument gets the service document and checks every entry has
// the same shape; the golden form keeps the entity sets of the system
// tables this test knows, so that adding a table does not change it.
func getServiceDocument(t testing.TB, c *apiClient) apiReply {
	t.Helper()
	r := c.get(t, "")
	vals, _ := r.json["value"].([]any)
	keep := map[string]bool{"accounts": true, "contacts": true, "systemusers": true, "businessunits": true, "teams": true, "roles": true, "organizations": true}
	var kept []any
	seen := map[string]bool{}
	for _, v := range vals {
		m, _ := v.(map[string]any)
		name, _ := m["name"].(string)
		if len(m) != 3 || m["kind"] != "EntitySet" || m["url"] != name || name == "" || seen[name] {
			t.Errorf("service document entry %v, want {name, kind: EntitySet, url: name}, once", v)
		}
		seen[name] = true
		if keep[name] {
			kept = append(kept, v)
		}
	}
	if len(kept) != len(keep) {
		t.Errorf("service document %s lacks some of %v", r.body, keep)
	}
	r.json["value"] = kept
	b, err := json.Marshal(r.json)
	if err != nil {
		t.Fatal(err)
	}
	r.body = b
	return r
}

// demoRow reads a row of the demo environment directly (for checks that do
// not trust the Web API's own answer).
func demoRow(t testing.TB, ts *testStack, table, id string) store.Row {
	t.Helper()
	e, err := ts.Envs.Open(context.Background(), demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	r, err := e.Data.Get(context.Background(), e.Schema().Table(table), id, nil)
	if err != nil {
		t.Fatalf("%s(%s): %v", table, id, err)
	}
	return r
}
