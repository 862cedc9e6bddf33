package eval

import (
	"fmt"
	"math"
	"time"

	"github.com/das-project/das/models"
)

// Kind is the kind of a labelled anomaly.
type Kind string

const (
	// KindSpike: one to three points far above the expected value.
	KindSpike Kind = "spike"
	// KindDip: one to five points far below it (an outage to zero included).
	KindDip Kind = "dip"
	// KindLevelShift: a permanent step of the level; only its first
	// LevelShiftWindow points are the window in which to detect it.
	KindLevelShift Kind = "level_shift"
	// KindVarianceChange: the noise grows three to five times for 60-240
	// points, the mean unchanged.
	KindVarianceChange Kind = "variance_change"
	// KindCountBurst: a burst on a near-zero count series (error counts),
	// where the median absolute deviation is 0.
	KindCountBurst Kind = "count_burst"
	// KindNone labels a clean series: every alert on it is a false alarm.
	KindNone Kind = "none"
)

// Kinds returns the kinds in report order, KindNone last.
func Kinds() []Kind {
	return []Kind{KindSpike, KindDip, KindLevelShift, KindVarianceChange, KindCountBurst, KindNone}
}

// LevelShiftWindow is the number of points after a level shift's onset in
// which an alert detects it; a later alert is a false alarm.
const LevelShiftWindow = 30

// TimeFormat is how a series' timestamps are written to CSV; the benchmark
// uses every format `das detect` reads.
type TimeFormat int

const (
	FormatRFC3339       TimeFormat = iota // 2024-01-01T00:00:00Z
	FormatRFC3339Offset                   // 2024-01-01T08:00:00+08:00
	FormatDateTime                        // 2024-01-01 00:00:00 (UTC)
	FormatUnixSeconds                     // 1704067200
	FormatUnixMillis                      // 1704067200000
	FormatDate                            // 2024-01-01
)

// Append appends the text of Unix-millisecond timestamp ms to b.
func (f TimeFormat) Append(b []byte, ms int64) []byte {
	t := time.UnixMilli(ms).UTC()
	switch f {
	case FormatRFC3339Offset:
		return t.In(time.FixedZone("", 8*3600)).AppendFormat(b, time.RFC3339)
	case FormatDateTime:
		return t.AppendFormat(b, time.DateTime)
	case FormatUnixSeconds:
		return fmt.Appendf(b, "%d", ms/1000)
	case FormatUnixMillis:
		return fmt.Appendf(b, "%d", ms)
	case FormatDate:
		return t.AppendFormat(b, time.DateOnly)
	}
	return t.AppendFormat(b, time.RFC3339)
}

// Label marks one injected anomaly: detecting it means an alert at a
// timestamp in [Start, End] (plus the scorer's tolerance after End).
type Label struct {
	Kind  Kind
	Start int64 // Unix ms of the first anomalous point
	End   int64 // Unix ms of the last point of the window (inclusive)
}

// Series is one labelled benchmark series.
type Series struct {
	// Name is profile-kind, e.g. "qps_1m-spike"; unique within a seed.
	Name     string
	Profile  string
	Kind     Kind // the kind of every label; KindNone for a clean series
	Seed     uint64
	Interval time.Duration
	Format   TimeFormat
	// Points in time order; missing points are either absent (a gap) or
	// carry a NaN value.
	Points []models.Point
	Labels []Label
}

// GenOptions parameterises Generate; the zero value is the benchmark.
type GenOptions struct {
	// Scale multiplies every series' length (default 1). Below 1 the
	// series are shorter, for tests; each keeps at least 400 points, so
	// that its labelled windows never overlap.
	Scale float64
}

type noiseKind int

const (
	noiseGauss   noiseKind = iota // AR(1) gaussian
	noiseHeavy                    // Student-t, 3 degrees of freedom
	noisePoisson                  // the value itself is a Poisson count
)

type cycle struct {
	period time.Duration
	amp    float64 // fraction of the level
}

