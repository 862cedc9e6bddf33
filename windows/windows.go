// Package windows assigns event times to event-time windows and holds the
// rules for when a window fires and when it is too late to change.
//
// Semantics follow Flink: a window [start, end) has maxTimestamp end−1; it
// fires once the watermark reaches end−1; an element for it is still
// accepted (as a correction) while maxTimestamp + allowedLateness is greater
// than the watermark, and is late (dead letter) after that.
package windows

import (
	"errors"
	"fmt"
	"time"
)

// ErrInvalid is returned for a window specification that cannot work.
var ErrInvalid = errors.New("windows: invalid window")

// Tumbling is a tumbling (fixed, non-overlapping) event-time window.
type Tumbling struct {
	size int64 // ms
}

// NewTumbling returns a tumbling window of the given size (≥ 1 ms, whole ms).
func NewTumbling(size time.Duration) (Tumbling, error) {
	ms := size.Milliseconds()
	if ms < 1 || time.Duration(ms)*time.Millisecond != size {
		return Tumbling{}, fmt.Errorf("%w: tumbling size %v must be a positive whole number of milliseconds", ErrInvalid, size)
	}
	return Tumbling{size: ms}, nil
}

// Size returns the window size in ms.
func (t Tumbling) Size() int64 { return t.size }

// Start returns the start of the window containing ts (floor, also for
// negative times).
func (t Tumbling) Start(ts int64) int64 {
	r := ts % t.size
	if r < 0 {
		r += t.size
	}
	return ts - r
}

// End returns the (exclusive) end of the window containing ts.
func (t Tumbling) End(ts int64) int64 { return t.Start(ts) + t.size }

// FireLimit returns the largest window end that is complete at wm: a
// window fires once wm reaches its maxTimestamp, end − 1.
func FireLimit(wm int64) int64 {
	if wm == 1<<63-1 {
		return wm
	}
	return wm + 1
}

// TooLate reports whether the window ending at end can no longer change at
// watermark wm with the given allowed lateness (ms): its state is purged and
// elements for it go to the dead letter.
func TooLate(end, lateness, wm int64) bool {
	last := end - 1 + lateness
	if lateness > 0 && last < end { // overflow
		return false
	}
	return last <= wm
}

// PurgeLimit returns the largest window end whose state may be deleted at
// watermark wm: every window ending at or before it is TooLate.
func PurgeLimit(lateness, wm int64) int64 {
	if wm < -1<<62 || wm == 1<<63-1 {
		return wm
	}
	return wm + 1 - lateness
}
