package odata

import (
	"strconv"
	"strings"
	"unicode/utf8"
)

// Path is a parsed resource path (OData Version 4.0 Part 2 §4; reference
// dataverse.md §4.1, §4.4, §4.7, §4.12): what follows /api/data/v9.x/. The
// service document is the empty path (no segments).
//
// The parser knows no metadata, so a name is not resolved: "accounts" may
// be an entity set or an unbound function (WhoAmI), "accounts(<guid>)" and
// "EntityDefinitions(LogicalName='account')" are a name with a key, and
// "RetrieveUserPrivileges(UserId=@p1)" a name with parameters. The Web API
// resolves them against its metadata.
type Path struct {
	Segments []Segment
}

// SegmentKind says what a path segment is.
type SegmentKind uint8

// Segment kinds.
const (
	// SegmentName is an entity set, singleton, navigation or structural
	// property, function or action (unqualified, like WhoAmI, or bound and
	// qualified, like Microsoft.Dynamics.CRM.AddPrivilegesRole), or a type
	// cast (Microsoft.Dynamics.CRM.PicklistAttributeMetadata), with
	// optional parentheses holding a key or parameters (§4.3, §4.5).
	SegmentName      SegmentKind = iota + 1
	SegmentMetadata              // $metadata (§4.1); only ever the only segment
	SegmentBatch                 // $batch (§4.1); only ever the only segment
	SegmentRef                   // $ref (§4.4); always last
	SegmentCount                 // $count (§4.8); always last
	SegmentValue                 // $value (§4.6); always last
	SegmentContentID             // $1: a Content-ID reference inside a $batch change set; only first
)

var segmentKindNames = [...]string{"", "name", "$metadata", "$batch", "$ref", "$count", "$value", "content-id"}

// String returns a short name of the kind.
func (k SegmentKind) String() string {
	if int(k) < len(segmentKindNames) && k > 0 {
		return segmentKindNames[k]
	}
	return "SegmentKind(" + strconv.Itoa(int(k)) + ")"
}

// Segment is one segment of a Path.
type Segment struct {
	Kind SegmentKind
	// Namespace is the namespace of a qualified SegmentName, e.g.
	// "Microsoft.Dynamics.CRM"; empty for a simple name.
	Namespace string
	// Name is the (unqualified) identifier of a SegmentName, or the
	// Content-ID of a SegmentContentID ("1" for $1).
	Name string
	// Parens is true when parentheses followed the name: WhoAmI() as
	// opposed to WhoAmI.
	Parens bool
	// Args are the key values or function parameters in the parentheses.
	Args []Arg
	// Text is the decoded segment as written, for error messages.
	Text string
}

// Arg is a key value or function parameter in a path segment
// (OData Part 2 §4.3.1 keyPredicate, §4.5.1 functionParameters).
type Arg struct {
	// Name is the key property or parameter name; empty for the single
	// value of accounts(<guid>).
	Name string
	// Value is the literal; nil when Alias is set.
	Value *Lit
	// Alias is a parameter alias such as "@p1"; look its value up in
	// Query.Aliases.
	Alias string
}

// QualifiedName returns Namespace.Name, or Name when there is no namespace.
func (s *Segment) QualifiedName() string {
	if s.Namespace == "" {
		return s.Name
	}
	return s.Namespace + "." + s.Name
}

// Arg returns the argument with the given name.
func (s *Segment) Arg(name string) (Arg, bool) {
	for _, a := range s.Args {
		if a.Name == name {
			return a, true
		}
	}
	return Arg{}, false
}

// String returns the segment in canonical (decoded) form.
func (s *Segment) String() string {
	switch s.Kind {
	case SegmentName:
		if !s.Parens {
			return s.QualifiedName()
		}
		var b strings.Builder
		b.WriteString(s.QualifiedName())
		b.WriteByte('(')
		for i, a := range s.Args {
			if i > 0 {
				b.WriteByte(',')
			}
			if a.Name != "" {
				b.WriteString(a.Name)
				b.WriteByte('=')
			}
			if a.Alias != "" {
				b.WriteString(a.Alias)
			} else {
				b.WriteString(a.Value.String())
			}
		}
		b.WriteByte(')')
		return b.String()
	case SegmentContentID:
		return "$" + s.Name
	}
	return s.Kind.String()
}

