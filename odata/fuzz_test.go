package odata

import (
	"errors"
	"math/rand"
	"strings"
	"testing"
	"time"
)

// checkError fails unless err is nil or an *Error with a 4xx status, a code
// and a message.
func checkError(t *testing.T, in string, err error) {
	t.Helper()
	if err == nil {
		return
	}
	var perr *Error
	if !errors.As(err, &perr) {
		t.Fatalf("%q: error %T %v is not *Error", in, err, err)
	}
	if perr.Status < 400 || perr.Status > 499 || perr.Code == "" || perr.Message == "" {
		t.Fatalf("%q: bad error %+v", in, perr)
	}
}

// checkRoundTrip fails unless e.String() parses to an expression with the
// same String.
func checkRoundTrip(t *testing.T, in string, e Expr) {
	t.Helper()
	s := e.String()
	e2, err := ParseFilter(s)
	if err != nil {
		t.Fatalf("%q: String() %q does not re-parse: %v", in, s, err)
	}
	if s2 := e2.String(); s2 != s {
		t.Fatalf("%q: String() %q re-parses to %q", in, s, s2)
	}
}

var filterSeeds = []string{
	"name eq 'x' and revenue gt 5",
	"lastname eq 'O''Bryan'",
	"lastname eq 'O'Bryan'",
	"not contains(name,'a') or startswith(tolower(name),'b')",
	"Account_Tasks/any(t:t/statecode eq 1 and t/Task_Notes/all(n:n/subject ne null))",
	"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[\"a\",'b',1,2.5,-1e3,true,null])",
	"Microsoft.Dynamics.CRM.LastXDays(PropertyName='createdon',PropertyValue=7)",
	"OwnershipType eq Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'",
	"createdon ge 2024-01-02T03:04:05.123+01:00 and birthdate eq 2024-01-02",
	"_parentcustomerid_value eq 7EB682F1-CA75-E511-80D4-00155D2A68D1",
	"a eq -5 and b eq 1.5M and c eq 2d and d eq 99999999999999999999 and e eq 5L",
	"primarycontactid/fullname eq lastname",
	"((a eq 1))",
	"Microsoft.Dynamics.CRM.Today(PropertyName='x')",
	"A/any()",
	"a eq [\"x\\\"]\"]",
	"x eq @p1",
}

func FuzzParseFilter(f *testing.F) {
	for _, s := range filterSeeds {
		f.Add(s)
	}
	r := rand.New(rand.NewSource(2))
	for i := 0; i < 50; i++ {
		f.Add((&genFilter{r: r}).bool(0))
	}
	f.Fuzz(func(t *testing.T, in string) {
		e, err := ParseFilter(in)
		checkError(t, in, err)
		if err == nil {
			checkRoundTrip(t, in, e)
		}
		ob, err := ParseOrderBy(in)
		checkError(t, in, err)
		for _, o := range ob {
			checkRoundTrip(t, in, o.Expr)
		}
	})
}

func FuzzParseQuery(f *testing.F) {
	for _, s := range []string{
		"$select=name,revenue&$filter=revenue gt 5&$orderby=name desc&$top=3&$count=true",
		"$select=name&$expand=Account_Tasks($select=subject;$filter=contains(subject,'Task');$orderby=createdon desc),primarycontactid/$ref",
		"$orderby=@p1 asc,@p2 desc&$filter=@p1 ne @p3&@p1=revenue&@p2=name",
		"$filter=Microsoft.Dynamics.CRM.In(PropertyName=@p,PropertyValues=@v)&@p='name'&@v=[\"a\",\"b\"]",
		"$skiptoken=%3Ccookie%20pagenumber=%222%22%20/%3E&tag=x",
		"$expand=a($expand=b($expand=c($select=d)))",
		"$filter=@a&@a=@b or @b&@b=x eq 1",
		"$Select=x", "$skip=1", "$top=-1", "$count=maybe",
		"%24filter=name+eq+%27a%2Bb%27",
	} {
		f.Add(s)
	}
	for _, s := range filterSeeds {
		f.Add("$filter=" + s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		q, err := ParseQuery(in)
		checkError(t, in, err)
		if err != nil {
			return
		}
		var walk func(q *Query)
		walk = func(q *Query) {
			if q.Filter != nil {
				checkRoundTrip(t, in, q.Filter)
			}
			if q.Top != nil && *q.Top < 0 {
				t.Fatalf("%q: negative top", in)
			}
			for _, ex := range q.Expand {
				if ex.Options != nil {
					walk(ex.Options)
				}
			}
		}
		walk(q)
	})
}

