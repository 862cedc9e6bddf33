package arrowipc

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/ipc"
	"github.com/apache/arrow/go/v15/arrow/memory"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

var (
	// ErrNotOpen is returned by Next before Open.
	ErrNotOpen = errors.New("arrowipc: source not opened")
	// ErrBadOffset is returned by Open for a negative resume offset and by
	// Next when the input has fewer rows than the resume offset.
	ErrBadOffset = errors.New("arrowipc: resume offset out of range")
	// ErrTruncated: the input ends inside a message or without the
	// end-of-stream marker. Every row before the cut has been delivered.
	ErrTruncated = errors.New("arrowipc: truncated input")
	// ErrCorrupt: the input is not a readable Arrow IPC stream or file.
	ErrCorrupt = errors.New("arrowipc: corrupt input")
	// ErrSchema: a column of the event format has a type that cannot hold
	// it (a string ts_ms, a numeric sql, …).
	ErrSchema = errors.New("arrowipc: unusable schema")
)

// Options configure a Source. The zero value means every default.
type Options struct {
	// BatchSize is the most rows in one batch. A batch never spans two
	// Arrow record batches, so it may hold fewer. Default 4096.
	BatchSize int
	// Allocator for the record batches read. Default a Go allocator.
	Allocator memory.Allocator
}

// Source is a stream.Source of events read from Arrow IPC (stream or file
// format). It has one partition (0); offsets are row indices, so a batch's
// NextOffset is the index of the row after its last row.
//
// Columns are found by name (the JSON keys); other columns are ignored.
// Integer columns may be any signed or unsigned integer type (ts_ms may also
// be a timestamp of any unit, converted to milliseconds); string columns may
// be string, large string, binary, large binary or dictionary-encoded. A
// column with another type fails Open with ErrSchema. A missing column reads
// as null in every row.
//
// A row with a null or missing ts_ms, instance or sql, or an empty
// instance, or a value that fails sources.Check, becomes a stream.Reject
// with the same reasons as the JSON decoder ("missing:ts_ms",
// "negative:latency_us", …; a uint64 beyond int64 is "invalid:FIELD"), and
// the row re-encoded as a JSON object without its null fields as Raw. Null
// optional columns read as zero.
//
// The row loop reads the typed column buffers directly: it allocates nothing
// per row except Instance/DB/User strings beyond the 4096 distinct ones it
// interns.
type Source struct {
	name   string
	opts   Options
	open   func() (io.Reader, io.Closer, error)
	closer io.Closer
	opened bool

	msgs  *msgReader
	rdr   *ipc.Reader     // stream format
	frd   *ipc.FileReader // file format
	nextF int             // file format: next record index
	// truncatedFile: a file-format input whose footer was unreadable is
	// read as a stream, and must end in an error.
	truncatedFile bool
	schemaSeen    bool

	rec     arrow.Record
	recBase int64 // row index of rec's first row
	pos     int   // next row of rec
	cols    [len(sources.FieldNames)]col
	colIdx  [len(sources.FieldNames)]int // schema index of each field, -1 if absent
	resume  int64
	err     error // sticky: returned by Next once the rows before it are out

	strs  *sources.Interner
	batch stream.Batch[sources.Event]
	arena []byte // rejects' raw JSON for the current batch
}

var _ stream.Source[sources.Event] = (*Source)(nil)

// Open returns a Source reading the file at path. The file is opened now so
// a bad path fails early; the Source's Open method positions it.
func Open(path string, opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("arrowipc: %w", err)
	}
	s := newSource(path, opts)
	s.closer = f
	s.open = func() (io.Reader, io.Closer, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, nil, fmt.Errorf("arrowipc: %s: %w", path, err)
		}
		return f, f, nil
	}
	return s, nil
}

// New returns a Source reading r (stream format, or file format if r is
// also an io.ReaderAt and io.Seeker), named name in errors. r must be at its
// start; reopening requires an io.Seeker. Close does not close r.
func New(r io.Reader, name string, opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := newSource(name, opts)
	s.open = sources.Rewinder(r, "arrowipc", name)
	return s, nil
}

func newSource(name string, opts Options) *Source {
	return &Source{name: name, opts: opts, strs: sources.NewInterner(sources.MaxInterned)}
}

