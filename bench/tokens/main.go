// Command tokens measures the throughput of the dvs2s token endpoint
// (client credentials, with a client secret and with a certificate
// assertion) against the raw RSA-2048 signing rate of the same machine,
// measured in the same run: every token costs one RSA-2048 PKCS#1 v1.5
// SHA-256 signature, so that rate is the ceiling, and the ratio tells how
// much the rest of the request path (TLS, HTTP, form parsing, directory
// reads, secret hashing, assertion checks, JSON) and the load generator
// take away from it.
//
//	go run ./bench/tokens                    # wrk if installed, else the Go client
//	go run ./bench/tokens -loadgen go -rounds 5 -duration 8s
//
// It builds and starts `dvs2s serve` as a separate process on a temporary
// data directory and free ports with --log-level warn, waits for /readyz,
// checks one token of each kind, then alternates, -rounds times, the phases
// sign (runtime.NumCPU() goroutines signing in this process while the
// server idles), secret and certificate (the token endpoint at -c
// concurrent keep-alive HTTPS connections, counting 200 responses only),
// and prints each round and the medians. Results go to docs/benchmarks.md
// by hand, with the command that produced them.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"time"
)

type options struct {
	duration    time.Duration
	warmup      time.Duration
	rounds      int
	concurrency int
	loadgen     string
	threads     int
	pool        int
	bin         string
	keep        bool
}

func main() {
	var o options
	flag.DurationVar(&o.duration, "duration", 5*time.Second, "length of each measured phase")
	flag.DurationVar(&o.warmup, "warmup", time.Second, "unmeasured load before the first round (connections, caches, CPU frequency)")
	flag.IntVar(&o.rounds, "rounds", 3, "how many times to alternate the sign, secret and certificate phases (medians are reported)")
	flag.IntVar(&o.concurrency, "c", 32, "concurrent connections to the token endpoint")
	flag.StringVar(&o.loadgen, "loadgen", "auto", "load generator: wrk (Debian package wrk), hey (Debian package hey), go (built in), or auto (wrk if installed, else go)")
	flag.IntVar(&o.threads, "threads", runtime.NumCPU(), "wrk threads")
	flag.IntVar(&o.pool, "assertions", 512, "client assertions pre-built (distinct jti, 10-minute lifetime) and sent round-robin")
	flag.StringVar(&o.bin, "bin", "", "dvs2s binary to start (default: go build ./cmd/dvs2s)")
	flag.BoolVar(&o.keep, "keep", false, "keep the temporary data directory")
	flag.Parse()
	if o.rounds < 1 || o.concurrency < 1 || o.duration <= 0 || o.pool < 1 {
		fmt.Fprintln(os.Stderr, "tokens: -rounds, -c, -assertions and -duration must be positive")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	defer stop()
	if err := run(ctx, o); err != nil {
		fmt.Fprintln(os.Stderr, "tokens:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, o options) error {
	if o.loadgen == "auto" {
		o.loadgen = "go"
		if _, err := exec.LookPath("wrk"); err == nil {
			o.loadgen = "wrk"
		}
	}
	var gen loadgen
	switch o.loadgen {
	case "wrk":
		gen = &wrkGen{threads: o.threads}
	case "hey":
		gen = &heyGen{}
	case "go":
		gen = &goGen{}
	default:
		return fmt.Errorf("-loadgen %q: use wrk, hey, go or auto", o.loadgen)
	}

	tmp, err := os.MkdirTemp("", "dvs2s-bench-")
	if err != nil {
		return err
	}
	if o.keep {
		fmt.Fprintln(os.Stderr, "data directory:", tmp)
	} else {
		defer os.RemoveAll(tmp)
	}
	bin := o.bin
	if bin == "" {
		bin = filepath.Join(tmp, "dvs2s")
		fmt.Fprintln(os.Stderr, "building ./cmd/dvs2s ...")
		if err := goBuild(ctx, bin); err != nil {
			return err
		}
	}
	srv, err := startServer(ctx, bin, filepath.Join(tmp, "data"))
	if err != nil {
		return err
	}
	defer srv.stop()

	tgt, err := newTarget(srv)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "server pid %d at %s; checking one token of each kind ...\n", srv.cmd.Process.Pid, srv.info.AuthorityHost)
	if err := tgt.check(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "building %d client assertions ...\n", o.pool)
	secretBodies := []string{tgt.secretBody()}
	certBodies, err := tgt.assertionBodies(o.pool)
	if err != nil {
		return err
	}
	if err := gen.prepare(ctx, tmp, tgt, o.concurrency); err != nil {
		return err
	}

	if o.warmup > 0 {
		fmt.Fprintf(os.Stderr, "warming up (%s) ...\n", o.warmup)
		if _, err := gen.run(ctx, secretBodies, o.warmup); err != nil {
			return err
		}
		signRate(ctx, o.warmup/2)
	}

	var rows []round
	for i := range o.rounds {
		var r round
		fmt.Fprintf(os.Stderr, "round %d/%d: sign ...", i+1, o.rounds)
		r.sign = signRate(ctx, o.duration)
		fmt.Fprintf(os.Stderr, " %.0f/s; secret ...", r.sign.rate)
		if r.secret, err = measure(ctx, gen, srv, secretBodies, o.duration); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, " %.0f/s; certificate ...", r.secret.rate)
		if r.cert, err = measure(ctx, gen, srv, certBodies, o.duration); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, " %.0f/s\n", r.cert.rate)
		rows = append(rows, r)
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
	report(os.Stdout, o, gen.name(), rows)
	return nil
}

// round is one alternation of the three phases.
type round struct {
	sign   signResult
	secret phaseResult
	cert   phaseResult
}

func median(xs []float64) float64 {
	s := slices.Clone(xs)
	slices.Sort(s)
	n := len(s)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

func goBuild(ctx context.Context, out string) error {
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", out, "./cmd/dvs2s")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return fmt.Errorf("go build ./cmd/dvs2s (run from the repository root): %w", err)
	}
	return nil
}

func machine() string {
	var b strings.Builder
	fmt.Fprintf(&b, "nproc %d, GOMAXPROCS %d, %s %s/%s", runtime.NumCPU(), runtime.GOMAXPROCS(0), runtime.Version(), runtime.GOOS, runtime.GOARCH)
	if cpu := cpuModel(); cpu != "" {
		fmt.Fprintf(&b, ", %s", cpu)
	}
	return b.String()
}

func cpuModel() string {
	b, err := os.ReadFile("/proc/cpuinfo")
	if err != nil {
		return ""
	}
	for _, l := range strings.Split(string(b), "\n") {
		if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
			return strings.TrimSpace(v)
		}
	}
	return ""
}
