package parquet

import (
	"context"
	"encoding/json"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/das-project/das/sinks"
)

// TestDuckDB runs the query of docs/output.md with the DuckDB command-line
// client, when one is installed, and compares its answer with ReadLatest.
// The Arrow test (TestArrowReadsRows) is the check that always runs.
func TestDuckDB(t *testing.T) {
	duckdb, err := exec.LookPath("duckdb")
	if err != nil {
		t.Skip("duckdb not on PATH; the Arrow reader test covers portability")
	}
	dir := t.TempDir()
	wl := newWorkload(60, 4, 8)
	rows := sinks.LatestByKey(wl.rows(400, t0, 120)) // distinct keys: no equal-version ties
	w := newWriter(t, dir, Options{NoSync: true})
	epoch(t, w, 1, rows)
	var corr []sinks.MinuteRow
	for i := 0; i < len(rows); i += 3 {
		corr = append(corr, correct(rows[i], 7))
	}
	epoch(t, w, 2, corr)
	if _, err := Compact(context.Background(), dir, CompactOptions{Before: time.UnixMilli(t0 + hourMs), NoSync: true}); err != nil {
		t.Fatal(err)
	}
	want, err := ReadLatest(dir)
	if err != nil {
		t.Fatal(err)
	}
	wantSum, wantFirst := int64(0), want[0].Minute
	for _, r := range want {
		wantSum += r.Count
		wantFirst = min(wantFirst, r.Minute)
	}
	// The query of docs/output.md, aggregated.
	query := `SELECT count(*) AS keys, sum(count) AS total, min(epoch_ms(minute)) AS first FROM (
SELECT * FROM read_parquet('` + filepath.Join(dir, "*.parquet") + `')
QUALIFY row_number() OVER (PARTITION BY instance, db, template_id, minute ORDER BY version DESC) = 1)`
	out, err := exec.Command(duckdb, "-json", "-c", query).Output()
	if err != nil {
		t.Fatalf("duckdb: %v", err)
	}
	var res []map[string]any
	if err := json.Unmarshal(out, &res); err != nil || len(res) != 1 {
		t.Fatalf("duckdb output %q: %v", out, err)
	}
	num := func(k string) int64 {
		switch v := res[0][k].(type) {
		case float64:
			return int64(v)
		case string:
			n, _ := strconv.ParseInt(v, 10, 64)
			return n
		}
		return -1
	}
	if num("keys") != int64(len(want)) || num("total") != wantSum || num("first") != wantFirst {
		t.Fatalf("duckdb: %v; want keys=%d total=%d first=%d", res[0], len(want), wantSum, wantFirst)
	}
}
