package stream

import (
	"math"
	"time"
)

// Watermark values with special meaning.
const (
	// MinWatermark is the watermark before any event was seen.
	MinWatermark int64 = math.MinInt64
	// MaxWatermark is the watermark of an exhausted bounded input: every
	// window is complete.
	MaxWatermark int64 = math.MaxInt64
)

// WatermarkOptions configures watermark generation. The zero value uses the
// defaults stated on each field.
type WatermarkOptions struct {
	// OutOfOrderness is the bounded out-of-orderness: a partition's
	// watermark is its largest event time minus this, minus 1 ms (Flink's
	// BoundedOutOfOrderness). Default 5s.
	OutOfOrderness time.Duration
	// IdleTimeout: a partition that delivered no record for this long (wall
	// clock, measured from its last record) is idle. Default 30s.
	IdleTimeout time.Duration
	// FollowWallClock lets an idle partition's watermark follow the wall
	// clock minus OutOfOrderness, so that a quiet instance's windows still
	// close. Only for live inputs (Kafka); never for files or replay, whose
	// watermarks are event time only. Default false.
	FollowWallClock bool
	// FutureSkew: an event stamped further than this ahead of the wall clock
	// is rejected (reason "future") and does not move the watermark.
	// Default 10m. Negative disables the check.
	FutureSkew time.Duration
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
}

func (o *WatermarkOptions) withDefaults() WatermarkOptions {
	r := *o
	if r.OutOfOrderness == 0 {
		r.OutOfOrderness = 5 * time.Second
	}
	if r.IdleTimeout == 0 {
		r.IdleTimeout = 30 * time.Second
	}
	if r.FutureSkew == 0 {
		r.FutureSkew = 10 * time.Minute
	}
	if r.Now == nil {
		r.Now = time.Now
	}
	return r
}

// Watermarks tracks per-partition event-time progress and derives the task
// watermark: the minimum over partitions, where an idle partition does not
// hold the others back. The task watermark never moves backwards.
// Not safe for concurrent use; owned by one task.
type Watermarks struct {
	opts   WatermarkOptions
	ooo    int64
	parts  map[int32]*partitionWM
	cur    int64
	ended  bool
	dataWm int64 // the watermark when End was called
}

type partitionWM struct {
	finished   bool      // bounded input: the partition delivered everything
	maxTs      int64     // largest accepted event time, MinWatermark if none
	lastRecord time.Time // wall time of the last record (for idleness)
}

// NewWatermarks returns a tracker. maxEventTime restores the per-partition
// maxima of a checkpoint (may be nil); floor is the lowest watermark the
// task may report (the restored watermark).
func NewWatermarks(opts WatermarkOptions, maxEventTime map[int32]int64, floor int64) *Watermarks {
	o := opts.withDefaults()
	w := &Watermarks{opts: o, ooo: o.OutOfOrderness.Milliseconds(), parts: map[int32]*partitionWM{}, cur: floor}
	now := o.Now()
	for p, ts := range maxEventTime {
		w.parts[p] = &partitionWM{maxTs: ts, lastRecord: now}
	}
	return w
}

// AddPartition registers a partition so that it holds the watermark back
// until it delivers data or goes idle.
func (w *Watermarks) AddPartition(p int32) {
	if _, ok := w.parts[p]; !ok {
		w.parts[p] = &partitionWM{maxTs: MinWatermark, lastRecord: w.opts.Now()}
	}
}

// Finish marks a partition of a bounded input as finished: it no longer
// holds the task watermark back.
func (w *Watermarks) Finish(p int32) { w.partition(p).finished = true }

// RemovePartition forgets a partition (revoked by a rebalance).
func (w *Watermarks) RemovePartition(p int32) { delete(w.parts, p) }

// FutureLimit returns the largest event time not considered future now;
// read it once per batch rather than the clock once per record.
func (w *Watermarks) FutureLimit() int64 {
	if w.opts.FutureSkew < 0 {
		return MaxWatermark
	}
	return w.opts.Now().Add(w.opts.FutureSkew).UnixMilli()
}

// Touch records that partition p delivered records (even only rejected
// ones) now: it is not idle.
func (w *Watermarks) Touch(p int32) {
	pw := w.partition(p)
	pw.lastRecord = w.opts.Now()
}

