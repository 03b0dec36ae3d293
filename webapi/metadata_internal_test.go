package webapi

import (
	"bytes"
	"encoding/json"
	"encoding/xml"
	"os"
	"strings"
	"testing"

	"github.com/dvs2s/dvs2s/odata"
	"github.com/dvs2s/dvs2s/schema"
)

// customSchema is the system schema with a custom table that has a lookup
// to contact.
func customSchema(t *testing.T) *schema.Schema {
	t.Helper()
	sys := schema.System()
	body := `{"SchemaName":"new_Project","DisplayName":{"LocalizedLabels":[{"Label":"Project","LanguageCode":1033}]},
		"DisplayCollectionName":{"LocalizedLabels":[{"Label":"Projects","LanguageCode":1033}]},"OwnershipType":"OrganizationOwned",
		"Attributes":[{"@odata.type":"Microsoft.Dynamics.CRM.StringAttributeMetadata","SchemaName":"new_Name","IsPrimaryName":true,
		"DisplayName":{"LocalizedLabels":[{"Label":"Name","LanguageCode":1033}]}},
		{"@odata.type":"#Microsoft.Dynamics.CRM.MoneyAttributeMetadata","SchemaName":"new_Budget","DisplayName":{"LocalizedLabels":[{"Label":"Budget","LanguageCode":1033}]}}]}`
	tb, rels, err := schema.ParseEntity([]byte(body), sys)
	if err != nil {
		t.Fatal(err)
	}
	s, err := sys.With([]*schema.Table{tb}, rels, nil)
	if err != nil {
		t.Fatal(err)
	}
	lookup := `{"@odata.type":"Microsoft.Dynamics.CRM.OneToManyRelationshipMetadata","SchemaName":"new_contact_project",
		"ReferencedEntity":"contact","ReferencingEntity":"new_project","Lookup":{"@odata.type":"Microsoft.Dynamics.CRM.LookupAttributeMetadata",
		"SchemaName":"new_Sponsor","DisplayName":{"LocalizedLabels":[{"Label":"Sponsor","LanguageCode":1033}]}}}`
	c, r, err := schema.ParseOneToMany([]byte(lookup), s)
	if err != nil {
		t.Fatal(err)
	}
	s, err = s.Replace(s.Table("new_project").WithColumn(c), []*schema.Relationship{r})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// TestCSDLRoundTrip marshals the $metadata document of a schema with a
// custom table, reads it back and checks it names every table, set and
// navigation property once. With DVS2S_CSDL_OUT set, the document is also
// written there (for checking it with other OData parsers).
func TestCSDLRoundTrip(t *testing.T) {
	s := customSchema(t)
	var buf bytes.Buffer
	buf.WriteString(xml.Header)
	if err := xml.NewEncoder(&buf).Encode(buildCSDL(s)); err != nil {
		t.Fatal(err)
	}
	if out := os.Getenv("DVS2S_CSDL_OUT"); out != "" {
		if err := os.WriteFile(out, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	var back struct {
		XMLName      xml.Name `xml:"http://docs.oasis-open.org/odata/ns/edmx Edmx"`
		DataServices struct {
			Schema csdlSchema `xml:"http://docs.oasis-open.org/odata/ns/edm Schema"`
		} `xml:"http://docs.oasis-open.org/odata/ns/edmx DataServices"`
	}
	if err := xml.Unmarshal(buf.Bytes(), &back); err != nil {
		t.Fatal(err)
	}
	sets := map[string]bool{}
	for _, es := range back.DataServices.Schema.Container.EntitySets {
		if sets[es.Name] {
			t.Errorf("entity set %s twice", es.Name)
		}
		sets[es.Name] = true
	}
	for _, tb := range s.Tables() {
		if !sets[tb.EntitySetName] {
			t.Errorf("no entity set %s", tb.EntitySetName)
		}
	}
	for _, et := range back.DataServices.Schema.EntityTypes {
		seen := map[string]bool{}
		for _, p := range et.Properties {
			seen[p.Name] = true
		}
		for _, n := range et.Navs {
			if seen[n.Name] {
				t.Errorf("%s.%s declared twice", et.Name, n.Name)
			}
			seen[n.Name] = true
		}
		if et.Name == "new_project" {
			if !seen["_new_sponsor_value"] || !seen["new_sponsor"] || !seen["new_budget"] {
				t.Errorf("new_project: %v", seen)
			}
		}
		if et.Name == "contact" && !seen["new_contact_project"] {
			t.Error("contact lacks the new collection navigation property")
		}
	}
}

// TestMetadataFilter evaluates $filter expressions over metadata objects.
func TestMetadataFilter(t *testing.T) {
	mdTypes()
	s := customSchema(t)
	tests := []struct {
		filter string
		want   string // comma-separated logical names, or "error"
	}{
		{"IsCustomEntity eq true", "new_project"},
		{"OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'OrganizationOwned' and (IsCustomEntity or LogicalName eq 'organization')", "new_project,organization"},
		{"OwnershipType ne Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned' and ObjectTypeCode lt 10", "systemuser,team"},
		{"CanCreateAttributes/Value eq true", "new_project"},
		{"not (ObjectTypeCode ge 3)", "account,contact"},
		{"ObjectTypeCode gt 9999 or LogicalName eq 'ACCOUNT'", "account,new_project"},
		{"endswith(EntitySetName,'units')", "businessunit"},
		{"contains(tolower(SchemaName),'proj')", "new_project"},
		{"PrimaryImageAttribute ne null", ""},
		{"DisplayName/UserLocalizedLabel/Label eq 'Project'", "new_project"},
		{"IsCustomEntity", "new_project"},
		{"MetadataId eq " + s.Table("account").MetadataID, "account"},
		{"LogicalName eq 1", "error"},
		{"IsCustomEntity gt false", "error"},
		{"OwnershipType eq Microsoft.Dynamics.CRM.AttributeTypeCode'String'", "error"},
		{"OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'Everybody'", "error"},
		{"OwnershipType eq Microsoft.Dynamics.CRM.Nothing'X'", "error"},
		{"NoSuchProperty eq 1", "error"},
		{"DisplayName eq 'x'", "error"},
		{"CanCreateAttributes/Nope eq true", "error"},
		{"LogicalName/Value eq 'x'", "error"},
		{"ObjectTypeCode", "error"},
		{"Attributes/any(a:a/LogicalName eq 'x')", "error"},
		{"Microsoft.Dynamics.CRM.In(PropertyName='LogicalName',PropertyValues=['a'])", "error"},
	}
	for _, tc := range tests {
		f, err := odata.ParseFilter(tc.filter)
		if err != nil {
			t.Fatalf("%s: %v", tc.filter, err)
		}
		mq := &mdQuery{typ: entityType, filter: f}
		var got []string
		var failed bool
		for _, tb := range s.Tables() {
			ok, e := mq.match(entityJSON(tb))
			if e != nil {
				failed = true
				if e.Status != 400 {
					t.Errorf("%s: status %d", tc.filter, e.Status)
				}
				break
			}
			if ok {
				got = append(got, tb.LogicalName)
			}
		}
		res := strings.Join(got, ",")
		if failed {
			res = "error"
		}
		if res != tc.want {
			t.Errorf("$filter=%s: %s, want %s", tc.filter, res, tc.want)
		}
	}
}

// TestMetadataShapes checks every column of every table renders as JSON
// with the properties of its derived type, and its option set.
func TestMetadataShapes(t *testing.T) {
	mdTypes()
	s := customSchema(t)
	for _, tb := range s.Tables() {
		e := entityJSON(tb)
		for k := range entityType.props {
			if _, ok := e[k]; !ok {
				t.Errorf("%s lacks %s", tb.LogicalName, k)
			}
		}
		if _, err := json.Marshal(e); err != nil {
			t.Fatal(err)
		}
		for i, c := range tb.Columns {
			a := attributeJSON(tb, c, i+1)
			typ := strings.TrimPrefix(a["@odata.type"].(string), "#"+crmNS+".")
			mt, ok := attrTypes[typ]
			if !ok {
				t.Errorf("%s.%s: unknown type %s", tb.LogicalName, c.LogicalName, typ)
				continue
			}
			for k := range mt.props {
				if _, ok := a[k]; !ok {
					t.Errorf("%s.%s lacks %s", tb.LogicalName, c.LogicalName, k)
				}
			}
			os := optionSetJSON(tb, c)
			if (os != nil) != (mt.navs["OptionSet"]) {
				t.Errorf("%s.%s: option set %v, type %s", tb.LogicalName, c.LogicalName, os != nil, typ)
			}
			if _, err := json.Marshal(a); err != nil {
				t.Fatal(err)
			}
		}
	}
}

// FuzzMetadataQuery: no $filter/$select/$expand over metadata panics or
// fails with anything but a 400.
func FuzzMetadataQuery(f *testing.F) {
	for _, s := range []string{
		"$filter=OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'",
		"$select=LogicalName&$filter=CanCreateAttributes/Value eq true and not (ObjectTypeCode lt 5)",
		"$expand=Attributes($select=LogicalName;$filter=AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist')",
		"$filter=contains(tolower(SchemaName),'acc') or RequiredLevel/Value eq null",
		"$expand=ManyToOneRelationships($filter=ReferencedEntity eq 'contact'),ManyToManyRelationships",
		"$filter=DisplayName/UserLocalizedLabel/Label ne 'x' and MetadataId eq 00000000-0000-0000-0000-000000000000",
	} {
		f.Add(s)
	}
	mdTypes()
	s := schema.System()
	q := &request{sch: s}
	f.Fuzz(func(t *testing.T, raw string) {
		o, err := odata.ParseQuery(raw)
		if err != nil {
			return
		}
		mq, e := newMDQuery(entityType, o, true)
		if e != nil {
			if e.Status != 400 {
				t.Fatalf("%q: %v", raw, e)
			}
			return
		}
		for _, tb := range s.Tables() {
			if _, e := mq.match(entityJSON(tb)); e != nil {
				if e.Status != 400 {
					t.Fatalf("%q: %v", raw, e)
				}
				return
			}
			if _, e := q.entityObject(tb, mq); e != nil && e.Status != 400 {
				t.Fatalf("%q: %v", raw, e)
			}
		}
	})
}
