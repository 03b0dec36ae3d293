package main

import (
	"bufio"
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
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
)

// phaseResult is one measured phase against the token endpoint.
type phaseResult struct {
	ok        int64   // 200 responses
	other     int64   // any other status
	errors    int64   // transport errors and timeouts
	seconds   float64 // measured duration
	rate      float64 // 200 responses per second
	serverCPU float64 // CPU seconds the server used (user + system), -1 if unknown
	genCPU    float64 // CPU seconds the load generator used, -1 if unknown
}

// loadgen drives the token endpoint with a fixed number of keep-alive
// HTTPS connections, sending bodies round-robin, and counts 200 responses.
type loadgen interface {
	name() string
	prepare(ctx context.Context, dir string, t *target, conns int) error
	run(ctx context.Context, bodies []string, d time.Duration) (phaseResult, error)
}

func measure(ctx context.Context, g loadgen, s *server, bodies []string, d time.Duration) (phaseResult, error) {
	c0 := s.cpuSeconds()
	r, err := g.run(ctx, bodies, d)
	c1 := s.cpuSeconds()
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
		return r, fmt.Errorf("%s: no 200 response (%d other, %d errors)\nserver log:\n%s", g.name(), r.other, r.errors, s.stderr.String())
	}
	return r, nil
}

func childCPU(ps *os.ProcessState) float64 {
	if ps == nil {
		return -1
	}
	return (ps.UserTime() + ps.SystemTime()).Seconds()
}

// wrkGen runs wrk (Debian package wrk): a C event loop, the cheapest
// client here per request, so it leaves the most CPU to the server. A Lua
// script sends the pre-built bodies round-robin and counts statuses.
type wrkGen struct {
	threads int
	dir     string
	t       *target
	conns   int
	runs    int
}

func (w *wrkGen) name() string { return fmt.Sprintf("wrk (%d threads)", w.threads) }

func (w *wrkGen) prepare(_ context.Context, dir string, t *target, conns int) error {
	if _, err := exec.LookPath("wrk"); err != nil {
		return errors.New("wrk is not installed (apt-get install -y wrk), or use -loadgen go")
	}
	w.dir, w.t, w.conns = dir, t, conns
	if w.threads < 1 {
		w.threads = 1
	}
	if w.threads > conns {
		w.threads = conns
	}
	return nil
}

// wrkScript: request() returns pre-formatted requests; response() counts
// 200s per thread; done() sums the threads' counters (setup keeps them).
const wrkScript = `
local bodies_file = %q
local path = %q
local threads = {}
function setup(thread) table.insert(threads, thread) end
function init(args)
  ok_count, other_count, reqs, i = 0, 0, {}, 0
  local headers = { ["Content-Type"] = "application/x-www-form-urlencoded", ["Host"] = %q }
  for line in io.lines(bodies_file) do
    reqs[#reqs + 1] = wrk.format("POST", path, headers, line)
  end
end
function request()
  i = i %% #reqs + 1
  return reqs[i]
end
function response(status, headers, body)
  if status == 200 then ok_count = ok_count + 1 else other_count = other_count + 1 end
end
function done(summary, latency, requests)
  local ok, other = 0, 0
  for _, t in ipairs(threads) do ok = ok + t:get("ok_count"); other = other + t:get("other_count") end
  local e = summary.errors
  io.write(string.format("DVS2S ok=%%d other=%%d errors=%%d duration_us=%%d\n",
    ok, other, e.connect + e.read + e.write + e.timeout, summary.duration))
end
`

var wrkResult = regexp.MustCompile(`DVS2S ok=(\d+) other=(\d+) errors=(\d+) duration_us=(\d+)`)

func (w *wrkGen) run(ctx context.Context, bodies []string, d time.Duration) (phaseResult, error) {
	w.runs++
	bf := filepath.Join(w.dir, fmt.Sprintf("wrk-bodies-%d.txt", w.runs))
	sf := filepath.Join(w.dir, fmt.Sprintf("wrk-%d.lua", w.runs))
	if err := os.WriteFile(bf, []byte(strings.Join(bodies, "\n")+"\n"), 0o600); err != nil {
		return phaseResult{}, err
	}
	if err := os.WriteFile(sf, []byte(fmt.Sprintf(wrkScript, bf, w.t.path, w.t.host)), 0o600); err != nil {
		return phaseResult{}, err
	}
	defer os.Remove(bf)
	defer os.Remove(sf)
	secs := int(math.Ceil(d.Seconds()))
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(w.threads), "-c", strconv.Itoa(w.conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "10s", "-s", sf, "https://"+w.t.host+w.t.path)
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
	return phaseResult{ok: n(m[1]), other: n(m[2]), errors: n(m[3]), seconds: float64(n(m[4])) / 1e6,
		genCPU: childCPU(cmd.ProcessState)}, nil
}

