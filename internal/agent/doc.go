// Package agent is das agent: it reads statements from one input (a slow
// log, a capture, performance_schema, a JSON lines file) on a MySQL host
// and ships them to Kafka, redacted, batched and zstd-compressed, as JSON
// or Arrow records, optionally as per-minute partial aggregates.
//
// # Cuts and the idempotency key
//
// The reader groups statements into cuts: the statements of one input
// range [from, to) of one stream, closed every Options.FlushInterval (or at
// a size bound, a stream change, the end). A cut gets a number k (the wall
// clock in ms, or the last k + 1) and its records Seq = k<<SeqBits | i, i
// being the record's index in the cut — raw statements in read order, or
// partial aggregates sorted by (minute, instance, db, template) — and Src =
// host/kind/stream/instance. The journal (journal.go) records the cut's
// intent, fsynced, before anything of it is produced; the cut is marked done
// once Kafka acknowledged all its records.
//
// After a crash each pending cut is sent again under the same k: from its
// spool segment if it has one, else rebuilt by re-reading [from, to) of a
// Replayable input — the same statements in the same order give the same
// records and Seqs. Inputs that cannot be re-read have every cut written to
// the spool before it is produced. The engine counts a record only if its
// Seq is above the highest it counted for its Src, so a re-sent prefix is
// dropped and the rest counted once. That rule needs the records of a Src
// to arrive in Seq order: the sender (agent.go) buffers a unit of whole
// cuts, flushes it, retries it whole, and produces the next unit only after
// the previous one is acknowledged (franz-go's idempotent producer fails a
// partition's buffered suffix, never a record in the middle).
//
// # Memory and the spool
//
// Sealed cuts wait in the outbox (outbox.go): in memory up to
// Options.MemoryMaxBytes, then as zstd-compressed spool segments (spool.go)
// up to Options.SpoolMaxBytes; beyond both the oldest cuts not being sent
// are dropped, counted and logged. The reader never waits for Kafka.
//
// # Goroutines
//
// Run owns three: the reader (Run's own), the sender, and the cost
// reporter; the last two stop when Run returns. The journal and outbox are
// shared under their mutexes; the input and the cut builder belong to the
// reader alone.
package agent
