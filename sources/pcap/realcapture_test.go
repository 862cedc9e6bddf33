package pcap

import (
	"bufio"
	"context"
	"database/sql"
	"errors"
	"io"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/das-project/das/internal/mariadbtest"
)

// tcpdumpPath finds tcpdump, installing Debian's package when running as
// root; otherwise the test fails with what to do.
func tcpdumpPath(t *testing.T) string {
	t.Helper()
	if p, err := exec.LookPath("tcpdump"); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatal("tcpdump is not installed and this test is not root: install it (apt-get install tcpdump) to run the real-capture test")
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "apt-get", "install", "-y", "--no-install-recommends", "tcpdump")
	cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("installing tcpdump: %v\n%s", err, out)
	}
	p, err := exec.LookPath("tcpdump")
	if err != nil {
		t.Fatal("tcpdump still not found after apt-get install")
	}
	return p
}

// startTcpdump captures port on the loopback interface into path until the
// returned stop function is called.
// stop returns how many packets the kernel dropped.
func startTcpdump(t *testing.T, port int, path string) (stop func() (dropped int)) {
	t.Helper()
	bin := tcpdumpPath(t)
	// --immediate-mode: without it packets wait in a kernel ring block
	// (up to 1s) and those still there at SIGINT are never written.
	// -B: a large kernel buffer, so a loaded machine does not drop.
	args := []string{"-i", "lo", "-n", "--immediate-mode", "-B", "131072", "-U", "-s", "0", "-w", path}
	if os.Geteuid() == 0 {
		args = append(args, "-Z", "root") // keep root: the test's temp dir is root's
	}
	cmd := exec.Command(bin, append(args, "tcp", "port", strconv.Itoa(port))...)
	stderr, err := cmd.StderrPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatalf("start tcpdump: %v", err)
	}
	ready := make(chan string, 1)
	var lines []string
	go func() {
		sc := bufio.NewScanner(stderr)
		for sc.Scan() {
			lines = append(lines, sc.Text())
			if strings.Contains(sc.Text(), "listening on") {
				ready <- ""
			}
		}
		close(ready)
	}()
	select {
	case _, ok := <-ready:
		if !ok {
			cmd.Wait()
			msg := strings.Join(lines, "\n")
			if strings.Contains(msg, "ermission") || strings.Contains(msg, "not permitted") {
				t.Fatalf("tcpdump may not capture on lo here (needs CAP_NET_RAW): %s", msg)
			}
			t.Fatalf("tcpdump exited: %s", msg)
		}
	case <-time.After(20 * time.Second):
		cmd.Process.Kill()
		cmd.Wait()
		t.Fatal("tcpdump did not start listening within 20s")
	}
	done := false
	stop = func() int {
		if done {
			return 0
		}
		done = true
		time.Sleep(200 * time.Millisecond) // let the last packets reach the capture
		cmd.Process.Signal(syscall.SIGINT)
		werr := make(chan error, 1)
		go func() { werr <- cmd.Wait() }()
		select {
		case <-werr:
		case <-time.After(10 * time.Second):
			cmd.Process.Kill()
			<-werr
		}
		t.Logf("tcpdump: %s", strings.Join(lines, "; "))
		for _, l := range lines {
			if n, ok := strings.CutSuffix(l, " packets dropped by kernel"); ok {
				d, _ := strconv.Atoi(n)
				return d
			}
		}
		return 0
	}
	t.Cleanup(func() { stop() })
	return stop
}

// expected is one statement the workload ran, as the capture must show it.
type expected struct {
	sql      string
	db       string
	rows     int64
	affected int64
	err      int32
	elapsed  time.Duration // measured by the client around the call
}

