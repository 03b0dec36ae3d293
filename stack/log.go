package stack

import (
	"log/slog"
	"net/http"
	"time"

	"github.com/dvs2s/dvs2s/webapi"
	"github.com/google/uuid"
)

type statusWriter struct {
	http.ResponseWriter
	status int
	attrs  []slog.Attr // added by the Web API
}

var _ webapi.LogAttrAdder = (*statusWriter)(nil)

// AddLogAttrs implements webapi.LogAttrAdder: the Web API adds environment,
// principal, table, operation and throttling to the request's log line.
func (w *statusWriter) AddLogAttrs(a ...slog.Attr) {
	if w.attrs == nil {
		w.attrs = a
		return
	}
	w.attrs = append(w.attrs, a...)
}

func (w *statusWriter) WriteHeader(code int) {
	w.status = code
	w.ResponseWriter.WriteHeader(code)
}

// logRequests logs one line per request: method, path (never the query
// string or body, which may carry codes, secrets or tokens), status,
// duration and a request id, which every response also carries. observe,
// if given, receives the status and the Web API's attributes of each.
func logRequests(log *slog.Logger, next http.Handler, observe ...func(status int, fields []slog.Attr)) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		id := uuid.NewString()
		w.Header().Set(webapi.HeaderRequestID, id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		next.ServeHTTP(sw, r)
		attrs := append([]slog.Attr{
			slog.String("request_id", id), slog.String("method", r.Method), slog.String("path", r.URL.Path),
			slog.Int("status", sw.status), slog.Duration("duration", time.Since(start))}, sw.attrs...)
		log.LogAttrs(r.Context(), slog.LevelInfo, "request", attrs...)
		for _, o := range observe {
			o(sw.status, sw.attrs)
		}
	})
}
