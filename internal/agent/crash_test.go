package agent

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
)

// An agent killed at any point — after a cut's intent is durable but before
// it is produced, or after Kafka acknowledged cuts but before the journal
// knows — and restarted on the same state loses nothing, and the records it
// sends again carry the same (Src, Seq), so the engine's rule drops them.
// Seeded: each seed picks the mode, the format, the cut size, and one or
// two crash points.
func TestCrashRestartExactlyOnceInEffect(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	data := writeWorkload(t, path, 12000, 11)
	want, n := truth(t, data)
	for seed := uint64(1); seed <= 8; seed++ {
		t.Run(fmt.Sprint("seed", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			topic := "das.sql-events"
			c := newCluster(t, topic, 2)
			o := testOptions(t, c.Addrs(), topic)
			o.EdgeAggregate = rng.IntN(2) == 0
			o.Format = Format(rng.IntN(2))
			o.CutMaxRecords = []int{300, 1000, 5000}[rng.IntN(3)]
			o.SendMaxBytes = int64(1+rng.IntN(4)) << 16
			crashes := 1 + rng.IntN(2)
			var sawDups bool
			for run := 0; ; run++ {
				in, err := NewFileInput(path, FileOptions{BatchSize: 100 + rng.IntN(900)})
				if err != nil {
					t.Fatal(err)
				}
				a, err := New(in, o)
				if err != nil {
					t.Fatal(err)
				}
				point := []string{fpIntent, fpAcked}[rng.IntN(2)]
				at := 1 + rng.IntN(6)
				if run < crashes {
					seen := 0
					a.failpoint = func(p string) error {
						if p != point {
							return nil
						}
						if seen++; seen == at {
							return errors.New("killed")
						}
						return nil
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				sum, err := a.Run(ctx)
				cancel()
				if run < crashes {
					if !errors.Is(err, errCrash) {
						// The input ended before the crash point: fine, the
						// run completed.
						if err != nil {
							t.Fatal(err)
						}
					}
					if point == fpAcked && err != nil {
						sawDups = true
					}
					t.Logf("run %d: crash at %s #%d: %v (%s)", run, point, at, err, describe(sum))
					continue
				}
				if err != nil {
					t.Fatal(err)
				}
				break
			}
			evs := decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format)
			counted, dups := effective(t, evs)
			var stmts int64
			for _, ev := range counted {
				stmts += ev.Statements()
			}
			if stmts != n {
				t.Fatalf("%d statements in effect, want %d", stmts, n)
			}
			sameAggregates(t, aggregate(t, counted), want)
			if sawDups && dups == 0 {
				t.Errorf("a crash after an acknowledgement should have left duplicates in the topic")
			}
			t.Logf("edge=%v format=%v: %d records, %d duplicates dropped", o.EdgeAggregate, o.Format, len(evs), dups)
		})
	}
}
