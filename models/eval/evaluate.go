package eval

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"strings"
	"time"

	"github.com/das-project/das/models"
)

// DefaultTuningSeeds and DefaultHeldOutSeeds are the seeds `das detect
// --evaluate` uses. Detectors are tuned on the first set only; the second
// shows whether the tuning generalises.
func DefaultTuningSeeds() []uint64  { return []uint64{1, 2, 3} }
func DefaultHeldOutSeeds() []uint64 { return []uint64{101, 102, 103} }

// Options parameterises Evaluate.
type Options struct {
	// Registry holds the detectors; required.
	Registry *models.Registry
	// Detectors to score, in report order (default: all registered).
	Detectors []string
	// TuningSeeds and HeldOutSeeds (defaults above). An empty split is
	// left out when the other one is set explicitly.
	TuningSeeds, HeldOutSeeds []uint64
	Gen                       GenOptions
	Score                     ScoreOptions
	// Period is passed as models.Config.Period (0 = the detector detects
	// it, as `das detect` does by default). The interval passed is the
	// series' true one, which is what `das detect` infers from it.
	Period int
	// The warm-up passed is WarmupFor the series' length, as `das detect`
	// passes for a file.
	// Workers runs series in parallel (default GOMAXPROCS).
	Workers int
}

// WarmupFor is the models.Config.Warmup for a series of n points: 15% of
// it, at most models.DefaultWarmup and at least 1, so that a short series
// can alert after its first 15%.
func WarmupFor(n int) int {
	return max(min(n*15/100, models.DefaultWarmup), 1)
}

// Split names a set of seeds.
type Split string

const (
	SplitTuning  Split = "tuning"
	SplitHeldOut Split = "held-out"
)

// Result is one detector's score on one split.
type Result struct {
	Detector string
	Split    Split
	Total    Counts
	ByKind   map[Kind]Counts
	Invalid  int           // results that broke the Detector contract
	Elapsed  time.Duration // time spent in Observe, summed over series
}

// SplitInfo describes one split's data.
type SplitInfo struct {
	Split                   Split
	Seeds                   []uint64
	Series, Points, Windows int
}

// Report is the outcome of Evaluate.
type Report struct {
	Splits  []SplitInfo
	Results []Result // detector-major, in Options.Detectors order
	Score   ScoreOptions
}

// Evaluate generates the benchmark of every seed and scores each detector
// on it.
func Evaluate(ctx context.Context, opt Options) (*Report, error) {
	if opt.Registry == nil {
		return nil, errors.New("eval: no registry")
	}
	dets := opt.Detectors
	if len(dets) == 0 {
		dets = opt.Registry.Names()
	}
	if len(dets) == 0 {
		return nil, errors.New("eval: no detector registered")
	}
	tuning, held := opt.TuningSeeds, opt.HeldOutSeeds
	if tuning == nil && held == nil {
		tuning, held = DefaultTuningSeeds(), DefaultHeldOutSeeds()
	}
	rep := &Report{Score: opt.Score.withDefaults()}
	type splitData struct {
		info   SplitInfo
		series []Series
	}
	var splits []splitData
	for _, sp := range []struct {
		name  Split
		seeds []uint64
	}{{SplitTuning, tuning}, {SplitHeldOut, held}} {
		if len(sp.seeds) == 0 {
			continue
		}
		d := splitData{info: SplitInfo{Split: sp.name, Seeds: sp.seeds}}
		for _, seed := range sp.seeds {
			d.series = append(d.series, Generate(seed, opt.Gen)...)
		}
		for _, s := range d.series {
			d.info.Series++
			d.info.Points += len(s.Points)
			d.info.Windows += len(s.Labels)
		}
		splits = append(splits, d)
		rep.Splits = append(rep.Splits, d.info)
	}
	for _, name := range dets {
		newDet := func(s Series) (models.Detector, error) {
			return opt.Registry.New(name, models.Config{Interval: s.Interval, Period: opt.Period, Warmup: WarmupFor(len(s.Points))})
		}
		for _, sp := range splits {
			runs, err := RunAll(ctx, sp.series, newDet, opt.Workers)
			if err != nil {
				return nil, fmt.Errorf("eval: detector %s: %w", name, err)
			}
			res := Result{Detector: name, Split: sp.info.Split, ByKind: map[Kind]Counts{}}
			for i, s := range sp.series {
				c := ScoreSeries(s, runs[i].Alerts, opt.Score)
				res.Total.Add(c)
				k := res.ByKind[s.Kind]
				k.Add(c)
				res.ByKind[s.Kind] = k
				res.Invalid += runs[i].Invalid
				res.Elapsed += runs[i].Elapsed
			}
			rep.Results = append(rep.Results, res)
		}
	}
	return rep, nil
}

