package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

// report prints the rounds and medians as a Markdown table, ready for
// docs/benchmarks.md.
func report(w io.Writer, o options, gen string, rows []round) {
	fmt.Fprintf(w, "command: go run ./bench/tokens %s\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(w, "machine: %s\n", benchkit.Machine())
	fmt.Fprintf(w, "load generator: %s, %d keep-alive HTTPS connections, phases of %s, %d rounds (sign, secret, certificate alternated)\n\n",
		gen, o.Conns, o.Duration, len(rows))

	line := benchkit.Table(w, rows)
	perToken := benchkit.PerOp
	line(fmt.Sprintf("RSA-2048 PKCS#1 v1.5 SHA-256 signatures/s (%d goroutines)", runtime.NumCPU()), "%.0f", func(r round) float64 { return r.sign.rate })
	line(fmt.Sprintf("token endpoint, client secret, tokens/s (c=%d)", o.Conns), "%.0f", func(r round) float64 { return r.secret.Rate })
	line(fmt.Sprintf("token endpoint, certificate assertion, tokens/s (c=%d)", o.Conns), "%.0f", func(r round) float64 { return r.cert.Rate })
	line("ratio secret / sign", "%.3f", func(r round) float64 { return r.secret.Rate / r.sign.rate })
	line("ratio certificate / sign", "%.3f", func(r round) float64 { return r.cert.Rate / r.sign.rate })
	// The CPU-normalised ratio predicts the throughput ratio on a machine
	// with nothing else running: signatures per CPU-second over tokens per
	// CPU-second of server plus load generator. It moves much less than the
	// rates when other processes compete for the cores.
	line("CPU-normalised ratio secret / sign", "%.3f", func(r round) float64 {
		return cpuRatio(r.sign, r.secret)
	})
	line("CPU-normalised ratio certificate / sign", "%.3f", func(r round) float64 {
		return cpuRatio(r.sign, r.cert)
	})
	line("CPU ms per signature (sign phase)", "%.3f", func(r round) float64 { return perToken(r.sign.cpu, r.sign.n) })
	line("server CPU ms per token, secret", "%.3f", func(r round) float64 { return perToken(r.secret.ServerCPU, r.secret.OK) })
	line("server CPU ms per token, certificate", "%.3f", func(r round) float64 { return perToken(r.cert.ServerCPU, r.cert.OK) })
	line("load generator CPU ms per token, secret", "%.3f", func(r round) float64 { return perToken(r.secret.GenCPU, r.secret.OK) })
	line("load generator CPU ms per token, certificate", "%.3f", func(r round) float64 { return perToken(r.cert.GenCPU, r.cert.OK) })
	cores := func(cpu, sec float64) float64 {
		if cpu < 0 || sec <= 0 {
			return -1
		}
		return cpu / sec
	}
	line("cores busy: sign phase", "%.2f", func(r round) float64 { return cores(r.sign.cpu, r.sign.seconds) })
	line("cores busy: server + load generator, secret", "%.2f", func(r round) float64 {
		return cores(r.secret.ServerCPU, r.secret.Seconds) + cores(r.secret.GenCPU, r.secret.Seconds)
	})
	line("cores busy: server + load generator, certificate", "%.2f", func(r round) float64 {
		return cores(r.cert.ServerCPU, r.cert.Seconds) + cores(r.cert.GenCPU, r.cert.Seconds)
	})
	line("non-200 responses + errors", "%.0f", func(r round) float64 {
		return float64(r.secret.Bad + r.secret.Errors + r.cert.Bad + r.cert.Errors)
	})
}

// cpuRatio is (CPU per signature) / (server + load generator CPU per
// token), or -1 when a CPU time is unknown.
func cpuRatio(s signResult, p benchkit.Result) float64 {
	if s.cpu <= 0 || p.ServerCPU <= 0 || p.GenCPU < 0 || s.n == 0 || p.OK == 0 {
		return -1
	}
	return (s.cpu / float64(s.n)) / ((p.ServerCPU + p.GenCPU) / float64(p.OK))
}
