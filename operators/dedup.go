package operators

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/cockroachdb/pebble"
	"github.com/das-project/das/state"
)

// Dedup drops records that an at-least-once producer delivered twice. Each
// record may carry an idempotency key: a stream name (src) and a position
// in it (seq) that the producer makes strictly increasing per stream. Dedup
// keeps the highest seq counted per stream and drops a record whose seq is
// not above it — a resend after a producer restart.
//
// The positions are keyed state: Stage writes the changed ones into the
// checkpoint batch, so they roll back and forward with the window state
// and the source offsets (exactly-once). A stream silent for Retention of
// event time (measured against the watermark) is forgotten; a duplicate of
// it arriving later is older than the windows still open, so the window
// operator dead-letters it as late rather than counting it twice, as long
// as Retention exceeds the allowed lateness plus the window size.
//
// The requirement on producers: all records of one stream reach the same
// source partition, in seq order (a Kafka record key per stream, an
// idempotent producer). das agent does this.
type Dedup[T any] struct {
	key       func(*T) (src string, seq, ts int64, ok bool)
	retention int64 // ms
	streams   map[string]*dedupStream
	dirty     map[string]struct{}
	dropped   int64 // cumulative over restarts
	dropDirty bool

	// Filter's scratch.
	items []T
	wm    []int64
	idx   []int
}

type dedupStream struct {
	seq   int64 // highest seq counted
	maxTs int64 // largest event time seen, for retention
}

// DedupOptions configures a Dedup.
type DedupOptions[T any] struct {
	// Key returns a record's idempotency key and event time; ok false means
	// the record has none and always passes. Required.
	Key func(*T) (src string, seq, ts int64, ok bool)
	// Retention: a stream not seen for this long (event time behind the
	// watermark) is forgotten. Required, > 0.
	Retention int64
}

// Keys of the dedup namespace: NSDedup 's' src → uvarint(seq) uvarint(maxTs);
// NSDedup 'n' → uvarint(dropped).
var keyDedupDropped = []byte{state.NSDedup, 'n'}

func dedupKey(src string) []byte {
	return append([]byte{state.NSDedup, 's'}, src...)
}

// OpenDedup loads the positions stored in store.
func OpenDedup[T any](store *state.Store, opts DedupOptions[T]) (*Dedup[T], error) {
	if opts.Key == nil || opts.Retention <= 0 {
		return nil, fmt.Errorf("operators: dedup: Key and a positive Retention are required")
	}
	d := &Dedup[T]{key: opts.Key, retention: opts.Retention, streams: map[string]*dedupStream{}, dirty: map[string]struct{}{}}
	lo := []byte{state.NSDedup, 's'}
	it, err := store.DB().NewIter(&pebble.IterOptions{LowerBound: lo, UpperBound: []byte{state.NSDedup, 't'}})
	if err != nil {
		return nil, err
	}
	for it.First(); it.Valid(); it.Next() {
		r := state.Reader{B: it.Value()}
		seq, maxTs := r.Uvarint(), r.Uvarint()
		if r.Err != nil || seq > math.MaxInt64 || maxTs > math.MaxInt64 {
			it.Close()
			return nil, fmt.Errorf("operators: dedup position of %q: %w", it.Key()[2:], state.ErrCorrupt)
		}
		d.streams[string(it.Key()[2:])] = &dedupStream{seq: int64(seq), maxTs: int64(maxTs)}
	}
	if err := it.Close(); err != nil {
		return nil, err
	}
	v, closer, err := store.DB().Get(keyDedupDropped)
	switch {
	case err == pebble.ErrNotFound:
	case err != nil:
		return nil, err
	default:
		n, k := binary.Uvarint(v)
		closer.Close()
		if k <= 0 || n > math.MaxInt64 {
			return nil, fmt.Errorf("operators: dedup counter: %w", state.ErrCorrupt)
		}
		d.dropped = int64(n)
	}
	return d, nil
}

// Filter returns items without the duplicates, with their watermarks and a
// reject function that maps indexes back to items. When nothing is dropped
// it returns its arguments unchanged (no copy).
func (d *Dedup[T]) Filter(items []T, wm []int64, reject func(int, string)) ([]T, []int64, func(int, string)) {
	first := -1
	for i := range items {
		if d.duplicate(&items[i]) {
			first = i
			break
		}
	}
	if first < 0 {
		return items, wm, reject
	}
	d.items, d.wm, d.idx = append(d.items[:0], items[:first]...), append(d.wm[:0], wm[:first]...), d.idx[:0]
	for i := range first {
		d.idx = append(d.idx, i)
	}
	for i := first + 1; i < len(items); i++ {
		if d.duplicate(&items[i]) {
			continue
		}
		d.items = append(d.items, items[i])
		d.wm = append(d.wm, wm[i])
		d.idx = append(d.idx, i)
	}
	idx := d.idx
	return d.items, d.wm, func(j int, reason string) { reject(idx[j], reason) }
}

// duplicate reports whether it is a resend, and records its position if not.
func (d *Dedup[T]) duplicate(it *T) bool {
	src, seq, ts, ok := d.key(it)
	if !ok {
		return false
	}
	s := d.streams[src]
	switch {
	case s == nil:
		s = &dedupStream{seq: seq, maxTs: ts}
		d.streams[src] = s
	case seq <= s.seq:
		d.dropped++
		d.dropDirty = true
		return true
	default:
		s.seq = seq
		s.maxTs = max(s.maxTs, ts)
	}
	d.dirty[src] = struct{}{}
	return false
}

// Dropped is the number of duplicates dropped, over all runs of the state.
func (d *Dedup[T]) Dropped() int64 { return d.dropped }

// Streams is the number of streams whose position is kept.
func (d *Dedup[T]) Streams() int { return len(d.streams) }

// Stage writes the changed positions into b and forgets streams silent for
// longer than the retention behind watermark wm.
func (d *Dedup[T]) Stage(b *pebble.Batch, wm int64) error {
	var buf []byte
	for src := range d.dirty {
		s := d.streams[src]
		buf = binary.AppendUvarint(buf[:0], uint64(s.seq))
		buf = binary.AppendUvarint(buf, uint64(max(s.maxTs, 0)))
		if err := b.Set(dedupKey(src), buf, nil); err != nil {
			return err
		}
	}
	clear(d.dirty)
	if wm > math.MinInt64+d.retention {
		for src, s := range d.streams {
			if s.maxTs < wm-d.retention {
				if err := b.Delete(dedupKey(src), nil); err != nil {
					return err
				}
				delete(d.streams, src)
			}
		}
	}
	if d.dropDirty {
		if err := b.Set(keyDedupDropped, binary.AppendUvarint(nil, uint64(d.dropped)), nil); err != nil {
			return err
		}
		d.dropDirty = false
	}
	return nil
}
