package report

import (
	"math"
	"math/rand/v2"
	"slices"
	"testing"
)

// TestQuantileByHand: mixture estimates worked out on paper from the
// model of quantile.go (CDF linear in ln latency between the knots).
func TestQuantileByHand(t *testing.T) {
	a := func(n int64) component { return componentOf(n, 10, 20, 30, 40) }
	b := func(n int64) component { return componentOf(n, 100, 200, 300, 400) }
	for _, tc := range []struct {
		name       string
		cs         []component
		phi        float64
		est, upper int64
	}{
		{"one minute", []component{a(100)}, 0.99, 30, 30},
		{"same p99 everywhere", []component{a(5), a(500)}, 0.99, 30, 30},
		// F_a + F_b ≥ 1.98 where F_a = 1 (q ≥ 40), so F_b ≥ 0.98: on
		// [200, 300) F_b = 0.95 + 0.04·ln(q/200)/ln 1.5, i.e.
		// q ≥ 200·1.5^0.75 = 271.08.
		{"equal counts", []component{a(100), b(100)}, 0.99, 272, 300},
		// 990·F_a(q) + 10·F_b(q) ≥ 990 on [30, 40), with F_a = 0.99 +
		// 0.01·ln(q/30)/ln(4/3) and F_b = 0.5·ln q/ln 100: 989.26 at 35,
		// 990.26 at 36.
		{"weighted by count", []component{a(990), b(10)}, 0.99, 36, 300},
		// p95: F_b ≥ 0.9 on [100, 200): 0.5 + 0.45·ln(q/100)/ln 2 ≥ 0.9,
		// q ≥ 100·2^(0.4/0.45) = 185.17.
		{"p95", []component{a(100), b(100)}, 0.95, 186, 200},
		{"empty components ignored", []component{a(0), b(10)}, 0.99, 300, 300},
		{"nothing", []component{a(0)}, 0.99, 0, 0},
		// A minute of sub-microsecond statements counts as 1 µs.
		{"zero latencies", []component{componentOf(100, 0, 0, 0, 0), b(1)}, 0.99, 0, 300},
	} {
		var est, upper int64
		if tc.phi == 0.95 {
			est, _, _ = quantiles(tc.cs)
			upper = upperOf(tc.cs, 0.95)
		} else {
			_, est, upper = quantiles(tc.cs)
		}
		if est != tc.est || upper != tc.upper {
			t.Errorf("%s: p%v = %d (≤ %d), want %d (≤ %d)", tc.name, tc.phi*100, est, upper, tc.est, tc.upper)
		}
	}
}

func upperOf(cs []component, phi float64) int64 {
	var u int64
	for i := range cs {
		if cs[i].n > 0 {
			u = max(u, cs[i].at(phi))
		}
	}
	return u
}

// TestComponentSanitised: inconsistent quantiles (a sketch's p99 a hair
// above the exact max, negative values) still give a monotone CDF.
func TestComponentSanitised(t *testing.T) {
	c := componentOf(10, 50, 40, 120, 100)
	if c.p95 != 50 || c.p99 != 120 || c.max != 120 {
		t.Fatalf("sanitised %+v", c)
	}
	k := c.prepare()
	prev := -1.0
	for q := int64(0); q < 200; q++ {
		f := k.cdf(lnUs(q))
		if f < prev || f < 0 || f > 1 {
			t.Fatalf("cdf(%v) = %v after %v", q, f, prev)
		}
		prev = f
	}
	if c := componentOf(-5, -1, -1, -1, -1); c.n != 0 || c.max != 0 {
		t.Fatalf("negative %+v", c)
	}
}

// exactQuantile is the nearest-rank quantile of sorted xs.
func exactQuantile(xs []int64, phi float64) int64 {
	i := int(math.Ceil(phi*float64(len(xs)))) - 1
	return xs[max(i, 0)]
}

// TestQuantileProperty: over seeded random workloads (minutes of lognormal
// latencies with shifting medians; in the bursty variant one minute in
// five has a tenth of its statements 20 times slower), the true p99 of the
// whole range lies between the smallest and the largest per-minute p99 —
// the bound the report states — and so does the estimate, which never
// exceeds the upper bound. The estimate's relative error is logged for
// docs/report.md.
func TestQuantileProperty(t *testing.T) {
	for _, bursty := range []bool{false, true} {
		var errs []float64
		for seed := uint64(1); seed <= 150; seed++ {
			rng := rand.New(rand.NewPCG(seed, seed*0x9e3779b97f4a7c15))
			minutes := 1 + rng.IntN(30)
			var all []int64
			var cs []component
			lo, hi := int64(math.MaxInt64), int64(0)
			for range minutes {
				n := 1 + rng.IntN(400)
				mu := 6 + rng.Float64()*2
				burst := bursty && rng.IntN(5) == 0
				xs := make([]int64, n)
				for i := range xs {
					v := math.Exp(mu + rng.NormFloat64()*0.6)
					if burst && rng.IntN(10) == 0 {
						v *= 20
					}
					xs[i] = int64(v) + 1
				}
				slices.Sort(xs)
				p99 := exactQuantile(xs, 0.99)
				cs = append(cs, componentOf(int64(n), exactQuantile(xs, 0.5), exactQuantile(xs, 0.95), p99, xs[n-1]))
				lo, hi = min(lo, p99), max(hi, p99)
				all = append(all, xs...)
			}
			slices.Sort(all)
			truth := exactQuantile(all, 0.99)
			p95, est, upper := quantiles(cs)
			if truth < lo || truth > hi {
				t.Fatalf("seed %d: true p99 %d outside the per-minute p99s [%d, %d]", seed, truth, lo, hi)
			}
			if est < lo || est > hi || upper != hi {
				t.Fatalf("seed %d: estimate %d (≤ %d) outside [%d, %d]", seed, est, upper, lo, hi)
			}
			errs = append(errs, math.Abs(float64(est-truth))/float64(truth))
			rng.Shuffle(len(cs), func(i, j int) { cs[i], cs[j] = cs[j], cs[i] })
			if p95b, estb, upperb := quantiles(cs); estb != est || upperb != upper || p95b != p95 {
				t.Fatalf("seed %d: the order of the minutes changed the estimate: %d %d, then %d %d", seed, p95, est, p95b, estb)
			}
		}
		slices.Sort(errs)
		t.Logf("bursty %v: relative error of the p99 estimate over %d workloads: median %.1f%%, p90 %.1f%%, max %.1f%%",
			bursty, len(errs), 100*errs[len(errs)/2], 100*errs[len(errs)*9/10], 100*errs[len(errs)-1])
	}
}

func BenchmarkQuantile(b *testing.B) {
	rng := rand.New(rand.NewPCG(1, 2))
	cs := make([]component, 1440) // a day of minutes
	for i := range cs {
		p50 := 500 + rng.Int64N(1000)
		cs[i] = componentOf(1+rng.Int64N(5000), p50, p50*3, p50*6, p50*20)
	}
	b.ResetTimer()
	for range b.N {
		quantiles(cs)
	}
}
