package odata

import (
	"errors"
	"fmt"
	"strings"
	"testing"
	"time"
)

func TestParseFilter(t *testing.T) {
	tests := []struct {
		in   string
		want string
	}{
		// comparisons and logic, precedence not > comparison > and > or
		{"name eq 'x'", "(name eq 'x')"},
		{"name eq 'x' and revenue gt 5", "((name eq 'x') and (revenue gt 5))"},
		{"a eq 1 or b eq 2 and c eq 3", "((a eq 1) or ((b eq 2) and (c eq 3)))"},
		{"(a eq 1 or b eq 2) and c eq 3", "(((a eq 1) or (b eq 2)) and (c eq 3))"},
		{"a eq 1 and b eq 2 and c eq 3", "(((a eq 1) and (b eq 2)) and (c eq 3))"},
		{"a ne 1 and b gt 2 and c ge 3 and d lt 4 and e le 5", "(((((a ne 1) and (b gt 2)) and (c ge 3)) and (d lt 4)) and (e le 5))"},
		{"not contains(name,'a')", "(not contains(name,'a'))"},
		{"not (a eq 1)", "(not (a eq 1))"},
		{"not a eq b", "((not a) eq b)"},
		{"not not creditonhold", "(not (not creditonhold))"},
		{"creditonhold", "creditonhold"},
		{"creditonhold eq true and donotemail eq false", "((creditonhold eq true) and (donotemail eq false))"},
		{"  name   eq\t'x'  ", "(name eq 'x')"},
		{"((((a eq 1))))", "(a eq 1)"},
		// column comparison
		{"firstname eq lastname", "(firstname eq lastname)"},
		// keywords are only keywords where an operator is expected
		{"and eq 1", "(and eq 1)"},
		{"x eq eq", "(x eq eq)"},
		// literals
		{"a eq null", "(a eq null)"},
		{"a eq 42", "(a eq 42)"},
		{"a eq -42", "(a eq -42)"},
		{"a eq - 42", "(a eq -42)"},
		{"a eq 9223372036854775807", "(a eq 9223372036854775807)"},
		{"a eq -9223372036854775808", "(a eq -9223372036854775808)"},
		{"a eq 9223372036854775808", "(a eq 9223372036854775808M)"},
		{"a eq 5L", "(a eq 5)"},
		{"a eq 1.5", "(a eq 1.5)"},
		{"a eq 1.50", "(a eq 1.50)"},
		{"a eq 1.5M", "(a eq 1.5)"},
		{"a eq 5m", "(a eq 5M)"},
		{"a eq -0.25", "(a eq -0.25)"},
		{"a eq 1e3", "(a eq 1E+03)"},
		{"a eq 1.5E-3", "(a eq 1.5E-03)"},
		{"a eq 2.5d", "(a eq 2.5E+00)"},
		{"a eq 2f", "(a eq 2E+00)"},
		{"a eq 123456789012345678901234567890.5", "(a eq 1.2345678901234568E+29)"},
		{"name eq 'O''Bryan'", "(name eq 'O''Bryan')"},
		{"name eq ''", "(name eq '')"},
		{"name eq 'a b/c(d)e,f'", "(name eq 'a b/c(d)e,f')"},
		{"name eq 'ünïcødé 日本'", "(name eq 'ünïcødé 日本')"},
		{"_parentcustomerid_value eq 7EB682F1-CA75-E511-80D4-00155D2A68D1", "(_parentcustomerid_value eq 7eb682f1-ca75-e511-80d4-00155d2a68d1)"},
		{"x eq deadbeef-0000-0000-0000-000000000001", "(x eq deadbeef-0000-0000-0000-000000000001)"},
		{"x eq 1a2b3c4d-0000-0000-0000-000000000001", "(x eq 1a2b3c4d-0000-0000-0000-000000000001)"},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[12345678-1234-1234-1234-123456789012])", ""}, // see TestParseFilterErrors: not JSON
		{"birthdate eq 2024-01-02", "(birthdate eq 2024-01-02)"},
		{"birthdate eq 2024-1-2", "(birthdate eq 2024-01-02)"},
		{"createdon gt 2024-01-02T03:04:05Z", "(createdon gt 2024-01-02T03:04:05Z)"},
		{"createdon gt 2024-01-02T03:04Z", "(createdon gt 2024-01-02T03:04:00Z)"},
		{"createdon gt 2024-01-02T03:04:05.1234567-08:00", "(createdon gt 2024-01-02T03:04:05.1234567-08:00)"},
		{"createdon gt 2024-01-02T03:04:05.123456789+05:30", "(createdon gt 2024-01-02T03:04:05.123456789+05:30)"},
		{"(createdon gt 2024-01-02T03:04:05Z)", "(createdon gt 2024-01-02T03:04:05Z)"},
		{"OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'", "(OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned')"},
		{"AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'", "(AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist')"},
		{"x eq NS.E'It''s'", "(x eq NS.E'It''s')"},
		// property paths
		{"primarycontactid/fullname eq 'x'", "(primarycontactid/fullname eq 'x')"},
		{"parentaccountid/primarycontactid/fullname ne null", "(parentaccountid/primarycontactid/fullname ne null)"},
		{"CanCreateAttributes/Value eq true", "(CanCreateAttributes/Value eq true)"},
		{"customerid_account/Microsoft.Dynamics.CRM.account/name eq 'a'", "(customerid_account/Microsoft.Dynamics.CRM.account/name eq 'a')"},
		{"Microsoft.Dynamics.CRM.account/name eq 'a'", "(Microsoft.Dynamics.CRM.account/name eq 'a')"},
		// functions
		{"contains(name,'a')", "contains(name,'a')"},
		{"startswith(name,'a') or endswith(name,'z')", "(startswith(name,'a') or endswith(name,'z'))"},
		{"contains(tolower(name),toupper('a'))", "contains(tolower(name),toupper('a'))"},
		{"trim(name) eq 'a'", "(trim(name) eq 'a')"},
		{"contains( name , 'a' )", "contains(name,'a')"},
		{"substring(name,1,2) eq 'a'", "(substring(name,1,2) eq 'a')"},
		{"year(createdon) eq 2024", "(year(createdon) eq 2024)"},
		{"now() gt createdon", "(now() gt createdon)"},
		// Dataverse query functions
		{"Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"a\",\"b\"])", "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"a\",\"b\"])"},
		{"Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=['a','b'])", "Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"a\",\"b\"])"},
		{"Microsoft.Dynamics.CRM.In(PropertyName='n',PropertyValues=[\"O'Bryan\"])", "Microsoft.Dynamics.CRM.In(PropertyName='n',PropertyValues=[\"O'Bryan\"])"},
		{"Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\",\"2000\"])", "Microsoft.Dynamics.CRM.Between(PropertyName='numberofemployees',PropertyValues=[\"5\",\"2000\"])"},
		{"Microsoft.Dynamics.CRM.NotBetween(PropertyName='n',PropertyValues=[5, 2000.5, -1e3, true, null])", "Microsoft.Dynamics.CRM.NotBetween(PropertyName='n',PropertyValues=[5,2000.5,-1E+03,true,null])"},
		{"Microsoft.Dynamics.CRM.In(PropertyName='n',PropertyValues=[])", "Microsoft.Dynamics.CRM.In(PropertyName='n',PropertyValues=[])"},
		{"Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)", "Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)"},
		{"Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')", "Microsoft.Dynamics.CRM.EqualUserId(PropertyName='ownerid')"},
		{"Microsoft.Dynamics.CRM.Today(PropertyName='createdon') and statecode eq 0", "(Microsoft.Dynamics.CRM.Today(PropertyName='createdon') and (statecode eq 0))"},
		{"Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2024-01-02')", "Microsoft.Dynamics.CRM.On(PropertyName='createdon',PropertyValue='2024-01-02')"},
		{"Microsoft.Dynamics.CRM.ContainValues(PropertyName='x',PropertyValues=['1','2'])", "Microsoft.Dynamics.CRM.ContainValues(PropertyName='x',PropertyValues=[\"1\",\"2\"])"},
		{"Microsoft.Dynamics.CRM.Foo()", "Microsoft.Dynamics.CRM.Foo()"},
		{"not Microsoft.Dynamics.CRM.In(PropertyName='a',PropertyValues=[1])", "(not Microsoft.Dynamics.CRM.In(PropertyName='a',PropertyValues=[1]))"},
		// lambdas
		{"Account_Tasks/any(t:t/statecode eq 1)", "Account_Tasks/any(t:(t/statecode eq 1))"},
		{"Account_Tasks/all(t:t/statecode eq 1)", "Account_Tasks/all(t:(t/statecode eq 1))"},
		{"Account_Emails/any(e:contains(e/subject,'x'))", "Account_Emails/any(e:contains(e/subject,'x'))"},
		{"Account_Tasks/any()", "Account_Tasks/any()"},
		{"Account_Tasks/any( t : t/a eq 1 )", "Account_Tasks/any(t:(t/a eq 1))"},
		{"contact_customer_accounts/any(o1:(o1/contact_customer_accounts/any(o2:(o2/modifiedby/systemuserid eq o1/modifiedby/systemuserid))))", "contact_customer_accounts/any(o1:o1/contact_customer_accounts/any(o2:(o2/modifiedby/systemuserid eq o1/modifiedby/systemuserid)))"},
		{"tags/any(t:t eq 'x')", "tags/any(t:(t eq 'x'))"},
		{"a/b/any(x:x/c eq 1) and d eq 2", "(a/b/any(x:(x/c eq 1)) and (d eq 2))"},
		// a range variable is only a variable at the start of a path
		{"A/any(t:b/t eq 1)", "A/any(t:(b/t eq 1))"},
		{"A/any(t:t/any(u:u eq t))", "A/any(t:t/any(u:(u eq t)))"},
	}
	for _, tt := range tests {
		if tt.want == "" {
			continue
		}
		e, err := ParseFilter(tt.in)
		if err != nil {
			t.Errorf("ParseFilter(%q): %v", tt.in, err)
			continue
		}
		if got := e.String(); got != tt.want {
			t.Errorf("ParseFilter(%q)\n got  %s\n want %s", tt.in, got, tt.want)
		}
		// Round trip.
		e2, err := ParseFilter(e.String())
		if err != nil {
			t.Errorf("re-parse of %q: %v", e.String(), err)
		} else if e2.String() != e.String() {
			t.Errorf("re-parse of %q gives %q", e.String(), e2.String())
		}
	}
}

