package sharding

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time of the calling OS thread (RUSAGE_THREAD):
// a benchmark locked to its thread reports CPU per operation that other
// work on a shared machine does not inflate.
func threadCPU() time.Duration { return rusage(1) }

// processCPU returns the CPU time of the whole process (RUSAGE_SELF).
func processCPU() time.Duration { return rusage(0) }

func rusage(who int) time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(who, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
