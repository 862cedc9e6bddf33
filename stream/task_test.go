package stream

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sort"
	"testing"
	"time"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/das-project/das/operators"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/state"
	"github.com/das-project/das/windows"
)

// ---- a keyed sum job over an in-memory source, for engine properties ----

type rec struct {
	key string
	ts  int64
	v   int64
}

type acc struct{ n, sum int64 }

type recAgg struct{}

func (recAgg) Key(dst []byte, r *rec) []byte { return append(dst, r.key...) }
func (recAgg) EventTime(r *rec) int64        { return r.ts }
func (recAgg) New() *acc                     { return &acc{} }
func (recAgg) Reset(a *acc)                  { *a = acc{} }
func (recAgg) Add(a *acc, _ []byte, r *rec)  { a.n++; a.sum += r.v }
func (recAgg) Merge(d, s *acc)               { d.n += s.n; d.sum += s.sum }
func (recAgg) Append(dst []byte, a *acc) []byte {
	return binary.AppendVarint(binary.AppendVarint(dst, a.n), a.sum)
}
func (recAgg) Decode(a *acc, b []byte) error {
	r := state.Reader{B: b}
	a.n, a.sum = r.Varint(), r.Varint()
	return r.Err
}

var errCrash = errors.New("injected crash")

// sliceSource serves recs in batches; offsets are indices. crashAt > 0
// makes Next fail on that call, like a process dying mid-stream.
type sliceSource struct {
	recs    []rec
	batch   int
	pos     int64
	calls   int
	crashAt int
}

func (s *sliceSource) Open(_ context.Context, resume map[int32]int64) error {
	s.pos = resume[0]
	return nil
}
func (s *sliceSource) Next(context.Context) (*Batch[rec], error) {
	s.calls++
	if s.crashAt > 0 && s.calls == s.crashAt {
		return nil, errCrash
	}
	if s.pos >= int64(len(s.recs)) {
		return nil, io.EOF
	}
	end := min(s.pos+int64(s.batch), int64(len(s.recs)))
	b := &Batch[rec]{Items: s.recs[s.pos:end], NextOffset: end}
	for i := s.pos; i < end; i++ {
		b.ItemOffsets = append(b.ItemOffsets, i)
	}
	s.pos = end
	return b, nil
}
func (s *sliceSource) Partitions() []int32 { return []int32{0} }
func (s *sliceSource) Bounded() bool       { return true }
func (s *sliceSource) Close() error        { return nil }

type row struct {
	key     string
	end     int64
	n, sum  int64
	version int64
}

// memSink is a two-phase sink whose "disk" (pending, committed) survives
// crashes while its buffer does not. failCommit simulates dying between the
// durable checkpoint and making its output visible.
type memSink struct {
	disk       *sinkDisk
	buf        []row
	failCommit bool
}

type sinkDisk struct {
	pending   map[string][]row
	committed map[string][]row
}

func (s *memSink) Precommit(epoch uint64) (sinks.Pending, error) {
	if len(s.buf) == 0 {
		return sinks.Pending{Epoch: epoch}, nil
	}
	name := fmt.Sprintf("part-%010d.parquet", epoch)
	s.disk.pending[name] = s.buf
	s.buf = nil
	return sinks.Pending{Epoch: epoch, Files: []string{name}}, nil
}
func (s *memSink) Commit(p sinks.Pending) error {
	if s.failCommit && len(p.Files) > 0 {
		return errCrash
	}
	return s.commit(p)
}

func (s *memSink) commit(p sinks.Pending) error {
	for _, f := range p.Files {
		if r, ok := s.disk.pending[f]; ok {
			s.disk.committed[f] = r
			delete(s.disk.pending, f)
		}
	}
	return nil
}
func (s *memSink) Recover(p sinks.Pending) error {
	if err := s.commit(p); err != nil {
		return err
	}
	for f := range s.disk.pending {
		delete(s.disk.pending, f) // output no checkpoint knows about
	}
	return nil
}
func (s *memSink) Abort() error { s.buf = nil; return nil }

type sumOp struct {
	w    *operators.WindowAggregate[rec, *acc]
	sink *memSink
}

