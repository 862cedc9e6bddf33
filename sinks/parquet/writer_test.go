package parquet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"

	pq "github.com/parquet-go/parquet-go"

	"github.com/das-project/das/sinks"
)

func TestRoundTrip(t *testing.T) {
	tests := []struct {
		name      string
		opts      Options
		epochRows []int // rows per epoch; 0 = empty epoch
		files     []int // files expected per epoch (-1: more than one)
	}{
		{"one file per epoch", Options{}, []int{1000, 1, 0, 3000}, []int{1, 1, 0, 1}},
		{"snappy", Options{Compression: CompressionSnappy}, []int{2000}, []int{1}},
		{"uncompressed", Options{Compression: CompressionNone}, []int{2000}, []int{1}},
		{"small row groups", Options{RowGroupRows: 7, RowGroupBytes: 64 << 10}, []int{1000}, []int{1}},
		{"rotation by size", Options{TargetFileSize: 4 << 10}, []int{3000, 10}, []int{-1, 1}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			w := newWriter(t, dir, tt.opts)
			wl := newWorkload(3, 10, 50)
			var all []sinks.MinuteRow
			for i, n := range tt.epochRows {
				rows := wl.rows(n, t0+int64(i)*sinks.MinuteMs, 2)
				all = append(all, rows...)
				// Feed the epoch in uneven batches.
				for len(rows) > 0 {
					k := min(len(rows), 1+wl.rng.IntN(700))
					if err := w.Write(rows[:k]); err != nil {
						t.Fatal(err)
					}
					rows = rows[k:]
				}
				e := uint64(10 + i)
				p, err := w.Precommit(e)
				if err != nil {
					t.Fatal(err)
				}
				if p.Epoch != e {
					t.Fatalf("Pending.Epoch = %d, want %d", p.Epoch, e)
				}
				if want := tt.files[i]; (want >= 0 && len(p.Files) != want) || (want < 0 && len(p.Files) < 2) {
					t.Fatalf("epoch %d: %d files %v, want %d", e, len(p.Files), p.Files, want)
				}
				for seq, f := range p.Files {
					if want := partName("t0", e, uint64(seq)); f != want {
						t.Fatalf("file %d = %s, want %s", seq, f, want)
					}
				}
				if err := w.Commit(p); err != nil {
					t.Fatal(err)
				}
			}
			got := readDir(t, dir)
			// ReadDir goes file by file in name order, which is write order.
			if !slices.Equal(got, all) {
				sameRows(t, got, all)
				t.Fatal("rows read back in a different order")
			}
			for _, nm := range listDir(t, dir) {
				if !strings.HasSuffix(nm, ".parquet") {
					t.Errorf("left-over file %s", nm)
				}
			}
		})
	}
}

// TestWriteCopies: Write encodes rows before it returns, so the caller may
// overwrite the slice.
func TestWriteCopies(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	rows := newWorkload(4, 3, 5).rows(100, t0, 1)
	want := slices.Clone(rows)
	buf := slices.Clone(rows)
	if err := w.Write(buf); err != nil {
		t.Fatal(err)
	}
	for i := range buf {
		buf[i] = sinks.MinuteRow{Instance: "overwritten", Template: strings.Repeat("x", 10)}
	}
	epoch(t, w, 1, nil)
	sameRows(t, readDir(t, dir), want)
}

func TestInvalidUTF8(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	rows := newWorkload(5, 3, 5).rows(600, t0, 1)
	rows[300].SampleSQL = "SELECT '\xff\xfe' FROM t"
	rows[301].Template = "SELECT \xc3"
	in := slices.Clone(rows)
	epoch(t, w, 1, rows)
	if !slices.Equal(rows, in) {
		t.Fatal("Write modified the caller's rows")
	}
	want := slices.Clone(in)
	want[300].SampleSQL = "SELECT '\uFFFD' FROM t"
	want[301].Template = "SELECT \uFFFD"
	if got := readDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("rows 300, 301 read back as %q, %q", got[300].SampleSQL, got[301].Template)
	}
}

