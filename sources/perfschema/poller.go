package perfschema

import (
	"context"
	"database/sql"
	"database/sql/driver"
	"errors"
	"fmt"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/das-project/das/operators/fingerprint"
)

// MinuteDelta is what one digest row of events_statements_summary_by_digest
// did between two polls: a partial minute aggregate of one (schema,
// template) series. Several MinuteDeltas may fall into the same Minute (a
// short Interval, or two digests with one das template); a consumer merges
// them like any partial aggregates (sums add, maxima take the larger), and
// statement counts are conserved.
//
// Durations are microseconds (the server's picosecond timers, floored).
type MinuteDelta struct {
	// Schema is SCHEMA_NAME: the session's default database when the
	// statements ran ("" when there was none), which is what the slow log's
	// "use db" and the capture source's db are.
	Schema string
	// Digest is the server's DIGEST (hex; "" for the overflow row).
	Digest string
	// DigestText is the server's DIGEST_TEXT ("" for the overflow row, or
	// when the row vanished before its text was read).
	DigestText string
	// TemplateID and Template are das's template of the statements (see
	// TemplateFrom), the same id the other sources give the same statement
	// where das can tell: docs/collection.md lists where it cannot.
	TemplateID   fingerprint.ID
	Template     string
	TemplateFrom TemplateSource
	// SampleSQL is QUERY_SAMPLE_TEXT with its literals redacted (MySQL 8.0),
	// else the digest text; at most Options.SampleMaxBytes bytes.
	SampleSQL string
	// Overflow marks the row of statements the server could not digest
	// because the digest table was full (Template is OverflowTemplate).
	Overflow bool
	// Prepared marks the statements executed through the binary protocol,
	// which MariaDB leaves out of the digest table (Template is
	// PreparedTemplate, Schema ""): counted for the whole server.
	Prepared bool

	// Start and End are the server's clock at the previous poll and at
	// this one: the statements counted ran in (Start, End].
	Start, End time.Time
	// Minute is the UTC start of the minute that contains the middle of
	// (Start, End], in epoch milliseconds: the whole delta is attributed to
	// it (polls on the minute put each interval in its own minute; a longer
	// interval, after missed polls, is not spread over the minutes it
	// spans: Start and End say what it covers).
	Minute int64
	// Fresh marks a row created or reset (TRUNCATE, restart) within the
	// interval: the values count from its FIRST_SEEN, and statements of
	// the old row between Start and the reset are lost.
	Fresh bool

	Count        int64 // statements executed (COUNT_STAR)
	LatencySumUs int64 // SUM_TIMER_WAIT
	// LatencyMaxUs is the interval's max latency when LatencyMaxExact;
	// otherwise the interval's mean, a lower bound (the server keeps only a
	// lifetime MAX_TIMER_WAIT, which says nothing about this interval unless
	// it rose in it).
	LatencyMaxUs    int64
	LatencyMaxExact bool
	LockSumUs       int64 // SUM_LOCK_TIME
	RowsSentSum     int64 // SUM_ROWS_SENT
	RowsExaminedSum int64 // SUM_ROWS_EXAMINED
	RowsAffectedSum int64 // SUM_ROWS_AFFECTED
	Errors          int64 // SUM_ERRORS: statements that ended in an error

	// HasQuantiles is true where the server keeps latency quantiles per
	// digest (MySQL 8.0: QUANTILE_95, QUANTILE_99). They are estimated over
	// every execution since the row's FIRST_SEEN, not over this interval,
	// and are 0 when HasQuantiles is false (MariaDB, MySQL 5.7). The median
	// is never known: performance_schema keeps no per-statement latencies.
	HasQuantiles bool
	LatencyP95Us int64
	LatencyP99Us int64
}

// Poller reads events_statements_summary_by_digest and returns the deltas
// between consecutive reads. Poll and Run are safe for concurrent use (polls
// are serialised); Stats and the Prometheus methods may be called any time.
type Poller struct {
	db    *sql.DB
	ownDB bool
	opts  Options
	srv   serverInfo
	descs descs

	closed atomic.Bool
	st     stats

	// pollMu serialises polls and guards everything below. It is held
	// across the poll's queries on purpose: two polls must not interleave.
	pollMu    sync.Mutex
	tr        tracker
	templates map[digestKey]*templateInfo
	fp        *fingerprint.Fingerprinter
	buf       []byte
}

