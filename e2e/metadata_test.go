package e2e

// Web API metadata over real HTTPS (reference dataverse.md §4.4, §4.16):
// the CSDL $metadata document (parsed back with encoding/xml and checked
// for dangling types and partners), EntityDefinitions and
// RelationshipDefinitions queries, and custom tables, columns and lookups
// created with POST, then used through the ordinary row routes, across a
// restart. Golden files: testdata/webapi_metadata_*.

import (
	"bytes"
	"context"
	"encoding/json"
	"encoding/xml"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/demo"
)

// mdClient calls the demo environment's Web API with an app-only token of
// the demo portal app.
type mdClient struct {
	t     *testing.T
	ts    *testStack
	env   string // environment URL
	base  string // <env>/api/data/v9.2/
	token string
}

func newMDClient(t *testing.T, ts *testStack) *mdClient {
	t.Helper()
	if len(ts.Info.Environments) == 0 {
		t.Fatal("no environment")
	}
	env := ts.Info.Environments[0].URL
	form := url.Values{"grant_type": {"client_credentials"}, "client_id": {demo.PortalAppID},
		"client_secret": {demo.PortalSecret}, "scope": {env + "/.default"}}
	resp, err := ts.client.PostForm(ts.Info.AuthorityHost+"/"+demo.ContosoTenantID+"/oauth2/v2.0/token", form)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var tok struct {
		AccessToken string `json:"access_token"`
	}
	if err := json.NewDecoder(resp.Body).Decode(&tok); err != nil || tok.AccessToken == "" {
		t.Fatalf("token: %d %v", resp.StatusCode, err)
	}
	return &mdClient{t: t, ts: ts, env: env, base: env + "/api/data/v9.2/", token: tok.AccessToken}
}

type mdReply struct {
	status int
	header http.Header
	body   []byte
}

func (r mdReply) object(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	d := json.NewDecoder(bytes.NewReader(r.body))
	d.UseNumber()
	if err := d.Decode(&m); err != nil {
		t.Fatalf("status %d, body is not a JSON object: %v: %s", r.status, err, r.body)
	}
	return m
}

// do sends a request; path is relative to the Web API base (already
// escaped where needed).
func (c *mdClient) do(method, path string, body any) mdReply {
	c.t.Helper()
	var rd io.Reader
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			c.t.Fatal(err)
		}
		rd = bytes.NewReader(b)
	}
	req, err := http.NewRequest(method, c.base+strings.ReplaceAll(path, " ", "%20"), rd)
	if err != nil {
		c.t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Accept", "application/json")
	req.Header.Set("OData-Version", "4.0")
	req.Header.Set("OData-MaxVersion", "4.0")
	if body != nil {
		req.Header.Set("Content-Type", "application/json; charset=utf-8")
	}
	resp, err := c.ts.client.Do(req)
	if err != nil {
		c.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		c.t.Fatal(err)
	}
	return mdReply{status: resp.StatusCode, header: resp.Header, body: b}
}

// get GETs path and decodes the JSON object of a 200.
func (c *mdClient) get(path string) map[string]any {
	c.t.Helper()
	r := c.do(http.MethodGet, path, nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("GET %s: %d %s", path, r.status, r.body)
	}
	return r.object(c.t)
}

// wantError checks an error reply's status and, when code is not empty,
// its Dataverse error code.
func (c *mdClient) wantError(r mdReply, status int, code string, what string) {
	c.t.Helper()
	if r.status != status {
		c.t.Errorf("%s: status %d, want %d: %s", what, r.status, status, r.body)
		return
	}
	m := r.object(c.t)
	e, _ := m["error"].(map[string]any)
	if e == nil || (code != "" && e["code"] != code) || e["message"] == "" {
		c.t.Errorf("%s: error %s, want code %q and a message", what, r.body, code)
	}
}

func values(t *testing.T, m map[string]any) []map[string]any {
	t.Helper()
	vs, ok := m["value"].([]any)
	if !ok {
		t.Fatalf("no value array in %v", m)
	}
	out := make([]map[string]any, len(vs))
	for i, v := range vs {
		out[i] = v.(map[string]any)
	}
	return out
}

func names(list []map[string]any, key string) []string {
	var out []string
	for _, v := range list {
		s, _ := v[key].(string)
		out = append(out, s)
	}
	sort.Strings(out)
	return out
}

