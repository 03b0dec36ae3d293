package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/dvs2s/dvs2s/stack"
	"github.com/dvs2s/dvs2s/throttle"
)

// BenchmarkImport imports the same CSV of N rows (DVS2S_BENCH_ROWS,
// default 100,000) into a fresh stack with $batch and dop-hint
// parallelism, and one request per row (docs/benchmarks.md):
//
//	go test ./cmd/dvs2s -run '^$' -bench BenchmarkImport -benchtime 1x
//
// The service protection limits are off: with Dataverse's default 6,000
// requests per 5 minutes, one request per row could not go beyond 20
// rows/s at all.
func BenchmarkImport(b *testing.B) {
	n := 100000
	if v := os.Getenv("DVS2S_BENCH_ROWS"); v != "" {
		n, _ = strconv.Atoi(v)
	}
	csvFile := filepath.Join(b.TempDir(), "accounts.csv")
	var sb strings.Builder
	sb.WriteString("name,accountnumber,numberofemployees,revenue,creditonhold,address1_city\n")
	for i := range n {
		fmt.Fprintf(&sb, "Account %06d,A-%06d,%d,%d.50,%v,City %d\n", i, i, i%5000, i*10, i%3 == 0, i%100)
	}
	if err := os.WriteFile(csvFile, []byte(sb.String()), 0o600); err != nil {
		b.Fatal(err)
	}
	for _, tt := range []struct {
		name            string
		batch, parallel int // parallel 0: the dop hint
	}{
		{"batch100-dop", 100, 0},
		{"batch1000-dop", 1000, 0},
		{"batch1-dop", 1, 0},
		{"batch1-serial", 1, 1},
	} {
		b.Run(tt.name, func(b *testing.B) {
			for b.Loop() {
				b.StopTimer()
				dir := b.TempDir()
				s, err := stack.Start(context.Background(), stack.Config{DataDir: dir, Port: 0, Logger: slog.New(slog.NewTextHandler(io.Discard, nil)),
					Limits: throttle.Limits{Requests: -1, ExecutionTime: -1, Concurrent: -1}})
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				var out, errb strings.Builder
				code := run(context.Background(), []string{"import", "accounts", csvFile, "--data", dir, "--json", "--progress", "never",
					"--batch-size", strconv.Itoa(tt.batch), "--parallel", strconv.Itoa(tt.parallel)}, &out, &errb)
				b.StopTimer()
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				s.Close(ctx)
				cancel()
				if code != 0 {
					b.Fatalf("import: exit %d\n%s\n%s", code, out.String(), errb.String())
				}
				var sum importSummary
				if err := json.Unmarshal([]byte(out.String()), &sum); err != nil || sum.Imported != int64(n) {
					b.Fatalf("summary %s (%v)", out.String(), err)
				}
				b.ReportMetric(sum.RowsPerSec, "rows/s")
				b.ReportMetric(float64(sum.Requests), "requests")
				b.ReportMetric(float64(sum.Parallel), "parallel")
				b.StartTimer()
			}
		})
	}
}
