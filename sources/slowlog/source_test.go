package slowlog

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestResumeAtEveryEntry resumes each sample log at every entry boundary
// (batches of one) and checks the rest is exactly what a full read gives:
// the database carried by "use" lines included.
func TestResumeAtEveryEntry(t *testing.T) {
	files, err := filepath.Glob("testdata/*-slow.log")
	if err != nil || len(files) < 5 {
		t.Fatalf("samples: %v %v", files, err)
	}
	for _, f := range files {
		opts := testOpts()
		opts.BatchSize = 1
		all, offs := readAll(t, f, opts, 0)
		if len(all) == 0 {
			t.Fatalf("%s: no records", f)
		}
		for _, off := range append([]int64{0}, offs...) {
			rest, _ := readAll(t, f, opts, off)
			n := 0
			for n < len(all) && all[n].off < off {
				n++
			}
			if i, ok := sameRecords(rest, all[n:]); !ok {
				t.Fatalf("%s: resuming at %d differs at record %d:\n%s", f, off, i, firstDiff(render(rest[i:]), render(all[n+i:])))
			}
		}
	}
}

func TestBadResumeOffset(t *testing.T) {
	p := writeFile(t, "x-slow.log", "# Time: 2024-01-02T03:04:05Z\n# Query_time: 1\nselect 1;\n")
	src, err := Open(p, testOpts())
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	for _, off := range []int64{-1, 1000} {
		if err := src.Open(context.Background(), map[int32]int64{0: off}); !errors.Is(err, ErrBadOffset) {
			t.Errorf("Open at %d: %v, want ErrBadOffset", off, err)
		}
	}
	if _, err := src.Next(context.Background()); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Next before a good Open: %v", err)
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), testOpts()); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("Open of a missing file: %v", err)
	}
	for _, o := range []Options{{BatchSize: -1}, {MaxEntryBytes: 100}, {ReadSize: -5}} {
		if _, err := Open(p, o); err == nil || !strings.Contains(err.Error(), "want") {
			t.Errorf("Open(%+v): %v, want a range error", o, err)
		}
	}
}

// TestLongStatements: a 100 KB IN list is one event with its whole text; a
// statement longer than MaxEntryBytes is one event with its text cut, read
// with a bounded window (the reads never grow past the limit plus a read),
// and the entries after it are intact.
func TestLongStatements(t *testing.T) {
	var in strings.Builder
	in.WriteString("SELECT * FROM t WHERE id IN (")
	for i := range 20000 {
		if i > 0 {
			in.WriteString(",")
		}
		in.WriteString("12345")
	}
	in.WriteString(")")
	huge := "SELECT '" + strings.Repeat("x", 3<<20) + "'"
	manyLines := "INSERT INTO t VALUES ('" + strings.Repeat("line\n", 300_000) + "')"
	entry := func(ts int, sql string) string {
		return "# Time: 2024-01-02T03:04:05Z\n# User@Host: a[a] @ h []\n# Query_time: 0.5  Lock_time: 0 Rows_sent: 0  Rows_examined: 0\nSET timestamp=" +
			strconv.Itoa(1704164645+ts) + ";\n" + sql + ";\n"
	}
	log := entry(0, in.String()) + entry(1, huge) + entry(2, "select 'after huge'") + entry(3, manyLines) + entry(4, "select 'last'")
	p := writeFile(t, "long-slow.log", log)
	opts := testOpts()
	opts.MaxEntryBytes = 1 << 20
	opts.ReadSize = 64 << 10
	src, err := Open(p, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	recs, _ := readAll(t, p, opts, 0)
	if len(recs) != 5 {
		t.Fatalf("%d records, want 5:\n%.2000s", len(recs), render(recs))
	}
	for i, r := range recs {
		if r.reason != "" {
			t.Fatalf("record %d rejected: %v", i, r)
		}
	}
	if string(recs[0].ev.SQL) != in.String() {
		t.Errorf("the 100 KB IN list is not whole: %d bytes", len(recs[0].ev.SQL))
	}
	if s := string(recs[1].ev.SQL); !strings.HasPrefix(huge, s) || len(s) < 1<<20-200 || len(s) > 1<<20 {
		t.Errorf("cut statement: %d bytes, want a prefix of about 1 MiB", len(s))
	}
	if string(recs[2].ev.SQL) != "select 'after huge'" || string(recs[4].ev.SQL) != "select 'last'" {
		t.Errorf("entries after the long ones: %v / %v", recs[2], recs[4])
	}
	if s := string(recs[3].ev.SQL); !strings.HasPrefix(manyLines, s) || len(s) < 1<<20-200 {
		t.Errorf("cut multi-line statement: %d bytes", len(s))
	}
	// The window stays bounded by the limit plus a read or two.
	ctx := context.Background()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	for {
		if _, err := src.Next(ctx); err != nil {
			break
		}
		if c := cap(src.sp.buf); c > 4*opts.MaxEntryBytes {
			t.Fatalf("window grew to %d bytes", c)
		}
	}
}

func TestDefaultInstance(t *testing.T) {
	mysqlHeader := "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTcp port: 3307  Unix socket: /var/run/mysqld/mysqld.sock\nTime                 Id Command    Argument\n"
	host := func() (string, error) { return "thishost", nil }
	for _, c := range []struct {
		name, data string
		want       string
	}{
		{"db7-slow.log", mysqlHeader, "db7:3307"},
		{"db7.example.com-slow.log.1", "# Time: x\n", "db7.example.com:3306"},
		{"db-a-slow.log-20240102", "", "db-a:3306"},
		{"slow.log", mysqlHeader, "thishost:3307"},
		{"mysql-slow.log", "mariadbd, Version: 10.11.6-MariaDB-log (Debian 12). started with:\nTcp port: 0  Unix socket: /run/mysqld/mysqld.sock\n", "mysql:3306"},
		{"10.0.0.5-slow.log", "C:\\mysqld.exe, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTCP Port: 3310, Named Pipe: MySQL\n", "10.0.0.5:3310"},
	} {
		p := writeFile(t, c.name, c.data)
		f, err := os.Open(p)
		if err != nil {
			t.Fatal(err)
		}
		got, err := DefaultInstance(p, f, host)
		f.Close()
		if err != nil || got != c.want {
			t.Errorf("%s: %q, %v; want %q", c.name, got, err, c.want)
		}
	}
	p := writeFile(t, "slow.log", "")
	f, _ := os.Open(p)
	defer f.Close()
	if _, err := DefaultInstance(p, f, noHostname); err == nil {
		t.Error("no host name anywhere: want an error")
	}
	// Open uses it when no instance is given.
	p = writeFile(t, "db9-slow.log", mysqlHeader+"# Time: 2024-01-02T03:04:05Z\n# Query_time: 1\nSET timestamp=1704164645;\nselect 1;\n")
	recs, _ := readAll(t, p, Options{Hostname: noHostname}, 0)
	if len(recs) != 1 || recs[0].ev.Instance != "db9:3307" {
		t.Errorf("events name %v, want db9:3307", recs)
	}
}
