package leaf

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/internal/mariadbtest"
)

func TestLayoutComposeDecode(t *testing.T) {
	for _, tc := range []struct {
		l              Layout
		ms, worker, sq int64
	}{
		{Layout{DefaultEpoch(), 10, 12}, DefaultEpoch().UnixMilli(), 0, 0},
		{Layout{DefaultEpoch(), 10, 12}, DefaultEpoch().UnixMilli() + 1<<41 - 1, 1023, 4095},
		{Layout{DefaultEpoch(), 5, 5}, DefaultEpoch().UnixMilli() + 123456789, 17, 30},
		{Layout{time.UnixMilli(0), 1, 21}, 1_700_000_000_000, 1, 1<<21 - 1},
	} {
		id := tc.l.Compose(tc.ms, tc.worker, tc.sq)
		if id < 0 {
			t.Fatalf("%+v: negative ID %d", tc, id)
		}
		ts, w, s := tc.l.Decode(id)
		if ts.UnixMilli() != tc.ms || w != tc.worker || s != tc.sq {
			t.Errorf("Decode(Compose(%d, %d, %d)) = %v, %d, %d", tc.ms, tc.worker, tc.sq, ts.UnixMilli(), w, s)
		}
	}
	for _, l := range []Layout{{DefaultEpoch(), 0, 12}, {DefaultEpoch(), 12, 11}, {DefaultEpoch(), 5, 0}} {
		if err := l.validate(); err == nil || !strings.Contains(err.Error(), "<= 22") {
			t.Errorf("layout %+v accepted (err %v)", l, err)
		}
	}
}

func FuzzLayoutDecode(f *testing.F) {
	f.Add(int64(0), 10, 12)
	f.Add(int64(1<<62+12345), 5, 17)
	f.Add(int64(-1), 1, 1)
	f.Fuzz(func(t *testing.T, id int64, wb, sb int) {
		l := Layout{DefaultEpoch(), wb, sb}
		if l.validate() != nil || id < 0 {
			return
		}
		ts, w, s := l.Decode(id)
		if w < 0 || w >= l.MaxWorkers() || s < 0 || s >= 1<<sb {
			t.Fatalf("Decode(%d) fields out of range: %d %d", id, w, s)
		}
		if back := l.Compose(ts.UnixMilli(), w, s); back != id {
			t.Fatalf("Compose(Decode(%d)) = %d", id, back)
		}
	})
}

func openSnowflake(t testing.TB, db *sql.DB, o SnowflakeOptions) *Snowflake {
	t.Helper()
	s, err := OpenSnowflake(context.Background(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func TestSnowflakeBasic(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, nil)
	reg := prometheus.NewRegistry()
	s := openSnowflake(t, db, SnowflakeOptions{Registerer: reg, Seed: 1})
	ctx := context.Background()
	var last int64
	start := time.Now()
	for i := 0; i < 20000; i++ {
		id, err := s.NextID(ctx, "any")
		if err != nil {
			t.Fatal(err)
		}
		if id <= last {
			t.Fatalf("ID %d after %d", id, last)
		}
		last = id
	}
	ids, err := s.NextIDs(ctx, "", 100)
	if err != nil || len(ids) != 100 || ids[0] <= last {
		t.Fatalf("NextIDs: %d IDs, %v", len(ids), err)
	}
	ts, w, _ := s.Layout().Decode(last)
	if w != 0 || ts.Before(start.Add(-time.Millisecond)) || ts.After(time.Now()) {
		t.Fatalf("decoded ts %v worker %d, want worker 0 and now", ts, w)
	}
	if got := counter(t, reg, "leaf_snowflake_issued_ids_total"); got != 20100 {
		t.Fatalf("issued_ids_total %v", got)
	}
	if got := gauge(t, reg, "leaf_snowflake_lease_valid"); got != 1 {
		t.Fatalf("lease_valid %v", got)
	}
	// A second generator in the namespace gets the next worker id; another
	// namespace starts again at 0.
	s2 := openSnowflake(t, db, SnowflakeOptions{})
	s3 := openSnowflake(t, db, SnowflakeOptions{Namespace: "other"})
	if a, b := s2.Status().WorkerID, s3.Status().WorkerID; a != 1 || b != 0 {
		t.Fatalf("worker ids %d, %d; want 1, 0", a, b)
	}
}

func TestSnowflakeClockBackwards(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, nil)
	clk := newFakeClock()
	s := openSnowflake(t, db, SnowflakeOptions{Clock: clk, Heartbeat: time.Hour, LeaseTTL: 2 * time.Hour})
	ctx := context.Background()
	next := func() (int64, error) { return s.NextID(ctx, "") }
	a, err := next()
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name    string
		step    time.Duration
		wantErr bool
	}{
		{"forward", 10 * time.Millisecond, false},
		{"back 3ms: waited out", -3 * time.Millisecond, false},
		{"back 5ms: waited out", -5 * time.Millisecond, false},
		{"back 6ms: refused", -6 * time.Millisecond, true},
		{"back 1h: refused", -time.Hour, true},
	} {
		clk.StepWall(tc.step)
		b, err := next()
		if tc.wantErr {
			var cb *ClockBackwardsError
			if !errors.Is(err, ErrClockBackwards) || !errors.As(err, &cb) || cb.AtStart || cb.Behind < -tc.step-time.Millisecond {
				t.Fatalf("%s: err = %v, want a ClockBackwardsError of about %v", tc.name, err, -tc.step)
			}
			clk.StepWall(-tc.step) // undo
			continue
		}
		if err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		if b <= a {
			t.Fatalf("%s: ID %d after %d", tc.name, b, a)
		}
		a = b
	}
	if st := s.Status(); st.ClockBackwards != 2 {
		t.Fatalf("ClockBackwards = %d, want 2", st.ClockBackwards)
	}
}

