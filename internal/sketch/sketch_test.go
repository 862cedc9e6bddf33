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
