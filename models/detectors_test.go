package models

import (
	"errors"
	"math"
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

const minute = int64(60_000)

// checkResult asserts the contract every Result obeys.
func checkResult(t *testing.T, name string, i int, r Result) {
	t.Helper()
	if !(r.Score >= 0 && r.Score <= 1) {
		t.Fatalf("%s point %d: score %v outside [0,1]", name, i, r.Score)
	}
	if r.Anomalous && !r.Warm || r.Alert && !r.Anomalous {
		t.Fatalf("%s point %d: anomalous=%v alert=%v warm=%v", name, i, r.Anomalous, r.Alert, r.Warm)
	}
	if r.Anomalous != (r.Score > 0.5) {
		t.Fatalf("%s point %d: anomalous=%v with score %v", name, i, r.Anomalous, r.Score)
	}
	for _, v := range []float64{r.Expected, r.Lower, r.Upper} {
		if !finite(v) {
			t.Fatalf("%s point %d: non-finite band %v %v %v", name, i, r.Lower, r.Expected, r.Upper)
		}
	}
	if !(r.Lower <= r.Expected && r.Expected <= r.Upper) {
		t.Fatalf("%s point %d: band %v ≤ %v ≤ %v violated", name, i, r.Lower, r.Expected, r.Upper)
	}
	if !r.Anomalous && r.Direction != DirNone {
		t.Fatalf("%s point %d: direction %v on a normal point", name, i, r.Direction)
	}
}

// messy returns a seeded series with seasonality, noise, spikes, NaNs,
// gaps, repeated and backwards timestamps.
func messy(seed uint64, n int) []Point {
	rng := rand.New(rand.NewPCG(seed, 99))
	pts := make([]Point, 0, n)
	t := int64(1_704_067_200_000)
	for len(pts) < n {
		switch u := rng.Float64(); {
		case u < 0.01:
			t += minute * int64(2+rng.IntN(30)) // gap
		case u < 0.015:
			t -= minute * int64(rng.IntN(3)) // repeated or backwards
		default:
			t += minute
		}
		v := 100 + 30*math.Sin(2*math.Pi*float64(t%dayMs)/float64(dayMs)) + 3*rng.NormFloat64()
		switch u := rng.Float64(); {
		case u < 0.01:
			v = math.NaN()
		case u < 0.02:
			v += 60 * (rng.Float64() - 0.3)
		case u < 0.021:
			v = 1e300 * (rng.Float64() - 0.5) // absurd but finite
		}
		pts = append(pts, Point{T: t, V: v})
	}
	return pts
}

func sameResult(a, b Result) bool {
	eq := func(x, y float64) bool { return math.Float64bits(x) == math.Float64bits(y) }
	return eq(a.Score, b.Score) && a.Anomalous == b.Anomalous && a.Alert == b.Alert &&
		eq(a.Expected, b.Expected) && eq(a.Lower, b.Lower) && eq(a.Upper, b.Upper) &&
		a.Direction == b.Direction && a.Warm == b.Warm && a.Warning == b.Warning
}

var allDetectors = []string{"mad", "ewma", "seasonal-esd", "shesd", "cusum", "ensemble"}

func TestBuiltinNames(t *testing.T) {
	reg := Builtin()
	got := reg.Names()
	want := slices.Clone(allDetectors)
	slices.Sort(want)
	if !slices.Equal(got, want) {
		t.Fatalf("Names() = %v, want %v", got, want)
	}
	if !slices.Contains(got, DefaultDetector) {
		t.Fatalf("default detector %q not registered", DefaultDetector)
	}
	for _, n := range got {
		if reg.Doc(n) == "" {
			t.Errorf("%s has no doc", n)
		}
	}
	if _, err := reg.New("nope", Config{}); err == nil {
		t.Fatal("unknown detector: no error")
	}
}

func TestConfigValidation(t *testing.T) {
	reg := Builtin()
	bad := []Config{
		{Warmup: -1}, {Warmup: MaxWarmup + 1}, {Period: -2}, {Period: 1},
		{Period: maxPeriodPoints + 1}, {Interval: -time.Second}, {Interval: time.Microsecond},
	}
	for _, name := range allDetectors {
		for _, cfg := range bad {
			if _, err := reg.New(name, cfg); err == nil {
				t.Errorf("%s %+v: no error", name, cfg)
			}
		}
	}
	if _, err := reg.New("shesd", Config{Period: 2000}); err == nil {
		t.Error("shesd with a period beyond its window: no error")
	}
}

// TestNoLookAhead: the result for a point never depends on later points.
// Each detector runs over a random prefix and over the full series; the
// prefix's results must be identical.
func TestNoLookAhead(t *testing.T) {
	reg := Builtin()
	for seed := uint64(1); seed <= 3; seed++ {
		pts := messy(seed, 3000)
		cut := 500 + int(seed*677)%2000
		for _, name := range allDetectors {
			full := observeAll(t, newDet(t, reg, name, Config{}), pts)
			pre := observeAll(t, newDet(t, reg, name, Config{}), pts[:cut])
			for i := range pre {
				checkResult(t, name, i, full[i])
				if !sameResult(pre[i], full[i]) {
					t.Fatalf("seed %d %s point %d: %+v on the prefix, %+v on the full series", seed, name, i, pre[i], full[i])
				}
			}
		}
	}
}

// TestStateRoundTrip: at random points the state is encoded, decoded
// into a fresh detector, and both continue identically.
func TestStateRoundTrip(t *testing.T) {
	reg := Builtin()
	for seed := uint64(1); seed <= 3; seed++ {
		pts := messy(seed+10, 4000)
		rng := rand.New(rand.NewPCG(seed, 5))
		for _, name := range allDetectors {
			cfg := Config{Warmup: 50}
			a := newDet(t, reg, name, cfg)
			for i, p := range pts {
				if rng.IntN(400) == 0 || i == 0 {
					st, err := a.MarshalBinary()
					if err != nil {
						t.Fatal(err)
					}
					b := newDet(t, reg, name, cfg)
					if err := b.UnmarshalBinary(st); err != nil {
						t.Fatalf("%s point %d: %v", name, i, err)
					}
					st2, _ := b.MarshalBinary()
					if !slices.Equal(st, st2) {
						t.Fatalf("%s point %d: state changed by a round trip", name, i)
					}
					a = b
				}
				r := a.Observe(p)
				checkResult(t, name, i, r)
			}
			// And the result sequence equals an uninterrupted run.
			want := observeAll(t, newDet(t, reg, name, cfg), pts)
			c := newDet(t, reg, name, cfg)
			for i, p := range pts {
				if i%997 == 0 {
					st, _ := c.MarshalBinary()
					c = newDet(t, reg, name, cfg)
					if err := c.UnmarshalBinary(st); err != nil {
						t.Fatal(err)
					}
				}
				if r := c.Observe(p); !sameResult(r, want[i]) {
					t.Fatalf("%s point %d: restored %+v, uninterrupted %+v", name, i, r, want[i])
				}
			}
		}
	}
}

func TestUnmarshalRejects(t *testing.T) {
	reg := Builtin()
	for _, name := range allDetectors {
		d := newDet(t, reg, name, Config{})
		observeAll(t, d, messy(1, 300))
		st, _ := d.MarshalBinary()
		cases := map[string][]byte{
			"empty":     nil,
			"version":   append([]byte{stateVersion + 1}, st[1:]...),
			"truncated": st[:len(st)/2],
			"trailing":  append(slices.Clone(st), 0),
		}
		for what, data := range cases {
			fresh := newDet(t, reg, name, Config{})
			if err := fresh.UnmarshalBinary(data); !errors.Is(err, ErrBadState) {
				t.Errorf("%s %s: err = %v, want ErrBadState", name, what, err)
			}
		}
		// Another detector's state is rejected.
		other := "mad"
		if name == "mad" {
			other = "ensemble"
		}
		if err := newDet(t, reg, other, Config{}).UnmarshalBinary(st); !errors.Is(err, ErrBadState) {
			t.Errorf("%s state into %s: err = %v", name, other, err)
		}
	}
}

// crafted builds a minute series of n points of f(i).
func crafted(n int, f func(i int) float64) []Point {
	pts := make([]Point, n)
	for i := range pts {
		pts[i] = Point{T: 1_704_067_200_000 + int64(i)*minute, V: f(i)}
	}
	return pts
}

func alertsOf(res []Result) []int {
	var a []int
	for i, r := range res {
		if r.Alert {
			a = append(a, i)
		}
	}
	return a
}

// TestCrafted runs every detector over crafted series and checks where it
// alerts: at the anomaly (within a few points), and nowhere else.
func TestCrafted(t *testing.T) {
	rng := func(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 1)) }
	noise := func(seed uint64, sd float64) func() float64 {
		r := rng(seed)
		return func() float64 { return sd * r.NormFloat64() }
	}
	type tc struct {
		name  string
		pts   []Point
		at    int      // the anomaly; -1 = none
		skip  []string // detectors not built for this case
		delay int      // points an alert may lag
		span  int      // later alerts within this many points belong to it
	}
	n1, n2, n3, n4 := noise(1, 2), noise(2, 2), noise(3, 2), noise(4, 2)
	cases := []tc{
		{name: "spike", pts: crafted(3000, func(i int) float64 {
			v := 100 + n1()
			if i == 2200 {
				v += 40
			}
			return v
		}), at: 2200, skip: []string{"cusum"}},
		{name: "dip", pts: crafted(3000, func(i int) float64 {
			v := 100 + n2()
			if i == 2200 {
				v -= 40
			}
			return v
		}), at: 2200, skip: []string{"cusum"}},
		{name: "level shift", pts: crafted(3000, func(i int) float64 {
			v := 100 + n3()
			if i >= 2200 {
				v += 14
			}
			return v
		}), at: 2200, delay: 10},
		{name: "variance change", pts: crafted(3000, func(i int) float64 {
			if i >= 2200 {
				return 100 + 5*n4()
			}
			return 100 + n4()
		}), at: 2200, delay: 25, span: 200, skip: []string{"shesd"}},
		{name: "constant", pts: crafted(3000, func(int) float64 { return 42 }), at: -1},
		{name: "constant then step", pts: crafted(3000, func(i int) float64 {
			if i >= 2200 {
				return 4.5
			}
			return 4.2
		}), at: 2200, delay: 3},
		{name: "constant count then step", pts: crafted(3000, func(i int) float64 {
			if i >= 2200 {
				return 50
			}
			return 42
		}), at: 2200, delay: 3},
		{name: "constant count, one-count steps", pts: crafted(3000, func(i int) float64 {
			return float64(42 + i/500)
		}), at: -1},
		{name: "zeros with a burst", pts: crafted(3000, func(i int) float64 {
			if i >= 2200 && i < 2203 {
				return 12
			}
			return 0
		}), at: 2200, skip: []string{"cusum"}},
		{name: "sparse counts with a burst", pts: crafted(3000, func(i int) float64 {
			if i%97 == 0 {
				return 1
			}
			if i == 2200 {
				return 15
			}
			return 0
		}), at: 2200, skip: []string{"cusum"}},
	}
	reg := Builtin()
	for _, c := range cases {
		for _, name := range allDetectors {
			if slices.Contains(c.skip, name) {
				continue
			}
			delay := c.delay
			if name == "cusum" {
				delay += 8 // a change-point test needs a few points
			}
			res := observeAll(t, newDet(t, reg, name, Config{}), c.pts)
			for i, r := range res {
				checkResult(t, name, i, r)
			}
			al := alertsOf(res)
			if c.at < 0 {
				if len(al) != 0 {
					t.Errorf("%s/%s: alerts %v, want none", c.name, name, al)
				}
				continue
			}
			hit := false
			var extra []int
			for _, a := range al {
				switch {
				case a >= c.at && a <= c.at+delay:
					hit = true
				case a > c.at && a <= c.at+c.span:
				default:
					extra = append(extra, a)
				}
			}
			if !hit {
				t.Errorf("%s/%s: no alert within %d points of %d (alerts %v)", c.name, name, delay, c.at, al)
			}
			if len(extra) > 0 {
				t.Errorf("%s/%s: false alerts at %v", c.name, name, extra)
			}
		}
	}
}

