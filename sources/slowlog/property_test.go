package slowlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// genEntry is what the random log generator meant one entry to be.
type genEntry struct {
	off    int64
	sql    string // "" with reject set: a malformed entry
	db     string
	user   string
	tsMs   int64
	latUs  int64
	reject string // expected reject reason, "" for an event
	cut    bool   // longer than the max entry: its statement is cut
}

// genLog writes a random slow log mixing the flavours' formats, odd
// statements, restarts, garbage and CRLF, and returns what each entry must
// become. Statements never contain a "# Time:" or "# User@Host:" line after
// a line ending with ";" (the one ambiguity of the format, see
// testdata/parse/odd).
func genLog(r *rand.Rand, n, maxEntry int) ([]byte, []genEntry) {
	var b bytes.Buffer
	var want []genEntry
	ts := int64(1704164645)
	db := "" // what the server last wrote in a use line
	crlf := r.IntN(8) == 0
	nl := "\n"
	if crlf {
		nl = "\r\n"
	}
	header := func(mariadb bool) {
		if mariadb {
			b.WriteString("/usr/sbin/mariadbd, Version: 10.11.6-MariaDB-0+deb12u1-log (Debian 12). started with:\nTcp port: 3306  Unix socket: /run/mysqld/mysqld.sock\nTime\t\t    Id Command\tArgument\n")
		} else {
			b.WriteString("/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\nTime                 Id Command    Argument\n")
		}
		db = ""
	}
	mariadb := r.IntN(2) == 0
	if r.IntN(2) == 0 {
		header(mariadb)
	}
	for range n {
		switch r.IntN(40) {
		case 0:
			header(mariadb)
			if r.IntN(2) == 0 {
				// Text outside an entry can only be told apart right after a
				// header: after an entry it would continue the statement.
				want = append(want, genEntry{off: int64(b.Len()), reject: sources.ReasonMalformed})
				fmt.Fprintf(&b, "garbage %d%s", r.IntN(100), nl)
				if r.IntN(2) == 0 {
					b.WriteString("more garbage;" + nl + nl)
				}
			}
		case 1:
			b.WriteString(nl) // blank lines end no statement and change none
		}
		ts += int64(r.IntN(3))
		e := genEntry{off: int64(b.Len()), tsMs: ts * 1000, latUs: int64(r.IntN(5_000_000)), user: fmt.Sprintf("u%d", r.IntN(3))}
		if r.IntN(3) == 0 {
			fmt.Fprintf(&b, "# Time: %s%s", time.Unix(ts, 0).UTC().Format("2006-01-02T15:04:05.000000Z"), nl)
		}
		fmt.Fprintf(&b, "# User@Host: %s[%s] @  [10.0.0.%d]%s", e.user, e.user, r.IntN(9), nl)
		newDB := []string{"", "shop", "crm", "odd db"}[r.IntN(4)]
		if mariadb {
			fmt.Fprintf(&b, "# Thread_id: %d  Schema: %s  QC_hit: No%s", r.IntN(100), newDB, nl)
		}
		fmt.Fprintf(&b, "# Query_time: %d.%06d  Lock_time: 0.000010 Rows_sent: %d  Rows_examined: %d%s", e.latUs/1e6, e.latUs%1e6, r.IntN(10), r.IntN(100), nl)
		if newDB != "" && newDB != db {
			if strings.Contains(newDB, " ") || mariadb {
				fmt.Fprintf(&b, "use `%s`;%s", newDB, nl)
			} else {
				fmt.Fprintf(&b, "use %s;%s", newDB, nl)
			}
			db = newDB
		}
		if mariadb {
			e.db = newDB
		} else {
			e.db = db
		}
		fmt.Fprintf(&b, "SET timestamp=%d;%s", ts, nl)
		e.sql = genSQL(r, maxEntry)
		if crlf {
			e.sql = strings.ReplaceAll(e.sql, "\n", "\r\n")
		}
		text := e.sql + ";" + nl
		if strings.HasPrefix(e.sql, "administrator command: ") {
			text = "# " + text
		}
		b.WriteString(text)
		if int64(b.Len())-e.off > int64(maxEntry) {
			e.cut = true
		}
		want = append(want, e)
	}
	return b.Bytes(), want
}