func TestParseFilterErrors(t *testing.T) {
	tests := []struct {
		in, msg string
	}{
		// Messages and positions as ODL (and so Dataverse) reports them.
		{"lastname eq 'O'Bryan'", "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."},
		{"name eq 'abc", "There is an unterminated string literal at position 12 in 'name eq 'abc'."},
		{"name eqq 'x'", "Syntax error at position 8 in 'name eqq 'x''."},
		{"Name EQ 'su'", "Syntax error at position 7 in 'Name EQ 'su''."},
		{"Name NE 'su'", "Syntax error at position 7 in 'Name NE 'su''."},
		{"ID LT 1", "Syntax error at position 5 in 'ID LT 1'."},
		{"true AND false", "Syntax error at position 8 in 'true AND false'."},
		{"true oR false", "Syntax error at position 7 in 'true oR false'."},
		{"NOT false", "Syntax error at position 9 in 'NOT false'."},
		{"ID ADD 1", "Syntax error at position 6 in 'ID ADD 1'."},
		{"a eq 1 )", "Syntax error at position 8 in 'a eq 1 )'."},
		{"contains (name,'x')", "Syntax error at position 10 in 'contains (name,'x')'."},
		{"Nicknames/any(d:d eq 'a'", "')' or ',' expected at position 24 in 'Nicknames/any(d:d eq 'a''."},
		{"(a eq 1", "')' or operator expected at position 7 in '(a eq 1'."},
		{"", "Expression expected at position 0 in ''."},
		{"a eq", "Expression expected at position 4 in 'a eq'."},
		{"a eq 1 and", "Expression expected at position 10 in 'a eq 1 and'."},
		{"(", "Expression expected at position 1 in '('."},
		{"a eq #", "Syntax error: character '#' is not valid at position 5 in 'a eq #'."},
		{"a eq \"x\"", "Syntax error: character '\"' is not valid at position 5 in 'a eq \"x\"'."},
		{"a eq 1.", "A digit was expected at position 7 in 'a eq 1.'."},
		{"a eq 1e", "A digit was expected at position 7 in 'a eq 1e'."},
		{"a eq @", "Syntax error at position 6 in 'a eq @'."},
		{"a eq @1", "Syntax error: character '1' is not valid at position 6 in 'a eq @1'."},
		{"a/any", "'(' expected at position 5 in 'a/any'."},
		{"a/any(x x eq 1)", "Syntax error at position 9 in 'a/any(x x eq 1)'."},
		{"a/any(1:x eq 1)", "An identifier was expected at position 6."},
		{"a/any(x:x/b/any(x:x eq 1))", "The range variable 'x' has already been declared."},
		{"'a'/b eq 1", "An identifier was expected at position 0."},
		{"datetime'2020-01-01' eq x", "Unrecognized 'Edm.String' literal 'datetime'2020-01-01'' at '0' in 'datetime'2020-01-01' eq x'."},
		{"x eq guid'00000000-0000-0000-0000-000000000000'", "Unrecognized 'Edm.String' literal 'guid'00000000-0000-0000-0000-000000000000'' at '5' in 'x eq guid'00000000-0000-0000-0000-000000000000''."},
		{"x eq null'a'", "Syntax error at position 9 in 'x eq null'a''."},
		{"createdon gt 2024-01-02T03:04:05", "The DateTimeOffset text '2024-01-02T03:04:05' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."},
		{"createdon gt 2024-13-02T03:04:05Z", "The DateTimeOffset text '2024-13-02T03:04:05Z' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."},
		{"createdon gt 2024-01-02T03:04:05+15:00", "The DateTimeOffset text '2024-01-02T03:04:05+15:00' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range."},
		{"a eq 5.5L", "Unrecognized 'Edm.Int64' literal '5.5L' at '5' in 'a eq 5.5L'."},
		{"a eq 99999999999999999999L", "Unrecognized 'Edm.Int64' literal '99999999999999999999L' at '5' in 'a eq 99999999999999999999L'."},
		{"a eq 1e5M", "Unrecognized 'Edm.Decimal' literal '1e5M' at '5' in 'a eq 1e5M'."},
		{"a eq 1e999", "Numeric string '1e999' is not a valid Int32/Int64/Double/Decimal."},
		{"a eq 1e999d", "Unrecognized 'Edm.Double' literal '1e999d' at '5' in 'a eq 1e999d'."},
		{"Contains(name,'a')", "An unknown function with name 'Contains' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."},
		{"foo(1)", "An unknown function with name 'foo' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."},
		{"Foo.Bar(x=1)", "An unknown function with name 'Foo.Bar' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."},
		{"a/contains(b,'x')", "An unknown function with name 'contains' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."},
		{"any(x:x eq 1)", "')' or ',' expected at position 5 in 'any(x:x eq 1)'."},
		{"any(x)", "An unknown function with name 'any' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed."},
		{"contains(name)", "No function signature for the function with name 'contains' matches the specified arguments."},
		{"contains(a=name,b='x')", "No function signature for the function with name 'contains' matches the specified arguments."},
		{"Microsoft.Dynamics.CRM.In('a',[1])", "The parameters of function 'Microsoft.Dynamics.CRM.In' must be given as name=value."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='a',PropertyName='b')", "Parameter or entity key names must be unique. There is most likely an error in the model."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='a',)", "Syntax error at position 43 in 'Microsoft.Dynamics.CRM.In(PropertyName='a',)'."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='a'", "Syntax error at position 42 in 'Microsoft.Dynamics.CRM.In(PropertyName='a''."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['O'Bryan'])", "Found an unbalanced bracket expression."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=['a' 'b'])", "Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two elements in an array and properties of an object must be separated by commas."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[1,,2])", "Invalid JSON. An unexpected comma was found in scope 'Array'. A comma is only valid between properties of an object or between elements of an array."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[abc])", "Invalid JSON. A token was not recognized in the JSON content."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[01])", "Invalid JSON. The value '01' is not a valid number."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[\"a\\q\"])", "Invalid JSON. An unrecognized escape sequence '\\q' was found in a JSON string value."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[[1]])", "Invalid JSON. Nested arrays and objects are not supported in an array literal."},
		{"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[12345678-1234-1234-1234-123456789012])", "Invalid JSON. The value '12345678-1234-1234-1234-123456789012' is not a valid number."},
		{"a eq [1", "Found an unbalanced bracket expression."},
		{"a eq {\"x\":1}", "Expression expected at position 5 in 'a eq {\"x\":1}'."},
		{"a eq 1; b eq 2", "Syntax error at position 7 in 'a eq 1; b eq 2'."},
		// Not supported by Dataverse.
		{"-revenue lt 5", "Expression expected at position 0 in '-revenue lt 5'."},
		{"a eq - -5", "Expression expected at position 5 in 'a eq - -5'."},
		{"a add 1 eq 2", "Syntax error at position 5 in 'a add 1 eq 2'."},
		{"a in ('x','y')", "Syntax error at position 4 in 'a in ('x','y')'."},
		{"$it/name eq 'a'", "Syntax error: character '$' is not valid at position 0 in '$it/name eq 'a''."},
		{"a eq @x.y", "Syntax error: character '@' is not valid at position 5 in 'a eq @x.y'."},
		{"Microsoft . Dynamics eq 1", "Syntax error at position 11 in 'Microsoft . Dynamics eq 1'."},
		{"a/NS.T'x' eq 1", "Syntax error at position 12 in 'a/NS.T'x' eq 1'."},
		{"contains(a,'b')/x eq 1", "Syntax error at position 17 in 'contains(a,'b')/x eq 1'."},
		{"a/b'x'", "An identifier was expected at position 2."},
	}
	for _, tt := range tests {
		_, err := ParseFilter(tt.in)
		var perr *Error
		if !errors.As(err, &perr) {
			t.Errorf("ParseFilter(%q) = %v, want error %q", tt.in, err, tt.msg)
			continue
		}
		if perr.Message != tt.msg {
			t.Errorf("ParseFilter(%q)\n got  %s\n want %s", tt.in, perr.Message, tt.msg)
		}
		if perr.Status != 400 || perr.Code != CodeQueryError {
			t.Errorf("ParseFilter(%q): status %d code %s", tt.in, perr.Status, perr.Code)
		}
	}
}

