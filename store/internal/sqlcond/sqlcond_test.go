package sqlcond

import (
	"errors"
	"reflect"
	"testing"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// plain is a dialect that shows where each hook lands.
type plain struct{}

func (plain) Name() string             { return "plain" }
func (plain) Placeholder(int) string   { return "?" }
func (plain) Bool(b bool) string       { return map[bool]string{true: "T", false: "F"}[b] }
func (plain) Table(name string) string { return "s." + quote(name) }
func (plain) Param(c *Compiler, _ *schema.Column, v any) (string, error) {
	return "p(" + c.Arg(v) + ")", nil
}
func (plain) Operand(_ *schema.Column, ref string) string { return "o(" + ref + ")" }
func (plain) Band(c *Compiler, _ *schema.Column, ref string, v any) (string, error) {
	return "band(" + ref + "," + c.Arg(v) + ")", nil
}
func (plain) Match(c *Compiler, _ *schema.Column, ref string, m store.Match, like string) string {
	return m.Mode + "(" + ref + "," + c.Arg(like) + ")"
}

// TestCond: the shared structure around the dialect's hooks, and the
// errors.
func TestCond(t *testing.T) {
	s := schema.System()
	acc, con, team := s.Table(schema.TableAccount), s.Table(schema.TableContact), s.Table(schema.TableTeam)
	for _, tc := range []struct {
		cond store.Cond
		sql  string
		args []any
	}{
		{store.And{}, "T", nil},
		{store.Or{}, "F", nil},
		{store.And{store.Compare{Column: "name", Op: "eq", Value: "x"}, store.Not{C: store.Compare{Column: "revenue", Op: "ge", Value: 2.0}}},
			`(o(t0."name") = p(?)) AND (NOT (o(t0."revenue") >= p(?)))`, []any{"x", 2.0}},
		{store.Compare{Column: "name", Op: "eq", Value: nil}, `t0."name" IS NULL`, nil},
		{store.Compare{Column: "name", Op: "ne", Value: nil}, `t0."name" IS NOT NULL`, nil},
		{store.Compare{Column: "name", Op: "gt", Value: nil}, "F", nil},
		{store.Compare{Column: "statecode", Op: "band", Value: int64(2)}, `band(t0."statecode",?)`, []any{int64(2)}},
		{store.CompareColumns{Left: "name", Op: "ne", Right: "accountnumber"}, `o(t0."name") <> o(t0."accountnumber")`, nil},
		{store.CompareColumns{Left: "revenue", Op: "lt", Right: "numberofemployees"}, `t0."revenue" < t0."numberofemployees"`, nil},
		{store.Match{Column: "name", Mode: "contains", Pattern: "a"}, `contains(t0."name",?)`, []any{"%a%"}},
		{store.Match{Column: "name", Mode: "startswith", Pattern: "a"}, `startswith(t0."name",?)`, []any{"a%"}},
		{store.Match{Column: "name", Mode: "endswith", Pattern: "a"}, `endswith(t0."name",?)`, []any{"%a"}},
		{store.In{Column: "name"}, "F", nil},
		{store.In{Column: "name", Values: []any{"a", "b"}}, `o(t0."name") IN (p(?), p(?))`, []any{"a", "b"}},
		{store.Related{Column: "primarycontactid", Table: con}, `t0."primarycontactid" IN (SELECT t1."contactid" FROM s."contact" AS t1 WHERE T)`, nil},
		{store.Children{Table: con, Column: "parentcustomerid", Where: store.Compare{Column: "fullname", Op: "eq", Value: "z"}, All: true},
			`NOT EXISTS (SELECT 1 FROM s."contact" AS t1 WHERE t1."parentcustomerid" = t0."accountid" AND NOT (o(t1."fullname") = p(?)))`, []any{"z"}},
		{store.Linked{Intersect: "teammembership", ThisCol: "systemuserid", OtherCol: "teamid", Target: team},
			`EXISTS (SELECT 1 FROM s."teammembership" AS t1 JOIN s."team" AS t2 ON t2."teamid" = t1."teamid" WHERE t1."systemuserid" = t0."accountid" AND (T))`, nil},
		{store.InQuery{Column: "name", Table: con, Select: "fullname"}, `o(t0."name") IN (SELECT o(t1."fullname") FROM s."contact" AS t1 WHERE T)`, nil},
	} {
		c := &Compiler{D: plain{}}
		got, err := c.Cond(tc.cond, acc, "t0")
		if err != nil || got != tc.sql || !reflect.DeepEqual(c.Args, tc.args) {
			t.Errorf("%#v:\n got %s %v, %v\nwant %s %v", tc.cond, got, c.Args, err, tc.sql, tc.args)
		}
	}
	for _, bad := range []store.Cond{
		store.Compare{Column: "name", Op: "like", Value: "a"},
		store.CompareColumns{Left: "name", Op: "has", Right: "name"},
		store.Match{Column: "name", Mode: "regex", Pattern: "a"},
		nil,
	} {
		if _, err := (&Compiler{D: plain{}}).Cond(bad, acc, "t0"); !errors.Is(err, ErrUnsupported) {
			t.Errorf("%#v: %v, want ErrUnsupported", bad, err)
		}
	}
	for _, bad := range []store.Cond{
		store.Compare{Column: "nope", Op: "eq", Value: "a"},
		store.Children{Table: con, Column: "nope"},
		store.InQuery{Column: "name", Table: con, Select: "nope"},
	} {
		if _, err := (&Compiler{D: plain{}}).Cond(bad, acc, "t0"); err == nil || errors.Is(err, ErrUnsupported) {
			t.Errorf("%#v: %v, want an unknown-column error", bad, err)
		}
	}
}
