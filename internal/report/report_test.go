package report

import (
	"errors"
	"math"
	"slices"
	"strings"
	"testing"

	"github.com/das-project/das/sinks"
)

func ids(rep *Report) []string {
	var out []string
	for _, t := range rep.Templates {
		out = append(out, t.TemplateID)
	}
	return out
}

func near(a, b float64) bool { return math.Abs(a-b) <= 1e-9*math.Max(1, math.Abs(b)) }

// TestRanking: each order-by ranks the fixture as computed by hand.
func TestRanking(t *testing.T) {
	cur, _ := fixture()
	for _, tc := range []struct {
		by   Metric
		want []string
	}{
		{ByTime, []string{idC, idB, idA}},         // 2.0 s, 1.2 s, 1.0 s
		{ByCount, []string{idA, idB, idC}},        // 1000, 100, 1
		{ByP99, []string{idC, idB, idA}},          // 2 s, 27.5 ms, 3 ms
		{ByAvg, []string{idC, idB, idA}},          // 2 s, 12 ms, 1 ms
		{ByRowsExamined, []string{idC, idA, idB}}, // 1 M, 1000, 100
		{ByErrors, []string{idB, idC, idA}},       // 2, then ties by total time
	} {
		t.Run(string(tc.by), func(t *testing.T) {
			o := curOpts()
			o.OrderBy = tc.by
			rep := mustBuild(t, cur, o)
			if got := ids(rep); !slices.Equal(got, tc.want) {
				t.Fatalf("order %v, want %v", got, tc.want)
			}
			for i, tp := range rep.Templates {
				if tp.Rank != i+1 {
					t.Fatalf("rank %d at position %d", tp.Rank, i)
				}
			}
		})
	}
}

// TestFigures: every figure of the fixture's current range, computed by
// hand.
func TestFigures(t *testing.T) {
	cur, _ := fixture()
	rep := mustBuild(t, cur, curOpts())
	ov := rep.Overall
	if ov.From != "2026-03-01T10:00:00Z" || ov.To != "2026-03-01T10:10:00Z" || ov.Minutes != 10 {
		t.Fatalf("range %s..%s (%d min)", ov.From, ov.To, ov.Minutes)
	}
	checks := []struct {
		name      string
		got, want float64
	}{
		{"statements", float64(ov.Statements), 1101},
		{"unique templates", float64(ov.UniqueTemplates), 3},
		{"exec time", float64(ov.ExecTimeUs), 4_200_000},
		{"qps", ov.QPS, 1101.0 / 600},
		{"load", ov.Load, 4.2 / 600},
		{"avg", ov.AvgLatencyUs, 4_200_000.0 / 1101},
		{"max", float64(ov.MaxLatencyUs), 2_000_000},
		{"errors", float64(ov.Errors), 2},
		{"rows examined", float64(ov.RowsExamined), 1000 + 100 + 1_000_000},
		{"p99 upper", float64(ov.P99UpperUs), 2_000_000},
	}
	byID := map[string]Template{}
	for _, tp := range rep.Templates {
		byID[tp.TemplateID] = tp
	}
	a, b, c := byID[idA], byID[idB], byID[idC]
	checks = append(checks, []struct {
		name      string
		got, want float64
	}{
		{"A count", float64(a.Count), 1000},
		{"A time share", a.TimeShare, 1.0 / 4.2},
		{"A count share", a.CountShare, 1000.0 / 1101},
		{"A qps", a.QPS, 1000.0 / 600},
		{"A avg", a.AvgLatencyUs, 1000},
		{"A p99", float64(a.P99LatencyUs), 3000},
		{"A minutes", float64(a.Minutes), 10},
		{"B time share", b.TimeShare, 1.2 / 4.2},
		// F_0 = 1 from 25 ms, so F_5 ≥ 0.98: 0.95 + 0.04·ln(q/20 ms)/ln 1.5,
		// q ≥ 20 ms · 1.5^0.75 = 27108.06 µs.
		{"B p99 (mixture)", float64(b.P99LatencyUs), 27109},
		{"B p99 upper", float64(b.P99UpperUs), 30000},
		{"B error share", b.ErrorShare, 1},
		{"B minutes", float64(b.Minutes), 2},
		{"B lock", float64(b.LockTimeUs), 1000},
		{"C time share", c.TimeShare, 2.0 / 4.2},
		{"C rows examined share", c.RowsExaminedShare, 1e6 / 1_001_100},
		{"C rows examined per statement", c.RowsExaminedPer, 1e6},
		{"C load", c.Load, 2.0 / 600},
	}...)
	for _, ch := range checks {
		if !near(ch.got, ch.want) {
			t.Errorf("%s = %v, want %v", ch.name, ch.got, ch.want)
		}
	}
	if b.FirstSeen != "2026-03-01T10:00:00Z" || b.LastSeen != "2026-03-01T10:05:00Z" {
		t.Errorf("B seen %s..%s", b.FirstSeen, b.LastSeen)
	}
	if c.SampleSQL != texts[idC][1] || c.Template != texts[idC][0] {
		t.Errorf("C text %q / %q", c.Template, c.SampleSQL)
	}
	var sum float64
	for _, tp := range rep.Templates {
		sum += tp.TimeShare
	}
	if !near(sum, 1) {
		t.Errorf("time shares sum to %v", sum)
	}
}

