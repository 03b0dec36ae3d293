//go:build unix

package e2e

import (
	"syscall"
	"time"
)

// thrProcessCPU is the CPU time (user + system) this process has used, or
// -1. The throttle benchmarks report CPU per operation next to wall-clock
// time: on a shared machine wall-clock time moves with other load, CPU
// per operation much less.
func thrProcessCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
