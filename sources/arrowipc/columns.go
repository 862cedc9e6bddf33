package arrowipc

import (
	"fmt"
	"math"
	"unsafe"

	"github.com/apache/arrow/go/v15/arrow"
	"github.com/apache/arrow/go/v15/arrow/array"
)

// colKind says how a column's values are read. Binding a record's columns
// once per record and switching on the kind per cell keeps the row loop free
// of interface calls and allocations.
type colKind uint8

const (
	kAbsent colKind = iota // the schema has no such column: every value is null
	kInt8
	kInt16
	kInt32
	kInt64
	kUint8
	kUint16
	kUint32
	kUint64
	kTimestamp // int64 values scaled to milliseconds
	kString
	kLargeString
	kBinary
	kLargeBinary
	kDict // dictionary-encoded strings or binaries
)

// col is one bound column of the current record.
type col struct {
	kind colKind
	arr  arrow.Array

	i8  []int8
	i16 []int16
	i32 []int32
	i64 []int64
	u8  []uint8
	u16 []uint16
	u32 []uint32
	u64 []uint64
	ts  []arrow.Timestamp
	// Timestamp scaling to milliseconds: v*mul/div.
	mul, div int64

	str  *array.String
	lstr *array.LargeString
	bin  *array.Binary
	lbin *array.LargeBinary
	dict *array.Dictionary
	vals *col // a dictionary's values
}

// checkType reports whether t can be read as an integer (numeric true) or
// as bytes (numeric false) column.
func checkType(name string, t arrow.DataType, numeric bool) error {
	switch t.ID() {
	case arrow.INT8, arrow.INT16, arrow.INT32, arrow.INT64,
		arrow.UINT8, arrow.UINT16, arrow.UINT32, arrow.UINT64, arrow.TIMESTAMP:
		if numeric {
			return nil
		}
	case arrow.STRING, arrow.LARGE_STRING, arrow.BINARY, arrow.LARGE_BINARY:
		if !numeric {
			return nil
		}
	case arrow.DICTIONARY:
		if !numeric {
			return checkType(name, t.(*arrow.DictionaryType).ValueType, false)
		}
	}
	want := "an integer or timestamp"
	if !numeric {
		want = "string or binary (plain or dictionary)"
	}
	return fmt.Errorf("%w: column %s has type %s, want %s", ErrSchema, name, t, want)
}

// bind points c at arr, whose type checkType accepted.
func (c *col) bind(arr arrow.Array) {
	*c = col{arr: arr}
	switch a := arr.(type) {
	case *array.Int8:
		c.kind, c.i8 = kInt8, a.Int8Values()
	case *array.Int16:
		c.kind, c.i16 = kInt16, a.Int16Values()
	case *array.Int32:
		c.kind, c.i32 = kInt32, a.Int32Values()
	case *array.Int64:
		c.kind, c.i64 = kInt64, a.Int64Values()
	case *array.Uint8:
		c.kind, c.u8 = kUint8, a.Uint8Values()
	case *array.Uint16:
		c.kind, c.u16 = kUint16, a.Uint16Values()
	case *array.Uint32:
		c.kind, c.u32 = kUint32, a.Uint32Values()
	case *array.Uint64:
		c.kind, c.u64 = kUint64, a.Uint64Values()
	case *array.Timestamp:
		c.kind, c.ts, c.mul, c.div = kTimestamp, a.TimestampValues(), 1, 1
		switch a.DataType().(*arrow.TimestampType).Unit {
		case arrow.Second:
			c.mul = 1000
		case arrow.Microsecond:
			c.div = 1000
		case arrow.Nanosecond:
			c.div = 1000000
		}
	case *array.String:
		c.kind, c.str = kString, a
	case *array.LargeString:
		c.kind, c.lstr = kLargeString, a
	case *array.Binary:
		c.kind, c.bin = kBinary, a
	case *array.LargeBinary:
		c.kind, c.lbin = kLargeBinary, a
	case *array.Dictionary:
		c.kind, c.dict, c.vals = kDict, a, new(col)
		c.vals.bind(a.Dictionary())
	default:
		panic(fmt.Sprintf("BUG: arrowipc: bind of unchecked type %s", arr.DataType()))
	}
}

// intState is the outcome of reading an integer cell.
type intState uint8

const (
	intOK intState = iota
	intNull
	intOverflow // a uint64 beyond int64, or a timestamp that overflows in ms
)

// int returns row i as an int64.
func (c *col) int(i int) (int64, intState) {
	if c.kind == kAbsent || c.arr.IsNull(i) {
		return 0, intNull
	}
	switch c.kind {
	case kInt8:
		return int64(c.i8[i]), intOK
	case kInt16:
		return int64(c.i16[i]), intOK
	case kInt32:
		return int64(c.i32[i]), intOK
	case kInt64:
		return c.i64[i], intOK
	case kUint8:
		return int64(c.u8[i]), intOK
	case kUint16:
		return int64(c.u16[i]), intOK
	case kUint32:
		return int64(c.u32[i]), intOK
	case kUint64:
		if c.u64[i] > math.MaxInt64 {
			return 0, intOverflow
		}
		return int64(c.u64[i]), intOK
	case kTimestamp:
		v := int64(c.ts[i])
		if c.mul != 1 {
			if v > math.MaxInt64/c.mul || v < math.MinInt64/c.mul {
				return 0, intOverflow
			}
			return v * c.mul, intOK
		}
		// Floor, so that an instant before the epoch lands in the
		// millisecond that contains it.
		q := v / c.div
		if v%c.div < 0 {
			q--
		}
		return q, intOK
	}
	panic(fmt.Sprintf("BUG: arrowipc: int of column kind %d", c.kind))
}

// bytes returns row i as bytes borrowed from the record (no copy), and
// false for a null.
func (c *col) bytes(i int) ([]byte, bool) {
	if c.kind == kAbsent || c.arr.IsNull(i) {
		return nil, false
	}
	switch c.kind {
	case kString:
		return strBytes(c.str.Value(i)), true
	case kLargeString:
		return strBytes(c.lstr.Value(i)), true
	case kBinary:
		return c.bin.Value(i), true
	case kLargeBinary:
		return c.lbin.Value(i), true
	case kDict:
		return c.vals.bytes(c.dict.GetValueIndex(i))
	}
	panic(fmt.Sprintf("BUG: arrowipc: bytes of column kind %d", c.kind))
}

// strBytes views s, which arrow built over its buffer, as bytes without
// copying. The bytes are never written.
func strBytes(s string) []byte {
	return unsafe.Slice(unsafe.StringData(s), len(s))
}
