package operators

import (
	"bytes"
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/das-project/das/state"
	"github.com/das-project/das/windows"
)

// Reasons under which the window operator rejects items.
const (
	ReasonLate = "late" // behind the watermark by more than the allowed lateness
)

// WindowOptions configures a WindowAggregate. The zero value is not valid:
// Window or Sliding is required.
type WindowOptions struct {
	// Window is a tumbling window. Exactly one of Window and Sliding is set.
	Window windows.Tumbling
	// Sliding is a sliding window, computed from panes of its slide: each
	// item is stored once, in its pane, and a window's result is merged
	// from its panes when it fires. A correction to a pane re-emits every
	// already fired window that contains it; a window's version is 1 plus
	// the number of corrections applied to its panes for that key, so
	// versions only grow, but a window that first fires after a correction
	// of one of its panes starts above 1.
	Sliding windows.Sliding
	// AllowedLateness: items for a fired window are accepted as corrections
	// until the watermark passes the window's end + this. Default 0: late
	// items go to the dead letter as soon as their window has fired.
	AllowedLateness time.Duration
	// MaxBufferedKeys bounds the pre-aggregated entries held in memory;
	// past it the task must checkpoint (NeedsCheckpoint). Default 500,000.
	MaxBufferedKeys int
}

// Emit receives a window result: the window end (ms), the grouping key, the
// accumulator and its version (1 = first emit, n+1 = correction n). key and
// acc are only valid during the call.
type Emit[A any] func(windowEnd int64, key []byte, acc A, version int64) error

// WindowStats counts what a checkpoint did.
type WindowStats struct {
	Fired       int // rows emitted with version 1
	Corrections int // rows emitted with version > 1
	Spilled     int // partial accumulators written for open windows
}

// WindowAggregate is a keyed, event-time window aggregate (tumbling, or
// sliding from panes) with exactly-once state in a state.Store.
//
// Items are pre-aggregated in memory per (window, key). At each checkpoint:
// windows complete at the watermark fire (memory merged with partials
// spilled by earlier checkpoints) and their results are stored with their
// version for compensation; open windows' partials are spilled as Pebble
// merge operands (no read-modify-write); corrections for fired windows are
// merged into the stored results and re-emitted with version n+1; state
// past the lateness horizon is deleted by range. All of it goes into the
// checkpoint's batch, committed atomically with the source offsets.
//
// Not safe for concurrent use; owned by one task.
type WindowAggregate[T any, A any] struct {
	agg      Aggregator[T, A]
	win      windows.Tumbling // the pane: the window itself when tumbling
	sliding  *windows.Sliding // nil for tumbling windows
	span     int64            // window size − pane size (0 when tumbling)
	lateness int64
	maxKeys  int
	store    *state.Store

	open     map[int64]map[string]A // window end → key → partial since last checkpoint
	late     map[int64]map[string]A // corrections for fired windows
	buffered int
	free     []A

	firedUpTo  int64 // every window ending ≤ firedUpTo has fired
	purgedUpTo int64 // state of windows ending ≤ purgedUpTo is deleted
	unstored   int64 // during a checkpoint: fired results ending ≤ this are not stored

	keyBuf, valBuf, kBuf []byte
	kb                   []byte // a map key copied for store1 and emit
	scratch              A

	// Sliding windows only, during a checkpoint: panes finalized or
	// corrected by it, and the corrected (pane, key) pairs.
	cur     map[int64]map[string]paneVal[A]
	touched []paneKey
}

type paneVal[A any] struct {
	acc     A
	version int64
}

type paneKey struct {
	end int64
	key string
}

