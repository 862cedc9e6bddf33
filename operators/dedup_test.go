package operators

import (
	"math/rand/v2"
	"path/filepath"
	"slices"
	"testing"

	"github.com/das-project/das/state"
)

type rec struct {
	src     string
	seq, ts int64
}

func recKey(r *rec) (string, int64, int64, bool) { return r.src, r.seq, r.ts, r.src != "" }

func openDedup(t *testing.T, dir string) (*state.Store, *Dedup[rec]) {
	t.Helper()
	st, err := state.Open(dir, state.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	d, err := OpenDedup(st, DedupOptions[rec]{Key: recKey, Retention: 60_000})
	if err != nil {
		t.Fatal(err)
	}
	return st, d
}

func checkpoint(t *testing.T, st *state.Store, d *Dedup[rec], wm int64) {
	t.Helper()
	b := st.NewBatch()
	if err := d.Stage(b, wm); err != nil {
		t.Fatal(err)
	}
	if err := st.Commit(b, &state.Checkpoint{Epoch: 1}); err != nil {
		t.Fatal(err)
	}
}

// TestDedupFilter: resends (seq not above the highest counted for their
// stream) are dropped, records without a key always pass, and rejects of
// the filtered batch map back to the original indexes.
func TestDedupFilter(t *testing.T) {
	_, d := openDedup(t, filepath.Join(t.TempDir(), "s"))
	items := []rec{
		{"a", 1, 10}, {"a", 2, 10}, {"b", 5, 10}, {"", 0, 10}, {"a", 2, 11}, // dup
		{"a", 1, 12},                            // dup
		{"b", 6, 12}, {"", 0, 12}, {"b", 6, 13}, // dup
	}
	wm := []int64{0, 1, 2, 3, 4, 5, 6, 7, 8}
	var rejected []int
	got, gotWm, reject := d.Filter(items, wm, func(i int, _ string) { rejected = append(rejected, i) })
	want := []rec{{"a", 1, 10}, {"a", 2, 10}, {"b", 5, 10}, {"", 0, 10}, {"b", 6, 12}, {"", 0, 12}}
	if !slices.Equal(got, want) || !slices.Equal(gotWm, []int64{0, 1, 2, 3, 6, 7}) {
		t.Fatalf("Filter = %v %v, want %v", got, gotWm, want)
	}
	reject(4, "x") // got[4] is items[6]
	if !slices.Equal(rejected, []int{6}) {
		t.Fatalf("reject mapped to %v, want [6]", rejected)
	}
	if d.Dropped() != 3 {
		t.Fatalf("Dropped = %d, want 3", d.Dropped())
	}
	// A batch without duplicates is passed through untouched.
	clean := []rec{{"a", 3, 20}, {"c", 1, 20}}
	if got, _, _ := d.Filter(clean, []int64{0, 0}, nil); &got[0] != &clean[0] {
		t.Fatal("a batch without duplicates was copied")
	}
}

// TestDedupPersistsAndForgets: positions and the counter survive a
// reopen; what was not staged is rolled back with the checkpoint; a
// stream silent for the retention is forgotten.
func TestDedupPersistsAndForgets(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "s")
	st, d := openDedup(t, dir)
	d.Filter([]rec{{"a", 5, 1000}, {"b", 9, 100_000}, {"a", 4, 1000}}, make([]int64, 3), nil)
	checkpoint(t, st, d, 0)
	d.Filter([]rec{{"a", 50, 1000}}, make([]int64, 1), nil) // not checkpointed
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, d = openDedup(t, dir)
	if d.Dropped() != 1 || d.Streams() != 2 {
		t.Fatalf("after reopen: dropped %d streams %d, want 1 and 2", d.Dropped(), d.Streams())
	}
	got, _, _ := d.Filter([]rec{{"a", 5, 1000}, {"a", 6, 1000}, {"b", 9, 100_000}}, make([]int64, 3), nil)
	if !slices.Equal(got, []rec{{"a", 6, 1000}}) {
		t.Fatalf("after reopen Filter = %v, want only a/6 (a/50 was never checkpointed)", got)
	}
	// Watermark 70 s: a (last seen at 1 s) is older than the 60 s retention.
	checkpoint(t, st, d, 70_000)
	if err := st.Close(); err != nil {
		t.Fatal(err)
	}
	st, d = openDedup(t, dir)
	defer st.Close()
	if d.Streams() != 1 || d.Dropped() != 3 {
		t.Fatalf("after retention: streams %d dropped %d, want 1 and 3", d.Streams(), d.Dropped())
	}
}

// TestDedupProperty: for random streams delivered at least once (resends
// of earlier suffixes, interleaved across streams, in per-stream order),
// the filter keeps every (src, seq) exactly once.
func TestDedupProperty(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		r := rand.New(rand.NewPCG(seed, 0))
		_, d := openDedup(t, filepath.Join(t.TempDir(), "s"))
		type stream struct {
			name string
			seqs []int64
			pos  int
		}
		var streams []*stream
		unique := 0
		for i := range 1 + r.IntN(5) {
			s := &stream{name: string(rune('a' + i))}
			seq := int64(0)
			for range 1 + r.IntN(200) {
				seq += 1 + r.Int64N(3)
				s.seqs = append(s.seqs, seq)
			}
			unique += len(s.seqs)
			streams = append(streams, s)
		}
		var delivered []rec
		for live := len(streams); live > 0; {
			s := streams[r.IntN(len(streams))]
			if s.pos == len(s.seqs) {
				live = 0
				for _, o := range streams {
					if o.pos < len(o.seqs) {
						live++
					}
				}
				continue
			}
			if s.pos > 0 && r.IntN(20) == 0 { // a producer restart resends a suffix
				s.pos -= 1 + r.IntN(min(s.pos, 8))
			}
			delivered = append(delivered, rec{s.name, s.seqs[s.pos], 0})
			s.pos++
		}
		seen := map[rec]bool{}
		for start := 0; start < len(delivered); {
			end := min(len(delivered), start+1+r.IntN(50))
			got, _, _ := d.Filter(delivered[start:end], make([]int64, end-start), nil)
			for _, g := range got {
				if seen[g] {
					t.Fatalf("seed %d: %v kept twice", seed, g)
				}
				seen[g] = true
			}
			start = end
		}
		if len(seen) != unique || d.Dropped() != int64(len(delivered)-unique) {
			t.Fatalf("seed %d: kept %d of %d unique, dropped %d of %d resends", seed, len(seen), unique, d.Dropped(), len(delivered)-unique)
		}
	}
}
