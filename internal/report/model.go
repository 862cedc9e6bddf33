package report

import (
	"cmp"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/das-project/das/sinks"
)

// Schema names the JSON document WriteJSON writes. It changes only when a
// field changes meaning or disappears; new fields may be added.
const Schema = "das.report/v1"

var (
	// ErrNoRows is wrapped by Build's error when no minute row matches the
	// filters and the range.
	ErrNoRows = errors.New("report: no minute rows")
	// ErrBadOptions is wrapped by Build's error for Options out of range.
	ErrBadOptions = errors.New("report: bad options")
)

// Metric is what templates are ranked by.
type Metric string

// The metrics of --order-by.
const (
	ByTime         Metric = "time"          // total execution time
	ByCount        Metric = "count"         // statements
	ByP99          Metric = "p99"           // estimated p99 latency
	ByAvg          Metric = "avg"           // average latency
	ByRowsExamined Metric = "rows_examined" // rows read by the server
	ByErrors       Metric = "errors"        // statements that failed
)

// Metrics returns every Metric, in the order the documentation lists them.
func Metrics() []Metric {
	return []Metric{ByTime, ByCount, ByP99, ByAvg, ByRowsExamined, ByErrors}
}

// ParseMetric parses an --order-by value.
func ParseMetric(s string) (Metric, error) {
	metrics := Metrics()
	for _, m := range metrics {
		if string(m) == s {
			return m, nil
		}
	}
	names := make([]string, len(metrics))
	for i, m := range metrics {
		names[i] = string(m)
	}
	return "", fmt.Errorf("%w: order by %q, want one of %s", ErrBadOptions, s, strings.Join(names, ", "))
}

// additive reports whether m sums over minutes (its sparkline bucket is a
// sum), as opposed to a latency figure (max of the bucket's minutes).
func (m Metric) additive() bool { return m != ByP99 && m != ByAvg }

// GroupBy says which key fields besides the template form a report line.
type GroupBy struct {
	Instance bool // one line per (template, instance)
	DB       bool // one line per (template, db)
}

// ParseGroupBy parses a --group-by value: "template" or a comma-separated
// list of template, instance, db (template is always implied).
func ParseGroupBy(s string) (GroupBy, error) {
	var g GroupBy
	for _, f := range strings.Split(s, ",") {
		switch strings.TrimSpace(f) {
		case "template":
		case "instance":
			g.Instance = true
		case "db":
			g.DB = true
		default:
			return g, fmt.Errorf("%w: group by %q, want a list of template, instance, db", ErrBadOptions, s)
		}
	}
	return g, nil
}

func (g GroupBy) fields() []string {
	f := []string{"template"}
	if g.Instance {
		f = append(f, "instance")
	}
	if g.DB {
		f = append(f, "db")
	}
	return f
}

// Options configure Build. The zero value of each field means its default.
type Options struct {
	// From and To bound the report's range: the whole minutes overlapping
	// [From, To). A zero From is the first minute of the data that matches
	// the filters (and To); a zero To the end of the last one.
	From, To time.Time
	// Instances and DBs keep only rows of these instances ("ip:port") and
	// schemas. Empty: all.
	Instances, DBs []string
	// OrderBy ranks the templates. Default ByTime.
	OrderBy Metric
	// GroupBy splits templates by instance and/or db. Default: one line
	// per template over all instances and dbs.
	GroupBy GroupBy
	// Top keeps the first Top templates (and changes). Default 0: all.
	Top int
	// Buckets is the most sparkline buckets; a bucket spans as many whole
	// minutes as needed to fit the range. 1 to 10000; default 60.
	Buckets int
	// Baseline turns on the comparison: the range to compare the report's
	// range with. Default nil: no comparison.
	Baseline *Span
	// BaselineShift turns on the comparison with the report's range moved
	// back by this much (e.g. 24h: the same hours the day before).
	// Exclusive with Baseline. Default 0: none.
	BaselineShift time.Duration
	// Threshold is the relative change from which a compared template is
	// tagged slower, faster, more or less frequent: 0.2 means ×1.2 or
	// ÷1.2. 0.001 to 1000; default 0.2.
	Threshold float64
	// Input describes where the rows came from, for the header.
	Input string
}

