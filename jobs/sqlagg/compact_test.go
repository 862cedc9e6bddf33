package sqlagg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
)

// TestScheduledCompaction: with CompactInterval the job merges the minute
// files of hours past the purge horizon into hour files while it runs and
// at the end of the file; what a reader gets (highest version per key) is
// what a run without compaction gives, and the hour still open keeps its
// minute files.
func TestScheduledCompaction(t *testing.T) {
	var lines []string
	for i := range 5 * 360 { // 5 hours, one event every 10 s
		ev := sources.Event{TsMs: t0 + int64(i)*10_000, Instance: "10.0.0.1:3306", DB: "d",
			SQL: []byte(fmt.Sprintf("SELECT * FROM t%d WHERE id = %d", i%4, i)), LatencyUs: int64(100 + i%50)}
		lines = append(lines, line(ev))
		if i%97 == 96 { // a straggler within the lateness: a correction
			ev.TsMs -= 4 * 60_000
			lines = append(lines, line(ev))
		}
	}
	in := writeLines(t, lines)
	now := func() time.Time { return time.UnixMilli(t0 + 6*3600_000) }
	dir := t.TempDir()
	var mu sync.Mutex
	var reports []string
	reg := prometheus.NewRegistry()
	cfg := Config{Input: in, StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"), Now: now, Registerer: reg,
		CheckpointEveryRecords: 150, BatchSize: 50, CompactInterval: time.Millisecond,
		OnCompact: func(st parquet.CompactStats, err error) {
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				t.Errorf("compaction failed: %v", err)
			}
			reports = append(reports, fmt.Sprintf("%+v", st))
		}}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Compactions == 0 || sum.CompactErrors != 0 || len(reports) == 0 {
		t.Fatalf("compactions %d, failed %d, reports %v", sum.Compactions, sum.CompactErrors, reports)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	metrics := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			name := mf.GetName()
			for _, l := range m.GetLabel() {
				name += "{" + l.GetName() + "=" + l.GetValue() + "}"
			}
			metrics[name] = m.GetCounter().GetValue()
		}
	}
	if metrics["das_compactions_total{result=ok}"] != float64(sum.Compactions) || metrics["das_compacted_files_total"] < float64(sum.Compactions) {
		t.Errorf("compaction metrics %v, want %d compactions", metrics, sum.Compactions)
	}

	ref := Config{Input: in, StateDir: filepath.Join(dir, "ref-state"), ParquetDir: filepath.Join(dir, "ref-pq"), Now: now,
		CheckpointEveryRecords: 150, BatchSize: 50}
	if _, err := Run(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	got, want := latest(t, cfg.ParquetDir), latest(t, ref.ParquetDir)
	if len(got) != len(want) || len(want) != 5*60*4 {
		t.Fatalf("%d rows with compaction, %d without (want %d)", len(got), len(want), 5*60*4)
	}
	for i := range want {
		if got[i] != want[i] {
			t.Fatalf("row %d: with compaction %+v, without %+v", i, got[i], want[i])
		}
	}

	// The data watermark ends in hour 4, less the 10 minutes of lateness:
	// hours 0-3 are hour files, hour 4 is still minute files.
	entries, err := os.ReadDir(cfg.ParquetDir)
	if err != nil {
		t.Fatal(err)
	}
	hours := map[string]int{}
	minuteFiles := 0
	for _, e := range entries {
		switch name := e.Name(); {
		case strings.HasPrefix(name, "hour-") && strings.HasSuffix(name, ".parquet"):
			hours[name[len("hour-"):len("hour-")+len("20060102T15")]]++
		case strings.HasSuffix(name, ".parquet"):
			minuteFiles++
		}
	}
	wantHours := []string{"20260101T00", "20260101T01", "20260101T02", "20260101T03"}
	var gotHours []string
	for h, n := range hours {
		if n != 1 {
			t.Errorf("hour %s has %d hour files", h, n)
		}
		gotHours = append(gotHours, h)
	}
	sort.Strings(gotHours)
	if fmt.Sprint(gotHours) != fmt.Sprint(wantHours) || minuteFiles == 0 {
		t.Fatalf("hour files %v (want %v), %d minute files left for the open hour", gotHours, wantHours, minuteFiles)
	}
}

// latest reads dir's highest version per key, versions zeroed (how many
// corrections a key went through depends on checkpoint timing), sorted.
func latest(t *testing.T, dir string) []sinks.MinuteRow {
	t.Helper()
	rows, err := parquet.ReadLatest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].Version = 0
	}
	sort.Slice(rows, func(i, j int) bool { return sinks.CompareKeys(rows[i].Key(), rows[j].Key()) < 0 })
	return rows
}

// A compaction that fails (here: a damaged file in the directory) is
// reported through OnCompact and counted; the job still runs to the end
// and commits all its rows.
func TestScheduledCompactionFailureIsNotFatal(t *testing.T) {
	var lines []string
	for i := range 3 * 360 {
		ev := sources.Event{TsMs: t0 + int64(i)*10_000, Instance: "10.0.0.1:3306", DB: "d",
			SQL: []byte(fmt.Sprintf("SELECT * FROM t%d WHERE id = %d", i%4, i)), LatencyUs: 100}
		lines = append(lines, line(ev))
	}
	dir := t.TempDir()
	pq := filepath.Join(dir, "pq")
	if err := os.MkdirAll(pq, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(pq, "part-other-0000000001-0000.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var errs []error
	cfg := Config{Input: writeLines(t, lines), StateDir: filepath.Join(dir, "state"), ParquetDir: pq,
		Now: func() time.Time { return time.UnixMilli(t0 + 6*3600_000) }, CheckpointEveryRecords: 150, BatchSize: 50,
		CompactInterval: time.Millisecond,
		OnCompact: func(_ parquet.CompactStats, err error) {
			mu.Lock()
			defer mu.Unlock()
			errs = append(errs, err)
		}}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatalf("the job failed: %v", err)
	}
	if sum.CompactErrors == 0 || len(errs) == 0 || errs[0] == nil {
		t.Fatalf("compaction errors %d, reported %v", sum.CompactErrors, errs)
	}
	if !strings.Contains(errs[0].Error(), "part-other-0000000001-0000.parquet") {
		t.Errorf("the error does not name the damaged file: %v", errs[0])
	}
	if sum.Rows != 3*60*4 {
		t.Fatalf("%d rows written, want %d", sum.Rows, 3*60*4)
	}
}
