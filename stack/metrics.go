package stack

import (
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/dvs2s/dvs2s/webapi"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Metrics are the stack's Prometheus metrics, served at /metrics on the
// identity service's port. It implements webapi.Observer.
type Metrics struct {
	reg       *prometheus.Registry
	requests  *prometheus.CounterVec
	latency   *prometheus.HistogramVec
	throttled *prometheus.CounterVec
	tokens    *prometheus.CounterVec

	// series caches the request series by label values: a map read
	// instead of hashing two sets of labels on every request.
	mu     sync.RWMutex
	series map[seriesKey]*series
}

type seriesKey struct {
	env, table, op string
	status         int
}

type series struct {
	count   prometheus.Counter
	latency prometheus.Observer
}

var _ webapi.Observer = (*Metrics)(nil)

// NewMetrics returns the metrics, registered in a registry of their own
// with the Go runtime and process collectors.
func NewMetrics() *Metrics {
	m := &Metrics{reg: prometheus.NewRegistry(), series: map[seriesKey]*series{}}
	m.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvs2s_webapi_requests_total",
		Help: "Web API requests by environment, table (logical name; empty when none), operation and HTTP status.",
	}, []string{"environment", "table", "operation", "status"})
	m.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "dvs2s_webapi_request_duration_seconds",
		Help:    "Web API request latency by environment, table and operation.",
		Buckets: []float64{.0005, .001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
	}, []string{"environment", "table", "operation"})
	m.throttled = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvs2s_webapi_throttled_total",
		Help: "Web API requests refused with 429 by a service protection limit (requests, execution_time, concurrency).",
	}, []string{"environment", "limit"})
	m.tokens = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "dvs2s_identity_tokens_issued_total",
		Help: "Access tokens issued by the identity service, by grant type.",
	}, []string{"grant"})
	m.reg.MustRegister(m.requests, m.latency, m.throttled, m.tokens,
		collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	return m
}

// Request implements webapi.Observer.
func (m *Metrics) Request(env, table, op string, status int, d time.Duration) {
	k := seriesKey{env, table, op, status}
	m.mu.RLock()
	s := m.series[k]
	m.mu.RUnlock()
	if s == nil {
		s = &series{m.requests.WithLabelValues(env, table, op, strconv.Itoa(status)), m.latency.WithLabelValues(env, table, op)}
		m.mu.Lock()
		m.series[k] = s
		m.mu.Unlock()
	}
	s.count.Inc()
	s.latency.Observe(d.Seconds())
}

// Throttled implements webapi.Observer.
func (m *Metrics) Throttled(env, limit string) {
	m.throttled.WithLabelValues(env, limit).Inc()
}

// TokenIssued counts an access token (identity.Config.OnToken).
func (m *Metrics) TokenIssued(grant, tenant string) {
	m.tokens.WithLabelValues(grant).Inc()
}

// WatchWebAPI adds dvs2s_webapi_active_principals: per environment, the
// users with requests in the service protection limits' sliding window on
// this server.
func (m *Metrics) WatchWebAPI(w *webapi.Server) {
	m.reg.MustRegister(activePrincipals{w})
}

// Handler serves the metrics in the Prometheus text format.
func (m *Metrics) Handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

var activeDesc = prometheus.NewDesc("dvs2s_webapi_active_principals",
	"Users (application users and users) with Web API requests in the service protection sliding window, per environment, on this server.",
	[]string{"environment"}, nil)

type activePrincipals struct{ w *webapi.Server }

func (a activePrincipals) Describe(ch chan<- *prometheus.Desc) { ch <- activeDesc }

func (a activePrincipals) Collect(ch chan<- prometheus.Metric) {
	for env, n := range a.w.ActivePrincipals() {
		ch <- prometheus.MustNewConstMetric(activeDesc, prometheus.GaugeValue, float64(n), env)
	}
}
