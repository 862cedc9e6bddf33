package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"time"

	"github.com/das-project/das/sources/arrowipc"
	"github.com/das-project/das/sources/gen"
)

// cmdGen writes a deterministic SQL event workload (package sources/gen) as
// JSON lines or Arrow IPC, to stdout or a file, and prints a summary of what
// it wrote (counts, the injected incident) to stderr.
func cmdGen(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("gen", flag.ContinueOnError)
	fs.SetOutput(s.err)
	fs.Usage = func() {
		fmt.Fprintln(s.err, "usage: das gen [flags]\n\nWrites a deterministic SQL event workload (docs/events.md). Same flags, same bytes.\n\nflags:")
		fs.PrintDefaults()
	}
	var (
		cfg         gen.Config
		start       string
		format      = fs.String("format", "jsonl", "output format: jsonl or arrow (Arrow IPC stream)")
		output      = fs.String("output", "", "output file (default stdout); written to a temporary file and renamed when complete")
		compression = fs.String("compression", "", "arrow only: compress record batches with zstd or lz4")
		keys        = fs.Int64("keys", 0, "choose --rate so that the events hold about this many distinct (instance, db, template, minute) keys")
		summaryPath = fs.String("summary", "", "also write the summary (incident included) as JSON to this file")
		quiet       = fs.Bool("quiet", false, "do not print the summary to stderr")
	)
	fs.Int64Var(&cfg.Events, "events", 100000, "number of records to write")
	fs.Int64Var(&cfg.Seed, "seed", 1, "workload seed")
	fs.Float64Var(&cfg.LateFraction, "late-fraction", 0, "fraction of events delivered late (within the allowed lateness: corrections; beyond: dead letter)")
	fs.DurationVar(&cfg.Disorder, "disorder", 0, "bounded out-of-orderness: events are delivered up to this long after their event time")
	fs.DurationVar(&cfg.AllowedLateness, "allowed-lateness", gen.DefaultAllowedLateness, "allowed lateness that splits late events into corrections and dead letters")
	fs.Float64Var(&cfg.LateBeyondShare, "late-beyond-share", gen.DefaultLateBeyondShare, "share of late events beyond the allowed lateness (negative: none)")
	fs.IntVar(&cfg.Templates, "templates", gen.DefaultTemplates, "number of statement templates")
	fs.IntVar(&cfg.Instances, "instances", gen.DefaultInstances, "number of MySQL instances")
	fs.IntVar(&cfg.DBsPerInstance, "dbs", gen.DefaultDBsPerInstance, "databases per instance")
	fs.Float64Var(&cfg.Rate, "rate", gen.DefaultRate, "events per second of event time")
	fs.Float64Var(&cfg.Skew, "skew", gen.DefaultSkew, "Zipf exponent of template popularity")
	fs.IntVar(&cfg.MeanSQLBytes, "mean-sql", gen.DefaultMeanSQLBytes, "mean statement length in bytes")
	fs.StringVar(&start, "start", gen.DefaultStart.Format(time.RFC3339), "event time of the first event (RFC 3339)")
	fs.BoolVar(&cfg.Incident, "incident", false, "inject a slow-query storm: one template on one instance 50x slower and 10x more frequent")
	fs.DurationVar(&cfg.IncidentStart, "incident-start", 0, "storm start after --start (default: the middle of the run)")
	fs.DurationVar(&cfg.IncidentDuration, "incident-duration", 0, "storm length (default 3m, or a fifth of the run if shorter)")
	fs.Float64Var(&cfg.BadFraction, "bad-fraction", 0, "fraction of records written damaged (malformed, missing fields, negative latency)")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return errUsage
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(s.err, "das gen: unexpected argument %q\n", fs.Arg(0))
		fs.Usage()
		return errUsage
	}
	t, err := time.Parse(time.RFC3339, start)
	if err != nil {
		return fmt.Errorf("--start: %w", err)
	}
	cfg.Start = t
	if cfg.Events <= 0 {
		return fmt.Errorf("--events is %d, want > 0", cfg.Events)
	}
	if *format != "jsonl" && *format != "arrow" {
		return fmt.Errorf("--format is %q, want jsonl or arrow", *format)
	}
	if *compression != "" && *format != "arrow" {
		return fmt.Errorf("--compression applies to --format arrow only")
	}
	if *keys > 0 {
		rate, err := gen.RateForKeys(cfg, *keys)
		if err != nil {
			return err
		}
		cfg.Rate = rate
	}
	g, err := gen.New(cfg)
	if err != nil {
		return err
	}

	began := time.Now()
	n, err := genWriteOutput(*output, s.out, func(w io.Writer) (int64, error) {
		if *format == "arrow" {
			return gen.WriteArrow(ctx, w, g, arrowipc.WriterOptions{Compression: *compression})
		}
		return gen.WriteJSONL(ctx, w, g)
	})
	if err != nil {
		return err
	}
	elapsed := time.Since(began)

	sum := g.Summary()
	if *summaryPath != "" {
		data, err := json.MarshalIndent(struct {
			Config  genSummaryConfig `json:"config"`
			Summary gen.Summary      `json:"summary"`
		}{newGenSummaryConfig(g.Config()), sum}, "", "  ")
		if err != nil {
			return err
		}
		if err := os.WriteFile(*summaryPath, append(data, '\n'), 0o644); err != nil {
			return err
		}
	}
	if !*quiet {
		printGenSummary(s.err, g.Config(), sum, n, elapsed)
	}
	return nil
}

