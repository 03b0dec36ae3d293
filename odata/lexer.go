package odata

import (
	"strings"
	"unicode"
)

// The expression lexer of OData Version 4.0 Part 2: URL Conventions §5.1.1
// (common expression syntax) and the ABNF's primitive literals, as
// Microsoft.OData.Core's ExpressionLexer tokenises them. Tokens are produced
// on demand, so lexical errors surface where ODL reports them.

type tokKind uint8

const (
	tkEnd   tokKind = iota
	tkSpace         // whitespace, only when the lexer keeps it
	tkIdent
	tkString // 'text' with '' escapes
	tkNumber
	tkGuid
	tkDate
	tkDateTimeOffset
	tkBool
	tkNull
	tkQuoted  // identifier immediately followed by a quoted value: Type'value'
	tkBracket // balanced [ ... ]
	tkBrace   // balanced { ... }
	tkOpenParen
	tkCloseParen
	tkComma
	tkSlash
	tkColon
	tkEqual
	tkDot
	tkMinus
	tkAlias // @name
	tkStar
	tkSemicolon
	tkQuestion
)

// numSuffix is the type suffix of a numeric token (M, D, F, L) or none.
type numSuffix uint8

const (
	sufNone numSuffix = iota
	sufDecimal
	sufDouble
	sufSingle
	sufInt64
)

type token struct {
	kind tokKind
	pos  int // offset of the first rune
	end  int // offset after the last rune
	// numbers
	suffix   numSuffix
	fraction bool // has '.'
	exponent bool // has 'e'
}

type lexer struct {
	src       []rune
	text      string // src as a string, for messages
	pos       int    // next rune to read
	tok       token  // current token
	keepSpace bool   // return whitespace as tkSpace instead of skipping it
	semicolon bool   // ';' is a token (query options); otherwise invalid
}

func newLexer(text string) *lexer {
	return &lexer{src: []rune(text), text: text, semicolon: true}
}

func (l *lexer) tokText(t token) string { return string(l.src[t.pos:t.end]) }

// next advances to the next token.
func (l *lexer) next() error {
	t, err := l.scan()
	l.tok = t
	return err
}

// peek returns the token after the current one without consuming it.
func (l *lexer) peek() (token, error) {
	pos, tok := l.pos, l.tok
	t, err := l.scan()
	l.pos, l.tok = pos, tok
	return t, err
}

func isSpace(r rune) bool { return unicode.IsSpace(r) }

func isDigit(r rune) bool { return r >= '0' && r <= '9' }

func isHex(r rune) bool {
	return isDigit(r) || (r >= 'a' && r <= 'f') || (r >= 'A' && r <= 'F')
}

// isIdentStart reports whether r may start an OData identifier (CSDL
// SimpleIdentifier: a letter, letter number or underscore).
func isIdentStart(r rune) bool {
	return unicode.IsLetter(r) || r == '_' || unicode.Is(unicode.Nl, r)
}

// isIdentPart reports whether r may continue an OData identifier.
func isIdentPart(r rune) bool {
	return unicode.IsLetter(r) || unicode.IsDigit(r) ||
		unicode.In(r, unicode.Nl, unicode.Mn, unicode.Mc, unicode.Pc, unicode.Cf)
}

// isIdentifier reports whether s is a simple OData identifier.
func isIdentifier(s string) bool {
	if s == "" {
		return false
	}
	for i, r := range s {
		if i == 0 && !isIdentStart(r) || i > 0 && !isIdentPart(r) {
			return false
		}
	}
	return true
}

// isQualifiedName reports whether s is a dotted sequence of identifiers.
func isQualifiedName(s string) bool {
	for _, part := range strings.Split(s, ".") {
		if !isIdentifier(part) {
			return false
		}
	}
	return true
}

func (l *lexer) at(i int) rune {
	if i < len(l.src) {
		return l.src[i]
	}
	return 0
}

