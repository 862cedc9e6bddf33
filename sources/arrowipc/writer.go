// Package arrowipc reads and writes SQL events as Arrow IPC: the columns of
// the JSON event format (docs/events.md) in record batches.
//
// Files are written in the Arrow IPC stream format (an agent can write it to
// a pipe or a socket, and a cut file is detectable because the stream ends
// with an end-of-stream marker). The reader also accepts the IPC file
// format (Feather v2, what pyarrow.feather and pandas write).
//
// Schema written: ts_ms int64, instance utf8, db utf8, user utf8, sql
// binary (SQL may be any bytes, and Arrow utf8 promises UTF-8), latency_us,
// lock_us, rows_sent, rows_examined, rows_affected int64, err_code int32;
// every column nullable. The reader is more tolerant; see Source.
package arrowipc

import (
	"errors"
	"fmt"
	"io"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/das-project/das/sources"
)

// AgentSchema is Schema plus the agent columns (sources.AgentFields): src
// utf8, seq int64, template_id utf8 (16 hex digits), count int64,
// latency_max_us int64, errors int64, latency_sketch binary, template binary.
func AgentSchema() *arrow.Schema {
	f := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	i64 := arrow.PrimitiveTypes.Int64
	return arrow.NewSchema(append(Schema().Fields(),
		f("src", arrow.BinaryTypes.String),
		f("seq", i64),
		f("template_id", arrow.BinaryTypes.String),
		f("count", i64),
		f("latency_max_us", i64),
		f("errors", i64),
		f("latency_sketch", arrow.BinaryTypes.Binary),
		f("template", arrow.BinaryTypes.Binary),
	), nil)
}

// Schema is the schema Writer writes.
func Schema() *arrow.Schema {
	f := func(name string, t arrow.DataType) arrow.Field {
		return arrow.Field{Name: name, Type: t, Nullable: true}
	}
	i64 := arrow.PrimitiveTypes.Int64
	return arrow.NewSchema([]arrow.Field{
		f("ts_ms", i64),
		f("instance", arrow.BinaryTypes.String),
		f("db", arrow.BinaryTypes.String),
		f("user", arrow.BinaryTypes.String),
		f("sql", arrow.BinaryTypes.Binary),
		f("latency_us", i64),
		f("lock_us", i64),
		f("rows_sent", i64),
		f("rows_examined", i64),
		f("rows_affected", i64),
		f("err_code", arrow.PrimitiveTypes.Int32),
	}, nil)
}

// WriterOptions configure a Writer. The zero value means every default.
type WriterOptions struct {
	// BatchRows is the number of rows per record batch. Default 8192.
	BatchRows int
	// Compression of record batch bodies: "" (none, the default), "zstd"
	// or "lz4".
	Compression string
	// AgentColumns writes AgentSchema (the agent fields of each event, null
	// where zero) instead of Schema.
	AgentColumns bool
}

// Writer writes events as an Arrow IPC stream. It is not safe for
// concurrent use. Close must be called to write the last batch and the
// end-of-stream marker.
type Writer struct {
	opts WriterOptions
	w    *ipc.Writer
	b    *array.RecordBuilder
	ints [len(sources.FieldNames)]*array.Int64Builder // by field bit number
	strs [len(sources.FieldNames)]*array.StringBuilder
	bins [len(sources.FieldNames)]*array.BinaryBuilder
	code *array.Int32Builder
	cols sources.Fields // the fields the schema has
	rows int
	tid  []byte
	err  error
}