func (o *sumOp) Process(items []rec, wm []int64, reject func(int, string)) {
	o.w.Process(items, wm, reject)
}
func (o *sumOp) NeedsCheckpoint() bool { return o.w.NeedsCheckpoint() }
func (o *sumOp) Buffered() int         { return o.w.Buffered() }
func (o *sumOp) Checkpoint(b *pebble.Batch, cp *state.Checkpoint, wm int64) (int, int, error) {
	st, err := o.w.Checkpoint(b, wm, func(end int64, key []byte, a *acc, v int64) error {
		o.sink.buf = append(o.sink.buf, row{key: string(key), end: end, n: a.n, sum: a.sum, version: v})
		return nil
	})
	cp.FiredUpTo, cp.PurgedUpTo = o.w.FiredUpTo(), o.w.PurgedUpTo()
	return st.Fired + st.Corrections, st.Corrections, err
}

type runConfig struct {
	batch, every, maxKeys int
	lateness              time.Duration
	crashes               []int // Next-call numbers at which successive runs crash
	commitCrash           bool  // the first run dies between checkpoint and commit
	sliding               bool  // 3-minute windows sliding by 1 minute instead of 1-minute tumbling
	dlMaxBytes            int64 // rotate the dead letter at this size (0: never)
}

// runJob runs recs to completion through as many crashes as configured,
// returning the committed rows and the dead-letter lines.
func runJob(t *testing.T, recs []rec, rc runConfig) ([]row, []string) {
	t.Helper()
	fs := vfs.NewMem()
	dir := t.TempDir()
	dlPath := filepath.Join(dir, "dl.jsonl")
	disk := &sinkDisk{pending: map[string][]row{}, committed: map[string][]row{}}
	win, _ := windows.NewTumbling(time.Minute)
	for attempt := 0; ; attempt++ {
		store, err := state.Open("db", state.Options{FS: fs, Combiners: map[byte]state.Combine{state.NSPartial: operators.CombineFunc[rec, *acc](recAgg{})}})
		if err != nil {
			t.Fatal(err)
		}
		cp, err := store.LoadCheckpoint()
		if err != nil {
			t.Fatal(err)
		}
		wo := operators.WindowOptions{Window: win, AllowedLateness: rc.lateness, MaxBufferedKeys: rc.maxKeys}
		if rc.sliding {
			sl, _ := windows.NewSliding(3*time.Minute, time.Minute)
			wo = operators.WindowOptions{Sliding: sl, AllowedLateness: rc.lateness, MaxBufferedKeys: rc.maxKeys}
		}
		w, err := operators.NewWindowAggregate[rec, *acc](store, recAgg{}, wo, cp.FiredUpTo, cp.PurgedUpTo)
		if err != nil {
			t.Fatal(err)
		}
		sink := &memSink{disk: disk, failCommit: rc.commitCrash && attempt == 0}
		dl, err := operators.OpenDeadLetterWith(dlPath, cp.DeadLetterSize, operators.DeadLetterOptions{MaxBytes: rc.dlMaxBytes})
		if err != nil {
			t.Fatal(err)
		}
		src := &sliceSource{recs: recs, batch: rc.batch}
		if attempt < len(rc.crashes) {
			src.crashAt = rc.crashes[attempt]
		}
		task, err := NewTask[rec](store, cp, src, &sumOp{w: w, sink: sink}, dl, TaskOptions[rec]{
			Watermarks:             WatermarkOptions{OutOfOrderness: 2 * time.Second, FutureSkew: -1},
			CheckpointInterval:     time.Hour,
			CheckpointEveryRecords: int64(rc.every),
			EventTime:              func(r *rec) int64 { return r.ts },
			Raw:                    func(dst []byte, r *rec) []byte { return fmt.Appendf(dst, "%s@%d=%d", r.key, r.ts, r.v) },
		}, sink)
		if err != nil {
			t.Fatal(err)
		}
		if err := task.Recover(); err != nil {
			t.Fatal(err)
		}
		runErr := task.Run(context.Background())
		dl.Close()
		if err := store.Close(); err != nil {
			t.Fatal(err)
		}
		if runErr == nil {
			break
		}
		if !errors.Is(runErr, errCrash) {
			t.Fatalf("run %d: %v", attempt, runErr)
		}
		if attempt > len(rc.crashes)+2 {
			t.Fatal("too many crashes")
		}
	}
	var rows []row
	files := make([]string, 0, len(disk.committed))
	for f := range disk.committed {
		files = append(files, f)
	}
	sort.Strings(files) // epoch order
	for _, f := range files {
		rows = append(rows, disk.committed[f]...)
	}
	// The rotated dead-letter files in order, then the current one.
	files, err := operators.DeadLetterFiles(dlPath)
	if err != nil {
		t.Fatal(err)
	}
	var lines []string
	for _, path := range files {
		b, err := os.ReadFile(path)
		if err != nil {
			t.Fatal(err)
		}
		sc := bufio.NewScanner(bytes.NewReader(b))
		for sc.Scan() {
			lines = append(lines, sc.Text())
		}
	}
	if rc.dlMaxBytes > 0 && len(lines) > 0 && len(files) < 2 {
		t.Fatalf("dead letter of %d lines never rotated at %d bytes", len(lines), rc.dlMaxBytes)
	}
	return rows, lines
}

