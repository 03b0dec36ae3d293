package odata

import (
	"math"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// Primitive literals of OData Version 4.0 Part 2 §5.1.1.6.1 (ABNF
// primitiveLiteral) as ODL validates them (UriUtils, PlatformHelper).

// isGUID reports whether s is guidValue = 8HEXDIG "-" 4HEXDIG "-" 4HEXDIG
// "-" 4HEXDIG "-" 12HEXDIG.
func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < 36; i++ {
		c := rune(s[i])
		if i == 8 || i == 13 || i == 18 || i == 23 {
			if c != '-' {
				return false
			}
		} else if !isHex(c) {
			return false
		}
	}
	return true
}

func atoiDigits(s string, min, max int) (int, bool) {
	if len(s) < min || len(s) > max {
		return 0, false
	}
	v := 0
	for i := 0; i < len(s); i++ {
		if !isDigit(rune(s[i])) {
			return 0, false
		}
		v = v*10 + int(s[i]-'0')
	}
	return v, true
}

func daysIn(year, month int) int {
	return time.Date(year, time.Month(month)+1, 0, 0, 0, 0, 0, time.UTC).Day()
}

// parseDate parses dateValue as ODL does: yyyy-m-d with one- or two-digit
// month and day, checked against the calendar.
func parseDate(s string) (time.Time, bool) {
	parts := strings.Split(s, "-")
	if len(parts) != 3 {
		return time.Time{}, false
	}
	y, ok1 := atoiDigits(parts[0], 4, 4)
	m, ok2 := atoiDigits(parts[1], 1, 2)
	d, ok3 := atoiDigits(parts[2], 1, 2)
	if !ok1 || !ok2 || !ok3 || y < 1 || m < 1 || m > 12 || d < 1 || d > daysIn(y, m) {
		return time.Time{}, false
	}
	return time.Date(y, time.Month(m), d, 0, 0, 0, 0, time.UTC), true
}

// parseDateTimeOffset parses dateTimeOffsetValue:
// yyyy-mm-ddThh:mm[:ss[.fffffff]](Z|±hh:mm). The time zone is required, as
// in ODL; more than seven fractional digits are accepted (Go clients send
// nine) and kept to the nanosecond.
func parseDateTimeOffset(s string) (time.Time, bool) {
	if len(s) < 17 || s[10] != 'T' && s[10] != 't' {
		return time.Time{}, false
	}
	date, ok := parseDate(s[:10])
	if !ok || s[4] != '-' || s[7] != '-' {
		return time.Time{}, false
	}
	rest := s[11:]
	hh, ok1 := atoiDigits(rest[0:2], 2, 2)
	if !ok1 || rest[2] != ':' {
		return time.Time{}, false
	}
	mm, ok2 := atoiDigits(rest[3:5], 2, 2)
	if !ok2 || hh > 23 || mm > 59 {
		return time.Time{}, false
	}
	rest = rest[5:]
	ss, nanos := 0, 0
	if strings.HasPrefix(rest, ":") {
		if len(rest) < 3 {
			return time.Time{}, false
		}
		v, ok := atoiDigits(rest[1:3], 2, 2)
		if !ok || v > 59 {
			return time.Time{}, false
		}
		ss = v
		rest = rest[3:]
		if strings.HasPrefix(rest, ".") {
			i := 1
			for i < len(rest) && isDigit(rune(rest[i])) {
				i++
			}
			frac := rest[1:i]
			if frac == "" {
				return time.Time{}, false
			}
			if len(frac) > 9 {
				frac = frac[:9]
			}
			f, _ := strconv.Atoi(frac + strings.Repeat("0", 9-len(frac)))
			nanos = f
			rest = rest[i:]
		}
	}
	var loc *time.Location
	switch {
	case rest == "Z" || rest == "z":
		loc = time.UTC
	case len(rest) == 6 && (rest[0] == '+' || rest[0] == '-') && rest[3] == ':':
		oh, ok1 := atoiDigits(rest[1:3], 2, 2)
		om, ok2 := atoiDigits(rest[4:6], 2, 2)
		if !ok1 || !ok2 || om > 59 || oh*60+om > 14*60 {
			return time.Time{}, false
		}
		off := (oh*60 + om) * 60
		if rest[0] == '-' {
			off = -off
		}
		loc = time.FixedZone("", off)
	default:
		return time.Time{}, false
	}
	return time.Date(date.Year(), date.Month(), date.Day(), hh, mm, ss, nanos, loc), true
}