// NewWriter returns a Writer writing to w. Close does not close w.
func NewWriter(w io.Writer, opts WriterOptions) (*Writer, error) {
	if opts.BatchRows == 0 {
		opts.BatchRows = 8192
	}
	if opts.BatchRows < 0 {
		return nil, fmt.Errorf("arrowipc: BatchRows is %d, want > 0 (0 means 8192)", opts.BatchRows)
	}
	schema, cols := Schema(), sources.AllFields
	if opts.AgentColumns {
		schema, cols = AgentSchema(), sources.AllFields|sources.AgentFields
	}
	ipcOpts := []ipc.Option{ipc.WithSchema(schema)}
	switch opts.Compression {
	case "":
	case "zstd":
		ipcOpts = append(ipcOpts, ipc.WithZstd())
	case "lz4":
		ipcOpts = append(ipcOpts, ipc.WithLZ4())
	default:
		return nil, fmt.Errorf("arrowipc: Compression is %q, want \"\", \"zstd\" or \"lz4\"", opts.Compression)
	}
	b := array.NewRecordBuilder(memory.NewGoAllocator(), schema)
	wr := &Writer{opts: opts, w: ipc.NewWriter(w, ipcOpts...), b: b, cols: cols}
	for i, name := range sources.FieldNames {
		if cols&(1<<i) == 0 {
			continue
		}
		switch fb := b.Field(i).(type) {
		case *array.Int64Builder:
			wr.ints[i] = fb
		case *array.StringBuilder:
			wr.strs[i] = fb
		case *array.BinaryBuilder:
			wr.bins[i] = fb
		case *array.Int32Builder:
			wr.code = fb
		default:
			panic(fmt.Sprintf("BUG: arrowipc: column %s has builder %T", name, fb))
		}
	}
	return wr, nil
}

// Write appends ev as one row (with AgentColumns, its zero agent fields
// are null).
func (w *Writer) Write(ev *sources.Event) error {
	return w.WriteFields(ev, sources.AllFields|sources.PresentAgentFields(ev))
}

// WriteFields appends ev as one row in which the fields not in present are
// null. The generator uses it to write rows that a reader must reject.
func (w *Writer) WriteFields(ev *sources.Event, present sources.Fields) error {
	if w.err != nil {
		return w.err
	}
	ints := [...]int64{0: ev.TsMs, 5: ev.LatencyUs, 6: ev.LockUs, 7: ev.RowsSent, 8: ev.RowsExamined,
		9: ev.RowsAffected, 12: ev.Seq, 14: ev.Count, 15: ev.LatencyMaxUs, 16: ev.Errors}
	strs := [...]string{1: ev.Instance, 2: ev.DB, 3: ev.User, 11: ev.Src, 13: ""}
	if present&sources.FieldTemplateID != 0 {
		w.tid = sources.AppendTemplateID(w.tid[:0], ev.TemplateID)
		strs[13] = string(w.tid)
	}
	bins := [...][]byte{4: ev.SQL, 17: ev.LatencySketch, 18: ev.Template}
	for i := range sources.FieldNames {
		if w.cols&(1<<i) == 0 {
			continue
		}
		on := present&(1<<i) != 0
		switch {
		case w.ints[i] != nil:
			if on {
				w.ints[i].Append(ints[i])
			} else {
				w.ints[i].AppendNull()
			}
		case w.strs[i] != nil:
			if on {
				w.strs[i].Append(strs[i])
			} else {
				w.strs[i].AppendNull()
			}
		case w.bins[i] != nil:
			if on {
				w.bins[i].Append(bins[i])
			} else {
				w.bins[i].AppendNull()
			}
		default:
			if on {
				w.code.Append(ev.ErrCode)
			} else {
				w.code.AppendNull()
			}
		}
	}
	w.rows++
	if w.rows >= w.opts.BatchRows {
		return w.Flush()
	}
	return nil
}

// Flush writes the rows appended so far as one record batch.
func (w *Writer) Flush() error {
	if w.err != nil {
		return w.err
	}
	if w.rows == 0 {
		return nil
	}
	rec := w.b.NewRecord()
	defer rec.Release()
	w.rows = 0
	if err := w.w.Write(rec); err != nil {
		w.err = fmt.Errorf("arrowipc: write: %w", err)
		return w.err
	}
	return nil
}

// Close writes the pending rows and the end-of-stream marker. A stream with
// no rows still carries the schema.
func (w *Writer) Close() error {
	err := w.Flush()
	if cerr := w.w.Close(); cerr != nil && err == nil {
		err = fmt.Errorf("arrowipc: close: %w", cerr)
	}
	w.b.Release()
	if err == nil {
		w.err = errClosed
	}
	return err
}

var errClosed = errors.New("arrowipc: writer closed")

// IsStream reports whether b starts like an Arrow IPC stream (the 0xFFFFFFFF
// continuation marker of its first message). A JSON record never does.
func IsStream(b []byte) bool {
	return len(b) >= 8 && b[0] == 0xff && b[1] == 0xff && b[2] == 0xff && b[3] == 0xff
}
