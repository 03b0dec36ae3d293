package main

import (
	"context"
	"fmt"
	"net/http"
	"os/exec"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

// phaseResult is one measured phase: responses with status >= 400 are
// Bad.
type phaseResult struct {
	benchkit.Result
	p50, p90  float64 // latency, ms
	p99, pmax float64
	rssPeak   int64 // peak VmRSS of the measured server during the phase, kB
	rssEnd    int64 // VmRSS at the end of the phase, kB
}

// loadgen sends GET requests for paths (round-robin, from conns
// keep-alive HTTPS connections) to https://host and measures them.
type loadgen interface {
	name() string
	run(ctx context.Context, host string, paths []string, conns int, d time.Duration) (phaseResult, error)
}

// requestHeaders are the header fields of every request, as the
// Dataverse client libraries send them.
func requestHeaders(token string) [][2]string {
	return [][2]string{
		{"Authorization", "Bearer " + token},
		{"Accept", "application/json"},
		{"OData-MaxVersion", "4.0"},
		{"OData-Version", "4.0"},
	}
}

// measure runs one phase against the process p, with its CPU time and
// resident memory.
func measure(ctx context.Context, g loadgen, p *benchkit.Proc, host string, paths []string, conns int, d time.Duration) (phaseResult, error) {
	var r phaseResult
	err := benchkit.Measure(p, &r.Result, func() (err error) {
		rs := sampleRSS(p.Pid(), 100*time.Millisecond)
		r, err = g.run(ctx, host, paths, conns, d)
		r.rssPeak, r.rssEnd = rs.end()
		return err
	})
	if err == nil && r.OK == 0 {
		err = fmt.Errorf("%s: no successful response (%d >= 400, %d errors)\nserver log:\n%s", g.name(), r.Bad, r.Errors, p.Stderr.String())
	}
	return r, err
}

// wrkGen runs wrk (Debian package wrk), as bench/tokens does: a C event
// loop, the cheapest client per request, so it leaves the most CPU to the
// server. A Lua request() callback sends pre-formatted requests
// round-robin (each thread from its own offset). There is no response()
// callback, which would copy every body into Lua: wrk counts responses
// with status >= 400 itself (summary.errors.status), and the tool checks
// before measuring that each request answers 200.
type wrkGen struct {
	wrk     benchkit.Wrk
	headers [][2]string
}

func (w *wrkGen) name() string {
	return fmt.Sprintf("wrk %s (%d threads)", wrkVersion(), w.wrk.Threads)
}

func wrkVersion() string {
	out, _ := exec.Command("wrk", "--version").CombinedOutput()
	if f := strings.Fields(string(out)); len(f) > 1 {
		return f[1]
	}
	return "?"
}

const wrkScript = `
local paths_file = %q
local headers = { %s }
local counter = 0
function setup(thread)
  thread:set("offset", counter * 101)
  counter = counter + 1
end
function init(args)
  reqs = {}
  for line in io.lines(paths_file) do
    local h = {}
    for k, v in pairs(headers) do h[k] = v end
    reqs[#reqs + 1] = wrk.format("GET", line, h)
  end
  i = offset %% #reqs
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
function done(summary, latency, requests)
  local e = summary.errors
  io.write(string.format("DVS2S requests=%%d status=%%d errors=%%d duration_us=%%d p50=%%.1f p90=%%.1f p99=%%.1f max=%%.1f\n",
    summary.requests, e.status, e.connect + e.read + e.write + e.timeout, summary.duration,
    latency:percentile(50), latency:percentile(90), latency:percentile(99), latency.max))
end
`

func (w *wrkGen) run(ctx context.Context, host string, paths []string, conns int, d time.Duration) (phaseResult, error) {
	var hs []string
	for _, h := range append([][2]string{{"Host", host}}, w.headers...) {
		hs = append(hs, fmt.Sprintf("[%q] = %q", h[0], h[1]))
	}
	v, cpu, err := w.wrk.Run(ctx, "https://"+host+paths[0], conns, d, paths, func(file string) string {
		return fmt.Sprintf(wrkScript, file, strings.Join(hs, ", "))
	})
	if err != nil {
		return phaseResult{}, err
	}
	ms := func(k string) float64 { return v[k] / 1000 } // µs → ms
	reqs, bad := int64(v["requests"]), int64(v["status"])
	return phaseResult{Result: benchkit.Result{OK: reqs - bad, Bad: bad, Errors: int64(v["errors"]), Seconds: v["duration_us"] / 1e6, GenCPU: cpu},
		p50: ms("p50"), p90: ms("p90"), p99: ms("p99"), pmax: ms("max")}, nil
}

// goGen is a Go client in this process: conns goroutines, each with its
// own keep-alive HTTP/1.1 connection. It costs about twice wrk's CPU per
// request (see bench/tokens), taken from the servers on a small machine.
type goGen struct {
	client  *http.Client
	headers [][2]string
}

func (g *goGen) name() string { return "Go net/http client (in process)" }

func (g *goGen) run(ctx context.Context, host string, paths []string, conns int, d time.Duration) (phaseResult, error) {
	var ok, bad, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	sec, cpu := benchkit.Drive(ctx, conns, d, func(ctx context.Context, k int) {
		var mine []time.Duration
		defer func() { mu.Lock(); lat = append(lat, mine...); mu.Unlock() }()
		for i := k * 101; ctx.Err() == nil; i++ {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+host+paths[i%len(paths)], nil)
			if err != nil {
				errs.Add(1)
				return
			}
			for _, h := range g.headers {
				req.Header.Set(h[0], h[1])
			}
			t0 := time.Now()
			status, err := benchkit.Fetch(g.client, req)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					errs.Add(1)
				}
			case status >= 400:
				bad.Add(1)
			default:
				ok.Add(1)
				mine = append(mine, time.Since(t0))
			}
		}
	})
	r := phaseResult{Result: benchkit.Result{OK: ok.Load(), Bad: bad.Load(), Errors: errs.Load(), Seconds: sec, GenCPU: cpu}}
	slices.Sort(lat)
	pct := func(p float64) float64 {
		if len(lat) == 0 {
			return 0
		}
		return float64(lat[min(len(lat)-1, int(p/100*float64(len(lat))))]) / 1e6
	}
	r.p50, r.p90, r.p99, r.pmax = pct(50), pct(90), pct(99), pct(100)
	return r, nil
}

func newLoadgen(kind string, threads int, dir, caFile string, headers [][2]string) (loadgen, error) {
	switch kind {
	case "wrk":
		if err := benchkit.Need("wrk"); err != nil {
			return nil, err
		}
		return &wrkGen{wrk: benchkit.Wrk{Threads: max(1, threads), Dir: dir}, headers: headers}, nil
	case "go":
		c, err := benchkit.Client(caFile, 256) // one connection per goroutine
		if err != nil {
			return nil, err
		}
		return &goGen{client: c, headers: headers}, nil
	}
	return nil, fmt.Errorf("-loadgen %q: use wrk, go or auto", kind)
}
