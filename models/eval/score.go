package eval

import (
	"math"
	"sort"
)

// ScoreOptions parameterises Score; the zero value uses the defaults.
type ScoreOptions struct {
	// Tolerance is how many points after a window's end an alert still
	// detects it (default 3; negative means 0).
	Tolerance int
	// FalseAlarmCost is what each false alarm costs in the window score,
	// against a reward of about 1 for a detection at a window's start
	// (default 0.11, the Numenta Anomaly Benchmark's standard profile).
	FalseAlarmCost float64
	// MissCost is what each missed window costs (default 1).
	MissCost float64
}

func (o ScoreOptions) withDefaults() ScoreOptions {
	if o.Tolerance == 0 {
		o.Tolerance = 3
	}
	if o.Tolerance < 0 {
		o.Tolerance = 0
	}
	if o.FalseAlarmCost == 0 {
		o.FalseAlarmCost = 0.11
	}
	if o.MissCost == 0 {
		o.MissCost = 1
	}
	return o
}

// Counts is the event-based tally of one kind (or of all kinds). Precision,
// recall, F1 and the window score are derived from it, so tallies of
// several seeds or kinds add up with Add.
type Counts struct {
	Series, Points int
	Windows        int     // labelled windows
	TP             int     // windows with at least one alert in them
	FP             int     // alerts outside every window (+ tolerance)
	DelaySum       float64 // sum over detected windows of the first alert's delay, in points
	// Reward is the window score's sum: for each detected window the
	// scaled sigmoid of the first alert's position, minus FalseAlarmCost
	// per false alarm and MissCost per missed window.
	Reward float64
	// Best is the sum a perfect detector reaches (an alert at every
	// window's first point); Null the sum of the detector that never
	// fires (-MissCost per window).
	Best, Null float64
}

// Add adds o to c.
func (c *Counts) Add(o Counts) {
	c.Series += o.Series
	c.Points += o.Points
	c.Windows += o.Windows
	c.TP += o.TP
	c.FP += o.FP
	c.DelaySum += o.DelaySum
	c.Reward += o.Reward
	c.Best += o.Best
	c.Null += o.Null
}

// FN is the number of windows without an alert.
func (c Counts) FN() int { return c.Windows - c.TP }

// Precision is TP/(TP+FP); NaN when there was no alert at all.
func (c Counts) Precision() float64 {
	if c.TP+c.FP == 0 {
		return math.NaN()
	}
	return float64(c.TP) / float64(c.TP+c.FP)
}

// Recall is TP/windows; NaN when there is no window.
func (c Counts) Recall() float64 {
	if c.Windows == 0 {
		return math.NaN()
	}
	return float64(c.TP) / float64(c.Windows)
}

// F1 is the harmonic mean of precision and recall; 0 when either is 0 or
// undefined and there are windows, NaN when there are none.
func (c Counts) F1() float64 {
	if c.Windows == 0 {
		return math.NaN()
	}
	p, r := c.Precision(), c.Recall()
	if math.IsNaN(p) || p+r == 0 {
		return 0
	}
	return 2 * p * r / (p + r)
}

// MeanDelay is the mean number of points from a window's start to its first
// alert, over detected windows; NaN when none was detected.
func (c Counts) MeanDelay() float64 {
	if c.TP == 0 {
		return math.NaN()
	}
	return c.DelaySum / float64(c.TP)
}

// FalseAlarmsPer10k is the number of false alarms per 10,000 points.
func (c Counts) FalseAlarmsPer10k() float64 {
	if c.Points == 0 {
		return math.NaN()
	}
	return 1e4 * float64(c.FP) / float64(c.Points)
}

// WindowScore is the normalised window score: 100 for the perfect
// detector, 0 for the detector that never fires, negative for one whose
// false alarms cost more than its detections earn. NaN without windows.
func (c Counts) WindowScore() float64 {
	if c.Windows == 0 || c.Best == c.Null {
		return math.NaN()
	}
	return 100 * (c.Reward - c.Null) / (c.Best - c.Null)
}

// scaledSigmoid is NAB's reward for a detection at relative position y in
// its window: y = -1 at the window's start, 0 just past its end; it falls
// from about 0.987 at the start to 0 at the end.
func scaledSigmoid(y float64) float64 {
	return 2/(1+math.Exp(5*y)) - 1
}

// ScoreSeries scores the alert timestamps (Unix ms, any order) raised on s.
// An alert inside a labelled window, or at most Tolerance points after its
// end, detects that window; only a window's first alert counts, later ones
// inside it are neither rewarded nor charged. Every other alert is a false
// alarm.
func ScoreSeries(s Series, alerts []int64, opt ScoreOptions) Counts {
	opt = opt.withDefaults()
	iv := s.Interval.Milliseconds()
	if iv <= 0 {
		iv = 1
	}
	c := Counts{Series: 1, Points: len(s.Points), Windows: len(s.Labels)}
	type window struct{ start, end int64 } // [start, end] inclusive
	ws := make([]window, len(s.Labels))
	for i, l := range s.Labels {
		ws[i] = window{l.Start, l.End + int64(opt.Tolerance)*iv}
	}
	sort.Slice(ws, func(i, j int) bool { return ws[i].start < ws[j].start })
	first := make([]int64, len(ws))
	hit := make([]bool, len(ws))
	for _, a := range alerts {
		// The earliest window containing a (a series has a few windows).
		found := -1
		for j, w := range ws {
			if w.start <= a && a <= w.end {
				found = j
				break
			}
		}
		if found < 0 {
			c.FP++
			continue
		}
		if !hit[found] || a < first[found] {
			hit[found], first[found] = true, a
		}
	}
	for i, w := range ws {
		c.Best += scaledSigmoid(-1)
		c.Null -= opt.MissCost
		if !hit[i] {
			c.Reward -= opt.MissCost
			continue
		}
		c.TP++
		c.DelaySum += float64(first[i]-w.start) / float64(iv)
		length := float64(w.end - w.start + iv)
		c.Reward += scaledSigmoid(float64(first[i]-w.start)/length - 1)
	}
	c.Reward -= opt.FalseAlarmCost * float64(c.FP)
	return c
}
