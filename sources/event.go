// Package sources defines the SQL event every das input produces and the
// sources that read them: JSON lines and Arrow IPC files, the deterministic
// workload generator, and Kafka (franz-go).
//
// A source hands the engine batches of raw records with their partition and
// offset; decoding into Event happens in the task so that a record that
// cannot be decoded is dead-lettered with its raw bytes and its position.
package sources

// Event is one executed SQL statement, the unit every source produces.
// The JSON field names are the data contract of DESIGN.md ("SQL event").
//
// SQL references memory owned by the decoder that produced the event: it is
// valid until the next call on that decoder. Callers that retain it must copy.
type Event struct {
	TsMs         int64  // ts_ms: event time, epoch milliseconds
	Instance     string // instance: "ip:port"
	DB           string // db
	User         string // user
	SQL          []byte // sql: statement text, arbitrary bytes
	LatencyUs    int64  // latency_us
	LockUs       int64  // lock_us
	RowsSent     int64  // rows_sent
	RowsExamined int64  // rows_examined
	RowsAffected int64  // rows_affected
	ErrCode      int32  // err_code: 0 = success

	// Fields written by das agent (all optional; zero = absent).

	// Src and Seq are the idempotency key: Src names one ordered stream of
	// records (the agent's host, input and file identity), Seq is the
	// record's position in it, strictly increasing. A job drops a record
	// whose Seq is not above the highest it has already counted for Src,
	// so an agent that resends after a restart does not double-count.
	Src string // src
	Seq int64  // seq
	// TemplateID is the fingerprint id computed at the edge (template_id,
	// 16 hex digits in JSON); 0 means the job fingerprints SQL itself.
	TemplateID uint64
	// Template is the template text computed at the edge (template, sent
	// with the first record of a template in each agent cut); the job uses
	// it for a template it has not seen yet. Like SQL it may borrow the
	// decoder's memory.
	Template []byte
	// Count > 0 makes the record an edge partial aggregate of Count
	// statements of one template in the minute of TsMs: LatencyUs, LockUs
	// and Rows* are then sums, LatencyMaxUs the largest latency, Errors the
	// statements that failed, LatencySketch the serialised latency sketch
	// (internal/sketch encoding) of the statements whose latency is known
	// (at most Count; none for performance_schema deltas) and SQL a
	// redacted sample.
	Count         int64  // count
	LatencyMaxUs  int64  // latency_max_us
	Errors        int64  // errors
	LatencySketch []byte // latency_sketch (base64 in JSON)
}

// Statements is the number of statements the record stands for: Count for
// an edge partial aggregate, else 1.
func (ev *Event) Statements() int64 {
	if ev.Count > 0 {
		return ev.Count
	}
	return 1
}

// Keep copies the bytes ev borrows from its decoder (SQL, Template,
// LatencySketch)
// to the end of arena, points ev at the copies and returns the extended
// arena. Sources that hand out a batch of decoded events call it per event
// so each stays valid until the batch is done. If append moves the arena,
// slices already handed out keep the old array alive and stay valid.
func (ev *Event) Keep(arena []byte) []byte {
	start := len(arena)
	arena = append(arena, ev.SQL...)
	ev.SQL = arena[start:len(arena):len(arena)]
	if len(ev.Template) > 0 {
		start = len(arena)
		arena = append(arena, ev.Template...)
		ev.Template = arena[start:len(arena):len(arena)]
	}
	if len(ev.LatencySketch) > 0 {
		start = len(arena)
		arena = append(arena, ev.LatencySketch...)
		ev.LatencySketch = arena[start:len(arena):len(arena)]
	}
	return arena
}
