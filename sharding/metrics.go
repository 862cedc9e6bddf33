package sharding

import (
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the Cluster's Prometheus metrics. SQL metrics are labelled
// by datasource and template id (never raw SQL: templates past
// MaxTemplates share the label "other"); pool metrics by datasource and
// node. Pool figures are read from database/sql at scrape time; its
// cumulative wait counters are folded in as deltas, so the exported
// counters stay monotonic across reloads that replace pools.
type metrics struct {
	c *Cluster

	latency                   *prometheus.HistogramVec
	queries, errors, timeouts *prometheus.CounterVec
	reloads                   *prometheus.CounterVec
	generation                prometheus.Gauge
	drainTimeouts             prometheus.Counter
	poolsClosed               prometheus.Counter
	events, eventErrors       prometheus.Counter

	open, inUse, idle, maxOpen, lag, usable *prometheus.Desc
	waitCount, waitSeconds                  *prometheus.Desc

	mu struct {
		sync.Mutex
		waits map[[2]string]*waitAcc // (datasource, node) → totals
	}
}

type waitAcc struct {
	count int64
	dur   time.Duration
}

func newMetrics(c *Cluster) *metrics {
	pl := []string{"datasource", "node"}
	sl := []string{"datasource", "template"}
	m := &metrics{
		c: c,
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "das_sharding_sql_duration_seconds",
			Help:    "Latency of routed statements (query and row fetching), by datasource and template id.",
			Buckets: prometheus.ExponentialBuckets(0.0001, 2, 17),
		}, sl),
		queries:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "das_sharding_sql_queries_total", Help: "Routed statements executed (QPS = rate)."}, sl),
		errors:   prometheus.NewCounterVec(prometheus.CounterOpts{Name: "das_sharding_sql_errors_total", Help: "Routed statements that failed, timeouts included."}, sl),
		timeouts: prometheus.NewCounterVec(prometheus.CounterOpts{Name: "das_sharding_sql_timeouts_total", Help: "Routed statements that timed out (context deadline, network timeout, server statement timeout)."}, sl),
		reloads:  prometheus.NewCounterVec(prometheus.CounterOpts{Name: "das_sharding_reloads_total", Help: "Configuration reloads by result (ok, error)."}, []string{"result"}),
		generation: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "das_sharding_config_generation", Help: "Generation of the configuration in force (1 after Open, +1 per successful reload)."}),
		drainTimeouts: prometheus.NewCounter(prometheus.CounterOpts{Name: "das_sharding_drain_timeouts_total", Help: "Retired configurations whose calls did not finish within DrainTimeout."}),
		poolsClosed:   prometheus.NewCounter(prometheus.CounterOpts{Name: "das_sharding_pools_closed_total", Help: "Node pools closed (by reloads and Close)."}),
		events:        prometheus.NewCounter(prometheus.CounterOpts{Name: "das_sharding_events_total", Help: "SQL events handed to the event sink."}),
		eventErrors:   prometheus.NewCounter(prometheus.CounterOpts{Name: "das_sharding_event_errors_total", Help: "SQL events the sink refused or dropped."}),

		open:        prometheus.NewDesc("das_sharding_pool_open_connections", "Open connections (in use + idle).", pl, nil),
		inUse:       prometheus.NewDesc("das_sharding_pool_in_use_connections", "Connections in use.", pl, nil),
		idle:        prometheus.NewDesc("das_sharding_pool_idle_connections", "Idle connections.", pl, nil),
		maxOpen:     prometheus.NewDesc("das_sharding_pool_max_open_connections", "Pool limit (max_open).", pl, nil),
		waitCount:   prometheus.NewDesc("das_sharding_pool_wait_total", "Times a call waited for a free connection.", pl, nil),
		waitSeconds: prometheus.NewDesc("das_sharding_pool_wait_seconds_total", "Time calls waited for a free connection.", pl, nil),
		lag:         prometheus.NewDesc("das_sharding_replica_lag_seconds", "Last measured replication lag (-1 when the measurement failed).", pl, nil),
		usable:      prometheus.NewDesc("das_sharding_replica_usable", "1 when the replica serves reads (lag check passed or disabled).", pl, nil),
	}
	m.mu.waits = map[[2]string]*waitAcc{}
	return m
}

func (m *metrics) collectors() []prometheus.Collector {
	return []prometheus.Collector{m.latency, m.queries, m.errors, m.timeouts, m.reloads, m.generation,
		m.drainTimeouts, m.poolsClosed, m.events, m.eventErrors, poolCollector{m}}
}