const (
	defaultBuckets   = 60
	maxBuckets       = 10000
	defaultThreshold = 0.2
)

func (o *Options) resolve() error {
	if o.OrderBy == "" {
		o.OrderBy = ByTime
	}
	if _, err := ParseMetric(string(o.OrderBy)); err != nil {
		return err
	}
	if o.Top < 0 {
		return fmt.Errorf("%w: Top %d: want 0 (all) or more", ErrBadOptions, o.Top)
	}
	if o.Buckets == 0 {
		o.Buckets = defaultBuckets
	}
	if o.Buckets < 1 || o.Buckets > maxBuckets {
		return fmt.Errorf("%w: Buckets %d: want 1 to %d", ErrBadOptions, o.Buckets, maxBuckets)
	}
	if o.Threshold == 0 {
		o.Threshold = defaultThreshold
	}
	if !(o.Threshold >= 0.001 && o.Threshold <= 1000) {
		return fmt.Errorf("%w: Threshold %v: want 0.001 to 1000", ErrBadOptions, o.Threshold)
	}
	if o.Baseline != nil && o.BaselineShift != 0 {
		return fmt.Errorf("%w: a baseline range and a baseline shift exclude each other", ErrBadOptions)
	}
	if o.BaselineShift < 0 {
		return fmt.Errorf("%w: BaselineShift %v: want a positive duration (how far back)", ErrBadOptions, o.BaselineShift)
	}
	if o.Baseline != nil && o.Baseline.Minutes() == 0 {
		return fmt.Errorf("%w: empty baseline range %s", ErrBadOptions, o.Baseline)
	}
	if !o.From.IsZero() && !o.To.IsZero() && SpanOf(o.From, o.To).Minutes() == 0 {
		return fmt.Errorf("%w: empty range: --to %s is not after --from %s", ErrBadTime,
			o.To.UTC().Format(time.RFC3339), o.From.UTC().Format(time.RFC3339))
	}
	return nil
}

// bounds returns the explicit bounds of the report's range, open ends as
// math.MinInt64 / math.MaxInt64.
func (o *Options) bounds() (lo, hi int64) {
	lo, hi = math.MinInt64, math.MaxInt64
	if !o.From.IsZero() {
		lo = floorMinute(o.From.UnixMilli())
	}
	if !o.To.IsZero() {
		hi = ceilMinute(o.To.UnixMilli())
	}
	return lo, hi
}

func (o *Options) baselineBounds() (lo, hi int64, ok bool) {
	switch {
	case o.Baseline != nil:
		return o.Baseline.From, o.Baseline.To, true
	case o.BaselineShift > 0:
		lo, hi = o.bounds()
		d := o.BaselineShift.Milliseconds()
		if lo != math.MinInt64 {
			lo = satSub(lo, d)
		}
		if hi != math.MaxInt64 {
			hi = satSub(hi, d)
		}
		return lo, hi, true
	}
	return 0, 0, false
}

func satSub(a, b int64) int64 {
	if a < math.MinInt64+b {
		return math.MinInt64
	}
	return a - b
}

// Keep returns a predicate on the key fields of a row — the filters and
// every minute the report or its comparison may need — for a Collector,
// so that rows that cannot matter are not held in memory.
func (o Options) Keep() func(*sinks.MinuteRow) bool {
	inst, db := set(o.Instances), set(o.DBs)
	lo, hi := o.bounds()
	blo, bhi, cmpOn := o.baselineBounds()
	return func(r *sinks.MinuteRow) bool {
		if inst != nil && !inst[r.Instance] || db != nil && !db[r.DB] {
			return false
		}
		return r.Minute >= lo && r.Minute < hi || cmpOn && r.Minute >= blo && r.Minute < bhi
	}
}

