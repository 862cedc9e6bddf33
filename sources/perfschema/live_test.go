package perfschema

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	_ "github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/das-project/das/internal/mariadbtest"
	"github.com/das-project/das/operators/fingerprint"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// digestsSize is the digest table capacity of the test server: small, so
// the overflow test can fill it with a hundred statements. Every subtest
// truncates the table first and stays well below it otherwise.
const digestsSize = 64

// liveEnv is one private MariaDB server with performance_schema=ON, shared
// by the subtests of TestLive, which run one after the other (TRUNCATE of
// the digest table is global).
type liveEnv struct {
	srv  *mariadbtest.Server
	root *sql.DB
}

func (e *liveEnv) exec(t *testing.T, db *sql.DB, q string) {
	t.Helper()
	if _, err := db.ExecContext(context.Background(), q); err != nil {
		t.Fatalf("%s: %v", q, err)
	}
}

// schema creates a database with table t(id, c, n) holding ids 1..10 and
// returns its name and a one-connection pool whose default database it is.
func (e *liveEnv) schema(t *testing.T) (string, *sql.DB) {
	t.Helper()
	dsn := mariadbtest.NewDatabase(t, e.srv)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	db.SetMaxOpenConns(1)
	t.Cleanup(func() { db.Close() })
	var name string
	if err := db.QueryRow("SELECT DATABASE()").Scan(&name); err != nil {
		t.Fatal(err)
	}
	e.exec(t, db, "CREATE TABLE t (id INT PRIMARY KEY, c VARCHAR(20), n INT)")
	e.exec(t, db, "INSERT INTO t (id, c, n) VALUES (1,'a',1),(2,'b',2),(3,'c',3),(4,'d',4),(5,'e',5),(6,'f',6),(7,'g',7),(8,'h',8),(9,'i',9),(10,'j',10)")
	return name, db
}

// settle returns once the statements db ran before are in the digest table.
// The server sends a statement's result before it adds the statement to its
// digest row, so a poll right after a statement returns may miss it (it is
// then counted in the next interval). A connection ends one statement
// before it starts the next, so when a further statement on the same
// connection has returned, the earlier ones are in. bySchema ignores the
// "do ?" template this adds.
func (e *liveEnv) settle(t *testing.T, db *sql.DB) {
	t.Helper()
	e.exec(t, db, "DO 0")
}

const settleTemplate = "do ?"

func (e *liveEnv) truncate(t *testing.T) {
	t.Helper()
	e.exec(t, e.root, "TRUNCATE performance_schema.events_statements_summary_by_digest")
}