func TestFilterLimits(t *testing.T) {
	cond := func(n int) string {
		parts := make([]string, n)
		for i := range parts {
			parts[i] = "a eq 1"
		}
		return strings.Join(parts, " or ")
	}
	if _, err := ParseFilter(cond(MaxConditions)); err != nil {
		t.Fatalf("%d conditions: %v", MaxConditions, err)
	}
	_, err := ParseFilter(cond(MaxConditions + 1))
	var perr *Error
	if !errors.As(err, &perr) || perr.Code != CodeTooManyConditions || perr.Message != "Number of conditions in query exceeded maximum limit." || perr.Status != 400 {
		t.Fatalf("%d conditions: %v", MaxConditions+1, err)
	}
	// Functions and lambdas count; operands of comparisons do not.
	for _, tt := range []struct {
		in string
		n  int
	}{
		{"a eq b", 1},
		{"tolower(a) eq 'x'", 1},
		{"contains(a,'x') and b", 2},
		{"A/any(t:t/x eq 1 and t/y eq 2)", 3},
		{"not (a eq 1 or Microsoft.Dynamics.CRM.Today(PropertyName='x'))", 2},
	} {
		e, err := ParseFilter(tt.in)
		if err != nil {
			t.Fatal(err)
		}
		if got := countConditions(e); got != tt.n {
			t.Errorf("countConditions(%q) = %d, want %d", tt.in, got, tt.n)
		}
	}

	deep := strings.Repeat("(", 90) + "a eq 1" + strings.Repeat(")", 90)
	if _, err := ParseFilter(deep); err != nil {
		t.Errorf("90 parentheses: %v", err)
	}
	for _, in := range []string{
		strings.Repeat("(", 5000) + "a eq 1" + strings.Repeat(")", 5000),
		strings.Repeat("not ", 5000) + "a",
		strings.Repeat("contains(", 5000) + "a",
		nestedLambdas(5000),
	} {
		_, err := ParseFilter(in)
		if !errors.As(err, &perr) || perr.Message != "Recursion depth exceeded allowed limit." {
			t.Errorf("deep nesting %.20q...: %v", in, err)
		}
	}
}

