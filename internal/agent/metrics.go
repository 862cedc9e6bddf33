package agent

import (
	"fmt"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"
)

// stats are the agent's counters, shared by its goroutines. The metrics
// and Summary read them.
type stats struct {
	statements        atomic.Int64 // statements read from the input
	rejects           atomic.Int64 // input records that were not statements
	cuts              atomic.Int64 // cuts sealed (re-read ones included)
	records           atomic.Int64 // records made
	ackedCuts         atomic.Int64
	ackedRecords      atomic.Int64
	ackedStatements   atomic.Int64
	valueBytes        atomic.Int64 // key+value bytes handed to the producer
	wireBytes         atomic.Int64 // compressed batch bytes written to brokers
	wireRecords       atomic.Int64
	produceErrors     atomic.Int64
	spilled           atomic.Int64 // cuts written to the spool because memory was full
	droppedCuts       atomic.Int64
	droppedRecords    atomic.Int64
	droppedStatements atomic.Int64
	lostCuts          atomic.Int64 // pending cuts that could not be re-read after a restart
	lostStatements    atomic.Int64
	replayedCuts      atomic.Int64
	secretsRedacted   atomic.Int64
	sqlCut            atomic.Int64
	followRotations   atomic.Int64 // copied from a followed slow log's FollowStats
	followTruncations atomic.Int64
	followLostFiles   atomic.Int64
	queueCuts         atomic.Int64 // gauges
	memBytes          atomic.Int64
	spoolBytes        atomic.Int64
	spoolCuts         atomic.Int64
	cpuUserNs         atomic.Int64
	cpuSysNs          atomic.Int64
	maxRSS            atomic.Int64
	heapBytes         atomic.Int64
}

// register exposes the counters on r (nil: nothing).
func (s *stats) register(r prometheus.Registerer) error {
	if r == nil {
		return nil
	}
	counter := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewCounterFunc(prometheus.CounterOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	gauge := func(name, help string, v *atomic.Int64) prometheus.Collector {
		return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return float64(v.Load()) })
	}
	cs := []prometheus.Collector{
		counter("das_agent_statements_read_total", "Statements read from the input.", &s.statements),
		counter("das_agent_input_rejects_total", "Input records that could not be decoded as statements (logged with their position).", &s.rejects),
		counter("das_agent_cuts_total", "Cuts sealed (including cuts rebuilt after a restart).", &s.cuts),
		counter("das_agent_records_total", "Kafka records made.", &s.records),
		counter("das_agent_acked_cuts_total", "Cuts acknowledged by Kafka.", &s.ackedCuts),
		counter("das_agent_acked_records_total", "Records acknowledged by Kafka.", &s.ackedRecords),
		counter("das_agent_acked_statements_total", "Statements whose records Kafka acknowledged.", &s.ackedStatements),
		counter("das_agent_value_bytes_total", "Key and value bytes handed to the producer (before compression).", &s.valueBytes),
		counter("das_agent_wire_bytes_total", "Compressed record batch bytes written to the brokers (retries included).", &s.wireBytes),
		counter("das_agent_produce_errors_total", "Failed attempts to produce a unit of cuts (each is retried).", &s.produceErrors),
		counter("das_agent_spilled_cuts_total", "Cuts written to the spool because the in-memory queue was full.", &s.spilled),
		counter("das_agent_dropped_cuts_total", "Cuts dropped because the spool was full (oldest first).", &s.droppedCuts),
		counter("das_agent_dropped_statements_total", "Statements in dropped cuts.", &s.droppedStatements),
		counter("das_agent_lost_cuts_total", "Cuts pending at a restart that could not be re-read (input rotated away).", &s.lostCuts),
		counter("das_agent_lost_statements_total", "Statements in lost cuts.", &s.lostStatements),
		counter("das_agent_secrets_redacted_total", "Statements redacted despite --raw-sql because they may carry a credential.", &s.secretsRedacted),
		counter("das_agent_sql_truncated_total", "Statements whose raw SQL was cut to fit a Kafka record.", &s.sqlCut),
		counter("das_agent_slowlog_rotations_total", "Followed slow log: switches to a new file at the path (rename or re-create).", &s.followRotations),
		counter("das_agent_slowlog_truncations_total", "Followed slow log: the file was truncated in place (copytruncate).", &s.followTruncations),
		counter("das_agent_slowlog_lost_files_total", "Followed slow log: the saved position named a file that no longer exists; the path was read from its start.", &s.followLostFiles),
		gauge("das_agent_queue_cuts", "Cuts waiting for Kafka (memory and spool).", &s.queueCuts),
		gauge("das_agent_queue_memory_bytes", "Bytes of cuts waiting in memory.", &s.memBytes),
		gauge("das_agent_spool_bytes", "Bytes of spool segments on disk.", &s.spoolBytes),
		gauge("das_agent_spool_cuts", "Spool segments on disk.", &s.spoolCuts),
		gauge("das_agent_max_rss_bytes", "Largest resident set size of the agent process (getrusage).", &s.maxRSS),
		gauge("das_agent_heap_bytes", "Go heap bytes in use.", &s.heapBytes),
		prometheus.NewCounterFunc(prometheus.CounterOpts{Name: "das_agent_cpu_seconds_total", Help: "CPU time of the agent process, user plus system (getrusage)."},
			func() float64 { return float64(s.cpuUserNs.Load()+s.cpuSysNs.Load()) / 1e9 }),
	}
	for _, c := range cs {
		if err := r.Register(c); err != nil {
			return fmt.Errorf("agent: metrics: %w", err)
		}
	}
	return nil
}