// NewWindowAggregate returns the operator. firedUpTo and purgedUpTo come
// from the last checkpoint (MinWatermark-like values for a new store).
func NewWindowAggregate[T any, A any](store *state.Store, agg Aggregator[T, A], opts WindowOptions, firedUpTo, purgedUpTo int64) (*WindowAggregate[T, A], error) {
	var sliding *windows.Sliding
	switch {
	case opts.Sliding.Size() > 0 && opts.Window.Size() > 0:
		return nil, fmt.Errorf("%w: set WindowOptions.Window or Sliding, not both", windows.ErrInvalid)
	case opts.Sliding.Size() > 0:
		sl := opts.Sliding
		sliding = &sl
		opts.Window = sl.Pane()
	case opts.Window.Size() <= 0:
		return nil, fmt.Errorf("%w: WindowOptions.Window or Sliding is required", windows.ErrInvalid)
	}
	if opts.AllowedLateness < 0 {
		return nil, fmt.Errorf("operators: allowed lateness %v must be ≥ 0", opts.AllowedLateness)
	}
	if opts.MaxBufferedKeys == 0 {
		opts.MaxBufferedKeys = 500_000
	}
	if opts.MaxBufferedKeys < 0 {
		return nil, fmt.Errorf("operators: MaxBufferedKeys %d must be > 0", opts.MaxBufferedKeys)
	}
	w := &WindowAggregate[T, A]{
		agg: agg, win: opts.Window, sliding: sliding, lateness: opts.AllowedLateness.Milliseconds(),
		maxKeys: opts.MaxBufferedKeys, store: store,
		open: map[int64]map[string]A{}, late: map[int64]map[string]A{},
		firedUpTo: firedUpTo, purgedUpTo: purgedUpTo, scratch: agg.New(),
	}
	if sliding != nil {
		w.span = sliding.Size() - sliding.Slide()
		w.cur = map[int64]map[string]paneVal[A]{}
	}
	return w, nil
}

// FiredUpTo and PurgedUpTo are recorded in the checkpoint.
func (w *WindowAggregate[T, A]) FiredUpTo() int64  { return w.firedUpTo }
func (w *WindowAggregate[T, A]) PurgedUpTo() int64 { return w.purgedUpTo }

// Buffered returns the number of in-memory entries.
func (w *WindowAggregate[T, A]) Buffered() int { return w.buffered }

// NeedsCheckpoint reports that memory is at its bound.
func (w *WindowAggregate[T, A]) NeedsCheckpoint() bool { return w.buffered >= w.maxKeys }

func (w *WindowAggregate[T, A]) acc() A {
	if n := len(w.free); n > 0 {
		a := w.free[n-1]
		w.free = w.free[:n-1]
		return a
	}
	return w.agg.New()
}

func (w *WindowAggregate[T, A]) release(a A) {
	w.agg.Reset(a)
	if len(w.free) < 4096 {
		w.free = append(w.free, a)
	}
}

// Process folds a batch of items in; wm[i] is the task watermark just
// before items[i]. Items too late for their window are passed to reject
// with ReasonLate; every other item ends up in exactly one window.
func (w *WindowAggregate[T, A]) Process(items []T, wm []int64, reject func(i int, reason string)) {
	for i := range items {
		it := &items[i]
		ts := w.agg.EventTime(it)
		end := w.win.End(ts)
		if end <= w.purgedUpTo || windows.TooLate(end+w.span, w.lateness, wm[i]) {
			reject(i, ReasonLate)
			continue
		}
		tbl := w.open
		if end <= w.firedUpTo {
			tbl = w.late
		}
		m := tbl[end]
		if m == nil {
			m = make(map[string]A)
			tbl[end] = m
		}
		w.keyBuf = w.agg.Key(w.keyBuf[:0], it)
		a, ok := m[string(w.keyBuf)]
		if !ok {
			a = w.acc()
			m[string(w.keyBuf)] = a
			w.buffered++
		}
		w.agg.Add(a, w.keyBuf, it)
	}
}

// Checkpoint stages into b everything the operator has to persist at
// watermark wm, emitting fired rows and corrections through emit. Nothing
// is durable until the caller commits b; if the caller aborts instead, the
// operator must be discarded (its memory no longer matches the store).
func (w *WindowAggregate[T, A]) Checkpoint(b *pebble.Batch, wm int64, emit Emit[A]) (WindowStats, error) {
	return w.CheckpointPurging(b, wm, wm, emit)
}

