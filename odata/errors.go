package odata

import (
	"fmt"
	"net/http"
)

// Error is a parse failure in the shape Dataverse reports it (reference
// dataverse.md §4.14): the Web API writes it as
// {"error":{"code":Code,"message":Message}} with HTTP status Status.
//
// Every error returned by this package is an *Error with a 4xx Status.
type Error struct {
	Status  int    // HTTP status: 400, or 404 for unknown path forms
	Code    string // Dataverse hex code, "0x" + 8 lowercase hex digits
	Message string // human-readable text, ODL's wording where known
}

// Error implements the error interface; it returns Message.
func (e *Error) Error() string { return e.Message }

// Error codes used by this package. Dataverse writes codes as "0x" followed
// by lowercase hex (e.g. "0x8006088a", reference §4.14, §4.15), so the
// documented 0x8004430C and 0x8004430D appear here in lowercase.
const (
	// CodeQueryError is what Dataverse returns for errors raised by the
	// OData URI parser (syntax errors, unsupported query options, unknown
	// properties): observed as "0x80060888" with ODL's message text.
	CodeQueryError = "0x80060888"

	// CodeResourceNotFound is returned with 404 and
	// "Resource not found for the segment '<segment>'." (reference §4.15).
	CodeResourceNotFound = "0x8006088a"

	// CodeTooManyConditions is TooManyConditionsInQuery: more than
	// MaxConditions conditions in a query (reference §4.9).
	CodeTooManyConditions = "0x8004430c"

	// CodeTooManyLinkEntities is TooManyLinkEntitiesInQuery: more than
	// MaxExpands $expand items, each of which becomes a link-entity (join).
	CodeTooManyLinkEntities = "0x8004430d"
)

// Limits enforced by the parsers.
const (
	// MaxConditions is Dataverse's limit on conditions in one query
	// (reference §4.9). Every comparison, function call, Dataverse query
	// function and lambda counts as one condition.
	MaxConditions = 500

	// MaxExpands is Dataverse's limit on $expand items in one query,
	// counted over all nesting levels (reference §4.9, join-tables doc).
	MaxExpands = 15

	// MaxDepth bounds the nesting of parentheses, not, lambdas, function
	// arguments and parameter aliases in one expression: a parenthesis
	// costs two levels, so about 100 nested parentheses are allowed, close
	// to ODL's default (a recursion limit of 800, nine per parenthesis).
	MaxDepth = 200

	// MaxNodes bounds the size of the syntax trees of one query (array
	// elements included), so that parameter aliases referring to other
	// aliases cannot blow it up. Exceeding it is reported as too many
	// conditions.
	MaxNodes = 50000

	// MaxPathSegments is ODL's default PathLimit.
	MaxPathSegments = 100

	// MaxPageSize is the largest odata.maxpagesize Dataverse honours
	// (reference §4.10).
	MaxPageSize = 5000
)

func queryError(format string, args ...any) *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeQueryError, Message: fmt.Sprintf(format, args...)}
}

// Messages of Microsoft.OData.Core (Microsoft.OData.Core.txt), which
// Dataverse returns verbatim.

func errSyntaxAt(pos int, text string) *Error {
	return queryError("Syntax error at position %d in '%s'.", pos, text)
}

func errInvalidChar(c rune, pos int, text string) *Error {
	return queryError("Syntax error: character '%c' is not valid at position %d in '%s'.", c, pos, text)
}

func errUnterminatedString(pos int, text string) *Error {
	return queryError("There is an unterminated string literal at position %d in '%s'.", pos, text)
}

func errUnterminatedLiteral(pos int, text string) *Error {
	return queryError("There is an unterminated literal at position %d in '%s'.", pos, text)
}

func errDigitExpected(pos int, text string) *Error {
	return queryError("A digit was expected at position %d in '%s'.", pos, text)
}

func errExpressionExpected(pos int, text string) *Error {
	return queryError("Expression expected at position %d in '%s'.", pos, text)
}

func errOpenParenExpected(pos int, text string) *Error {
	return queryError("'(' expected at position %d in '%s'.", pos, text)
}

func errCloseParenOrComma(pos int, text string) *Error {
	return queryError("')' or ',' expected at position %d in '%s'.", pos, text)
}

func errCloseParenOrOperator(pos int, text string) *Error {
	return queryError("')' or operator expected at position %d in '%s'.", pos, text)
}

func errIdentifierExpected(pos int) *Error {
	return queryError("An identifier was expected at position %d.", pos)
}

func errUnbalancedBracket() *Error {
	return queryError("Found an unbalanced bracket expression.")
}

func errInvalidNumeric(s string) *Error {
	return queryError("Numeric string '%s' is not a valid Int32/Int64/Double/Decimal.", s)
}

func errUnrecognizedLiteral(typ, lit string, pos int, text string) *Error {
	return queryError("Unrecognized '%s' literal '%s' at '%d' in '%s'.", typ, lit, pos, text)
}

func errDateTimeOffsetFormat(lit string) *Error {
	return queryError("The DateTimeOffset text '%s' should be in format 'yyyy-mm-ddThh:mm:ss('.'s+)?(zzzzzz)?' and each field value is within valid range.", lit)
}

func errTooDeep() *Error {
	return queryError("Recursion depth exceeded allowed limit.")
}

func errRangeVariableDeclared(name string) *Error {
	return queryError("The range variable '%s' has already been declared.", name)
}

func errDuplicateParameter() *Error {
	return queryError("Parameter or entity key names must be unique. There is most likely an error in the model.")
}

func errUnknownFunction(name string) *Error {
	return queryError("An unknown function with name '%s' was found. This may also be a function import or a key lookup on a navigation property, which is not allowed.", name)
}

func errOptionTwice(name string) *Error {
	return queryError("Query option '%s' was specified more than once, but it must be specified at most once.", name)
}

func errInvalidTop(v string) *Error {
	return queryError("Invalid value '%s' for $top query option found. The $top query option requires a non-negative integer value.", v)
}

func errInvalidCount(v string) *Error {
	return queryError("'%s' is not a valid count option.", v)
}

func errTermNotValid(text string) *Error {
	return queryError("Term '%s' is not valid in a $select or $expand expression.", text)
}

func errInvalidInnerTop(v string) *Error {
	return queryError("Top option must be a non-negative integer, it is set to '%s' instead.", v)
}

func errMissingExpandOption(nav string) *Error {
	return queryError("Missing expand option on navigation property '%s'. If a parenthesis expression follows an expanded navigation property, then at least one expand option must be provided.", nav)
}

// errNotSupported is Dataverse's own message for query options it rejects,
// observed as {"code":"0x80060888","message":"The query parameter $select is
// not supported"} (no trailing period). We use it for $skip, $search,
// $format and every other unknown or wrongly cased $-option ($Select, $TOP),
// which ODL (case-sensitive, as Dataverse configures it) does not recognise
// as system query options.
func errNotSupported(name string) *Error {
	return queryError("The query parameter %s is not supported", name)
}

func errTooManyConditions() *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeTooManyConditions, Message: "Number of conditions in query exceeded maximum limit."}
}

func errTooManyExpands() *Error {
	return &Error{Status: http.StatusBadRequest, Code: CodeTooManyLinkEntities, Message: "Number of link entities in query exceeded maximum limit."}
}

func errResourceNotFound(segment string) *Error {
	return &Error{Status: http.StatusNotFound, Code: CodeResourceNotFound, Message: fmt.Sprintf("Resource not found for the segment '%s'.", segment)}
}

func errPathSyntax() *Error {
	return queryError("Bad Request - Error in query syntax.")
}
