package mariadbtest

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// StartSlowLog starts a private server owned by tb (stopped and removed in
// tb.Cleanup, like Start) that writes every statement to a slow log file:
// slow_query_log=1, long_query_time=0, log_output=FILE, administrative
// statements included. It returns the server and the log's path. The
// shared server is never used: its global settings are not a test's to
// change.
//
// The log lives in the server's directory as HOST-slow.log would in a
// datadir: "das-slow.log", so das names the instance "das:PORT" unless
// told otherwise.
func StartSlowLog(tb testing.TB) (*Server, string) {
	tb.Helper()
	s := Start(tb)
	path := filepath.Join(s.dir, "das-slow.log")
	if err := s.EnableSlowLog(path); err != nil {
		tb.Fatalf("mariadbtest: %v", err)
	}
	return s, path
}

// EnableSlowLog makes a private server log every statement to path (the
// server appends to it and writes its header first, as after a restart).
// Global settings do not survive a restart: call it again after Restart.
// Sessions opened before the call keep their long_query_time and are not
// fully logged.
func (s *Server) EnableSlowLog(path string) error {
	if !s.Private() {
		return errors.New("mariadbtest: EnableSlowLog on a server this package did not start")
	}
	if strings.ContainsAny(path, `'\`) {
		return fmt.Errorf("mariadbtest: slow log path %q has a quote or backslash", path)
	}
	var before int64
	if st, err := os.Stat(path); err == nil {
		before = st.Size()
	}
	db, err := sql.Open("mysql", s.DSN(""))
	if err != nil {
		return err
	}
	defer db.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	conn, err := db.Conn(ctx)
	if err != nil {
		return fmt.Errorf("mariadbtest: %w", err)
	}
	defer conn.Close()
	for _, stmt := range []string{
		"SET GLOBAL log_output = 'FILE'",
		"SET GLOBAL slow_query_log_file = '" + path + "'",
		"SET GLOBAL long_query_time = 0",
		"SET GLOBAL log_slow_admin_statements = ON",
		"SET GLOBAL slow_query_log = ON",
	} {
		if _, err := conn.ExecContext(ctx, stmt); err != nil {
			return fmt.Errorf("mariadbtest: %s: %w", stmt, err)
		}
	}
	// The server writes its header when it opens the file.
	for deadline := time.Now().Add(10 * time.Second); ; {
		if st, err := os.Stat(path); err == nil && st.Size() > before {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("mariadbtest: slow log %s was not created", path)
		}
		time.Sleep(10 * time.Millisecond)
	}
}
