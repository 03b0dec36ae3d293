package dataverse

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore/runtime"
	"github.com/Azure/azure-sdk-for-go/sdk/azidentity"
)

// Dataverse error codes the helpers of this package recognise. Dataverse
// writes them as "0x" and eight hex digits, in either case; compare them
// with [Error.HasCode], which ignores case.
const (
	CodeObjectDoesNotExist            = "0x80040217" // 404: the row does not exist
	CodePrivilegeDenied               = "0x80040220" // 403: a role privilege is missing
	CodePrincipalPrivilegeDenied      = "0x80040231" // 403: target user or team lacks privileges
	CodeAccessCheckFailed             = "0x80048306" // 403: no access right on this row
	CodeAccessDenied                  = "0x80048405" // 403
	CodeCannotActOnBehalfOfAnother    = "0x8004a110" // 403: impersonation without prvActOnBehalfOfAnotherUser
	CodeUserNotMemberOfOrg            = "0x80072560" // 403: no (application) user for the caller in this environment
	CodeUserNotAssignedRoles          = "0x80042f09" // 403: the user has no security role
	CodeUserDisabled                  = "0x80040225" // the (application) user is disabled
	CodeApplicationBasedAccessControl = "0x80095ffc" // the app is blocked by application-based access control
	CodeRequestIsNotAuthenticated     = "0x80044302" // 401
	CodeDuplicateRecord               = "0x80040237" // 412: a record with matching key values already exists
	CodeConcurrencyVersionMismatch    = "0x80060882" // 412: If-Match ETag does not match
	CodeRequestsExceeded              = "0x80072322" // 429: number of requests limit
	CodeExecutionTimeExceeded         = "0x80072321" // 429: execution time limit
	CodeConcurrentRequestsExceeded    = "0x80072326" // 429: concurrent requests limit
	CodeTooManyConditions             = "0x8004430c" // 400: more than 500 conditions
	CodePayloadError                  = "0x80048d19" // 400: payload (or $batch framing) error
)

// Error is a failed call: an error answer of the Web API, or a failure to
// get the access token from Microsoft Entra ID (then Entra is set and
// StatusCode is the token endpoint's status). Every error the Client
// returns for a request that reached a server is, or wraps, an *Error; use
// errors.As, or the Is* helpers.
type Error struct {
	// StatusCode is the HTTP status of the answer (0 if there was none).
	StatusCode int
	// Code is Dataverse's error code, such as "0x80040217" (may be empty:
	// Dataverse leaves it empty for some errors).
	Code string
	// Message is the server's own message, unabridged.
	Message string
	// Method and URL identify the request.
	Method, URL string
	// RequestID is the server's request id (REQ_ID, x-ms-service-request-id),
	// useful when asking for support.
	RequestID string
	// RetryAfter is the server's Retry-After, for 429 answers.
	RetryAfter time.Duration
	// Annotations are the error's instance annotations, such as
	// "@Microsoft.PowerApps.CDS.TraceText" (with WithAnnotations).
	Annotations map[string]any
	// Challenge is the parsed WWW-Authenticate challenge of a 401 answer:
	// it names the tenant the environment belongs to.
	Challenge *Challenge
	// Entra is the identity provider's error when the access token could
	// not be acquired (wrong secret, wrong tenant, no consent, ...).
	Entra *EntraError
	// Body is the raw body when it was not in Dataverse's error shape.
	Body []byte
	// Err is the underlying error, if any (for token failures the
	// credential's own error).
	Err error
}

// EntraError is Microsoft Entra ID's OAuth error answer (reference: Entra
// §9): {"error":"invalid_client","error_description":"AADSTS7000215: …",
// "error_codes":[7000215], …}.
type EntraError struct {
	StatusCode    int    `json:"-"`
	Code          string `json:"error"`
	Description   string `json:"error_description"`
	Codes         []int  `json:"error_codes"`
	SubError      string `json:"suberror"`
	Timestamp     string `json:"timestamp"`
	TraceID       string `json:"trace_id"`
	CorrelationID string `json:"correlation_id"`
	ErrorURI      string `json:"error_uri"`
}