// TestSustainedAnomalyAlertsOnce: a long excursion raises one alert.
func TestSustainedAnomalyAlertsOnce(t *testing.T) {
	r := rand.New(rand.NewPCG(7, 7))
	pts := crafted(3000, func(i int) float64 {
		v := 100 + 2*r.NormFloat64()
		if i >= 2200 && i < 2230 {
			v += 60
		}
		return v
	})
	for _, name := range []string{"mad", "ewma", "ensemble", "seasonal-esd"} {
		al := alertsOf(observeAll(t, newDet(t, Builtin(), name, Config{}), pts))
		n := 0
		for _, a := range al {
			if a >= 2200 && a < 2230 {
				n++
			}
		}
		if n != 1 {
			t.Errorf("%s: %d alerts during a 30-point excursion (%v), want 1", name, n, al)
		}
	}
}

// TestWarmup: nothing is anomalous before Warmup points; a spike right
// after it is caught, whatever the detector.
func TestWarmup(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 3))
	const warm = 40
	pts := crafted(200, func(i int) float64 {
		v := 50 + r.NormFloat64()
		if i == 10 || i == warm+5 {
			v += 30
		}
		return v
	})
	for _, name := range allDetectors {
		if name == "cusum" {
			continue
		}
		res := observeAll(t, newDet(t, Builtin(), name, Config{Warmup: warm}), pts)
		for i, r := range res {
			if i < warm && (r.Warm || r.Anomalous || r.Score != 0) {
				t.Fatalf("%s point %d: %+v during warm-up", name, i, r)
			}
		}
		if !res[warm+5].Alert {
			t.Errorf("%s: spike right after the warm-up not alerted: %+v", name, res[warm+5])
		}
	}
}

