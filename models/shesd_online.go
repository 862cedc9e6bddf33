package models

import (
	"fmt"
	"math"
	"slices"
	"sync"
)

const (
	// shesdMaxWindow bounds the online S-H-ESD window: two days of
	// one-minute points (11.5 KB as float32), enough for the two cycles of
	// a daily period that S-H-ESD needs.
	shesdMaxWindow = 2880
	// shesdMaxAnoms is max_anoms of the refit's ESD, a fraction of the
	// window.
	shesdMaxAnoms = 0.02
	// shesdAlpha is the refit's significance level.
	shesdAlpha = 0.01
	// shesdBuckets bounds the cached seasonal component.
	shesdBuckets = 288
)

// shesdShared is what every shesd detector of one factory shares:
// critical values and scratch buffers. Safe for concurrent use.
type shesdShared struct {
	mu   sync.Mutex
	crit map[int][]float64 // window size → λ for ranks 1..maxRank
	pool sync.Pool         // *shesdScratch
}

type shesdScratch struct {
	xs, trend, seas, sorted []float64
	dec                     decomposer
	acf                     acfScratch
}

func (s *shesdShared) lambdas(n, maxRank int) []float64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.crit == nil {
		s.crit = map[int][]float64{}
	}
	row, ok := s.crit[n]
	if !ok {
		row = make([]float64, maxRank)
		for i := range row {
			row[i] = esdCritical(n, i+1, shesdAlpha)
		}
		s.crit[n] = row
	}
	return row
}

// shesdDetector is Seasonal Hybrid ESD in online form. It keeps a
// trailing window of raw values; every step points it re-runs the batch
// algorithm on the window (Decompose, then the robust generalized ESD on
// the residuals) and caches the model: the trend extended forward, the
// seasonal component in ≤ 288 buckets, the residuals' median and scale,
// and λ for one more outlier. Each new point is scored once, against the
// model fitted on the points before it: no look-ahead, and no verdict
// changes on a later run.
type shesdDetector struct {
	sh        *shesdShared
	warmup    int
	cfgPeriod int
	n         int64 // finite values seen
	clk       clock
	cnt       countTracker
	deb       debounce

	ring        []float32 // window, NaN = missing; len = capacity
	head, count int
	idx         int64 // absolute index of the next point (phase = idx mod period)
	sinceFit    int
	sinceDetect int
	period      int // configured or detected
	fitPeriod   int // used by the cached model (0 until two cycles are held)

	// model from the last refit
	fitted      bool
	tAt, tSlope float64 // trend at the next point; per point
	rMed, rSc   float64
	lam         float64
	seas        []float32 // bucket b covers phases [b·P/nb, (b+1)·P/nb)
}

func newSHESD(cfg Config, sh *shesdShared) (*shesdDetector, error) {
	warmup, err := validate(cfg)
	if err != nil {
		return nil, err
	}
	if cfg.Period > shesdMaxWindow/2 {
		return nil, fmt.Errorf("models: shesd keeps two periods of raw points within %d points; period %d is too long (use seasonal-esd or ensemble)", shesdMaxWindow, cfg.Period)
	}
	w := shesdWindowFor(cfg.Period)
	d := &shesdDetector{sh: sh, warmup: warmup, cfgPeriod: cfg.Period, clk: newClock(cfg), ring: make([]float32, w)}
	if cfg.Period > 0 {
		d.period = cfg.Period
	}
	return d, nil
}

// step is how many points pass between refits: a 48th of the window
// (60 points, an hour at one-minute resolution, for the full window). A
// refit sorts the window (~1 ms), so shesd costs ~20 µs per point: it is
// the reference implementation of S-H-ESD, not the fleet default.
func (d *shesdDetector) step() int { return max(8, min(60, len(d.ring)/48)) }

func (d *shesdDetector) push(v float32) {
	d.ring[d.head] = v
	d.head = (d.head + 1) % len(d.ring)
	if d.count < len(d.ring) {
		d.count++
	}
	d.idx++
	d.tAt += d.tSlope
	d.sinceFit++
	d.sinceDetect++
}

func (d *shesdDetector) expected(idx int64) float64 {
	e := d.tAt + d.rMed
	if d.fitPeriod > 1 && len(d.seas) > 0 {
		ph := idx % int64(d.fitPeriod)
		b := int(ph * int64(len(d.seas)) / int64(d.fitPeriod))
		e += float64(d.seas[b])
	}
	return e
}

