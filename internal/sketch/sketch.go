// Package sketch is a mergeable latency sketch with relative-error quantiles
// in the style of DDSketch (Masson, Rim, Lee, VLDB 2019): values are counted
// in logarithmic buckets of ratio gamma = (1+α)/(1-α), so any quantile is
// returned within a relative error α of a value of the input, and merging two
// sketches is an exact bucket-wise sum — corrections and longer windows built
// from minute sketches stay as accurate as a sketch of all the raw values.
//
// Why not github.com/DataDog/sketches-go: its stores keep at least one dense
// page of float64 counters per sketch (≥1 KiB) behind interfaces, and das
// keeps one sketch per (instance, db, template, minute) key — millions of
// them, most holding a handful of values. This sketch is a sorted slice of
// (bucket, count) pairs that costs a few bytes per distinct bucket and has a
// compact varint encoding for keyed state.
package sketch

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// RelativeAccuracy is α: a quantile is within ±α (relative) of a true value.
const RelativeAccuracy = 0.01

var (
	gamma       = (1 + RelativeAccuracy) / (1 - RelativeAccuracy)
	invLogGamma = 1 / math.Log(gamma)
)

// maxIndex bounds bucket indices: gamma^maxIndex ≈ 1e13 µs (115 days), far
// above any statement latency. Larger values are clamped into the last bucket.
const maxIndex = 1500

// ErrCorrupt is returned by Decode for bytes that are not a sketch encoding.
var ErrCorrupt = errors.New("sketch: corrupt encoding")

// bucket counts values v with gamma^(idx-1) < v ≤ gamma^idx; idx 0 counts
// values ≤ 1 (zero and sub-microsecond latencies).
type bucket struct {
	idx   uint16
	count uint32
}

// Sketch is a latency sketch. The zero value is an empty sketch ready to use.
// A Sketch is not safe for concurrent use.
type Sketch struct {
	buckets []bucket // sorted by idx, no duplicates, no zero counts
	n       uint64
}

// Index returns the bucket index of v (v in any unit; das uses µs).
func Index(v int64) uint16 {
	if v <= 1 {
		return 0
	}
	i := math.Ceil(math.Log(float64(v)) * invLogGamma)
	if i > maxIndex {
		return maxIndex
	}
	return uint16(i)
}

// value returns the representative value of bucket idx: the point whose
// relative distance to both bucket bounds is α.
func value(idx uint16) float64 {
	if idx == 0 {
		return 0
	}
	return 2 * math.Pow(gamma, float64(idx)) / (gamma + 1)
}

// values holds value(idx) for every index (12 KiB, read-only): a quantile
// is a table lookup rather than a math.Pow, which cost sqlagg about 0.1 µs
// per quantile when it fires a minute row.
var values = func() (t [maxIndex + 1]float64) {
	for i := range t {
		t[i] = value(uint16(i))
	}
	return t
}()

// Add counts one value.
func (s *Sketch) Add(v int64) { s.AddN(Index(v), 1) }

// AddN adds count values to bucket idx.
func (s *Sketch) AddN(idx uint16, count uint32) {
	if count == 0 {
		return
	}
	s.n += uint64(count)
	b := s.buckets
	// Fast paths: appending at the end, or hitting the last bucket again.
	if n := len(b); n == 0 || b[n-1].idx < idx {
		s.buckets = append(b, bucket{idx, count})
		return
	}
	lo, hi := 0, len(b)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if b[m].idx < idx {
			lo = m + 1
		} else {
			hi = m
		}
	}
	if b[lo].idx == idx {
		b[lo].count += count
		return
	}
	b = append(b, bucket{})
	copy(b[lo+1:], b[lo:])
	b[lo] = bucket{idx, count}
	s.buckets = b
}

// Merge adds every value counted by o to s. Merging is exact: the result is
// the sketch of the union of both inputs.
func (s *Sketch) Merge(o *Sketch) {
	if len(o.buckets) == 0 {
		return
	}
	if len(s.buckets) == 0 {
		s.buckets = append(s.buckets[:0], o.buckets...)
		s.n = o.n
		return
	}
	out := make([]bucket, 0, len(s.buckets)+len(o.buckets))
	a, b := s.buckets, o.buckets
	for len(a) > 0 && len(b) > 0 {
		switch {
		case a[0].idx < b[0].idx:
			out = append(out, a[0])
			a = a[1:]
		case a[0].idx > b[0].idx:
			out = append(out, b[0])
			b = b[1:]
		default:
			out = append(out, bucket{a[0].idx, a[0].count + b[0].count})
			a, b = a[1:], b[1:]
		}
	}
	out = append(out, a...)
	out = append(out, b...)
	s.buckets = out
	s.n += o.n
}

