package perfschema

// This file is the pure part of the source: cumulative digest rows in, per
// interval deltas out. It does no I/O, so the property and fuzz tests drive
// it directly with arbitrary counter sequences.

// digestKey identifies a row of events_statements_summary_by_digest. The
// overflow row (DIGEST NULL) has digest "" and schema "": real digests are
// never empty. The prepared-execution counter (not a digest row, see
// preparedDigest) has digest preparedDigest, which is not hex.
type digestKey struct {
	schema string // SCHEMA_NAME; "" for NULL
	digest string // DIGEST (hex); "" for the overflow row
}

// preparedDigest keys the statement/com/Execute row of
// events_statements_summary_global_by_event_name: on MariaDB, statements
// executed through the binary protocol (COM_STMT_EXECUTE) are not in the
// digest table, and this global row is all that counts them.
const preparedDigest = "statement/com/Execute"

func (k digestKey) overflow() bool { return k.digest == "" }
func (k digestKey) prepared() bool { return k.digest == preparedDigest }

// counters are the cumulative columns of one digest row. Timer columns are
// converted from picoseconds to microseconds (floor) before any subtraction,
// so that the microsecond deltas of consecutive intervals sum exactly to the
// difference of the cumulative values.
type counters struct {
	count        uint64 // COUNT_STAR
	latencyUs    uint64 // SUM_TIMER_WAIT
	maxUs        uint64 // MAX_TIMER_WAIT
	lockUs       uint64 // SUM_LOCK_TIME
	errors       uint64 // SUM_ERRORS
	rowsSent     uint64 // SUM_ROWS_SENT
	rowsExamined uint64 // SUM_ROWS_EXAMINED
	rowsAffected uint64 // SUM_ROWS_AFFECTED
}

// below reports whether any cumulative column of c is below the same column
// of base: the row cannot be a continuation of base.
func (c counters) below(base counters) bool {
	return c.count < base.count || c.latencyUs < base.latencyUs || c.maxUs < base.maxUs ||
		c.lockUs < base.lockUs || c.errors < base.errors || c.rowsSent < base.rowsSent ||
		c.rowsExamined < base.rowsExamined || c.rowsAffected < base.rowsAffected
}

// minus returns c − base column by column; the caller has checked
// !c.below(base). maxUs is not a sum and is left zero.
func (c counters) minus(base counters) counters {
	return counters{
		count:        c.count - base.count,
		latencyUs:    c.latencyUs - base.latencyUs,
		lockUs:       c.lockUs - base.lockUs,
		errors:       c.errors - base.errors,
		rowsSent:     c.rowsSent - base.rowsSent,
		rowsExamined: c.rowsExamined - base.rowsExamined,
		rowsAffected: c.rowsAffected - base.rowsAffected,
	}
}

func (c counters) zero() bool {
	return c.count == 0 && c.latencyUs == 0 && c.lockUs == 0 && c.errors == 0 &&
		c.rowsSent == 0 && c.rowsExamined == 0 && c.rowsAffected == 0
}

// snapRow is one row of a snapshot as read from the server.
type snapRow struct {
	key       digestKey
	c         counters
	firstSeen int64 // FIRST_SEEN, µs since the epoch, server clock; 0 unknown

	hasQuantiles bool
	p95Us, p99Us uint64 // QUANTILE_95, QUANTILE_99 (MySQL 8.0), lifetime of the row
}

// snapshot is what one poll read.
type snapshot struct {
	nowUs    int64 // server clock (NOW(6)) when the poll started, µs
	uptimeS  int64 // Uptime status variable, seconds
	rows     []snapRow
	seenResS int64 // resolution of FIRST_SEEN in µs: 1e6 on MariaDB and 5.7, 1 on 8.0
}

// baseRow is the part of a row kept between polls.
type baseRow struct {
	c         counters
	firstSeen int64
}

// rowDelta is the change of one row over an interval.
type rowDelta struct {
	key      digestKey
	d        counters // delta of the sums; d.maxUs is the interval max (see maxExact)
	maxExact bool     // d.maxUs is the true max of the interval; else a lower bound
	fresh    bool     // the row was created or reset within the interval: d is its full value

	hasQuantiles bool
	p95Us, p99Us uint64
}

// advanceResult is the outcome of comparing a snapshot with the baseline.
// Nothing in it is committed until the tracker's commit is called, so a poll
// that fails after advance (fetching templates) leaves the baseline as it was
// and the next poll's deltas span both intervals.
type advanceResult struct {
	deltas       []rowDelta
	next         map[digestKey]baseRow
	startUs      int64 // previous poll (interval start)
	endUs        int64 // this poll (interval end)
	restart      bool  // the server restarted since the previous poll
	resets       int64 // rows whose counters went down or whose FIRST_SEEN changed
	vanished     int64 // rows of the baseline absent from the snapshot
	unattributed int64 // rows not in the baseline and first seen before the previous poll
	overflow     int64 // statements counted by the overflow (NULL digest) row in the interval
	prepared     int64 // statements counted by the prepared-execution row in the interval
}

// tracker holds the baseline: the cumulative values of every row at the
// previous successful poll.
type tracker struct {
	base    map[digestKey]baseRow
	prevUs  int64 // server clock at the previous poll; 0 before the first
	uptimeS int64 // server uptime at the previous poll
}