func (l *lexer) scan() (token, error) {
	n := len(l.src)
	if !l.keepSpace {
		for l.pos < n && isSpace(l.src[l.pos]) {
			l.pos++
		}
	}
	start := l.pos
	tok := func(k tokKind) (token, error) {
		return token{kind: k, pos: start, end: l.pos}, nil
	}
	if l.pos >= n {
		return tok(tkEnd)
	}
	c := l.src[l.pos]
	switch c {
	case '(':
		l.pos++
		return tok(tkOpenParen)
	case ')':
		l.pos++
		return tok(tkCloseParen)
	case ',':
		l.pos++
		return tok(tkComma)
	case '=':
		l.pos++
		return tok(tkEqual)
	case '/':
		l.pos++
		return tok(tkSlash)
	case '?':
		l.pos++
		return tok(tkQuestion)
	case '.':
		l.pos++
		return tok(tkDot)
	case '*':
		l.pos++
		return tok(tkStar)
	case ':':
		l.pos++
		return tok(tkColon)
	case '-':
		if isDigit(l.at(l.pos + 1)) {
			return l.scanNumber(start)
		}
		l.pos++
		return tok(tkMinus)
	case '\'':
		// 'text', where '' stands for one quote.
		for {
			l.pos++
			for l.pos < n && l.src[l.pos] != '\'' {
				l.pos++
			}
			if l.pos >= n {
				t, _ := tok(tkString)
				return t, errUnterminatedString(l.pos, l.text)
			}
			l.pos++
			if l.pos >= n || l.src[l.pos] != '\'' {
				break
			}
		}
		return tok(tkString)
	case '[', '{':
		if err := l.skipBalanced(c); err != nil {
			return token{kind: tkBracket, pos: start, end: l.pos}, err
		}
		if c == '[' {
			return tok(tkBracket)
		}
		return tok(tkBrace)
	case ';':
		if l.semicolon {
			l.pos++
			return tok(tkSemicolon)
		}
	case '@':
		l.pos++
		if l.pos >= n {
			return token{kind: tkAlias, pos: start, end: l.pos}, errSyntaxAt(l.pos, l.text)
		}
		if !isIdentStart(l.src[l.pos]) {
			return token{kind: tkAlias, pos: start, end: l.pos}, errInvalidChar(l.src[l.pos], l.pos, l.text)
		}
		for l.pos < n && (isIdentPart(l.src[l.pos]) || l.src[l.pos] == '.') {
			l.pos++
		}
		if strings.ContainsRune(string(l.src[start:l.pos]), '.') {
			// ODL reads "@ns.term" as an annotation identifier; Dataverse
			// has no use for it in $filter, so it is rejected here.
			return token{kind: tkAlias, pos: start, end: l.pos}, errInvalidChar('@', start, l.text)
		}
		return tok(tkAlias)
	}
	if isSpace(c) { // only reached with keepSpace
		for l.pos < n && isSpace(l.src[l.pos]) {
			l.pos++
		}
		return tok(tkSpace)
	}
	if isIdentStart(c) {
		for l.pos < n && isIdentPart(l.src[l.pos]) {
			l.pos++
		}
		if l.at(l.pos) == '-' {
			if end := l.literalEnd(start); isGUID(string(l.src[start:end])) {
				l.pos = end
				return tok(tkGuid)
			}
		}
		return l.typePrefixed(start)
	}
	if isDigit(c) {
		return l.scanNumber(start)
	}
	return token{kind: tkEnd, pos: start, end: start}, errInvalidChar(c, l.pos, l.text)
}

// typePrefixed classifies the identifier src[start:l.pos]: keywords true,
// false and null, or an identifier glued to a quoted value such as
// Microsoft.Dynamics.CRM.OwnershipTypes'UserOwned' (its last part).
func (l *lexer) typePrefixed(start int) (token, error) {
	word := string(l.src[start:l.pos])
	if l.at(l.pos) == '\'' {
		if strings.EqualFold(word, "null") {
			// ODL: typed null literals are not supported.
			return token{kind: tkIdent, pos: start, end: l.pos}, errSyntaxAt(l.pos, l.text)
		}
		n := len(l.src)
		for {
			l.pos++
			for l.pos < n && l.src[l.pos] != '\'' {
				l.pos++
			}
			if l.pos >= n {
				return token{kind: tkQuoted, pos: start, end: l.pos}, errUnterminatedLiteral(l.pos, l.text)
			}
			l.pos++
			if l.pos >= n || l.src[l.pos] != '\'' {
				break
			}
		}
		return token{kind: tkQuoted, pos: start, end: l.pos}, nil
	}
	kind := tkIdent
	switch word {
	case "true", "false":
		kind = tkBool
	case "null":
		kind = tkNull
	}
	return token{kind: kind, pos: start, end: l.pos}, nil
}

