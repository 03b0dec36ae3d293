package webapi

import (
	"encoding/json"
	"fmt"
	"net/http"
)

// Error is a Web API error in Dataverse's shape (reference §4.14):
// {"error":{"code":"0x…","message":"…"}} with the HTTP status. Every error
// the data service returns is built as an Error and written by writeError.
type Error struct {
	Status  int
	Code    string
	Message string
	// Details explains an access decision (dvs2s only; written as the
	// error's @dvs2s.explanation annotation when the caller asked for it).
	Details map[string]any
}

func (e *Error) Error() string { return fmt.Sprintf("%d %s: %s", e.Status, e.Code, e.Message) }

func errorf(status int, code, format string, a ...any) *Error {
	return &Error{Status: status, Code: code, Message: fmt.Sprintf(format, a...)}
}

// Error codes of the catalogue (reference §4.15).
const (
	codeObjectDoesNotExist = "0x80040217"
	codeUserNotMember      = "0x80072560"
	codeUserDisabled       = "0x80040225"
	codeUserNoRoles        = "0x80042f09"
	codeNotAuthenticated   = "0x80044302"
	codeTokenInvalid       = "0x8005f101"
	codeInvalidArgument    = "0x80040203"
	codePayload            = "0x80048d19"
	codeDuplicate          = "0x80040237"
	codeVersionMismatch    = "0x80060882"
	codeRequestTooLarge    = "0x8004418a"
	codeSegmentNotFound    = "0x8006088a"
	codeNotSupported       = "0x80040315"
	codeExpandRefNotLookup = "0x80060888"
	codeTooManyConditions  = "0x8004430c"
	codeCannotActOnBehalf  = "0x8004a110"
	codeUnexpected         = "0x80040216"
)

type errorBody struct {
	Error struct {
		Code        string         `json:"code"`
		Message     string         `json:"message"`
		Explanation map[string]any `json:"@dvs2s.explanation,omitempty"`
	} `json:"error"`
}

func writeError(w http.ResponseWriter, e *Error) {
	var b errorBody
	b.Error.Code, b.Error.Message, b.Error.Explanation = e.Code, e.Message, e.Details
	out, _ := json.Marshal(b)
	h := w.Header()
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	h.Set("OData-Version", "4.0")
	w.WriteHeader(e.Status)
	w.Write(out)
}

func notFound(entity, id string) *Error {
	return errorf(http.StatusNotFound, codeObjectDoesNotExist, "%s With Id = %s Does Not Exist", entity, id)
}

func noResource(uri string) *Error {
	return errorf(http.StatusNotFound, "", "No HTTP resource was found that matches the request URI '%s'.", uri)
}

func badRequest(format string, a ...any) *Error {
	return errorf(http.StatusBadRequest, codeInvalidArgument, format, a...)
}