func (o *Options) setDefaults() error {
	if o.BatchSize == 0 {
		o.BatchSize = 4096
	}
	if o.BatchSize < 0 {
		return fmt.Errorf("arrowipc: BatchSize is %d, want > 0 (0 means 4096)", o.BatchSize)
	}
	if o.Allocator == nil {
		o.Allocator = memory.NewGoAllocator()
	}
	return nil
}

var fileMagic = []byte("ARROW1")

// Open positions the source at row resume[0], or at the first row. It
// reads the schema. Calling it again repositions.
func (s *Source) Open(ctx context.Context, resume map[int32]int64) error {
	s.reset()
	off := resume[0]
	if off < 0 {
		return fmt.Errorf("%w: %s: row %d", ErrBadOffset, s.name, off)
	}
	r, c, err := s.open()
	if err != nil {
		return err
	}
	if c != nil {
		s.closer = c
	}
	s.resume = off

	br := bufio.NewReaderSize(r, 1<<20)
	head, _ := br.Peek(len(fileMagic))
	if bytes.Equal(head, fileMagic) {
		ra, okRA := r.(io.ReaderAt)
		sk, okSk := r.(io.Seeker)
		if okRA && okSk {
			size, err := sk.Seek(0, io.SeekEnd)
			if err == nil {
				s.frd, err = ipc.NewFileReader(io.NewSectionReader(ra, 0, size), ipc.WithAllocator(s.opts.Allocator))
			}
			if err == nil {
				return s.bindSchema(s.frd.Schema())
			}
			s.frd = nil
			// No readable footer: read the records up to the cut as a
			// stream; the end will be reported as truncation.
			if _, err := sk.Seek(0, io.SeekStart); err != nil {
				return fmt.Errorf("arrowipc: %s: %w", s.name, err)
			}
			br.Reset(r)
		}
		s.truncatedFile = true
		if _, err := br.Discard(8); err != nil {
			return s.readErr(err)
		}
	}
	s.msgs = &msgReader{r: br, refs: 1}
	if s.truncatedFile {
		s.msgs.pos = 8
	}
	rdr, err := ipc.NewReaderFromMessageReader(s.msgs, ipc.WithAllocator(s.opts.Allocator))
	if err != nil {
		return s.readErr(err)
	}
	s.rdr = rdr
	return s.bindSchema(rdr.Schema())
}

func (s *Source) bindSchema(schema *arrow.Schema) error {
	s.schemaSeen = true
	defer func() { s.opened = s.err == nil }()
	for i, name := range sources.FieldNames {
		s.colIdx[i] = -1
		idx := schema.FieldIndices(name)
		if len(idx) == 0 {
			continue
		}
		numeric := !sources.IsBytes(sources.Fields(1 << i))
		if err := checkType(name, schema.Field(idx[0]).Type, numeric); err != nil {
			s.err = fmt.Errorf("%s: %w", s.name, err)
			return s.err
		}
		s.colIdx[i] = idx[0]
	}
	return nil
}

// reset drops the reading state (not the file).
func (s *Source) reset() {
	if s.rec != nil {
		s.rec.Release()
		s.rec = nil
	}
	if s.rdr != nil {
		s.rdr.Release()
		s.rdr = nil
	}
	if s.frd != nil {
		s.frd.Close()
		s.frd = nil
	}
	s.msgs = nil
	s.nextF, s.truncatedFile, s.schemaSeen = 0, false, false
	s.recBase, s.pos, s.err, s.opened = 0, 0, nil, false
}

// readErr classifies an error of the IPC reader.
func (s *Source) readErr(err error) error {
	pos := int64(0)
	if s.msgs != nil {
		pos = s.msgs.pos
	}
	row := s.recBase
	if s.rec != nil {
		row += s.rec.NumRows()
	}
	where := "at byte " + strconv.FormatInt(pos, 10) + ", after row " + strconv.FormatInt(row, 10)
	if !s.schemaSeen {
		where = "at byte " + strconv.FormatInt(pos, 10) + ", in the schema"
	}
	var cut *cutError
	if errors.As(err, &cut) || errors.Is(err, io.ErrUnexpectedEOF) || s.truncatedFile {
		return fmt.Errorf("%w: %s: %s: %v", ErrTruncated, s.name, where, err)
	}
	return fmt.Errorf("%w: %s: %s: %v", ErrCorrupt, s.name, where, err)
}

