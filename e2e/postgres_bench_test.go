package e2e

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/demo"
	"github.com/dvs2s/dvs2s/environment"
	"github.com/dvs2s/dvs2s/schema"
	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/store"
	"github.com/dvs2s/dvs2s/store/postgres/pgtest"
	"github.com/dvs2s/dvs2s/throttle"
)

// BenchmarkDataService measures the Web API over HTTPS on each engine, in
// one run so the figures compare: the embedded SQLite, PostgreSQL, and two
// instances sharing one PostgreSQL (a client alternating between them
// request by request, as behind a round-robin load balancer). Each engine
// holds the same DVS2S_BENCH_ROWS accounts (default 20,000, inserted as
// the server inserts them); the operations are those of bench/webapi:
//
//   - get: GET accounts(<id>)?$select=name,accountnumber,revenue over 1,000
//     rows round-robin;
//   - list: GET accounts?$select=name,revenue&$filter=startswith(name,
//     'Fabrikam 01') and revenue gt 5000000&$top=50;
//   - create: POST accounts (a new row each time).
//
// Sub-benchmarks are <operation>/<engine>. Run the whole benchmark several
// times (a shell loop) rather than with -count, which repeats each
// sub-benchmark back to back. The client runs in the test process with
// GOMAXPROCS×8 goroutines
// (b.SetParallelism(8)) on keep-alive connections; the servers are
// in-process stacks, PostgreSQL a separate server on the same machine.
// Metrics: req/s, and p50/p99 latency in ms. docs/benchmarks.md has the
// command and the figures.
func BenchmarkDataService(b *testing.B) {
	rows := 20_000
	if v, err := strconv.Atoi(os.Getenv("DVS2S_BENCH_ROWS")); err == nil && v > 0 {
		rows = v
	}
	noLimits := func(c *stack.Config) {
		c.Limits = throttle.Limits{Requests: math.MaxInt, ExecutionTime: math.MaxInt64, Concurrent: -1}
	}
	type engine struct {
		name  string
		setup func(b *testing.B) []*instance
	}
	engines := []engine{
		{"sqlite", func(b *testing.B) []*instance {
			return []*instance{startInstance(b, "127.0.0.1", b.TempDir(), "", randomMasterKey(), 0, noLimits)}
		}},
		{"postgres", func(b *testing.B) []*instance {
			return []*instance{startInstance(b, "127.0.0.1", b.TempDir(), pgtest.NewDatabase(b), randomMasterKey(), 0, noLimits)}
		}},
		{"postgres-2-instances", func(b *testing.B) []*instance {
			database, key := pgtest.NewDatabase(b), randomMasterKey()
			addrA, addrB := "127.0.0.2", "127.0.0.3"
			port := freePortPair(b, "127.0.0.1", addrA, addrB)
			startLB(b, []int{port, port + 1}, []string{addrA, addrB})
			dirA, dirB := b.TempDir(), b.TempDir()
			a := startInstance(b, addrA, dirA, database, key, port, noLimits)
			copyCA(b, dirA, dirB)
			return []*instance{a, startInstance(b, addrB, dirB, database, key, port, noLimits)}
		}},
	}
	// Every engine is set up and seeded first; then each operation runs on
	// the three engines one after the other, so their figures are taken
	// within seconds of each other on a shared machine.
	type ready struct {
		name string
		ins  []*instance
		tok  string
		api  string
		ids  []string
	}
	var rs []ready
	for _, e := range engines {
		ins := e.setup(b)
		envURL := s2sEnvURLOf(b, ins[0])
		benchSeed(b, ins[0], rows)
		r := ready{name: e.name, ins: ins, tok: ins[0].token(b, envURL), api: envURL + "/api/data/v9.2/"}
		var page struct {
			Value []struct {
				ID string `json:"accountid"`
			} `json:"value"`
		}
		st, _, body, err := ins[0].api(b.Context(), http.MethodGet, r.api+"accounts?$select=accountid&$top=5000", r.tok, nil)
		if err != nil || st != http.StatusOK || json.Unmarshal(body, &page) != nil || len(page.Value) == 0 {
			b.Fatalf("%s: ids: %d %s %v", e.name, st, body, err)
		}
		for i := 0; i < len(page.Value) && len(r.ids) < 1000; i += max(1, len(page.Value)/1000) {
			r.ids = append(r.ids, page.Value[i].ID)
		}
		rs = append(rs, r)
	}
	filter := "&$filter=" + url.QueryEscape("startswith(name,'Fabrikam 01') and revenue gt 5000000")
	var seq atomic.Int64
	ops := []struct {
		name string
		req  func(r *ready, k int64) (method, u string, body []byte, want int)
	}{
		{"get", func(r *ready, k int64) (string, string, []byte, int) {
			return http.MethodGet, r.api + "accounts(" + r.ids[k%int64(len(r.ids))] + ")?$select=name,accountnumber,revenue", nil, http.StatusOK
		}},
		{"list", func(r *ready, k int64) (string, string, []byte, int) {
			return http.MethodGet, r.api + "accounts?$select=name,revenue" + filter + "&$top=50", nil, http.StatusOK
		}},
		{"create", func(r *ready, k int64) (string, string, []byte, int) {
			return http.MethodPost, r.api + "accounts", []byte(`{"name":"bench ` + strconv.FormatInt(k, 10) + `","revenue":1000}`), http.StatusNoContent
		}},
	}
	for _, op := range ops {
		for i := range rs {
			r := &rs[i]
			b.Run(op.name+"/"+r.name, func(b *testing.B) {
				ins := r.ins
				// Warm each instance's connections and caches.
				for i := range 2 * len(ins) {
					m, u, body, want := op.req(r, seq.Add(1))
					if st, _, rb, err := benchDo(b.Context(), ins[i%len(ins)], m, u, r.tok, body); err != nil || st != want {
						b.Fatalf("%s %s: %d %s %v", m, u, st, rb, err)
					}
				}
				var mu sync.Mutex
				var lat []time.Duration
				var failed atomic.Int64
				b.SetParallelism(8)
				b.ResetTimer()
				start := time.Now()
				b.RunParallel(func(pb *testing.PB) {
					var mine []time.Duration
					for pb.Next() {
						k := seq.Add(1)
						m, u, body, want := op.req(r, k)
						t0 := time.Now()
						st, _, _, err := benchDo(b.Context(), ins[k%int64(len(ins))], m, u, r.tok, body)
						mine = append(mine, time.Since(t0))
						if err != nil || st != want {
							failed.Add(1)
						}
					}
					mu.Lock()
					lat = append(lat, mine...)
					mu.Unlock()
				})
				elapsed := time.Since(start)
				b.StopTimer()
				if n := failed.Load(); n > 0 {
					b.Fatalf("%d of %d requests failed", n, len(lat))
				}
				slices.Sort(lat)
				pct := func(p float64) float64 {
					return float64(lat[min(len(lat)-1, int(p*float64(len(lat))))].Microseconds()) / 1000
				}
				b.ReportMetric(float64(len(lat))/elapsed.Seconds(), "req/s")
				b.ReportMetric(pct(0.50), "p50-ms")
				b.ReportMetric(pct(0.99), "p99-ms")
			})
		}
	}
}

