package report

import (
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// t0 is 2026-03-01T10:00:00Z, the start of the fixture's current range.
const t0 = int64(1772359200000)

func minute(i int) int64 { return t0 + int64(i)*sinks.MinuteMs }

func at(i int) time.Time { return time.UnixMilli(minute(i)).UTC() }

const (
	idA = "aaaaaaaaaaaaaaaa"
	idB = "bbbbbbbbbbbbbbbb"
	idC = "cccccccccccccccc"
	idD = "dddddddddddddddd"

	inst1 = "10.0.0.1:3306"
	inst2 = "10.0.0.2:3306"
)

var texts = map[string][2]string{ // template, sample
	idA: {"SELECT * FROM orders WHERE id = ?", "select * from orders where id = ?"},
	idB: {"UPDATE users SET name = ? WHERE id = ?", "UPDATE users SET name=? WHERE id=?"},
	idC: {"SELECT COUNT(*) FROM big", "SELECT COUNT(*) FROM big /* report */"},
	idD: {"DELETE FROM sessions WHERE expires < ?", "DELETE FROM sessions WHERE expires < ?"},
}

// row is a version-1 minute row of template id in minute i on inst1, db
// "shop", with the given count, latency sum and quantiles (p50, p95, p99,
// max).
func row(id string, i int, count, latSum int64, q [4]int64) sinks.MinuteRow {
	return sinks.MinuteRow{
		Instance: inst1, DB: "shop", TemplateID: id, FingerprintVersion: 1,
		Template: texts[id][0], SampleSQL: texts[id][1],
		Minute: minute(i), Version: 1, Count: count, LatencySumUs: latSum,
		LatencyP50Us: q[0], LatencyP95Us: q[1], LatencyP99Us: q[2], LatencyMaxUs: q[3],
		LockSumUs: count * 10, RowsSentSum: count, RowsExaminedSum: count,
	}
}

// fixture returns the rows of the hand-computed report, all at their final
// version, in two sets: the current range [t0, t0+10m) and the baseline
// [t0-10m, t0).
//
// Current range (600 s):
//
//	A: minutes 0..9, 100 statements a minute, 100 ms each minute (avg 1 ms),
//	   p99 3000 µs: 1000 statements, 1.0 s
//	B: minutes 0 and 5, 50 statements each, 600 ms each; 2 errors in
//	   minute 5: 100 statements, 1.2 s, estimated p99 27109 µs
//	C: minute 9, one statement of 2 s examining 1 M rows
//
// Baseline: A as in the current range at half the latency; C the same;
// D (absent now) in minute -5; no B.
func fixture() (cur, base []sinks.MinuteRow) {
	for i := range 10 {
		cur = append(cur, row(idA, i, 100, 100_000, [4]int64{800, 2000, 3000, 5000}))
	}
	b0 := row(idB, 0, 50, 600_000, [4]int64{8000, 15000, 20000, 25000})
	b5 := row(idB, 5, 50, 600_000, [4]int64{9000, 20000, 30000, 40000})
	b5.Errors = 2
	c9 := row(idC, 9, 1, 2_000_000, [4]int64{2_000_000, 2_000_000, 2_000_000, 2_000_000})
	c9.RowsExaminedSum = 1_000_000
	cur = append(cur, b0, b5, c9)

	for i := -10; i < 0; i++ {
		base = append(base, row(idA, i, 100, 50_000, [4]int64{400, 1000, 1500, 2500}))
	}
	c := row(idC, -1, 1, 2_000_000, [4]int64{2_000_000, 2_000_000, 2_000_000, 2_000_000})
	c.RowsExaminedSum = 1_000_000
	base = append(base, c, row(idD, -5, 10, 100_000, [4]int64{9000, 10000, 12000, 15000}))
	return cur, base
}

// writeParquet writes each epoch's rows through the real Parquet sink
// (Write, Precommit, Commit) as a writer with the given prefix.
func writeParquet(t testing.TB, dir, prefix string, epochs ...[]sinks.MinuteRow) {
	t.Helper()
	w, err := parquet.New(dir, parquet.Options{Prefix: prefix, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(sinks.Pending{}); err != nil {
		t.Fatal(err)
	}
	for i, rows := range epochs {
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		p, err := w.Precommit(uint64(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
}

// curOpts are the options of the current range of the fixture.
func curOpts() Options {
	return Options{From: at(0), To: at(10)}
}

func mustBuild(t testing.TB, rows []sinks.MinuteRow, o Options) *Report {
	t.Helper()
	rep, err := Build(rows, o)
	if err != nil {
		t.Fatal(err)
	}
	return rep
}

func concat(sets ...[]sinks.MinuteRow) []sinks.MinuteRow {
	var out []sinks.MinuteRow
	for _, s := range sets {
		out = append(out, s...)
	}
	return out
}
