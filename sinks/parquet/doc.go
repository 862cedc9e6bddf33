// Package parquet writes the minute rows of das (sinks.MinuteRow) into a
// directory of Parquet files that DuckDB, pandas and any Arrow-based reader
// open directly, and keeps that directory compact.
//
// # Files and commit protocol
//
// Each task owns a Writer with its own prefix. Rows stream into an open
// file, .part-<prefix>-open-<seq>.parquet.inprogress, rotated by size; no
// epoch is held in memory. At a checkpoint the engine calls Precommit(epoch):
// the writer writes the footers, fsyncs the files, renames each to
// .part-<prefix>-<epoch>-<seq>.parquet.inprogress, fsyncs the directory and
// returns a sinks.Pending naming part-<prefix>-<epoch>-<seq>.parquet. The
// engine stores the Pending in its checkpoint; once that is durable it calls
// Commit, which renames the files to their committed names and fsyncs the
// directory. On restart Recover(pending of the last durable checkpoint)
// finishes an interrupted Commit and deletes every other in-progress file of
// the prefix. Hence:
//
//   - every *.parquet file in the directory is complete and committed; files
//     in progress end in ".inprogress" and start with a dot, which directory
//     readers skip;
//   - names are deterministic in (prefix, epoch, seq), so Commit and Recover
//     are idempotent;
//   - output becomes visible exactly when the checkpoint that covers its
//     input is durable: after a crash the engine re-reads its input from the
//     checkpoint's offsets and no committed row is lost or doubled.
//
// # Versions
//
// A key (instance, db, template_id, minute) may appear in several files with
// increasing versions (corrections for late data). Readers keep the highest
// version per key: sinks.LatestByKey, ReadLatest here, or the SQL in
// docs/output.md.
//
// # Compaction
//
// Compact merges committed part files of past hours, of all prefixes, into
// one file per UTC hour, hour-<YYYYMMDDTHH>-<seq>.parquet, sorted by key and
// holding only the highest version of each key. It writes, fsyncs and
// renames the hour file before deleting its inputs, so an interruption
// leaves only duplicates that the highest-version rule absorbs and that the
// next Compact removes.
//
// docs/output.md describes the columns, the layout and how to query it.
package parquet
