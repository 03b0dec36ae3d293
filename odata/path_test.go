package odata

import (
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"
)

// dumpPath renders a path with segment kinds and arguments, e.g.
// "name:accounts[=guid:…] | $ref".
func dumpPath(p *Path) string {
	var parts []string
	for _, s := range p.Segments {
		d := s.Kind.String()
		switch s.Kind {
		case SegmentName:
			d += ":" + s.QualifiedName()
			if s.Parens {
				var args []string
				for _, a := range s.Args {
					v := a.Alias
					if a.Value != nil {
						v = a.Value.Kind.String() + ":" + a.Value.String()
					}
					args = append(args, a.Name+"="+v)
				}
				d += "[" + strings.Join(args, ",") + "]"
			}
		case SegmentContentID:
			d += ":" + s.Name
		}
		parts = append(parts, d)
	}
	return strings.Join(parts, " | ")
}

const g1 = "00000000-0000-0000-0000-000000000001"
const g2 = "7EB682F1-CA75-E511-80D4-00155D2A68D1"

func TestParsePath(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"/", ""},
		{"$metadata", "$metadata"},
		{"$batch", "$batch"},
		{"accounts", "name:accounts"},
		{"accounts/", "name:accounts"},
		{"/accounts", "name:accounts"},
		{"accounts(" + g1 + ")", "name:accounts[=guid:" + g1 + "]"},
		{"accounts(" + g2 + ")", "name:accounts[=guid:7eb682f1-ca75-e511-80d4-00155d2a68d1]"},
		{"accounts(accountid=" + g1 + ")", "name:accounts[accountid=guid:" + g1 + "]"},
		{"contacts(firstname='Joe',emailaddress1='abc@example.com')", "name:contacts[firstname=string:'Joe',emailaddress1=string:'abc@example.com']"},
		{"contacts(firstname=%27Joe%27,emailaddress1=%27abc%40example.com%27)", "name:contacts[firstname=string:'Joe',emailaddress1=string:'abc@example.com']"},
		{"accounts(_primarycontactid_value=" + g1 + ")", "name:accounts[_primarycontactid_value=guid:" + g1 + "]"},
		{"accounts(name='O''Bryan')", "name:accounts[name=string:'O''Bryan']"},
		{"accounts(name='a%2Fb')", "name:accounts[name=string:'a/b']"},
		{"accounts(name='a/b')/name", "name:accounts[name=string:'a/b'] | name:name"},
		{"accounts(name='a)b')", "name:accounts[name=string:'a)b']"},
		{"accounts(name='a%20b%28c')", "name:accounts[name=string:'a b(c']"},
		{"things(code=42,flag=true,n=null,d=1.5,neg=-3)", "name:things[code=int:42,flag=bool:true,n=null:null,d=decimal:1.5,neg=int:-3]"},
		{"things(k=Microsoft.Dynamics.CRM.E'A')", "name:things[k=enum:Microsoft.Dynamics.CRM.E'A']"},
		{"things(42)", "name:things[=int:42]"},
		{"accounts(" + g1 + ")/name", "name:accounts[=guid:" + g1 + "] | name:name"},
		{"accounts(" + g1 + ")/name/$value", "name:accounts[=guid:" + g1 + "] | name:name | $value"},
		{"accounts(" + g1 + ")/primarycontactid", "name:accounts[=guid:" + g1 + "] | name:primarycontactid"},
		{"accounts(" + g1 + ")/Account_Tasks/$ref", "name:accounts[=guid:" + g1 + "] | name:Account_Tasks | $ref"},
		{"accounts(" + g1 + ")/Account_Tasks/$count", "name:accounts[=guid:" + g1 + "] | name:Account_Tasks | $count"},
		{"accounts/$count", "name:accounts | $count"},
		{"accounts(" + g1 + ")/Account_Tasks(" + g1 + ")/$ref", "name:accounts[=guid:" + g1 + "] | name:Account_Tasks[=guid:" + g1 + "] | $ref"},
		{"WhoAmI", "name:WhoAmI"},
		{"WhoAmI()", "name:WhoAmI[]"},
		{"RetrieveUserPrivileges(UserId=@p1)", "name:RetrieveUserPrivileges[UserId=@p1]"},
		{"InitializeFrom(EntityMoniker=@p1,TargetEntityName=@p2,TargetFieldType=@p3)", "name:InitializeFrom[EntityMoniker=@p1,TargetEntityName=@p2,TargetFieldType=@p3]"},
		{"RetrieveTotalRecordCount(EntityNames=['account','contact'])", "name:RetrieveTotalRecordCount[EntityNames=array:[\"account\",\"contact\"]]"},
		{"systemusers(" + g1 + ")/Microsoft.Dynamics.CRM.RetrieveUserPrivileges()", "name:systemusers[=guid:" + g1 + "] | name:Microsoft.Dynamics.CRM.RetrieveUserPrivileges[]"},
		{"roles(" + g1 + ")/Microsoft.Dynamics.CRM.AddPrivilegesRole", "name:roles[=guid:" + g1 + "] | name:Microsoft.Dynamics.CRM.AddPrivilegesRole"},
		{"EntityDefinitions(LogicalName='account')", "name:EntityDefinitions[LogicalName=string:'account']"},
		{"EntityDefinitions(" + g1 + ")", "name:EntityDefinitions[=guid:" + g1 + "]"},
		{"EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata", "name:EntityDefinitions[LogicalName=string:'account'] | name:Attributes | name:Microsoft.Dynamics.CRM.PicklistAttributeMetadata"},
		{"EntityDefinitions(LogicalName='account')/Attributes(LogicalName='name')", "name:EntityDefinitions[LogicalName=string:'account'] | name:Attributes[LogicalName=string:'name']"},
		{"$1", "content-id:1"},
		{"$1/lastname", "content-id:1 | name:lastname"},
		{"$12/Account_Tasks/$ref", "content-id:12 | name:Account_Tasks | $ref"},
		{"Account", "name:Account"}, // resolution (and its 404) is the Web API's
		{"accounts( " + g1 + " )", "name:accounts[=guid:" + g1 + "]"},
	}
	for _, tt := range tests {
		p, err := ParsePath(tt.in)
		if err != nil {
			t.Errorf("ParsePath(%q): %v", tt.in, err)
			continue
		}
		if got := dumpPath(p); got != tt.want {
			t.Errorf("ParsePath(%q)\n got  %s\n want %s", tt.in, got, tt.want)
		}
		// The canonical form parses to the same path (after escaping
		// what must be escaped).
		p2, err := ParsePath(strings.ReplaceAll(p.String(), "%", "%25"))
		if err != nil {
			t.Errorf("re-parse of %q: %v", p.String(), err)
		} else if dumpPath(p2) != dumpPath(p) {
			t.Errorf("re-parse of %q: %s", p.String(), dumpPath(p2))
		}
	}
}