// TestSnowflakeStartBehindPersisted: the timestamp persisted for a worker
// id bounds where the next holder may start.
func TestSnowflakeStartBehindPersisted(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, nil)
	ctx := context.Background()
	clk := newFakeClock()
	o := SnowflakeOptions{Clock: clk, WorkerBits: 1, Owner: "me", Heartbeat: time.Hour, LeaseTTL: 2 * time.Hour}
	s, err := OpenSnowflake(ctx, db, o)
	if err != nil {
		t.Fatal(err)
	}
	last, err := s.NextID(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil { // persists the last issued ms exactly
		t.Fatal(err)
	}
	var persisted int64
	if err := db.QueryRow("SELECT last_ts_ms FROM leaf_worker WHERE worker_id = 0").Scan(&persisted); err != nil {
		t.Fatal(err)
	}
	if ts, _, _ := s.Layout().Decode(last); ts.UnixMilli() != persisted {
		t.Fatalf("persisted %d, last issued ms %d", persisted, ts.UnixMilli())
	}

	// Clock an hour behind: refuse to start.
	clk.StepWall(-time.Hour)
	_, err = OpenSnowflake(ctx, db, o)
	var cb *ClockBackwardsError
	if !errors.As(err, &cb) || !cb.AtStart || cb.WorkerID != 0 || cb.Behind < time.Hour-time.Second {
		t.Fatalf("start an hour behind: err = %v, want ClockBackwardsError at start", err)
	}

	// Two seconds behind (< MaxStartWait): wait it out, then start.
	clk.StepWall(time.Hour - 2*time.Second)
	s, err = OpenSnowflake(ctx, db, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	id, err := s.NextID(ctx, "")
	if err != nil {
		t.Fatal(err)
	}
	if id <= last {
		t.Fatalf("after a start behind the persisted timestamp: ID %d <= %d", id, last)
	}
}

// TestSnowflakeSelfFencing: the generator stops once the lease age on the
// monotonic clock reaches LeaseTTL - SafetyMargin, whatever the wall clock.
func TestSnowflakeSelfFencing(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, nil)
	clk := newFakeClock()
	s := openSnowflake(t, db, SnowflakeOptions{Clock: clk, LeaseTTL: 10 * time.Second, SafetyMargin: 2 * time.Second, Heartbeat: 7 * time.Second})
	ctx := context.Background()
	clk.Advance(8*time.Second - time.Millisecond)
	if _, err := s.NextID(ctx, ""); err != nil {
		t.Fatalf("just before the fence: %v", err)
	}
	// Mono reaches the fence while the wall clock stands still (or even
	// goes back): fenced.
	clk.mu.Lock()
	clk.mono += time.Millisecond
	clk.mu.Unlock()
	if _, err := s.NextID(ctx, ""); !errors.Is(err, ErrLeaseExpired) {
		t.Fatalf("at the fence: err = %v, want ErrLeaseExpired", err)
	}
	if st := s.Status(); st.LeaseValid || st.FenceIn != 0 {
		t.Fatalf("status %+v, want an invalid lease", st)
	}
}

