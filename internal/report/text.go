package report

import (
	"bufio"
	"fmt"
	"io"
	"strings"
	"time"

	"github.com/das-project/das/sinks"
)

// TextOptions configure WriteText.
type TextOptions struct {
	// Width is the line width in columns. Columns of lower priority are
	// left out until the table fits; SQL lines are cut to it. 40 to 1000;
	// default 120.
	Width int
}

const (
	defaultWidth = 120
	minWidth     = 40
	maxWidth     = 1000
)

// TextBuckets returns the sparkline bucket count that fits a text table of
// the given width next to the other columns: between 12 and 60.
func TextBuckets(width int) int {
	if width <= 0 {
		width = defaultWidth
	}
	// The other columns of the main table take about 104 columns with
	// typical figures.
	return min(max(width-104, 12), 60)
}

// column is one column of a text table.
type column struct {
	head  string
	left  bool     // left-aligned (default right)
	drop  int      // 0: always kept; otherwise dropped in increasing order when the table is too wide
	cells []string // one per row
}

// table is a text table whose rows may each be followed by a detail line
// (the SQL), indented and cut to the width.
type table struct {
	cols    []*column
	details []string
}

func (t *table) col(head string, left bool, drop int) *column {
	c := &column{head: head, left: left, drop: drop}
	t.cols = append(t.cols, c)
	return c
}

func (t *table) write(w io.Writer, maxw int) {
	widths := func(cols []*column) (int, []int) {
		ws := make([]int, len(cols))
		total := 0
		for i, c := range cols {
			ws[i] = width(c.head)
			for _, s := range c.cells {
				ws[i] = max(ws[i], width(s))
			}
			total += ws[i]
		}
		return total + 2*(len(cols)-1), ws
	}
	cols := t.cols
	for {
		total, _ := widths(cols)
		if total <= maxw {
			break
		}
		// Drop the column with the lowest positive priority.
		j := -1
		for i, c := range cols {
			if c.drop > 0 && (j < 0 || c.drop < cols[j].drop) {
				j = i
			}
		}
		if j < 0 {
			break
		}
		cols = append(cols[:j:j], cols[j+1:]...)
	}
	_, ws := widths(cols)
	row := func(cell func(c *column) string) {
		var b strings.Builder
		for i, c := range cols {
			s := cell(c)
			pad := strings.Repeat(" ", ws[i]-width(s))
			if i > 0 {
				b.WriteString("  ")
			}
			if c.left {
				b.WriteString(s)
				if i < len(cols)-1 {
					b.WriteString(pad)
				}
			} else {
				b.WriteString(pad)
				b.WriteString(s)
			}
		}
		fmt.Fprintln(w, strings.TrimRight(b.String(), " "))
	}
	row(func(c *column) string { return c.head })
	n := 0
	if len(cols) > 0 {
		n = len(cols[0].cells)
	}
	for r := range n {
		row(func(c *column) string { return c.cells[r] })
		if r < len(t.details) && t.details[r] != "" {
			fmt.Fprintln(w, truncate("      "+t.details[r], maxw))
		}
	}
}

// WriteText writes rep for a terminal: a header of overall figures in the
// manner of pt-query-digest, the ranked templates with their SQL, and the
// comparison when there is one.
func (rep *Report) WriteText(w io.Writer, o TextOptions) error {
	if o.Width == 0 {
		o.Width = defaultWidth
	}
	if o.Width < minWidth || o.Width > maxWidth {
		return fmt.Errorf("%w: text width %d: want %d to %d", ErrBadOptions, o.Width, minWidth, maxWidth)
	}
	bw := bufio.NewWriter(w)
	rep.writeHeader(bw, o.Width)
	fmt.Fprintln(bw)
	rep.writeTemplates(bw, o.Width)
	if rep.Compare != nil {
		fmt.Fprintln(bw)
		rep.writeCompare(bw, o.Width)
	}
	return bw.Flush()
}

func metricName(m Metric) string {
	switch m {
	case ByCount:
		return "statements"
	case ByP99:
		return "p99 latency"
	case ByAvg:
		return "average latency"
	case ByRowsExamined:
		return "rows examined"
	case ByErrors:
		return "errors"
	}
	return "total time"
}

