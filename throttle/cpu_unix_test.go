//go:build unix

package throttle

import (
	"syscall"
	"time"
)

// processCPU is the CPU time (user + system) this process has used, or
// -1: benchmarks report it per operation next to wall-clock time, which on
// a shared machine moves with other load.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
