package gen

import (
	"math"
)

// assignKinds decides the kind of every template rank. A few ranks are
// reserved: BEGIN and COMMIT are popular (ranks 3 and 4), ROLLBACK is not,
// and the very long statements sit in the unpopular half so that they are
// rare, as they are in production.
func assignKinds(seed int64, n int) []kind {
	r := newRNG(seed, 7)
	total := 0.0
	for _, w := range kindWeights {
		total += w
	}
	kinds := make([]kind, n)
	for i := range kinds {
		x := r.float() * total
		k := kind(0)
		for ; k < numKinds-1; k++ {
			if x < kindWeights[k] {
				break
			}
			x -= kindWeights[k]
		}
		kinds[i] = k
	}
	if n >= 8 {
		kinds[3], kinds[4] = kBegin, kCommit
	}
	if n >= 40 {
		kinds[n/5] = kRollback
		kinds[n/2] = kInvalid
		kinds[n*2/3] = kBinaryInsert
	}
	if n >= 50 {
		kinds[n*3/5] = kLong
		kinds[n*4/5] = kLong
		kinds[n-1] = kLong
	}
	return kinds
}

// buildTemplates builds every template at the given stretch. A template
// whose fingerprint shape repeats an earlier one is rebuilt from the next
// random stream; kinds with few shapes (SHOW, SET) fall back to selects.
func buildTemplates(seed int64, kinds []kind, stretch float64) []*template {
	tables := buildTables()
	seen := make(map[string]bool, len(kinds))
	out := make([]*template, len(kinds))
	for i, k := range kinds {
		for attempt := 0; ; attempt++ {
			r := newRNG(seed, uint64(1<<32)+uint64(i)<<12+uint64(attempt))
			kk := k
			if attempt >= 8 && (k == kShow || k == kSet || k == kInvalid || k == kBegin) {
				kk = kSecondary
			}
			tb := &tbuilder{r: r, tables: tables, stretch: stretch}
			switch x := r.float(); {
			case x < 0.5:
				tb.style = 0
			case x < 0.7:
				tb.style = 1
			case x < 0.85:
				tb.style = 2
			default:
				tb.style = 3
			}
			tb.build(kk)
			sh := shape(tb.b.segs)
			if seen[sh] && attempt < 1000 {
				continue
			}
			seen[sh] = true
			p := profiles[kk]
			out[i] = &template{
				index:     i,
				kind:      kk,
				segs:      tb.b.segs,
				shape:     sh,
				user:      pick(r, p.user),
				latMedian: p.latencyUs * math.Exp(0.7*r.norm()),
				latSigma:  0.35 + 0.5*r.float(),
				lockMed:   p.lockUs * math.Exp(0.5*r.norm()),
				errs:      p.errs,
				limit:     tb.limit,
			}
			break
		}
	}
	return out
}

// calibrate finds the stretch at which the popularity-weighted mean
// statement length is closest to cfg.MeanSQLBytes and returns the templates
// built at it. The mean grows about linearly with the stretch, so a few
// secant steps on (stretch, mean) get close; the best point seen wins.
func calibrate(cfg Config, cdf []float64) ([]*template, float64) {
	kinds := assignKinds(cfg.Seed, cfg.Templates)
	target := float64(cfg.MeanSQLBytes)
	var best []*template
	bestStretch, bestErr := 1.0, math.Inf(1)
	eval := func(stretch float64) float64 {
		tpls := buildTemplates(cfg.Seed, kinds, stretch)
		mean := meanLength(cfg, tpls, cdf, stretch)
		if e := math.Abs(mean - target); e < bestErr {
			best, bestStretch, bestErr = tpls, stretch, e
		}
		return mean
	}
	x0, x1 := 1.0, 2.0
	y0, y1 := eval(x0), eval(x1)
	for range 6 {
		if bestErr < target*0.01 || y1 == y0 {
			break
		}
		x := x1 + (target-y1)*(x1-x0)/(y1-y0)
		x = min(max(x, x1/8, 0.01), x1*8, 500)
		x0, y0 = x1, y1
		x1, y1 = x, eval(x)
	}
	return best, bestStretch
}

// meanLength estimates the mean statement length: every template rendered
// a few times, weighted by popularity.
func meanLength(cfg Config, tpls []*template, cdf []float64, stretch float64) float64 {
	w := renderer{r: newRNG(cfg.Seed, 8), ts: cfg.Start.UnixMilli(), stretch: stretch}
	var buf []byte
	mean := 0.0
	for i, t := range tpls {
		// Popular templates dominate the mean, and the very long ones
		// weigh in beyond their popularity: sample them more.
		samples := max(2, int(popularity(cdf, i)*1000))
		if t.kind == kLong {
			samples = 12
		}
		n := 0
		for range samples {
			buf = w.render(buf[:0], t.segs)
			n += len(buf)
		}
		mean += popularity(cdf, i) * float64(n) / float64(samples)
	}
	return mean
}
