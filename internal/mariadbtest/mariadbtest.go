// Package mariadbtest gives tests a real MariaDB server and a database of
// their own on it.
//
// Tests never skip for want of a server. The order of preference is:
//
//  1. the shared server on 127.0.0.1:3306, user root without a password,
//     when it answers (several packages test against it in parallel, so a
//     test must never stop it or change its global settings);
//  2. a private mariadbd started on a temporary datadir and a free port,
//     stopped when the test binary ends (Main) or when the test ends (Start);
//  3. when no mariadbd is installed and the process runs as root, the
//     mariadb-server Debian package is installed first.
//
// Setting DAS_TEST_MARIADB=private skips the shared server, which is how the
// private path is exercised on a machine that has one.
//
// Every caller of DSN or NewDatabase gets a uniquely named database that is
// dropped when its test ends. Outage tests must not touch the shared server:
// they put a Proxy in front of it (Cut, Restore, SetDelay) or Start a
// private server they may stop.
package mariadbtest

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
)

// SharedAddr is the address tried first for the shared server.
const SharedAddr = "127.0.0.1:3306"

// Server is a MariaDB server reachable over TCP as root without a password.
type Server struct {
	Addr string // host:port

	// Set for a private server only.
	bin     string
	flags   []string // extra mariadbd options, kept across Restart
	dir     string   // datadir parent: data/, sock, err.log
	cmd     *exec.Cmd
	waitErr chan error
}

// DSN returns a go-sql-driver DSN for database db on s (db may be empty).
// The DSN parses times and has short dial/read timeouts suitable for tests.
func (s *Server) DSN(db string) string {
	cfg := mysql.NewConfig()
	cfg.User = "root"
	cfg.Net = "tcp"
	cfg.Addr = s.Addr
	cfg.DBName = db
	cfg.ParseTime = true
	cfg.Timeout = 5 * time.Second
	cfg.ReadTimeout = 30 * time.Second
	cfg.WriteTimeout = 30 * time.Second
	return cfg.FormatDSN()
}

// Private reports whether s was started by this package.
func (s *Server) Private() bool { return s.cmd != nil }

var shared struct {
	mu      sync.Mutex
	srv     *Server
	err     error
	inMain  bool
	private *Server // started by Shared under Main; stopped by Main
}

// Main runs the package's tests and stops the private server Shared may have
// started. Call it from TestMain:
//
//	func TestMain(m *testing.M) { mariadbtest.Main(m) }
//
// Main does not return: it exits with the tests' status.
func Main(m *testing.M) {
	shared.mu.Lock()
	shared.inMain = true
	shared.mu.Unlock()
	code := m.Run()
	shared.mu.Lock()
	p := shared.private
	shared.private = nil
	shared.mu.Unlock()
	if p != nil {
		if err := p.Stop(); err != nil {
			fmt.Fprintf(os.Stderr, "mariadbtest: stopping private server: %v\n", err)
		}
		_ = os.RemoveAll(p.dir)
	}
	os.Exit(code)
}

// Shared returns a usable server for the whole test binary: the shared one
// on SharedAddr when it answers, else a private server started once. Without
// Main in TestMain, a private server is started per test instead (slower,
// but never left running).
func Shared(tb testing.TB) *Server {
	tb.Helper()
	shared.mu.Lock()
	defer shared.mu.Unlock()
	if shared.srv != nil {
		return shared.srv
	}
	if os.Getenv("DAS_TEST_MARIADB") != "private" {
		s := &Server{Addr: SharedAddr}
		if err := ping(s.DSN(""), 2*time.Second); err == nil {
			shared.srv = s
			return s
		}
	}
	if !shared.inMain {
		shared.mu.Unlock()
		defer shared.mu.Lock()
		return Start(tb)
	}
	if shared.err != nil {
		tb.Fatalf("mariadbtest: %v", shared.err)
	}
	s, err := startPrivate()
	if err != nil {
		shared.err = err
		tb.Fatalf("mariadbtest: %v", err)
	}
	shared.srv, shared.private = s, s
	return s
}