// serverInfo is what New learned about the server.
type serverInfo struct {
	version      string
	identity     string // @@hostname:@@port: a saved baseline belongs to one server
	mariadb      bool   // read statement/com/Execute: MariaDB does not digest it
	hasQuantiles bool   // QUANTILE_95 and QUANTILE_99
	hasSample    bool   // QUERY_SAMPLE_TEXT
	seenResUs    int64  // FIRST_SEEN resolution
	digestsSize  int64  // performance_schema_digests_size
	maxSQLText   int    // performance_schema_max_sql_text_length; 0 unknown
}

// requiredColumns are the digest table columns the source reads.
var requiredColumns = []string{"SCHEMA_NAME", "DIGEST", "DIGEST_TEXT", "COUNT_STAR",
	"SUM_TIMER_WAIT", "MAX_TIMER_WAIT", "SUM_LOCK_TIME", "SUM_ERRORS", "SUM_ROWS_SENT",
	"SUM_ROWS_EXAMINED", "SUM_ROWS_AFFECTED", "FIRST_SEEN"}

// Open connects to the server named by dsn (a go-sql-driver/mysql DSN,
// e.g. "das:secret@tcp(10.0.0.5:3306)/") and returns a Poller that owns the
// connection. The session time zone is set to UTC unless the DSN sets
// time_zone, at most one connection is used, and the driver does not log
// (failures are returned by Poll). The user needs SELECT on
// performance_schema.* and nothing else.
func Open(ctx context.Context, dsn string, opts Options) (*Poller, error) {
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: DSN: %v", ErrBadOptions, err)
	}
	if cfg.Params == nil {
		cfg.Params = map[string]string{}
	}
	if _, ok := cfg.Params["time_zone"]; !ok {
		cfg.Params["time_zone"] = "'+00:00'"
	}
	if cfg.Timeout == 0 {
		cfg.Timeout = 10 * time.Second
	}
	// The driver logs some connection failures to stderr by itself; every
	// failure reaches the caller as a Poll error instead.
	cfg.Logger = &mysql.NopLogger{}
	conn, err := mysql.NewConnector(cfg)
	if err != nil {
		return nil, fmt.Errorf("%w: DSN: %v", ErrBadOptions, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(1)
	db.SetMaxIdleConns(1)
	p, err := New(ctx, db, opts)
	if err != nil {
		_ = db.Close()
		return nil, err
	}
	p.ownDB = true
	return p, nil
}

// New returns a Poller on db, which the caller owns (Close does not close
// it). The session time zone should be UTC: FIRST_SEEN is read through
// UNIX_TIMESTAMP, which goes through the session's zone. New checks that
// performance_schema is on and collects digests (ErrDisabled, ErrNoDigests)
// and which columns the server has.
func New(ctx context.Context, db *sql.DB, opts Options) (*Poller, error) {
	o, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	p := &Poller{db: db, opts: o, fp: fingerprint.New(), templates: map[digestKey]*templateInfo{}}
	p.descs = newDescs()
	ctx, cancel := context.WithTimeout(ctx, o.Timeout)
	defer cancel()
	if err := p.probe(ctx); err != nil {
		return nil, err
	}
	p.st.digestsSize.Store(p.srv.digestsSize)
	return p, nil
}

func (p *Poller) probe(ctx context.Context) error {
	var on sql.NullInt64
	var host string
	var port int64
	if err := p.db.QueryRowContext(ctx, "SELECT @@performance_schema, VERSION(), @@hostname, @@port").Scan(&on, &p.srv.version, &host, &port); err != nil {
		return fmt.Errorf("perfschema: reading @@performance_schema: %w", err)
	}
	p.srv.identity = host + ":" + strconv.FormatInt(port, 10)
	p.srv.mariadb = strings.Contains(strings.ToLower(p.srv.version), "mariadb")
	if on.Int64 == 0 {
		return fmt.Errorf("%w (%s): set performance_schema=ON in the [mysqld] section of the server's configuration and restart it", ErrDisabled, p.srv.version)
	}
	rows, err := p.db.QueryContext(ctx, "SELECT NAME, ENABLED FROM performance_schema.setup_consumers WHERE NAME IN ('global_instrumentation', 'statements_digest')")
	if err != nil {
		return fmt.Errorf("perfschema: reading setup_consumers (the user needs SELECT on performance_schema.*): %w", err)
	}
	enabled := map[string]bool{}
	for rows.Next() {
		var name, en string
		if err := rows.Scan(&name, &en); err != nil {
			rows.Close()
			return fmt.Errorf("perfschema: reading setup_consumers: %w", err)
		}
		enabled[strings.ToLower(name)] = strings.EqualFold(en, "YES")
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("perfschema: reading setup_consumers: %w", err)
	}
	for _, c := range []string{"global_instrumentation", "statements_digest"} {
		if !enabled[c] {
			return fmt.Errorf("%w: consumer %s is disabled; enable it with UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = '%s' (and performance-schema-consumer-%s=ON in the configuration to keep it)",
				ErrNoDigests, c, c, strings.ReplaceAll(c, "_", "-"))
		}
	}
	var instruments int64
	if err := p.db.QueryRowContext(ctx, "SELECT COUNT(*) FROM performance_schema.setup_instruments WHERE NAME LIKE 'statement/%' AND ENABLED = 'YES'").Scan(&instruments); err != nil {
		return fmt.Errorf("perfschema: reading setup_instruments: %w", err)
	}
	if instruments == 0 {
		return fmt.Errorf("%w: every statement/%% instrument is disabled; enable them with UPDATE performance_schema.setup_instruments SET ENABLED = 'YES', TIMED = 'YES' WHERE NAME LIKE 'statement/%%'", ErrNoDigests)
	}

	rows, err = p.db.QueryContext(ctx, "SELECT COLUMN_NAME, COALESCE(DATETIME_PRECISION, 0) FROM information_schema.COLUMNS WHERE TABLE_SCHEMA = 'performance_schema' AND TABLE_NAME = 'events_statements_summary_by_digest'")
	if err != nil {
		return fmt.Errorf("perfschema: reading the digest table's columns: %w", err)
	}
	cols := map[string]int64{}
	for rows.Next() {
		var name string
		var prec int64
		if err := rows.Scan(&name, &prec); err != nil {
			rows.Close()
			return fmt.Errorf("perfschema: reading the digest table's columns: %w", err)
		}
		cols[strings.ToUpper(name)] = prec
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("perfschema: reading the digest table's columns: %w", err)
	}
	var missing []string
	for _, c := range requiredColumns {
		if _, ok := cols[c]; !ok {
			missing = append(missing, c)
		}
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %s: events_statements_summary_by_digest has no %s", ErrUnsupported, p.srv.version, strings.Join(missing, ", "))
	}
	_, q95 := cols["QUANTILE_95"]
	_, q99 := cols["QUANTILE_99"]
	p.srv.hasQuantiles = q95 && q99
	_, p.srv.hasSample = cols["QUERY_SAMPLE_TEXT"]
	p.srv.seenResUs = 1
	for prec := cols["FIRST_SEEN"]; prec < 6; prec++ {
		p.srv.seenResUs *= 10
	}

	rows, err = p.db.QueryContext(ctx, "SHOW GLOBAL VARIABLES WHERE Variable_name IN ('performance_schema_digests_size', 'performance_schema_max_sql_text_length')")
	if err != nil {
		return fmt.Errorf("perfschema: reading variables: %w", err)
	}
	for rows.Next() {
		var name, val string
		if err := rows.Scan(&name, &val); err != nil {
			rows.Close()
			return fmt.Errorf("perfschema: reading variables: %w", err)
		}
		n, _ := strconv.ParseInt(val, 10, 64)
		switch strings.ToLower(name) {
		case "performance_schema_digests_size":
			p.srv.digestsSize = n
		case "performance_schema_max_sql_text_length":
			p.srv.maxSQLText = int(n)
		}
	}
	if err := closeRows(rows); err != nil {
		return fmt.Errorf("perfschema: reading variables: %w", err)
	}
	return nil
}

// Server describes what New found: the version string, whether the digest
// table has the MySQL 8.0 quantile and sample columns, and its size.
func (p *Poller) Server() (version string, quantiles, samples bool, digestsSize int64) {
	return p.srv.version, p.srv.hasQuantiles, p.srv.hasSample, p.srv.digestsSize
}

// Close stops the poller and closes the connection if Open made it. Poll and
// Run return ErrClosed afterwards.
func (p *Poller) Close() error {
	if p.closed.Swap(true) {
		return nil
	}
	if p.ownDB {
		return p.db.Close()
	}
	return nil
}

// Poll reads the digest table once and returns the deltas since the previous
// successful Poll. The first Poll of a Poller returns none: it takes the
// baseline. A failed Poll changes nothing, so the next one's deltas cover
// both intervals. The returned slice is the caller's.
func (p *Poller) Poll(ctx context.Context) ([]MinuteDelta, error) {
	p.pollMu.Lock()
	defer p.pollMu.Unlock()
	if p.closed.Load() {
		return nil, ErrClosed
	}
	ctx, cancel := context.WithTimeout(ctx, p.opts.Timeout)
	defer cancel()
	out, err := p.poll(ctx)
	if (errors.Is(err, driver.ErrBadConn) || errors.Is(err, mysql.ErrInvalidConn)) && ctx.Err() == nil {
		// A pooled connection the server closed (restart, idle timeout).
		// The poll only reads and nothing was committed: try once more on
		// a new connection.
		out, err = p.poll(ctx)
	}
	if err != nil {
		p.st.pollErrors.Add(1)
		return nil, err
	}
	p.st.polls.Add(1)
	return out, nil
}

func (p *Poller) poll(ctx context.Context) ([]MinuteDelta, error) {
	conn, err := p.db.Conn(ctx)
	if err != nil {
		return nil, fmt.Errorf("perfschema: connect: %w", err)
	}
	defer conn.Close()
	snap, err := p.read(ctx, conn)
	if err != nil {
		return nil, err
	}
	r := p.tr.advance(&snap)

	// Templates: read the text of rows that have a delta and no template
	// yet. The snapshot query leaves DIGEST_TEXT out, so an idle digest's
	// text crosses the network once, not every minute.
	var need []string
	for i := range r.deltas {
		k := r.deltas[i].key
		if _, ok := p.templates[k]; !ok && validDigest(k.digest) {
			need = append(need, k.digest)
		}
	}
	fetched, err := p.fetchTexts(ctx, conn, need)
	if err != nil {
		return nil, err
	}

	out := make([]MinuteDelta, 0, len(r.deltas))
	start, end := usTime(r.startUs), usTime(r.endUs)
	minute := minuteOf((r.startUs + r.endUs) / 2)
	var overflow, prepared templateInfo
	var statements int64
	for i := range r.deltas {
		d := &r.deltas[i]
		ti := p.templates[d.key]
		switch {
		case d.key.overflow():
			if overflow.from == FromNone {
				overflow = pseudoInfo(p.fp, OverflowTemplate, FromOverflow)
			}
			ti = &overflow
		case d.key.prepared():
			if prepared.from == FromNone {
				prepared = pseudoInfo(p.fp, PreparedTemplate, FromPrepared)
			}
			ti = &prepared
		case ti == nil:
			ti = fetched[d.key]
			if ti == nil {
				p.st.textMissing.Add(1)
				none, _ := templateFor(p.fp, nil, nil, nil, 0, 0)
				ti = &none
			} else {
				p.templates[d.key] = ti
			}
		}
		digest := d.key.digest
		if d.key.prepared() {
			digest = ""
		}
		md := MinuteDelta{
			Schema: d.key.schema, Digest: digest, DigestText: ti.digestText,
			TemplateID: ti.id, Template: ti.template, TemplateFrom: ti.from, SampleSQL: ti.sample,
			Overflow: d.key.overflow(), Prepared: d.key.prepared(),
			Start: start, End: end, Minute: minute, Fresh: d.fresh,
			Count: clampInt(d.d.count), LatencySumUs: clampInt(d.d.latencyUs),
			LatencyMaxUs: clampInt(d.d.maxUs), LatencyMaxExact: d.maxExact,
			LockSumUs: clampInt(d.d.lockUs), RowsSentSum: clampInt(d.d.rowsSent),
			RowsExaminedSum: clampInt(d.d.rowsExamined), RowsAffectedSum: clampInt(d.d.rowsAffected),
			Errors: clampInt(d.d.errors),
		}
		if d.hasQuantiles {
			md.HasQuantiles, md.LatencyP95Us, md.LatencyP99Us = true, clampInt(d.p95Us), clampInt(d.p99Us)
		}
		statements += md.Count
		out = append(out, md)
	}
	p.tr.commit(&r, snap.uptimeS)
	p.trimTemplates()

	digestRows := int64(len(snap.rows))
	if p.srv.mariadb && digestRows > 0 && snap.rows[len(snap.rows)-1].key.prepared() {
		digestRows--
	}
	p.st.rowsRead.Add(digestRows)
	p.st.digestRows.Store(digestRows)
	p.st.deltas.Add(int64(len(out)))
	p.st.statements.Add(statements)
	p.st.resets.Add(r.resets)
	p.st.vanished.Add(r.vanished)
	p.st.unattributed.Add(r.unattributed)
	p.st.overflow.Add(r.overflow)
	p.st.prepared.Add(r.prepared)
	if r.restart {
		p.st.restarts.Add(1)
	}
	return out, nil
}

// trimTemplates keeps the template cache within Options.TemplateCache:
// first digests no longer in the table, then any.
func (p *Poller) trimTemplates() {
	if len(p.templates) <= p.opts.TemplateCache {
		return
	}
	for k := range p.templates {
		if _, ok := p.tr.base[k]; !ok {
			delete(p.templates, k)
		}
	}
	for k := range p.templates {
		if len(p.templates) <= p.opts.TemplateCache {
			break
		}
		delete(p.templates, k)
	}
}

// read takes one snapshot: the server clock, its uptime, and every digest
// row's cumulative columns.
func (p *Poller) read(ctx context.Context, conn *sql.Conn) (snapshot, error) {
	s := snapshot{seenResS: p.srv.seenResUs}
	var now sql.RawBytes
	var err error
	// RawBytes is only valid until the next Scan; parse inside a closure.
	err = func() error {
		rows, err := conn.QueryContext(ctx, "SELECT UNIX_TIMESTAMP(NOW(6))")
		if err != nil {
			return err
		}
		defer rows.Close()
		if !rows.Next() {
			if err := rows.Err(); err != nil {
				return err
			}
			return errors.New("no row")
		}
		if err := rows.Scan(&now); err != nil {
			return err
		}
		s.nowUs, err = parseMicros(now)
		return err
	}()
	if err != nil {
		return s, fmt.Errorf("perfschema: reading the server clock: %w", err)
	}
	var name, uptime string
	if err := conn.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &uptime); err != nil {
		return s, fmt.Errorf("perfschema: reading Uptime: %w", err)
	}
	if s.uptimeS, err = strconv.ParseInt(uptime, 10, 64); err != nil {
		return s, fmt.Errorf("perfschema: Uptime %q: %w", uptime, err)
	}

	q := "SELECT SCHEMA_NAME, DIGEST, COUNT_STAR, SUM_TIMER_WAIT, MAX_TIMER_WAIT, SUM_LOCK_TIME, SUM_ERRORS, " +
		"SUM_ROWS_SENT, SUM_ROWS_EXAMINED, SUM_ROWS_AFFECTED, UNIX_TIMESTAMP(FIRST_SEEN)"
	if p.srv.hasQuantiles {
		q += ", QUANTILE_95, QUANTILE_99"
	}
	q += " FROM performance_schema.events_statements_summary_by_digest"
	rows, err := conn.QueryContext(ctx, q)
	if err != nil {
		return s, fmt.Errorf("perfschema: reading events_statements_summary_by_digest: %w", err)
	}
	s.rows = make([]snapRow, 0, len(p.tr.base)+16)
	var schema, digest sql.NullString
	var seen sql.RawBytes
	var timer, maxTimer, lock, q95, q99 uint64
	dst := []any{&schema, &digest, nil, &timer, &maxTimer, &lock, nil, nil, nil, nil, &seen}
	if p.srv.hasQuantiles {
		dst = append(dst, &q95, &q99)
	}
	for rows.Next() {
		var r snapRow
		dst[2], dst[6], dst[7], dst[8], dst[9] = &r.c.count, &r.c.errors, &r.c.rowsSent, &r.c.rowsExamined, &r.c.rowsAffected
		if err := rows.Scan(dst...); err != nil {
			rows.Close()
			return s, fmt.Errorf("perfschema: reading events_statements_summary_by_digest: %w", err)
		}
		r.key = digestKey{schema: schema.String}
		if digest.Valid {
			r.key.digest = digest.String
		} else {
			r.key.schema = ""
		}
		r.c.latencyUs, r.c.maxUs, r.c.lockUs = timer/1e6, maxTimer/1e6, lock/1e6
		if r.firstSeen, err = parseMicros(seen); err != nil {
			rows.Close()
			return s, fmt.Errorf("perfschema: FIRST_SEEN of digest %s: %w", r.key.digest, err)
		}
		if p.srv.hasQuantiles {
			r.hasQuantiles, r.p95Us, r.p99Us = true, q95/1e6, q99/1e6
		}
		s.rows = append(s.rows, r)
	}
	if err := closeRows(rows); err != nil {
		return s, fmt.Errorf("perfschema: reading events_statements_summary_by_digest: %w", err)
	}
	if p.srv.mariadb {
		r := snapRow{key: digestKey{digest: preparedDigest}}
		err := conn.QueryRowContext(ctx, "SELECT COUNT_STAR, SUM_TIMER_WAIT, MAX_TIMER_WAIT, SUM_LOCK_TIME, SUM_ERRORS, "+
			"SUM_ROWS_SENT, SUM_ROWS_EXAMINED, SUM_ROWS_AFFECTED FROM performance_schema.events_statements_summary_global_by_event_name "+
			"WHERE EVENT_NAME = 'statement/com/Execute'").Scan(&r.c.count, &timer, &maxTimer, &lock, &r.c.errors,
			&r.c.rowsSent, &r.c.rowsExamined, &r.c.rowsAffected)
		switch {
		case errors.Is(err, sql.ErrNoRows): // instrument absent: nothing to count
		case err != nil:
			return s, fmt.Errorf("perfschema: reading statement/com/Execute: %w", err)
		default:
			r.c.latencyUs, r.c.maxUs, r.c.lockUs = timer/1e6, maxTimer/1e6, lock/1e6
			s.rows = append(s.rows, r)
		}
	}
	return s, nil
}

