package operators

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"

	"github.com/das-project/das/internal/fsutil"
)

// DeadLetter is the dead-letter output: one JSON line per rejected input
// record, with the reason and the record's raw bytes, and nothing else:
//
//	{"reason":"malformed","detail":"…","partition":0,"offset":1234,"raw":"…"}
//
// raw is the record as a JSON string when it is valid UTF-8; otherwise the
// line carries "raw_base64" instead, so that no byte is lost.
//
// The file takes part in checkpoints: Sync makes the lines written so far
// durable and returns the committed position, which the engine stores in
// its checkpoint; on recovery the file is truncated back to that position,
// so a crash never leaves a line twice. Not safe for concurrent use.
//
// With DeadLetterOptions.MaxBytes the file is rotated after a checkpoint
// that leaves it at least that long: it is renamed PATH.000001 (.000002, …)
// and a new PATH begins. The committed position then names the segment too
// (segment<<40 | length); segment 0 is the file of a das without rotation,
// so positions stored by either read the same. Rotated files are not read
// again; archive or delete them once the next checkpoint has committed.
type DeadLetter struct {
	f    *os.File
	path string
	opts DeadLetterOptions
	seg  int64 // segment number of the file at path
	size int64
	buf  []byte
	n    int64 // lines written in this process
}

// DeadLetterOptions configure OpenDeadLetterWith.
type DeadLetterOptions struct {
	// MaxBytes rotates the file after a checkpoint that leaves it at least
	// this long. 0: never.
	MaxBytes int64
}

const (
	dlSegShift = 40 // a segment holds less than 1 TiB
	dlSizeMask = 1<<dlSegShift - 1
)

// RotatedDeadLetter returns the name segment seg of the dead letter at
// path has once rotated.
func RotatedDeadLetter(path string, seg int64) string {
	return fmt.Sprintf("%s.%06d", path, seg+1)
}

// DeadLetterFiles returns the files of the dead letter at path in the
// order their lines were written: the rotated ones still present
// (RotatedDeadLetter names), oldest first, then path itself if it exists.
// Rotated files archived away are simply not listed.
func DeadLetterFiles(path string) ([]string, error) {
	ents, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		return nil, err
	}
	base := filepath.Base(path) + "."
	var segs []int64
	for _, e := range ents {
		suffix, ok := strings.CutPrefix(e.Name(), base)
		if !ok || len(suffix) < 6 {
			continue
		}
		if n, err := strconv.ParseInt(suffix, 10, 64); err == nil && n > 0 && suffix == fmt.Sprintf("%06d", n) {
			segs = append(segs, n-1)
		}
	}
	slices.Sort(segs)
	files := make([]string, 0, len(segs)+1)
	for _, seg := range segs {
		files = append(files, RotatedDeadLetter(path, seg))
	}
	if _, err := os.Stat(path); err == nil {
		files = append(files, path)
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, err
	}
	return files, nil
}

// OpenDeadLetter opens (creating if needed) the dead-letter file and
// truncates it to committed, the position recorded by the last checkpoint.
// A file shorter than committed means lines were lost: that is an error.
func OpenDeadLetter(path string, committed int64) (*DeadLetter, error) {
	return OpenDeadLetterWith(path, committed, DeadLetterOptions{})
}

