package models

import "sort"

// window is a sliding window of the last len(ring) values kept twice: in
// arrival order (a ring) and sorted. Adding a value is two binary searches
// and two memmoves of at most the window (a few hundred bytes for the
// window sizes used here); median, MAD, and the rank of a deviation are
// O(log w). It never allocates after construction.
type window struct {
	ring   []float32
	sorted []float32
	head   int // next slot of ring to write
	n      int // values held, ≤ len(ring)
}

func newWindow(size int) window {
	return window{ring: make([]float32, size), sorted: make([]float32, 0, size)}
}

func (w *window) full() bool { return w.n == len(w.ring) }

func (w *window) add(v float32) {
	v += 0 // -0 → +0: the sorted copy must not depend on the sign of zero
	if w.n == len(w.ring) {
		old := w.ring[w.head]
		i := w.search(old)
		copy(w.sorted[i:], w.sorted[i+1:])
		w.sorted = w.sorted[:len(w.sorted)-1]
	} else {
		w.n++
	}
	w.ring[w.head] = v
	w.head++
	if w.head == len(w.ring) {
		w.head = 0
	}
	i := w.search(v)
	w.sorted = w.sorted[:len(w.sorted)+1]
	copy(w.sorted[i+1:], w.sorted[i:])
	w.sorted[i] = v
}

// search returns the first index whose value is ≥ v.
func (w *window) search(v float32) int {
	lo, hi := 0, len(w.sorted)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if w.sorted[m] < v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return lo
}

// above returns the number of values > v.
func (w *window) above(v float32) int {
	lo, hi := 0, len(w.sorted)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if w.sorted[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return len(w.sorted) - lo
}

func (w *window) median() float64 {
	n := len(w.sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return float64(w.sorted[n/2])
	}
	return (float64(w.sorted[n/2-1]) + float64(w.sorted[n/2])) / 2
}

// mad returns the median absolute deviation from m (the window's median).
func (w *window) mad(m float64) float64 {
	n := len(w.sorted)
	if n == 0 {
		return 0
	}
	if n%2 == 1 {
		return w.devKth(m, n/2)
	}
	return (w.devKth(m, n/2-1) + w.devKth(m, n/2)) / 2
}

// devKth returns the k-th smallest (0-based) of |x−m| over the window. The
// deviations form two sorted runs around m (leftwards and rightwards), so
// this is a k-th selection over two sorted sequences.
func (w *window) devKth(m float64, k int) float64 {
	s := w.sorted
	p := sort.Search(len(s), func(i int) bool { return float64(s[i]) >= m })
	// left run: m - s[p-1-i], i = 0..p-1; right run: s[p+j] - m.
	nl, nr := p, len(s)-p
	left := func(i int) float64 { return m - float64(s[p-1-i]) }
	right := func(j int) float64 { return float64(s[p+j]) - m }
	// Binary search the number a of elements taken from the left run.
	lo, hi := max(0, k+1-nr), min(k+1, nl)
	for lo < hi {
		a := (lo + hi) / 2
		b := k + 1 - a
		// too few from the left if left(a) < right(b-1)
		if b > 0 && a < nl && left(a) < right(b-1) {
			lo = a + 1
		} else {
			hi = a
		}
	}
	a := lo
	b := k + 1 - a
	var v float64
	if a > 0 {
		v = left(a - 1)
	}
	if b > 0 && right(b-1) > v {
		v = right(b - 1)
	}
	return v
}

// last appends the k newest values, newest first, to dst[:0].
func (w *window) last(k int, dst []float32) []float32 {
	dst = dst[:0]
	for i := 1; i <= k && i <= w.n; i++ {
		j := w.head - i
		if j < 0 {
			j += len(w.ring)
		}
		dst = append(dst, w.ring[j])
	}
	return dst
}

func (w *window) encode(e *enc) {
	// The ring in arrival order, oldest first; the sorted copy is rebuilt.
	e.uv(uint64(w.n))
	start := w.head - w.n
	if start < 0 {
		start += len(w.ring)
	}
	for i := 0; i < w.n; i++ {
		e.f32(w.ring[(start+i)%len(w.ring)])
	}
}

func (w *window) decode(d *dec) {
	n := d.uv()
	if d.err != nil || n > uint64(len(w.ring)) || n*4 > uint64(len(d.b)) {
		d.fail("window length out of range")
		return
	}
	w.head, w.n = 0, 0
	w.sorted = w.sorted[:0]
	for i := 0; i < int(n); i++ {
		v := d.f32()
		if v != v {
			d.fail("NaN in window")
			return
		}
		w.add(v)
	}
}