func fmtNum(v float64, prec int) string {
	if math.IsNaN(v) {
		return "–"
	}
	s := fmt.Sprintf("%.*f", prec, v)
	if strings.Trim(s, "-0.") == "" {
		s = strings.TrimPrefix(s, "-") // no "-0"
	}
	return s
}

func fmtSeeds(seeds []uint64) string {
	s := make([]string, len(seeds))
	for i, v := range seeds {
		s[i] = fmt.Sprint(v)
	}
	return strings.Join(s, ",")
}

// WriteMarkdown writes the report as markdown tables. The output depends
// only on the options and the detectors, not on timing, so the same
// command gives the same bytes.
func (r *Report) WriteMarkdown(w io.Writer) error {
	var b strings.Builder
	fmt.Fprintf(&b, "Event-based scoring: an alert within a labelled window or up to %d points after it detects the window (one per window); any other alert is a false alarm. "+
		"Window score: NAB-style, 100 = an alert at every window's first point, 0 = no alert at all, each false alarm costs %.2f of a detection.\n\n",
		r.Score.Tolerance, r.Score.FalseAlarmCost)
	b.WriteString("| split | seeds | series | points | windows |\n|---|---|--:|--:|--:|\n")
	for _, s := range r.Splits {
		fmt.Fprintf(&b, "| %s | %s | %d | %d | %d |\n", s.Split, fmtSeeds(s.Seeds), s.Series, s.Points, s.Windows)
	}
	b.WriteString("\n| detector | split | precision | recall | F1 | mean delay (points) | window score | false alarms / 10k points |\n|---|---|--:|--:|--:|--:|--:|--:|\n")
	invalid := map[string]int{}
	for _, res := range r.Results {
		c := res.Total
		fmt.Fprintf(&b, "| %s | %s | %s | %s | %s | %s | %s | %s |\n", res.Detector, res.Split,
			fmtNum(c.Precision(), 3), fmtNum(c.Recall(), 3), fmtNum(c.F1(), 3),
			fmtNum(c.MeanDelay(), 1), fmtNum(c.WindowScore(), 1), fmtNum(c.FalseAlarmsPer10k(), 2))
		invalid[res.Detector] += res.Invalid
	}
	for _, sp := range r.Splits {
		fmt.Fprintf(&b, "\nBy kind, %s seeds: recall / F1 / mean delay in points / window score; for `none` (clean series) false alarms per 10k points.\n\n", sp.Split)
		b.WriteString("| detector |")
		for _, k := range Kinds() {
			fmt.Fprintf(&b, " %s |", k)
		}
		b.WriteString("\n|---|")
		for range Kinds() {
			b.WriteString("--:|")
		}
		b.WriteString("\n")
		for _, res := range r.Results {
			if res.Split != sp.Split {
				continue
			}
			fmt.Fprintf(&b, "| %s |", res.Detector)
			for _, k := range Kinds() {
				c, ok := res.ByKind[k]
				switch {
				case !ok:
					b.WriteString(" – |")
				case k == KindNone:
					fmt.Fprintf(&b, " %s |", fmtNum(c.FalseAlarmsPer10k(), 2))
				default:
					fmt.Fprintf(&b, " %s / %s / %s / %s |", fmtNum(c.Recall(), 2), fmtNum(c.F1(), 2), fmtNum(c.MeanDelay(), 1), fmtNum(c.WindowScore(), 0))
				}
			}
			b.WriteString("\n")
		}
	}
	for _, res := range r.Results {
		if n := invalid[res.Detector]; n > 0 {
			fmt.Fprintf(&b, "\nWARNING: detector %s returned %d results that break the Detector contract (score outside [0,1], alert without a decision, or a decision while cold).\n", res.Detector, n)
			invalid[res.Detector] = 0
		}
	}
	_, err := io.WriteString(w, b.String())
	return err
}

// WriteTiming writes each detector's time per point: wall-clock time spent
// in Observe, so it varies from run to run and overstates CPU time on a
// loaded machine (benchmarks in package models give the CPU figures); kept
// out of the markdown tables.
func (r *Report) WriteTiming(w io.Writer) error {
	type acc struct {
		points  int
		elapsed time.Duration
	}
	var order []string
	per := map[string]*acc{}
	for _, res := range r.Results {
		a := per[res.Detector]
		if a == nil {
			a = &acc{}
			per[res.Detector] = a
			order = append(order, res.Detector)
		}
		a.points += res.Total.Points
		a.elapsed += res.Elapsed
	}
	for _, d := range order {
		a := per[d]
		if _, err := fmt.Fprintf(w, "%s: %d points, %v wall time in Observe (%.2f µs/point)\n", d, a.points, a.elapsed.Round(time.Millisecond),
			float64(a.elapsed.Microseconds())/float64(max(a.points, 1))); err != nil {
			return err
		}
	}
	return nil
}
