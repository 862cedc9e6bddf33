// Package sinks defines what the engine emits — the minute aggregate row — and
// the two-phase Sink contract through which it reaches durable outputs
// (Parquet files in sinks/parquet, Kafka upserts in sinks/kafka).
//
// # Versions and the highest-version rule
//
// A minute row is identified by its Key: (instance, db, template_id, minute).
// The engine emits a key with version 1 when the watermark passes the end of
// its minute, and again with version n+1 each time late data within the
// allowed lateness changes it (a correction). Every emitted row carries the
// complete aggregate, never a delta, so a reader obtains the final value of a
// key by keeping the row with the highest version and ignoring the others
// (LatestByKey). Outputs may therefore contain several versions of a key, and
// after a crash or an interrupted compaction even identical copies of one
// version; both are harmless to a reader that applies the rule.
package sinks

import (
	"cmp"
	"slices"
	"strings"
	"unicode/utf8"
)

// MinuteRow is the minute aggregate of one (instance, db, template) series:
// the "Minute aggregate" data contract of DESIGN.md. The parquet tags give the
// Parquet column names and types; the json tags give the same names for
// JSON encodings of the row.
//
// All durations are microseconds. Minute is the start of the minute in epoch
// milliseconds (UTC); the Parquet schema annotates it as
// TIMESTAMP(MILLIS, isAdjustedToUTC=true) so that DuckDB, Arrow and pandas
// read it as a UTC timestamp.
//
// String fields should be valid UTF-8 (Parquet STRING requires it and DuckDB
// rejects files that break it); see ValidUTF8.
//
// Encodings: the strings repeat from row to row and are dictionary-encoded;
// the integers are DELTA_BINARY_PACKED (bit-packed differences, read by
// DuckDB, Arrow and Spark alike), so zstd sees a few bytes per value instead
// of eight. On the rows of a real sqlagg run (fire order, 600 k rows) that
// halved the writer's CPU per row against PLAIN integers, for files about a
// third larger (22.7 instead of 16.7 bytes per row: the measures' differences
// are as random as their values); compacted files, sorted by key, come out as
// small as with PLAIN (13.6 against 13.8 bytes per row). Figures and command
// in docs/performance.md, "sqlagg".
type MinuteRow struct {
	Instance           string `parquet:"instance,dict" json:"instance"`       // "ip:port" of the MySQL instance
	DB                 string `parquet:"db,dict" json:"db"`                   // schema the statement ran in ("" if none)
	TemplateID         string `parquet:"template_id,dict" json:"template_id"` // 16 lower-case hex digits, independent of db
	FingerprintVersion int32  `parquet:"fingerprint_version,delta" json:"fingerprint_version"`
	Template           string `parquet:"template,dict" json:"template"`                         // statement text with literals replaced
	Minute             int64  `parquet:"minute,timestamp(millisecond:utc),delta" json:"minute"` // epoch ms, start of the minute, UTC
	Version            int64  `parquet:"version,delta" json:"version"`                          // 1 = first emit, >1 = correction
	Count              int64  `parquet:"count,delta" json:"count"`                              // statements in the minute
	LatencySumUs       int64  `parquet:"latency_sum_us,delta" json:"latency_sum_us"`            // µs
	LatencyMaxUs       int64  `parquet:"latency_max_us,delta" json:"latency_max_us"`            // µs
	LatencyP50Us       int64  `parquet:"latency_p50_us,delta" json:"latency_p50_us"`            // µs
	LatencyP95Us       int64  `parquet:"latency_p95_us,delta" json:"latency_p95_us"`            // µs
	LatencyP99Us       int64  `parquet:"latency_p99_us,delta" json:"latency_p99_us"`            // µs
	LockSumUs          int64  `parquet:"lock_sum_us,delta" json:"lock_sum_us"`                  // µs
	RowsSentSum        int64  `parquet:"rows_sent_sum,delta" json:"rows_sent_sum"`              // rows
	RowsExaminedSum    int64  `parquet:"rows_examined_sum,delta" json:"rows_examined_sum"`      // rows
	RowsAffectedSum    int64  `parquet:"rows_affected_sum,delta" json:"rows_affected_sum"`      // rows
	Errors             int64  `parquet:"errors,delta" json:"errors"`                            // statements with err_code != 0
	SampleSQL          string `parquet:"sample_sql,dict" json:"sample_sql"`                     // one statement, literals redacted, truncated
}

// MinuteMs is the length of the aggregation window in milliseconds.
const MinuteMs = 60_000

