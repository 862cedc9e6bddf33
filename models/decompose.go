package models

import (
	"fmt"
	"math"
	"slices"

	"gonum.org/v1/gonum/dsp/fourier"
)

// Decomposition splits a series into trend + seasonal + residual.
type Decomposition struct {
	Period   int       // seasonal period in points; 0 = none
	Trend    []float64 // robust trend (piecewise-linear through piece medians)
	Seasonal []float64 // seasonal component, median 0 over one period
	Resid    []float64 // x − trend − seasonal; NaN where x is missing
}

// minACF is the autocorrelation a period needs to count as seasonality.
const minACF = 0.3

// DetectPeriod returns the seasonal period of x in points and its
// autocorrelation, or 0 when x shows no seasonality (no candidate reaches
// an autocorrelation of 0.3 after the linear trend is removed). Missing
// values (NaN) are filled by interpolation. A period needs two full cycles.
//
// With candidates (e.g. a day and a week in points), only those lags are
// scored; the shortest whose autocorrelation is within 90% of the best
// wins, so a daily pattern is not reported as weekly because every week
// also repeats it. With no candidates, every lag 2..len(x)/2 is scored
// from an FFT autocorrelation and the same rule picks among its peaks.
func DetectPeriod(x []float64, candidates []int) (period int, acf float64) {
	return detectPeriod(x, candidates, nil)
}

// acfScratch keeps an FFT plan and buffers between period detections.
type acfScratch struct {
	fft   *fourier.FFT
	buf   []float64
	coeff []complex128
	y, ac []float64
}

func detectPeriod(x []float64, candidates []int, sc *acfScratch) (period int, acf float64) {
	if sc == nil {
		sc = &acfScratch{}
	}
	y := fillAndDetrend(x, sc.y)
	sc.y = y
	n := len(y)
	if y == nil {
		return 0, 0
	}
	if n < 8 {
		return 0, 0
	}
	var vy, vx float64
	for i, v := range y {
		vy += v * v
		if finite(x[i]) {
			vx += x[i] * x[i]
		}
	}
	if !(vy > 1e-12*vx) {
		return 0, 0 // a line or a constant: no seasonality
	}
	ac := autocorr(y, sc)
	if ac == nil {
		return 0, 0
	}
	type cand struct {
		lag int
		r   float64
	}
	var cs []cand
	if candidates != nil {
		for _, l := range candidates {
			if l >= 2 && 2*l <= n {
				cs = append(cs, cand{l, ac[l]})
			}
		}
	} else {
		for l := 2; 2*l <= n; l++ {
			if ac[l] >= ac[l-1] && (l+1 >= len(ac) || ac[l] >= ac[l+1]) {
				cs = append(cs, cand{l, ac[l]})
			}
		}
	}
	best := 0.0
	for _, c := range cs {
		best = math.Max(best, c.r)
	}
	if best < minACF {
		return 0, best
	}
	slices.SortFunc(cs, func(a, b cand) int { return a.lag - b.lag })
	for _, c := range cs {
		if c.r >= 0.9*best {
			return c.lag, c.r
		}
	}
	return 0, best
}

// fillAndDetrend returns x with NaNs linearly interpolated (edges held)
// and the least-squares line removed.
func fillAndDetrend(x, dst []float64) []float64 {
	y := append(dst[:0], x...)
	prev := -1
	for i, v := range y {
		if !finite(v) {
			continue
		}
		switch {
		case prev < 0:
			for j := 0; j < i; j++ {
				y[j] = v
			}
		case i-prev > 1:
			for j := prev + 1; j < i; j++ {
				f := float64(j-prev) / float64(i-prev)
				y[j] = y[prev] + f*(v-y[prev])
			}
		}
		prev = i
	}
	if prev < 0 {
		return nil
	}
	for j := prev + 1; j < len(y); j++ {
		y[j] = y[prev]
	}
	n := float64(len(y))
	var sx, sy, sxx, sxy float64
	for i, v := range y {
		fi := float64(i)
		sx += fi
		sy += v
		sxx += fi * fi
		sxy += fi * v
	}
	den := n*sxx - sx*sx
	b := 0.0
	if den != 0 {
		b = (n*sxy - sx*sy) / den
	}
	a := (sy - b*sx) / n
	for i := range y {
		y[i] -= a + b*float64(i)
	}
	return y
}