// TestSparklines: per-minute series and their blocks, computed by hand, for
// one bucket per minute and for buckets of three minutes with a one-minute
// last bucket.
func TestSparklines(t *testing.T) {
	cur, _ := fixture()
	for _, tc := range []struct {
		buckets  int
		per, n   int64
		last     int64
		a, b, c  string
		overall  string
		overallV []int64
	}{
		// Totals per minute: 700 ms, 100 ms ×4, 700 ms, 100 ms ×3, 2.1 s.
		// Levels ⌈8·v/2.1 s⌉: 700 ms → 3, 100 ms → 1.
		{60, 1, 10, 1, "██████████", "█    █    ", "         █", "▃▁▁▁▁▃▁▁▁█",
			[]int64{700_000, 100_000, 100_000, 100_000, 100_000, 700_000, 100_000, 100_000, 100_000, 2_100_000}},
		// Buckets of 3, 3, 3, 1 minutes: 900 ms, 900 ms, 300 ms, 2.1 s, i.e.
		// 300, 300, 100, 2100 ms a minute → levels 2, 2, 1, 8.
		{4, 3, 4, 1, "████", "██  ", "   █", "▂▂▁█", []int64{900_000, 900_000, 300_000, 2_100_000}},
	} {
		o := curOpts()
		o.Buckets = tc.buckets
		rep := mustBuild(t, cur, o)
		if s := rep.Series; s.BucketMinutes != tc.per || int64(s.Buckets) != tc.n || s.LastBucketMinutes != tc.last {
			t.Fatalf("buckets %d: series %+v", tc.buckets, s)
		}
		got := map[string]string{}
		for _, tp := range rep.Templates {
			got[tp.TemplateID] = tp.Sparkline
		}
		if got[idA] != tc.a || got[idB] != tc.b || got[idC] != tc.c {
			t.Errorf("buckets %d: A %q B %q C %q, want %q %q %q", tc.buckets, got[idA], got[idB], got[idC], tc.a, tc.b, tc.c)
		}
		if rep.Overall.Sparkline != tc.overall || !slices.Equal(rep.Overall.Series, tc.overallV) {
			t.Errorf("buckets %d: overall %q %v, want %q %v", tc.buckets, rep.Overall.Sparkline, rep.Overall.Series, tc.overall, tc.overallV)
		}
	}
	// p99 series: the largest per-minute p99 of each bucket, not a sum.
	for buckets, want := range map[int][]int64{2: {20000, 30000}, 1: {30000}} {
		o := curOpts()
		o.OrderBy, o.Buckets = ByP99, buckets
		rep := mustBuild(t, cur, o)
		for _, tp := range rep.Templates {
			if tp.TemplateID == idB && !slices.Equal(tp.Series, want) {
				t.Errorf("B p99 series in %d buckets: %v, want %v", buckets, tp.Series, want)
			}
		}
	}
}

