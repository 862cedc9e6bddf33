// Package perfschema is the performance_schema source: for fleets where
// neither the slow log nor packet capture is possible, it polls
// performance_schema.events_statements_summary_by_digest on a MySQL or
// MariaDB server (every minute by default, the PMM Query Analytics way) and
// turns the differences between consecutive reads into per-digest interval
// aggregates, MinuteDelta.
//
// The table holds one row per (SCHEMA_NAME, DIGEST) with cumulative counters
// since the row's FIRST_SEEN. A Poller keeps the previous read as a baseline
// and returns current − baseline for every row that moved. Rows are reset by
// TRUNCATE of the table and by a server restart; a reset is recognised by
// the server restarting (Uptime), by FIRST_SEEN changing, or by any cumulative column
// going down, and never yields a negative delta: the row's current values
// are the interval's delta when FIRST_SEEN is not before the previous poll,
// else they only become the new baseline. docs/collection.md
// ("performance_schema") has the reasoning, the template rules and what the
// source cannot know (per-interval max, median latency).
//
// The engine's input is one statement (sources.Event); this source produces
// partial minute aggregates instead, which das agent ships as edge partial
// aggregates. Poll is the one-shot API; Run polls on a clock until its
// context ends. Templates are das's fingerprint of QUERY_SAMPLE_TEXT (MySQL
// 8.0) or of DIGEST_TEXT, so template ids match the other sources' wherever
// the server's normalisation can be undone.
package perfschema
