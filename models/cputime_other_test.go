//go:build !unix

package models

import "time"

// cpuTime is not measured on this platform; the CPU metric is skipped.
func cpuTime() time.Duration { return 0 }
