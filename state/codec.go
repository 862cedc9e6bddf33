package state

import (
	"encoding/binary"
	"fmt"
)

// Reader decodes the varint encodings used in state values. The first
// error sticks in Err; later reads return zero values, so a decoder can read
// a whole record and check Err once.
type Reader struct {
	B   []byte
	Err error
}

func (r *Reader) fail(format string, args ...any) {
	if r.Err == nil {
		r.Err = fmt.Errorf(format, args...)
	}
	r.B = nil
}

// Byte reads one byte.
func (r *Reader) Byte() byte {
	if len(r.B) < 1 {
		r.fail("short read")
		return 0
	}
	b := r.B[0]
	r.B = r.B[1:]
	return b
}

// Uvarint reads an unsigned varint.
func (r *Reader) Uvarint() uint64 {
	v, n := binary.Uvarint(r.B)
	if n <= 0 {
		r.fail("bad uvarint")
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Varint reads a signed (zig-zag) varint.
func (r *Reader) Varint() int64 {
	v, n := binary.Varint(r.B)
	if n <= 0 {
		r.fail("bad varint")
		return 0
	}
	r.B = r.B[n:]
	return v
}

// Bytes reads a length-prefixed byte string. The result aliases r.B.
func (r *Reader) Bytes() []byte {
	n := r.Uvarint()
	if r.Err != nil {
		return nil
	}
	if n > uint64(len(r.B)) {
		r.fail("length %d beyond %d bytes", n, len(r.B))
		return nil
	}
	b := r.B[:n:n]
	r.B = r.B[n:]
	return b
}

// AppendBytes appends a length-prefixed byte string.
func AppendBytes(dst, b []byte) []byte { return appendBytes(dst, b) }

// AppendTime appends t (ms) as 8 big-endian bytes with the sign bit flipped,
// so that byte order equals numeric order, including negative times.
func AppendTime(dst []byte, t int64) []byte {
	return binary.BigEndian.AppendUint64(dst, uint64(t)^(1<<63))
}

// ReadTime decodes AppendTime's encoding from the first 8 bytes of b.
func ReadTime(b []byte) int64 { return int64(binary.BigEndian.Uint64(b) ^ (1 << 63)) }

// WindowKey appends namespace ns, the window end and the grouping key: the
// layout of NSPartial and NSFired keys, ordered by window end first so that
// firing and purging are range operations.
func WindowKey(dst []byte, ns byte, end int64, key []byte) []byte {
	dst = append(dst, ns)
	dst = AppendTime(dst, end)
	return append(dst, key...)
}

// WindowPrefix returns the first key of ns for windows ending at end.
func WindowPrefix(ns byte, end int64) []byte { return WindowKey(make([]byte, 0, 9), ns, end, nil) }
