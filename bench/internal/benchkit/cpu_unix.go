//go:build unix

package benchkit

import (
	"syscall"
	"time"
)

// SelfCPU returns the CPU seconds (user + system) this process has used,
// or -1.
func SelfCPU() float64 {
	var ru syscall.Rusage
	if syscall.Getrusage(syscall.RUSAGE_SELF, &ru) != nil {
		return -1
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}
