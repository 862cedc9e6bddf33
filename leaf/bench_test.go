package leaf

import (
	"context"
	"runtime"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/internal/mariadbtest"
)

// Benchmarks; figures and commands are in docs/leaf.md ("Performance").
//
//	go test -run '^$' -bench . -benchtime 1s ./leaf/

func benchSegment(b *testing.B, step int64) *Segment {
	b.Helper()
	_, db := newLeafDB(b, map[string]int64{"bench": step})
	return openSegment(b, db, SegmentOptions{FixedStep: true})
}

func BenchmarkSegmentNextID(b *testing.B) {
	s := benchSegment(b, 1_000_000)
	ctx := context.Background()
	if _, err := s.NextID(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := s.NextID(ctx, "bench"); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSegmentTagNextID(b *testing.B) {
	s := benchSegment(b, 1_000_000)
	g := s.Tag("bench")
	ctx := context.Background()
	if _, err := g.NextID(ctx); err != nil {
		b.Fatal(err)
	}
	b.ResetTimer()
	for b.Loop() {
		if _, err := g.NextID(ctx); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSegmentNextID8 runs 8 goroutines (whatever GOMAXPROCS is)
// drawing from one tag: they contend on one atomic counter.
func BenchmarkSegmentNextID8(b *testing.B) {
	s := benchSegment(b, 1_000_000)
	ctx := context.Background()
	if _, err := s.NextID(ctx, "bench"); err != nil {
		b.Fatal(err)
	}
	b.SetParallelism((8 + runtime.GOMAXPROCS(0) - 1) / runtime.GOMAXPROCS(0))
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			if _, err := s.NextID(ctx, "bench"); err != nil {
				b.Error(err)
				return
			}
		}
	})
}

func BenchmarkSegmentNextIDs100(b *testing.B) {
	s := benchSegment(b, 1_000_000)
	ctx := context.Background()
	dst := make([]int64, 0, 100)
	b.ResetTimer()
	for b.Loop() {
		var err error
		if dst, err = s.AppendIDs(ctx, dst[:0], "bench", 100); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkSnowflakeNextID(b *testing.B) {
	_, db := newLeafDB(b, nil)
	s, err := OpenSnowflake(context.Background(), db, SnowflakeOptions{})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	for b.Loop() {
		if _, err := s.NextID(ctx, ""); err != nil {
			b.Fatal(err)
		}
	}
}

// latencyHist counts latencies at 10 ns resolution up to 1 ms; above that
// only the count and the maximum are kept.
type latencyHist struct {
	buckets [100_000]int64
	over    int64
	n       int64
	max     time.Duration
}

func (h *latencyHist) add(d time.Duration) {
	h.n++
	if d > h.max {
		h.max = d
	}
	if i := int(d / 10); i < len(h.buckets) {
		h.buckets[i]++
	} else {
		h.over++
	}
}

// quantile returns the q-quantile (upper bucket edge), or h.max when it
// lies above 1 ms.
func (h *latencyHist) quantile(q float64) time.Duration {
	want := int64(q * float64(h.n))
	var seen int64
	for i, c := range h.buckets {
		seen += c
		if seen > want {
			return time.Duration(i+1) * 10
		}
	}
	return h.max
}

// BenchmarkSegmentSwitchLatency1msRTT measures per-call latency over many
// segment switches with every database round trip delayed by 1 ms (a proxy
// in front of MariaDB). The next segment is loaded in the background at
// 10% of the current one, so no call should wait for the database. The
// table step is 200,000 and the dynamic step grows it (to MaxStep 1,000,000)
// because segments last milliseconds here; the Fixed variant keeps 200,000.
func BenchmarkSegmentSwitchLatency1msRTT(b *testing.B) {
	benchSwitchLatency(b, false)
}

func BenchmarkSegmentSwitchLatency1msRTTFixed(b *testing.B) {
	benchSwitchLatency(b, true)
}

func benchSwitchLatency(b *testing.B, fixed bool) {
	const step = 200_000
	dsn, _ := newLeafDB(b, map[string]int64{"bench": step})
	p := mariadbtest.NewProxy(b, addrOf(b, dsn))
	p.SetDelay(time.Millisecond)
	db := openDB(b, viaProxy(b, dsn, p))
	reg := prometheus.NewRegistry()
	s := openSegment(b, db, SegmentOptions{FixedStep: fixed, Registerer: reg})
	ctx := context.Background()
	if _, err := s.NextID(ctx, "bench"); err != nil { // first load: waits for the database
		b.Fatal(err)
	}
	start := time.Now()
	if _, err := db.ExecContext(ctx, "DO 1"); err != nil {
		b.Fatal(err)
	}
	rtt := time.Since(start)
	h := new(latencyHist)
	b.ResetTimer()
	for b.Loop() {
		t0 := time.Now()
		_, err := s.NextID(ctx, "bench")
		h.add(time.Since(t0))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	st := statusOf(s, "bench")
	b.ReportMetric(float64(h.quantile(0.5)), "p50-ns")
	b.ReportMetric(float64(h.quantile(0.999)), "p99.9-ns")
	b.ReportMetric(float64(h.quantile(0.9999)), "p99.99-ns")
	b.ReportMetric(float64(h.max.Microseconds()), "max-µs")
	b.ReportMetric(float64(st.Loads-1), "switches")
	b.ReportMetric(float64(st.Waits-1), "waits")
	if hm := metric(b, reg, "leaf_segment_load_duration_seconds").GetHistogram(); hm.GetSampleCount() > 0 {
		b.ReportMetric(hm.GetSampleSum()/float64(hm.GetSampleCount())*1e3, "fetch-avg-ms")
	}
	if testing.Verbose() {
		b.Logf("db round trip through the proxy: %v; final step %d; calls over 1ms: %d", rtt, st.Step, h.over)
	}
}