// loadRecord makes the next non-empty record current. It returns io.EOF at
// the clean end of the input.
func (s *Source) loadRecord() error {
	for {
		if s.rec != nil {
			s.recBase += s.rec.NumRows()
			s.rec.Release()
			s.rec = nil
		}
		if s.frd != nil {
			if s.nextF >= s.frd.NumRecords() {
				return io.EOF
			}
			rec, err := s.frd.RecordAt(s.nextF)
			if err != nil {
				return s.readErr(err)
			}
			s.nextF++
			s.rec = rec
		} else {
			if !s.rdr.Next() {
				if err := s.rdr.Err(); err != nil {
					return s.readErr(err)
				}
				if s.truncatedFile {
					return s.readErr(errors.New("file footer missing"))
				}
				return io.EOF
			}
			s.rec = s.rdr.Record()
			s.rec.Retain()
		}
		s.pos = 0
		n := s.rec.NumRows()
		if n == 0 {
			continue
		}
		if s.resume >= s.recBase+n {
			continue // skipping to the resume row
		}
		if s.resume > s.recBase {
			s.pos = int(s.resume - s.recBase)
		}
		for i := range s.cols {
			if s.colIdx[i] < 0 {
				s.cols[i] = col{}
			} else {
				s.cols[i].bind(s.rec.Column(s.colIdx[i]))
			}
		}
		return nil
	}
}

