package models

import (
	"math"
	"math/bits"
	"slices"
)

const (
	// maxPeriodPoints bounds Config.Period.
	maxPeriodPoints = 1 << 20
	// Seasonal profiles are kept at a coarse resolution whatever the
	// sampling interval: a daily profile in 96 buckets (15 minutes), a
	// weekly one in 336 (30 minutes); a configured period in at most 336.
	dayBuckets  = 96
	weekBuckets = 336
	maxBuckets  = weekBuckets
	// nRecent residuals are kept to re-level after a regime change.
	nRecent = 16
	// regimeRun of the last nRecent points beyond pointThreshold mean the
	// level (or the noise) changed: the baseline re-levels instead of
	// flagging every following point.
	regimeRun = 12
	// pointThreshold is the z beyond which the baseline counts a point as
	// an exceedance (regime tracking) and detectors' default point test.
	pointThreshold = 4.0
	// profileGamma is how much of a bucket a cycle replaces once a profile
	// has seen a few cycles (a bucket remembers ~1/profileGamma cycles).
	profileGamma = 0.25
	// switchGain sets the hysteresis of the choice between no season and
	// the profiles: a longer ready profile takes over unless its error is
	// more than 1/switchGain of the active one's; a shorter model takes
	// over only when its error is below switchGain² of it.
	switchGain = 0.85
	// madToMeanAbs converts a MAD into the mean absolute deviation of the
	// same normal distribution; meanAbsToSigma a mean absolute deviation
	// into a standard deviation.
	madToMeanAbs   = 0.7979 / 0.6745
	meanAbsToSigma = 1.2533
)

// profile is an additive seasonal profile over one period, a linear
// spline with len(s) knots; the phase of a point comes from its timestamp,
// so gaps and irregular sampling need no special handling.
type profile struct {
	period  int64 // ms
	start   int64 // first timestamp learned
	started bool
	off     float64 // offset added to the profile
	s       []float32
	seen    [(maxBuckets + 63) / 64]uint64 // knots learned at least once
}

func (p *profile) isSeen(k int) bool { return p.seen[k/64]&(1<<(k%64)) != 0 }

func (p *profile) pos(t int64) (i0, i1 int, f float64) {
	ph := t % p.period
	if ph < 0 {
		ph += p.period
	}
	// Integer arithmetic: a point on a knot lands on it exactly.
	x := ph * int64(len(p.s))
	i0 = int(x / p.period)
	f = float64(x%p.period) / float64(p.period)
	i1 = i0 + 1
	if i1 == len(p.s) {
		i1 = 0
	}
	return i0, i1, f
}

// at returns the profile at t; ok is false when neither knot around t
// has been learned (a gap in the first cycle).
func (p *profile) at(t int64) (v float64, ok bool) {
	i0, i1, f := p.pos(t)
	s0, s1 := p.isSeen(i0), p.isSeen(i1)
	switch {
	case s0 && s1:
		return (1-f)*float64(p.s[i0]) + f*float64(p.s[i1]), true
	case s0:
		return float64(p.s[i0]), true
	case s1:
		return float64(p.s[i1]), true
	}
	return 0, false
}

// learn moves the profile at t towards target = x − offset: a knot seen
// for the first time takes the target; after that it moves by
// rate×clip(e) per point, where rate replaces a bucket fully in the first
// cycle and by ~1/(cycles+1) (at least profileGamma) per cycle later.
func (p *profile) learn(t int64, target, ec float64, interval int64) {
	if !p.started {
		p.started = true
		p.start = t
	}
	c := (t - p.start) / p.period
	rc := profileGamma
	switch {
	case c <= 0:
		rc = 3
	case 1/float64(c+1) > rc:
		rc = 1 / float64(c+1)
	}
	ppb := float64(p.period) / float64(interval) / float64(len(p.s))
	rate := rc / math.Max(ppb, 1)
	if rate > 1 {
		rate = 1
	}
	i0, i1, f := p.pos(t)
	for _, k := range [2]int{i0, i1} {
		w := f
		if k == i0 {
			w = 1 - f
		}
		if !p.isSeen(k) {
			// The nearest knot takes the target; a far one waits for a
			// point of its own.
			if w >= 0.5 {
				p.s[k] = float32(target)
				p.seen[k/64] |= 1 << (k % 64)
			}
			continue
		}
		p.s[k] += float32(rate * w * ec)
	}
}

func (p *profile) ready(t int64) bool { return p.started && t-p.start >= p.period }

