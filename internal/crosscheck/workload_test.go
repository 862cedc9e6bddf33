package crosscheck

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/internal/mariadbtest"
	"github.com/go-sql-driver/mysql"
)

// oddStatement is a hand-written statement of the workload: the kinds that
// break naive parsers.
type oddStatement struct {
	sql  string
	args []any  // run as a server-side prepared statement with these
	err  uint16 // the error the server answers with (0: none)
}

// oddStatements: errors, a 100 KB IN list, comments of every kind, a
// comment-only statement, multi-line text, quotes and semicolons and log
// syntax inside strings, bytes that are not UTF-8, prepared statements
// (binary protocol and SQL PREPARE), a change of database, and pairs that
// pt-query-digest and das group differently (LIMIT forms, ORDER BY … ASC).
func oddStatements() []oddStatement {
	var in strings.Builder
	in.WriteString("SELECT id FROM sbtest1 WHERE id IN (")
	for i := range 20000 {
		if i > 0 {
			in.WriteString(", ")
		}
		in.WriteString(strconv.Itoa(1 + i*7))
	}
	in.WriteString(")")
	return []oddStatement{
		{sql: "SELECT nope FROM sbtest1", err: 1054},
		{sql: "INSERT INTO sbtest1 (id, k, c, pad) VALUES (1, 1, 'x', 'y')", err: 1062},
		{sql: "SELEC garbage ((( 'unterminated", err: 1064},
		{sql: "SELECT * FROM no_such_table", err: 1146},
		{sql: in.String()},
		{sql: "/* leading comment */ SELECT id FROM sbtest1 WHERE id = 3"},
		{sql: "SELECT id FROM sbtest1 WHERE id = 4 -- trailing comment"},
		{sql: "SELECT /*+ NO_RANGE_OPTIMIZATION(sbtest1) */ id FROM sbtest1 WHERE id = 5"},
		{sql: "# a hash comment line\nSELECT id FROM sbtest1 WHERE id = 6"},
		{sql: "/* only a comment */"},
		{sql: "SELECT id,\n       k\n  FROM sbtest1\n WHERE id BETWEEN 10 AND 20\n ORDER BY k"},
		{sql: `SELECT 'it''s', "double \"quoted\"", 'semi;colon', 'back\\slash'`},
		{sql: "SELECT 'a\n# Time: 240102  3:04:05\n# User@Host: not a header', 2"},
		{sql: "SELECT 'caf\xe9', 3"},
		{sql: "SELECT c FROM sbtest1 WHERE id = ?", args: []any{7}},
		{sql: "SELECT c FROM sbtest1 WHERE id = ?", args: []any{8}},
		{sql: "SELECT id FROM sbtest1 WHERE c = ?", args: []any{"it's; # ok"}},
		{sql: "PREPARE s1 FROM 'SELECT k FROM sbtest1 WHERE id = ?'"},
		{sql: "SET @a = 9"},
		{sql: "EXECUTE s1 USING @a"},
		{sql: "DEALLOCATE PREPARE s1"},
		{sql: "CREATE DATABASE IF NOT EXISTS crosscheck_other"},
		{sql: "USE crosscheck_other"},
		{sql: "SELECT 1"},
		{sql: "USE sbtest"},
		{sql: "SELECT id FROM sbtest1 ORDER BY id LIMIT 5"},
		{sql: "SELECT id FROM sbtest1 ORDER BY id LIMIT 5, 10"},
		{sql: "SELECT id FROM sbtest1 ORDER BY id ASC LIMIT 1"},
		{sql: "SELECT id FROM sbtest1 WHERE pad IS NULL"},
		{sql: "INSERT INTO sbtest1 (id, k, c, pad) VALUES (2000001, 1, 'a', 'b'), (2000002, 2, 'c', 'd')"},
		{sql: "INSERT INTO sbtest1 (id, k, c, pad) VALUES (2000003, 3, 'e', 'f')"},
		{sql: "SELECT 1;"},
	}
}

// workload is one run of the traffic against a private server.
type workload struct {
	srv     *mariadbtest.Server
	port    int
	slowLog string // the server's slow log, complete when runWorkload returns
	odd     []oddStatement
	errs    map[uint16]int // errors the odd statements got, by code
}

// observer is started before the workload and stopped after it: a packet
// capture of the server's port sees the same traffic as the slow log.
type observer func(ctx context.Context, port int) (stop func() error, err error)

// workloadOptions shape a run.
type workloadOptions struct {
	// Events is the number of sysbench oltp_read_write transactions
	// (about 20 statements each). Default 200.
	Events int
	// Observers see the whole run.
	Observers []observer
}

