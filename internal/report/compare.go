package report

import (
	"cmp"
	"slices"
)

// Compare is the comparison of the report's range (current) with a
// baseline range.
type Compare struct {
	// Baseline holds the baseline range's totals, as Report.Overall does
	// the current range's.
	Baseline Overall `json:"baseline"`
	// Threshold is the relative change from which tags apply.
	Threshold float64 `json:"threshold"`
	// RankedBy is the change the list is sorted by (see Change.Score).
	RankedBy string `json:"ranked_by"`
	// New and Gone count lines present in only one range; Lines counts
	// every line present in either.
	New   int `json:"new"`
	Gone  int `json:"gone"`
	Lines int `json:"lines"`
	// Changes are the lines, most increased first, at most Top.
	Changes []Change `json:"changes"`
}

// Change is one template (line) in the comparison.
type Change struct {
	Rank       int     `json:"rank"`
	TemplateID string  `json:"template_id"`
	Instance   string  `json:"instance,omitempty"`
	DB         *string `json:"db,omitempty"`
	Template   string  `json:"template"`
	SampleSQL  string  `json:"sample_sql"`
	// Status is "new" (absent from the baseline), "gone" (absent from the
	// current range), "changed" (present in both, with at least one tag)
	// or "same".
	Status string `json:"status"`
	// Tags say what changed: new, gone, slower, faster, more_frequent,
	// less_frequent, more_errors, fewer_errors.
	Tags []string `json:"tags"`
	// Score is the increase the list is ranked by: current minus baseline
	// of the order-by metric as a rate (time: load, count: QPS,
	// rows_examined and errors: per second) or as a latency in µs (p99,
	// avg). A side where the template is absent counts as 0.
	Score float64 `json:"score"`
	// Current and Baseline are the figures of each range; null where the
	// template is absent.
	Current  *Figures `json:"current"`
	Baseline *Figures `json:"baseline"`
	// Ratios current / baseline; null when the baseline figure is absent
	// or zero.
	QPSRatio        *float64 `json:"qps_ratio"`
	AvgLatencyRatio *float64 `json:"avg_latency_ratio"`
	P99LatencyRatio *float64 `json:"p99_latency_ratio"`
}

// Figures are one line's figures in one range.
type Figures struct {
	Count          int64   `json:"count"`
	QPS            float64 `json:"qps"`
	ExecTimeUs     int64   `json:"exec_time_us"`
	Load           float64 `json:"load"`
	AvgLatencyUs   float64 `json:"avg_latency_us"`
	P99LatencyUs   int64   `json:"p99_latency_us"`
	MaxLatencyUs   int64   `json:"max_latency_us"`
	RowsExamined   int64   `json:"rows_examined"`
	RowsExaminedPS float64 `json:"rows_examined_per_second"`
	Errors         int64   `json:"errors"`
	ErrorsPS       float64 `json:"errors_per_second"`
}

func figuresOf(l *line, s Span) *Figures {
	if l == nil {
		return nil
	}
	secs := s.Seconds()
	return &Figures{
		Count:          l.count,
		QPS:            float64(l.count) / secs,
		ExecTimeUs:     l.latSum,
		Load:           float64(l.latSum) / (secs * 1e6),
		AvgLatencyUs:   l.avg(),
		P99LatencyUs:   l.p99,
		MaxLatencyUs:   l.latMax,
		RowsExamined:   l.exam,
		RowsExaminedPS: float64(l.exam) / secs,
		Errors:         l.errs,
		ErrorsPS:       float64(l.errs) / secs,
	}
}

// rate returns f's value of m as compared across ranges: a rate per
// second for additive metrics, a latency for the others; 0 for nil.
func (f *Figures) rate(m Metric) float64 {
	if f == nil {
		return 0
	}
	switch m {
	case ByCount:
		return f.QPS
	case ByP99:
		return float64(f.P99LatencyUs)
	case ByAvg:
		return f.AvgLatencyUs
	case ByRowsExamined:
		return f.RowsExaminedPS
	case ByErrors:
		return f.ErrorsPS
	}
	return f.Load
}

func rankedBy(m Metric) string {
	switch m {
	case ByCount:
		return "qps_increase"
	case ByP99:
		return "p99_latency_increase_us"
	case ByAvg:
		return "avg_latency_increase_us"
	case ByRowsExamined:
		return "rows_examined_per_second_increase"
	case ByErrors:
		return "errors_per_second_increase"
	}
	return "load_increase"
}

