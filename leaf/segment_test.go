package leaf

import (
	"context"
	"errors"
	"fmt"
	"math"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"

	"github.com/das-project/das/internal/mariadbtest"
)

func TestSegmentSequentialAcrossSegments(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, map[string]int64{"order": 10, "user": 3})
	s := openSegment(t, db, SegmentOptions{FixedStep: true})
	ctx := context.Background()
	// One process, one caller: IDs are exactly 1, 2, 3, … across many
	// segment switches, per tag.
	for _, tag := range []string{"order", "user"} {
		for want := int64(1); want <= 100; want++ {
			got, err := s.NextID(ctx, tag)
			if err != nil {
				t.Fatalf("%s: NextID: %v", tag, err)
			}
			if got != want {
				t.Fatalf("%s: NextID = %d, want %d", tag, got, want)
			}
		}
	}
	st := statusOf(s, "user")
	if st.Issued != 100 || st.Step != 3 || st.Loads < 34 {
		t.Fatalf("status %+v: want Issued 100, Step 3, Loads >= 34", st)
	}
	var maxID int64
	if err := db.QueryRow("SELECT max_id FROM leaf_alloc WHERE biz_tag = 'user'").Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	if maxID < 101 || maxID > 101+2*3 {
		t.Fatalf("max_id = %d after 100 IDs of step 3, want within [101, 107]", maxID)
	}
}

func TestSegmentNextIDs(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, map[string]int64{"t": 7})
	s := openSegment(t, db, SegmentOptions{FixedStep: true})
	ctx := context.Background()
	next := int64(1)
	for _, n := range []int{1, 2, 7, 8, 20, 3, 1} { // batches spanning segments
		ids, err := s.NextIDs(ctx, "t", n)
		if err != nil {
			t.Fatal(err)
		}
		if len(ids) != n {
			t.Fatalf("NextIDs(%d) returned %d IDs", n, len(ids))
		}
		for _, id := range ids {
			if id != next {
				t.Fatalf("NextIDs(%d) = %v, want consecutive from %d", n, ids, next)
			}
			next++
		}
	}
	if _, err := s.NextIDs(ctx, "t", 0); !errors.Is(err, ErrInvalidCount) {
		t.Fatalf("NextIDs(0) err = %v, want ErrInvalidCount", err)
	}
	g := s.Tag("t")
	ids, err := g.NextIDs(ctx, 3)
	if err != nil || !slices.Equal(ids, []int64{next, next + 1, next + 2}) {
		t.Fatalf("bound NextIDs = %v, %v; want [%d %d %d]", ids, err, next, next+1, next+2)
	}
}

func TestSegmentPreloadThreshold(t *testing.T) {
	for _, tc := range []struct {
		threshold float64
		step      int64
		trigger   int // IDs drawn when the next segment is requested
	}{
		{0.1, 100, 11}, // Leaf's default: at 10% used
		{0.5, 100, 51},
		{1, 10, 10}, // only when the last ID is handed out
	} {
		t.Run(fmt.Sprint(tc.threshold), func(t *testing.T) {
			checkLeaks(t)
			_, db := newLeafDB(t, map[string]int64{"t": tc.step})
			s := openSegment(t, db, SegmentOptions{PreloadThreshold: tc.threshold, FixedStep: true})
			ctx := context.Background()
			for i := 1; i < tc.trigger; i++ {
				if _, err := s.NextID(ctx, "t"); err != nil {
					t.Fatal(err)
				}
			}
			time.Sleep(30 * time.Millisecond)
			if st := statusOf(s, "t"); st.Next != nil || st.Loads != 1 {
				t.Fatalf("after %d IDs: next segment loaded (%+v), want not yet", tc.trigger-1, st)
			}
			if _, err := s.NextID(ctx, "t"); err != nil {
				t.Fatal(err)
			}
			waitFor(t, 5*time.Second, "the next segment", func() bool { return statusOf(s, "t").Next != nil })
			st := statusOf(s, "t")
			if st.Next.Start != tc.step+1 || st.Next.Max != 2*tc.step+1 {
				t.Fatalf("next segment %+v, want [%d, %d)", st.Next, tc.step+1, 2*tc.step+1)
			}
			if want := 2*tc.step - int64(tc.trigger); st.Remaining != want {
				t.Fatalf("Remaining = %d, want %d", st.Remaining, want)
			}
		})
	}
	if _, err := (SegmentOptions{PreloadThreshold: 1.5}).withDefaults(); err == nil || !strings.Contains(err.Error(), "(0, 1]") {
		t.Fatalf("threshold 1.5: err = %v, want the allowed range", err)
	}
}

