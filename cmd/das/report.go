package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"github.com/das-project/das/internal/report"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sources/kafka"
)

// cmdReport ranks SQL templates over a time range of minute aggregates:
// das report --input DIR|kafka://HOST:PORT/TOPIC [--from …] [--to …] ….
func cmdReport(ctx context.Context, args []string, s stdio) error {
	return runReport(ctx, args, s, time.Now)
}

// listFlag collects comma-separated values from one or more uses of a flag.
type listFlag []string

func (l *listFlag) String() string { return strings.Join(*l, ",") }

func (l *listFlag) Set(v string) error {
	if v == "" {
		*l = append(*l, "") // --db '' selects statements run with no schema
		return nil
	}
	for _, x := range strings.Split(v, ",") {
		*l = append(*l, strings.TrimSpace(x))
	}
	return nil
}

const reportUsage = `usage: das report --input DIR|kafka://HOST:PORT[,…]/TOPIC [flags]

Ranks SQL templates over a range of minute aggregates (the Parquet files of
das run, or the compacted das.sql-minute topic), pt-query-digest style.
Times are RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02), now, or
relative to now (-1h, -90m, -2d, -1w). See docs/report.md.

flags:`

func runReport(ctx context.Context, args []string, s stdio, now func() time.Time) error {
	fs := flag.NewFlagSet("das report", flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintln(s.err, reportUsage)
		fs.PrintDefaults()
	}
	input := fs.String("input", "", "minute aggregates: a directory of Parquet files (das run --parquet), or kafka://HOST:PORT[,…]/TOPIC (the compacted das.sql-minute topic)")
	from := fs.String("from", "", "start of the range (default: the first minute in the input)")
	to := fs.String("to", "", "end of the range, exclusive; rounded up to a whole minute (default: the end of the last minute in the input)")
	var instances, dbs listFlag
	fs.Var(&instances, "instance", "only these instances, ip:port (comma-separated or repeated)")
	fs.Var(&dbs, "db", "only these schemas (comma-separated or repeated; '' = statements with no schema)")
	orderBy := fs.String("order-by", "time", "rank by: time, count, p99, avg, rows_examined or errors")
	groupBy := fs.String("group-by", "template", "one line per: template, or template with instance and/or db (e.g. template,instance)")
	top := fs.Int("top", 20, "show the first N templates (0: all)")
	format := fs.String("format", "text", "output format: text, json or html")
	output := fs.String("output", "", "write the report to this file instead of standard output")
	widthFlag := fs.Int("width", 0, "text: line width (default: the terminal's, else $COLUMNS, else 120)")
	buckets := fs.Int("buckets", 0, "sparkline buckets (default: text fits the width, up to 60; json and html 60)")
	compare := fs.String("compare", "", "compare with this baseline range, FROM..TO (e.g. -2h..-1h)")
	shift := fs.String("compare-shift", "", "compare with the same range this far back (e.g. 1d, 1w)")
	threshold := fs.Float64("threshold", 0.2, "compare: relative change from which a template is tagged slower, faster, more or less frequent (0.2 = ×1.2)")
	openTimeout := fs.Duration("open-timeout", 30*time.Second, "Kafka: how long connecting and listing offsets may take")
	tlsCA := fs.String("kafka-tls-ca", "", "Kafka: CA certificate (PEM) to verify brokers; enables TLS")
	tlsCert := fs.String("kafka-tls-cert", "", "Kafka: client certificate (PEM) for mutual TLS; enables TLS")
	tlsKey := fs.String("kafka-tls-key", "", "Kafka: client key (PEM) for --kafka-tls-cert")
	tlsName := fs.String("kafka-tls-server-name", "", "Kafka: TLS server name to verify (default: the broker host)")
	tlsOn := fs.Bool("kafka-tls", false, "Kafka: use TLS with the system CAs")
	saslMech := fs.String("kafka-sasl-mechanism", "", "Kafka: SASL mechanism: PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512")
	saslUser := fs.String("kafka-sasl-user", "", "Kafka: SASL user")
	saslPassFile := fs.String("kafka-sasl-password-file", "", "Kafka: file holding the SASL password (never pass it on the command line)")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "das report: unexpected argument %q\n", fs.Arg(0))
		return errUsage
	}
	if *input == "" {
		fmt.Fprintln(s.err, "das report: --input is required")
		return errUsage
	}
	switch *format {
	case "text", "json", "html":
	default:
		return fmt.Errorf("--format %q: want text, json or html", *format)
	}

	t0 := now()
	opts := report.Options{Instances: instances, DBs: dbs, Top: *top, Buckets: *buckets, Threshold: *threshold, Input: *input}
	var err error
	if opts.OrderBy, err = report.ParseMetric(*orderBy); err != nil {
		return fmt.Errorf("--order-by: %w", err)
	}
	if opts.GroupBy, err = report.ParseGroupBy(*groupBy); err != nil {
		return fmt.Errorf("--group-by: %w", err)
	}
	if *from != "" {
		if opts.From, err = report.ParseTime(*from, t0); err != nil {
			return fmt.Errorf("--from: %w", err)
		}
	}
	if *to != "" {
		if opts.To, err = report.ParseTime(*to, t0); err != nil {
			return fmt.Errorf("--to: %w", err)
		}
	}
	if !opts.From.IsZero() && !opts.To.IsZero() && !opts.To.After(opts.From) {
		return fmt.Errorf("--to %s is not after --from %s", opts.To.UTC().Format(time.RFC3339), opts.From.UTC().Format(time.RFC3339))
	}
	if *compare != "" && *shift != "" {
		return errors.New("--compare and --compare-shift exclude each other")
	}
	if *compare != "" {
		sp, err := report.ParseSpan(*compare, t0)
		if err != nil {
			return fmt.Errorf("--compare: %w", err)
		}
		opts.Baseline = &sp
	}
	if *shift != "" {
		d, err := report.ParseDuration(strings.TrimPrefix(*shift, "-"))
		if err != nil {
			return fmt.Errorf("--compare-shift: %w", err)
		}
		opts.BaselineShift = d
	}
	if *top < 0 {
		return fmt.Errorf("--top %d: want 0 (all) or more", *top)
	}
	width := *widthFlag
	if *format == "text" {
		if width == 0 {
			width = terminalWidth(s.out)
		}
		if opts.Buckets == 0 {
			opts.Buckets = report.TextBuckets(width)
		}
	}

	col := report.NewCollector(opts.Keep())
	add := func(rows []sinks.MinuteRow) error { col.Add(rows); return nil }
	if strings.HasPrefix(*input, "kafka://") {
		ko, err := reportKafkaOptions(*input, *openTimeout, *tlsOn, *tlsCA, *tlsCert, *tlsKey, *tlsName, *saslMech, *saslUser, *saslPassFile)
		if err != nil {
			return err
		}
		st, err := report.ReadKafka(ctx, ko, add)
		if err != nil {
			return err
		}
		if st.BadRecords > 0 {
			fmt.Fprintf(s.err, "das report: warning: %d records of %s are not minute rows and were left out (first: %s)\n", st.BadRecords, ko.Topic, st.FirstBad)
		}
	} else {
		if _, err := report.ReadParquetDir(ctx, *input, opts.WantHour, add); err != nil {
			return err
		}
	}
	st := col.Stats()
	if st.Rows == 0 {
		return fmt.Errorf("%w: %s", report.ErrNoInput, *input)
	}
	if st.Kept == 0 {
		return report.EmptyError(opts, st)
	}
	rep, err := report.Build(col.Rows(), opts)
	if err != nil {
		return err
	}
	return writeReport(*output, s.out, func(w io.Writer) error {
		switch *format {
		case "json":
			return rep.WriteJSON(w)
		case "html":
			return rep.WriteHTML(w)
		}
		return rep.WriteText(w, report.TextOptions{Width: width})
	})
}

