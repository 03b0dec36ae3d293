package odata

import (
	"strings"
)

// The $filter and $orderby expression parser: OData Version 4.0 Part 2
// §5.1.1 (built-in operators and functions, lambda operators, parameter
// aliases), restricted to what Dataverse supports (reference dataverse.md
// §4.9). Its structure follows ODL's UriQueryExpressionParser so that error
// positions match:
//
//	expr       = or
//	or         = and *( "or" and )
//	and        = comparison *( "and" comparison )
//	comparison = unary *( ("eq"/"ne"/"gt"/"ge"/"lt"/"le") unary )
//	unary      = "not" unary / ["-"] primary
//	primary    = primaryStart *( "/" ( identifier / "any(" ... ")" / "all(" ... ")" ) )
//
// Arithmetic operators (add, sub, mul, div, mod, negation of non-literals),
// has, in, $it, $root and $count are not supported by Dataverse and are
// syntax errors here.

// budget counts what one query may contain.
type budget struct {
	conditions int
	nodes      int
	expands    int
}

func (b *budget) node() error {
	b.nodes++
	if b.nodes > MaxNodes {
		return errTooManyConditions()
	}
	return nil
}

// addConditions counts the conditions of a parsed filter.
func (b *budget) addConditions(e Expr) error {
	b.conditions += countConditions(e)
	if b.conditions > MaxConditions {
		return errTooManyConditions()
	}
	return nil
}

// countConditions counts the conditions of e as Dataverse's FetchXML
// translation would: each comparison, function call, query function, lambda
// and bare boolean property in a boolean position is one condition, and a
// lambda's predicate counts too.
func countConditions(e Expr) int {
	switch e := e.(type) {
	case *Binary:
		if e.Op.IsComparison() {
			return 1 + nestedConditions(e.Left) + nestedConditions(e.Right)
		}
		return countConditions(e.Left) + countConditions(e.Right)
	case *Not:
		return countConditions(e.X)
	case *Call, *CRMFunc, *Prop:
		return 1
	case *Lambda:
		if e.Body == nil {
			return 1
		}
		return 1 + countConditions(e.Body)
	}
	return 0
}

// nestedConditions counts the conditions inside an operand of a comparison:
// only a lambda has any.
func nestedConditions(e Expr) int {
	if l, ok := e.(*Lambda); ok {
		return countConditions(l)
	}
	return 0
}

type parser struct {
	lex     *lexer
	aliases map[string]string // alias values; a missing alias is null
	noAlias bool              // aliases are an error (inside $expand)
	active  map[string]bool   // aliases being expanded, against cycles
	vars    []string          // lambda range variables in scope
	depth   int
	budget  *budget
}

func newParser(text string, aliases map[string]string, b *budget) *parser {
	if b == nil {
		b = &budget{}
	}
	return &parser{lex: newLexer(text), aliases: aliases, active: map[string]bool{}, budget: b}
}

// ParseFilter parses a $filter expression (OData Part 2 §5.1.1) given as the
// decoded option value. Parameter aliases in it are unassigned and so null;
// use ParseQuery to substitute them.
func ParseFilter(filter string) (Expr, error) {
	p := newParser(filter, nil, nil)
	e, err := p.parseFilter()
	if err != nil {
		return nil, err
	}
	if err := p.budget.addConditions(e); err != nil {
		return nil, err
	}
	return e, nil
}

// ParseOrderBy parses an $orderby value (OData Part 2 §5.1.4): a
// comma-separated list of expressions, each optionally followed by asc or
// desc.
func ParseOrderBy(orderby string) ([]OrderBy, error) {
	p := newParser(orderby, nil, nil)
	return p.parseOrderBy()
}

// OrderBy is one item of $orderby (OData Part 2 §5.1.4).
type OrderBy struct {
	Expr Expr
	Desc bool
}

// String returns the item in OData syntax, e.g. "createdon desc".
func (o OrderBy) String() string {
	if o.Desc {
		return o.Expr.String() + " desc"
	}
	return o.Expr.String() + " asc"
}

