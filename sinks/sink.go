package sinks

import (
	"encoding/binary"
	"errors"
	"fmt"
)

// Sink receives the rows emitted during one checkpoint epoch and commits
// them atomically with the engine's checkpoint, in two phases:
//
//  1. During the epoch the engine calls Write with the rows it emits.
//  2. When the engine checkpoints epoch e it calls Precommit(e). The sink
//     makes everything written since the previous Precommit durable but
//     invisible to readers and describes it in the returned Pending.
//  3. The engine stores the Pending in the checkpoint, in the same atomic
//     write as its state and source offsets.
//  4. Once that checkpoint is durable, the engine calls Commit(pending),
//     which makes the output visible.
//
// A crash between 3 and 4 leaves durable but invisible output that the
// checkpoint knows about: on restart the engine calls Recover with the
// Pending of its last durable checkpoint, and the sink finishes the commit.
// A crash before 3 leaves output that no checkpoint knows about: Recover
// deletes it, and the engine re-processes its input from the checkpoint's
// offsets. Either way every committed row was produced by input whose
// offsets are checkpointed, so no row is lost and none is committed twice
// from different runs (deterministic names make a repeated commit a no-op).
//
// A Sink is owned by one task and is not safe for concurrent use.
type Sink interface {
	// Write buffers rows of the current epoch. The rows are copied or fully
	// written before Write returns: the caller may reuse the slice and the
	// strings it references.
	Write(rows []MinuteRow) error
	// Precommit makes the current epoch's output durable but invisible and
	// starts a new epoch. An epoch without rows gives a Pending with no
	// Files. Epochs must increase from one Precommit to the next.
	Precommit(epoch uint64) (Pending, error)
	// Commit makes the output of p visible. It is idempotent: committing p
	// again, including after a restart, succeeds and changes nothing.
	Commit(p Pending) error
	// Abort discards the output written since the last Precommit. Output
	// already precommitted is kept: the checkpoint that records it may have
	// become durable even if the engine saw an error, and only Recover,
	// which knows the last durable checkpoint, may decide its fate.
	Abort() error
	// Recover is called once, before the first Write, with the Pending
	// recorded in the last durable checkpoint (the zero Pending if there is
	// none). It commits p if it is still pending (crash between checkpoint
	// and Commit) and deletes every other in-progress output of this sink.
	Recover(p Pending) error
	// Close releases the sink's resources. Output not yet precommitted is
	// discarded, as by Abort; Close never commits.
	Close() error
}

// Pending describes output that has been precommitted but perhaps not yet
// committed. The engine stores it in its checkpoint (MarshalBinary) and
// hands it back to Commit or Recover.
type Pending struct {
	// Epoch is the checkpoint epoch that produced the output.
	Epoch uint64
	// Files are the committed names of the output files, relative to the
	// sink's directory, in the order they were written.
	Files []string
}

// ErrCorruptPending is returned by Pending.UnmarshalBinary for input that is
// not an encoding produced by Pending.MarshalBinary.
var ErrCorruptPending = errors.New("sinks: corrupt pending encoding")

const (
	pendingFormatV1 = 1
	maxPendingName  = 4096
	maxPendingFiles = 1 << 20
)

// MarshalBinary encodes p: a format byte (1), the epoch as a uvarint, the
// number of files as a uvarint, then each name as a uvarint length and its
// bytes.
func (p Pending) MarshalBinary() ([]byte, error) {
	return p.AppendBinary(nil)
}

// AppendBinary appends the MarshalBinary encoding of p to b.
func (p Pending) AppendBinary(b []byte) ([]byte, error) {
	if len(p.Files) > maxPendingFiles {
		return nil, fmt.Errorf("sinks: pending has %d files, at most %d allowed", len(p.Files), maxPendingFiles)
	}
	b = append(b, pendingFormatV1)
	b = binary.AppendUvarint(b, p.Epoch)
	b = binary.AppendUvarint(b, uint64(len(p.Files)))
	for _, f := range p.Files {
		if len(f) == 0 || len(f) > maxPendingName {
			return nil, fmt.Errorf("sinks: pending file name of %d bytes, want 1..%d", len(f), maxPendingName)
		}
		b = binary.AppendUvarint(b, uint64(len(f)))
		b = append(b, f...)
	}
	return b, nil
}

// UnmarshalBinary decodes an encoding produced by MarshalBinary, replacing
// the contents of p. It returns an error wrapping ErrCorruptPending if b is
// malformed or has trailing bytes. p does not retain b.
func (p *Pending) UnmarshalBinary(b []byte) error {
	corrupt := func(what string) error { return fmt.Errorf("%w: %s", ErrCorruptPending, what) }
	if len(b) == 0 {
		return corrupt("empty")
	}
	if b[0] != pendingFormatV1 {
		return corrupt(fmt.Sprintf("unknown format %d", b[0]))
	}
	b = b[1:]
	epoch, n := binary.Uvarint(b)
	if n <= 0 {
		return corrupt("epoch")
	}
	b = b[n:]
	count, n := binary.Uvarint(b)
	if n <= 0 || count > maxPendingFiles {
		return corrupt("file count")
	}
	b = b[n:]
	var files []string
	if count > 0 {
		// Each name takes at least 2 bytes, which bounds the allocation by
		// the input size whatever count claims.
		files = make([]string, 0, min(count, uint64(len(b)/2)))
	}
	for range count {
		l, n := binary.Uvarint(b)
		if n <= 0 || l == 0 || l > maxPendingName || l > uint64(len(b)-n) {
			return corrupt("file name")
		}
		files = append(files, string(b[n:n+int(l)]))
		b = b[n+int(l):]
	}
	if len(b) != 0 {
		return corrupt("trailing bytes")
	}
	p.Epoch, p.Files = epoch, files
	return nil
}