// looksLikeDateTimeOffset mirrors ODL's PotentialDateTimeOffsetValidator,
// ^(\d{2,4})-(\d{1,2})-(\d{1,2})(T|\s+)(\d{1,2}):(\d{1,2}): text that
// resembles a date-time but failed to parse is an error, not a number.
func looksLikeDateTimeOffset(s string) bool {
	i := 0
	digits := func(min, max int) bool {
		j := i
		for j < len(s) && j-i < max && isDigit(rune(s[j])) {
			j++
		}
		if j-i < min {
			return false
		}
		i = j
		return true
	}
	lit := func(c byte) bool {
		if i < len(s) && s[i] == c {
			i++
			return true
		}
		return false
	}
	if !digits(2, 4) || !lit('-') || !digits(1, 2) || !lit('-') || !digits(1, 2) {
		return false
	}
	if !lit('T') {
		n := i
		for i < len(s) && isSpace(rune(s[i])) {
			i++
		}
		if i == n {
			return false
		}
	}
	return digits(1, 2) && lit(':') && digits(1, 2)
}

// maxDecimal is the largest .NET System.Decimal, the range of Edm.Decimal
// in Dataverse.
const maxDecimal = "79228162514264337593543950335"

// fitsDecimal reports whether the plain decimal number s ([-]digits[.digits])
// is within the range of Edm.Decimal. Extra fractional digits are allowed
// (.NET rounds them).
func fitsDecimal(s string) bool {
	intPart, frac, _ := strings.Cut(strings.TrimPrefix(s, "-"), ".")
	intPart = strings.TrimLeft(intPart, "0")
	if len(intPart) != len(maxDecimal) {
		return len(intPart) < len(maxDecimal)
	}
	if intPart != maxDecimal {
		return intPart < maxDecimal
	}
	return strings.Trim(frac, "0") == ""
}

// numberLit builds the literal for a tkNumber token whose text is raw.
func numberLit(t token, raw string, text string) (*Lit, error) {
	body := raw
	if t.suffix != sufNone {
		body = raw[:len(raw)-1]
	}
	lit := &Lit{Raw: raw, Offset: t.pos}
	unrecognized := func(typ string) (*Lit, error) {
		return nil, errUnrecognizedLiteral(typ, raw, t.pos, text)
	}
	double := func(typ string) (*Lit, error) {
		f, err := strconv.ParseFloat(body, 64)
		if err != nil || math.IsInf(f, 0) || math.IsNaN(f) {
			if typ == "" {
				return nil, errInvalidNumeric(raw)
			}
			return unrecognized(typ)
		}
		lit.Kind, lit.Value = LitDouble, f
		return lit, nil
	}
	switch t.suffix {
	case sufInt64:
		if t.fraction || t.exponent {
			return unrecognized("Edm.Int64")
		}
		v, err := strconv.ParseInt(body, 10, 64)
		if err != nil {
			return unrecognized("Edm.Int64")
		}
		lit.Kind, lit.Value = LitInt, v
		return lit, nil
	case sufDecimal:
		if t.exponent || !fitsDecimal(body) {
			return unrecognized("Edm.Decimal")
		}
		lit.Kind, lit.Value = LitDecimal, body
		return lit, nil
	case sufDouble:
		return double("Edm.Double")
	case sufSingle:
		return double("Edm.Single")
	}
	if !t.fraction && !t.exponent {
		if v, err := strconv.ParseInt(body, 10, 64); err == nil {
			lit.Kind, lit.Value = LitInt, v
			return lit, nil
		}
	}
	if !t.exponent && fitsDecimal(body) {
		lit.Kind, lit.Value = LitDecimal, body
		return lit, nil
	}
	return double("")
}

