package parquet

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"

	pq "github.com/parquet-go/parquet-go"
	"github.com/parquet-go/parquet-go/format"

	"github.com/das-project/das/sinks"
)

// ErrCorruptFile is wrapped by the errors of ReadFile and ReadDir for a file
// that is not a readable minute-row Parquet file.
var ErrCorruptFile = errors.New("sinks/parquet: corrupt file")

// readBatch is how many rows a reader decodes at a time.
const readBatch = 1024

// ReadFile returns every row of one Parquet file, in file order.
func ReadFile(path string) ([]sinks.MinuteRow, error) {
	var rows []sinks.MinuteRow
	err := withFile(path, func(pf *pq.File, cols [numCols]int) error {
		rows = make([]sinks.MinuteRow, 0, pf.NumRows())
		return readRows(pf, cols, func(batch []sinks.MinuteRow) error {
			rows = append(rows, batch...)
			return nil
		})
	})
	return rows, err
}

// ReadDir returns every row of every committed file (*.parquet) in dir, file
// by file in name order. Files in progress are ignored. The result may hold
// several versions of a key; ReadLatest applies the highest-version rule.
//
// A Compact running at the same time may delete a listed file after writing
// its rows into an hour file; ReadDir then lists the directory again, a few
// times at most, rather than miss those rows.
func ReadDir(dir string) ([]sinks.MinuteRow, error) {
	const attempts = 5
	for attempt := 1; ; attempt++ {
		rows, err := readDirOnce(dir)
		if err == nil || !errors.Is(err, os.ErrNotExist) || attempt == attempts {
			return rows, err
		}
	}
}

func readDirOnce(dir string) ([]sinks.MinuteRow, error) {
	names, err := committedFiles(osFS{}, dir)
	if err != nil {
		return nil, err
	}
	var rows []sinks.MinuteRow
	for _, nm := range names {
		r, err := ReadFile(filepath.Join(dir, nm))
		if err != nil {
			return nil, err
		}
		rows = append(rows, r...)
	}
	return rows, nil
}

// ReadLatest returns the final value of every key in dir: ReadDir followed
// by sinks.LatestByKey, sorted by key.
func ReadLatest(dir string) ([]sinks.MinuteRow, error) {
	rows, err := ReadDir(dir)
	if err != nil {
		return nil, err
	}
	return sinks.LatestByKey(rows), nil
}

// committedFiles lists the names in dir that end in ".parquet", sorted.
func committedFiles(fs fsys, dir string) ([]string, error) {
	names, err := fs.List(dir)
	if err != nil {
		return nil, fmt.Errorf("sinks/parquet: list %s: %w", dir, err)
	}
	names = slices.DeleteFunc(names, func(n string) bool { return !strings.HasSuffix(n, parquetExt) })
	slices.Sort(names)
	return names, nil
}

// scanFile decodes path and calls fn with successive batches of rows. The
// batch is reused between calls: fn must copy what it keeps.
func scanFile(path string, fn func([]sinks.MinuteRow) error) error {
	return withFile(path, func(pf *pq.File, cols [numCols]int) error {
		return readRows(pf, cols, fn)
	})
}

func readRows(pf *pq.File, cols [numCols]int, fn func([]sinks.MinuteRow) error) error {
	rd := pq.NewReader(pf)
	d := decoder{cols: cols, width: len(pf.Schema().Columns())}
	in := make([]pq.Row, readBatch)
	out := make([]sinks.MinuteRow, readBatch)
	for {
		n, rerr := rd.ReadRows(in)
		if n > 0 {
			for i := range in[:n] {
				if err := d.decode(&out[i], in[i]); err != nil {
					return errors.Join(err, rd.Close())
				}
			}
			if err := fn(out[:n]); err != nil {
				return errors.Join(errCallback{err}, rd.Close())
			}
		}
		if rerr == io.EOF {
			return rd.Close()
		}
		if rerr != nil {
			return errors.Join(rerr, rd.Close())
		}
	}
}

