package models

import "math"

const (
	// madWindow is the rolling window of the mad detector, in points.
	madWindow = 64
	// madThreshold is its robust z threshold: the median and MAD of 64
	// points are noisy estimates, so it sits above pointThreshold.
	madThreshold = 4.5
)

// madDetector is the rolling median/MAD z-score: expected = median of the
// last madWindow values, scale = 1.4826·MAD (floored). It needs little
// history and no seasonality; a seasonal series is followed with the lag
// of half the window.
type madDetector struct {
	warmup int
	n      int64
	clk    clock
	cnt    countTracker
	deb    debounce
	win    window
}

func newMAD(cfg Config) (*madDetector, error) {
	warmup, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	return &madDetector{warmup: warmup, clk: newClock(cfg), win: newWindow(madWindow)}, nil
}

func (d *madDetector) Observe(p Point) Result {
	_, warn := d.clk.step(p.T)
	r := Result{Warm: d.n >= int64(d.warmup), Warning: warn}
	var sigma float64
	if d.win.n > 0 {
		m := d.win.median()
		s := 1.4826 * d.win.mad(m)
		if s == 0 {
			var sum float64
			for _, v := range d.win.sorted {
				sum += math.Abs(float64(v) - m)
			}
			s = meanAbsToSigma * sum / float64(d.win.n)
		}
		sigma = math.Max(s, d.cnt.scaleFloor(m))
		r.Expected, r.Lower, r.Upper = m, m-madThreshold*sigma, m+madThreshold*sigma
	}
	if !finite(p.V) {
		if r.Warning == "" {
			r.Warning = WarnMissing
		}
		return r
	}
	if v, clamped := clampValue(p.V); clamped {
		p.V = v
		if r.Warning == "" {
			r.Warning = WarnClamped
		}
	}
	if d.win.n == 0 {
		r.Expected, r.Lower, r.Upper = p.V, p.V, p.V
	}
	d.cnt.see(p.V)
	d.n++
	d.win.add(float32(p.V))
	if !r.Warm || sigma == 0 {
		return r
	}
	e := p.V - r.Expected
	z := math.Abs(e) / sigma
	r.Score = score(z, madThreshold)
	if z > madThreshold {
		r.Anomalous, r.Direction = true, dirOf(e)
	}
	r.Alert = d.deb.next(r.Anomalous)
	return r
}

func (d *madDetector) MarshalBinary() ([]byte, error) {
	e := newEnc(kindMAD, 64+4*d.win.n)
	e.uv(uint64(d.warmup))
	e.iv(d.n)
	d.clk.encode(e)
	e.bool(d.cnt.notCount)
	d.deb.encode(e)
	d.win.encode(e)
	return e.b, nil
}

func (d *madDetector) UnmarshalBinary(data []byte) error {
	dc := newDec(data, kindMAD)
	nd := madDetector{win: newWindow(madWindow)}
	warmup := dc.uv()
	nd.n = dc.iv()
	if dc.err == nil && (warmup < 1 || warmup > MaxWarmup || nd.n < 0) {
		dc.fail("bad parameters")
	}
	nd.warmup = int(warmup)
	nd.clk.decode(dc)
	nd.cnt.notCount = dc.bool()
	nd.deb.decode(dc)
	nd.win.decode(dc)
	if err := dc.done(); err != nil {
		return err
	}
	*d = nd
	return nil
}
