package models

import (
	"math"
	"math/rand/v2"
	"testing"
	"time"
)

// series is a generated test series with labelled anomaly starts.
type series struct {
	pts    []Point
	labels []int // indexes where an injected anomaly starts
}

type synthOpts struct {
	n        int
	interval time.Duration
	base     float64 // level
	daily    float64 // amplitude of the daily cycle (fraction of base)
	weekly   float64 // weekend dip (fraction of base)
	noise    float64 // gaussian sd (fraction of base)
	trend    float64 // per day (fraction of base)
}

// synth generates a seeded seasonal series starting on a Monday 00:00 UTC.
func synth(seed uint64, o synthOpts) []Point {
	rng := rand.New(rand.NewPCG(seed, 7))
	t0 := time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli() // a Monday
	iv := o.interval.Milliseconds()
	pts := make([]Point, o.n)
	for i := range pts {
		t := t0 + int64(i)*iv
		day := float64(t%dayMs) / float64(dayMs)
		v := o.base * (1 + o.daily*math.Sin(2*math.Pi*(day-0.25)))
		wd := (t / dayMs) % 7   // 0 = Thursday (epoch)
		if wd == 2 || wd == 3 { // Saturday, Sunday
			v *= 1 - o.weekly
		}
		v += o.base * o.trend * float64(t-t0) / float64(dayMs)
		v += o.base * o.noise * rng.NormFloat64()
		pts[i] = Point{T: t, V: v}
	}
	return pts
}

func observeAll(t testing.TB, d Detector, pts []Point) []Result {
	t.Helper()
	out := make([]Result, len(pts))
	for i, p := range pts {
		out[i] = d.Observe(p)
	}
	return out
}

func newDet(t testing.TB, reg *Registry, name string, cfg Config) Detector {
	t.Helper()
	d, err := reg.New(name, cfg)
	if err != nil {
		t.Fatal(err)
	}
	return d
}
