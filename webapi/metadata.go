package webapi

import "net/http"

// metadata answers GET $metadata (CSDL).
func (q *request) metadata() {
	q.fail(errorf(http.StatusNotImplemented, codeNotSupported, "$metadata is not available yet."))
}
