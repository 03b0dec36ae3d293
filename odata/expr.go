package odata

import (
	"encoding/json"
	"math/big"
	"strconv"
	"strings"
	"time"
)

// Expr is a node of a parsed $filter or $orderby expression (OData Version
// 4.0 Part 2 §5.1.1). The set of node types is closed: *Binary, *Not, *Prop,
// *Lit, *Call, *CRMFunc and *Lambda.
//
// String returns the expression in canonical OData syntax with every binary
// and not operation parenthesised, e.g. ((name eq 'x') and (revenue gt 5)).
// Parsing that text again yields an expression with the same String.
type Expr interface {
	// Pos is the offset (in characters) of the node in the text it was
	// parsed from; for a node substituted from a parameter alias, the
	// offset within the alias value.
	Pos() int
	String() string
	isExpr()
}

// BinaryOp is a logical or comparison operator (OData Part 2 §5.1.1.1–2).
// Arithmetic operators, has and in are not supported by Dataverse and are
// not parsed.
type BinaryOp string

// Binary operators.
const (
	OpEq  BinaryOp = "eq"
	OpNe  BinaryOp = "ne"
	OpGt  BinaryOp = "gt"
	OpGe  BinaryOp = "ge"
	OpLt  BinaryOp = "lt"
	OpLe  BinaryOp = "le"
	OpAnd BinaryOp = "and"
	OpOr  BinaryOp = "or"
)

// IsComparison reports whether op is eq, ne, gt, ge, lt or le.
func (op BinaryOp) IsComparison() bool { return op != OpAnd && op != OpOr }

// Binary is Left Op Right. Offset is that of the operator keyword.
type Binary struct {
	Op          BinaryOp
	Left, Right Expr
	Offset      int
}

// Not is the logical negation "not X" (OData Part 2 §5.1.1.2.3). As in ODL,
// not binds tighter than comparisons: "not a eq b" is (not a) eq b.
type Not struct {
	X      Expr
	Offset int
}

// Prop is a property path (OData Part 2 §4.7, §5.1.1.14): a structural or
// lookup property (name, _parentcustomerid_value), a path through
// single-valued navigation properties or complex values
// (primarycontactid/fullname, CanCreateAttributes/Value), possibly with
// qualified type-cast segments (Microsoft.Dynamics.CRM.account). Inside a
// lambda, a path may start at the lambda's range variable: Var is then that
// variable and Path the segments after it (empty for the variable itself).
type Prop struct {
	Var    string
	Path   []string
	Offset int
}

// Call is a built-in OData function call (OData Part 2 §5.1.1.4–7) such as
// contains(name,'a'), startswith, endswith, tolower, toupper, trim. Name is
// one of the canonical function names; the arity has been checked, the
// argument types have not.
type Call struct {
	Name   string
	Args   []Expr
	Offset int
}

// CRMFunc is a Dataverse query function,
// Microsoft.Dynamics.CRM.<Name>(PropertyName='x',PropertyValue='y')
// (reference dataverse.md §4.9): In, NotIn, Between, LastXDays, EqualUserId
// and so on. Name is unqualified ("In"); which names and parameters are
// supported is the consumer's decision.
type CRMFunc struct {
	Name   string
	Params []Param
	Offset int
}

// Param is a named parameter of a CRMFunc.
type Param struct {
	Name  string
	Value Expr
}

// Param returns the value of the named parameter.
func (f *CRMFunc) Param(name string) (Expr, bool) {
	for _, p := range f.Params {
		if p.Name == name {
			return p.Value, true
		}
	}
	return nil, false
}

// Lambda is Source/any(Var:Body) or Source/all(Var:Body) (OData Part 2
// §5.1.1.10), e.g. Account_Tasks/any(t:t/statecode eq 1). For "any()"
// without a predicate, Var is "" and Body is nil. Offset is that of the
// any/all keyword.
type Lambda struct {
	Source *Prop
	Any    bool
	Var    string
	Body   Expr
	Offset int
}

// LitKind says which kind of value a Lit holds.
type LitKind uint8

// Literal kinds and the Go type of Lit.Value for each.
const (
	LitNull           LitKind = iota // nil
	LitBool                          // bool
	LitInt                           // int64
	LitDecimal                       // string: exact digits as written ("1.50", "-3"); see Lit.Float
	LitDouble                        // float64 (exponent or d/f suffix)
	LitString                        // string, unescaped
	LitGUID                          // string, canonical lowercase 8-4-4-4-12
	LitDate                          // time.Time, midnight UTC
	LitDateTimeOffset                // time.Time with the literal's offset
	LitEnum                          // string member name(s) as written; Type is the enum type
	LitArray                         // []*Lit, from a JSON array such as ["a","b"] or [1,2]
)

var litKindNames = [...]string{"null", "bool", "int", "decimal", "double", "string", "guid", "date", "datetimeoffset", "enum", "array"}

// String returns the kind's name, e.g. "guid".
func (k LitKind) String() string {
	if int(k) < len(litKindNames) {
		return litKindNames[k]
	}
	return "LitKind(" + strconv.Itoa(int(k)) + ")"
}

