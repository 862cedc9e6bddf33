package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/internal/agent"
	"github.com/das-project/das/sources/kafka"
)

// cmdAgent ships SQL events from one input to Kafka (docs/collection.md,
// "das agent"): das agent --input KIND:ARG --brokers HOST:PORT --state DIR.
func cmdAgent(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das agent", flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintln(s.err, "usage: das agent --input slowlog:PATH|pcap:FILE|iface:NAME|perfschema:DSN|file:PATH --brokers HOST:PORT[,…] --state DIR [flags]\n\nShips SQL events to Kafka, batched and zstd-compressed, redacted by default (docs/collection.md).\n\nflags:")
		fs.PrintDefaults()
	}
	var (
		o           agent.Options
		inOpts      agent.InputOptions
		input       = fs.String("input", "", "what to read: slowlog:PATH, pcap:FILE, iface:NAME (live capture), perfschema:DSN, or file:PATH (JSON lines)")
		brokers     = fs.String("brokers", "", "Kafka seed brokers, HOST:PORT[,HOST:PORT…]")
		format      = fs.String("format", "json", "record format: json (one event per record) or arrow (one Arrow IPC stream of many events per record)")
		spoolMax    = byteSize(256 << 20)
		memMax      = byteSize(32 << 20)
		metricsAddr = fs.String("metrics-addr", "", "serve Prometheus metrics on this address, e.g. 127.0.0.1:9465 (off by default)")
		logFormat   = fs.String("log-format", "text", "log format on stderr: text or json")
		tlsCA       = fs.String("kafka-tls-ca", "", "Kafka: CA certificate (PEM) to verify brokers; enables TLS")
		tlsCert     = fs.String("kafka-tls-cert", "", "Kafka: client certificate (PEM) for mutual TLS; enables TLS")
		tlsKey      = fs.String("kafka-tls-key", "", "Kafka: client key (PEM) for --kafka-tls-cert")
		tlsName     = fs.String("kafka-tls-server-name", "", "Kafka: TLS server name to verify (default: the broker host)")
		tlsOn       = fs.Bool("kafka-tls", false, "Kafka: use TLS with the system CAs")
		saslMech    = fs.String("kafka-sasl-mechanism", "", "Kafka: SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
		saslUser    = fs.String("kafka-sasl-user", "", "Kafka: SASL user")
		saslPass    = fs.String("kafka-sasl-password-file", "", "Kafka: file holding the SASL password (never pass it on the command line)")
	)
	fs.StringVar(&o.Topic, "topic", agent.DefaultTopic, "Kafka topic to produce to")
	fs.StringVar(&o.Instance, "instance", "", "the instance ip:port the statements ran on (default: slowlog: the log's host name, as for das run; perfschema: the DSN's address; captures: the server address seen; file: each event's own)")
	fs.IntVar(&inOpts.Port, "port", 3306, "pcap:/iface: inputs: the MySQL server port")
	fs.StringVar(&o.StateDir, "state", "", "state directory: the journal of cuts and the spool (one agent per directory; keep it across restarts)")
	fs.BoolVar(&o.EdgeAggregate, "edge-aggregate", false, "ship per-minute partial aggregates per (instance, db, template) instead of one record per statement")
	fs.BoolVar(&o.RawSQL, "raw-sql", false, "ship statements as written instead of redacted samples (statements that may carry a password are redacted anyway)")
	fs.Var(&spoolMax, "spool-max-bytes", "bound of the local spool used while Kafka is unreachable (e.g. 256MiB); beyond it the oldest cuts are dropped and counted")
	fs.Var(&memMax, "memory-max-bytes", "bound of the cuts waiting in memory before they go to the spool")
	fs.DurationVar(&o.FlushInterval, "flush-interval", 5*time.Second, "a cut (one batch of records) closes this long after its first statement")
	fs.DurationVar(&o.ShutdownTimeout, "shutdown-timeout", 10*time.Second, "on SIGINT/SIGTERM, keep sending this long before spooling the rest")
	fs.DurationVar(&o.ReportInterval, "report-interval", time.Minute, "log the agent's own CPU and memory cost this often")
	fs.StringVar(&o.Host, "host", "", "this host's name in the records' src (default: the hostname)")
	fs.DurationVar(&inOpts.FollowPoll, "follow-poll", 0, "with --follow: how often the file is checked for growth and rotation (default 250ms for slowlog:, 200ms for file:)")
	fs.BoolVar(&inOpts.Follow, "follow", false, "file: and slowlog: inputs: keep reading as the file grows and rotates (slowlog: keeps its position in --state; without --follow the file is shipped once)")
	fs.DurationVar(&inOpts.PerfschemaInterval, "perfschema-interval", time.Minute, "perfschema: input: poll interval (at least 1s)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if *input == "" || *brokers == "" || o.StateDir == "" || fs.NArg() > 0 {
		fmt.Fprintln(s.err, "das agent: --input, --brokers and --state are required (and no positional arguments)")
		return errUsage
	}
	if inOpts.FollowPoll < 0 || inOpts.FollowPoll > 0 && !inOpts.Follow {
		fmt.Fprintln(s.err, "das agent: --follow-poll must be positive and goes with --follow")
		return errUsage
	}
	for _, b := range strings.Split(*brokers, ",") {
		if b = strings.TrimSpace(b); b != "" {
			o.Brokers = append(o.Brokers, b)
		}
	}
	f, err := agent.ParseFormat(*format)
	if err != nil {
		fmt.Fprintf(s.err, "das agent: --format %q: want json or arrow\n", *format)
		return errUsage
	}
	o.Format = f
	o.SpoolMaxBytes, o.MemoryMaxBytes = int64(spoolMax), int64(memMax)
	if o.ReportInterval == 0 {
		o.ReportInterval = -1
	}
	if *tlsOn || *tlsCA != "" || *tlsCert != "" || *tlsName != "" {
		c, err := kafka.TLSFiles(*tlsCA, *tlsCert, *tlsKey, *tlsName)
		if err != nil {
			return err
		}
		o.TLS = c
	}
	if *saslMech != "" {
		if *saslPass == "" {
			return errors.New("--kafka-sasl-mechanism needs --kafka-sasl-password-file")
		}
		pass, err := os.ReadFile(*saslPass)
		if err != nil {
			return fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		m, err := kafka.SASL(*saslMech, *saslUser, strings.TrimRight(string(pass), "\r\n"))
		if err != nil {
			return err
		}
		o.SASL = m
	}
	var h slog.Handler = slog.NewTextHandler(s.err, nil)
	switch *logFormat {
	case "text":
	case "json":
		h = slog.NewJSONHandler(s.err, nil)
	default:
		fmt.Fprintf(s.err, "das agent: --log-format %q: want text or json\n", *logFormat)
		return errUsage
	}
	o.Logger = slog.New(h)
	inOpts.OnError = func(err error) { o.Logger.Warn("agent: input", "err", err) }

	kind, arg, _ := strings.Cut(*input, ":")
	if o.Instance == "" {
		switch kind {
		case "perfschema":
			cfg, err := mysql.ParseDSN(arg)
			if err != nil {
				return fmt.Errorf("--input perfschema: DSN: %w", err)
			}
			o.Instance = cfg.Addr
		}
	}
	inOpts.Instance = o.Instance
	inOpts.StateDir = o.StateDir
	in, err := agent.OpenInput(ctx, *input, inOpts)
	if err != nil {
		return err
	}
	if *metricsAddr != "" {
		reg := prometheus.NewRegistry()
		o.Registerer = reg
		stop, err := serveMetrics(*metricsAddr, reg)
		if err != nil {
			in.Close()
			return err
		}
		defer stop()
	}
	a, err := agent.New(in, o)
	if err != nil {
		in.Close()
		return err
	}
	start := time.Now()
	sum, err := a.Run(ctx)
	fmt.Fprintf(s.out, "statements read   %d (rejected records %d)\n", sum.Statements, sum.Rejects)
	fmt.Fprintf(s.out, "records           %d in %d cuts (acknowledged %d, %d statements)\n", sum.Records, sum.Cuts, sum.AckedRecords, sum.AckedStatements)
	fmt.Fprintf(s.out, "bytes             %d produced, %d on the wire (zstd)\n", sum.ValueBytes, sum.WireBytes)
	fmt.Fprintf(s.out, "dropped           %d statements (spool full), %d lost (not re-readable)\n", sum.DroppedStatements, sum.LostStatements)
	fmt.Fprintf(s.out, "pending           %d cuts (%d spooled), sent at the next start\n", sum.Pending, sum.Spooled)
	fmt.Fprintf(s.out, "elapsed           %s\n", time.Since(start).Round(time.Millisecond))
	return err
}

// byteSize is a flag value in bytes: an integer with an optional KiB, MiB,
// GiB (or KB, MB, GB: also powers of 1024) suffix.
type byteSize int64

func (b *byteSize) String() string { return strconv.FormatInt(int64(*b), 10) }

func (b *byteSize) Set(s string) error {
	s = strings.TrimSpace(s)
	mult := int64(1)
	for _, u := range []struct {
		suffix string
		m      int64
	}{{"KiB", 1 << 10}, {"MiB", 1 << 20}, {"GiB", 1 << 30}, {"KB", 1 << 10}, {"MB", 1 << 20}, {"GB", 1 << 30}, {"K", 1 << 10}, {"M", 1 << 20}, {"G", 1 << 30}} {
		if rest, ok := strings.CutSuffix(s, u.suffix); ok {
			s, mult = strings.TrimSpace(rest), u.m
			break
		}
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 0 || n > (1<<62)/mult {
		return fmt.Errorf("want a non-negative byte count, e.g. 268435456 or 256MiB")
	}
	*b = byteSize(n * mult)
	return nil
}
