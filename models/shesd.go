package models

import (
	"fmt"
	"math"
	"slices"
)

// SHESDOptions parameterises SHESD, the batch Seasonal Hybrid ESD.
type SHESDOptions struct {
	// Period in points; 0 = detect it (DetectPeriod), -1 = no seasonality.
	Period int
	// Piece, in points, splits a long series into pieces analysed
	// separately (Twitter's longterm mode uses two weeks); 0 = one piece.
	// A piece must hold at least two periods.
	Piece int
	// ESD holds max_anoms (a fraction of each piece), alpha and the scale
	// floor of the generalized ESD test.
	ESD ESDOptions
	// NoChangePoints turns off the change-point segmentation (the plain
	// S-H-ESD behaviour, for comparison).
	NoChangePoints bool
}

// ChangeKind says what changed at a change point.
type ChangeKind uint8

const (
	ChangeLevel    ChangeKind = 1 // the level shifted
	ChangeVariance ChangeKind = 2 // the noise grew
)

func (k ChangeKind) String() string {
	if k == ChangeLevel {
		return "level"
	}
	return "variance"
}

// ChangePoint is where a CUSUM test on the robust residuals alarmed.
type ChangePoint struct {
	// Index is where the change began: for a level shift the start of the
	// CUSUM run that alarmed, for a variance change the alarm point.
	Index     int
	Kind      ChangeKind
	Direction Direction
}

// SHESDResult is what SHESD found.
type SHESDResult struct {
	Period       int
	Anomalies    []Outlier // sorted by index
	ChangePoints []ChangePoint
}

// SHESD runs Seasonal Hybrid ESD (Twitter's AnomalyDetection) over x:
// decompose each piece (Decompose: robust trend and per-phase medians),
// then the robust generalized ESD on the residuals. Where the original
// falls short, this version
//
//   - removes the trend (the original subtracts the median only, so a
//     trending window inflates the MAD and hides anomalies);
//   - floors the scale (MAD = 0 on constant or mostly-zero series would
//     give infinite or NaN statistics; see ESDOptions.MinScale);
//   - finds level shifts and variance increases with a CUSUM on the
//     standardised residuals, reports them as change points and tests each
//     segment between them against its own median and MAD (to ESD a level
//     shift is not a set of outliers, and a noisier segment would mask the
//     rest);
//   - is deterministic (ties broken by index). Its answer for a point
//     still depends on the window it is run over, which is why the online
//     detectors judge each point once, on arrival.
func SHESD(x []float64, opt SHESDOptions) (SHESDResult, error) {
	if _, err := opt.ESD.withDefaults(); err != nil {
		return SHESDResult{}, err
	}
	if opt.Period < -1 || opt.Piece < 0 {
		return SHESDResult{}, fmt.Errorf("models: shesd: period %d / piece %d out of range", opt.Period, opt.Piece)
	}
	period := opt.Period
	switch period {
	case 0:
		period, _ = DetectPeriod(x, nil)
	case -1, 1:
		period = 0
	}
	var res SHESDResult
	res.Period = period
	if len(x) < max(2*period, 8) {
		return res, fmt.Errorf("%w: S-H-ESD with period %d needs %d points, have %d", ErrTooShort, period, max(2*period, 8), len(x))
	}
	piece := opt.Piece
	if piece == 0 || piece >= len(x) {
		piece = len(x)
	}
	if piece < max(2*period, 8) {
		return res, fmt.Errorf("models: shesd: piece %d shorter than two periods (%d)", piece, 2*period)
	}
	for s := 0; s < len(x); s += piece {
		e := min(s+piece, len(x))
		if len(x)-e < piece/2 { // a short tail joins this piece
			e = len(x)
		}
		if err := shesdPiece(x[s:e], s, period, opt, &res); err != nil {
			return res, err
		}
		if e == len(x) {
			break
		}
	}
	slices.SortFunc(res.Anomalies, func(a, b Outlier) int { return a.Index - b.Index })
	return res, nil
}

func shesdPiece(x []float64, off, period int, opt SHESDOptions, res *SHESDResult) error {
	dc, err := Decompose(x, period)
	if err != nil {
		return err
	}
	r := dc.Resid
	segs := []int{0}
	if !opt.NoChangePoints {
		for _, cp := range changePoints(r) {
			res.ChangePoints = append(res.ChangePoints, ChangePoint{Index: cp.Index + off, Kind: cp.Kind, Direction: cp.Direction})
			segs = append(segs, cp.Index)
		}
	}
	segs = append(segs, len(r))
	esd := opt.ESD
	if esd.MinScale == 0 {
		// The floor follows the level of the series, not of the residuals.
		s := sortedCopy(x)
		if len(s) > 0 {
			esd.MinScale = math.Max(relFloor*math.Abs(medianSorted(s)), 1e-9)
			if s[0] >= 0 && allInts(s) {
				esd.MinScale = math.Max(esd.MinScale, 1)
			}
		}
	}
	for i := 0; i+1 < len(segs); i++ {
		a, b := segs[i], segs[i+1]
		if b-a < 8 {
			continue // too short to test; its start is a change point already
		}
		outs, err := GeneralizedESD(r[a:b], esd)
		if err != nil {
			continue // a segment of missing values
		}
		for _, o := range outs {
			o.Index += a + off
			res.Anomalies = append(res.Anomalies, o)
		}
	}
	return nil
}

func allInts(s []float64) bool {
	for _, v := range s {
		if v != math.Trunc(v) {
			return false
		}
	}
	return true
}

// changePoints runs the level and variance CUSUMs over residuals r,
// standardised by their median and MAD (re-estimated after each change
// from the points that follow it, so a change is not counted twice).
func changePoints(r []float64) []ChangePoint {
	var cps []ChangePoint
	start := 0
	for start < len(r) {
		// Reference from the next 64 points of the segment (or the rest).
		ref := sortedCopy(r[start:min(len(r), start+max(64, (len(r)-start)/2))])
		if len(ref) < 8 {
			break
		}
		m := medianSorted(ref)
		s := robustScaleSorted(ref, m, 1e-9*(math.Abs(m)+1))
		var c cusum
		found := false
		for i := start; i < len(r); i++ {
			if !finite(r[i]) {
				continue
			}
			v := c.step((r[i] - m) / s)
			if v.shift != DirNone || v.vol {
				cp := ChangePoint{Index: i, Kind: ChangeLevel, Direction: v.shift}
				if v.shift == DirNone {
					cp.Kind = ChangeVariance
				} else if b := i - int(c.run) + 1; b > start {
					cp.Index = b
				}
				cps = append(cps, cp)
				start = max(cp.Index, start+1)
				found = true
				break
			}
		}
		if !found {
			break
		}
	}
	return cps
}
