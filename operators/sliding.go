package operators

import (
	"errors"
	"fmt"
	"math"
	"sort"

	"github.com/cockroachdb/pebble"
	"github.com/das-project/das/state"
)

// windowAcc is a sliding window's result under construction.
type windowAcc[A any] struct {
	acc     A
	version int64
}

// emitWindows emits, for sliding windows, every window that completed in
// this checkpoint (end in (oldFired, firedUpTo]) and re-emits already fired
// windows whose panes were corrected. Pane results of this checkpoint are in
// w.cur (they are staged in the batch, not yet in the store); older panes
// are read from the store.
func (w *WindowAggregate[T, A]) emitWindows(oldFired int64, emit Emit[A], st *WindowStats) error {
	defer w.clearCur()

	// Window ends to fire: every window containing a pane that exists.
	ends := map[int64]bool{}
	addEnds := func(p int64) {
		for _, e := range w.sliding.WindowEnds(p) {
			if e > oldFired && e <= w.firedUpTo {
				ends[e] = true
			}
		}
	}
	for p := range w.cur {
		addEnds(p)
	}
	if oldFired > math.MinInt64+w.span {
		stored, err := w.paneEnds(oldFired-w.span+1, oldFired)
		if err != nil {
			return err
		}
		for _, p := range stored {
			addEnds(p)
		}
	}
	sorted := make([]int64, 0, len(ends))
	for e := range ends {
		sorted = append(sorted, e)
	}
	sort.Slice(sorted, func(i, j int) bool { return sorted[i] < sorted[j] })
	for _, e := range sorted {
		res := map[string]*windowAcc[A]{}
		for _, p := range w.sliding.PaneEnds(e) {
			if err := w.panesInto(res, p); err != nil {
				return err
			}
		}
		for k, r := range res {
			if err := emit(e, []byte(k), r.acc, r.version); err != nil {
				return err
			}
			if r.version > 1 {
				st.Corrections++
			} else {
				st.Fired++
			}
			w.release(r.acc)
		}
	}

	// Re-emit fired windows whose panes were corrected, as long as all
	// their panes are still stored (the oldest pane outlives the purge
	// horizon of the previous checkpoint; this checkpoint purges later).
	type wk struct {
		end int64
		key string
	}
	redo := map[wk]bool{}
	for _, t := range w.touched {
		for _, e := range w.sliding.WindowEnds(t.end) {
			if e <= oldFired && e-w.span > w.purgedUpTo {
				redo[wk{e, t.key}] = true
			}
		}
	}
	for x := range redo {
		r := &windowAcc[A]{acc: w.acc(), version: 1}
		for _, p := range w.sliding.PaneEnds(x.end) {
			if err := w.paneKeyInto(r, p, x.key); err != nil {
				return err
			}
		}
		if err := emit(x.end, []byte(x.key), r.acc, r.version); err != nil {
			return err
		}
		st.Corrections++
		w.release(r.acc)
	}
	return nil
}

func (w *WindowAggregate[T, A]) clearCur() {
	for p, m := range w.cur {
		for _, v := range m {
			w.release(v.acc)
		}
		delete(w.cur, p)
	}
	w.touched = w.touched[:0]
}

// add merges a pane's result into a window result.
func (w *WindowAggregate[T, A]) add(r *windowAcc[A], a A, version int64) {
	w.agg.Merge(r.acc, a)
	r.version += version - 1
}

// panesInto merges every key of pane p into res.
func (w *WindowAggregate[T, A]) panesInto(res map[string]*windowAcc[A], p int64) error {
	get := func(k string) *windowAcc[A] {
		r := res[k]
		if r == nil {
			r = &windowAcc[A]{acc: w.acc(), version: 1}
			res[k] = r
		}
		return r
	}
	if m, ok := w.cur[p]; ok {
		// Keys corrected in this checkpoint are in cur; the others of an
		// older pane are still in the store.
		for k, v := range m {
			w.add(get(k), v.acc, v.version)
		}
		if p > w.firedUpTo || len(m) == 0 {
			return nil
		}
		return w.scanPane(p, func(k []byte, a A, v int64) {
			if _, dup := m[string(k)]; !dup {
				w.add(get(string(k)), a, v)
			}
		})
	}
	return w.scanPane(p, func(k []byte, a A, v int64) { w.add(get(string(k)), a, v) })
}

// paneKeyInto merges pane p's result for key into r, if any.
func (w *WindowAggregate[T, A]) paneKeyInto(r *windowAcc[A], p int64, key string) error {
	if v, ok := w.cur[p][key]; ok {
		w.add(r, v.acc, v.version)
		return nil
	}
	val, closer, err := w.store.DB().Get(state.WindowKey(w.kBuf[:0], state.NSFired, p, []byte(key)))
	if errors.Is(err, pebble.ErrNotFound) {
		return nil
	}
	if err != nil {
		return err
	}
	defer closer.Close()
	rd := state.Reader{B: val}
	ver := rd.Uvarint()
	if rd.Err != nil {
		return rd.Err
	}
	if err := w.agg.Decode(w.scratch, rd.B); err != nil {
		return err
	}
	w.add(r, w.scratch, int64(ver))
	return nil
}

// scanPane calls fn for every stored result of pane p.
func (w *WindowAggregate[T, A]) scanPane(p int64, fn func(key []byte, a A, version int64)) error {
	lo := state.WindowPrefix(state.NSFired, p)
	var hi []byte
	if p == math.MaxInt64 {
		hi = []byte{state.NSFired + 1}
	} else {
		hi = state.WindowPrefix(state.NSFired, p+1)
	}
	it, err := w.store.DB().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: hi})
	if err != nil {
		return err
	}
	for ok := it.First(); ok; ok = it.Next() {
		rd := state.Reader{B: it.Value()}
		ver := rd.Uvarint()
		if rd.Err == nil {
			rd.Err = w.agg.Decode(w.scratch, rd.B)
		}
		if rd.Err != nil {
			it.Close()
			return fmt.Errorf("operators: decode pane %d: %w", p, rd.Err)
		}
		fn(it.Key()[9:], w.scratch, int64(ver))
	}
	return it.Close()
}

// paneEnds lists the distinct pane ends stored in [lo, hi].
func (w *WindowAggregate[T, A]) paneEnds(lo, hi int64) ([]int64, error) {
	upper := []byte{state.NSFired + 1}
	if hi < math.MaxInt64 {
		upper = state.WindowPrefix(state.NSFired, hi+1)
	}
	it, err := w.store.DB().NewIter(&pebble.IterOptions{LowerBound: state.WindowPrefix(state.NSFired, clampTime(lo)), UpperBound: upper})
	if err != nil {
		return nil, err
	}
	var out []int64
	for ok := it.First(); ok; {
		p := state.ReadTime(it.Key()[1:9])
		out = append(out, p)
		if p == math.MaxInt64 {
			break
		}
		ok = it.SeekGE(state.WindowPrefix(state.NSFired, p+1))
	}
	return out, it.Close()
}
