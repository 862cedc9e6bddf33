package parquet

import (
	"context"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/memory"
	apq "github.com/apache/arrow/go/v15/parquet"
	"github.com/apache/arrow/go/v15/parquet/compress"
	"github.com/apache/arrow/go/v15/parquet/file"
	"github.com/apache/arrow/go/v15/parquet/pqarrow"
	"github.com/apache/arrow/go/v15/parquet/schema"

	"github.com/das-project/das/sinks"
)

// columns is the pinned Parquet schema of a minute-row file: the data
// contract of DESIGN.md. Changing it breaks every reader's queries.
var columns = []struct {
	name     string
	physical apq.Type
	logical  string // as the Arrow Parquet library prints it
	dict     bool   // dictionary encoded
	arrow    arrow.DataType
}{
	{"instance", apq.Types.ByteArray, "String", true, arrow.BinaryTypes.String},
	{"db", apq.Types.ByteArray, "String", true, arrow.BinaryTypes.String},
	{"template_id", apq.Types.ByteArray, "String", true, arrow.BinaryTypes.String},
	{"fingerprint_version", apq.Types.Int32, "Int(bitWidth=32, isSigned=true)", false, arrow.PrimitiveTypes.Int32},
	{"template", apq.Types.ByteArray, "String", true, arrow.BinaryTypes.String},
	{"minute", apq.Types.Int64, "Timestamp(isAdjustedToUTC=true, timeUnit=milliseconds, is_from_converted_type=false, force_set_converted_type=false)", false, &arrow.TimestampType{Unit: arrow.Millisecond, TimeZone: "UTC"}},
	{"version", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"count", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"latency_sum_us", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"latency_max_us", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"latency_p50_us", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"latency_p95_us", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"latency_p99_us", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"lock_sum_us", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"rows_sent_sum", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"rows_examined_sum", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"rows_affected_sum", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"errors", apq.Types.Int64, "Int(bitWidth=64, isSigned=true)", false, arrow.PrimitiveTypes.Int64},
	{"sample_sql", apq.Types.ByteArray, "String", true, arrow.BinaryTypes.String},
}

// writeOne commits one epoch of rows and returns the path of its file.
func writeOne(t *testing.T, opts Options, rows []sinks.MinuteRow) string {
	t.Helper()
	dir := t.TempDir()
	w := newWriter(t, dir, opts)
	p := epoch(t, w, 1, rows)
	if len(p.Files) != 1 {
		t.Fatalf("epoch wrote %d files, want 1", len(p.Files))
	}
	return filepath.Join(dir, p.Files[0])
}

// TestSchemaPinned checks the written schema with an independent Parquet
// implementation (Arrow's): column names and order, physical and logical
// types, required repetition, dictionary encoding, compression, metadata.
func TestSchemaPinned(t *testing.T) {
	for _, tc := range []struct {
		c     Compression
		codec compress.Compression
	}{
		{CompressionDefault, compress.Codecs.Zstd},
		{CompressionSnappy, compress.Codecs.Snappy},
		{CompressionNone, compress.Codecs.Uncompressed},
	} {
		t.Run(tc.c.String(), func(t *testing.T) {
			rows := newWorkload(1, 5, 20).rows(3000, t0, 5)
			path := writeOne(t, Options{Compression: tc.c, RowGroupRows: 1000}, rows)
			rdr, err := file.OpenParquetFile(path, false)
			if err != nil {
				t.Fatal(err)
			}
			defer rdr.Close()
			md := rdr.MetaData()
			sc := md.Schema
			if sc.NumColumns() != len(columns) {
				t.Fatalf("%d columns, want %d", sc.NumColumns(), len(columns))
			}
			if got := md.NumRows; got != int64(len(rows)) {
				t.Fatalf("NumRows = %d, want %d", got, len(rows))
			}
			if rdr.NumRowGroups() != 3 {
				t.Fatalf("%d row groups, want 3 (RowGroupRows 1000)", rdr.NumRowGroups())
			}
			for i, want := range columns {
				col := sc.Column(i)
				if col.Name() != want.name || col.PhysicalType() != want.physical || col.LogicalType().String() != want.logical {
					t.Errorf("column %d = %s %s %s, want %s %s %s", i, col.Name(), col.PhysicalType(), col.LogicalType(), want.name, want.physical, want.logical)
				}
				if col.MaxDefinitionLevel() != 0 || col.MaxRepetitionLevel() != 0 {
					t.Errorf("column %s is not required", col.Name())
				}
				for rg := range rdr.NumRowGroups() {
					cc, err := md.RowGroup(rg).ColumnChunk(i)
					if err != nil {
						t.Fatal(err)
					}
					if cc.HasDictionaryPage() != want.dict {
						t.Errorf("row group %d column %s: dictionary page %v, want %v", rg, want.name, cc.HasDictionaryPage(), want.dict)
					}
					if cc.Compression() != tc.codec {
						t.Errorf("row group %d column %s: codec %v, want %v", rg, want.name, cc.Compression(), tc.codec)
					}
					// Integers are delta-encoded (sinks.MinuteRow): a
					// cheaper writer than PLAIN.
					wantDelta := !want.dict
					if wantDelta != slices.Contains(cc.Encodings(), apq.Encodings.DeltaBinaryPacked) {
						t.Errorf("row group %d column %s: encodings %v, want DELTA_BINARY_PACKED %v", rg, want.name, cc.Encodings(), wantDelta)
					}
				}
			}
			ts, ok := sc.Column(5).LogicalType().(*schema.TimestampLogicalType)
			if !ok || !ts.IsAdjustedToUTC() || ts.TimeUnit() != schema.TimeUnitMillis {
				t.Errorf("minute logical type = %v, want TIMESTAMP(MILLIS, isAdjustedToUTC=true)", sc.Column(5).LogicalType())
			}
			if v := md.KeyValueMetadata().FindValue(MetadataKeyFormat); v == nil || *v != FormatMinuteRowV1 {
				t.Errorf("metadata %s = %v, want %s", MetadataKeyFormat, v, FormatMinuteRowV1)
			}
		})
	}
}