// TestInvalidUTF8Shared: long strings shared by many rows, as a job's
// template texts are, are checked through the writer's cache; an invalid
// one is fixed in every row that carries it, a valid one is left alone.
func TestInvalidUTF8Shared(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	rows := newWorkload(7, 3, 5).rows(900, t0, 1)
	bad := "SELECT a_rather_long_column_name FROM t WHERE x = '\xff'"
	good := "SELECT a_rather_long_column_name FROM t WHERE x = 'naïve'"
	for i := range rows {
		switch i % 3 {
		case 0:
			rows[i].Template = bad
		case 1:
			rows[i].Template = good
		case 2:
			rows[i].Template = string([]byte(good)) // equal text, another address
		}
	}
	in := slices.Clone(rows)
	epoch(t, w, 1, rows)
	want := slices.Clone(in)
	for i := range want {
		if i%3 == 0 {
			want[i].Template = strings.ToValidUTF8(bad, "\uFFFD")
		}
	}
	if got := readDir(t, dir); !slices.Equal(got, want) {
		t.Fatal("rows read back differ from the rows written with invalid UTF-8 replaced")
	}
}

func TestUTF8Cache(t *testing.T) {
	var c utf8Cache
	long := strings.Repeat("é", 40)
	for range 3 {
		if !c.check(long) || !c.check("short") || c.check("\xff") || c.check(long+"\xff") {
			t.Fatal("wrong verdict")
		}
	}
}

// TestInProgressInvisible: until Commit, no file of the epoch matches
// *.parquet and readers see nothing of it.
func TestInProgressInvisible(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{TargetFileSize: 4 << 10})
	wl := newWorkload(6, 5, 20)
	p1 := epoch(t, w, 1, wl.rows(100, t0, 1))
	committed := slices.Clone(p1.Files)

	if err := w.Write(wl.rows(3000, t0, 1)); err != nil {
		t.Fatal(err)
	}
	check := func(stage string) {
		t.Helper()
		if got := globParquet(t, dir); !slices.Equal(got, committed) {
			t.Fatalf("%s: *.parquet = %v, want %v", stage, got, committed)
		}
		if n := len(readDir(t, dir)); n != 100 {
			t.Fatalf("%s: ReadDir saw %d rows, want 100", stage, n)
		}
		inprogress := 0
		for _, nm := range listDir(t, dir) {
			if strings.HasSuffix(nm, ".inprogress") {
				inprogress++
				if !strings.HasPrefix(nm, ".") {
					t.Fatalf("%s: in-progress file %s is not hidden from directory readers", stage, nm)
				}
			}
		}
		if inprogress < 2 {
			t.Fatalf("%s: %d in-progress files, want several (rotation)", stage, inprogress)
		}
	}
	check("after Write")
	p2, err := w.Precommit(2)
	if err != nil {
		t.Fatal(err)
	}
	check("after Precommit")
	if err := w.Commit(p2); err != nil {
		t.Fatal(err)
	}
	committed = append(committed, p2.Files...)
	slices.Sort(committed)
	if got := globParquet(t, dir); !slices.Equal(got, committed) {
		t.Fatalf("after Commit: *.parquet = %v, want %v", got, committed)
	}
	if got := listDir(t, dir); len(got) != len(committed) {
		t.Fatalf("after Commit: directory holds %v", got)
	}
}

func TestCommitIdempotent(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	rows := newWorkload(7, 3, 5).rows(50, t0, 1)
	p := epoch(t, w, 1, rows)
	for range 2 {
		if err := w.Commit(p); err != nil {
			t.Fatalf("second Commit: %v", err)
		}
	}
	// After a restart, Recover with the same Pending is a no-op too.
	w2 := newWriter(t, dir, Options{})
	if err := w2.Recover(p); err != nil {
		t.Fatal(err)
	}
	sameRows(t, readDir(t, dir), rows)
}

