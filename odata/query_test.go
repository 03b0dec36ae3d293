package odata

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"testing"
)

// dumpQuery renders a Query compactly for table tests.
func dumpQuery(q *Query) string {
	var parts []string
	if q.Select != nil {
		parts = append(parts, "select="+strings.Join(q.Select, ","))
	}
	if q.Filter != nil {
		parts = append(parts, "filter="+q.Filter.String())
	}
	if q.OrderBy != nil {
		var ob []string
		for _, o := range q.OrderBy {
			ob = append(ob, o.String())
		}
		parts = append(parts, "orderby="+strings.Join(ob, ","))
	}
	if q.Top != nil {
		parts = append(parts, "top="+strconv.Itoa(*q.Top))
	}
	if q.Count {
		parts = append(parts, "count")
	}
	if q.Expand != nil {
		var ex []string
		for _, e := range q.Expand {
			s := e.Property
			if e.Ref {
				s += "/$ref"
			}
			if e.Options != nil {
				s += "(" + dumpQuery(e.Options) + ")"
			}
			ex = append(ex, s)
		}
		parts = append(parts, "expand="+strings.Join(ex, ","))
	}
	if q.SkipToken != "" {
		parts = append(parts, "skiptoken="+q.SkipToken)
	}
	if q.DeltaToken != "" {
		parts = append(parts, "deltatoken="+q.DeltaToken)
	}
	if q.ID != "" {
		parts = append(parts, "id="+q.ID)
	}
	if q.Apply != "" {
		parts = append(parts, "apply="+q.Apply)
	}
	return strings.Join(parts, "; ")
}

func TestParseQuery(t *testing.T) {
	tests := []struct{ in, want string }{
		{"", ""},
		{"?", ""},
		{"$select=name,revenue", "select=name,revenue"},
		{"?$select=name,revenue", "select=name,revenue"},
		{"$select=name%0A", "select=name"},
		{"$select= name , revenue ,name", "select=name,revenue"},
		{"$select=*", "select=*"},
		{"$select=", ""},
		{"$select=DisplayName,IsKnowledgeManagementEnabled,EntitySetName", "select=DisplayName,IsKnowledgeManagementEnabled,EntitySetName"},
		{"$filter=revenue gt 5", "filter=(revenue gt 5)"},
		{"$filter=revenue%20gt%205", "filter=(revenue gt 5)"},
		{"$filter=revenue+gt+5", "filter=(revenue gt 5)"},
		{"%24filter=revenue+gt+5", "filter=(revenue gt 5)"},
		{"$filter=name eq 'a%2Bb'", "filter=(name eq 'a+b')"},
		{"$filter=name eq 'a+b'", "filter=(name eq 'a b')"},
		{"$filter=name eq 'a%26b' and x eq '%3D'", "filter=((name eq 'a&b') and (x eq '='))"},
		{"$filter=name eq '100%'", "filter=(name eq '100%')"},
		{"$filter=contains(name,'%25')", "filter=contains(name,'%')"},
		{"$orderby=revenue asc,name desc", "orderby=revenue asc,name desc"},
		{"$top=3", "top=3"},
		{"$top=0", "top=0"},
		{"$top=+7", "top=7"},
		{"$count=true", "count"},
		{"$count=false", ""},
		{"$skiptoken=%3Ccookie%20pagenumber=%222%22%20pagingcookie=%22%253ccookie%2520page%253d%25221%2522%253e%22%20istracking=%22False%22%20/%3E",
			`skiptoken=<cookie pagenumber="2" pagingcookie="%3ccookie%20page%3d%221%22%3e" istracking="False" />`},
		{"$deltatoken=919042%2108%2f22%2f2017%2008%3a10%3a44", "deltatoken=919042!08/22/2017 08:10:44"},
		{"$id=https://org.crm.dynamics.com/api/data/v9.2/opportunities(" + g1 + ")", "id=https://org.crm.dynamics.com/api/data/v9.2/opportunities(" + g1 + ")"},
		{"$apply=groupby((statuscode),aggregate($count as count))", "apply=groupby((statuscode),aggregate($count as count))"},
		{"tag=abc&$top=1", "top=1"},
		{"tag=abc&tag=def&foo", ""},
		{"&&$top=1&", "top=1"},
		{"$top", ""}, // no '=': a nameless option, ignored as ODL does
		// expand
		{"$expand=primarycontactid", "expand=primarycontactid"},
		{"$expand=primarycontactid/$ref", "expand=primarycontactid/$ref"},
		{"$expand=primarycontactid($select=contactid,fullname),createdby($select=fullname)", "expand=primarycontactid(select=contactid,fullname),createdby(select=fullname)"},
		{"$select=name&$expand=Account_Tasks($select=subject;$filter=contains(subject,'Task');$orderby=createdon desc)",
			"select=name; expand=Account_Tasks(select=subject; filter=contains(subject,'Task'); orderby=createdon desc)"},
		{"$expand=Account_Tasks($filter=contains(subject,'a;b)c');$top=5)", "expand=Account_Tasks(filter=contains(subject,'a;b)c'); top=5)"},
		{"$expand=regardingobjectid_contact_task($select=fullname;%0A $expand=parentcustomerid_account($select=name;%0A  $expand=createdby($select=fullname)))",
			"expand=regardingobjectid_contact_task(select=fullname; expand=parentcustomerid_account(select=name; expand=createdby(select=fullname)))"},
		{"$expand=Attributes($select=LogicalName;$filter=AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist')",
			"expand=Attributes(select=LogicalName; filter=(AttributeType eq Microsoft.Dynamics.CRM.AttributeTypeCode'Picklist'))"},
		{"$expand=OptionSet,GlobalOptionSet", "expand=OptionSet,GlobalOptionSet"},
		{"$expand=a($filter=Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[\"a;b\",\"c)\"]))", "expand=a(filter=Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[\"a;b\",\"c)\"]))"},
		// parameter aliases
		{"$orderby=@p1 asc,@p2 desc&$filter=@p1 ne @p3&@p1=revenue&@p2=name", "filter=(revenue ne null); orderby=revenue asc,name desc"},
		{"$filter=name eq @n&@n='O''Bryan'", "filter=(name eq 'O''Bryan')"},
		{"@n='x'&$filter=name eq @n", "filter=(name eq 'x')"},
		{"$filter=Microsoft.Dynamics.CRM.In(PropertyName=@p,PropertyValues=@v)&@p='name'&@v=[\"a\",\"b\"]", "filter=Microsoft.Dynamics.CRM.In(PropertyName='name',PropertyValues=[\"a\",\"b\"])"},
		{"$filter=@a&@a=@b eq 1&@b=x", "filter=(x eq 1)"},
		{"$filter=A/any(t:@c)&@c=t/x eq 1", "filter=A/any(t:(t/x eq 1))"},
		{"$filter=@c&@c=(a eq 1 or b eq 2)", "filter=((a eq 1) or (b eq 2))"},
	}
	for _, tt := range tests {
		q, err := ParseQuery(tt.in)
		if err != nil {
			t.Errorf("ParseQuery(%q): %v", tt.in, err)
			continue
		}
		if got := dumpQuery(q); got != tt.want {
			t.Errorf("ParseQuery(%q)\n got  %s\n want %s", tt.in, got, tt.want)
		}
	}
}

