package models

import (
	"fmt"
	"math"
	"slices"
	"time"
)

// Input warnings. They are constants so Observe never allocates.
const (
	WarnMissing   = "missing value"
	WarnRepeated  = "repeated timestamp"
	WarnBackwards = "timestamp before the previous point"
	WarnGap       = "gap in the series"
	WarnClamped   = "value beyond ±1e15, clamped"
)

// maxValue bounds the values detectors learn: larger finite values are
// clamped (with WarnClamped) so state stays finite, even in float32.
const maxValue = 1e15

// clampValue returns v clamped to ±maxValue and whether it was.
func clampValue(v float64) (float64, bool) {
	if v > maxValue {
		return maxValue, true
	}
	if v < -maxValue {
		return -maxValue, true
	}
	return v, false
}

const (
	// quietPoints is how many consecutive normal points end an anomaly
	// episode; the next anomalous point raises a new alert.
	quietPoints = 5
	// learnDeltas is how many positive time steps the clock sees before it
	// fixes the sampling interval (their median) when Config.Interval is 0.
	learnDeltas = 9
	// relFloor is the smallest scale relative to the level: on a constant
	// series a change by less than relFloor×threshold is not news.
	relFloor = 0.005
	dayMs    = int64(24 * time.Hour / time.Millisecond)
	weekMs   = 7 * dayMs
)

// clock tracks time order and the sampling interval of one series.
type clock struct {
	interval int64 // ms; 0 while learning
	fixed    bool  // interval came from the config
	last     int64 // largest timestamp seen
	started  bool
	nd       uint8
	dts      [learnDeltas]int64
}

func newClock(cfg Config) clock {
	c := clock{}
	if cfg.Interval > 0 {
		c.interval = cfg.Interval.Milliseconds()
		if c.interval <= 0 {
			c.interval = 1
		}
		c.fixed = true
	}
	return c
}

// step records t and returns a warning for an out-of-order or gapped
// timestamp, and the number of sampling intervals since the previous
// largest timestamp (0 for repeated or backwards points, ≥1 otherwise;
// 1 while the interval is not known yet).
func (c *clock) step(t int64) (steps int64, warn string) {
	if !c.started {
		c.started = true
		c.last = t
		return 1, ""
	}
	dt := t - c.last
	switch {
	case dt == 0:
		return 0, WarnRepeated
	case dt < 0:
		return 0, WarnBackwards
	}
	c.last = t
	if c.interval == 0 {
		c.dts[c.nd] = dt
		c.nd++
		if int(c.nd) == learnDeltas {
			s := c.dts
			slices.Sort(s[:])
			c.interval = s[learnDeltas/2]
		}
		return 1, ""
	}
	steps = (dt + c.interval/2) / c.interval
	if steps < 1 {
		steps = 1
	}
	if dt*2 > c.interval*3 {
		return steps, WarnGap
	}
	return steps, ""
}

func (c *clock) encode(e *enc) {
	e.iv(c.interval)
	e.bool(c.fixed)
	e.iv(c.last)
	e.bool(c.started)
	e.u8(c.nd)
	for i := 0; i < int(c.nd); i++ {
		e.iv(c.dts[i])
	}
}

func (c *clock) decode(d *dec) {
	c.interval = d.iv()
	c.fixed = d.bool()
	c.last = d.iv()
	c.started = d.bool()
	c.nd = d.u8()
	if c.interval < 0 || int(c.nd) > learnDeltas || (c.fixed && c.interval == 0) || (c.interval == 0 && int(c.nd) == learnDeltas) {
		d.fail("bad clock")
		return
	}
	for i := 0; i < int(c.nd); i++ {
		c.dts[i] = d.iv()
	}
	for i := int(c.nd); i < learnDeltas; i++ {
		c.dts[i] = 0
	}
}

// debounce turns per-point decisions into alerts: one alert when an
// episode starts; the episode ends after quietPoints normal points.
type debounce struct {
	active bool
	quiet  uint8
}

func (b *debounce) next(anomalous bool) (alert bool) {
	if anomalous {
		alert = !b.active
		b.active = true
		b.quiet = 0
		return alert
	}
	if b.active {
		b.quiet++
		if b.quiet >= quietPoints {
			b.active = false
			b.quiet = 0
		}
	}
	return false
}

func (b *debounce) encode(e *enc) { e.bool(b.active); e.u8(b.quiet) }
func (b *debounce) decode(d *dec) {
	b.active = d.bool()
	b.quiet = d.u8()
	if b.quiet >= quietPoints {
		d.fail("bad debounce")
	}
}

// score maps a standardised deviation z (in units of the detector's
// threshold thr) to [0,1): 0.5 exactly at the threshold, so
// Anomalous ⇔ Score > 0.5 for every detector.
func score(z, thr float64) float64 {
	if !(z > 0) || !(thr > 0) {
		return 0
	}
	q := z / thr
	if q > 8 {
		return 1
	}
	return 1 - math.Exp2(-q*q)
}

// countTracker decides whether a series looks like event counts
// (non-negative integers); counts get a Poisson-aware scale floor.
type countTracker struct{ notCount bool }

func (c *countTracker) see(v float64) {
	if v < 0 || v != math.Trunc(v) || v > 1<<52 {
		c.notCount = true
	}
}

// scaleFloor is the smallest scale a detector uses, so a constant or
// mostly-zero series (MAD = 0) gives finite scores: relFloor of the level,
// and for counts one count — the Poisson deviation at a mean of 1, an
// upper bound of it where counts are mostly zero. (Above a mean of 1 a
// Poisson series has a MAD of its own.)
func (c countTracker) scaleFloor(level float64) float64 {
	f := relFloor * math.Abs(level)
	if !c.notCount {
		f = math.Max(f, 1)
	}
	return math.Max(f, 1e-9)
}

// warmupOf validates Config.Warmup.
func warmupOf(cfg Config) (int, error) {
	switch {
	case cfg.Warmup == 0:
		return DefaultWarmup, nil
	case cfg.Warmup < 1 || cfg.Warmup > MaxWarmup:
		return 0, fmt.Errorf("models: warmup %d out of range 1..%d", cfg.Warmup, MaxWarmup)
	}
	return cfg.Warmup, nil
}

func validate(cfg Config) (warmup int, err error) {
	if cfg.Interval < 0 {
		return 0, fmt.Errorf("models: negative interval %v", cfg.Interval)
	}
	if cfg.Interval > 0 && cfg.Interval < time.Millisecond {
		return 0, fmt.Errorf("models: interval %v below the 1 ms timestamp resolution", cfg.Interval)
	}
	if cfg.Period < -1 || cfg.Period > maxPeriodPoints {
		return 0, fmt.Errorf("models: period %d out of range (-1 = none, 0 = detect, 2..%d points)", cfg.Period, maxPeriodPoints)
	}
	if cfg.Period == 1 {
		return 0, fmt.Errorf("models: period 1 is no seasonality; use -1 (or 2..%d points)", maxPeriodPoints)
	}
	return warmupOf(cfg)
}

func clip(v, lim float64) float64 {
	if v > lim {
		return lim
	}
	if v < -lim {
		return -lim
	}
	return v
}

func dirOf(r float64) Direction {
	if r > 0 {
		return DirUp
	}
	if r < 0 {
		return DirDown
	}
	return DirNone
}

func finite(v float64) bool { return !math.IsNaN(v) && !math.IsInf(v, 0) }
