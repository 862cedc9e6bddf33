// Package jsonl reads SQL events from a JSON lines file: one JSON object per
// line, the event format of package sources (docs/events.md).
//
// A file is one partition (0). Offsets are byte offsets into the file (into
// the decompressed stream for a .gz file): a batch's NextOffset is the byte
// just after the last line the batch consumed, so resuming from it reads
// the next line and nothing twice.
//
// Every line that is not blank becomes either an item or a stream.Reject
// carrying its bytes and byte offset; blank lines (only spaces, tabs or
// CR) carry no record and are skipped. A last line without a trailing
// newline is a record like any other; if it was cut in the middle of an
// object it is rejected as malformed, with its bytes, so nothing is lost
// silently. A line longer than Options.MaxLineBytes is rejected with reason
// "oversize" and only its first kilobyte as raw bytes.
package jsonl

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// ReasonOversize is the reject reason of a line longer than MaxLineBytes.
const ReasonOversize = "oversize"

// oversizeRaw is how many leading bytes of an oversize line its reject keeps.
// MaxLineBytes is never below it.
const oversizeRaw = 1 << 10

var (
	// ErrNotOpen is returned by Next before Open.
	ErrNotOpen = errors.New("jsonl: source not opened")
	// ErrBadOffset is returned by Open for a resume offset that is negative
	// or beyond the end of the file.
	ErrBadOffset = errors.New("jsonl: resume offset out of range")
)

// Options configure a Source. The zero value means every default.
type Options struct {
	// BatchSize is the most records (items plus rejects) in one batch.
	// Default 4096.
	BatchSize int
	// BatchBytes closes a batch once its records total at least this many
	// bytes, so a file of huge lines does not build a huge batch. A batch
	// always holds at least one record. Default 4 MiB.
	BatchBytes int
	// ReadSize is the size of each read from the file. Default 1 MiB.
	ReadSize int
	// MaxLineBytes is the longest line that is decoded; longer lines are
	// rejected with reason "oversize". At least 1 KiB. Default 64 MiB.
	MaxLineBytes int
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
		{&o.MaxLineBytes, "MaxLineBytes", 64 << 20},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			return fmt.Errorf("jsonl: %s is %d, want > 0 (0 means %d)", f.name, *f.v, f.def)
		}
	}
	if o.MaxLineBytes < oversizeRaw {
		return fmt.Errorf("jsonl: MaxLineBytes is %d, want >= %d", o.MaxLineBytes, oversizeRaw)
	}
	return nil
}

// Source is a stream.Source of events read from one JSON lines file or
// stream. It is not safe for concurrent use.
type Source struct {
	name   string
	opts   Options
	open   func() (io.Reader, io.Closer, error) // (re)opens the input at byte 0
	r      io.Reader
	closer io.Closer

	// Read window: buf[lo:hi] is unconsumed input; buf[0] is at byte
	// offset base of the input. scan is where the search for '\n' resumes.
	buf          []byte
	lo, scan, hi int
	base         int64
	eof          bool
	opened       bool

	dec   sources.Decoder
	batch stream.Batch[sources.Event]
	arena []byte // owns the SQL and reject bytes of the current batch
}

var _ stream.Source[sources.Event] = (*Source)(nil)

// Open returns a Source reading the file at path; a path ending in ".gz" is
// decompressed (offsets then count decompressed bytes, and resuming reads
// the file from its start). The file is opened now so that a bad path fails
// early; call the Source's Open method to position it.
func Open(path string, opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("jsonl: %w", err)
	}
	gz := strings.HasSuffix(path, ".gz")
	s := &Source{name: path, opts: opts}
	first := true
	s.open = func() (io.Reader, io.Closer, error) {
		if !first {
			if _, err := f.Seek(0, io.SeekStart); err != nil {
				return nil, nil, fmt.Errorf("jsonl: %s: %w", path, err)
			}
		}
		first = false
		if !gz {
			return f, f, nil
		}
		zr, err := gzip.NewReader(f)
		if err != nil {
			return nil, nil, fmt.Errorf("jsonl: %s: %w", path, err)
		}
		return zr, f, nil
	}
	s.closer = f
	return s, nil
}