func TestParseQueryAliases(t *testing.T) {
	q, err := ParseQuery("@p1=%7B'%40odata.id'%3A'accounts(" + g1 + ")'%7D&@p2='x'&tag=1")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{"@p1": "{'@odata.id':'accounts(" + g1 + ")'}", "@p2": "'x'"}
	if fmt.Sprint(q.Aliases) != fmt.Sprint(want) {
		t.Errorf("Aliases = %v, want %v", q.Aliases, want)
	}
	q, err = ParseQuery("$top=1")
	if err != nil || q.Aliases != nil {
		t.Errorf("no aliases: %v %v", q.Aliases, err)
	}
}

func TestParseQueryErrors(t *testing.T) {
	tests := []struct {
		in, code, msg string
	}{
		{"$Select=name", CodeQueryError, "The query parameter $Select is not supported"},
		{"$TOP=1", CodeQueryError, "The query parameter $TOP is not supported"},
		{"$skip=1", CodeQueryError, "The query parameter $skip is not supported"},
		{"$search=x", CodeQueryError, "The query parameter $search is not supported"},
		{"$format=json", CodeQueryError, "The query parameter $format is not supported"},
		{"$levels=2", CodeQueryError, "The query parameter $levels is not supported"},
		{"$compute=a as b", CodeQueryError, "The query parameter $compute is not supported"},
		{"$foo=1", CodeQueryError, "The query parameter $foo is not supported"},
		{"$=1", CodeQueryError, "The query parameter $ is not supported"},
		{"$top=-1", CodeQueryError, "Invalid value '-1' for $top query option found. The $top query option requires a non-negative integer value."},
		{"$top=x", CodeQueryError, "Invalid value 'x' for $top query option found. The $top query option requires a non-negative integer value."},
		{"$top=1.5", CodeQueryError, "Invalid value '1.5' for $top query option found. The $top query option requires a non-negative integer value."},
		{"$top=", CodeQueryError, "Invalid value '' for $top query option found. The $top query option requires a non-negative integer value."},
		{"$top=99999999999999999999", CodeQueryError, "Invalid value '99999999999999999999' for $top query option found. The $top query option requires a non-negative integer value."},
		{"$count=True", CodeQueryError, "'True' is not a valid count option."},
		{"$count=", CodeQueryError, "'' is not a valid count option."},
		{"$filter=a eq 1&$filter=b eq 2", CodeQueryError, "Query option '$filter' was specified more than once, but it must be specified at most once."},
		{"$top=1&%24top=2", CodeQueryError, "Query option '$top' was specified more than once, but it must be specified at most once."},
		{"@p=1&@p=2", CodeQueryError, "Query option '@p' was specified more than once, but it must be specified at most once."},
		{"$filter=", CodeQueryError, "Expression expected at position 0 in ''."},
		{"$filter=lastname eq 'O'Bryan'", CodeQueryError, "There is an unterminated literal at position 21 in 'lastname eq 'O'Bryan''."},
		{"$orderby=", CodeQueryError, "Expression expected at position 0 in ''."},
		{"$orderby=name DESC", CodeQueryError, "Syntax error at position 9 in 'name DESC'."},
		{"$select=a,,b", CodeQueryError, "Term 'a,,b' is not valid in a $select or $expand expression."},
		{"$select=a(b)", CodeQueryError, "Term 'a(b)' is not valid in a $select or $expand expression."},
		{"$select=a b", CodeQueryError, "Term 'a b' is not valid in a $select or $expand expression."},
		{"$filter=@a&@a=@a", CodeQueryError, "The value of parameter alias '@a' refers to itself."},
		{"$filter=@a&@a=@b&@b=not @a", CodeQueryError, "The value of parameter alias '@a' refers to itself."},
		{"$filter=@a&@a=a eq", CodeQueryError, "Expression expected at position 4 in 'a eq'."},
		{"$filter=name eq '%FF'", CodeQueryError, "Bad Request - Error in query syntax."},
		// expand
		{"$expand=a()", CodeQueryError, "Missing expand option on navigation property 'a'. If a parenthesis expression follows an expanded navigation property, then at least one expand option must be provided."},
		{"$expand=a($skip=1)", CodeQueryError, "The query parameter $skip is not supported"},
		{"$expand=a($count=true)", CodeQueryError, "The query parameter $count is not supported"},
		{"$expand=a($levels=2)", CodeQueryError, "The query parameter $levels is not supported"},
		{"$expand=a($Select=x)", CodeQueryError, "Term 'a($Select=x)' is not valid in a $select or $expand expression."},
		{"$expand=a($select)", CodeQueryError, "Term 'a($select)' is not valid in a $select or $expand expression."},
		{"$expand=a($top=1;$top=2)", CodeQueryError, "Query option '$top' was specified more than once, but it must be specified at most once."},
		{"$expand=a($top=-1)", CodeQueryError, "Top option must be a non-negative integer, it is set to '-1' instead."},
		{"$expand=a($filter=b eq @p)&@p=1", CodeQueryError, "Parameter alias '@p' cannot be used inside $expand."},
		{"$expand=a($filter=b eq)", CodeQueryError, "Expression expected at position 4 in 'b eq'."},
		{"$expand=a/$ref($select=x)", CodeQueryError, "Term 'a/$ref($select=x)' is not valid in a $select or $expand expression."},
		{"$expand=a/b", CodeQueryError, "Term 'a/b' is not valid in a $select or $expand expression."},
		{"$expand=*", CodeQueryError, "Term '*' is not valid in a $select or $expand expression."},
		{"$expand=a,,b", CodeQueryError, "Term '' is not valid in a $select or $expand expression."},
		{"$expand=a(b", CodeQueryError, "Term 'a(b' is not valid in a $select or $expand expression."},
		{"$expand=a,b,c,d,e,f,g,h,i,j,k,l,m,n,o,p", CodeTooManyLinkEntities, "Number of link entities in query exceeded maximum limit."},
		{"$expand=" + strings.Repeat("a($expand=", 20) + "b" + strings.Repeat(")", 20), CodeTooManyLinkEntities, "Number of link entities in query exceeded maximum limit."},
	}
	for _, tt := range tests {
		_, err := ParseQuery(tt.in)
		var perr *Error
		if !errors.As(err, &perr) {
			t.Errorf("ParseQuery(%q) = %v, want error", tt.in, err)
			continue
		}
		if perr.Code != tt.code || perr.Message != tt.msg || perr.Status != 400 {
			t.Errorf("ParseQuery(%q)\n got  %s %s\n want %s %s", tt.in, perr.Code, perr.Message, tt.code, tt.msg)
		}
	}
}

func TestQueryLimits(t *testing.T) {
	// 15 expands over all levels are allowed.
	in := "$expand=" + strings.Repeat("a($expand=", 14) + "b" + strings.Repeat(")", 14)
	if _, err := ParseQuery(in); err != nil {
		t.Errorf("15 nested expands: %v", err)
	}
	// Conditions add up over $filter and the $expand filters.
	conds := func(n int) string { return strings.TrimSuffix(strings.Repeat("a eq 1 or ", n), " or ") }
	in = "$filter=" + conds(300) + "&$expand=x($filter=" + conds(201) + ")"
	var perr *Error
	if _, err := ParseQuery(in); !errors.As(err, &perr) || perr.Code != CodeTooManyConditions {
		t.Errorf("501 conditions: %v", err)
	}
	// Aliases expanding into aliases cannot blow up the tree.
	in = "$filter=@a0"
	for i := 0; i < 20; i++ {
		in += fmt.Sprintf("&@a%d=(@a%d or @a%d)", i, i+1, i+1)
	}
	if _, err := ParseQuery(in); !errors.As(err, &perr) || perr.Code != CodeTooManyConditions {
		t.Errorf("alias bomb: %v", err)
	}
}