// profile is one kind of series: what a metric of that kind looks like.
type profile struct {
	name     string
	interval time.Duration
	length   time.Duration
	format   TimeFormat
	kinds    []Kind
	level    float64 // mean level (for counts: the Poisson mean)
	daily    float64 // daily amplitude, fraction of the level
	weekend  float64 // how much lower Saturdays and Sundays are, fraction
	cycles   []cycle // further sinusoidal cycles
	trend    float64 // level change per day, fraction of the level
	noise    noiseKind
	sigma    float64 // noise standard deviation, fraction of the level
	ar       float64 // AR(1) coefficient of gaussian noise
	nearZero bool    // a near-zero count series (level shifts go up only)
}

// benchmarkStart is the first timestamp of every series, a Monday.
const benchmarkStart = int64(1704067200000) // 2024-01-01T00:00:00Z

// profiles is the benchmark's grid: each profile is generated once per kind
// it lists. The mix covers sampling intervals from 10 s to 1 day, daily and
// weekly seasonality, trends, gaussian, heavy-tailed and Poisson noise.
func profiles() []profile {
	return []profile{
		{name: "qps_1m", interval: time.Minute, length: 10 * 24 * time.Hour, format: FormatRFC3339,
			kinds: []Kind{KindSpike, KindDip, KindLevelShift, KindVarianceChange, KindNone},
			level: 1000, daily: 0.35, weekend: 0.25, trend: 0.01, noise: noiseGauss, sigma: 0.03, ar: 0.3},
		{name: "latency_5m", interval: 5 * time.Minute, length: 21 * 24 * time.Hour, format: FormatDateTime,
			kinds: []Kind{KindSpike, KindLevelShift, KindVarianceChange, KindNone},
			level: 25, daily: 0.2, noise: noiseHeavy, sigma: 0.05},
		{name: "errors_1m", interval: time.Minute, length: 5 * 24 * time.Hour, format: FormatUnixSeconds,
			kinds: []Kind{KindCountBurst, KindLevelShift, KindNone},
			level: 0.2, daily: 0.5, noise: noisePoisson, nearZero: true},
		{name: "deadlocks_5m", interval: 5 * time.Minute, length: 14 * 24 * time.Hour, format: FormatRFC3339,
			kinds: []Kind{KindCountBurst, KindNone},
			level: 0.05, daily: 0.3, noise: noisePoisson, nearZero: true},
		{name: "orders_1h", interval: time.Hour, length: 120 * 24 * time.Hour, format: FormatRFC3339Offset,
			kinds: []Kind{KindSpike, KindDip, KindLevelShift, KindNone},
			level: 300, daily: 0.6, weekend: 0.2, trend: 0.004, noise: noisePoisson},
		{name: "fast_10s", interval: 10 * time.Second, length: 24 * time.Hour, format: FormatUnixMillis,
			kinds: []Kind{KindSpike, KindLevelShift, KindVarianceChange},
			level: 50, daily: 0.2, cycles: []cycle{{time.Hour, 0.1}}, noise: noiseGauss, sigma: 0.04, ar: 0.6},
		{name: "sales_1d", interval: 24 * time.Hour, length: 730 * 24 * time.Hour, format: FormatDate,
			kinds: []Kind{KindSpike, KindDip, KindLevelShift, KindNone},
			level: 5000, weekend: 0.3, trend: 0.0005, noise: noiseGauss, sigma: 0.04},
	}
}

// Generate returns the benchmark series of one seed. The same seed and
// options give the same series, bit for bit, on every platform Go's math
// package is exact on; each series draws from its own random stream, so a
// series does not change when others are added.
func Generate(seed uint64, opt GenOptions) []Series {
	scale := opt.Scale
	if scale <= 0 {
		scale = 1
	}
	var out []Series
	for pi, p := range profiles() {
		for ki, k := range p.kinds {
			r := newRNG(seed, uint64(pi)<<8|uint64(ki))
			out = append(out, p.generate(seed, k, r, scale))
		}
	}
	return out
}

