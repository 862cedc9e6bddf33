//go:build !unix

package agent

import "time"

func rusage() (user, sys time.Duration, maxRSS int64, ok bool) { return 0, 0, 0, false }
