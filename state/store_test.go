package state

import (
	"encoding/binary"
	"errors"
	"math"
	"reflect"
	"testing"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/vfs"
)

func sumCombine(dst, older, newer []byte) ([]byte, error) {
	a, n1 := binary.Varint(older)
	b, n2 := binary.Varint(newer)
	if n1 <= 0 || n2 <= 0 {
		return nil, errors.New("bad operand")
	}
	return binary.AppendVarint(dst, a+b), nil
}

func TestCheckpointRoundTrip(t *testing.T) {
	cases := []Checkpoint{
		{Offsets: map[int32]int64{}, MaxEventTime: map[int32]int64{}, Counters: map[string]int64{}},
		{Epoch: 7, Offsets: map[int32]int64{0: 10, 3: 1 << 40}, MaxEventTime: map[int32]int64{0: math.MinInt64, 3: -5},
			FiredUpTo: math.MaxInt64, PurgedUpTo: math.MinInt64, DeadLetterSize: 99, Watermark: 12345,
			SinkPending: [][]byte{{1, 2, 3}, nil}, Counters: map[string]int64{"records": 5, "dl:late": 2}},
	}
	for i, c := range cases {
		var d Checkpoint
		if err := d.Decode(c.Append(nil)); err != nil {
			t.Fatalf("case %d: %v", i, err)
		}
		if len(c.SinkPending) == 0 {
			c.SinkPending = nil
		}
		if !reflect.DeepEqual(c, d) {
			t.Fatalf("case %d: got %+v want %+v", i, d, c)
		}
	}
	var d Checkpoint
	enc := cases[1].Append(nil)
	for n := 0; n < len(enc); n++ {
		if err := d.Decode(enc[:n]); err == nil {
			t.Fatalf("truncated checkpoint of %d/%d bytes decoded without error", n, len(enc))
		}
	}
}

func TestCommitIsAtomicWithState(t *testing.T) {
	fs := vfs.NewMem()
	s, err := Open("db", Options{FS: fs, Combiners: map[byte]Combine{NSPartial: sumCombine}})
	if err != nil {
		t.Fatal(err)
	}
	cp, err := s.LoadCheckpoint()
	if err != nil || cp.Epoch != 0 || cp.Watermark != math.MinInt64 || cp.FiredUpTo != math.MinInt64 {
		t.Fatalf("new store checkpoint %+v, %v", cp, err)
	}
	key := WindowKey(nil, NSPartial, 60_000, []byte("k"))
	for i := 1; i <= 3; i++ {
		b := s.NewBatch()
		if err := b.Merge(key, binary.AppendVarint(nil, int64(i)), nil); err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(b, &Checkpoint{Epoch: uint64(i), Offsets: map[int32]int64{0: int64(i * 100)}}); err != nil {
			t.Fatal(err)
		}
	}
	// An uncommitted batch leaves nothing behind.
	b := s.NewBatch()
	_ = b.Merge(key, binary.AppendVarint(nil, 1000), nil)
	b.Close()
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	s, err = Open("db", Options{FS: fs, Combiners: map[byte]Combine{NSPartial: sumCombine}})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	cp, err = s.LoadCheckpoint()
	if err != nil || cp.Epoch != 3 || cp.Offsets[0] != 300 {
		t.Fatalf("checkpoint %+v, %v", cp, err)
	}
	v, closer, err := s.DB().Get(key)
	if err != nil {
		t.Fatal(err)
	}
	defer closer.Close()
	if got, _ := binary.Varint(v); got != 6 {
		t.Fatalf("merged value %d, want 1+2+3", got)
	}
}

func TestFormatVersionRefused(t *testing.T) {
	fs := vfs.NewMem()
	db, err := pebble.Open("db", &pebble.Options{FS: fs, Merger: &pebble.Merger{Name: "das.state.v1", Merge: pebble.DefaultMerger.Merge}})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Set(keyFormat, binary.AppendUvarint(nil, FormatVersion+1), nil); err != nil {
		t.Fatal(err)
	}
	db.Close()
	if _, err := Open("db", Options{FS: fs}); !errors.Is(err, ErrFormat) {
		t.Fatalf("got %v, want ErrFormat", err)
	}
}

func TestTimeEncodingOrder(t *testing.T) {
	ts := []int64{math.MinInt64, -60_000, -1, 0, 1, 60_000, math.MaxInt64}
	for i := 1; i < len(ts); i++ {
		a, b := AppendTime(nil, ts[i-1]), AppendTime(nil, ts[i])
		if string(a) >= string(b) {
			t.Fatalf("%d encodes after %d", ts[i-1], ts[i])
		}
		if ReadTime(b) != ts[i] {
			t.Fatalf("round trip %d", ts[i])
		}
	}
}

func FuzzCheckpointDecode(f *testing.F) {
	f.Add((&Checkpoint{Epoch: 1, Offsets: map[int32]int64{0: 5}, SinkPending: [][]byte{{1}}}).Append(nil))
	f.Fuzz(func(t *testing.T, b []byte) {
		var c Checkpoint
		if c.Decode(b) != nil {
			return
		}
		var d Checkpoint
		if err := d.Decode(c.Append(nil)); err != nil {
			t.Fatalf("re-encoded checkpoint does not decode: %v", err)
		}
	})
}
