//go:build !unix

package e2e

import "time"

func thrProcessCPU() time.Duration { return -1 }
