package agent

import (
	"bytes"
	"context"
	"errors"
	"io"
	"path/filepath"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources/slowlog"
)

// slowlogTruth aggregates a slow log read directly by its source.
func slowlogTruth(t *testing.T, path string) (map[aggKey]aggVal, int64) {
	t.Helper()
	src, err := slowlog.Open(path, slowlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	fp := fingerprint.New()
	out := map[aggKey]aggVal{}
	var n int64
	for {
		b, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return out, n
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Items {
			id, _ := fp.Fingerprint(ev.SQL)
			k := aggKey{ev.Instance, ev.DB, uint64(id), ev.TsMs - ev.TsMs%60000}
			v := out[k]
			v.count++
			v.latSum += ev.LatencyUs
			v.latMax = max(v.latMax, ev.LatencyUs)
			v.lock += ev.LockUs
			v.sent += ev.RowsSent
			v.exam += ev.RowsExamined
			v.affect += ev.RowsAffected
			if ev.ErrCode != 0 {
				v.errors++
			}
			v.sketchN++
			out[k] = v
			n++
		}
	}
}

// Real slow logs of every server flavour through the agent, with a crash
// after Kafka acknowledged part of them: every entry counted once, in raw
// and edge mode.
func TestSlowlogInputCrashRestart(t *testing.T) {
	for _, name := range []string{"mysql57-slow.log", "mysql80-slow.log", "mariadb-slow.log", "percona57-slow.log", "mysql56-slow.log"} {
		for _, edge := range []bool{false, true} {
			t.Run(name+map[bool]string{false: "", true: "/edge"}[edge], func(t *testing.T) {
				path := filepath.Join("..", "..", "sources", "slowlog", "testdata", name)
				want, n := slowlogTruth(t, path)
				if n == 0 {
					t.Fatal("empty log")
				}
				topic := "das.sql-events"
				c := newCluster(t, topic, 1)
				o := testOptions(t, c.Addrs(), topic)
				o.EdgeAggregate = edge
				o.CutMaxRecords = max(1, int(n)/4)
				for run := range 2 {
					in, err := OpenInput(context.Background(), "slowlog:"+path, InputOptions{})
					if err != nil {
						t.Fatal(err)
					}
					a, err := New(in, o)
					if err != nil {
						t.Fatal(err)
					}
					if run == 0 {
						a.failpoint = func(p string) error {
							if p == fpAcked {
								return errors.New("killed")
							}
							return nil
						}
					}
					ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
					_, err = a.Run(ctx)
					cancel()
					if (run == 0) != errors.Is(err, errCrash) || (run == 1 && err != nil) {
						t.Fatalf("run %d: %v", run, err)
					}
				}
				recs := kafkatest.ReadAll(t, c.Addrs(), topic)
				counted, dups := effective(t, decodeRecords(t, recs, o.Format))
				sameAggregates(t, aggregate(t, counted), want)
				if dups == 0 {
					t.Error("no duplicates after the crash")
				}
				var all []byte
				for _, r := range recs {
					all = append(all, r.Value...)
				}
				if bytes.Contains(all, []byte("'")) {
					t.Error("a quoted literal reached Kafka")
				}
			})
		}
	}
}