func TestParsePathErrors(t *testing.T) {
	mustBeLast := func(seg string) string {
		return fmt.Sprintf("The request URI is not valid. The segment '%s' must be the last segment in the URI because it is one of the following: $ref, $batch, $count, $value, $metadata, a named media resource, an action, a noncomposable function, an action import, a noncomposable function import, an operation with void return type, or an operation import with void return type.", seg)
	}
	const syntax = "Bad Request - Error in query syntax."
	tests := []struct {
		in     string
		status int
		msg    string
	}{
		{"acc-ounts", 404, "Resource not found for the segment 'acc-ounts'."},
		{"accounts/na me", 404, "Resource not found for the segment 'na me'."},
		{"accounts/$foo", 404, "Resource not found for the segment '$foo'."},
		{"$filter(a eq 1)", 400, syntax},
		{"accounts/$1", 404, "Resource not found for the segment '$1'."},
		{"$1x", 404, "Resource not found for the segment '$1x'."},
		{"$", 404, "Resource not found for the segment '$'."},
		{"$value", 404, "Resource not found for the segment '$value'."},
		{"accounts/$metadata", 404, "Resource not found for the segment '$metadata'."},
		{"$metadata/accounts", 400, mustBeLast("$metadata")},
		{"$batch/x", 400, mustBeLast("$batch")},
		{"accounts/$count/x", 400, mustBeLast("$count")},
		{"accounts(" + g1 + ")/Account_Tasks/$ref/x", 400, mustBeLast("$ref")},
		{"accounts(" + g1 + ")/name/$value/x", 400, mustBeLast("$value")},
		{"$count", 400, "The request URI is not valid, the segment $count cannot be applied to the root of the service."},
		{"$ref", 400, "The request URI is not valid, the segment $ref cannot be applied to the root of the service."},
		{"$metadata()", 400, syntax},
		{"accounts(1,2)", 400, "Segments with multiple key values must specify them in 'name=value' form."},
		{"accounts(a=1,2)", 400, syntax},
		{"accounts(a=1,a=2)", 400, "Parameter or entity key names must be unique. There is most likely an error in the model."},
		{"accounts(x)", 400, syntax},
		{"accounts(1)x", 400, syntax},
		{"accounts(1", 400, syntax},
		{"accounts('abc)", 400, syntax},
		{"accounts(a=)", 400, syntax},
		{"accounts(a=1,)", 400, syntax},
		{"accounts(,)", 400, syntax},
		{"accounts(a eq 1)", 400, syntax},
		{"accounts(f(1))", 400, syntax},
		{"accounts(00000000-0000-0000-0000-00000000000)", 400, syntax},
		{"(1)", 400, syntax},
		{"a//b", 404, "Empty segment encountered in request URL. Please make sure that a valid request URL is specified."},
		{"accounts(name='%FF')", 400, syntax},
		{strings.Repeat("a/", 101) + "a", 400, "Too many segments in URI."},
		{"Microsoft..X", 404, "Resource not found for the segment 'Microsoft..X'."},
		{".X", 404, "Resource not found for the segment '.X'."},
	}
	for _, tt := range tests {
		_, err := ParsePath(tt.in)
		var perr *Error
		if !errors.As(err, &perr) {
			t.Errorf("ParsePath(%q) = %v, want error", tt.in, err)
			continue
		}
		if perr.Status != tt.status || perr.Message != tt.msg {
			t.Errorf("ParsePath(%q)\n got  %d %s\n want %d %s", tt.in, perr.Status, perr.Message, tt.status, tt.msg)
		}
		wantCode := CodeQueryError
		if tt.status == 404 {
			wantCode = CodeResourceNotFound
		}
		if perr.Code != wantCode {
			t.Errorf("ParsePath(%q): code %s, want %s", tt.in, perr.Code, wantCode)
		}
	}
}