// End marks the input as exhausted: the watermark becomes MaxWatermark.
// DataWatermark keeps the watermark the data itself reached.
func (w *Watermarks) End() {
	if !w.ended {
		w.dataWm = w.cur
	}
	w.ended = true
	w.cur = MaxWatermark
}

// DataWatermark is the watermark the events reached: Advance's, or for an
// exhausted input the watermark just before End. A checkpoint stores it, so
// that a bounded input that grows (a slow log appended to after a run read
// it to its end) resumes judging lateness from its events, not from the
// end of time that fired every window.
func (w *Watermarks) DataWatermark() int64 {
	if w.ended {
		return w.dataWm
	}
	return w.Advance()
}

// Advance recomputes the task watermark and returns it.
func (w *Watermarks) Advance() int64 {
	if w.ended {
		return MaxWatermark
	}
	wm, active := w.minOver(-1)
	if active == 0 {
		// Every partition idle and no wall clock to follow: keep the
		// watermark where it is (event time only).
		return w.cur
	}
	if wm > w.cur {
		w.cur = wm
	}
	return w.cur
}

// Tracker returns a per-record watermark tracker for a batch of partition
// p: it gives the task watermark before each record, as if the watermark
// were recomputed after every record, so that results do not depend on how
// records were split into batches.
func (w *Watermarks) Tracker(p int32) RecordWatermark {
	others, _ := w.minOver(p)
	return RecordWatermark{w: w, others: others, cur: w.cur, p: w.partition(p)}
}

// RecordWatermark tracks the watermark record by record within a batch.
type RecordWatermark struct {
	w      *Watermarks
	others int64
	cur    int64
	p      *partitionWM
}

// Current is the task watermark before the next record.
func (r *RecordWatermark) Current() int64 { return r.cur }

// Observe accepts a record with event time ts and advances the watermark.
func (r *RecordWatermark) Observe(ts int64) {
	if ts <= r.p.maxTs {
		return
	}
	r.p.maxTs = ts
	wm := min(r.others, r.w.partitionWatermark(ts))
	if wm > r.cur && !r.w.ended {
		r.cur = wm
	}
}

func (w *Watermarks) partition(p int32) *partitionWM {
	pw := w.parts[p]
	if pw == nil {
		pw = &partitionWM{maxTs: MinWatermark, lastRecord: w.opts.Now()}
		w.parts[p] = pw
	}
	return pw
}

// minOver returns the minimum watermark over partitions other than skip
// and how many partitions took part; idle partitions are left out or,
// when following the wall clock, contribute it.
func (w *Watermarks) minOver(skip int32) (int64, int) {
	now := w.opts.Now()
	wm := MaxWatermark
	active := 0
	for p, pw := range w.parts {
		if p == skip || pw.finished {
			continue
		}
		idle := now.Sub(pw.lastRecord) >= w.opts.IdleTimeout
		pwm := w.partitionWatermark(pw.maxTs)
		if idle {
			if !w.opts.FollowWallClock {
				continue // idle partitions do not hold the task back
			}
			if wall := now.UnixMilli() - w.ooo - 1; wall > pwm {
				pwm = wall
			}
		}
		active++
		if pwm < wm {
			wm = pwm
		}
	}
	return wm, active
}

func (w *Watermarks) partitionWatermark(maxTs int64) int64 {
	if maxTs == MinWatermark || maxTs < math.MinInt64+w.ooo+1 {
		return MinWatermark
	}
	return maxTs - w.ooo - 1
}

// Current returns the task watermark as of the last Advance.
func (w *Watermarks) Current() int64 { return w.cur }

// MaxEventTimes returns the per-partition maxima, for the checkpoint.
func (w *Watermarks) MaxEventTimes() map[int32]int64 {
	m := make(map[int32]int64, len(w.parts))
	for p, pw := range w.parts {
		m[p] = pw.maxTs
	}
	return m
}

// PartitionLag returns, per partition, how far the partition's watermark
// trails the wall clock (for the watermark-lag metric).
func (w *Watermarks) PartitionLag() map[int32]time.Duration {
	now := w.opts.Now().UnixMilli()
	m := make(map[int32]time.Duration, len(w.parts))
	for p, pw := range w.parts {
		if pw.maxTs == MinWatermark {
			continue
		}
		m[p] = time.Duration(now-w.partitionWatermark(pw.maxTs)) * time.Millisecond
	}
	return m
}
