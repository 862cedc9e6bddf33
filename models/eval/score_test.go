package eval

import (
	"math"
	"testing"
	"time"

	"github.com/das-project/das/models"
)

// series100 is a one-minute series of 100 points with the given windows
// (in point indexes, inclusive).
func series100(windows ...[2]int) Series {
	s := Series{Name: "t", Interval: time.Minute, Kind: KindSpike}
	for i := range 100 {
		s.Points = append(s.Points, models.Point{T: int64(i) * 60000, V: 1})
	}
	for _, w := range windows {
		s.Labels = append(s.Labels, Label{Kind: KindSpike, Start: int64(w[0]) * 60000, End: int64(w[1]) * 60000})
	}
	return s
}

func at(idx ...int) []int64 {
	var out []int64
	for _, i := range idx {
		out = append(out, int64(i)*60000)
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) < 1e-9 }

func TestScoreSeriesHandComputed(t *testing.T) {
	s := series100([2]int{20, 20}, [2]int{60, 64})
	opt := ScoreOptions{Tolerance: 3}
	best := 2 / (1 + math.Exp(-5)) // scaledSigmoid(-1) = 0.98661…
	best -= 1
	all := make([]int, 100)
	for i := range all {
		all[i] = i
	}
	for _, tc := range []struct {
		name        string
		alerts      []int64
		tp, fp      int
		delay       float64 // mean delay in points
		reward      float64
		precision   float64
		windowScore float64
	}{
		{name: "perfect", alerts: at(20, 60), tp: 2, delay: 0, reward: 2 * best, precision: 1, windowScore: 100},
		{name: "null", alerts: nil, reward: -2, precision: math.NaN(), windowScore: 0},
		{
			// Windows 20..23 and 60..67 with the tolerance: 12 points in
			// windows, 88 false alarms, both windows detected at their start.
			name: "always", alerts: at(all...), tp: 2, fp: 88, delay: 0,
			reward: 2*best - 0.11*88, precision: 2.0 / 90,
			windowScore: 100 * (2*best - 0.11*88 + 2) / (2*best + 2),
		},
		{
			// Second window detected 5 points late (64+tolerance still in),
			// an extra alert inside it is free, one false alarm at 10, one
			// just past the first window's tolerance.
			name: "late and false", alerts: at(65, 10, 62, 24), tp: 1, fp: 2, delay: 2,
			reward: (2/(1+math.Exp(5*(2.0/8-1))) - 1) - 1 - 0.22, precision: 1.0 / 3,
			windowScore: 100 * ((2/(1+math.Exp(5*(2.0/8-1))) - 1) - 1 - 0.22 + 2) / (2*best + 2),
		},
		{
			name: "last tolerated point", alerts: at(23), tp: 1, delay: 3,
			reward: (2/(1+math.Exp(5*(3.0/4-1))) - 1) - 1, precision: 1,
			windowScore: 100 * ((2/(1+math.Exp(5*(3.0/4-1))) - 1) - 1 + 2) / (2*best + 2),
		},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ScoreSeries(s, tc.alerts, opt)
			if c.Windows != 2 || c.TP != tc.tp || c.FP != tc.fp || c.FN() != 2-tc.tp || c.Points != 100 {
				t.Fatalf("counts %+v, want tp %d fp %d", c, tc.tp, tc.fp)
			}
			if tc.tp > 0 && !near(c.MeanDelay(), tc.delay) {
				t.Errorf("delay %v, want %v", c.MeanDelay(), tc.delay)
			}
			if !near(c.Reward, tc.reward) || !near(c.Best, 2*best) || c.Null != -2 {
				t.Errorf("reward %v best %v null %v, want %v", c.Reward, c.Best, c.Null, tc.reward)
			}
			if p := c.Precision(); !(near(p, tc.precision) || math.IsNaN(p) && math.IsNaN(tc.precision)) {
				t.Errorf("precision %v, want %v", p, tc.precision)
			}
			if !near(c.Recall(), float64(tc.tp)/2) {
				t.Errorf("recall %v", c.Recall())
			}
			if !near(c.WindowScore(), tc.windowScore) {
				t.Errorf("window score %v, want %v", c.WindowScore(), tc.windowScore)
			}
		})
	}
}

func TestCountsDerived(t *testing.T) {
	c := Counts{Windows: 4, TP: 2, FP: 2, Points: 20000}
	if !near(c.Precision(), 0.5) || !near(c.Recall(), 0.5) || !near(c.F1(), 0.5) || !near(c.FalseAlarmsPer10k(), 1) {
		t.Fatalf("%v %v %v %v", c.Precision(), c.Recall(), c.F1(), c.FalseAlarmsPer10k())
	}
	none := Counts{Windows: 0, FP: 3, Points: 10}
	if !math.IsNaN(none.Recall()) || !math.IsNaN(none.F1()) || !math.IsNaN(none.WindowScore()) || !math.IsNaN(none.MeanDelay()) {
		t.Fatal("a clean series has no recall, F1, window score or delay")
	}
	if z := (Counts{Windows: 3}); z.F1() != 0 || !math.IsNaN(z.Precision()) {
		t.Fatalf("null detector: F1 %v precision %v", z.F1(), z.Precision())
	}
	var sum Counts
	sum.Add(c)
	sum.Add(c)
	if sum.TP != 4 || sum.Points != 40000 || !near(sum.F1(), 0.5) {
		t.Fatalf("sum %+v", sum)
	}
}

// TestScoreClean: on a series without labels every alert is a false alarm.
func TestScoreClean(t *testing.T) {
	s := series100()
	c := ScoreSeries(s, at(1, 2, 3), ScoreOptions{})
	if c.FP != 3 || c.TP != 0 || c.Reward != -0.33 || !math.IsNaN(c.WindowScore()) {
		t.Fatalf("%+v", c)
	}
}

// TestScoreTolerance: a negative tolerance means none, the default is 3.
func TestScoreTolerance(t *testing.T) {
	s := series100([2]int{20, 20})
	if c := ScoreSeries(s, at(21), ScoreOptions{Tolerance: -1}); c.TP != 0 || c.FP != 1 {
		t.Fatalf("no tolerance: %+v", c)
	}
	if c := ScoreSeries(s, at(23), ScoreOptions{}); c.TP != 1 || c.FP != 0 {
		t.Fatalf("default tolerance: %+v", c)
	}
	if c := ScoreSeries(s, at(24), ScoreOptions{}); c.TP != 0 || c.FP != 1 {
		t.Fatalf("past the default tolerance: %+v", c)
	}
}

func TestFmtNum(t *testing.T) {
	for _, tc := range []struct {
		v    float64
		prec int
		want string
	}{{-0.2, 0, "0"}, {-0.004, 2, "0.00"}, {-0.6, 0, "-1"}, {math.NaN(), 1, "–"}, {12.345, 1, "12.3"}, {0, 0, "0"}} {
		if got := fmtNum(tc.v, tc.prec); got != tc.want {
			t.Errorf("fmtNum(%v, %d) = %q, want %q", tc.v, tc.prec, got, tc.want)
		}
	}
}
