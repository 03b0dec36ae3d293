package webapi

import (
	"encoding/json"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"unicode/utf8"
)

// appendJSON appends the JSON encoding of v to dst exactly as a
// json.Encoder with SetEscapeHTML(false) writes it (without the trailing
// newline), for the values the Web API's response shapes are built from:
// nil, string, bool, int, int64, json.Number, map[string]any (keys
// sorted), []map[string]any, []any and []string. It reports false for
// anything else (and for an invalid json.Number), and the caller then uses
// encoding/json. It spares the reflection, the map key sorting through
// reflect.Value and most allocations of encoding/json, which were a fifth
// of the Web API's own CPU for a GET by id.
func appendJSON(dst []byte, v any) ([]byte, bool) {
	switch x := v.(type) {
	case nil:
		return append(dst, "null"...), true
	case string:
		return appendJSONString(dst, x), true
	case bool:
		return strconv.AppendBool(dst, x), true
	case int:
		return strconv.AppendInt(dst, int64(x), 10), true
	case int64:
		return strconv.AppendInt(dst, x, 10), true
	case json.Number:
		s := string(x)
		if s == "" {
			s = "0" // as encoding/json writes the zero Number
		}
		if !validJSONNumber(s) {
			return dst, false
		}
		return append(dst, s...), true
	case map[string]any:
		if x == nil {
			return append(dst, "null"...), true
		}
		keys := sortedKeys(x)
		dst = append(dst, '{')
		for i, k := range keys {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, k)
			dst = append(dst, ':')
			var ok bool
			if dst, ok = appendJSON(dst, x[k]); !ok {
				return dst, false
			}
		}
		return append(dst, '}'), true
	case []map[string]any:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendJSON(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case []any:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			var ok bool
			if dst, ok = appendJSON(dst, e); !ok {
				return dst, false
			}
		}
		return append(dst, ']'), true
	case []string:
		if x == nil {
			return append(dst, "null"...), true
		}
		dst = append(dst, '[')
		for i, e := range x {
			if i > 0 {
				dst = append(dst, ',')
			}
			dst = appendJSONString(dst, e)
		}
		return append(dst, ']'), true
	}
	return dst, false
}

// keyOrders keeps sorted key lists of the maps appendJSON met, in slots
// chosen by a cheap fingerprint of the key set: the rows of one table and
// selection share their keys, so most maps need no sort (sorting the 33
// keys of an account was 4 % of a GET by id).
var keyOrders [64]atomic.Pointer[[]string]

// sortedKeys returns the keys of m in byte order, as encoding/json sorts
// them. The slice may be shared: read it only.
func sortedKeys(m map[string]any) []string {
	fp := uint(len(m))
	for k := range m {
		if k != "" {
			fp += uint(len(k))*31 + uint(k[0]) + uint(k[len(k)-1])<<7
		}
	}
	slot := &keyOrders[fp%uint(len(keyOrders))]
	if p := slot.Load(); p != nil && len(*p) == len(m) {
		hit := true
		for _, k := range *p { // the same count of distinct keys, all in m: the same set
			if _, ok := m[k]; !ok {
				hit = false
				break
			}
		}
		if hit {
			return *p
		}
	}
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if len(keys) <= 256 {
		slot.Store(&keys)
	}
	return keys
}

const hexDigits = "0123456789abcdef"

// appendJSONString is encoding/json's string encoding without HTML
// escaping: '"', '\\' and control characters escaped (\b \f \n \r \t by
// name), invalid UTF-8 as \ufffd, U+2028 and U+2029 escaped.
func appendJSONString(dst []byte, s string) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		if b := s[i]; b < utf8.RuneSelf {
			if b >= 0x20 && b != '"' && b != '\\' {
				i++
				continue
			}
			dst = append(dst, s[start:i]...)
			switch b {
			case '\\', '"':
				dst = append(dst, '\\', b)
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			default:
				dst = append(dst, '\\', 'u', '0', '0', hexDigits[b>>4], hexDigits[b&0xF])
			}
			i++
			start = i
			continue
		}
		c, size := utf8.DecodeRuneInString(s[i:])
		if c == utf8.RuneError && size == 1 {
			dst = append(dst, s[start:i]...)
			dst = append(dst, `\ufffd`...)
			i += size
			start = i
			continue
		}
		if c == '\u2028' || c == '\u2029' {
			dst = append(dst, s[start:i]...)
			dst = append(dst, '\\', 'u', '2', '0', '2', hexDigits[c&0xF])
			i += size
			start = i
			continue
		}
		i += size
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// validJSONNumber is the JSON number grammar (RFC 8259 §6), as
// encoding/json checks a json.Number.
func validJSONNumber(s string) bool {
	if s == "" {
		return false
	}
	if s[0] == '-' {
		if s = s[1:]; s == "" {
			return false
		}
	}
	digits := func() {
		for len(s) > 0 && '0' <= s[0] && s[0] <= '9' {
			s = s[1:]
		}
	}
	switch {
	case s[0] == '0':
		s = s[1:]
	case '1' <= s[0] && s[0] <= '9':
		s = s[1:]
		digits()
	default:
		return false
	}
	if len(s) >= 2 && s[0] == '.' && '0' <= s[1] && s[1] <= '9' {
		s = s[2:]
		digits()
	}
	if len(s) >= 2 && (s[0] == 'e' || s[0] == 'E') {
		s = s[1:]
		if s[0] == '+' || s[0] == '-' {
			if s = s[1:]; s == "" {
				return false
			}
		}
		digits()
	}
	return s == ""
}

// jsonBuffers recycles response buffers (responses of up to 64 KiB keep
// theirs).
var jsonBuffers = sync.Pool{New: func() any { b := make([]byte, 0, 4096); return &b }}