// AADSTS returns the first AADSTS error code (7000215 for AADSTS7000215),
// or 0.
func (e *EntraError) AADSTS() int {
	if e == nil {
		return 0
	}
	if len(e.Codes) > 0 {
		return e.Codes[0]
	}
	if rest, ok := strings.CutPrefix(e.Description, "AADSTS"); ok {
		end := strings.IndexFunc(rest, func(r rune) bool { return r < '0' || r > '9' })
		if end < 0 {
			end = len(rest)
		}
		n, _ := strconv.Atoi(rest[:end])
		return n
	}
	return 0
}

// Summary is the first line of the description (without the trace and
// correlation ids Entra appends).
func (e *EntraError) Summary() string {
	d := e.Description
	if i := strings.IndexAny(d, "\r\n"); i >= 0 {
		d = d[:i]
	}
	return strings.TrimSpace(d)
}

func (e *Error) Error() string {
	var b strings.Builder
	b.WriteString("dataverse: ")
	if e.Entra != nil {
		fmt.Fprintf(&b, "getting an access token failed: HTTP %d %s: %s", e.Entra.StatusCode, e.Entra.Code, e.Entra.Summary())
		if e.Entra.CorrelationID != "" {
			fmt.Fprintf(&b, " (correlation id %s)", e.Entra.CorrelationID)
		}
		return b.String()
	}
	if e.Method != "" {
		fmt.Fprintf(&b, "%s %s: ", e.Method, e.URL)
	}
	if e.StatusCode == 0 {
		b.WriteString(e.Message)
		if e.Err != nil {
			if e.Message != "" {
				b.WriteString(": ")
			}
			b.WriteString(e.Err.Error())
		}
		return b.String()
	}
	fmt.Fprintf(&b, "%d %s", e.StatusCode, http.StatusText(e.StatusCode))
	if e.Code != "" {
		fmt.Fprintf(&b, " (%s)", e.Code)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	} else if len(e.Body) > 0 {
		body := e.Body
		if len(body) > 512 {
			body = body[:512]
		}
		b.WriteString(": ")
		b.Write(bytes.TrimSpace(body))
	}
	if e.StatusCode == http.StatusTooManyRequests && e.RetryAfter > 0 {
		fmt.Fprintf(&b, " (retry after %s)", e.RetryAfter)
	}
	if e.Challenge != nil && e.Challenge.TenantID != "" {
		fmt.Fprintf(&b, " (the environment's tenant is %s)", e.Challenge.TenantID)
	}
	return b.String()
}

func (e *Error) Unwrap() error { return e.Err }

// HasCode reports whether the error's Dataverse code is one of codes
// (case-insensitive).
func (e *Error) HasCode(codes ...string) bool {
	for _, c := range codes {
		if e.Code != "" && strings.EqualFold(e.Code, c) {
			return true
		}
	}
	return false
}

// AsError returns the *Error in err's chain, or nil.
func AsError(err error) *Error {
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	return nil
}

// IsNotFound reports whether err is a 404 (the row, table or resource
// does not exist).
func IsNotFound(err error) bool {
	e := AsError(err)
	return e != nil && e.Entra == nil && (e.StatusCode == http.StatusNotFound || e.HasCode(CodeObjectDoesNotExist))
}

// IsThrottled reports whether err is a service protection limit error
// (429): Retry-After is in the *Error. The Client retries these by itself
// (Options.MaxRetries); callers see them only when retrying gave up.
func IsThrottled(err error) bool {
	e := AsError(err)
	return e != nil && e.Entra == nil && (e.StatusCode == http.StatusTooManyRequests ||
		e.HasCode(CodeRequestsExceeded, CodeExecutionTimeExceeded, CodeConcurrentRequestsExceeded))
}

// IsPrivilegeDenied reports whether the caller (or the impersonated user)
// lacks a privilege or an access right for the operation (403
// 0x80040220, 0x80048306, 0x80040231, 0x80048405).
func IsPrivilegeDenied(err error) bool {
	e := AsError(err)
	return e != nil && e.HasCode(CodePrivilegeDenied, CodeAccessCheckFailed, CodePrincipalPrivilegeDenied, CodeAccessDenied)
}