// TestDefaultWarmupBound: with the default config every detector can
// alert by point MaxWarmup.
func TestDefaultWarmupBound(t *testing.T) {
	r := rand.New(rand.NewPCG(4, 4))
	pts := crafted(MaxWarmup+1, func(i int) float64 {
		v := 20 + 10*math.Sin(float64(i)/50) + r.NormFloat64()
		if i == MaxWarmup {
			v += 80
		}
		return v
	})
	for _, name := range allDetectors {
		if name == "cusum" {
			continue
		}
		res := observeAll(t, newDet(t, Builtin(), name, Config{}), pts)
		if last := res[MaxWarmup]; !last.Alert {
			t.Errorf("%s: no alert on a large spike at point %d: %+v", name, MaxWarmup, last)
		}
	}
}

func TestTimeWarnings(t *testing.T) {
	pts := []Point{}
	for i := 0; i < 100; i++ {
		pts = append(pts, Point{T: int64(i) * minute, V: 1})
	}
	pts = append(pts,
		Point{T: 99 * minute, V: 1},           // repeated
		Point{T: 97 * minute, V: 1},           // backwards
		Point{T: 150 * minute, V: 1},          // gap
		Point{T: 151 * minute, V: math.NaN()}, // missing
		Point{T: 152 * minute, V: 1},
	)
	for _, name := range allDetectors {
		res := observeAll(t, newDet(t, Builtin(), name, Config{}), pts)
		got := []string{res[100].Warning, res[101].Warning, res[102].Warning, res[103].Warning, res[104].Warning}
		want := []string{WarnRepeated, WarnBackwards, WarnGap, WarnMissing, ""}
		if !slices.Equal(got, want) {
			t.Errorf("%s: warnings %q, want %q", name, got, want)
		}
		for i, r := range res {
			checkResult(t, name, i, r)
		}
	}
}