func TestLevels(t *testing.T) {
	for _, tc := range []struct {
		vals []int64
		want string
	}{
		{[]int64{0, 0}, "  "},
		{[]int64{1, 2, 3, 4, 5, 6, 7, 8}, "▁▂▃▄▅▆▇█"},
		{[]int64{1, 1000}, "▁█"}, // any statement shows
		{[]int64{3, 8}, "▃█"},    // exact multiples keep their level
	} {
		b := newBucketing(Span{From: 0, To: int64(len(tc.vals)) * sinks.MinuteMs}, 100)
		if got := sparkline(tc.vals, &b, true); got != tc.want {
			t.Errorf("%v: %q, want %q", tc.vals, got, tc.want)
		}
	}
}

// TestCompare: the fixture compared with its baseline, by hand. Load is
// exec time per second of range (600 s each).
func TestCompare(t *testing.T) {
	cur, base := fixture()
	rows := concat(cur, base)
	explicit := curOpts()
	explicit.Baseline = &Span{From: minute(-10), To: minute(0)}
	shifted := curOpts()
	shifted.BaselineShift = 10 * 60e9
	for name, o := range map[string]Options{"range": explicit, "shift": shifted} {
		t.Run(name, func(t *testing.T) {
			rep := mustBuild(t, rows, o)
			c := rep.Compare
			if c == nil {
				t.Fatal("no comparison")
			}
			if c.Baseline.From != "2026-03-01T09:50:00Z" || c.Baseline.To != "2026-03-01T10:00:00Z" || c.Baseline.Statements != 1011 {
				t.Fatalf("baseline %s..%s with %d statements", c.Baseline.From, c.Baseline.To, c.Baseline.Statements)
			}
			if c.New != 1 || c.Gone != 1 || c.Lines != 4 || c.RankedBy != "load_increase" {
				t.Fatalf("new %d gone %d lines %d ranked by %s", c.New, c.Gone, c.Lines, c.RankedBy)
			}
			want := []struct {
				id     string
				status string
				tags   []string
				score  float64
			}{
				{idB, "new", []string{"new"}, 1.2 / 600},
				{idA, "changed", []string{"slower"}, (1.0 - 0.5) / 600},
				{idC, "same", []string{}, 0},
				{idD, "gone", []string{"gone"}, -0.1 / 600},
			}
			if len(c.Changes) != len(want) {
				t.Fatalf("%d changes", len(c.Changes))
			}
			for i, w := range want {
				ch := c.Changes[i]
				if ch.TemplateID != w.id || ch.Status != w.status || !slices.Equal(ch.Tags, w.tags) || !near(ch.Score, w.score) || ch.Rank != i+1 {
					t.Errorf("change %d: %s %s %v %v, want %s %s %v %v", i+1, ch.TemplateID, ch.Status, ch.Tags, ch.Score, w.id, w.status, w.tags, w.score)
				}
			}
			a := c.Changes[1]
			if a.QPSRatio == nil || !near(*a.QPSRatio, 1) || a.AvgLatencyRatio == nil || !near(*a.AvgLatencyRatio, 2) ||
				a.P99LatencyRatio == nil || !near(*a.P99LatencyRatio, 2) {
				t.Errorf("A ratios %v %v %v", a.QPSRatio, a.AvgLatencyRatio, a.P99LatencyRatio)
			}
			if b := c.Changes[0]; b.Baseline != nil || b.Current == nil || b.QPSRatio != nil || b.Current.Count != 100 {
				t.Errorf("new B: %+v", b)
			}
			if d := c.Changes[3]; d.Current != nil || d.Baseline == nil || d.Baseline.Count != 10 {
				t.Errorf("gone D: %+v", d)
			}
		})
	}
	// Ranked by count, the score is the QPS increase: B +100/600, A and C
	// 0 (ties by current load: C before A), D −10/600.
	o := explicit
	o.OrderBy = ByCount
	o.Top = 2
	rep := mustBuild(t, rows, o)
	if got := []string{rep.Compare.Changes[0].TemplateID, rep.Compare.Changes[1].TemplateID}; !slices.Equal(got, []string{idB, idC}) || len(rep.Compare.Changes) != 2 || rep.Compare.Lines != 4 {
		t.Errorf("by count, top 2: %v of %d", got, rep.Compare.Lines)
	}
}