// WantHour reports whether any minute of [from, to) may be needed: for
// ReadParquetDir, to skip compacted hour files.
func (o Options) WantHour(from, to int64) bool {
	lo, hi := o.bounds()
	if from < hi && to > lo {
		return true
	}
	blo, bhi, ok := o.baselineBounds()
	return ok && from < bhi && to > blo
}

func set(xs []string) map[string]bool {
	if len(xs) == 0 {
		return nil
	}
	m := make(map[string]bool, len(xs))
	for _, x := range xs {
		m[x] = true
	}
	return m
}

// Report is the result of Build: the model the text, JSON and HTML
// renderers draw. Its JSON encoding is the documented schema
// (docs/report.md); durations are integer microseconds unless a name says
// otherwise, times are RFC 3339 UTC, shares are fractions of 1.
type Report struct {
	Schema    string     `json:"schema"`
	Input     string     `json:"input"`
	OrderBy   Metric     `json:"order_by"`
	GroupBy   []string   `json:"group_by"`
	Filters   Filters    `json:"filters"`
	Top       int        `json:"top"`
	Series    SeriesInfo `json:"series"`
	Overall   Overall    `json:"overall"`
	Templates []Template `json:"templates"`
	Compare   *Compare   `json:"compare,omitempty"`
}

// Filters echo the row filters.
type Filters struct {
	Instances []string `json:"instances"`
	DBs       []string `json:"dbs"`
}

// SeriesInfo describes the sparkline series of every template.
type SeriesInfo struct {
	// Metric is the column the series follows: the order-by metric.
	Metric Metric `json:"metric"`
	// BucketMinutes is how many minutes each bucket spans; the last bucket
	// may be shorter (LastBucketMinutes).
	BucketMinutes     int64 `json:"bucket_minutes"`
	LastBucketMinutes int64 `json:"last_bucket_minutes"`
	Buckets           int   `json:"buckets"`
}

// Overall are the totals of a range (pt-query-digest's "Overall" block).
type Overall struct {
	From            string  `json:"from"`
	To              string  `json:"to"`
	Minutes         int64   `json:"minutes"`
	FirstMinute     string  `json:"first_minute"` // first minute with rows
	LastMinute      string  `json:"last_minute"`  // last minute with rows
	Statements      int64   `json:"statements"`
	UniqueTemplates int     `json:"unique_templates"`
	Lines           int     `json:"lines"` // report lines (templates × group-by fields)
	MinuteRows      int     `json:"minute_rows"`
	QPS             float64 `json:"qps"`
	Load            float64 `json:"load"` // exec time / range length: average concurrency
	ExecTimeUs      int64   `json:"exec_time_us"`
	AvgLatencyUs    float64 `json:"avg_latency_us"`
	P95LatencyUs    int64   `json:"p95_latency_us"`
	P99LatencyUs    int64   `json:"p99_latency_us"`
	P99UpperUs      int64   `json:"p99_upper_latency_us"`
	MaxLatencyUs    int64   `json:"max_latency_us"`
	LockTimeUs      int64   `json:"lock_time_us"`
	RowsSent        int64   `json:"rows_sent"`
	RowsExamined    int64   `json:"rows_examined"`
	RowsAffected    int64   `json:"rows_affected"`
	Errors          int64   `json:"errors"`
	Series          []int64 `json:"series"`
	Sparkline       string  `json:"sparkline"`

	span Span
}