func TestSnowflakeSequence(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, nil)
	ctx := context.Background()

	// A full millisecond waits for the next one; no wrap-around.
	clk := newFakeClock()
	s := openSnowflake(t, db, SnowflakeOptions{Clock: clk, SequenceBits: 2, SequenceOffsetRange: 1, Namespace: "seq", Heartbeat: time.Hour, LeaseTTL: 2 * time.Hour})
	var prev int64
	for i := range 20 {
		id, err := s.NextID(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		_, _, seq := s.Layout().Decode(id)
		if seq != int64(i%4) || id <= prev {
			t.Fatalf("ID %d: seq %d, want %d (previous ID %d)", i, seq, i%4, prev)
		}
		prev = id
	}

	// One ID per millisecond: with offset range 1 every ID is ≡ 0 mod 8
	// (sequence 0, worker 0); with the default random offset "mod 8" is
	// about uniform.
	for _, tc := range []struct {
		rng     int64
		uniform bool
	}{{1, false}, {0, true}} {
		clk := newFakeClock()
		s := openSnowflake(t, db, SnowflakeOptions{Clock: clk, SequenceOffsetRange: tc.rng, Seed: 42, Namespace: fmt.Sprint("mod", tc.rng), Heartbeat: time.Hour, LeaseTTL: 2 * time.Hour})
		var buckets [8]int
		const n = 4000
		for range n {
			clk.Advance(time.Millisecond)
			id, err := s.NextID(ctx, "")
			if err != nil {
				t.Fatal(err)
			}
			buckets[id%8]++
		}
		if !tc.uniform {
			if buckets[0] != n {
				t.Fatalf("offset range 1: buckets %v, want all in 0", buckets)
			}
			continue
		}
		for i, c := range buckets {
			if c < n/8*8/10 || c > n/8*12/10 {
				t.Fatalf("random offset: bucket %d has %d of %d (%v), want within 20%% of %d", i, c, n, buckets, n/8)
			}
		}
	}
}

// TestSnowflakeOutageFencesAndRecovers: a database outage longer than the
// lease fences the generator; when the database returns the heartbeat
// renews (the token is still ours) and generation resumes.
func TestSnowflakeOutageFencesAndRecovers(t *testing.T) {
	checkLeaks(t)
	dsn, _ := newLeafDB(t, nil)
	p := mariadbtest.NewProxy(t, addrOf(t, dsn))
	db := openDB(t, viaProxy(t, dsn, p))
	s := openSnowflake(t, db, SnowflakeOptions{LeaseTTL: 400 * time.Millisecond, SafetyMargin: 100 * time.Millisecond, Heartbeat: 50 * time.Millisecond})
	ctx := context.Background()
	if _, err := s.NextID(ctx, ""); err != nil {
		t.Fatal(err)
	}
	p.Cut()
	waitFor(t, 2*time.Second, "fencing", func() bool {
		_, err := s.NextID(ctx, "")
		return errors.Is(err, ErrLeaseExpired)
	})
	if st := s.Status(); st.RenewFailures == 0 {
		t.Fatalf("status %+v: want renew failures", st)
	}
	p.Restore()
	waitFor(t, 5*time.Second, "recovery", func() bool {
		_, err := s.NextID(ctx, "")
		return err == nil
	})
}

