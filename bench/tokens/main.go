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
	"path/filepath"
	"runtime"
	"time"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

type options struct {
	benchkit.Options
	pool int // -assertions
}

func main() {
	var o options
	flag.DurationVar(&o.Duration, "duration", 5*time.Second, "length of each measured phase")
	flag.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load before the first round (connections, caches, CPU frequency)")
	flag.IntVar(&o.Rounds, "rounds", 3, "how many times to alternate the sign, secret and certificate phases (medians are reported)")
	flag.IntVar(&o.Conns, "c", 32, "concurrent connections to the token endpoint")
	flag.StringVar(&o.Loadgen, "loadgen", "auto", "load generator: wrk (Debian package wrk), hey (Debian package hey), go (built in), or auto (wrk if installed, else go)")
	flag.IntVar(&o.Threads, "threads", runtime.NumCPU(), "wrk threads")
	flag.IntVar(&o.pool, "assertions", 512, "client assertions pre-built (distinct jti, 10-minute lifetime) and sent round-robin")
	flag.StringVar(&o.Bin, "bin", "", "dvs2s binary to start (default: go build ./cmd/dvs2s)")
	flag.BoolVar(&o.Keep, "keep", false, "keep the temporary data directory")
	flag.Parse()
	if o.Rounds < 1 || o.Conns < 1 || o.Duration <= 0 || o.pool < 1 {
		fmt.Fprintln(os.Stderr, "tokens: -rounds, -c, -assertions and -duration must be positive")
		os.Exit(2)
	}
	benchkit.Main("tokens", func(ctx context.Context) error { return run(ctx, o) })
}

func run(ctx context.Context, o options) error {
	var gen loadgen
	switch o.Loadgen = benchkit.Loadgen(o.Loadgen); o.Loadgen {
	case "wrk":
		gen = &wrkGen{threads: o.Threads}
	case "hey":
		gen = &heyGen{}
	case "go":
		gen = &goGen{}
	default:
		return fmt.Errorf("-loadgen %q: use wrk, hey, go or auto", o.Loadgen)
	}

	tmp, remove, err := benchkit.TempDir("dvs2s-bench-", "data directory:", o.Keep)
	if err != nil {
		return err
	}
	defer remove()
	bin, err := benchkit.Build(ctx, o.Bin, tmp)
	if err != nil {
		return err
	}
	srv, err := benchkit.Serve(ctx, bin, filepath.Join(tmp, "data"), 90*time.Second)
	if err != nil {
		return err
	}
	defer srv.Stop()

	tgt, err := newTarget(srv)
	if err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "server pid %d at %s; checking one token of each kind ...\n", srv.Pid(), srv.Info.AuthorityHost)
	if err := tgt.check(ctx); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "building %d client assertions ...\n", o.pool)
	secretBodies := []string{tgt.secretBody()}
	certBodies, err := tgt.assertionBodies(o.pool)
	if err != nil {
		return err
	}
	if err := gen.prepare(ctx, tmp, tgt, o.Conns); err != nil {
		return err
	}

	if o.Warmup > 0 {
		fmt.Fprintf(os.Stderr, "warming up (%s) ...\n", o.Warmup)
		if _, err := gen.run(ctx, secretBodies, o.Warmup); err != nil {
			return err
		}
		signRate(ctx, o.Warmup/2)
	}

	var rows []round
	for i := range o.Rounds {
		var r round
		fmt.Fprintf(os.Stderr, "round %d/%d: sign ...", i+1, o.Rounds)
		r.sign = signRate(ctx, o.Duration)
		fmt.Fprintf(os.Stderr, " %.0f/s; secret ...", r.sign.rate)
		if r.secret, err = measure(ctx, gen, srv, secretBodies, o.Duration); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, " %.0f/s; certificate ...", r.secret.Rate)
		if r.cert, err = measure(ctx, gen, srv, certBodies, o.Duration); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, " %.0f/s\n", r.cert.Rate)
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
	secret benchkit.Result
	cert   benchkit.Result
}
