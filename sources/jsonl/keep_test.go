package jsonl

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"testing"

	"github.com/das-project/das/internal/sketch"
	"github.com/das-project/das/sources"
)

// TestBatchKeepsBorrowedBytes: every event of a batch keeps its own SQL
// and latency sketch (the decoder reuses its buffers record by record).
func TestBatchKeepsBorrowedBytes(t *testing.T) {
	var lines []byte
	var want [][]byte
	for i := int64(1); i <= 50; i++ {
		var sk sketch.Sketch
		for j := range i {
			sk.Add(j * 1000)
		}
		ev := sources.Event{TsMs: i, Instance: "i:1", SQL: bytes.Repeat([]byte{'a' + byte(i%26)}, int(i)),
			Count: i, LatencyUs: 1000 * i * (i - 1) / 2, LatencyMaxUs: 1000 * (i - 1), LatencySketch: sk.Append(nil)}
		want = append(want, sources.AppendJSON(nil, &ev))
		lines = append(append(lines, want[len(want)-1]...), '\n')
	}
	path := filepath.Join(t.TempDir(), "e.jsonl")
	if err := os.WriteFile(path, lines, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path, Options{BatchSize: 1000})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	b, err := src.Next(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(b.Items) != len(want) {
		t.Fatalf("%d items, want %d in one batch", len(b.Items), len(want))
	}
	for i := range b.Items {
		if got := sources.AppendJSON(nil, &b.Items[i]); !bytes.Equal(got, want[i]) {
			t.Fatalf("item %d:\n got %s\nwant %s", i, got, want[i])
		}
	}
}