func TestTags(t *testing.T) {
	f := func(qps, avg float64, p99 int64, eps float64) *Figures {
		return &Figures{QPS: qps, AvgLatencyUs: avg, P99LatencyUs: p99, ErrorsPS: eps}
	}
	base := f(10, 100, 1000, 0.1)
	for _, tc := range []struct {
		name string
		cur  *Figures
		want []string
	}{
		{"unchanged", f(10, 100, 1000, 0.1), nil},
		{"just below the threshold", f(11.9, 119, 1190, 0.119), nil},
		{"exactly ×1.2", f(12, 120, 1000, 0.1), []string{"slower", "more_frequent"}},
		{"p99 alone", f(10, 100, 1200, 0.1), []string{"slower"}},
		{"faster, rarer, fewer errors", f(5, 50, 500, 0), []string{"faster", "less_frequent", "fewer_errors"}},
		{"slower p99 wins over faster avg", f(10, 50, 2000, 0.1), []string{"slower"}},
		{"twice the errors", f(10, 100, 1000, 0.2), []string{"more_errors"}},
	} {
		got := tags(nil, tc.cur, base, 1.2)
		if !slices.Equal(got, tc.want) {
			t.Errorf("%s: %v, want %v", tc.name, got, tc.want)
		}
	}
	if got := tags(nil, f(10, 100, 1000, 0.5), f(10, 100, 1000, 0), 1.2); !slices.Equal(got, []string{"more_errors"}) {
		t.Errorf("errors where there were none: %v", got)
	}
}

// TestGroupBy: lines split by instance and db, and filters.
func TestGroupBy(t *testing.T) {
	cur, _ := fixture()
	extra := row(idA, 0, 10, 50_000, [4]int64{800, 2000, 3000, 5000})
	extra.Instance, extra.DB = inst2, ""
	rows := append(cur, extra)
	o := curOpts()
	o.GroupBy = GroupBy{Instance: true, DB: true}
	o.OrderBy = ByCount
	rep := mustBuild(t, rows, o)
	if rep.Overall.Lines != 4 || rep.Overall.UniqueTemplates != 3 || !slices.Equal(rep.GroupBy, []string{"template", "instance", "db"}) {
		t.Fatalf("lines %d, templates %d, group by %v", rep.Overall.Lines, rep.Overall.UniqueTemplates, rep.GroupBy)
	}
	var got []string
	for _, tp := range rep.Templates {
		got = append(got, tp.TemplateID+"@"+tp.Instance+"/"+*tp.DB)
	}
	want := []string{idA + "@" + inst1 + "/shop", idB + "@" + inst1 + "/shop", idA + "@" + inst2 + "/", idC + "@" + inst1 + "/shop"}
	if !slices.Equal(got, want) {
		t.Fatalf("lines %v, want %v", got, want)
	}
	// Filters: only inst2 (db ""), then db "" alone.
	for _, f := range []Options{{Instances: []string{inst2}}, {DBs: []string{""}}} {
		f.From, f.To = at(0), at(10)
		rep := mustBuild(t, rows, f)
		if rep.Overall.Statements != 10 || len(rep.Templates) != 1 || rep.Templates[0].TemplateID != idA {
			t.Errorf("filter %v %v: %d statements, %v", f.Instances, f.DBs, rep.Overall.Statements, ids(rep))
		}
	}
	// Default grouping merges the instances.
	rep = mustBuild(t, rows, curOpts())
	for _, tp := range rep.Templates {
		if tp.TemplateID == idA && (tp.Count != 1010 || tp.Instance != "" || tp.DB != nil) {
			t.Errorf("A over both instances: %d statements, %q %v", tp.Count, tp.Instance, tp.DB)
		}
	}
}

// TestRangeDefaults: open bounds come from the data; the range is whole
// minutes.
func TestRangeDefaults(t *testing.T) {
	cur, base := fixture()
	rep := mustBuild(t, concat(cur, base), Options{})
	if rep.Overall.From != "2026-03-01T09:50:00Z" || rep.Overall.To != "2026-03-01T10:10:00Z" {
		t.Errorf("default range %s..%s", rep.Overall.From, rep.Overall.To)
	}
	rep = mustBuild(t, concat(cur, base), Options{From: at(5).Add(30e9)}) // 10:05:30 → 10:05
	if rep.Overall.From != "2026-03-01T10:05:00Z" || rep.Overall.To != "2026-03-01T10:10:00Z" {
		t.Errorf("from 10:05:30: %s..%s", rep.Overall.From, rep.Overall.To)
	}
	rep = mustBuild(t, concat(cur, base), Options{To: at(0).Add(1e9)}) // 10:00:01 → 10:01
	if rep.Overall.From != "2026-03-01T09:50:00Z" || rep.Overall.To != "2026-03-01T10:01:00Z" {
		t.Errorf("to 10:00:01: %s..%s", rep.Overall.From, rep.Overall.To)
	}
}

