// Package sqlcond compiles store conditions (store.Cond) to parameterised
// SQL for the SQL stores: the structure every engine shares — and/or/not,
// null tests, IN lists, and the subqueries of lookups, 1:N children and
// many-to-many links — with what differs between engines (placeholders,
// constants, case-insensitive text, LIKE, table names) left to a Dialect.
// Values only ever travel as bound arguments; identifiers come from the
// schema and are quoted.
package sqlcond

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Dialect is an SQL engine's part of a compiled condition.
type Dialect interface {
	// Name prefixes error messages: "sqlite", "postgres".
	Name() string
	// Placeholder is the SQL of the n-th bound argument (from 1).
	Placeholder(n int) string
	// Bool is the SQL of a constant condition.
	Bool(b bool) string
	// Table is the SQL name of a table.
	Table(name string) string
	// Param binds v, a condition value of column col (typed as in
	// store.Row), and returns its SQL where it is compared with
	// Operand(col, …).
	Param(c *Compiler, col *schema.Column, v any) (string, error)
	// Operand is a column reference as compared with a Param or with
	// another text column (PostgreSQL lower-cases text; SQLite's text
	// columns are NOCASE already).
	Operand(col *schema.Column, ref string) string
	// Band is the SQL of "the integer column ref shares a set bit with v".
	Band(c *Compiler, col *schema.Column, ref string, v any) (string, error)
	// Match is the SQL of the case-insensitive pattern match m on ref,
	// where like is m.Pattern with the wildcards of m.Mode added.
	Match(c *Compiler, col *schema.Column, ref string, m store.Match, like string) string
}

// ErrUnsupported is wrapped by the errors for conditions no engine can
// compile (an unknown operator or condition type).
var ErrUnsupported = errors.New("unsupported condition")

// Compiler compiles the conditions of one statement. Args are its bound
// values, in placeholder order.
type Compiler struct {
	D     Dialect
	Args  []any
	alias int
}

// Arg binds v and returns its placeholder.
func (c *Compiler) Arg(v any) string {
	c.Args = append(c.Args, v)
	return c.D.Placeholder(len(c.Args))
}

// next is a new table alias for a subquery: t1, t2, …
func (c *Compiler) next() string {
	c.alias++
	return "t" + strconv.Itoa(c.alias)
}

func quote(id string) string { return `"` + strings.ReplaceAll(id, `"`, `""`) + `"` }

// Column returns column name of t and its reference through alias.
func (c *Compiler) Column(t *schema.Table, name, alias string) (*schema.Column, string, error) {
	col := t.Column(name)
	if col == nil {
		return nil, "", fmt.Errorf("%s: %s has no column %s", c.D.Name(), t.LogicalName, name)
	}
	return col, alias + "." + quote(col.LogicalName), nil
}

func (c *Compiler) unsupported(format string, a ...any) error {
	return fmt.Errorf("%s: %w: %s", c.D.Name(), ErrUnsupported, fmt.Sprintf(format, a...))
}

var ops = map[string]string{"eq": "=", "ne": "<>", "gt": ">", "ge": ">=", "lt": "<", "le": "<="}

