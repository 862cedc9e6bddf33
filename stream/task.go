package stream

import (
	"context"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/das-project/das/operators"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/state"
)

// Reasons the task itself rejects items for.
const (
	ReasonFuture = "future" // stamped too far ahead of the wall clock
)

// Operator is the keyed part of a job: it folds batches of items and, at a
// checkpoint, stages its state into the checkpoint batch and emits output
// to the job's sinks. See operators.WindowAggregate.
type Operator[T any] interface {
	// Process folds items in; wm[i] is the task watermark just before
	// items[i] (the watermark moves record by record, so results do not
	// depend on batch boundaries). Items the operator refuses go to reject
	// with their index in items and a reason.
	Process(items []T, wm []int64, reject func(i int, reason string))
	// NeedsCheckpoint reports that the operator's memory bound is reached.
	NeedsCheckpoint() bool
	// Buffered returns the number of entries held in memory.
	Buffered() int
	// Checkpoint stages state into b and records its progress in cp.
	Checkpoint(b *pebble.Batch, cp *state.Checkpoint, wm int64) (emitted, corrections int, err error)
}

// TwoPhaseSink is the part of sinks.Sink the task drives.
type TwoPhaseSink interface {
	Precommit(epoch uint64) (sinks.Pending, error)
	Commit(p sinks.Pending) error
	Recover(p sinks.Pending) error
	Abort() error
}

// TaskOptions configures a Task. Zero values take the stated defaults.
type TaskOptions[T any] struct {
	// Watermarks configures watermark generation.
	Watermarks WatermarkOptions
	// CheckpointInterval is the wall-clock time between checkpoints (and so
	// the output latency). Default 5s.
	CheckpointInterval time.Duration
	// CheckpointEveryRecords also checkpoints after this many input records.
	// Default 0: by time and memory only.
	CheckpointEveryRecords int64
	// EventTime extracts an item's event time (ms). Required.
	EventTime func(item *T) int64
	// Raw appends an item's bytes for the dead letter (re-encoded record).
	// Required.
	Raw func(dst []byte, item *T) []byte
	// Metrics, if non-nil, receives the task's metrics.
	Metrics *Metrics
	// OpenTimeout bounds how long opening the source may take (connecting,
	// authenticating, reading metadata); a broker that refuses the
	// credentials otherwise looks like one that is slow. Default 30s.
	OpenTimeout time.Duration
	// Now is the wall clock for checkpoint scheduling. Default time.Now.
	Now func() time.Time
}

// Stats are cumulative task counters; they survive restarts through the
// checkpoint.
type Stats struct {
	Records      int64 // input records (items + rejects)
	Rows         int64 // rows emitted, corrections included
	Corrections  int64
	DeadLettered map[string]int64 // by reason
	Checkpoints  int64
	Epoch        uint64
	Watermark    int64
}

// Task runs one source through one operator into sinks with exactly-once
// state: see Run.
type Task[T any] struct {
	src   Source[T]
	op    Operator[T]
	sinks []TwoPhaseSink
	store *state.Store
	dl    *operators.DeadLetter
	opts  TaskOptions[T]
	cp    *state.Checkpoint

	wms     *Watermarks
	offsets map[int32]int64
	stats   Stats
	raw     []byte
	wmBuf   []int64
	dlErr   error
	since   int64 // records since last checkpoint
}

// NewTask assembles a task. cp is the checkpoint loaded from store (the
// caller needs it first to build the operator); dl must have been opened at
// cp.DeadLetterSize.
func NewTask[T any](store *state.Store, cp *state.Checkpoint, src Source[T], op Operator[T], dl *operators.DeadLetter, opts TaskOptions[T], outs ...TwoPhaseSink) (*Task[T], error) {
	if opts.EventTime == nil || opts.Raw == nil {
		return nil, errors.New("stream: TaskOptions.EventTime and Raw are required")
	}
	if opts.CheckpointInterval == 0 {
		opts.CheckpointInterval = 5 * time.Second
	}
	if opts.CheckpointInterval < 0 {
		return nil, fmt.Errorf("stream: checkpoint interval %v must be > 0", opts.CheckpointInterval)
	}
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.OpenTimeout <= 0 {
		opts.OpenTimeout = 30 * time.Second
	}
	if opts.Watermarks.Now == nil {
		opts.Watermarks.Now = opts.Now
	}
	t := &Task[T]{src: src, op: op, sinks: outs, store: store, dl: dl, opts: opts, cp: cp,
		offsets: map[int32]int64{}}
	for p, o := range cp.Offsets {
		t.offsets[p] = o
	}
	t.stats = Stats{DeadLettered: map[string]int64{}, Epoch: cp.Epoch, Watermark: cp.Watermark}
	for k, v := range cp.Counters {
		switch k {
		case "records":
			t.stats.Records = v
		case "rows":
			t.stats.Rows = v
		case "corrections":
			t.stats.Corrections = v
		case "checkpoints":
			t.stats.Checkpoints = v
		default:
			if len(k) > 3 && k[:3] == "dl:" {
				t.stats.DeadLettered[k[3:]] = v
			}
		}
	}
	return t, nil
}