// CheckpointPurging is Checkpoint with the purge judged at purgeWm rather
// than wm: at the end of a bounded input wm is the end of time (every window
// fires) while purgeWm is the watermark the events reached, so the fired
// state a grown input's late events correct is kept for the allowed
// lateness.
func (w *WindowAggregate[T, A]) CheckpointPurging(b *pebble.Batch, wm, purgeWm int64, emit Emit[A]) (WindowStats, error) {
	var st WindowStats
	limit := windows.FireLimit(wm)
	oldFired := w.firedUpTo
	// The fired state this checkpoint purges. A tumbling window's result
	// that falls in it is emitted but not stored: the batch's DeleteRange
	// would remove it again, and no later item can reach it (items for
	// purged windows are late). On a replay or backfill, where the
	// watermark crosses hours of event time between checkpoints, that is
	// nearly every fired row, which then costs Pebble nothing.
	purge := w.purgeLimit(wm, purgeWm, max(oldFired, limit))
	w.unstored = math.MinInt64
	if w.sliding == nil {
		w.unstored = purge
	}
	if limit > w.firedUpTo {
		if err := w.fire(b, limit, emit, &st); err != nil {
			return st, err
		}
		w.firedUpTo = limit
	}
	if err := w.correct(b, emit, &st); err != nil {
		return st, err
	}
	if w.sliding != nil {
		if err := w.emitWindows(oldFired, emit, &st); err != nil {
			return st, err
		}
	}
	if err := w.spill(b, &st); err != nil {
		return st, err
	}
	if purge > w.purgedUpTo {
		lo := state.WindowPrefix(state.NSFired, clampTime(w.purgedUpTo+1))
		hi := state.WindowPrefix(state.NSFired, clampTime(purge+1))
		if purge == math.MaxInt64 {
			hi = []byte{state.NSFired + 1}
		}
		if err := b.DeleteRange(lo, hi, nil); err != nil {
			return st, err
		}
		w.purgedUpTo = purge
	}
	return st, nil
}

// purgeLimit returns the window end up to which fired state is purged by a
// checkpoint at watermark wm (purge judged at purgeWm) that leaves every
// window ending ≤ firedUpTo fired; purgedUpTo when it purges nothing.
func (w *WindowAggregate[T, A]) purgeLimit(wm, purgeWm, firedUpTo int64) int64 {
	p := windows.PurgeLimit(w.lateness, min(wm, purgeWm))
	if p <= w.purgedUpTo {
		return w.purgedUpTo
	}
	if p != math.MaxInt64 {
		p -= w.span // a pane lives until its last window is too late
	}
	if p > firedUpTo {
		p = firedUpTo // never purge what has not fired
	}
	return max(p, w.purgedUpTo)
}

func clampTime(t int64) int64 {
	if t < math.MinInt64+1 {
		return math.MinInt64
	}
	return t
}

// fire emits every window with firedUpTo < end ≤ limit.
func (w *WindowAggregate[T, A]) fire(b *pebble.Batch, limit int64, emit Emit[A], st *WindowStats) error {
	lo := state.WindowPrefix(state.NSPartial, clampTime(w.firedUpTo+1))
	var hi []byte
	if limit == math.MaxInt64 {
		hi = []byte{state.NSPartial + 1}
	} else {
		hi = state.WindowPrefix(state.NSPartial, limit+1)
	}
	// Partials spilled by earlier checkpoints, merged with memory.
	it, err := w.store.DB().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return fmt.Errorf("operators: fire: %w", err)
	}
	spilled := false
	for ok := it.First(); ok; ok = it.Next() {
		spilled = true
		k := it.Key()
		end := state.ReadTime(k[1:9])
		key := k[9:]
		if err := w.agg.Decode(w.scratch, it.Value()); err != nil {
			it.Close()
			return fmt.Errorf("operators: decode partial for window %d: %w", end, err)
		}
		if m := w.open[end]; m != nil {
			if a, ok := m[string(key)]; ok {
				w.agg.Merge(w.scratch, a)
				delete(m, string(key))
				w.buffered--
				w.release(a)
			}
		}
		if err := w.store1(b, end, key, w.scratch, 1, emit); err != nil {
			it.Close()
			return err
		}
		if w.sliding == nil {
			st.Fired++
		}
	}
	if err := it.Close(); err != nil {
		return fmt.Errorf("operators: fire: %w", err)
	}
	if spilled {
		if err := b.DeleteRange(lo, hi, nil); err != nil {
			return err
		}
	}
	for end, m := range w.open {
		if end > limit {
			continue
		}
		for k, a := range m {
			w.kb = append(w.kb[:0], k...) // no allocation per key
			if err := w.store1(b, end, w.kb, a, 1, emit); err != nil {
				return err
			}
			if w.sliding == nil {
				st.Fired++
			}
			w.release(a)
		}
		w.buffered -= len(m)
		delete(w.open, end)
	}
	return nil
}

