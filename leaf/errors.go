package leaf

import (
	"errors"
	"fmt"
	"time"
)

var (
	// ErrSegmentsExhausted is returned when both segments of a tag are used
	// up and no new segment arrived before the caller's deadline (typically
	// because the database is unreachable). The error wraps the loader's last
	// error, when there was one.
	ErrSegmentsExhausted = errors.New("leaf: segments exhausted")

	// ErrTagNotFound is returned for a biz_tag that is not in leaf_alloc.
	ErrTagNotFound = errors.New("leaf: tag not found")

	// ErrClosed is returned by a generator after Close.
	ErrClosed = errors.New("leaf: generator closed")

	// ErrClockBackwards is returned by the snowflake generator when the wall
	// clock is behind the last timestamp it issued (or behind the timestamp
	// persisted for its worker id at start) by more than it may wait out.
	// The error is a *ClockBackwardsError.
	ErrClockBackwards = errors.New("leaf: clock moved backwards")

	// ErrLeaseExpired is returned by the snowflake generator while it holds
	// no valid worker-id lease: the lease age on the monotonic clock reached
	// the TTL minus the safety margin without a successful renewal, or the
	// lease was taken over. Generation resumes once a lease is (re)acquired.
	ErrLeaseExpired = errors.New("leaf: worker lease expired")

	// ErrNoWorkerID is returned when every worker id of the namespace is
	// leased by a live process.
	ErrNoWorkerID = errors.New("leaf: no free worker id")

	// ErrInvalidCount is returned by NextIDs for n < 1.
	ErrInvalidCount = errors.New("leaf: count must be at least 1")
)

// ClockBackwardsError describes a refused backwards clock step.
type ClockBackwardsError struct {
	// Behind is how far the wall clock is behind the reference timestamp.
	Behind time.Duration
	// AtStart is set when the reference is the timestamp persisted for the
	// worker id, checked when the lease is acquired.
	AtStart bool
	// WorkerID is the worker id concerned.
	WorkerID int64
}

func (e *ClockBackwardsError) Error() string {
	if e.AtStart {
		return fmt.Sprintf("leaf: clock moved backwards: wall clock is %v behind the last timestamp persisted for worker %d; refusing to start", e.Behind, e.WorkerID)
	}
	return fmt.Sprintf("leaf: clock moved backwards: wall clock is %v behind the last issued timestamp (worker %d)", e.Behind, e.WorkerID)
}

// Is makes errors.Is(err, ErrClockBackwards) hold.
func (e *ClockBackwardsError) Is(target error) bool { return target == ErrClockBackwards }