// benchDo sends one request, reading and discarding the answer.
func benchDo(ctx context.Context, in *instance, method, u, token string, body []byte) (int, http.Header, []byte, error) {
	req, err := http.NewRequestWithContext(ctx, method, u, bytes.NewReader(body))
	if err != nil {
		return 0, nil, nil, err
	}
	req.Header.Set("Authorization", "Bearer "+token)
	req.Header.Set("Accept", "application/json")
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := in.client.Do(req)
	if err != nil {
		return 0, nil, nil, err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, b, err
}

var benchWords = []string{"Contoso", "Fabrikam", "Northwind", "Litware", "Adventure", "Tailspin", "Wingtip", "Proseware",
	"Coho", "Margie", "Lucerne", "Woodgrove", "Alpine", "Blue Yonder", "Fourth Coffee", "Trey", "Wide World", "Humongous", "Graphic", "Relecloud"}

// benchSeed inserts accounts as bench/webapi does (same names and value
// spread, deterministic), through the instance's environment, as the
// server inserts them.
func benchSeed(b *testing.B, in *instance, n int) {
	b.Helper()
	ctx := context.Background()
	env, err := in.Envs.Open(ctx, demo.EnvironmentName)
	if err != nil {
		b.Fatal(err)
	}
	accounts := env.Schema().Table(schema.TableAccount)
	c := environment.Caller{UserID: demo.PortalAppUserID, BU: env.RootBU}
	for i := 0; i < n; {
		end := min(i+2000, n)
		err := env.Data.InTx(ctx, func(d store.Data) error {
			for ; i < end; i++ {
				r := store.Row{
					"name":              fmt.Sprintf("%s %06d", benchWords[i%len(benchWords)], i),
					"accountnumber":     fmt.Sprintf("AC-%07d", i),
					"revenue":           float64((i * 7919) % 10_000_000),
					"numberofemployees": int64((i * 31) % 5000),
				}
				if _, err := env.Insert(ctx, d, accounts, r, c); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}
