package perfschema

import (
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// Stats are a Poller's cumulative counters since New.
type Stats struct {
	Polls      int64 // successful polls
	PollErrors int64 // failed polls (the next success covers their intervals)
	RowsRead   int64 // digest rows read, over all polls
	Deltas     int64 // MinuteDelta values returned
	Statements int64 // sum of MinuteDelta.Count returned
	// Resets counts rows found reset: a cumulative column went down or
	// FIRST_SEEN changed (TRUNCATE of the table, a restart between two
	// polls that Uptime did not reveal).
	Resets int64
	// Restarts counts server restarts: Uptime went down or the start time
	// (NOW − Uptime) moved forward.
	Restarts int64
	// Vanished counts rows that disappeared from the table (TRUNCATE,
	// restart).
	Vanished int64
	// Unattributed counts rows that appeared without a baseline but were
	// first seen before the previous poll: their totals could not be placed
	// in an interval and only became a baseline.
	Unattributed int64
	// OverflowStatements counts statements the server could not digest
	// because its digest table was full (the NULL digest row). They are
	// also returned, as MinuteDelta with Overflow set.
	OverflowStatements int64
	// PreparedStatements counts statements executed through the binary
	// protocol on MariaDB, which the digest table leaves out. They are also
	// returned, as MinuteDelta with Prepared set.
	PreparedStatements int64
	TextQueries        int64 // queries for digest texts
	// TextMissing counts deltas whose digest text could not be read (the
	// row vanished between the snapshot and the text query).
	TextMissing int64
	DigestRows  int64 // rows in the last snapshot
	DigestsSize int64 // performance_schema_digests_size: the table's capacity
}

type stats struct {
	polls, pollErrors, rowsRead, deltas, statements, resets, restarts, vanished,
	unattributed, overflow, prepared, textQueries, textMissing, digestRows, digestsSize atomic.Int64
}

// Stats returns the Poller's counters. Safe to call at any time.
func (p *Poller) Stats() Stats {
	s := &p.st
	return Stats{
		Polls: s.polls.Load(), PollErrors: s.pollErrors.Load(), RowsRead: s.rowsRead.Load(),
		Deltas: s.deltas.Load(), Statements: s.statements.Load(), Resets: s.resets.Load(),
		Restarts: s.restarts.Load(), Vanished: s.vanished.Load(), Unattributed: s.unattributed.Load(),
		OverflowStatements: s.overflow.Load(), PreparedStatements: s.prepared.Load(), TextQueries: s.textQueries.Load(),
		TextMissing: s.textMissing.Load(), DigestRows: s.digestRows.Load(), DigestsSize: s.digestsSize.Load(),
	}
}

type metricDesc struct {
	d     *prometheus.Desc
	typ   prometheus.ValueType
	value func(*Stats) int64
}

type descs []metricDesc

func newDescs() descs {
	c := func(name, help string, v func(*Stats) int64) metricDesc {
		return metricDesc{prometheus.NewDesc(name, help, nil, nil), prometheus.CounterValue, v}
	}
	g := func(name, help string, v func(*Stats) int64) metricDesc {
		return metricDesc{prometheus.NewDesc(name, help, nil, nil), prometheus.GaugeValue, v}
	}
	return descs{
		c("das_perfschema_polls_total", "Successful polls of events_statements_summary_by_digest.", func(s *Stats) int64 { return s.Polls }),
		c("das_perfschema_poll_errors_total", "Failed polls.", func(s *Stats) int64 { return s.PollErrors }),
		c("das_perfschema_rows_read_total", "Digest rows read.", func(s *Stats) int64 { return s.RowsRead }),
		c("das_perfschema_deltas_total", "Per-digest interval deltas returned.", func(s *Stats) int64 { return s.Deltas }),
		c("das_perfschema_statements_total", "Statements counted in the returned deltas.", func(s *Stats) int64 { return s.Statements }),
		c("das_perfschema_resets_total", "Digest rows found reset (counters went down or FIRST_SEEN changed).", func(s *Stats) int64 { return s.Resets }),
		c("das_perfschema_restarts_total", "Server restarts detected (Uptime went down or the start time moved).", func(s *Stats) int64 { return s.Restarts }),
		c("das_perfschema_vanished_total", "Digest rows that disappeared from the table (TRUNCATE, restart).", func(s *Stats) int64 { return s.Vanished }),
		c("das_perfschema_unattributed_total", "Digest rows first seen before the previous poll without a baseline (totals not emitted).", func(s *Stats) int64 { return s.Unattributed }),
		c("das_perfschema_overflow_statements_total", "Statements without a digest because the digest table was full.", func(s *Stats) int64 { return s.OverflowStatements }),
		c("das_perfschema_prepared_statements_total", "Statements executed through the binary protocol (MariaDB leaves them out of the digest table).", func(s *Stats) int64 { return s.PreparedStatements }),
		c("das_perfschema_text_queries_total", "Queries for digest texts.", func(s *Stats) int64 { return s.TextQueries }),
		c("das_perfschema_text_missing_total", "Deltas whose digest text could not be read.", func(s *Stats) int64 { return s.TextMissing }),
		g("das_perfschema_digest_rows", "Rows in the digest table at the last poll.", func(s *Stats) int64 { return s.DigestRows }),
		g("das_perfschema_digests_size", "Capacity of the digest table (performance_schema_digests_size).", func(s *Stats) int64 { return s.DigestsSize }),
	}
}

// Describe implements prometheus.Collector: register the Poller on a
// registry of the caller's (wrap it with prometheus.WrapRegistererWith to
// add an instance label).
func (p *Poller) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range p.descs {
		ch <- d.d
	}
}

// Collect implements prometheus.Collector.
func (p *Poller) Collect(ch chan<- prometheus.Metric) {
	s := p.Stats()
	for _, d := range p.descs {
		ch <- prometheus.MustNewConstMetric(d.d, d.typ, float64(d.value(&s)))
	}
}
