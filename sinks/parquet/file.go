package parquet

import (
	"errors"
	"fmt"
	"unicode/utf8"
	"unsafe"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/compress"
	"github.com/parquet-go/parquet-go/compress/snappy"
	"github.com/parquet-go/parquet-go/compress/uncompressed"
	"github.com/parquet-go/parquet-go/compress/zstd"

	"github.com/das-project/das/sinks"
)

// Compression selects the codec of every column.
type Compression int

const (
	// CompressionDefault is CompressionZstd.
	CompressionDefault Compression = iota
	// CompressionZstd is zstd at its fastest level (about zstd -1). On
	// minute rows it gave files a third smaller than snappy at about the
	// same write speed, and smaller files than zstd's default level 3 while
	// faster (measurements in docs/output.md).
	CompressionZstd
	// CompressionSnappy is snappy.
	CompressionSnappy
	// CompressionNone writes uncompressed pages.
	CompressionNone
)

func (c Compression) String() string {
	switch c {
	case CompressionDefault:
		return "default"
	case CompressionZstd:
		return "zstd"
	case CompressionSnappy:
		return "snappy"
	case CompressionNone:
		return "none"
	}
	return fmt.Sprintf("Compression(%d)", int(c))
}

// codec returns a new codec value; codecs hold encoder pools, so each
// writer gets its own rather than sharing a package variable.
func (c Compression) codec() (compress.Codec, error) {
	switch c {
	case CompressionDefault, CompressionZstd:
		return &zstd.Codec{Level: zstd.SpeedFastest}, nil
	case CompressionSnappy:
		return &snappy.Codec{}, nil
	case CompressionNone:
		return &uncompressed.Codec{}, nil
	}
	return nil, fmt.Errorf("%w: Compression %d, want CompressionDefault, CompressionZstd, CompressionSnappy or CompressionNone", ErrInvalidOptions, int(c))
}

// MetadataKeyFormat is the key-value metadata entry every file carries to
// name its row format; its value is FormatMinuteRowV1.
const (
	MetadataKeyFormat = "das.format"
	FormatMinuteRowV1 = "das.minute_row.v1"
)

// chunkRows is how many rows go to the parquet writer between two checks of
// the file and row-group size estimates.
const chunkRows = 256

// fileConfig is what one output file needs to know.
type fileConfig struct {
	codec         compress.Codec
	rowGroupRows  int64
	rowGroupBytes int64
	sorted        bool // declare the (instance, db, template_id, minute) sort order
}

// countingWriter counts the bytes handed to the file.
type countingWriter struct {
	f wfile
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.f.Write(p)
	c.n += int64(n)
	return n, err
}

// fileWriter streams rows into one Parquet file. Its memory is bounded by
// the row group limits: a row group is flushed to the file once it holds
// rowGroupRows rows or its estimated size reaches rowGroupBytes.
type fileWriter struct {
	f       wfile
	cw      *countingWriter
	pw      *pq.GenericWriter[sinks.MinuteRow]
	cfg     *fileConfig
	rows    int64
	scratch []sinks.MinuteRow
	valid   utf8Cache
}

// utf8Cache remembers long strings already found to be valid UTF-8. The
// rows of a job share their text fields (a template's text and sample, an
// interned instance name), so most checks become a string comparison that
// the runtime settles on pointer equality, instead of a scan of a few
// hundred bytes per row. It keeps at most utf8Slots strings alive, for the
// life of one file.
type utf8Cache struct {
	s [utf8Slots]string
}

const (
	utf8Slots = 4096
	utf8Min   = 32 // shorter strings are validated directly
)

func (c *utf8Cache) check(s string) bool {
	if len(s) < utf8Min {
		return utf8.ValidString(s)
	}
	// The slot comes from the string's address; equality (not the
	// address) decides a hit, so a moved or reused address only misses.
	slot := uintptr(unsafe.Pointer(unsafe.StringData(s))) >> 4 % utf8Slots
	if c.s[slot] == s {
		return true
	}
	if !utf8.ValidString(s) {
		return false
	}
	c.s[slot] = s
	return true
}

func newFileWriter(f wfile, cfg *fileConfig) *fileWriter {
	cw := &countingWriter{f: f}
	opts := []pq.WriterOption{
		pq.Compression(cfg.codec),
		pq.MaxRowsPerRowGroup(cfg.rowGroupRows),
		// Version 1 data pages are read by every Parquet implementation.
		pq.DataPageVersion(1),
		pq.CreatedBy("das", "", ""),
		pq.KeyValueMetadata(MetadataKeyFormat, FormatMinuteRowV1),
	}
	if cfg.sorted {
		opts = append(opts, pq.SortingWriterConfig(pq.SortingColumns(
			pq.Ascending("instance"), pq.Ascending("db"),
			pq.Ascending("template_id"), pq.Ascending("minute"),
		)))
	}
	return &fileWriter{f: f, cw: cw, cfg: cfg, pw: pq.NewGenericWriter[sinks.MinuteRow](cw, opts...)}
}

// write appends rows. The parquet writer copies every value into its own
// buffers, so rows may be reused once write returns.
func (w *fileWriter) write(rows []sinks.MinuteRow) error {
	for len(rows) > 0 {
		chunk := rows[:min(len(rows), chunkRows)]
		rows = rows[len(chunk):]
		fixed := w.validUTF8(chunk)
		_, err := w.pw.Write(fixed)
		if len(w.scratch) > 0 {
			clear(w.scratch) // do not keep the caller's strings alive
			w.scratch = w.scratch[:0]
		}
		if err != nil {
			return err
		}
		w.rows += int64(len(chunk))
		// The writer's Size is the bytes already handed to the file plus an
		// upper-bound estimate of the open row group; the difference to the
		// bytes we counted is the row group (plus at most one write buffer).
		if w.pw.Size()-w.cw.n >= w.cfg.rowGroupBytes {
			if err := w.pw.Flush(); err != nil {
				return err
			}
		}
	}
	return nil
}

// validUTF8 returns rows, or a copy with invalid UTF-8 replaced when some
// string is not valid UTF-8: Parquet STRING columns must hold UTF-8, and
// DuckDB refuses to read files that break this.
func (w *fileWriter) validUTF8(rows []sinks.MinuteRow) []sinks.MinuteRow {
	for i := range rows {
		r := &rows[i]
		if !(w.valid.check(r.Instance) && w.valid.check(r.DB) && w.valid.check(r.TemplateID) &&
			w.valid.check(r.Template) && w.valid.check(r.SampleSQL)) {
			w.scratch = append(w.scratch[:0], rows...)
			for j := i; j < len(w.scratch); j++ {
				w.scratch[j].MakeValidUTF8()
			}
			return w.scratch
		}
	}
	return rows
}

// size is an upper-bound estimate of the file size so far.
func (w *fileWriter) size() int64 { return w.pw.Size() }

// finish writes the footer, optionally fsyncs, and closes the file. The file
// is closed whatever happens; the first error is returned.
func (w *fileWriter) finish(sync bool) error {
	err := w.pw.Close()
	if err == nil && sync {
		err = w.f.Sync()
	}
	if cerr := w.f.Close(); cerr != nil {
		err = errors.Join(err, cerr)
	}
	return err
}

// discard closes the file without completing it.
func (w *fileWriter) discard() error {
	return w.f.Close()
}