// TestDailyWeeklyState: the default detector's state with daily and weekly
// seasonality at one-minute resolution stays within 16 KB, and so does
// every other detector's.
func TestDailyWeeklyState(t *testing.T) {
	pts := synth(1, synthOpts{n: 3 * 10080, interval: time.Minute, base: 1000, daily: 0.4, weekly: 0.2, noise: 0.02})
	for _, name := range allDetectors {
		d := newDet(t, Builtin(), name, Config{})
		observeAll(t, d, pts)
		st, _ := d.MarshalBinary()
		if len(st) > 16<<10 {
			t.Errorf("%s: state %d bytes, budget 16 KB", name, len(st))
		}
		if sd, ok := d.(*seasonalDetector); ok && (len(sd.base.prof) != 2 || sd.base.active != 1) {
			t.Errorf("%s: %d profiles, active %d; want the weekly profile in use", name, len(sd.base.prof), sd.base.active)
		}
	}
}

func TestObserveDoesNotAllocate(t *testing.T) {
	pts := synth(2, synthOpts{n: 3000, interval: time.Minute, base: 1000, daily: 0.4, noise: 0.02})
	for _, name := range []string{"mad", "ewma", "seasonal-esd", "cusum", "ensemble"} {
		d := newDet(t, Builtin(), name, Config{})
		observeAll(t, d, pts[:2000])
		i := 2000
		allocs := testing.AllocsPerRun(500, func() {
			d.Observe(pts[i%len(pts)])
			i++
		})
		if allocs != 0 {
			t.Errorf("%s: %.1f allocations per Observe", name, allocs)
		}
	}
}