func TestCommitErrors(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	if err := w.Write(newWorkload(8, 3, 5).rows(50, t0, 1)); err != nil {
		t.Fatal(err)
	}
	p, err := w.Precommit(3)
	if err != nil {
		t.Fatal(err)
	}
	bad := []sinks.Pending{
		{Epoch: 3, Files: []string{"part-other-0000000003-0000.parquet"}},
		{Epoch: 4, Files: p.Files},
		{Epoch: 3, Files: []string{"../part-t0-0000000003-0000.parquet"}},
		{Epoch: 3, Files: []string{".part-t0-0000000003-0000.parquet.inprogress"}},
		{Epoch: 3, Files: []string{".part-t0-open-0000.parquet.inprogress"}},
		{Epoch: 3, Files: []string{"hour-20260301T10-0000.parquet"}},
	}
	for _, b := range bad {
		if err := w.Commit(b); !errors.Is(err, ErrBadPending) {
			t.Errorf("Commit(%+v) = %v, want ErrBadPending", b, err)
		}
		if err := w.Recover(b); !errors.Is(err, ErrBadPending) {
			t.Errorf("Recover(%+v) = %v, want ErrBadPending", b, err)
		}
	}
	if err := os.Remove(filepath.Join(dir, tempName(p.Files[0]))); err != nil {
		t.Fatal(err)
	}
	if err := w.Commit(p); !errors.Is(err, ErrPendingLost) {
		t.Fatalf("Commit of a deleted pending file = %v, want ErrPendingLost", err)
	}
}

func TestEpochOrder(t *testing.T) {
	w := newWriter(t, t.TempDir(), Options{})
	if _, err := w.Precommit(5); err != nil {
		t.Fatal(err)
	}
	for _, e := range []uint64{5, 4, 0} {
		if _, err := w.Precommit(e); !errors.Is(err, ErrEpochOrder) {
			t.Errorf("Precommit(%d) after 5 = %v, want ErrEpochOrder", e, err)
		}
	}
	if _, err := w.Precommit(6); err != nil {
		t.Fatal(err)
	}
	// Recover sets the floor from the checkpoint's Pending.
	w2 := newWriter(t, t.TempDir(), Options{})
	if err := w2.Recover(sinks.Pending{Epoch: 9}); err != nil {
		t.Fatal(err)
	}
	if _, err := w2.Precommit(9); !errors.Is(err, ErrEpochOrder) {
		t.Errorf("Precommit(9) after Recover(9) = %v, want ErrEpochOrder", err)
	}
}

func TestRecover(t *testing.T) {
	type setup struct {
		precommitted []uint64 // epochs precommitted by the crashed run, not committed
		committed    []uint64 // epochs committed by the crashed run
		open         bool     // crashed run had an open file
	}
	tests := []struct {
		name       string
		setup      setup
		pending    uint64 // epoch of the Pending handed to Recover; 0 = zero Pending
		wantEpochs []uint64
	}{
		{"fresh directory", setup{}, 0, nil},
		{"crash between checkpoint and commit", setup{committed: []uint64{1}, precommitted: []uint64{2}}, 2, []uint64{1, 2}},
		{"crash before checkpoint", setup{committed: []uint64{1}, precommitted: []uint64{2}}, 1, []uint64{1}},
		{"crash while writing", setup{committed: []uint64{1}, open: true}, 1, []uint64{1}},
		{"several undurable epochs", setup{committed: []uint64{1}, precommitted: []uint64{2, 3}, open: true}, 2, []uint64{1, 2}},
		{"pending already committed", setup{committed: []uint64{1, 2}}, 2, []uint64{1, 2}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			dir := t.TempDir()
			wl := newWorkload(9, 4, 10)
			rowsOf := map[uint64][]sinks.MinuteRow{}
			pendings := map[uint64]sinks.Pending{}
			w := newWriter(t, dir, Options{TargetFileSize: 4 << 10, NoSync: true})
			epochs := slices.Concat(tt.setup.committed, tt.setup.precommitted)
			slices.Sort(epochs)
			for _, e := range epochs {
				rowsOf[e] = wl.rows(600, t0+int64(e)*sinks.MinuteMs, 1)
				if err := w.Write(rowsOf[e]); err != nil {
					t.Fatal(err)
				}
				p, err := w.Precommit(e)
				if err != nil {
					t.Fatal(err)
				}
				pendings[e] = p
				if slices.Contains(tt.setup.committed, e) {
					if err := w.Commit(p); err != nil {
						t.Fatal(err)
					}
				}
			}
			if tt.setup.open {
				if err := w.Write(wl.rows(10, t0, 1)); err != nil {
					t.Fatal(err)
				}
			}
			// Another writer's in-progress files must survive our Recover.
			other := newWriter(t, dir, Options{Prefix: "t0_b"})
			if err := other.Write(wl.rows(10, t0, 1)); err != nil {
				t.Fatal(err)
			}
			otherP, err := other.Precommit(2)
			if err != nil {
				t.Fatal(err)
			}
			if err := other.Write(wl.rows(10, t0, 1)); err != nil {
				t.Fatal(err)
			}
			before := listDir(t, dir)

			// Restart: a new writer recovers from the checkpoint.
			w2 := newWriter(t, dir, Options{})
			if err := w2.Recover(pendings[tt.pending]); err != nil {
				t.Fatal(err)
			}
			var want []sinks.MinuteRow
			for _, e := range tt.wantEpochs {
				want = append(want, rowsOf[e]...)
			}
			sameRows(t, readDir(t, dir), want)
			for _, nm := range before {
				n := parseName(nm)
				exists := slices.Contains(listDir(t, dir), nm)
				switch {
				case n.prefix == "t0_b" && !exists:
					t.Errorf("Recover removed %s of another writer", nm)
				case n.prefix == "t0" && n.kind != kindPart && exists:
					t.Errorf("Recover left %s", nm)
				}
			}
			// Recover is idempotent.
			if err := w2.Recover(pendings[tt.pending]); err != nil {
				t.Fatal(err)
			}
			sameRows(t, readDir(t, dir), want)
			// The other writer can still commit.
			if err := other.Commit(otherP); err != nil {
				t.Fatal(err)
			}
			// The recovered writer continues with the next epoch.
			next := wl.rows(5, t0, 1)
			epoch(t, w2, tt.pending+1, next)
			sameRows(t, readDir(t, dir), slices.Concat(want, next, slices.Concat(readFiles(t, dir, otherP.Files)...)))
		})
	}
}

