package slowlog

import (
	"syscall"
	"time"
)

// threadCPU returns the CPU time of the calling OS thread, so a benchmark
// locked to its thread reports per-core throughput that other work on a
// shared machine hardly distorts.
func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
