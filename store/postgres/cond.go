package postgres

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/internal/sqlcond"
)

// dialect is PostgreSQL's part of a compiled condition (sqlcond): $n
// placeholders cast to the column's type (so PostgreSQL never guesses
// one, and an integer column compares with a fraction), TRUE and FALSE,
// tables in the environment's schema, and text compared lower-cased on
// both sides, as Dataverse compares it case-insensitively.
type dialect struct{ d *Data }

func (d *Data) newCompiler() *sqlcond.Compiler { return &sqlcond.Compiler{D: dialect{d}} }

func (dialect) Name() string               { return "postgres" }
func (dialect) Placeholder(n int) string   { return "$" + strconv.Itoa(n) }
func (x dialect) Table(name string) string { return x.d.table(name) }

func (dialect) Bool(b bool) string {
	if b {
		return "TRUE"
	}
	return "FALSE"
}

// Param binds a condition value: cast, and lower-cased for text columns.
func (dialect) Param(c *sqlcond.Compiler, col *schema.Column, v any) (string, error) {
	ev, err := value(col, v)
	if err != nil {
		return "", err
	}
	p := c.Arg(ev) + cast(col, ev)
	if col.Type.IsText() {
		p = "lower(" + p + ")"
	}
	return p, nil
}

// Operand lower-cases text columns.
func (dialect) Operand(col *schema.Column, ref string) string {
	if col.Type.IsText() {
		return "lower(" + ref + ")"
	}
	return ref
}

func (dialect) Band(c *sqlcond.Compiler, col *schema.Column, ref string, v any) (string, error) {
	ev, err := value(col, v)
	if err != nil {
		return "", err
	}
	n, ok := ev.(int64)
	if !ok {
		return "", fmt.Errorf("postgres: %w: band with %T", sqlcond.ErrUnsupported, v)
	}
	return "(" + ref + " & " + c.Arg(n) + "::bigint) <> 0", nil
}

func (x dialect) Match(c *sqlcond.Compiler, col *schema.Column, ref string, m store.Match, like string) string {
	lhs := "lower(" + ref + ")"
	if !col.Type.IsText() {
		lhs = "lower(" + ref + "::text)"
	}
	// ESCAPE '': a backslash is an ordinary character, as in T-SQL and
	// SQLite; only % and _ are wildcards.
	cond := lhs + " LIKE lower(" + c.Arg(like) + "::text) ESCAPE ''"
	if prefix := literalPrefix(m.Pattern); m.Mode == "startswith" && col.Type.IsText() && prefix != "" && x.d.utf8 {
		// The same prefix as a byte-wise range, which the
		// text_pattern_ops index on lower(primary name) serves even in a
		// generic plan (a LIKE with a parameter it cannot): every string
		// that starts with the prefix sorts between the prefix and the
		// prefix followed by the highest code point.
		a := c.Arg(prefix)
		cond += " AND " + lhs + " ~>=~ lower(" + a + "::text) AND " + lhs + " ~<~ (lower(" + a + "::text) || chr(1114111))"
	}
	return cond
}

// literalPrefix is the part of a LIKE pattern before its first wildcard.
func literalPrefix(p string) string {
	if i := strings.IndexAny(p, "%_"); i >= 0 {
		return p[:i]
	}
	return p
}