// unquote removes the quotes of an OData string literal and undoubles the
// quotes inside it.
func unquote(s string) string {
	return strings.ReplaceAll(s[1:len(s)-1], "''", "'")
}

// canonicalGUID lowercases a GUID literal.
func canonicalGUID(s string) string { return strings.ToLower(s) }

// JSON array literals, as Dataverse accepts them for PropertyValues=[...]
// (reference §4.9). ODL hands the bracketed text to its JSON reader, which
// accepts single- or double-quoted strings; these are its messages.

func jsonError(format string, args ...any) *Error { return queryError(format, args...) }

type jsonReader struct {
	s   string
	i   int
	pos int // offset of the array in the expression, for the elements
	// runes counts the runes of s[:at], advanced incrementally.
	runes, at int
}

// offset returns the position in the expression of byte i of the array.
func (r *jsonReader) offset(i int) int {
	r.runes += utf8.RuneCountInString(r.s[r.at:i])
	r.at = i
	return r.pos + r.runes
}

func (r *jsonReader) skipSpace() {
	for r.i < len(r.s) {
		c, size := utf8.DecodeRuneInString(r.s[r.i:])
		if !isSpace(c) {
			return
		}
		r.i += size
	}
}

// parseJSONArray parses s, which starts with '[' and ends with the matching
// ']', into literals. Nested arrays and objects are rejected.
func parseJSONArray(s string, pos int) ([]*Lit, error) {
	r := &jsonReader{s: s, i: 1, pos: pos}
	out := []*Lit{}
	r.skipSpace()
	if r.i < len(s) && s[r.i] == ']' {
		return out, nil
	}
	for {
		r.skipSpace()
		if r.i >= len(s) {
			return nil, jsonError("Invalid JSON. Unexpected end of input was found in JSON content. Not all object and array scopes were closed.")
		}
		if s[r.i] == ',' || s[r.i] == ']' {
			return nil, jsonError("Invalid JSON. An unexpected comma was found in scope 'Array'. A comma is only valid between properties of an object or between elements of an array.")
		}
		v, err := r.value()
		if err != nil {
			return nil, err
		}
		out = append(out, v)
		r.skipSpace()
		if r.i >= len(s) {
			return nil, jsonError("Invalid JSON. Unexpected end of input was found in JSON content. Not all object and array scopes were closed.")
		}
		switch s[r.i] {
		case ',':
			r.i++
		case ']':
			r.i++
			r.skipSpace()
			if r.i != len(s) {
				return nil, jsonError("Invalid JSON. More than one value was found at the root of the JSON content. JSON content can only have one value at the root level, which is an array, an object or a primitive value.")
			}
			return out, nil
		default:
			return nil, jsonError("Invalid JSON. A comma character ',' was expected in scope 'Array'. Every two elements in an array and properties of an object must be separated by commas.")
		}
	}
}

func (r *jsonReader) value() (*Lit, error) {
	start := r.i
	lit := &Lit{Offset: r.offset(start)}
	switch c := r.s[r.i]; {
	case c == '"' || c == '\'':
		str, err := r.str(c)
		if err != nil {
			return nil, err
		}
		lit.Kind, lit.Value, lit.Raw = LitString, str, r.s[start:r.i]
		return lit, nil
	case c == '[' || c == '{':
		// Our restriction: Dataverse's PropertyValues are flat lists.
		return nil, jsonError("Invalid JSON. Nested arrays and objects are not supported in an array literal.")
	case c == '-' || isDigit(rune(c)):
		for r.i < len(r.s) && strings.IndexByte("+-.eE0123456789", r.s[r.i]) >= 0 {
			r.i++
		}
		raw := r.s[start:r.i]
		lit.Raw = raw
		if !validJSONNumber(raw) {
			return nil, jsonError("Invalid JSON. The value '%s' is not a valid number.", raw)
		}
		if !strings.ContainsAny(raw, ".eE") {
			if v, err := strconv.ParseInt(raw, 10, 64); err == nil {
				lit.Kind, lit.Value = LitInt, v
				return lit, nil
			}
		}
		if !strings.ContainsAny(raw, "eE") && fitsDecimal(raw) {
			lit.Kind, lit.Value = LitDecimal, raw
			return lit, nil
		}
		f, err := strconv.ParseFloat(raw, 64)
		if err != nil || math.IsInf(f, 0) {
			return nil, jsonError("Invalid JSON. The value '%s' is not a valid number.", raw)
		}
		lit.Kind, lit.Value = LitDouble, f
		return lit, nil
	default:
		for r.i < len(r.s) && isIdentPart(rune(r.s[r.i])) {
			r.i++
		}
		switch word := r.s[start:r.i]; word {
		case "true", "false":
			lit.Kind, lit.Value, lit.Raw = LitBool, word == "true", word
			return lit, nil
		case "null":
			lit.Kind, lit.Value, lit.Raw = LitNull, nil, word
			return lit, nil
		}
		return nil, jsonError("Invalid JSON. A token was not recognized in the JSON content.")
	}
}

