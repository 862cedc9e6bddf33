package slowlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"time"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// rejectRawMax caps the bytes of an entry kept in its Reject.
const rejectRawMax = 64 << 10

var (
	// ErrNotOpen is returned by Next before Open.
	ErrNotOpen = errors.New("slowlog: source not opened")
	// ErrBadOffset is returned by Open for a resume offset that is negative
	// or beyond the end of the file.
	ErrBadOffset = errors.New("slowlog: resume offset out of range")
)

// Options configure a Source or a Follower. The zero value means every
// default.
type Options struct {
	// Instance is the instance every event names ("ip:port"). Default:
	// DefaultInstance of the log.
	Instance string
	// BatchSize is the most entries (items plus rejects) in one batch.
	// Default 4096.
	BatchSize int
	// BatchBytes closes a batch once its entries total at least this many
	// bytes. A batch always holds at least one entry. Default 4 MiB.
	BatchBytes int
	// ReadSize is the size of each read from the file. Default 1 MiB.
	ReadSize int
	// MaxEntryBytes bounds the bytes of one entry that are kept: a longer
	// entry (a statement of many megabytes) still becomes one event, with
	// its statement cut to fit. At least 64 KiB. Default 64 MiB.
	MaxEntryBytes int
	// Location is the time zone of "# Time: 240102  3:04:05" lines
	// (MariaDB, MySQL ≤ 5.6), which carry none; it matters only for an entry
	// without "SET timestamp". Default UTC.
	Location *time.Location
	// Hostname names this host when the log's file name does not (see
	// DefaultInstance). Default os.Hostname.
	Hostname func() (string, error)
}

func (o *Options) setDefaults() error {
	for _, f := range []struct {
		v    *int
		name string
		def  int
	}{
		{&o.BatchSize, "BatchSize", 4096},
		{&o.BatchBytes, "BatchBytes", 4 << 20},
		{&o.ReadSize, "ReadSize", 1 << 20},
		{&o.MaxEntryBytes, "MaxEntryBytes", 64 << 20},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			return fmt.Errorf("slowlog: %s is %d, want > 0 (0 means %d)", f.name, *f.v, f.def)
		}
	}
	if o.MaxEntryBytes < 64<<10 {
		return fmt.Errorf("slowlog: MaxEntryBytes is %d, want >= %d", o.MaxEntryBytes, 64<<10)
	}
	if o.Location == nil {
		o.Location = time.UTC
	}
	if o.Hostname == nil {
		o.Hostname = os.Hostname
	}
	return nil
}

// Source is a stream.Source reading one slow log file to its end: the
// input of `das run sqlagg --input slowlog:PATH`. The file is partition 0;
// offsets are byte offsets of entries. It is not safe for concurrent use.
type Source struct {
	path   string
	opts   Options
	f      *os.File
	sp     *splitter
	p      parser
	opened bool

	batch stream.Batch[sources.Event]
	arena []byte // owns the SQL and reject bytes of the current batch
}

var _ stream.Source[sources.Event] = (*Source)(nil)

// Open returns a Source reading the slow log at path. The file is opened
// now so that a bad path fails early; call the Source's Open method to
// position it.
func Open(path string, opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("slowlog: %w", err)
	}
	if opts.Instance == "" {
		inst, err := DefaultInstance(path, f, opts.Hostname)
		if err != nil {
			f.Close()
			return nil, err
		}
		opts.Instance = inst
	}
	s := &Source{path: path, opts: opts, f: f}
	s.p = parser{loc: opts.Location, instance: opts.Instance}
	return s, nil
}

// Instance returns the instance the events name.
func (s *Source) Instance() string { return s.opts.Instance }

