package gen

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math"
	"sort"
	"strings"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
)

func mustNew(t testing.TB, cfg Config) *Generator {
	t.Helper()
	g, err := New(cfg)
	if err != nil {
		t.Fatal(err)
	}
	return g
}

func jsonl(t testing.TB, cfg Config) []byte {
	t.Helper()
	var buf bytes.Buffer
	n, err := WriteJSONL(context.Background(), &buf, mustNew(t, cfg))
	if err != nil {
		t.Fatal(err)
	}
	if n != cfg.Events {
		t.Fatalf("wrote %d records, want %d", n, cfg.Events)
	}
	return buf.Bytes()
}

var fullCfg = Config{Seed: 7, Events: 20000, Rate: 50, Disorder: 2 * time.Second, LateFraction: 0.02,
	AllowedLateness: 2 * time.Minute, Incident: true, BadFraction: 0.01, Templates: 300}

func TestDeterministic(t *testing.T) {
	a := jsonl(t, fullCfg)
	b := jsonl(t, fullCfg)
	if !bytes.Equal(a, b) {
		t.Fatal("two runs with the same config differ")
	}
	other := fullCfg
	other.Seed = 8
	if bytes.Equal(a, jsonl(t, other)) {
		t.Fatal("different seeds give the same bytes")
	}
	// Bad records come from their own random stream: the same config
	// without them gives the same events on every undamaged line.
	clean := fullCfg
	clean.BadFraction = 0
	al, cl := bytes.Split(a, []byte("\n")), bytes.Split(jsonl(t, clean), []byte("\n"))
	same := 0
	for i := range al {
		if bytes.Equal(al[i], cl[i]) {
			same++
		}
	}
	if same < len(al)*97/100 {
		t.Fatalf("only %d of %d lines unchanged by BadFraction 0.01", same, len(al))
	}
}

// collectEvents runs g to its end, copying events.
type record struct {
	ev     sources.Event
	tmpl   int
	damage Damage
}

func run(t testing.TB, g *Generator) []record {
	t.Helper()
	var out []record
	var ev sources.Event
	for g.Next(&ev) {
		e := ev
		e.SQL = bytes.Clone(ev.SQL)
		out = append(out, record{ev: e, tmpl: int(g.out.tmpl), damage: g.Damage()})
	}
	return out
}

