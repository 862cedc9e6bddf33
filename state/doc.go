// Package state is das's keyed state on Pebble.
//
// A Store is one Pebble database owned by one job process. Keys start with a
// one-byte namespace so that operators can keep several kinds of state apart
// and purge whole ranges cheaply with DeleteRange:
//
//	NSMeta      format version and the last checkpoint record
//	NSPartial   window partial aggregates, written with Merge (no read on write)
//	NSFired     fired window aggregates with their emitted version
//	NSDict      dictionaries (e.g. template id → template text and sample)
//
// Exactly-once: an operator stages state changes in a Batch and the engine
// writes the checkpoint record (source offsets, watermarks, sink pending
// files, dead-letter length) into the SAME batch before committing it with
// fsync. After a crash the store holds the state of the last checkpoint and
// nothing after it, and the offsets to resume from.
//
// All values are compact binary encodings (varints); no JSON is stored.
package state
