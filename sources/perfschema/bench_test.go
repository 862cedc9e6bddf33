package perfschema

import (
	"context"
	"database/sql"
	"fmt"
	"strconv"
	"testing"

	"github.com/das-project/das/internal/mariadbtest"
)

// BenchmarkAdvance: the agent's CPU for one poll of a full 10 000-row digest
// table (MySQL 8.0's default size) in which a tenth of the rows moved.
func BenchmarkAdvance(b *testing.B) {
	const n = 10_000
	t0 := 1_700_000_000 * sec
	rows := make([]snapRow, n)
	for i := range rows {
		rows[i] = row(fmt.Sprintf("db%d", i%10), fmt.Sprintf("%032x", i), t0-3600*sec, cnt(uint64(1000+i), 5000, 100))
	}
	var tr tracker
	s := snapshot{nowUs: t0, uptimeS: 10_000, rows: rows, seenResS: sec}
	r := tr.advance(&s)
	tr.commit(&r, s.uptimeS)
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		s.nowUs += 60 * sec
		s.uptimeS += 60
		for j := i % 10; j < n; j += 10 {
			rows[j].c.count += 3
			rows[j].c.latencyUs += 300
		}
		r := tr.advance(&s)
		if len(r.deltas) != n/10 {
			b.Fatalf("%d deltas", len(r.deltas))
		}
		tr.commit(&r, s.uptimeS)
	}
	b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "rows/s")
}

// BenchmarkPoll: one Poll against a real MariaDB whose digest table holds
// 2 000 digests, every one of which ran once more since the previous poll
// (the worst case: every row has a delta; the texts are already cached).
// bytes/poll is what the server sent for it (Bytes_sent), the network cost
// on the database host.
func BenchmarkPoll(b *testing.B) {
	const n = 2000
	srv := mariadbtest.StartPerfSchema(b, "--performance-schema-digests-size=4000")
	db, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	db.SetMaxOpenConns(1)
	ctx := context.Background()
	workload := func() {
		for i := 0; i < n; i++ {
			if _, err := db.ExecContext(ctx, fmt.Sprintf("SELECT %d AS c%d", i, i)); err != nil {
				b.Fatal(err)
			}
		}
	}
	bytesSent := func() int64 {
		var name, v string
		if err := db.QueryRowContext(ctx, "SHOW GLOBAL STATUS LIKE 'Bytes_sent'").Scan(&name, &v); err != nil {
			b.Fatal(err)
		}
		n, _ := strconv.ParseInt(v, 10, 64)
		return n
	}
	p, err := Open(ctx, srv.DSN(""), Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer p.Close()
	workload()
	if _, err := p.Poll(ctx); err != nil {
		b.Fatal(err)
	}
	workload()
	if _, err := p.Poll(ctx); err != nil { // reads the texts once
		b.Fatal(err)
	}
	var bytes int64
	b.ResetTimer()
	for i := 0; i < b.N; i++ {
		b.StopTimer()
		workload()
		before := bytesSent()
		b.StartTimer()
		out, err := p.Poll(ctx)
		if err != nil {
			b.Fatal(err)
		}
		b.StopTimer()
		bytes += bytesSent() - before
		if len(out) < n {
			b.Fatalf("%d deltas, want at least %d", len(out), n)
		}
		b.StartTimer()
	}
	b.ReportMetric(float64(bytes)/float64(b.N), "bytes/poll")
	b.ReportMetric(float64(p.Stats().RowsRead)/float64(p.Stats().Polls), "rows/poll")
}