// IsNotMemberOfOrganization reports whether the token is valid but the
// environment has no (application) user for it (403 0x80072560): create
// the application user in that environment.
func IsNotMemberOfOrganization(err error) bool {
	e := AsError(err)
	return e != nil && e.HasCode(CodeUserNotMemberOfOrg)
}

// IsNoRoles reports whether the caller's user has no security role (403
// 0x80042f09).
func IsNoRoles(err error) bool {
	e := AsError(err)
	return e != nil && e.HasCode(CodeUserNotAssignedRoles)
}

// IsUserDisabled reports whether the caller's (application) user is
// disabled (0x80040225).
func IsUserDisabled(err error) bool {
	e := AsError(err)
	return e != nil && e.HasCode(CodeUserDisabled)
}

// IsCannotImpersonate reports whether the caller may not act on behalf of
// another user (403 0x8004a110: the role lacks prvActOnBehalfOfAnotherUser).
func IsCannotImpersonate(err error) bool {
	e := AsError(err)
	return e != nil && e.HasCode(CodeCannotActOnBehalfOfAnother)
}

// IsPreconditionFailed reports whether an If-Match / If-None-Match
// condition failed (412): the row changed since its ETag was read
// (0x80060882), or it already exists (0x80040237).
func IsPreconditionFailed(err error) bool {
	e := AsError(err)
	return e != nil && e.Entra == nil && (e.StatusCode == http.StatusPreconditionFailed ||
		e.HasCode(CodeConcurrencyVersionMismatch, CodeDuplicateRecord))
}

// IsUnauthorized reports whether the Web API refused the access token
// (401): wrong audience, wrong tenant, expired. The *Error's Challenge
// names the tenant the environment expects.
func IsUnauthorized(err error) bool {
	e := AsError(err)
	return e != nil && e.Entra == nil && e.StatusCode == http.StatusUnauthorized
}

// IsTokenError reports whether acquiring the access token failed; the
// *Error's Entra field holds the identity provider's error (AADSTS code).
func IsTokenError(err error) bool {
	e := AsError(err)
	return e != nil && (e.Entra != nil || errors.As(err, new(*azidentity.AuthenticationFailedError)))
}

// errorShape is Dataverse's error envelope (reference §4.14).
type errorShape struct {
	Error map[string]json.RawMessage `json:"error"`
}

// newResponseError builds the *Error of a failed Web API answer.
func newResponseError(method, url string, status int, h http.Header, body []byte) *Error {
	e := &Error{StatusCode: status, Method: method, URL: url}
	e.RequestID = h.Get("REQ_ID")
	if e.RequestID == "" {
		e.RequestID = h.Get("x-ms-service-request-id")
	}
	if status == http.StatusTooManyRequests {
		e.RetryAfter = parseRetryAfter(h.Get("Retry-After"), time.Now())
	}
	if status == http.StatusUnauthorized {
		if c, err := ParseChallenge(h.Get("WWW-Authenticate")); err == nil {
			e.Challenge = c
		}
	}
	var s errorShape
	if len(body) > 0 && json.Unmarshal(body, &s) == nil && s.Error != nil {
		for k, v := range s.Error {
			switch k {
			case "code":
				json.Unmarshal(v, &e.Code)
			case "message":
				json.Unmarshal(v, &e.Message)
			default:
				if strings.HasPrefix(k, "@") {
					if e.Annotations == nil {
						e.Annotations = map[string]any{}
					}
					var a any
					json.Unmarshal(v, &a)
					e.Annotations[k] = a
				}
			}
		}
		return e
	}
	e.Body = body
	return e
}

// tokenError wraps a credential's failure: the identity provider's error
// answer becomes e.Entra.
func tokenError(scope string, err error) error {
	e := &Error{Message: "getting an access token for " + scope + " failed", Err: err}
	var af *azidentity.AuthenticationFailedError
	if errors.As(err, &af) && af.RawResponse != nil {
		body, _ := runtime.Payload(af.RawResponse)
		var ee EntraError
		if json.Unmarshal(body, &ee) == nil && (ee.Code != "" || ee.Description != "") {
			ee.StatusCode = af.RawResponse.StatusCode
			e.Entra = &ee
			e.StatusCode = af.RawResponse.StatusCode
			e.Code = ee.Code
			e.Message = ee.Summary()
		}
	}
	return e
}
