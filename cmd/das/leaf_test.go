package main

import (
	"bytes"
	"context"
	"go/parser"
	"go/token"
	"io"
	"net/http"
	"os"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/das-project/das/internal/mariadbtest"
)

// syncBuffer is a bytes.Buffer safe for the serve goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}

func TestLeafCommands(t *testing.T) {
	dsn := mariadbtest.DSN(t)
	ctx := context.Background()
	run := func(args ...string) (string, string, error) {
		var out, errb syncBuffer
		err := cmdLeaf(ctx, args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
		return out.String(), errb.String(), err
	}
	// Serving before init says what to do.
	if _, _, err := run("serve", "--dsn", dsn, "--addr", "127.0.0.1:0"); err == nil || !strings.Contains(err.Error(), "das leaf init") {
		t.Fatalf("serve before init: %v", err)
	}
	for _, tc := range []struct {
		args    []string
		wantErr error
		out     string
	}{
		{[]string{}, errUsage, ""},
		{[]string{"bogus"}, errUsage, ""},
		{[]string{"tag", "add", "x", "--dsn", dsn}, errUsage, ""}, // no --step
		{[]string{"init", "--print"}, nil, "CREATE TABLE IF NOT EXISTS leaf_alloc"},
		{[]string{"init", "--dsn", dsn}, nil, "up to date"},
		{[]string{"init", "--dsn", dsn}, nil, "up to date"},
		{[]string{"tag", "add", "order", "--step", "100", "--dsn", dsn}, nil, `added tag "order": step 100, first ID 1`},
		{[]string{"tag", "add", "--dsn", dsn, "--step=5", "user", "--start", "1000"}, nil, `added tag "user": step 5, first ID 1000`},
	} {
		out, stderr, err := run(tc.args...)
		if err != tc.wantErr || !strings.Contains(out, tc.out) {
			t.Fatalf("das leaf %q = %v, out %q, err %q; want %v and %q", tc.args, err, out, stderr, tc.wantErr, tc.out)
		}
	}
	if _, _, err := run("tag", "add", "order", "--step", "100", "--dsn", dsn); err == nil || !strings.Contains(err.Error(), "Duplicate") {
		t.Fatalf("duplicate tag: %v", err)
	}

	// serve: draw IDs over HTTP, then stop it with the context.
	sctx, cancel := context.WithCancel(ctx)
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- cmdLeaf(sctx, []string{"serve", "--dsn", dsn, "--addr", "127.0.0.1:0"}, stdio{out: io.Discard, err: &stderr})
	}()
	var base string
	re := regexp.MustCompile(`http://[0-9.:]+`)
	deadline := time.Now().Add(10 * time.Second)
	for base == "" {
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not start: %s", stderr.String())
		}
		base = re.FindString(stderr.String())
		time.Sleep(5 * time.Millisecond)
	}
	for path, want := range map[string]string{
		"/api/segment/get/user?count=2": "1000\n1001\n",
		"/api/segment/get/order":        "1",
	} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || string(b) != want {
			t.Errorf("GET %s = %d %q, want %q", path, resp.StatusCode, b, want)
		}
	}
	resp, err := http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{"leaf_segment_runway_seconds", "leaf_snowflake_worker_id 0", "go_goroutines", `go_sql_max_open_connections{db_name="leaf"}`} {
		if !strings.Contains(string(b), want) {
			t.Errorf("/metrics lacks %s", want)
		}
	}
	cancel()
	if err := <-done; err != nil {
		t.Fatalf("serve: %v", err)
	}
}

// TestMySQLDriverLinked: the binary, not only the tests (whose helpers import
// the driver), must register the "mysql" database/sql driver.
func TestMySQLDriverLinked(t *testing.T) {
	ents, err := os.ReadDir(".")
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range ents {
		name := e.Name()
		if !strings.HasSuffix(name, ".go") || strings.HasSuffix(name, "_test.go") {
			continue
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, nil, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			if imp.Path.Value == `"github.com/go-sql-driver/mysql"` {
				return
			}
		}
	}
	t.Fatal("no non-test file of cmd/das imports github.com/go-sql-driver/mysql; 'das leaf' would fail with unknown driver")
}