// OpenDeadLetterWith is OpenDeadLetter with options.
func OpenDeadLetterWith(path string, committed int64, opts DeadLetterOptions) (*DeadLetter, error) {
	if opts.MaxBytes < 0 || opts.MaxBytes > dlSizeMask {
		return nil, fmt.Errorf("operators: dead letter: MaxBytes %d out of range", opts.MaxBytes)
	}
	seg, size := committed>>dlSegShift, committed&dlSizeMask
	if committed < 0 {
		return nil, fmt.Errorf("operators: dead letter: committed position %d is negative", committed)
	}
	rotated := RotatedDeadLetter(path, seg)
	if fi, err := os.Stat(rotated); err == nil {
		// The segment was rotated after the checkpoint that committed it:
		// it is complete, and path holds only uncommitted lines of the
		// next segment.
		if fi.Size() != size {
			return nil, fmt.Errorf("operators: dead letter %s is %d bytes, but the checkpoint committed %d: it was changed outside das", rotated, fi.Size(), size)
		}
		seg, size = seg+1, 0
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("operators: dead letter: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("operators: dead letter: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("operators: dead letter: %w", err)
	}
	if fi.Size() < size {
		f.Close()
		return nil, fmt.Errorf("operators: dead letter %s is %d bytes, shorter than the %d bytes the checkpoint committed: it was truncated or replaced outside das", path, fi.Size(), size)
	}
	if fi.Size() > size {
		if err := f.Truncate(size); err != nil {
			f.Close()
			return nil, fmt.Errorf("operators: dead letter: roll back to checkpoint: %w", err)
		}
	}
	if _, err := f.Seek(size, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("operators: dead letter: %w", err)
	}
	return &DeadLetter{f: f, path: path, opts: opts, seg: seg, size: size}, nil
}

// Path returns the file's path.
func (d *DeadLetter) Path() string { return d.path }

// Lines returns the number of lines written by this process.
func (d *DeadLetter) Lines() int64 { return d.n }

// Write appends one record.
func (d *DeadLetter) Write(reason, detail string, partition int32, offset int64, raw []byte) error {
	b := d.buf[:0]
	b = append(b, `{"reason":`...)
	b = strconv.AppendQuote(b, reason)
	if detail != "" {
		b = append(b, `,"detail":`...)
		b = appendJSONString(b, []byte(detail))
	}
	b = append(b, `,"partition":`...)
	b = strconv.AppendInt(b, int64(partition), 10)
	b = append(b, `,"offset":`...)
	b = strconv.AppendInt(b, offset, 10)
	if utf8.Valid(raw) {
		b = append(b, `,"raw":`...)
		b = appendJSONString(b, raw)
	} else {
		b = append(b, `,"raw_base64":"`...)
		b = base64.StdEncoding.AppendEncode(b, raw)
		b = append(b, '"')
	}
	b = append(b, "}\n"...)
	d.buf = b
	n, err := d.f.Write(b)
	d.size += int64(n)
	if err != nil {
		return fmt.Errorf("operators: dead letter write: %w", err)
	}
	d.n++
	return nil
}

// Sync makes every line written so far durable and returns the position
// to record in the checkpoint.
func (d *DeadLetter) Sync() (int64, error) {
	if err := d.f.Sync(); err != nil {
		return 0, fmt.Errorf("operators: dead letter sync: %w", err)
	}
	if d.size > dlSizeMask {
		return 0, fmt.Errorf("operators: dead letter %s reached %d bytes; set a rotation size", d.path, d.size)
	}
	return d.seg<<dlSegShift | d.size, nil
}

// Committed is called once the checkpoint that recorded the last Sync's
// position is durable. It rotates the file if it reached MaxBytes.
func (d *DeadLetter) Committed() error {
	if d.opts.MaxBytes == 0 || d.size < d.opts.MaxBytes {
		return nil
	}
	if err := d.f.Close(); err != nil {
		return fmt.Errorf("operators: dead letter rotate: %w", err)
	}
	d.f = nil
	if err := os.Rename(d.path, RotatedDeadLetter(d.path, d.seg)); err != nil {
		return fmt.Errorf("operators: dead letter rotate: %w", err)
	}
	f, err := os.OpenFile(d.path, os.O_RDWR|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return fmt.Errorf("operators: dead letter rotate: %w", err)
	}
	if err := fsutil.SyncDir(filepath.Dir(d.path)); err != nil {
		f.Close()
		return fmt.Errorf("operators: dead letter rotate: %w", err)
	}
	d.f, d.seg, d.size = f, d.seg+1, 0
	return nil
}

// Close closes the file (without syncing: uncommitted lines are rolled
// back on the next open anyway).
func (d *DeadLetter) Close() error {
	if d.f == nil {
		return errors.New("operators: dead letter closed twice")
	}
	err := d.f.Close()
	d.f = nil
	return err
}

const hexDigits = "0123456789abcdef"

// appendJSONString appends s as a JSON string; s must be valid UTF-8 for a
// faithful round trip (invalid bytes become U+FFFD).
func appendJSONString(b, s []byte) []byte {
	b = append(b, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			switch {
			case c == '"' || c == '\\':
				b = append(b, '\\', c)
			case c == '\n':
				b = append(b, '\\', 'n')
			case c == '\r':
				b = append(b, '\\', 'r')
			case c == '\t':
				b = append(b, '\\', 't')
			case c < 0x20:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			default:
				b = append(b, c)
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, `\ufffd`...)
		} else if r == '\u2028' || r == '\u2029' {
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		} else {
			b = append(b, s[i:i+size]...)
		}
		i += size
	}
	return append(b, '"')
}