func TestLiteralValues(t *testing.T) {
	lit := func(in string) *Lit {
		t.Helper()
		e, err := ParseFilter("x eq " + in)
		if err != nil {
			t.Fatalf("%s: %v", in, err)
		}
		return e.(*Binary).Right.(*Lit)
	}
	if l := lit("42"); l.Kind != LitInt || l.Value != int64(42) {
		t.Errorf("42: %v %#v", l.Kind, l.Value)
	}
	if l := lit("1.50"); l.Kind != LitDecimal || l.Value != "1.50" {
		t.Errorf("1.50: %v %#v", l.Kind, l.Value)
	} else if f, ok := l.Float(); !ok || f != 1.5 {
		t.Errorf("1.50 Float: %v %v", f, ok)
	} else if r, ok := l.Rat(); !ok || r.FloatString(2) != "1.50" {
		t.Errorf("1.50 Rat: %v %v", r, ok)
	}
	if l := lit("1e3"); l.Kind != LitDouble || l.Value != 1000.0 {
		t.Errorf("1e3: %v %#v", l.Kind, l.Value)
	}
	if l := lit("'a''b'"); l.Kind != LitString || l.Value != "a'b" || l.Raw != "'a''b'" || l.Offset != 5 {
		t.Errorf("'a''b': %+v", l)
	}
	if l := lit("00000000-0000-0000-0000-00000000ABCD"); l.Kind != LitGUID || l.Value != "00000000-0000-0000-0000-00000000abcd" {
		t.Errorf("guid: %+v", l)
	}
	if l := lit("2024-02-29"); l.Kind != LitDate || !l.Value.(time.Time).Equal(time.Date(2024, 2, 29, 0, 0, 0, 0, time.UTC)) {
		t.Errorf("date: %+v", l)
	}
	if _, err := ParseFilter("x eq 2023-02-29"); err == nil {
		t.Errorf("2023-02-29 accepted")
	}
	if l := lit("2024-01-02T03:04:05.5-02:30"); l.Kind != LitDateTimeOffset {
		t.Errorf("dto: %+v", l)
	} else if v := l.Value.(time.Time); !v.Equal(time.Date(2024, 1, 2, 5, 34, 5, 5e8, time.UTC)) {
		t.Errorf("dto value: %v", v)
	} else if _, off := v.Zone(); off != -(2*3600 + 30*60) {
		t.Errorf("dto offset: %d", off)
	}
	if l := lit("Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'"); l.Kind != LitEnum || l.Type != "Microsoft.Dynamics.CRM.OwnershipTypes" || l.Value != "UserOwned" {
		t.Errorf("enum: %+v", l)
	}
	if l := lit("true"); l.Kind != LitBool || l.Value != true {
		t.Errorf("true: %+v", l)
	}
	if l := lit("null"); l.Kind != LitNull || l.Value != nil {
		t.Errorf("null: %+v", l)
	}
	l := lit(`["a", 1, 1.5, 2e1, true, null, "\u00e9\n"]`)
	elems, ok := l.Value.([]*Lit)
	if l.Kind != LitArray || !ok || len(elems) != 7 {
		t.Fatalf("array: %+v", l)
	}
	kinds := []LitKind{LitString, LitInt, LitDecimal, LitDouble, LitBool, LitNull, LitString}
	for i, k := range kinds {
		if elems[i].Kind != k {
			t.Errorf("array[%d] kind %v, want %v", i, elems[i].Kind, k)
		}
	}
	if elems[6].Value != "é\n" || elems[0].Offset != 6 {
		t.Errorf("array elements: %+v %+v", elems[6], elems[0])
	}
}

