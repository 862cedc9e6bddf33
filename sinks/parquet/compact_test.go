package parquet

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sinks"
)

// compactFixture builds a directory written by two writers over three
// hours: H0 and H1 are complete, H2 is the current hour. Writer a's epoch 3
// holds corrections for H1 and first rows of H2, so it spans both.
type compactFixture struct {
	dir       string
	h0, h1    int64
	h2        int64
	lateEpoch []string // writer a's epoch-3 files (span H1 and H2)
}

func newCompactFixture(t *testing.T) *compactFixture {
	t.Helper()
	f := &compactFixture{dir: t.TempDir(), h0: t0, h1: t0 + hourMs, h2: t0 + 2*hourMs}
	wl := newWorkload(20, 6, 25)
	a := newWriter(t, f.dir, Options{Prefix: "a", NoSync: true})
	b := newWriter(t, f.dir, Options{Prefix: "b", NoSync: true})

	e1 := wl.rows(600, f.h0, 60)
	epoch(t, a, 1, e1)
	var e2 []sinks.MinuteRow
	for i := 0; i < len(e1); i += 3 {
		e2 = append(e2, correct(e1[i], 5))
	}
	h1 := wl.rows(600, f.h1, 60)
	e2 = append(e2, h1...)
	epoch(t, a, 2, e2)
	var e3 []sinks.MinuteRow
	for i := 0; i < len(h1); i += 4 {
		e3 = append(e3, correct(correct(h1[i], 1), 1))
	}
	e3 = append(e3, wl.rows(200, f.h2, 10)...)
	f.lateEpoch = epoch(t, a, 3, e3).Files
	epoch(t, b, 1, wl.rows(300, f.h0, 60))
	epoch(t, b, 2, wl.rows(300, f.h1+30*sinks.MinuteMs, 1))
	return f
}

func checkHourFiles(t *testing.T, dir string) {
	t.Helper()
	for _, nm := range globParquet(t, dir) {
		n := parseName(nm)
		if n.kind != kindHour {
			continue
		}
		rows, err := ReadFile(filepath.Join(dir, nm))
		if err != nil {
			t.Fatal(err)
		}
		for i := range rows {
			if floorHour(rows[i].Minute) != n.hour {
				t.Fatalf("%s holds a row of minute %d", nm, rows[i].Minute)
			}
			if i > 0 && sinks.CompareKeys(rows[i-1].Key(), rows[i].Key()) >= 0 {
				t.Fatalf("%s: rows %d and %d not strictly increasing by key", nm, i-1, i)
			}
		}
	}
}