// Template is one ranked report line.
type Template struct {
	Rank               int     `json:"rank"`
	TemplateID         string  `json:"template_id"`
	Instance           string  `json:"instance,omitempty"` // with group_by instance
	DB                 *string `json:"db,omitempty"`       // with group_by db ("" is a real value)
	FingerprintVersion int32   `json:"fingerprint_version"`
	Template           string  `json:"template"`
	SampleSQL          string  `json:"sample_sql"`
	Count              int64   `json:"count"`
	CountShare         float64 `json:"count_share"`
	QPS                float64 `json:"qps"`
	ExecTimeUs         int64   `json:"exec_time_us"`
	TimeShare          float64 `json:"time_share"`
	Load               float64 `json:"load"`
	AvgLatencyUs       float64 `json:"avg_latency_us"`
	P95LatencyUs       int64   `json:"p95_latency_us"`
	P99LatencyUs       int64   `json:"p99_latency_us"`
	P99UpperUs         int64   `json:"p99_upper_latency_us"`
	MaxLatencyUs       int64   `json:"max_latency_us"`
	LockTimeUs         int64   `json:"lock_time_us"`
	RowsSent           int64   `json:"rows_sent"`
	RowsExamined       int64   `json:"rows_examined"`
	RowsExaminedShare  float64 `json:"rows_examined_share"`
	RowsExaminedPer    float64 `json:"rows_examined_per_statement"`
	RowsAffected       int64   `json:"rows_affected"`
	Errors             int64   `json:"errors"`
	ErrorShare         float64 `json:"error_share"`
	Minutes            int     `json:"minutes"` // minutes of the range with statements
	FirstSeen          string  `json:"first_seen"`
	LastSeen           string  `json:"last_seen"`
	Series             []int64 `json:"series"`
	Sparkline          string  `json:"sparkline"`
}

// line is the aggregate of one report line over a range.
type line struct {
	key                         lineKey
	count, latSum, latMax, lock int64
	sent, exam, aff, errs       int64
	fpv                         int32
	first, last                 int64 // minutes
	comps                       []component
	minutes                     []int64 // minutes with rows (deduplicated by finish)
	p95, p99, p99Upper          int64   // set by finish

	// The template text and sample come from one row: the latest.
	hasText                       bool
	template, sample              string
	textMinute                    int64
	textInstance, textDB          string
	series, seriesN, seriesLatSum []int64 // per bucket: the metric; count and latency sum (ByAvg)
}

type lineKey struct {
	templateID, instance, db string
}

func compareLineKeys(a, b lineKey) int {
	return cmp.Or(strings.Compare(a.templateID, b.templateID), strings.Compare(a.instance, b.instance), strings.Compare(a.db, b.db))
}

// rangeAgg is the aggregate of a range: its lines and totals.
type rangeAgg struct {
	span    Span
	lines   map[lineKey]*line
	overall Overall
	all     []component
	buckets bucketing
}

// Build computes the report over rows, which must hold at most one row per
// key (the highest version: a Collector's Rows or sinks.LatestByKey). The
// rows are not modified.
func Build(rows []sinks.MinuteRow, opts Options) (*Report, error) {
	if err := opts.resolve(); err != nil {
		return nil, err
	}
	inst, db := set(opts.Instances), set(opts.DBs)
	matched := make([]*sinks.MinuteRow, 0, len(rows))
	for i := range rows {
		r := &rows[i]
		if inst != nil && !inst[r.Instance] || db != nil && !db[r.DB] {
			continue
		}
		matched = append(matched, r)
	}
	if len(matched) == 0 {
		return nil, fmt.Errorf("%w: none matches the filters%s", ErrNoRows, filterText(opts))
	}
	lo, hi := opts.bounds()
	span, ok := resolveSpan(matched, lo, hi)
	if !ok {
		return nil, noRowsErr("", lo, hi, matched, opts)
	}
	cur := aggregate(matched, span, opts)
	if len(cur.lines) == 0 {
		return nil, noRowsErr("", span.From, span.To, matched, opts)
	}
	rep := &Report{
		Schema:  Schema,
		Input:   opts.Input,
		OrderBy: opts.OrderBy,
		GroupBy: opts.GroupBy.fields(),
		Filters: Filters{Instances: sortedCopy(opts.Instances), DBs: sortedCopy(opts.DBs)},
		Top:     opts.Top,
		Series: SeriesInfo{
			Metric:            opts.OrderBy,
			BucketMinutes:     cur.buckets.per,
			LastBucketMinutes: cur.buckets.lastLen(),
			Buckets:           cur.buckets.n,
		},
		Overall: cur.overall,
	}
	ranked := rank(cur, opts.OrderBy)
	if opts.Top > 0 && len(ranked) > opts.Top {
		ranked = ranked[:opts.Top]
	}
	rep.Templates = make([]Template, len(ranked))
	for i, l := range ranked {
		rep.Templates[i] = templateOf(i+1, l, cur, opts)
	}
	if blo, bhi, ok := opts.baselineBounds(); ok {
		if opts.BaselineShift > 0 {
			blo, bhi = span.From-opts.BaselineShift.Milliseconds(), span.To-opts.BaselineShift.Milliseconds()
			blo = floorMinute(blo)
			bhi = ceilMinute(bhi)
		}
		base := aggregate(matched, Span{From: blo, To: bhi}, opts)
		if len(base.lines) == 0 {
			return nil, noRowsErr("baseline ", blo, bhi, matched, opts)
		}
		rep.Compare = compare(cur, base, opts)
	}
	return rep, nil
}