// baseline is the robust seasonal baseline shared by the ewma, cusum,
// seasonal-esd and ensemble detectors. It runs up to three models side by
// side and predicts with the active one:
//
//   - none: a local level, an EW mean of the recent values (time constant
//     noneTau points);
//   - one profile per candidate period (a day and a week when the period
//     is detected): expected = offset + profile(phase). The profile learns
//     the value at each phase; the offset, an EW mean of the profile's
//     residuals (time constant tau), follows level shifts and trends.
//
// Residuals are clipped at 3σ before they are learned, so an anomaly does
// not bend the baseline. The scale is the EW mean absolute residual of the
// active model, floored (countTracker.scaleFloor). The active model is
// chosen online by the running error of each (switchGain).
type baseline struct {
	cnt    countTracker
	n      int64   // values learned
	lvl    float64 // the "none" model's level
	scale  float64 // EW mean |residual|, residuals clipped at 6σ
	tau    float64 // offset time constant, points
	period int     // Config.Period
	inited bool    // profiles built (needs the sampling interval)
	ready  uint8   // bit i: profile i has seen a full period
	active int8    // -1 none, else index into prof
	prof   []profile
	perr   [3]float64        // EW |error| of: no season, prof[0], prof[1]
	tail   [tailBins]float64 // EW histogram of |residual|/σ, unnormalised
	tailW  float64           // weight of the next point (grows instead of decaying the bins)
	tailT  float64           // sum of tail
	recent [nRecent]float32
	rh     uint8  // next slot of recent
	hist   uint16 // exceedances, newest in bit 0
}

// noneTau is the time constant of the "none" model's level, in points.
const noneTau = 32

func newBaseline(cfg Config) baseline {
	b := baseline{period: cfg.Period, tau: 16, active: -1}
	b.initTail()
	return b
}

const (
	// gaussQ99 is the 99th percentile of |z| for normal residuals.
	gaussQ99 = 2.576
	// The tail histogram: tailBins bins of tailWidth σ, the last open;
	// counts decay by tailDecay per point (a memory of ~1000 points) and
	// start as tailPrior points of a normal distribution.
	tailBins  = 20
	tailWidth = 0.6
	tailDecay = 1.0 / 1024
	tailPrior = 200
)

func (b *baseline) initTail() {
	// Normal |z| mass per bin: 2·(Φ(hi) − Φ(lo)).
	b.tailT = 0
	for k := range b.tail {
		lo, hi := float64(k)*tailWidth, float64(k+1)*tailWidth
		if k == tailBins-1 {
			hi = math.Inf(1)
		}
		b.tail[k] = tailPrior * (math.Erf(hi/math.Sqrt2) - math.Erf(lo/math.Sqrt2))
		b.tailT += b.tail[k]
	}
	b.tailW = 1
}

// addTail counts z. Instead of decaying every bin by (1 − tailDecay) per
// point, the weight of new points grows by 1/(1 − tailDecay); the bins are
// rescaled when the weight gets large. O(1) per point.
func (b *baseline) addTail(z float64) {
	k := int(z / tailWidth)
	if k >= tailBins || k < 0 {
		k = tailBins - 1
	}
	b.tail[k] += b.tailW
	b.tailT += b.tailW
	b.tailW /= 1 - tailDecay
	if b.tailW > 1e100 {
		for i := range b.tail {
			b.tail[i] /= b.tailW
		}
		b.tailT /= b.tailW
		b.tailW = 1
	}
}

// q99 is the 99th percentile of |z| read off the tail histogram, scanning
// from the top (a few bins).
func (b *baseline) q99() float64 {
	need := 0.01 * b.tailT // mass above the quantile
	for k := tailBins - 1; k >= 0; k-- {
		c := b.tail[k]
		if c >= need {
			if k == tailBins-1 {
				return float64(k) * tailWidth
			}
			return float64(k+1)*tailWidth - need/c*tailWidth
		}
		need -= c
	}
	return 0
}

// threshold scales a detector's z threshold thr for heavy-tailed noise:
// when the 99th percentile of |z| exceeds the normal one, the tail is
// heavier than the scale says, and the threshold grows by the ratio to
// the power 1.5 (tails thicken faster than the 99th percentile moves). It
// never goes below thr.
func (b *baseline) threshold(thr float64) float64 {
	r := b.q99() / gaussQ99
	if r <= 1 {
		return thr
	}
	return thr * r * math.Sqrt(r)
}

// setup builds the candidate profiles once the interval is known.
func (b *baseline) setup(interval int64) {
	b.inited = true
	add := func(periodMs int64, buckets int) {
		pts := periodMs / interval
		if pts < 4 || pts > maxPeriodPoints {
			return
		}
		if int64(buckets) > pts {
			buckets = int(pts)
		}
		b.prof = append(b.prof, profile{period: periodMs, s: make([]float32, buckets)})
	}
	switch {
	case b.period > 0:
		add(int64(b.period)*interval, maxBuckets)
	case b.period == 0:
		add(dayMs, dayBuckets)
		add(weekMs, weekBuckets)
	}
	if len(b.prof) > 0 {
		pts := float64(b.prof[0].period / interval)
		b.tau = math.Min(math.Max(pts/24, 16), 120)
	}
}