func (m *metrics) register(r prometheus.Registerer) error {
	var done []prometheus.Collector
	for _, c := range m.collectors() {
		if err := r.Register(c); err != nil {
			for _, d := range done {
				r.Unregister(d)
			}
			return err
		}
		done = append(done, c)
	}
	return nil
}

func (m *metrics) unregister(r prometheus.Registerer) {
	for _, c := range m.collectors() {
		r.Unregister(c)
	}
}

// obs returns the SQL metrics children of (ds, tmpl), cached in ds.
func (m *metrics) obs(ds *datasource, tmpl *template) *sqlObs {
	if v, ok := ds.obs.Load(tmpl); ok {
		return v.(*sqlObs)
	}
	o := &sqlObs{
		latency:  m.latency.WithLabelValues(ds.name, tmpl.label),
		queries:  m.queries.WithLabelValues(ds.name, tmpl.label),
		errors:   m.errors.WithLabelValues(ds.name, tmpl.label),
		timeouts: m.timeouts.WithLabelValues(ds.name, tmpl.label),
	}
	v, _ := ds.obs.LoadOrStore(tmpl, o)
	return v.(*sqlObs)
}

// fold adds n's pool waits since the last fold to the exported totals.
func (m *metrics) fold(n *node) *waitAcc {
	st := n.db.Stats()
	m.mu.Lock()
	defer m.mu.Unlock()
	k := [2]string{n.ds, n.name}
	acc := m.mu.waits[k]
	if acc == nil {
		acc = &waitAcc{}
		m.mu.waits[k] = acc
	}
	if d := st.WaitCount - n.seenWaitCount; d > 0 {
		acc.count += d
	}
	if d := st.WaitDuration - n.seenWaitDur; d > 0 {
		acc.dur += d
	}
	n.seenWaitCount, n.seenWaitDur = st.WaitCount, st.WaitDuration
	return acc
}

// poolCollector reads the pools of the configuration in force at scrape
// time.
type poolCollector struct{ m *metrics }

func (p poolCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{p.m.open, p.m.inUse, p.m.idle, p.m.maxOpen, p.m.waitCount, p.m.waitSeconds, p.m.lag, p.m.usable} {
		ch <- d
	}
}

func (p poolCollector) Collect(ch chan<- prometheus.Metric) {
	m := p.m
	g, err := m.c.acquire()
	if err != nil {
		return
	}
	defer g.release()
	seen := map[[2]string]bool{}
	for _, ds := range g.dss {
		for i, n := range append([]*node{ds.primary}, ds.replicas...) {
			st := n.db.Stats()
			l := []string{n.ds, n.name}
			gauge := func(d *prometheus.Desc, v float64) {
				ch <- prometheus.MustNewConstMetric(d, prometheus.GaugeValue, v, l...)
			}
			gauge(m.open, float64(st.OpenConnections))
			gauge(m.inUse, float64(st.InUse))
			gauge(m.idle, float64(st.Idle))
			gauge(m.maxOpen, float64(st.MaxOpenConnections))
			acc := m.fold(n)
			m.mu.Lock()
			count, dur := acc.count, acc.dur
			m.mu.Unlock()
			seen[[2]string{n.ds, n.name}] = true
			ch <- prometheus.MustNewConstMetric(m.waitCount, prometheus.CounterValue, float64(count), l...)
			ch <- prometheus.MustNewConstMetric(m.waitSeconds, prometheus.CounterValue, dur.Seconds(), l...)
			if i > 0 {
				lag, err := n.lag()
				v := lag.Seconds()
				if err != nil {
					v = -1
				}
				gauge(m.lag, v)
				u := 0.0
				if ds.usable(i - 1) {
					u = 1
				}
				gauge(m.usable, u)
			}
		}
	}
	// Nodes removed by a reload keep their final totals exported, so the
	// counters do not vanish and reappear (a reset for rate()).
	m.mu.Lock()
	defer m.mu.Unlock()
	for k, acc := range m.mu.waits {
		if seen[k] {
			continue
		}
		ch <- prometheus.MustNewConstMetric(m.waitCount, prometheus.CounterValue, float64(acc.count), k[0], k[1])
		ch <- prometheus.MustNewConstMetric(m.waitSeconds, prometheus.CounterValue, acc.dur.Seconds(), k[0], k[1])
	}
}
