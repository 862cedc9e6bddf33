package mariadbtest

import (
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

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
	s, err := startPrivateFlags(append([]string{"--performance-schema=ON"}, flags...))
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

// startPrivateFlags is startPrivate with extra mariadbd flags. Server.start
// runs s.bin with a fixed argument list; rather than copy it, s.bin becomes
// a two-line sh wrapper in the server's directory that execs mariadbd with
// the given arguments followed by flags (--no-defaults must stay first, and
// it does). exec keeps the process id, so Stop, Kill and the parent-death
// signal reach mariadbd itself.
func startPrivateFlags(flags []string) (*Server, error) {
	bin, install, err := ensureInstalled()
	if err != nil {
		return nil, err
	}
	for _, f := range append([]string{bin}, flags...) {
		if strings.ContainsAny(f, "'\n") {
			return nil, fmt.Errorf("mariadbtest: flag or path %q cannot be quoted for sh", f)
		}
	}
	// A short directory: the socket path must fit in sun_path.
	dir, err := os.MkdirTemp("", "mdb")
	if err != nil {
		return nil, err
	}
	var script strings.Builder
	script.WriteString("#!/bin/sh\nexec '" + bin + "' \"$@\"")
	for _, f := range flags {
		script.WriteString(" '" + f + "'")
	}
	script.WriteString("\n")
	wrapper := filepath.Join(dir, "mariadbd")
	if err := os.WriteFile(wrapper, []byte(script.String()), 0o700); err != nil {
		_ = os.RemoveAll(dir)
		return nil, err
	}
	args := []string{"--no-defaults", "--datadir=" + filepath.Join(dir, "data"),
		"--auth-root-authentication-method=normal", "--skip-test-db"}
	if os.Geteuid() == 0 {
		args = append(args, "--user=root")
	}
	out, err := exec.Command(install, args...).CombinedOutput()
	if err != nil {
		_ = os.RemoveAll(dir)
		return nil, fmt.Errorf("%s: %v: %s", filepath.Base(install), err, tail(out, 2000))
	}
	s := &Server{bin: wrapper, dir: dir}
	var lastErr error
	for attempt := 0; attempt < 3; attempt++ {
		port, err := FreePort()
		if err != nil {
			_ = os.RemoveAll(dir)
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