// textBatch bounds the digests named in one text query.
const textBatch = 200

// fetchTexts reads DIGEST_TEXT (and QUERY_SAMPLE_TEXT where the server has
// it) of the given digests and computes their templates.
func (p *Poller) fetchTexts(ctx context.Context, conn *sql.Conn, digests []string) (map[digestKey]*templateInfo, error) {
	if len(digests) == 0 {
		return nil, nil
	}
	out := make(map[digestKey]*templateInfo, len(digests))
	cols := "SCHEMA_NAME, DIGEST, DIGEST_TEXT"
	if p.srv.hasSample {
		cols += ", QUERY_SAMPLE_TEXT"
	}
	var q strings.Builder
	for len(digests) > 0 {
		n := min(len(digests), textBatch)
		batch := digests[:n]
		digests = digests[n:]
		q.Reset()
		q.WriteString("SELECT " + cols + " FROM performance_schema.events_statements_summary_by_digest WHERE DIGEST IN (")
		for i, d := range batch {
			if i > 0 {
				q.WriteByte(',')
			}
			// validDigest has checked d is hex: safe to inline, and it saves
			// the prepare round trips of placeholders.
			q.WriteString("'" + d + "'")
		}
		q.WriteByte(')')
		p.st.textQueries.Add(1)
		rows, err := conn.QueryContext(ctx, q.String())
		if err != nil {
			return nil, fmt.Errorf("perfschema: reading digest texts: %w", err)
		}
		var schema, digest sql.NullString
		var text, sample sql.RawBytes
		dst := []any{&schema, &digest, &text}
		if p.srv.hasSample {
			dst = append(dst, &sample)
		}
		for rows.Next() {
			if err := rows.Scan(dst...); err != nil {
				rows.Close()
				return nil, fmt.Errorf("perfschema: reading digest texts: %w", err)
			}
			k := digestKey{schema: schema.String, digest: digest.String}
			if !digest.Valid || out[k] != nil {
				continue
			}
			var ti templateInfo
			ti, p.buf = templateFor(p.fp, p.buf, text, sample, p.srv.maxSQLText, p.opts.SampleMaxBytes)
			out[k] = &ti
		}
		if err := closeRows(rows); err != nil {
			return nil, fmt.Errorf("perfschema: reading digest texts: %w", err)
		}
	}
	return out, nil
}

