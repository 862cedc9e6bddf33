package kafka_test

import (
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sinks/kafka"
)

// BenchmarkPrecommit writes epochs of 10,000 minute rows to an in-process
// kfake broker, at-least-once and transactional (spool without fsync), and
// reports rows/s through Write, Precommit and Commit.
func BenchmarkPrecommit(b *testing.B) {
	for _, mode := range []string{"at-least-once", "transactional"} {
		b.Run(mode, func(b *testing.B) {
			c := kafkatest.NewCluster(b, kafkatest.Options{Brokers: 1})
			o := kafka.Options{Brokers: c.Addrs(), Partitions: 4}
			if mode == "transactional" {
				o.TransactionalID, o.SpoolDir, o.NoSync = "bench", b.TempDir(), true
			}
			s, err := kafka.New(b.Context(), o)
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			rs := rows(1, 1, 10_000)
			b.ReportAllocs()
			b.ResetTimer()
			start := time.Now()
			for i := range b.N {
				if err := s.Write(rs); err != nil {
					b.Fatal(err)
				}
				p, err := s.Precommit(uint64(i + 1))
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Commit(p); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N*len(rs))/time.Since(start).Seconds(), "rows/s")
		})
	}
}
