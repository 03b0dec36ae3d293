package odata

import (
	"fmt"
	"math/rand"
	"strings"
	"testing"
)

// genFilter writes a random syntactically valid $filter expression.
type genFilter struct {
	r    *rand.Rand
	vars []string
	n    int
}

var genLiterals = []string{
	"null", "true", "false", "0", "-1", "42", "9223372036854775807", "99999999999999999999",
	"1.5", "-0.25", "1.50M", "7m", "1e3", "-2.5E-7", "3d", "4f", "5L",
	"'x'", "''", "'O''Bryan'", "'a b/c(d),e'", "'ünï 日本'",
	"7EB682F1-CA75-E511-80D4-00155D2A68D1", "deadbeef-0000-0000-0000-000000000001",
	"2024-01-02", "2024-2-9", "2024-01-02T03:04:05Z", "2024-01-02T03:04Z", "2024-01-02T03:04:05.1234567-08:00",
	"Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned'", "NS.E'a''b'",
	`["a","b"]`, "['x', 'y']", "[1, 2.5, -1e3, true, null]", "[]", `["\u00e9\"\\"]`,
}

var genProps = []string{"name", "revenue", "_parentcustomerid_value", "primarycontactid/fullname", "CanCreateAttributes/Value", "NS.T/x", "a/NS.T/b", "and", "eq"}

func (g *genFilter) pick(xs []string) string { return xs[g.r.Intn(len(xs))] }

func (g *genFilter) value(depth int) string {
	switch k := g.r.Intn(10); {
	case k < 4:
		return g.pick(genLiterals)
	case k < 7 || depth > 3:
		if len(g.vars) > 0 && g.r.Intn(2) == 0 {
			v := g.pick(g.vars)
			if g.r.Intn(2) == 0 {
				return v
			}
			return v + "/" + g.pick(genProps)
		}
		return g.pick(genProps)
	case k < 9:
		return g.pick([]string{"tolower", "toupper", "trim"}) + "(" + g.value(depth+1) + ")"
	default:
		return "substring(" + g.value(depth+1) + "," + g.value(depth+1) + ")"
	}
}

func (g *genFilter) bool(depth int) string {
	g.n++
	if depth > 4 || g.n > 40 {
		return g.value(depth) + " eq " + g.value(depth)
	}
	switch g.r.Intn(10) {
	case 0, 1:
		return g.bool(depth+1) + g.pick([]string{" and ", " or ", "  and\t"}) + g.bool(depth+1)
	case 2:
		return "not " + g.pick([]string{"(", " ( "}) + g.bool(depth+1) + ")"
	case 3:
		return "(" + g.bool(depth+1) + ")"
	case 4:
		return g.pick([]string{"contains", "startswith", "endswith"}) + "(" + g.value(depth+1) + "," + g.value(depth+1) + ")"
	case 5:
		var params []string
		for i := g.r.Intn(3); i > 0; i-- {
			params = append(params, fmt.Sprintf("P%d=%s", i, g.value(depth+1)))
		}
		return "Microsoft.Dynamics.CRM." + g.pick([]string{"In", "Between", "LastXDays", "Today"}) + "(" + strings.Join(params, ",") + ")"
	case 6:
		v := fmt.Sprintf("v%d", len(g.vars))
		src := g.pick([]string{"Account_Tasks", "a/b"})
		if len(g.vars) > 0 && g.r.Intn(2) == 0 {
			src = g.pick(g.vars) + "/Nav"
		}
		if g.r.Intn(6) == 0 {
			return src + "/any()"
		}
		g.vars = append(g.vars, v)
		body := g.bool(depth + 1)
		g.vars = g.vars[:len(g.vars)-1]
		return src + "/" + g.pick([]string{"any", "all"}) + "(" + v + ":" + body + ")"
	default:
		return g.value(depth+1) + " " + g.pick([]string{"eq", "ne", "gt", "ge", "lt", "le"}) + " " + g.value(depth+1)
	}
}

func TestRandomFilters(t *testing.T) {
	r := rand.New(rand.NewSource(1))
	for i := 0; i < 3000; i++ {
		g := &genFilter{r: r}
		in := g.bool(0)
		e, err := ParseFilter(in)
		if err != nil {
			t.Fatalf("ParseFilter(%q): %v", in, err)
		}
		checkRoundTrip(t, in, e)
	}
}