// Run polls at every multiple of Options.Interval on Options.Now's clock
// (the first poll, which takes the baseline, right away) and hands each
// non-empty result to emit, until ctx is cancelled. Then it polls once more
// (bounded by Options.StopTimeout, with a context that is not cancelled)
// so the statements since the last tick are emitted too, and returns nil.
//
// A failed poll is reported to Options.OnError and counted; Run keeps
// going, and the next successful poll covers the missed intervals. An error
// from emit stops Run and is returned (the deltas it was given are lost),
// except when ctx has ended: then the deltas are handed to emit again, with
// the final poll's.
func (p *Poller) Run(ctx context.Context, emit func(context.Context, []MinuteDelta) error) error {
	var pending []MinuteDelta
	poll := func(ctx context.Context) error {
		out, err := p.Poll(ctx)
		if errors.Is(err, ErrClosed) {
			return err
		}
		if err != nil {
			if ctx.Err() == nil && p.opts.OnError != nil {
				p.opts.OnError(err)
			}
		}
		pending = append(pending, out...)
		if len(pending) == 0 {
			return nil
		}
		if err := emit(ctx, pending); err != nil {
			if ctx.Err() != nil {
				return nil // stopping: the final poll hands them over again
			}
			return fmt.Errorf("perfschema: emit: %w", err)
		}
		pending = nil
		return nil
	}
	if err := poll(ctx); err != nil {
		return err
	}
	for {
		now := p.opts.Now()
		next := now.Truncate(p.opts.Interval).Add(p.opts.Interval)
		select {
		case <-ctx.Done():
			if p.opts.StopTimeout < 0 {
				return nil
			}
			fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), p.opts.StopTimeout)
			defer cancel()
			return poll(fctx)
		case <-p.opts.After(next.Sub(now)):
		}
		if err := poll(ctx); err != nil {
			return err
		}
	}
}

