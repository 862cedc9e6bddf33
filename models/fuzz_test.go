package models

import (
	"math"
	"testing"
	"time"
)

// FuzzUnmarshalBinary feeds arbitrary bytes to every detector's decoder:
// it must return an error or a state that Observe can run on, never panic.
func FuzzUnmarshalBinary(f *testing.F) {
	reg := Builtin()
	pts := messy(3, 600)
	for _, name := range allDetectors {
		for _, n := range []int{0, 1, 20, 600} {
			d, err := reg.New(name, Config{})
			if err != nil {
				f.Fatal(err)
			}
			for _, p := range pts[:n] {
				d.Observe(p)
			}
			st, err := d.MarshalBinary()
			if err != nil {
				f.Fatal(err)
			}
			f.Add(st)
		}
	}
	f.Add([]byte{})
	f.Add([]byte{stateVersion})
	f.Add([]byte{stateVersion, kindEnsemble, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x01})
	f.Fuzz(func(t *testing.T, data []byte) {
		for _, name := range allDetectors {
			d, err := reg.New(name, Config{})
			if err != nil {
				t.Fatal(err)
			}
			if d.UnmarshalBinary(data) != nil {
				continue
			}
			// A state that decodes must run and re-encode to itself.
			st, err := d.MarshalBinary()
			if err != nil {
				t.Fatalf("%s: re-encode: %v", name, err)
			}
			d2, _ := reg.New(name, Config{})
			if err := d2.UnmarshalBinary(st); err != nil {
				t.Fatalf("%s: re-encoded state rejected: %v", name, err)
			}
			t0 := int64(1_704_067_200_000)
			for i := 0; i < 50; i++ {
				v := float64(i % 7)
				if i == 20 {
					v = math.NaN()
				}
				r := d.Observe(Point{T: t0 + int64(i)*int64(time.Minute/time.Millisecond), V: v})
				if !(r.Score >= 0 && r.Score <= 1) {
					t.Fatalf("%s: score %v from a decoded state", name, r.Score)
				}
			}
		}
	})
}