// Open positions the source at resume[0] (an offset a batch returned as
// NextOffset), or at the start of the file. The database carried from
// earlier entries (MySQL names it only when it changes) is recovered by
// reading backwards from the offset to the last "use" line. Calling Open
// again repositions.
func (s *Source) Open(ctx context.Context, resume map[int32]int64) error {
	if s.f == nil {
		return fmt.Errorf("slowlog: %s: source closed", s.path)
	}
	off := resume[0]
	fi, err := s.f.Stat()
	if err != nil {
		return fmt.Errorf("slowlog: %w", err)
	}
	if off < 0 || off > fi.Size() {
		return fmt.Errorf("%w: %s: %d (file has %d bytes)", ErrBadOffset, s.path, off, fi.Size())
	}
	db := ""
	if off > 0 {
		if db, err = recoverDB(ctx, s.f, off); err != nil {
			return fmt.Errorf("slowlog: %s: %w", s.path, err)
		}
	}
	if _, err := s.f.Seek(off, io.SeekStart); err != nil {
		return fmt.Errorf("slowlog: %s: %w", s.path, err)
	}
	if s.sp == nil {
		s.sp = newSplitter(s.f, off, s.opts.ReadSize, s.opts.MaxEntryBytes)
	} else {
		s.sp.reset(s.f, off)
	}
	s.p.db = db
	s.opened = true
	return nil
}

// Next returns the next batch of up to BatchSize entries. Items' SQL and
// Rejects' Raw are owned by the source and valid until the next call to
// Next. It returns io.EOF at the end of the file.
func (s *Source) Next(ctx context.Context) (*stream.Batch[sources.Event], error) {
	if !s.opened {
		return nil, ErrNotOpen
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	resetBatch(&s.batch)
	s.arena = s.arena[:0]
	records, size := 0, 0
	for records < s.opts.BatchSize && size < s.opts.BatchBytes {
		it, err := s.sp.next(true)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("slowlog: %s: %w", s.path, err)
		}
		if it.kind == itemHeader {
			s.p.db = ""
			continue
		}
		records++
		size += len(it.data)
		s.arena = appendEntry(&s.batch, s.arena, &s.p, it)
	}
	s.batch.NextOffset = s.sp.offset()
	if records == 0 {
		return nil, io.EOF
	}
	return &s.batch, nil
}

func resetBatch(b *stream.Batch[sources.Event]) {
	b.Partition = 0
	b.Items = b.Items[:0]
	b.ItemOffsets = b.ItemOffsets[:0]
	b.Rejects = b.Rejects[:0]
	b.NextOffset = 0
}

// appendEntry parses one entry into an item or a reject of b, copying the
// bytes it keeps into arena, and returns the arena.
func appendEntry(b *stream.Batch[sources.Event], arena []byte, p *parser, it item) []byte {
	// parse overwrites the whole event: grow without zeroing it first.
	if n := len(b.Items); n < cap(b.Items) {
		b.Items = b.Items[:n+1]
	} else {
		b.Items = append(b.Items, sources.Event{})
	}
	ev := &b.Items[len(b.Items)-1]
	perr := p.parse(it.data, it.truncated, ev)
	if perr == nil {
		if err := sources.Check(ev); err != nil {
			var de *sources.DecodeError
			if errors.As(err, &de) {
				perr = &entryError{de.Reason, de.Detail}
			} else {
				perr = &entryError{sources.ReasonMalformed, err.Error()}
			}
		}
	}
	if perr != nil {
		b.Items = b.Items[:len(b.Items)-1]
		raw := it.data[:min(len(it.data), rejectRawMax)]
		detail := perr.detail
		if int64(len(raw)) < it.size {
			detail += " (entry of " + strconv.FormatInt(it.size, 10) + " bytes, first " + strconv.Itoa(len(raw)) + " kept)"
		}
		start := len(arena)
		arena = append(arena, raw...)
		b.Rejects = append(b.Rejects, stream.Reject{
			Partition: 0,
			Offset:    it.off,
			Reason:    perr.reason,
			Detail:    detail,
			Raw:       arena[start:len(arena):len(arena)],
		})
		return arena
	}
	// The SQL points into the splitter's window, valid only until its next
	// call: the arena keeps it for the batch. If append moves the arena,
	// slices already handed out keep the old array alive.
	start := len(arena)
	arena = append(arena, ev.SQL...)
	ev.SQL = arena[start:len(arena):len(arena)]
	b.ItemOffsets = append(b.ItemOffsets, it.off)
	return arena
}

// Partitions returns [0]: a file is one partition.
func (s *Source) Partitions() []int32 { return []int32{0} }

// Bounded reports true: the file is read to its end.
func (s *Source) Bounded() bool { return true }

// Close closes the file.
func (s *Source) Close() error {
	if s.f == nil {
		return nil
	}
	f := s.f
	s.f, s.opened = nil, false
	if err := f.Close(); err != nil {
		return fmt.Errorf("slowlog: %s: %w", s.path, err)
	}
	return nil
}