// DSN returns the DSN of a fresh database on the Shared server, dropped when
// tb ends.
func DSN(tb testing.TB) string {
	tb.Helper()
	return NewDatabase(tb, Shared(tb))
}

// NewDatabase creates a uniquely named database on s and returns its DSN. The
// database is dropped in tb.Cleanup (unless s has been stopped by then).
func NewDatabase(tb testing.TB, s *Server) string {
	tb.Helper()
	var b [6]byte
	_, _ = rand.Read(b[:])
	name := "t_" + sanitize(tb.Name()) + "_" + hex.EncodeToString(b[:])
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		tb.Fatalf("mariadbtest: %v", err)
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := db.ExecContext(ctx, "CREATE DATABASE `"+name+"`"); err != nil {
		tb.Fatalf("mariadbtest: create database on %s: %v", s.Addr, err)
	}
	tb.Cleanup(func() {
		db, err := sql.Open("mysql", s.DSN(""))
		if err != nil {
			return
		}
		defer db.Close()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_, _ = db.ExecContext(ctx, "DROP DATABASE IF EXISTS `"+name+"`")
	})
	return s.DSN(name)
}

// sanitize keeps a database name short and made of [a-z0-9_].
func sanitize(s string) string {
	var b strings.Builder
	for _, r := range strings.ToLower(s) {
		if (r >= 'a' && r <= 'z') || (r >= '0' && r <= '9') {
			b.WriteRune(r)
		} else {
			b.WriteByte('_')
		}
		if b.Len() >= 40 {
			break
		}
	}
	return b.String()
}

// Start starts a private server owned by tb: it is stopped and its datadir
// removed in tb.Cleanup. Tests that stop the database mid-run use this.
func Start(tb testing.TB) *Server {
	tb.Helper()
	return StartWith(tb)
}

// StartWith is Start with extra mariadbd options (e.g.
// "--performance-schema=ON", "--slow-query-log=ON"); a restarted server
// keeps them.
func StartWith(tb testing.TB, flags ...string) *Server {
	tb.Helper()
	s, err := startPrivate(flags...)
	if err != nil {
		tb.Fatalf("mariadbtest: %v", err)
	}
	tb.Cleanup(func() {
		if err := s.Stop(); err != nil {
			tb.Errorf("mariadbtest: stop private server: %v", err)
		}
		_ = os.RemoveAll(s.dir)
	})
	return s
}

func ping(dsn string, timeout time.Duration) error {
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	return db.PingContext(ctx)
}

// binaries finds mariadbd and mariadb-install-db on PATH or in the standard
// system locations (sbin is often not on a user's PATH).
func binaries() (server, install string, err error) {
	find := func(names ...string) string {
		for _, n := range names {
			if p, err := exec.LookPath(n); err == nil {
				return p
			}
			for _, d := range []string{"/usr/sbin", "/usr/local/sbin", "/usr/libexec", "/usr/local/mysql/bin"} {
				p := filepath.Join(d, n)
				if st, err := os.Stat(p); err == nil && !st.IsDir() {
					return p
				}
			}
		}
		return ""
	}
	server = find("mariadbd", "mysqld")
	install = find("mariadb-install-db", "mysql_install_db")
	if server == "" || install == "" {
		return "", "", errors.New("mariadbd or mariadb-install-db not found")
	}
	return server, install, nil
}

var installMu sync.Mutex

// ensureInstalled installs mariadb-server with apt-get when it is missing and
// we are root. Concurrent test binaries serialise on a lock file.
func ensureInstalled() (server, install string, err error) {
	if server, install, err = binaries(); err == nil {
		return server, install, nil
	}
	if os.Geteuid() != 0 {
		return "", "", fmt.Errorf("%v, and not root so cannot apt-get install mariadb-server", err)
	}
	installMu.Lock()
	defer installMu.Unlock()
	lock, lerr := os.OpenFile(filepath.Join(os.TempDir(), "mariadbtest-install.lock"), os.O_CREATE|os.O_RDWR, 0o600)
	if lerr == nil {
		defer lock.Close()
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
		defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	}
	if server, install, err = binaries(); err == nil {
		return server, install, nil
	}
	env := append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
	run := func(args ...string) error {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = env
		out, err := cmd.CombinedOutput()
		if err != nil {
			return fmt.Errorf("apt-get %s: %v: %s", strings.Join(args, " "), err, tail(out, 2000))
		}
		return nil
	}
	if err := run("install", "-y", "-q", "mariadb-server"); err != nil {
		if err2 := run("update", "-q"); err2 != nil {
			return "", "", err2
		}
		if err := run("install", "-y", "-q", "mariadb-server"); err != nil {
			return "", "", err
		}
	}
	return binaries()
}

