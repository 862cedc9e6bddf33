package kafka

import (
	"bytes"
	"errors"
	"fmt"
	"testing"
)

func TestSpoolRoundTrip(t *testing.T) {
	for _, recs := range [][]kv{
		nil,
		{{key: []byte("k"), value: []byte("v")}},
		{{key: nil, value: nil}, {key: bytes.Repeat([]byte("k"), 300), value: bytes.Repeat([]byte("v"), 70000)}},
	} {
		b := encodeSpool(recs)
		got, err := decodeSpool(b)
		if err != nil {
			t.Fatal(err)
		}
		if len(got) != len(recs) {
			t.Fatalf("%d records, want %d", len(got), len(recs))
		}
		for i := range recs {
			if !bytes.Equal(got[i].key, recs[i].key) || !bytes.Equal(got[i].value, recs[i].value) {
				t.Fatalf("record %d differs", i)
			}
		}
		// Every truncation and every single-bit flip is detected.
		for n := range len(b) {
			if _, err := decodeSpool(b[:n]); !errors.Is(err, ErrCorruptSpool) {
				t.Fatalf("truncated to %d: %v", n, err)
			}
		}
		for i := range min(len(b), 200) {
			c := bytes.Clone(b)
			c[i] ^= 0x10
			if _, err := decodeSpool(c); !errors.Is(err, ErrCorruptSpool) {
				t.Fatalf("bit flip at %d: %v", i, err)
			}
		}
	}
}

func TestSpoolNames(t *testing.T) {
	for _, e := range []uint64{0, 1, 1 << 40, 1<<64 - 1} {
		if got, ok := parseSpoolName(spoolName(e)); !ok || got != e {
			t.Errorf("parseSpoolName(spoolName(%d)) = %d, %v", e, got, ok)
		}
	}
	for _, bad := range []string{"epoch-1.spool", "epoch-00000000000000000001.spool.tmp", "x-00000000000000000001.spool", fmt.Sprintf("epoch-%020d.spool", 0)[:10]} {
		if _, ok := parseSpoolName(bad); ok {
			t.Errorf("parseSpoolName(%q) accepted", bad)
		}
	}
}

func FuzzDecodeSpool(f *testing.F) {
	f.Add(encodeSpool(nil))
	f.Add(encodeSpool([]kv{{key: []byte("k"), value: []byte("v")}, {key: []byte("a|b"), value: []byte("{}")}}))
	f.Fuzz(func(t *testing.T, b []byte) {
		recs, err := decodeSpool(b)
		if err != nil {
			if !errors.Is(err, ErrCorruptSpool) {
				t.Fatalf("error %v is not ErrCorruptSpool", err)
			}
			return
		}
		if again := encodeSpool(recs); !bytes.Equal(again, b) {
			t.Fatalf("decoded %d records that re-encode differently", len(recs))
		}
	})
}