// CSDL read back namespace-aware (the document must bind the edmx and edm
// namespaces properly for these to match).
type xEdmx struct {
	XMLName      xml.Name `xml:"http://docs.oasis-open.org/odata/ns/edmx Edmx"`
	Version      string   `xml:"Version,attr"`
	DataServices struct {
		Schemas []xSchema `xml:"http://docs.oasis-open.org/odata/ns/edm Schema"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edmx DataServices"`
}

type xSchema struct {
	Namespace    string        `xml:"Namespace,attr"`
	Alias        string        `xml:"Alias,attr"`
	EntityTypes  []xEntityType `xml:"http://docs.oasis-open.org/odata/ns/edm EntityType"`
	ComplexTypes []xNamed      `xml:"http://docs.oasis-open.org/odata/ns/edm ComplexType"`
	EnumTypes    []xNamed      `xml:"http://docs.oasis-open.org/odata/ns/edm EnumType"`
	Functions    []xFunction   `xml:"http://docs.oasis-open.org/odata/ns/edm Function"`
	Containers   []xContainer  `xml:"http://docs.oasis-open.org/odata/ns/edm EntityContainer"`
}

type xNamed struct {
	Name string `xml:"Name,attr"`
}

type xEntityType struct {
	XMLName  xml.Name `xml:"EntityType"`
	Name     string   `xml:"Name,attr"`
	BaseType string   `xml:"BaseType,attr,omitempty"`
	Abstract string   `xml:"Abstract,attr,omitempty"`
	Key      *struct {
		Refs []xNamed `xml:"http://docs.oasis-open.org/odata/ns/edm PropertyRef"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm Key"`
	Props []struct {
		Name     string `xml:"Name,attr"`
		Type     string `xml:"Type,attr"`
		Nullable string `xml:"Nullable,attr,omitempty"`
		Unicode  string `xml:"Unicode,attr,omitempty"`
		Scale    string `xml:"Scale,attr,omitempty"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm Property"`
	Navs []xNav `xml:"http://docs.oasis-open.org/odata/ns/edm NavigationProperty"`
}

type xNav struct {
	Name        string `xml:"Name,attr"`
	Type        string `xml:"Type,attr"`
	Nullable    string `xml:"Nullable,attr,omitempty"`
	Partner     string `xml:"Partner,attr,omitempty"`
	Contains    string `xml:"ContainsTarget,attr,omitempty"`
	Constraints []struct {
		Property           string `xml:"Property,attr"`
		ReferencedProperty string `xml:"ReferencedProperty,attr"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm ReferentialConstraint"`
}

type xFunction struct {
	Name       string `xml:"Name,attr"`
	ReturnType struct {
		Type string `xml:"Type,attr"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm ReturnType"`
}

type xContainer struct {
	Name       string `xml:"Name,attr"`
	EntitySets []struct {
		Name       string `xml:"Name,attr"`
		EntityType string `xml:"EntityType,attr"`
		Bindings   []struct {
			Path   string `xml:"Path,attr"`
			Target string `xml:"Target,attr"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edm NavigationPropertyBinding"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm EntitySet"`
	FunctionImports []struct {
		Name     string `xml:"Name,attr"`
		Function string `xml:"Function,attr"`
	} `xml:"http://docs.oasis-open.org/odata/ns/edm FunctionImport"`
}

// fetchCSDL GETs $metadata and parses it.
func (c *mdClient) fetchCSDL() (*xEdmx, []byte) {
	c.t.Helper()
	r := c.do(http.MethodGet, "$metadata", nil)
	if r.status != http.StatusOK {
		c.t.Fatalf("$metadata: %d %s", r.status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/xml") {
		c.t.Errorf("$metadata Content-Type %q, want application/xml", ct)
	}
	// Well-formed all through.
	dec := xml.NewDecoder(bytes.NewReader(r.body))
	for {
		if _, err := dec.Token(); err == io.EOF {
			break
		} else if err != nil {
			c.t.Fatalf("$metadata is not well-formed XML: %v", err)
		}
	}
	var doc xEdmx
	if err := xml.Unmarshal(r.body, &doc); err != nil {
		c.t.Fatalf("$metadata: %v", err)
	}
	if doc.Version != "4.0" || len(doc.DataServices.Schemas) != 1 {
		c.t.Fatalf("$metadata: Version %q, %d schemas", doc.Version, len(doc.DataServices.Schemas))
	}
	return &doc, r.body
}

// checkCSDL checks what an OData client's model builder checks: every
// type reference resolves, every key property exists, every partner
// names a navigation property of the target that partners back, every
// referential constraint names existing properties, every binding names
// a navigation property and an entity set of its type.
func checkCSDL(t *testing.T, s *xSchema) {
	t.Helper()
	types := map[string]*xEntityType{}
	complexes := map[string]bool{}
	for i := range s.EntityTypes {
		types[s.EntityTypes[i].Name] = &s.EntityTypes[i]
	}
	for _, ct := range s.ComplexTypes {
		complexes[ct.Name] = true
	}
	for _, en := range s.EnumTypes {
		complexes[en.Name] = true
	}
	local := func(typ string) (string, bool) {
		typ = strings.TrimSuffix(strings.TrimPrefix(typ, "Collection("), ")")
		for _, p := range []string{"mscrm.", s.Namespace + "."} {
			if n, ok := strings.CutPrefix(typ, p); ok {
				return n, true
			}
		}
		return typ, false
	}
	// props lists the structural and navigation properties of a type with
	// its base types.
	var props func(et *xEntityType) (map[string]string, map[string]xNav)
	props = func(et *xEntityType) (map[string]string, map[string]xNav) {
		ps, ns := map[string]string{}, map[string]xNav{}
		if et.BaseType != "" {
			if n, _ := local(et.BaseType); types[n] != nil {
				ps, ns = props(types[n])
			} else {
				t.Errorf("%s: base type %s not declared", et.Name, et.BaseType)
			}
		}
		for _, p := range et.Props {
			ps[p.Name] = p.Type
		}
		for _, n := range et.Navs {
			ns[n.Name] = n
		}
		return ps, ns
	}
	keyed := func(et *xEntityType) bool {
		for x := et; x != nil; {
			if x.Key != nil {
				return true
			}
			n, _ := local(x.BaseType)
			x = types[n]
		}
		return false
	}
	for i := range s.EntityTypes {
		et := &s.EntityTypes[i]
		ps, _ := props(et)
		if et.Abstract != "true" && !keyed(et) {
			t.Errorf("%s has no key", et.Name)
		}
		if et.Key != nil {
			for _, k := range et.Key.Refs {
				if _, ok := ps[k.Name]; !ok {
					t.Errorf("%s: key property %s not declared", et.Name, k.Name)
				}
			}
		}
		for name, typ := range ps {
			if strings.HasPrefix(strings.TrimPrefix(typ, "Collection("), "Edm.") {
				continue
			}
			if n, ok := local(typ); !ok || !complexes[n] {
				t.Errorf("%s.%s: type %s not declared", et.Name, name, typ)
			}
		}
		for _, n := range et.Navs {
			if _, dup := ps[n.Name]; dup {
				t.Errorf("%s.%s is both a property and a navigation property", et.Name, n.Name)
			}
			tn, ok := local(n.Type)
			target := types[tn]
			if !ok || target == nil {
				t.Errorf("%s.%s: target type %s not declared", et.Name, n.Name, n.Type)
				continue
			}
			tps, tns := props(target)
			if n.Partner != "" {
				p, ok := tns[n.Partner]
				if !ok {
					t.Errorf("%s.%s: partner %s is not a navigation property of %s", et.Name, n.Name, n.Partner, tn)
				} else if pt, _ := local(p.Type); pt != et.Name || (p.Partner != "" && p.Partner != n.Name) {
					t.Errorf("%s.%s: partner %s.%s (type %s, partner %s) does not lead back", et.Name, n.Name, tn, p.Name, p.Type, p.Partner)
				}
			}
			for _, rc := range n.Constraints {
				if ps[rc.Property] != "Edm.Guid" || tps[rc.ReferencedProperty] == "" {
					t.Errorf("%s.%s: referential constraint %s → %s.%s does not name properties", et.Name, n.Name, rc.Property, tn, rc.ReferencedProperty)
				}
			}
		}
	}
	if len(s.Containers) != 1 || s.Containers[0].Name != "System" {
		t.Fatalf("want one EntityContainer System, got %+v", s.Containers)
	}
	sets := map[string]string{}
	for _, es := range s.Containers[0].EntitySets {
		n, ok := local(es.EntityType)
		if !ok || types[n] == nil {
			t.Errorf("entity set %s: type %s not declared", es.Name, es.EntityType)
		}
		sets[es.Name] = n
	}
	for _, es := range s.Containers[0].EntitySets {
		_, ns := props(types[sets[es.Name]])
		for _, b := range es.Bindings {
			nav, ok := ns[b.Path]
			target, okSet := sets[b.Target]
			if tn, _ := local(nav.Type); !ok || !okSet || (tn != target && !derives(types, target, tn, local)) {
				t.Errorf("entity set %s: binding %s → %s does not match", es.Name, b.Path, b.Target)
			}
		}
	}
	funcs := map[string]bool{}
	for _, f := range s.Functions {
		funcs[f.Name] = true
		if n, ok := local(f.ReturnType.Type); !ok || (!complexes[n] && types[n] == nil) {
			t.Errorf("function %s returns undeclared %s", f.Name, f.ReturnType.Type)
		}
	}
	for _, fi := range s.Containers[0].FunctionImports {
		if n, ok := local(fi.Function); !ok || !funcs[n] {
			t.Errorf("function import %s: %s not declared", fi.Name, fi.Function)
		}
	}
}

// derives reports whether type sub derives from base.
func derives(types map[string]*xEntityType, base, sub string, local func(string) (string, bool)) bool {
	for x := types[sub]; x != nil; {
		n, _ := local(x.BaseType)
		if n == base {
			return true
		}
		x = types[n]
	}
	return false
}

// golden compares got with testdata/<name>, rewriting it with -update.
func mdGolden(t *testing.T, name string, got []byte) {
	t.Helper()
	file := filepath.Join("testdata", name)
	if *updateGolden {
		if err := os.WriteFile(file, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("%v (run go test ./e2e/ -run TestMetadata -update)", err)
	}
	if !bytes.Equal(bytes.TrimSpace(got), bytes.TrimSpace(want)) {
		t.Errorf("%s differs from the server's answer (run with -update if the change is intended)\n--- got\n%s", file, got)
	}
}

// jsonGolden normalises a JSON answer (environment URL, indentation,
// sorted keys) and compares it with a golden file.
func (c *mdClient) jsonGolden(name string, m map[string]any) {
	c.t.Helper()
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		c.t.Fatal(err)
	}
	b = bytes.ReplaceAll(b, []byte(c.env), []byte("https://ENV"))
	mdGolden(c.t, name, append(b, '\n'))
}

func TestMetadataCSDL(t *testing.T) {
	ts := start(t, "")
	c := newMDClient(t, ts)
	doc, raw := c.fetchCSDL()
	s := &doc.DataServices.Schemas[0]
	if s.Namespace != "Microsoft.Dynamics.CRM" || s.Alias != "mscrm" {
		t.Errorf("schema %s alias %s", s.Namespace, s.Alias)
	}
	if !bytes.HasPrefix(raw, []byte(`<?xml version="1.0" encoding="UTF-8"?><edmx:Edmx Version="4.0" xmlns:edmx="http://docs.oasis-open.org/odata/ns/edmx">`)) {
		t.Errorf("$metadata starts %q", raw[:min(len(raw), 120)])
	}
	checkCSDL(t, s)

	var account *xEntityType
	for i := range s.EntityTypes {
		if s.EntityTypes[i].Name == "account" {
			account = &s.EntityTypes[i]
		}
	}
	if account == nil {
		t.Fatal("no account EntityType")
	}
	if account.BaseType != "mscrm.crmbaseentity" || account.Key == nil || account.Key.Refs[0].Name != "accountid" {
		t.Errorf("account: base %s key %+v", account.BaseType, account.Key)
	}
	typeOf := map[string]string{}
	for _, p := range account.Props {
		typeOf[p.Name] = p.Type
	}
	for name, want := range map[string]string{"name": "Edm.String", "_primarycontactid_value": "Edm.Guid", "_ownerid_value": "Edm.Guid",
		"revenue": "Edm.Decimal", "numberofemployees": "Edm.Int32", "versionnumber": "Edm.Int64", "createdon": "Edm.DateTimeOffset",
		"creditonhold": "Edm.Boolean", "address1_latitude": "Edm.Double", "accountcategorycode": "Edm.Int32", "accountid": "Edm.Guid"} {
		if typeOf[name] != want {
			t.Errorf("account.%s: %q, want %s", name, typeOf[name], want)
		}
	}
	if _, ok := typeOf["primarycontactid"]; ok {
		t.Error("lookups are _x_value properties, not x")
	}
	navs := map[string]xNav{}
	for _, n := range account.Navs {
		navs[n.Name] = n
	}
	if n := navs["primarycontactid"]; n.Type != "mscrm.contact" || n.Partner != "account_primary_contact" || len(n.Constraints) != 1 ||
		n.Constraints[0].Property != "_primarycontactid_value" || n.Constraints[0].ReferencedProperty != "contactid" {
		t.Errorf("account.primarycontactid: %+v", n)
	}
	if n := navs["contact_customer_accounts"]; n.Type != "Collection(mscrm.contact)" || n.Partner != "parentcustomerid_account" {
		t.Errorf("account.contact_customer_accounts: %+v", n)
	}
	var sys *xContainer = &s.Containers[0]
	found := false
	for _, es := range sys.EntitySets {
		if es.Name == "accounts" && es.EntityType == "Microsoft.Dynamics.CRM.account" {
			for _, b := range es.Bindings {
				found = found || (b.Path == "primarycontactid" && b.Target == "contacts")
			}
		}
	}
	if !found {
		t.Error("no accounts entity set with a primarycontactid → contacts binding")
	}
	if len(sys.FunctionImports) == 0 || sys.FunctionImports[0].Name != "WhoAmI" {
		t.Errorf("function imports %+v", sys.FunctionImports)
	}
	// Golden: the account EntityType, re-indented.
	b, err := xml.MarshalIndent(account, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	b = regexp.MustCompile(` xmlns="[^"]*"`).ReplaceAll(b, nil)
	mdGolden(t, "webapi_metadata_account.golden.xml", append(b, '\n'))

	// Only GET.
	c.wantError(c.do(http.MethodPost, "$metadata", map[string]any{}), http.StatusMethodNotAllowed, "", "POST $metadata")
}

func TestMetadataEntityDefinitions(t *testing.T) {
	ts := start(t, "")
	c := newMDClient(t, ts)

	all := c.get("EntityDefinitions?$select=LogicalName,EntitySetName")
	list := values(t, all)
	got := strings.Join(names(list, "LogicalName"), ",")
	for _, want := range []string{"account", "businessunit", "contact", "organization", "privilege", "role", "systemuser", "team"} {
		if !strings.Contains(","+got+",", ","+want+",") {
			t.Errorf("EntityDefinitions lacks %s: %v", want, got)
		}
	}
	for _, v := range list {
		if len(v) != 3 || v["MetadataId"] == nil {
			t.Errorf("$select=LogicalName,EntitySetName gave %v", v)
		}
	}
	if ctx := all["@odata.context"]; ctx != c.base+"$metadata#EntityDefinitions(LogicalName,EntitySetName)" {
		t.Errorf("@odata.context %v", ctx)
	}

	// Filters, checked against the full definitions (the system tables
	// grow as features land).
	full := values(t, c.get("EntityDefinitions"))
	str := func(m map[string]any, k string) string { s, _ := m[k].(string); return s }
	otc := func(m map[string]any) int64 { n, _ := m["ObjectTypeCode"].(json.Number).Int64(); return n }
	filters := map[string]func(m map[string]any) bool{
		"OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'": func(m map[string]any) bool { return str(m, "OwnershipType") == "UserOwned" },
		"OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'OrganizationOwned'": func(m map[string]any) bool {
			return str(m, "OwnershipType") == "OrganizationOwned"
		},
		"LogicalName eq 'account' or LogicalName eq 'contact'": func(m map[string]any) bool {
			return str(m, "LogicalName") == "account" || str(m, "LogicalName") == "contact"
		},
		"not (IsCustomEntity eq false) or ObjectTypeCode eq 8": func(m map[string]any) bool { return otc(m) == 8 },
		"CanCreateAttributes/Value eq false and ObjectTypeCode lt 3": func(m map[string]any) bool {
			return otc(m) < 3
		},
		"IsOptimisticConcurrencyEnabled eq true and EntitySetName ne 'accounts' and ObjectTypeCode le 2": func(m map[string]any) bool {
			return otc(m) <= 2 && str(m, "EntitySetName") != "accounts"
		},
		"startswith(LogicalName,'busi')": func(m map[string]any) bool { return strings.HasPrefix(str(m, "LogicalName"), "busi") },
		"PrimaryImageAttribute eq null and PrimaryNameAttribute eq 'fullname'": func(m map[string]any) bool {
			return str(m, "PrimaryNameAttribute") == "fullname"
		},
	}
	for f, pred := range filters {
		var want []string
		for _, m := range full {
			if pred(m) {
				want = append(want, str(m, "LogicalName"))
			}
		}
		sort.Strings(want)
		r := c.get("EntityDefinitions?$select=LogicalName&$filter=" + url.QueryEscape(f))
		if got := names(values(t, r), "LogicalName"); len(want) == 0 || strings.Join(got, ",") != strings.Join(want, ",") {
			t.Errorf("$filter=%s: %v, want %v", f, got, want)
		}
	}

	// One definition, by logical name and by MetadataId.
	acc := c.get("EntityDefinitions(LogicalName='account')")
	id, _ := acc["MetadataId"].(string)
	if acc["EntitySetName"] != "accounts" || acc["PrimaryIdAttribute"] != "accountid" || acc["OwnershipType"] != "UserOwned" || id == "" {
		t.Errorf("account definition: %v", acc)
	}
	c.jsonGolden("webapi_metadata_entity_account.golden.json", acc)
	if byID := c.get("EntityDefinitions(" + id + ")"); byID["LogicalName"] != "account" {
		t.Errorf("by MetadataId: %v", byID["LogicalName"])
	}
	sel := c.get("EntityDefinitions(LogicalName='account')?$select=DisplayName,EntitySetName")
	dn, _ := sel["DisplayName"].(map[string]any)
	ull, _ := dn["UserLocalizedLabel"].(map[string]any)
	if len(sel) != 4 || ull["Label"] != "Account" || ull["LanguageCode"] != json.Number("1033") ||
		sel["@odata.context"] != c.base+"$metadata#EntityDefinitions(DisplayName,EntitySetName)/$entity" {
		t.Errorf("$select=DisplayName,EntitySetName: %v", sel)
	}

	// Attributes: expanded with nested options, the collection, one by
	// name, and the Picklist cast with its option sets.
	exp := c.get("EntityDefinitions(LogicalName='account')?$select=LogicalName&$expand=Attributes($select=LogicalName;$filter=" +
		url.QueryEscape("AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'") + ")")
	attrs, _ := exp["Attributes"].([]any)
	var picklists []string
	for _, a := range attrs {
		m := a.(map[string]any)
		picklists = append(picklists, m["LogicalName"].(string))
		if m["@odata.type"] != "#Microsoft.Dynamics.CRM.PicklistAttributeMetadata" {
			t.Errorf("expanded attribute %v", m)
		}
	}
	sort.Strings(picklists)
	if strings.Join(picklists, ",") != "accountcategorycode,industrycode" {
		t.Errorf("picklists of account: %v", picklists)
	}
	name := c.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')")
	if name["@odata.type"] != "#Microsoft.Dynamics.CRM.StringAttributeMetadata" || name["MaxLength"] != json.Number("160") ||
		name["IsPrimaryName"] != true || name["AttributeType"] != "String" {
		t.Errorf("account name attribute: %v", name)
	}
	if rl, _ := name["RequiredLevel"].(map[string]any); rl["Value"] != "ApplicationRequired" {
		t.Errorf("name RequiredLevel %v", name["RequiredLevel"])
	}
	c.jsonGolden("webapi_metadata_attribute_name.golden.json", name)
	lookups := c.get("EntityDefinitions(LogicalName='account')/Attributes?$select=LogicalName,AttributeType&$filter=" +
		url.QueryEscape("AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Lookup' and IsCustomAttribute eq false and RequiredLevel/Value eq Microsoft.Dynamics.CRM.AttributeRequiredLevel'None'"))
	if got := strings.Join(names(values(t, lookups), "LogicalName"), ","); !strings.Contains(got, "primarycontactid") || strings.Contains(got, "name") {
		t.Errorf("lookup attributes: %s", got)
	}
	pl := c.get("EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet")
	for _, v := range values(t, pl) {
		os, _ := v["OptionSet"].(map[string]any)
		opts, _ := os["Options"].([]any)
		if len(opts) == 0 {
			t.Errorf("%v: no options", v["LogicalName"])
		}
		if v["LogicalName"] == "accountcategorycode" {
			o := opts[0].(map[string]any)
			l := o["Label"].(map[string]any)["UserLocalizedLabel"].(map[string]any)
			if o["Value"] != json.Number("1") || l["Label"] != "Preferred Customer" {
				t.Errorf("accountcategorycode option: %v", o)
			}
		}
	}
	tgt := c.get("EntityDefinitions(LogicalName='contact')/Attributes(LogicalName='parentcustomerid')/Microsoft.Dynamics.CRM.LookupAttributeMetadata?$select=Targets")
	if ts, _ := tgt["Targets"].([]any); len(ts) != 2 {
		t.Errorf("parentcustomerid Targets: %v", tgt)
	}
	st := c.get("EntityDefinitions(LogicalName='account')/Attributes(LogicalName='statuscode')/Microsoft.Dynamics.CRM.StatusAttributeMetadata/OptionSet?$select=Options")
	if opts, _ := st["Options"].([]any); len(opts) != 2 || opts[1].(map[string]any)["State"] != json.Number("1") {
		t.Errorf("statuscode options: %v", st)
	}

	// Relationships.
	m2o := c.get("EntityDefinitions(LogicalName='account')/ManyToOneRelationships?$select=SchemaName,ReferencingEntityNavigationPropertyName&$filter=ReferencedEntity eq 'contact'")
	if got := names(values(t, m2o), "SchemaName"); strings.Join(got, ",") != "account_primary_contact" {
		t.Errorf("account many-to-one to contact: %v", got)
	}
	rel := c.get("RelationshipDefinitions(SchemaName='systemuserroles_association')")
	if rel["@odata.type"] != "#Microsoft.Dynamics.CRM.ManyToManyRelationshipMetadata" || rel["IntersectEntityName"] != "systemuserroles" {
		t.Errorf("systemuserroles_association: %v", rel)
	}
	o2m := c.get("RelationshipDefinitions/Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata?$select=SchemaName&$filter=ReferencingEntity eq 'contact' and ReferencedEntity eq 'account'")
	if got := names(values(t, o2m), "SchemaName"); strings.Join(got, ",") != "contact_customer_accounts" {
		t.Errorf("one-to-many contact → account: %v", got)
	}

	// Errors.
	for _, tc := range []struct {
		path   string
		status int
		code   string
	}{
		{"EntityDefinitions(LogicalName='nosuchtable')", 404, "0x80041102"},
		{"EntityDefinitions(00000000-0000-0000-0000-000000000001)", 404, "0x80041102"},
		{"EntityDefinitions(LogicalName='account')/Attributes(LogicalName='nosuch')", 404, "0x80040217"},
		{"EntityDefinitions?$select=NoSuchProperty", 400, "0x0"},
		{"EntityDefinitions?$filter=" + url.QueryEscape("OwnershipType eq Microsoft.Dynamics.CRM.AttributeTypeCode'String'"), 400, "0x80040203"},
		{"EntityDefinitions?$filter=" + url.QueryEscape("OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'Nobody'"), 400, "0x80040203"},
		{"EntityDefinitions?$filter=" + url.QueryEscape("DisplayName eq 'Account'"), 400, "0x80040203"},
		{"EntityDefinitions?$filter=" + url.QueryEscape("LogicalName eq 5"), 400, "0x80040203"},
		{"EntityDefinitions?$top=2", 400, "0x80040203"},
		{"EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.NoSuchType", 404, "0x8006088a"},
		{"EntityDefinitions(LogicalName='account')/Nope", 404, "0x8006088a"},
		{"EntityDefinitions(Name='account')", 400, "0x80040203"},
		{"EntityDefinitions(LogicalName='account')/Attributes?$select=MaxLength", 400, "0x0"},
	} {
		c.wantError(c.do(http.MethodGet, tc.path, nil), tc.status, tc.code, tc.path)
	}
	c.wantError(c.do(http.MethodDelete, "EntityDefinitions(LogicalName='account')", nil), 405, "0x80040315", "DELETE definition")
	// Defining tables takes prvCreateEntity, which the portal's role lacks.
	c.wantError(c.do(http.MethodPost, "EntityDefinitions", bankAccount()), http.StatusForbidden, "0x80040220", "POST EntityDefinitions without privilege")
}

// makeSysAdmin gives the demo portal app user the System Administrator
// role (defining tables takes it).
func makeSysAdmin(t *testing.T, ts *testStack) {
	t.Helper()
	ctx := context.Background()
	env, err := ts.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		t.Fatal(err)
	}
	role, err := env.RoleByName(ctx, "System Administrator")
	if err != nil {
		t.Fatal(err)
	}
	if err := env.AssignRole(ctx, demo.PortalAppUserID, role["roleid"].(string)); err != nil {
		t.Fatal(err)
	}
}

// bankAccount is the documented custom table body (create-update-entity-
// definitions-using-web-api), with a column of every supported type.
func bankAccount() map[string]any {
	label := func(s string) map[string]any {
		return map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.Label",
			"LocalizedLabels": []any{map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.LocalizedLabel", "Label": s, "LanguageCode": 1033}}}
	}
	attr := func(typ, schemaName, display string, extra map[string]any) map[string]any {
		m := map[string]any{"@odata.type": "Microsoft.Dynamics.CRM." + typ + "AttributeMetadata", "SchemaName": schemaName,
			"DisplayName": label(display), "RequiredLevel": map[string]any{"Value": "None", "CanBeChanged": true,
				"ManagedPropertyLogicalName": "canmodifyrequirementlevelsettings"}}
		for k, v := range extra {
			m[k] = v
		}
		return m
	}
	return map[string]any{
		"@odata.type":           "Microsoft.Dynamics.CRM.EntityMetadata",
		"SchemaName":            "new_BankAccount",
		"DisplayName":           label("Bank Account"),
		"DisplayCollectionName": label("Bank Accounts"),
		"Description":           label("An entity to store information about customer bank accounts"),
		"OwnershipType":         "UserOwned",
		"IsActivity":            false,
		"HasActivities":         false,
		"HasNotes":              false,
		"Attributes": []any{
			attr("String", "new_AccountName", "Account Name", map[string]any{"AttributeType": "String",
				"AttributeTypeName": map[string]any{"Value": "StringType"}, "IsPrimaryName": true, "MaxLength": 100,
				"FormatName": map[string]any{"Value": "Text"}, "Description": label("Type the name of the bank account")}),
			attr("Memo", "new_Notes", "Notes", map[string]any{"MaxLength": 500, "Format": "TextArea"}),
			attr("Integer", "new_Branch", "Branch", map[string]any{"MinValue": 0, "MaxValue": 1000, "Format": "None"}),
			attr("BigInt", "new_Sequence", "Sequence", nil),
			attr("Decimal", "new_Rate", "Rate", map[string]any{"Precision": 3, "MinValue": 0, "MaxValue": 100}),
			attr("Double", "new_Score", "Score", nil),
			attr("Boolean", "new_Active", "Active", map[string]any{"DefaultValue": false, "OptionSet": map[string]any{
				"TrueOption":  map[string]any{"Value": 1, "Label": label("Open")},
				"FalseOption": map[string]any{"Value": 0, "Label": label("Closed")}, "OptionSetType": "Boolean"}}),
			attr("DateTime", "new_Opened", "Opened", map[string]any{"Format": "DateOnly"}),
			attr("Picklist", "new_Kind", "Kind", map[string]any{"OptionSet": map[string]any{
				"@odata.type": "Microsoft.Dynamics.CRM.OptionSetMetadata", "IsGlobal": false, "OptionSetType": "Picklist",
				"Options": []any{map[string]any{"Value": 727000000, "Label": label("Checking")}, map[string]any{"Label": label("Savings")}}}}),
			attr("UniqueIdentifier", "new_ExternalId", "External Id", nil),
		},
	}
}

func TestMetadataCustomTable(t *testing.T) {
	dir := t.TempDir()
	ts := start(t, dir)
	makeSysAdmin(t, ts)
	c := newMDClient(t, ts)

	r := c.do(http.MethodPost, "EntityDefinitions", bankAccount())
	if r.status != http.StatusNoContent {
		t.Fatalf("POST EntityDefinitions: %d %s", r.status, r.body)
	}
	eid := r.header.Get("OData-EntityId")
	id := strings.TrimSuffix(strings.TrimPrefix(eid, c.base+"EntityDefinitions("), ")")
	if !guidRE.MatchString(id) {
		t.Fatalf("OData-EntityId %q", eid)
	}
	def := c.get("EntityDefinitions(" + id + ")?$select=LogicalName,SchemaName,EntitySetName,LogicalCollectionName,PrimaryIdAttribute,PrimaryNameAttribute,ObjectTypeCode,OwnershipType,IsCustomEntity,DisplayCollectionName")
	otc, _ := def["ObjectTypeCode"].(json.Number).Int64()
	if def["LogicalName"] != "new_bankaccount" || def["SchemaName"] != "new_BankAccount" || def["EntitySetName"] != "new_bankaccounts" ||
		def["PrimaryIdAttribute"] != "new_bankaccountid" || def["PrimaryNameAttribute"] != "new_accountname" || otc < 10000 ||
		def["IsCustomEntity"] != true || def["OwnershipType"] != "UserOwned" {
		t.Errorf("new table: %v", def)
	}
	custom := c.get("EntityDefinitions?$select=LogicalName&$filter=IsCustomEntity eq true and CanCreateAttributes/Value eq true")
	if got := names(values(t, custom), "LogicalName"); strings.Join(got, ",") != "new_bankaccount" {
		t.Errorf("custom tables: %v", got)
	}
	attrs := c.get("EntityDefinitions(LogicalName='new_bankaccount')/Attributes?$select=LogicalName,AttributeType&$filter=IsCustomAttribute eq true")
	types := map[string]string{}
	for _, a := range values(t, attrs) {
		types[a["LogicalName"].(string)] = a["AttributeType"].(string)
	}
	for n, want := range map[string]string{"new_accountname": "String", "new_notes": "Memo", "new_branch": "Integer", "new_sequence": "BigInt",
		"new_rate": "Decimal", "new_score": "Double", "new_active": "Boolean", "new_opened": "DateTime", "new_kind": "Picklist",
		"new_externalid": "Uniqueidentifier"} {
		if types[n] != want {
			t.Errorf("attribute %s: %q, want %s (all: %v)", n, types[n], want, types)
		}
	}
	kind := c.get("EntityDefinitions(LogicalName='new_bankaccount')/Attributes(LogicalName='new_kind')/Microsoft.Dynamics.CRM.PicklistAttributeMetadata?$select=LogicalName&$expand=OptionSet")
	opts := kind["OptionSet"].(map[string]any)["Options"].([]any)
	if len(opts) != 2 || opts[0].(map[string]any)["Value"] != json.Number("727000000") || opts[1].(map[string]any)["Value"] != json.Number("100000000") {
		t.Errorf("new_kind options: %v", opts)
	}
	active := c.get("EntityDefinitions(LogicalName='new_bankaccount')/Attributes(LogicalName='new_active')/Microsoft.Dynamics.CRM.BooleanAttributeMetadata/OptionSet")
	if l := active["TrueOption"].(map[string]any)["Label"].(map[string]any)["UserLocalizedLabel"].(map[string]any)["Label"]; l != "Open" {
		t.Errorf("new_active TrueOption label %v", l)
	}

	// Refused definitions.
	bad := func(mod func(m map[string]any)) map[string]any {
		m := bankAccount()
		m["SchemaName"] = "new_Other"
		mod(m)
		return m
	}
	for _, tc := range []struct {
		what string
		body any
		code string
	}{
		{"duplicate", bankAccount(), "0x80040237"},
		{"no prefix", bad(func(m map[string]any) { m["SchemaName"] = "BankAccount" }), "0x80040203"},
		{"space", bad(func(m map[string]any) { m["SchemaName"] = "new_Bank Account" }), "0x80040203"},
		{"reserved prefix", bad(func(m map[string]any) { m["SchemaName"] = "mscrm_Thing" }), "0x80040203"},
		{"no display name", bad(func(m map[string]any) { delete(m, "DisplayName") }), "0x80040203"},
		{"no primary name", bad(func(m map[string]any) { m["Attributes"] = m["Attributes"].([]any)[1:] }), "0x80040203"},
		{"team owned", bad(func(m map[string]any) { m["OwnershipType"] = "TeamOwned" }), "0x80040203"},
		{"attribute without prefix", bad(func(m map[string]any) {
			m["Attributes"].([]any)[1].(map[string]any)["SchemaName"] = "Notes"
		}), "0x80040203"},
		{"MaxLength too big", bad(func(m map[string]any) {
			m["Attributes"].([]any)[0].(map[string]any)["MaxLength"] = 5000
		}), "0x80040203"},
		{"wrong JSON type", bad(func(m map[string]any) { m["DisplayName"] = "Bank" }), "0x80040203"},
		{"not an object", []any{1, 2}, "0x80040203"},
	} {
		c.wantError(c.do(http.MethodPost, "EntityDefinitions", tc.body), http.StatusBadRequest, tc.code, tc.what)
	}
	if got := c.get("EntityDefinitions?$select=LogicalName&$filter=IsCustomEntity eq true"); len(values(t, got)) != 1 {
		t.Errorf("a refused definition left a table behind: %v", got)
	}

	// A column added later, and a lookup to contact.
	balance := map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.MoneyAttributeMetadata", "AttributeType": "Money",
		"AttributeTypeName": map[string]any{"Value": "MoneyType"}, "SchemaName": "new_Balance", "PrecisionSource": 2,
		"DisplayName":   map[string]any{"LocalizedLabels": []any{map[string]any{"Label": "Balance", "LanguageCode": 1033}}},
		"RequiredLevel": map[string]any{"Value": "None"}}
	r = c.do(http.MethodPost, "EntityDefinitions(LogicalName='new_bankaccount')/Attributes", balance)
	if r.status != http.StatusNoContent || !strings.HasPrefix(r.header.Get("OData-EntityId"), c.base+"EntityDefinitions(LogicalName='new_bankaccount')/Attributes(") {
		t.Fatalf("POST Attributes: %d %v %s", r.status, r.header.Get("OData-EntityId"), r.body)
	}
	c.wantError(c.do(http.MethodPost, "EntityDefinitions(LogicalName='new_bankaccount')/Attributes", balance), 400, "0x80040237", "duplicate column")
	c.wantError(c.do(http.MethodPost, "EntityDefinitions(LogicalName='account')/Attributes", balance), 400, "0x80040203", "column on a system table")
	lookup := map[string]any{
		"@odata.type": "Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata", "SchemaName": "new_contact_new_bankaccount",
		"ReferencedEntity": "contact", "ReferencedAttribute": "contactid", "ReferencingEntity": "new_bankaccount",
		"CascadeConfiguration": map[string]any{"Delete": "RemoveLink"},
		"Lookup": map[string]any{"@odata.type": "Microsoft.Dynamics.CRM.LookupAttributeMetadata", "AttributeType": "Lookup",
			"SchemaName": "new_ContactId", "DisplayName": map[string]any{"LocalizedLabels": []any{map[string]any{"Label": "Contact", "LanguageCode": 1033}}}},
	}
	r = c.do(http.MethodPost, "RelationshipDefinitions", lookup)
	if r.status != http.StatusNoContent || !strings.HasPrefix(r.header.Get("OData-EntityId"), c.base+"RelationshipDefinitions(") {
		t.Fatalf("POST RelationshipDefinitions: %d %s", r.status, r.body)
	}
	c.wantError(c.do(http.MethodPost, "RelationshipDefinitions", lookup), 400, "0x80040237", "duplicate relationship")

	// The new table through the row routes.
	contact := c.do(http.MethodPost, "contacts", map[string]any{"firstname": "Bea", "lastname": "Banker"})
	if contact.status != http.StatusNoContent {
		t.Fatalf("create contact: %d %s", contact.status, contact.body)
	}
	contactID := regexp.MustCompile(`\(([0-9a-f-]{36})\)`).FindStringSubmatch(contact.header.Get("OData-EntityId"))[1]
	row := map[string]any{"new_accountname": "Main account", "new_notes": "first", "new_branch": 42, "new_sequence": 9000000000,
		"new_rate": 1.25, "new_score": 0.5, "new_active": true, "new_opened": "2024-05-01T00:00:00Z", "new_kind": 100000000,
		"new_externalid": "6f9619ff-8b86-d011-b42d-00c04fc964ff", "new_balance": 1234.5,
		"new_contactid@odata.bind": "/contacts(" + contactID + ")"}
	r = c.do(http.MethodPost, "new_bankaccounts", row)
	if r.status != http.StatusNoContent {
		t.Fatalf("create row: %d %s", r.status, r.body)
	}
	c.wantError(c.do(http.MethodPost, "new_bankaccounts", map[string]any{"new_kind": 5}), 400, "", "bad choice value")
	c.wantError(c.do(http.MethodPost, "new_bankaccounts", map[string]any{"new_branch": 5000}), 400, "", "integer out of range")
	q := c.get("new_bankaccounts?$select=new_accountname,new_balance,new_kind,_new_contactid_value&$filter=" +
		url.QueryEscape("new_branch eq 42 and new_active eq true") + "&$expand=new_contactid($select=lastname)")
	rows := values(t, q)
	if len(rows) != 1 || rows[0]["new_accountname"] != "Main account" || rows[0]["_new_contactid_value"] != contactID ||
		rows[0]["new_contactid"].(map[string]any)["lastname"] != "Banker" {
		t.Fatalf("query: %v", q)
	}
	if b, _ := rows[0]["new_balance"].(json.Number).Float64(); b != 1234.5 {
		t.Errorf("new_balance %v", rows[0]["new_balance"])
	}
	back := c.get("contacts(" + contactID + ")/new_contact_new_bankaccount?$select=new_accountname")
	if got := names(values(t, back), "new_accountname"); strings.Join(got, ",") != "Main account" {
		t.Errorf("collection navigation: %v", got)
	}
	doc, _ := c.fetchCSDL()
	checkCSDL(t, &doc.DataServices.Schemas[0])
	hasType := false
	for _, et := range doc.DataServices.Schemas[0].EntityTypes {
		hasType = hasType || et.Name == "new_bankaccount"
	}
	if !hasType {
		t.Error("$metadata lacks the custom table")
	}

	// In $batch: reads work; definitions are refused inside a change set.
	body, _ := json.Marshal(bad(func(m map[string]any) { m["SchemaName"] = "new_InBatch" }))
	batch := strings.ReplaceAll(`--batch_m
Content-Type: application/http
Content-Transfer-Encoding: binary

GET `+c.base+`EntityDefinitions(LogicalName='new_bankaccount')?$select=EntitySetName HTTP/1.1
Accept: application/json

--batch_m
Content-Type: multipart/mixed;boundary=changeset_m

--changeset_m
Content-Type: application/http
Content-Transfer-Encoding: binary
Content-ID: 1

POST `+c.base+`EntityDefinitions HTTP/1.1
Content-Type: application/json

`+string(body)+`
--changeset_m--
--batch_m--
`, "\n", "\r\n")
	req, _ := http.NewRequest(http.MethodPost, c.base+"$batch", strings.NewReader(batch))
	req.Header.Set("Authorization", "Bearer "+c.token)
	req.Header.Set("Content-Type", "multipart/mixed;boundary=batch_m")
	resp, err := ts.client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	out, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !bytes.Contains(out, []byte(`"EntitySetName":"new_bankaccounts"`)) || !bytes.Contains(out, []byte("0x80040315")) {
		t.Errorf("$batch: %d %s", resp.StatusCode, out)
	}
	if r := c.do(http.MethodGet, "EntityDefinitions(LogicalName='new_inbatch')", nil); r.status != http.StatusNotFound {
		t.Errorf("a definition in a change set was created: %d", r.status)
	}

	// A restart keeps the definitions, columns, lookup and rows.
	ts.stop(t)
	ts2 := start(t, dir)
	c2 := newMDClient(t, ts2)
	again := c2.get("new_bankaccounts?$select=new_accountname,new_balance,_new_contactid_value")
	if rows := values(t, again); len(rows) != 1 || rows[0]["_new_contactid_value"] != contactID {
		t.Errorf("after restart: %v", again)
	}
	if d := c2.get("EntityDefinitions(" + id + ")?$select=LogicalName"); d["LogicalName"] != "new_bankaccount" {
		t.Errorf("after restart: %v", d)
	}
}
