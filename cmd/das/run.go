package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"net"
	"net/http"
	"os"
	"sort"
	"strings"
	"time"

	"github.com/das-project/das/jobs/sqlagg"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources/kafka"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// cmdRun runs a job: das run sqlagg --input … --state DIR --parquet DIR.
func cmdRun(ctx context.Context, args []string, s stdio) error {
	if len(args) == 0 || args[0] != "sqlagg" {
		fmt.Fprintln(s.err, "usage: das run sqlagg --input PATH|file:PATH|arrow:PATH|kafka://HOST:PORT/TOPIC --state DIR --parquet DIR [flags]")
		return errUsage
	}
	fs := flag.NewFlagSet("das run sqlagg", flag.ContinueOnError)
	fs.SetOutput(s.err)
	var cfg sqlagg.Config
	fs.StringVar(&cfg.Input, "input", "", "events: PATH or file:PATH (JSON lines), arrow:PATH (Arrow IPC), kafka://HOST:PORT[,…]/TOPIC")
	fs.StringVar(&cfg.Instance, "instance", "", "slowlog:/pcap: inputs: the instance ip:port the statements ran on (default: the log's host name, the capture's server address)")
	fs.IntVar(&cfg.MySQLPort, "port", 3306, "pcap: input: the MySQL server port in the capture")
	fs.StringVar(&cfg.StateDir, "state", "", "state directory (Pebble); re-use it to resume")
	fs.StringVar(&cfg.ParquetDir, "parquet", "", "output directory for committed minute-aggregate Parquet files")
	fs.StringVar(&cfg.DeadLetter, "dead-letter", "", "dead-letter file, one JSON line per rejected record (default STATE/dead-letter.jsonl)")
	fs.Int64Var(&cfg.DeadLetterMaxBytes, "dead-letter-max-bytes", 0, "rotate the dead-letter file after a checkpoint that leaves it this long (to FILE.000001, .000002, …); 0: never")
	fs.DurationVar(&cfg.OutOfOrderness, "out-of-orderness", 5*time.Second, "bounded out-of-orderness of event time")
	fs.DurationVar(&cfg.AllowedLateness, "allowed-lateness", 10*time.Minute, "late events within this of their minute's end are corrections; later ones are dead-lettered")
	fs.DurationVar(&cfg.IdleTimeout, "idle-timeout", 30*time.Second, "Kafka: a partition silent this long stops holding the watermark back")
	fs.DurationVar(&cfg.FutureSkew, "future-skew", 10*time.Minute, "events stamped further ahead of the wall clock are dead-lettered (reason future)")
	fs.DurationVar(&cfg.CheckpointInterval, "checkpoint-interval", 5*time.Second, "time between checkpoints (output latency)")
	fs.DurationVar(&cfg.OpenTimeout, "open-timeout", 30*time.Second, "how long connecting to the input may take before das gives up with an error")
	fs.IntVar(&cfg.MaxBufferedKeys, "max-buffered-keys", 500_000, "pre-aggregated keys held in memory before a checkpoint (bounds memory)")
	fs.IntVar(&cfg.BatchSize, "batch-size", 4096, "records per source batch")
	fs.BoolVar(&cfg.KafkaStopAtEnd, "kafka-stop-at-end", false, "Kafka: stop at the end offsets seen at start instead of running until stopped")
	fs.StringVar(&cfg.KafkaOutput, "kafka-output", "", "also upsert rows into a compacted topic, kafka://HOST:PORT[,…]/TOPIC (e.g. …/das.sql-minute)")
	fs.StringVar(&cfg.KafkaTransactionalID, "kafka-transactional-id", "", "make --kafka-output transactional with this stable, per-job id (default: at-least-once upserts)")
	tlsCA := fs.String("kafka-tls-ca", "", "Kafka: CA certificate (PEM) to verify brokers; enables TLS")
	tlsCert := fs.String("kafka-tls-cert", "", "Kafka: client certificate (PEM) for mutual TLS; enables TLS")
	tlsKey := fs.String("kafka-tls-key", "", "Kafka: client key (PEM) for --kafka-tls-cert")
	tlsName := fs.String("kafka-tls-server-name", "", "Kafka: TLS server name to verify (default: the broker host)")
	tlsOn := fs.Bool("kafka-tls", false, "Kafka: use TLS with the system CAs")
	saslMech := fs.String("kafka-sasl-mechanism", "", "Kafka: SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	saslUser := fs.String("kafka-sasl-user", "", "Kafka: SASL user")
	saslPassFile := fs.String("kafka-sasl-password-file", "", "Kafka: file holding the SASL password (never pass it on the command line)")
	compression := fs.String("parquet-compression", "zstd", "compression of the minute files: zstd, snappy or none (das compact always writes zstd)")
	fs.DurationVar(&cfg.CompactInterval, "compact-interval", 0, "merge committed minute files into hourly files this often while running (and once at the end of a file input), up to the watermark less the allowed lateness; 0: off, use das compact")
	metricsAddr := fs.String("metrics-addr", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9464 (off by default)")
	if err := fs.Parse(args[1:]); err != nil {
		return errUsage
	}
	if cfg.Input == "" || cfg.StateDir == "" || cfg.ParquetDir == "" {
		fmt.Fprintln(s.err, "das run sqlagg: --input, --state and --parquet are required")
		return errUsage
	}
	cfg.OnCompact = func(st parquet.CompactStats, err error) {
		if err != nil {
			fmt.Fprintf(s.err, "das run sqlagg: scheduled compaction failed (files left as they were, retried at the next interval): %v\n", err)
			return
		}
		fmt.Fprintf(s.err, "das run sqlagg: compacted %d files (%d rows) into %d hour files (%d rows)\n", st.FilesMerged, st.RowsIn, st.Hours, st.RowsOut)
	}
	switch *compression {
	case "zstd":
		cfg.Compression = parquet.CompressionZstd
	case "snappy":
		cfg.Compression = parquet.CompressionSnappy
	case "none":
		cfg.Compression = parquet.CompressionNone
	default:
		fmt.Fprintf(s.err, "das run sqlagg: --parquet-compression %q: want zstd, snappy or none\n", *compression)
		return errUsage
	}
	if *tlsOn || *tlsCA != "" || *tlsCert != "" || *tlsName != "" {
		c, err := kafka.TLSFiles(*tlsCA, *tlsCert, *tlsKey, *tlsName)
		if err != nil {
			return err
		}
		cfg.KafkaTLS = c
	}
	if *saslMech != "" {
		if *saslPassFile == "" {
			return errors.New("--kafka-sasl-mechanism needs --kafka-sasl-password-file")
		}
		pass, err := os.ReadFile(*saslPassFile)
		if err != nil {
			return fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		m, err := kafka.SASL(*saslMech, *saslUser, strings.TrimRight(string(pass), "\r\n"))
		if err != nil {
			return err
		}
		cfg.KafkaSASL = m
	}
	if cfg.AllowedLateness == 0 {
		cfg.AllowedLateness = -1 // the flag's 0 means no lateness
	}
	if *metricsAddr != "" {
		reg := prometheus.NewRegistry()
		cfg.Registerer = reg
		stop, err := serveMetrics(*metricsAddr, reg)
		if err != nil {
			return err
		}
		defer stop()
	}
	start := time.Now()
	sum, err := sqlagg.Run(ctx, cfg)
	printSummary(s, sum, time.Since(start))
	return err
}

func serveMetrics(addr string, g prometheus.Gatherer) (stop func(), err error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("/metrics", promhttp.HandlerFor(g, promhttp.HandlerOpts{}))
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	done := make(chan struct{})
	go func() {
		defer close(done)
		if err := srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			_ = err // the listener failed; nothing else to do for metrics
		}
	}()
	return func() {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
		defer cancel()
		_ = srv.Shutdown(ctx)
		<-done
	}, nil
}

func printSummary(s stdio, sum sqlagg.Summary, took time.Duration) {
	fmt.Fprintf(s.out, "records read      %d (cumulative for this state)\n", sum.Records)
	fmt.Fprintf(s.out, "rows written      %d (of which corrections %d)\n", sum.Rows, sum.Corrections)
	reasons := make([]string, 0, len(sum.DeadLettered))
	for k := range sum.DeadLettered {
		reasons = append(reasons, k)
	}
	sort.Strings(reasons)
	fmt.Fprintf(s.out, "dead-lettered     %d", sum.DeadLetteredTotal())
	for i, k := range reasons {
		sep := ", "
		if i == 0 {
			sep = " ("
		}
		fmt.Fprintf(s.out, "%s%s %d", sep, k, sum.DeadLettered[k])
	}
	if len(reasons) > 0 {
		fmt.Fprint(s.out, ")")
	}
	fmt.Fprintln(s.out)
	fmt.Fprintf(s.out, "checkpoints       %d\n", sum.Checkpoints)
	if sum.Compactions+sum.CompactErrors > 0 {
		fmt.Fprintf(s.out, "compactions       %d (failed %d)\n", sum.Compactions, sum.CompactErrors)
	}
	fmt.Fprintf(s.out, "elapsed           %s\n", took.Round(time.Millisecond))
	fmt.Fprintf(s.out, "parquet           %s\n", sum.ParquetDir)
	fmt.Fprintf(s.out, "dead letter       %s\n", sum.DeadLetter)
}