// Cond compiles x, a condition on the rows of t reached through alias.
func (c *Compiler) Cond(x store.Cond, t *schema.Table, alias string) (string, error) {
	switch x := x.(type) {
	case store.Bool:
		return c.D.Bool(bool(x)), nil
	case store.And, store.Or:
		var parts []store.Cond
		sep, empty := " AND ", true
		if a, ok := x.(store.And); ok {
			parts = a
		} else {
			parts, sep, empty = x.(store.Or), " OR ", false
		}
		if len(parts) == 0 {
			return c.D.Bool(empty), nil
		}
		out := make([]string, len(parts))
		for i, p := range parts {
			s, err := c.Cond(p, t, alias)
			if err != nil {
				return "", err
			}
			out[i] = "(" + s + ")"
		}
		return strings.Join(out, sep), nil
	case store.Not:
		s, err := c.Cond(x.C, t, alias)
		if err != nil {
			return "", err
		}
		return "NOT (" + s + ")", nil
	case store.Compare:
		return c.compare(x, t, alias)
	case store.CompareColumns:
		lc, l, err := c.Column(t, x.Left, alias)
		if err != nil {
			return "", err
		}
		rc, r, err := c.Column(t, x.Right, alias)
		if err != nil {
			return "", err
		}
		op, ok := ops[x.Op]
		if !ok {
			return "", c.unsupported("operator %q", x.Op)
		}
		if lc.Type.IsText() && rc.Type.IsText() {
			l, r = c.D.Operand(lc, l), c.D.Operand(rc, r)
		}
		return l + " " + op + " " + r, nil
	case store.Match:
		col, ref, err := c.Column(t, x.Column, alias)
		if err != nil {
			return "", err
		}
		var like string
		switch x.Mode {
		case "contains":
			like = "%" + x.Pattern + "%"
		case "startswith":
			like = x.Pattern + "%"
		case "endswith":
			like = "%" + x.Pattern
		default:
			return "", c.unsupported("match %q", x.Mode)
		}
		return c.D.Match(c, col, ref, x, like), nil
	case store.In:
		col, ref, err := c.Column(t, x.Column, alias)
		if err != nil {
			return "", err
		}
		if len(x.Values) == 0 {
			return c.D.Bool(false), nil
		}
		ph := make([]string, len(x.Values))
		for i, v := range x.Values {
			if ph[i], err = c.D.Param(c, col, v); err != nil {
				return "", err
			}
		}
		return c.D.Operand(col, ref) + " IN (" + strings.Join(ph, ", ") + ")", nil
	case store.Related:
		_, ref, err := c.Column(t, x.Column, alias)
		if err != nil {
			return "", err
		}
		a := c.next()
		where, err := c.sub(x.Where, x.Table, a)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s IN (SELECT %s.%s FROM %s AS %s WHERE %s)", ref, a, quote(x.Table.PrimaryID), c.D.Table(x.Table.LogicalName), a, where), nil
	case store.InQuery:
		col, ref, err := c.Column(t, x.Column, alias)
		if err != nil {
			return "", err
		}
		a := c.next()
		scol, sel, err := c.Column(x.Table, x.Select, a)
		if err != nil {
			return "", err
		}
		if col.Type.IsText() && scol.Type.IsText() {
			ref, sel = c.D.Operand(col, ref), c.D.Operand(scol, sel)
		}
		where, err := c.sub(x.Where, x.Table, a)
		if err != nil {
			return "", err
		}
		return fmt.Sprintf("%s IN (SELECT %s FROM %s AS %s WHERE %s)", ref, sel, c.D.Table(x.Table.LogicalName), a, where), nil
	case store.Children:
		a := c.next()
		if x.Table.Column(x.Column) == nil {
			return "", fmt.Errorf("%s: %s has no column %s", c.D.Name(), x.Table.LogicalName, x.Column)
		}
		where, err := c.sub(x.Where, x.Table, a)
		if err != nil {
			return "", err
		}
		link := fmt.Sprintf("%s.%s = %s.%s", a, quote(x.Column), alias, quote(t.PrimaryID))
		return exists(fmt.Sprintf("%s AS %s", c.D.Table(x.Table.LogicalName), a), link, where, x.All), nil
	case store.Linked:
		i, a := c.next(), c.next()
		where, err := c.sub(x.Where, x.Target, a)
		if err != nil {
			return "", err
		}
		from := fmt.Sprintf("%s AS %s JOIN %s AS %s ON %s.%s = %s.%s", c.D.Table(x.Intersect), i, c.D.Table(x.Target.LogicalName), a,
			a, quote(x.Target.PrimaryID), i, quote(x.OtherCol))
		link := fmt.Sprintf("%s.%s = %s.%s", i, quote(x.ThisCol), alias, quote(t.PrimaryID))
		return exists(from, link, where, x.All), nil
	}
	return "", c.unsupported("%T", x)
}

// compare compiles a comparison with a value: null tests for a nil one
// (any other comparison with null is never true, as in OData).
func (c *Compiler) compare(x store.Compare, t *schema.Table, alias string) (string, error) {
	col, ref, err := c.Column(t, x.Column, alias)
	if err != nil {
		return "", err
	}
	if x.Op == "band" {
		return c.D.Band(c, col, ref, x.Value)
	}
	op, ok := ops[x.Op]
	if !ok {
		return "", c.unsupported("operator %q", x.Op)
	}
	if x.Value == nil {
		switch x.Op {
		case "eq":
			return ref + " IS NULL", nil
		case "ne":
			return ref + " IS NOT NULL", nil
		}
		return c.D.Bool(false), nil
	}
	p, err := c.D.Param(c, col, x.Value)
	if err != nil {
		return "", err
	}
	return c.D.Operand(col, ref) + " " + op + " " + p, nil
}

// sub compiles the condition of a subquery on t (alias a); nil is true.
func (c *Compiler) sub(where store.Cond, t *schema.Table, a string) (string, error) {
	if where == nil {
		return c.D.Bool(true), nil
	}
	return c.Cond(where, t, a)
}

// exists is "some row of from linked to this one satisfies where", or with
// all "no row of from linked to this one fails it".
func exists(from, link, where string, all bool) string {
	if all {
		return fmt.Sprintf("NOT EXISTS (SELECT 1 FROM %s WHERE %s AND NOT (%s))", from, link, where)
	}
	return fmt.Sprintf("EXISTS (SELECT 1 FROM %s WHERE %s AND (%s))", from, link, where)
}