func TestNextStepRule(t *testing.T) {
	const m = time.Minute
	for _, tc := range []struct {
		cur, table, max int64
		elapsed         time.Duration
		want            int64
	}{
		{1000, 1000, 1_000_000, 1 * m, 2000},            // fast: double
		{600_000, 1000, 1_000_000, 1 * m, 1_000_000},    // capped at MaxStep
		{1_000_000, 1000, 1_000_000, 1 * m, 1_000_000},  // at the cap
		{4000, 1000, 1_000_000, 15 * m, 4000},           // [15, 30) min: keep
		{4000, 1000, 1_000_000, 29 * m, 4000},           // keep
		{4000, 1000, 1_000_000, 30 * m, 2000},           // slow: halve
		{1500, 1000, 1_000_000, 45 * m, 1000},           // never below the table step
		{1000, 5000, 1_000_000, 20 * m, 5000},           // table raised
		{3_000_000, 3_000_000, 1_000_000, m, 3_000_000}, // table step above MaxStep
		{3_000_000, 3_000_000, 1_000_000, 60 * m, 3_000_000},
	} {
		if got := nextStep(tc.cur, tc.table, tc.max, tc.elapsed, 15*m); got != tc.want {
			t.Errorf("nextStep(cur %d, table %d, max %d, %v) = %d, want %d", tc.cur, tc.table, tc.max, tc.elapsed, got, tc.want)
		}
	}
}

// TestSegmentDynamicStep drives the step rule through real loads with an
// injected clock: the time between loads decides each new segment's size.
func TestSegmentDynamicStep(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, map[string]int64{"t": 10})
	clk := newFakeClock()
	s := openSegment(t, db, SegmentOptions{Clock: clk, MaxStep: 40, PreloadThreshold: 1})
	ctx := context.Background()
	// Each phase: advance the clock, then use up the current segment so the
	// next load happens "after" that much time.
	var next int64 = 1
	draw := func(n int64) {
		t.Helper()
		for i := int64(0); i < n; i++ {
			id, err := s.NextID(ctx, "t")
			if err != nil {
				t.Fatal(err)
			}
			if id != next {
				t.Fatalf("id %d, want %d", id, next)
			}
			next++
		}
	}
	waitLoads := func(n int64) {
		t.Helper()
		waitFor(t, 5*time.Second, fmt.Sprintf("%d loads", n), func() bool { return statusOf(s, "t").Loads >= n })
	}
	wantStep := func(want int64) {
		t.Helper()
		if st := statusOf(s, "t"); st.Step != want {
			t.Fatalf("step %d, want %d (status %+v)", st.Step, want, st)
		}
	}
	draw(1) // first load: the table's step
	waitLoads(1)
	wantStep(10)
	for _, ph := range []struct {
		after time.Duration
		step  int64
	}{
		{time.Minute, 20},      // < 15 min: double
		{time.Minute, 40},      // double again
		{time.Minute, 40},      // capped at MaxStep
		{20 * time.Minute, 40}, // in [15, 30): keep
		{31 * time.Minute, 20}, // > 30 min: halve
		{2 * time.Hour, 10},    // halve
		{2 * time.Hour, 10},    // not below the table step
	} {
		clk.Advance(ph.after)
		st := statusOf(s, "t")
		draw(st.Current.Max - st.Current.Next) // last ID of the segment requests the next (threshold 1)
		waitLoads(st.Loads + 1)
		wantStep(ph.step)
		if nx := statusOf(s, "t").Next; nx == nil || nx.Max-nx.Start != ph.step {
			t.Fatalf("next segment %+v, want %d long", nx, ph.step)
		}
		draw(1) // switch to it
	}
}

