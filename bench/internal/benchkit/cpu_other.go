//go:build !unix

package benchkit

// SelfCPU returns -1: this process's CPU time is unknown here.
func SelfCPU() float64 { return -1 }