// validDigest reports whether d is a plausible DIGEST: hex, 16 to 64 digits.
func validDigest(d string) bool {
	if len(d) < 16 || len(d) > 64 {
		return false
	}
	for i := 0; i < len(d); i++ {
		c := d[i]
		if !('0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F') {
			return false
		}
	}
	return true
}

// parseMicros parses the decimal seconds UNIX_TIMESTAMP returns ("1700000000"
// or "1700000000.123456") into microseconds.
func parseMicros(b []byte) (int64, error) {
	s := string(b)
	intPart, frac, _ := strings.Cut(s, ".")
	sec, err := strconv.ParseInt(intPart, 10, 64)
	if err != nil || sec < 0 || sec > 1<<40 {
		return 0, fmt.Errorf("bad timestamp %q", s)
	}
	us := sec * 1e6
	for i, m := 0, int64(1e5); i < len(frac); i++ {
		c := frac[i]
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("bad timestamp %q", s)
		}
		if m > 0 {
			us += int64(c-'0') * m
			m /= 10
		}
	}
	return us, nil
}

func usTime(us int64) time.Time { return time.UnixMicro(us).UTC() }

// minuteOf returns the epoch-ms start of the UTC minute containing us.
func minuteOf(us int64) int64 {
	ms := us / 1000
	return ms - floorMod(ms, 60_000)
}

// closeRows closes rows and returns the iteration error, if any, else the
// close error.
func closeRows(rows *sql.Rows) error {
	err := rows.Err()
	if cerr := rows.Close(); err == nil {
		err = cerr
	}
	return err
}
