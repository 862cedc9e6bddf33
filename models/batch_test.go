package models

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"sort"
	"testing"
)

func TestWindowOrderStatistics(t *testing.T) {
	r := rand.New(rand.NewPCG(1, 2))
	w := newWindow(37)
	var all []float32
	for i := 0; i < 500; i++ {
		v := float32(math.Round(r.NormFloat64() * 4)) // ties on purpose
		if i%50 == 0 {
			v = 0
		}
		w.add(v)
		all = append(all, v)
		win := all[max(0, len(all)-37):]
		s := slices.Clone(win)
		slices.Sort(s)
		if !slices.Equal(s, w.sorted) {
			t.Fatalf("step %d: sorted copy %v, want %v", i, w.sorted, s)
		}
		f := make([]float64, len(s))
		for j, v := range s {
			f[j] = float64(v)
		}
		m := medianSorted(f)
		if got := w.median(); got != m {
			t.Fatalf("step %d: median %v, want %v", i, got, m)
		}
		dev := make([]float64, len(f))
		for j, v := range f {
			dev[j] = math.Abs(v - m)
		}
		sort.Float64s(dev)
		if got, want := w.mad(m), medianSorted(dev); got != want {
			t.Fatalf("step %d: mad %v, want %v", i, got, want)
		}
		if got, want := madSorted(f, m), medianSorted(dev); got != want {
			t.Fatalf("step %d: madSorted %v, want %v", i, got, want)
		}
	}
}

