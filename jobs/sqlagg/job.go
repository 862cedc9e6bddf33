// Package sqlagg is das's first job and the example to copy when writing
// one: it reads SQL events, turns each statement into a template, and
// aggregates per (instance, db, template, event-time minute) into Parquet,
// exactly once.
//
// The pipeline, as Run assembles it:
//
//	source (file, Arrow, Kafka)            sources/…
//	  → decode, reject bad records         dead letter (reason + raw bytes)
//	  → watermark per partition            stream.Watermarks
//	  → template + key                     operators/fingerprint
//	  → 1-minute tumbling window           windows.Tumbling
//	  → pre-aggregate, keyed Pebble state  operators.WindowAggregate
//	  → rows (version 1, corrections n+1)  sinks.MinuteRow
//	  → Parquet, committed per checkpoint  sinks/parquet
package sqlagg

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"

	"github.com/das-project/das/operators"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/state"
	"github.com/das-project/das/stream"
	"github.com/das-project/das/windows"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/twmb/franz-go/pkg/sasl"
)

// Config configures the job. Zero values take the stated defaults.
type Config struct {
	// Input names the events: a path or file:PATH (JSON lines),
	// arrow:PATH (Arrow IPC), kafka://HOST:PORT[,…]/TOPIC. Required.
	Input string
	// Instance names the MySQL instance ("ip:port") for inputs that do not
	// carry one (slowlog:, pcap: without a server address). Default: the
	// input's own notion (a slow log's host name, a capture's server address).
	Instance string
	// MySQLPort is the server port a pcap: input treats as MySQL. Default 3306.
	MySQLPort int
	// StateDir holds the Pebble state. Required.
	StateDir string
	// ParquetDir receives the committed minute-aggregate files. Required.
	ParquetDir string
	// DeadLetter is the dead-letter file. Default StateDir/dead-letter.jsonl.
	DeadLetter string
	// OutOfOrderness bounds event-time disorder. Default 5s.
	OutOfOrderness time.Duration
	// AllowedLateness accepts late events as corrections for this long
	// after their minute fired. Default 10m; negative means 0.
	AllowedLateness time.Duration
	// IdleTimeout for Kafka partitions. Default 30s.
	IdleTimeout time.Duration
	// FutureSkew: events further ahead of the wall clock are dead-lettered.
	// Default 10m.
	FutureSkew time.Duration
	// CheckpointInterval between checkpoints. Default 5s.
	CheckpointInterval time.Duration
	// OpenTimeout bounds connecting to the input. Default 30s.
	OpenTimeout time.Duration
	// CheckpointEveryRecords also checkpoints every N records (0 = off).
	CheckpointEveryRecords int64
	// MaxBufferedKeys bounds pre-aggregated keys in memory. Default 500,000.
	MaxBufferedKeys int
	// BatchSize is the records per source batch. Default 4096.
	BatchSize int
	// KafkaOutput, if set, also writes every row as an upsert to a
	// compacted topic: kafka://HOST:PORT[,…]/TOPIC (e.g. …/das.sql-minute).
	KafkaOutput string
	// KafkaTransactionalID makes the Kafka output transactional: each
	// checkpoint's rows become visible to read_committed readers at once,
	// only after the checkpoint is durable. Must be stable across restarts
	// and unique per job. Default "": at-least-once (idempotent upserts).
	KafkaTransactionalID string
	// KafkaTLS and KafkaSASL secure every Kafka connection of the job (input
	// and output). Default nil: plaintext, no authentication.
	KafkaTLS  *tls.Config
	KafkaSASL sasl.Mechanism
	// Compression of the Parquet files. Default zstd.
	Compression parquet.Compression
	// KafkaStopAtEnd makes a Kafka input bounded at the end offsets seen at
	// start (demo, tests).
	KafkaStopAtEnd bool
	// Registerer receives the job's metrics (nil: not registered).
	Registerer prometheus.Registerer
	// Now is the wall clock. Default time.Now.
	Now func() time.Time
	// DeadLetterMaxBytes, when positive, rotates the dead-letter file after
	// a checkpoint that leaves it at least this long: DEADLETTER.000001,
	// .000002, … (operators.DeadLetterOptions). 0: one growing file.
	DeadLetterMaxBytes int64
	// CompactInterval, when positive, merges the committed minute files of
	// ParquetDir into hourly files every CompactInterval while the job runs,
	// and once more at the end of a bounded input: the hours that end at or
	// before the purge horizon (the watermark less the allowed lateness,
	// where no correction can arrive any more). Zero: never (use das
	// compact). Do not run das compact on the same directory meanwhile.
	CompactInterval time.Duration
	// OnCompact, if set, is told the outcome of every scheduled compaction
	// that had hours to merge or failed. A failed compaction leaves the
	// files as they were (Compact is idempotent) and is tried again at the
	// next interval; it does not stop the job.
	OnCompact func(parquet.CompactStats, error)
}