// advance compares s with the baseline. The rules (docs/collection.md,
// "performance_schema", has the reasoning):
//
//   - First poll: every row becomes the baseline; nothing is emitted, since
//     nothing says how much of a row's totals fell into any interval.
//   - Uptime went down, or the server's start time (NOW − Uptime) moved
//     forward: the server restarted. The whole baseline is dropped; the rows
//     now present were all created after the restart.
//   - A row with a baseline whose FIRST_SEEN changed, or any of whose
//     cumulative columns went down, was reset (TRUNCATE of the table,
//     restart): its current values count from its new FIRST_SEEN. They are
//     the delta of this interval only if FIRST_SEEN is not before the
//     previous poll (at FIRST_SEEN's resolution); otherwise the reset is older
//     than the previous poll and the row only becomes the new baseline. A
//     reset never produces a negative delta.
//   - A row without a baseline (new digest, or re-created after a reset) is
//     treated the same way: emitted whole if first seen at or after the
//     previous poll, else baselined and counted as unattributed.
//   - A row without a FIRST_SEEN (0: the global prepared-execution counter)
//     after a restart is emitted whole (the restart, hence the row's
//     creation, came after the previous poll); otherwise it needs a
//     baseline like any row, and a reset without a restart (TRUNCATE of its
//     table) only re-baselines it.
//   - Otherwise the delta is current − baseline, emitted if any sum moved.
//   - Rows of the baseline missing from the snapshot were removed (TRUNCATE,
//     restart) and are dropped from the baseline.
func (t *tracker) advance(s *snapshot) advanceResult {
	r := advanceResult{
		next:    make(map[digestKey]baseRow, len(s.rows)),
		startUs: t.prevUs,
		endUs:   s.nowUs,
	}
	first := t.prevUs == 0
	base := t.base
	if !first && restarted(t.prevUs, t.uptimeS, s.nowUs, s.uptimeS) {
		r.restart = true
		base = nil
	}
	res := s.seenResS
	if res <= 0 {
		res = 1
	}
	// A row first seen at or after since was created after the previous
	// poll read the table: FIRST_SEEN is truncated to its resolution, so the
	// previous poll's time is truncated the same way before comparing.
	since := t.prevUs - floorMod(t.prevUs, res)
	for i := range s.rows {
		row := &s.rows[i]
		if _, dup := r.next[row.key]; dup {
			// The table's key is (SCHEMA_NAME, DIGEST); a second row with the
			// same key can only come from a torn read. The first one wins.
			continue
		}
		r.next[row.key] = baseRow{c: row.c, firstSeen: row.firstSeen}
		if first {
			continue
		}
		b, ok := base[row.key]
		var d rowDelta
		switch {
		case ok && row.firstSeen == b.firstSeen && !row.c.below(b.c):
			d = rowDelta{key: row.key, d: row.c.minus(b.c)}
			if d.d.zero() {
				continue
			}
			switch {
			case row.c.maxUs > b.c.maxUs:
				// The lifetime max rose: the new max ran in this interval.
				d.d.maxUs, d.maxExact = row.c.maxUs, true
			case d.d.count == 1:
				d.d.maxUs, d.maxExact = d.d.latencyUs, true
			case d.d.count > 0:
				// The interval's max is somewhere between its mean and the
				// lifetime max; the mean is the bound that belongs to it.
				d.d.maxUs = (d.d.latencyUs + d.d.count - 1) / d.d.count
				if d.d.maxUs > row.c.maxUs {
					d.d.maxUs = row.c.maxUs
				}
			}
		default:
			if ok {
				r.resets++
			}
			if row.firstSeen < since && !(row.firstSeen == 0 && r.restart) {
				if !ok {
					r.unattributed++
				}
				continue
			}
			if row.c.zero() {
				continue
			}
			d = rowDelta{key: row.key, d: row.c, maxExact: true, fresh: true}
		}
		if d.d.count > 0 && d.d.maxUs > d.d.latencyUs {
			// The server updates a row's counters one by one without a lock,
			// so a read can see a statement's MAX_TIMER_WAIT before its
			// SUM_TIMER_WAIT. One statement cannot outlast the interval's
			// sum: clamp, and call the max a lower bound.
			d.d.maxUs, d.maxExact = d.d.latencyUs, false
		}
		d.hasQuantiles, d.p95Us, d.p99Us = row.hasQuantiles, row.p95Us, row.p99Us
		switch {
		case row.key.overflow():
			r.overflow += clampInt(d.d.count)
		case row.key.prepared():
			r.prepared += clampInt(d.d.count)
		}
		r.deltas = append(r.deltas, d)
	}
	for k := range t.base {
		if _, ok := r.next[k]; !ok {
			r.vanished++
		}
	}
	return r
}

// bootSlackUs is how far the server's start time, estimated as NOW − Uptime,
// may move between two polls without being a restart: Uptime is whole
// seconds, and NOW and Uptime are read by two statements.
const bootSlackUs = 2_500_000

// restarted reports whether the server restarted between two polls: its
// Uptime went down, or its start time (NOW − Uptime) moved forward. The
// second catches a restart after which the new Uptime exceeds the old one
// (a server polled soon after it started, restarted slowly). A step of the
// server's clock moves NOW and Uptime alike (Uptime is the clock minus the
// start time), so it is not mistaken for a restart.
func restarted(prevUs, prevUptimeS, nowUs, uptimeS int64) bool {
	if uptimeS < prevUptimeS {
		return true
	}
	return (nowUs-uptimeS*1e6)-(prevUs-prevUptimeS*1e6) > bootSlackUs
}

// commit makes r's snapshot the baseline.
func (t *tracker) commit(r *advanceResult, uptimeS int64) {
	t.base = r.next
	t.prevUs = r.endUs
	t.uptimeS = uptimeS
}

// floorMod is x mod m in [0, m) for m > 0.
func floorMod(x, m int64) int64 {
	r := x % m
	if r < 0 {
		r += m
	}
	return r
}

// clampInt converts a counter to int64, saturating: performance_schema
// columns are BIGINT UNSIGNED.
func clampInt(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}
