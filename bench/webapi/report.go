package main

import (
	"fmt"
	"io"
	"os"
	"strings"

	"github.com/dvs2s/dvs2s/bench/internal/benchkit"
)

// report prints the setup, every round and the medians as Markdown, ready
// for docs/benchmarks.md.
func report(w io.Writer, o options, gen string, rows int, t *target, idle, end memInfo, rs []round) {
	mib := func(kb int64) float64 {
		if kb < 0 {
			return -1
		}
		return float64(kb) / 1024
	}
	fmt.Fprintf(w, "command: go run ./bench/webapi %s\n", strings.Join(os.Args[1:], " "))
	fmt.Fprintf(w, "machine: %s\n", machine())
	fmt.Fprintf(w, "load generator: %s, %d keep-alive HTTPS connections (HTTP/1.1), phases of %s, %d rounds of the phases %s\n",
		gen, o.Conns, o.Duration, len(rs), o.phases)
	fmt.Fprintf(w, "table: %d accounts; GET by id: %d rows round-robin, %d-byte body; list: GET %s, %d-byte body\n",
		rows, len(t.getPaths), len(t.getRec.Body), t.listPath, len(t.listRec.Body))
	fmt.Fprintf(w, "server memory: VmRSS %.1f MiB idle before the load, %.1f MiB after it; VmHWM (peak) %.1f MiB; bare server VmRSS %.1f MiB, VmHWM %.1f MiB\n\n",
		mib(idle.rss), mib(end.rss), mib(end.hwm), mib(end.bareRSS), mib(end.bareHWM))

	line := benchkit.Table(w, rs)
	perReq := benchkit.PerOp
	// cpuRatio predicts the throughput ratio on a machine with nothing
	// else running: requests per CPU-second of (server + load generator)
	// over the same for the bare server. It moves much less than the rates
	// when other processes compete for the cores.
	cpuRatio := func(p, bare phaseResult) float64 {
		if p.ServerCPU <= 0 || p.GenCPU < 0 || bare.ServerCPU <= 0 || bare.GenCPU < 0 || p.OK == 0 || bare.OK == 0 {
			return -1
		}
		return ((bare.ServerCPU + bare.GenCPU) / float64(bare.OK)) / ((p.ServerCPU + p.GenCPU) / float64(p.OK))
	}
	c := o.Conns
	line(fmt.Sprintf("bare handler, GET-by-id bytes, requests/s (c=%d)", c), "%.0f", func(r round) float64 { return r.bareGet.Rate })
	line(fmt.Sprintf("**GET by id**, requests/s (c=%d)", c), "%.0f", func(r round) float64 { return r.get.Rate })
	line("**ratio GET by id / bare**", "%.3f", func(r round) float64 { return r.get.Rate / r.bareGet.Rate })
	line("CPU-normalised ratio GET by id / bare", "%.3f", func(r round) float64 { return cpuRatio(r.get, r.bareGet) })
	line("GET by id latency p50, ms", "%.2f", func(r round) float64 { return r.get.p50 })
	line("GET by id latency p90, ms", "%.2f", func(r round) float64 { return r.get.p90 })
	line("GET by id latency p99, ms", "%.2f", func(r round) float64 { return r.get.p99 })
	line("bare GET latency p50, ms", "%.2f", func(r round) float64 { return r.bareGet.p50 })
	line(fmt.Sprintf("bare handler, list bytes, requests/s (c=%d)", c), "%.0f", func(r round) float64 { return r.bareList.Rate })
	line(fmt.Sprintf("**list**, requests/s (c=%d)", c), "%.0f", func(r round) float64 { return r.list.Rate })
	line("ratio list / bare", "%.3f", func(r round) float64 { return r.list.Rate / r.bareList.Rate })
	line("CPU-normalised ratio list / bare", "%.3f", func(r round) float64 { return cpuRatio(r.list, r.bareList) })
	line("**list latency p50, ms**", "%.2f", func(r round) float64 { return r.list.p50 })
	line("list latency p90, ms", "%.2f", func(r round) float64 { return r.list.p90 })
	line("list latency p99, ms", "%.2f", func(r round) float64 { return r.list.p99 })
	line("bare list latency p50, ms", "%.2f", func(r round) float64 { return r.bareList.p50 })
	line("list at c=1, requests/s", "%.0f", func(r round) float64 { return r.list1.Rate })
	line("list at c=1, latency p50, ms", "%.2f", func(r round) float64 { return r.list1.p50 })
	line("list at c=1, latency p99, ms", "%.2f", func(r round) float64 { return r.list1.p99 })
	line("server CPU ms per GET by id", "%.3f", func(r round) float64 { return perReq(r.get.ServerCPU, r.get.OK) })
	line("bare server CPU ms per GET", "%.3f", func(r round) float64 { return perReq(r.bareGet.ServerCPU, r.bareGet.OK) })
	line("server CPU ms per list", "%.3f", func(r round) float64 { return perReq(r.list.ServerCPU, r.list.OK) })
	line("bare server CPU ms per list", "%.3f", func(r round) float64 { return perReq(r.bareList.ServerCPU, r.bareList.OK) })
	line("load generator CPU ms per GET by id", "%.3f", func(r round) float64 { return perReq(r.get.GenCPU, r.get.OK) })
	line("load generator CPU ms per list", "%.3f", func(r round) float64 { return perReq(r.list.GenCPU, r.list.OK) })
	line("**server VmRSS peak during GET by id, MiB**", "%.1f", func(r round) float64 { return mib(r.get.rssPeak) })
	line("**server VmRSS peak during list, MiB**", "%.1f", func(r round) float64 { return mib(r.list.rssPeak) })
	line("bare server VmRSS peak, MiB", "%.1f", func(r round) float64 { return mib(max(r.bareGet.rssPeak, r.bareList.rssPeak)) })
	line("CPU pressure avg10 at round start, %", "%.0f", func(r round) float64 { return r.pressure })
	line("responses >= 400 + errors", "%.0f", func(r round) float64 {
		return float64(r.get.Bad + r.get.Errors + r.list.Bad + r.list.Errors + r.bareGet.Bad + r.bareGet.Errors + r.bareList.Bad + r.bareList.Errors +
			r.list1.Bad + r.list1.Errors)
	})
}
