package agent

import (
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// ErrStreamGone is returned by Input.Open for a position in a stream that
// the input can no longer read (a rotated slow log that was renamed or
// deleted while the agent was stopped). The agent then counts the cuts it
// could not re-read as lost and opens the input at its current stream.
var ErrStreamGone = errors.New("agent: input stream no longer readable")

// Position is a place in an input: a stream and an offset in it. Stream is
// the identity of an ordered run of offsets (a file's dev:inode, a capture
// file's identity); it changes whenever offsets start again (a rotated log
// is a new stream). The zero Position means "where the input starts".
type Position struct {
	Stream string
	Offset int64
}

// Batch is what Input.Next returns: events and rejects from ONE stream.
// A Batch and everything it references belong to the input and stay valid
// until the next call to Next.
type Batch struct {
	// Stream is the identity of the stream the offsets are in.
	Stream string
	// Events are the statements read, in stream order.
	Events []sources.Event
	// Offsets holds, parallel to Events, the offset of each event in
	// Stream: non-decreasing, and an event whose offset is below the end
	// of a previous batch is impossible. Required when the input is
	// Replayable (a re-read must be able to stop inside a batch); may be
	// nil otherwise.
	Offsets []int64
	// Rejects are records that could not become events, with their
	// offsets and reasons.
	Rejects []stream.Reject
	// End is the offset just after the batch: opening the input at
	// Position{Stream, End} reads what follows it, nothing twice.
	End int64
}

// Input is what the agent reads statements from: a slow log, a capture, a
// JSON lines file, performance_schema. Implementations are not safe for
// concurrent use: the agent calls them from one goroutine.
type Input interface {
	// Kind names the input in the agent's Src ("slowlog", "pcap", "iface",
	// "perfschema", "file").
	Kind() string
	// Replayable reports whether Open can position the input at any
	// Position a batch of it reported (Stream with an Offset or End), so
	// that a range of it can be read again after a crash. Inputs that
	// cannot (live capture, performance_schema) are made durable by
	// writing each cut to the spool before it is produced.
	Replayable() bool
	// Open positions the input at pos (the zero Position: its start). It
	// returns ErrStreamGone (wrapped) when pos.Stream cannot be read any
	// more; the agent then opens it at the zero Position.
	Open(ctx context.Context, pos Position) error
	// Next returns the next batch. A bounded input returns io.EOF at its
	// end. An unbounded input returns within a short poll time even when
	// nothing arrived (an empty batch), so the agent closes cuts on time.
	Next(ctx context.Context) (*Batch, error)
	// Close releases the input.
	Close() error
}

// SourceInput adapts a single-partition stream.Source of events (a pcap
// capture, an Arrow IPC file, …) to Input. Offsets are the source's
// offsets; the stream identity is fixed.
type SourceInput struct {
	// InputKind is returned by Kind.
	InputKind string
	// Stream is the identity of the source's offsets (e.g. the file's
	// dev:inode). Required.
	Stream string
	// Source is the adapted source; it must have one partition, 0.
	Source stream.Source[sources.Event]
	// Replay declares that Open may be called again with any offset the
	// source reported and that every batch carries ItemOffsets: then the
	// input is Replayable. False for live capture.
	Replay bool
	// Resume declares that the source can be opened at the NextOffset of a
	// batch (implied by Replay). Without it Open ignores the position: the
	// source starts afresh (live capture).
	Resume bool

	batch Batch
}

var _ Input = (*SourceInput)(nil)

// Kind implements Input.
func (s *SourceInput) Kind() string { return s.InputKind }

// Replayable implements Input.
func (s *SourceInput) Replayable() bool { return s.Replay }

// Open implements Input.
func (s *SourceInput) Open(ctx context.Context, pos Position) error {
	if !s.Replay && !s.Resume {
		return s.Source.Open(ctx, nil)
	}
	if pos.Stream != "" && pos.Stream != s.Stream {
		return fmt.Errorf("%w: %s %s (now %s)", ErrStreamGone, s.InputKind, pos.Stream, s.Stream)
	}
	var resume map[int32]int64
	if pos.Offset > 0 {
		resume = map[int32]int64{0: pos.Offset}
	}
	return s.Source.Open(ctx, resume)
}

// Next implements Input.
func (s *SourceInput) Next(ctx context.Context) (*Batch, error) {
	sb, err := s.Source.Next(ctx)
	if err != nil {
		if errors.Is(err, io.EOF) {
			return nil, io.EOF
		}
		return nil, err
	}
	b := &s.batch
	b.Stream = s.Stream
	b.Events, b.Rejects = sb.Items, sb.Rejects
	b.Offsets = nil
	if len(sb.ItemOffsets) == len(sb.Items) {
		b.Offsets = sb.ItemOffsets
	} else if s.Replay && len(sb.Items) > 0 {
		return nil, fmt.Errorf("agent: %s input declared replayable but its batch has %d item offsets for %d items", s.InputKind, len(sb.ItemOffsets), len(sb.Items))
	}
	if sb.Partition < 0 { // an idle poll carries no position
		b.Events, b.Rejects, b.Offsets = nil, nil, nil
		return b, nil
	}
	b.End = sb.NextOffset
	return b, nil
}

// Close implements Input.
func (s *SourceInput) Close() error { return s.Source.Close() }

// Committer is implemented by inputs that are not Replayable but keep
// their own resume position (a followed slow log's position file): after a
// restart they continue where the position says, so what follows it is
// read again and nothing before it is.
//
// The agent keeps that position behind what is durable: every cut of such
// an input is written to the spool before it is produced, carries the
// input's Checkpoint at its end in its journal intent and spool segment,
// and is committed only once it, and every cut before it, is in the spool
// (or acknowledged, or dropped). A crash between the spool write and the
// commit is repaired at the restart: the agent commits the checkpoint of
// the last cut of the spool's unbroken run of pending cuts before it opens
// the input, and drops the pending cuts after that run (the input reads
// them again).
type Committer interface {
	// Checkpoint returns the input's resume state just after
	// Position{Batch.Stream, Batch.End} of a batch Next returned since the
	// last Checkpoint at or past it, as JSON. Calls come in stream order;
	// the input may forget the states before p.
	Checkpoint(p Position) ([]byte, error)
	// Commit makes ckpt (a Checkpoint result, possibly of a previous run)
	// the position the input resumes from at its next Open. The agent
	// calls it in cut order, also before Open when recovering.
	Commit(ckpt []byte) error
}