func (d *shesdDetector) Observe(p Point) Result {
	steps, warn := d.clk.step(p.T)
	// A gap becomes missing points so the phase stays aligned.
	for i := int64(1); i < steps && i <= int64(len(d.ring)); i++ {
		d.push(float32(math.NaN()))
	}
	r := Result{Warm: d.fitted && d.n >= int64(d.warmup), Warning: warn}
	idx := d.idx
	if steps == 0 && idx > 0 {
		idx-- // a repeated or backwards timestamp: judged at the last slot
	}
	if d.fitted {
		exp := d.expected(idx)
		if steps == 0 {
			exp -= d.tSlope
		}
		r.Expected, r.Lower, r.Upper = exp, exp-d.lam*d.rSc, exp+d.lam*d.rSc
	}
	if !finite(p.V) {
		if r.Warning == "" {
			r.Warning = WarnMissing
		}
		if steps > 0 {
			d.push(float32(math.NaN()))
			d.maybeFit()
		}
		return r
	}
	if v, clamped := clampValue(p.V); clamped {
		p.V = v
		if r.Warning == "" {
			r.Warning = WarnClamped
		}
	}
	if !d.fitted {
		r.Expected, r.Lower, r.Upper = p.V, p.V, p.V
	}
	d.cnt.see(p.V)
	d.n++
	if r.Warm {
		e := p.V - r.Expected
		R := math.Abs(e) / d.rSc
		r.Score = score(R, d.lam)
		if R > d.lam {
			r.Anomalous, r.Direction = true, dirOf(e)
		}
		r.Alert = d.deb.next(r.Anomalous)
	}
	if steps > 0 {
		d.push(float32(p.V))
		d.maybeFit()
	}
	return r
}

func (d *shesdDetector) maybeFit() {
	if d.count < 16 || (d.fitted && d.sinceFit < d.step()) {
		return
	}
	d.fit()
}

// fit re-runs S-H-ESD on the window and caches the model.
func (d *shesdDetector) fit() {
	d.sinceFit = 0
	sc, _ := d.sh.pool.Get().(*shesdScratch)
	if sc == nil {
		sc = &shesdScratch{}
	}
	defer d.sh.pool.Put(sc)
	c := d.count
	sc.xs = grow(sc.xs, c)
	start := d.head - c
	if start < 0 {
		start += len(d.ring)
	}
	finiteN := 0
	for i := 0; i < c; i++ {
		v := float64(d.ring[(start+i)%len(d.ring)])
		sc.xs[i] = v
		if finite(v) {
			finiteN++
		}
	}
	if finiteN < 16 {
		return
	}
	if d.cfgPeriod == 0 && d.sinceDetect >= len(d.ring)/2 {
		if p, _ := detectPeriod(sc.xs, nil, &sc.acf); 2*p <= len(d.ring) {
			d.period = p
		}
		d.sinceDetect = 0
	}
	period := d.period
	if 2*period > c {
		period = 0 // not two cycles yet: trend only
	}
	sc.trend = grow(sc.trend, c)
	sc.seas = grow(sc.seas, c)
	if !sc.dec.runPiece(sc.xs, period, max(period, c/4, 16), sc.trend, sc.seas) {
		return
	}
	sc.sorted = sc.sorted[:0]
	lvl := sc.dec.lastMed
	for i, v := range sc.xs {
		if finite(v) {
			sc.sorted = append(sc.sorted, v-sc.trend[i]-sc.seas[i])
		}
	}
	slices.Sort(sc.sorted)
	m := medianSorted(sc.sorted)
	floor := d.cnt.scaleFloor(lvl)
	s := robustScaleSorted(sc.sorted, m, floor)

	// Generalized ESD on the residuals: r outliers; a new point must beat
	// λ for one more.
	n := len(sc.sorted)
	k := max(1, int(shesdMaxAnoms*float64(n)))
	lams := d.sh.lambdas(n, k+1)
	lo, hi, r := 0, n, 0
	for i := 1; i <= k; i++ {
		rr := sc.sorted[lo:hi]
		mi := medianSorted(rr)
		si := robustScaleSorted(rr, mi, floor)
		var R float64
		if mi-rr[0] >= rr[len(rr)-1]-mi {
			R = (mi - rr[0]) / si
			lo++
		} else {
			R = (rr[len(rr)-1] - mi) / si
			hi--
		}
		if R > lams[i-1] {
			r = i
		}
	}
	d.lam = lams[min(r, k)]
	d.rMed, d.rSc = m, s
	d.tSlope = sc.dec.slope
	d.tAt = sc.dec.lastMed + sc.dec.slope*(float64(c)-sc.dec.lastCentre)
	// Seasonal component by absolute phase, in buckets.
	if period > 1 {
		nb := min(period, shesdBuckets)
		if cap(d.seas) < nb {
			d.seas = make([]float32, nb)
		}
		d.seas = d.seas[:nb]
		base := d.idx - int64(c) // absolute index of window slot 0
		for b := 0; b < nb; b++ {
			lo := b * period / nb
			hi := (b + 1) * period / nb
			var sum float64
			for ph := lo; ph < hi; ph++ {
				i := (int64(ph) - base%int64(period) + int64(period)) % int64(period)
				sum += sc.seas[i]
			}
			d.seas[b] = float32(sum / float64(hi-lo))
		}
	} else {
		d.seas = d.seas[:0]
	}
	d.fitPeriod = period
	d.fitted = true
}

