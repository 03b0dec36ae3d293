package webapi

import (
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/throttle"
	"github.com/google/uuid"
)

// Service protection limits (reference §3) and the observation of every
// Web API exchange: request id, x-ms-ratelimit-* and x-ms-dop-hint headers
// on every response, metrics and one structured log line.

// Observer receives the Web API's measurements; package stack turns them
// into Prometheus metrics. Implementations must be safe for concurrent use.
type Observer interface {
	// Request is one finished Web API request. table is the logical name
	// of the table addressed ("" for none) and operation one of a small
	// fixed set (list, retrieve, create, update, delete, count, navigation,
	// ref, batch, whoami, metadata, service_document, other).
	Request(env, table, operation string, status int, d time.Duration)
	// Throttled is a request refused by a service protection limit
	// (limit: requests, execution_time or concurrency).
	Throttled(env, limit string)
}

// HeaderRequestID carries the request id on every response (also sent as
// REQ_ID and x-ms-service-request-id, as Dataverse does).
const HeaderRequestID = "x-dvs2s-request-id"

// Canonical header keys, set without canonicalising on every response.
const (
	hdrRequestID = "X-Dvs2s-Request-Id"
	hdrBurst     = "X-Ms-Ratelimit-Burst-Remaining-Xrm-Requests"
	hdrTimeLeft  = "X-Ms-Ratelimit-Time-Remaining-Xrm-Requests"
	hdrDOPHint   = "X-Ms-Dop-Hint"
)

// LogAttrAdder is implemented by a ResponseWriter whose request log line
// takes the Web API's attributes (the stack's request log): environment,
// principal, table, operation and throttling. Without it the Web API logs
// a line of its own.
type LogAttrAdder interface {
	AddLogAttrs(...slog.Attr)
}

type envLimiter struct {
	name string
	lim  *throttle.Limiter
	lims throttle.Limits
	dop  []string // the x-ms-dop-hint value, shared by every response
	full [2]string
}

// limiter returns the environment's limiter on this server.
func (s *Server) limiter(env *environment.Env) *envLimiter {
	if v, ok := s.limiters.Load(env.ID); ok {
		return v.(*envLimiter)
	}
	l := s.c.Limits
	if el, ok := s.c.EnvLimits[strings.ToLower(env.Name)]; ok {
		l = el.Merge(l)
	}
	el := &envLimiter{name: env.Name, lim: throttle.New(l, s.c.ThrottleNow)}
	el.lims = el.lim.Limits()
	el.dop = []string{strconv.Itoa(el.lims.DOPHint)}
	el.full = [2]string{strconv.Itoa(el.lims.Requests), throttle.FormatSeconds(el.lims.ExecutionTime)}
	v, _ := s.limiters.LoadOrStore(env.ID, el)
	return v.(*envLimiter)
}

// ActivePrincipals returns, per environment name, the number of users the
// service protection limits currently track on this server: those with
// requests in the sliding window.
func (s *Server) ActivePrincipals() map[string]int {
	out := map[string]int{}
	s.limiters.Range(func(_, v any) bool {
		el := v.(*envLimiter)
		out[el.name] += el.lim.Users()
		return true
	})
	return out
}

// exchange wraps the ResponseWriter of one Web API request: it records the
// status, adds the rate-limit headers before the header is written, and
// reports the request when it ends.
type exchange struct {
	http.ResponseWriter
	s      *Server
	r      *http.Request
	env    *environment.Env
	id     string
	start  time.Time
	status int
	wrote  bool

	el      *envLimiter
	d       throttle.Decision
	decided bool
	user    string
	log     LogAttrAdder
	// Storage for the header values and log attributes, in the one
	// allocation of the exchange.
	vals  [2]string
	attrs [6]slog.Attr
}

// observe starts the observation of a request.
func (s *Server) observe(w http.ResponseWriter, r *http.Request, env *environment.Env) *exchange {
	x := &exchange{ResponseWriter: w, s: s, r: r, env: env, start: time.Now(), status: http.StatusOK, el: s.limiter(env)}
	h := w.Header()
	if v := h[hdrRequestID]; len(v) > 0 && v[0] != "" {
		x.id = v[0]
	} else {
		x.id = uuid.NewString()
		h[hdrRequestID] = []string{x.id}
	}
	x.log, _ = w.(LogAttrAdder)
	return x
}

// admit applies the service protection limits to the authenticated user
// (before impersonation: the limits are the caller's). When a limit
// refuses the request, admit writes the 429 and returns false.
func (x *exchange) admit(p *principal) bool {
	x.user = p.UserID
	x.d = x.el.lim.Begin(p.UserID)
	x.decided = true
	if x.d.Admitted() {
		return true
	}
	k := x.d.Refused
	x.Header().Set("Retry-After", strconv.FormatInt(int64(x.d.RetryAfter/time.Second), 10))
	writeError(x, errorf(http.StatusTooManyRequests, k.Code(), "%s", x.el.lims.Message(k)))
	if o := x.s.c.Observer; o != nil {
		o.Throttled(x.env.Name, k.String())
	}
	return false
}