// String returns the path in canonical decoded form, e.g.
// "accounts(00000000-0000-0000-0000-000000000001)/Account_Tasks/$ref".
func (p *Path) String() string {
	parts := make([]string, len(p.Segments))
	for i := range p.Segments {
		parts[i] = p.Segments[i].String()
	}
	return strings.Join(parts, "/")
}

// ParsePath parses the resource path that follows /api/data/v9.x/, given
// still percent-encoded, e.g. strings.TrimPrefix(r.URL.EscapedPath(),
// "/api/data/v9.2/"). Taking the encoded path matters: an encoded slash
// (%2F) or parenthesis inside a key value is data, not structure. A leading
// and a trailing '/' are ignored.
//
// Unknown path forms are 404 "Resource not found for the segment '…'.";
// malformed keys and parameters are 400 "Bad Request - Error in query
// syntax.".
func ParsePath(p string) (*Path, error) {
	p = strings.TrimPrefix(p, "/")
	p = strings.TrimSuffix(p, "/")
	path := &Path{}
	if p == "" {
		return path, nil
	}
	raw, err := splitPath(p)
	if err != nil {
		return nil, err
	}
	if len(raw) > MaxPathSegments {
		return nil, queryError("Too many segments in URI.")
	}
	for i, text := range raw {
		seg, err := parseSegment(text, i == 0)
		if err != nil {
			return nil, err
		}
		path.Segments = append(path.Segments, seg)
	}
	return path, path.validate()
}

// splitPath splits the encoded path at each '/' that is outside quotes and
// parentheses and decodes each segment. Quotes and parentheses count
// whether written plainly or percent-encoded; an encoded slash never
// separates segments.
func splitPath(p string) ([]string, error) {
	var segs []string
	var cur []byte
	depth, inQuote := 0, false
	for i := 0; i < len(p); i++ {
		c, escaped := p[i], false
		if c == '%' && i+2 < len(p) && isHex(rune(p[i+1])) && isHex(rune(p[i+2])) {
			v, _ := strconv.ParseUint(p[i+1:i+3], 16, 8)
			c, escaped = byte(v), true
			i += 2
		}
		switch {
		case c == '\'':
			inQuote = !inQuote
		case inQuote:
		case c == '(':
			depth++
		case c == ')':
			depth--
		case c == '/' && !escaped && depth <= 0:
			segs = append(segs, string(cur))
			cur = cur[:0]
			continue
		}
		cur = append(cur, c)
	}
	segs = append(segs, string(cur))
	for _, s := range segs {
		if !utf8.ValidString(s) {
			return nil, errPathSyntax()
		}
	}
	return segs, nil
}

var dollarSegments = map[string]SegmentKind{
	"$metadata": SegmentMetadata, "$batch": SegmentBatch, "$ref": SegmentRef,
	"$count": SegmentCount, "$value": SegmentValue,
}

func parseSegment(text string, first bool) (Segment, error) {
	seg := Segment{Text: text}
	name, args := text, ""
	if i := strings.IndexByte(text, '('); i >= 0 {
		if !strings.HasSuffix(text, ")") {
			return seg, errPathSyntax()
		}
		name, args, seg.Parens = text[:i], text[i+1:len(text)-1], true
	}
	if name == "" {
		if seg.Parens {
			return seg, errPathSyntax()
		}
		// ODL: an empty segment (a//b) is a 404.
		return seg, &Error{Status: 404, Code: CodeResourceNotFound, Message: "Empty segment encountered in request URL. Please make sure that a valid request URL is specified."}
	}
	if strings.HasPrefix(name, "$") {
		if seg.Parens {
			return seg, errPathSyntax()
		}
		if k, ok := dollarSegments[name]; ok {
			seg.Kind = k
			return seg, nil
		}
		if id := name[1:]; first && id != "" && strings.Trim(id, "0123456789") == "" {
			seg.Kind, seg.Name = SegmentContentID, id
			return seg, nil
		}
		return seg, errResourceNotFound(name)
	}
	seg.Kind = SegmentName
	if i := strings.LastIndexByte(name, '.'); i >= 0 {
		seg.Namespace, seg.Name = name[:i], name[i+1:]
		if !isQualifiedName(seg.Namespace) || !isIdentifier(seg.Name) {
			return seg, errResourceNotFound(name)
		}
	} else {
		seg.Name = name
		if !isIdentifier(name) {
			return seg, errResourceNotFound(name)
		}
	}
	if seg.Parens {
		a, err := parseSegmentArgs(args)
		if err != nil {
			return seg, err
		}
		seg.Args = a
	}
	return seg, nil
}

