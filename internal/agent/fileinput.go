package agent

import (
	"bytes"
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

// ReasonOversize is the reject reason of a JSON line longer than
// FileOptions.MaxLineBytes.
const ReasonOversize = "oversize"

// FileOptions configure a FileInput. The zero value means every default.
type FileOptions struct {
	// Follow keeps reading as the file grows, like tail -F: at the end it
	// waits for more, and when the path is replaced (log rotation) it
	// reads the old file to its end and continues with the new one, a new
	// stream. Default false: read to the end and stop (io.EOF).
	Follow bool
	// Poll is how often a followed file is checked for growth and
	// rotation, and the longest Next waits. Default 200ms.
	Poll time.Duration
	// BatchSize is the most records (events plus rejects) per batch.
	// Default 4096.
	BatchSize int
	// MaxLineBytes is the longest line decoded; longer lines are rejected
	// with reason "oversize" and their first kilobyte. Default 16 MiB.
	MaxLineBytes int
}

func (o *FileOptions) setDefaults() error {
	if o.Poll == 0 {
		o.Poll = 200 * time.Millisecond
	}
	if o.BatchSize == 0 {
		o.BatchSize = 4096
	}
	if o.MaxLineBytes == 0 {
		o.MaxLineBytes = 16 << 20
	}
	switch {
	case o.Poll < 0:
		return fmt.Errorf("agent: file Poll is %v, want > 0 (0 means 200ms)", o.Poll)
	case o.BatchSize < 0 || o.BatchSize > maxInputBatch:
		return fmt.Errorf("agent: file BatchSize is %d, want 1..%d (0 means 4096)", o.BatchSize, maxInputBatch)
	case o.MaxLineBytes < 0 || (o.MaxLineBytes > 0 && o.MaxLineBytes < 1024):
		return fmt.Errorf("agent: file MaxLineBytes is %d, want >= 1024 (0 means 16 MiB)", o.MaxLineBytes)
	}
	return nil
}

// FileInput reads SQL events from a JSON lines file (the event format of
// package sources, what das gen writes), optionally following it. Offsets
// are byte offsets; the stream identity is the file's device and inode, so
// a rotated file is a new stream. It is Replayable.
type FileInput struct {
	path string
	opts FileOptions

	f      *os.File
	stream string
	base   int64  // offset of buf[0]
	buf    []byte // buf[lo:hi] unread; scan: where the search for '\n' resumes
	lo     int
	scan   int
	hi     int
	eof    bool // the current file returned EOF on its last read
	skip   bool // discarding the rest of an oversize line
	skipAt int64
	skipN  int64
	head   []byte

	dec   sources.Decoder
	batch Batch
	arena []byte
}

var _ Input = (*FileInput)(nil)

// NewFileInput returns an input reading the JSON lines file at path. The
// file is opened by Open.
func NewFileInput(path string, opts FileOptions) (*FileInput, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	return &FileInput{path: path, opts: opts}, nil
}

// Kind implements Input: "file".
func (in *FileInput) Kind() string { return "file" }

// Replayable implements Input: true.
func (in *FileInput) Replayable() bool { return true }

// Open implements Input. A position in a stream that is no longer the file
// at the path, or beyond the end of that file (truncated), is
// ErrStreamGone.
func (in *FileInput) Open(ctx context.Context, pos Position) error {
	if in.f != nil {
		in.f.Close()
		in.f = nil
	}
	f, err := os.Open(in.path)
	if err != nil {
		return fmt.Errorf("agent: file input: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("agent: file input: %w", err)
	}
	id := fileIdentity(fi)
	if pos.Stream != "" {
		switch {
		case pos.Stream != id:
			f.Close()
			return fmt.Errorf("%w: %s was %s, is now %s", ErrStreamGone, in.path, pos.Stream, id)
		case fi.Mode().IsRegular() && pos.Offset > fi.Size():
			f.Close()
			return fmt.Errorf("%w: %s: position %d beyond its end (%d bytes): truncated", ErrStreamGone, in.path, pos.Offset, fi.Size())
		}
	}
	if pos.Offset > 0 {
		if _, err := f.Seek(pos.Offset, io.SeekStart); err != nil {
			f.Close()
			return fmt.Errorf("agent: file input: seek: %w", err)
		}
	}
	in.f, in.stream = f, id
	in.reset(pos.Offset)
	return nil
}

func (in *FileInput) reset(base int64) {
	in.base, in.lo, in.scan, in.hi, in.eof, in.skip = base, 0, 0, 0, false, false
}

// Next implements Input.
func (in *FileInput) Next(ctx context.Context) (*Batch, error) {
	if in.f == nil {
		return nil, errors.New("agent: file input not open")
	}
	b := &in.batch
	b.Events, b.Offsets, b.Rejects = b.Events[:0], b.Offsets[:0], b.Rejects[:0]
	in.arena = in.arena[:0]
	deadline := time.Now().Add(in.opts.Poll)
	for n := 0; n < in.opts.BatchSize; {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		line, off, ok, err := in.line()
		if err != nil {
			return nil, err
		}
		if !ok {
			// Nothing complete to read now.
			if n > 0 || !in.opts.Follow {
				break
			}
			rotated, err := in.rotated()
			if err != nil {
				return nil, err
			}
			if rotated {
				if in.lo < in.hi { // the old file's last line had no newline
					line, off = in.buf[in.lo:in.hi], in.base+int64(in.lo)
					in.lo, in.scan = in.hi, in.hi
					in.record(line, off)
					n++
					break
				}
				if err := in.switchFile(); err != nil {
					return nil, err
				}
				break // a batch never spans two streams
			}
			if time.Now().After(deadline) {
				break
			}
			t := time.NewTimer(min(in.opts.Poll/4+time.Millisecond, time.Until(deadline)+time.Millisecond))
			select {
			case <-ctx.Done():
				t.Stop()
				return nil, ctx.Err()
			case <-t.C:
			}
			in.eof = false
			continue
		}
		if in.head != nil || !blank(line) {
			n++
		}
		in.record(line, off)
	}
	b.Stream = in.stream
	b.End = in.base + int64(in.lo)
	if in.skip {
		b.End = in.skipAt
	}
	if !in.opts.Follow && len(b.Events) == 0 && len(b.Rejects) == 0 && in.eof && in.lo == in.hi && !in.skip {
		return nil, io.EOF
	}
	return b, nil
}

// record decodes one line into the batch.
func (in *FileInput) record(line []byte, off int64) {
	b := &in.batch
	if in.head != nil { // an oversize line, already consumed
		detail := "line of " + strconv.FormatInt(in.skipN, 10) + " bytes exceeds MaxLineBytes " + strconv.Itoa(in.opts.MaxLineBytes)
		b.Rejects = append(b.Rejects, stream.Reject{Offset: off, Reason: ReasonOversize, Detail: detail, Raw: in.head})
		in.head = nil
		return
	}
	if blank(line) {
		return
	}
	b.Events = append(b.Events, sources.Event{})
	ev := &b.Events[len(b.Events)-1]
	if err := in.dec.Decode(line, ev); err != nil {
		b.Events = b.Events[:len(b.Events)-1]
		reason, detail := sources.ReasonMalformed, err.Error()
		var de *sources.DecodeError
		if errors.As(err, &de) {
			reason, detail = de.Reason, de.Detail
		}
		start := len(in.arena)
		in.arena = append(in.arena, line...)
		b.Rejects = append(b.Rejects, stream.Reject{Offset: off, Reason: reason, Detail: detail, Raw: in.arena[start:len(in.arena):len(in.arena)]})
		return
	}
	start := len(in.arena)
	in.arena = append(in.arena, ev.SQL...)
	ev.SQL = in.arena[start:len(in.arena):len(in.arena)]
	b.Offsets = append(b.Offsets, off)
}

// line returns the next complete line (without '\n') and its offset. ok is
// false when no complete line is available now. Without Follow, a last
// line with no newline is complete at the end of the file.
func (in *FileInput) line() (line []byte, off int64, ok bool, err error) {
	for {
		if in.skip {
			if i := bytes.IndexByte(in.buf[in.lo:in.hi], '\n'); i >= 0 {
				in.skipN += int64(i)
				in.lo += i + 1
				in.scan = in.lo
				in.skip = false
				return nil, in.skipAt, true, nil
			}
			in.skipN += int64(in.hi - in.lo)
			in.lo, in.scan = in.hi, in.hi
		} else if i := bytes.IndexByte(in.buf[in.scan:in.hi], '\n'); i >= 0 {
			end := in.scan + i
			line, off = in.buf[in.lo:end], in.base+int64(in.lo)
			in.lo, in.scan = end+1, end+1
			if len(line) > in.opts.MaxLineBytes {
				in.head, in.skipN = bytes.Clone(line[:1024]), int64(len(line))
			}
			return line, off, true, nil
		} else {
			in.scan = in.hi
			if in.hi-in.lo > in.opts.MaxLineBytes {
				in.skip, in.skipAt = true, in.base+int64(in.lo)
				in.head, in.skipN = bytes.Clone(in.buf[in.lo:in.lo+1024]), int64(in.hi-in.lo)
				in.lo, in.scan = in.hi, in.hi
				continue
			}
		}
		if in.eof {
			if !in.opts.Follow && !in.skip && in.lo < in.hi {
				line, off = in.buf[in.lo:in.hi], in.base+int64(in.lo)
				in.lo, in.scan = in.hi, in.hi
				return line, off, true, nil
			}
			if !in.opts.Follow && in.skip {
				in.skip = false
				return nil, in.skipAt, true, nil
			}
			return nil, 0, false, nil
		}
		if err := in.fill(); err != nil {
			return nil, 0, false, err
		}
	}
}

// fill reads more of the file into buf, compacting it first.
func (in *FileInput) fill() error {
	if in.lo > 0 {
		n := copy(in.buf, in.buf[in.lo:in.hi])
		in.base += int64(in.lo)
		in.scan -= in.lo
		in.lo, in.hi = 0, n
	}
	if len(in.buf)-in.hi < 64<<10 {
		nb := make([]byte, max(2*len(in.buf), in.hi+256<<10))
		copy(nb, in.buf[:in.hi])
		in.buf = nb
	}
	n, err := in.f.Read(in.buf[in.hi:])
	in.hi += n
	switch {
	case err == io.EOF || (err == nil && n == 0):
		in.eof = true
	case err != nil:
		return fmt.Errorf("agent: file input: %w", err)
	}
	return nil
}

// rotated reports whether the path now names another file than the one
// being read, after reading the current one to its end.
func (in *FileInput) rotated() (bool, error) {
	fi, err := os.Stat(in.path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return false, nil // between rename and create: wait
		}
		return false, fmt.Errorf("agent: file input: %w", err)
	}
	if fileIdentity(fi) == in.stream {
		return false, nil
	}
	// Drain what was appended to the old file before it was replaced.
	in.eof = false
	for !in.eof {
		if err := in.fill(); err != nil {
			return false, err
		}
	}
	if bytes.IndexByte(in.buf[in.scan:in.hi], '\n') >= 0 || in.skip {
		return false, nil // complete lines left: the caller reads them first
	}
	return true, nil
}

func (in *FileInput) switchFile() error {
	f, err := os.Open(in.path)
	if err != nil {
		return fmt.Errorf("agent: file input: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("agent: file input: %w", err)
	}
	in.f.Close()
	in.f, in.stream = f, fileIdentity(fi)
	in.reset(0)
	return nil
}

// Close implements Input.
func (in *FileInput) Close() error {
	if in.f == nil {
		return nil
	}
	err := in.f.Close()
	in.f = nil
	return err
}

func blank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}
