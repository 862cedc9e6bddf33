package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"testing/iotest"

	"github.com/das-project/das/operators/fingerprint"
)

func runFingerprint(t *testing.T, in io.Reader, args ...string) (string, string, error) {
	t.Helper()
	var out, errOut bytes.Buffer
	err := cmdFingerprint(context.Background(), args, stdio{in: in, out: &out, err: &errOut})
	return out.String(), errOut.String(), err
}

func TestFingerprintCommand(t *testing.T) {
	fp := fingerprint.New()
	want := func(sqls ...string) string {
		var b strings.Builder
		for _, s := range sqls {
			id, tpl := fp.Fingerprint([]byte(s))
			b.WriteString(id.String() + "\t" + string(tpl) + "\n")
		}
		return b.String()
	}
	long := "SELECT " + strings.Repeat("a, ", 100_000) + "b FROM t WHERE x IN (" + strings.Repeat("1, ", 100_000) + "2)"
	for _, tc := range []struct {
		name, in, want string
	}{
		{"empty input", "", ""},
		{"one line", "SELECT c FROM sbtest1 WHERE id=123\n", want("SELECT c FROM sbtest1 WHERE id=123")},
		{"no final newline", "select 1\nselect 2", want("select 1", "select 2")},
		{"empty lines", "\n\nselect 1\n\n", want("", "", "select 1", "")},
		{"crlf", "select 1\r\nselect 'x'\r\n", want("select 1", "select 'x'")},
		{"odd input", "\xff\xfe\x00\n'unterminated\n/* open comment\n-- only comment\n", want("\xff\xfe\x00", "'unterminated", "/* open comment", "-- only comment")},
		{"line longer than any buffer", long + "\nselect 1\n", want(long, "select 1")},
		{"tabs in the line", "select\t1\tfrom\tt\n", want("select 1 from t")},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got, stderr, err := runFingerprint(t, strings.NewReader(tc.in))
			if err != nil || stderr != "" {
				t.Fatalf("err %v, stderr %q", err, stderr)
			}
			if got != tc.want {
				t.Fatalf("got %.300q\nwant %.300q", got, tc.want)
			}
			// Exactly one output line per input line, each id<TAB>template.
			lines := strings.Split(strings.TrimSuffix(got, "\n"), "\n")
			inLines := strings.Count(tc.in, "\n")
			if tc.in != "" && !strings.HasSuffix(tc.in, "\n") {
				inLines++
			}
			if got == "" {
				lines = nil
			}
			if len(lines) != inLines {
				t.Fatalf("%d output lines for %d input lines", len(lines), inLines)
			}
			for _, l := range lines {
				id, _, ok := strings.Cut(l, "\t")
				if _, err := fingerprint.ParseID(id); !ok || err != nil {
					t.Fatalf("bad line %.80q: %v", l, err)
				}
			}
		})
	}
}

// TestFingerprintCommandReader feeds the input one byte per Read, so that
// lines are assembled across reads.
func TestFingerprintCommandReader(t *testing.T) {
	in := "select 1\nupdate t set a = 'x' where id = 2\nselect 3"
	whole, _, err := runFingerprint(t, strings.NewReader(in))
	if err != nil {
		t.Fatal(err)
	}
	slow, _, err := runFingerprint(t, iotest.OneByteReader(strings.NewReader(in)))
	if err != nil || slow != whole {
		t.Fatalf("one byte at a time: %q, %v; want %q", slow, err, whole)
	}
}

func TestFingerprintCommandFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "q.sql")
	if err := os.WriteFile(path, []byte("SELECT 1\nSELECT 2\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	fromFile, _, err := runFingerprint(t, strings.NewReader("ignored\n"), "--file", path)
	if err != nil {
		t.Fatal(err)
	}
	fromStdin, _, _ := runFingerprint(t, strings.NewReader("SELECT 1\nSELECT 2\n"))
	if fromFile != fromStdin || strings.Count(fromFile, "\n") != 2 {
		t.Fatalf("--file gave %q, stdin %q", fromFile, fromStdin)
	}
	// A missing file is an I/O error.
	if _, _, err := runFingerprint(t, strings.NewReader(""), "--file", filepath.Join(dir, "missing")); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("missing file: %v", err)
	}
	// A directory opens but cannot be read.
	if _, _, err := runFingerprint(t, strings.NewReader(""), "--file", dir); err == nil {
		t.Fatal("reading a directory succeeded")
	}
}

func TestFingerprintCommandErrors(t *testing.T) {
	if _, stderr, err := runFingerprint(t, strings.NewReader(""), "--bogus"); err != errUsage || stderr == "" {
		t.Fatalf("unknown flag: %v, %q", err, stderr)
	}
	if _, _, err := runFingerprint(t, strings.NewReader(""), "extra"); err != errUsage {
		t.Fatalf("extra argument: %v", err)
	}
	if _, stderr, err := runFingerprint(t, strings.NewReader(""), "-h"); err != nil || !strings.Contains(stderr, "--file") && !strings.Contains(stderr, "-file") {
		t.Fatalf("-h: %v, %q", err, stderr)
	}
	readErr := errors.New("disk on fire")
	if _, _, err := runFingerprint(t, iotest.ErrReader(readErr)); !errors.Is(err, readErr) {
		t.Fatalf("read error: %v", err)
	}
	var out failWriter
	err := cmdFingerprint(context.Background(), nil, stdio{in: strings.NewReader("select 1\n"), out: out, err: io.Discard})
	if err == nil {
		t.Fatal("write error not reported")
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := cmdFingerprint(ctx, nil, stdio{in: strings.NewReader("select 1\n"), out: io.Discard, err: io.Discard}); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled context: %v", err)
	}
}

type failWriter struct{}

func (failWriter) Write([]byte) (int, error) { return 0, errors.New("pipe closed") }