// genSQL returns a statement: ordinary, multi-line, odd, or long.
func genSQL(r *rand.Rand, maxEntry int) string {
	switch r.IntN(14) {
	case 0:
		return "SELECT *\n  FROM orders\n WHERE id = " + fmt.Sprint(r.IntN(1000))
	case 1:
		return "select 'x;\n# a line in a string after a semicolon'"
	case 2:
		return "select 'a\n# Time: a line in a string, not after a semicolon'"
	case 3:
		return "/* only a comment */"
	case 4:
		return "administrator command: " + []string{"Quit", "Ping", "Prepare", "Close stmt"}[r.IntN(4)]
	case 5:
		var s strings.Builder
		s.WriteString("SELECT id FROM t WHERE id IN (")
		for i := range 10_000 + r.IntN(10_000) {
			if i > 0 {
				s.WriteString(", ")
			}
			fmt.Fprint(&s, r.IntN(1_000_000))
		}
		s.WriteString(")")
		return s.String()
	case 6:
		if r.IntN(4) == 0 {
			return "SELECT '" + strings.Repeat("y", maxEntry+r.IntN(3*maxEntry)) + "'"
		}
		return "INSERT INTO blobs VALUES ('" + strings.Repeat("z\n", r.IntN(maxEntry)) + "')"
	case 7:
		return "SELEC garbage ((( 'unterminated"
	case 8:
		return ""
	case 9:
		return "select 1;"
	case 10:
		return "SET timestamp=5"
	default:
		return fmt.Sprintf("SELECT c FROM sbtest%d WHERE id=%d", r.IntN(4), r.IntN(100000))
	}
}

// chunkReader returns at most a random number of bytes per Read.
type chunkReader struct {
	r   *rand.Rand
	b   []byte
	max int
}

func (c *chunkReader) Read(p []byte) (int, error) {
	if len(c.b) == 0 {
		return 0, io.EOF
	}
	n := min(len(p), len(c.b), 1+c.r.IntN(c.max))
	copy(p, c.b[:n])
	c.b = c.b[n:]
	return n, nil
}

// parseReader drives the splitter and the parser over r, without a file.
func parseReader(t testing.TB, r io.Reader, readSize, maxEntry int) []record {
	t.Helper()
	sp := newSplitter(r, 0, readSize, maxEntry)
	p := parser{loc: time.UTC, instance: "db1:3306"}
	var b stream.Batch[sources.Event]
	var out []record
	for {
		resetBatch(&b)
		it, err := sp.next(true)
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.kind == itemHeader {
			p.db = ""
			continue
		}
		appendEntry(&b, nil, &p, it)
		b.NextOffset = sp.offset()
		out = appendBatch(t, out, &b)
	}
}