func TestSegmentTagsPickedUpWithoutRestart(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, map[string]int64{"a": 5})
	clk := newFakeClock()
	s := openSegment(t, db, SegmentOptions{Clock: clk, RefreshInterval: 20 * time.Millisecond, MissRefreshInterval: time.Hour})
	ctx := context.Background()

	if _, err := s.NextID(ctx, "b"); !errors.Is(err, ErrTagNotFound) {
		t.Fatalf("unknown tag: err = %v, want ErrTagNotFound", err)
	}
	if err := AddTag(ctx, db, "b", 5, 1000, ""); err != nil {
		t.Fatal(err)
	}
	// The miss refresh is rate-limited (an hour on the fake clock), so the
	// periodic refresh is what finds it.
	waitFor(t, 5*time.Second, "tag b", func() bool { return len(s.Status()) == 2 })
	if id, err := s.NextID(ctx, "b"); err != nil || id != 1000 {
		t.Fatalf("NextID(b) = %d, %v; want 1000", id, err)
	}

	// A miss triggers an immediate re-read once the rate limit allows.
	clk.Advance(2 * time.Hour)
	if err := AddTag(ctx, db, "c", 5, 1, ""); err != nil {
		t.Fatal(err)
	}
	if id, err := s.NextID(ctx, "c"); err != nil || id != 1 {
		t.Fatalf("NextID(c) right after adding = %d, %v; want 1", id, err)
	}

	// Removal: the tag is fenced, also for bound handles.
	g := s.Tag("a")
	if _, err := g.NextID(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := db.Exec("DELETE FROM leaf_alloc WHERE biz_tag = 'a'"); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "tag a removed", func() bool { return len(s.Status()) == 2 })
	if _, err := g.NextID(ctx); !errors.Is(err, ErrTagNotFound) {
		t.Fatalf("removed tag via bound handle: err = %v, want ErrTagNotFound", err)
	}
	// Re-added: the bound handle finds the new buffer.
	if err := AddTag(ctx, db, "a", 5, 500, ""); err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "tag a back", func() bool { return len(s.Status()) == 3 })
	if id, err := g.NextID(ctx); err != nil || id != 500 {
		t.Fatalf("re-added tag via bound handle = %d, %v; want 500", id, err)
	}
}

func TestSegmentConcurrentGoroutines(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, map[string]int64{"t": 50})
	s := openSegment(t, db, SegmentOptions{})
	const goroutines, perG = 8, 5000
	out := make([][]int64, goroutines)
	var wg sync.WaitGroup
	for g := range goroutines {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx := context.Background()
			gen := s.Tag("t")
			for i := 0; i < perG; i++ {
				var id int64
				var err error
				switch i % 3 {
				case 0:
					id, err = s.NextID(ctx, "t")
				case 1:
					id, err = gen.NextID(ctx)
				default:
					var ids []int64
					ids, err = s.NextIDs(ctx, "t", 1)
					if err == nil {
						id = ids[0]
					}
				}
				if err != nil {
					t.Error(err)
					return
				}
				out[g] = append(out[g], id)
			}
		}()
	}
	wg.Wait()
	checkUnique(t, out)
}

// checkUnique fails unless every sequence strictly increases and no ID
// appears twice overall. It returns all IDs sorted.
func checkUnique(t testing.TB, seqs [][]int64) []int64 {
	t.Helper()
	var all []int64
	for i, seq := range seqs {
		for j := 1; j < len(seq); j++ {
			if seq[j] <= seq[j-1] {
				t.Fatalf("sequence %d not strictly increasing at %d: %d then %d", i, j, seq[j-1], seq[j])
			}
		}
		all = append(all, seq...)
	}
	slices.Sort(all)
	for i := 1; i < len(all); i++ {
		if all[i] == all[i-1] {
			t.Fatalf("duplicate ID %d", all[i])
		}
	}
	return all
}