func (p *parser) parseFilter() (Expr, error) {
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	e, err := p.parseExpression()
	if err != nil {
		return nil, err
	}
	if err := p.expectEnd(); err != nil {
		return nil, err
	}
	return e, nil
}

func (p *parser) parseOrderBy() ([]OrderBy, error) {
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	var out []OrderBy
	for {
		e, err := p.parseExpression()
		if err != nil {
			return nil, err
		}
		item := OrderBy{Expr: e}
		if p.isKeyword("asc") {
			if err := p.lex.next(); err != nil {
				return nil, err
			}
		} else if p.isKeyword("desc") {
			item.Desc = true
			if err := p.lex.next(); err != nil {
				return nil, err
			}
		}
		out = append(out, item)
		if p.lex.tok.kind != tkComma {
			break
		}
		if err := p.lex.next(); err != nil {
			return nil, err
		}
	}
	if err := p.expectEnd(); err != nil {
		return nil, err
	}
	return out, nil
}

// expectEnd is ODL's ValidateToken(End): the position reported is the
// lexer's, just after the offending token.
func (p *parser) expectEnd() error {
	if p.lex.tok.kind != tkEnd {
		return errSyntaxAt(p.lex.pos, p.lex.text)
	}
	return nil
}

func (p *parser) isKeyword(word string) bool {
	t := p.lex.tok
	if t.kind != tkIdent || t.end-t.pos != len(word) {
		return false
	}
	for i := 0; i < len(word); i++ {
		if p.lex.src[t.pos+i] != rune(word[i]) {
			return false
		}
	}
	return true
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return errTooDeep()
	}
	return nil
}

func (p *parser) leave() { p.depth-- }

func (p *parser) parseExpression() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	return p.parseOr()
}

func (p *parser) parseOr() (Expr, error) {
	left, err := p.parseAnd()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("or") {
		pos := p.lex.tok.pos
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		right, err := p.parseAnd()
		if err != nil {
			return nil, err
		}
		if left, err = p.binary(OpOr, left, right, pos); err != nil {
			return nil, err
		}
	}
	return left, nil
}

func (p *parser) parseAnd() (Expr, error) {
	left, err := p.parseComparison()
	if err != nil {
		return nil, err
	}
	for p.isKeyword("and") {
		pos := p.lex.tok.pos
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		right, err := p.parseComparison()
		if err != nil {
			return nil, err
		}
		if left, err = p.binary(OpAnd, left, right, pos); err != nil {
			return nil, err
		}
	}
	return left, nil
}

var comparisonOps = map[string]BinaryOp{"eq": OpEq, "ne": OpNe, "gt": OpGt, "ge": OpGe, "lt": OpLt, "le": OpLe}

func (p *parser) comparisonOp() (BinaryOp, bool) {
	if p.lex.tok.kind != tkIdent || p.lex.tok.end-p.lex.tok.pos != 2 {
		return "", false
	}
	op, ok := comparisonOps[p.lex.tokText(p.lex.tok)]
	return op, ok
}

func (p *parser) parseComparison() (Expr, error) {
	left, err := p.parseUnary()
	if err != nil {
		return nil, err
	}
	for {
		op, ok := p.comparisonOp()
		if !ok {
			return left, nil
		}
		pos := p.lex.tok.pos
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		right, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if left, err = p.binary(op, left, right, pos); err != nil {
			return nil, err
		}
	}
}

func (p *parser) binary(op BinaryOp, l, r Expr, pos int) (Expr, error) {
	if err := p.budget.node(); err != nil {
		return nil, err
	}
	return &Binary{Op: op, Left: l, Right: r, Offset: pos}, nil
}