// Count returns the number of values added.
func (s *Sketch) Count() uint64 { return s.n }

// Reset empties s, keeping its memory.
func (s *Sketch) Reset() {
	s.buckets = s.buckets[:0]
	s.n = 0
}

// Quantile returns an estimate of the q-quantile (0 ≤ q ≤ 1) within the
// relative accuracy, or 0 for an empty sketch. It uses the lower rank
// q·(n−1), as DDSketch does.
func (s *Sketch) Quantile(q float64) float64 {
	if s.n == 0 {
		return 0
	}
	if q < 0 {
		q = 0
	} else if q > 1 {
		q = 1
	}
	rank := uint64(q * float64(s.n-1))
	var seen uint64
	for _, b := range s.buckets {
		seen += uint64(b.count)
		if seen > rank {
			return values[b.idx]
		}
	}
	return values[s.buckets[len(s.buckets)-1].idx]
}

// Quantiles appends to dst the estimates of the qs-quantiles, each exactly
// what Quantile returns for it, in one walk over the buckets when qs is in
// ascending order (any order is accepted).
func (s *Sketch) Quantiles(dst []float64, qs ...float64) []float64 {
	if s.n == 0 || !sorted(qs) {
		for _, q := range qs {
			dst = append(dst, s.Quantile(q))
		}
		return dst
	}
	var seen uint64
	k := 0 // next bucket
	for _, q := range qs {
		if q < 0 {
			q = 0
		} else if q > 1 {
			q = 1
		}
		rank := uint64(q * float64(s.n-1))
		// Quantile stops at the first bucket whose cumulative count passes
		// rank; ranks only grow, so the walk resumes where it stopped.
		for k < len(s.buckets) && seen <= rank {
			seen += uint64(s.buckets[k].count)
			k++
		}
		if seen > rank {
			dst = append(dst, values[s.buckets[k-1].idx])
		} else {
			dst = append(dst, values[s.buckets[len(s.buckets)-1].idx])
		}
	}
	return dst
}

func sorted(qs []float64) bool {
	for i := 1; i < len(qs); i++ {
		if !(qs[i-1] <= qs[i]) {
			return false
		}
	}
	return true
}

// EncodedLen is an upper bound of the bytes Append writes.
func (s *Sketch) EncodedLen() int { return binary.MaxVarintLen64 + len(s.buckets)*(3+5) }

// Append appends the binary encoding of s to dst: the number of buckets,
// then per bucket the index delta and the count, all as uvarints.
// Encoding format version 1.
func (s *Sketch) Append(dst []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(s.buckets)))
	prev := uint16(0)
	for _, b := range s.buckets {
		dst = binary.AppendUvarint(dst, uint64(b.idx-prev))
		dst = binary.AppendUvarint(dst, uint64(b.count))
		prev = b.idx
	}
	return dst
}

// Decode replaces s with the sketch encoded at the start of src and returns
// the number of bytes read. s keeps no reference to src.
func (s *Sketch) Decode(src []byte) (int, error) {
	s.Reset()
	nb, off := binary.Uvarint(src)
	if off <= 0 || nb > maxIndex+1 {
		return 0, ErrCorrupt
	}
	if cap(s.buckets) < int(nb) {
		s.buckets = make([]bucket, 0, nb)
	}
	prev := uint64(0)
	for i := uint64(0); i < nb; i++ {
		d, k := binary.Uvarint(src[off:])
		if k <= 0 {
			return 0, ErrCorrupt
		}
		off += k
		c, k := binary.Uvarint(src[off:])
		if k <= 0 {
			return 0, ErrCorrupt
		}
		off += k
		idx := prev + d
		if (i > 0 && d == 0) || idx > maxIndex || c == 0 || c > math.MaxUint32 {
			return 0, fmt.Errorf("%w: bucket %d (index %d, count %d)", ErrCorrupt, i, idx, c)
		}
		s.buckets = append(s.buckets, bucket{uint16(idx), uint32(c)})
		s.n += c
		prev = idx
	}
	return off, nil
}