// Summary is what a run did, cumulative over restarts of the same state.
type Summary struct {
	Records      int64            // input records read
	Rows         int64            // rows written, corrections included
	Corrections  int64            // rows with version > 1
	DeadLettered map[string]int64 // by reason
	Checkpoints  int64
	// Duplicates are records das agent delivered twice (same src, seq not
	// above the highest counted), dropped rather than counted again.
	Duplicates int64
	Watermark  int64
	DeadLetter string // the dead-letter file
	ParquetDir string
	// Compactions counts scheduled compactions of this run that merged
	// files; CompactErrors those that failed (see Config.OnCompact).
	Compactions, CompactErrors int64
}

// DeadLetteredTotal sums DeadLettered.
func (s Summary) DeadLetteredTotal() int64 {
	var n int64
	for _, v := range s.DeadLettered {
		n += v
	}
	return n
}

func (c *Config) validate() error {
	if c.Input == "" || c.StateDir == "" || c.ParquetDir == "" {
		return errors.New("sqlagg: Input, StateDir and ParquetDir are required")
	}
	if c.DeadLetter == "" {
		c.DeadLetter = filepath.Join(c.StateDir, "dead-letter.jsonl")
	}
	if c.AllowedLateness == 0 {
		c.AllowedLateness = 10 * time.Minute
	} else if c.AllowedLateness < 0 {
		c.AllowedLateness = 0
	}
	if c.OutOfOrderness < 0 {
		return fmt.Errorf("sqlagg: out-of-orderness %v must be ≥ 0", c.OutOfOrderness)
	}
	if c.Now == nil {
		c.Now = time.Now
	}
	if c.DeadLetterMaxBytes < 0 {
		return fmt.Errorf("sqlagg: dead-letter max bytes %d must be ≥ 0", c.DeadLetterMaxBytes)
	}
	if c.CompactInterval < 0 {
		return fmt.Errorf("sqlagg: compact interval %v must be ≥ 0", c.CompactInterval)
	}
	return nil
}