// scanMinutes calls fn with successive batches of the minute column of
// path, decoding no other column.
func scanMinutes(path string, fn func([]int64)) error {
	return withFile(path, func(pf *pq.File, cols [numCols]int) error {
		buf := make([]int64, readBatch)
		for _, rg := range pf.RowGroups() {
			pages := rg.ColumnChunks()[cols[colMinute]].Pages()
			for {
				page, err := pages.ReadPage()
				if err == io.EOF {
					break
				}
				if err != nil {
					return errors.Join(err, pages.Close())
				}
				vr, ok := page.Values().(pq.Int64Reader)
				if !ok {
					pq.Release(page)
					return errors.Join(fmt.Errorf("minute column page of type %T", page.Values()), pages.Close())
				}
				for {
					n, err := vr.ReadInt64s(buf)
					fn(buf[:n])
					if err == io.EOF {
						break
					}
					if err != nil {
						pq.Release(page)
						return errors.Join(err, pages.Close())
					}
				}
				pq.Release(page)
			}
			if err := pages.Close(); err != nil {
				return err
			}
		}
		return nil
	})
}

// errCallback marks an error returned by a scan callback, which is passed
// through rather than reported as a corrupt file.
type errCallback struct{ err error }

func (e errCallback) Error() string { return e.err.Error() }
func (e errCallback) Unwrap() error { return e.err }

// withFile opens path as a minute-row Parquet file and calls fn with it.
// Decoding errors are returned wrapping ErrCorruptFile. The decoder may
// panic on corrupt input; such a panic is returned as ErrCorruptFile too,
// because a bad file on disk is an input error, not a bug.
func withFile(path string, fn func(pf *pq.File, cols [numCols]int) error) (err error) {
	f, err := os.Open(path)
	if err != nil {
		return fmt.Errorf("sinks/parquet: %w", err)
	}
	defer func() {
		if cerr := f.Close(); err == nil && cerr != nil {
			err = fmt.Errorf("sinks/parquet: %w", cerr)
		}
	}()
	st, err := f.Stat()
	if err != nil {
		return fmt.Errorf("sinks/parquet: %w", err)
	}
	return decodeFile(f, st.Size(), path, fn)
}

func decodeFile(r io.ReaderAt, size int64, path string, fn func(pf *pq.File, cols [numCols]int) error) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("%w: %s: decoder panic: %v", ErrCorruptFile, path, p)
		}
	}()
	if err := checkFrame(r, size); err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorruptFile, path, err)
	}
	pf, err := pq.OpenFile(r, size)
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorruptFile, path, err)
	}
	cols, err := columnIndexes(pf.Schema())
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorruptFile, path, err)
	}
	err = fn(pf, cols)
	var cb errCallback
	if errors.As(err, &cb) {
		return cb.err
	}
	if err != nil {
		return fmt.Errorf("%w: %s: %w", ErrCorruptFile, path, err)
	}
	return nil
}

// checkFrame verifies the Parquet frame — "PAR1", data, footer, footer
// length, "PAR1" — before the decoder sees the file: the decoder allocates
// a buffer of the footer length a file claims, so a corrupt length could
// otherwise cost gigabytes.
func checkFrame(r io.ReaderAt, size int64) error {
	const magic = "PAR1"
	if size < 12 {
		return fmt.Errorf("%d bytes, too short for a Parquet file", size)
	}
	var head [4]byte
	if _, err := r.ReadAt(head[:], 0); err != nil {
		return err
	}
	var tail [8]byte
	if _, err := r.ReadAt(tail[:], size-8); err != nil {
		return err
	}
	if string(head[:]) != magic || string(tail[4:]) != magic {
		return errors.New("missing PAR1 magic")
	}
	if footer := int64(binary.LittleEndian.Uint32(tail[:4])); footer > size-12 {
		return fmt.Errorf("footer of %d bytes in a file of %d", footer, size)
	}
	return nil
}

// Column positions of the MinuteRow fields in decoder.cols.
const (
	colInstance = iota
	colDB
	colTemplateID
	colFingerprintVersion
	colTemplate
	colMinute
	colVersion
	colCount
	colLatencySum
	colLatencyMax
	colLatencyP50
	colLatencyP95
	colLatencyP99
	colLockSum
	colRowsSent
	colRowsExamined
	colRowsAffected
	colErrors
	colSampleSQL
	numCols
)