func TestExprShapes(t *testing.T) {
	e, err := ParseFilter("Account_Tasks/any(t:t/statecode eq 1)")
	if err != nil {
		t.Fatal(err)
	}
	lam, ok := e.(*Lambda)
	if !ok || !lam.Any || lam.Var != "t" || lam.Source.Name() != "Account_Tasks" || lam.Offset != 14 {
		t.Fatalf("lambda: %+v", e)
	}
	cmp := lam.Body.(*Binary)
	if p := cmp.Left.(*Prop); p.Var != "t" || p.Name() != "statecode" || p.Offset != 20 {
		t.Errorf("lambda body prop: %+v", p)
	}
	if cmp.Op != OpEq || !cmp.Op.IsComparison() || cmp.Offset != 32 || OpAnd.IsComparison() {
		t.Errorf("binary: %+v", cmp)
	}

	e, err = ParseFilter("Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"a\"])")
	if err != nil {
		t.Fatal(err)
	}
	f := e.(*CRMFunc)
	if f.Name != "In" || len(f.Params) != 2 {
		t.Fatalf("crm func: %+v", f)
	}
	if v, ok := f.Param("PropertyName"); !ok || v.(*Lit).Value != "name" {
		t.Errorf("PropertyName: %v", v)
	}
	if _, ok := f.Param("Nope"); ok {
		t.Errorf("Param(Nope) found")
	}

	e, err = ParseFilter("primarycontactid/fullname eq lastname")
	if err != nil {
		t.Fatal(err)
	}
	b := e.(*Binary)
	if p := b.Left.(*Prop); len(p.Path) != 2 || p.Path[0] != "primarycontactid" || p.Path[1] != "fullname" || p.Var != "" {
		t.Errorf("path: %+v", p)
	}
	if c, err := ParseFilter("contains(name,'a')"); err != nil || c.(*Call).Name != "contains" || len(c.(*Call).Args) != 2 {
		t.Errorf("call: %v %v", c, err)
	}
	if n, err := ParseFilter("not a"); err != nil || n.(*Not).X.(*Prop).Name() != "a" || n.Pos() != 0 {
		t.Errorf("not: %v %v", n, err)
	}
}

