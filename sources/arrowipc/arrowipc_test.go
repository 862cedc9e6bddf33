package arrowipc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/das-project/das/internal/sketch"
	"github.com/das-project/das/sources"
)

// row is what a source delivered for one row: an item (as JSON) or a reject.
type row struct {
	off    int64
	reason string
	json   string
}

func genEvents(seed uint64, n int) []sources.Event {
	r := rand.New(rand.NewPCG(seed, 3))
	evs := make([]sources.Event, n)
	for i := range evs {
		sql := make([]byte, r.IntN(200))
		for j := range sql {
			sql[j] = byte(r.IntN(256))
		}
		evs[i] = sources.Event{
			TsMs: 1704067200000 + int64(i), Instance: fmt.Sprintf("10.0.1.%d:3306", r.IntN(5)),
			DB: []string{"", "orders", "users"}[r.IntN(3)], User: "app", SQL: sql,
			LatencyUs: r.Int64N(1 << 40), LockUs: r.Int64N(100), RowsSent: r.Int64N(10),
			RowsExamined: r.Int64N(1000), RowsAffected: r.Int64N(3), ErrCode: int32(r.IntN(2000)),
		}
	}
	return evs
}

// damage is how a test row is written.
type damage struct {
	present sources.Fields
	reason  string
	mod     func(*sources.Event)
}

var damages = []damage{
	{present: sources.AllFields &^ sources.FieldTsMs, reason: sources.ReasonMissingTs},
	{present: sources.AllFields &^ sources.FieldInstance, reason: sources.ReasonMissingInstance},
	{present: sources.AllFields, reason: sources.ReasonMissingInstance, mod: func(e *sources.Event) { e.Instance = "" }},
	{present: sources.AllFields &^ sources.FieldSQL, reason: sources.ReasonMissingSQL},
	{present: sources.AllFields, reason: sources.ReasonNegativeLatency, mod: func(e *sources.Event) { e.LatencyUs = -1 }},
	{present: sources.AllFields, reason: "negative:rows_sent", mod: func(e *sources.Event) { e.RowsSent = -7 }},
	{present: sources.AllFields &^ (sources.FieldDB | sources.FieldLatencyUs | sources.FieldErrCode)}, // nulls in optional columns
}

// writeStream writes evs, damaging every 10th row, and returns the stream
// and what reading it must deliver.
func writeStream(t testing.TB, evs []sources.Event, opts WriterOptions) ([]byte, []row) {
	t.Helper()
	var buf bytes.Buffer
	w, err := NewWriter(&buf, opts)
	if err != nil {
		t.Fatal(err)
	}
	var want []row
	for i := range evs {
		ev := evs[i]
		present := sources.AllFields
		reason := ""
		if i%10 == 9 {
			d := damages[(i/10)%len(damages)]
			present, reason = d.present, d.reason
			if d.mod != nil {
				d.mod(&ev)
			}
		}
		if err := w.WriteFields(&ev, present); err != nil {
			t.Fatal(err)
		}
		var exp sources.Event = ev
		for f := range sources.FieldNames {
			if present&(1<<f) != 0 {
				continue
			}
			switch sources.Fields(1 << f) {
			case sources.FieldDB:
				exp.DB = ""
			case sources.FieldLatencyUs:
				exp.LatencyUs = 0
			case sources.FieldErrCode:
				exp.ErrCode = 0
			}
		}
		if reason == "" {
			want = append(want, row{off: int64(i), json: string(sources.AppendJSON(nil, &exp))})
		} else {
			want = append(want, row{off: int64(i), reason: reason, json: string(sources.AppendJSONFields(nil, &ev, present))})
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes(), want
}

// readAll reads src from resume; it returns the rows, each batch's
// NextOffset and the error that ended the read (nil for io.EOF).
func readAll(t *testing.T, src *Source, resume int64) ([]row, []int64, error) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, map[int32]int64{0: resume}); err != nil {
		return nil, nil, err
	}
	var rows []row
	var offsets []int64
	next := resume
	for {
		b, err := src.Next(ctx)
		if err == io.EOF {
			return rows, offsets, nil
		}
		if err != nil {
			return rows, offsets, err
		}
		// Rebuild row order: items and rejects interleave; every row index
		// in [next, NextOffset) is exactly one of them.
		rej := map[int64]int{}
		for i, r := range b.Rejects {
			rej[r.Offset] = i
		}
		item := 0
		for off := next; off < b.NextOffset; off++ {
			if i, ok := rej[off]; ok {
				r := b.Rejects[i]
				rows = append(rows, row{off: off, reason: r.Reason, json: string(r.Raw)})
				continue
			}
			if item >= len(b.Items) {
				t.Fatalf("batch [%d,%d) has %d items and %d rejects", next, b.NextOffset, len(b.Items), len(b.Rejects))
			}
			rows = append(rows, row{off: off, json: string(sources.AppendJSON(nil, &b.Items[item]))})
			item++
		}
		if item != len(b.Items) {
			t.Fatalf("batch [%d,%d) has %d extra items", next, b.NextOffset, len(b.Items)-item)
		}
		next = b.NextOffset
		offsets = append(offsets, b.NextOffset)
	}
}