// TestRealCapture runs real statements through go-sql-driver against a
// private MariaDB while tcpdump captures the loopback, then checks that the
// capture source sees every statement with its schema, rows, affected rows,
// error code and a latency within what the client measured.
func TestRealCapture(t *testing.T) {
	if testing.Short() {
		t.Skip("starts MariaDB and tcpdump")
	}
	srv := mariadbtest.Start(t)
	_, portStr, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(portStr)
	dsn := mariadbtest.NewDatabase(t, srv)
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	dbName := cfg.DBName
	capPath := filepath.Join(t.TempDir(), "lo.pcap")
	stop := startTcpdump(t, port, capPath)

	ctx := context.Background()
	var want []expected
	open := func(mod func(*mysql.Config)) *sql.Conn {
		c := cfg.Clone()
		mod(c)
		db, err := sql.Open("mysql", c.FormatDSN())
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		conn, err := db.Conn(ctx)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { conn.Close() })
		return conn
	}
	// exec runs a statement and records what the capture must show; sql is
	// the text the server runs (with parameters substituted).
	exec := func(conn *sql.Conn, db, text string, args []any, wantSQL string, rows, affected int64, code int32) {
		t.Helper()
		start := time.Now()
		var err error
		var gotRows, gotAff int64
		if strings.HasPrefix(strings.ToUpper(strings.TrimSpace(text)), "SELECT") {
			var rs *sql.Rows
			rs, err = conn.QueryContext(ctx, text, args...)
			if err == nil {
				for rs.Next() {
					gotRows++
				}
				for rs.NextResultSet() {
					for rs.Next() {
						gotRows++
					}
				}
				err = rs.Err()
				rs.Close()
			}
		} else {
			var res sql.Result
			res, err = conn.ExecContext(ctx, text, args...)
			if err == nil {
				gotAff, _ = res.RowsAffected()
			}
		}
		elapsed := time.Since(start)
		var me *mysql.MySQLError
		switch {
		case code != 0 && (!errors.As(err, &me) || int32(me.Number) != code):
			t.Fatalf("%s: error %v, want code %d", text, err, code)
		case code == 0 && err != nil:
			t.Fatalf("%s: %v", text, err)
		case code == 0 && (gotRows != rows || gotAff != affected):
			t.Fatalf("%s: client saw rows %d affected %d, test expects %d %d", text, gotRows, gotAff, rows, affected)
		}
		if wantSQL == "" {
			wantSQL = text
		}
		want = append(want, expected{wantSQL, db, rows, affected, code, elapsed})
	}

	text := open(func(c *mysql.Config) { c.MultiStatements = true })
	exec(text, dbName, "CREATE TABLE items (id INT PRIMARY KEY, name VARCHAR(40), price DOUBLE, at DATETIME NULL)", nil, "", 0, 0, 0)
	exec(text, dbName, "INSERT INTO items VALUES (1,'a',1.5,NULL),(2,'b''s',2.5,NULL),(3,'c',3.5,'2026-01-02 03:04:05')", nil, "", 0, 3, 0)
	exec(text, dbName, "SELECT * FROM items", nil, "", 3, 0, 0)
	exec(text, dbName, "SELECT * FROM items WHERE id > 10", nil, "", 0, 0, 0)
	exec(text, dbName, "UPDATE items SET price = price * 2 WHERE id <= 2", nil, "", 0, 2, 0)
	exec(text, dbName, "SELECT * FROM missing_table", nil, "", 0, 0, 1146)
	exec(text, dbName, "SELEC broken", nil, "", 0, 0, 1064)
	exec(text, dbName, "SELECT id FROM items WHERE id = 1; SELECT id FROM items WHERE id >= 2", nil, "", 3, 0, 0)
	exec(text, dbName, "SELECT 'it''s', \"dq\", 0x41 /* comment */ -- trailing\n", nil, "", 1, 0, 0)
	var in []string
	for i := 0; i < 2000; i++ {
		in = append(in, strconv.Itoa(i))
	}
	exec(text, dbName, "SELECT id FROM items WHERE id IN ("+strings.Join(in, ",")+")", nil, "", 3, 0, 0) // spans segments
	exec(text, dbName, "CREATE DATABASE IF NOT EXISTS "+dbName+"_2", nil, "", 0, 1, 0)
	t.Cleanup(func() { srvExec(t, srv, "DROP DATABASE IF EXISTS "+dbName+"_2") })
	exec(text, dbName+"_2", "USE "+dbName+"_2", nil, "", 0, 0, 0)
	exec(text, dbName+"_2", "SELECT DATABASE()", nil, "", 1, 0, 0)
	exec(text, dbName, "USE `"+dbName+"`", nil, "", 0, 0, 0)

	// Prepared statements (interpolateParams=false: PREPARE, EXECUTE, CLOSE).
	prep := open(func(c *mysql.Config) {})
	exec(prep, dbName, "SELECT name FROM items WHERE id = ? AND price > ?", []any{int64(2), 1.25}, "SELECT name FROM items WHERE id = 2 AND price > 1.25", 1, 0, 0)
	exec(prep, dbName, "SELECT id FROM items WHERE name = ? OR at = ?", []any{"b's", time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)},
		`SELECT id FROM items WHERE name = 'b\'s' OR at = '2026-01-02 03:04:05'`, 2, 0, 0)
	exec(prep, dbName, "INSERT INTO items VALUES (?, ?, ?, ?)", []any{int64(4), "d", 4.5, nil}, "INSERT INTO items VALUES (4, 'd', 4.5, NULL)", 0, 1, 0)
	exec(prep, dbName, "INSERT INTO items VALUES (?, ?, ?, ?)", []any{int64(4), "dup", 0.0, nil}, "INSERT INTO items VALUES (4, 'dup', 0, NULL)", 0, 0, 1062)
	exec(prep, dbName, "SELECT * FROM items WHERE id < ?", []any{int64(100)}, "SELECT * FROM items WHERE id < 100", 4, 0, 0)

	// The compressed protocol.
	comp := open(func(c *mysql.Config) { c.Apply(mysql.EnableCompression(true)) })
	exec(comp, dbName, "SELECT * FROM items", nil, "", 4, 0, 0)
	exec(comp, dbName, "SELECT REPEAT('x', 100000) FROM items", nil, "", 4, 0, 0)
	exec(comp, dbName, "DELETE FROM items WHERE id = 4", nil, "", 0, 1, 0)
	exec(comp, dbName, "SELECT id FROM items WHERE id = ?", []any{int64(1)}, "SELECT id FROM items WHERE id = 1", 1, 0, 0)
	exec(comp, dbName, "DROP TABLE nope", nil, "", 0, 0, 1051)
	dropped := stop()

	s, err := Open(capPath, Options{Port: port})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	var have []got
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Items {
			if ev.DB == dbName || ev.DB == dbName+"_2" {
				have = append(have, got{ev.TsMs, ev.Instance, ev.DB, ev.User, string(ev.SQL), ev.LatencyUs, ev.RowsSent, ev.RowsAffected, ev.ErrCode})
			}
		}
		for _, r := range b.Rejects {
			if dropped == 0 {
				t.Errorf("reject %s: %s", r.Reason, r.Detail)
			}
		}
	}
	st := s.Stats()
	t.Logf("capture: %d packets, %d events, protocol %+v", st.Packets, st.Events, st.Protocol)
	// Events leave in response order; on each connection that is request
	// order, and the workload ran one statement at a time: the same order.
	if dropped > 0 {
		// The kernel dropped packets (a loaded machine): statements whose
		// packets were lost may be missing, but what is seen must be right.
		t.Logf("tcpdump dropped %d packets: checking that the %d statements seen are a correct subsequence of the %d run", dropped, len(have), len(want))
		var sub []expected
		j := 0
		for _, h := range have {
			for j < len(want) && want[j].sql != h.SQL {
				j++
			}
			if j == len(want) {
				t.Fatalf("statement %s was not run (or out of order)", h)
			}
			sub = append(sub, want[j])
			j++
		}
		want = sub
	}
	if len(have) != len(want) {
		for _, h := range have {
			t.Logf("have %s", h)
		}
		t.Fatalf("capture shows %d statements of the workload, want %d", len(have), len(want))
	}
	for i, w := range want {
		h := have[i]
		if h.SQL != w.sql || h.DB != w.db || h.Rows != w.rows || h.Affected != w.affected || h.Err != w.err || h.User != "root" || h.Instance != srv.Addr {
			t.Errorf("statement %d:\n want %q db=%s rows=%d aff=%d err=%d\n have %s", i, w.sql, w.db, w.rows, w.affected, w.err, h)
		}
		if lat := time.Duration(h.LatencyUs) * time.Microsecond; lat <= 0 || lat > w.elapsed {
			t.Errorf("statement %d (%q): capture latency %v not within (0, %v] measured by the client", i, w.sql, lat, w.elapsed)
		}
	}
	if st.Protocol.Compressed != 1 || st.Protocol.Commands[0x17] == 0 || st.Protocol.Commands[0x19] == 0 {
		t.Errorf("protocol stats: compressed %d, prepares %d, closes %d", st.Protocol.Compressed, st.Protocol.Commands[0x16], st.Protocol.Commands[0x19])
	}
	if dropped == 0 && (st.Protocol.LostResponses != 0 || st.Gaps != 0) {
		t.Errorf("lost responses %d, gaps %d on loopback", st.Protocol.LostResponses, st.Gaps)
	}
}

func srvExec(t *testing.T, srv *mariadbtest.Server, q string) {
	db, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		return
	}
	defer db.Close()
	db.Exec(q)
}