func TestParseOrderBy(t *testing.T) {
	tests := []struct{ in, want string }{
		{"name", "name asc"},
		{"revenue asc,name desc", "revenue asc, name desc"},
		{"revenue  desc , name", "revenue desc, name asc"},
		{"primarycontactid/fullname desc", "primarycontactid/fullname desc"},
		{"desc", "desc asc"},
	}
	for _, tt := range tests {
		ob, err := ParseOrderBy(tt.in)
		if err != nil {
			t.Errorf("ParseOrderBy(%q): %v", tt.in, err)
			continue
		}
		var parts []string
		for _, o := range ob {
			parts = append(parts, o.String())
		}
		if got := strings.Join(parts, ", "); got != tt.want {
			t.Errorf("ParseOrderBy(%q) = %q, want %q", tt.in, got, tt.want)
		}
	}
	for _, tt := range []struct{ in, msg string }{
		{"name DESC", "Syntax error at position 9 in 'name DESC'."},
		{"name,", "Expression expected at position 5 in 'name,'."},
		{"name asc desc", "Syntax error at position 13 in 'name asc desc'."},
		{"", "Expression expected at position 0 in ''."},
	} {
		_, err := ParseOrderBy(tt.in)
		if err == nil || err.Error() != tt.msg {
			t.Errorf("ParseOrderBy(%q) = %v, want %q", tt.in, err, tt.msg)
		}
	}
}

func nestedLambdas(n int) string {
	var b strings.Builder
	for i := 0; i < n; i++ {
		fmt.Fprintf(&b, "A/any(v%d:", i)
	}
	return b.String()
}
