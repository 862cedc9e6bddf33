package models

import (
	"fmt"
	"testing"
	"time"
)

// BenchmarkFleet measures Observe across a fleet of live series, the way a
// streaming job runs: every series gets its next minute in turn, so each
// call touches a different detector's state (cache misses included). Each
// detector starts from the state of one warmed on two weeks of one-minute
// data with daily and weekly seasonality. It reports points scored per
// second (on one core: the loop is single-threaded) and the encoded state
// per series. points/cpu-s divides by the process's CPU time (the loop is
// single-threaded; GC is included), the figure to compare with a budget
// per core when the machine is shared.
func BenchmarkFleet(b *testing.B) {
	const warm = 2 * 10080
	pts := synth(11, synthOpts{n: warm + 1440, interval: time.Minute, base: 1000, daily: 0.4, weekly: 0.2, noise: 0.03})
	for _, name := range allDetectors {
		series := 100_000
		if name == "shesd" {
			series = 2_000 // a refit (~1 ms) every 240 points dominates, not memory
		}
		b.Run(fmt.Sprintf("%s/series=%d", name, series), func(b *testing.B) {
			reg := Builtin()
			proto, err := reg.New(name, Config{})
			if err != nil {
				b.Fatal(err)
			}
			for _, p := range pts[:warm] {
				proto.Observe(p)
			}
			st, err := proto.MarshalBinary()
			if err != nil {
				b.Fatal(err)
			}
			fleet := make([]Detector, series)
			for i := range fleet {
				d, _ := reg.New(name, Config{})
				if err := d.UnmarshalBinary(st); err != nil {
					b.Fatal(err)
				}
				fleet[i] = d
			}
			next := pts[warm:]
			i, m := 0, 0
			b.ResetTimer()
			start, cpu0 := time.Now(), cpuTime()
			for b.Loop() {
				p := next[m]
				p.V += float64(i % 97) // series differ a little
				fleet[i].Observe(p)
				if i++; i == series {
					i = 0
					if m++; m == len(next) {
						m = 0
					}
				}
			}
			el, cpu := time.Since(start), cpuTime()-cpu0
			b.ReportMetric(float64(b.N)/el.Seconds(), "points/s")
			if cpu > 0 {
				// On a shared machine wall time includes waiting for a
				// core; CPU time is what the points cost.
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "points/cpu-s")
			}
			b.ReportMetric(float64(len(st)), "bytes/series")
		})
	}
}

// BenchmarkMarshal measures encoding and decoding the default detector's
// state (a job writes it to Pebble).
func BenchmarkMarshal(b *testing.B) {
	pts := synth(12, synthOpts{n: 2 * 10080, interval: time.Minute, base: 1000, daily: 0.4, weekly: 0.2, noise: 0.03})
	d, _ := Builtin().New(DefaultDetector, Config{})
	for _, p := range pts {
		d.Observe(p)
	}
	st, _ := d.MarshalBinary()
	b.Run("encode", func(b *testing.B) {
		for b.Loop() {
			if _, err := d.MarshalBinary(); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("decode", func(b *testing.B) {
		for b.Loop() {
			if err := d.UnmarshalBinary(st); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// BenchmarkObserve is one series with its state hot in cache: the compute
// cost of a point, without the fleet's cache misses.
func BenchmarkObserve(b *testing.B) {
	pts := synth(13, synthOpts{n: 3 * 10080, interval: time.Minute, base: 1000, daily: 0.4, weekly: 0.2, noise: 0.03})
	for _, name := range allDetectors {
		b.Run(name, func(b *testing.B) {
			d, _ := Builtin().New(name, Config{})
			for _, p := range pts[:2*10080] {
				d.Observe(p)
			}
			next := pts[2*10080:]
			i := 0
			for b.Loop() {
				d.Observe(next[i])
				if i++; i == len(next) {
					i = 0
				}
			}
		})
	}
}
