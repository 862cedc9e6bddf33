package models

import (
	"errors"
	"fmt"
	"math"
	"slices"
	"sort"
	"sync"

	"gonum.org/v1/gonum/stat/distuv"
)

// ESDOptions parameterises GeneralizedESD.
type ESDOptions struct {
	// MaxAnoms is the largest fraction of the points that may be flagged,
	// in (0, 0.5]; 0 = 0.02.
	MaxAnoms float64
	// Alpha is the significance level of each test, in (0, 0.5); 0 = 0.05.
	Alpha float64
	// MinScale is the smallest robust scale used; 0 = automatic: 0.5% of
	// |median|, and one count when every value is a non-negative integer.
	// It keeps the test finite on constant or mostly-zero data (MAD = 0).
	MinScale float64
}

func (o ESDOptions) withDefaults() (ESDOptions, error) {
	if o.MaxAnoms == 0 {
		o.MaxAnoms = 0.02
	}
	if o.Alpha == 0 {
		o.Alpha = 0.05
	}
	if !(o.MaxAnoms > 0 && o.MaxAnoms <= 0.5) {
		return o, fmt.Errorf("models: esd max anoms %v out of range (0, 0.5]", o.MaxAnoms)
	}
	if !(o.Alpha > 0 && o.Alpha < 0.5) {
		return o, fmt.Errorf("models: esd alpha %v out of range (0, 0.5)", o.Alpha)
	}
	if !(o.MinScale >= 0) || math.IsInf(o.MinScale, 0) {
		return o, fmt.Errorf("models: esd min scale %v must be a finite number ≥ 0", o.MinScale)
	}
	return o, nil
}

// Outlier is one point flagged by GeneralizedESD.
type Outlier struct {
	Index int     // position in the input
	Stat  float64 // R = |x − median| / robust scale when it was removed
	Crit  float64 // the critical value λ it was tested against
}

// ErrTooShort is returned by the batch functions for series too short for
// the requested analysis.
var ErrTooShort = errors.New("models: series too short")

// GeneralizedESD runs Rosner's generalized ESD test with robust statistics
// (median and MAD instead of mean and standard deviation, as in Twitter's
// AnomalyDetection) on x, ignoring NaNs, and returns the outliers in the
// order they were removed (most extreme first).
//
// The robust scale is max(1.4826·MAD, MinScale); when the MAD is 0 (a
// constant or mostly-zero series) the scaled mean absolute deviation is
// used instead, so the statistics are always finite. It runs in
// O(n log n): the most extreme point from the median is always at one end
// of the sorted remaining values.
func GeneralizedESD(x []float64, opt ESDOptions) ([]Outlier, error) {
	opt, err := opt.withDefaults()
	if err != nil {
		return nil, err
	}
	type iv struct {
		v float64
		i int
	}
	s := make([]iv, 0, len(x))
	counts := true
	for i, v := range x {
		if finite(v) {
			s = append(s, iv{v, i})
			if v < 0 || v != math.Trunc(v) {
				counts = false
			}
		}
	}
	n := len(s)
	if n < 3 {
		return nil, fmt.Errorf("%w: generalized ESD needs at least 3 values, have %d", ErrTooShort, n)
	}
	sort.Slice(s, func(a, b int) bool { return s[a].v < s[b].v || (s[a].v == s[b].v && s[a].i < s[b].i) })
	vals := make([]float64, n)
	for i := range s {
		vals[i] = s[i].v
	}
	k := int(opt.MaxAnoms * float64(n))
	if k > n-3 {
		k = n - 3
	}
	floor := opt.MinScale
	if floor == 0 {
		floor = math.Max(relFloor*math.Abs(medianSorted(vals)), 1e-9)
		if counts {
			floor = math.Max(floor, 1)
		}
	}
	lo, hi := 0, n // remaining: vals[lo:hi]
	removed := make([]Outlier, 0, k)
	last := 0
	for i := 1; i <= k; i++ {
		r := vals[lo:hi]
		m := medianSorted(r)
		sc := robustScaleSorted(r, m, floor)
		var idx int
		var R float64
		if m-r[0] >= r[len(r)-1]-m {
			idx, R = s[lo].i, (m-r[0])/sc
			lo++
		} else {
			idx, R = s[hi-1].i, (r[len(r)-1]-m)/sc
			hi--
		}
		lam := esdCritical(n, i, opt.Alpha)
		removed = append(removed, Outlier{Index: idx, Stat: R, Crit: lam})
		if R > lam {
			last = i
		}
	}
	return removed[:last], nil
}