func (p *parser) parseUnary() (Expr, error) {
	if p.isKeyword("not") {
		if err := p.enter(); err != nil {
			return nil, err
		}
		defer p.leave()
		pos := p.lex.tok.pos
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		x, err := p.parseUnary()
		if err != nil {
			return nil, err
		}
		if err := p.budget.node(); err != nil {
			return nil, err
		}
		return &Not{X: x, Offset: pos}, nil
	}
	if p.lex.tok.kind == tkMinus {
		// ODL folds "- 5" into the literal -5; negating anything else
		// is arithmetic, which Dataverse does not support.
		minus := p.lex.tok
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		if p.lex.tok.kind != tkNumber || p.lex.src[p.lex.tok.pos] == '-' {
			return nil, errExpressionExpected(minus.pos, p.lex.text)
		}
		t := p.lex.tok
		raw := "-" + p.lex.tokText(t)
		t.pos = minus.pos
		lit, err := numberLit(t, raw, p.lex.text)
		if err != nil {
			return nil, err
		}
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		if err := p.budget.node(); err != nil {
			return nil, err
		}
		return p.parsePrimaryRest(lit)
	}
	return p.parsePrimary()
}

func (p *parser) isVar(name string) bool {
	for _, v := range p.vars {
		if v == name {
			return true
		}
	}
	return false
}

// identifier returns the text of the current token, which must be an
// identifier (ODL ExpressionToken.GetIdentifier).
func (p *parser) identifier() (string, error) {
	if p.lex.tok.kind != tkIdent {
		return "", errIdentifierExpected(p.lex.tok.pos)
	}
	return p.lex.tokText(p.lex.tok), nil
}

func (p *parser) parsePrimary() (Expr, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	next, err := p.lex.peek()
	if err != nil {
		return nil, err
	}
	var e Expr
	if next.kind == tkSlash {
		name, err := p.identifier()
		if err != nil {
			return nil, err
		}
		prop := &Prop{Offset: p.lex.tok.pos}
		if p.isVar(name) {
			prop.Var = name
		} else {
			prop.Path = []string{name}
		}
		if err := p.budget.node(); err != nil {
			return nil, err
		}
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		e = prop
	} else if e, err = p.parsePrimaryStart(); err != nil {
		return nil, err
	}
	return p.parsePrimaryRest(e)
}

// parsePrimaryRest parses the "/segment" continuations of a primary.
func (p *parser) parsePrimaryRest(e Expr) (Expr, error) {
	for p.lex.tok.kind == tkSlash {
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		src, isProp := e.(*Prop)
		if !isProp {
			// ODL would try a bound function or member of a non-path
			// value; Dataverse supports neither.
			return nil, errSyntaxAt(p.lex.pos, p.lex.text)
		}
		if p.isKeyword("any") || p.isKeyword("all") {
			lam, err := p.parseLambda(src)
			if err != nil {
				return nil, err
			}
			e = lam
			continue
		}
		next, err := p.lex.peek()
		if err != nil {
			return nil, err
		}
		var seg string
		if next.kind == tkSlash {
			if seg, err = p.identifier(); err != nil {
				return nil, err
			}
			if err := p.lex.next(); err != nil {
				return nil, err
			}
		} else {
			if _, err := p.identifier(); err != nil {
				return nil, err
			}
			if fn, ok, err := p.tryFunctionName(); err != nil {
				return nil, err
			} else if ok {
				return nil, errUnknownFunction(fn)
			}
			if next.kind == tkDot {
				name, quoted, err := p.readDotted()
				if err != nil {
					return nil, err
				}
				if quoted {
					return nil, errSyntaxAt(p.lex.pos, p.lex.text)
				}
				seg = name
			} else {
				seg = p.lex.tokText(p.lex.tok)
				if err := p.lex.next(); err != nil {
					return nil, err
				}
			}
		}
		// src was built by this parse and is not shared: extend it.
		src.Path = append(src.Path, seg)
	}
	return e, nil
}

func (p *parser) parsePrimaryStart() (Expr, error) {
	t := p.lex.tok
	switch t.kind {
	case tkAlias:
		return p.parseAlias()
	case tkIdent:
		return p.parseIdentifier()
	case tkOpenParen:
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		e, err := p.parseExpression()
		if err != nil {
			return nil, err
		}
		if p.lex.tok.kind != tkCloseParen {
			return nil, errCloseParenOrOperator(p.lex.tok.pos, p.lex.text)
		}
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		return e, nil
	case tkQuoted:
		// ODL reads Type'value' without a namespace as a string literal
		// of a custom type and fails: e.g. datetime'2020-01-01'.
		return nil, errUnrecognizedLiteral("Edm.String", p.lex.tokText(t), t.pos, p.lex.text)
	}
	lit, err := p.literal()
	if err != nil {
		return nil, err
	}
	if lit == nil {
		return nil, errExpressionExpected(t.pos, p.lex.text)
	}
	return lit, nil
}

