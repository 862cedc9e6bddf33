package pcap

import (
	"bytes"
	"context"
	"io"
	"math/rand/v2"
	"testing"

	pt "github.com/das-project/das/sources/pcap/pcaptest"
)

func newRand(seed uint64) *rand.Rand { return rand.New(rand.NewPCG(seed, 99)) }

// FuzzSource feeds arbitrary (mostly mutated valid) captures to the
// source: it must never panic, and every record it returns must be an
// event that passes sources.Check or a reject with a reason.
func FuzzSource(f *testing.F) {
	for _, v := range standardVariants()[:8] {
		c, buf := newCapture(f, v.ng)
		cli, srv := addrs(v)
		standardSession(c, v, cli, srv)
		f.Add(flush(f, c, buf))
	}
	f.Fuzz(func(t *testing.T, capture []byte) {
		s, err := New(bytes.NewReader(capture), "fuzz", Options{BatchSize: 5, MaxBufferedBytes: 1 << 16})
		if err != nil {
			return
		}
		ctx := context.Background()
		if err := s.Open(ctx, nil); err != nil {
			return
		}
		defer s.Close()
		for i := 0; i < 1<<16; i++ {
			b, err := s.Next(ctx)
			if err != nil {
				if err == io.EOF {
					return
				}
				return // a read error is reported, not a crash
			}
			for _, ev := range b.Items {
				if ev.Instance == "" || ev.LatencyUs < 0 || ev.RowsSent < 0 {
					t.Fatalf("bad event %+v", ev)
				}
			}
			for _, r := range b.Rejects {
				if r.Reason == "" {
					t.Fatalf("reject without reason: %+v", r)
				}
			}
		}
		t.Fatal("source did not end")
	})
}

// FuzzReassembly writes the standard session's segments in an order, with
// duplicates and overlaps, chosen by the fuzzer (within one direction's
// runs, as a capture can show them): the statements must be those of the
// clean capture.
func FuzzReassembly(f *testing.F) {
	f.Add(uint64(1), uint8(3))
	f.Add(uint64(7), uint8(1))
	f.Add(uint64(1234567), uint8(11))
	f.Fuzz(func(t *testing.T, seed uint64, size uint8) {
		v := standardVariants()[seed%uint64(len(standardVariants()))]
		v.sizes = []int{1 + int(size%32)}
		rng := newRand(seed)
		capture, want := heldCapture(t, v, func(h []pt.Held) []pt.Held { return shuffleRuns(rng, h) })
		r := run(t, capture, Options{}, 0)
		if len(r.events) != len(want) {
			t.Fatalf("%d events, want %d", len(r.events), len(want))
		}
		for i := range want {
			if r.events[i].SQL != want[i].SQL || r.events[i].Rows != want[i].Rows || r.events[i].Err != want[i].Err {
				t.Fatalf("event %d: %s, want %s", i, r.events[i], want[i])
			}
		}
	})
}