func TestTemplatesAndStatementShapes(t *testing.T) {
	g := mustNew(t, Config{Seed: 1, Events: 60000})
	recs := run(t, g)
	shapes := map[string]bool{}
	for _, tpl := range g.templates {
		if shapes[tpl.shape] {
			t.Fatalf("two templates share the shape %q", tpl.shape)
		}
		shapes[tpl.shape] = true
	}
	if s := g.Summary(); s.TemplatesSeen < 450 {
		t.Fatalf("%d of 500 templates seen in 60000 events", s.TemplatesSeen)
	}
	checks := []struct {
		name string
		ok   func(r record) bool
	}{
		{"syntax error 1064", func(r record) bool { return r.ev.ErrCode == 1064 }},
		{"duplicate key 1062", func(r record) bool { return r.ev.ErrCode == 1062 }},
		{"deadlock 1213", func(r record) bool { return r.ev.ErrCode == 1213 }},
		{"lock wait timeout 1205 at 50 s", func(r record) bool { return r.ev.ErrCode == 1205 && r.ev.LatencyUs >= 50e6 }},
		{"not UTF-8", func(r record) bool { return !utf8.Valid(r.ev.SQL) }},
		{"non-ASCII UTF-8", func(r record) bool { return utf8.Valid(r.ev.SQL) && bytes.ContainsAny(r.ev.SQL, "éü東🚀") }},
		{"comment prefix", func(r record) bool {
			return bytes.HasPrefix(r.ev.SQL, []byte("/*")) || bytes.HasPrefix(r.ev.SQL, []byte("--"))
		}},
		{"optimizer hint", func(r record) bool { return bytes.Contains(r.ev.SQL, []byte("/*+")) }},
		{"very long (> 5000 bytes)", func(r record) bool { return len(r.ev.SQL) > 5000 }},
		{"IN list", func(r record) bool { return bytes.Contains(r.ev.SQL, []byte(" IN (")) }},
		{"multi-row insert", func(r record) bool { return bytes.Contains(r.ev.SQL, []byte("), (")) && r.ev.RowsAffected > 1 }},
		{"join", func(r record) bool { return bytes.Contains(r.ev.SQL, []byte(" JOIN ")) }},
		{"update", func(r record) bool { return bytes.HasPrefix(bytes.ToUpper(r.ev.SQL), []byte("UPDATE ")) }},
		{"delete", func(r record) bool { return bytes.HasPrefix(bytes.ToUpper(r.ev.SQL), []byte("DELETE ")) }},
		{"begin", func(r record) bool { s := string(r.ev.SQL); return s == "BEGIN" || s == "START TRANSACTION" }},
		{"commit", func(r record) bool { return string(r.ev.SQL) == "COMMIT" }},
		{"show", func(r record) bool { return bytes.HasPrefix(r.ev.SQL, []byte("SHOW ")) }},
		{"set", func(r record) bool { return bytes.HasPrefix(r.ev.SQL, []byte("SET ")) }},
		{"ORM style", func(r record) bool {
			return bytes.HasPrefix(r.ev.SQL, []byte("select ")) && bytes.Contains(r.ev.SQL, []byte("0_."))
		}},
		{"backquotes", func(r record) bool { return bytes.Contains(r.ev.SQL, []byte("`")) }},
	}
	for _, c := range checks {
		found := false
		for _, r := range recs {
			if c.ok(r) {
				found = true
				break
			}
		}
		if !found {
			t.Errorf("no %s statement in 60000 events", c.name)
		}
	}
	// Literals vary: the most popular template's executions are not all
	// the same text.
	texts := map[string]bool{}
	for _, r := range recs {
		if r.tmpl == 0 {
			texts[string(r.ev.SQL)] = true
		}
	}
	if len(texts) < 100 {
		t.Fatalf("template 0 has only %d distinct texts", len(texts))
	}
	errs := 0
	for _, r := range recs {
		if r.ev.ErrCode != 0 {
			errs++
		}
		if err := sources.Check(&r.ev); err != nil {
			t.Fatalf("generated event fails Check: %v", err)
		}
		if r.ev.RowsExamined < r.ev.RowsSent && r.ev.ErrCode == 0 {
			t.Fatalf("rows_examined %d < rows_sent %d: %s", r.ev.RowsExamined, r.ev.RowsSent, r.ev.SQL)
		}
	}
	if f := float64(errs) / float64(len(recs)); f < 0.002 || f > 0.05 {
		t.Fatalf("error fraction %.4f, want a realistic 0.2%%..5%%", f)
	}
}

func TestPopularityIsZipf(t *testing.T) {
	g := mustNew(t, Config{Seed: 3, Events: 100000})
	counts := make([]int, 500)
	var ev sources.Event
	for g.Next(&ev) {
		counts[g.out.tmpl]++
	}
	cdf := zipfCDF(500, 1)
	for _, rank := range []int{0, 1, 9, 99} {
		want := popularity(cdf, rank) * 100000
		if got := float64(counts[rank]); math.Abs(got-want) > 5*math.Sqrt(want)+1 {
			t.Errorf("rank %d: %v events, want about %.0f", rank, got, want)
		}
	}
}

func TestMeanStatementLength(t *testing.T) {
	for _, mean := range []int{0, 120, 600} {
		g := mustNew(t, Config{Seed: 5, Events: 50000, MeanSQLBytes: mean})
		run(t, g)
		want := float64(mean)
		if mean == 0 {
			want = DefaultMeanSQLBytes
		}
		if got := g.Summary().MeanSQLBytes; math.Abs(got-want) > want*0.1 {
			t.Errorf("MeanSQLBytes %d: measured mean %.1f", mean, got)
		}
	}
}