func TestSegmentHelpers(t *testing.T) {
	p, err := ParsePath("contacts(firstname='Joe',emailaddress1='a@b')/Microsoft.Dynamics.CRM.Foo")
	if err != nil {
		t.Fatal(err)
	}
	s := p.Segments[0]
	if a, ok := s.Arg("emailaddress1"); !ok || a.Value.Value != "a@b" {
		t.Errorf("Arg: %+v %v", a, ok)
	}
	if _, ok := s.Arg("x"); ok {
		t.Errorf("Arg(x) found")
	}
	if s.Text != "contacts(firstname='Joe',emailaddress1='a@b')" {
		t.Errorf("Text: %q", s.Text)
	}
	f := p.Segments[1]
	if f.Namespace != CRMNamespace || f.Name != "Foo" || f.QualifiedName() != "Microsoft.Dynamics.CRM.Foo" {
		t.Errorf("qualified: %+v", f)
	}
	if got := p.String(); got != "contacts(firstname='Joe',emailaddress1='a@b')/Microsoft.Dynamics.CRM.Foo" {
		t.Errorf("String: %s", got)
	}
}

// TestGUIDKeyFastPath: a bare GUID key predicate parses to exactly what
// the lexer and literal parser make of it.
func TestGUIDKeyFastPath(t *testing.T) {
	for _, g := range []string{
		"00000d04-bdd3-48a6-9e94-da9b991f2c9d", "A1B2C3D4-0000-4000-8000-00000000A001",
		"ffffffff-ffff-ffff-ffff-ffffffffffff", "12345678-1234-1234-1234-123456789012",
	} {
		fast, err := parseSegmentArgs(g)
		if err != nil {
			t.Fatalf("%s: %v", g, err)
		}
		slow, err := parseArgs(g)
		if err != nil {
			t.Fatalf("%s through the lexer: %v", g, err)
		}
		if !reflect.DeepEqual(fast, slow) {
			t.Errorf("%s: fast path %#v, lexer %#v", g, *fast[0].Value, *slow[0].Value)
		}
	}
}
