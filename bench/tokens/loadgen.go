package main

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

// loadgen drives the token endpoint with a fixed number of keep-alive
// HTTPS connections, sending bodies round-robin, and counts 200 responses.
type loadgen interface {
	name() string
	prepare(ctx context.Context, dir string, t *target, conns int) error
	run(ctx context.Context, bodies []string, d time.Duration) (benchkit.Result, error)
}

func measure(ctx context.Context, g loadgen, s *benchkit.Server, bodies []string, d time.Duration) (benchkit.Result, error) {
	var r benchkit.Result
	err := benchkit.Measure(s.Proc, &r, func() (err error) {
		r, err = g.run(ctx, bodies, d)
		return err
	})
	if err == nil && r.OK == 0 {
		err = fmt.Errorf("%s: no 200 response (%d other, %d errors)\nserver log:\n%s", g.name(), r.Bad, r.Errors, s.Stderr.String())
	}
	return r, err
}

// wrkGen runs wrk (Debian package wrk): a C event loop, the cheapest
// client here per request, so it leaves the most CPU to the server. A Lua
// script sends the pre-built bodies round-robin and counts statuses.
type wrkGen struct {
	threads int
	wrk     benchkit.Wrk
	t       *target
	conns   int
}

func (w *wrkGen) name() string { return fmt.Sprintf("wrk (%d threads)", w.wrk.Threads) }

func (w *wrkGen) prepare(_ context.Context, dir string, t *target, conns int) error {
	if err := benchkit.Need("wrk"); err != nil {
		return err
	}
	w.wrk = benchkit.Wrk{Threads: max(1, min(w.threads, conns)), Dir: dir}
	w.t, w.conns = t, conns
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

func (w *wrkGen) run(ctx context.Context, bodies []string, d time.Duration) (benchkit.Result, error) {
	v, cpu, err := w.wrk.Run(ctx, "https://"+w.t.host+w.t.path, w.conns, d, bodies, func(file string) string {
		return fmt.Sprintf(wrkScript, file, w.t.path, w.t.host)
	})
	if err != nil {
		return benchkit.Result{}, err
	}
	return benchkit.Result{OK: int64(v["ok"]), Bad: int64(v["other"]), Errors: int64(v["errors"]), Seconds: v["duration_us"] / 1e6,
		GenCPU: cpu}, nil
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
	if err := benchkit.Need("hey"); err != nil {
		return err
	}
	h.dir, h.t, h.conns = dir, t, conns
	return nil
}

var heyTotal = regexp.MustCompile(`Total:\s+([0-9.]+) secs`)
var heyStatus = regexp.MustCompile(`\[(\d+)\]\s+(\d+) responses`)
var heyError = regexp.MustCompile(`(?m)^\s+\[(\d+)\]\s+\S`)

func (h *heyGen) run(ctx context.Context, bodies []string, d time.Duration) (benchkit.Result, error) {
	h.runs++
	bf := filepath.Join(h.dir, fmt.Sprintf("hey-body-%d.txt", h.runs))
	if err := os.WriteFile(bf, []byte(bodies[0]), 0o600); err != nil {
		return benchkit.Result{}, err
	}
	defer os.Remove(bf)
	cmd := exec.CommandContext(ctx, "hey", "-z", d.String(), "-c", strconv.Itoa(h.conns), "-m", "POST",
		"-T", "application/x-www-form-urlencoded", "-D", bf, "https://"+h.t.host+h.t.path)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return benchkit.Result{}, fmt.Errorf("hey: %w\n%s", err, out.String())
	}
	r := benchkit.Result{GenCPU: benchkit.ChildCPU(cmd.ProcessState)}
	m := heyTotal.FindStringSubmatch(out.String())
	if m == nil {
		return r, fmt.Errorf("hey printed no total:\n%s", out.String())
	}
	r.Seconds, _ = strconv.ParseFloat(m[1], 64)
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
					r.OK += n
				} else {
					r.Bad += n
				}
			}
		case section == "error":
			if m := heyError.FindStringSubmatch(l); m != nil {
				n, _ := strconv.ParseInt(m[1], 10, 64)
				r.Errors += n
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
	c, err := benchkit.Client(t.caFile, conns)
	if err != nil {
		return err
	}
	g.client, g.t, g.conns = c, t, conns
	return nil
}

func (g *goGen) run(ctx context.Context, bodies []string, d time.Duration) (benchkit.Result, error) {
	var ok, other, errs, next atomic.Int64
	sec, cpu := benchkit.Drive(ctx, g.conns, d, func(ctx context.Context, _ int) {
		for ctx.Err() == nil {
			i := next.Add(1)
			req, err := http.NewRequestWithContext(ctx, http.MethodPost, g.t.tokenURL, strings.NewReader(bodies[int(i)%len(bodies)]))
			if err != nil {
				errs.Add(1)
				return
			}
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			status, err := benchkit.Fetch(g.client, req)
			switch {
			case err != nil:
				if ctx.Err() == nil {
					errs.Add(1)
				}
			case status == http.StatusOK:
				ok.Add(1)
			default:
				other.Add(1)
			}
		}
	})
	return benchkit.Result{OK: ok.Load(), Bad: other.Load(), Errors: errs.Load(), Seconds: sec, GenCPU: cpu}, nil
}
