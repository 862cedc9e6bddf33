package sinks

import (
	"bytes"
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestPendingRoundTrip(t *testing.T) {
	tests := []Pending{
		{},
		{Epoch: 1},
		{Epoch: 1<<64 - 1, Files: []string{"part-0-0000000001-0000.parquet"}},
		{Epoch: 42, Files: []string{"a", "b", strings.Repeat("c", maxPendingName)}},
	}
	for _, p := range tests {
		b, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary(%+v): %v", p, err)
		}
		var got Pending
		if err := got.UnmarshalBinary(b); err != nil {
			t.Fatalf("UnmarshalBinary(%x): %v", b, err)
		}
		if got.Epoch != p.Epoch || len(got.Files) != len(p.Files) || (len(p.Files) > 0 && !reflect.DeepEqual(got.Files, p.Files)) {
			t.Fatalf("round trip of %+v gave %+v", p, got)
		}
	}
}

func TestPendingEncoding(t *testing.T) {
	b, err := Pending{Epoch: 300, Files: []string{"ab", "c"}}.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	want := []byte{1, 0xac, 0x02, 2, 2, 'a', 'b', 1, 'c'}
	if !bytes.Equal(b, want) {
		t.Fatalf("encoding = %x, want %x", b, want)
	}
}

func TestPendingMarshalRejects(t *testing.T) {
	for _, p := range []Pending{
		{Files: []string{""}},
		{Files: []string{strings.Repeat("x", maxPendingName+1)}},
	} {
		if _, err := p.MarshalBinary(); err == nil {
			t.Errorf("MarshalBinary(%d-byte name) succeeded", len(p.Files[0]))
		}
	}
}

func TestPendingUnmarshalCorrupt(t *testing.T) {
	tests := []struct {
		name string
		in   []byte
	}{
		{"empty", nil},
		{"unknown format", []byte{2, 0, 0}},
		{"no epoch", []byte{1}},
		{"epoch overflows", []byte{1, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f, 0}},
		{"no count", []byte{1, 5}},
		{"count larger than input", []byte{1, 5, 3, 1, 'a'}},
		{"huge count", []byte{1, 5, 0xff, 0xff, 0xff, 0xff, 0x0f}},
		{"empty name", []byte{1, 5, 1, 0}},
		{"name past end", []byte{1, 5, 1, 4, 'a', 'b'}},
		{"trailing bytes", []byte{1, 5, 1, 1, 'a', 0}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := Pending{Epoch: 9, Files: []string{"keep"}}
			err := p.UnmarshalBinary(tt.in)
			if !errors.Is(err, ErrCorruptPending) {
				t.Fatalf("UnmarshalBinary(%x) = %v, want ErrCorruptPending", tt.in, err)
			}
			if p.Epoch != 9 || len(p.Files) != 1 {
				t.Fatalf("failed UnmarshalBinary changed the value: %+v", p)
			}
		})
	}
}

func FuzzPendingUnmarshal(f *testing.F) {
	for _, p := range []Pending{{}, {Epoch: 7, Files: []string{"part-0-0000000007-0000.parquet", "x"}}} {
		b, _ := p.MarshalBinary()
		f.Add(b)
	}
	f.Add([]byte{1, 5, 0xff, 0xff, 0xff, 0xff, 0x0f})
	f.Fuzz(func(t *testing.T, b []byte) {
		var p Pending
		if err := p.UnmarshalBinary(b); err != nil {
			if !errors.Is(err, ErrCorruptPending) {
				t.Fatalf("error %v does not wrap ErrCorruptPending", err)
			}
			return
		}
		// A decodable input is canonical except for non-minimal varints;
		// re-encoding and decoding must give the same value.
		again, err := p.MarshalBinary()
		if err != nil {
			t.Fatalf("MarshalBinary of decoded %+v: %v", p, err)
		}
		var q Pending
		if err := q.UnmarshalBinary(again); err != nil {
			t.Fatalf("re-decode: %v", err)
		}
		if q.Epoch != p.Epoch || !reflect.DeepEqual(q.Files, p.Files) {
			t.Fatalf("re-decode gave %+v, want %+v", q, p)
		}
	})
}
