package sqlagg

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sinks"
	kafkasink "github.com/das-project/das/sinks/kafka"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"
)

func counterValue(t *testing.T, reg *prometheus.Registry, name string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if mf.GetName() == name {
			var sum float64
			for _, m := range mf.Metric {
				sum += counterOf(m)
			}
			return sum
		}
	}
	return 0
}

func counterOf(m *dto.Metric) float64 {
	if c := m.GetCounter(); c != nil {
		return c.GetValue()
	}
	return 0
}

// TestKafkaLeadershipChangeAndRestart runs the job live against a 3-broker
// kfake cluster, moves partition leadership mid-run, stops the job
// (SIGINT-like cancel: final checkpoint), restarts it on the same state
// while more data arrives, and checks that every event is counted exactly
// once.
func TestKafkaLeadershipChangeAndRestart(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 3})
	const topic = "das.sql-events"
	c.CreateTopic(topic, 3, nil)
	r := rand.New(rand.NewPCG(3, 4))
	now := time.Now()
	base := now.Add(-time.Hour).UnixMilli()
	want := map[string]int64{}
	mk := func(i int) *kgo.Record {
		host := r.IntN(6)
		inst := fmt.Sprintf("10.0.0.%d:3306", host)
		ev := sources.Event{TsMs: base + int64(i)*2 + r.Int64N(1000), Instance: inst, DB: "app",
			SQL: []byte(fmt.Sprintf("SELECT * FROM t%d WHERE id = %d", r.IntN(5), r.IntN(1000))), LatencyUs: 100}
		want[fmt.Sprintf("%s|%d", inst, ev.TsMs/60000*60000)]++
		// Keyed by instance, as agents produce: one instance, one partition.
		return &kgo.Record{Topic: topic, Partition: int32(host % 3), Key: []byte(inst), Value: sources.AppendJSON(nil, &ev)}
	}
	produce := func(from, to int) {
		recs := make([]*kgo.Record, 0, to-from)
		for i := from; i < to; i++ {
			recs = append(recs, mk(i))
		}
		kafkatest.Produce(t, c.Addrs(), recs...)
	}
	const n = 60_000
	produce(0, n/2)

	dir := t.TempDir()
	run := func(stopAt float64, during func()) Summary {
		reg := prometheus.NewRegistry()
		cfg := Config{Input: c.URI(topic) + "?group=das-test", StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"),
			CheckpointInterval: 50 * time.Millisecond, AllowedLateness: 24 * time.Hour, IdleTimeout: time.Hour, Registerer: reg}
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		type result struct {
			s   Summary
			err error
		}
		done := make(chan result, 1)
		go func() {
			s, err := Run(ctx, cfg)
			done <- result{s, err}
		}()
		if during != nil {
			during()
		}
		deadline := time.Now().Add(60 * time.Second)
		for counterValue(t, reg, "das_events_in_total") < stopAt {
			if time.Now().After(deadline) {
				t.Fatalf("job read %v of %v events in 60s", counterValue(t, reg, "das_events_in_total"), stopAt)
			}
			time.Sleep(20 * time.Millisecond)
		}
		cancel()
		res := <-done
		if res.err != nil {
			t.Fatal(res.err)
		}
		return res.s
	}
	run(n/2, func() {
		time.Sleep(30 * time.Millisecond)
		for p := int32(0); p < 3; p++ {
			c.MoveLeader(topic, p)
		}
	})
	produce(n/2, n)
	sum := run(n/2, func() { c.MoveLeader(topic, 1) }) // counters restart per process
	if sum.Records != n {
		t.Fatalf("cumulative records %d, want %d", sum.Records, n)
	}
	// The last minutes may still be open (live input); every event is in a
	// row or still buffered in state, and none twice.
	rows, err := parquet.ReadLatest(filepath.Join(dir, "pq"))
	if err != nil {
		t.Fatal(err)
	}
	got := map[string]int64{}
	for _, row := range rows {
		got[fmt.Sprintf("%s|%d", row.Instance, row.Minute)] += row.Count
	}
	if len(got) == 0 {
		t.Fatalf("no rows emitted; summary %+v", sum)
	}
	for k, v := range got {
		if want[k] != v {
			t.Errorf("%s: %d counted, %d produced", k, v, want[k])
		}
	}
	if sum.DeadLetteredTotal() != 0 {
		t.Fatalf("dead-lettered %v", sum.DeadLettered)
	}
}

// TestKafkaOutputMatchesParquet: with --kafka-output the compacted topic
// holds, per key, the same highest-version row as the Parquet output, in
// both the at-least-once and the transactional mode.
func TestKafkaOutputMatchesParquet(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	r := rand.New(rand.NewPCG(8, 8))
	var lines []string
	for i := 0; i < 3000; i++ {
		ts := t0 + int64(i)*100 + r.Int64N(3000)
		if i%50 == 0 {
			ts -= 5 * 60_000 // late, within lateness: corrections
		}
		lines = append(lines, line(sources.Event{TsMs: ts, Instance: fmt.Sprintf("10.0.0.%d:3306", r.IntN(3)), DB: "db",
			SQL: []byte(fmt.Sprintf("SELECT * FROM t%d WHERE id = %d", r.IntN(4), i)), LatencyUs: r.Int64N(1000)}))
	}
	in := writeLines(t, lines)
	for _, txn := range []string{"", "das-sqlagg-test"} {
		topic := "das.sql-minute" + txn
		dir := t.TempDir()
		cfg := Config{Input: in, StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"),
			KafkaOutput: c.URI(topic), KafkaTransactionalID: txn, CheckpointEveryRecords: 500, BatchSize: 100}
		sum, err := Run(context.Background(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		if sum.Corrections == 0 {
			t.Fatalf("txn %q: the workload should produce corrections", txn)
		}
		want, err := parquet.ReadLatest(cfg.ParquetDir)
		if err != nil {
			t.Fatal(err)
		}
		var rows []sinks.MinuteRow
		for _, rec := range kafkatest.ReadAll(t, c.Addrs(), topic) {
			row, err := kafkasink.DecodeRecord(rec.Key, rec.Value)
			if err != nil {
				t.Fatal(err)
			}
			rows = append(rows, row)
		}
		got := sinks.LatestByKey(rows)
		if len(got) != len(want) {
			t.Fatalf("txn %q: %d keys in Kafka, %d in Parquet", txn, len(got), len(want))
		}
		for i := range want {
			if got[i] != want[i] {
				t.Fatalf("txn %q: row %d differs:\nkafka   %+v\nparquet %+v", txn, i, got[i], want[i])
			}
		}
	}
}