func readFiles(t *testing.T, dir string, names []string) [][]sinks.MinuteRow {
	t.Helper()
	var out [][]sinks.MinuteRow
	for _, nm := range names {
		r, err := ReadFile(filepath.Join(dir, nm))
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, r)
	}
	return out
}

// TestRecoverMissingPending: a pending file gone in both forms was
// committed and then compacted away; Recover accepts that.
func TestRecoverMissingPending(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{})
	p := epoch(t, w, 1, newWorkload(10, 2, 2).rows(10, t0, 1))
	if err := os.Remove(filepath.Join(dir, p.Files[0])); err != nil {
		t.Fatal(err)
	}
	if err := newWriter(t, dir, Options{}).Recover(p); err != nil {
		t.Fatalf("Recover = %v, want nil", err)
	}
}

func TestRecoverAfterWrite(t *testing.T) {
	w := newWriter(t, t.TempDir(), Options{})
	if err := w.Write(newWorkload(11, 2, 2).rows(10, t0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(sinks.Pending{}); err == nil {
		t.Fatal("Recover after Write succeeded")
	}
}

func TestAbortAndClose(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{TargetFileSize: 4 << 10})
	wl := newWorkload(12, 4, 10)
	kept := wl.rows(100, t0, 1)
	if err := w.Write(kept); err != nil {
		t.Fatal(err)
	}
	p, err := w.Precommit(1)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(wl.rows(2000, t0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Abort(); err != nil {
		t.Fatal(err)
	}
	// Abort keeps the precommitted epoch: its fate belongs to the checkpoint.
	want := []string{tempName(p.Files[0])}
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("after Abort: %v, want %v", got, want)
	}
	if err := w.Commit(p); err != nil {
		t.Fatal(err)
	}
	if err := w.Write(wl.rows(10, t0, 1)); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	if got := listDir(t, dir); !slices.Equal(got, p.Files) {
		t.Fatalf("after Close: %v, want %v", got, p.Files)
	}
	sameRows(t, readDir(t, dir), kept)
	if err := w.Write(kept); !errors.Is(err, ErrClosed) {
		t.Fatalf("Write after Close = %v, want ErrClosed", err)
	}
	if _, err := w.Precommit(9); !errors.Is(err, ErrClosed) {
		t.Fatalf("Precommit after Close = %v, want ErrClosed", err)
	}
}

func TestOptionsValidation(t *testing.T) {
	dir := t.TempDir()
	tests := []struct {
		opts Options
		ok   bool
	}{
		{Options{}, true},
		{Options{Prefix: "sqlagg_p3"}, true},
		{Options{Prefix: "a-b"}, false},
		{Options{Prefix: "a.b"}, false},
		{Options{Prefix: "a/b"}, false},
		{Options{Prefix: strings.Repeat("a", 65)}, false},
		{Options{TargetFileSize: 4 << 10}, true},
		{Options{TargetFileSize: 4<<10 - 1}, false},
		{Options{TargetFileSize: -1}, false},
		{Options{RowGroupRows: 1}, true},
		{Options{RowGroupRows: 1<<30 + 1}, false},
		{Options{RowGroupBytes: 64<<10 - 1}, false},
		{Options{RowGroupBytes: 1 << 30}, true},
		{Options{Compression: CompressionNone + 1}, false},
	}
	for _, tt := range tests {
		w, err := New(dir, tt.opts)
		if tt.ok != (err == nil) {
			t.Errorf("New(%+v) error = %v, want ok=%v", tt.opts, err, tt.ok)
		}
		if err != nil && !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("New(%+v) error %v does not wrap ErrInvalidOptions", tt.opts, err)
		}
		if w != nil {
			w.Close()
		}
	}
	if _, err := New(filepath.Join(dir, "missing"), Options{}); err == nil {
		t.Error("New on a missing directory succeeded")
	}
}

// TestRowGroupsBounded: the writer flushes row groups by rows and by bytes,
// which is what bounds its memory.
func TestRowGroupsBounded(t *testing.T) {
	wl := newWorkload(13, 20, 200)
	rows := wl.rows(20000, t0, 1)
	for i := range rows {
		rows[i].SampleSQL = strings.Repeat(rows[i].SampleSQL, 4) + wl.templates[i%len(wl.templates)]
	}
	tests := []struct {
		opts        Options
		minGroups   int
		maxRowGroup int64 // bound on rows per group
	}{
		{Options{RowGroupRows: 3000}, 7, 3000},
		{Options{RowGroupBytes: 512 << 10}, 8, 20000},
	}
	for _, tt := range tests {
		path := writeOne(t, tt.opts, rows)
		f, err := os.Open(path)
		if err != nil {
			t.Fatal(err)
		}
		st, _ := f.Stat()
		pf, err := pq.OpenFile(f, st.Size())
		if err != nil {
			t.Fatal(err)
		}
		groups := pf.RowGroups()
		if len(groups) < tt.minGroups {
			t.Errorf("%+v: %d row groups, want at least %d", tt.opts, len(groups), tt.minGroups)
		}
		for _, g := range groups {
			if g.NumRows() > tt.maxRowGroup {
				t.Errorf("%+v: row group of %d rows", tt.opts, g.NumRows())
			}
		}
		f.Close()
	}
}

// TestMemoryBounded: the writer streams an epoch to disk instead of holding
// it. The live heap after writing 64 MiB worth of rows into one open epoch
// stays near RowGroupBytes plus the per-column page buffers.
func TestMemoryBounded(t *testing.T) {
	dir := t.TempDir()
	w := newWriter(t, dir, Options{RowGroupBytes: 1 << 20, Compression: CompressionNone, NoSync: true})
	wl := newWorkload(14, 50, 400)
	batch := make([]sinks.MinuteRow, 1000)
	heap := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapAlloc
	}
	var base uint64
	var raw int
	for i := range 300 {
		for j := range batch {
			batch[j] = wl.row(t0 + int64(j%60)*sinks.MinuteMs)
			batch[j].SampleSQL += fmt.Sprintf(" /* %d */", i*len(batch)+j) // defeat compression a little
			raw += len(batch[j].SampleSQL) + len(batch[j].Template) + 14*8
		}
		if err := w.Write(batch); err != nil {
			t.Fatal(err)
		}
		if i == 9 {
			base = heap()
		}
	}
	grew := int64(heap()) - int64(base)
	t.Logf("wrote %d MiB of row data; live heap grew %d KiB after the first 10k rows", raw>>20, grew>>10)
	if raw < 64<<20 {
		t.Fatalf("test wrote only %d MiB", raw>>20)
	}
	if grew > 24<<20 {
		t.Fatalf("live heap grew by %d MiB while writing one epoch: rows are being held", grew>>20)
	}
	if _, err := w.Precommit(1); err != nil {
		t.Fatal(err)
	}
}
