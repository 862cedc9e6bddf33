package crosscheck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/jobs/sqlagg"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources/slowlog"
)

// readEntries reads a slow log with das's source: the statements, in log
// order, and the rejects.
func readEntries(t testing.TB, path string, limit int64) (sqls []string, rejects int) {
	t.Helper()
	src, err := slowlog.Open(path, slowlog.Options{Instance: "x:1"})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return sqls, rejects
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range b.Items {
			if limit > 0 && b.ItemOffsets[i] >= limit {
				return sqls, rejects
			}
			sqls = append(sqls, string(ev.SQL))
		}
		for _, rj := range b.Rejects {
			t.Errorf("das rejected the entry at %d: %s %s\n%.300q", rj.Offset, rj.Reason, rj.Detail, rj.Raw)
			rejects++
		}
	}
}

// runJob runs `das run sqlagg --input slowlog:PATH` in process and returns
// the count per template id and the total.
func runJob(t testing.TB, path, instance string) (map[string]int64, int64) {
	t.Helper()
	dir := t.TempDir()
	sum, err := sqlagg.Run(context.Background(), sqlagg.Config{Input: "slowlog:" + path, Instance: instance,
		StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq")})
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeadLetteredTotal() != 0 {
		t.Fatalf("das dead-lettered %v", sum.DeadLettered)
	}
	rows, err := parquet.ReadLatest(filepath.Join(dir, "pq"))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int64{}
	var total int64
	for _, r := range rows {
		if r.Instance != instance {
			t.Fatalf("row of instance %q, want %q", r.Instance, instance)
		}
		counts[r.TemplateID] += r.Count
		total += r.Count
	}
	return counts, total
}

// component is a set of das templates and pt-query-digest classes that
// share statements: where both tools agree on what a template is, it is
// one of each.
type component struct {
	das []string // das templates
	pt  []string // pt fingerprints
}

func (c component) key() string {
	return fmt.Sprintf("das %q ⇄ pt %q", c.das, c.pt)
}

// knownDifferences are the components where das and pt-query-digest
// (--preserve-embedded-numbers) group the workload's statements
// differently, each on purpose on das's side; docs/collection.md explains
// them with these examples. Any other disagreement fails the test.
var knownDifferences = []component{
	// pt keeps the spacing of the text: sysbench's "id=?" and a hand-written
	// "id = ?" are two pt classes; das spaces tokens canonically.
	{das: []string{"select c from sbtest1 where id = ?"},
		pt: []string{"select c from sbtest1 where id = ?", "select c from sbtest1 where id=?"}},
	// pt leaves the space before a removed "-- comment", and takes a first
	// statement line starting with "#" for a header line (dropping its "#");
	// das removes comments of all three kinds.
	{das: []string{"select id from sbtest1 where id = ?"},
		pt: []string{"a hash comment line select id from sbtest1 where id = ?", "select id from sbtest1 where id = ?", "select id from sbtest1 where id = ? "}},
	// pt turns the database of USE into "?"; das keeps names, and a
	// database name is not a literal.
	{das: []string{"use crosscheck_other", "use sbtest"}, pt: []string{"use ?"}},
	// pt folds every LIMIT form into "limit ?" and drops ASC after ORDER
	// BY; das keeps the statement's shape.
	{das: []string{"select id from sbtest1 order by id asc limit ?", "select id from sbtest1 order by id limit ?", "select id from sbtest1 order by id limit ?, ?"},
		pt: []string{"select id from sbtest1 order by id limit ?"}},
}

// TestSlowLogAgainstPtQueryDigest runs sysbench oltp_read_write and the odd
// statements against a real MariaDB with its slow log at long_query_time=0
// and checks das against pt-query-digest on that log: the same number of
// statements, the same statement text entry by entry, and the same count
// per template wherever both tools agree on what a template is (the other
// cases are exactly knownDifferences). It then adds what pt-query-digest
// gets wrong — a string holding ";" + newline + "#", a server restart — and
// checks that das still counts exactly the statements the server ran.
func TestSlowLogAgainstPtQueryDigest(t *testing.T) {
	w := runWorkload(t, workloadOptions{})
	instance := w.srv.Addr

	// Phase 1: both tools on the log as the workload left it.
	pt := runPtQueryDigest(t, w.slowLog)
	sqls, rejects := readEntries(t, w.slowLog, 0)
	counts, total := runJob(t, w.slowLog, instance)
	if rejects != 0 || int64(len(sqls)) != total {
		t.Fatalf("das: %d entries read, %d rejected, %d counted by the job", len(sqls), rejects, total)
	}
	if total != pt.Total || int64(len(pt.Events)) != pt.Total {
		t.Fatalf("das counts %d statements, pt-query-digest %d (%d events)", total, pt.Total, len(pt.Events))
	}
	if total < 3000 {
		t.Fatalf("only %d statements: the workload did not run", total)
	}
	t.Logf("%d statements in the slow log; das and pt-query-digest count the same", total)

	// Entry by entry, the statement text is pt's, but for a first line
	// starting with "#" (pt reads it as a header line).
	var textDiffs []string
	for i, s := range sqls {
		if p := pt.Events[i].arg; p != s {
			if strings.HasPrefix(s, "# ") && p == s[2:] {
				textDiffs = append(textDiffs, s)
				continue
			}
			t.Errorf("entry %d: das %.200q, pt-query-digest %.200q", i, s, p)
		}
	}
	if len(textDiffs) != 1 {
		t.Errorf("statements pt reads without their leading '# ': %q, want the one hand-written", textDiffs)
	}

	// Per template. Statements link das templates and pt classes; each
	// connected group with one of each must have the same count in das's
	// minute aggregates and in pt's report.
	fp := fingerprint.New()
	ids := map[string]string{} // das template → id
	links := map[[2]string]int64{}
	for i, s := range sqls {
		id, tmpl := fp.Fingerprint([]byte(s))
		ids[string(tmpl)] = id.String()
		links[[2]string{string(tmpl), pt.Events[i].fingerprint}]++
	}
	agree, differ := 0, []component{}
	for _, c := range components(links) {
		var dasN, ptN int64
		for _, d := range c.das {
			dasN += counts[ids[d]]
		}
		for _, p := range c.pt {
			ptN += pt.Classes[p]
		}
		if dasN != ptN {
			t.Errorf("%s: das counts %d, pt-query-digest %d", c.key(), dasN, ptN)
		}
		if len(c.das) == 1 && len(c.pt) == 1 {
			agree++
		} else {
			differ = append(differ, c)
		}
	}
	var got, want []string
	for _, c := range differ {
		got = append(got, c.key())
	}
	for _, c := range knownDifferences {
		slices.Sort(c.das)
		slices.Sort(c.pt)
		want = append(want, c.key())
	}
	slices.Sort(got)
	slices.Sort(want)
	if strings.Join(got, "\n") != strings.Join(want, "\n") {
		t.Errorf("templates where das and pt-query-digest disagree:\n%s\nwant (docs/collection.md):\n%s", strings.Join(got, "\n"), strings.Join(want, "\n"))
	}
	t.Logf("%d templates agree with pt-query-digest classes, count for count; %d groups differ as documented", agree, len(differ))

	// Phase 2: what pt-query-digest gets wrong. The truth is the
	// statements sent, each of which the server logs.
	phase1 := len(sqls)
	extra := []string{
		"SELECT 'x;\n# a line of a string after a semicolon', 1",
		"SELECT id FROM sbtest1 WHERE id = 11",
		"SELECT id FROM sbtest1 WHERE id = 12",
	}
	afterRestart := []string{"SELECT id FROM sbtest1 WHERE id = 13", "SELECT id FROM sbtest1 WHERE id = 14"}
	runStatements(t, w, extra)
	if err := w.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := w.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	if err := w.srv.EnableSlowLog(w.slowLog); err != nil {
		t.Fatal(err)
	}
	runStatements(t, w, afterRestart)
	waitQuiet(t, w.slowLog)

	sqls, rejects = readEntries(t, w.slowLog, 0)
	sent := append(append([]string{}, extra...), afterRestart...)
	if rejects != 0 || len(sqls) != phase1+len(sent) || !slices.Equal(sqls[phase1:], sent) {
		t.Fatalf("das read %d entries (%d rejected), want %d; the last ones:\n%q\nwant\n%q", len(sqls), rejects, phase1+len(sent), sqls[min(phase1, len(sqls)):], sent)
	}
	_, total = runJob(t, w.slowLog, instance)
	pt2 := runPtQueryDigest(t, w.slowLog)
	if total != int64(phase1+len(sent)) {
		t.Fatalf("das job counted %d, want %d", total, phase1+len(sent))
	}
	mangled := 0
	for i := phase1; i < len(pt2.Events); i++ {
		if i >= len(sqls) || pt2.Events[i].arg != sqls[i] {
			mangled++
		}
	}
	t.Logf("after a ';\\n#' inside a string and a restart: das %d statements (all %d sent), pt-query-digest %d, %d of pt's last %d events garbled",
		total, phase1+len(sent), pt2.Total, mangled, len(pt2.Events)-phase1)
	if pt2.Total == total && mangled == 0 {
		t.Errorf("pt-query-digest read the hard cases right: update docs/collection.md")
	}
}

// runStatements runs statements on a fresh connection to sbtest.
func runStatements(t testing.TB, w *workload, stmts []string) {
	t.Helper()
	db, err := sql.Open("mysql", w.srv.DSN("sbtest"))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range stmts {
		rows, err := conn.QueryContext(ctx, s)
		if err == nil {
			err = drain(rows)
		}
		if err != nil {
			t.Fatalf("%.80q: %v", s, err)
		}
	}
}

// components splits the bipartite graph of (das template, pt class) links
// into connected groups.
func components(links map[[2]string]int64) []component {
	parent := map[string]string{}
	var find func(string) string
	find = func(x string) string {
		if parent[x] == "" || parent[x] == x {
			parent[x] = x
			return x
		}
		r := find(parent[x])
		parent[x] = r
		return r
	}
	for l := range links {
		a, b := find("d\x00"+l[0]), find("p\x00"+l[1])
		if a != b {
			parent[a] = b
		}
	}
	groups := map[string]*component{}
	seen := map[string]bool{}
	for l := range links {
		r := find("d\x00" + l[0])
		c := groups[r]
		if c == nil {
			c = &component{}
			groups[r] = c
		}
		if !seen["d\x00"+l[0]] {
			seen["d\x00"+l[0]] = true
			c.das = append(c.das, l[0])
		}
		if !seen["p\x00"+l[1]] {
			seen["p\x00"+l[1]] = true
			c.pt = append(c.pt, l[1])
		}
	}
	var out []component
	for _, c := range groups {
		sort.Strings(c.das)
		sort.Strings(c.pt)
		out = append(out, *c)
	}
	return out
}
