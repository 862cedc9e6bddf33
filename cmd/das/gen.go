package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"time"

	gen "github.com/das-project/das/internal/workload"
)

// cmdGen writes a deterministic workload: das gen --events N --seed S.
func cmdGen(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das gen", flag.ContinueOnError)
	fs.SetOutput(s.err)
	var cfg gen.Config
	fs.IntVar(&cfg.Events, "events", 100_000, "number of records")
	seed := fs.Uint64("seed", 1, "random seed: the same seed and flags give the same bytes")
	fs.Float64Var(&cfg.LateFraction, "late-fraction", 0, "fraction of events delivered 1–20 minutes late")
	fs.DurationVar(&cfg.Disorder, "disorder", 2*time.Second, "bounded out-of-orderness of event time")
	fs.IntVar(&cfg.Templates, "templates", 500, "distinct statement templates")
	fs.IntVar(&cfg.Instances, "instances", 6, "MySQL instances")
	fs.IntVar(&cfg.DBs, "dbs", 3, "databases per instance")
	fs.Float64Var(&cfg.Rate, "rate", 2000, "events per second of event time")
	fs.BoolVar(&cfg.Incident, "incident", false, "inject a slow-query storm (minutes 10–15)")
	fs.Float64Var(&cfg.BadFraction, "bad-fraction", 0, "fraction of malformed or invalid records")
	format := fs.String("format", "jsonl", "jsonl (arrow: see docs/events.md)")
	out := fs.String("output", "", "write to this file instead of stdout")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	cfg.Seed = *seed
	if cfg.Disorder == 0 {
		cfg.Disorder = -1
	}
	var w io.Writer = s.out
	if *out != "" {
		f, err := os.Create(*out)
		if err != nil {
			return err
		}
		defer f.Close()
		w = f
	}
	switch *format {
	case "jsonl":
		g, err := gen.WriteJSONL(w, cfg)
		if err != nil {
			return err
		}
		if inc := g.IncidentSummary(); inc != "" {
			fmt.Fprintln(s.err, "incident:", inc)
		}
	default:
		return fmt.Errorf("unknown --format %q", *format)
	}
	if f, ok := w.(*os.File); ok && *out != "" {
		return f.Sync()
	}
	return nil
}
