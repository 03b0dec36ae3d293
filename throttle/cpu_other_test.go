//go:build !unix

package throttle

import "time"

func processCPU() time.Duration { return -1 }
