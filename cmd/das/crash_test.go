package main

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"syscall"
	"testing"
	"time"

	"github.com/das-project/das/operators"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
)

// buildDas compiles the das binary into a temp dir once per test binary.
func buildDas(t *testing.T) string {
	t.Helper()
	bin := filepath.Join(t.TempDir(), "das")
	cmd := exec.Command("go", "build", "-o", bin, ".")
	cmd.Env = append(os.Environ(), "CGO_ENABLED=0")
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("build das: %v\n%s", err, out)
	}
	return bin
}

// crashEvents writes a JSON-lines workload with disorder, stragglers (some
// beyond the lateness) and bad records.
func crashEvents(t *testing.T, n int) string {
	t.Helper()
	r := rand.New(rand.NewPCG(11, 12))
	var buf bytes.Buffer
	base := int64(1_767_225_600_000)
	sqls := []string{"SELECT * FROM t%d WHERE id = %d", "UPDATE u%d SET x = x + 1 WHERE k = '%d'", "INSERT INTO log%d VALUES (%d, 'a', 'b')"}
	for i := 0; i < n; i++ {
		if i%997 == 0 {
			buf.WriteString("{\"ts_ms\": oops}\n")
			continue
		}
		ts := base + int64(i)*20 + r.Int64N(4000)
		if r.IntN(100) == 0 {
			ts -= r.Int64N(30 * 60_000)
		}
		ev := sources.Event{TsMs: ts, Instance: fmt.Sprintf("10.0.0.%d:3306", r.IntN(4)), DB: fmt.Sprintf("db%d", r.IntN(3)),
			SQL: []byte(fmt.Sprintf(sqls[r.IntN(3)], r.IntN(40), r.IntN(100000))), LatencyUs: r.Int64N(50000), RowsSent: r.Int64N(10)}
		buf.Write(sources.AppendJSON(nil, &ev))
		buf.WriteByte('\n')
	}
	p := filepath.Join(t.TempDir(), "events.jsonl")
	if err := os.WriteFile(p, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func runDas(bin string, args ...string) *exec.Cmd {
	cmd := exec.Command(bin, args...)
	cmd.Stdout, cmd.Stderr = nil, nil
	return cmd
}

// finalRows reads the committed Parquet and keeps the highest version per
// key, with the version zeroed: how many corrections a key went through
// depends on when checkpoints happened, its final value must not.
func finalRows(t *testing.T, dir string) []sinks.MinuteRow {
	t.Helper()
	rows, err := parquet.ReadLatest(dir)
	if err != nil {
		t.Fatal(err)
	}
	for i := range rows {
		rows[i].Version = 0
	}
	sort.Slice(rows, func(i, j int) bool { return sinks.CompareKeys(rows[i].Key(), rows[j].Key()) < 0 })
	return rows
}

// TestKillDashNine kills a real das run with SIGKILL at several points,
// restarts it on the same state each time, and compares the final Parquet
// content and the dead letter with an uninterrupted run.
func TestKillDashNine(t *testing.T) {
	bin := buildDas(t)
	in := crashEvents(t, 300_000)
	common := func(dir string) []string {
		return []string{"run", "sqlagg", "--input", in, "--state", filepath.Join(dir, "state"), "--parquet", filepath.Join(dir, "pq"),
			"--checkpoint-interval", "30ms", "--batch-size", "512", "--allowed-lateness", "10m"}
	}
	ref := t.TempDir()
	began := time.Now()
	if out, err := runDas(bin, common(ref)...).CombinedOutput(); err != nil {
		t.Fatalf("uninterrupted run: %v\n%s", err, out)
	}
	want := finalRows(t, filepath.Join(ref, "pq"))
	wantDL, err := os.ReadFile(filepath.Join(ref, "state", "dead-letter.jsonl"))
	if err != nil || len(want) == 0 || len(wantDL) == 0 {
		t.Fatalf("reference run produced %d rows, %d dead-letter bytes (%v)", len(want), len(wantDL), err)
	}

	// Kill points are fractions of the uninterrupted run's duration, so
	// that they land mid-stream however fast the machine or the engine is;
	// each restart resumes from its last checkpoint and has less to do.
	whole := time.Since(began)
	var delays []time.Duration
	for _, f := range []float64{0.06, 0.10, 0.14, 0.18, 0.22} {
		delays = append(delays, max(time.Duration(f*float64(whole)), 20*time.Millisecond))
	}
	// The killed runs also compact and rotate the dead letter in the second
	// variant: kills land in compactions and rotations too.
	for _, v := range []struct {
		name  string
		extra []string
	}{
		{"plain", nil},
		{"compacting-rotating", []string{"--compact-interval", "10ms", "--dead-letter-max-bytes", "65536"}},
	} {
		t.Run(v.name, func(t *testing.T) {
			dir := t.TempDir()
			kills, midStream := 0, 0
			for attempt := 0; ; attempt++ {
				cmd := runDas(bin, append(common(dir), v.extra...)...)
				if err := cmd.Start(); err != nil {
					t.Fatal(err)
				}
				done := make(chan error, 1)
				go func() { done <- cmd.Wait() }()
				delay := time.Hour // the last run goes to the end
				if attempt < len(delays) {
					delay = delays[attempt]
				}
				select {
				case err := <-done:
					if err != nil {
						t.Fatalf("run %d failed: %v", attempt, err)
					}
					attempt = 1 << 20 // finished
				case <-time.After(delay):
					_ = cmd.Process.Signal(syscall.SIGKILL)
					<-done
					kills++
					if files, _ := filepath.Glob(filepath.Join(dir, "pq", "*.parquet")); len(files) > 0 {
						midStream++ // a kill after output was committed, not only at start-up
					}
				}
				if attempt >= 1<<20 {
					break
				}
			}
			if kills < 3 || midStream < 2 {
				t.Fatalf("only %d kills landed before the run finished (%d after committed output); the workload is too small to test crashes", kills, midStream)
			}
			got := finalRows(t, filepath.Join(dir, "pq"))
			if len(got) != len(want) {
				t.Fatalf("after %d kills: %d final rows, uninterrupted %d", kills, len(got), len(want))
			}
			for i := range want {
				if got[i] != want[i] {
					t.Fatalf("after %d kills, row %d differs:\n got %+v\nwant %+v", kills, i, got[i], want[i])
				}
			}
			// The dead letter: rotated files in order, then the current one.
			files, err := operators.DeadLetterFiles(filepath.Join(dir, "state", "dead-letter.jsonl"))
			if err != nil {
				t.Fatal(err)
			}
			var gotDL []byte
			for _, f := range files {
				b, err := os.ReadFile(f)
				if err != nil {
					t.Fatal(err)
				}
				gotDL = append(gotDL, b...)
			}
			rotated := len(files) - 1
			if !bytes.Equal(gotDL, wantDL) {
				t.Fatalf("after %d kills the dead letter differs (%d vs %d bytes, %d rotated files)", kills, len(gotDL), len(wantDL), rotated)
			}
			hours, _ := filepath.Glob(filepath.Join(dir, "pq", "hour-*.parquet"))
			if v.extra != nil && (rotated == 0 || len(hours) == 0) {
				t.Fatalf("the compacting, rotating runs left %d hour files and %d rotated dead-letter files", len(hours), rotated)
			}
			matches, _ := filepath.Glob(filepath.Join(dir, "pq", "*.inprogress"))
			if len(matches) != 0 {
				t.Fatalf("in-progress files left after a clean finish: %v", matches)
			}
			t.Logf("%d kills, %d of them after committed output (uninterrupted run %v), %d final rows, %d dead-letter bytes identical (%d rotated files, %d hour files)",
				kills, midStream, whole, len(got), len(gotDL), rotated, len(hours))
		})
	}
}
