package report

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
)

// readDir runs a Parquet directory through ReadParquetDir and a Collector
// as das report does.
func readDir(t *testing.T, dir string, o Options) (*Collector, ParquetStats) {
	t.Helper()
	c := NewCollector(o.Keep())
	st, err := ReadParquetDir(context.Background(), dir, o.WantHour, func(rows []sinks.MinuteRow) error {
		c.Add(rows)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return c, st
}

// TestParquetCorrections: rows written through the real Parquet sink, with
// corrections in later epochs and files, give the same report as the final
// rows: version 2 replaces version 1, it is never added to it.
func TestParquetCorrections(t *testing.T) {
	cur, base := fixture()
	dir := t.TempDir()
	// Epoch 1 holds version 1 of every current row, with minute 3 of A and
	// minute 5 of B wrong; epoch 2 corrects them (version 2); a second
	// writer re-emits B's correction (a restart) and corrects C twice.
	v1 := make([]sinks.MinuteRow, len(cur))
	copy(v1, cur)
	var fixes []sinks.MinuteRow
	for i := range v1 {
		r := &v1[i]
		switch {
		case r.TemplateID == idA && r.Minute == minute(3):
			fix := *r
			fix.Version = 2
			fixes = append(fixes, fix)
			r.Count, r.LatencySumUs = 1, 7 // the first emit saw one statement
		case r.TemplateID == idB && r.Minute == minute(5):
			fix := *r
			fix.Version = 2
			fixes = append(fixes, fix)
			r.Count, r.Errors = 49, 1
		}
	}
	c9 := cur[len(cur)-1] // C's only row, last of cur and of v1
	v1[len(v1)-1].LatencySumUs = 5
	cWrong2 := c9
	cWrong2.Version, cWrong2.LatencySumUs = 2, 6
	c9.Version = 3
	writeParquet(t, dir, "p0", v1, fixes)
	writeParquet(t, dir, "p1", []sinks.MinuteRow{fixes[1], cWrong2}, []sinks.MinuteRow{c9})
	writeParquet(t, dir, "p2", base)

	c, st := readDir(t, dir, Options{})
	if st.Files != 5 {
		t.Fatalf("read %d files, want 5", st.Files)
	}
	got := mustBuild(t, c.Rows(), curOpts())
	want := mustBuild(t, cur, curOpts())
	if !reflect.DeepEqual(got.Templates, want.Templates) || !reflect.DeepEqual(got.Overall, want.Overall) {
		t.Fatalf("report over corrected files differs from the report over the final rows:\n got %+v\nwant %+v", got.Overall, want.Overall)
	}
	if got.Overall.Statements != 1101 {
		t.Fatalf("%d statements, want 1101 (versions added instead of replaced?)", got.Overall.Statements)
	}
	if s := c.Stats(); s.Rows != int64(len(v1)+len(fixes)+2+1+len(base)) || s.Superseded != 5 {
		t.Fatalf("stats %+v", s)
	}

	// After compaction of the baseline's hour (09:00), the hour file is
	// skipped when only the current range is wanted, and read for the
	// comparison.
	if _, err := parquet.Compact(context.Background(), dir, parquet.CompactOptions{Before: at(0)}); err != nil {
		t.Fatal(err)
	}
	names, _ := filepath.Glob(filepath.Join(dir, "hour-*.parquet"))
	if len(names) != 1 || !strings.Contains(names[0], "hour-20260301T09-") {
		t.Fatalf("hour files %v", names)
	}
	c, st = readDir(t, dir, curOpts())
	if st.Skipped != 1 {
		t.Fatalf("skipped %d hour files, want 1", st.Skipped)
	}
	if rep := mustBuild(t, c.Rows(), curOpts()); !reflect.DeepEqual(rep.Templates, want.Templates) {
		t.Fatal("report after compaction differs")
	}
	o := curOpts()
	o.BaselineShift = 10 * time.Minute
	c, st = readDir(t, dir, o)
	if st.Skipped != 0 {
		t.Fatalf("comparison skipped %d hour files", st.Skipped)
	}
	if rep := mustBuild(t, c.Rows(), o); rep.Compare.Baseline.Statements != 1011 {
		t.Fatalf("baseline after compaction: %d statements", rep.Compare.Baseline.Statements)
	}
}

func TestParquetInputErrors(t *testing.T) {
	ctx := context.Background()
	nop := func([]sinks.MinuteRow) error { return nil }
	empty := t.TempDir()
	if _, err := ReadParquetDir(ctx, empty, nil, nop); !errors.Is(err, ErrNoInput) || !strings.Contains(err.Error(), "no committed minute files") {
		t.Errorf("empty dir: %v", err)
	}
	// Files in progress are not committed output.
	if err := os.WriteFile(filepath.Join(empty, ".part-0-open-0000.parquet.inprogress"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadParquetDir(ctx, empty, nil, nop); !errors.Is(err, ErrNoInput) {
		t.Errorf("only an in-progress file: %v", err)
	}
	if _, err := ReadParquetDir(ctx, filepath.Join(empty, "missing"), nil, nop); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing dir: %v", err)
	}
	file := filepath.Join(empty, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadParquetDir(ctx, file, nil, nop); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("file as dir: %v", err)
	}
	bad := t.TempDir()
	if err := os.WriteFile(filepath.Join(bad, "part-x.parquet"), []byte("not parquet at all"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadParquetDir(ctx, bad, nil, nop); !errors.Is(err, parquet.ErrCorruptFile) || !strings.Contains(err.Error(), "part-x.parquet") {
		t.Errorf("corrupt file: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	dir := t.TempDir()
	cur, _ := fixture()
	writeParquet(t, dir, "p0", cur)
	if _, err := ReadParquetDir(cctx, dir, nil, nop); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: %v", err)
	}
	stop := errors.New("stop")
	if _, err := ReadParquetDir(ctx, dir, nil, func([]sinks.MinuteRow) error { return stop }); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}
}

func TestHourOfName(t *testing.T) {
	for name, want := range map[string]int64{
		"hour-20260301T09-0000.parquet":   t0 - 3_600_000,
		"hour-20260301T10-0012.parquet":   t0,
		"hour-2026030T10-0000.parquet":    -1,
		"hour-20260301T25-0000.parquet":   -1,
		"part-p0-0000000001-0000.parquet": -1,
	} {
		got, ok := hourOfName(name)
		if want < 0 && ok || want >= 0 && (!ok || got != want) {
			t.Errorf("%s: %d %v, want %d", name, got, ok, want)
		}
	}
}