func plural(n int64, one, many string) string {
	if n == 1 {
		return "1 " + one
	}
	return fmt.Sprintf("%d %s", n, many)
}

// wrapf formats a header line and writes it word-wrapped to maxw columns,
// continuation lines indented under the "# ".
func wrapf(w io.Writer, maxw int, format string, args ...any) {
	const cont = "#   "
	line := ""
	for _, word := range strings.Split(fmt.Sprintf(format, args...), " ") {
		switch {
		case line == "":
			line = word
		case width(line)+1+width(word) <= maxw:
			line += " " + word
		default:
			fmt.Fprintln(w, truncate(line, maxw))
			line = cont + word
		}
	}
	fmt.Fprintln(w, truncate(line, maxw))
}

func (rep *Report) writeHeader(w io.Writer, maxw int) {
	ov := &rep.Overall
	p := func(format string, args ...any) { wrapf(w, maxw, format, args...) }
	p("# das report: %s .. %s (%s)", ov.From, ov.To, plural(ov.Minutes, "minute", "minutes"))
	if note := coverage(ov); note != "" {
		p("# %s", note)
	}
	if rep.Input != "" {
		p("# Input: %s", rep.Input)
	}
	if f := filterLine(rep.Filters); f != "" {
		p("# Filters: %s", f)
	}
	p("# Overall: %s statements, %s, %s QPS, %s load (average concurrency)",
		fmtCount(ov.Statements), plural(int64(ov.UniqueTemplates), "unique template", "unique templates"), fmtRate(ov.QPS), fmtRate(ov.Load))
	p("# Exec time:     total %s, avg %s, p95~ %s, p99~ %s (≤ %s), max %s",
		fmtUs(float64(ov.ExecTimeUs)), fmtUs(ov.AvgLatencyUs), fmtUs(float64(ov.P95LatencyUs)),
		fmtUs(float64(ov.P99LatencyUs)), fmtUs(float64(ov.P99UpperUs)), fmtUs(float64(ov.MaxLatencyUs)))
	p("# Lock time:     total %s, avg %s", fmtUs(float64(ov.LockTimeUs)), fmtUs(ratio(ov.LockTimeUs, ov.Statements)))
	p("# Rows:          sent %s, examined %s (%s per statement), affected %s",
		fmtCount(ov.RowsSent), fmtCount(ov.RowsExamined), fmtRate(ratio(ov.RowsExamined, ov.Statements)), fmtCount(ov.RowsAffected))
	p("# Errors:        %s (%s of statements)", fmtCount(ov.Errors), fmtPct(share(ov.Errors, ov.Statements)))
	p("# Activity:      |%s| %s, %s", ov.Sparkline, metricName(rep.Series.Metric), bucketText(rep.Series))
	p("# ~ latency quantiles over more than one minute are estimates from the per-minute p95/p99 (docs/report.md)")
}

// coverage notes a range whose rows start after its start or end before
// its end: its rates are still per second of the whole range.
func coverage(ov *Overall) string {
	end := ov.span.To
	if last, err := time.Parse(time.RFC3339, ov.LastMinute); err == nil {
		end = last.UnixMilli() + sinks.MinuteMs
	}
	if ov.FirstMinute == ov.From && end == ov.span.To {
		return ""
	}
	return fmt.Sprintf("rows only from %s to %s: rates (QPS, load) are per second of the whole range", ov.FirstMinute, fmtTime(end))
}

func bucketText(s SeriesInfo) string {
	if s.BucketMinutes == 1 {
		return "one minute per block"
	}
	return fmt.Sprintf("%d minutes per block", s.BucketMinutes)
}

func filterLine(f Filters) string {
	var parts []string
	if len(f.Instances) > 0 {
		parts = append(parts, "instance "+strings.Join(f.Instances, ","))
	}
	if len(f.DBs) > 0 {
		parts = append(parts, "db "+strings.Join(f.DBs, ","))
	}
	return strings.Join(parts, "; ")
}

// lineLabel is what identifies a line besides its template id when the
// report is grouped by instance or db.
func lineLabel(instance string, db *string) string {
	var parts []string
	if instance != "" {
		parts = append(parts, instance)
	}
	if db != nil {
		d := *db
		if d == "" {
			d = "(no db)"
		}
		parts = append(parts, "db "+d)
	}
	if len(parts) == 0 {
		return ""
	}
	return "[" + strings.Join(parts, ", ") + "] "
}