func sortedCopy(xs []string) []string {
	out := slices.Clone(xs)
	if out == nil {
		out = []string{}
	}
	slices.Sort(out)
	return slices.Compact(out)
}

func filterText(o Options) string {
	var parts []string
	if len(o.Instances) > 0 {
		parts = append(parts, "instance "+strings.Join(o.Instances, ","))
	}
	if len(o.DBs) > 0 {
		parts = append(parts, "db "+strings.Join(o.DBs, ","))
	}
	if len(parts) == 0 {
		return ""
	}
	return " (" + strings.Join(parts, ", ") + ")"
}

func noRowsErr(what string, lo, hi int64, matched []*sinks.MinuteRow, o Options) error {
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, r := range matched {
		first, last = min(first, r.Minute), max(last, r.Minute)
	}
	return fmt.Errorf("%w in the %srange %s..%s%s; the rows that match cover %s..%s", ErrNoRows, what,
		boundText(lo), boundText(hi), filterText(o), fmtTime(first), fmtTime(last+sinks.MinuteMs))
}

func boundText(ms int64) string {
	if ms == math.MinInt64 || ms == math.MaxInt64 {
		return "(data)"
	}
	return fmtTime(ms)
}

// resolveSpan fills open bounds from the rows (sorted by key, so not by
// minute) and reports whether any row falls in the result.
func resolveSpan(rows []*sinks.MinuteRow, lo, hi int64) (Span, bool) {
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, r := range rows {
		if r.Minute >= lo && r.Minute < hi {
			first, last = min(first, r.Minute), max(last, r.Minute)
		}
	}
	if first > last {
		return Span{}, false
	}
	if lo == math.MinInt64 {
		lo = first
	}
	if hi == math.MaxInt64 {
		hi = last + sinks.MinuteMs
	}
	return Span{From: lo, To: hi}, true
}

func (o *Options) keyOf(r *sinks.MinuteRow) lineKey {
	k := lineKey{templateID: r.TemplateID}
	if o.GroupBy.Instance {
		k.instance = r.Instance
	}
	if o.GroupBy.DB {
		k.db = r.DB
	}
	return k
}