// New returns a Source reading r, named name in errors. Resuming at an
// offset seeks if r is an io.Seeker and otherwise reads and discards up to
// it, so r must be at its start when Open is called. Close does not close r.
func New(r io.Reader, name string, opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := &Source{name: name, opts: opts}
	s.open = sources.Rewinder(r, "jsonl", name)
	return s, nil
}

// Open positions the source at resume[0], or at the start of the input.
// Calling it again repositions.
func (s *Source) Open(ctx context.Context, resume map[int32]int64) error {
	off := resume[0]
	if off < 0 {
		return fmt.Errorf("%w: %s: %d", ErrBadOffset, s.name, off)
	}
	r, c, err := s.open()
	if err != nil {
		return err
	}
	if c != nil {
		s.closer = c
	}
	s.r = r
	s.lo, s.scan, s.hi, s.base, s.eof, s.opened = 0, 0, 0, 0, false, true
	if off == 0 {
		return nil
	}
	if f, ok := r.(*os.File); ok {
		fi, err := f.Stat()
		if err != nil {
			return fmt.Errorf("jsonl: %s: %w", s.name, err)
		}
		if fi.Mode().IsRegular() && off > fi.Size() {
			return fmt.Errorf("%w: %s: offset %d beyond end of file (%d bytes)", ErrBadOffset, s.name, off, fi.Size())
		}
	}
	if sk, ok := r.(io.Seeker); ok {
		if _, err := sk.Seek(off, io.SeekStart); err != nil {
			return fmt.Errorf("jsonl: %s: seek to %d: %w", s.name, off, err)
		}
	} else {
		for skipped := int64(0); skipped < off; {
			if err := ctx.Err(); err != nil {
				return err
			}
			n, err := io.CopyN(io.Discard, r, min(off-skipped, 1<<20))
			skipped += n
			if err == io.EOF {
				return fmt.Errorf("%w: %s: offset %d beyond end of input (%d bytes)", ErrBadOffset, s.name, off, skipped)
			}
			if err != nil {
				return fmt.Errorf("jsonl: %s: skip to %d: %w", s.name, off, err)
			}
		}
	}
	s.base = off
	return nil
}

// Next returns the next batch: up to BatchSize records. Items' SQL and
// Rejects' Raw are owned by the source and valid until the next call to
// Next. It returns io.EOF once the input is exhausted.
func (s *Source) Next(ctx context.Context) (*stream.Batch[sources.Event], error) {
	if !s.opened {
		return nil, ErrNotOpen
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &s.batch
	b.Partition = 0
	b.Items = b.Items[:0]
	b.Rejects = b.Rejects[:0]
	s.arena = s.arena[:0]
	records, size := 0, 0
	for records < s.opts.BatchSize && size < s.opts.BatchBytes {
		line, off, oversize, err := s.readLine()
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, err
		}
		if oversize > 0 {
			records++
			size += oversizeRaw
			s.reject(off, line, ReasonOversize, "line of "+strconv.FormatInt(oversize, 10)+
				" bytes exceeds MaxLineBytes "+strconv.Itoa(s.opts.MaxLineBytes))
			continue
		}
		if blank(line) {
			continue
		}
		records++
		size += len(line)
		b.Items = append(b.Items, sources.Event{})
		ev := &b.Items[len(b.Items)-1]
		if err := s.dec.Decode(line, ev); err != nil {
			b.Items = b.Items[:len(b.Items)-1]
			var de *sources.DecodeError
			if errors.As(err, &de) {
				s.reject(off, line, de.Reason, de.Detail)
			} else {
				s.reject(off, line, sources.ReasonMalformed, err.Error())
			}
			continue
		}
		// The decoder's SQL (and sketch) are only valid until the next
		// Decode; the arena keeps them for the batch.
		s.arena = ev.Keep(s.arena)
	}
	b.NextOffset = s.base + int64(s.lo)
	if records == 0 {
		return nil, io.EOF
	}
	return b, nil
}

func (s *Source) reject(off int64, raw []byte, reason, detail string) {
	start := len(s.arena)
	s.arena = append(s.arena, raw...)
	s.batch.Rejects = append(s.batch.Rejects, stream.Reject{
		Partition: 0,
		Offset:    off,
		Reason:    reason,
		Detail:    detail,
		Raw:       s.arena[start:len(s.arena):len(s.arena)],
	})
}

