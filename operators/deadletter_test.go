package operators

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func writeN(t *testing.T, d *DeadLetter, n int, tag string) {
	t.Helper()
	for i := range n {
		if err := d.Write("malformed", tag, 0, int64(i), []byte(tag+" record")); err != nil {
			t.Fatal(err)
		}
	}
}

func lines(t *testing.T, path string) []string {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, l := range strings.Split(strings.TrimSuffix(string(b), "\n"), "\n") {
		if l == "" {
			continue
		}
		var m map[string]any
		if err := json.Unmarshal([]byte(l), &m); err != nil {
			t.Fatalf("%s: line %q: %v", path, l, err)
		}
		out = append(out, m["detail"].(string))
	}
	return out
}

// The dead letter's committed position and rotation: every state a crash
// can leave (before the checkpoint, after it and before the rotation, after
// the rotation and before the next checkpoint) reopens to exactly the
// committed lines, and damage outside das is an error, not a guess.
func TestDeadLetterRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "dl.jsonl")
	opts := DeadLetterOptions{MaxBytes: 300}
	d, err := OpenDeadLetterWith(path, 0, opts)
	if err != nil {
		t.Fatal(err)
	}
	writeN(t, d, 3, "a")
	pos, err := d.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if pos>>dlSegShift != 0 || pos < 100 {
		t.Fatalf("position %x after three lines", pos)
	}
	if err := d.Committed(); err != nil { // below MaxBytes: no rotation
		t.Fatal(err)
	}
	writeN(t, d, 5, "b")
	pos, err = d.Sync()
	if err != nil {
		t.Fatal(err)
	}
	// Crash after the checkpoint, before the rotation: the file is
	// segment 0 as committed.
	d.Close()
	if d, err = OpenDeadLetterWith(path, pos, opts); err != nil {
		t.Fatal(err)
	}
	if err := d.Committed(); err != nil { // the rotation now
		t.Fatal(err)
	}
	rotated := RotatedDeadLetter(path, 0)
	if got := lines(t, rotated); len(got) != 8 || got[0] != "a" || got[7] != "b" {
		t.Fatalf("rotated file holds %v", got)
	}
	// Crash after the rotation, with uncommitted lines in the new file:
	// the old position names segment 0, which is rotated, so the new file
	// starts empty.
	writeN(t, d, 2, "uncommitted")
	d.Close()
	if d, err = OpenDeadLetterWith(path, pos, opts); err != nil {
		t.Fatal(err)
	}
	if fi, _ := os.Stat(path); fi.Size() != 0 {
		t.Fatalf("uncommitted lines kept: %d bytes", fi.Size())
	}
	writeN(t, d, 1, "c")
	pos2, err := d.Sync()
	if err != nil {
		t.Fatal(err)
	}
	if pos2>>dlSegShift != 1 {
		t.Fatalf("position %x, want segment 1", pos2)
	}
	d.Close()
	if d, err = OpenDeadLetterWith(path, pos2, opts); err != nil {
		t.Fatal(err)
	}
	d.Close()
	if got := lines(t, path); len(got) != 1 || got[0] != "c" {
		t.Fatalf("current file holds %v", got)
	}
	if files, err := DeadLetterFiles(path); err != nil || fmt.Sprint(files) != fmt.Sprint([]string{rotated, path}) {
		t.Fatalf("DeadLetterFiles = %v, %v; want the rotated file, then the current one", files, err)
	}

	// A position from a das without rotation (segment 0) reads the same.
	plain := filepath.Join(dir, "plain.jsonl")
	p, _ := OpenDeadLetter(plain, 0)
	writeN(t, p, 2, "p")
	ppos, _ := p.Sync()
	writeN(t, p, 1, "lost")
	p.Close()
	if p, err = OpenDeadLetterWith(plain, ppos, opts); err != nil {
		t.Fatal(err)
	}
	p.Close()
	if got := lines(t, plain); len(got) != 2 {
		t.Fatalf("plain file after reopen: %v", got)
	}

	// Damage outside das.
	b, _ := os.ReadFile(rotated)
	if err := os.WriteFile(rotated, b[:len(b)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDeadLetterWith(path, pos, opts); err == nil || !strings.Contains(err.Error(), "changed outside das") {
		t.Fatalf("a shortened rotated file: %v", err)
	}
	if err := os.WriteFile(path, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenDeadLetterWith(path, pos2, opts); err == nil || !strings.Contains(err.Error(), "truncated or replaced outside das") {
		t.Fatalf("a truncated current file: %v", err)
	}
	if !bytes.Contains(b, []byte(`"reason":"malformed"`)) {
		t.Fatal("lines lack their reason")
	}
}
