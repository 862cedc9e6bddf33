package mariadbtest

import "testing"

// StartPerfSchema starts a private server with performance_schema=ON, owned
// by tb: it is stopped and its datadir removed in tb.Cleanup. flags are
// further mariadbd options, e.g. "--performance-schema-digests-size=200".
//
// performance_schema cannot be switched on at run time, and the shared
// server runs with it off (MariaDB's default), so tests of the
// performance_schema source always get a server of their own. Stop, Kill
// and Restart work as for Start; a restarted server keeps the flags.
func StartPerfSchema(tb testing.TB, flags ...string) *Server {
	tb.Helper()
	return StartWith(tb, append([]string{"--performance-schema=ON"}, flags...)...)
}