// terminalWidth is the width for text output to w: the terminal's, else
// $COLUMNS, else 120.
func terminalWidth(w io.Writer) int {
	if f, ok := w.(*os.File); ok {
		if n, ok := report.TerminalWidth(f); ok {
			return min(max(n, 40), 1000)
		}
	}
	if n, err := strconv.Atoi(os.Getenv("COLUMNS")); err == nil && n >= 40 && n <= 1000 {
		return n
	}
	return 120
}

func reportKafkaOptions(uri string, openTimeout time.Duration, tlsOn bool, ca, cert, key, name, mech, user, passFile string) (report.KafkaOptions, error) {
	u, err := kafka.ParseURI(uri)
	if err != nil {
		return report.KafkaOptions{}, fmt.Errorf("--input: %w", err)
	}
	if u.Group != "" || u.Assign != kafka.AssignDirect || u.Start != kafka.StartEarliest {
		return report.KafkaOptions{}, fmt.Errorf("--input %s: das report reads every partition from the start; group, assign and start do not apply", uri)
	}
	ko := report.KafkaOptions{Brokers: u.Brokers, Topic: u.Topic, OpenTimeout: openTimeout}
	if tlsOn || ca != "" || cert != "" || name != "" {
		if ko.TLS, err = kafka.TLSFiles(ca, cert, key, name); err != nil {
			return ko, err
		}
	}
	if mech != "" {
		if passFile == "" {
			return ko, errors.New("--kafka-sasl-mechanism needs --kafka-sasl-password-file")
		}
		pass, err := os.ReadFile(passFile)
		if err != nil {
			return ko, fmt.Errorf("--kafka-sasl-password-file: %w", err)
		}
		if ko.SASL, err = kafka.SASL(mech, user, strings.TrimRight(string(pass), "\r\n")); err != nil {
			return ko, err
		}
	}
	return ko, nil
}

// writeReport writes through fn to out, or to the file path when set: into
// a temporary file renamed over path once complete, so that a failed run
// never leaves half a report.
func writeReport(path string, out io.Writer, fn func(io.Writer) error) (err error) {
	if path == "" {
		return fn(out)
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	defer func() {
		if err != nil {
			os.Remove(f.Name())
		}
	}()
	if err := fn(f); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if err := os.Chmod(f.Name(), 0o644); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	if err := os.Rename(f.Name(), path); err != nil {
		return fmt.Errorf("--output: %w", err)
	}
	return nil
}
