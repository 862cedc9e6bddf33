package leaf

import (
	"context"
	"database/sql"
	"io"
	"log"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"go.uber.org/goleak"

	"github.com/das-project/das/internal/mariadbtest"
)

func TestMain(m *testing.M) {
	// The driver logs dropped connections; outage tests make plenty.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	if role := os.Getenv(childEnv); role != "" {
		os.Exit(childMain(role))
	}
	mariadbtest.Main(m)
}

// checkLeaks fails the test if it leaves goroutines behind. Call it first so
// that its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	mariadbtest.Shared(t) // a private server's waiter goroutine outlives tests
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// openDB opens dsn, closed in t.Cleanup.
func openDB(t testing.TB, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// newLeafDB returns the DSN and handle of a fresh database with the leaf
// tables and the given tags (name → step, starting at 1).
func newLeafDB(t testing.TB, tags map[string]int64) (string, *sql.DB) {
	t.Helper()
	dsn := mariadbtest.DSN(t)
	db := openDB(t, dsn)
	ctx := context.Background()
	if err := Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	for tag, step := range tags {
		if err := AddTag(ctx, db, tag, step, 1, "test"); err != nil {
			t.Fatal(err)
		}
	}
	return dsn, db
}

// viaProxy rewrites dsn to go through p.
func viaProxy(t testing.TB, dsn string, p *mariadbtest.Proxy) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Addr = p.Addr()
	return cfg.FormatDSN()
}

// addrOf is the server address of dsn.
func addrOf(t testing.TB, dsn string) string {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	return cfg.Addr
}

func openSegment(t testing.TB, db *sql.DB, o SegmentOptions) *Segment {
	t.Helper()
	s, err := OpenSegment(context.Background(), db, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

// waitFor polls cond every few ms for up to d.
func waitFor(t testing.TB, d time.Duration, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %v waiting for %s", d, what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

func statusOf(s *Segment, tag string) TagStatus {
	for _, st := range s.Status() {
		if st.Tag == tag {
			return st
		}
	}
	return TagStatus{}
}

// fakeClock is a Clock the test moves by hand. Sleep advances it (and yields
// briefly for real so loops that sleep do not spin).
type fakeClock struct {
	mu   sync.Mutex
	wall time.Time
	mono time.Duration
}

func newFakeClock() *fakeClock {
	return &fakeClock{wall: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)}
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.wall
}

func (c *fakeClock) Mono() time.Duration {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.mono
}

func (c *fakeClock) Sleep(ctx context.Context, d time.Duration) error {
	c.Advance(d)
	t := time.NewTimer(min(d, time.Millisecond))
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Advance moves both clocks forward.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.wall = c.wall.Add(d)
	c.mono += d
	c.mu.Unlock()
}

// StepWall moves only the wall clock (an NTP step), by d (may be negative).
func (c *fakeClock) StepWall(d time.Duration) {
	c.mu.Lock()
	c.wall = c.wall.Add(d)
	c.mu.Unlock()
}