// TestArrowReadsRows reads a file with pqarrow, as any Arrow-based tool
// would, and compares the Arrow schema and every value with what was written.
func TestArrowReadsRows(t *testing.T) {
	rows := newWorkload(2, 7, 30).rows(2500, t0, 3)
	rows[7].SampleSQL = "SELECT 'naïve ☃'"
	rows[8].DB = ""
	rows[9].Minute = -sinks.MinuteMs // before 1970 still round-trips
	path := writeOne(t, Options{RowGroupRows: 1000}, rows)

	f, err := os.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	tbl, err := pqarrow.ReadTable(context.Background(), f, apq.NewReaderProperties(memory.DefaultAllocator), pqarrow.ArrowReadProperties{BatchSize: 1024}, memory.DefaultAllocator)
	if err != nil {
		t.Fatal(err)
	}
	defer tbl.Release()
	if tbl.NumRows() != int64(len(rows)) {
		t.Fatalf("Arrow table has %d rows, want %d", tbl.NumRows(), len(rows))
	}
	s := tbl.Schema()
	if s.NumFields() != len(columns) {
		t.Fatalf("Arrow schema has %d fields, want %d", s.NumFields(), len(columns))
	}
	for i, want := range columns {
		f := s.Field(i)
		if f.Name != want.name || !arrow.TypeEqual(f.Type, want.arrow) || f.Nullable {
			t.Errorf("Arrow field %d = %s %v nullable=%v, want %s %v not null", i, f.Name, f.Type, f.Nullable, want.name, want.arrow)
		}
	}

	got := make([]sinks.MinuteRow, len(rows))
	str := func(col int, set func(*sinks.MinuteRow, string)) {
		row := 0
		for _, c := range tbl.Column(col).Data().Chunks() {
			a := c.(*array.String)
			for j := range a.Len() {
				set(&got[row], a.Value(j))
				row++
			}
		}
	}
	i64 := func(col int, set func(*sinks.MinuteRow, int64)) {
		row := 0
		for _, c := range tbl.Column(col).Data().Chunks() {
			switch a := c.(type) {
			case *array.Int64:
				for j := range a.Len() {
					set(&got[row], a.Value(j))
					row++
				}
			case *array.Int32:
				for j := range a.Len() {
					set(&got[row], int64(a.Value(j)))
					row++
				}
			case *array.Timestamp:
				for j := range a.Len() {
					set(&got[row], int64(a.Value(j)))
					row++
				}
			default:
				t.Fatalf("column %d: unexpected Arrow array %T", col, c)
			}
		}
	}
	str(0, func(r *sinks.MinuteRow, v string) { r.Instance = v })
	str(1, func(r *sinks.MinuteRow, v string) { r.DB = v })
	str(2, func(r *sinks.MinuteRow, v string) { r.TemplateID = v })
	i64(3, func(r *sinks.MinuteRow, v int64) { r.FingerprintVersion = int32(v) })
	str(4, func(r *sinks.MinuteRow, v string) { r.Template = v })
	i64(5, func(r *sinks.MinuteRow, v int64) { r.Minute = v })
	i64(6, func(r *sinks.MinuteRow, v int64) { r.Version = v })
	i64(7, func(r *sinks.MinuteRow, v int64) { r.Count = v })
	i64(8, func(r *sinks.MinuteRow, v int64) { r.LatencySumUs = v })
	i64(9, func(r *sinks.MinuteRow, v int64) { r.LatencyMaxUs = v })
	i64(10, func(r *sinks.MinuteRow, v int64) { r.LatencyP50Us = v })
	i64(11, func(r *sinks.MinuteRow, v int64) { r.LatencyP95Us = v })
	i64(12, func(r *sinks.MinuteRow, v int64) { r.LatencyP99Us = v })
	i64(13, func(r *sinks.MinuteRow, v int64) { r.LockSumUs = v })
	i64(14, func(r *sinks.MinuteRow, v int64) { r.RowsSentSum = v })
	i64(15, func(r *sinks.MinuteRow, v int64) { r.RowsExaminedSum = v })
	i64(16, func(r *sinks.MinuteRow, v int64) { r.RowsAffectedSum = v })
	i64(17, func(r *sinks.MinuteRow, v int64) { r.Errors = v })
	str(18, func(r *sinks.MinuteRow, v string) { r.SampleSQL = v })
	for i := range rows {
		if got[i] != rows[i] {
			t.Fatalf("row %d read by Arrow:\n got %+v\nwant %+v", i, got[i], rows[i])
		}
	}
}