// parseSegmentArgs parses a key predicate or function parameters: a single
// value, or name=value pairs, where a value is a primitive literal, an enum
// literal, a JSON array or a parameter alias.
func parseSegmentArgs(text string) ([]Arg, error) {
	if isGUID(text) { // accounts(<guid>), the common case, without the lexer
		return []Arg{{Value: &Lit{Kind: LitGUID, Value: canonicalGUID(text), Raw: text}}}, nil
	}
	return parseArgs(text)
}

// parseArgs is parseSegmentArgs through the lexer and the literal parser.
func parseArgs(text string) ([]Arg, error) {
	l := newLexer(text)
	l.semicolon = false
	if err := l.next(); err != nil {
		return nil, errPathSyntax()
	}
	var out []Arg
	positional := 0
	seen := map[string]bool{}
	for l.tok.kind != tkEnd {
		var a Arg
		next, err := l.peek()
		if err != nil {
			return nil, errPathSyntax()
		}
		if l.tok.kind == tkIdent && next.kind == tkEqual {
			a.Name = l.tokText(l.tok)
			if seen[a.Name] {
				return nil, errDuplicateParameter()
			}
			seen[a.Name] = true
			if l.next() != nil || l.next() != nil {
				return nil, errPathSyntax()
			}
		} else {
			positional++
		}
		if l.tok.kind == tkAlias {
			a.Alias = l.tokText(l.tok)
			if l.next() != nil {
				return nil, errPathSyntax()
			}
		} else {
			// Literals are parsed as in $filter; any expression that
			// is not a literal is a syntax error here.
			p := &parser{lex: l, active: map[string]bool{}, budget: &budget{}}
			e, err := p.parseUnary()
			lit, ok := e.(*Lit)
			if err != nil || !ok {
				return nil, errPathSyntax()
			}
			a.Value = lit
		}
		out = append(out, a)
		switch l.tok.kind {
		case tkComma:
			if l.next() != nil || l.tok.kind == tkEnd {
				return nil, errPathSyntax()
			}
		case tkEnd:
		default:
			return nil, errPathSyntax()
		}
	}
	if positional > 0 && len(out) > 1 {
		if positional == len(out) {
			return nil, queryError("Segments with multiple key values must specify them in 'name=value' form.")
		}
		return nil, errPathSyntax()
	}
	return out, nil
}

// validate applies the structural rules of OData Part 2 §4 that need no
// metadata.
func (p *Path) validate() error {
	n := len(p.Segments)
	for i, s := range p.Segments {
		switch s.Kind {
		case SegmentMetadata, SegmentBatch:
			if n > 1 {
				if i == 0 {
					return errMustBeLast(s.Text)
				}
				return errResourceNotFound(s.Text)
			}
		case SegmentRef, SegmentCount, SegmentValue:
			if i == 0 {
				switch s.Kind {
				case SegmentRef:
					return queryError("The request URI is not valid, the segment $ref cannot be applied to the root of the service.")
				case SegmentCount:
					return queryError("The request URI is not valid, the segment $count cannot be applied to the root of the service.")
				}
				return errResourceNotFound(s.Text)
			}
			if i != n-1 {
				return errMustBeLast(s.Text)
			}
		}
	}
	return nil
}

func errMustBeLast(seg string) *Error {
	return queryError("The request URI is not valid. The segment '%s' must be the last segment in the URI because it is one of the following: $ref, $batch, $count, $value, $metadata, a named media resource, an action, a noncomposable function, an action import, a noncomposable function import, an operation with void return type, or an operation import with void return type.", seg)
}
