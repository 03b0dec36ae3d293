//go:build unix

package identity_test

import (
	"syscall"
	"time"
)

// processCPU returns the CPU time (user + system) this process has used,
// or -1. Benchmarks report CPU per operation next to wall-clock rates:
// on a shared machine the rates move with other load, CPU per operation
// much less.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
