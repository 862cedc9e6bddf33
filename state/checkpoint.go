package state

import (
	"encoding/binary"
	"fmt"
	"sort"
)

// checkpointVersion is the encoding version of Checkpoint records.
const checkpointVersion = 1

// Checkpoint is what the engine needs to resume exactly where the last
// durable checkpoint left off. It is stored in the same batch as the state
// it describes.
type Checkpoint struct {
	// Epoch numbers checkpoints from 1; 0 means "no checkpoint yet".
	Epoch uint64
	// Offsets maps source partition → NextOffset to resume from.
	Offsets map[int32]int64
	// MaxEventTime maps source partition → the largest event time (ms)
	// accepted so far, from which the partition's watermark is derived.
	MaxEventTime map[int32]int64
	// FiredUpTo is the end (ms, exclusive) of the last window range fired:
	// every window ending at or before it has emitted.
	FiredUpTo int64
	// PurgedUpTo: state of windows ending at or before it was deleted.
	PurgedUpTo int64
	// DeadLetterSize is the committed position of the dead letter: its
	// length, and with rotation its segment (operators.DeadLetter).
	DeadLetterSize int64
	// Watermark is the task watermark at the checkpoint; a restored task
	// never reports a lower one.
	Watermark int64
	// SinkPending holds, per sink in job order, the opaque encoding of the
	// sink's precommitted output of this epoch, to be committed on recovery
	// if the process died before doing so.
	SinkPending [][]byte
	// Counters are cumulative job counters (events in, rows out, ...) so
	// that a resumed run reports totals; names are free-form.
	Counters map[string]int64
}

// Append appends the binary encoding of c to dst.
func (c *Checkpoint) Append(dst []byte) []byte {
	dst = append(dst, checkpointVersion)
	dst = binary.AppendUvarint(dst, c.Epoch)
	dst = appendPartMap(dst, c.Offsets)
	dst = appendPartMap(dst, c.MaxEventTime)
	dst = binary.AppendVarint(dst, c.FiredUpTo)
	dst = binary.AppendVarint(dst, c.PurgedUpTo)
	dst = binary.AppendVarint(dst, c.DeadLetterSize)
	dst = binary.AppendVarint(dst, c.Watermark)
	dst = binary.AppendUvarint(dst, uint64(len(c.SinkPending)))
	for _, f := range c.SinkPending {
		dst = appendBytes(dst, f)
	}
	names := make([]string, 0, len(c.Counters))
	for k := range c.Counters {
		names = append(names, k)
	}
	sort.Strings(names)
	dst = binary.AppendUvarint(dst, uint64(len(names)))
	for _, k := range names {
		dst = appendBytes(dst, []byte(k))
		dst = binary.AppendVarint(dst, c.Counters[k])
	}
	return dst
}

// Decode replaces c with the checkpoint encoded in b.
func (c *Checkpoint) Decode(b []byte) error {
	r := Reader{B: b}
	if v := r.Byte(); v != checkpointVersion {
		return fmt.Errorf("%w: checkpoint encoding version %d", ErrFormat, v)
	}
	*c = Checkpoint{}
	c.Epoch = r.Uvarint()
	c.Offsets = r.partMap()
	c.MaxEventTime = r.partMap()
	c.FiredUpTo = r.Varint()
	c.PurgedUpTo = r.Varint()
	c.DeadLetterSize = r.Varint()
	c.Watermark = r.Varint()
	n := r.Uvarint()
	for i := uint64(0); i < n && r.Err == nil; i++ {
		c.SinkPending = append(c.SinkPending, append([]byte(nil), r.Bytes()...))
	}
	n = r.Uvarint()
	c.Counters = make(map[string]int64, n)
	for i := uint64(0); i < n && r.Err == nil; i++ {
		k := string(r.Bytes())
		c.Counters[k] = r.Varint()
	}
	if r.Err != nil {
		return fmt.Errorf("%w: checkpoint: %v", ErrCorrupt, r.Err)
	}
	return nil
}

func appendPartMap(dst []byte, m map[int32]int64) []byte {
	parts := make([]int32, 0, len(m))
	for p := range m {
		parts = append(parts, p)
	}
	sort.Slice(parts, func(i, j int) bool { return parts[i] < parts[j] })
	dst = binary.AppendUvarint(dst, uint64(len(parts)))
	for _, p := range parts {
		dst = binary.AppendVarint(dst, int64(p))
		dst = binary.AppendVarint(dst, m[p])
	}
	return dst
}

func (r *Reader) partMap() map[int32]int64 {
	n := r.Uvarint()
	if n > 1<<20 {
		r.fail("partition count %d", n)
		return nil
	}
	m := make(map[int32]int64, n)
	for i := uint64(0); i < n && r.Err == nil; i++ {
		p := r.Varint()
		m[int32(p)] = r.Varint()
	}
	return m
}

func appendBytes(dst, b []byte) []byte {
	dst = binary.AppendUvarint(dst, uint64(len(b)))
	return append(dst, b...)
}