// aggregate sums the rows of span into lines and totals.
func aggregate(rows []*sinks.MinuteRow, span Span, opts Options) *rangeAgg {
	a := &rangeAgg{span: span, lines: make(map[lineKey]*line), buckets: newBucketing(span, opts.Buckets)}
	ov := &a.overall
	ov.span = span
	ov.From, ov.To, ov.Minutes = fmtTime(span.From), fmtTime(span.To), span.Minutes()
	ov.Series = make([]int64, a.buckets.n)
	ovN := make([]int64, a.buckets.n)
	ovLat := make([]int64, a.buckets.n)
	templates := make(map[string]bool)
	first, last := int64(math.MaxInt64), int64(math.MinInt64)
	for _, r := range rows {
		if !span.Contains(r.Minute) {
			continue
		}
		k := opts.keyOf(r)
		l := a.lines[k]
		if l == nil {
			l = &line{key: k, first: math.MaxInt64, last: math.MinInt64}
			l.series = make([]int64, a.buckets.n)
			if opts.OrderBy == ByAvg {
				l.seriesN = make([]int64, a.buckets.n)
				l.seriesLatSum = make([]int64, a.buckets.n)
			}
			a.lines[k] = l
		}
		l.add(r, opts.OrderBy, &a.buckets)
		c := componentOf(r.Count, r.LatencyP50Us, r.LatencyP95Us, r.LatencyP99Us, r.LatencyMaxUs)
		a.all = append(a.all, c)
		templates[r.TemplateID] = true
		first, last = min(first, r.Minute), max(last, r.Minute)

		ov.MinuteRows++
		ov.Statements += r.Count
		ov.ExecTimeUs += r.LatencySumUs
		ov.MaxLatencyUs = max(ov.MaxLatencyUs, r.LatencyMaxUs)
		ov.LockTimeUs += r.LockSumUs
		ov.RowsSent += r.RowsSentSum
		ov.RowsExamined += r.RowsExaminedSum
		ov.RowsAffected += r.RowsAffectedSum
		ov.Errors += r.Errors
		b := a.buckets.of(r.Minute)
		addSeries(ov.Series, b, r, opts.OrderBy)
		ovN[b] += r.Count
		ovLat[b] += r.LatencySumUs
	}
	if len(a.lines) == 0 {
		return a
	}
	ov.FirstMinute, ov.LastMinute = fmtTime(first), fmtTime(last)
	ov.UniqueTemplates = len(templates)
	ov.Lines = len(a.lines)
	secs := span.Seconds()
	ov.QPS = float64(ov.Statements) / secs
	ov.Load = float64(ov.ExecTimeUs) / (secs * 1e6)
	ov.AvgLatencyUs = ratio(ov.ExecTimeUs, ov.Statements)
	ov.P95LatencyUs, ov.P99LatencyUs, ov.P99UpperUs = quantiles(a.all)
	if opts.OrderBy == ByAvg {
		for i := range ov.Series {
			ov.Series[i] = avgOf(ovLat[i], ovN[i])
		}
	}
	ov.Sparkline = sparkline(ov.Series, &a.buckets, opts.OrderBy.additive())
	for _, l := range a.lines {
		l.finish(opts.OrderBy)
	}
	return a
}

func ratio(a, b int64) float64 {
	if b == 0 {
		return 0
	}
	return float64(a) / float64(b)
}

func avgOf(sum, n int64) int64 {
	if n == 0 {
		return 0
	}
	return int64(math.Round(float64(sum) / float64(n)))
}

func addSeries(s []int64, b int, r *sinks.MinuteRow, m Metric) {
	switch m {
	case ByTime:
		s[b] += r.LatencySumUs
	case ByCount:
		s[b] += r.Count
	case ByRowsExamined:
		s[b] += r.RowsExaminedSum
	case ByErrors:
		s[b] += r.Errors
	case ByP99:
		if r.Count > 0 {
			s[b] = max(s[b], r.LatencyP99Us)
		}
	case ByAvg:
		// filled in from the sums by the caller
	}
}

