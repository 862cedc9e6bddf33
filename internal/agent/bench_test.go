package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"sync/atomic"
	"testing"
	"time"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/gen"
)

// eventClock is an input wrapper whose clock is the event time of the last
// statement read: a file read as fast as the disk allows then closes cuts
// as a live agent reading the same statements as they happen would.
type eventClock struct {
	Input
	now atomic.Int64 // ms
}

func (c *eventClock) Next(ctx context.Context) (*Batch, error) {
	b, err := c.Input.Next(ctx)
	if err == nil && len(b.Events) > 0 {
		c.now.Store(b.Events[len(b.Events)-1].TsMs)
	}
	return b, err
}

func (c *eventClock) Now() time.Time { return time.UnixMilli(c.now.Load()) }

// BenchmarkWireBytes measures the bytes on the wire per statement (the
// compressed record batches the brokers receive, zstd) for the same
// workload in each mode: one JSON record per statement, Arrow IPC batches,
// and edge partial aggregates. The workload is das gen's (one instance,
// 1000 statements/s of event time, 500 Zipf-popular templates, ~240-byte
// statements); cuts close on event time, as for a live agent. cpu-ns/stmt
// is the process's CPU time (getrusage) per statement: the agent and the
// in-process kfake broker together.
//
//	go test ./internal/agent -run XXX -bench WireBytes -benchtime 1x
func BenchmarkWireBytes(b *testing.B) {
	const n = 200_000
	dir := b.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	g, err := gen.New(gen.Config{Events: n, Seed: 1, Instances: 1, Rate: 1000})
	if err != nil {
		b.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := gen.WriteJSONL(context.Background(), &buf, g); err != nil {
		b.Fatal(err)
	}
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		b.Fatal(err)
	}
	inputBytes := float64(buf.Len())
	for _, tc := range []struct {
		name   string
		format Format
		edge   bool
		raw    bool
		flush  time.Duration
	}{
		{"json", FormatJSON, false, false, 5 * time.Second},
		{"json-raw-sql", FormatJSON, false, true, 5 * time.Second},
		{"arrow", FormatArrow, false, false, 5 * time.Second},
		{"edge-json-5s", FormatJSON, true, false, 5 * time.Second},
		{"edge-arrow-5s", FormatArrow, true, false, 5 * time.Second},
		{"edge-json-60s", FormatJSON, true, false, time.Minute},
		{"edge-arrow-60s", FormatArrow, true, false, time.Minute},
	} {
		b.Run(tc.name, func(b *testing.B) {
			var wire, value, records, stmts float64
			var cpu time.Duration
			for range b.N {
				b.StopTimer()
				topic := "das.sql-events"
				c := newCluster(b, topic, 1)
				o := testOptions(b, c.Addrs(), topic)
				o.Format, o.EdgeAggregate, o.RawSQL, o.FlushInterval = tc.format, tc.edge, tc.raw, tc.flush
				o.CutMaxRecords = MaxCutRecords / 2
				fin, err := NewFileInput(path, FileOptions{BatchSize: 256})
				if err != nil {
					b.Fatal(err)
				}
				in := &eventClock{Input: fin}
				o.Now = in.Now
				a, err := New(in, o)
				if err != nil {
					b.Fatal(err)
				}
				b.StartTimer()
				u0, s0, _, _ := rusage()
				sum, err := a.Run(context.Background())
				if err != nil {
					b.Fatal(err)
				}
				u1, s1, _, _ := rusage()
				cpu += (u1 - u0) + (s1 - s0)
				if sum.AckedStatements != n {
					b.Fatalf("%s", describe(sum))
				}
				wire += float64(sum.WireBytes)
				value += float64(sum.ValueBytes)
				records += float64(sum.Records)
				stmts += float64(sum.AckedStatements)
			}
			b.ReportMetric(wire/stmts, "wire-B/stmt")
			b.ReportMetric(value/stmts, "value-B/stmt")
			b.ReportMetric(records/stmts, "records/stmt")
			b.ReportMetric(inputBytes/n, "input-B/stmt")
			b.ReportMetric(float64(cpu.Nanoseconds())/stmts, "cpu-ns/stmt")
		})
	}
}

// BenchmarkCutPipeline measures the agent's CPU per statement without
// Kafka: redaction and fingerprinting, the cut (raw or edge aggregation),
// sealing and encoding the records.
//
//	go test ./internal/agent -run XXX -bench CutPipeline -benchtime 2s
func BenchmarkCutPipeline(b *testing.B) {
	g, err := gen.New(gen.Config{Events: 100_000, Seed: 1, Instances: 1, Rate: 1000})
	if err != nil {
		b.Fatal(err)
	}
	var evs []sources.Event
	var ev sources.Event
	for g.Next(&ev) {
		c := ev
		c.SQL = bytes.Clone(ev.SQL)
		evs = append(evs, c)
	}
	for _, tc := range []struct {
		name   string
		format Format
		edge   bool
	}{
		{"json", FormatJSON, false},
		{"arrow", FormatArrow, false},
		{"edge-json", FormatJSON, true},
		{"edge-arrow", FormatArrow, true},
	} {
		b.Run(tc.name, func(b *testing.B) {
			bl := newBuilder(tc.edge, "", newRedactor(false, 1<<20))
			enc := newEncoder(tc.format, 900<<10)
			var out []sources.Event
			const perCut = 5000 // 5 s at 1000 statements/s
			i := 0
			b.ResetTimer()
			u0, s0, _, _ := rusage()
			for range b.N {
				bl.add(&evs[i%len(evs)])
				i++
				if bl.statements == perCut {
					out = bl.sealEvents(out[:0])
					for j := range out {
						out[j].Src, out[j].Seq = "db1/file/1:2/10.0.1.1:3306", int64(i)<<SeqBits|int64(j)
					}
					if _, err := enc.encode(out); err != nil {
						b.Fatal(err)
					}
					bl.reset()
				}
			}
			u1, s1, _, _ := rusage()
			b.ReportMetric(float64((u1-u0)+(s1-s0))/float64(b.N), "cpu-ns/stmt")
		})
	}
}
