package agent

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources/jsonl"
)

// An input that cannot be re-read (live capture, performance_schema) is
// made durable by spooling each cut before it is produced: a crash at
// either point loses nothing and duplicates keep their (Src, Seq).
// Exercised through SourceInput over a stream.Source without item offsets.
func TestNonReplayableInputSpoolsBeforeProducing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	data := writeWorkload(t, path, 6000, 13)
	want, n := truth(t, data)
	for _, point := range []string{fpIntent, fpAcked} {
		t.Run(point, func(t *testing.T) {
			topic := "das.sql-events"
			c := newCluster(t, topic, 1)
			o := testOptions(t, c.Addrs(), topic)
			o.CutMaxRecords = 700
			for run := 0; run < 2; run++ {
				src, err := jsonl.Open(path, jsonl.Options{BatchSize: 300})
				if err != nil {
					t.Fatal(err)
				}
				in := &SourceInput{InputKind: "test", Stream: "s1", Source: src, Resume: true}
				a, err := New(in, o)
				if err != nil {
					t.Fatal(err)
				}
				if run == 0 {
					seen := 0
					a.failpoint = func(p string) error {
						if p == point {
							if seen++; seen == 3 {
								return errors.New("killed")
							}
						}
						return nil
					}
				}
				ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
				sum, err := a.Run(ctx)
				cancel()
				if run == 0 && !errors.Is(err, errCrash) {
					t.Fatalf("run 0: %v", err)
				}
				if run == 1 && err != nil {
					t.Fatal(err)
				}
				if run == 0 {
					segs, _ := os.ReadDir(filepath.Join(o.StateDir, spoolDirName))
					if len(segs) == 0 {
						t.Fatalf("crashed with no spooled cut: %s", describe(sum))
					}
				}
			}
			evs := decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format)
			counted, dups := effective(t, evs)
			sameAggregates(t, aggregate(t, counted), want)
			var stmts int64
			for _, ev := range counted {
				stmts += ev.Statements()
			}
			if stmts != n {
				t.Fatalf("%d statements, want %d", stmts, n)
			}
			if point == fpAcked && dups == 0 {
				t.Errorf("no duplicate after a crash past an acknowledgement")
			}
			t.Log(fmt.Sprint(len(evs), " records, ", dups, " duplicates"))
		})
	}
}
