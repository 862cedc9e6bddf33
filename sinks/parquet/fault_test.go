package parquet

import (
	"errors"
	"slices"
	"strings"
	"testing"
)

// TestWriterFaults injects a fault at each step of an epoch. The failing
// call must report it (a Close or fsync error is never dropped), nothing of
// the epoch may become visible, the writer must refuse further work until
// Abort, and after Abort the next epoch must commit normally.
func TestWriterFaults(t *testing.T) {
	tests := []struct {
		name string
		fail func(op, name string) bool
		sync bool
	}{
		{"create", func(op, nm string) bool { return op == "create" }, false},
		{"write", func(op, nm string) bool { return op == "write" }, false},
		{"close (footer flush)", func(op, nm string) bool { return op == "close" }, false},
		{"fsync file", func(op, nm string) bool { return op == "sync" }, true},
		{"rename first file", func(op, nm string) bool { return op == "rename" && strings.Contains(nm, "open-0000") }, false},
		{"rename second file", func(op, nm string) bool { return op == "rename" && strings.Contains(nm, "open-0001") }, false},
		{"fsync directory", func(op, nm string) bool { return op == "syncdir" }, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			fs := &errorFS{}
			w := newWriter(t, dir, Options{TargetFileSize: 4 << 10, NoSync: !tt.sync, fs: fs})
			wl := newWorkload(30, 4, 10)
			kept := wl.rows(300, t0, 1)
			p1 := epoch(t, w, 1, kept)

			fs.setFail(tt.fail)
			err := w.Write(wl.rows(600, t0, 1))
			if err == nil {
				_, err = w.Precommit(2)
			}
			if !errors.Is(err, errInjected) {
				t.Fatalf("epoch 2 error = %v, want the injected fault", err)
			}
			fs.setFail(nil)
			if err := w.Write(kept[:1]); !errors.Is(err, ErrBroken) {
				t.Fatalf("Write after a failure = %v, want ErrBroken", err)
			}
			if _, err := w.Precommit(2); !errors.Is(err, ErrBroken) {
				t.Fatalf("Precommit after a failure = %v, want ErrBroken", err)
			}
			sameRows(t, readDir(t, dir), kept)
			if err := w.Abort(); err != nil {
				t.Fatal(err)
			}
			if got := listDir(t, dir); !slices.Equal(got, p1.Files) {
				t.Fatalf("after Abort the directory holds %v, want only epoch 1's files %v", got, p1.Files)
			}
			more := wl.rows(600, t0, 1)
			epoch(t, w, 2, more)
			sameRows(t, readDir(t, dir), slices.Concat(kept, more))
		})
	}
}

// TestCommitFaultRetry: a Commit that fails part-way can be retried, and
// Recover after a crash in the middle of Commit finishes it.
func TestCommitFaultRetry(t *testing.T) {
	for _, op := range []string{"rename", "syncdir"} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			fs := &errorFS{}
			w := newWriter(t, dir, Options{TargetFileSize: 4 << 10, fs: fs})
			rows := newWorkload(31, 4, 10).rows(600, t0, 1)
			if err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			p, err := w.Precommit(1)
			if err != nil {
				t.Fatal(err)
			}
			if len(p.Files) < 2 {
				t.Fatalf("want several files, got %v", p.Files)
			}
			second := p.Files[1]
			fs.setFail(func(o, nm string) bool { return o == op && (op == "syncdir" || nm == tempName(second)) })
			if err := w.Commit(p); !errors.Is(err, errInjected) {
				t.Fatalf("Commit = %v, want the injected fault", err)
			}
			fs.setFail(nil)
			// Crash here: a new writer recovers with the checkpoint's Pending.
			w2 := newWriter(t, dir, Options{})
			if err := w2.Recover(p); err != nil {
				t.Fatal(err)
			}
			sameRows(t, readDir(t, dir), rows)
			if err := w.Commit(p); err != nil {
				t.Fatalf("retried Commit: %v", err)
			}
			sameRows(t, readDir(t, dir), rows)
		})
	}
}

// TestRecoverFaults: a failing Recover reports the fault and can be retried.
func TestRecoverFaults(t *testing.T) {
	for _, op := range []string{"rename", "list", "remove", "syncdir"} {
		t.Run(op, func(t *testing.T) {
			dir := t.TempDir()
			wl := newWorkload(32, 4, 10)
			w := newWriter(t, dir, Options{})
			rows := wl.rows(100, t0, 1)
			if err := w.Write(rows); err != nil {
				t.Fatal(err)
			}
			p, err := w.Precommit(1)
			if err != nil {
				t.Fatal(err)
			}
			if err := w.Write(wl.rows(100, t0, 1)); err != nil { // a stray open file
				t.Fatal(err)
			}
			fs := &errorFS{fail: func(o, _ string) bool { return o == op }}
			w2 := newWriter(t, dir, Options{fs: fs})
			if err := w2.Recover(p); !errors.Is(err, errInjected) {
				t.Fatalf("Recover = %v, want the injected fault", err)
			}
			fs.setFail(nil)
			if err := w2.Recover(p); err != nil {
				t.Fatal(err)
			}
			sameRows(t, readDir(t, dir), rows)
			if got := listDir(t, dir); !slices.Equal(got, p.Files) {
				t.Fatalf("directory %v, want %v", got, p.Files)
			}
		})
	}
}

// TestAbortKeepsPrecommitted is the reason Abort spares precommitted output:
// the engine may see a checkpoint fail that in fact became durable.
func TestAbortKeepsPrecommitted(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	rows := newWorkload(33, 2, 2).rows(10, t0, 1)
	if err := w.Write(rows); err != nil {
		t.Fatal(err)
	}
	p, err := w.Precommit(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := newWriter(t, dir, Options{}).Recover(p); err != nil {
		t.Fatal(err)
	}
	sameRows(t, readDir(t, dir), rows)
}