// literal converts the current token to a literal and advances, or returns
// nil if the token is not a literal.
func (p *parser) literal() (*Lit, error) {
	t := p.lex.tok
	raw := p.lex.tokText(t)
	var lit *Lit
	switch t.kind {
	case tkNull:
		lit = &Lit{Kind: LitNull}
	case tkBool:
		lit = &Lit{Kind: LitBool, Value: raw == "true"}
	case tkString:
		lit = &Lit{Kind: LitString, Value: unquote(raw)}
	case tkGuid:
		lit = &Lit{Kind: LitGUID, Value: canonicalGUID(raw)}
	case tkDate:
		d, _ := parseDate(raw)
		lit = &Lit{Kind: LitDate, Value: d}
	case tkDateTimeOffset:
		d, ok := parseDateTimeOffset(raw)
		if !ok {
			return nil, errDateTimeOffsetFormat(raw)
		}
		lit = &Lit{Kind: LitDateTimeOffset, Value: d}
	case tkNumber:
		var err error
		if lit, err = numberLit(t, raw, p.lex.text); err != nil {
			return nil, err
		}
	case tkBracket:
		elems, err := parseJSONArray(raw, t.pos)
		if err != nil {
			return nil, err
		}
		p.budget.nodes += len(elems)
		lit = &Lit{Kind: LitArray, Value: elems}
	default:
		return nil, nil
	}
	lit.Raw, lit.Offset = raw, t.pos
	if err := p.budget.node(); err != nil {
		return nil, err
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	return lit, nil
}

// parseAlias substitutes a parameter alias (OData Part 2 §5.1.1.13.1): its
// value is parsed as an expression in the current scope; an alias without a
// value is null.
func (p *parser) parseAlias() (Expr, error) {
	t := p.lex.tok
	name := p.lex.tokText(t)
	if p.noAlias {
		// Reference §4.9: aliases are not supported inside $expand. The
		// message is ours; Dataverse's is not documented.
		return nil, queryError("Parameter alias '%s' cannot be used inside $expand.", name)
	}
	value, ok := p.aliases[name]
	if !ok {
		if err := p.budget.node(); err != nil {
			return nil, err
		}
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		return &Lit{Kind: LitNull, Raw: name, Offset: t.pos}, nil
	}
	if p.active[name] {
		return nil, queryError("The value of parameter alias '%s' refers to itself.", name)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	sub := &parser{lex: newLexer(value), aliases: p.aliases, active: p.active, vars: p.vars, depth: p.depth, budget: p.budget}
	p.active[name] = true
	e, err := sub.parseFilter()
	delete(p.active, name)
	if err != nil {
		return nil, err
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	return e, nil
}

// tryFunctionName mirrors ODL's ExpandIdentifierAsFunction: a (dotted)
// identifier immediately followed by '(' with no whitespace anywhere is a
// function call. It returns the name without consuming anything.
func (p *parser) tryFunctionName() (string, bool, error) {
	l := p.lex
	pos, tok := l.pos, l.tok
	l.keepSpace = true
	defer func() { l.keepSpace = false; l.pos, l.tok = pos, tok }()
	start := tok.pos
	for {
		t, err := l.peek()
		if err != nil {
			return "", false, nil
		}
		if t.kind == tkOpenParen {
			return string(l.src[start:l.tok.end]), true, nil
		}
		if t.kind != tkDot {
			return "", false, nil
		}
		l.next()
		t, err = l.peek()
		if err != nil || t.kind != tkIdent {
			return "", false, nil
		}
		l.next()
	}
}

// readDotted reads Namespace.Name (ODL ReadDottedIdentifier) starting at
// the current identifier. quoted is true when the last part carried a
// quoted value (an enum literal).
func (p *parser) readDotted() (name string, quoted bool, err error) {
	start, end := p.lex.tok.pos, p.lex.tok.end
	if err := p.lex.next(); err != nil {
		return "", false, err
	}
	for p.lex.tok.kind == tkDot {
		// Our restriction: no whitespace inside a qualified name.
		if quoted || p.lex.tok.pos != end {
			return "", false, errSyntaxAt(p.lex.pos, p.lex.text)
		}
		end = p.lex.tok.end
		if err := p.lex.next(); err != nil {
			return "", false, err
		}
		switch {
		case p.lex.tok.pos != end:
			return "", false, errSyntaxAt(p.lex.pos, p.lex.text)
		case p.lex.tok.kind == tkQuoted:
			quoted = true
		case p.lex.tok.kind != tkIdent:
			return "", false, errSyntaxAt(p.lex.pos, p.lex.text)
		}
		end = p.lex.tok.end
		if err := p.lex.next(); err != nil {
			return "", false, err
		}
	}
	return string(p.lex.src[start:end]), quoted, nil
}

// parseIdentifier parses what starts with an identifier at the root of an
// expression: a function call, an enum literal, a qualified name or a
// property (ODL IdentifierTokenizer.ParseIdentifier).
func (p *parser) parseIdentifier() (Expr, error) {
	start := p.lex.tok.pos
	if name, ok, err := p.tryFunctionName(); err != nil {
		return nil, err
	} else if ok {
		return p.parseCall(name)
	}
	next, err := p.lex.peek()
	if err != nil {
		return nil, err
	}
	if next.kind == tkDot {
		name, quoted, err := p.readDotted()
		if err != nil {
			return nil, err
		}
		if err := p.budget.node(); err != nil {
			return nil, err
		}
		if quoted {
			q := strings.IndexByte(name, '\'')
			return &Lit{Kind: LitEnum, Type: name[:q], Value: unquote(name[q:]), Raw: name, Offset: start}, nil
		}
		return &Prop{Path: []string{name}, Offset: start}, nil
	}
	name := p.lex.tokText(p.lex.tok)
	if err := p.budget.node(); err != nil {
		return nil, err
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	if p.isVar(name) {
		return &Prop{Var: name, Offset: start}, nil
	}
	return &Prop{Path: []string{name}, Offset: start}, nil
}

// canonicalFunctions are the built-in functions of OData Part 2
// §5.1.1.4–5.1.1.8 whose arguments are ordinary expressions, with their
// arities. cast, isof and the geo functions take type names or geography
// literals and are not supported.
var canonicalFunctions = map[string][2]int{
	"contains": {2, 2}, "endswith": {2, 2}, "startswith": {2, 2},
	"length": {1, 1}, "indexof": {2, 2}, "substring": {2, 3},
	"tolower": {1, 1}, "toupper": {1, 1}, "trim": {1, 1}, "concat": {2, 2},
	"year": {1, 1}, "month": {1, 1}, "day": {1, 1}, "hour": {1, 1},
	"minute": {1, 1}, "second": {1, 1}, "fractionalseconds": {1, 1},
	"date": {1, 1}, "time": {1, 1}, "totaloffsetminutes": {1, 1},
	"totalseconds": {1, 1}, "now": {0, 0}, "mindatetime": {0, 0},
	"maxdatetime": {0, 0}, "round": {1, 1}, "floor": {1, 1}, "ceiling": {1, 1},
}

// parseCall parses name(args) with the lexer on the first identifier of
// name (ODL FunctionCallParser).
func (p *parser) parseCall(name string) (Expr, error) {
	start := p.lex.tok.pos
	// Skip the name's tokens up to '('.
	for p.lex.tok.kind != tkOpenParen {
		if err := p.lex.next(); err != nil {
			return nil, err
		}
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	var named []Param
	var positional []Expr
	if p.lex.tok.kind != tkCloseParen {
		next, err := p.lex.peek()
		if err != nil {
			return nil, err
		}
		if p.lex.tok.kind == tkIdent && next.kind == tkEqual {
			if named, err = p.parseNamedArgs(); err != nil {
				return nil, err
			}
		} else {
			for {
				e, err := p.parseExpression()
				if err != nil {
					return nil, err
				}
				positional = append(positional, e)
				if p.lex.tok.kind != tkComma {
					break
				}
				if err := p.lex.next(); err != nil {
					return nil, err
				}
			}
		}
	}
	if p.lex.tok.kind != tkCloseParen {
		return nil, errCloseParenOrComma(p.lex.tok.pos, p.lex.text)
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	if err := p.budget.node(); err != nil {
		return nil, err
	}
	if fn, ok := strings.CutPrefix(name, CRMNamespace+"."); ok && isIdentifier(fn) {
		if len(positional) > 0 {
			// Our message: Dataverse's query functions take named
			// parameters only.
			return nil, queryError("The parameters of function '%s' must be given as name=value.", name)
		}
		return &CRMFunc{Name: fn, Params: named, Offset: start}, nil
	}
	arity, ok := canonicalFunctions[name]
	if !ok {
		return nil, errUnknownFunction(name)
	}
	if named != nil || len(positional) < arity[0] || len(positional) > arity[1] {
		return nil, queryError("No function signature for the function with name '%s' matches the specified arguments.", name)
	}
	return &Call{Name: name, Args: positional, Offset: start}, nil
}

// parseNamedArgs parses name=value pairs up to ')' (ODL
// TrySplitFunctionParameters).
func (p *parser) parseNamedArgs() ([]Param, error) {
	var out []Param
	seen := map[string]bool{}
	for p.lex.tok.kind != tkCloseParen {
		if p.lex.tok.kind != tkIdent {
			return nil, errSyntaxAt(p.lex.pos, p.lex.text)
		}
		name := p.lex.tokText(p.lex.tok)
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		if p.lex.tok.kind != tkEqual {
			return nil, errSyntaxAt(p.lex.pos, p.lex.text)
		}
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		v, err := p.parseExpression()
		if err != nil {
			return nil, err
		}
		if seen[name] {
			return nil, errDuplicateParameter()
		}
		seen[name] = true
		out = append(out, Param{Name: name, Value: v})
		if p.lex.tok.kind == tkComma {
			if err := p.lex.next(); err != nil {
				return nil, err
			}
			if p.lex.tok.kind == tkCloseParen {
				return nil, errSyntaxAt(p.lex.tok.pos, p.lex.text)
			}
		}
	}
	return out, nil
}

// parseLambda parses any(v:expr) / all(v:expr) after "Source/" (OData Part
// 2 §5.1.1.10; ODL ParseAnyAll).
func (p *parser) parseLambda(src *Prop) (Expr, error) {
	pos := p.lex.tok.pos
	isAny := p.isKeyword("any")
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	if p.lex.tok.kind != tkOpenParen {
		return nil, errOpenParenExpected(p.lex.tok.pos, p.lex.text)
	}
	if err := p.enter(); err != nil {
		return nil, err
	}
	defer p.leave()
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	lam := &Lambda{Source: src, Any: isAny, Offset: pos}
	if err := p.budget.node(); err != nil {
		return nil, err
	}
	if p.lex.tok.kind == tkCloseParen {
		if err := p.lex.next(); err != nil {
			return nil, err
		}
		return lam, nil
	}
	v, err := p.identifier()
	if err != nil {
		return nil, err
	}
	if p.isVar(v) {
		return nil, errRangeVariableDeclared(v)
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	if p.lex.tok.kind != tkColon {
		return nil, errSyntaxAt(p.lex.pos, p.lex.text)
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	p.vars = append(p.vars, v)
	body, err := p.parseExpression()
	p.vars = p.vars[:len(p.vars)-1]
	if err != nil {
		return nil, err
	}
	if p.lex.tok.kind != tkCloseParen {
		return nil, errCloseParenOrComma(p.lex.tok.pos, p.lex.text)
	}
	if err := p.lex.next(); err != nil {
		return nil, err
	}
	lam.Var, lam.Body = v, body
	return lam, nil
}