// autocorr returns the autocorrelation of y at lags 0..len(y)-1 via FFT,
// or nil for a constant y.
func autocorr(y []float64, sc *acfScratch) []float64 {
	n := len(y)
	m := 1
	for m < 2*n {
		m <<= 1
	}
	if sc.fft == nil || sc.fft.Len() != m {
		sc.fft = fourier.NewFFT(m)
		sc.buf = make([]float64, m)
		sc.coeff = make([]complex128, m/2+1)
	}
	buf := sc.buf
	copy(buf, y)
	clear(buf[n:])
	c := sc.fft.Coefficients(sc.coeff, buf)
	for i, v := range c {
		c[i] = complex(real(v)*real(v)+imag(v)*imag(v), 0)
	}
	acv := sc.fft.Sequence(buf, c)
	if !(acv[0] > 1e-12*float64(m)) {
		return nil
	}
	sc.ac = grow(sc.ac, n)
	ac := sc.ac
	for l := range ac {
		// Unbiased at each lag: the overlap shrinks with the lag.
		ac[l] = acv[l] / acv[0] * float64(n) / float64(n-l)
	}
	return ac
}

// Decompose splits x into a robust trend, a seasonal component with the
// given period (points; 0 or 1 = none) and residuals. It is median-based,
// so outliers do not bend the components:
//
//   - trend: the series is cut into pieces of one period (at least 16
//     points); the trend is the piecewise-linear curve through the pieces'
//     medians, extended beyond the first and last piece centres with the
//     Theil–Sen slope of those medians. On long series this is Twitter's
//     piecewise median, but it also removes a trend inside the window
//     (a trend inflates the MAD in the original S-H-ESD).
//   - seasonal: the median, over cycles, of the detrended value at each
//     phase, shifted to median 0.
//
// Two rounds are made (trend of the deseasonalised series, then the
// seasonal of the detrended one). x needs two full periods.
func Decompose(x []float64, period int) (Decomposition, error) {
	if period < 0 {
		return Decomposition{}, fmt.Errorf("models: negative period %d", period)
	}
	if period == 1 {
		period = 0
	}
	if period > 0 && len(x) < 2*period {
		return Decomposition{}, fmt.Errorf("%w: decomposition with period %d needs %d points, have %d", ErrTooShort, period, 2*period, len(x))
	}
	var ws decomposer
	dc := Decomposition{Period: period, Trend: make([]float64, len(x)), Seasonal: make([]float64, len(x)), Resid: make([]float64, len(x))}
	if !ws.run(x, period, dc.Trend, dc.Seasonal) {
		return Decomposition{}, fmt.Errorf("%w: no finite values", ErrTooShort)
	}
	for i, v := range x {
		dc.Resid[i] = v - dc.Trend[i] - dc.Seasonal[i]
	}
	return dc, nil
}

// decomposer holds the scratch buffers of a decomposition so a caller
// that decomposes repeatedly (the online shesd refit) does not allocate.
type decomposer struct {
	y, tmp       []float64
	centres, med []float64
	slopes       []float64
	phase        [][]float64
	// after run: the trend extended past the end is
	// lastMed + slope·(i − lastCentre).
	lastMed, lastCentre, slope float64
}

func grow(s []float64, n int) []float64 {
	if cap(s) < n {
		return make([]float64, n)
	}
	return s[:n]
}

// run fills trend and seasonal (each len(x)); false when x has no finite
// value.
func (w *decomposer) run(x []float64, period int, trend, seasonal []float64) bool {
	return w.runPiece(x, period, max(period, 16), trend, seasonal)
}

// runPiece is run with the trend's piece length given.
func (w *decomposer) runPiece(x []float64, period, piece int, trend, seasonal []float64) bool {
	n := len(x)
	for i := range seasonal {
		seasonal[i] = 0
	}
	w.y = grow(w.y, n)
	for round := 0; round < 2; round++ {
		for i, v := range x {
			w.y[i] = v - seasonal[i]
		}
		if !w.trend(w.y, piece, trend) {
			return false
		}
		if period < 2 {
			return true
		}
		w.seasonal(x, trend, period, seasonal)
	}
	return true
}

