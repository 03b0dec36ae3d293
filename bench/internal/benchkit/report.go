package benchkit

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
)

// Median returns the median of xs, 0 for none.
func Median(xs []float64) float64 {
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

// Table prints to w the head of a Markdown table with a column for each
// of rounds and one for the median, and returns a function printing a row:
// label, then f of each round and their median in bold, each formatted
// with format.
func Table[R any](w io.Writer, rounds []R) func(label, format string, f func(R) float64) {
	head, sep := "| |", "|---|"
	for i := range rounds {
		head += fmt.Sprintf(" round %d |", i+1)
		sep += "---:|"
	}
	fmt.Fprintln(w, head+" median |")
	fmt.Fprintln(w, sep+"---:|")
	return func(label, format string, f func(R) float64) {
		xs := make([]float64, len(rounds))
		fmt.Fprintf(w, "| %s |", label)
		for i, r := range rounds {
			xs[i] = f(r)
			fmt.Fprintf(w, " "+format+" |", xs[i])
		}
		fmt.Fprintf(w, " **"+format+"** |\n", Median(xs))
	}
}

// PerOp returns the CPU milliseconds per operation of cpu seconds over n
// operations, or -1 when cpu is unknown or n is 0.
func PerOp(cpu float64, n int64) float64 {
	if cpu < 0 || n == 0 {
		return -1
	}
	return 1000 * cpu / float64(n)
}

// Machine describes this machine: CPUs, GOMAXPROCS, Go version, OS and
// architecture, and the CPU model where /proc/cpuinfo names it.
func Machine() string {
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

// Build returns bin, or, if bin is "", builds ./cmd/dvs2s into dir with
// the go command of this program's Go installation (or the one on PATH)
// and returns the binary's path. It must run from the repository root.
func Build(ctx context.Context, bin, dir string) (string, error) {
	if bin != "" {
		return bin, nil
	}
	bin = filepath.Join(dir, "dvs2s")
	fmt.Fprintln(os.Stderr, "building ./cmd/dvs2s ...")
	gobin := filepath.Join(runtime.GOROOT(), "bin", "go")
	if _, err := os.Stat(gobin); err != nil {
		gobin = "go"
	}
	cmd := exec.CommandContext(ctx, gobin, "build", "-o", bin, "./cmd/dvs2s")
	cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("go build ./cmd/dvs2s (run from the repository root): %w", err)
	}
	return bin, nil
}