// model returns the prediction of model i (-1 = none) at t, falling back
// to shorter models where profile i has not learned the phase of t.
func (b *baseline) model(i int8, t int64) float64 {
	for ; i >= 0; i-- {
		p := &b.prof[i]
		if v, ok := p.at(t); ok {
			return p.off + v
		}
	}
	return b.lvl
}

// predict returns the expected value at t and the scale (≈ one standard
// deviation of the residual), never 0, Inf or NaN.
func (b *baseline) predict(t int64) (expected, sigma float64) {
	expected = b.model(b.active, t)
	sigma = math.Max(meanAbsToSigma*b.scale, b.cnt.scaleFloor(expected))
	return expected, sigma
}

// learn adds x at t, whose residual against predict was e with scale sigma.
func (b *baseline) learn(t int64, x, e, sigma float64, interval int64) {
	b.cnt.see(x)
	if b.n == 0 {
		b.lvl = x
		for i := range b.prof {
			b.prof[i].off = x
		}
		b.n = 1
		b.push(0)
		return
	}
	lim := 3 * sigma
	if b.n < 8 {
		lim = math.Inf(1)
	}
	es := math.Min(math.Abs(e), 6*sigma)
	exceed := math.Abs(e) > pointThreshold*sigma
	first := 1 / float64(b.n+1)

	// Every model learns its own residual; errors are tracked before.
	rho := 1 / math.Max(64, 2*b.tau)
	en := x - b.lvl
	b.perr[0] += rho * (math.Min(math.Abs(en), 6*sigma) - b.perr[0])
	b.lvl += math.Max(1.0/noneTau, first) * clip(en, lim)
	for i := range b.prof {
		p := &b.prof[i]
		if !p.started {
			p.off = x
		}
		v, covered := p.at(t)
		ep := x - p.off - v
		ec := clip(ep, lim)
		if !covered {
			ec = 0 // nothing to correct yet; the knot takes x below
		}
		if b.ready&(1<<i) != 0 && covered {
			b.perr[i+1] += rho * (math.Min(math.Abs(ep), 6*sigma) - b.perr[i+1])
			// The offset follows the profile's residuals once the profile
			// covers a period; before, the profile learns against the
			// first value.
			p.off += (1 / b.tau) * ec
		}
		if interval > 0 {
			p.learn(t, x-p.off, ec, interval)
		}
		if b.ready&(1<<i) == 0 && p.ready(t) {
			b.ready |= 1 << i
			b.perr[i+1] = b.perr[b.active+1]
		}
	}
	// A longer ready profile replaces a shorter one (a weekly profile also
	// holds the daily pattern) unless it is measurably worse; a shorter
	// model (or none) takes over only when it is measurably better.
	best := b.active
	for i := int8(-1); int(i) < len(b.prof); i++ {
		if i == best || (i >= 0 && b.ready&(1<<i) == 0) {
			continue
		}
		if i > best && switchGain*b.perr[i+1] < b.perr[best+1] ||
			i < best && b.perr[i+1] < switchGain*switchGain*b.perr[best+1] {
			best = i
		}
	}
	b.active = best

	rs := math.Max(1/128.0, first)
	b.scale += rs * (es - b.scale)
	if b.n >= 8 {
		b.addTail(math.Abs(e) / sigma)
	}
	b.n++
	b.push(e)
	b.hist <<= 1
	if exceed {
		b.hist |= 1
	}
	if bits.OnesCount16(b.hist) >= regimeRun {
		b.relevel(regimeRun)
	}
}

func (b *baseline) push(e float64) {
	b.recent[b.rh] = float32(e)
	b.rh = (b.rh + 1) % nRecent
}

// relevel moves the level by the median of the k newest residuals and
// raises the scale to their spread: a level shift or a variance change
// becomes the new normal instead of an endless run of anomalies.
func (b *baseline) relevel(k int) {
	var buf [nRecent]float32
	r := buf[:0]
	for i := 1; i <= k && i <= nRecent; i++ {
		r = append(r, b.recent[(int(b.rh)-i+nRecent)%nRecent])
	}
	slices.Sort(r)
	med := float64(r[len(r)/2])
	if len(r)%2 == 0 {
		med = (float64(r[len(r)/2-1]) + med) / 2
	}
	for i := range r {
		r[i] = float32(math.Abs(float64(r[i]) - med))
	}
	slices.Sort(r)
	mad := float64(r[len(r)/2])
	b.lvl += med
	for i := range b.prof {
		b.prof[i].off += med
	}
	b.scale = math.Max(b.scale, madToMeanAbs*mad)
	for i := range b.recent {
		b.recent[i] = float32(float64(b.recent[i]) - med)
	}
	b.hist = 0
}