// latest applies the highest-version rule.
func latest(rows []row) map[string]row {
	m := map[string]row{}
	for _, r := range rows {
		k := fmt.Sprintf("%s@%d", r.key, r.end)
		if old, ok := m[k]; !ok || r.version > old.version {
			m[k] = r
		}
	}
	return m
}

// genRecs makes n records over a few keys and minutes, delivered in event
// order with bounded disorder plus a fraction of stragglers.
func genRecs(r *rand.Rand, n int, lateFrac float64) []rec {
	recs := make([]rec, n)
	base := int64(1_700_000_000_000)
	for i := range recs {
		ts := base + int64(i)*50 + r.Int64N(3000) - 1500
		if r.Float64() < lateFrac {
			ts -= r.Int64N(int64(15 * time.Minute / time.Millisecond))
		}
		recs[i] = rec{key: fmt.Sprintf("k%d", r.IntN(7)), ts: ts, v: r.Int64N(1000)}
	}
	return recs
}

func TestCrashPointsGiveIdenticalOutput(t *testing.T) {
	for seed := uint64(1); seed <= 8; seed++ {
		r := rand.New(rand.NewPCG(seed, 99))
		recs := genRecs(r, 3000, 0.05)
		base := runConfig{batch: 1 + r.IntN(64), every: 50 + r.IntN(400), lateness: 5 * time.Minute, maxKeys: 1 + r.IntN(50)}
		wantRows, wantDL := runJob(t, recs, base)
		crashy := base
		crashy.batch = 1 + r.IntN(64) // watermarks move per record: batching must not matter
		crashy.every = 50 + r.IntN(400)
		for i := 0; i < 3; i++ {
			crashy.crashes = append(crashy.crashes, 1+r.IntN(3000/base.batch))
		}
		crashy.commitCrash = seed%2 == 0
		if seed%4 < 2 { // crashes around dead-letter rotations too
			crashy.dlMaxBytes = 200 + r.Int64N(2000)
		}
		gotRows, gotDL := runJob(t, recs, crashy)
		want, got := latest(wantRows), latest(gotRows)
		if len(want) != len(got) {
			t.Fatalf("seed %d: %d final rows after crashes, %d uninterrupted", seed, len(got), len(want))
		}
		for k, w := range want {
			g := got[k]
			if g.n != w.n || g.sum != w.sum {
				t.Fatalf("seed %d %s: after crashes n=%d sum=%d, uninterrupted n=%d sum=%d", seed, k, g.n, g.sum, w.n, w.sum)
			}
		}
		if fmt.Sprint(gotDL) != fmt.Sprint(wantDL) {
			t.Fatalf("seed %d: dead letter differs after crashes:\n%v\nvs\n%v", seed, gotDL, wantDL)
		}
		// Conservation: every record is in a final row or dead-lettered.
		var total int64
		for _, w := range want {
			total += w.n
		}
		if total+int64(len(wantDL)) != int64(len(recs)) {
			t.Fatalf("seed %d: %d aggregated + %d dead-lettered != %d records", seed, total, len(wantDL), len(recs))
		}
	}
}

