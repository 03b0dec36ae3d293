// Package throttle implements Dataverse's service protection API limits
// (reference §3): per authenticated user, per server instance, three
// measures — the number of requests and their combined execution time in
// a sliding window, and the number of concurrent requests.
//
// The algorithm (reference §3.2):
//
//   - A request over the concurrency limit is refused at once.
//   - The request-count and execution-time limits are evaluated before a
//     request runs, on what the window already holds: the request that
//     takes the count to N (or the time past the limit) is still served,
//     the next ones are refused ("subsequent requests fail").
//   - A refused request is refused until Retry-After: the earliest moment
//     at which enough of the window has slid out for the next request to be
//     admitted.
//   - A refused request is still a request: it is recorded in the window,
//     so a client that keeps sending during the penalty pushes that moment
//     later ("continued hammering extends it") while a client that waits
//     as told is admitted on time.
//
// The window is kept in one-second buckets (only the seconds in which the
// user did something), so a user costs a few dozen bytes plus 24 bytes
// per busy second of the window, and expiry is exact to the second.
package throttle

import (
	"fmt"
	"runtime"
	"strconv"
	"strings"
	"time"
)

// Limits configures the three limits. Zero fields take the documented
// defaults (see Defaults); a negative Requests, ExecutionTime or
// Concurrent disables that limit.
type Limits struct {
	// Requests is the number of requests per user in the window (6,000).
	Requests int
	// ExecutionTime is the combined execution time per user in the window
	// (20 minutes).
	ExecutionTime time.Duration
	// Concurrent is the number of requests a user may have in flight (52).
	Concurrent int
	// Window is the sliding window (300 seconds); whole seconds.
	Window time.Duration
	// DOPHint is the x-ms-dop-hint value; 0 derives it from the processors
	// available (twice GOMAXPROCS, at most Concurrent).
	DOPHint int
}

// Defaults are Dataverse's documented default limits per web server.
var Defaults = Limits{Requests: 6000, ExecutionTime: 1200 * time.Second, Concurrent: 52, Window: 300 * time.Second}

// Merge returns l with its zero fields taken from base.
func (l Limits) Merge(base Limits) Limits {
	if l.Requests == 0 {
		l.Requests = base.Requests
	}
	if l.ExecutionTime == 0 {
		l.ExecutionTime = base.ExecutionTime
	}
	if l.Concurrent == 0 {
		l.Concurrent = base.Concurrent
	}
	if l.Window == 0 {
		l.Window = base.Window
	}
	if l.DOPHint == 0 {
		l.DOPHint = base.DOPHint
	}
	return l
}

// normalize fills defaults and derived values.
func (l Limits) normalize() Limits {
	l = l.Merge(Defaults)
	if l.Window < time.Second {
		l.Window = time.Second
	}
	l.Window = l.Window.Truncate(time.Second)
	if l.DOPHint <= 0 {
		l.DOPHint = 2 * runtime.GOMAXPROCS(0)
		if l.Concurrent > 0 && l.DOPHint > l.Concurrent {
			l.DOPHint = l.Concurrent
		}
	}
	return l
}

// String renders limits in the syntax ParseLimits reads.
func (l Limits) String() string {
	var parts []string
	if l.Requests != 0 {
		parts = append(parts, "requests="+strconv.Itoa(l.Requests))
	}
	if l.ExecutionTime != 0 {
		parts = append(parts, "execution-time="+l.ExecutionTime.String())
	}
	if l.Concurrent != 0 {
		parts = append(parts, "concurrent="+strconv.Itoa(l.Concurrent))
	}
	if l.Window != 0 {
		parts = append(parts, "window="+l.Window.String())
	}
	if l.DOPHint != 0 {
		parts = append(parts, "dop-hint="+strconv.Itoa(l.DOPHint))
	}
	return strings.Join(parts, ",")
}

