package agent

import (
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/sasl"
)

// ErrBadOptions: Options that New cannot accept.
var ErrBadOptions = errors.New("agent: bad options")

// DefaultTopic is the topic the agent produces to by default.
const DefaultTopic = "das.sql-events"

// Options configure an Agent. Zero values mean the stated defaults.
type Options struct {
	// Brokers are the seed brokers, HOST:PORT. Required.
	Brokers []string
	// Topic receives the records. Default DefaultTopic.
	Topic string
	// TLS enables TLS to the brokers. Default nil (plaintext).
	TLS *tls.Config
	// SASL authenticates to the brokers (see sources/kafka.SASL). Default
	// nil.
	SASL sasl.Mechanism

	// Format of record values. Default FormatJSON.
	Format Format
	// EdgeAggregate ships per-cut partial minute aggregates per (instance,
	// db, template, minute) instead of one record per statement. Default
	// false.
	EdgeAggregate bool
	// RawSQL ships each statement's text as is, except statements that
	// may carry a credential (see secretWords), which are redacted anyway.
	// Default false: SQL is the redacted sample (literals replaced by ?,
	// comments dropped, at most SampleMaxBytes). Edge aggregates always
	// carry a redacted sample.
	RawSQL bool
	// Instance, if set, replaces the instance of every statement read.
	// Default "": the input's.
	Instance string

	// StateDir holds the journal of cuts and the spool. Required. One
	// agent per directory.
	StateDir string
	// SpoolMaxBytes bounds the spool segments on disk. When Kafka is
	// behind and memory and spool are full, the oldest cuts are dropped
	// (counted, logged). Default 256 MiB. Must not be negative.
	SpoolMaxBytes int64
	// MemoryMaxBytes bounds the sealed cuts waiting in memory; beyond it
	// cuts go to the spool. Default 32 MiB.
	MemoryMaxBytes int64
	// FlushInterval closes a cut this long after its first statement.
	// Default 5s.
	FlushInterval time.Duration
	// CutMaxRecords closes a cut once it would make this many records.
	// Default 65536, at most MaxCutRecords/2.
	CutMaxRecords int
	// CutMaxBytes closes a cut once the statements it holds take about
	// this much memory. Default 16 MiB.
	CutMaxBytes int64
	// MaxRecordBytes bounds one Kafka record value: raw SQL is cut to fit
	// and Arrow batches are split. It must stay under the topic's
	// max.message.bytes. Default 900 KiB, at least 64 KiB.
	MaxRecordBytes int
	// SendMaxBytes bounds the records produced and flushed together (one
	// or more whole cuts). Default 16 MiB.
	SendMaxBytes int64
	// ShutdownTimeout is how long a stopping agent keeps sending before it
	// spools what is left. Default 10s.
	ShutdownTimeout time.Duration
	// ReportInterval is how often the agent logs its own CPU and memory
	// cost and throughput. Default 1m; negative disables the log line (the
	// metrics stay).
	ReportInterval time.Duration

	// Host names this machine in Src. Default os.Hostname().
	Host string
	// Registerer receives the agent's metrics. Default nil (none).
	Registerer prometheus.Registerer
	// Logger receives the agent's log. Default: discarded.
	Logger *slog.Logger
	// Now is the clock. Default time.Now.
	Now func() time.Time
	// NoSync skips fsync of the journal and spool. Tests only.
	NoSync bool
	// ClientOpts are passed to the franz-go client after the agent's own
	// (tests: kgo.RetryBackoffFn, …).
	ClientOpts []kgo.Opt
}

func (o *Options) setDefaults() error {
	if o.Topic == "" {
		o.Topic = DefaultTopic
	}
	if o.Host == "" {
		h, err := os.Hostname()
		if err != nil || h == "" {
			h = "localhost"
		}
		o.Host = h
	}
	if o.Logger == nil {
		o.Logger = slog.New(slog.DiscardHandler)
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	def64 := func(v *int64, d int64) {
		if *v == 0 {
			*v = d
		}
	}
	def64(&o.SpoolMaxBytes, 256<<20)
	def64(&o.MemoryMaxBytes, 32<<20)
	def64(&o.CutMaxBytes, 16<<20)
	def64(&o.SendMaxBytes, 16<<20)
	if o.FlushInterval == 0 {
		o.FlushInterval = 5 * time.Second
	}
	if o.CutMaxRecords == 0 {
		o.CutMaxRecords = 65536
	}
	if o.MaxRecordBytes == 0 {
		o.MaxRecordBytes = 900 << 10
	}
	if o.ShutdownTimeout == 0 {
		o.ShutdownTimeout = 10 * time.Second
	}
	if o.ReportInterval == 0 {
		o.ReportInterval = time.Minute
	}
	switch {
	case len(o.Brokers) == 0:
		return fmt.Errorf("%w: Brokers is empty", ErrBadOptions)
	case o.StateDir == "":
		return fmt.Errorf("%w: StateDir is empty", ErrBadOptions)
	case o.Format > FormatArrow:
		return fmt.Errorf("%w: Format %d, want FormatJSON or FormatArrow", ErrBadOptions, o.Format)
	case o.SpoolMaxBytes < 0:
		return fmt.Errorf("%w: SpoolMaxBytes %d, want >= 0 (0 means 256 MiB)", ErrBadOptions, o.SpoolMaxBytes)
	case o.MemoryMaxBytes < 0:
		return fmt.Errorf("%w: MemoryMaxBytes %d, want >= 0 (0 means 32 MiB)", ErrBadOptions, o.MemoryMaxBytes)
	case o.FlushInterval < 0:
		return fmt.Errorf("%w: FlushInterval %v, want > 0", ErrBadOptions, o.FlushInterval)
	case o.CutMaxRecords < 1 || o.CutMaxRecords > MaxCutRecords/2:
		return fmt.Errorf("%w: CutMaxRecords %d, want 1..%d", ErrBadOptions, o.CutMaxRecords, MaxCutRecords/2)
	case o.CutMaxBytes < 0 || o.SendMaxBytes < 0:
		return fmt.Errorf("%w: CutMaxBytes and SendMaxBytes must not be negative", ErrBadOptions)
	case o.MaxRecordBytes < 64<<10:
		return fmt.Errorf("%w: MaxRecordBytes %d, want >= 65536", ErrBadOptions, o.MaxRecordBytes)
	case o.ShutdownTimeout < 0:
		return fmt.Errorf("%w: ShutdownTimeout %v, want >= 0", ErrBadOptions, o.ShutdownTimeout)
	case strings.Contains(o.Host, "/"):
		return fmt.Errorf("%w: Host %q must not contain /", ErrBadOptions, o.Host)
	}
	return nil
}

// config describes what determines a cut's records besides the input: a
// pending cut built under another config is re-sent under a new number.
func (o *Options) config(kind string) string {
	return fmt.Sprintf("v1 host=%s kind=%s format=%s edge=%t raw=%t instance=%q maxrec=%d",
		o.Host, kind, o.Format, o.EdgeAggregate, o.RawSQL, o.Instance, o.MaxRecordBytes)
}
