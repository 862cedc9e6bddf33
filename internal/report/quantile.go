package report

import "math"

// Latency quantiles over a range of minutes.
//
// A minute row carries its count and its p50, p95, p99 and max latency, not
// the latency sketch they came from, so a quantile over many minutes (and
// instances) cannot be computed exactly. quantiles estimates it from the
// rows: each row stands for a latency distribution whose CDF passes through
// (1 µs, 0), (p50, 0.50), (p95, 0.95), (p99, 0.99) and (max, 1), linear in
// the logarithm of the latency in between (latencies spread over orders of
// magnitude; on lognormal workloads this halves the error of linear
// interpolation), and the estimate is the smallest whole microsecond q at
// which the count-weighted mixture of those CDFs reaches the quantile:
//
//	Σ count_i · F_i(q) ≥ φ · Σ count_i
//
// Whatever the true distributions inside each minute, the true quantile of
// the range lies between the smallest and the largest per-row quantile
// (every row has at least 1 − φ of its statements at or above its own
// quantile, and at least φ at or below it), and so does the estimate: F_i
// equals φ exactly at row i's quantile. The largest per-row p99 is
// reported as well, as a guaranteed upper bound. Both inherit the ±1 %
// relative error of the sketch that produced the per-minute figures.

// component is one minute row's share of a latency distribution.
type component struct {
	n                  int64
	p50, p95, p99, max int64
}

func componentOf(count, p50, p95, p99, mx int64) component {
	// Sanitise into a monotone CDF: per-minute quantiles come from a
	// sketch with relative error, so p99 may exceed the exact max by a
	// hair, and a foreign writer could store anything.
	p50 = max(p50, 0)
	p95 = max(p95, p50)
	p99 = max(p99, p95)
	mx = max(mx, p99)
	return component{n: max(count, 0), p50: p50, p95: p95, p99: p99, max: mx}
}

// logKnots is a component prepared for evaluation: its count and the
// natural logarithms of its knots (latencies below 1 µs count as 1 µs).
type logKnots struct {
	n  float64
	lx [5]float64
}

func lnUs(v int64) float64 { return math.Log(float64(max(v, 1))) }

func (c *component) prepare() logKnots {
	return logKnots{n: float64(c.n), lx: [5]float64{0, lnUs(c.p50), lnUs(c.p95), lnUs(c.p99), lnUs(c.max)}}
}

// cdf returns F at the latency whose logarithm is lq (right-continuous:
// at a knot it gives the knot's level).
func (k *logKnots) cdf(lq float64) float64 {
	// The levels of the CDF at the knots 1 µs, p50, p95, p99, max.
	levels := [5]float64{0, 0.50, 0.95, 0.99, 1}
	if lq < k.lx[0] {
		return 0
	}
	for i := 1; i < 5; i++ {
		if lq < k.lx[i] {
			x0 := k.lx[i-1]
			return levels[i-1] + (levels[i]-levels[i-1])*(lq-x0)/(k.lx[i]-x0)
		}
	}
	return 1
}

func (c *component) at(phi float64) int64 {
	switch phi {
	case 0.50:
		return c.p50
	case 0.95:
		return c.p95
	case 0.99:
		return c.p99
	}
	panic("BUG: report: quantile of an unsupported level")
}

// quantiles returns the estimated p95 and p99 of the mixture of cs, in µs,
// and the largest per-component p99 (the upper bound). Components with no
// statements are ignored; with none left all are 0.
func quantiles(cs []component) (p95, p99, p99Upper int64) {
	ks := make([]logKnots, 0, len(cs))
	for i := range cs {
		if cs[i].n > 0 {
			ks = append(ks, cs[i].prepare())
		}
	}
	p95, _ = quantile(cs, ks, 0.95)
	p99, p99Upper = quantile(cs, ks, 0.99)
	return p95, p99, p99Upper
}

// quantile estimates the φ-quantile (0.50, 0.95 or 0.99) of the mixture of
// cs, whose non-empty components are prepared in ks, and returns the
// largest per-component φ-quantile with it.
func quantile(cs []component, ks []logKnots, phi float64) (est, upper int64) {
	var total float64
	lo, hi := int64(-1), int64(-1)
	for i := range cs {
		if cs[i].n == 0 {
			continue
		}
		total += float64(cs[i].n)
		v := cs[i].at(phi)
		if lo < 0 || v < lo {
			lo = v
		}
		hi = max(hi, v)
	}
	if total == 0 {
		return 0, 0
	}
	if lo == hi {
		return hi, hi
	}
	upper = hi
	// Smallest integer q in [lo, hi] with mass(q) ≥ target; mass(hi)
	// qualifies by construction. The mass is summed exactly, as whole
	// statements plus fractions in units of 2^-32, so that the sum, and so
	// the estimate, does not depend on the order of the components (float
	// addition would). The slack absorbs each term's rounding and the
	// target's, so that a knot that reaches the target exactly counts.
	target := phi*total - (float64(len(ks))*0x1p-32 + phi*total*1e-15)
	tWhole := math.Floor(target)
	tInt, tFrac := uint64(max(tWhole, 0)), uint64(max((target-tWhole)*0x1p32, 0))
	reaches := func(q int64) bool {
		lq := lnUs(q)
		var whole, frac uint64
		for i := range ks {
			m := ks[i].n * ks[i].cdf(lq)
			w := math.Floor(m)
			whole += uint64(w)
			frac += uint64((m - w) * 0x1p32)
		}
		whole += frac >> 32
		frac &= 1<<32 - 1
		return whole > tInt || whole == tInt && frac >= tFrac
	}
	for lo < hi {
		mid := lo + (hi-lo)/2
		if reaches(mid) {
			hi = mid
		} else {
			lo = mid + 1
		}
	}
	return hi, upper
}
