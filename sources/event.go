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
}
