package webapi

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
)

// Annotation names (reference §4.2, §4.11).
const (
	annFormatted  = "OData.Community.Display.V1.FormattedValue"
	annLookupName = "Microsoft.Dynamics.CRM.lookuplogicalname"
	annNav        = "Microsoft.Dynamics.CRM.associatednavigationproperty"
)

// jsonTime is the Web API's date-time format.
const jsonTime = "2006-01-02T15:04:05Z"

// etag is a row's weak ETag: W/"<versionnumber>".
func etag(r store.Row) string {
	v, _ := r["versionnumber"].(int64)
	return `W/"` + strconv.FormatInt(v, 10) + `"`
}

// propertyName is the JSON name of a column: lookups are _<name>_value.
func propertyName(c *schema.Column) string {
	if c.Type.IsLookup() {
		return "_" + c.LogicalName + "_value"
	}
	return c.LogicalName
}

// columnByProperty resolves a JSON property name ($select, $orderby,
// $filter) to a column: lookups only as _<name>_value.
func columnByProperty(t *schema.Table, name string) *schema.Column {
	if inner, ok := strings.CutPrefix(name, "_"); ok {
		if inner, ok = strings.CutSuffix(inner, "_value"); ok {
			if c := t.Column(inner); c != nil && c.Type.IsLookup() {
				return c
			}
		}
	}
	if c := t.Column(name); c != nil && !c.Type.IsLookup() {
		return c
	}
	return nil
}

// jsonValue is a column value as the Web API writes it.
func jsonValue(c *schema.Column, v any) any {
	switch x := v.(type) {
	case nil:
		return nil
	case time.Time:
		return x.UTC().Format(jsonTime)
	case store.Ref:
		return x.ID
	case float64:
		if math.IsInf(x, 0) || math.IsNaN(x) {
			return nil
		}
		return json.Number(strconv.FormatFloat(x, 'f', -1, 64))
	}
	return v
}

// formatted is the FormattedValue annotation of a value ("" when none).
func formatted(c *schema.Column, v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case bool:
		if x {
			return "Yes"
		}
		return "No"
	case time.Time:
		return x.UTC().Format("1/2/2006 3:04 PM")
	case int64:
		switch c.Type {
		case schema.Choice, schema.State, schema.Status:
			l, _ := c.OptionLabel(int(x))
			return l
		case schema.BigInt:
			return strconv.FormatInt(x, 10)
		}
		return groupDigits(strconv.FormatInt(x, 10))
	case float64:
		switch c.Type {
		case schema.Money:
			s := strconv.FormatFloat(math.Abs(x), 'f', 2, 64)
			int, frac, _ := strings.Cut(s, ".")
			sign := ""
			if x < 0 {
				sign = "-"
			}
			return sign + "$" + groupDigits(int) + "." + frac
		default:
			p := c.Precision
			if p <= 0 {
				p = 2
			}
			s := strconv.FormatFloat(x, 'f', p, 64)
			int, frac, _ := strings.Cut(s, ".")
			return groupDigits(int) + "." + frac
		}
	}
	return ""
}

func groupDigits(s string) string {
	neg := strings.HasPrefix(s, "-")
	s = strings.TrimPrefix(s, "-")
	var b strings.Builder
	for i, r := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b.WriteByte(',')
		}
		b.WriteRune(r)
	}
	if neg {
		return "-" + b.String()
	}
	return b.String()
}

// readBody reads a JSON object body, with Dataverse's errors for an
// oversized or malformed payload.
func (q *request) readBody(set string) (map[string]json.RawMessage, *Error) {
	var buf bytes.Buffer
	if _, err := buf.ReadFrom(q.r.Body); err != nil {
		var mbe *http.MaxBytesError
		if asMaxBytes(err, &mbe) {
			return nil, errorf(http.StatusRequestEntityTooLarge, codeRequestTooLarge, "Request message length is too large.")
		}
		return nil, payloadError(set, "The request body could not be read.")
	}
	dec := json.NewDecoder(&buf)
	dec.UseNumber()
	var body map[string]json.RawMessage
	if err := dec.Decode(&body); err != nil || body == nil {
		msg := "Invalid JSON. The request body must be a JSON object."
		if err != nil {
			msg = fmt.Sprintf("Invalid JSON. %v", err)
		}
		return nil, payloadError(set, msg)
	}
	if dec.More() {
		return nil, payloadError(set, "Invalid JSON. More than one JSON value was found in the request body.")
	}
	return body, nil
}

func asMaxBytes(err error, target **http.MaxBytesError) bool {
	mbe, ok := err.(*http.MaxBytesError)
	if ok {
		*target = mbe
	}
	return ok
}

// payloadError is ODataClientPayloadError (reference §4.15, 0x80048d19).
func payloadError(set, inner string) *Error {
	return errorf(http.StatusBadRequest, codePayload,
		"Error identified in Payload provided by the user for Entity :'%s', For more information on this error please follow this help link https://go.microsoft.com/fwlink/?linkid=2195293  ---->  InnerException : Microsoft.OData.ODataException: %s", set, inner)
}