func diffRows(t *testing.T, got, want []row) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d rows, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("row %d:\n got %+v\nwant %+v", i, got[i], want[i])
		}
	}
}

func TestRoundTripAndRejects(t *testing.T) {
	evs := genEvents(1, 1000)
	for _, opts := range []WriterOptions{{}, {BatchRows: 64}, {BatchRows: 100, Compression: "zstd"}, {BatchRows: 999, Compression: "lz4"}} {
		t.Run(fmt.Sprintf("%d-%s", opts.BatchRows, opts.Compression), func(t *testing.T) {
			data, want := writeStream(t, evs, opts)
			src, err := New(bytes.NewReader(data), "mem", Options{BatchSize: 37})
			if err != nil {
				t.Fatal(err)
			}
			got, offsets, err := readAll(t, src, 0)
			if err != nil {
				t.Fatal(err)
			}
			diffRows(t, got, want)
			if offsets[len(offsets)-1] != int64(len(evs)) {
				t.Fatalf("last NextOffset %d, want %d", offsets[len(offsets)-1], len(evs))
			}
		})
	}
}

func TestResumeAtEveryBatchBoundary(t *testing.T) {
	data, want := writeStream(t, genEvents(2, 500), WriterOptions{BatchRows: 40})
	path := filepath.Join(t.TempDir(), "e.arrows")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path, Options{BatchSize: 15})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	all, offsets, err := readAll(t, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	diffRows(t, all, want)
	for i, off := range offsets {
		rest, restOffsets, err := readAll(t, src, off)
		if err != nil {
			t.Fatalf("resume at %d: %v", off, err)
		}
		diffRows(t, rest, all[off:])
		if fmt.Sprint(restOffsets) != fmt.Sprint(offsets[i+1:]) {
			t.Fatalf("resume at %d: offsets %v, want %v", off, restOffsets, offsets[i+1:])
		}
	}
	// Resuming inside a batch works too; past the end is an error.
	rest, _, err := readAll(t, src, 123)
	if err != nil {
		t.Fatal(err)
	}
	diffRows(t, rest, all[123:])
	if _, _, err := readAll(t, src, 501); !errors.Is(err, ErrBadOffset) {
		t.Fatalf("resume past the end: %v, want ErrBadOffset", err)
	}
}

// TestTruncated cuts a stream at many points: every row before the cut is
// delivered and the read ends with ErrTruncated naming a byte position.
func TestTruncated(t *testing.T) {
	data, want := writeStream(t, genEvents(3, 300), WriterOptions{BatchRows: 50})
	cuts := []int{len(data) - 1, len(data) - 4, len(data) - 8, 1, 7, 100}
	r := rand.New(rand.NewPCG(3, 3))
	for range 40 {
		cuts = append(cuts, r.IntN(len(data)))
	}
	for _, cut := range cuts {
		src, err := New(bytes.NewReader(data[:cut]), "cut", Options{})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := readAll(t, src, 0)
		if !errors.Is(err, ErrTruncated) {
			t.Fatalf("cut at %d of %d: err = %v, want ErrTruncated", cut, len(data), err)
		}
		if !bytes.Contains([]byte(err.Error()), []byte("at byte ")) {
			t.Fatalf("cut at %d: error %q does not give the position", cut, err)
		}
		diffRows(t, got, want[:len(got)])
		// Batches are about the same size, so the rows before the cut are
		// about the cut's share; at most the cut batch (50 rows) is lost.
		if before := len(want) * cut / len(data); len(got) < before-50-5 {
			t.Fatalf("cut at %d of %d delivered %d rows, about %d were before the cut", cut, len(data), len(got), before)
		}
	}
}

