package webapi

import "net/http"

// batch answers POST $batch. Batches arrive with the service protection
// limits issue; until then the request is refused clearly.
func (q *request) batch() {
	q.fail(errorf(http.StatusNotImplemented, codeNotSupported, "$batch requests are not supported by this dvs2s version yet."))
}