func TestDisorderBound(t *testing.T) {
	const d = 3 * time.Second
	recs := run(t, mustNew(t, Config{Seed: 2, Events: 30000, Rate: 500, Disorder: d}))
	maxTs := recs[0].ev.TsMs
	worst := int64(0)
	for i, r := range recs {
		if lag := maxTs - r.ev.TsMs; lag > worst {
			worst = lag
		}
		if maxTs-r.ev.TsMs > d.Milliseconds() {
			t.Fatalf("event %d is %d ms behind the max event time, disorder bound is %s", i, maxTs-r.ev.TsMs, d)
		}
		maxTs = max(maxTs, r.ev.TsMs)
	}
	if worst < d.Milliseconds()*8/10 {
		t.Fatalf("largest disorder %d ms, want close to the bound %s", worst, d)
	}
}

func TestLateEvents(t *testing.T) {
	const (
		d = 2 * time.Second
		L = 3 * time.Minute
		F = 0.03
	)
	cfg := Config{Seed: 4, Events: 100000, Rate: 50, Disorder: d, LateFraction: F, AllowedLateness: L}
	g := mustNew(t, cfg)
	recs := run(t, g)
	sum := g.Summary()
	dms, lms := d.Milliseconds(), L.Milliseconds()
	maxTs := recs[0].ev.TsMs
	var corr, beyond int64
	for i, r := range recs {
		lag := maxTs - r.ev.TsMs
		maxTs = max(maxTs, r.ev.TsMs)
		switch {
		case lag <= dms:
		case lag >= 60_000-dms-1000 && lag <= dms+lms:
			corr++
		case lag >= lms+60_000-dms-1000 && lag <= dms+2*lms+60_000:
			beyond++
		default:
			t.Fatalf("event %d is %d ms late: neither within disorder %s, a correction nor beyond lateness %s", i, lag, d, L)
		}
	}
	if corr != sum.Late || beyond != sum.LateBeyond {
		t.Fatalf("measured %d corrections and %d beyond, summary says %d and %d", corr, beyond, sum.Late, sum.LateBeyond)
	}
	// Events in the first D+2L+1m (421 s of a 2000 s run) are less often
	// late, so the fraction is a bit under F.
	frac := float64(corr+beyond) / float64(len(recs))
	if frac < F*0.75 || frac > F*1.05 {
		t.Fatalf("late fraction %.4f, want about %g", frac, F)
	}
	if share := float64(beyond) / float64(corr+beyond); math.Abs(share-DefaultLateBeyondShare) > 0.06 {
		t.Fatalf("beyond-lateness share %.3f, want about %g", share, DefaultLateBeyondShare)
	}
}

func TestIncident(t *testing.T) {
	cfg := Config{Seed: 9, Events: 120000, Rate: 200, Incident: true}
	g := mustNew(t, cfg)
	inc := g.Incident()
	// The run spans 600 s; the storm lasts a fifth of it, shorter than
	// the default 3 minutes.
	dur := 2 * time.Minute
	if inc == nil || inc.End.Sub(inc.Start) != dur {
		t.Fatalf("incident %+v, want %s long", inc, dur)
	}
	// The run spans 600 s: the storm starts in the middle.
	if inc.Start != DefaultStart.Add(5*time.Minute) {
		t.Fatalf("incident starts at %s, want the middle of the run", inc.Start)
	}
	recs := run(t, g)
	before := inc.Start.Add(-dur)
	var nIn, nBefore int
	var latIn, latBefore []float64
	for _, r := range recs {
		if r.tmpl != inc.Template || r.ev.Instance != inc.Instance || r.ev.ErrCode != 0 {
			continue
		}
		ts := time.UnixMilli(r.ev.TsMs)
		switch {
		case !ts.Before(inc.Start) && ts.Before(inc.End):
			nIn++
			latIn = append(latIn, float64(r.ev.LatencyUs))
		case !ts.Before(before) && ts.Before(inc.Start):
			nBefore++
			latBefore = append(latBefore, float64(r.ev.LatencyUs))
		}
	}
	if nBefore == 0 || float64(nIn)/float64(nBefore) < 6 || float64(nIn)/float64(nBefore) > 15 {
		t.Fatalf("storm template ran %d times in the storm, %d times before it; want about 10x", nIn, nBefore)
	}
	if r := median(latIn) / median(latBefore); r < 25 || r > 100 {
		t.Fatalf("median latency ratio %.1f in the storm, want about 50", r)
	}
	if !strings.Contains(inc.Kind, "select") && inc.Kind != "join" && inc.Kind != "aggregate" && inc.Kind != "count" && inc.Kind != "subquery" {
		t.Fatalf("storm template kind %s", inc.Kind)
	}
}

