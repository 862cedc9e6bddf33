package sketch

import (
	"math"
	"math/rand/v2"
	"sort"
	"testing"
)

func exactQuantile(sorted []int64, q float64) float64 {
	return float64(sorted[int(q*float64(len(sorted)-1))])
}

func TestQuantileRelativeError(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3, 42} {
		r := rand.New(rand.NewPCG(seed, seed))
		for _, n := range []int{1, 2, 10, 1000, 50000} {
			var s Sketch
			vals := make([]int64, n)
			for i := range vals {
				// log-normal latencies around 1 ms, like statements.
				vals[i] = int64(math.Exp(r.NormFloat64()*1.5+7)) + 2
				s.Add(vals[i])
			}
			sort.Slice(vals, func(i, j int) bool { return vals[i] < vals[j] })
			for _, q := range []float64{0, 0.5, 0.95, 0.99, 1} {
				got, want := s.Quantile(q), exactQuantile(vals, q)
				if rel := math.Abs(got-want) / want; rel > RelativeAccuracy+1e-9 {
					t.Errorf("seed %d n %d q %.2f: got %.1f want %.1f (rel err %.4f)", seed, n, q, got, want, rel)
				}
			}
			if s.Count() != uint64(n) {
				t.Fatalf("count %d want %d", s.Count(), n)
			}
		}
	}
}

// TestQuantilesMatchQuantile pins Quantiles to Quantile, value for value,
// for sorted and unsorted qs, clamped qs and every sketch shape.
func TestQuantilesMatchQuantile(t *testing.T) {
	r := rand.New(rand.NewPCG(11, 11))
	qsets := [][]float64{
		{0.5, 0.95, 0.99}, {0, 1}, {0.99, 0.5}, {-1, 0.3, 0.3, 2}, {}, {0.5},
		{0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1}, {math.NaN(), 0.5},
	}
	for trial := 0; trial < 500; trial++ {
		var s Sketch
		n := r.IntN(40)
		if trial%50 == 0 {
			n = r.IntN(100000)
		}
		for range n {
			s.Add(int64(math.Exp(r.NormFloat64()*2 + 6)))
		}
		for _, qs := range qsets {
			got := s.Quantiles(nil, qs...)
			if len(got) != len(qs) {
				t.Fatalf("trial %d qs %v: %d values", trial, qs, len(got))
			}
			for i, q := range qs {
				if want := s.Quantile(q); got[i] != want && !(math.IsNaN(got[i]) && math.IsNaN(want)) {
					t.Fatalf("trial %d (n=%d) qs %v: q %v = %v, Quantile says %v", trial, n, qs, q, got[i], want)
				}
			}
		}
	}
}

// TestValueTable: the lookup table holds exactly the formula's values.
func TestValueTable(t *testing.T) {
	for i := range values {
		if values[i] != value(uint16(i)) {
			t.Fatalf("values[%d] = %v, want %v", i, values[i], value(uint16(i)))
		}
	}
}

func TestMergeEqualsUnion(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	for trial := 0; trial < 200; trial++ {
		var a, b, all Sketch
		for i := 0; i < r.IntN(50); i++ {
			v := r.Int64N(1e7)
			a.Add(v)
			all.Add(v)
		}
		for i := 0; i < r.IntN(50); i++ {
			v := r.Int64N(1e7)
			b.Add(v)
			all.Add(v)
		}
		a.Merge(&b)
		if string(a.Append(nil)) != string(all.Append(nil)) || a.Count() != all.Count() {
			t.Fatalf("trial %d: merge differs from union", trial)
		}
	}
}

func TestEncodeRoundTrip(t *testing.T) {
	cases := [][]int64{nil, {0}, {1, 1, 1}, {5, 500, 5e6, 1 << 62, -3}}
	for _, vals := range cases {
		var s Sketch
		for _, v := range vals {
			s.Add(v)
		}
		enc := s.Append([]byte("prefix"))[6:]
		var d Sketch
		n, err := d.Decode(append(enc, 0xff))
		if err != nil || n != len(enc) {
			t.Fatalf("%v: decode n=%d err=%v", vals, n, err)
		}
		if string(d.Append(nil)) != string(enc) || d.Count() != uint64(len(vals)) {
			t.Fatalf("%v: round trip differs", vals)
		}
	}
}

func TestDecodeCorrupt(t *testing.T) {
	for _, b := range [][]byte{{}, {0x80}, {2, 1, 1}, {1, 1, 0}, {2, 1, 1, 0, 1}, {1, 0xff, 0xff, 0x03, 1}} {
		var s Sketch
		if _, err := s.Decode(b); err == nil {
			t.Errorf("%x: want error", b)
		}
	}
}

func FuzzDecode(f *testing.F) {
	var s Sketch
	for _, v := range []int64{1, 10, 100, 1e6} {
		s.Add(v)
	}
	f.Add(s.Append(nil))
	f.Add([]byte{0})
	f.Fuzz(func(t *testing.T, b []byte) {
		var d Sketch
		n, err := d.Decode(b)
		if err != nil {
			return
		}
		enc := d.Append(nil)
		var e Sketch
		if _, err := e.Decode(enc); err != nil || string(e.Append(nil)) != string(enc) {
			t.Fatalf("re-encode of %x not stable", b[:n])
		}
		_ = d.Quantile(0.99)
	})
}

func BenchmarkAdd(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	vals := make([]int64, 4096)
	for i := range vals {
		vals[i] = int64(math.Exp(r.NormFloat64()*1.5 + 7))
	}
	var s Sketch
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		if i&1023 == 0 {
			s.Reset()
		}
		s.Add(vals[i&4095])
	}
}

func BenchmarkQuantiles(b *testing.B) {
	r := rand.New(rand.NewPCG(1, 1))
	var s Sketch
	for range 20 {
		s.Add(int64(math.Exp(r.NormFloat64()*1.5 + 7)))
	}
	dst := make([]float64, 0, 3)
	b.Run("one-pass", func(b *testing.B) {
		for b.Loop() {
			dst = s.Quantiles(dst[:0], 0.5, 0.95, 0.99)
		}
	})
	b.Run("three-calls", func(b *testing.B) {
		for b.Loop() {
			dst = append(dst[:0], s.Quantile(0.5), s.Quantile(0.95), s.Quantile(0.99))
		}
	})
}