// ParseLimits reads "requests=100,execution-time=60s,concurrent=4,
// window=300s,dop-hint=4" (any subset; omitted fields stay zero).
func ParseLimits(s string) (Limits, error) {
	var l Limits
	for _, kv := range strings.Split(s, ",") {
		kv = strings.TrimSpace(kv)
		if kv == "" {
			continue
		}
		k, v, ok := strings.Cut(kv, "=")
		if !ok {
			return l, fmt.Errorf("limit %q: want name=value", kv)
		}
		k, v = strings.TrimSpace(k), strings.TrimSpace(v)
		var err error
		switch k {
		case "requests":
			l.Requests, err = strconv.Atoi(v)
		case "concurrent":
			l.Concurrent, err = strconv.Atoi(v)
		case "dop-hint":
			l.DOPHint, err = strconv.Atoi(v)
		case "execution-time":
			l.ExecutionTime, err = time.ParseDuration(v)
		case "window":
			l.Window, err = time.ParseDuration(v)
			if err == nil && l.Window < time.Second {
				err = fmt.Errorf("at least 1s")
			}
		default:
			return l, fmt.Errorf("unknown limit %q (requests, execution-time, concurrent, window, dop-hint)", k)
		}
		if err != nil {
			return l, fmt.Errorf("limit %s=%q: %v", k, v, err)
		}
	}
	return l, nil
}

// ParseEnvLimits reads per-environment limits:
// "contoso:requests=100,concurrent=4;fabrikam:window=60s".
func ParseEnvLimits(s string) (map[string]Limits, error) {
	out := map[string]Limits{}
	for _, item := range strings.Split(s, ";") {
		item = strings.TrimSpace(item)
		if item == "" {
			continue
		}
		name, spec, ok := strings.Cut(item, ":")
		name = strings.ToLower(strings.TrimSpace(name))
		if !ok || name == "" {
			return nil, fmt.Errorf("environment limits %q: want <environment>:<limits>", item)
		}
		l, err := ParseLimits(spec)
		if err != nil {
			return nil, fmt.Errorf("environment %s: %w", name, err)
		}
		out[name] = l
	}
	return out, nil
}

// Kind names the limit a request was refused by.
type Kind uint8

const (
	// None: the request was admitted.
	None Kind = iota
	// RequestCount: number of requests in the window.
	RequestCount
	// ExecutionTime: combined execution time in the window.
	ExecutionTime
	// Concurrency: concurrent requests.
	Concurrency
)

// String is the metric label of the kind.
func (k Kind) String() string {
	switch k {
	case RequestCount:
		return "requests"
	case ExecutionTime:
		return "execution_time"
	case Concurrency:
		return "concurrency"
	}
	return "none"
}

// Code is the Web API error code of the kind (reference §3.1).
func (k Kind) Code() string {
	switch k {
	case RequestCount:
		return "0x80072322"
	case ExecutionTime:
		return "0x80072321"
	case Concurrency:
		return "0x80072326"
	}
	return ""
}

// Message is the documented error message of the kind, with the
// configured limits (reference §3.1, verbatim including the double space).
func (l Limits) Message(k Kind) string {
	l = l.normalize()
	w := int64(l.Window / time.Second)
	switch k {
	case RequestCount:
		return fmt.Sprintf("Number of requests exceeded the limit of %d over time window of %d seconds.", l.Requests, w)
	case ExecutionTime:
		return fmt.Sprintf("Combined execution time of incoming requests exceeded limit of %s  milliseconds over time window of %d seconds. Decrease number of concurrent requests or reduce the duration of requests and try again later.",
			group(l.ExecutionTime.Milliseconds()), w)
	case Concurrency:
		return fmt.Sprintf("Number of concurrent requests exceeded the limit of %d.", l.Concurrent)
	}
	return ""
}

// group formats n with thousands separators: 1200000 → "1,200,000".
func group(n int64) string {
	return string(appendGrouped(nil, n))
}

func appendGrouped(b []byte, n int64) []byte {
	if n < 0 {
		b = append(b, '-')
		n = -n
	}
	var tmp [24]byte
	s := strconv.AppendInt(tmp[:0], n, 10)
	for i, c := range s {
		if i > 0 && (len(s)-i)%3 == 0 {
			b = append(b, ',')
		}
		b = append(b, c)
	}
	return b
}

// FormatSeconds renders a duration as Dataverse's
// x-ms-ratelimit-time-remaining-xrm-requests does: seconds with a
// thousands separator and two decimals ("1,200.00", "1,199.46").
func FormatSeconds(d time.Duration) string {
	var buf [32]byte
	return string(AppendSeconds(buf[:0], d))
}

// AppendSeconds appends FormatSeconds(d) to b.
func AppendSeconds(b []byte, d time.Duration) []byte {
	if d < 0 {
		d = 0
	}
	cents := int64(d / (10 * time.Millisecond))
	b = appendGrouped(b, cents/100)
	c := cents % 100
	return append(b, '.', byte('0'+c/10), byte('0'+c%10))
}
