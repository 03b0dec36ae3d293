package benchkit

import (
	"context"
	"fmt"
	"os"
	"os/signal"
	"time"
)

// Options are the flags the benchmark commands share; each defines them
// with its own defaults and help texts.
type Options struct {
	Duration time.Duration // -duration: length of each measured phase
	Warmup   time.Duration // -warmup: unmeasured load before the first round
	Rounds   int           // -rounds: how many times to run the phases
	Conns    int           // -c: concurrent keep-alive HTTPS connections
	Loadgen  string        // -loadgen: the load generator, or auto (see Loadgen)
	Threads  int           // -threads: wrk threads
	Bin      string        // -bin: the dvs2s binary, or "" to build one (see Build)
	Keep     bool          // -keep: keep the temporary directory
}

// Main runs run with a context that an interrupt cancels; if run fails,
// Main prints "name: " and the error to standard error and exits with
// status 1.
func Main(name string, run func(context.Context) error) {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt)
	err := run(ctx)
	stop()
	if err != nil {
		fmt.Fprintln(os.Stderr, name+":", err)
		os.Exit(1)
	}
}

// TempDir creates a new temporary directory whose name starts with
// prefix. If keep, it prints label and the directory's path to standard
// error and remove does nothing; otherwise remove deletes the directory.
func TempDir(prefix, label string, keep bool) (dir string, remove func(), err error) {
	dir, err = os.MkdirTemp("", prefix)
	if err != nil {
		return "", nil, err
	}
	if keep {
		fmt.Fprintln(os.Stderr, label, dir)
		return dir, func() {}, nil
	}
	return dir, func() { os.RemoveAll(dir) }, nil
}