// readLine returns the next line without its '\n' and the line's byte
// offset. The line is valid until the next call. For a line longer than
// MaxLineBytes it consumes the whole line and returns its first oversizeRaw
// bytes and its full length in oversize. At the end of the input it returns
// io.EOF.
func (s *Source) readLine() (line []byte, off int64, oversize int64, err error) {
	for {
		if i := bytes.IndexByte(s.buf[s.scan:s.hi], '\n'); i >= 0 {
			end := s.scan + i
			line, off = s.buf[s.lo:end], s.base+int64(s.lo)
			s.lo, s.scan = end+1, end+1
			if len(line) > s.opts.MaxLineBytes {
				return bytes.Clone(line[:oversizeRaw]), off, int64(len(line)), nil
			}
			return line, off, 0, nil
		}
		s.scan = s.hi
		if s.eof {
			if s.lo == s.hi {
				return nil, 0, 0, io.EOF
			}
			line, off = s.buf[s.lo:s.hi], s.base+int64(s.lo)
			s.lo, s.scan = s.hi, s.hi
			if len(line) > s.opts.MaxLineBytes {
				return bytes.Clone(line[:oversizeRaw]), off, int64(len(line)), nil
			}
			return line, off, 0, nil
		}
		if s.hi-s.lo > s.opts.MaxLineBytes {
			return s.skipOversize()
		}
		if err := s.fill(); err != nil {
			return nil, 0, 0, err
		}
	}
}

// skipOversize consumes the rest of a line that is already longer than
// MaxLineBytes, keeping its first oversizeRaw bytes.
func (s *Source) skipOversize() (line []byte, off int64, oversize int64, err error) {
	off = s.base + int64(s.lo)
	head := bytes.Clone(s.buf[s.lo : s.lo+min(oversizeRaw, s.hi-s.lo)])
	n := int64(0)
	for {
		if i := bytes.IndexByte(s.buf[s.scan:s.hi], '\n'); i >= 0 {
			end := s.scan + i
			n += int64(end - s.lo)
			s.lo, s.scan = end+1, end+1
			return head, off, n, nil
		}
		n += int64(s.hi - s.lo)
		s.base += int64(s.hi)
		s.lo, s.scan, s.hi = 0, 0, 0
		if s.eof {
			return head, off, n, nil
		}
		if err := s.fill(); err != nil {
			return nil, 0, 0, err
		}
	}
}

// fill reads at least one more byte into the window or sets eof.
func (s *Source) fill() error {
	if s.lo > 0 && (s.lo == s.hi || cap(s.buf)-s.hi < s.opts.ReadSize) {
		n := copy(s.buf[:cap(s.buf)], s.buf[s.lo:s.hi])
		s.base += int64(s.lo)
		s.scan -= s.lo
		s.lo, s.hi = 0, n
	}
	if cap(s.buf)-s.hi < s.opts.ReadSize {
		nb := make([]byte, s.hi, max(2*cap(s.buf), s.hi+s.opts.ReadSize))
		copy(nb, s.buf[:s.hi])
		s.buf = nb
	}
	for {
		n, err := s.r.Read(s.buf[s.hi:cap(s.buf)])
		s.buf = s.buf[:s.hi+n]
		s.hi += n
		if err == io.EOF {
			s.eof = true
			return nil
		}
		if err != nil {
			return fmt.Errorf("jsonl: %s: read at byte %d: %w", s.name, s.base+int64(s.hi), err)
		}
		if n > 0 {
			return nil
		}
	}
}

func blank(line []byte) bool {
	for _, c := range line {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// Partitions returns [0]: a file is one partition.
func (s *Source) Partitions() []int32 { return []int32{0} }

// Bounded reports true: a file ends.
func (s *Source) Bounded() bool { return true }

// Close closes the file opened by Open (not a reader given to New).
func (s *Source) Close() error {
	if s.closer == nil {
		return nil
	}
	c := s.closer
	s.closer, s.opened = nil, false
	if err := c.Close(); err != nil {
		return fmt.Errorf("jsonl: %s: %w", s.name, err)
	}
	return nil
}