func median(xs []float64) float64 {
	sort.Float64s(xs)
	return xs[len(xs)/2]
}

func TestBadRecords(t *testing.T) {
	cfg := Config{Seed: 6, Events: 40000, BadFraction: 0.05}
	g := mustNew(t, cfg)
	var buf bytes.Buffer
	if _, err := WriteJSONL(context.Background(), &buf, g); err != nil {
		t.Fatal(err)
	}
	var d sources.Decoder
	var ev sources.Event
	got := map[string]int64{}
	lines := bytes.Split(bytes.TrimSuffix(buf.Bytes(), []byte("\n")), []byte("\n"))
	for _, line := range lines {
		if err := d.Decode(line, &ev); err != nil {
			got[err.(*sources.DecodeError).Reason]++
		}
	}
	want := g.Summary().Bad
	if len(want) != int(numDamages)-1 {
		t.Fatalf("damage kinds %v, want all %d", want, numDamages-1)
	}
	total := int64(0)
	for reason, n := range want {
		if got[reason] != n {
			t.Errorf("%s: decoder rejected %d, generator damaged %d", reason, got[reason], n)
		}
		total += n
	}
	if f := float64(total) / float64(len(lines)); math.Abs(f-0.05) > 0.006 {
		t.Fatalf("bad fraction %.4f, want 0.05", f)
	}
}

// TestArrowMatchesJSONL: both formats carry the same records.
func TestArrowMatchesJSONL(t *testing.T) {
	cfg := fullCfg
	cfg.Events = 5000
	var ab bytes.Buffer
	n, err := WriteArrow(context.Background(), &ab, mustNew(t, cfg), arrowipc.WriterOptions{BatchRows: 1000})
	if err != nil || n != cfg.Events {
		t.Fatalf("WriteArrow: %d, %v", n, err)
	}
	lines := bytes.Split(jsonl(t, cfg), []byte("\n"))
	src, err := arrowipc.New(bytes.NewReader(ab.Bytes()), "gen", arrowipc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var d sources.Decoder
	var want sources.Event
	rows := 0
	for {
		b, err := src.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rej := map[int64]string{}
		for _, r := range b.Rejects {
			rej[r.Offset] = r.Reason
		}
		item := 0
		for off := b.NextOffset - int64(len(b.Items)+len(b.Rejects)); off < b.NextOffset; off++ {
			derr := d.Decode(lines[off], &want)
			if reason, ok := rej[off]; ok {
				var de *sources.DecodeError
				if !errors.As(derr, &de) {
					t.Fatalf("row %d rejected (%s) from Arrow, decoded from JSON", off, reason)
				}
				if de.Reason != reason && !(de.Reason == sources.ReasonMalformed && reason == sources.ReasonMissingTs) {
					t.Fatalf("row %d: Arrow reason %s, JSON reason %s", off, reason, de.Reason)
				}
			} else {
				if derr != nil {
					t.Fatalf("row %d: JSON rejected (%v), Arrow accepted", off, derr)
				}
				if got := sources.AppendJSON(nil, &b.Items[item]); !bytes.Equal(got, lines[off]) {
					t.Fatalf("row %d:\narrow %s\njson  %s", off, got, lines[off])
				}
				item++
			}
			rows++
		}
	}
	if rows != int(cfg.Events) {
		t.Fatalf("%d Arrow rows, want %d", rows, cfg.Events)
	}
}

func TestKeys(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		keys int64 // 0: use the config's own rate
	}{
		{"defaults", Config{Seed: 1, Events: 100000}, 0},
		{"2 keys per 5 events", Config{Seed: 1, Events: 100000, Templates: 500}, 40000},
		{"many instances", Config{Seed: 1, Events: 100000, Instances: 40, DBsPerInstance: 8, Templates: 200}, 70000},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := tc.cfg
			if tc.keys > 0 {
				rate, err := RateForKeys(cfg, tc.keys)
				if err != nil {
					t.Fatal(err)
				}
				cfg.Rate = rate
			}
			want, err := ExpectedKeys(cfg)
			if err != nil {
				t.Fatal(err)
			}
			if tc.keys > 0 && math.Abs(want-float64(tc.keys)) > 1 {
				t.Fatalf("ExpectedKeys at RateForKeys = %.0f, want %d", want, tc.keys)
			}
			g := mustNew(t, cfg)
			type key struct {
				inst, db string
				tmpl     int
				minute   int64
			}
			keys := map[key]bool{}
			var ev sources.Event
			for g.Next(&ev) {
				keys[key{ev.Instance, ev.DB, int(g.out.tmpl), ev.TsMs / 60000}] = true
			}
			if got := float64(len(keys)); math.Abs(got-want) > want*0.04 {
				t.Fatalf("%d distinct keys, ExpectedKeys says %.0f (rate %.3f/s)", len(keys), want, cfg.Rate)
			}
		})
	}
	if _, err := RateForKeys(Config{Events: 1000}, 1000); !errors.Is(err, ErrConfig) {
		t.Fatalf("keys = events: %v", err)
	}
	// 1000 combinations: even with every event in one minute there are
	// about 1000 keys, never 500.
	if _, err := RateForKeys(Config{Events: 1000000, Templates: 10, Instances: 10, DBsPerInstance: 10}, 500); !errors.Is(err, ErrConfig) {
		t.Fatalf("unreachable key count: %v", err)
	}
}

