//go:build unix

package sqlagg

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources/arrowipc"
	"github.com/das-project/das/sources/gen"
	"github.com/twmb/franz-go/pkg/kgo"
)

// benchEvents is the size of the benchmark workload: the shape
// (500 templates, mean statement ≈ 241 bytes, 2 distinct keys per 5 events)
// scaled down so that one iteration takes about a second.
const benchEvents = 200_000

// BenchmarkRun runs the whole job (decode, fingerprint, watermarks, windows,
// Pebble checkpoints, Parquet) over one generated workload from a JSON lines
// file, an Arrow IPC file and a kfake topic with 4 partitions. kfake runs in
// this process, so the kafka figure includes the broker's work. It reports
// events per wall-clock second and per CPU-second of the process (user+sys,
// all threads), the figure a shared machine does not inflate.
//
// The headline figures (5 M events, the process pinned to one core, start-up
// included) come from scripts/bench.sh; this benchmark is the quick check:
//
//	go test -run '^$' -bench BenchmarkRun -benchtime 3x -cpu 1 ./jobs/sqlagg/
func BenchmarkRun(b *testing.B) {
	dir := b.TempDir()
	cfg := gen.Config{Seed: 1, Events: benchEvents, Templates: 500, MeanSQLBytes: 241}
	rate, err := gen.RateForKeys(cfg, benchEvents*2/5)
	if err != nil {
		b.Fatal(err)
	}
	cfg.Rate = rate
	jsonPath := filepath.Join(dir, "events.jsonl")
	arrowPath := filepath.Join(dir, "events.arrow")
	writeGen(b, cfg, jsonPath, func(w *bufio.Writer, g *gen.Generator) error {
		_, err := gen.WriteJSONL(context.Background(), w, g)
		return err
	})
	writeGen(b, cfg, arrowPath, func(w *bufio.Writer, g *gen.Generator) error {
		_, err := gen.WriteArrow(context.Background(), w, g, arrowipc.WriterOptions{})
		return err
	})

	run := func(b *testing.B, input string) {
		b.Helper()
		var cpu time.Duration
		start := time.Now()
		for i := 0; b.Loop(); i++ {
			cpu0 := processCPU()
			sum, err := Run(context.Background(), Config{Input: input,
				StateDir: filepath.Join(dir, "state-"+strconv.Itoa(i)), ParquetDir: filepath.Join(dir, "pq-"+strconv.Itoa(i)),
				KafkaStopAtEnd: true})
			cpu += processCPU() - cpu0
			if err != nil {
				b.Fatal(err)
			}
			if sum.Records != benchEvents || sum.DeadLetteredTotal() != 0 {
				b.Fatalf("read %d records, dead-lettered %v; want %d, none", sum.Records, sum.DeadLettered, benchEvents)
			}
			b.StopTimer()
			_ = os.RemoveAll(filepath.Join(dir, "state-"+strconv.Itoa(i)))
			_ = os.RemoveAll(filepath.Join(dir, "pq-"+strconv.Itoa(i)))
			b.StartTimer()
		}
		events := float64(b.N) * benchEvents
		b.ReportMetric(events/time.Since(start).Seconds(), "events/s")
		if cpu > 0 {
			b.ReportMetric(events/cpu.Seconds(), "events/cpu-s")
		}
	}
	b.Run("jsonl", func(b *testing.B) { run(b, jsonPath) })
	b.Run("arrow", func(b *testing.B) { run(b, "arrow:"+arrowPath) })
	b.Run("kafka", func(b *testing.B) {
		c := kafkatest.NewCluster(b, kafkatest.Options{Brokers: 1})
		const topic = "das.sql-events"
		c.CreateTopic(topic, 4, nil)
		produceLines(b, c.Addrs(), topic, jsonPath)
		run(b, c.URI(topic))
	})
}

func writeGen(b *testing.B, cfg gen.Config, path string, write func(*bufio.Writer, *gen.Generator) error) {
	b.Helper()
	g, err := gen.New(cfg)
	if err != nil {
		b.Fatal(err)
	}
	f, err := os.Create(path)
	if err != nil {
		b.Fatal(err)
	}
	w := bufio.NewWriterSize(f, 1<<20)
	if err := write(w, g); err != nil {
		b.Fatal(err)
	}
	if err := w.Flush(); err != nil {
		b.Fatal(err)
	}
	if err := f.Close(); err != nil {
		b.Fatal(err)
	}
}

// produceLines writes each line of a JSON lines file as one record, spread
// over the topic's partitions by the default (key-hash) partitioner.
func produceLines(b *testing.B, addrs []string, topic, path string) {
	b.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		b.Fatal(err)
	}
	cl := kafkatest.Client(b, addrs, kgo.DefaultProduceTopic(topic))
	var recs []*kgo.Record
	for i, line := range bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n")) {
		recs = append(recs, &kgo.Record{Key: []byte(strconv.Itoa(i % 64)), Value: line})
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		b.Fatal(err)
	}
}

// processCPU is the user+sys CPU time of the whole process so far.
func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