// medianSorted returns the median of sorted s (len ≥ 1).
func medianSorted(s []float64) float64 {
	n := len(s)
	if n%2 == 1 {
		return s[n/2]
	}
	return (s[n/2-1] + s[n/2]) / 2
}

// robustScaleSorted returns max(1.4826·MAD, floor) of sorted s around its
// median m, using 1.2533·mean absolute deviation when the MAD is 0.
func robustScaleSorted(s []float64, m, floor float64) float64 {
	mad := madSorted(s, m)
	sc := 1.4826 * mad
	if sc == 0 {
		var sum float64
		for _, v := range s {
			sum += math.Abs(v - m)
		}
		sc = meanAbsToSigma * sum / float64(len(s))
	}
	return math.Max(sc, floor)
}

// madSorted is the median of |s[i] − m| for sorted s, by k-th selection
// over the two sorted runs of deviations on either side of m: O(log n).
func madSorted(s []float64, m float64) float64 {
	n := len(s)
	if n == 0 {
		return 0
	}
	kth := func(k int) float64 {
		p := sort.SearchFloat64s(s, m)
		nl, nr := p, n-p
		left := func(i int) float64 { return m - s[p-1-i] }
		right := func(j int) float64 { return s[p+j] - m }
		lo, hi := max(0, k+1-nr), min(k+1, nl)
		for lo < hi {
			a := (lo + hi) / 2
			b := k + 1 - a
			if b > 0 && a < nl && left(a) < right(b-1) {
				lo = a + 1
			} else {
				hi = a
			}
		}
		a, b := lo, k+1-lo
		var v float64
		if a > 0 {
			v = left(a - 1)
		}
		if b > 0 && right(b-1) > v {
			v = right(b - 1)
		}
		return v
	}
	if n%2 == 1 {
		return kth(n / 2)
	}
	return (kth(n/2-1) + kth(n/2)) / 2
}

// esdCritical is Rosner's λ_i for n observations at step i (1-based):
// (n−i)·t / sqrt((n−i−1+t²)(n−i+1)), t the Student-t quantile at
// 1 − α/(2(n−i+1)) with n−i−1 degrees of freedom.
func esdCritical(n, i int, alpha float64) float64 {
	df := n - i - 1
	if df < 1 {
		return math.Inf(1)
	}
	p := 1 - alpha/(2*float64(n-i+1))
	t := distuv.StudentsT{Mu: 0, Sigma: 1, Nu: float64(df)}.Quantile(p)
	ni := float64(n - i)
	return ni * t / math.Sqrt((ni-1+t*t)*(ni+1))
}

// esdTable caches λ for the online ESD test: crit[n][rank-1] for window
// sizes n ≤ maxN and ranks ≤ maxRank. It is immutable once built and is
// shared by every detector one factory makes.
type esdTable struct {
	once    sync.Once
	maxN    int
	maxRank int
	alpha   float64
	crit    [][]float64
}

func (t *esdTable) get(n, rank int) float64 {
	t.once.Do(func() {
		t.crit = make([][]float64, t.maxN+1)
		for m := 3; m <= t.maxN; m++ {
			row := make([]float64, t.maxRank)
			for r := range row {
				row[r] = esdCritical(m, r+1, t.alpha)
			}
			t.crit[m] = row
		}
	})
	if n < 3 || n > t.maxN || rank < 1 || rank > t.maxRank {
		return math.Inf(1)
	}
	return t.crit[n][rank-1]
}

// sortedCopy returns the finite values of x, sorted.
func sortedCopy(x []float64) []float64 {
	s := make([]float64, 0, len(x))
	for _, v := range x {
		if finite(v) {
			s = append(s, v)
		}
	}
	slices.Sort(s)
	return s
}
