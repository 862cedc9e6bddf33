package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/kafka"
)

// BenchmarkConsume reads 200,000 JSON events (4 partitions, ~230 bytes
// each) from an in-process kfake broker through the whole source: fetch,
// split per partition, decode, copy SQL. It reports events/s.
func BenchmarkConsume(b *testing.B) {
	const parts, perPart = 4, 50_000
	c := kafkatest.NewCluster(b, kafkatest.Options{Brokers: 1})
	c.CreateTopic(topic, parts, nil)
	recs := make([]*kgo.Record, 0, parts*perPart)
	var bytes int64
	for p := range int32(parts) {
		for i := range perPart {
			ev := sources.Event{
				TsMs: baseTs + int64(i), Instance: fmt.Sprintf("10.0.%d.%d:3306", p, i%16), DB: "shop", User: "app",
				SQL:       fmt.Appendf(nil, "SELECT id, name, price FROM product_%d WHERE id = %d AND status = 'active'", i%50, i),
				LatencyUs: int64(i % 5000), RowsSent: 1, RowsExamined: int64(i % 100),
			}
			v := sources.AppendJSON(nil, &ev)
			bytes += int64(len(v))
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
		}
	}
	kafkatest.Produce(b, c.Addrs(), recs...)
	recs = nil
	ctx := context.Background()
	b.SetBytes(bytes)
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for range b.N {
		src, err := kafka.New(kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true})
		if err != nil {
			b.Fatal(err)
		}
		if err := src.Open(ctx, nil); err != nil {
			b.Fatal(err)
		}
		n := 0
		for {
			bt, err := src.Next(ctx)
			if errors.Is(err, io.EOF) {
				break
			}
			if err != nil {
				b.Fatal(err)
			}
			n += len(bt.Items)
		}
		src.Close()
		if n != parts*perPart {
			b.Fatalf("read %d events, want %d", n, parts*perPart)
		}
	}
	b.ReportMetric(float64(b.N*parts*perPart)/time.Since(start).Seconds(), "events/s")
}