// TestSnowflakeLeaseConflictProcesses: two processes compete for worker
// ids. With both ids of a 1-bit layout leased, a third start fails. A
// process paused (SIGSTOP) past its lease loses its worker id to another
// process and, once resumed, issues no ID with it: it fenced itself on the
// monotonic clock.
func TestSnowflakeLeaseConflictProcesses(t *testing.T) {
	dsn, db := newLeafDB(t, nil)
	ctx := context.Background()
	// This process's generators keep the default 10 s lease so that a
	// loaded machine cannot make them miss renewals; the child's is 1 s.
	o := SnowflakeOptions{WorkerBits: 1}

	x := openSnowflake(t, db, o) // worker 0, in this process
	child := childCmd(t, "snowflake-stream", "LEAF_DSN="+dsn)
	stdout, err := child.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := child.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		_ = child.Process.Signal(syscall.SIGCONT)
		_ = child.Process.Kill()
		_ = child.Wait()
	})
	type line struct {
		id  int64
		err string
		at  time.Time
	}
	lines := make(chan line, 1<<16)
	go func() { // ends when the child's stdout closes (killed in cleanup)
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			txt := sc.Text()
			if id, err := strconv.ParseInt(txt, 10, 64); err == nil {
				lines <- line{id: id, at: time.Now()}
			} else {
				lines <- line{err: txt, at: time.Now()}
			}
		}
		close(lines)
	}()
	var childIDs []int64
	for len(childIDs) < 200 {
		l, ok := <-lines
		if !ok {
			t.Fatal("child exited")
		}
		if l.err != "" {
			t.Fatalf("child: %s", l.err)
		}
		childIDs = append(childIDs, l.id)
	}
	l := x.Layout()
	if _, w, _ := l.Decode(childIDs[0]); w != 1 {
		t.Fatalf("child has worker %d, want 1", w)
	}
	// Both ids leased: a third process-like generator cannot start.
	if _, err := OpenSnowflake(ctx, db, o); !errors.Is(err, ErrNoWorkerID) {
		t.Fatalf("third generator: err = %v, want ErrNoWorkerID", err)
	}

	// Pause the child past its lease; take its worker id over.
	if err := child.Process.Signal(syscall.SIGSTOP); err != nil {
		t.Fatal(err)
	}
	time.Sleep(time.Second + 300*time.Millisecond) // the child's TTL + margin
	y := openSnowflake(t, db, o)
	if w := y.Status().WorkerID; w != 1 {
		t.Fatalf("takeover got worker %d, want 1", w)
	}
	yIDs, err := y.NextIDs(ctx, "", 1000)
	if err != nil {
		t.Fatal(err)
	}
	resumed := time.Now()
	if err := child.Process.Signal(syscall.SIGCONT); err != nil {
		t.Fatal(err)
	}
	// Drain the child for a while after resuming: any ID must predate the
	// takeover (printed before the pause, sitting in the pipe), and it
	// must report the expired lease.
	sawExpired := false
	timeout := time.After(time.Second)
drain:
	for {
		select {
		case l, ok := <-lines:
			if !ok {
				break drain
			}
			if l.err != "" {
				if !strings.Contains(l.err, ErrLeaseExpired.Error()) {
					t.Fatalf("child after resume: %s", l.err)
				}
				sawExpired = true
				continue
			}
			childIDs = append(childIDs, l.id)
		case <-timeout:
			break drain
		}
	}
	if !sawExpired {
		t.Fatal("the resumed child never reported an expired lease")
	}
	yFirst, _, _ := l.Decode(yIDs[0])
	for _, id := range childIDs {
		if ts, w, _ := l.Decode(id); w == 1 && !ts.Before(yFirst) {
			t.Fatalf("child issued %d (ts %v) with worker 1 after the takeover at %v (resumed %v)", id, ts, yFirst, resumed)
		}
	}
	xIDs, err := x.NextIDs(ctx, "", 100)
	if err != nil {
		t.Fatal(err)
	}
	checkUnique(t, [][]int64{childIDs, yIDs, xIDs})
}

// childSnowflakeStream opens a snowflake generator (WorkerBits 1, TTL 1 s)
// and prints an ID or an error line every millisecond until killed.
func childSnowflakeStream() error {
	db, err := sql.Open("mysql", os.Getenv("LEAF_DSN"))
	if err != nil {
		return err
	}
	ctx := context.Background()
	s, err := OpenSnowflake(ctx, db, SnowflakeOptions{WorkerBits: 1, LeaseTTL: time.Second,
		SafetyMargin: 200 * time.Millisecond, Heartbeat: 150 * time.Millisecond, Owner: "child"})
	if err != nil {
		return err
	}
	w := bufio.NewWriter(os.Stdout)
	for {
		id, err := s.NextID(ctx, "")
		if err != nil {
			fmt.Fprintln(w, "ERR", err)
		} else {
			fmt.Fprintln(w, id)
		}
		if err := w.Flush(); err != nil {
			return err
		}
		time.Sleep(time.Millisecond)
	}
}

// TestSnowflakeConcurrentAcquire: generators starting at once on an empty
// namespace all get distinct worker ids (racing inserts and InnoDB gap-lock
// deadlocks are retried).
func TestSnowflakeConcurrentAcquire(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, nil)
	const n = 6
	gens := make([]*Snowflake, n)
	errs := make([]error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			gens[i], errs[i] = OpenSnowflake(context.Background(), db, SnowflakeOptions{Owner: fmt.Sprint("g", i)})
		}()
	}
	wg.Wait()
	for _, g := range gens {
		if g != nil {
			t.Cleanup(func() { g.Close() })
		}
	}
	seen := map[int64]bool{}
	for i, g := range gens {
		if errs[i] != nil {
			t.Fatalf("generator %d: %v", i, errs[i])
		}
		w := g.Status().WorkerID
		if seen[w] {
			t.Fatalf("worker id %d leased twice", w)
		}
		seen[w] = true
	}
}
