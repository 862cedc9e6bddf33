package mariadbtest

import (
	"context"
	"database/sql"
	"strings"
	"testing"
	"time"
)

func TestMain(m *testing.M) { Main(m) }

func open(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

func TestDSNGivesPrivateDatabase(t *testing.T) {
	a, b := DSN(t), DSN(t)
	if a == b {
		t.Fatalf("two callers got the same DSN %q", a)
	}
	ctx := context.Background()
	for _, dsn := range []string{a, b} {
		db := open(t, dsn)
		if _, err := db.ExecContext(ctx, "CREATE TABLE x (id INT PRIMARY KEY)"); err != nil {
			t.Fatalf("create table in %s: %v", dsn, err)
		}
		var name string
		if err := db.QueryRowContext(ctx, "SELECT DATABASE()").Scan(&name); err != nil {
			t.Fatal(err)
		}
		if !strings.HasPrefix(name, "t_testdsngivesprivatedatabase_") {
			t.Fatalf("database name %q", name)
		}
	}
}

// TestPrivateServerStopRestart exercises the path used where no shared
// server answers: install-db, start, stop, restart with the data kept.
func TestPrivateServerStopRestart(t *testing.T) {
	s := Start(t)
	if !s.Private() {
		t.Fatal("Start returned a non-private server")
	}
	dsn := NewDatabase(t, s)
	db := open(t, dsn)
	ctx := context.Background()
	if _, err := db.ExecContext(ctx, "CREATE TABLE kv (k INT PRIMARY KEY, v INT)"); err != nil {
		t.Fatal(err)
	}
	if _, err := db.ExecContext(ctx, "INSERT INTO kv VALUES (1, 42)"); err != nil {
		t.Fatal(err)
	}
	if err := s.Stop(); err != nil {
		t.Fatal(err)
	}
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	err := db.PingContext(qctx)
	cancel()
	if err == nil {
		t.Fatal("ping succeeded with the server stopped")
	}
	if err := s.Restart(); err != nil {
		t.Fatal(err)
	}
	var v int
	if err := db.QueryRowContext(ctx, "SELECT v FROM kv WHERE k = 1").Scan(&v); err != nil {
		t.Fatal(err)
	}
	if v != 42 {
		t.Fatalf("v = %d after restart, want 42", v)
	}
}

func TestProxyCutRestoreDelay(t *testing.T) {
	srv := Shared(t)
	dsn := NewDatabase(t, srv)
	p := NewProxy(t, srv.Addr)
	// Same database, reached through the proxy.
	pdsn := strings.Replace(dsn, srv.Addr, p.Addr(), 1)
	db := open(t, pdsn)
	ctx := context.Background()
	if err := db.PingContext(ctx); err != nil {
		t.Fatal(err)
	}

	p.SetDelay(20 * time.Millisecond)
	start := time.Now()
	if _, err := db.ExecContext(ctx, "DO 1"); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 20*time.Millisecond {
		t.Fatalf("query through delayed proxy took %v, want >= 20ms", d)
	}
	p.SetDelay(0)

	p.Cut()
	qctx, cancel := context.WithTimeout(ctx, 3*time.Second)
	_, err := db.ExecContext(qctx, "DO 1")
	cancel()
	if err == nil {
		t.Fatal("query succeeded through a cut proxy")
	}
	p.Restore()
	if _, err := db.ExecContext(ctx, "DO 1"); err != nil {
		t.Fatalf("after Restore: %v", err)
	}
}
