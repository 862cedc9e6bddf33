package models

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
)

// ErrBadState is returned (wrapped) by UnmarshalBinary for data that is not
// a state this version of das wrote for that detector.
var ErrBadState = errors.New("models: bad detector state")

// stateVersion is the first byte of every encoded state. Bump it when a
// layout changes; decoders reject other versions.
const stateVersion = 1

// Detector kinds, the second byte of an encoded state: restoring one
// detector's state into another kind is an error, not garbage.
const (
	kindMAD uint8 = iota + 1
	kindEWMA
	kindSeasonalESD
	kindSHESD
	kindCUSUM
	kindEnsemble
)

// enc appends a compact little-endian encoding. Floats are stored bit-exact
// so a restored detector continues bit-identically.
type enc struct{ b []byte }

func newEnc(kind uint8, sizeHint int) *enc {
	e := &enc{b: make([]byte, 0, sizeHint+2)}
	e.b = append(e.b, stateVersion, kind)
	return e
}

func (e *enc) u8(v uint8)    { e.b = append(e.b, v) }
func (e *enc) bool(v bool)   { e.u8(b2u(v)) }
func (e *enc) uv(v uint64)   { e.b = binary.AppendUvarint(e.b, v) }
func (e *enc) iv(v int64)    { e.b = binary.AppendVarint(e.b, v) }
func (e *enc) f64(v float64) { e.b = binary.LittleEndian.AppendUint64(e.b, math.Float64bits(v)) }
func (e *enc) f32(v float32) { e.b = binary.LittleEndian.AppendUint32(e.b, math.Float32bits(v)) }
func (e *enc) f32s(v []float32) {
	e.uv(uint64(len(v)))
	for _, x := range v {
		e.f32(x)
	}
}

func b2u(v bool) uint8 {
	if v {
		return 1
	}
	return 0
}

// dec reads what enc wrote. The first error sticks; every read after it
// returns zero values, so decoders check d.err once at the end (and before
// using a length to allocate).
type dec struct {
	b   []byte
	err error
}

func newDec(data []byte, kind uint8) *dec {
	d := &dec{b: data}
	if len(data) < 2 {
		d.fail("state too short")
		return d
	}
	if data[0] != stateVersion {
		d.fail(fmt.Sprintf("state version %d, want %d", data[0], stateVersion))
		return d
	}
	if data[1] != kind {
		d.fail(fmt.Sprintf("state of detector kind %d, want %d", data[1], kind))
		return d
	}
	d.b = data[2:]
	return d
}

func (d *dec) fail(msg string) {
	if d.err == nil {
		d.err = fmt.Errorf("%w: %s", ErrBadState, msg)
	}
	d.b = nil
}

func (d *dec) u8() uint8 {
	if len(d.b) < 1 {
		d.fail("truncated")
		return 0
	}
	v := d.b[0]
	d.b = d.b[1:]
	return v
}

func (d *dec) bool() bool {
	v := d.u8()
	if v > 1 {
		d.fail("bad bool")
	}
	return v == 1
}

func (d *dec) uv() uint64 {
	v, n := binary.Uvarint(d.b)
	if n <= 0 {
		d.fail("bad uvarint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) iv() int64 {
	v, n := binary.Varint(d.b)
	if n <= 0 {
		d.fail("bad varint")
		return 0
	}
	d.b = d.b[n:]
	return v
}

func (d *dec) f64() float64 {
	if len(d.b) < 8 {
		d.fail("truncated")
		return 0
	}
	v := math.Float64frombits(binary.LittleEndian.Uint64(d.b))
	d.b = d.b[8:]
	return v
}

func (d *dec) f32() float32 {
	if len(d.b) < 4 {
		d.fail("truncated")
		return 0
	}
	v := math.Float32frombits(binary.LittleEndian.Uint32(d.b))
	d.b = d.b[4:]
	return v
}

// f32s reads a length-prefixed slice whose length must be at most max,
// reusing dst when it is large enough.
func (d *dec) f32s(dst []float32, max int) []float32 {
	n := d.uv()
	if d.err != nil {
		return dst[:0]
	}
	if n > uint64(max) || n*4 > uint64(len(d.b)) {
		d.fail("slice length out of range")
		return dst[:0]
	}
	if cap(dst) < int(n) {
		dst = make([]float32, n)
	}
	dst = dst[:n]
	for i := range dst {
		dst[i] = d.f32()
	}
	return dst
}

// finite checks a decoded float that must be a finite number.
func (d *dec) finite(v float64, what string) {
	if math.IsNaN(v) || math.IsInf(v, 0) {
		d.fail(what + " not finite")
	}
}

// done reports the sticky error, or one for trailing bytes.
func (d *dec) done() error {
	if d.err == nil && len(d.b) != 0 {
		d.fail("trailing bytes")
	}
	return d.err
}
