package dataverse

import (
	"net/http"
	"strconv"
	"strings"
)

// RequestOption changes one request: impersonation, conditions, Prefer
// values, extra headers. Options apply to the request they are passed to
// and to nothing else, so one Client can serve many users at once.
type RequestOption func(*requestOptions)

type requestOptions struct {
	header      http.Header
	prefer      []string
	query       []string // extra query parameters, encoded
	pageSize    int
	annotations string
	represent   any // WithReturnRepresentation target
	idempotent  *bool
}

func (ro *requestOptions) set(k, v string) {
	if ro.header == nil {
		ro.header = http.Header{}
	}
	ro.header.Set(k, v)
}

// preferValues returns the Prefer header's values.
func (ro *requestOptions) preferValues() []string {
	var p []string
	if ro.represent != nil {
		p = append(p, "return=representation")
	}
	if ro.annotations != "" {
		p = append(p, `odata.include-annotations="`+ro.annotations+`"`)
	}
	if ro.pageSize > 0 {
		p = append(p, "odata.maxpagesize="+strconv.Itoa(ro.pageSize))
	}
	return append(p, ro.prefer...)
}

// apply writes the options' headers into h.
func (ro *requestOptions) apply(h http.Header) {
	for k, v := range ro.header {
		h[k] = v
	}
	if p := ro.preferValues(); len(p) > 0 {
		h["Prefer"] = []string{strings.Join(p, ",")}
	}
}

// WithCallerObjectID impersonates the user whose Microsoft Entra object id
// is oid (header CallerObjectId, the preferred form; reference §2). The
// application user needs the prvActOnBehalfOfAnotherUser privilege, and
// the operation needs the privileges of both.
func WithCallerObjectID(oid string) RequestOption {
	return func(ro *requestOptions) { ro.set("CallerObjectId", oid) }
}

// WithCallerID impersonates the user with Dataverse systemuserid id
// (header MSCRMCallerID, the legacy form). Passing an Entra object id here
// is a classic mistake: Dataverse ignores an unknown id and runs the
// request as the application user; use WithCallerObjectID for object ids.
func WithCallerID(systemUserID string) RequestOption {
	return func(ro *requestOptions) { ro.set("MSCRMCallerID", systemUserID) }
}

// WithIfMatch sends If-Match: the write (or delete) happens only if the
// row's ETag still is etag (optimistic concurrency; 412 otherwise, see
// IsPreconditionFailed). "*" means "only if the row exists".
func WithIfMatch(etag string) RequestOption {
	return func(ro *requestOptions) { ro.set("If-Match", etag) }
}

// WithIfNoneMatch sends If-None-Match: on GET with an ETag, a 304 answer
// if the row did not change (Retrieve returns ErrNotModified); on upsert
// "*" means "only create, never update" (412 if the row exists).
func WithIfNoneMatch(etag string) RequestOption {
	return func(ro *requestOptions) { ro.set("If-None-Match", etag) }
}

// WithReturnRepresentation asks a create, update or upsert to answer with
// the row (Prefer: return=representation) and decodes it into dst, a
// pointer such as *Row or *YourStruct. Combine with WithSelect to choose
// the columns.
func WithReturnRepresentation(dst any) RequestOption {
	return func(ro *requestOptions) { ro.represent = dst }
}

// WithAnnotations asks for instance annotations (Prefer:
// odata.include-annotations): with no argument all of them ("*"), else the
// given names or patterns, such as
// "OData.Community.Display.V1.FormattedValue" or
// "Microsoft.Dynamics.CRM.*". Read them with Row.FormattedValue and
// Row.Annotation.
func WithAnnotations(names ...string) RequestOption {
	v := "*"
	if len(names) > 0 {
		v = strings.Join(names, ",")
	}
	return func(ro *requestOptions) { ro.annotations = v }
}

// WithFormattedValues asks for the formatted values of choices, lookups,
// money and dates (WithAnnotations("OData.Community.Display.V1.FormattedValue")).
func WithFormattedValues() RequestOption {
	return WithAnnotations("OData.Community.Display.V1.FormattedValue")
}

// WithPageSize sets the page size of a query (Prefer:
// odata.maxpagesize=n, at most 5,000). The iterator follows
// @odata.nextLink with the same page size.
func WithPageSize(n int) RequestOption {
	return func(ro *requestOptions) { ro.pageSize = n }
}

// WithSelect adds $select to a retrieve, or to the row a create or update
// returns with WithReturnRepresentation.
func WithSelect(columns ...string) RequestOption {
	return WithQueryParameter("$select", strings.Join(columns, ","))
}

// WithQueryParameter adds a query parameter (encoded) to the request URL,
// such as a parameter alias ("@p1") or "tag".
func WithQueryParameter(name, value string) RequestOption {
	return func(ro *requestOptions) { ro.query = append(ro.query, name+"="+escapeQueryValue(value)) }
}

// WithHeader sets any request header, such as "MSCRM.SolutionUniqueName"
// or "Consistency".
func WithHeader(name, value string) RequestOption {
	return func(ro *requestOptions) { ro.set(name, value) }
}

// WithPrefer adds a value to the Prefer header (e.g. "odata.track-changes").
func WithPrefer(value string) RequestOption {
	return func(ro *requestOptions) { ro.prefer = append(ro.prefer, value) }
}

// WithBypassCustomPluginExecution skips custom plug-ins for this request
// (MSCRM.BypassCustomPluginExecution: true; needs prvBypassCustomPlugins).
func WithBypassCustomPluginExecution() RequestOption {
	return WithHeader("MSCRM.BypassCustomPluginExecution", "true")
}

// WithDuplicateDetection turns duplicate detection on for a create or
// update (MSCRM.SuppressDuplicateDetection: false; it is off by default).
func WithDuplicateDetection() RequestOption {
	return WithHeader("MSCRM.SuppressDuplicateDetection", "false")
}

// WithContinueOnError lets a $batch go on after a failed request
// (Prefer: odata.continue-on-error); by default it stops at the first.
func WithContinueOnError() RequestOption {
	return WithPrefer("odata.continue-on-error")
}

// WithIdempotent overrides whether the request is safe to repeat after a
// transient failure (network error, 5xx). By default GET, PUT, DELETE and
// unconditional PATCH are; POST (create, actions, $batch) is not. Use it
// for an action you know has no side effects, or to turn retries off.
func WithIdempotent(safe bool) RequestOption {
	return func(ro *requestOptions) { ro.idempotent = &safe }
}