// Stats returns the cumulative counters.
func (t *Task[T]) Stats() Stats { return t.stats }

// Recover finishes the sinks' commit of the last checkpoint and deletes
// their uncommitted output. Call once before Run.
func (t *Task[T]) Recover() error {
	for i, s := range t.sinks {
		var p sinks.Pending
		if i < len(t.cp.SinkPending) && len(t.cp.SinkPending[i]) > 0 {
			if err := p.UnmarshalBinary(t.cp.SinkPending[i]); err != nil {
				return fmt.Errorf("stream: checkpoint %d: sink %d: %w", t.cp.Epoch, i, err)
			}
		}
		if err := s.Recover(p); err != nil {
			return fmt.Errorf("stream: recover sink %d: %w", i, err)
		}
	}
	return nil
}

// Run processes the source until it ends (bounded: the watermark moves to
// the end of time, every window fires, a final checkpoint commits, nil is
// returned) or ctx is cancelled (a final checkpoint commits the work done
// so far, then Run returns nil). Any error leaves the store at its last
// checkpoint; the task must not be reused after an error.
func (t *Task[T]) Run(ctx context.Context) error {
	octx, cancel := context.WithTimeout(ctx, t.opts.OpenTimeout)
	err := t.src.Open(octx, t.offsets)
	timedOut := octx.Err() != nil && ctx.Err() == nil
	cancel()
	if err != nil {
		if timedOut {
			return fmt.Errorf("stream: open source: not ready within %v (check its address, TLS and credentials): %w", t.opts.OpenTimeout, err)
		}
		return fmt.Errorf("stream: open source: %w", err)
	}
	t.wms = NewWatermarks(t.opts.Watermarks, t.cp.MaxEventTime, t.cp.Watermark)
	for _, p := range t.src.Partitions() {
		t.wms.AddPartition(p)
	}
	last := t.opts.Now()
	for {
		if ctx.Err() != nil {
			return t.checkpoint()
		}
		b, err := t.src.Next(ctx)
		if errors.Is(err, io.EOF) {
			t.wms.End()
			return t.checkpoint()
		}
		if err != nil {
			if ctx.Err() != nil {
				return t.checkpoint()
			}
			return fmt.Errorf("stream: source: %w", err)
		}
		if err := t.process(b); err != nil {
			return err
		}
		if f, ok := t.src.(PartitionFinisher); ok {
			for _, p := range f.FinishedPartitions() {
				t.wms.Finish(p)
			}
		}
		if t.since > 0 && (t.op.NeedsCheckpoint() ||
			t.opts.Now().Sub(last) >= t.opts.CheckpointInterval ||
			(t.opts.CheckpointEveryRecords > 0 && t.since >= t.opts.CheckpointEveryRecords)) {
			if err := t.checkpoint(); err != nil {
				return err
			}
			last = t.opts.Now()
		} else if t.since == 0 && t.opts.Now().Sub(last) >= t.opts.CheckpointInterval {
			// Idle input: windows may still close on the wall clock.
			if t.wms.Advance() > t.stats.Watermark {
				if err := t.checkpoint(); err != nil {
					return err
				}
			}
			last = t.opts.Now()
		}
	}
}

func (t *Task[T]) deadLetter(reason, detail string, p int32, off int64, raw []byte) {
	if t.dlErr != nil {
		return
	}
	t.dlErr = t.dl.Write(reason, detail, p, off, raw)
	t.stats.DeadLettered[reason]++
	if t.opts.Metrics != nil {
		t.opts.Metrics.DeadLettered.WithLabelValues(reason).Inc()
	}
}

