package main

import (
	"context"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

// serveArgs are extra arguments of the measured server's serve command
// (-serve-args).
var serveArgs string

// startServer starts `bin serve` on free ports (P for the identity service,
// P+1 for the demo environment) with the service protection limits off
// (Dataverse's defaults, 6000 requests per 5 minutes per user, would
// refuse most of the benchmark's requests) and waits until /readyz
// answers.
func startServer(ctx context.Context, bin, dataDir string) (*benchkit.Server, error) {
	args := []string{"--limit-requests", "-1", "--limit-execution-time", "-1s", "--limit-concurrent", "-1", "--token-lifetime", "12h"}
	if database != "" {
		args = append(args, "--database", database)
	}
	args = append(args, strings.Fields(serveArgs)...)
	return benchkit.Serve(ctx, bin, dataDir, 120*time.Second, args...)
}

// procMemKB reads a field of /proc/PID/status in kB (VmRSS: resident set
// now; VmHWM: its peak since the process started), or -1.
func procMemKB(pid int, field string) int64 {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return -1
	}
	for _, l := range strings.Split(string(b), "\n") {
		if v, ok := strings.CutPrefix(l, field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSuffix(strings.TrimSpace(v), " kB"), 10, 64)
			if err != nil {
				return -1
			}
			return n
		}
	}
	return -1
}

// rssSampler records the peak VmRSS of a process while a phase runs.
type rssSampler struct {
	stop chan struct{}
	done chan struct{}
	peak int64
	last int64
}

func sampleRSS(pid int, every time.Duration) *rssSampler {
	s := &rssSampler{stop: make(chan struct{}), done: make(chan struct{}), peak: -1}
	go func() {
		defer close(s.done)
		t := time.NewTicker(every)
		defer t.Stop()
		for {
			if v := procMemKB(pid, "VmRSS"); v >= 0 {
				s.last = v
				s.peak = max(s.peak, v)
			}
			select {
			case <-s.stop:
				return
			case <-t.C:
			}
		}
	}()
	return s
}

// end stops sampling and returns the peak and the last VmRSS in kB.
func (s *rssSampler) end() (peak, last int64) {
	close(s.stop)
	<-s.done
	return s.peak, s.last
}
