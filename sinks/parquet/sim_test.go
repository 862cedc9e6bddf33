package parquet

import (
	"context"
	"fmt"
	"math/rand/v2"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sinks"
)

// TestCrashSimulation drives a writer the way the engine does — epochs of
// writes, Precommit, a durable checkpoint holding the encoded Pending,
// Commit — and kills it at random points: in the middle of an epoch's
// writes, after Precommit, and between the checkpoint and Commit. Each
// restart builds a new Writer and calls Recover with the last durable
// checkpoint's Pending. Compactions run now and then. Whatever the seed, the
// directory must end up holding exactly the rows of the epochs whose
// checkpoint became durable: all of them, once each, until a compaction
// legitimately drops superseded versions — and the highest version of every
// key always. The seed is in the subtest name to replay a failure.
func TestCrashSimulation(t *testing.T) {
	for seed := uint64(1); seed <= 10; seed++ {
		t.Run(fmt.Sprintf("seed=%d", seed), func(t *testing.T) { simulate(t, seed) })
	}
}

func simulate(t *testing.T, seed uint64) {
	rng := rand.New(rand.NewPCG(seed, 77))
	wl := newWorkload(seed, 3, 6)
	dir := t.TempDir()
	opts := Options{
		Prefix:       []string{"p0", "sqlagg_p1"}[rng.IntN(2)],
		Compression:  Compression(rng.IntN(4)),
		RowGroupRows: []int64{0, 150}[rng.IntN(2)],
		NoSync:       true,
	}
	if rng.IntN(2) == 0 {
		opts.TargetFileSize = 4 << 10
	}
	// Another writer shares the directory and is never disturbed.
	other := newWriter(t, dir, Options{Prefix: "other", NoSync: true})
	otherRows := wl.rows(50, t0, 10)
	epoch(t, other, 1, otherRows)

	var (
		checkpoint []byte // durable checkpoint: the encoded Pending
		durable    uint64 // its epoch
		model      = slices.Clone(otherRows)
		compacted  bool
		log        []string
	)
	restart := func() *Writer {
		t.Helper()
		w, err := New(dir, opts)
		if err != nil {
			t.Fatal(err)
		}
		var p sinks.Pending
		if checkpoint != nil {
			if err := p.UnmarshalBinary(checkpoint); err != nil {
				t.Fatal(err)
			}
		}
		if err := w.Recover(p); err != nil {
			t.Fatalf("Recover after %v: %v", log, err)
		}
		return w
	}
	// kill abandons w as a killed process would: its descriptors close, its
	// files stay as they are.
	kill := func(w *Writer, where string) *Writer {
		if w.cur != nil {
			_ = w.cur.discard()
		}
		log = append(log, "kill "+where)
		return restart()
	}

	w := restart()
	for step := 0; step < 30; step++ {
		e := durable + 1
		var rows []sinks.MinuteRow
		for range rng.IntN(400) {
			r := wl.row(t0 + int64(rng.IntN(180))*sinks.MinuteMs)
			r.Version = 1 + rng.Int64N(4)
			rows = append(rows, r)
		}
		crash := rng.IntN(10) // 0: mid-write, 1: after Precommit, 2: before Commit
		written, killed := 0, false
		for written < len(rows) {
			k := min(len(rows)-written, 1+rng.IntN(300))
			if err := w.Write(rows[written : written+k]); err != nil {
				t.Fatal(err)
			}
			written += k
			if crash == 0 && rng.IntN(3) == 0 {
				w, killed = kill(w, fmt.Sprintf("epoch %d mid-write", e)), true
				break
			}
		}
		if killed {
			continue
		}
		p, err := w.Precommit(e)
		if err != nil {
			t.Fatal(err)
		}
		if crash == 1 {
			w = kill(w, fmt.Sprintf("epoch %d after Precommit", e))
			continue
		}
		if checkpoint, err = p.MarshalBinary(); err != nil {
			t.Fatal(err)
		}
		durable = e
		model = append(model, rows...)
		if crash == 2 {
			w = kill(w, fmt.Sprintf("epoch %d before Commit", e))
			continue
		}
		if err := w.Commit(p); err != nil {
			t.Fatal(err)
		}
		log = append(log, fmt.Sprintf("commit %d", e))
		if rng.IntN(8) == 0 {
			before := time.UnixMilli(t0 + int64(rng.IntN(4))*hourMs)
			if _, err := Compact(context.Background(), dir, CompactOptions{Before: before, NoSync: true}); err != nil {
				t.Fatal(err)
			}
			compacted = true
			log = append(log, fmt.Sprintf("compact before %v", before.UTC()))
		}
	}
	w = kill(w, "at the end")
	defer w.Close()

	for _, nm := range listDir(t, dir) {
		if strings.HasSuffix(nm, inprogressExt) {
			t.Fatalf("in-progress file %s left after Recover (log %v)", nm, log)
		}
	}
	if !compacted {
		sameRows(t, readDir(t, dir), model)
	}
	got, err := ReadLatest(dir)
	if err != nil {
		t.Fatal(err)
	}
	if want := sinks.LatestByKey(model); !slices.Equal(got, want) {
		t.Logf("log: %v", log)
		sameRows(t, got, want)
		t.Fatal("same rows, different order")
	}
}