func (t *Task[T]) process(b *Batch[T]) error {
	n := int64(len(b.Items) + len(b.Rejects))
	p := b.Partition
	if n == 0 {
		// An idle poll: no position to record, but idle partitions may
		// let the watermark follow the wall clock.
		t.wms.Advance()
		return nil
	}
	t.wms.Touch(p)
	for i := range b.Rejects {
		r := &b.Rejects[i]
		t.deadLetter(r.Reason, r.Detail, r.Partition, r.Offset, r.Raw)
	}
	items := b.Items
	tr := t.wms.Tracker(p)
	if cap(t.wmBuf) < len(items) {
		t.wmBuf = make([]int64, len(items))
	}
	wm := t.wmBuf[:len(items)]
	start := 0
	offset := func(i int) int64 {
		if i < len(b.ItemOffsets) {
			return b.ItemOffsets[i]
		}
		return -1
	}
	reject := func(i int, reason string) {
		i += start
		t.raw = t.opts.Raw(t.raw[:0], &items[i])
		t.deadLetter(reason, "", p, offset(i), t.raw)
	}
	// Items stamped too far in the future neither move the watermark nor
	// reach the operator; process the runs between them.
	future := t.wms.FutureLimit()
	for i := range items {
		ts := t.opts.EventTime(&items[i])
		if ts > future {
			if start < i {
				t.op.Process(items[start:i], wm[start:i], reject)
			}
			t.raw = t.opts.Raw(t.raw[:0], &items[i])
			t.deadLetter(ReasonFuture, fmt.Sprintf("ts_ms %d is more than %v ahead of the wall clock", ts, t.opts.Watermarks.withDefaults().FutureSkew), p, offset(i), t.raw)
			start = i + 1
			continue
		}
		wm[i] = tr.Current()
		tr.Observe(ts)
	}
	if start < len(items) {
		t.op.Process(items[start:], wm[start:], reject)
	}
	if t.dlErr != nil {
		return t.dlErr
	}
	t.wms.Advance()
	t.offsets[p] = b.NextOffset
	t.stats.Records += n
	t.since += n
	if m := t.opts.Metrics; m != nil {
		m.EventsIn.Add(float64(n))
		m.Buffered.Set(float64(t.op.Buffered()))
	}
	return nil
}

// checkpoint fires what the watermark allows and commits state, offsets,
// dead letter and sink output as one epoch.
func (t *Task[T]) checkpoint() error {
	start := time.Now()
	wm := t.wms.Advance()
	epoch := t.stats.Epoch + 1
	b := t.store.NewBatch()
	defer b.Close()
	// The stored watermark is the events' own: at the end of a bounded
	// input wm is the end of time (every window fires), but a resumed run
	// over a grown input judges lateness from where the events were, and
	// operators purge only what that watermark makes too late.
	cp := &state.Checkpoint{Epoch: epoch, Watermark: t.wms.DataWatermark()}
	emitted, corrections, err := t.op.Checkpoint(b, cp, wm)
	if err != nil {
		t.abort()
		return fmt.Errorf("stream: checkpoint %d: %w", epoch, err)
	}
	for i, s := range t.sinks {
		p, err := s.Precommit(epoch)
		if err != nil {
			t.abort()
			return fmt.Errorf("stream: checkpoint %d: precommit sink %d: %w", epoch, i, err)
		}
		enc, err := p.MarshalBinary()
		if err != nil {
			return err
		}
		cp.SinkPending = append(cp.SinkPending, enc)
	}
	dlSize, err := t.dl.Sync()
	if err != nil {
		return err
	}
	cp.DeadLetterSize = dlSize
	cp.Offsets = t.offsets
	cp.MaxEventTime = t.wms.MaxEventTimes()
	st := t.stats
	st.Rows += int64(emitted)
	st.Corrections += int64(corrections)
	st.Checkpoints++
	cp.Counters = map[string]int64{"records": st.Records, "rows": st.Rows, "corrections": st.Corrections, "checkpoints": st.Checkpoints}
	for k, v := range st.DeadLettered {
		cp.Counters["dl:"+k] = v
	}
	if err := t.store.Commit(b, cp); err != nil {
		return err
	}
	// Durable: make the output visible.
	for i, s := range t.sinks {
		var p sinks.Pending
		if err := p.UnmarshalBinary(cp.SinkPending[i]); err != nil {
			return err
		}
		if err := s.Commit(p); err != nil {
			return fmt.Errorf("stream: checkpoint %d: commit sink %d: %w", epoch, i, err)
		}
	}
	if err := t.dl.Committed(); err != nil {
		return fmt.Errorf("stream: checkpoint %d: %w", epoch, err)
	}
	st.Epoch = epoch
	st.Watermark = wm
	t.stats = st
	t.since = 0
	if c, ok := t.src.(Committer); ok {
		// Best effort: the engine's own offsets are authoritative.
		_ = c.CommitOffsets(context.Background(), t.offsets)
	}
	if m := t.opts.Metrics; m != nil {
		m.RowsOut.Add(float64(emitted))
		m.Corrections.Add(float64(corrections))
		m.Checkpoints.Inc()
		m.CheckpointTime.Observe(time.Since(start).Seconds())
		m.Buffered.Set(float64(t.op.Buffered()))
		m.setLag(t.wms.PartitionLag())
	}
	return nil
}

func (t *Task[T]) abort() {
	for _, s := range t.sinks {
		_ = s.Abort()
	}
}
