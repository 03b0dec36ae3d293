package main

import (
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
)

// report prints the rounds and medians as a Markdown table, ready for
// docs/benchmarks.md.
func report(w io.Writer, o options, gen string, rows []round) {
	fmt.Fprintf(w, "command: go run ./bench/tokens %s\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(w, "machine: %s\n", machine())
	fmt.Fprintf(w, "load generator: %s, %d keep-alive HTTPS connections, phases of %s, %d rounds (sign, secret, certificate alternated)\n\n",
		gen, o.concurrency, o.duration, len(rows))

	head := "| |"
	sep := "|---|"
	for i := range rows {
		head += fmt.Sprintf(" round %d |", i+1)
		sep += "---:|"
	}
	fmt.Fprintln(w, head+" median |")
	fmt.Fprintln(w, sep+"---:|")
	line := func(label, format string, f func(round) float64) {
		xs := make([]float64, len(rows))
		fmt.Fprintf(w, "| %s |", label)
		for i, r := range rows {
			xs[i] = f(r)
			fmt.Fprintf(w, " "+format+" |", xs[i])
		}
		fmt.Fprintf(w, " **"+format+"** |\n", median(xs))
	}
	perToken := func(cpu float64, n int64) float64 {
		if cpu < 0 || n == 0 {
			return -1
		}
		return 1000 * cpu / float64(n)
	}
	line(fmt.Sprintf("RSA-2048 PKCS#1 v1.5 SHA-256 signatures/s (%d goroutines)", runtime.NumCPU()), "%.0f", func(r round) float64 { return r.sign.rate })
	line(fmt.Sprintf("token endpoint, client secret, tokens/s (c=%d)", o.concurrency), "%.0f", func(r round) float64 { return r.secret.rate })
	line(fmt.Sprintf("token endpoint, certificate assertion, tokens/s (c=%d)", o.concurrency), "%.0f", func(r round) float64 { return r.cert.rate })
	line("ratio secret / sign", "%.3f", func(r round) float64 { return r.secret.rate / r.sign.rate })
	line("ratio certificate / sign", "%.3f", func(r round) float64 { return r.cert.rate / r.sign.rate })
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
	line("server CPU ms per token, secret", "%.3f", func(r round) float64 { return perToken(r.secret.serverCPU, r.secret.ok) })
	line("server CPU ms per token, certificate", "%.3f", func(r round) float64 { return perToken(r.cert.serverCPU, r.cert.ok) })
	line("load generator CPU ms per token, secret", "%.3f", func(r round) float64 { return perToken(r.secret.genCPU, r.secret.ok) })
	line("load generator CPU ms per token, certificate", "%.3f", func(r round) float64 { return perToken(r.cert.genCPU, r.cert.ok) })
	cores := func(cpu, sec float64) float64 {
		if cpu < 0 || sec <= 0 {
			return -1
		}
		return cpu / sec
	}
	line("cores busy: sign phase", "%.2f", func(r round) float64 { return cores(r.sign.cpu, r.sign.seconds) })
	line("cores busy: server + load generator, secret", "%.2f", func(r round) float64 {
		return cores(r.secret.serverCPU, r.secret.seconds) + cores(r.secret.genCPU, r.secret.seconds)
	})
	line("cores busy: server + load generator, certificate", "%.2f", func(r round) float64 {
		return cores(r.cert.serverCPU, r.cert.seconds) + cores(r.cert.genCPU, r.cert.seconds)
	})
	line("non-200 responses + errors", "%.0f", func(r round) float64 {
		return float64(r.secret.other + r.secret.errors + r.cert.other + r.cert.errors)
	})
}

// cpuRatio is (CPU per signature) / (server + load generator CPU per
// token), or -1 when a CPU time is unknown.
func cpuRatio(s signResult, p phaseResult) float64 {
	if s.cpu <= 0 || p.serverCPU <= 0 || p.genCPU < 0 || s.n == 0 || p.ok == 0 {
		return -1
	}
	return (s.cpu / float64(s.n)) / ((p.serverCPU + p.genCPU) / float64(p.ok))
}