func sqlOf(sample, template string) string {
	if sample != "" {
		return oneLine(sample)
	}
	return oneLine(template)
}

func (rep *Report) writeTemplates(w io.Writer, maxw int) {
	shown := fmt.Sprintf("all %d", rep.Overall.Lines)
	if len(rep.Templates) < rep.Overall.Lines {
		shown = fmt.Sprintf("top %d of %d", len(rep.Templates), rep.Overall.Lines)
	}
	what := "templates"
	if len(rep.GroupBy) > 1 {
		what = "lines (" + strings.Join(rep.GroupBy, " × ") + ")"
	}
	wrapf(w, maxw, "# %s %s by %s", strings.ToUpper(shown[:1])+shown[1:], what, metricName(rep.OrderBy))
	var t table
	keep := func(m Metric, drop int) int {
		if rep.OrderBy == m {
			return 0
		}
		return drop
	}
	rank := t.col("Rank", false, 0)
	id := t.col("Template ID", true, 0)
	tm := t.col("Time", false, 0)
	tshare := t.col("Time%", false, 9)
	calls := t.col("Calls", false, 0)
	cshare := t.col("Calls%", false, 2)
	qps := t.col("QPS", false, 6)
	avg := t.col("Avg", false, keep(ByAvg, 8))
	p99 := t.col("p99~", false, keep(ByP99, 10))
	mx := t.col("Max", false, 3)
	exam := t.col("RowsExam", false, keep(ByRowsExamined, 4))
	errs := t.col("Errors", false, keep(ByErrors, 5))
	spark := t.col("Activity", true, 7)
	for i := range rep.Templates {
		tp := &rep.Templates[i]
		rank.cells = append(rank.cells, fmt.Sprint(tp.Rank))
		id.cells = append(id.cells, tp.TemplateID)
		tm.cells = append(tm.cells, fmtUs(float64(tp.ExecTimeUs)))
		tshare.cells = append(tshare.cells, fmtPct(tp.TimeShare))
		calls.cells = append(calls.cells, fmtCount(tp.Count))
		cshare.cells = append(cshare.cells, fmtPct(tp.CountShare))
		qps.cells = append(qps.cells, fmtRate(tp.QPS))
		avg.cells = append(avg.cells, fmtUs(tp.AvgLatencyUs))
		p99.cells = append(p99.cells, fmtUs(float64(tp.P99LatencyUs)))
		mx.cells = append(mx.cells, fmtUs(float64(tp.MaxLatencyUs)))
		exam.cells = append(exam.cells, fmtCount(tp.RowsExamined))
		errs.cells = append(errs.cells, fmtCount(tp.Errors))
		spark.cells = append(spark.cells, "|"+tp.Sparkline+"|")
		t.details = append(t.details, lineLabel(tp.Instance, tp.DB)+sqlOf(tp.SampleSQL, tp.Template))
	}
	t.write(w, maxw)
}

func scoreHead(m Metric) string {
	switch m {
	case ByCount:
		return "ΔQPS"
	case ByP99:
		return "Δp99~"
	case ByAvg:
		return "ΔAvg"
	case ByRowsExamined:
		return "ΔRowsExam/s"
	case ByErrors:
		return "ΔErrors/s"
	}
	return "ΔLoad"
}