// literalEnd mirrors ODL's ParseLiteral: a date, date-time or GUID literal
// extends from start up to the next ',', ')' or ' ' (or the end).
//
// The scan stops after maxLiteral runes, longer than any valid literal, so
// that a long run of text is not rescanned for every token.
func (l *lexer) literalEnd(start int) int {
	i := start + 1
	for i < len(l.src) && i-start <= maxLiteral && l.src[i] != ',' && l.src[i] != ')' && l.src[i] != ' ' {
		i++
	}
	return i
}

const maxLiteral = 64

// scanNumber reads a numeric, date, date-time-offset or GUID literal that
// starts with a digit or with '-' followed by a digit (ODL ParseFromDigit).
func (l *lexer) scanNumber(start int) (token, error) {
	n := len(l.src)
	first := l.src[l.pos]
	l.pos++
	for l.pos < n && isDigit(l.src[l.pos]) {
		l.pos++
	}
	if first != '-' && l.at(l.pos) == '-' {
		end := l.literalEnd(start)
		lit := string(l.src[start:end])
		if _, ok := parseDate(lit); ok {
			l.pos = end
			return token{kind: tkDate, pos: start, end: end}, nil
		}
		if _, ok := parseDateTimeOffset(lit); ok {
			l.pos = end
			return token{kind: tkDateTimeOffset, pos: start, end: end}, nil
		} else if looksLikeDateTimeOffset(lit) {
			l.pos = end
			return token{kind: tkDateTimeOffset, pos: start, end: end}, errDateTimeOffsetFormat(lit)
		}
		if isGUID(lit) {
			l.pos = end
			return token{kind: tkGuid, pos: start, end: end}, nil
		}
	}
	if first != '-' && unicode.IsLetter(l.at(l.pos)) {
		if end := l.literalEnd(start); isGUID(string(l.src[start:end])) {
			l.pos = end
			return token{kind: tkGuid, pos: start, end: end}, nil
		}
	}
	t := token{kind: tkNumber, pos: start}
	if l.at(l.pos) == '.' {
		t.fraction = true
		l.pos++
		if !isDigit(l.at(l.pos)) {
			t.end = l.pos
			return t, errDigitExpected(l.pos, l.text)
		}
		for l.pos < n && isDigit(l.src[l.pos]) {
			l.pos++
		}
	}
	if c := l.at(l.pos); c == 'e' || c == 'E' {
		t.exponent = true
		l.pos++
		if c := l.at(l.pos); c == '+' || c == '-' {
			l.pos++
		}
		if !isDigit(l.at(l.pos)) {
			t.end = l.pos
			return t, errDigitExpected(l.pos, l.text)
		}
		for l.pos < n && isDigit(l.src[l.pos]) {
			l.pos++
		}
	}
	switch l.at(l.pos) {
	case 'M', 'm':
		t.suffix = sufDecimal
		l.pos++
	case 'D', 'd':
		t.suffix = sufDouble
		l.pos++
	case 'F', 'f':
		t.suffix = sufSingle
		l.pos++
	case 'L', 'l':
		t.suffix = sufInt64
		l.pos++
	}
	t.end = l.pos
	return t, nil
}

// skipBalanced advances over a [ ... ] or { ... } expression, honouring
// 'single' and "double" quoted strings (with backslash escapes in the
// latter, where ODL's scanner misreads a string ending in a backslash).
func (l *lexer) skipBalanced(open rune) error {
	closer := ']'
	if open == '{' {
		closer = '}'
	}
	n := len(l.src)
	depth := 0
	for l.pos < n {
		switch c := l.src[l.pos]; c {
		case '"':
			l.pos++
			for l.pos < n && l.src[l.pos] != '"' {
				if l.src[l.pos] == '\\' {
					l.pos++
				}
				l.pos++
			}
		case '\'':
			l.pos++
			for l.pos < n && l.src[l.pos] != '\'' {
				l.pos++
			}
		case open:
			depth++
		case closer:
			depth--
			if depth == 0 {
				l.pos++
				return nil
			}
		}
		l.pos++
	}
	l.pos = n
	return errUnbalancedBracket()
}