// rateHeaders sets the x-ms-ratelimit-* and x-ms-dop-hint headers: the
// user's remaining budget, or the whole budget before authentication.
func (x *exchange) rateHeaders() {
	h := x.Header()
	l := &x.el.lims
	vals := &x.vals
	if !x.decided {
		*vals = x.el.full
	}
	if l.Requests >= 0 {
		if x.decided {
			vals[0] = strconv.FormatInt(x.d.BurstRemaining, 10)
		}
		h[hdrBurst] = vals[0:1:1]
	}
	if l.ExecutionTime >= 0 {
		if x.decided {
			var buf [32]byte
			vals[1] = string(throttle.AppendSeconds(buf[:0], x.d.TimeRemaining))
		}
		h[hdrTimeLeft] = vals[1:2:2]
	}
	h[hdrDOPHint] = x.el.dop
}

func (x *exchange) WriteHeader(code int) {
	if !x.wrote {
		x.wrote = true
		x.status = code
		x.rateHeaders()
	}
	x.ResponseWriter.WriteHeader(code)
}

func (x *exchange) Write(b []byte) (int, error) {
	if !x.wrote {
		x.WriteHeader(http.StatusOK)
	}
	return x.ResponseWriter.Write(b)
}

// Unwrap lets http.ResponseController reach the connection.
func (x *exchange) Unwrap() http.ResponseWriter { return x.ResponseWriter }

// finish ends the request: its execution time counts against the limits,
// and it is measured and logged.
func (x *exchange) finish() {
	if !x.wrote {
		// net/http writes 200 once the handler returns (or nothing, on a
		// panic): the headers set now still go out.
		x.rateHeaders()
	}
	x.d.Done()
	d := time.Since(x.start)
	table, op := classify(x.env.Schema(), x.r.Method, apiPath(x.r.URL.Path))
	if o := x.s.c.Observer; o != nil {
		o.Request(x.env.Name, table, op, x.status, d)
	}
	attrs := append(x.attrs[:0],
		slog.String("environment", x.env.Name),
		slog.String("principal", x.user),
		slog.String("table", table),
		slog.String("operation", op))
	if k := x.d.Refused; k != throttle.None {
		attrs = append(attrs, slog.String("throttled", k.String()), slog.Int64("retry_after_s", int64(x.d.RetryAfter/time.Second)))
	}
	if x.log != nil {
		x.log.AddLogAttrs(attrs...)
		return
	}
	// Not under the stack's request log: a line of our own. Never the query
	// string, headers or body (tokens, secrets, data).
	attrs = append(attrs, slog.String("request_id", x.id), slog.String("method", x.r.Method),
		slog.String("path", x.r.URL.Path), slog.Int("status", x.status), slog.Duration("duration", d))
	x.s.log.LogAttrs(x.r.Context(), slog.LevelInfo, "web api request", attrs...)
}

// apiPath strips /api/data/v9.x/ from a path.
func apiPath(p string) string {
	if rest, ok := strings.CutPrefix(p, "/api/data/v9."); ok {
		if i := strings.IndexByte(rest, '/'); i >= 0 {
			return rest[i+1:]
		}
		return ""
	}
	return p
}

// classify names the table and operation of a request for metrics and
// logs, from the method and the path after the service root. Labels come
// from a fixed set and the schema's tables, so their number is bounded.
func classify(sch *schema.Schema, method, path string) (table, op string) {
	if path == "" {
		return "", "service_document"
	}
	name, rest := path, ""
	if i := strings.IndexAny(path, "(/"); i >= 0 {
		name, rest = path[:i], path[i:]
	}
	switch name {
	case "$metadata", "EntityDefinitions", "RelationshipDefinitions", "GlobalOptionSetDefinitions":
		return "", "metadata"
	case "$batch":
		return "", "batch"
	case "WhoAmI":
		return "", "whoami"
	}
	t := sch.BySet(name)
	if t == nil {
		return "", "other"
	}
	table = t.LogicalName
	key := strings.HasPrefix(rest, "(")
	if key {
		depth := 0
		i := 0
		for ; i < len(rest); i++ {
			if rest[i] == '(' {
				depth++
			} else if rest[i] == ')' {
				if depth--; depth == 0 {
					break
				}
			}
		}
		if i < len(rest) {
			rest = rest[i+1:]
		} else {
			rest = ""
		}
	}
	switch {
	case rest == "/$count":
		return table, "count"
	case strings.HasSuffix(rest, "/$ref"):
		return table, "ref"
	case rest != "":
		return table, "navigation"
	}
	switch method {
	case http.MethodGet:
		if key {
			return table, "retrieve"
		}
		return table, "list"
	case http.MethodPost:
		return table, "create"
	case http.MethodPatch, http.MethodPut:
		return table, "update"
	case http.MethodDelete:
		return table, "delete"
	}
	return table, "other"
}
