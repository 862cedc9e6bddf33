package models

import "math"

// Change-point test parameters, in units of the residual scale σ.
const (
	// cusumK is the allowance: shifts below 2·cusumK σ are not pursued.
	cusumK = 1.5
	// cusumH is the decision interval: a shift of d σ alarms after about
	// cusumH/(d−cusumK) points.
	cusumH = 10.0
	// cusumClip bounds one point's contribution, so a single spike (a
	// point anomaly, the spike test's job) cannot alarm on its own.
	cusumClip = 4.0
	// varK and varH: the variance test accumulates 1.2533·|Δz|/√2 − 1
	// (mean 0 under the model) less varK; it alarms when the noise has
	// grown by about 2× or more, after about varH/(ratio−1−varK) points.
	varK = 1.0
	varH = 16.0
)

// cusum is a two-sided Page CUSUM on standardised residuals for level
// shifts, plus a one-sided CUSUM on their magnitude for variance increases.
type cusum struct {
	pos, neg, vol float64
	prev          float64 // previous clipped z (the variance test differences)
	run           uint16  // points since the level statistics left 0
}

type cusumVerdict struct {
	score float64
	shift Direction // DirUp/DirDown: a level shift alarmed
	vol   bool      // a variance increase alarmed
}

// step adds the standardised residual z and reports an alarm. After an
// alarm the statistics restart (the caller re-levels its baseline).
func (c *cusum) step(z float64) cusumVerdict {
	zc := clip(z, cusumClip)
	c.pos = math.Max(0, c.pos+zc-cusumK)
	c.neg = math.Max(0, c.neg-zc-cusumK)
	// The variance test looks at successive differences, so a level
	// shift (one large difference) does not pass for more noise.
	c.vol = math.Max(0, c.vol+meanAbsToSigma*math.Abs(zc-c.prev)/math.Sqrt2-1-varK)
	c.prev = zc
	if c.pos == 0 && c.neg == 0 {
		c.run = 0
	} else if c.run < math.MaxUint16 {
		c.run++
	}
	v := cusumVerdict{score: score(math.Max(math.Max(c.pos, c.neg)/cusumH, c.vol/varH), 1)}
	switch {
	case c.pos > cusumH:
		v.shift = DirUp
	case c.neg > cusumH:
		v.shift = DirDown
	case c.vol > varH:
		v.vol = true
	}
	return v
}

func (c *cusum) reset() { *c = cusum{prev: c.prev} }

func (c *cusum) encode(e *enc) {
	e.f64(c.pos)
	e.f64(c.neg)
	e.f64(c.vol)
	e.f64(c.prev)
	e.uv(uint64(c.run))
}

func (c *cusum) decode(d *dec) {
	c.pos, c.neg, c.vol, c.prev = d.f64(), d.f64(), d.f64(), d.f64()
	run := d.uv()
	if !(c.pos >= 0 && c.neg >= 0 && c.vol >= 0 && math.Abs(c.prev) <= cusumClip) || math.IsInf(c.pos+c.neg+c.vol, 0) || run > math.MaxUint16 {
		d.fail("bad cusum")
	}
	c.run = uint16(run)
}
