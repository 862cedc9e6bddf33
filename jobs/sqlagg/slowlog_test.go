package sqlagg

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sinks/parquet"
)

// slowEntry writes one MySQL 8.0 slow log entry at epoch second ts.
func slowEntry(ts int64, db, sql string, latUs int64, errno int) string {
	var b strings.Builder
	fmt.Fprintf(&b, "# Time: %s\n", time.Unix(ts, 0).UTC().Format("2006-01-02T15:04:05.000000Z"))
	b.WriteString("# User@Host: app[app] @  [10.0.0.7]  Id:    11\n")
	fmt.Fprintf(&b, "# Query_time: %d.%06d  Lock_time: 0.000002 Rows_sent: 1  Rows_examined: 10 Thread_id: 11 Errno: %d Killed: 0\n", latUs/1e6, latUs%1e6, errno)
	if db != "" {
		fmt.Fprintf(&b, "use %s;\n", db)
	}
	fmt.Fprintf(&b, "SET timestamp=%d;\n%s;\n", ts, sql)
	return b.String()
}

const slowHeader = "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\nTime                 Id Command    Argument\n"

// slowWorkload is a slow log where every kind of entry occurs: point
// selects over three minutes, an invalid statement, a comment-only one, a
// 100 KB IN list, a multi-line statement, an administrator command, an
// error, a server restart, and one malformed entry (no time: dead letter).
func slowWorkload(t0 int64) (log string, statements int, malformed int) {
	var b strings.Builder
	b.WriteString(slowHeader)
	n := 0
	add := func(ts int64, db, sql string, lat int64, errno int) {
		b.WriteString(slowEntry(ts, db, sql, lat, errno))
		n++
	}
	for i := range 300 {
		db := ""
		if i == 0 {
			db = "shop"
		}
		add(t0+int64(i*180/300), db, fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", i), int64(100+i), 0)
	}
	var in strings.Builder
	in.WriteString("SELECT * FROM orders WHERE id IN (")
	for i := range 16000 {
		if i > 0 {
			in.WriteString(", ")
		}
		fmt.Fprintf(&in, "%d", 100000+i)
	}
	in.WriteString(")")
	if in.Len() < 100_000 {
		panic("IN list too short")
	}
	add(t0+181, "", "SELEC garbage ((( 'unterminated", 50, 1064)
	add(t0+181, "", "/* only a comment */", 10, 1065)
	add(t0+182, "", in.String(), 90000, 0)
	add(t0+182, "", "SELECT id,\n       status\n  FROM orders\n WHERE id = 42", 300, 0)
	add(t0+183, "", "INSERT INTO customers (id) VALUES (1)", 200, 1062)
	add(t0+183, "", "# administrator command: Quit", 5, 0)
	b.WriteString(slowHeader) // the server restarted
	add(t0+184, "crm", "SELECT c FROM sbtest1 WHERE id=7", 120, 0)
	// Malformed: neither SET timestamp nor # Time.
	b.WriteString("# User@Host: app[app] @  [10.0.0.7]  Id:    11\n# Query_time: 0.000100  Lock_time: 0.000000 Rows_sent: 0  Rows_examined: 0\nselect 'no time';\n")
	add(t0+185, "", "SELECT c FROM sbtest1 WHERE id=8", 130, 0)
	return b.String(), n, 1
}

// TestSlowlogInputEndToEnd runs the job over a slow log: every entry is
// exactly one counted statement (whatever its text) or one dead-letter line,
// with the right template, database, instance and error count.
func TestSlowlogInputEndToEnd(t *testing.T) {
	log, statements, malformed := slowWorkload(t0 / 1000)
	dir := t.TempDir()
	in := filepath.Join(dir, "db7-slow.log")
	if err := os.WriteFile(in, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := Config{Input: "slowlog:" + in, Instance: "10.0.0.9:3306", StateDir: filepath.Join(dir, "state"),
		ParquetDir: filepath.Join(dir, "pq"), Now: func() time.Time { return time.UnixMilli(t0 + 86400_000) }}
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != int64(statements+malformed) {
		t.Fatalf("records %d, want %d entries", sum.Records, statements+malformed)
	}
	if sum.DeadLetteredTotal() != int64(malformed) || sum.DeadLettered["missing:ts_ms"] != 1 {
		t.Fatalf("dead lettered %v, want 1 missing:ts_ms", sum.DeadLettered)
	}
	dl := readDeadLetter(t, sum.DeadLetter)
	if len(dl) != 1 || !strings.Contains(dl[0]["raw"].(string), "select 'no time'") {
		t.Fatalf("dead letter %v", dl)
	}
	rows, err := parquet.ReadLatest(cfg.ParquetDir)
	if err != nil {
		t.Fatal(err)
	}
	var total, errs int64
	byTemplate := map[string]int64{}
	dbs := map[string]int64{}
	for _, r := range rows {
		total += r.Count
		errs += r.Errors
		byTemplate[r.Template] += r.Count
		dbs[r.DB] += r.Count
		if r.Instance != "10.0.0.9:3306" {
			t.Errorf("row instance %q", r.Instance)
		}
	}
	if total != int64(statements) {
		t.Fatalf("counted %d statements, want %d (rows %d)", total, statements, len(rows))
	}
	if errs != 3 {
		t.Errorf("errors %d, want 3 (1064, 1065, 1062)", errs)
	}
	fp := fingerprint.New()
	tmpl := func(sql string) string { _, b := fp.Fingerprint([]byte(sql)); return string(b) }
	for sql, want := range map[string]int64{
		"SELECT c FROM sbtest1 WHERE id=1":           302,
		"select * from orders where id in (1)":       1,
		"/* only a comment */":                       1,
		"SELEC garbage ((( 'unterminated":            1,
		"administrator command: Quit":                1,
		"select id, status from orders where id = 1": 1,
	} {
		if got := byTemplate[tmpl(sql)]; got != want {
			t.Errorf("template %q counted %d, want %d (all: %v)", tmpl(sql), got, want, byTemplate)
		}
	}
	// MySQL names the database only when it changes: the first entry's
	// "use shop" holds until the restart, "use crm" after it.
	if dbs["shop"] != int64(statements-2) || dbs["crm"] != 2 || len(dbs) != 2 {
		t.Errorf("statements per db %v", dbs)
	}
}

// TestSlowlogInputResume: a run stopped in the middle of a log and run
// again on the same state resumes at the stored byte offset and counts
// every statement once; the instance defaults to the host name in the file
// name and the port in the log's header.
func TestSlowlogInputResume(t *testing.T) {
	log, statements, malformed := slowWorkload(t0 / 1000)
	dir := t.TempDir()
	in := filepath.Join(dir, "db7.example.com-slow.log")
	if err := os.WriteFile(in, []byte(log), 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	calls := 0
	cfg := Config{Input: "slowlog:" + in, StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"),
		CheckpointEveryRecords: 7, BatchSize: 5, Now: func() time.Time {
			if calls++; calls == 40 {
				cancel() // stop in the middle of the log
			}
			return time.UnixMilli(t0 + 86400_000)
		}}
	first, err := Run(ctx, cfg)
	if err != nil && ctx.Err() == nil {
		t.Fatal(err)
	}
	if first.Records == 0 || first.Records >= int64(statements+malformed) {
		t.Fatalf("the first run read %d of %d entries: not stopped in the middle", first.Records, statements+malformed)
	}
	cfg.Now = func() time.Time { return time.UnixMilli(t0 + 86400_000) }
	sum, err := Run(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if sum.Records != int64(statements+malformed) {
		t.Fatalf("records %d then %d, want %d in all", first.Records, sum.Records, statements+malformed)
	}
	rows, err := parquet.ReadLatest(cfg.ParquetDir)
	if err != nil {
		t.Fatal(err)
	}
	var total int64
	for _, r := range rows {
		total += r.Count
		if r.Instance != "db7.example.com:3306" {
			t.Fatalf("instance %q, want the file's host name and the header's port", r.Instance)
		}
	}
	if total != int64(statements) || sum.DeadLetteredTotal() != int64(malformed) {
		t.Fatalf("counted %d + dead-lettered %d (%v), want %d + %d", total, sum.DeadLetteredTotal(), sum.DeadLettered, statements, malformed)
	}
}

func TestSlowlogInputMissingFile(t *testing.T) {
	dir := t.TempDir()
	_, err := Run(context.Background(), Config{Input: "slowlog:" + filepath.Join(dir, "nope.log"), StateDir: filepath.Join(dir, "s"), ParquetDir: filepath.Join(dir, "p")})
	if err == nil || !strings.Contains(err.Error(), "slowlog:") || !strings.Contains(err.Error(), "no such file") {
		t.Fatalf("missing log: %v", err)
	}
}
