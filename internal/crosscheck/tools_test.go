package crosscheck

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
)

var installMu sync.Mutex

// requireTool returns the path of the program bin, installing the Debian
// package pkg with apt-get when it is missing and the test runs as root.
// Otherwise the test fails with what to install: these checks never skip.
func requireTool(t testing.TB, bin, pkg string) string {
	t.Helper()
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	if os.Geteuid() != 0 {
		t.Fatalf("%s is not installed and the test is not root: install it with `apt-get install %s`", bin, pkg)
	}
	installMu.Lock()
	defer installMu.Unlock()
	// Concurrent test binaries (and other packages' tests) serialise here.
	if lock, err := os.OpenFile(filepath.Join(os.TempDir(), "crosscheck-install.lock"), os.O_CREATE|os.O_RDWR, 0o600); err == nil {
		defer lock.Close()
		_ = syscall.Flock(int(lock.Fd()), syscall.LOCK_EX)
		defer syscall.Flock(int(lock.Fd()), syscall.LOCK_UN)
	}
	if p, err := exec.LookPath(bin); err == nil {
		return p
	}
	run := func(args ...string) ([]byte, error) {
		cmd := exec.Command("apt-get", args...)
		cmd.Env = append(os.Environ(), "DEBIAN_FRONTEND=noninteractive")
		return cmd.CombinedOutput()
	}
	if out, err := run("install", "-y", "-q", pkg); err != nil {
		if out2, err2 := run("update", "-q"); err2 != nil {
			t.Fatalf("apt-get update: %v: %s", err2, tail(out2))
		}
		if out, err = run("install", "-y", "-q", pkg); err != nil {
			t.Fatalf("apt-get install %s: %v: %s", pkg, err, tail(out))
		}
	} else {
		_ = out
	}
	p, err := exec.LookPath(bin)
	if err != nil {
		t.Fatalf("%s still missing after apt-get install %s", bin, pkg)
	}
	return p
}

func tail(b []byte) string {
	s := string(b)
	if len(s) > 2000 {
		s = s[len(s)-2000:]
	}
	return strings.TrimSpace(s)
}
