package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"

	"github.com/das-project/das/sinks/parquet"
)

func TestCompactCommand(t *testing.T) {
	dir := t.TempDir()
	in := crashEvents(t, 20_000)
	var out, errb bytes.Buffer
	s := stdio{out: &out, err: &errb}
	pq := filepath.Join(dir, "pq")
	if err := cmdRun(context.Background(), []string{"sqlagg", "--input", in, "--state", filepath.Join(dir, "st"), "--parquet", pq,
		"--checkpoint-interval", "1ms"}, s); err != nil {
		t.Fatalf("run: %v\n%s", err, errb.String())
	}
	before, err := parquet.ReadLatest(pq)
	if err != nil {
		t.Fatal(err)
	}
	partsBefore, _ := filepath.Glob(filepath.Join(pq, "*.parquet"))
	out.Reset()
	if err := cmdCompact(context.Background(), []string{"--parquet", pq, "--before", "2030-01-01T00:00:00Z"}, s); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(out.String(), "hour files") {
		t.Fatalf("output %q", out.String())
	}
	after, err := parquet.ReadLatest(pq)
	if err != nil {
		t.Fatal(err)
	}
	partsAfter, _ := filepath.Glob(filepath.Join(pq, "*.parquet"))
	if len(after) != len(before) || len(partsAfter) >= len(partsBefore) {
		t.Fatalf("compaction: %d→%d latest rows, %d→%d files", len(before), len(after), len(partsBefore), len(partsAfter))
	}
	for i := range before {
		if before[i] != after[i] {
			t.Fatalf("row %d changed by compaction", i)
		}
	}
	if err := cmdCompact(context.Background(), []string{"--parquet", pq, "--before", "yesterday"}, s); err == nil {
		t.Fatal("bad --before accepted")
	}
}