func tail(b []byte, n int) string {
	if len(b) > n {
		b = b[len(b)-n:]
	}
	return string(b)
}

// FreePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func FreePort() (int, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, err
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port, nil
}

func startPrivate(flags ...string) (*Server, error) {
	bin, install, err := ensureInstalled()
	if err != nil {
		return nil, err
	}
	// A short directory: the socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "mdb")
	if err != nil {
		return nil, err
	}
	// A private tmpdir too: in the shared one, concurrent bootstraps (test
	// packages run in parallel) failed to remove their temporary tables.
	if err := os.Mkdir(filepath.Join(dir, "tmp"), 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"),
		"--tmpdir=" + filepath.Join(dir, "tmp"),
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.Command(install, args...).CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %v: %s", filepath.Base(install), err, tail(out, 2000))
	}
	s := &Server{bin: bin, dir: dir, flags: flags}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			return nil, err
		}
		s.Addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
		if lastErr = s.start(); lastErr == nil {
			return s, nil
		}
	}
	_ = os.RemoveAll(dir)
	return nil, lastErr
}

// start runs mariadbd on s.Addr and waits until it answers.
func (s *Server) start() error {
	_, port, _ := net.SplitHostPort(s.Addr)
	args := []string{"--no-defaults",
		"--datadir=" + filepath.Join(s.dir, "data"),
		"--tmpdir=" + filepath.Join(s.dir, "tmp"),
		"--port=" + port, "--bind-address=127.0.0.1",
		"--socket=" + filepath.Join(s.dir, "sock"),
		"--pid-file=" + filepath.Join(s.dir, "pid"),
		"--log-error=" + filepath.Join(s.dir, "err.log"),
		"--skip-name-resolve", "--innodb-buffer-pool-size=32M",
		"--max-connections=1000", "--skip-log-bin"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	args = append(args, s.flags...)
	cmd := exec.Command(s.bin, args...)
	// The server dies with the test binary even if it is killed.
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return err
	}
	s.cmd = cmd
	s.waitErr = make(chan error, 1)
	go func() { s.waitErr <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case err := <-s.waitErr:
			s.cmd = nil
			log, _ := os.ReadFile(filepath.Join(s.dir, "err.log"))
			return fmt.Errorf("mariadbd exited: %v: %s", err, tail(log, 2000))
		default:
		}
		if err := ping(s.DSN(""), time.Second); err == nil {
			return nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	_ = s.Stop()
	return errors.New("mariadbd did not answer within 60s")
}

// Stop shuts a private server down (SIGTERM, then SIGKILL after 20 s). The
// datadir is kept so Restart can bring the same data back.
func (s *Server) Stop() error {
	if s.cmd == nil {
		return nil
	}
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-s.waitErr:
	case <-time.After(20 * time.Second):
		_ = s.cmd.Process.Kill()
		<-s.waitErr
	}
	s.cmd = nil
	return nil
}

// Kill stops a private server with SIGKILL, like a crash.
func (s *Server) Kill() {
	if s.cmd == nil {
		return
	}
	_ = s.cmd.Process.Kill()
	<-s.waitErr
	s.cmd = nil
}

// Restart starts a stopped private server again on the same address and
// datadir.
func (s *Server) Restart() error {
	if s.bin == "" {
		return errors.New("mariadbtest: Restart of a server this package did not start")
	}
	if s.cmd != nil {
		return nil
	}
	return s.start()
}
