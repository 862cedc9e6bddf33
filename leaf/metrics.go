package leaf

import (
	"github.com/prometheus/client_golang/prometheus"
)

// segmentMetrics is a collector reading the tag buffers at scrape time, so
// the fast path pays nothing for metrics.
type segmentMetrics struct {
	s           *Segment
	loadSeconds prometheus.Histogram

	remaining, runway, step, nextReady, issued, loads, loadErrors, exhausted, waits *prometheus.Desc
}

func newSegmentMetrics(s *Segment) *segmentMetrics {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("leaf_segment_"+name, help, []string{"tag"}, nil)
	}
	return &segmentMetrics{
		s: s,
		loadSeconds: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "leaf_segment_load_duration_seconds",
			Help:    "Duration of segment fetches from leaf_alloc, failed ones included.",
			Buckets: prometheus.ExponentialBuckets(0.0005, 2, 14),
		}),
		remaining:  d("remaining_ids", "IDs left in memory for the tag (current + preloaded segment)."),
		runway:     d("runway_seconds", "How long the IDs in memory last at the recent rate (+Inf when idle)."),
		step:       d("step", "Current (dynamic) step of the tag."),
		nextReady:  d("next_ready", "1 when the next segment is preloaded."),
		issued:     d("issued_ids_total", "IDs handed out by this process."),
		loads:      d("loads_total", "Successful segment fetches."),
		loadErrors: d("load_errors_total", "Failed segment fetches."),
		exhausted:  d("exhausted_total", "Calls that failed with ErrSegmentsExhausted."),
		waits:      d("waits_total", "Calls that had to wait for a segment."),
	}
}

func (m *segmentMetrics) Describe(ch chan<- *prometheus.Desc) {
	m.loadSeconds.Describe(ch)
	for _, d := range []*prometheus.Desc{m.remaining, m.runway, m.step, m.nextReady, m.issued, m.loads, m.loadErrors, m.exhausted, m.waits} {
		ch <- d
	}
}

func (m *segmentMetrics) Collect(ch chan<- prometheus.Metric) {
	m.loadSeconds.Collect(ch)
	for _, st := range m.s.Status() {
		g := func(d *prometheus.Desc, v float64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, st.Tag)
		}
		c := func(d *prometheus.Desc, v int64) {
			ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v), st.Tag)
		}
		g(m.remaining, float64(st.Remaining))
		g(m.runway, st.RunwaySeconds)
		g(m.step, float64(st.Step))
		ready := 0.0
		if st.Next != nil {
			ready = 1
		}
		g(m.nextReady, ready)
		c(m.issued, st.Issued)
		c(m.loads, st.Loads)
		c(m.loadErrors, st.LoadErrors)
		c(m.exhausted, st.Exhausted)
		c(m.waits, st.Waits)
	}
}

type snowflakeMetrics struct {
	s                                                                          *Snowflake
	worker, valid, age, fenceIn, issued, backwards, renewals, renewFails, lost *prometheus.Desc
}

func newSnowflakeMetrics(s *Snowflake) *snowflakeMetrics {
	d := func(name, help string) *prometheus.Desc {
		return prometheus.NewDesc("leaf_snowflake_"+name, help, nil, nil)
	}
	return &snowflakeMetrics{
		s:          s,
		worker:     d("worker_id", "Leased worker id."),
		valid:      d("lease_valid", "1 while the lease is held and not fenced."),
		age:        d("lease_age_seconds", "Time since the last successful renewal was sent (monotonic clock)."),
		fenceIn:    d("lease_fence_in_seconds", "Time left before the generator fences itself without a renewal."),
		issued:     d("issued_ids_total", "IDs handed out."),
		backwards:  d("clock_backwards_total", "Hand-outs refused because the clock moved backwards."),
		renewals:   d("lease_renewals_total", "Successful lease renewals."),
		renewFails: d("lease_renew_errors_total", "Failed lease renewals (database errors)."),
		lost:       d("lease_lost_total", "Leases found taken over by another process."),
	}
}

func (m *snowflakeMetrics) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{m.worker, m.valid, m.age, m.fenceIn, m.issued, m.backwards, m.renewals, m.renewFails, m.lost} {
		ch <- d
	}
}

func (m *snowflakeMetrics) Collect(ch chan<- prometheus.Metric) {
	st := m.s.Status()
	g := func(d *prometheus.Desc, v float64) { ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v) }
	c := func(d *prometheus.Desc, v int64) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, float64(v))
	}
	g(m.worker, float64(st.WorkerID))
	valid := 0.0
	if st.LeaseValid {
		valid = 1
	}
	g(m.valid, valid)
	g(m.age, st.LeaseAge.Seconds())
	g(m.fenceIn, st.FenceIn.Seconds())
	c(m.issued, st.Issued)
	c(m.backwards, st.ClockBackwards)
	c(m.renewals, st.Renewals)
	c(m.renewFails, st.RenewFailures)
	c(m.lost, st.LeaseLost)
}