// valueError is a type or range error on a column value.
func valueError(t *schema.Table, c *schema.Column, format string, a ...any) *Error {
	return payloadError(t.EntitySetName, fmt.Sprintf("Cannot convert the literal for property '%s' of type '%s': %s", c.LogicalName, edmType(c), fmt.Sprintf(format, a...)))
}

// parseValue converts a JSON value for column c to its Row value,
// checking type, length and range.
func parseValue(t *schema.Table, c *schema.Column, raw json.RawMessage) (any, *Error) {
	s := strings.TrimSpace(string(raw))
	if s == "null" {
		if c.Required == schema.SystemRequired {
			return nil, errorf(http.StatusBadRequest, codeInvalidArgument, "Attribute '%s' cannot be set to NULL", c.LogicalName)
		}
		return nil, nil
	}
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		return nil, valueError(t, c, "invalid JSON")
	}
	switch c.Type {
	case schema.String, schema.Memo:
		str, ok := v.(string)
		if !ok {
			return nil, valueError(t, c, "a string is expected")
		}
		if c.MaxLength > 0 && len([]rune(str)) > c.MaxLength {
			return nil, errorf(http.StatusBadRequest, "0x80044331", "A validation error occurred. The length of the '%s' attribute of the '%s' entity exceeded the maximum allowed length of '%d'.", c.LogicalName, t.LogicalName, c.MaxLength)
		}
		return str, nil
	case schema.Integer, schema.BigInt, schema.Choice, schema.State, schema.Status:
		n, ok := v.(json.Number)
		if !ok {
			return nil, valueError(t, c, "a number is expected")
		}
		i, err := n.Int64()
		if err != nil {
			return nil, valueError(t, c, "an integer is expected")
		}
		if c.Type == schema.Integer && (float64(i) < c.MinValue || float64(i) > c.MaxValue) {
			return nil, rangeError(t, c, n.String())
		}
		if len(c.Options) > 0 {
			if _, ok := c.OptionLabel(int(i)); !ok {
				return nil, rangeError(t, c, n.String())
			}
		}
		return i, nil
	case schema.Decimal, schema.Double, schema.Money:
		n, ok := v.(json.Number)
		if !ok {
			return nil, valueError(t, c, "a number is expected")
		}
		f, err := n.Float64()
		if err != nil || math.IsInf(f, 0) {
			return nil, valueError(t, c, "a number is expected")
		}
		if c.MaxValue != 0 && (f < c.MinValue || f > c.MaxValue) {
			return nil, rangeError(t, c, n.String())
		}
		return f, nil
	case schema.Boolean:
		b, ok := v.(bool)
		if !ok {
			return nil, valueError(t, c, "true or false is expected")
		}
		return b, nil
	case schema.DateTime:
		str, ok := v.(string)
		if !ok {
			return nil, valueError(t, c, "a date-time string is expected")
		}
		tm, err := parseDateTime(str)
		if err != nil {
			return nil, valueError(t, c, "'%s' is not a valid date-time", str)
		}
		return tm, nil
	case schema.UniqueIdentifier:
		str, ok := v.(string)
		if !ok || !isGUID(str) {
			return nil, valueError(t, c, "a GUID is expected")
		}
		return strings.ToLower(str), nil
	}
	return nil, payloadError(t.EntitySetName, fmt.Sprintf("The property '%s' cannot be set directly; use '%s@odata.bind'.", c.LogicalName, c.LogicalName))
}

func rangeError(t *schema.Table, c *schema.Column, v string) *Error {
	return errorf(http.StatusBadRequest, "0x8004431a", "A validation error occurred. The value %s of '%s' on record of type '%s' is outside the valid range.", v, c.LogicalName, t.LogicalName)
}

// parseDateTime accepts the ISO 8601 forms clients send.
func parseDateTime(s string) (time.Time, error) {
	for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05", "2006-01-02T15:04", "2006-01-02"} {
		if t, err := time.Parse(layout, s); err == nil {
			return t.UTC().Truncate(time.Second), nil
		}
	}
	return time.Time{}, fmt.Errorf("bad date-time %q", s)
}

func isGUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i, r := range s {
		switch i {
		case 8, 13, 18, 23:
			if r != '-' {
				return false
			}
		default:
			if !(r >= '0' && r <= '9' || r >= 'a' && r <= 'f' || r >= 'A' && r <= 'F') {
				return false
			}
		}
	}
	return true
}

// edmType is the OData type of a column (CSDL, $metadata).
func edmType(c *schema.Column) string {
	switch c.Type {
	case schema.String, schema.Memo:
		return "Edm.String"
	case schema.Integer, schema.Choice, schema.State, schema.Status:
		return "Edm.Int32"
	case schema.BigInt:
		return "Edm.Int64"
	case schema.Decimal, schema.Money:
		return "Edm.Decimal"
	case schema.Double:
		return "Edm.Double"
	case schema.Boolean:
		return "Edm.Boolean"
	case schema.DateTime:
		return "Edm.DateTimeOffset"
	}
	return "Edm.Guid"
}
