package jsonl

import (
	"bytes"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// record is what a source delivered for one line: an item or a reject.
type record struct {
	off    int64
	reason string // "" for an item
	ev     string // the item re-encoded as JSON
	raw    string // the reject's bytes
}

func (r record) String() string {
	if r.reason == "" {
		return fmt.Sprintf("@%d item %s", r.off, r.ev)
	}
	return fmt.Sprintf("@%d reject %s %q", r.off, r.reason, r.raw)
}

// expected computes, independently of the source, what reading data must
// deliver: every non-blank line with its offset, decoded or rejected.
func expected(t *testing.T, data []byte, maxLine int) []record {
	t.Helper()
	var out []record
	var d sources.Decoder
	off := int64(0)
	for len(data) > 0 {
		line := data
		next := len(data)
		if i := bytes.IndexByte(data, '\n'); i >= 0 {
			line, next = data[:i], i+1
		}
		switch {
		case len(line) > maxLine:
			out = append(out, record{off: off, reason: ReasonOversize, raw: string(line[:oversizeRaw])})
		case len(bytes.Trim(line, " \t\r")) == 0:
		default:
			var ev sources.Event
			if err := d.Decode(line, &ev); err != nil {
				out = append(out, record{off: off, reason: err.(*sources.DecodeError).Reason, raw: string(line)})
			} else {
				out = append(out, record{off: off, ev: string(sources.AppendJSON(nil, &ev))})
			}
		}
		off += int64(next)
		data = data[next:]
	}
	return out
}

// collect reads src to io.EOF, checking the batch contract on the way, and
// returns the records and each batch's NextOffset.
func collect(t *testing.T, src *Source, resume map[int32]int64) ([]record, []int64) {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, resume); err != nil {
		t.Fatalf("Open(%v): %v", resume, err)
	}
	var out []record
	var offsets []int64
	for {
		b, err := src.Next(ctx)
		if err == io.EOF {
			return out, offsets
		}
		if err != nil {
			t.Fatalf("Next: %v", err)
		}
		if len(b.Items)+len(b.Rejects) == 0 {
			t.Fatalf("empty batch from a file source")
		}
		if b.Partition != 0 {
			t.Fatalf("partition %d", b.Partition)
		}
		// Items and rejects interleave in file order; rebuild that order
		// from the reject offsets (items carry none) by merging: every
		// record's offset is below NextOffset and above the previous one.
		var recs []record
		for i := range b.Items {
			recs = append(recs, record{off: -1, ev: string(sources.AppendJSON(nil, &b.Items[i]))})
		}
		for _, r := range b.Rejects {
			if r.Partition != 0 || r.Reason == "" {
				t.Fatalf("bad reject %+v", r)
			}
			recs = append(recs, record{off: r.Offset, reason: r.Reason, raw: string(r.Raw)})
		}
		out = append(out, recs...)
		offsets = append(offsets, b.NextOffset)
	}
}

// strip drops what collect cannot know (item offsets) and orders records as
// collect does: per batch items first, then rejects.
func regroup(want []record, offsets []int64) []record {
	var out []record
	i := 0
	for _, end := range offsets {
		var items, rejects []record
		for ; i < len(want) && want[i].off < end; i++ {
			r := want[i]
			if r.reason == "" {
				r.off = -1
				items = append(items, r)
			} else {
				rejects = append(rejects, r)
			}
		}
		out = append(append(out, items...), rejects...)
	}
	return out
}

func diff(t *testing.T, got, want []record) {
	t.Helper()
	if len(got) != len(want) {
		t.Fatalf("got %d records, want %d", len(got), len(want))
	}
	for i := range got {
		if got[i] != want[i] {
			t.Fatalf("record %d:\n got %v\nwant %v", i, got[i], want[i])
		}
	}
}

func genEvent(r *rand.Rand, i int) sources.Event {
	sql := make([]byte, r.IntN(300))
	for j := range sql {
		sql[j] = byte(r.IntN(256))
	}
	return sources.Event{
		TsMs: 1704067200000 + int64(i)*7, Instance: fmt.Sprintf("10.0.1.%d:3306", r.IntN(4)),
		DB: "db", User: "u", SQL: sql, LatencyUs: r.Int64N(1e6), RowsSent: r.Int64N(10),
	}
}