// TestSegmentOutage cuts the database mid-run (through a proxy, never the
// shared server): hand-outs continue from the buffered segments while the
// runway falls, then fail with ErrSegmentsExhausted naming the fetch error,
// and resume without duplicates when the database returns.
func TestSegmentOutage(t *testing.T) {
	checkLeaks(t)
	dsn, _ := newLeafDB(t, map[string]int64{"t": 1000})
	p := mariadbtest.NewProxy(t, addrOf(t, dsn))
	db := openDB(t, viaProxy(t, dsn, p))
	reg := prometheus.NewRegistry()
	s := openSegment(t, db, SegmentOptions{FixedStep: true, Registerer: reg, DefaultWait: 100 * time.Millisecond})
	ctx := context.Background()
	var ids []int64
	draw := func(n int) {
		t.Helper()
		got, err := s.NextIDs(ctx, "t", n)
		if err != nil {
			t.Fatalf("NextIDs during outage, with %d buffered: %v", statusOf(s, "t").Remaining, err)
		}
		ids = append(ids, got...)
	}
	draw(200)
	waitFor(t, 5*time.Second, "preload", func() bool { return statusOf(s, "t").Next != nil })

	p.Cut()
	buffered := statusOf(s, "t").Remaining
	if buffered != 1800 {
		t.Fatalf("buffered %d IDs, want 1800", buffered)
	}
	var remaining, runway []float64
	for drawn := int64(0); drawn < buffered; drawn += 100 {
		draw(100)
		time.Sleep(5 * time.Millisecond)
		remaining = append(remaining, gauge(t, reg, "leaf_segment_remaining_ids"))
		runway = append(runway, gauge(t, reg, "leaf_segment_runway_seconds"))
	}
	for i := 1; i < len(remaining); i++ {
		if remaining[i] >= remaining[i-1] {
			t.Fatalf("remaining IDs did not fall during the outage: %v", remaining)
		}
	}
	if !(runway[len(runway)-1] < runway[0]) || runway[len(runway)-1] != 0 {
		t.Fatalf("runway did not fall to 0 during the outage: %v", runway)
	}
	waitFor(t, 5*time.Second, "failed fetches", func() bool { return statusOf(s, "t").LoadErrors > 0 })

	// Both segments used up: a typed error, after the caller's deadline,
	// naming the fetch failure; no sentinel ID.
	cctx, cancel := context.WithTimeout(ctx, 150*time.Millisecond)
	start := time.Now()
	id, err := s.NextID(cctx, "t")
	cancel()
	if !errors.Is(err, ErrSegmentsExhausted) || id != 0 {
		t.Fatalf("exhausted: NextID = %d, %v; want 0, ErrSegmentsExhausted", id, err)
	}
	if waited := time.Since(start); waited < 140*time.Millisecond {
		t.Fatalf("returned after %v, want to wait out the 150ms deadline", waited)
	}
	if !errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "fetch segment") {
		t.Fatalf("exhausted error %q does not say why", err)
	}
	// Without a deadline: DefaultWait.
	if _, err := s.NextID(ctx, "t"); !errors.Is(err, ErrSegmentsExhausted) {
		t.Fatalf("no deadline: err = %v, want ErrSegmentsExhausted", err)
	}
	if c := counter(t, reg, "leaf_segment_exhausted_total"); c != 2 {
		t.Fatalf("exhausted_total = %v, want 2", c)
	}

	p.Restore()
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	for range 2500 {
		id, err := s.NextID(rctx, "t")
		if err != nil {
			t.Fatalf("after the database returned: %v", err)
		}
		ids = append(ids, id)
	}
	all := checkUnique(t, [][]int64{ids})
	if all[0] != 1 || all[len(all)-1] != int64(len(all)) {
		t.Fatalf("IDs %d..%d for %d hand-outs: some were skipped", all[0], all[len(all)-1], len(all))
	}
}