func TestEmptyStream(t *testing.T) {
	data, _ := writeStream(t, nil, WriterOptions{})
	src, _ := New(bytes.NewReader(data), "empty", Options{})
	got, _, err := readAll(t, src, 0)
	if err != nil || len(got) != 0 {
		t.Fatalf("empty stream: %d rows, %v", len(got), err)
	}
}

// TestFileFormatAndOtherTypes writes the IPC file format as pyarrow would:
// timestamp ts_ms, dictionary instance, large_string sql, uint64 rows, no
// user column, an extra column.
func TestFileFormatAndOtherTypes(t *testing.T) {
	mem := memory.NewGoAllocator()
	dictType := &arrow.DictionaryType{IndexType: arrow.PrimitiveTypes.Int16, ValueType: arrow.BinaryTypes.String}
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "extra", Type: arrow.PrimitiveTypes.Float64, Nullable: true},
		{Name: "ts_ms", Type: &arrow.TimestampType{Unit: arrow.Microsecond}, Nullable: true},
		{Name: "instance", Type: dictType, Nullable: true},
		{Name: "sql", Type: arrow.BinaryTypes.LargeString, Nullable: true},
		{Name: "rows_sent", Type: arrow.PrimitiveTypes.Uint64, Nullable: true},
		{Name: "err_code", Type: arrow.PrimitiveTypes.Int16},
	}, nil)
	path := filepath.Join(t.TempDir(), "e.arrow")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	fw, err := ipc.NewFileWriter(f, ipc.WithSchema(schema))
	if err != nil {
		t.Fatal(err)
	}
	b := array.NewRecordBuilder(mem, schema)
	var want []row
	n := 0
	for batch := range 3 {
		for i := range 5 {
			b.Field(0).(*array.Float64Builder).Append(1.5)
			ts := int64(1704067200000123 + n*1000)
			b.Field(1).(*array.TimestampBuilder).Append(arrow.Timestamp(ts))
			inst := fmt.Sprintf("10.0.1.%d:3306", i%2)
			b.Field(2).(*array.BinaryDictionaryBuilder).AppendString(inst)
			b.Field(3).(*array.LargeStringBuilder).Append("SELECT " + fmt.Sprint(n))
			rows := uint64(n)
			if batch == 2 && i == 4 {
				rows = 1 << 63
			}
			b.Field(4).(*array.Uint64Builder).Append(rows)
			b.Field(5).(*array.Int16Builder).Append(int16(n))
			ev := sources.Event{TsMs: ts / 1000, Instance: inst, SQL: []byte("SELECT " + fmt.Sprint(n)), RowsSent: int64(rows), ErrCode: int32(n)}
			if rows == 1<<63 {
				want = append(want, row{off: int64(n), reason: "invalid:rows_sent",
					json: string(sources.AppendJSONFields(nil, &ev, sources.AllFields&^(sources.FieldRowsSent|sources.FieldUser|sources.FieldDB|sources.FieldLatencyUs|sources.FieldLockUs|sources.FieldRowsExamined|sources.FieldRowsAffected)))})
				// the reject's raw JSON carries the value read (0 for the overflow)
				want[len(want)-1].json = string(sources.AppendJSONFields(nil, &sources.Event{TsMs: ev.TsMs, Instance: inst, SQL: ev.SQL, ErrCode: ev.ErrCode},
					sources.FieldTsMs|sources.FieldInstance|sources.FieldSQL|sources.FieldErrCode))
			} else {
				want = append(want, row{off: int64(n), json: string(sources.AppendJSON(nil, &ev))})
			}
			n++
		}
		rec := b.NewRecord()
		if err := fw.Write(rec); err != nil {
			t.Fatal(err)
		}
		rec.Release()
	}
	if err := fw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := Open(path, Options{BatchSize: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, _, err := readAll(t, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	diffRows(t, got, want)
	rest, _, err := readAll(t, src, 7)
	if err != nil {
		t.Fatal(err)
	}
	diffRows(t, rest, want[7:])

	// A file-format file cut before its footer: the rows before the cut,
	// then ErrTruncated.
	data, _ := os.ReadFile(path)
	cutPath := filepath.Join(t.TempDir(), "cut.arrow")
	if err := os.WriteFile(cutPath, data[:len(data)*2/3], 0o644); err != nil {
		t.Fatal(err)
	}
	cut, err := Open(cutPath, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer cut.Close()
	got, _, err = readAll(t, cut, 0)
	if !errors.Is(err, ErrTruncated) {
		t.Fatalf("cut file: %v, want ErrTruncated", err)
	}
	if len(got) == 0 {
		t.Fatalf("cut file delivered no rows")
	}
	diffRows(t, got, want[:len(got)])
}

func TestSchemaErrors(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{{Name: "ts_ms", Type: arrow.BinaryTypes.String}}, nil)
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src, _ := New(bytes.NewReader(buf.Bytes()), "bad", Options{})
	if err := src.Open(context.Background(), nil); !errors.Is(err, ErrSchema) {
		t.Fatalf("string ts_ms: %v, want ErrSchema", err)
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("Next after failed Open: %v, want ErrNotOpen", err)
	}
	garbage, _ := New(bytes.NewReader(bytes.Repeat([]byte("{\"ts_ms\":1}\n"), 10)), "json", Options{})
	if err := garbage.Open(context.Background(), nil); !errors.Is(err, ErrCorrupt) && !errors.Is(err, ErrTruncated) {
		t.Fatalf("JSON read as Arrow: %v, want ErrCorrupt", err)
	}
	if _, err := NewWriter(io.Discard, WriterOptions{Compression: "gzip"}); err == nil {
		t.Fatal("unknown compression accepted")
	}
}

func TestMissingSQLColumnRejectsEveryRow(t *testing.T) {
	schema := arrow.NewSchema([]arrow.Field{
		{Name: "ts_ms", Type: arrow.PrimitiveTypes.Int64},
		{Name: "instance", Type: arrow.BinaryTypes.Binary},
	}, nil)
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	for i := range 3 {
		b.Field(0).(*array.Int64Builder).Append(int64(i))
		b.Field(1).(*array.BinaryBuilder).Append([]byte("i:1"))
	}
	var buf bytes.Buffer
	w := ipc.NewWriter(&buf, ipc.WithSchema(schema))
	rec := b.NewRecord()
	if err := w.Write(rec); err != nil {
		t.Fatal(err)
	}
	w.Close()
	src, _ := New(bytes.NewReader(buf.Bytes()), "nosql", Options{})
	got, _, err := readAll(t, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range got {
		want := fmt.Sprintf(`{"ts_ms":%d,"instance":"i:1"}`, i)
		if r.reason != sources.ReasonMissingSQL || r.json != want {
			t.Fatalf("row %d = %+v, want reject missing:sql %s", i, r, want)
		}
	}
	if len(got) != 3 {
		t.Fatalf("%d rows, want 3", len(got))
	}
}

func TestRowLoopDoesNotAllocate(t *testing.T) {
	evs := genEvents(4, 4096)
	data, _ := writeStream(t, evs, WriterOptions{BatchRows: 4096})
	src, _ := New(bytes.NewReader(data), "mem", Options{BatchSize: 4096})
	ctx := context.Background()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(ctx); err != nil { // warms the interner and the batch
		t.Fatal(err)
	}
	src.pos = 0
	allocs := testing.AllocsPerRun(5, func() {
		src.pos = 0
		if _, err := src.Next(ctx); err != nil {
			t.Fatal(err)
		}
	})
	// Rejects' reasons built from field names ("negative:rows_sent") may
	// allocate; 4096 rows with 410 damaged ones must stay far below a row
	// each.
	if allocs > 500 {
		t.Fatalf("Next allocates %.0f times for 4096 rows", allocs)
	}
}

func BenchmarkRead(b *testing.B) {
	evs := genEvents(5, 100000)
	for i := range evs {
		evs[i].SQL = evs[i].SQL[:0]
		evs[i].SQL = append(evs[i].SQL, "SELECT o.id, o.user_id, o.status FROM orders o WHERE o.user_id = 48213377 AND o.status IN ('paid', 'shipped') ORDER BY o.created_at DESC LIMIT 20"...)
	}
	var buf bytes.Buffer
	w, _ := NewWriter(&buf, WriterOptions{})
	for i := range evs {
		w.Write(&evs[i])
	}
	w.Close()
	data := buf.Bytes()
	ctx := context.Background()
	b.ReportAllocs()
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		src, _ := New(bytes.NewReader(data), "bench", Options{})
		if err := src.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			batch, err := src.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(batch.Items)
		}
		if n != len(evs) {
			b.Fatalf("%d rows", n)
		}
	}
	b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

func BenchmarkWrite(b *testing.B) {
	evs := genEvents(6, 10000)
	b.ReportAllocs()
	for b.Loop() {
		w, _ := NewWriter(io.Discard, WriterOptions{})
		for i := range evs {
			w.Write(&evs[i])
		}
		if err := w.Close(); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(len(evs))*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// FuzzRead writes events made from the fuzzer's bytes, cuts the stream
// anywhere, and checks that every row before the cut is delivered and the
// read ends with ErrTruncated (or io.EOF when nothing was cut).
//
// It does not feed arbitrary bytes to the reader: arrow-go does not verify
// flatbuffer metadata, and a corrupt schema can make it allocate whatever a
// length field claims. Arrow inputs come from das agents and Arrow
// libraries; truncation is the failure they have.
func FuzzRead(f *testing.F) {
	f.Add([]byte("SELECT 1\x00\xff"), uint16(0), uint8(3))
	f.Add([]byte{}, uint16(100), uint8(1))
	f.Add(bytes.Repeat([]byte("x"), 300), uint16(5000), uint8(0))
	f.Fuzz(func(t *testing.T, seed []byte, cut uint16, batchRows uint8) {
		var evs []sources.Event
		for i := 0; i <= len(seed); i += 7 {
			evs = append(evs, sources.Event{TsMs: int64(i), Instance: "i:1", SQL: seed[i:min(len(seed), i+11)], LatencyUs: int64(len(seed) - i)})
		}
		data, want := writeStream(t, evs, WriterOptions{BatchRows: int(batchRows%16) + 1})
		c := len(data)
		if cut != 0 {
			c = int(cut) % len(data)
		}
		src, err := New(bytes.NewReader(data[:c]), "fuzz", Options{BatchSize: 5})
		if err != nil {
			t.Fatal(err)
		}
		got, _, err := readAll(t, src, 0)
		switch {
		case c == len(data) && err != nil:
			t.Fatalf("uncut stream: %v", err)
		case c < len(data) && !errors.Is(err, ErrTruncated):
			t.Fatalf("cut at %d of %d: %v, want ErrTruncated", c, len(data), err)
		}
		if len(got) > len(want) {
			t.Fatalf("%d rows from %d written", len(got), len(want))
		}
		diffRows(t, got, want[:len(got)])
		if c == len(data) && len(got) != len(want) {
			t.Fatalf("uncut stream: %d rows of %d", len(got), len(want))
		}
	})
}

// TestAgentColumns: a stream with the agent columns round-trips the agent
// fields (null where zero) and rejects inconsistent partial aggregates.
func TestAgentColumns(t *testing.T) {
	var sk sketch.Sketch
	sk.Add(100)
	sk.Add(300)
	enc := sk.Append(nil)
	base := sources.Event{TsMs: 60_000, Instance: "10.0.0.1:3306", DB: "d", SQL: []byte("SELECT ?")}
	withAgent := func(mod func(*sources.Event)) sources.Event { ev := base; mod(&ev); return ev }
	evs := []sources.Event{
		base,
		withAgent(func(e *sources.Event) {
			e.Src, e.Seq, e.TemplateID, e.Template = "h/slowlog/1", 77, 0xabc, []byte("select ?")
		}),
		withAgent(func(e *sources.Event) {
			e.TemplateID, e.LatencyUs, e.Count, e.LatencyMaxUs, e.Errors, e.LatencySketch = 0xabc, 400, 2, 300, 1, enc
		}),
		withAgent(func(e *sources.Event) { e.LatencyUs, e.Count, e.LatencyMaxUs, e.LatencySketch = 400, 1, 300, enc }), // sketch holds 2
		withAgent(func(e *sources.Event) { e.Errors = 1 }),                                                             // errors without count
	}
	var buf bytes.Buffer
	w, err := NewWriter(&buf, WriterOptions{AgentColumns: true, Compression: "zstd"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range evs {
		if err := w.Write(&evs[i]); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	src, err := New(bytes.NewReader(buf.Bytes()), "mem", Options{})
	if err != nil {
		t.Fatal(err)
	}
	got, _, err := readAll(t, src, 0)
	if err != nil {
		t.Fatal(err)
	}
	want := []row{
		{off: 0, json: string(sources.AppendJSON(nil, &evs[0]))},
		{off: 1, json: string(sources.AppendJSON(nil, &evs[1]))},
		{off: 2, json: string(sources.AppendJSON(nil, &evs[2]))},
		{off: 3, reason: sources.ReasonInvalidPartial, json: string(sources.AppendJSON(nil, &evs[3]))},
		{off: 4, reason: sources.ReasonInvalidPartial, json: string(sources.AppendJSON(nil, &evs[4]))},
	}
	diffRows(t, got, want)
}
