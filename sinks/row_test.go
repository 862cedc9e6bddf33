package sinks

import (
	"math/rand/v2"
	"reflect"
	"testing"
)

func row(inst, db, tid string, minute, version, count int64) MinuteRow {
	return MinuteRow{Instance: inst, DB: db, TemplateID: tid, Minute: minute, Version: version, Count: count}
}

func TestCompareKeys(t *testing.T) {
	tests := []struct {
		a, b Key
		want int
	}{
		{Key{"a", "x", "1", 0}, Key{"a", "x", "1", 0}, 0},
		{Key{"a", "x", "1", 0}, Key{"b", "", "", -1}, -1},
		{Key{"a", "y", "1", 0}, Key{"a", "x", "9", 9}, 1},
		{Key{"a", "x", "1", 5}, Key{"a", "x", "2", 0}, -1},
		{Key{"a", "x", "1", 60000}, Key{"a", "x", "1", 0}, 1},
		// Byte order, not locale order: upper case sorts first.
		{Key{"B", "", "", 0}, Key{"a", "", "", 0}, -1},
	}
	for _, tt := range tests {
		if got := CompareKeys(tt.a, tt.b); got != tt.want {
			t.Errorf("CompareKeys(%v, %v) = %d, want %d", tt.a, tt.b, got, tt.want)
		}
		if got := CompareKeys(tt.b, tt.a); got != -tt.want {
			t.Errorf("CompareKeys(%v, %v) = %d, want %d", tt.b, tt.a, got, -tt.want)
		}
	}
}

func TestKeyIgnoresValueFields(t *testing.T) {
	a := MinuteRow{Instance: "i", DB: "d", TemplateID: "t", Minute: 60000, Version: 1, Count: 3, Template: "x", SampleSQL: "y", FingerprintVersion: 1}
	b := MinuteRow{Instance: "i", DB: "d", TemplateID: "t", Minute: 60000, Version: 7, Count: 9, Template: "z", SampleSQL: "w", FingerprintVersion: 2}
	if a.Key() != b.Key() {
		t.Fatalf("keys differ: %v %v", a.Key(), b.Key())
	}
	b.Minute += MinuteMs
	if a.Key() == b.Key() {
		t.Fatal("keys of different minutes are equal")
	}
}

func TestLatestByKey(t *testing.T) {
	tests := []struct {
		name string
		in   []MinuteRow
		want []MinuteRow
	}{
		{name: "empty", in: nil, want: []MinuteRow{}},
		{
			name: "highest version wins whatever the order",
			in:   []MinuteRow{row("i", "d", "t", 0, 2, 20), row("i", "d", "t", 0, 3, 30), row("i", "d", "t", 0, 1, 10)},
			want: []MinuteRow{row("i", "d", "t", 0, 3, 30)},
		},
		{
			name: "keys kept apart and sorted",
			in: []MinuteRow{
				row("i2", "d", "t", 0, 1, 1), row("i1", "d", "t", 60000, 1, 2),
				row("i1", "d", "t", 0, 1, 3), row("i1", "d", "t", 0, 2, 4),
				row("i1", "", "t", 0, 1, 5),
			},
			want: []MinuteRow{
				row("i1", "", "t", 0, 1, 5), row("i1", "d", "t", 0, 2, 4),
				row("i1", "d", "t", 60000, 1, 2), row("i2", "d", "t", 0, 1, 1),
			},
		},
		{
			name: "identical duplicates collapse",
			in:   []MinuteRow{row("i", "d", "t", 0, 2, 5), row("i", "d", "t", 0, 2, 5)},
			want: []MinuteRow{row("i", "d", "t", 0, 2, 5)},
		},
		{
			name: "equal versions that differ break the tie on values",
			in:   []MinuteRow{row("i", "d", "t", 0, 2, 5), row("i", "d", "t", 0, 2, 6), row("i", "d", "t", 0, 1, 99)},
			want: []MinuteRow{row("i", "d", "t", 0, 2, 6)},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]MinuteRow(nil), tt.in...)
			got := LatestByKey(in)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("LatestByKey = %v, want %v", got, tt.want)
			}
			if !reflect.DeepEqual(in, tt.in) {
				t.Fatal("LatestByKey modified its input")
			}
		})
	}
}

// TestLatestByKeyOrderIndependent: any permutation of the input gives the
// same result, including when equal versions carry different values.
func TestLatestByKeyOrderIndependent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	var rows []MinuteRow
	for range 500 {
		r := row(
			[]string{"a", "b", "c"}[rng.IntN(3)], []string{"", "x"}[rng.IntN(2)],
			[]string{"t1", "t2"}[rng.IntN(2)], int64(rng.IntN(4))*MinuteMs,
			int64(1+rng.IntN(3)), int64(rng.IntN(3)),
		)
		r.SampleSQL = []string{"s", "u"}[rng.IntN(2)]
		rows = append(rows, r)
	}
	want := LatestByKey(rows)
	for i := range 20 {
		rng.Shuffle(len(rows), func(i, j int) { rows[i], rows[j] = rows[j], rows[i] })
		if got := LatestByKey(rows); !reflect.DeepEqual(got, want) {
			t.Fatalf("permutation %d: result differs", i)
		}
	}
	for i := 1; i < len(want); i++ {
		if CompareKeys(want[i-1].Key(), want[i].Key()) >= 0 {
			t.Fatalf("result not strictly sorted by key at %d", i)
		}
	}
}

func TestMakeValidUTF8(t *testing.T) {
	r := MinuteRow{Instance: "10.0.0.1:3306", DB: "d\xffb", TemplateID: "0123456789abcdef", Template: "SELECT ?", SampleSQL: "SELECT '\xc3' -- é"}
	if r.ValidUTF8() {
		t.Fatal("ValidUTF8 = true for invalid strings")
	}
	r.MakeValidUTF8()
	if !r.ValidUTF8() {
		t.Fatal("ValidUTF8 = false after MakeValidUTF8")
	}
	if r.DB != "d\uFFFDb" || r.SampleSQL != "SELECT '\uFFFD' -- é" || r.Instance != "10.0.0.1:3306" || r.Template != "SELECT ?" {
		t.Fatalf("MakeValidUTF8 = %+v", r)
	}
}