// Next returns up to BatchSize rows of the current record batch. Items'
// SQL and Rejects' Raw stay valid until the next call to Next. It returns
// io.EOF at the end of the input and ErrTruncated (after delivering every
// row before the cut) for a cut input.
func (s *Source) Next(ctx context.Context) (_ *stream.Batch[sources.Event], err error) {
	// arrow-go trusts the lengths and offsets it reads; a corrupt buffer
	// makes it (or the row loop reading its slices) index out of range.
	// The arrays are read-only, so recovering is safe: report the input as
	// corrupt instead of crashing the task.
	defer func() {
		if p := recover(); p != nil {
			s.err = s.readErr(fmt.Errorf("unreadable record batch: %v", p))
			err = s.err
		}
	}()
	if !s.opened {
		return nil, ErrNotOpen
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if s.err != nil {
		return nil, s.err
	}
	if s.rec == nil || int64(s.pos) >= s.rec.NumRows() {
		if err := s.loadRecord(); err != nil {
			if err == io.EOF && s.resume > s.recBase {
				err = fmt.Errorf("%w: %s: resume at row %d, input has %d rows", ErrBadOffset, s.name, s.resume, s.recBase)
			}
			s.err = err
			return nil, err
		}
	}
	b := &s.batch
	b.Partition = 0
	b.Items = b.Items[:0]
	b.Rejects = b.Rejects[:0]
	s.arena = s.arena[:0]
	end := min(int(s.rec.NumRows()), s.pos+s.opts.BatchSize)
	for i := s.pos; i < end; i++ {
		b.Items = append(b.Items, sources.Event{})
		ev := &b.Items[len(b.Items)-1]
		if reason, present := s.row(i, ev); reason != "" {
			b.Items = b.Items[:len(b.Items)-1]
			s.reject(s.recBase+int64(i), reason, ev, present)
		}
	}
	s.pos = end
	b.NextOffset = s.recBase + int64(end)
	return b, nil
}

// row reads row i into ev. It returns a reject reason, or "", and the
// fields that were not null.
func (s *Source) row(i int, ev *sources.Event) (reason string, present sources.Fields) {
	*ev = sources.Event{}
	present = sources.AllFields
	var bad string // the first invalid optional value
	ts, tsState := s.cols[0].int(i)
	ev.TsMs = ts
	if tsState != intOK {
		present &^= sources.FieldTsMs
	}
	ints := [...]*int64{5: &ev.LatencyUs, 6: &ev.LockUs, 7: &ev.RowsSent, 8: &ev.RowsExamined, 9: &ev.RowsAffected}
	for f := 5; f <= 9; f++ {
		v, st := s.cols[f].int(i)
		switch st {
		case intNull:
			present &^= 1 << f
		case intOverflow:
			present &^= 1 << f
			if bad == "" {
				bad = "invalid:" + sources.FieldNames[f]
			}
		}
		*ints[f] = v
	}
	const codeIdx = 10
	if v, st := s.cols[codeIdx].int(i); st == intNull {
		present &^= sources.FieldErrCode
	} else if st == intOverflow || v > 1<<31-1 || v < -1<<31 {
		present &^= sources.FieldErrCode
		if bad == "" {
			bad = "invalid:err_code"
		}
	} else {
		ev.ErrCode = int32(v)
	}
	strs := [...]*string{1: &ev.Instance, 2: &ev.DB, 3: &ev.User, 11: &ev.Src}
	for _, f := range [...]int{1, 2, 3, 11} {
		if b, ok := s.cols[f].bytes(i); ok {
			*strs[f] = s.strs.Get(b)
		} else {
			present &^= 1 << f
		}
	}
	// Agent fields: null means zero.
	agent := [...]*int64{12: &ev.Seq, 14: &ev.Count, 15: &ev.LatencyMaxUs, 16: &ev.Errors}
	for _, f := range [...]int{12, 14, 15, 16} {
		switch v, st := s.cols[f].int(i); st {
		case intOK:
			*agent[f] = v
		case intOverflow:
			if bad == "" {
				bad = "invalid:" + sources.FieldNames[f]
			}
		}
	}
	const tidIdx, sketchIdx = 13, 17
	if b, ok := s.cols[tidIdx].bytes(i); ok {
		id, err := sources.ParseTemplateID(b)
		if err != nil && bad == "" {
			bad = "invalid:template_id"
		}
		ev.TemplateID = id
	}
	if b, ok := s.cols[sketchIdx].bytes(i); ok {
		ev.LatencySketch = b
	}
	const templateIdx = 18
	if b, ok := s.cols[templateIdx].bytes(i); ok {
		ev.Template = b
	}
	present |= sources.PresentAgentFields(ev)
	const sqlIdx = 4
	if b, ok := s.cols[sqlIdx].bytes(i); ok {
		ev.SQL = b
	} else {
		present &^= sources.FieldSQL
	}
	switch {
	case tsState == intNull:
		return sources.ReasonMissingTs, present
	case tsState == intOverflow:
		return sources.ReasonInvalidTs, present
	case ev.Instance == "":
		return sources.ReasonMissingInstance, present
	case present&sources.FieldSQL == 0:
		return sources.ReasonMissingSQL, present
	case bad != "":
		return bad, present
	}
	if err := sources.Check(ev); err != nil {
		return err.(*sources.DecodeError).Reason, present
	}
	return "", present
}

func (s *Source) reject(row int64, reason string, ev *sources.Event, present sources.Fields) {
	start := len(s.arena)
	s.arena = sources.AppendJSONFields(s.arena, ev, present)
	s.batch.Rejects = append(s.batch.Rejects, stream.Reject{
		Partition: 0,
		Offset:    row,
		Reason:    reason,
		Raw:       s.arena[start:len(s.arena):len(s.arena)],
	})
}

// Partitions returns [0].
func (s *Source) Partitions() []int32 { return []int32{0} }

// Bounded reports true.
func (s *Source) Bounded() bool { return true }

// Close releases the reader and closes the file opened by Open.
func (s *Source) Close() error {
	s.reset()
	if s.closer == nil {
		return nil
	}
	c := s.closer
	s.closer = nil
	if err := c.Close(); err != nil {
		return fmt.Errorf("arrowipc: %s: %w", s.name, err)
	}
	return nil
}

// msgReader reads IPC stream messages for ipc.Reader. It exists because
// the stock reader treats a stream cut at a message boundary (or right
// after a message's metadata) like one that ended with its end-of-stream
// marker, and trusts length fields enough to allocate whatever a corrupt
// file claims. msgReader returns io.EOF only for the marker, a *cutError
// for a stream that ends anywhere else, and grows buffers only as bytes
// arrive. It also counts the bytes consumed, for error positions.
type msgReader struct {
	r    io.Reader
	pos  int64 // bytes consumed
	refs int64
	msg  *ipc.Message

	// The body of the previous record-batch message is reused for the next
	// one: a fresh multi-megabyte buffer per batch cost more in page faults
	// than decoding. Only record batches are recycled — a dictionary
	// batch's arrays live on in the reader's memo — and only after the
	// message is released, when ipc.Reader has released its record and
	// Source.loadRecord its own reference (rows of a batch are valid until
	// the next Next, as stream.Batch promises).
	body    []byte // body of msg
	recycle bool   // msg is a record batch: its body may be reused
	spare   []byte
}

// cutError is a stream that ends without its end-of-stream marker.
type cutError struct {
	pos  int64
	what string
}

func (e *cutError) Error() string {
	return "input ends at byte " + strconv.FormatInt(e.pos, 10) + " " + e.what
}

// bigAlloc is the largest buffer allocated up front from a length field;
// longer ones grow as their bytes are read.
const bigAlloc = 64 << 20

func (m *msgReader) read(n int64, what string) ([]byte, error) {
	var buf []byte
	var err error
	if n <= bigAlloc {
		buf = make([]byte, n)
		var k int
		k, err = io.ReadFull(m.r, buf)
		m.pos += int64(k)
	} else {
		buf, err = io.ReadAll(io.LimitReader(m.r, n))
		m.pos += int64(len(buf))
		if err == nil && int64(len(buf)) < n {
			err = io.ErrUnexpectedEOF
		}
	}
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return nil, &cutError{pos: m.pos, what: what}
	}
	return buf, err
}