func (rep *Report) writeCompare(w io.Writer, maxw int) {
	c := rep.Compare
	cur, base := &rep.Overall, &c.Baseline
	p := func(format string, args ...any) { wrapf(w, maxw, format, args...) }
	p("# Compare: current %s .. %s (%d min) against baseline %s .. %s (%d min)", cur.From, cur.To, cur.Minutes, base.From, base.To, base.Minutes)
	if note := coverage(base); note != "" {
		p("# Baseline: %s", note)
	}
	var t table
	name := t.col("#", true, 0)
	now := t.col("current", false, 0)
	was := t.col("baseline", false, 0)
	chg := t.col("change", false, 0)
	add := func(n, a, b string, r *float64) {
		name.cells = append(name.cells, n)
		now.cells = append(now.cells, a)
		was.cells = append(was.cells, b)
		chg.cells = append(chg.cells, fmtRatio(r))
	}
	add("# Statements", fmtCount(cur.Statements), fmtCount(base.Statements), ratioOf(float64(cur.Statements), float64(base.Statements)))
	add("# QPS", fmtRate(cur.QPS), fmtRate(base.QPS), ratioOf(cur.QPS, base.QPS))
	add("# Exec time", fmtUs(float64(cur.ExecTimeUs)), fmtUs(float64(base.ExecTimeUs)), ratioOf(float64(cur.ExecTimeUs), float64(base.ExecTimeUs)))
	add("# Load", fmtRate(cur.Load), fmtRate(base.Load), ratioOf(cur.Load, base.Load))
	add("# Avg", fmtUs(cur.AvgLatencyUs), fmtUs(base.AvgLatencyUs), ratioOf(cur.AvgLatencyUs, base.AvgLatencyUs))
	add("# p99~", fmtUs(float64(cur.P99LatencyUs)), fmtUs(float64(base.P99LatencyUs)), ratioOf(float64(cur.P99LatencyUs), float64(base.P99LatencyUs)))
	add("# Rows exam", fmtCount(cur.RowsExamined), fmtCount(base.RowsExamined), ratioOf(float64(cur.RowsExamined), float64(base.RowsExamined)))
	add("# Errors", fmtCount(cur.Errors), fmtCount(base.Errors), ratioOf(float64(cur.Errors), float64(base.Errors)))
	t.write(w, maxw)
	p("# Lines: %d current, %d baseline; %d new, %d gone", cur.Lines, base.Lines, c.New, c.Gone)
	fmt.Fprintln(w)

	shown := fmt.Sprintf("All %d", c.Lines)
	if len(c.Changes) < c.Lines {
		shown = fmt.Sprintf("Top %d of %d", len(c.Changes), c.Lines)
	}
	p("# %s changes by %s increase, current minus baseline; tags at ×%.2f", shown, metricName(rep.OrderBy), 1+c.Threshold)
	var ct table
	rank := ct.col("Rank", false, 0)
	id := ct.col("Template ID", true, 0)
	tags := ct.col("Change", true, 0)
	score := ct.col(scoreHead(rep.OrderBy), false, 0)
	qn := ct.col("QPS", false, 8)
	qb := ct.col("base", false, 6)
	qr := ct.col("×", false, 7)
	an := ct.col("Avg", false, 5)
	ab := ct.col("base", false, 3)
	ar := ct.col("×", false, 5)
	pn := ct.col("p99~", false, 4)
	pb := ct.col("base", false, 2)
	pr := ct.col("×", false, 4)
	dash := func(f *Figures, s func(*Figures) string) string {
		if f == nil {
			return "-"
		}
		return s(f)
	}
	for i := range c.Changes {
		ch := &c.Changes[i]
		rank.cells = append(rank.cells, fmt.Sprint(ch.Rank))
		id.cells = append(id.cells, ch.TemplateID)
		tg := strings.Join(ch.Tags, ",")
		if tg == "" {
			tg = "-"
		}
		tags.cells = append(tags.cells, tg)
		score.cells = append(score.cells, fmtScore(rep.OrderBy, ch.Score))
		qpsOf := func(f *Figures) string { return fmtRate(f.QPS) }
		avgOf := func(f *Figures) string { return fmtUs(f.AvgLatencyUs) }
		p99Of := func(f *Figures) string { return fmtUs(float64(f.P99LatencyUs)) }
		qn.cells = append(qn.cells, dash(ch.Current, qpsOf))
		qb.cells = append(qb.cells, dash(ch.Baseline, qpsOf))
		qr.cells = append(qr.cells, fmtRatio(ch.QPSRatio))
		an.cells = append(an.cells, dash(ch.Current, avgOf))
		ab.cells = append(ab.cells, dash(ch.Baseline, avgOf))
		ar.cells = append(ar.cells, fmtRatio(ch.AvgLatencyRatio))
		pn.cells = append(pn.cells, dash(ch.Current, p99Of))
		pb.cells = append(pb.cells, dash(ch.Baseline, p99Of))
		pr.cells = append(pr.cells, fmtRatio(ch.P99LatencyRatio))
		ct.details = append(ct.details, lineLabel(ch.Instance, ch.DB)+sqlOf(ch.SampleSQL, ch.Template))
	}
	ct.write(w, maxw)
}