func TestBuildErrors(t *testing.T) {
	cur, _ := fixture()
	for _, tc := range []struct {
		name string
		o    Options
		want error
		msg  string
	}{
		{"no rows in range", Options{From: at(100), To: at(200)}, ErrNoRows, "the rows that match cover 2026-03-01T10:00:00Z..2026-03-01T10:10:00Z"},
		{"no rows match", Options{Instances: []string{"10.9.9.9:3306"}}, ErrNoRows, "instance 10.9.9.9:3306"},
		{"empty baseline", Options{From: at(0), To: at(10), Baseline: &Span{From: minute(-100), To: minute(-90)}}, ErrNoRows, "baseline range"},
		{"to before from", Options{From: at(10), To: at(0)}, ErrBadTime, "not after"},
		{"bad order", Options{OrderBy: "speed"}, ErrBadOptions, "want one of time, count"},
		{"bad top", Options{Top: -1}, ErrBadOptions, "Top -1"},
		{"bad buckets", Options{Buckets: 20000}, ErrBadOptions, "Buckets"},
		{"both baselines", Options{Baseline: &Span{From: 0, To: sinks.MinuteMs}, BaselineShift: 1}, ErrBadOptions, "exclude"},
	} {
		_, err := Build(cur, tc.o)
		if !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
}

// TestCollector: the highest version wins whatever the order rows arrive
// in, duplicates are absorbed, and the predicate filters.
func TestCollector(t *testing.T) {
	v1 := row(idA, 3, 1, 1000, [4]int64{1, 1, 1, 1})
	v2 := row(idA, 3, 100, 100_000, [4]int64{800, 2000, 3000, 5000})
	v2.Version = 2
	v3 := v2
	v3.Version, v3.Count = 3, 150
	other := row(idB, 3, 5, 5, [4]int64{})
	for _, order := range [][]sinks.MinuteRow{
		{v1, v2, v3, other},
		{v3, v1, v2, other, v3},
		{other, v2, v3, v1, v1},
	} {
		c := NewCollector(nil)
		for _, r := range order {
			c.Add([]sinks.MinuteRow{r})
		}
		rows := c.Rows()
		sinks.SortByKey(rows)
		if len(rows) != 2 || rows[0].Version != 3 || rows[0].Count != 150 || rows[1].TemplateID != idB {
			t.Fatalf("order %v: %+v", order, rows)
		}
		if st := c.Stats(); st.Rows != int64(len(order)) || st.Kept != 2 || st.First != minute(3) || st.Last != minute(3) {
			t.Fatalf("stats %+v", st)
		}
	}
	c := NewCollector(Options{Instances: []string{inst2}}.Keep())
	c.Add([]sinks.MinuteRow{v1, other})
	if len(c.Rows()) != 0 || c.Stats().Rows != 2 {
		t.Fatalf("filtered collector kept %d rows", len(c.Rows()))
	}
}

// TestDeterministic: the report does not depend on the order of the rows.
func TestDeterministic(t *testing.T) {
	cur, base := fixture()
	rows := concat(cur, base)
	o := Options{From: at(0), To: at(10), BaselineShift: 10 * 60e9}
	var want strings.Builder
	if err := mustBuild(t, rows, o).WriteJSON(&want); err != nil {
		t.Fatal(err)
	}
	for i := range 5 {
		slices.Reverse(rows)
		if i%2 == 1 {
			rows = append(rows[len(rows)/2:], rows[:len(rows)/2]...)
		}
		var got strings.Builder
		if err := mustBuild(t, rows, o).WriteJSON(&got); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			t.Fatalf("permutation %d changed the report", i)
		}
	}
}