// Lit is a literal value (OData Part 2 §5.1.1.6.1 primitive literals, plus
// the JSON arrays Dataverse takes in PropertyValues=[...]).
//
// Number literals without a suffix are typed by form, not by ODL's
// Int32/Single guess, since the consumer converts them to the column type
// anyway: digits only → LitInt (LitDecimal beyond int64), with a fraction →
// LitDecimal, with an exponent → LitDouble. Suffixes M, L, D and F force
// decimal, int, double and double.
type Lit struct {
	Kind   LitKind
	Value  any
	Type   string // LitEnum: qualified enum type name, e.g. Microsoft.Dynamics.CRM.OwnershipTypes
	Raw    string // the literal as written
	Offset int
}

// Float returns the value of a numeric literal (int, decimal, double) as a
// float64, and false for other kinds.
func (e *Lit) Float() (float64, bool) {
	switch v := e.Value.(type) {
	case int64:
		if e.Kind == LitInt {
			return float64(v), true
		}
	case float64:
		if e.Kind == LitDouble {
			return v, true
		}
	case string:
		if e.Kind == LitDecimal {
			f, err := strconv.ParseFloat(v, 64)
			return f, err == nil
		}
	}
	return 0, false
}

// Rat returns the exact value of an int or decimal literal.
func (e *Lit) Rat() (*big.Rat, bool) {
	switch e.Kind {
	case LitInt:
		if v, ok := e.Value.(int64); ok {
			return new(big.Rat).SetInt64(v), true
		}
	case LitDecimal:
		if v, ok := e.Value.(string); ok {
			return new(big.Rat).SetString(v)
		}
	}
	return nil, false
}

func (*Binary) isExpr()  {}
func (*Not) isExpr()     {}
func (*Prop) isExpr()    {}
func (*Call) isExpr()    {}
func (*CRMFunc) isExpr() {}
func (*Lambda) isExpr()  {}
func (*Lit) isExpr()     {}

// Pos implements Expr.
func (e *Binary) Pos() int { return e.Offset }

// Pos implements Expr.
func (e *Not) Pos() int { return e.Offset }

// Pos implements Expr.
func (e *Prop) Pos() int { return e.Offset }

// Pos implements Expr.
func (e *Call) Pos() int { return e.Offset }

// Pos implements Expr.
func (e *CRMFunc) Pos() int { return e.Offset }

// Pos implements Expr.
func (e *Lambda) Pos() int { return e.Offset }

// Pos implements Expr.
func (e *Lit) Pos() int { return e.Offset }

// String implements Expr.
func (e *Binary) String() string {
	return "(" + e.Left.String() + " " + string(e.Op) + " " + e.Right.String() + ")"
}

// String implements Expr.
func (e *Not) String() string { return "(not " + e.X.String() + ")" }

// String implements Expr.
func (e *Prop) String() string {
	parts := e.Path
	if e.Var != "" {
		parts = append([]string{e.Var}, e.Path...)
	}
	return strings.Join(parts, "/")
}

// Name returns the path segments joined with "/" (without the range
// variable).
func (e *Prop) Name() string { return strings.Join(e.Path, "/") }

// String implements Expr.
func (e *Call) String() string {
	var b strings.Builder
	b.WriteString(e.Name)
	b.WriteByte('(')
	for i, a := range e.Args {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(a.String())
	}
	b.WriteByte(')')
	return b.String()
}

// CRMNamespace is the namespace of Dataverse's query functions, bound
// operations and types.
const CRMNamespace = "Microsoft.Dynamics.CRM"

// String implements Expr.
func (e *CRMFunc) String() string {
	var b strings.Builder
	b.WriteString(CRMNamespace + ".")
	b.WriteString(e.Name)
	b.WriteByte('(')
	for i, p := range e.Params {
		if i > 0 {
			b.WriteByte(',')
		}
		b.WriteString(p.Name)
		b.WriteByte('=')
		b.WriteString(p.Value.String())
	}
	b.WriteByte(')')
	return b.String()
}

// String implements Expr.
func (e *Lambda) String() string {
	op := "/all("
	if e.Any {
		op = "/any("
	}
	if e.Body == nil {
		return e.Source.String() + op + ")"
	}
	return e.Source.String() + op + e.Var + ":" + e.Body.String() + ")"
}

// String implements Expr: the literal in canonical OData syntax.
func (e *Lit) String() string {
	switch v := e.Value.(type) {
	case nil:
		return "null"
	case bool:
		return strconv.FormatBool(v)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'E', -1, 64)
	case string:
		switch e.Kind {
		case LitDecimal:
			if !strings.ContainsRune(v, '.') {
				return v + "M"
			}
			return v
		case LitGUID:
			return v
		case LitEnum:
			return e.Type + "'" + strings.ReplaceAll(v, "'", "''") + "'"
		}
		return "'" + strings.ReplaceAll(v, "'", "''") + "'"
	case time.Time:
		if e.Kind == LitDate {
			return v.Format("2006-01-02")
		}
		return v.Format("2006-01-02T15:04:05.999999999Z07:00")
	case []*Lit:
		var b strings.Builder
		b.WriteByte('[')
		for i, x := range v {
			if i > 0 {
				b.WriteByte(',')
			}
			b.WriteString(x.jsonString())
		}
		b.WriteByte(']')
		return b.String()
	}
	return "null"
}

// jsonString writes an array element as JSON.
func (e *Lit) jsonString() string {
	switch v := e.Value.(type) {
	case string:
		if e.Kind == LitDecimal {
			return v
		}
		b, _ := json.Marshal(v)
		return string(b)
	case float64:
		return strconv.FormatFloat(v, 'E', -1, 64)
	}
	return e.String()
}