// runWorkload starts a private MariaDB with its slow log on, prepares
// sysbench's table (1 table of 1000 rows), runs oltp_read_write and then
// the odd statements, and waits until the slow log has everything.
func runWorkload(t *testing.T, o workloadOptions) *workload {
	t.Helper()
	if o.Events == 0 {
		o.Events = 200
	}
	sysbench := requireTool(t, "sysbench", "sysbench")
	srv, slowLog := mariadbtest.StartSlowLog(t)
	_, portStr, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(portStr)
	w := &workload{srv: srv, port: port, slowLog: slowLog, odd: oddStatements(), errs: map[uint16]int{}}

	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	for _, obs := range o.Observers {
		stop, err := obs(ctx, port)
		if err != nil {
			t.Fatalf("observer: %v", err)
		}
		defer func() {
			if err := stop(); err != nil {
				t.Errorf("observer: %v", err)
			}
		}()
	}

	db, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE sbtest"); err != nil {
		t.Fatal(err)
	}
	host, _, _ := net.SplitHostPort(srv.Addr)
	common := []string{"oltp_read_write", "--db-driver=mysql", "--mysql-host=" + host, "--mysql-port=" + portStr,
		"--mysql-user=root", "--mysql-password=", "--mysql-db=sbtest", "--tables=1", "--table-size=1000"}
	for _, args := range [][]string{
		append(common, "prepare"),
		append(common, "--threads=2", "--events="+strconv.Itoa(o.Events), "--time=0", "--rand-seed=1", "run"),
	} {
		cmd := exec.CommandContext(ctx, sysbench, args...)
		if out, err := cmd.CombinedOutput(); err != nil {
			t.Fatalf("sysbench %s: %v\n%s", args[len(args)-1], err, tail(out))
		}
	}

	// The odd statements, on one connection (USE must stick).
	sdb, err := sql.Open("mysql", srv.DSN("sbtest"))
	if err != nil {
		t.Fatal(err)
	}
	defer sdb.Close()
	conn, err := sdb.Conn(ctx)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	for _, s := range w.odd {
		var err error
		if s.args != nil {
			var st *sql.Stmt
			if st, err = conn.PrepareContext(ctx, s.sql); err == nil {
				var rows *sql.Rows
				if rows, err = st.QueryContext(ctx, s.args...); err == nil {
					err = drain(rows)
				}
				st.Close()
			}
		} else {
			var rows *sql.Rows
			if rows, err = conn.QueryContext(ctx, s.sql); err == nil {
				err = drain(rows)
			}
		}
		var me *mysql.MySQLError
		switch {
		case err == nil && s.err == 0:
		case errors.As(err, &me) && me.Number == s.err:
			w.errs[me.Number]++
		default:
			t.Fatalf("%.80q: %v, want error %d", s.sql, err, s.err)
		}
	}
	conn.Close()
	waitQuiet(t, slowLog)
	return w
}

func drain(rows *sql.Rows) error {
	for rows.Next() {
	}
	if err := rows.Err(); err != nil {
		rows.Close()
		return err
	}
	return rows.Close()
}

// waitQuiet waits until the log has not grown for a while: the server
// writes an entry after answering the statement.
func waitQuiet(t testing.TB, path string) {
	t.Helper()
	last, since := int64(-1), time.Now()
	for deadline := time.Now().Add(20 * time.Second); time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		st, err := os.Stat(path)
		if err != nil {
			t.Fatal(err)
		}
		if st.Size() != last {
			last, since = st.Size(), time.Now()
		} else if time.Since(since) > 300*time.Millisecond {
			return
		}
	}
	t.Fatalf("%s kept growing", path)
}

// TestWorkloadLog is a smoke test of the shared part: the log holds the
// sysbench traffic and each odd statement.
func TestWorkloadLog(t *testing.T) {
	w := runWorkload(t, workloadOptions{Events: 10})
	b, err := os.ReadFile(w.slowLog)
	if err != nil {
		t.Fatal(err)
	}
	log := string(b)
	for _, want := range []string{"mariadbd, Version:", "Tcp port: " + strconv.Itoa(w.port), "SELECT c FROM sbtest1 WHERE id=",
		"SELEC garbage", "/* only a comment */", "# a hash comment line", "WHERE c = 'it\\'s; # ok'"} {
		if !strings.Contains(log, want) {
			t.Errorf("slow log has no %q", want)
		}
	}
	if fmt.Sprint(w.errs) != "map[1054:1 1062:1 1064:1 1146:1]" {
		t.Errorf("errors %v", w.errs)
	}
	if p := os.Getenv("CROSSCHECK_KEEP_LOG"); p != "" {
		if err := os.WriteFile(p, b, 0o644); err != nil {
			t.Fatal(err)
		}
	}
}
