package models

import "math"

// Tests a seasonal-family detector runs on the baseline's residuals.
const (
	testPoint = 1 << iota // |z| beyond a threshold (spikes, dips)
	testESD               // online generalized ESD on a residual window
	testCUSUM             // change points: level shifts, variance increases
)

const (
	// esdWindow residuals are kept for the online ESD test.
	esdWindow = 128
	// esdMaxRank: the newest point is tested at its rank among the window's
	// deviations; beyond this rank (max_anoms = 5% of the window) it is not
	// an outlier.
	esdMaxRank = 6
	// esdAlpha is the online ESD test's significance level.
	esdAlpha = 0.001
)

// seasonalDetector is the seasonal baseline plus a chosen set of tests;
// it implements the ewma, seasonal-esd, cusum and ensemble detectors.
type seasonalDetector struct {
	kind   uint8
	tests  uint8
	warmup int
	thr    float64 // point test threshold in σ
	clk    clock
	base   baseline
	deb    debounce
	cs     cusum
	res    window    // residual window (testESD only)
	table  *esdTable // shared, immutable
}

func newSeasonal(kind, tests uint8, cfg Config, table *esdTable) (*seasonalDetector, error) {
	warmup, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	d := &seasonalDetector{
		kind: kind, tests: tests, warmup: warmup, thr: pointThreshold,
		clk: newClock(cfg), base: newBaseline(cfg), table: table,
	}
	if tests&testESD != 0 {
		d.res = newWindow(esdWindow)
	}
	return d, nil
}

func (d *seasonalDetector) Observe(p Point) Result {
	_, warn := d.clk.step(p.T)
	if !d.base.inited && d.clk.interval > 0 {
		d.base.setup(d.clk.interval)
	}
	exp, sigma := d.base.predict(p.T)
	thr := d.base.threshold(d.thr)
	r := Result{
		Expected: exp, Lower: exp - thr*sigma, Upper: exp + thr*sigma,
		Warm: d.base.n >= int64(d.warmup), Warning: warn,
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
	if d.base.n == 0 {
		r.Expected, r.Lower, r.Upper = p.V, p.V, p.V
		d.base.learn(p.T, p.V, 0, sigma, d.clk.interval)
		return r
	}
	e := p.V - exp
	z := e / sigma
	var anomalous bool
	var sc float64
	var dir Direction
	if d.tests&testPoint != 0 {
		sc = score(math.Abs(z), thr)
		if math.Abs(z) > thr {
			anomalous, dir = true, dirOf(e)
		}
	}
	if d.tests&testESD != 0 {
		s, a := d.esd(e, exp)
		sc = math.Max(sc, s)
		if a && !anomalous {
			anomalous, dir = true, dirOf(e)
		}
	}
	var cv cusumVerdict
	if d.tests&testCUSUM != 0 && r.Warm && d.base.settled() {
		cv = d.cs.step(z)
		sc = math.Max(sc, cv.score)
		if (cv.shift != DirNone || cv.vol) && !anomalous {
			anomalous, dir = true, dirOf(e)
			if cv.shift != DirNone {
				dir = cv.shift
			}
		}
	}
	d.base.learn(p.T, p.V, e, sigma, d.clk.interval)
	if d.tests&testESD != 0 {
		d.res.add(float32(e))
	}
	switch {
	case cv.shift != DirNone:
		d.base.relevel(min(max(int(d.cs.run), 3), nRecent))
		d.cs.reset()
	case cv.vol:
		d.base.rescale(nRecent)
		d.cs.reset()
	}
	if !r.Warm {
		return r
	}
	r.Score, r.Anomalous, r.Direction = sc, anomalous, dir
	r.Alert = d.deb.next(anomalous)
	return r
}

// esd tests residual e at its rank among the window's deviations from
// their median, against Rosner's critical value for that rank.
func (d *seasonalDetector) esd(e, exp float64) (sc float64, anomalous bool) {
	n := d.res.n
	if n < 8 {
		return 0, false
	}
	m := d.res.median()
	mad := d.res.mad(m)
	s := 1.4826 * mad
	if s == 0 {
		var sum float64
		for _, v := range d.res.sorted {
			sum += math.Abs(float64(v) - m)
		}
		s = meanAbsToSigma * sum / float64(n)
	}
	// The floors of the baseline (relative, counts) apply here too.
	s = math.Max(s, d.base.cnt.scaleFloor(exp))
	dev := math.Abs(e - m)
	R := dev / s
	above := d.res.above(float32(m+dev)) + d.res.search(float32(m-dev))
	rank := above + 1
	if rank > esdMaxRank {
		// Beyond max_anoms: as extreme as many recent residuals, so not an
		// outlier to ESD; graded against the last rank's λ but kept at or
		// below 0.5 (Anomalous ⇔ Score > 0.5).
		return math.Min(score(R, d.table.get(n+1, esdMaxRank)), 0.5), false
	}
	lam := d.table.get(n+1, rank)
	return score(R, lam), R > lam
}

func (d *seasonalDetector) MarshalBinary() ([]byte, error) {
	e := newEnc(d.kind, 256+4*d.res.n+4*maxBuckets*2)
	e.u8(d.tests)
	e.uv(uint64(d.warmup))
	e.f64(d.thr)
	d.clk.encode(e)
	d.base.encode(e)
	d.deb.encode(e)
	d.cs.encode(e)
	if d.tests&testESD != 0 {
		d.res.encode(e)
	}
	return e.b, nil
}

func (d *seasonalDetector) UnmarshalBinary(data []byte) error {
	dc := newDec(data, d.kind)
	tests := dc.u8()
	if dc.err == nil && tests != d.tests {
		dc.fail("state of another test set")
	}
	warmup := dc.uv()
	thr := dc.f64()
	if dc.err == nil && (warmup < 1 || warmup > MaxWarmup || !(thr > 0 && thr < 100)) {
		dc.fail("bad parameters")
	}
	nd := *d
	nd.warmup, nd.thr = int(warmup), thr
	nd.clk.decode(dc)
	nd.base = baseline{}
	nd.base.decode(dc)
	if dc.err == nil && nd.base.inited && nd.clk.interval == 0 {
		dc.fail("profiles without an interval")
	}
	nd.deb.decode(dc)
	nd.cs.decode(dc)
	if d.tests&testESD != 0 {
		nd.res = newWindow(esdWindow)
		nd.res.decode(dc)
	}
	if err := dc.done(); err != nil {
		return err
	}
	*d = nd
	return nil
}
