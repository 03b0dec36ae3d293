package sqlite

import (
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/internal/sqlcond"
)

// dialect is SQLite's part of a compiled condition (sqlcond): ?
// placeholders, 1=1 and 1=0, text columns declared COLLATE NOCASE (so
// comparisons and LIKE are case-insensitive as they are), and LIKE with
// its default escaping: only % and _ are wildcards, as in T-SQL.
type dialect struct{}

func newCompiler() *sqlcond.Compiler { return &sqlcond.Compiler{D: dialect{}} }

func (dialect) Name() string             { return "sqlite" }
func (dialect) Placeholder(int) string   { return "?" }
func (dialect) Table(name string) string { return quote(name) }

func (dialect) Bool(b bool) string {
	if b {
		return "1=1"
	}
	return "1=0"
}

func (dialect) Param(c *sqlcond.Compiler, col *schema.Column, v any) (string, error) {
	ev, err := encode(col, v)
	if err != nil {
		return "", err
	}
	return c.Arg(ev), nil
}

func (dialect) Operand(_ *schema.Column, ref string) string { return ref }

func (d dialect) Band(c *sqlcond.Compiler, col *schema.Column, ref string, v any) (string, error) {
	p, err := d.Param(c, col, v)
	if err != nil {
		return "", err
	}
	return "(" + ref + " & " + p + ") <> 0", nil
}

func (dialect) Match(c *sqlcond.Compiler, _ *schema.Column, ref string, _ store.Match, like string) string {
	return ref + " LIKE " + c.Arg(like)
}