// genWriteOutput runs write against stdout, or against a temporary file next
// to path that is renamed to path once write and Close have succeeded. A
// path that exists and is not a regular file (/dev/null, a named pipe) is
// written directly.
func genWriteOutput(path string, stdout io.Writer, write func(io.Writer) (int64, error)) (n int64, err error) {
	if path == "" || path == "-" {
		return write(stdout)
	}
	if fi, err := os.Stat(path); err == nil && !fi.Mode().IsRegular() {
		f, err := os.OpenFile(path, os.O_WRONLY, 0)
		if err != nil {
			return 0, err
		}
		n, err := write(f)
		if cerr := f.Close(); cerr != nil && err == nil {
			err = cerr
		}
		return n, err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".tmp-*")
	if err != nil {
		return 0, err
	}
	defer func() {
		if err != nil {
			f.Close()
			os.Remove(f.Name())
		}
	}()
	if n, err = write(f); err != nil {
		return n, err
	}
	if err = f.Close(); err != nil {
		return n, err
	}
	if err = os.Chmod(f.Name(), 0o644); err != nil {
		return n, err
	}
	return n, os.Rename(f.Name(), path)
}

// genSummaryConfig is the part of the config a reader of the summary needs to
// interpret it.
type genSummaryConfig struct {
	Seed            int64   `json:"seed"`
	Events          int64   `json:"events"`
	Start           string  `json:"start"`
	Rate            float64 `json:"rate"`
	Templates       int     `json:"templates"`
	Instances       int     `json:"instances"`
	DBsPerInstance  int     `json:"dbs_per_instance"`
	DisorderMs      int64   `json:"disorder_ms"`
	LateFraction    float64 `json:"late_fraction"`
	AllowedLateMs   int64   `json:"allowed_lateness_ms"`
	LateBeyondShare float64 `json:"late_beyond_share"`
	BadFraction     float64 `json:"bad_fraction"`
}

func newGenSummaryConfig(c gen.Config) genSummaryConfig {
	return genSummaryConfig{
		Seed: c.Seed, Events: c.Events, Start: c.Start.Format(time.RFC3339), Rate: c.Rate,
		Templates: c.Templates, Instances: c.Instances, DBsPerInstance: c.DBsPerInstance,
		DisorderMs: c.Disorder.Milliseconds(), LateFraction: c.LateFraction,
		AllowedLateMs: c.AllowedLateness.Milliseconds(), LateBeyondShare: c.LateBeyondShare,
		BadFraction: c.BadFraction,
	}
}

func printGenSummary(w io.Writer, c gen.Config, s gen.Summary, n int64, elapsed time.Duration) {
	ts := func(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }
	fmt.Fprintf(w, "das gen: %d records in %s (%.0f/s); event time %s .. %s at %.4g/s\n",
		n, elapsed.Round(time.Millisecond), float64(n)/elapsed.Seconds(), ts(s.FirstTsMs), ts(s.LastTsMs), c.Rate)
	fmt.Fprintf(w, "  %d instances x %d dbs, %d of %d templates seen, mean sql %.0f bytes, %d errors\n",
		c.Instances, c.DBsPerInstance, s.TemplatesSeen, c.Templates, s.MeanSQLBytes, s.Errors)
	if c.Disorder > 0 || c.LateFraction > 0 {
		fmt.Fprintf(w, "  disorder %s; late: %d within allowed lateness %s (corrections), %d beyond (dead letter)\n",
			c.Disorder, s.Late, c.AllowedLateness, s.LateBeyond)
	}
	if len(s.Bad) > 0 {
		fmt.Fprintf(w, "  damaged records:")
		for _, d := range []gen.Damage{gen.DamageMalformed, gen.DamageMissingTs, gen.DamageMissingInstance, gen.DamageMissingSQL, gen.DamageNegativeLatency} {
			fmt.Fprintf(w, " %s=%d", d.Reason(), s.Bad[d.Reason()])
		}
		fmt.Fprintln(w)
	}
	if inc := s.Incident; inc != nil {
		fmt.Fprintf(w, "  incident: %s template #%d (%s) latency x%g, rate x%g from %s to %s\n    sample: %.200s\n",
			inc.Instance, inc.Template, inc.Kind, inc.LatencyFactor, inc.RateFactor,
			inc.Start.Format(time.RFC3339), inc.End.Format(time.RFC3339), inc.SampleSQL)
	}
}
