package stream

import "context"

// Batch is a poll's worth of decoded records from ONE partition of a source,
// in the order the partition delivered them.
//
// A Batch and everything it references (including byte slices inside Items)
// are owned by the source and stay valid until the next call to Next on the
// same source. The engine never retains them past that point.
type Batch[T any] struct {
	// Partition is the source partition the batch came from (0 for files).
	Partition int32
	// Items are the records that decoded and validated.
	Items []T
	// ItemOffsets, if not empty, holds each item's offset in its partition
	// (parallel to Items), so that dead-letter lines for items rejected
	// later (late, future) say where the record was.
	ItemOffsets []int64
	// Rejects are records that could not be decoded or failed validation,
	// each with its reason and raw bytes, in partition order with Items.
	Rejects []Reject
	// NextOffset is the position to resume from once this batch (and all
	// batches before it on this partition) have been processed: a byte
	// offset for files, a record offset for Kafka and Arrow.
	NextOffset int64
}

// Reject is an input record that never became an item. The dead-letter
// output receives it verbatim together with Reason.
type Reject struct {
	Partition int32
	Offset    int64  // offset of the record inside its partition
	Reason    string // short machine-readable reason, e.g. "malformed", "missing:ts_ms"
	Detail    string // human-readable detail, may be empty
	Raw       []byte // the record's bytes as read
}

// Source produces batches. Implementations are not safe for concurrent use:
// one task owns one source.
type Source[T any] interface {
	// Open positions the source. resume maps partition → NextOffset of the
	// last processed batch; partitions absent from it start at the beginning.
	Open(ctx context.Context, resume map[int32]int64) error
	// Next returns the next batch. A bounded source returns io.EOF once every
	// partition is exhausted. Next may return a batch with no items and no
	// rejects (e.g. a poll that timed out) so the task can advance idle
	// watermarks.
	Next(ctx context.Context) (*Batch[T], error)
	// Partitions returns the partitions currently assigned to this source.
	Partitions() []int32
	// Bounded reports whether the source ends (files) or runs until stopped
	// (Kafka).
	Bounded() bool
	// Close releases resources.
	Close() error
}

// Committer is implemented by sources that mirror processed offsets to an
// external system (Kafka consumer groups) after the engine's own checkpoint
// has made them durable, so that standard lag tools work.
type Committer interface {
	CommitOffsets(ctx context.Context, offsets map[int32]int64) error
}

// PartitionFinisher is implemented by bounded sources that can tell which
// partitions have delivered everything they will (a Kafka read stopping at
// the end offsets). A finished partition no longer holds the task
// watermark back — its watermark is the end of time, as for a finished
// split in Flink — so a partition that is empty or read to its end does not
// stop the others' windows from firing.
type PartitionFinisher interface {
	FinishedPartitions() []int32
}
