package webapi

import (
	"encoding/json"
	"net/http"
)

// route dispatches a request on its resource path.
func (q *request) route() {
	switch q.path {
	case "WhoAmI", "WhoAmI()":
		if q.r.Method != http.MethodGet {
			q.fail(noResource(q.base + q.path))
			return
		}
		q.whoAmI()
		return
	}
	q.fail(noResource(q.base + q.path))
}

func (q *request) fail(e *Error) { writeError(q.w, e) }

// writeJSON writes a JSON body with the OData minimal-metadata content type.
func (q *request) writeJSON(status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		q.s.log.Error("encoding response", "err", err)
		q.fail(errorf(http.StatusInternalServerError, codeUnexpected, "The response could not be encoded."))
		return
	}
	h := q.w.Header()
	h.Set("Content-Type", "application/json; odata.metadata=minimal")
	q.w.WriteHeader(status)
	q.w.Write(b)
}

// whoAmI answers WhoAmI (reference §4.5).
func (q *request) whoAmI() {
	q.writeJSON(http.StatusOK, map[string]any{
		"@odata.context": q.base + "$metadata#Microsoft.Dynamics.CRM.WhoAmIResponse",
		"BusinessUnitId": q.p.BU,
		"UserId":         q.p.UserID,
		"OrganizationId": q.env.ID,
	})
}