func FuzzParsePath(f *testing.F) {
	for _, s := range []string{
		"", "$metadata", "$batch", "accounts",
		"accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks(00000000-0000-0000-0000-000000000002)/$ref",
		"contacts(firstname='Joe',emailaddress1='abc%40example.com')",
		"accounts(name='a%2Fb')/name/$value",
		"RetrieveUserPrivileges(UserId=@p1)",
		"roles(00000000-0000-0000-0000-000000000001)/Microsoft.Dynamics.CRM.AddPrivilegesRole",
		"EntityDefinitions(LogicalName='account')/Attributes/Microsoft.Dynamics.CRM.PicklistAttributeMetadata",
		"$1/lastname", "accounts/$count", "a//b", "accounts(1,2)",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in string) {
		p, err := ParsePath(in)
		checkError(t, in, err)
		if err != nil {
			return
		}
		// The canonical form of a parsed path parses to the same path.
		s := strings.ReplaceAll(p.String(), "%", "%25")
		p2, err := ParsePath(s)
		if err != nil {
			t.Fatalf("%q: String() %q does not re-parse: %v", in, s, err)
		}
		if p2.String() != p.String() {
			t.Fatalf("%q: String() %q re-parses to %q", in, p.String(), p2.String())
		}
	})
}

func FuzzParsePrefer(f *testing.F) {
	f.Add(`odata.include-annotations="*",return=representation`)
	f.Add(`odata.maxpagesize=10; x="a,b"`)
	f.Fuzz(func(t *testing.T, in string) {
		p := ParsePrefer([]string{in, in})
		if p.MaxPageSize < 0 || p.MaxPageSize > MaxPageSize {
			t.Fatalf("%q: MaxPageSize %d", in, p.MaxPageSize)
		}
		p.IncludeAnnotations.Match("OData.Community.Display.V1.FormattedValue")
	})
}

// TestPathologicalInputs guards against superlinear behaviour: each input
// is 256 KiB, so a quadratic algorithm would take minutes.
func TestPathologicalInputs(t *testing.T) {
	const n = 1 << 18
	inputs := []string{
		strings.Repeat("a eq 1 or ", n/10),
		strings.Repeat("a", n),
		strings.Repeat("a.", n/2) + "b",
		strings.Repeat("a-", n/2),
		strings.Repeat("1-", n/2),
		"'" + strings.Repeat("a", n),
		strings.Repeat("''", n/2),
		strings.Repeat("[", n),
		strings.Repeat("(", n),
		strings.Repeat("a/", n/2) + "b eq 1",
		strings.Repeat("9", n),
		"1." + strings.Repeat("9", n),
		strings.Repeat("@a or ", n/6) + "@a",
		strings.Repeat("not ", n/4),
		"contains(" + strings.Repeat("a,", n/2) + "a)",
		"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[" + strings.Repeat("1,", n/2) + "1])",
		"Microsoft.Dynamics.CRM.In(PropertyName='x',PropertyValues=[" + strings.Repeat("'é',", n/8) + "1])",
		strings.Repeat("A/any(x:x eq 1) or ", n/20),
		strings.Repeat("deadbeef-", n/9),
		strings.Repeat("1 and ", n/6) + "1",
	}
	start := time.Now()
	for _, in := range inputs {
		e, err := ParseFilter(in)
		checkError(t, in[:20], err)
		if e != nil {
			_ = e.String()
		}
		_, err = ParseQuery("$filter=" + in + "&$select=" + in + "&$expand=" + in + "&$orderby=" + in)
		checkError(t, in[:20], err)
		_, err = ParsePath(in)
		checkError(t, in[:20], err)
		ParsePrefer([]string{in})
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("pathological inputs took %v", d)
	}
}
