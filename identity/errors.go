package identity

import (
	"encoding/json"
	"fmt"
	"net/http"
	"strconv"
	"time"
)

// Error is a protocol error in Entra ID's shape: an OAuth 2.0 error value
// (RFC 6749 section 5.2), an AADSTS code and message, and the HTTP status.
// Every error the identity service returns is built as an Error and written
// by writeError, in one place.
type Error struct {
	Err      string // OAuth error value: invalid_request, invalid_client, ...
	Code     int    // AADSTS number
	Msg      string // message after "AADSTSnnnn: "
	Status   int    // HTTP status
	Suberror string
}

func (e *Error) Error() string { return fmt.Sprintf("%s: AADSTS%d: %s", e.Err, e.Code, e.Msg) }

func newErr(status int, oauthErr string, code int, format string, a ...any) *Error {
	return &Error{Err: oauthErr, Code: code, Msg: fmt.Sprintf(format, a...), Status: status}
}

// badRequest and invalidClient are the two statuses Entra's token endpoint
// uses: invalid_client is 401, everything else 400 (reference §9.2).
func badRequest(oauthErr string, code int, format string, a ...any) *Error {
	return newErr(http.StatusBadRequest, oauthErr, code, format, a...)
}

func invalidClient(code int, format string, a ...any) *Error {
	return newErr(http.StatusUnauthorized, "invalid_client", code, format, a...)
}

func missingParam(name string) *Error {
	return badRequest("invalid_request", 900144, "The request body must contain the following parameter: '%s'.", name)
}

// errorBody is the JSON shape of reference §9.1.
type errorBody struct {
	Error            string `json:"error"`
	ErrorDescription string `json:"error_description"`
	ErrorCodes       []int  `json:"error_codes"`
	Timestamp        string `json:"timestamp"`
	TraceID          string `json:"trace_id"`
	CorrelationID    string `json:"correlation_id"`
	ErrorURI         string `json:"error_uri"`
	Suberror         string `json:"suberror,omitempty"`
}

const entraTime = "2006-01-02 15:04:05Z"

// correlationID echoes the client's client-request-id (header, query or
// form), or makes one.
func correlationID(r *http.Request) string {
	if v := r.Header.Get("client-request-id"); v != "" && len(v) <= 64 {
		return v
	}
	if v := r.URL.Query().Get("client-request-id"); v != "" && len(v) <= 64 {
		return v
	}
	if r.PostForm != nil {
		if v := r.PostForm.Get("client-request-id"); v != "" && len(v) <= 64 {
			return v
		}
	}
	return newGUID()
}

func (s *Server) writeError(w http.ResponseWriter, r *http.Request, e *Error) {
	now := s.now()
	trace := newGUID()
	corr := correlationID(r)
	stamp := now.UTC().Format(entraTime)
	body := errorBody{
		Error: e.Err,
		ErrorDescription: fmt.Sprintf("AADSTS%d: %s\r\nTrace ID: %s\r\nCorrelation ID: %s\r\nTimestamp: %s",
			e.Code, e.Msg, trace, corr, stamp),
		ErrorCodes:    []int{e.Code},
		Timestamp:     stamp,
		TraceID:       trace,
		CorrelationID: corr,
		ErrorURI:      s.base + "/error?code=" + strconv.Itoa(e.Code),
		Suberror:      e.Suberror,
	}
	s.log.LogAttrs(r.Context(), levelFor(e.Status), "identity error",
		slogStr("path", r.URL.Path), slogStr("error", e.Err), slogInt("aadsts", e.Code), slogStr("correlation_id", corr))
	noStore(w)
	writeJSON(w, e.Status, body)
}

func noStore(w http.ResponseWriter) {
	h := w.Header()
	h.Set("Cache-Control", "no-store, no-cache")
	h.Set("Pragma", "no-cache")
	h.Set("Expires", "-1")
}

func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		http.Error(w, "internal error", http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json; charset=utf-8")
	w.Header().Set("x-ms-request-id", newGUID())
	w.WriteHeader(status)
	w.Write(b)
}

func secondsString(d time.Duration) string { return strconv.FormatInt(int64(d/time.Second), 10) }
