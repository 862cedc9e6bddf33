//go:build !linux

package sharding

import "time"

// CPU time is not measured outside Linux.
func threadCPU() time.Duration  { return 0 }
func processCPU() time.Duration { return 0 }