func TestCompact(t *testing.T) {
	f := newCompactFixture(t)
	want, err := ReadLatest(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	rowsBefore := len(readDir(t, f.dir))
	before := time.UnixMilli(f.h2 + 30*sinks.MinuteMs)

	st, err := Compact(context.Background(), f.dir, CompactOptions{Before: before})
	if err != nil {
		t.Fatal(err)
	}
	wantFiles := append([]string{hourName(f.h0, 1), hourName(f.h1, 1)}, f.lateEpoch...)
	slices.Sort(wantFiles)
	if got := listDir(t, f.dir); !slices.Equal(got, wantFiles) {
		t.Fatalf("after Compact: %v, want %v", got, wantFiles)
	}
	lateRows := 0
	for _, r := range readFiles(t, f.dir, f.lateEpoch) {
		lateRows += len(r)
	}
	if st.Hours != 2 || st.FilesMerged != 4 || st.FilesRemoved != 4 || st.RowsIn != int64(rowsBefore-lateRows) {
		t.Fatalf("stats %+v (rows before %d, late %d)", st, rowsBefore, lateRows)
	}
	if got, _ := ReadLatest(f.dir); !slices.Equal(got, want) {
		sameRows(t, got, want)
	}
	checkHourFiles(t, f.dir)
	if st.RowsOut >= st.RowsIn {
		t.Fatalf("RowsOut %d >= RowsIn %d: older versions were kept", st.RowsOut, st.RowsIn)
	}

	// Idempotent: the same call again changes nothing.
	st, err = Compact(context.Background(), f.dir, CompactOptions{Before: before})
	if err != nil {
		t.Fatal(err)
	}
	if st != (CompactStats{}) {
		t.Fatalf("second Compact did %+v", st)
	}
	if got := listDir(t, f.dir); !slices.Equal(got, wantFiles) {
		t.Fatalf("second Compact changed the directory: %v", got)
	}

	// A late correction for H0 arrives; later, everything is old enough.
	w := newWriter(t, f.dir, Options{Prefix: "a", NoSync: true})
	if err := w.Recover(sinks.Pending{Epoch: 3, Files: f.lateEpoch}); err != nil {
		t.Fatal(err)
	}
	late := correct(correct(want[0], 100), 100)
	epoch(t, w, 4, []sinks.MinuteRow{late})
	want[0] = late
	st, err = Compact(context.Background(), f.dir, CompactOptions{Before: time.UnixMilli(f.h2 + hourMs)})
	if err != nil {
		t.Fatal(err)
	}
	if st.Hours != 3 {
		t.Fatalf("third Compact rewrote %d hours, want 3", st.Hours)
	}
	wantFiles = []string{hourName(f.h0, 2), hourName(f.h1, 2), hourName(f.h2, 1)}
	if got := listDir(t, f.dir); !slices.Equal(got, wantFiles) {
		t.Fatalf("after third Compact: %v, want %v", got, wantFiles)
	}
	got, err := ReadLatest(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	sameRows(t, got, want)
	if all := readDir(t, f.dir); len(all) != len(want) {
		t.Fatalf("fully compacted directory holds %d rows for %d keys", len(all), len(want))
	}
	checkHourFiles(t, f.dir)
}

func TestCompactDefaultBefore(t *testing.T) {
	f := newCompactFixture(t)
	// Now is in H2: the default Before (Now - 1h) lies in H1, so only H0 is
	// old enough and only files with rows in H0 alone are merged.
	now := func() time.Time { return time.UnixMilli(f.h2 + 10*sinks.MinuteMs) }
	st, err := Compact(context.Background(), f.dir, CompactOptions{Now: now, NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if st.Hours != 1 || st.FilesMerged != 2 {
		t.Fatalf("stats %+v, want 1 hour from 2 files", st)
	}
	for _, nm := range listDir(t, f.dir) {
		if n := parseName(nm); n.kind == kindHour && n.hour != f.h0 {
			t.Fatalf("hour file %s beyond H0", nm)
		}
	}
}

// TestCompactCrash interrupts Compact at each step and checks that readers
// applying the highest-version rule see the same data throughout, and that
// the next Compact finishes the job.
func TestCompactCrash(t *testing.T) {
	tests := []struct {
		name string
		fail func(op, name string) bool
		sync bool // run with fsync: the fault is in an fsync
	}{
		{"create hour file", func(op, nm string) bool { return op == "create" }, false},
		{"write hour file", func(op, nm string) bool { return op == "write" && strings.Contains(nm, "hour-") }, false},
		{"sync hour file", func(op, nm string) bool { return op == "sync" }, true},
		{"close hour file", func(op, nm string) bool { return op == "close" }, false},
		{"rename second hour", func(op, nm string) bool { return op == "rename" && strings.Contains(nm, "T11") }, false},
		{"sync directory", func(op, nm string) bool { return op == "syncdir" }, true},
		{"remove first input", func(op, nm string) bool { return op == "remove" }, false},
		{"remove a later input", func(op, nm string) bool { return op == "remove" && strings.HasPrefix(nm, "part-b") }, false},
		{"list", func(op, nm string) bool { return op == "list" }, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newCompactFixture(t)
			want, err := ReadLatest(f.dir)
			if err != nil {
				t.Fatal(err)
			}
			fs := &errorFS{fail: tt.fail}
			before := time.UnixMilli(f.h2 + 30*sinks.MinuteMs)
			if _, err := Compact(context.Background(), f.dir, CompactOptions{Before: before, fs: fs, NoSync: !tt.sync}); !errors.Is(err, errInjected) {
				t.Fatalf("Compact = %v, want the injected fault", err)
			}
			got, err := ReadLatest(f.dir)
			if err != nil {
				t.Fatalf("directory unreadable after interrupted Compact: %v", err)
			}
			sameRows(t, got, want)

			fs.setFail(nil)
			if _, err := Compact(context.Background(), f.dir, CompactOptions{Before: before, fs: fs, NoSync: !tt.sync}); err != nil {
				t.Fatal(err)
			}
			got, err = ReadLatest(f.dir)
			if err != nil {
				t.Fatal(err)
			}
			sameRows(t, got, want)
			hours := map[int64]int{}
			for _, nm := range listDir(t, f.dir) {
				n := parseName(nm)
				switch n.kind {
				case kindHour:
					hours[n.hour]++
				case kindPart:
					if !slices.Contains(f.lateEpoch, nm) {
						t.Errorf("input %s left after the second Compact", nm)
					}
				default:
					t.Errorf("unexpected file %s", nm)
				}
			}
			if len(hours) != 2 || hours[f.h0] != 1 || hours[f.h1] != 1 {
				t.Errorf("hour files per hour: %v, want one each for H0 and H1", hours)
			}
			checkHourFiles(t, f.dir)
		})
	}
}

func TestCompactCancelled(t *testing.T) {
	f := newCompactFixture(t)
	names := listDir(t, f.dir)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Compact(ctx, f.dir, CompactOptions{Before: time.UnixMilli(f.h2)}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Compact = %v, want context.Canceled", err)
	}
	if got := listDir(t, f.dir); !slices.Equal(got, names) {
		t.Fatalf("cancelled Compact changed the directory: %v", got)
	}
}

// TestCompactLeavesInProgress: files being written or awaiting commit are
// never read or removed by Compact, whatever their age.
func TestCompactLeavesInProgress(t *testing.T) {
	dir := t.TempDir()
	wl := newWorkload(21, 3, 5)
	w := newWriter(t, dir, Options{NoSync: true})
	p := epoch(t, w, 1, wl.rows(100, t0, 10))
	if err := w.Write(wl.rows(100, t0, 10)); err != nil {
		t.Fatal(err)
	}
	p2, err := w.Precommit(2)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Write(wl.rows(100, t0, 10)); err != nil {
		t.Fatal(err)
	}
	st, err := Compact(context.Background(), dir, CompactOptions{Before: time.UnixMilli(t0 + 24*hourMs)})
	if err != nil {
		t.Fatal(err)
	}
	if st.FilesMerged != 1 || st.Hours != 1 {
		t.Fatalf("stats %+v, want the one committed file merged", st)
	}
	want := []string{hourName(t0, 1), openName("t0", 0), tempName(p2.Files[0])}
	slices.Sort(want)
	if got := listDir(t, dir); !slices.Equal(got, want) {
		t.Fatalf("directory %v, want %v", got, want)
	}
	_ = p
	if err := w.Commit(p2); err != nil {
		t.Fatal(err)
	}
	if _, err := w.Precommit(3); err != nil {
		t.Fatal(err)
	}
}

func TestCompactOptionsValidation(t *testing.T) {
	for _, o := range []CompactOptions{
		{RowGroupRows: -1},
		{RowGroupBytes: 1},
		{Compression: 99},
	} {
		if _, err := Compact(context.Background(), t.TempDir(), o); !errors.Is(err, ErrInvalidOptions) {
			t.Errorf("Compact(%+v) = %v, want ErrInvalidOptions", o, err)
		}
	}
}

func TestFloorHour(t *testing.T) {
	for _, tt := range []struct{ in, want int64 }{
		{0, 0}, {1, 0}, {hourMs - 1, 0}, {hourMs, hourMs}, {-1, -hourMs}, {-hourMs, -hourMs}, {t0 + 59*sinks.MinuteMs, t0},
	} {
		if got := floorHour(tt.in); got != tt.want {
			t.Errorf("floorHour(%d) = %d, want %d", tt.in, got, tt.want)
		}
	}
}

// TestReadDuringCompact: readers that list the directory while Compact
// replaces files see the same final values throughout.
func TestReadDuringCompact(t *testing.T) {
	f := newCompactFixture(t)
	want, err := ReadLatest(f.dir)
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() {
		_, err := Compact(context.Background(), f.dir, CompactOptions{Before: time.UnixMilli(f.h2 + hourMs), NoSync: true})
		done <- err
	}()
	for reads := 0; ; reads++ {
		got, err := ReadLatest(f.dir)
		if err != nil {
			<-done
			t.Fatalf("read %d during Compact: %v", reads, err)
		}
		if !slices.Equal(got, want) {
			<-done
			t.Fatalf("read %d during Compact differs", reads)
		}
		select {
		case err := <-done:
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%d reads during Compact", reads+1)
			return
		default:
		}
	}
}