// rescale raises the scale to the spread of the newest k residuals (a
// variance increase); the level stays.
func (b *baseline) rescale(k int) {
	var buf [nRecent]float32
	r := buf[:0]
	for i := 1; i <= k && i <= nRecent; i++ {
		r = append(r, b.recent[(int(b.rh)-i+nRecent)%nRecent])
	}
	slices.Sort(r)
	med := float64(r[len(r)/2])
	for i := range r {
		r[i] = float32(math.Abs(float64(r[i]) - med))
	}
	slices.Sort(r)
	b.scale = math.Max(b.scale, madToMeanAbs*float64(r[len(r)/2]))
}

func (b *baseline) encode(e *enc) {
	e.bool(b.cnt.notCount)
	e.iv(b.n)
	e.f64(b.lvl)
	e.f64(b.scale)
	e.f64(b.tau)
	e.iv(int64(b.period))
	e.bool(b.inited)
	e.u8(b.ready)
	e.u8(uint8(b.active))
	e.u8(uint8(len(b.prof)))
	for i := range b.prof {
		p := &b.prof[i]
		e.iv(p.period)
		e.iv(p.start)
		e.bool(p.started)
		e.f64(p.off)
		e.f32s(p.s)
		for _, w := range p.seen {
			e.uv(w)
		}
	}
	for _, v := range b.perr {
		e.f64(v)
	}
	for _, v := range b.tail {
		e.f64(v)
	}
	e.f64(b.tailW)
	e.f64(b.tailT)
	for _, v := range b.recent {
		e.f32(v)
	}
	e.u8(b.rh)
	e.b = append(e.b, byte(b.hist), byte(b.hist>>8))
}

func (b *baseline) decode(d *dec) {
	b.cnt.notCount = d.bool()
	b.n = d.iv()
	b.lvl = d.f64()
	b.scale = d.f64()
	b.tau = d.f64()
	b.period = int(d.iv())
	b.inited = d.bool()
	b.ready = d.u8()
	b.active = int8(d.u8())
	np := int(d.u8())
	if np > 2 || b.n < 0 || b.period < -1 || b.period > maxPeriodPoints || !(b.tau >= 1 && b.tau <= 1e6) || !(b.scale >= 0) {
		d.fail("bad baseline")
		return
	}
	d.finite(b.lvl, "level")
	d.finite(b.scale, "scale")
	b.prof = b.prof[:0]
	for i := 0; i < np && d.err == nil; i++ {
		var p profile
		p.period = d.iv()
		p.start = d.iv()
		p.started = d.bool()
		p.off = d.f64()
		d.finite(p.off, "offset")
		p.s = d.f32s(nil, maxBuckets)
		for j := range p.seen {
			p.seen[j] = d.uv()
		}
		if len(p.s) > 0 && (len(p.s)%64 != 0 && p.seen[len(p.s)/64]>>(len(p.s)%64) != 0 || len(p.s)/64+1 < len(p.seen) && p.seen[len(p.s)/64+1] != 0) {
			d.fail("bad profile coverage")
		}
		if p.period <= 0 || len(p.s) == 0 {
			d.fail("bad profile")
		}
		for _, v := range p.s {
			d.finite(float64(v), "profile")
		}
		b.prof = append(b.prof, p)
	}
	if int(b.active) >= len(b.prof) || b.active < -1 || b.ready>>len(b.prof) != 0 {
		d.fail("bad active profile")
	}
	for i := range b.perr {
		b.perr[i] = d.f64()
		d.finite(b.perr[i], "profile error")
	}
	for i := range b.tail {
		b.tail[i] = d.f64()
		if !(b.tail[i] >= 0 && b.tail[i] < 1e300) {
			d.fail("bad tail histogram")
		}
	}
	b.tailW, b.tailT = d.f64(), d.f64()
	if !(b.tailW >= 1 && b.tailW <= 1e101 && b.tailT > 0 && b.tailT < 1e300) {
		d.fail("bad tail weights")
	}
	for i := range b.recent {
		b.recent[i] = d.f32()
		d.finite(float64(b.recent[i]), "residual")
	}
	b.rh = d.u8()
	if b.rh >= nRecent {
		d.fail("bad residual ring")
	}
	lo, hi := d.u8(), d.u8()
	b.hist = uint16(lo) | uint16(hi)<<8
}

// settled reports whether the residuals can be trusted to have mean 0:
// there is no seasonality to learn, or a learnt profile is in use. Before
// that a seasonal ramp and a level shift look alike, so the change-point
// tests wait.
func (b *baseline) settled() bool {
	return b.inited && (len(b.prof) == 0 || b.active >= 0)
}
