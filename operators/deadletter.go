package operators

import (
	"encoding/base64"
	"errors"
	"fmt"
	"os"
	"strconv"
	"unicode/utf8"
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
// durable and returns the committed length, which the engine stores in its
// checkpoint; on recovery the file is truncated back to that length, so a
// crash never leaves a line twice. Not safe for concurrent use.
type DeadLetter struct {
	f    *os.File
	path string
	size int64
	buf  []byte
	n    int64 // lines written in this process
}

// OpenDeadLetter opens (creating if needed) the dead-letter file and
// truncates it to committed, the length recorded by the last checkpoint.
// A file shorter than committed means lines were lost: that is an error.
func OpenDeadLetter(path string, committed int64) (*DeadLetter, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("operators: dead letter: %w", err)
	}
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("operators: dead letter: %w", err)
	}
	if fi.Size() < committed {
		f.Close()
		return nil, fmt.Errorf("operators: dead letter %s is %d bytes, shorter than the %d bytes the checkpoint committed: it was truncated or replaced outside das", path, fi.Size(), committed)
	}
	if fi.Size() > committed {
		if err := f.Truncate(committed); err != nil {
			f.Close()
			return nil, fmt.Errorf("operators: dead letter: roll back to checkpoint: %w", err)
		}
	}
	if _, err := f.Seek(committed, 0); err != nil {
		f.Close()
		return nil, fmt.Errorf("operators: dead letter: %w", err)
	}
	return &DeadLetter{f: f, path: path, size: committed}, nil
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

// Sync makes every line written so far durable and returns the file length
// to record in the checkpoint.
func (d *DeadLetter) Sync() (int64, error) {
	if err := d.f.Sync(); err != nil {
		return 0, fmt.Errorf("operators: dead letter sync: %w", err)
	}
	return d.size, nil
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