// Key identifies a minute row across versions.
type Key struct {
	Instance   string
	DB         string
	TemplateID string
	Minute     int64 // epoch ms, start of the minute
}

// Key returns the identity of r: the fields that stay equal across versions.
func (r *MinuteRow) Key() Key {
	return Key{Instance: r.Instance, DB: r.DB, TemplateID: r.TemplateID, Minute: r.Minute}
}

// CompareKeys orders keys by (instance, db, template_id, minute), the sort
// order of compacted files. Strings compare as bytes, which is also the
// Parquet order for STRING columns.
func CompareKeys(a, b Key) int {
	if c := strings.Compare(a.Instance, b.Instance); c != 0 {
		return c
	}
	if c := strings.Compare(a.DB, b.DB); c != 0 {
		return c
	}
	if c := strings.Compare(a.TemplateID, b.TemplateID); c != 0 {
		return c
	}
	return cmp.Compare(a.Minute, b.Minute)
}

// Supersedes reports whether r replaces old under the highest-version rule.
// Both must have the same key. A higher version wins. Two rows with the same
// key and version are expected to be identical (re-emits after a restart);
// should they differ, the tie is broken on the remaining fields so that the
// choice does not depend on the order in which rows are read.
func (r *MinuteRow) Supersedes(old *MinuteRow) bool {
	if r.Version != old.Version {
		return r.Version > old.Version
	}
	return compareValues(r, old) > 0
}

func compareValues(a, b *MinuteRow) int {
	return cmp.Or(
		cmp.Compare(a.Count, b.Count),
		cmp.Compare(a.LatencySumUs, b.LatencySumUs),
		cmp.Compare(a.LatencyMaxUs, b.LatencyMaxUs),
		cmp.Compare(a.LatencyP50Us, b.LatencyP50Us),
		cmp.Compare(a.LatencyP95Us, b.LatencyP95Us),
		cmp.Compare(a.LatencyP99Us, b.LatencyP99Us),
		cmp.Compare(a.LockSumUs, b.LockSumUs),
		cmp.Compare(a.RowsSentSum, b.RowsSentSum),
		cmp.Compare(a.RowsExaminedSum, b.RowsExaminedSum),
		cmp.Compare(a.RowsAffectedSum, b.RowsAffectedSum),
		cmp.Compare(a.Errors, b.Errors),
		cmp.Compare(a.FingerprintVersion, b.FingerprintVersion),
		strings.Compare(a.Template, b.Template),
		strings.Compare(a.SampleSQL, b.SampleSQL),
	)
}

// LatestByKey applies the highest-version rule: it returns one row per key,
// the one with the highest version, sorted by key (CompareKeys). The input is
// not modified; the result is a new slice.
func LatestByKey(rows []MinuteRow) []MinuteRow {
	best := make(map[Key]int, len(rows))
	for i := range rows {
		k := rows[i].Key()
		j, ok := best[k]
		if !ok || rows[i].Supersedes(&rows[j]) {
			best[k] = i
		}
	}
	out := make([]MinuteRow, 0, len(best))
	for _, i := range best {
		out = append(out, rows[i])
	}
	SortByKey(out)
	return out
}

// SortByKey sorts rows by key, and rows of equal key by ascending version.
func SortByKey(rows []MinuteRow) {
	slices.SortFunc(rows, func(a, b MinuteRow) int {
		if c := CompareKeys(a.Key(), b.Key()); c != 0 {
			return c
		}
		if c := cmp.Compare(a.Version, b.Version); c != 0 {
			return c
		}
		return compareValues(&a, &b)
	})
}

// ValidUTF8 reports whether every string field of r is valid UTF-8.
func (r *MinuteRow) ValidUTF8() bool {
	return utf8.ValidString(r.Instance) && utf8.ValidString(r.DB) &&
		utf8.ValidString(r.TemplateID) && utf8.ValidString(r.Template) &&
		utf8.ValidString(r.SampleSQL)
}

// MakeValidUTF8 replaces every invalid UTF-8 sequence in the string fields
// of r with U+FFFD, the Unicode replacement character. Sinks whose format
// requires UTF-8 (Parquet STRING) apply it to rows that fail ValidUTF8.
func (r *MinuteRow) MakeValidUTF8() {
	fix := func(s *string) {
		if !utf8.ValidString(*s) {
			*s = strings.ToValidUTF8(*s, "\uFFFD")
		}
	}
	fix(&r.Instance)
	fix(&r.DB)
	fix(&r.TemplateID)
	fix(&r.Template)
	fix(&r.SampleSQL)
}
