package e2e

import (
	"encoding/json"
	"math"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
)

// BenchmarkWebAPIGetByID is the whole server-side cost of an
// authenticated GET by id — token check, principal, service protection
// limits and their headers, security decision, SQLite read, JSON — through
// the environment's handler in process (no TLS, no network: the smallest
// baseline, so the limiter's share of it is the largest).
// docs/benchmarks.md compares webapi's BenchmarkThrottleOverhead with it.
func BenchmarkWebAPIGetByID(b *testing.B) {
	// Limits that never refuse, but are counted and reported as usual.
	ts := start(b, "", func(c *stack.Config) {
		c.Limits = throttle.Limits{Requests: math.MaxInt, ExecutionTime: math.MaxInt64}
	})
	env := envURLNamed(b, ts, "contoso")
	tok := thrToken(b, ts, demo.PortalAppID, demo.PortalSecret, env)
	r := thrDo(b, ts.client, "GET", env+"/api/data/v9.2/accounts?$select=name&$top=1", tok, nil)
	var list struct{ Value []map[string]any }
	if err := json.Unmarshal(r.body, &list); err != nil || len(list.Value) != 1 {
		b.Fatalf("no account: %d %s", r.status, r.body)
	}
	id := list.Value[0]["accountid"].(string)
	h := ts.WebAPI.Handler(demo.EnvironmentName)
	req := httptest.NewRequest("GET", env+"/api/data/v9.2/accounts("+id+")?$select=name,accountnumber,revenue", nil)
	req.Header.Set("Authorization", "Bearer "+tok)
	req.Header.Set("Accept", "application/json")
	check := httptest.NewRecorder()
	h.ServeHTTP(check, req)
	if check.Code != http.StatusOK || check.Header().Get("x-ms-ratelimit-burst-remaining-xrm-requests") == "" {
		b.Fatalf("GET by id: %d %v %s", check.Code, check.Header(), check.Body)
	}
	b.ReportAllocs()
	b.ResetTimer()
	cpu := thrProcessCPU()
	for i := 0; i < b.N; i++ {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		if w.Code != http.StatusOK {
			b.Fatalf("status %d", w.Code)
		}
	}
	if end := thrProcessCPU(); cpu >= 0 && end >= 0 {
		// The whole process: the stack's own goroutines are idle meanwhile.
		b.ReportMetric(float64((end-cpu).Nanoseconds())/float64(b.N), "cpu-ns/op")
	}
}