// store1 writes a fired result with its version and emits it. A result in
// the state this checkpoint purges (end ≤ unstored) is only emitted.
func (w *WindowAggregate[T, A]) store1(b *pebble.Batch, end int64, key []byte, a A, version int64, emit Emit[A]) error {
	if end > w.unstored {
		w.kBuf = state.WindowKey(w.kBuf[:0], state.NSFired, end, key)
		w.valBuf = binary.AppendUvarint(w.valBuf[:0], uint64(version))
		w.valBuf = w.agg.Append(w.valBuf, a)
		if err := b.Set(w.kBuf, w.valBuf, nil); err != nil {
			return err
		}
	}
	if w.sliding != nil {
		m := w.cur[end]
		if m == nil {
			m = map[string]paneVal[A]{}
			w.cur[end] = m
		}
		c := w.acc()
		w.agg.Merge(c, a)
		m[string(key)] = paneVal[A]{c, version}
		return nil
	}
	return emit(end, key, a, version)
}

// correct merges late items into fired results and re-emits them.
func (w *WindowAggregate[T, A]) correct(b *pebble.Batch, emit Emit[A], st *WindowStats) error {
	for end, m := range w.late {
		for k, a := range m {
			w.kb = append(w.kb[:0], k...)
			w.kBuf = state.WindowKey(w.kBuf[:0], state.NSFired, end, w.kb)
			version := int64(1)
			v, closer, err := w.store.DB().Get(w.kBuf)
			switch {
			case err == nil:
				r := state.Reader{B: v}
				prev := r.Uvarint()
				if r.Err == nil {
					err = w.agg.Decode(w.scratch, r.B)
				} else {
					err = r.Err
				}
				closer.Close()
				if err != nil {
					return fmt.Errorf("operators: decode fired window %d: %w", end, err)
				}
				w.agg.Merge(w.scratch, a)
				version = int64(prev) + 1
			case errors.Is(err, pebble.ErrNotFound):
				// First item of this key in an already fired window. A
				// pane counts it as a correction: windows containing the
				// pane may already have emitted the key from other panes.
				w.agg.Reset(w.scratch)
				w.agg.Merge(w.scratch, a)
				if w.sliding != nil {
					version = 2
				}
			default:
				return fmt.Errorf("operators: read fired window %d: %w", end, err)
			}
			if err := w.store1(b, end, w.kb, w.scratch, version, emit); err != nil {
				return err
			}
			if w.sliding != nil {
				w.touched = append(w.touched, paneKey{end, k})
			} else if version > 1 {
				st.Corrections++
			} else {
				st.Fired++
			}
			w.release(a)
		}
		w.buffered -= len(m)
		delete(w.late, end)
	}
	return nil
}

// spill writes open windows' partials as merge operands.
func (w *WindowAggregate[T, A]) spill(b *pebble.Batch, st *WindowStats) error {
	for end, m := range w.open {
		for k, a := range m {
			w.kb = append(w.kb[:0], k...)
			w.kBuf = state.WindowKey(w.kBuf[:0], state.NSPartial, end, w.kb)
			w.valBuf = w.agg.Append(w.valBuf[:0], a)
			if err := b.Merge(w.kBuf, w.valBuf, nil); err != nil {
				return err
			}
			st.Spilled++
			w.release(a)
		}
		w.buffered -= len(m)
		delete(w.open, end)
	}
	return nil
}

// CombineFunc returns the state.Combine for partials of agg, to register
// in state.Options.Combiners[state.NSPartial] before opening the store.
// Pebble calls it from compactions concurrently with reads, so it keeps no
// shared scratch state (agg's New, Decode, Merge and Append must be safe
// for concurrent use on distinct accumulators).
func CombineFunc[T any, A any](agg Aggregator[T, A]) state.Combine {
	return func(dst, older, newer []byte) ([]byte, error) {
		a, b := agg.New(), agg.New()
		if err := agg.Decode(a, older); err != nil {
			return nil, err
		}
		if err := agg.Decode(b, newer); err != nil {
			return nil, err
		}
		agg.Merge(a, b)
		return agg.Append(dst, a), nil
	}
}

// Fired reads the stored result of window end for key (tests, tools).
func (w *WindowAggregate[T, A]) Fired(end int64, key []byte, into A) (version int64, ok bool, err error) {
	v, closer, err := w.store.DB().Get(state.WindowKey(nil, state.NSFired, end, key))
	if errors.Is(err, pebble.ErrNotFound) {
		return 0, false, nil
	}
	if err != nil {
		return 0, false, err
	}
	defer closer.Close()
	r := state.Reader{B: bytes.Clone(v)}
	ver := r.Uvarint()
	if r.Err != nil {
		return 0, false, r.Err
	}
	return int64(ver), true, w.agg.Decode(into, r.B)
}