func gauge(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	m := metric(t, g, name)
	return m.GetGauge().GetValue()
}

func counter(t testing.TB, g prometheus.Gatherer, name string) float64 {
	t.Helper()
	return metric(t, g, name).GetCounter().GetValue()
}

func metric(t testing.TB, g prometheus.Gatherer, name string) *dto.Metric {
	t.Helper()
	mfs, err := g.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name && len(mf.Metric) > 0 {
			return mf.Metric[0]
		}
	}
	t.Fatalf("metric %s not found", name)
	return nil
}

// TestSegmentRestart: no ID is handed out twice across restarts. A clean
// Close of the process holding the top segment gives the unused IDs back,
// so nothing is skipped; with KeepUnusedOnClose (or when another process
// fetched after us) the unused rest of the held segments is skipped.
func TestSegmentRestart(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, map[string]int64{"t": 100})
	ctx := context.Background()
	open := func(o SegmentOptions) *Segment {
		s, err := OpenSegment(ctx, db, o)
		if err != nil {
			t.Fatal(err)
		}
		return s
	}
	drawN := func(s *Segment, n int) []int64 {
		ids, err := s.NextIDs(ctx, "t", n)
		if err != nil {
			t.Fatal(err)
		}
		return ids
	}
	preloaded := func(s *Segment) {
		waitFor(t, 5*time.Second, "preload", func() bool { return statusOf(s, "t").Next != nil })
	}
	var all [][]int64

	// 1. Clean restart: the next run continues exactly where this one stopped.
	s := open(SegmentOptions{FixedStep: true})
	a := drawN(s, 150)
	preloaded(s) // holds [101, 201) as current and [201, 301) as next
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, err := s.NextID(ctx, "t"); !errors.Is(err, ErrClosed) {
		t.Fatalf("after Close: err = %v, want ErrClosed", err)
	}
	s = open(SegmentOptions{FixedStep: true, KeepUnusedOnClose: true})
	b := drawN(s, 30)
	if b[0] != a[len(a)-1]+1 {
		t.Fatalf("after a clean restart the first ID is %d, want %d", b[0], a[len(a)-1]+1)
	}
	preloaded(s) // [151, 251) current, [251, 351) next
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}

	// 2. KeepUnusedOnClose: the unused rest of both held segments is skipped.
	s = open(SegmentOptions{FixedStep: true})
	c := drawN(s, 1)
	if want := int64(351); c[0] != want {
		t.Fatalf("after a restart keeping unused IDs, first ID %d, want %d (skipped %d..350)", c[0], want, b[len(b)-1]+1)
	}

	// 3. Another process fetched after us: only what lies above its
	// segment may be given back.
	other := open(SegmentOptions{FixedStep: true})
	d := drawN(other, 20) // [451, 551)
	preloaded(other)      // ... and [551, 651)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	var maxID int64
	if err := db.QueryRow("SELECT max_id FROM leaf_alloc WHERE biz_tag = 't'").Scan(&maxID); err != nil {
		t.Fatal(err)
	}
	if maxID != 651 {
		t.Fatalf("max_id = %d after closing a process that no longer holds the top, want 651", maxID)
	}
	e := drawN(other, 200)
	if err := other.Close(); err != nil {
		t.Fatal(err)
	}
	all = append(all, a, b, c, d, e)
	checkUnique(t, all)
}

