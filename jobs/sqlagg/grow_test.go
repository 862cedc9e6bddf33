package sqlagg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
)

// TestGrownInput: a file read to its end, then appended to (a slow log
// that kept growing) and run again on the same state, gives the rows of
// one run over the whole file — the end of the first run fired every
// window but did not make the appended events late.
func TestGrownInput(t *testing.T) {
	var first, second []string
	for i := range 600 {
		ev := sources.Event{TsMs: t0 + int64(i)*1000, Instance: "10.0.0.1:3306", DB: "d",
			SQL: []byte(fmt.Sprintf("SELECT * FROM t%d WHERE id = %d", i%3, i)), LatencyUs: int64(i)}
		if i < 330 { // the first run ends in the middle of minute 5
			first = append(first, line(ev))
		} else {
			second = append(second, line(ev))
		}
	}
	now := func() time.Time { return time.UnixMilli(t0 + 3600_000) }
	dir := t.TempDir()
	grown := filepath.Join(dir, "grown.jsonl")
	if err := os.WriteFile(grown, []byte(strings.Join(first, "\n")+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Input: grown, StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"), Now: now}
	if _, err := Run(context.Background(), cfg); err != nil {
		t.Fatal(err)
	}
	f, err := os.OpenFile(grown, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.WriteString(strings.Join(second, "\n") + "\n"); err != nil {
		t.Fatal(err)
	}
	f.Close()
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.DeadLetteredTotal() != 0 {
		t.Fatalf("the appended events were dead-lettered: %v", sum.DeadLettered)
	}
	got, err := parquet.ReadLatest(cfg.ParquetDir)
	if err != nil {
		t.Fatal(err)
	}

	whole := writeLines(t, append(slices.Clone(first), second...))
	ref := Config{Input: whole, StateDir: filepath.Join(dir, "ref-state"), ParquetDir: filepath.Join(dir, "ref-pq"), Now: now}
	if _, err := Run(context.Background(), ref); err != nil {
		t.Fatal(err)
	}
	want, err := parquet.ReadLatest(ref.ParquetDir)
	if err != nil {
		t.Fatal(err)
	}
	key := func(rows []sinks.MinuteRow) map[string]string {
		m := map[string]string{}
		for _, r := range rows {
			m[fmt.Sprintf("%s|%s|%s|%d", r.Instance, r.DB, r.TemplateID, r.Minute)] = fmt.Sprintf("n=%d sum=%d max=%d p50=%d p99=%d",
				r.Count, r.LatencySumUs, r.LatencyMaxUs, r.LatencyP50Us, r.LatencyP99Us)
		}
		return m
	}
	g, w := key(got), key(want)
	if len(g) != len(w) {
		t.Fatalf("%d keys after the grown run, %d in one run", len(g), len(w))
	}
	for k, v := range w {
		if g[k] != v {
			t.Errorf("%s:\n got %s\nwant %s", k, g[k], v)
		}
	}
}