// weekendness is 1 from Saturday 00:00 to Monday 00:00 UTC, 0 on weekdays,
// with 6-hour smooth ramps centred on those midnights: traffic changes
// over an evening, not in a minute.
func weekendness(ms int64) float64 {
	const h = 0.125 // half a ramp, in days
	// Days since Friday 00:00: 1970-01-02 was a Friday.
	u := math.Mod(float64(ms-86400000)/86400e3, 7)
	if u < 0 {
		u += 7
	}
	smooth := func(z float64) float64 {
		z = min(max(z, 0), 1)
		return z * z * (3 - 2*z)
	}
	return smooth((u-1+h)/(2*h)) - smooth((u-3+h)/(2*h))
}

// edit is a point anomaly applied after the noise.
type edit struct {
	i    int
	kind Kind
	mag  float64 // spike/dip: amount; outage: -1
}

func (p profile) generate(seed uint64, kind Kind, r *rng, scale float64) Series {
	n := max(int(float64(p.length/p.interval)*scale), 400)
	iv := p.interval.Milliseconds()
	level := p.level * r.uniform(0.7, 1.3)
	phase := r.uniform(-2, 2) // hours
	trend := p.trend * r.uniform(0.5, 1.5)
	if p.noise != noisePoisson {
		trend *= r.sign()
	}
	sigma := p.sigma * level

	// The expected value of every point without anomalies.
	mean := make([]float64, n)
	for i := range mean {
		// A point stands for its sampling bucket: evaluate the shape at
		// the bucket's middle (a daily point is the whole day).
		t := benchmarkStart + int64(i)*iv + iv/2
		days := float64(int64(i)*iv) / 86400e3
		hour := float64(t%86400000)/3600e3 - phase
		m := 1 + trend*days
		if p.daily != 0 {
			// Trough around 04:00, peak in the afternoon, a second harmonic
			// for a less sinusoidal day.
			x := 2 * math.Pi * (hour - 4) / 24
			m *= 1 + p.daily*(-0.8*math.Cos(x)-0.2*math.Cos(2*x))
		}
		if p.weekend != 0 {
			m *= 1 - p.weekend*weekendness(t)
		}
		for _, c := range p.cycles {
			m += c.amp * math.Sin(2*math.Pi*float64(t%c.period.Milliseconds())/float64(c.period.Milliseconds()))
		}
		mean[i] = level * m
	}

	// Plan the anomalies: k events, one in each of k equal segments of the
	// series after a warm-up of a fifth of it.
	shift := make([]float64, n)
	varMult := make([]float64, n)
	for i := range varMult {
		varMult[i] = 1
	}
	var labels []Label
	var edits []edit
	label := func(a, b int) {
		labels = append(labels, Label{Kind: kind, Start: benchmarkStart + int64(a)*iv, End: benchmarkStart + int64(b)*iv})
	}
	noiseAt := func(i int) float64 { // the noise's standard deviation at i
		if p.noise == noisePoisson {
			return math.Sqrt(max(mean[i], 1))
		}
		return sigma
	}
	if kind != KindNone {
		const events = 3
		start := n / 5
		seg := (n - start - LevelShiftWindow) / events
		cum := 0.0
		for e := range events {
			s0 := start + e*seg
			on := s0 + seg/4 + r.intn(max(seg/4, 1))
			switch kind {
			case KindSpike:
				d := 1
				if r.float() < 0.4 {
					d = r.between(2, 3)
				}
				for j := on; j < on+d; j++ {
					m := r.uniform(6, 12)
					if p.noise == noiseHeavy {
						m = r.uniform(10, 20)
					}
					edits = append(edits, edit{j, kind, m * noiseAt(j)})
				}
				label(on, on+d-1)
			case KindDip:
				if r.float() < 0.3 { // an outage: the series drops to zero
					d := r.between(1, 5)
					for j := on; j < on+d; j++ {
						edits = append(edits, edit{j, kind, -1})
					}
					label(on, on+d-1)
					break
				}
				d := r.between(1, 3)
				for j := on; j < on+d; j++ {
					edits = append(edits, edit{j, kind, r.uniform(6, 12) * noiseAt(j)})
				}
				label(on, on+d-1)
			case KindCountBurst:
				d := r.between(1, 5)
				for j := on; j < on+d; j++ {
					edits = append(edits, edit{j, kind, r.uniform(8, 25)})
				}
				label(on, on+d-1)
			case KindLevelShift:
				sd := sigma
				if p.noise == noisePoisson {
					sd = math.Sqrt(level)
				}
				sgn := r.sign()
				switch {
				case p.nearZero || cum < 0:
					sgn = 1
				case cum > 0:
					sgn = -1
				}
				delta := sgn * r.uniform(4, 8) * sd
				cum += delta
				for j := on; j < n; j++ {
					shift[j] += delta
				}
				label(on, on+LevelShiftWindow-1)
			case KindVarianceChange:
				d := max(min(r.between(60, 240), seg/2), 1)
				f := r.uniform(3, 5)
				for j := on; j < on+d; j++ {
					varMult[j] = f
				}
				label(on, on+d-1)
			}
		}
	}

	// Draw the values.
	vals := make([]float64, n)
	ar := 0.0
	for i := range vals {
		m := max(mean[i]+shift[i], 0)
		switch p.noise {
		case noiseGauss:
			ar = p.ar*ar + math.Sqrt(1-p.ar*p.ar)*r.normal()
			vals[i] = m + sigma*varMult[i]*ar
		case noiseHeavy:
			vals[i] = m + sigma*varMult[i]*r.studentT3()
		case noisePoisson:
			v := r.poisson(m)
			if varMult[i] != 1 {
				v += math.Round((varMult[i] - 1) * math.Sqrt(max(m, 1)) * r.normal())
			}
			vals[i] = v
		}
	}
	for _, e := range edits {
		switch {
		case e.kind == KindCountBurst:
			vals[e.i] += r.poisson(e.mag)
		case e.kind == KindSpike:
			if p.noise == noisePoisson {
				vals[e.i] += math.Round(e.mag)
			} else {
				vals[e.i] += e.mag
			}
		case e.mag < 0: // outage
			vals[e.i] = 0
		case p.noise == noisePoisson:
			vals[e.i] = r.poisson(max(mean[e.i]+shift[e.i], 0) * r.uniform(0, 0.3))
		default:
			vals[e.i] -= e.mag
		}
	}
	for i, v := range vals {
		// Metrics are not negative; three decimals make the CSV exact.
		vals[i] = math.Round(max(v, 0)*1000) / 1000
	}

	// Missing data: isolated NaN values and a few gaps, kept away from the
	// labelled windows so that every window's first point exists.
	busy := make([]bool, n)
	for _, l := range labels {
		a := int((l.Start-benchmarkStart)/iv) - 10
		b := int((l.End-benchmarkStart)/iv) + 10
		for j := max(a, 0); j <= min(b, n-1); j++ {
			busy[j] = true
		}
	}
	drop := make([]bool, n)
	for range 2 {
		l := r.between(3, max(3, n/300))
		for try := 0; try < 20; try++ {
			a := r.intn(n - l)
			ok := true
			for j := a; j < a+l; j++ {
				ok = ok && !busy[j]
			}
			if ok {
				for j := a; j < a+l; j++ {
					drop[j] = true
				}
				break
			}
		}
	}
	pts := make([]models.Point, 0, n)
	for i, v := range vals {
		if r.float() < 0.002 && !busy[i] {
			v = math.NaN()
		}
		if drop[i] {
			continue
		}
		pts = append(pts, models.Point{T: benchmarkStart + int64(i)*iv, V: v})
	}
	return Series{
		Name: p.name + "-" + string(kind), Profile: p.name, Kind: kind, Seed: seed,
		Interval: p.interval, Format: p.format, Points: pts, Labels: labels,
	}
}