func ratioOf(cur, base float64) *float64 {
	if base <= 0 {
		return nil
	}
	r := cur / base
	return &r
}

func compare(cur, base *rangeAgg, opts Options) *Compare {
	c := &Compare{Baseline: base.overall, Threshold: opts.Threshold, RankedBy: rankedBy(opts.OrderBy)}
	keys := make([]lineKey, 0, len(cur.lines)+len(base.lines))
	for k := range cur.lines {
		keys = append(keys, k)
	}
	for k := range base.lines {
		if cur.lines[k] == nil {
			keys = append(keys, k)
		}
	}
	up := 1 + opts.Threshold
	changes := make([]Change, 0, len(keys))
	for _, k := range keys {
		cl, bl := cur.lines[k], base.lines[k]
		ch := Change{TemplateID: k.templateID, Tags: []string{}}
		if opts.GroupBy.Instance {
			ch.Instance = k.instance
		}
		if opts.GroupBy.DB {
			d := k.db
			ch.DB = &d
		}
		text := cl
		if text == nil {
			text = bl
		}
		ch.Template, ch.SampleSQL = text.template, text.sample
		ch.Current, ch.Baseline = figuresOf(cl, cur.span), figuresOf(bl, base.span)
		ch.Score = ch.Current.rate(opts.OrderBy) - ch.Baseline.rate(opts.OrderBy)
		switch {
		case bl == nil:
			ch.Status, ch.Tags = "new", append(ch.Tags, "new")
			c.New++
		case cl == nil:
			ch.Status, ch.Tags = "gone", append(ch.Tags, "gone")
			c.Gone++
		default:
			f, b := ch.Current, ch.Baseline
			ch.QPSRatio = ratioOf(f.QPS, b.QPS)
			ch.AvgLatencyRatio = ratioOf(f.AvgLatencyUs, b.AvgLatencyUs)
			ch.P99LatencyRatio = ratioOf(float64(f.P99LatencyUs), float64(b.P99LatencyUs))
			ch.Tags = tags(ch.Tags, f, b, up)
			ch.Status = "same"
			if len(ch.Tags) > 0 {
				ch.Status = "changed"
			}
		}
		changes = append(changes, ch)
	}
	slices.SortFunc(changes, func(x, y Change) int {
		return cmp.Or(cmp.Compare(y.Score, x.Score),
			cmp.Compare(y.Current.rate(ByTime), x.Current.rate(ByTime)),
			cmp.Compare(x.TemplateID, y.TemplateID), cmp.Compare(x.Instance, y.Instance), cmp.Compare(dbOf(x.DB), dbOf(y.DB)))
	})
	c.Lines = len(changes)
	if opts.Top > 0 && len(changes) > opts.Top {
		changes = changes[:opts.Top]
	}
	for i := range changes {
		changes[i].Rank = i + 1
	}
	c.Changes = changes
	return c
}

func dbOf(p *string) string {
	if p == nil {
		return ""
	}
	return *p
}

// tags says how f differs from b: by a factor of at least up (or at most
// 1/up) in latency (average or p99), rate, or errors per second.
func tags(out []string, f, b *Figures, up float64) []string {
	// The tolerance keeps an exact factor (120 µs against 100 µs at ×1.2)
	// on the tagged side despite rounding.
	const eps = 1e-9
	grew := func(cur, base float64) bool { return cur > 0 && cur >= base*up*(1-eps) }
	shrank := func(cur, base float64) bool { return base > 0 && cur*up <= base*(1+eps) }
	slower := grew(f.AvgLatencyUs, b.AvgLatencyUs) || grew(float64(f.P99LatencyUs), float64(b.P99LatencyUs))
	switch {
	case slower:
		out = append(out, "slower")
	case shrank(f.AvgLatencyUs, b.AvgLatencyUs) || shrank(float64(f.P99LatencyUs), float64(b.P99LatencyUs)):
		out = append(out, "faster")
	}
	switch {
	case grew(f.QPS, b.QPS):
		out = append(out, "more_frequent")
	case shrank(f.QPS, b.QPS):
		out = append(out, "less_frequent")
	}
	switch {
	case grew(f.ErrorsPS, b.ErrorsPS):
		out = append(out, "more_errors")
	case shrank(f.ErrorsPS, b.ErrorsPS):
		out = append(out, "fewer_errors")
	}
	return out
}