func (e *liveEnv) poller(t *testing.T, opts Options) *Poller {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	p, err := Open(ctx, e.srv.DSN(""), opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

func poll(t *testing.T, p *Poller) []MinuteDelta {
	t.Helper()
	out, err := p.Poll(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	checkDeltas(t, out)
	return out
}

// checkDeltas asserts what must hold for every delta: nothing negative, a
// sane interval and minute, a template for every digest.
func checkDeltas(t *testing.T, out []MinuteDelta) {
	t.Helper()
	for _, d := range out {
		if d.Count < 0 || d.LatencySumUs < 0 || d.LatencyMaxUs < 0 || d.LockSumUs < 0 || d.RowsSentSum < 0 ||
			d.RowsExaminedSum < 0 || d.RowsAffectedSum < 0 || d.Errors < 0 || d.Errors > d.Count {
			t.Errorf("impossible delta %+v", d)
		}
		if d.Count > 0 && d.LatencyMaxUs > d.LatencySumUs {
			t.Errorf("max %d above sum %d: %+v", d.LatencyMaxUs, d.LatencySumUs, d)
		}
		if !d.Start.Before(d.End) {
			t.Errorf("interval (%v, %v]", d.Start, d.End)
		}
		mid := d.Start.Add(d.End.Sub(d.Start) / 2)
		if m := time.UnixMilli(d.Minute); m.After(mid) || mid.Sub(m) >= time.Minute || d.Minute%60000 != 0 {
			t.Errorf("minute %v does not hold the middle %v of (%v, %v]", m, mid, d.Start, d.End)
		}
		want := FromDigest
		switch {
		case d.Overflow:
			want = FromOverflow
		case d.Prepared:
			want = FromPrepared
		}
		if d.TemplateFrom != want || (d.Overflow || d.Prepared) && (d.Digest != "" || d.Schema != "") {
			t.Errorf("template from %v (overflow %v, prepared %v) on MariaDB: %+v", d.TemplateFrom, d.Overflow, d.Prepared, d)
		}
	}
}

// bySchema keeps the deltas of one schema, keyed by the fingerprint template.
func bySchema(out []MinuteDelta, schema string) map[string]MinuteDelta {
	m := map[string]MinuteDelta{}
	for _, d := range out {
		if d.Schema == schema && !d.Overflow && !d.Prepared && d.Template != settleTemplate {
			if _, dup := m[d.Template]; dup {
				panic("two digests with one template in a test: " + d.Template)
			}
			m[d.Template] = d
		}
	}
	return m
}

func templateOf(sql string) (fingerprint.ID, string) {
	id, tmpl := fingerprint.New().Fingerprint([]byte(sql))
	return id, string(tmpl)
}

func TestLive(t *testing.T) {
	srv := mariadbtest.StartPerfSchema(t, fmt.Sprintf("--performance-schema-digests-size=%d", digestsSize))
	root, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	root.SetMaxOpenConns(1)
	t.Cleanup(func() { root.Close() })
	e := &liveEnv{srv: srv, root: root}
	for _, tc := range []struct {
		name string
		f    func(*testing.T, *liveEnv)
	}{
		{"Counts", testCounts},
		{"SchemaAttribution", testSchemaAttribution},
		{"Truncate", testTruncate},
		{"Overflow", testOverflow},
		{"Prepared", testPrepared},
		{"ProbeErrors", testProbeErrors},
		{"Run", testRun},
		{"FailedPollKeepsBaseline", testFailedPoll},
		{"Metrics", testMetrics},
		{"Restart", testRestart}, // last: it restarts the server
	} {
		if !t.Run(tc.name, func(t *testing.T) { tc.f(t, e) }) {
			return
		}
	}
}

// testCounts runs known statements and checks each digest's delta exactly:
// counts, rows, errors, and that the template id is the one das gives the
// statement itself.
func testCounts(t *testing.T, e *liveEnv) {
	schema, db := e.schema(t)
	e.truncate(t)
	p := e.poller(t, Options{})
	if out := poll(t, p); len(out) != 0 {
		t.Fatalf("first poll returned %d deltas", len(out))
	}
	type stmt struct {
		sql                      string
		arg                      func(i int) int // the %d of the i-th execution
		times                    int
		sent, examined, affected int64 // per execution
		fails                    bool
	}
	stmts := []stmt{
		{sql: "SELECT c FROM t WHERE id = %d", arg: func(i int) int { return 1 + i }, times: 7, sent: 1, examined: 1},
		{sql: "SELECT * FROM t WHERE id IN (1, 2, %d)", arg: func(i int) int { return 3 + i }, times: 3, sent: 3, examined: 3},
		{sql: "SELECT * FROM t WHERE n > 100 + %d", arg: func(i int) int { return i }, times: 2, sent: 0, examined: 10},
		{sql: "UPDATE t SET n = n + %d WHERE id BETWEEN 1 AND 2", arg: func(i int) int { return 1 + i }, times: 4, affected: 2, examined: 2},
		{sql: "INSERT INTO t (id, c, n) VALUES (%d, 'new', 0)", arg: func(i int) int { return 100 + i }, times: 5, affected: 1},
		{sql: "SELECT c FROM t ORDER BY id LIMIT 2, %d", arg: func(int) int { return 3 }, times: 2, sent: 3, examined: 5},
		{sql: "SELECT nope FROM t WHERE id = %d", arg: func(i int) int { return i }, times: 3, fails: true},
	}
	for _, s := range stmts {
		for i := 0; i < s.times; i++ {
			q := fmt.Sprintf(s.sql, s.arg(i))
			_, err := db.Exec(q)
			if s.fails != (err != nil) {
				t.Fatalf("%s: error %v", q, err)
			}
		}
	}
	e.settle(t, db)
	before := time.Now()
	out := poll(t, p)
	got := bySchema(out, schema)
	for _, s := range stmts {
		id, tmpl := templateOf(fmt.Sprintf(s.sql, 1))
		d, ok := got[tmpl]
		if !ok {
			t.Errorf("no delta for %q; got templates %v", tmpl, keys(got))
			continue
		}
		if d.TemplateID != id {
			t.Errorf("%q: template id %v, want %v (das's id of the statement)", tmpl, d.TemplateID, id)
		}
		n := int64(s.times)
		want := [4]int64{n, n * s.sent, n * s.examined, n * s.affected}
		if have := [4]int64{d.Count, d.RowsSentSum, d.RowsExaminedSum, d.RowsAffectedSum}; have != want && !s.fails {
			t.Errorf("%q: count, sent, examined, affected = %v, want %v", tmpl, have, want)
		}
		if wantErr := map[bool]int64{true: n}[s.fails]; d.Count != n || d.Errors != wantErr {
			t.Errorf("%q: count %d errors %d, want %d and %d", tmpl, d.Count, d.Errors, n, wantErr)
		}
		if d.Fresh != true || !d.LatencyMaxExact || d.LatencySumUs <= 0 || d.HasQuantiles || d.LatencyP99Us != 0 {
			t.Errorf("%q: fresh %v exact %v latency %d quantiles %v: %+v", tmpl, d.Fresh, d.LatencyMaxExact, d.LatencySumUs, d.HasQuantiles, d)
		}
		if d.DigestText == "" || d.SampleSQL == "" || strings.Contains(d.SampleSQL, "new") {
			t.Errorf("%q: digest text %q sample %q", tmpl, d.DigestText, d.SampleSQL)
		}
		if d.End.After(before.Add(time.Second)) || d.End.Before(d.Start) {
			t.Errorf("%q: interval (%v, %v], poll at %v", tmpl, d.Start, d.End, before)
		}
	}
	if len(got) != len(stmts) {
		t.Errorf("got %d templates in %s, want %d: %v", len(got), schema, len(stmts), keys(got))
	}

	// Again: the rows now have a baseline, so the deltas are differences.
	for i := 0; i < 4; i++ {
		e.exec(t, db, fmt.Sprintf("SELECT c FROM t WHERE id = %d", i))
	}
	e.settle(t, db)
	got = bySchema(poll(t, p), schema)
	_, tmpl := templateOf("SELECT c FROM t WHERE id = 1")
	if d := got[tmpl]; d.Count != 4 || d.Fresh || d.RowsExaminedSum != 4-1 { // id 0 does not exist
		t.Errorf("second interval: %+v", d)
	}
	if len(got) != 1 {
		t.Errorf("second interval: templates %v, want only %q", keys(got), tmpl)
	}
	if st := p.Stats(); st.Polls != 3 || st.PollErrors != 0 || st.Resets != 0 || st.Statements < 30 || st.DigestsSize != digestsSize {
		t.Errorf("stats %+v", st)
	}
}

func keys(m map[string]MinuteDelta) []string {
	var k []string
	for t := range m {
		k = append(k, t)
	}
	return k
}

// testSchemaAttribution: SCHEMA_NAME is the session's default database,
// not the database of the table; statements without one have Schema "".
func testSchemaAttribution(t *testing.T, e *liveEnv) {
	a, dbA := e.schema(t)
	b, dbB := e.schema(t)
	e.truncate(t)
	p := e.poller(t, Options{})
	poll(t, p)
	e.exec(t, dbA, "SELECT c FROM t WHERE id = 1")
	e.exec(t, dbA, "SELECT c FROM t WHERE id = 2")
	e.exec(t, dbB, "SELECT c FROM t WHERE id = 3")
	e.exec(t, dbA, "SELECT n FROM `"+b+"`.t WHERE id = 3")
	e.exec(t, e.root, "SELECT n FROM `"+a+"`.t WHERE id = 4") // no default database
	e.settle(t, dbA)
	e.settle(t, dbB)
	e.settle(t, e.root)
	out := poll(t, p)
	_, sel := templateOf("SELECT c FROM t WHERE id = 1")
	if d := bySchema(out, a)[sel]; d.Count != 2 {
		t.Errorf("schema %s: %+v", a, d)
	}
	if d := bySchema(out, b)[sel]; d.Count != 1 {
		t.Errorf("schema %s: %+v", b, d)
	}
	_, cross := templateOf("SELECT n FROM `" + b + "`.t WHERE id = 3")
	if d := bySchema(out, a)[cross]; d.Count != 1 {
		t.Errorf("cross-schema statement in %s: %+v", a, d)
	}
	_, none := templateOf("SELECT n FROM `" + a + "`.t WHERE id = 4")
	if d := bySchema(out, "")[none]; d.Count != 1 || d.Schema != "" {
		t.Errorf("statement without a default database: %+v", d)
	}
}

// testTruncate: TRUNCATE of the digest table between polls gives no
// negative delta, and the rows' new values become the delta — whether the
// counters went down or (with more statements after the TRUNCATE than
// before it) up.
func testTruncate(t *testing.T, e *liveEnv) {
	schema, db := e.schema(t)
	e.truncate(t)
	p := e.poller(t, Options{})
	poll(t, p)
	run := func(n int) {
		for i := 0; i < n; i++ {
			e.exec(t, db, fmt.Sprintf("SELECT c FROM t WHERE id = %d", i))
		}
		e.settle(t, db)
	}
	_, tmpl := templateOf("SELECT c FROM t WHERE id = 1")
	want := func(step string, count int64, fresh bool) {
		t.Helper()
		d := bySchema(poll(t, p), schema)[tmpl]
		if d.Count != count || d.Fresh != fresh {
			t.Errorf("%s: count %d fresh %v, want %d %v (%+v)", step, d.Count, d.Fresh, count, fresh, d)
		}
	}
	run(5)
	want("new row", 5, true)
	run(2)
	want("plain delta", 2, false)

	// FIRST_SEEN has a resolution of one second: let the re-created row be
	// first seen in a later second than the original.
	time.Sleep(1100 * time.Millisecond)
	resets0 := p.Stats().Resets
	run(2)
	e.truncate(t)
	run(12) // more than the row had before: the counters go up
	want("truncate, counters up", 12, true)
	if st := p.Stats(); st.Resets <= resets0 {
		t.Errorf("resets %d, want more than %d", st.Resets, resets0)
	}

	run(3)
	e.truncate(t)
	run(1) // the counters go down
	want("truncate, counters down", 1, true)

	e.truncate(t) // and nothing after it: the row vanishes
	vanished := p.Stats().Vanished
	if d, ok := bySchema(poll(t, p), schema)[tmpl]; ok {
		t.Errorf("delta for a truncated idle row: %+v", d)
	}
	if p.Stats().Vanished <= vanished {
		t.Errorf("vanished rows not counted: %+v", p.Stats())
	}
	run(4)
	want("after the vanished row", 4, true)
}

// testOverflow fills the digest table and checks that the statements the
// server could not digest are returned on the overflow row and counted, so
// that every statement is accounted for.
func testOverflow(t *testing.T, e *liveEnv) {
	schema, db := e.schema(t)
	e.truncate(t)
	p := e.poller(t, Options{})
	poll(t, p)
	poll(t, p) // the poller's own statements now have their rows
	const n = 100
	for i := 0; i < n; i++ {
		e.exec(t, db, fmt.Sprintf("SELECT %d AS c%d", i, i))
	}
	// The server records a statement after it answered it, so the
	// settling statement itself may or may not be in the table yet: settle
	// twice, and the first one is in.
	e.settle(t, db)
	e.settle(t, db)
	out := poll(t, p)
	var digested, overflow int64
	for _, d := range out {
		switch {
		case d.Overflow:
			if d.Template != OverflowTemplate || d.Digest != "" || d.Schema != "" {
				t.Errorf("overflow delta %+v", d)
			}
			overflow += d.Count
		case d.Schema == schema:
			digested += d.Count
		}
	}
	if total := digested + overflow; overflow == 0 || total != n+1 && total != n+2 {
		t.Errorf("digested %d + overflow %d, want %d or %d with some overflow", digested, overflow, n+1, n+2)
	}
	st := p.Stats()
	if st.OverflowStatements != overflow || st.DigestRows < digestsSize-1 {
		t.Errorf("stats %+v; overflow deltas %d", st, overflow)
	}
}

// testPrepared: statements executed through the binary protocol are not in
// MariaDB's digest table; the source counts them on the Prepared delta. If
// MariaDB starts digesting them, this test fails and the source must stop
// reading statement/com/Execute (it would count them twice).
func testPrepared(t *testing.T, e *liveEnv) {
	schema, db := e.schema(t)
	e.truncate(t)
	p := e.poller(t, Options{})
	poll(t, p)
	for i := 0; i < 3; i++ {
		rows, err := db.Query("SELECT c FROM t WHERE id = ?", i) // prepare, execute, close
		if err != nil {
			t.Fatal(err)
		}
		if err := rows.Close(); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < 2; i++ {
		if _, err := db.Exec("INSERT INTO t (id, c, n) VALUES (?, ?, ?)", 200+i, "p", i); err != nil {
			t.Fatal(err)
		}
	}
	e.settle(t, db)
	out := poll(t, p)
	var prep MinuteDelta
	for _, d := range out {
		if d.Prepared {
			prep = d
		}
	}
	if prep.Count != 5 || prep.RowsAffectedSum != 2 || prep.RowsSentSum != 2 || prep.Template != PreparedTemplate {
		t.Errorf("prepared delta %+v, want 5 statements, 2 rows sent, 2 affected", prep)
	}
	if got := bySchema(out, schema); len(got) != 0 {
		t.Errorf("MariaDB now digests prepared statements (%v): stop reading statement/com/Execute", keys(got))
	}
	if st := p.Stats(); st.PreparedStatements != 5 {
		t.Errorf("stats %+v", st)
	}
}

// testProbeErrors: a server without performance_schema, disabled digests,
// bad options.
func testProbeErrors(t *testing.T, e *liveEnv) {
	ctx := context.Background()
	shared := mariadbtest.Shared(t) // MariaDB's default: performance_schema=OFF
	if _, err := Open(ctx, shared.DSN(""), Options{}); !errors.Is(err, ErrDisabled) || !strings.Contains(err.Error(), "performance_schema=ON") {
		t.Errorf("Open on a server without performance_schema: %v", err)
	}
	e.exec(t, e.root, "UPDATE performance_schema.setup_consumers SET ENABLED = 'NO' WHERE NAME = 'statements_digest'")
	_, err := Open(ctx, e.srv.DSN(""), Options{})
	e.exec(t, e.root, "UPDATE performance_schema.setup_consumers SET ENABLED = 'YES' WHERE NAME = 'statements_digest'")
	if !errors.Is(err, ErrNoDigests) || !strings.Contains(err.Error(), "statements_digest") {
		t.Errorf("Open with the digest consumer off: %v", err)
	}
	for _, o := range []Options{{Interval: 10 * time.Millisecond}, {Interval: time.Minute, Timeout: 2 * time.Minute}, {SampleMaxBytes: 3}, {TemplateCache: -1}} {
		if _, err := Open(ctx, e.srv.DSN(""), o); !errors.Is(err, ErrBadOptions) {
			t.Errorf("Open(%+v): %v, want ErrBadOptions", o, err)
		}
	}
	if _, err := Open(ctx, "not a dsn", Options{}); !errors.Is(err, ErrBadOptions) {
		t.Errorf("bad DSN: %v", err)
	}
	p := e.poller(t, Options{})
	if v, q, s, size := p.Server(); !strings.Contains(v, "MariaDB") || q || s || size != digestsSize {
		t.Errorf("Server() = %q %v %v %d", v, q, s, size)
	}
	p.Close()
	if _, err := p.Poll(ctx); !errors.Is(err, ErrClosed) {
		t.Errorf("Poll after Close: %v", err)
	}
}

// fakeClock drives Run: Now is settable, and every After hands the test a
// channel to fire.
type fakeClock struct {
	mu    sync.Mutex
	now   time.Time
	waits chan time.Duration
	fire  chan chan time.Time
}

func newFakeClock(now time.Time) *fakeClock {
	return &fakeClock{now: now, waits: make(chan time.Duration, 16), fire: make(chan chan time.Time, 16)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) After(d time.Duration) <-chan time.Time {
	ch := make(chan time.Time, 1)
	c.waits <- d
	c.fire <- ch
	return ch
}

// tick waits for Run to wait, checks the wait, advances the clock by it and
// fires.
func (c *fakeClock) tick(t *testing.T, want time.Duration) {
	t.Helper()
	c.fireAfter(t, c.await(t, want))
}

// await waits for Run to wait (its previous poll is done) and checks the
// wait.
func (c *fakeClock) await(t *testing.T, want time.Duration) time.Duration {
	t.Helper()
	select {
	case d := <-c.waits:
		if d != want {
			t.Errorf("Run waited %v, want %v", d, want)
		}
		return d
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not wait for the next tick")
		return 0
	}
}

// fireAfter advances the clock by d and ends Run's wait.
func (c *fakeClock) fireAfter(t *testing.T, d time.Duration) {
	t.Helper()
	c.mu.Lock()
	c.now = c.now.Add(d)
	now := c.now
	c.mu.Unlock()
	(<-c.fire) <- now
}

// testRun drives Run with a fake clock: the first poll at once, the next
// ones on the minute, every non-empty result emitted, a last poll on stop.
func testRun(t *testing.T, e *liveEnv) {
	schema, db := e.schema(t)
	e.truncate(t)
	clock := newFakeClock(time.Date(2026, 1, 2, 3, 4, 20, 0, time.UTC))
	var pollErrs []error
	p := e.poller(t, Options{Now: clock.Now, After: clock.After, OnError: func(err error) { pollErrs = append(pollErrs, err) }})
	emitted := make(chan []MinuteDelta, 16)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		done <- p.Run(ctx, func(_ context.Context, d []MinuteDelta) error { emitted <- d; return nil })
	}()
	_, tmpl := templateOf("SELECT c FROM t WHERE id = 1")
	next := func(step string, want int64) {
		t.Helper()
		select {
		case out := <-emitted:
			checkDeltas(t, out)
			if d := bySchema(out, schema)[tmpl]; d.Count != want {
				t.Errorf("%s: count %d, want %d", step, d.Count, want)
			}
		case <-time.After(20 * time.Second):
			t.Fatalf("%s: nothing emitted", step)
		}
	}
	clock.tick(t, 40*time.Second) // baseline taken at once; next poll at 03:05:00
	// The first tick's poll may race the statements below; wait for the
	// second wait so that the statements fall after it.
	next("poller's own statements", 0)
	for i := 0; i < 3; i++ {
		e.exec(t, db, fmt.Sprintf("SELECT c FROM t WHERE id = %d", i))
	}
	e.settle(t, db)
	clock.tick(t, time.Minute)
	next("tick", 3)
	e.exec(t, db, "SELECT c FROM t WHERE id = 9")
	e.settle(t, db)
	// Stop: the wait is abandoned and a last poll emits the statement.
	select {
	case <-clock.waits:
		<-clock.fire
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not wait")
	}
	cancel()
	next("final poll", 1)
	if err := <-done; err != nil {
		t.Fatalf("Run: %v", err)
	}
	if len(pollErrs) != 0 {
		t.Errorf("poll errors: %v", pollErrs)
	}

	// An emit error stops Run and is returned.
	p2 := e.poller(t, Options{Now: clock.Now, After: clock.After})
	boom := errors.New("boom")
	done2 := make(chan error, 1)
	go func() {
		done2 <- p2.Run(context.Background(), func(context.Context, []MinuteDelta) error { return boom })
	}()
	e.exec(t, db, "SELECT c FROM t WHERE id = 1")
	e.settle(t, db)
	clock.tick(t, time.Minute-clock.Now().Sub(clock.Now().Truncate(time.Minute)))
	select {
	case err := <-done2:
		if !errors.Is(err, boom) {
			t.Errorf("Run returned %v, want boom", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop on an emit error")
	}

	// An emit that fails because Run is being stopped gets the same deltas
	// again, with the final poll's.
	p3 := e.poller(t, Options{Now: clock.Now, After: clock.After})
	ctx3, cancel3 := context.WithCancel(context.Background())
	var calls []int64
	done3 := make(chan error, 1)
	go func() {
		done3 <- p3.Run(ctx3, func(ctx context.Context, out []MinuteDelta) error {
			calls = append(calls, bySchema(out, schema)[tmpl].Count)
			if len(calls) == 1 {
				cancel3()
				return ctx.Err()
			}
			return nil
		})
	}()
	wait := clock.await(t, time.Minute) // the baseline is taken
	for i := 0; i < 2; i++ {
		e.exec(t, db, "SELECT c FROM t WHERE id = 1")
	}
	e.settle(t, db)
	clock.fireAfter(t, wait)
	select {
	case err := <-done3:
		if err != nil {
			t.Errorf("Run: %v", err)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("Run did not stop")
	}
	if len(calls) != 2 || calls[0] != 2 || calls[1] != 2 {
		t.Errorf("emit saw counts %v, want [2 2] (the failed deltas again)", calls)
	}
}

// testFailedPoll cuts the connection between polls: the failed poll is
// reported, counted and changes nothing, so the next poll's delta covers
// both intervals.
func testFailedPoll(t *testing.T, e *liveEnv) {
	schema, db := e.schema(t)
	e.truncate(t)
	proxy := mariadbtest.NewProxy(t, e.srv.Addr)
	ctx := context.Background()
	p, err := Open(ctx, proxy.Server().DSN(""), Options{Timeout: 5 * time.Second})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Close()
	poll(t, p)
	_, tmpl := templateOf("SELECT c FROM t WHERE id = 1")
	e.exec(t, db, "SELECT c FROM t WHERE id = 1")
	e.settle(t, db)
	proxy.Cut()
	if _, err := p.Poll(ctx); err == nil {
		t.Fatal("poll through a cut connection succeeded")
	}
	e.exec(t, db, "SELECT c FROM t WHERE id = 2")
	e.settle(t, db)
	proxy.Restore()
	var out []MinuteDelta
	for i := 0; ; i++ { // the pool may hand out the broken connection once more
		if out, err = p.Poll(ctx); err == nil || i == 3 {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	checkDeltas(t, out)
	if d := bySchema(out, schema)[tmpl]; d.Count != 2 {
		t.Errorf("delta after the failed poll: %+v, want count 2", d)
	}
	if st := p.Stats(); st.PollErrors == 0 {
		t.Errorf("poll errors not counted: %+v", st)
	}
}

// testMetrics: the Poller is a Prometheus collector.
func testMetrics(t *testing.T, e *liveEnv) {
	p := e.poller(t, Options{})
	poll(t, p)
	poll(t, p)
	reg := prometheus.NewRegistry()
	reg.MustRegister(p)
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	vals := map[string]float64{}
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			if c := m.GetCounter(); c != nil {
				vals[mf.GetName()] = c.GetValue()
			} else if g := m.GetGauge(); g != nil {
				vals[mf.GetName()] = g.GetValue()
			}
		}
	}
	if vals["das_perfschema_polls_total"] != 2 || vals["das_perfschema_digests_size"] != digestsSize || len(vals) != len(p.descs) {
		t.Errorf("metrics %v", vals)
	}
}

// testRestart restarts the server between two polls: the restart is
// counted, the statements after it are the delta, nothing is negative.
func testRestart(t *testing.T, e *liveEnv) {
	schema, db := e.schema(t)
	// The restart is seen when the server's start time moves by more than
	// the slack, i.e. when it had been up longer than that at the poll
	// before the restart.
	var name string
	var up int64
	if err := e.root.QueryRow("SHOW GLOBAL STATUS LIKE 'Uptime'").Scan(&name, &up); err != nil {
		t.Fatal(err)
	}
	if wait := time.Duration(bootSlackUs)*time.Microsecond + time.Second - time.Duration(up)*time.Second; wait > 0 {
		time.Sleep(wait)
	}
	p := e.poller(t, Options{Timeout: 10 * time.Second})
	poll(t, p)
	e.exec(t, db, "SELECT c FROM t WHERE id = 1")
	e.settle(t, db)
	poll(t, p)
	if err := e.srv.Stop(); err != nil {
		t.Fatal(err)
	}
	if err := e.srv.Restart(); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 5; i++ {
		e.exec(t, db, fmt.Sprintf("SELECT c FROM t WHERE id = %d", i))
	}
	e.settle(t, db)
	// The poller's pooled connection died with the server: Poll retries on
	// a new one by itself.
	out := poll(t, p)
	_, tmpl := templateOf("SELECT c FROM t WHERE id = 1")
	if d := bySchema(out, schema)[tmpl]; d.Count != 5 || !d.Fresh {
		t.Errorf("after restart: %+v", d)
	}
	if st := p.Stats(); st.Restarts != 1 || st.PollErrors != 0 {
		t.Errorf("restarts %d, poll errors %d; want 1 and 0 (%+v)", st.Restarts, st.PollErrors, st)
	}
}
