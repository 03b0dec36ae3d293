package benchkit

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"io"
	"math"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"time"
)

// Result is one measured phase of load.
type Result struct {
	OK        int64   // responses with a status that counts as success
	Bad       int64   // responses with any other status
	Errors    int64   // transport errors and timeouts
	Seconds   float64 // measured duration
	Rate      float64 // OK responses per second
	ServerCPU float64 // CPU seconds the measured process used, -1 if unknown
	GenCPU    float64 // CPU seconds the load generator used, -1 if unknown
}

// Measure calls run, which fills in r but for Rate and ServerCPU, and
// sets those from r.OK and r.Seconds and from the CPU time p used
// meanwhile. It returns run's error.
func Measure(p *Proc, r *Result, run func() error) error {
	c0 := p.CPU()
	err := run()
	c1 := p.CPU()
	if err != nil {
		return err
	}
	r.ServerCPU = CPUDelta(c0, c1)
	if r.Seconds > 0 {
		r.Rate = float64(r.OK) / r.Seconds
	}
	return nil
}

// Need returns an error unless the load generator tool (a Debian package
// of the same name) is on PATH.
func Need(tool string) error {
	if _, err := exec.LookPath(tool); err != nil {
		return fmt.Errorf("%s is not installed (apt-get install -y %s), or use -loadgen go", tool, tool)
	}
	return nil
}

// Loadgen resolves the -loadgen flag: "auto" becomes wrk if it is
// installed, else go; any other kind is returned as is.
func Loadgen(kind string) string {
	if kind != "auto" {
		return kind
	}
	if _, err := exec.LookPath("wrk"); err == nil {
		return "wrk"
	}
	return "go"
}

// Wrk runs wrk (Debian package wrk): a C event loop, the cheapest client
// per request, so it leaves the most CPU to the server.
type Wrk struct {
	Threads int    // wrk threads, at least 1 and at most one a connection
	Dir     string // where each run writes its input file and script
	runs    int
}

// Run loads url from conns connections for d, rounded up to whole
// seconds, with the Lua script script(file), where file holds lines, one
// a line. The script's done() must write a line "DVS2S name=value ..."; Run
// returns those values, and the CPU seconds wrk used (-1 if unknown).
func (w *Wrk) Run(ctx context.Context, url string, conns int, d time.Duration, lines []string, script func(file string) string) (map[string]float64, float64, error) {
	w.runs++
	lf := filepath.Join(w.Dir, fmt.Sprintf("wrk-%d.txt", w.runs))
	sf := filepath.Join(w.Dir, fmt.Sprintf("wrk-%d.lua", w.runs))
	if err := os.WriteFile(lf, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		return nil, -1, err
	}
	defer os.Remove(lf)
	if err := os.WriteFile(sf, []byte(script(lf)), 0o600); err != nil {
		return nil, -1, err
	}
	defer os.Remove(sf)
	secs := int(math.Ceil(d.Seconds()))
	cmd := exec.CommandContext(ctx, "wrk", "-t", strconv.Itoa(max(1, min(w.Threads, conns))), "-c", strconv.Itoa(conns),
		"-d", strconv.Itoa(secs)+"s", "--timeout", "10s", "-s", sf, url)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Run(); err != nil {
		return nil, -1, fmt.Errorf("wrk: %w\n%s", err, out.String())
	}
	sc := bufio.NewScanner(bytes.NewReader(out.Bytes()))
	for sc.Scan() {
		rest, ok := strings.CutPrefix(sc.Text(), "DVS2S ")
		if !ok {
			continue
		}
		v := map[string]float64{}
		for _, f := range strings.Fields(rest) {
			if name, val, ok := strings.Cut(f, "="); ok {
				x, err := strconv.ParseFloat(val, 64)
				if err != nil {
					return nil, -1, fmt.Errorf("wrk result %s: %w", f, err)
				}
				v[name] = x
			}
		}
		return v, ChildCPU(cmd.ProcessState), nil
	}
	return nil, -1, fmt.Errorf("wrk printed no result:\n%s", out.String())
}

// Drive runs conns goroutines, calling f(ctx, k) in the k-th, with a ctx
// that ends after d (or with the given one); f loops until ctx ends. Drive
// returns when all have returned, with the seconds that took and the CPU
// seconds this process used meanwhile (-1 if unknown).
func Drive(ctx context.Context, conns int, d time.Duration, f func(ctx context.Context, k int)) (seconds, cpu float64) {
	ctx, cancel := context.WithTimeout(ctx, d)
	defer cancel()
	var wg sync.WaitGroup
	cpu0 := SelfCPU()
	start := time.Now()
	for k := range conns {
		wg.Go(func() { f(ctx, k) })
	}
	wg.Wait()
	sec := time.Since(start).Seconds()
	return sec, CPUDelta(cpu0, SelfCPU())
}

// Fetch sends req with c, reads and discards the response body and
// returns the status code.
func Fetch(c *http.Client, req *http.Request) (int, error) {
	resp, err := c.Do(req)
	if err != nil {
		return 0, err
	}
	_, err = io.Copy(io.Discard, resp.Body)
	resp.Body.Close()
	return resp.StatusCode, err
}
