package operators

import (
	"encoding/binary"
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/cockroachdb/datadriven"
	"github.com/cockroachdb/pebble/vfs"
	"github.com/das-project/das/state"
	"github.com/das-project/das/windows"
)

// item and sumAgg are a minimal aggregate for the window tests: the key is
// a string, the accumulator counts items and sums their values.
type item struct {
	key string
	ts  int64
	v   int64
}

type sumAcc struct{ n, sum int64 }

type sumAgg struct{}

func (sumAgg) Key(dst []byte, it *item) []byte   { return append(dst, it.key...) }
func (sumAgg) EventTime(it *item) int64          { return it.ts }
func (sumAgg) New() *sumAcc                      { return &sumAcc{} }
func (sumAgg) Reset(a *sumAcc)                   { *a = sumAcc{} }
func (sumAgg) Add(a *sumAcc, _ []byte, it *item) { a.n++; a.sum += it.v }
func (sumAgg) Merge(d, s *sumAcc)                { d.n += s.n; d.sum += s.sum }
func (sumAgg) Append(dst []byte, a *sumAcc) []byte {
	return binary.AppendVarint(binary.AppendVarint(dst, a.n), a.sum)
}
func (sumAgg) Decode(a *sumAcc, src []byte) error {
	r := state.Reader{B: src}
	a.n, a.sum = r.Varint(), r.Varint()
	if r.Err == nil && len(r.B) != 0 {
		return errors.New("trailing bytes")
	}
	return r.Err
}

// parseTime reads "mm:ss", "hh:mm:ss" (relative to the epoch), "+inf" or
// "-inf", or milliseconds.
func parseTime(t *testing.T, s string) int64 {
	t.Helper()
	switch s {
	case "+inf":
		return math.MaxInt64
	case "-inf":
		return math.MinInt64
	}
	if strings.Contains(s, ":") {
		parts := strings.Split(s, ":")
		var ms int64
		for _, p := range parts {
			f, err := strconv.ParseFloat(p, 64)
			if err != nil {
				t.Fatalf("bad time %q", s)
			}
			ms = ms*60 + int64(f*1000)/1000
			_ = f
		}
		// seconds may carry a fraction: re-parse the last part precisely.
		last, _ := strconv.ParseFloat(parts[len(parts)-1], 64)
		ms = (ms-int64(last))*1000 + int64(math.Round(last*1000))
		return ms
	}
	v, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		t.Fatalf("bad time %q", s)
	}
	return v
}

func fmtTime(ms int64) string {
	if ms == math.MaxInt64 {
		return "+inf"
	}
	if ms == math.MinInt64 {
		return "-inf"
	}
	sign := ""
	if ms < 0 {
		sign, ms = "-", -ms
	}
	d := time.Duration(ms) * time.Millisecond
	h, m, s := int64(d/time.Hour), int64(d%time.Hour/time.Minute), d%time.Minute
	if s%time.Second == 0 {
		return fmt.Sprintf("%s%02d:%02d:%02d", sign, h, m, int64(s/time.Second))
	}
	return fmt.Sprintf("%s%02d:%02d:%06.3f", sign, h, m, s.Seconds())
}