func TestConfigValidation(t *testing.T) {
	for _, cfg := range []Config{
		{Events: -1}, {Rate: -1}, {Instances: -1}, {Instances: 70000}, {Templates: 20001}, {MeanSQLBytes: 10},
		{Skew: -1}, {Disorder: -time.Second}, {Disorder: 2 * time.Hour}, {LateFraction: 1}, {LateFraction: -0.1},
		{AllowedLateness: time.Minute}, {LateBeyondShare: 1.5}, {BadFraction: 1}, {IncidentStart: -1},
		{Start: time.Unix(-10, 0)},
	} {
		if _, err := New(cfg); !errors.Is(err, ErrConfig) {
			t.Errorf("New(%+v) = %v, want ErrConfig", cfg, err)
		}
	}
	c, err := Config{}.withDefaults()
	if err != nil {
		t.Fatal(err)
	}
	if c.Rate != DefaultRate || c.Instances != DefaultInstances || c.Templates != DefaultTemplates ||
		!c.Start.Equal(DefaultStart) || c.AllowedLateness != DefaultAllowedLateness || c.IncidentStart != 10*time.Minute {
		t.Fatalf("defaults: %+v", c)
	}
}

func TestUnboundedAndContext(t *testing.T) {
	g := mustNew(t, Config{Seed: 1})
	ctx, cancel := context.WithCancel(context.Background())
	var w countWriter
	w.after, w.cancel = 1<<20, cancel
	n, err := WriteJSONL(ctx, &w, g)
	if !errors.Is(err, context.Canceled) || n == 0 {
		t.Fatalf("unbounded WriteJSONL stopped with %d records, %v; want context.Canceled", n, err)
	}
}

// countWriter cancels a context once it has seen after bytes.
type countWriter struct {
	n, after int
	cancel   func()
}

func (w *countWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n >= w.after {
		w.cancel()
	}
	return len(p), nil
}

func BenchmarkNext(b *testing.B) {
	g := mustNew(b, Config{Seed: 1})
	var ev sources.Event
	var n int64
	b.ReportAllocs()
	for b.Loop() {
		g.Next(&ev)
		n += int64(len(ev.SQL))
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(n)/float64(b.N), "sql-bytes/event")
}

func BenchmarkWriteJSONL(b *testing.B) {
	g := mustNew(b, Config{Seed: 1, Events: int64(b.N)})
	var w countWriter
	w.after, w.cancel = math.MaxInt, func() {}
	b.ReportAllocs()
	b.ResetTimer()
	if _, err := WriteJSONL(context.Background(), &w, g); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "events/s")
	b.ReportMetric(float64(w.n)/float64(b.N), "bytes/event")
}

func BenchmarkNew(b *testing.B) {
	for b.Loop() {
		mustNew(b, Config{Seed: 1})
	}
}