func TestGeneralizedESD(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	x := make([]float64, 500)
	for i := range x {
		x[i] = 10 + r.NormFloat64()
	}
	x[100], x[200], x[300] = 25, -5, 19
	x[400] = math.NaN()
	out, err := GeneralizedESD(x, ESDOptions{MaxAnoms: 0.05, Alpha: 0.05})
	if err != nil {
		t.Fatal(err)
	}
	var idx []int
	for _, o := range out {
		idx = append(idx, o.Index)
		if !(o.Stat > o.Crit) && o.Index != out[len(out)-1].Index {
			t.Errorf("outlier %+v below its critical value", o)
		}
	}
	slices.Sort(idx)
	if !slices.Equal(idx, []int{100, 200, 300}) {
		t.Fatalf("outliers %v, want [100 200 300]", idx)
	}

	// MAD = 0 (mostly zeros): finite statistics, the burst found.
	z := make([]float64, 300)
	z[150] = 9
	z[10] = 1
	out, err = GeneralizedESD(z, ESDOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if len(out) == 0 || out[0].Index != 150 || !finite(out[0].Stat) {
		t.Fatalf("zeros with a burst: %+v", out)
	}
	for _, o := range out {
		if o.Index == 10 {
			t.Errorf("a single count flagged on a count series: %+v", out)
		}
	}
	// Constant: nothing, no NaN.
	c := make([]float64, 100)
	for i := range c {
		c[i] = 3
	}
	if out, err := GeneralizedESD(c, ESDOptions{}); err != nil || len(out) != 0 {
		t.Fatalf("constant series: %+v, %v", out, err)
	}
	if _, err := GeneralizedESD([]float64{1, math.NaN()}, ESDOptions{}); !errors.Is(err, ErrTooShort) {
		t.Fatalf("short input: %v", err)
	}
	for _, o := range []ESDOptions{{MaxAnoms: 0.6}, {Alpha: 0.7}, {MinScale: -1}, {MaxAnoms: math.NaN()}} {
		if _, err := GeneralizedESD(x, o); err == nil {
			t.Errorf("%+v: no error", o)
		}
	}
}

func TestESDCritical(t *testing.T) {
	// Rosner (1983): n = 54, α = 0.05, λ1 ≈ 3.16 (Table 2 interpolated
	// values in Iglewicz & Hoaglin give 3.158).
	if got := esdCritical(54, 1, 0.05); math.Abs(got-3.158) > 0.01 {
		t.Fatalf("λ1(54, 0.05) = %v, want ≈ 3.158", got)
	}
}

func seasonalSeries(seed uint64, n, period int, trend float64) []float64 {
	r := rand.New(rand.NewPCG(seed, 3))
	x := make([]float64, n)
	for i := range x {
		x[i] = 100 + 20*math.Sin(2*math.Pi*float64(i)/float64(period)) + trend*float64(i) + r.NormFloat64()
	}
	return x
}

func TestDetectPeriod(t *testing.T) {
	for _, c := range []struct {
		period int
		trend  float64
	}{{24, 0}, {24, 0.5}, {7, 0}, {144, 0.05}, {37, 0}} {
		x := seasonalSeries(uint64(c.period), 20*c.period, c.period, c.trend)
		x[5] = math.NaN()
		if p, r := DetectPeriod(x, nil); p != c.period {
			t.Errorf("period %d trend %v: detected %d (acf %.2f)", c.period, c.trend, p, r)
		}
	}
	// A weekly series whose days repeat: the day wins among candidates.
	x := seasonalSeries(9, 24*7*4, 24, 0)
	if p, _ := DetectPeriod(x, []int{24, 168}); p != 24 {
		t.Errorf("candidates day/week on a daily series: %d", p)
	}
	// Noise, a line, a constant: none.
	r := rand.New(rand.NewPCG(1, 1))
	noise := make([]float64, 1000)
	line := make([]float64, 1000)
	cons := make([]float64, 1000)
	for i := range noise {
		noise[i] = r.NormFloat64()
		line[i] = float64(i)
		cons[i] = 4
	}
	for name, s := range map[string][]float64{"noise": noise, "line": line, "constant": cons} {
		if p, _ := DetectPeriod(s, nil); p != 0 {
			t.Errorf("%s: period %d, want 0", name, p)
		}
	}
}

func TestDecomposeRemovesTrend(t *testing.T) {
	x := seasonalSeries(2, 24*20, 24, 0.8) // the trend moves 380 over the series
	dc, err := Decompose(x, 24)
	if err != nil {
		t.Fatal(err)
	}
	s := sortedCopy(dc.Resid)
	m := medianSorted(s)
	if mad := madSorted(s, m) * 1.4826; mad > 1.5 {
		t.Fatalf("residual scale %v with a trend, want ≈ 1 (the noise)", mad)
	}
	if _, err := Decompose(x[:30], 24); !errors.Is(err, ErrTooShort) {
		t.Fatalf("short: %v", err)
	}
}

func TestSHESD(t *testing.T) {
	x := seasonalSeries(3, 24*30, 24, 0.3)
	x[100] += 15
	x[400] -= 15
	for i := 500; i < len(x); i++ {
		x[i] += 12 // a level shift
	}
	res, err := SHESD(x, SHESDOptions{Piece: 24 * 14})
	if err != nil {
		t.Fatal(err)
	}
	if res.Period != 24 {
		t.Errorf("period %d, want 24", res.Period)
	}
	var idx []int
	for _, a := range res.Anomalies {
		idx = append(idx, a.Index)
	}
	if !slices.Contains(idx, 100) || !slices.Contains(idx, 400) {
		t.Errorf("anomalies %v miss the spike at 100 or the dip at 400", idx)
	}
	if len(idx) > 6 {
		t.Errorf("%d anomalies %v: the level shift counted as outliers", len(idx), idx)
	}
	found := false
	for _, cp := range res.ChangePoints {
		if cp.Kind == ChangeLevel && cp.Direction == DirUp && cp.Index >= 495 && cp.Index <= 510 {
			found = true
		}
	}
	if !found {
		t.Errorf("change points %+v miss the level shift at 500", res.ChangePoints)
	}
	// Same input, same answer.
	res2, _ := SHESD(x, SHESDOptions{Piece: 24 * 14})
	if !slices.Equal(res.Anomalies, res2.Anomalies) {
		t.Error("SHESD is not deterministic")
	}
	// A count series of zeros with a burst: finite, the burst found.
	z := make([]float64, 24*10)
	z[150] = 12
	res, err = SHESD(z, SHESDOptions{Period: 24})
	if err != nil || len(res.Anomalies) != 1 || res.Anomalies[0].Index != 150 {
		t.Fatalf("zeros with a burst: %+v, %v", res, err)
	}
}

func TestMedianSelect(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 8))
	for n := 1; n < 60; n++ {
		for rep := 0; rep < 20; rep++ {
			s := make([]float64, n)
			for i := range s {
				s[i] = math.Round(r.NormFloat64() * 3)
			}
			want := medianSorted(sortedCopy(s))
			if got := medianSelect(slices.Clone(s)); got != want {
				t.Fatalf("%v: median %v, want %v", s, got, want)
			}
		}
	}
}
