package webapi

import (
	"io"
	"log/slog"
	"math"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/throttle"
	"github.com/prometheus/client_golang/prometheus"
)

// promObserver is stack.Metrics' Observer (stack imports webapi, so the
// benchmark has its own copy): a counter and a histogram per request,
// cached by label values.
type promObserver struct {
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	throttled *prometheus.CounterVec
	mu        sync.RWMutex
	series    map[benchKey]*benchSeries
}

type benchKey struct {
	env, table, op string
	status         int
}

type benchSeries struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

func newPromObserver() *promObserver {
	return &promObserver{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "r"}, []string{"environment", "table", "operation", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{Name: "l",
			Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30}}, []string{"environment", "table", "operation"}),
		throttled: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "t"}, []string{"environment", "limit"}),
		series:    map[benchKey]*benchSeries{},
	}
}

func (o *promObserver) Request(env, table, op string, status int, d time.Duration) {
	k := benchKey{env, table, op, status}
	o.mu.RLock()
	s := o.series[k]
	o.mu.RUnlock()
	if s == nil {
		s = &benchSeries{o.requests.WithLabelValues(env, table, op, strconv.Itoa(status)), o.latency.WithLabelValues(env, table, op)}
		o.mu.Lock()
		o.series[k] = s
		o.mu.Unlock()
	}
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

func (o *promObserver) Throttled(env, limit string) { o.throttled.WithLabelValues(env, limit).Inc() }

// benchWriter stands for the stack's request-log writer.
type benchWriter struct {
	h     http.Header
	attrs []slog.Attr
}

func (w *benchWriter) AddLogAttrs(a ...slog.Attr) { w.attrs = a }

func (w *benchWriter) Header() http.Header         { return w.h }
func (w *benchWriter) Write(b []byte) (int, error) { return len(b), nil }
func (w *benchWriter) WriteHeader(int)             {}

// BenchmarkThrottleOverhead is everything the service protection limits
// and their observation add to one Web API request (docs/benchmarks.md):
// the request id, the limiter's Begin and Done, the three rate-limit
// headers, the table and operation labels, the Prometheus counter and
// histogram, and the log fields the stack's request line gets. Compare it
// with BenchmarkWebAPIGetByID in e2e, the whole authenticated GET by id.
func BenchmarkThrottleOverhead(b *testing.B) {
	env := &environment.Env{Environment: store.Environment{ID: "9c7a3f1e-0000-4000-8000-000000000001", Name: "contoso"}}
	env.SetSchema(schema.System())
	// Limits high enough never to refuse, so every iteration is admitted
	// and formats all three headers.
	s := New(Config{Observer: newPromObserver(), Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
		Limits: throttle.Limits{Requests: math.MaxInt, ExecutionTime: math.MaxInt64}})
	p := &principal{UserID: "b1a2c3d4-0000-4000-8000-00000000a001"}
	r := httptest.NewRequest("GET", "https://localhost:8444/api/data/v9.2/accounts(6f1e2d3c-4b5a-4c6d-8e7f-0a1b2c3d4e5f)?$select=name", nil)
	w := &benchWriter{h: http.Header{}}
	b.Run("full", func(b *testing.B) {
		b.ReportAllocs()
		cpu := thrProcessCPU()
		for i := 0; i < b.N; i++ {
			clear(w.h)
			w.attrs = nil
			w.h[hdrRequestID] = []string{"5d3c1b2a-0000-4000-8000-000000000001"} // the stack's middleware sets it
			x := s.observe(w, r, env)
			if !x.admit(p) {
				b.Fatal("refused")
			}
			x.WriteHeader(http.StatusOK)
			x.finish()
		}
		reportCPU(b, cpu)
		if len(w.attrs) == 0 {
			b.Fatal("no log attributes")
		}
	})
	b.Run("limiter", func(b *testing.B) {
		b.ReportAllocs()
		l := s.limiter(env).lim
		cpu := thrProcessCPU()
		for i := 0; i < b.N; i++ {
			d := l.Begin(p.UserID)
			d.Done()
		}
		reportCPU(b, cpu)
	})
}

// reportCPU reports the process CPU time per operation since start.
func reportCPU(b *testing.B, start time.Duration) {
	if end := thrProcessCPU(); start >= 0 && end >= 0 {
		b.ReportMetric(float64((end-start).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
