package parquet

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"testing"

	pq "github.com/parquet-go/parquet-go"
)

func writeParquet[T any](t *testing.T, path string, rows []T) {
	t.Helper()
	var buf bytes.Buffer
	w := pq.NewGenericWriter[T](&buf)
	if _, err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
}

func TestReadCorrupt(t *testing.T) {
	dir := t.TempDir()
	good := writeOne(t, Options{}, newWorkload(50, 2, 3).rows(100, t0, 1))
	b, err := os.ReadFile(good)
	if err != nil {
		t.Fatal(err)
	}
	files := map[string][]byte{
		"empty":              {},
		"magic only":         []byte("PAR1PAR1"),
		"huge footer length": []byte("PAR1\xd6\x01\xc7\x7fPAR1"),
		"truncated":          b[:len(b)-100],
		"no head magic":      append([]byte("XXXX"), b[4:]...),
	}
	for name, content := range files {
		if err := os.WriteFile(filepath.Join(dir, name), content, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	// Foreign Parquet files: valid, but not minute rows.
	type other struct {
		A int64 `parquet:"a"`
	}
	writeParquet(t, filepath.Join(dir, "foreign"), []other{{1}})
	type microsMinute struct {
		Instance   string `parquet:"instance"`
		DB         string `parquet:"db"`
		TemplateID string `parquet:"template_id"`
		FV         int32  `parquet:"fingerprint_version"`
		Template   string `parquet:"template"`
		Minute     int64  `parquet:"minute,timestamp(microsecond)"`
		Version    int64  `parquet:"version"`
		Count      int64  `parquet:"count"`
		A          int64  `parquet:"latency_sum_us"`
		B          int64  `parquet:"latency_max_us"`
		C          int64  `parquet:"latency_p50_us"`
		D          int64  `parquet:"latency_p95_us"`
		E          int64  `parquet:"latency_p99_us"`
		F          int64  `parquet:"lock_sum_us"`
		G          int64  `parquet:"rows_sent_sum"`
		H          int64  `parquet:"rows_examined_sum"`
		I          int64  `parquet:"rows_affected_sum"`
		J          int64  `parquet:"errors"`
		K          string `parquet:"sample_sql"`
	}
	writeParquet(t, filepath.Join(dir, "micros"), []microsMinute{{Minute: 1}})
	type optionalCount struct {
		microsMinute
		Count *int64 `parquet:"count,optional"`
	}
	writeParquet(t, filepath.Join(dir, "optional"), []optionalCount{{}})

	for _, name := range []string{"empty", "magic only", "huge footer length", "truncated", "no head magic", "foreign", "micros", "optional"} {
		var before runtime.MemStats
		runtime.ReadMemStats(&before)
		_, err := ReadFile(filepath.Join(dir, name))
		if !errors.Is(err, ErrCorruptFile) {
			t.Errorf("%s: ReadFile = %v, want ErrCorruptFile", name, err)
		}
		var after runtime.MemStats
		runtime.ReadMemStats(&after)
		if grew := after.TotalAlloc - before.TotalAlloc; grew > 64<<20 {
			t.Errorf("%s: reading allocated %d MiB", name, grew>>20)
		}
	}
	if _, err := ReadFile(filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v, want os.ErrNotExist", err)
	}
}

// TestReadDirFails: a corrupt committed file is an error for ReadDir, not
// a silent gap in the data.
func TestReadDirFails(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	epoch(t, w, 1, newWorkload(51, 2, 3).rows(10, t0, 1))
	if err := os.WriteFile(filepath.Join(dir, "zz.parquet"), []byte("not parquet"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadDir(dir); !errors.Is(err, ErrCorruptFile) {
		t.Fatalf("ReadDir = %v, want ErrCorruptFile", err)
	}
	if _, err := ReadLatest(filepath.Join(dir, "missing")); err == nil {
		t.Fatal("ReadLatest of a missing directory succeeded")
	}
}
