package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// phaseResult is one measured phase.
type phaseResult struct {
	ok        int64   // responses with status < 400
	bad       int64   // responses with status >= 400
	errors    int64   // transport errors and timeouts
	seconds   float64 // measured duration
	rate      float64 // ok responses per second
	p50, p90  float64 // latency, ms
	p99, pmax float64
	serverCPU float64 // CPU seconds of the measured server process, -1 if unknown
	genCPU    float64 // CPU seconds of the load generator, -1 if unknown
	rssPeak   int64   // peak VmRSS of the measured server during the phase, kB
	rssEnd    int64   // VmRSS at the end of the phase, kB
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
func measure(ctx context.Context, g loadgen, p *proc, host string, paths []string, conns int, d time.Duration) (phaseResult, error) {
	c0 := p.cpuSeconds()
	rs := sampleRSS(p.pid(), 100*time.Millisecond)
	r, err := g.run(ctx, host, paths, conns, d)
	r.rssPeak, r.rssEnd = rs.end()
	c1 := p.cpuSeconds()
	if err != nil {
		return r, err
	}
	r.serverCPU = -1
	if c0 >= 0 && c1 >= 0 {
		r.serverCPU = c1 - c0
	}
	if r.seconds > 0 {
		r.rate = float64(r.ok) / r.seconds
	}
	if r.ok == 0 {
		return r, fmt.Errorf("%s: no successful response (%d >= 400, %d errors)\nserver log:\n%s", g.name(), r.bad, r.errors, p.stderr.String())
	}
	return r, nil
}

func childCPU(ps *os.ProcessState) float64 {
	if ps == nil {
		return -1
	}
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// wrkGen runs wrk (Debian package wrk), as bench/tokens does: a C event
// loop, the cheapest client per request, so it leaves the most CPU to the
// server. A Lua request() callback sends pre-formatted requests
// round-robin (each thread from its own offset). There is no response()
// callback, which would copy every body into Lua: wrk counts responses
// with status >= 400 itself (summary.errors.status), and the tool checks
// before measuring that each request answers 200.
type wrkGen struct {
	threads int
	dir     string
	headers [][2]string
	runs    int
}

func (w *wrkGen) name() string {
	return fmt.Sprintf("wrk %s (%d threads)", wrkVersion(), w.threads)
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

var wrkResult = regexp.MustCompile(`DVS2S requests=(\d+) status=(\d+) errors=(\d+) duration_us=(\d+) p50=([0-9.]+) p90=([0-9.]+) p99=([0-9.]+) max=([0-9.]+)`)

func (w *wrkGen) run(ctx context.Context, host string, paths []string, conns int, d time.Duration) (phaseResult, error) {
	w.runs++
	pf := filepath.Join(w.dir, fmt.Sprintf("wrk-paths-%d.txt", w.runs))
	sf := filepath.Join(w.dir, fmt.Sprintf("wrk-%d.lua", w.runs))
	var hs []string
	for _, h := range append([][2]string{{"Host", host}}, w.headers...) {
		hs = append(hs, fmt.Sprintf("[%q] = %q", h[0], h[1]))
	}
	if err := os.WriteFile(pf, []byte(strings.Join(paths, "\n")+"\n"), 0o600); err != nil {
		return phaseResult{}, err
	}
	if err := os.WriteFile(sf, []byte(fmt.Sprintf(wrkScript, pf, strings.Join(hs, ", "))), 0o600); err != nil {
		return phaseResult{}, err
	}
	defer os.Remove(pf)
	defer os.Remove(sf)
	secs := int(math.Ceil(d.Seconds()))
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(max(1, min(w.threads, conns))), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "10s", "-s", sf, "https://"+host+paths[0])
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return phaseResult{}, fmt.Errorf("wrk: %w\n%s", err, out.String())
	}
	m := wrkResult.FindStringSubmatch(out.String())
	if m == nil {
		return phaseResult{}, fmt.Errorf("wrk printed no result:\n%s", out.String())
	}
	n := func(s string) int64 { v, _ := strconv.ParseInt(s, 10, 64); return v }
	f := func(s string) float64 { v, _ := strconv.ParseFloat(s, 64); return v / 1000 } // µs → ms
	reqs, bad := n(m[1]), n(m[2])
	return phaseResult{ok: reqs - bad, bad: bad, errors: n(m[3]), seconds: float64(n(m[4])) / 1e6,
		p50: f(m[5]), p90: f(m[6]), p99: f(m[7]), pmax: f(m[8]), genCPU: childCPU(cmd.ProcessState)}, nil
}

// goGen is a Go client in this process: conns goroutines, each with its
// own keep-alive HTTP/1.1 connection. It costs about twice wrk's CPU per
// request (see bench/tokens), taken from the servers on a small machine.
type goGen struct {
	client  *http.Client
	headers [][2]string
}

func (g *goGen) name() string { return "Go net/http client (in process)" }

func selfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

func (g *goGen) run(ctx context.Context, host string, paths []string, conns int, d time.Duration) (phaseResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok, bad, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var wg sync.WaitGroup
	cpu0 := selfCPU()
	start := time.Now()
	for k := range conns {
		wg.Go(func() {
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
				resp, err := g.client.Do(req)
				if err == nil {
					_, err = io.Copy(io.Discard, resp.Body)
					resp.Body.Close()
				}
				switch {
				case err != nil:
					if ctx.Err() == nil {
						errs.Add(1)
					}
				case resp.StatusCode >= 400:
					bad.Add(1)
				default:
					ok.Add(1)
					mine = append(mine, time.Since(t0))
				}
			}
		})
	}
	wg.Wait()
	sec := time.Since(start).Seconds()
	cpu := selfCPU()
	r := phaseResult{ok: ok.Load(), bad: bad.Load(), errors: errs.Load(), seconds: sec, genCPU: -1}
	if cpu0 >= 0 && cpu >= 0 {
		r.genCPU = cpu - cpu0
	}
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
		if _, err := exec.LookPath("wrk"); err != nil {
			return nil, errors.New("wrk is not installed (apt-get install -y wrk), or use -loadgen go")
		}
		return &wrkGen{threads: max(1, threads), dir: dir, headers: headers}, nil
	case "go":
		c, err := httpClient(caFile, 256) // one connection per goroutine
		if err != nil {
			return nil, err
		}
		return &goGen{client: c, headers: headers}, nil
	}
	return nil, fmt.Errorf("-loadgen %q: use wrk, go or auto", kind)
}
