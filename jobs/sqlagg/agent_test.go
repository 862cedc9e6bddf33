package sqlagg

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/das-project/das/internal/sketch"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
)

// TestAgentRecords: what das agent sends — statements with an idempotency
// key and an edge template id, resends after an agent restart, and edge
// partial aggregates — is counted exactly once per statement.
func TestAgentRecords(t *testing.T) {
	fp := fingerprint.New()
	tid, tmpl := fp.Fingerprint([]byte("SELECT * FROM t WHERE id = 1"))
	stmt := func(ts, seq int64, lat int64) sources.Event {
		return sources.Event{TsMs: ts, Instance: "10.0.0.9:3306", DB: "app", SQL: []byte("SELECT * FROM t WHERE id = ?"),
			LatencyUs: lat, Src: "host1/slowlog/8:1234", Seq: seq, TemplateID: uint64(tid)}
	}
	var sk sketch.Sketch
	for _, v := range []int64{1000, 2000, 3000} {
		sk.Add(v)
	}
	partial := func(ts, seq int64) sources.Event {
		return sources.Event{TsMs: ts, Instance: "10.0.0.9:3306", DB: "app", SQL: []byte("SELECT * FROM t WHERE id = ?"),
			TemplateID: uint64(tid), Src: "host2/slowlog/8:99", Seq: seq,
			Count: 3, LatencyUs: 6000, LatencyMaxUs: 3000, Errors: 1, RowsSent: 3, LatencySketch: sk.Append(nil)}
	}
	noSketch := sources.Event{TsMs: t0 + 2_000, Instance: "10.0.0.9:3306", DB: "app", SQL: []byte("SELECT * FROM t WHERE id = ?"),
		TemplateID: uint64(tid), Count: 10, LatencyUs: 50_000, LatencyMaxUs: 20_000}
	lines := []string{
		line(stmt(t0+1_000, 10, 100)),
		line(stmt(t0+1_500, 20, 200)),
		line(partial(t0+1_000, 1<<20)),
		line(stmt(t0+1_000, 10, 100)), // the agent restarted and resent from seq 10
		line(stmt(t0+1_500, 20, 200)),
		line(stmt(t0+1_800, 30, 300)),
		line(partial(t0+1_000, 1<<20)), // the cut resent
		line(noSketch),                 // a performance_schema delta: sums, no distribution
		line(stmt(t0+3*60_000, 40, 1)), // closes minute 0
	}
	dir := t.TempDir()
	cfg := Config{Input: writeLines(t, lines), StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"),
		Now: func() time.Time { return time.UnixMilli(t0 + 3600_000) }}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Duplicates != 3 || sum.DeadLetteredTotal() != 0 {
		t.Fatalf("duplicates %d dead-lettered %v, want 3 and none", sum.Duplicates, sum.DeadLettered)
	}
	rows, err := parquet.ReadLatest(cfg.ParquetDir)
	if err != nil {
		t.Fatal(err)
	}
	var minute0 *struct{ count, sum, max, errs, sent, p99 int64 }
	for _, r := range rows {
		if r.TemplateID != tid.String() || r.Template != string(tmpl) {
			t.Fatalf("row %+v: template %s %q, want the edge id %s %q", r, r.TemplateID, r.Template, tid, tmpl)
		}
		if r.Minute == t0 {
			minute0 = &struct{ count, sum, max, errs, sent, p99 int64 }{r.Count, r.LatencySumUs, r.LatencyMaxUs, r.Errors, r.RowsSentSum, r.LatencyP99Us}
		}
	}
	// 3 statements + a partial of 3 + a partial of 10 without a sketch.
	want := struct{ count, sum, max, errs, sent, p99 int64 }{16, 100 + 200 + 300 + 6000 + 50_000, 20_000, 1, 3, 0}
	if minute0 == nil {
		t.Fatalf("no row for minute 0: %+v", rows)
	}
	got := *minute0
	got.p99 = 0
	if got != want {
		t.Fatalf("minute 0 = %+v, want %+v", got, want)
	}
	// The p99 comes from the six statements whose latencies are known
	// (100…3000 µs), not from the sketchless partial's 5000 µs mean.
	if minute0.p99 < 1980 || minute0.p99 > 3000 {
		t.Fatalf("p99 %d, want within the known distribution's top (2000–3000)", minute0.p99)
	}
}