func TestSegmentClosedAndValidation(t *testing.T) {
	checkLeaks(t)
	_, db := newLeafDB(t, map[string]int64{"t": 10})
	if _, err := OpenSegment(context.Background(), db, SegmentOptions{DefaultWait: -1}); err == nil {
		t.Fatal("negative DefaultWait accepted")
	}
	s, err := OpenSegment(context.Background(), db, SegmentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	for _, tag := range []string{"t", "unknown"} {
		if _, err := s.NextID(context.Background(), tag); !errors.Is(err, ErrClosed) {
			t.Fatalf("NextID(%q) after Close: %v, want ErrClosed", tag, err)
		}
	}
	st := s.Status()
	if len(st) != 1 || st[0].Remaining != 0 || !math.IsInf(st[0].RunwaySeconds, 1) {
		t.Fatalf("status after close: %+v", st)
	}
}

func TestMigrateIdempotent(t *testing.T) {
	_, db := newLeafDB(t, nil)
	ctx := context.Background()
	var wg sync.WaitGroup
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if err := Migrate(ctx, db); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ms, err := Migrations()
	if err != nil {
		t.Fatal(err)
	}
	var n int
	if err := db.QueryRow("SELECT COUNT(*) FROM leaf_schema_migrations").Scan(&n); err != nil {
		t.Fatal(err)
	}
	if n != len(ms) {
		t.Fatalf("%d migrations recorded, want %d", n, len(ms))
	}
	if err := AddTag(ctx, db, "x", 0, 1, ""); err == nil {
		t.Fatal("step 0 accepted")
	}
	if err := AddTag(ctx, db, "x", 10, 1, ""); err != nil {
		t.Fatal(err)
	}
	if err := AddTag(ctx, db, "x", 10, 1, ""); err == nil {
		t.Fatal("duplicate tag accepted")
	}
}

func TestMigrationStatements(t *testing.T) {
	for _, tc := range []struct {
		sql  string
		want []string
	}{
		{"-- c\nCREATE TABLE a (x INT);\n\n-- d\nCREATE TABLE b (\n  y INT\n);\n", []string{"CREATE TABLE a (x INT)", "CREATE TABLE b (\n  y INT\n)"}},
		{"SELECT 1", []string{"SELECT 1"}},
		{"-- only comments\n", nil},
	} {
		if got := (Migration{SQL: tc.sql}).Statements(); !slices.Equal(got, tc.want) {
			t.Errorf("Statements(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
}

// TestSegmentServerRestart stops a private MariaDB server mid-run (a real
// stop, not a proxy cut: connections and prepared statements die) and
// starts it again: buffered IDs keep flowing, then ErrSegmentsExhausted,
// then recovery on new connections with no ID re-issued.
func TestSegmentServerRestart(t *testing.T) {
	checkLeaks(t)
	srv := mariadbtest.Start(t)
	db := openDB(t, mariadbtest.NewDatabase(t, srv))
	ctx := context.Background()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	if err := AddTag(ctx, db, "t", 100, 1, ""); err != nil {
		t.Fatal(err)
	}
	s := openSegment(t, db, SegmentOptions{FixedStep: true, DefaultWait: 50 * time.Millisecond})
	ids, err := s.NextIDs(ctx, "t", 50)
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, 5*time.Second, "preload", func() bool { return statusOf(s, "t").Next != nil })
	if err := srv.Stop(); err != nil {
		t.Fatal(err)
	}
	more, err := s.NextIDs(ctx, "t", 150) // the rest of both segments
	if err != nil {
		t.Fatalf("buffered IDs with the server down: %v", err)
	}
	ids = append(ids, more...)
	if _, err := s.NextID(ctx, "t"); !errors.Is(err, ErrSegmentsExhausted) {
		t.Fatalf("server down, buffers empty: err = %v, want ErrSegmentsExhausted", err)
	}
	if err := srv.Restart(); err != nil {
		t.Fatal(err)
	}
	rctx, cancel := context.WithTimeout(ctx, 10*time.Second)
	defer cancel()
	after, err := s.NextIDs(rctx, "t", 300)
	if err != nil {
		t.Fatalf("after the server restarted: %v", err)
	}
	all := checkUnique(t, [][]int64{append(ids, after...)})
	if all[0] != 1 || all[len(all)-1] != 500 {
		t.Fatalf("IDs %d..%d, want 1..500 with nothing skipped", all[0], all[len(all)-1])
	}
}