func shesdWindowFor(cfgPeriod int) int {
	switch {
	case cfgPeriod > 0:
		return min(shesdMaxWindow, max(4*cfgPeriod, 512))
	case cfgPeriod < 0:
		return 512
	}
	return shesdMaxWindow
}

func (d *shesdDetector) MarshalBinary() ([]byte, error) {
	e := newEnc(kindSHESD, 128+4*d.count+4*len(d.seas))
	e.uv(uint64(d.warmup))
	e.iv(int64(d.cfgPeriod))
	e.iv(d.n)
	d.clk.encode(e)
	e.bool(d.cnt.notCount)
	d.deb.encode(e)
	e.uv(uint64(d.count))
	start := d.head - d.count
	if start < 0 {
		start += len(d.ring)
	}
	for i := 0; i < d.count; i++ {
		e.f32(d.ring[(start+i)%len(d.ring)])
	}
	e.iv(d.idx)
	e.uv(uint64(d.sinceFit))
	e.uv(uint64(d.sinceDetect))
	e.uv(uint64(d.period))
	e.uv(uint64(d.fitPeriod))
	e.bool(d.fitted)
	e.f64(d.tAt)
	e.f64(d.tSlope)
	e.f64(d.rMed)
	e.f64(d.rSc)
	e.f64(d.lam)
	e.f32s(d.seas)
	return e.b, nil
}

func (d *shesdDetector) UnmarshalBinary(data []byte) error {
	dc := newDec(data, kindSHESD)
	nd := shesdDetector{sh: d.sh}
	warmup := dc.uv()
	cfgPeriod := dc.iv()
	nd.n = dc.iv()
	if dc.err == nil && (warmup < 1 || warmup > MaxWarmup || cfgPeriod < -1 || cfgPeriod > shesdMaxWindow/2 || cfgPeriod == 1 || nd.n < 0) {
		dc.fail("bad parameters")
	}
	nd.warmup, nd.cfgPeriod = int(warmup), int(cfgPeriod)
	nd.ring = make([]float32, shesdWindowFor(nd.cfgPeriod))
	nd.clk.decode(dc)
	nd.cnt.notCount = dc.bool()
	nd.deb.decode(dc)
	cnt := dc.uv()
	if dc.err == nil && (cnt > uint64(len(nd.ring)) || cnt*4 > uint64(len(dc.b))) {
		dc.fail("window length out of range")
	}
	if dc.err == nil {
		for i := 0; i < int(cnt); i++ {
			v := dc.f32()
			if math.IsInf(float64(v), 0) {
				dc.fail("infinite value in window")
			}
			nd.ring[i] = v
		}
		nd.count = int(cnt)
		nd.head = nd.count % len(nd.ring)
	}
	nd.idx = dc.iv()
	sf, sd := dc.uv(), dc.uv()
	per, fper := dc.uv(), dc.uv()
	nd.fitted = dc.bool()
	nd.tAt, nd.tSlope, nd.rMed, nd.rSc, nd.lam = dc.f64(), dc.f64(), dc.f64(), dc.f64(), dc.f64()
	nd.seas = dc.f32s(nil, shesdBuckets)
	if dc.err == nil {
		if sf > 1<<40 || sd > 1<<40 || per > uint64(len(nd.ring)/2) || fper > per || nd.idx < int64(nd.count) ||
			(nd.cfgPeriod > 0 && int(per) != nd.cfgPeriod) || (nd.cfgPeriod < 0 && per != 0) {
			dc.fail("bad window position")
		}
		for _, v := range []float64{nd.tAt, nd.tSlope, nd.rMed, nd.rSc, nd.lam} {
			dc.finite(v, "model")
		}
		if nd.fitted && !(nd.rSc > 0 && nd.lam > 0) {
			dc.fail("bad model scale")
		}
		if fper > 1 && len(nd.seas) != min(int(fper), shesdBuckets) || fper <= 1 && len(nd.seas) != 0 {
			dc.fail("bad seasonal cache")
		}
		for _, v := range nd.seas {
			dc.finite(float64(v), "seasonal")
		}
	}
	nd.sinceFit, nd.sinceDetect, nd.period, nd.fitPeriod = int(sf), int(sd), int(per), int(fper)
	if err := dc.done(); err != nil {
		return err
	}
	*d = nd
	return nil
}