func (m *msgReader) Message() (msg *ipc.Message, err error) {
	start := m.pos
	defer func() {
		if p := recover(); p != nil { // flatbuffers on corrupt metadata
			msg, err = nil, fmt.Errorf("message at byte %d: unreadable metadata: %v", start, p)
		}
	}()
	if m.msg != nil {
		m.msg.Release()
		m.msg = nil
		if m.recycle {
			m.spare = m.body
		}
		m.body, m.recycle = nil, false
	}
	var hdr [4]byte
	k, err := io.ReadFull(m.r, hdr[:])
	m.pos += int64(k)
	if err == io.EOF {
		return nil, &cutError{pos: m.pos, what: "without the end-of-stream marker"}
	}
	if err != nil {
		return nil, m.cut(err, "inside a message header")
	}
	n := binary.LittleEndian.Uint32(hdr[:])
	if n == 0xFFFFFFFF { // continuation marker, then the length
		k, err := io.ReadFull(m.r, hdr[:])
		m.pos += int64(k)
		if err != nil {
			return nil, m.cut(err, "inside a message header")
		}
		n = binary.LittleEndian.Uint32(hdr[:])
	}
	if n == 0 {
		return nil, io.EOF // the end-of-stream marker
	}
	if n > 1<<30 {
		return nil, fmt.Errorf("message at byte %d: metadata length %d is not plausible", start, n)
	}
	meta, err := m.read(int64(n), "inside a message's metadata")
	if err != nil {
		return nil, err
	}
	probe := ipc.NewMessage(memory.NewBufferBytes(meta), memory.NewBufferBytes(nil))
	bodyLen := probe.BodyLen()
	if bodyLen < 0 {
		return nil, fmt.Errorf("message at byte %d: negative body length %d", start, bodyLen)
	}
	var body []byte
	recycle := probe.Type() == ipc.MessageRecordBatch
	if recycle && bodyLen > 0 && int64(cap(m.spare)) >= bodyLen {
		body = m.spare[:bodyLen]
		m.spare = nil
		k, err := io.ReadFull(m.r, body)
		m.pos += int64(k)
		if err != nil {
			return nil, m.cut(err, "inside a message's body")
		}
	} else if body, err = m.read(bodyLen, "inside a message's body"); err != nil {
		return nil, err
	}
	m.msg = ipc.NewMessage(memory.NewBufferBytes(meta), memory.NewBufferBytes(body))
	m.body, m.recycle = body, recycle
	return m.msg, nil
}

func (m *msgReader) cut(err error, what string) error {
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return &cutError{pos: m.pos, what: what}
	}
	return err
}

func (m *msgReader) Retain() { m.refs++ }

func (m *msgReader) Release() {
	m.refs--
	if m.refs <= 0 && m.msg != nil {
		m.msg.Release()
		m.msg = nil
	}
}