// TestGeneratedLogs checks, over random logs, that every entry becomes
// exactly the event (or reject) it was written as, that the result does not
// depend on how the input is cut into reads (any byte offset), and that
// resuming at any batch's NextOffset gives exactly the rest.
func TestGeneratedLogs(t *testing.T) {
	const maxEntry = 64 << 10
	seeds := 8
	if testing.Short() {
		seeds = 4
	}
	for seed := range seeds {
		r := rand.New(rand.NewPCG(uint64(seed), 7))
		data, want := genLog(r, 100+r.IntN(150), maxEntry)
		path := writeFile(t, fmt.Sprintf("gen%d-slow.log", seed), string(data))
		opts := testOpts()
		opts.MaxEntryBytes = maxEntry
		opts.ReadSize = 1 + r.IntN(8192)
		opts.BatchSize = 1 + r.IntN(20)
		got, offs := readAll(t, path, opts, 0)
		if len(got) != len(want) {
			t.Fatalf("seed %d: %d records for %d entries:\n%s", seed, len(got), len(want), render(got))
		}
		for i, w := range want {
			g := got[i]
			if g.off != w.off {
				t.Fatalf("seed %d: record %d at %d, want %d", seed, i, g.off, w.off)
			}
			if w.reject != "" {
				if g.reason != w.reject {
					t.Fatalf("seed %d: record %d: %v, want reject %s", seed, i, g, w.reject)
				}
				continue
			}
			if g.reason != "" {
				t.Fatalf("seed %d: record %d rejected: %v (raw %.200q)", seed, i, g, g.raw)
			}
			sql := string(g.ev.SQL)
			if w.cut {
				if !strings.HasPrefix(w.sql, sql) || len(sql) == 0 {
					t.Fatalf("seed %d: record %d: cut statement %.80q is not a prefix of %.80q", seed, i, sql, w.sql)
				}
			} else if sql != w.sql {
				t.Fatalf("seed %d: record %d: sql %.300q, want %.300q", seed, i, sql, w.sql)
			}
			if g.ev.DB != w.db || g.ev.User != w.user || g.ev.TsMs != w.tsMs || g.ev.LatencyUs != w.latUs || g.ev.Instance != "db1:3306" {
				t.Fatalf("seed %d: record %d: %v, want db %q user %q ts %d lat %d", seed, i, g, w.db, w.user, w.tsMs, w.latUs)
			}
		}

		// Any cut of the input into reads gives the same records.
		for _, maxRead := range []int{1 + r.IntN(7), 1 + r.IntN(300), 1 + r.IntN(100_000)} {
			in := data
			if maxRead < 8 {
				in = data[:min(len(data), 256<<10)] // a prefix is enough for tiny reads
			}
			chunked := parseReader(t, &chunkReader{r: r, b: in, max: maxRead}, 1+r.IntN(4096), maxEntry)
			whole := parseReader(t, bytes.NewReader(in), 1<<20, maxEntry)
			if i, ok := sameRecords(chunked, whole); !ok {
				t.Fatalf("seed %d: reads of at most %d bytes give other records from record %d:\n%s", seed, maxRead, i, firstDiff(render(chunked[i:]), render(whole[i:])))
			}
			if len(in) == len(data) {
				if i, ok := sameRecords(whole, got); !ok {
					t.Fatalf("seed %d: reader and file differ at record %d", seed, i)
				}
			}
		}

		// Resuming at a batch's NextOffset gives exactly the rest.
		for range 5 {
			k := r.IntN(len(offs))
			rest, _ := readAll(t, path, opts, offs[k])
			n := 0
			for n < len(got) && got[n].off < offs[k] {
				n++
			}
			if i, ok := sameRecords(rest, got[n:]); !ok {
				t.Fatalf("seed %d: resuming at %d:\n%s", seed, offs[k], firstDiff(render(rest[i:]), render(got[n+i:])))
			}
		}
	}
}

// sameRecords compares two record lists and returns the first index where
// they differ.
func sameRecords(a, b []record) (int, bool) {
	for i := range min(len(a), len(b)) {
		x, y := a[i], b[i]
		if x.off != y.off || x.reason != y.reason || x.detail != y.detail || x.raw != y.raw ||
			!bytes.Equal(x.ev.SQL, y.ev.SQL) || x.ev.DB != y.ev.DB || x.ev.User != y.ev.User || x.ev.TsMs != y.ev.TsMs ||
			x.ev.LatencyUs != y.ev.LatencyUs || x.ev.LockUs != y.ev.LockUs || x.ev.RowsSent != y.ev.RowsSent ||
			x.ev.RowsExamined != y.ev.RowsExamined || x.ev.RowsAffected != y.ev.RowsAffected || x.ev.ErrCode != y.ev.ErrCode ||
			x.ev.Instance != y.ev.Instance {
			return i, false
		}
	}
	return min(len(a), len(b)), len(a) == len(b)
}

// firstDiff shows the first differing line of two renderings.
func firstDiff(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range max(len(al), len(bl)) {
		var x, y string
		if i < len(al) {
			x = al[i]
		}
		if i < len(bl) {
			y = bl[i]
		}
		if x != y {
			return fmt.Sprintf("line %d:\n got %.400s\nwant %.400s", i, x, y)
		}
	}
	return "(equal)"
}