// With lateness covering every straggler, any arrival order and any
// checkpoint spacing give exactly the aggregates computed directly.
func TestArrivalOrderDoesNotMatter(t *testing.T) {
	r := rand.New(rand.NewPCG(5, 5))
	recs := genRecs(r, 2000, 0.1)
	want := map[string]row{}
	for _, rc := range recs {
		end := (rc.ts/60000)*60000 + 60000
		k := fmt.Sprintf("%s@%d", rc.key, end)
		w := want[k]
		w.n++
		w.sum += rc.v
		want[k] = w
	}
	for trial := 0; trial < 6; trial++ {
		perm := append([]rec(nil), recs...)
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		rows, dl := runJob(t, perm, runConfig{batch: 1 + r.IntN(100), every: 1 + r.IntN(500), lateness: 100 * time.Hour, maxKeys: 1 + r.IntN(20),
			crashes: []int{1 + r.IntN(40)}})
		if len(dl) != 0 {
			t.Fatalf("trial %d: nothing is beyond the lateness, yet dead letter %v", trial, dl[:1])
		}
		got := latest(rows)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d keys, want %d", trial, len(got), len(want))
		}
		for k, w := range want {
			if got[k].n != w.n || got[k].sum != w.sum {
				t.Fatalf("trial %d %s: got n=%d sum=%d want n=%d sum=%d", trial, k, got[k].n, got[k].sum, w.n, w.sum)
			}
		}
		versions := map[string][]int64{}
		for _, rw := range rows {
			k := fmt.Sprintf("%s@%d", rw.key, rw.end)
			versions[k] = append(versions[k], rw.version)
		}
		for k, vs := range versions {
			sort.Slice(vs, func(i, j int) bool { return vs[i] < vs[j] })
			for i, v := range vs {
				if v != int64(i+1) {
					t.Fatalf("trial %d %s: versions %v, want 1..n each once", trial, k, vs)
				}
			}
		}
	}
}

var _ = math.MaxInt64

// Sliding windows from panes: any arrival order, batching, checkpoint
// spacing and crash point give exactly the directly computed windows, and
// a key's versions only grow.
func TestSlidingWindowsMatchDirectComputation(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	recs := genRecs(r, 1500, 0.1)
	want := map[string]row{}
	for _, rc := range recs {
		pane := (rc.ts/60000)*60000 + 60000
		for e := pane; e < pane+3*60000; e += 60000 {
			k := fmt.Sprintf("%s@%d", rc.key, e)
			w := want[k]
			w.n++
			w.sum += rc.v
			want[k] = w
		}
	}
	for trial := 0; trial < 4; trial++ {
		perm := append([]rec(nil), recs...)
		r.Shuffle(len(perm), func(i, j int) { perm[i], perm[j] = perm[j], perm[i] })
		rows, dl := runJob(t, perm, runConfig{batch: 1 + r.IntN(100), every: 1 + r.IntN(300), lateness: 100 * time.Hour,
			maxKeys: 1 + r.IntN(20), crashes: []int{1 + r.IntN(30)}, sliding: true})
		if len(dl) != 0 {
			t.Fatalf("trial %d: dead letter %v", trial, dl[:1])
		}
		got := latest(rows)
		if len(got) != len(want) {
			t.Fatalf("trial %d: %d windows, want %d", trial, len(got), len(want))
		}
		for k, w := range want {
			if got[k].n != w.n || got[k].sum != w.sum {
				t.Fatalf("trial %d %s: got n=%d sum=%d want n=%d sum=%d", trial, k, got[k].n, got[k].sum, w.n, w.sum)
			}
		}
		last := map[string]int64{}
		for _, rw := range rows {
			k := fmt.Sprintf("%s@%d", rw.key, rw.end)
			if rw.version <= last[k] {
				t.Fatalf("trial %d %s: version %d emitted after %d", trial, k, rw.version, last[k])
			}
			last[k] = rw.version
		}
	}
}