// heyGen runs hey (Debian package hey), a Go client. hey sends one body,
// so the certificate phase re-sends a single assertion (legitimate within
// its lifetime, as msal-node does).
type heyGen struct {
	dir   string
	t     *target
	conns int
	runs  int
}

func (h *heyGen) name() string { return "hey" }

func (h *heyGen) prepare(_ context.Context, dir string, t *target, conns int) error {
	if _, err := exec.LookPath("hey"); err != nil {
		return errors.New("hey is not installed (apt-get install -y hey), or use -loadgen go")
	}
	h.dir, h.t, h.conns = dir, t, conns
	return nil
}

var heyTotal = regexp.MustCompile(`Total:\s+([0-9.]+) secs`)
var heyStatus = regexp.MustCompile(`\[(\d+)\]\s+(\d+) responses`)
var heyError = regexp.MustCompile(`(?m)^\s+\[(\d+)\]\s+\S`)

func (h *heyGen) run(ctx context.Context, bodies []string, d time.Duration) (phaseResult, error) {
	h.runs++
	bf := filepath.Join(h.dir, fmt.Sprintf("hey-body-%d.txt", h.runs))
	if err := os.WriteFile(bf, []byte(bodies[0]), 0o600); err != nil {
		return phaseResult{}, err
	}
	defer os.Remove(bf)
	cmd := exec.CommandContext(ctx, "hey", "-z", d.String(), "-c", strconv.Itoa(h.conns), "-m", "POST",
		"-T", "application/x-www-form-urlencoded", "-D", bf, "https://"+h.t.host+h.t.path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return phaseResult{}, fmt.Errorf("hey: %w\n%s", err, out.String())
	}
	r := phaseResult{genCPU: childCPU(cmd.ProcessState)}
	m := heyTotal.FindStringSubmatch(out.String())
	if m == nil {
		return r, fmt.Errorf("hey printed no total:\n%s", out.String())
	}
	r.seconds, _ = strconv.ParseFloat(m[1], 64)
	section := ""
	sc := bufio.NewScanner(strings.NewReader(out.String()))
	for sc.Scan() {
		l := sc.Text()
		switch {
		case strings.HasPrefix(l, "Status code distribution"):
			section = "status"
		case strings.HasPrefix(l, "Error distribution"):
			section = "error"
		case section == "status":
			if m := heyStatus.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseInt(m[2], 10, 64)
				if m[1] == "200" {
					r.ok += n
				} else {
					r.other += n
				}
			}
		case section == "error":
			if m := heyError.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				r.errors += n
			}
		}
	}
	return r, nil
}

// goGen is a Go client in this process: conns goroutines, each with its
// own keep-alive HTTP/1.1 connection.
type goGen struct {
	client *http.Client
	t      *target
	conns  int
}

func (g *goGen) name() string { return "Go net/http client (in process)" }

func (g *goGen) prepare(_ context.Context, _ string, t *target, conns int) error {
	c, err := httpClient(t.caFile, conns)
	if err != nil {
		return err
	}
	g.client, g.t, g.conns = c, t, conns
	return nil
}

func (g *goGen) run(ctx context.Context, bodies []string, d time.Duration) (phaseResult, error) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var ok, other, errs, next atomic.Int64
	var wg sync.WaitGroup
	cpu0 := selfCPU()
	start := time.Now()
	for range g.conns {
		wg.Go(func() {
			for ctx.Err() == nil {
				i := next.Add(1)
				req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.t.tokenURL, strings.NewReader(bodies[int(i)%len(bodies)]))
				if err != nil {
					errs.Add(1)
					return
				}
				req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
				resp, err := g.client.Do(req)
				if err != nil {
					if ctx.Err() == nil {
						errs.Add(1)
					}
					continue
				}
				_, err = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				switch {
				case err != nil:
					if ctx.Err() == nil {
						errs.Add(1)
					}
				case resp.StatusCode == http.StatusOK:
					ok.Add(1)
				default:
					other.Add(1)
				}
			}
		})
	}
	wg.Wait()
	sec := time.Since(start).Seconds()
	cpu := selfCPU()
	r := phaseResult{ok: ok.Load(), other: other.Load(), errors: errs.Load(), seconds: sec, genCPU: -1}
	if cpu0 >= 0 && cpu >= 0 {
		r.genCPU = cpu - cpu0
	}
	return r, nil
}