// trend fits the piecewise-linear trend through piece medians.
func (w *decomposer) trend(y []float64, piece int, trend []float64) bool {
	n := len(y)
	w.centres, w.med = w.centres[:0], w.med[:0]
	for s, e := 0, 0; s < n; s = e {
		e = min(s+piece, n)
		if n-e < piece/2 {
			e = n // a short tail joins the last piece
		}
		w.tmp = w.tmp[:0]
		for _, v := range y[s:e] {
			if finite(v) {
				w.tmp = append(w.tmp, v)
			}
		}
		if len(w.tmp) == 0 {
			continue
		}
		w.centres = append(w.centres, float64(s+e-1)/2)
		w.med = append(w.med, medianSelect(w.tmp))
	}
	p := len(w.med)
	if p == 0 {
		return false
	}
	// Theil–Sen slope of the piece medians for the edges.
	slope := 0.0
	w.slopes = w.slopes[:0]
	// Over at most 17 evenly spread pieces (the last always included):
	// O(1) per decomposition whatever the length.
	stride := (p + 15) / 16
	for i := (p - 1) % stride; i < p; i += stride {
		for j := i + stride; j < p; j += stride {
			w.slopes = append(w.slopes, (w.med[j]-w.med[i])/(w.centres[j]-w.centres[i]))
		}
	}
	if len(w.slopes) > 0 {
		slices.Sort(w.slopes)
		slope = medianSorted(w.slopes)
	}
	w.lastMed, w.lastCentre, w.slope = w.med[p-1], w.centres[p-1], slope
	j := 0
	for i := 0; i < n; i++ {
		fi := float64(i)
		switch {
		case fi <= w.centres[0]:
			trend[i] = w.med[0] + slope*(fi-w.centres[0])
		case fi >= w.centres[p-1]:
			trend[i] = w.med[p-1] + slope*(fi-w.centres[p-1])
		default:
			for w.centres[j+1] < fi {
				j++
			}
			f := (fi - w.centres[j]) / (w.centres[j+1] - w.centres[j])
			trend[i] = w.med[j] + f*(w.med[j+1]-w.med[j])
		}
	}
	return true
}

// seasonal sets the per-phase median of x − trend, centred to median 0.
func (w *decomposer) seasonal(x, trend []float64, period int, seasonal []float64) {
	if len(w.phase) < period {
		w.phase = append(w.phase, make([][]float64, period-len(w.phase))...)
	}
	w.tmp = grow(w.tmp, period)
	for ph := 0; ph < period; ph++ {
		g := w.phase[ph][:0]
		for i := ph; i < len(x); i += period {
			if finite(x[i]) {
				g = append(g, x[i]-trend[i])
			}
		}
		w.phase[ph] = g
		if len(g) == 0 {
			w.tmp[ph] = math.NaN()
			continue
		}
		slices.Sort(g)
		w.tmp[ph] = medianSorted(g)
	}
	// Phases never observed borrow their neighbour; then centre.
	last := 0.0
	for ph := 0; ph < period; ph++ {
		if math.IsNaN(w.tmp[ph]) {
			w.tmp[ph] = last
		}
		last = w.tmp[ph]
	}
	c := slices.Clone(w.tmp[:period])
	slices.Sort(c)
	off := medianSorted(c)
	for i := range seasonal {
		seasonal[i] = w.tmp[i%period] - off
	}
}

// medianSelect returns the median of s in expected O(len(s)) by
// quickselect; s is reordered.
func medianSelect(s []float64) float64 {
	n := len(s)
	hi := nthSmallest(s, n/2)
	if n%2 == 1 {
		return hi
	}
	// The lower middle is the largest of the left part.
	lo := s[0]
	for _, v := range s[1 : n/2] {
		lo = math.Max(lo, v)
	}
	return (lo + hi) / 2
}

// nthSmallest partially sorts s so that s[k] holds the k-th smallest value
// (0-based), everything before it ≤ it and after it ≥ it, and returns it.
func nthSmallest(s []float64, k int) float64 {
	lo, hi := 0, len(s)-1
	for lo < hi {
		// Median of three as the pivot keeps sorted input linear.
		mid := lo + (hi-lo)/2
		if s[mid] < s[lo] {
			s[mid], s[lo] = s[lo], s[mid]
		}
		if s[hi] < s[lo] {
			s[hi], s[lo] = s[lo], s[hi]
		}
		if s[hi] < s[mid] {
			s[hi], s[mid] = s[mid], s[hi]
		}
		p := s[mid]
		i, j := lo, hi
		for i <= j {
			for s[i] < p {
				i++
			}
			for s[j] > p {
				j--
			}
			if i <= j {
				s[i], s[j] = s[j], s[i]
				i++
				j--
			}
		}
		switch {
		case k <= j:
			hi = j
		case k >= i:
			lo = i
		default:
			return s[k]
		}
	}
	return s[k]
}
