//go:build !unix

package webapi

import "time"

func thrProcessCPU() time.Duration { return -1 }