// Run runs the job until a bounded input ends or ctx is cancelled; both
// end with a committed checkpoint. Running again with the same StateDir
// resumes exactly where the last checkpoint left off.
func Run(ctx context.Context, cfg Config) (sum Summary, err error) {
	if err := cfg.validate(); err != nil {
		return sum, err
	}
	for _, d := range []string{cfg.StateDir, cfg.ParquetDir} {
		if err := os.MkdirAll(d, 0o755); err != nil {
			return sum, fmt.Errorf("sqlagg: %w", err)
		}
	}

	// Keyed state: Pebble, with the window's partial aggregates combined
	// by Pebble's merge operator.
	dict := (*dictionary)(nil)
	agg := newAggregator(nil)
	store, err := state.Open(filepath.Join(cfg.StateDir, "pebble"), state.Options{
		Combiners: map[byte]state.Combine{state.NSPartial: operators.CombineFunc[sources.Event, *Acc](agg)},
	})
	if err != nil {
		return sum, err
	}
	defer func() {
		if cerr := store.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()
	dict = newDictionary(store)
	agg.dict = dict
	cp, err := store.LoadCheckpoint()
	if err != nil {
		return sum, err
	}

	// 1-minute tumbling event-time windows with allowed lateness.
	minute, err := windows.NewTumbling(time.Minute)
	if err != nil {
		return sum, err
	}
	win, err := operators.NewWindowAggregate[sources.Event, *Acc](store, agg, operators.WindowOptions{
		Window:          minute,
		AllowedLateness: cfg.AllowedLateness,
		MaxBufferedKeys: cfg.MaxBufferedKeys,
	}, cp.FiredUpTo, cp.PurgedUpTo)
	if err != nil {
		return sum, err
	}

	// Sinks: Parquet files committed with each checkpoint.
	pq, err := parquet.New(cfg.ParquetDir, parquet.Options{Prefix: "sqlagg", Compression: cfg.Compression})
	if err != nil {
		return sum, err
	}
	defer func() {
		if cerr := pq.Close(); cerr != nil && err == nil {
			err = cerr
		}
	}()

	outs := []sinks.Sink{pq}
	if cfg.KafkaOutput != "" {
		ks, err := openKafkaOutput(ctx, cfg)
		if err != nil {
			return sum, err
		}
		defer func() {
			if cerr := ks.Close(); cerr != nil && err == nil {
				err = cerr
			}
		}()
		outs = append(outs, ks)
	}

	dl, err := operators.OpenDeadLetterWith(cfg.DeadLetter, cp.DeadLetterSize, operators.DeadLetterOptions{MaxBytes: cfg.DeadLetterMaxBytes})
	if err != nil {
		return sum, err
	}
	defer dl.Close()

	src, live, err := openInput(cfg)
	if err != nil {
		return sum, err
	}
	defer src.Close()

	var metrics *stream.Metrics
	if cfg.Registerer != nil {
		metrics = stream.NewMetrics(cfg.Registerer, func() float64 { return float64(store.SizeBytes()) })
	}
	// Records das agent resent after a restart (same src, seq not above
	// the highest counted) are dropped before the window.
	dedup, err := operators.OpenDedup(store, operators.DedupOptions[sources.Event]{
		Key: func(ev *sources.Event) (string, int64, int64, bool) {
			return ev.Src, ev.Seq, ev.TsMs, ev.Src != ""
		},
		Retention: (cfg.AllowedLateness + cfg.OutOfOrderness + time.Hour).Milliseconds(),
	})
	if err != nil {
		return sum, err
	}
	op := newMinuteOperator(dedup, win, dict, outs)
	task, err := stream.NewTask[sources.Event](store, cp, src, op, dl,
		stream.TaskOptions[sources.Event]{
			Watermarks: stream.WatermarkOptions{
				OutOfOrderness:  cfg.OutOfOrderness,
				IdleTimeout:     cfg.IdleTimeout,
				FollowWallClock: live,
				FutureSkew:      cfg.FutureSkew,
				Now:             cfg.Now,
			},
			CheckpointInterval:     cfg.CheckpointInterval,
			CheckpointEveryRecords: cfg.CheckpointEveryRecords,
			OpenTimeout:            cfg.OpenTimeout,
			EventTime:              func(ev *sources.Event) int64 { return ev.TsMs },
			Raw:                    func(dst []byte, ev *sources.Event) []byte { return sources.AppendJSON(dst, ev) },
			Metrics:                metrics,
			Now:                    cfg.Now,
		}, twoPhase(outs)...)
	if err != nil {
		return sum, err
	}
	if err := task.Recover(); err != nil {
		return sum, err
	}
	var comp *compactor
	if cfg.CompactInterval > 0 {
		if cfg.Registerer != nil {
			runs := prometheus.NewCounterVec(prometheus.CounterOpts{Name: "das_compactions_total",
				Help: "Scheduled compactions that merged files (result=ok) or failed (result=failed)."}, []string{"result"})
			files := prometheus.NewCounter(prometheus.CounterOpts{Name: "das_compacted_files_total",
				Help: "Minute and hour files merged by scheduled compactions."})
			if err := cfg.Registerer.Register(runs); err != nil {
				return sum, fmt.Errorf("sqlagg: metrics: %w", err)
			}
			if err := cfg.Registerer.Register(files); err != nil {
				return sum, fmt.Errorf("sqlagg: metrics: %w", err)
			}
			report := cfg.OnCompact
			cfg.OnCompact = func(st parquet.CompactStats, err error) {
				if err != nil {
					runs.WithLabelValues("failed").Inc()
				} else {
					runs.WithLabelValues("ok").Inc()
					files.Add(float64(st.FilesMerged))
				}
				if report != nil {
					report(st, err)
				}
			}
		}
		comp = startCompactor(ctx, cfg, cp.PurgedUpTo)
		op.horizon = &comp.horizon
	}
	runErr := task.Run(ctx)
	if comp != nil {
		comp.stop(runErr == nil && src.Bounded())
	}
	st := task.Stats()
	sum = Summary{Records: st.Records, Rows: st.Rows, Corrections: st.Corrections, DeadLettered: st.DeadLettered,
		Checkpoints: st.Checkpoints, Watermark: st.Watermark, DeadLetter: cfg.DeadLetter, ParquetDir: cfg.ParquetDir,
		Duplicates: dedup.Dropped()}
	if comp != nil {
		sum.Compactions, sum.CompactErrors = comp.done.Load(), comp.failed.Load()
	}
	return sum, runErr
}

// compactor merges minute files into hourly files on a schedule, in its
// own goroutine, up to the purge horizon the operator publishes after each
// checkpoint. Compact may run while the job writes into the directory.
type compactor struct {
	cfg          Config
	horizon      atomic.Int64 // PurgedUpTo of the last checkpoint, epoch ms
	done, failed atomic.Int64
	cancel       context.CancelFunc
	exited       chan struct{}
}

func startCompactor(ctx context.Context, cfg Config, purged int64) *compactor {
	c := &compactor{cfg: cfg, exited: make(chan struct{})}
	c.horizon.Store(purged)
	ctx, c.cancel = context.WithCancel(ctx)
	go func() {
		defer close(c.exited)
		t := time.NewTicker(cfg.CompactInterval)
		defer t.Stop()
		for {
			select {
			case <-ctx.Done():
				return
			case <-t.C:
				c.once(ctx)
			}
		}
	}()
	return c
}

// stop ends the schedule and waits for a compaction in progress; final
// runs one more pass (the end of a bounded input).
func (c *compactor) stop(final bool) {
	c.cancel()
	<-c.exited
	if final {
		c.once(context.Background())
	}
}

// once compacts the hours ending at or before the horizon.
func (c *compactor) once(ctx context.Context) {
	h := c.horizon.Load()
	if h <= 0 {
		return
	}
	// Every time, not only when the horizon moved: files committed since
	// the last pass may belong to hours already behind it.
	before := time.UnixMilli(h).UTC().Truncate(time.Hour)
	st, err := parquet.Compact(ctx, c.cfg.ParquetDir, parquet.CompactOptions{Before: before}) // zstd, as das compact
	if err != nil {
		if ctx.Err() != nil {
			return // stopping: the next run compacts these hours
		}
		c.failed.Add(1)
	} else {
		if st.FilesMerged == 0 {
			return
		}
		c.done.Add(1)
	}
	if c.cfg.OnCompact != nil {
		c.cfg.OnCompact(st, err)
	}
}

// twoPhase lists the sinks as the task's two-phase participants, in the
// order their pending output is recorded in the checkpoint.
func twoPhase(outs []sinks.Sink) []stream.TwoPhaseSink {
	tp := make([]stream.TwoPhaseSink, len(outs))
	for i, o := range outs {
		tp[i] = o
	}
	return tp
}