func (l *line) add(r *sinks.MinuteRow, m Metric, bk *bucketing) {
	l.count += r.Count
	l.latSum += r.LatencySumUs
	l.latMax = max(l.latMax, r.LatencyMaxUs)
	l.lock += r.LockSumUs
	l.sent += r.RowsSentSum
	l.exam += r.RowsExaminedSum
	l.aff += r.RowsAffectedSum
	l.errs += r.Errors
	l.fpv = max(l.fpv, r.FingerprintVersion)
	l.first, l.last = min(l.first, r.Minute), max(l.last, r.Minute)
	l.comps = append(l.comps, componentOf(r.Count, r.LatencyP50Us, r.LatencyP95Us, r.LatencyP99Us, r.LatencyMaxUs))
	l.minutes = append(l.minutes, r.Minute)
	// The text of the latest minute wins (ties: the greatest instance, db),
	// so the choice does not depend on the order of the rows.
	if !l.hasText || r.Minute > l.textMinute ||
		r.Minute == l.textMinute && (r.Instance > l.textInstance || r.Instance == l.textInstance && r.DB > l.textDB) {
		l.hasText, l.textMinute, l.textInstance, l.textDB = true, r.Minute, r.Instance, r.DB
		l.template, l.sample = r.Template, r.SampleSQL
	}
	b := bk.of(r.Minute)
	addSeries(l.series, b, r, m)
	if m == ByAvg {
		l.seriesN[b] += r.Count
		l.seriesLatSum[b] += r.LatencySumUs
	}
}

func (l *line) finish(m Metric) {
	l.p95, l.p99, l.p99Upper = quantiles(l.comps)
	if m == ByAvg {
		for i := range l.series {
			l.series[i] = avgOf(l.seriesLatSum[i], l.seriesN[i])
		}
	}
	slices.Sort(l.minutes)
	l.minutes = slices.Compact(l.minutes)
}

func (l *line) avg() float64 { return ratio(l.latSum, l.count) }

// metric returns l's value of m, for ranking.
func (l *line) metric(m Metric) float64 {
	switch m {
	case ByCount:
		return float64(l.count)
	case ByP99:
		return float64(l.p99)
	case ByAvg:
		return l.avg()
	case ByRowsExamined:
		return float64(l.exam)
	case ByErrors:
		return float64(l.errs)
	}
	return float64(l.latSum)
}

// rank orders the lines of a by m, largest first; ties by total time,
// then by key.
func rank(a *rangeAgg, m Metric) []*line {
	out := make([]*line, 0, len(a.lines))
	for _, l := range a.lines {
		out = append(out, l)
	}
	slices.SortFunc(out, func(x, y *line) int {
		return cmp.Or(cmp.Compare(y.metric(m), x.metric(m)), cmp.Compare(y.latSum, x.latSum), compareLineKeys(x.key, y.key))
	})
	return out
}

func share(a, total int64) float64 {
	if total == 0 {
		return 0
	}
	return float64(a) / float64(total)
}

func templateOf(rank int, l *line, a *rangeAgg, opts Options) Template {
	ov := &a.overall
	secs := a.span.Seconds()
	t := Template{
		Rank:               rank,
		TemplateID:         l.key.templateID,
		FingerprintVersion: l.fpv,
		Template:           l.template,
		SampleSQL:          l.sample,
		Count:              l.count,
		CountShare:         share(l.count, ov.Statements),
		QPS:                float64(l.count) / secs,
		ExecTimeUs:         l.latSum,
		TimeShare:          share(l.latSum, ov.ExecTimeUs),
		Load:               float64(l.latSum) / (secs * 1e6),
		AvgLatencyUs:       l.avg(),
		P95LatencyUs:       l.p95,
		P99LatencyUs:       l.p99,
		P99UpperUs:         l.p99Upper,
		MaxLatencyUs:       l.latMax,
		LockTimeUs:         l.lock,
		RowsSent:           l.sent,
		RowsExamined:       l.exam,
		RowsExaminedShare:  share(l.exam, ov.RowsExamined),
		RowsExaminedPer:    ratio(l.exam, l.count),
		RowsAffected:       l.aff,
		Errors:             l.errs,
		ErrorShare:         share(l.errs, ov.Errors),
		Minutes:            len(l.minutes),
		FirstSeen:          fmtTime(l.first),
		LastSeen:           fmtTime(l.last),
		Series:             l.series,
		Sparkline:          sparkline(l.series, &a.buckets, opts.OrderBy.additive()),
	}
	if opts.GroupBy.Instance {
		t.Instance = l.key.instance
	}
	if opts.GroupBy.DB {
		d := l.key.db
		t.DB = &d
	}
	return t
}
