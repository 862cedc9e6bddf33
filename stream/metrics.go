package stream

import (
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// Metrics are a task's Prometheus metrics. They are registered on the
// Registerer given to NewMetrics (never the global registry).
type Metrics struct {
	EventsIn       prometheus.Counter
	RowsOut        prometheus.Counter
	Corrections    prometheus.Counter
	DeadLettered   *prometheus.CounterVec // by reason
	WatermarkLag   *prometheus.GaugeVec   // seconds, by partition
	CheckpointTime prometheus.Histogram
	Checkpoints    prometheus.Counter
	Buffered       prometheus.Gauge
}

// NewMetrics creates the metrics and registers them on r (which may be nil
// for unregistered metrics). stateBytes is sampled at scrape time.
func NewMetrics(r prometheus.Registerer, stateBytes func() float64) *Metrics {
	m := &Metrics{
		EventsIn:    prometheus.NewCounter(prometheus.CounterOpts{Name: "das_events_in_total", Help: "Input records read (decoded or rejected)."}),
		RowsOut:     prometheus.NewCounter(prometheus.CounterOpts{Name: "das_rows_out_total", Help: "Window rows emitted, corrections included."}),
		Corrections: prometheus.NewCounter(prometheus.CounterOpts{Name: "das_corrections_total", Help: "Rows re-emitted with version > 1 because of late data."}),
		DeadLettered: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "das_dead_lettered_total",
			Help: "Records written to the dead letter, by reason (malformed, missing:*, negative:*, future, late)."}, []string{"reason"}),
		WatermarkLag: prometheus.NewGaugeVec(prometheus.GaugeOpts{Name: "das_watermark_lag_seconds",
			Help: "Wall clock minus the partition's watermark."}, []string{"partition"}),
		CheckpointTime: prometheus.NewHistogram(prometheus.HistogramOpts{Name: "das_checkpoint_duration_seconds",
			Help: "Time to stage, precommit and commit a checkpoint.", Buckets: prometheus.ExponentialBuckets(0.001, 2, 16)}),
		Checkpoints: prometheus.NewCounter(prometheus.CounterOpts{Name: "das_checkpoints_total", Help: "Checkpoints committed."}),
		Buffered:    prometheus.NewGauge(prometheus.GaugeOpts{Name: "das_buffered_keys", Help: "Pre-aggregated entries held in memory."}),
	}
	if r != nil {
		r.MustRegister(m.EventsIn, m.RowsOut, m.Corrections, m.DeadLettered, m.WatermarkLag, m.CheckpointTime, m.Checkpoints, m.Buffered)
		if stateBytes != nil {
			r.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: "das_state_bytes", Help: "On-disk size of the keyed state."}, stateBytes))
		}
	}
	return m
}

func (m *Metrics) setLag(lag map[int32]time.Duration) {
	for p, d := range lag {
		m.WatermarkLag.WithLabelValues(strconv.Itoa(int(p))).Set(d.Seconds())
	}
}