// maxIntern bounds each column's table of interned strings.
const maxIntern = 1 << 14

// decoder turns Parquet rows into MinuteRows without reflection, sharing one
// string per distinct value of the dictionary columns (instance, db,
// template_id, template), which repeat from row to row.
type decoder struct {
	cols   [numCols]int // leaf column index in the file of each field
	width  int          // leaf columns in the file
	intern [colTemplate + 1]map[string]string
}

func (d *decoder) str(field int, row pq.Row) string {
	b := row[d.cols[field]].ByteArray()
	if field > colTemplate {
		return string(b)
	}
	m := d.intern[field]
	if s, ok := m[string(b)]; ok {
		return s
	}
	s := string(b)
	if m == nil {
		m = make(map[string]string)
		d.intern[field] = m
	}
	if len(m) < maxIntern {
		m[s] = s
	}
	return s
}

func (d *decoder) decode(r *sinks.MinuteRow, row pq.Row) error {
	// Every column of a minute-row file is required and flat: one value per
	// column, in column order.
	if len(row) != d.width {
		return fmt.Errorf("row has %d values, want %d", len(row), d.width)
	}
	i64 := func(field int) int64 { return row[d.cols[field]].Int64() }
	*r = sinks.MinuteRow{
		Instance:           d.str(colInstance, row),
		DB:                 d.str(colDB, row),
		TemplateID:         d.str(colTemplateID, row),
		FingerprintVersion: row[d.cols[colFingerprintVersion]].Int32(),
		Template:           d.str(colTemplate, row),
		Minute:             i64(colMinute),
		Version:            i64(colVersion),
		Count:              i64(colCount),
		LatencySumUs:       i64(colLatencySum),
		LatencyMaxUs:       i64(colLatencyMax),
		LatencyP50Us:       i64(colLatencyP50),
		LatencyP95Us:       i64(colLatencyP95),
		LatencyP99Us:       i64(colLatencyP99),
		LockSumUs:          i64(colLockSum),
		RowsSentSum:        i64(colRowsSent),
		RowsExaminedSum:    i64(colRowsExamined),
		RowsAffectedSum:    i64(colRowsAffected),
		Errors:             i64(colErrors),
		SampleSQL:          d.str(colSampleSQL, row),
	}
	return nil
}

// columnIndexes maps each MinuteRow field to its leaf column in a file's
// schema, checking that the file has every column with the same type and
// repetition, so that a foreign file is rejected rather than misread. The
// file may have more columns, or ours in another order.
func columnIndexes(s *pq.Schema) ([numCols]int, error) {
	var cols [numCols]int
	want := rowSchema().Fields()
	if len(want) != numCols {
		panic(fmt.Sprintf("BUG: MinuteRow has %d columns, the decoder knows %d", len(want), numCols))
	}
	fields := s.Fields()
	for i, f := range want {
		j := slices.IndexFunc(fields, func(g pq.Field) bool { return g.Name() == f.Name() })
		if j < 0 {
			return cols, fmt.Errorf("missing column %q", f.Name())
		}
		got := fields[j]
		if !got.Leaf() || got.Type().Kind() != f.Type().Kind() || got.Optional() || got.Repeated() {
			return cols, fmt.Errorf("column %q is %v, want required %v", f.Name(), got.Type(), f.Type())
		}
		if i == colMinute && !isTimestampMillis(got.Type()) {
			return cols, fmt.Errorf("column %q is %v, want TIMESTAMP(MILLIS)", f.Name(), got.Type())
		}
		leaf, ok := s.Lookup(f.Name())
		if !ok {
			return cols, fmt.Errorf("missing column %q", f.Name())
		}
		cols[i] = leaf.ColumnIndex
	}
	return cols, nil
}

func isTimestampMillis(t pq.Type) bool {
	lt := t.LogicalType()
	if lt == nil {
		return false
	}
	ts, ok := lt.Value.(*format.TimestampType)
	if !ok {
		return false
	}
	_, ok = ts.Unit.Value.(*format.MilliSeconds)
	return ok
}

// rowSchema is the Parquet schema of sinks.MinuteRow.
func rowSchema() *pq.Schema { return pq.SchemaOf(sinks.MinuteRow{}) }