// mixedFile is a file of n lines with valid records, bad records of every
// kind, blank lines, CRLF endings and, if cut, a final line without newline
// that was cut in the middle.
func mixedFile(seed uint64, n int, cut bool) []byte {
	r := rand.New(rand.NewPCG(seed, 1))
	var buf []byte
	for i := range n {
		ev := genEvent(r, i)
		switch r.IntN(20) {
		case 0:
			buf = append(buf, "not json at all"...)
		case 1:
			buf = sources.AppendJSONFields(buf, &ev, sources.AllFields&^sources.FieldTsMs)
		case 2:
			ev.LatencyUs = -5
			buf = sources.AppendJSON(buf, &ev)
		case 3:
			buf = append(buf, "  \t"...)
		case 4:
			buf = sources.AppendJSON(buf, &ev)
			buf = append(buf, '\r')
		case 5:
			// an empty line
		default:
			buf = sources.AppendJSON(buf, &ev)
		}
		buf = append(buf, '\n')
	}
	if cut {
		ev := genEvent(r, n)
		line := sources.AppendJSON(nil, &ev)
		buf = append(buf, line[:len(line)/2]...)
	}
	return buf
}

func writeFile(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func TestReadMatchesReference(t *testing.T) {
	tests := []struct {
		name string
		data []byte
		opts Options
	}{
		{"mixed default options", mixedFile(1, 2000, true), Options{}},
		{"mixed tiny reads", mixedFile(2, 300, true), Options{BatchSize: 7, ReadSize: 16}},
		{"mixed small batch bytes", mixedFile(3, 300, false), Options{BatchBytes: 1000, ReadSize: 100}},
		{"final line complete without newline", bytes.TrimSuffix(mixedFile(4, 50, false), []byte("\n")), Options{BatchSize: 3}},
		{"only blanks", []byte("\n\n  \n\r\n"), Options{}},
		{"empty", nil, Options{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			src, err := Open(writeFile(t, "events.jsonl", tt.data), tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			t.Cleanup(func() { src.Close() })
			got, offsets := collect(t, src, nil)
			want := expected(t, tt.data, 64<<20)
			diff(t, got, regroup(want, offsets))
			if len(offsets) > 0 && offsets[len(offsets)-1] != int64(len(tt.data)) {
				t.Fatalf("last NextOffset = %d, want file size %d", offsets[len(offsets)-1], len(tt.data))
			}
			bs := tt.opts.BatchSize
			if bs == 0 {
				bs = 4096
			}
			if min := (len(want) + bs - 1) / bs; len(offsets) < min {
				t.Fatalf("%d batches for %d records, want at least %d", len(offsets), len(want), min)
			}
		})
	}
}

func TestCutFinalLineIsRejectedWithBytes(t *testing.T) {
	ev := sources.Event{TsMs: 1, Instance: "i:1", SQL: []byte("SELECT 1")}
	full := sources.AppendJSON(nil, &ev)
	data := append(append(bytes.Clone(full), '\n'), full[:20]...)
	src, err := Open(writeFile(t, "cut.jsonl", data), Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	got, offsets := collect(t, src, nil)
	want := []record{
		{off: -1, ev: string(full)},
		{off: int64(len(full) + 1), reason: sources.ReasonMalformed, raw: string(full[:20])},
	}
	diff(t, got, want)
	if offsets[len(offsets)-1] != int64(len(data)) {
		t.Fatalf("NextOffset %d, want %d", offsets[len(offsets)-1], len(data))
	}
}

// TestResumeAtEveryBatchBoundary: for every NextOffset of a full pass,
// resuming there delivers exactly the rest of the full pass, batch for batch.
func TestResumeAtEveryBatchBoundary(t *testing.T) {
	data := mixedFile(5, 400, true)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	for _, path := range []string{writeFile(t, "events.jsonl", data), writeFile(t, "events.jsonl.gz", gz.Bytes())} {
		t.Run(filepath.Base(path), func(t *testing.T) {
			src := mustOpen(t, path, Options{BatchSize: 13, ReadSize: 512})
			all, offsets := collect(t, src, nil)
			diff(t, all, regroup(expected(t, data, 64<<20), offsets))
			if len(offsets) < 20 {
				t.Fatalf("only %d batches", len(offsets))
			}
			for i, off := range offsets {
				rest, restOffsets := collect(t, src, map[int32]int64{0: off})
				if !equalOffsets(restOffsets, offsets[i+1:]) {
					t.Fatalf("resume at %d: offsets %v, want %v", off, restOffsets, offsets[i+1:])
				}
				// Records before the boundary are those at offsets below it.
				n := len(regroup(expected(t, data, 64<<20), offsets[:i+1]))
				diff(t, rest, all[n:])
			}
		})
	}
}

func equalOffsets(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}

func mustOpen(t *testing.T, path string, opts Options) *Source {
	t.Helper()
	src, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func TestHugeLines(t *testing.T) {
	r := rand.New(rand.NewPCG(9, 9))
	var data []byte
	var sizes []int
	for i, n := range []int{100, 5 << 20, 10, 3 << 20, 2000} {
		ev := genEvent(r, i)
		ev.SQL = bytes.Repeat([]byte("SELECT 'x\"\xff', "), n/16+1)
		data = sources.AppendJSON(data, &ev)
		data = append(data, '\n')
		sizes = append(sizes, len(ev.SQL))
	}
	src := mustOpen(t, writeFile(t, "huge.jsonl", data), Options{ReadSize: 64 << 10, BatchBytes: 1 << 20})
	got, offsets := collect(t, src, nil)
	diff(t, got, regroup(expected(t, data, 64<<20), offsets))
	if len(offsets) < 3 {
		t.Fatalf("%d batches, want the 1 MiB BatchBytes to split the huge lines", len(offsets))
	}
}

func TestOversizeLines(t *testing.T) {
	var data []byte
	ev := sources.Event{TsMs: 1, Instance: "i:1", SQL: []byte("SELECT 1")}
	data = append(sources.AppendJSON(data, &ev), '\n')
	long := ev
	long.SQL = bytes.Repeat([]byte("a"), 20000)
	data = append(sources.AppendJSON(data, &long), '\n')
	data = append(sources.AppendJSON(data, &ev), '\n')
	data = sources.AppendJSON(data, &long) // last, without newline
	for _, readSize := range []int{100, 1 << 20} {
		t.Run(fmt.Sprint(readSize), func(t *testing.T) {
			src := mustOpen(t, writeFile(t, "o.jsonl", data), Options{MaxLineBytes: 4096, ReadSize: readSize})
			got, offsets := collect(t, src, nil)
			diff(t, got, regroup(expected(t, data, 4096), offsets))
			if n := strings.Count(fmt.Sprint(got), ReasonOversize); n != 2 {
				t.Fatalf("%d oversize rejects, want 2: %v", n, got)
			}
		})
	}
}

// onlyReader hides Seek so that New must skip by reading.
type onlyReader struct{ io.Reader }

func TestNewReaderResumeBySkipping(t *testing.T) {
	data := mixedFile(6, 100, false)
	src, err := New(onlyReader{bytes.NewReader(data)}, "stdin", Options{BatchSize: 10})
	if err != nil {
		t.Fatal(err)
	}
	all, offsets := collect(t, src, nil)
	diff(t, all, regroup(expected(t, data, 64<<20), offsets))

	src2, _ := New(onlyReader{bytes.NewReader(data)}, "stdin", Options{BatchSize: 10})
	rest, _ := collect(t, src2, map[int32]int64{0: offsets[2]})
	diff(t, rest, all[len(all)-len(rest):])
	if len(rest) == 0 || len(rest) >= len(all) {
		t.Fatalf("resume delivered %d of %d records", len(rest), len(all))
	}
	// A second Open of a non-seekable reader cannot rewind.
	if err := src2.Open(context.Background(), nil); err == nil {
		t.Fatal("reopening a non-seekable reader succeeded")
	}
}

func TestErrors(t *testing.T) {
	ctx := context.Background()
	path := writeFile(t, "e.jsonl", []byte(`{"ts_ms":1,"instance":"i","sql":"x"}`+"\n"))
	src := mustOpen(t, path, Options{})
	if _, err := src.Next(ctx); !errors.Is(err, ErrNotOpen) {
		t.Fatalf("Next before Open = %v, want ErrNotOpen", err)
	}
	for _, off := range []int64{-1, 1000} {
		if err := src.Open(ctx, map[int32]int64{0: off}); !errors.Is(err, ErrBadOffset) {
			t.Fatalf("Open at %d = %v, want ErrBadOffset", off, err)
		}
	}
	if _, err := Open(filepath.Join(t.TempDir(), "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("Open(missing) = %v", err)
	}
	if _, err := Open(path, Options{BatchSize: -1}); err == nil {
		t.Fatal("negative BatchSize accepted")
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if _, err := src.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with cancelled context = %v", err)
	}
	if !src.Bounded() || len(src.Partitions()) != 1 || src.Partitions()[0] != 0 {
		t.Fatal("a file is one bounded partition 0")
	}
	var _ stream.Source[sources.Event] = src
}

func BenchmarkRead(b *testing.B) {
	// ~400-byte records like das gen's: ASCII SQL, a few escapes.
	var data []byte
	for i := range 20000 {
		ev := sources.Event{TsMs: 1704067200000 + int64(i), Instance: "10.0.1.3:3306", DB: "orders_02", User: "app_rw",
			SQL: []byte(fmt.Sprintf("SELECT o.id, o.user_id, o.status, o.total_cents, o.created_at, i.sku, i.qty FROM orders o "+
				"JOIN order_items i ON i.order_id = o.id WHERE o.user_id = %d AND o.status IN ('paid', 'shipped') "+
				"AND o.created_at >= '2024-01-01 00:00:00' ORDER BY o.created_at DESC LIMIT 20", i*7919)),
			LatencyUs: int64(i % 5000), RowsSent: 20, RowsExamined: 188}
		data = append(sources.AppendJSON(data, &ev), '\n')
	}
	path := filepath.Join(b.TempDir(), "bench.jsonl")
	if err := os.WriteFile(path, data, 0o644); err != nil {
		b.Fatal(err)
	}
	src, err := Open(path, Options{})
	if err != nil {
		b.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	b.SetBytes(int64(len(data)))
	b.ReportAllocs()
	for b.Loop() {
		if err := src.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		for {
			if _, err := src.Next(ctx); err == io.EOF {
				break
			} else if err != nil {
				b.Fatal(err)
			}
		}
	}
	b.ReportMetric(20000*float64(b.N)/b.Elapsed().Seconds(), "events/s")
}

// FuzzRead: any input, read with any small batch and read sizes, delivers
// exactly the reference split of its lines.
func FuzzRead(f *testing.F) {
	f.Add(mixedFile(8, 10, true), uint8(3), uint16(17))
	f.Add([]byte("\n\r\n{\"ts_ms\":1,\"instance\":\"i\",\"sql\":\"\"}"), uint8(1), uint16(1))
	f.Add([]byte("{\n}\n{"), uint8(2), uint16(2))
	f.Fuzz(func(t *testing.T, data []byte, batch uint8, read uint16) {
		opts := Options{BatchSize: int(batch%16) + 1, ReadSize: int(read%2048) + 1, MaxLineBytes: 1024 + int(read%8)}
		src, err := New(bytes.NewReader(data), "fuzz", opts)
		if err != nil {
			t.Fatal(err)
		}
		got, offsets := collect(t, src, nil)
		diff(t, got, regroup(expected(t, data, opts.MaxLineBytes), offsets))
		last := int64(0)
		if len(offsets) > 0 {
			last = offsets[len(offsets)-1]
		}
		if len(bytes.Trim(data[last:], " \t\r\n")) != 0 {
			t.Fatalf("last NextOffset %d leaves records unread in %d bytes", last, len(data))
		}
	})
}
