package parquet

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/lz4"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/das-project/das/sinks"
)

// benchRows is a fleet-like minute: 200 instances × 500 templates, one
// minute's rows per epoch.
func benchRows(n int) []sinks.MinuteRow {
	return newWorkload(99, 200, 500).rows(n, t0, 1)
}

func dirBytes(b *testing.B, dir string) int64 {
	b.Helper()
	var total int64
	entries, err := os.ReadDir(dir)
	if err != nil {
		b.Fatal(err)
	}
	for _, e := range entries {
		info, err := e.Info()
		if err != nil {
			b.Fatal(err)
		}
		total += info.Size()
	}
	return total
}

// BenchmarkWrite measures the writer end to end: Write in batches of 1024
// rows, one Precommit and Commit per 64 Ki rows (a file per epoch). One op
// is one row. Run with -cpu 1 for rows/s per core.
func BenchmarkWrite(b *testing.B) {
	rows := benchRows(64 << 10)
	for _, c := range []Compression{CompressionZstd, CompressionSnappy, CompressionNone} {
		b.Run(c.String(), func(b *testing.B) {
			dir := b.TempDir()
			w, err := New(dir, Options{Compression: c, NoSync: true})
			if err != nil {
				b.Fatal(err)
			}
			defer w.Close()
			var e uint64
			b.ResetTimer()
			for i := 0; i < b.N; {
				n := min(1024, b.N-i)
				off := i % len(rows)
				n = min(n, len(rows)-off)
				if err := w.Write(rows[off : off+n]); err != nil {
					b.Fatal(err)
				}
				i += n
				if i%len(rows) == 0 || i == b.N {
					e++
					p, err := w.Precommit(e)
					if err != nil {
						b.Fatal(err)
					}
					if err := w.Commit(p); err != nil {
						b.Fatal(err)
					}
				}
			}
			b.StopTimer()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			b.ReportMetric(float64(dirBytes(b, dir))/float64(b.N), "file-B/row")
		})
	}
}

// BenchmarkRead measures ReadFile on one 64 Ki-row file. One op is one file;
// the rows/s metric is what to compare.
func BenchmarkRead(b *testing.B) {
	dir := b.TempDir()
	w, err := New(dir, Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer w.Close()
	rows := benchRows(64 << 10)
	if err := w.Write(rows); err != nil {
		b.Fatal(err)
	}
	p, err := w.Precommit(1)
	if err != nil {
		b.Fatal(err)
	}
	if err := w.Commit(p); err != nil {
		b.Fatal(err)
	}
	path := filepath.Join(dir, p.Files[0])
	b.ResetTimer()
	for range b.N {
		got, err := ReadFile(path)
		if err != nil || len(got) != len(rows) {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.N*len(rows))/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCompact merges 16 part files of 16 Ki rows each (one hour, every
// key in two versions) into one hour file. One op is one input row.
func BenchmarkCompact(b *testing.B) {
	wl := newWorkload(98, 200, 500)
	const files, perFile = 16, 16 << 10
	for range b.N {
		b.StopTimer()
		dir := b.TempDir()
		w, err := New(dir, Options{NoSync: true})
		if err != nil {
			b.Fatal(err)
		}
		for e := range files {
			rows := wl.rows(perFile/2, t0, 60)
			for _, r := range rows[:perFile/2] {
				rows = append(rows, correct(r, 1))
			}
			if err := w.Write(rows); err != nil {
				b.Fatal(err)
			}
			p, err := w.Precommit(uint64(e + 1))
			if err != nil {
				b.Fatal(err)
			}
			if err := w.Commit(p); err != nil {
				b.Fatal(err)
			}
		}
		w.Close()
		b.StartTimer()
		st, err := Compact(context.Background(), dir, CompactOptions{Before: time.UnixMilli(t0 + 2*hourMs), NoSync: true})
		if err != nil || st.RowsIn != files*perFile {
			b.Fatal(err, st)
		}
	}
	b.ReportMetric(float64(b.N*files*perFile)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkCodec compares compression codecs on the file writer alone (no
// commit, no disk): the figures behind the default in docs/output.md. The
// "distinct" rows carry a different sample_sql in every row. One op is one
// row.
func BenchmarkCodec(b *testing.B) {
	redacted := benchRows(64 << 10)
	distinct := benchRows(64 << 10)
	for i := range distinct {
		distinct[i].SampleSQL += fmt.Sprintf(" /* %d %x */", i*7919, i*104729)
	}
	codecs := []struct {
		name  string
		codec compress.Codec
	}{
		{"zstd-fastest", &zstd.Codec{Level: zstd.SpeedFastest}},
		{"zstd-default", &zstd.Codec{Level: zstd.SpeedDefault}},
		{"zstd-better", &zstd.Codec{Level: zstd.SpeedBetterCompression}},
		{"snappy", &snappy.Codec{}},
		{"lz4", &lz4.Codec{}},
		{"none", &uncompressed.Codec{}},
	}
	for _, data := range []struct {
		name string
		rows []sinks.MinuteRow
	}{{"redacted", redacted}, {"distinct", distinct}} {
		for _, c := range codecs {
			b.Run(data.name+"/"+c.name, func(b *testing.B) {
				rows := data.rows
				var size, written int64
				for i := 0; i < b.N; i += len(rows) {
					var buf bytes.Buffer
					fw := newFileWriter(nopSync{&buf}, &fileConfig{codec: c.codec, rowGroupRows: defaultRowGroupRows, rowGroupBytes: defaultRowGroupBytes})
					if err := fw.write(rows[:min(len(rows), b.N-i)]); err != nil {
						b.Fatal(err)
					}
					if err := fw.finish(false); err != nil {
						b.Fatal(err)
					}
					size += int64(buf.Len())
					written += int64(min(len(rows), b.N-i))
				}
				b.ReportMetric(float64(size)/float64(written), "file-B/row")
				b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "rows/s")
			})
		}
	}
}
