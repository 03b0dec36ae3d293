//go:build !unix

package identity_test

import "time"

func processCPU() time.Duration { return -1 }
