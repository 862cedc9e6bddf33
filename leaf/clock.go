package leaf

import (
	"context"
	"time"
)

// Clock is the time source of the generators. Tests inject one to drive the
// dynamic step, clock steps backwards and lease expiry; production uses
// SystemClock.
//
// Implementations must be safe for concurrent use.
type Clock interface {
	// Now returns the wall-clock time. It may jump in either direction.
	Now() time.Time
	// Mono returns the time elapsed since an arbitrary fixed origin on a
	// monotonic clock: it never decreases and does not follow wall-clock
	// steps. Lease ages are measured on it.
	Mono() time.Duration
	// Sleep waits for d or until ctx is done, returning ctx.Err() then.
	Sleep(ctx context.Context, d time.Duration) error
}

// SystemClock returns the real clock: time.Now for the wall clock and Go's
// monotonic reading for Mono.
func SystemClock() Clock { return systemClock{origin: time.Now()} }

type systemClock struct{ origin time.Time }

func (systemClock) Now() time.Time { return time.Now() }

func (c systemClock) Mono() time.Duration { return time.Since(c.origin) }

func (systemClock) Sleep(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
