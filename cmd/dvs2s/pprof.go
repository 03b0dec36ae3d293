//go:build pprof

// Profiling hook for benchmarks: a binary built with `-tags pprof` serves
// net/http/pprof on the loopback address in DVS2S_PPROF (for example
// 127.0.0.1:6060). Release builds do not contain it.
package main

import (
	"log/slog"
	"net/http"
	_ "net/http/pprof"
	"os"
)

func init() {
	addr := os.Getenv("DVS2S_PPROF")
	if addr == "" {
		return
	}
	go func() {
		if err := http.ListenAndServe(addr, nil); err != nil {
			slog.Error("pprof", "err", err)
		}
	}()
}
