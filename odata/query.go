package odata

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Query holds the system query options of a request (OData Version 4.0
// Part 2 §5, Dataverse subset: reference dataverse.md §4.9–4.10).
type Query struct {
	// Select lists the $select items in order, without duplicates: simple
	// property names, "*", or slash-separated paths (§5.1.3).
	Select []string
	// Filter is the parsed $filter (§5.1.1), nil when absent.
	Filter Expr
	// OrderBy is the parsed $orderby (§5.1.4).
	OrderBy []OrderBy
	// Top is $top (§5.1.5), nil when absent.
	Top *int
	// Count is $count=true (§5.1.6).
	Count bool
	// Expand lists the $expand items (§5.1.2).
	Expand []Expand
	// SkipToken is the decoded $skiptoken of a nextLink (§5.1.7), kept
	// opaque.
	SkipToken string
	// DeltaToken is the decoded $deltatoken of a change-tracking deltaLink.
	DeltaToken string
	// ID is $id, the entity reference of DELETE .../nav/$ref?$id=...
	// (reference §4.12).
	ID string
	// Apply is the raw $apply (OData Data Aggregation Extension), unparsed.
	Apply string
	// Aliases maps each parameter alias given in the query ("@p1") to its
	// decoded value (§5.1.1.13.1). $filter and $orderby have already been
	// substituted; the Web API resolves function parameters in the path
	// (Fn(P=@p1)) from here. Nil when there are none.
	Aliases map[string]string
}

// Expand is one $expand item (OData Part 2 §5.1.2): a navigation property,
// optionally /$ref, optionally with nested options.
type Expand struct {
	Property string
	// Ref is true for nav/$ref, which returns entity references only.
	// Dataverse allows it on single-valued navigation properties only
	// ("Expand with $ref is only supported on lookup type navigation
	// property.", reference §4.9); that check needs metadata and is the
	// consumer's.
	Ref bool
	// Options holds the nested $select, $filter, $orderby, $top and
	// $expand given in parentheses; nil when there were none.
	Options *Query
}

// queryOption is one name=value pair of the query string.
type queryOption struct {
	name, value string
}

// splitQuery splits a raw query string as ODL does (a copy of ASP.NET's
// HttpValueCollection.FillFromString): '+' means space, pairs are separated
// by '&', the name ends at the first '=', both are percent-decoded and
// trimmed. Pairs without '=' have no name and are ignored.
func splitQuery(raw string) ([]queryOption, error) {
	raw = strings.TrimPrefix(raw, "?")
	raw = strings.ReplaceAll(raw, "+", " ")
	var out []queryOption
	for _, part := range strings.Split(raw, "&") {
		name, value, ok := strings.Cut(part, "=")
		if !ok {
			continue
		}
		name, value = unescape(name), unescape(value)
		if !utf8.ValidString(name) || !utf8.ValidString(value) {
			return nil, errPathSyntax()
		}
		out = append(out, queryOption{strings.TrimSpace(name), strings.TrimSpace(value)})
	}
	return out, nil
}

// unescape decodes %XX sequences leniently, like .NET's
// Uri.UnescapeDataString: a '%' not followed by two hex digits stays as is.
func unescape(s string) string {
	if !strings.Contains(s, "%") {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && i+2 < len(s) && isHex(rune(s[i+1])) && isHex(rune(s[i+2])) {
			v, _ := strconv.ParseUint(s[i+1:i+3], 16, 8)
			b.WriteByte(byte(v))
			i += 2
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// systemOptions are the system query options Dataverse supports (reference
// §4.9, §4.10, §4.12; $deltatoken for change tracking).
var systemOptions = map[string]bool{
	"$select": true, "$filter": true, "$orderby": true, "$top": true,
	"$count": true, "$expand": true, "$skiptoken": true, "$apply": true,
	"$deltatoken": true, "$id": true,
}

// ParseQuery parses the raw (still percent-encoded) query string of a Web
// API request, with or without the leading '?', e.g.
// r.URL.RawQuery. Option names are case-sensitive. Unsupported options
// ($skip, $search, $format), unknown or wrongly cased $-options and options
// given twice are errors; other parameters that are not parameter aliases
// (tag=...) are ignored.
//
// Parameter aliases (@p1=...) are substituted into $filter and $orderby;
// an alias without a value is null; using one inside $expand is an error.
func ParseQuery(rawQuery string) (*Query, error) {
	opts, err := splitQuery(rawQuery)
	if err != nil {
		return nil, err
	}
	var system []queryOption
	seen := map[string]bool{}
	var aliases map[string]string
	for _, o := range opts {
		switch {
		case strings.HasPrefix(o.name, "$"):
			if !systemOptions[o.name] {
				return nil, errNotSupported(o.name)
			}
			if seen[o.name] {
				return nil, errOptionTwice(o.name)
			}
			seen[o.name] = true
			system = append(system, o)
		case strings.HasPrefix(o.name, "@"):
			if _, dup := aliases[o.name]; dup {
				return nil, errOptionTwice(o.name)
			}
			if aliases == nil {
				aliases = map[string]string{}
			}
			aliases[o.name] = o.value
		}
	}
	q := &Query{Aliases: aliases}
	b := &budget{}
	for _, o := range system {
		if err := q.setOption(o.name, o.value, aliases, false, b); err != nil {
			return nil, err
		}
	}
	return q, nil
}

// setOption parses one system query option into q. nested is true inside
// $expand, where aliases are not allowed.
func (q *Query) setOption(name, value string, aliases map[string]string, nested bool, b *budget) error {
	switch name {
	case "$select":
		sel, err := parseSelect(value)
		if err != nil {
			return err
		}
		q.Select = sel
	case "$filter":
		p := newParser(value, aliases, b)
		p.noAlias = nested
		e, err := p.parseFilter()
		if err != nil {
			return err
		}
		if err := b.addConditions(e); err != nil {
			return err
		}
		q.Filter = e
	case "$orderby":
		p := newParser(value, aliases, b)
		p.noAlias = nested
		ob, err := p.parseOrderBy()
		if err != nil {
			return err
		}
		q.OrderBy = ob
	case "$top":
		n, ok := parseNonNegative(value)
		if !ok {
			if nested {
				return errInvalidInnerTop(value)
			}
			return errInvalidTop(value)
		}
		q.Top = &n
	case "$count":
		switch value {
		case "true":
			q.Count = true
		case "false":
			q.Count = false
		default:
			return errInvalidCount(value)
		}
	case "$expand":
		ex, err := parseExpand(value, b)
		if err != nil {
			return err
		}
		q.Expand = ex
	case "$skiptoken":
		q.SkipToken = value
	case "$deltatoken":
		q.DeltaToken = value
	case "$id":
		q.ID = value
	case "$apply":
		q.Apply = value
	}
	return nil
}

// parseNonNegative accepts what .NET's long.TryParse accepts (an optional
// sign and decimal digits) when the value is not negative and fits an int.
func parseNonNegative(s string) (int, bool) {
	digits := strings.TrimPrefix(strings.TrimPrefix(s, "+"), "-")
	if digits == "" || strings.TrimLeft(digits, "0123456789") != "" {
		return 0, false
	}
	v, err := strconv.ParseInt(s, 10, 0)
	if err != nil || v < 0 {
		return 0, false
	}
	return int(v), true
}

// splitTop splits s at each sep that is outside quotes, brackets and
// parentheses.
func splitTop(s string, sep byte) []string {
	var out []string
	depth, start := 0, 0
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'':
			for i++; i < len(s) && s[i] != '\''; i++ {
			}
		case '"':
			for i++; i < len(s) && s[i] != '"'; i++ {
				if s[i] == '\\' {
					i++
				}
			}
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case sep:
			if depth == 0 {
				out = append(out, s[start:i])
				start = i + 1
			}
		}
	}
	return append(out, s[start:])
}

// parseSelect parses $select (OData Part 2 §5.1.3): comma-separated
// property names, "*", qualified names (Namespace.*) or paths of these.
func parseSelect(value string) ([]string, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var out []string
	seen := map[string]bool{}
	for _, item := range splitTop(value, ',') {
		item = strings.TrimSpace(item)
		if !validSelectItem(item) {
			return nil, errTermNotValid(value)
		}
		if !seen[item] {
			seen[item] = true
			out = append(out, item)
		}
	}
	return out, nil
}

func validSelectItem(item string) bool {
	if item == "" {
		return false
	}
	for _, seg := range strings.Split(item, "/") {
		if seg == "*" || isIdentifier(seg) {
			continue
		}
		if ns, ok := strings.CutSuffix(seg, ".*"); ok && isQualifiedName(ns) {
			continue
		}
		if strings.Contains(seg, ".") && isQualifiedName(seg) {
			continue
		}
		return false
	}
	return true
}

// parseExpand parses $expand (OData Part 2 §5.1.2) with Dataverse's nested
// options: $select, $filter, $orderby, $top and $expand separated by ';'
// (reference §4.9). More than MaxExpands items in all is an error.
func parseExpand(value string, b *budget) ([]Expand, error) {
	if strings.TrimSpace(value) == "" {
		return nil, nil
	}
	var out []Expand
	for _, term := range splitTop(value, ',') {
		b.expands++
		if b.expands > MaxExpands {
			return nil, errTooManyExpands()
		}
		ex, err := parseExpandTerm(strings.TrimSpace(term), b)
		if err != nil {
			return nil, err
		}
		out = append(out, ex)
	}
	return out, nil
}

// innerNotSupported are expand options that OData defines but Dataverse
// rejects (join-tables doc: "$skip, $count, $search, and $levels aren't
// supported").
var innerNotSupported = map[string]bool{
	"$skip": true, "$count": true, "$search": true, "$levels": true,
	"$compute": true, "$apply": true,
}

func parseExpandTerm(term string, b *budget) (Expand, error) {
	path, opts := term, ""
	hasOpts := false
	if i := strings.IndexByte(term, '('); i >= 0 {
		if !strings.HasSuffix(term, ")") {
			return Expand{}, errTermNotValid(term)
		}
		path, opts, hasOpts = strings.TrimSpace(term[:i]), term[i+1:len(term)-1], true
	}
	ex := Expand{Property: path}
	if nav, ok := strings.CutSuffix(path, "/$ref"); ok {
		ex.Property, ex.Ref = strings.TrimSpace(nav), true
	}
	if !isIdentifier(ex.Property) || ex.Ref && hasOpts {
		return Expand{}, errTermNotValid(term)
	}
	if !hasOpts {
		return ex, nil
	}
	if strings.TrimSpace(opts) == "" {
		return Expand{}, errMissingExpandOption(ex.Property)
	}
	nested := &Query{}
	seen := map[string]bool{}
	for _, opt := range splitTop(opts, ';') {
		name, value, ok := strings.Cut(opt, "=")
		name = strings.TrimSpace(name)
		if !ok {
			return Expand{}, errTermNotValid(term)
		}
		switch {
		case innerNotSupported[name]:
			// Assumed to match the top-level message.
			return Expand{}, errNotSupported(name)
		case name != "$select" && name != "$filter" && name != "$orderby" && name != "$top" && name != "$expand":
			return Expand{}, errTermNotValid(term)
		case seen[name]:
			return Expand{}, errOptionTwice(name)
		}
		seen[name] = true
		if err := nested.setOption(name, strings.TrimSpace(value), nil, true, b); err != nil {
			return Expand{}, err
		}
	}
	ex.Options = nested
	return ex, nil
}