// TestWindowDataDriven runs the scripts in testdata/window. Commands:
//
//	init [window=1m] [slide=D] [lateness=0s]  new store and operator (slide: sliding window)
//	event wm=T                         one item per line: "key ts value"; prints rejects
//	checkpoint wm=T                    stage + commit; prints emitted rows, sorted
//	crash                              drop uncommitted work, reopen from the store
//	fired key=K end=T                  prints the stored result of a window
func TestWindowDataDriven(t *testing.T) {
	datadriven.Walk(t, "testdata/window", func(t *testing.T, path string) {
		var (
			fs       vfs.FS
			store    *state.Store
			op       *WindowAggregate[item, *sumAcc]
			win      windows.Tumbling
			lateness time.Duration
			slide    time.Duration
		)
		cp := &state.Checkpoint{FiredUpTo: math.MinInt64, PurgedUpTo: math.MinInt64}
		open := func() {
			var err error
			if store == nil {
				store, err = state.Open("db", state.Options{FS: fs,
					Combiners: map[byte]state.Combine{state.NSPartial: CombineFunc[item, *sumAcc](sumAgg{})}})
				if err != nil {
					t.Fatal(err)
				}
				t.Cleanup(func() { store.Close() })
			}
			wo := WindowOptions{Window: win, AllowedLateness: lateness}
			if slide > 0 {
				sl, err := windows.NewSliding(time.Duration(win.Size())*time.Millisecond, slide)
				if err != nil {
					t.Fatal(err)
				}
				wo = WindowOptions{Sliding: sl, AllowedLateness: lateness}
			}
			op, err = NewWindowAggregate[item, *sumAcc](store, sumAgg{}, wo, cp.FiredUpTo, cp.PurgedUpTo)
			if err != nil {
				t.Fatal(err)
			}
		}
		datadriven.RunTest(t, path, func(t *testing.T, d *datadriven.TestData) string {
			args := map[string]string{}
			for _, a := range d.CmdArgs {
				args[a.Key] = strings.Join(a.Vals, ",")
			}
			switch d.Cmd {
			case "init":
				fs = vfs.NewMem()
				store = nil
				size := time.Minute
				if v, ok := args["window"]; ok {
					size, _ = time.ParseDuration(v)
				}
				slide = 0
				if v, ok := args["slide"]; ok {
					slide, _ = time.ParseDuration(v)
				}
				lateness = 0
				if v, ok := args["lateness"]; ok {
					lateness, _ = time.ParseDuration(v)
				}
				var err error
				if win, err = windows.NewTumbling(size); err != nil {
					return err.Error()
				}
				cp = &state.Checkpoint{FiredUpTo: math.MinInt64, PurgedUpTo: math.MinInt64}
				open()
				return ""
			case "event":
				wm := parseTime(t, args["wm"])
				var items []item
				for _, line := range strings.Split(strings.TrimSpace(d.Input), "\n") {
					f := strings.Fields(line)
					if len(f) != 3 {
						t.Fatalf("event line %q: want key ts value", line)
					}
					v, _ := strconv.ParseInt(f[2], 10, 64)
					items = append(items, item{key: f[0], ts: parseTime(t, f[1]), v: v})
				}
				var out strings.Builder
				wms := make([]int64, len(items))
				for i := range wms {
					wms[i] = wm
				}
				op.Process(items, wms, func(i int, reason string) {
					fmt.Fprintf(&out, "dead-letter %s %s %d: %s\n", items[i].key, fmtTime(items[i].ts), items[i].v, reason)
				})
				fmt.Fprintf(&out, "buffered %d\n", op.Buffered())
				return out.String()
			case "checkpoint":
				wm := parseTime(t, args["wm"])
				b := store.NewBatch()
				var rows []string
				st, err := op.Checkpoint(b, wm, func(end int64, key []byte, a *sumAcc, version int64) error {
					rows = append(rows, fmt.Sprintf("emit %s [%s,%s) n=%d sum=%d v%d", key, fmtTime(end-win.Size()), fmtTime(end), a.n, a.sum, version))
					return nil
				})
				if err != nil {
					return "error: " + err.Error()
				}
				next := &state.Checkpoint{Epoch: cp.Epoch + 1, FiredUpTo: op.FiredUpTo(), PurgedUpTo: op.PurgedUpTo()}
				if err := store.Commit(b, next); err != nil {
					return "error: " + err.Error()
				}
				cp = next
				sort.Strings(rows)
				rows = append(rows, fmt.Sprintf("fired %d corrections %d spilled %d; fired-up-to %s purged-up-to %s",
					st.Fired, st.Corrections, st.Spilled, fmtTime(op.FiredUpTo()), fmtTime(op.PurgedUpTo())))
				return strings.Join(rows, "\n") + "\n"
			case "crash":
				open()
				return fmt.Sprintf("restored fired-up-to %s purged-up-to %s\n", fmtTime(cp.FiredUpTo), fmtTime(cp.PurgedUpTo))
			case "fired":
				var a sumAcc
				v, ok, err := op.Fired(win.End(parseTime(t, args["end"]))-0, []byte(args["key"]), &a)
				if err != nil {
					return "error: " + err.Error()
				}
				if !ok {
					return "not found\n"
				}
				return fmt.Sprintf("n=%d sum=%d v%d\n", a.n, a.sum, v)
			default:
				t.Fatalf("unknown command %q", d.Cmd)
				return ""
			}
		})
	})
}

// TestFiredAndPurgedInOneCheckpointNotStored: a window whose result a
// checkpoint both fires and purges (the watermark passed its end plus the
// lateness) is emitted but never written to the batch; a window still
// within the lateness is stored for corrections.
func TestFiredAndPurgedInOneCheckpointNotStored(t *testing.T) {
	store, err := state.Open("db", state.Options{FS: vfs.NewMem(),
		Combiners: map[byte]state.Combine{state.NSPartial: CombineFunc[item, *sumAcc](sumAgg{})}})
	if err != nil {
		t.Fatal(err)
	}
	defer store.Close()
	win, _ := windows.NewTumbling(time.Minute)
	op, err := NewWindowAggregate[item, *sumAcc](store, sumAgg{}, WindowOptions{Window: win, AllowedLateness: time.Minute}, math.MinInt64, math.MinInt64)
	if err != nil {
		t.Fatal(err)
	}
	var items []item
	for m := int64(0); m < 10; m++ {
		for _, k := range []string{"a", "b", "c"} {
			items = append(items, item{key: k, ts: m*60_000 + 5, v: m})
		}
	}
	wms := make([]int64, len(items))
	for i := range wms {
		wms[i] = math.MinInt64
	}
	op.Process(items, wms, func(i int, reason string) { t.Fatalf("reject %v: %s", items[i], reason) })
	b := store.NewBatch()
	emitted := 0
	wm := int64(10*60_000 - 1) // every window fires; those ending ≤ 9:00 are also purged
	if _, err := op.Checkpoint(b, wm, func(int64, []byte, *sumAcc, int64) error { emitted++; return nil }); err != nil {
		t.Fatal(err)
	}
	if emitted != 30 {
		t.Fatalf("emitted %d rows, want 30", emitted)
	}
	// Stored: the window ending after the purge limit (10:00, 3 keys);
	// plus one range deletion.
	if got := b.Count(); got != 4 {
		t.Fatalf("batch holds %d records, want 3 stored results and 1 range deletion", got)
	}
	if err := store.Commit(b, &state.Checkpoint{Epoch: 1, FiredUpTo: op.FiredUpTo(), PurgedUpTo: op.PurgedUpTo()}); err != nil {
		t.Fatal(err)
	}
	var a sumAcc
	for end, want := range map[int64]bool{60_000: false, 9 * 60_000: false, 10 * 60_000: true} {
		if _, ok, err := op.Fired(end, []byte("b"), &a); err != nil || ok != want {
			t.Errorf("window ending %s: stored %v (err %v), want %v", fmtTime(end), ok, err, want)
		}
	}
}
