package sqlagg

import (
	"bufio"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
)

const t0 = int64(1_767_225_600_000) // 2026-01-01T00:00:00Z

func line(ev sources.Event) string { return string(sources.AppendJSON(nil, &ev)) }

func writeLines(t *testing.T, lines []string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(p, []byte(strings.Join(lines, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func readDeadLetter(t *testing.T, path string) []map[string]any {
	t.Helper()
	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out []map[string]any
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("dead letter line %q is not JSON: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

func TestJobEndToEnd(t *testing.T) {
	now := time.UnixMilli(t0 + 3600_000)
	ev := func(ts int64, sql string, lat int64) sources.Event {
		return sources.Event{TsMs: ts, Instance: "10.0.0.1:3306", DB: "shop", User: "app", SQL: []byte(sql), LatencyUs: lat, RowsSent: 1, RowsExamined: 10}
	}
	lines := []string{
		line(ev(t0+1000, "SELECT * FROM orders WHERE id = 1", 100)),
		line(ev(t0+2000, "select *  from orders where id=22 -- c", 300)),
		`{"ts_ms": 1767225603000, "instance": "10.0.0.1:3306", "sql": "not json`, // malformed
		`{"ts_ms": 1767225603000, "instance": "10.0.0.1:3306"}`,                  // missing sql
		line(ev(t0+61_000, "UPDATE stock SET n = n - 1 WHERE sku = 'x'", 50)),
		line(ev(t0+30_000, "SELECT * FROM orders WHERE id = 3", 200)),  // out of order, on time
		line(ev(t0+20*60_000, "SELECT 1", 5)),                          // moves the watermark 20 min on
		line(ev(t0+15*60_000, "SELECT * FROM orders WHERE id = 4", 7)), // late, within 10 min lateness of its minute? no: 5 min behind → correction of a new minute
		line(ev(t0+5_000, "SELECT * FROM orders WHERE id = 5", 1)),     // 20 min late: dead letter
		line(ev(t0+48*3600_000, "SELECT 2", 1)),                        // future vs the injected clock
	}
	// Every statement counts: odd SQL is aggregated under some template.
	odd := []string{"", "/* only a comment */", "SELEC garbage ((( 'unterminated", "\xff\xfe binary"}
	for i, s := range odd {
		lines = append(lines, line(ev(t0+20*60_000+int64(i), s, 1)))
	}
	in := writeLines(t, lines)
	dir := t.TempDir()
	cfg := Config{Input: in, StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"),
		Now: func() time.Time { return now }}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != int64(len(lines)) {
		t.Fatalf("records %d, want %d", sum.Records, len(lines))
	}
	wantDL := map[string]int64{"malformed": 1, "missing:sql": 1, "late": 1, "future": 1}
	for k, v := range wantDL {
		if sum.DeadLettered[k] != v {
			t.Errorf("dead lettered %s = %d, want %d (all: %v)", k, sum.DeadLettered[k], v, sum.DeadLettered)
		}
	}
	dl := readDeadLetter(t, sum.DeadLetter)
	if len(dl) != 4 {
		t.Fatalf("dead letter has %d lines, want 4: %v", len(dl), dl)
	}
	if dl[0]["reason"] != "malformed" || !strings.Contains(dl[0]["raw"].(string), "not json") {
		t.Errorf("first dead letter line %v", dl[0])
	}
	rows, err := parquet.ReadLatest(cfg.ParquetDir)
	if err != nil {
		t.Fatal(err)
	}
	byKey := map[string]sinks.MinuteRow{}
	var total int64
	for _, r := range rows {
		byKey[fmt.Sprintf("%s|%d", r.Template, (r.Minute-t0)/60000)] = r
		total += r.Count
		if r.FingerprintVersion != fingerprint.Version || len(r.TemplateID) != 16 {
			t.Errorf("row %+v: bad template id/version", r)
		}
	}
	// Conservation: rows + dead letter = records.
	if total+int64(len(dl)) != int64(len(lines)) {
		t.Fatalf("aggregated %d + dead-lettered %d != %d records", total, len(dl), len(lines))
	}
	fp := fingerprint.New()
	_, tmpl := fp.Fingerprint([]byte("SELECT * FROM orders WHERE id = 1"))
	r, ok := byKey[string(tmpl)+"|0"]
	if !ok {
		t.Fatalf("no row for %q minute 0; rows: %v", tmpl, byKey)
	}
	if r.Count != 3 || r.LatencySumUs != 600 || r.LatencyMaxUs != 300 || r.RowsSentSum != 3 || r.RowsExaminedSum != 30 || r.Version != 1 {
		t.Errorf("minute 0 orders row: %+v", r)
	}
	if r.LatencyP50Us < 198 || r.LatencyP50Us > 202 || r.LatencyP99Us > 300 {
		t.Errorf("quantiles p50=%d p99=%d", r.LatencyP50Us, r.LatencyP99Us)
	}
	if strings.Contains(r.SampleSQL, "1") && strings.Contains(r.SampleSQL, "= 1") {
		t.Errorf("sample not redacted: %q", r.SampleSQL)
	}
	// A second run on the consumed state appends nothing and exits cleanly.
	before, _ := parquet.ReadDir(cfg.ParquetDir)
	sum2, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	after, _ := parquet.ReadDir(cfg.ParquetDir)
	if len(after) != len(before) || sum2.Records != sum.Records {
		t.Fatalf("re-run appended rows: %d → %d", len(before), len(after))
	}
	if dl2 := readDeadLetter(t, sum.DeadLetter); len(dl2) != len(dl) {
		t.Fatalf("re-run changed the dead letter")
	}
}