// validJSONNumber checks -?(0|[1-9]\d*)(\.\d+)?([eE][+-]?\d+)?.
func validJSONNumber(s string) bool {
	i := 0
	if i < len(s) && s[i] == '-' {
		i++
	}
	digits := func() int {
		j := i
		for i < len(s) && isDigit(rune(s[i])) {
			i++
		}
		return i - j
	}
	if i < len(s) && s[i] == '0' {
		i++
	} else if digits() == 0 {
		return false
	}
	if i < len(s) && s[i] == '.' {
		i++
		if digits() == 0 {
			return false
		}
	}
	if i < len(s) && (s[i] == 'e' || s[i] == 'E') {
		i++
		if i < len(s) && (s[i] == '+' || s[i] == '-') {
			i++
		}
		if digits() == 0 {
			return false
		}
	}
	return i == len(s)
}

func (r *jsonReader) str(quote byte) (string, error) {
	var b strings.Builder
	r.i++
	for r.i < len(r.s) {
		c := r.s[r.i]
		switch {
		case c == quote:
			r.i++
			return b.String(), nil
		case c == '\\':
			r.i++
			if r.i >= len(r.s) {
				return "", jsonError("Invalid JSON. Unexpected end of input reached while processing a JSON string value.")
			}
			e := r.s[r.i]
			r.i++
			switch e {
			case '"', '\'', '\\', '/':
				b.WriteByte(e)
			case 'b':
				b.WriteByte('\b')
			case 'f':
				b.WriteByte('\f')
			case 'n':
				b.WriteByte('\n')
			case 'r':
				b.WriteByte('\r')
			case 't':
				b.WriteByte('\t')
			case 'u':
				if r.i+4 > len(r.s) {
					return "", jsonError("Invalid JSON. An unrecognized escape sequence '\\u%s' was found in a JSON string value.", r.s[r.i:])
				}
				v, err := strconv.ParseUint(r.s[r.i:r.i+4], 16, 16)
				if err != nil {
					return "", jsonError("Invalid JSON. An unrecognized escape sequence '\\u%s' was found in a JSON string value.", r.s[r.i:r.i+4])
				}
				r.i += 4
				ru := rune(v)
				if ru >= 0xD800 && ru < 0xDC00 && strings.HasPrefix(r.s[r.i:], "\\u") && r.i+6 <= len(r.s) {
					if lo, err := strconv.ParseUint(r.s[r.i+2:r.i+6], 16, 16); err == nil && lo >= 0xDC00 && lo < 0xE000 {
						ru = (ru-0xD800)<<10 + (rune(lo) - 0xDC00) + 0x10000
						r.i += 6
					}
				}
				b.WriteRune(ru) // lone surrogates become U+FFFD
			default:
				_, size := utf8.DecodeRuneInString(r.s[r.i-1:])
				return "", jsonError("Invalid JSON. An unrecognized escape sequence '\\%s' was found in a JSON string value.", r.s[r.i-1:r.i-1+size])
			}
		default:
			b.WriteByte(c)
			r.i++
		}
	}
	return "", jsonError("Invalid JSON. Unexpected end of input reached while processing a JSON string value.")
}
