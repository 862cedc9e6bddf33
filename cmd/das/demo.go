package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	gen "github.com/das-project/das/internal/workload"
	"github.com/das-project/das/jobs/sqlagg"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
)

// cmdDemo runs the sqlagg job end to end on embedded defaults: an
// in-process Kafka cluster (kfake), a generated workload with disorder,
// late events, bad records and a slow-query storm, Parquet out.
func cmdDemo(ctx context.Context, args []string, s stdio) error {
	fs := flag.NewFlagSet("das demo", flag.ContinueOnError)
	fs.SetOutput(s.err)
	out := fs.String("out", "out/demo", "output directory (state, Parquet, dead letter); emptied first")
	events := fs.Int("events", 500_000, "events to generate")
	seed := fs.Uint64("seed", 1, "workload seed")
	if err := fs.Parse(args); err != nil {
		return errUsage
	}
	if err := os.RemoveAll(*out); err != nil {
		return err
	}
	const topic = "das.sql-events"
	cluster, err := kfake.NewCluster(kfake.NumBrokers(1), kfake.SeedTopics(4, topic))
	if err != nil {
		return fmt.Errorf("start in-process Kafka: %w", err)
	}
	defer cluster.Close()
	addrs := cluster.ListenAddrs()
	fmt.Fprintf(s.out, "1. in-process Kafka (kfake) at %s, topic %s with 4 partitions\n", addrs[0], topic)

	cfg := gen.Config{Seed: *seed, Events: *events, LateFraction: 0.005, BadFraction: 0.0005, Incident: true, Rate: 250}
	start := time.Now()
	n, g, err := produce(ctx, addrs, topic, cfg)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "2. produced %d generated SQL events keyed by instance in %s\n", n, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(s.out, "   (6 instances × 3 databases, 500 templates, 2s disorder, 0.5%% late by 1–20 min, 0.05%% bad records)\n")
	fmt.Fprintf(s.out, "   incident: %s\n", g.IncidentSummary())

	jc := sqlagg.Config{
		Input:              fmt.Sprintf("kafka://%s/%s?group=das-demo", addrs[0], topic),
		StateDir:           filepath.Join(*out, "state"),
		ParquetDir:         filepath.Join(*out, "parquet"),
		KafkaStopAtEnd:     true,
		CheckpointInterval: 200 * time.Millisecond,
	}
	start = time.Now()
	sum, err := sqlagg.Run(ctx, jc)
	took := time.Since(start)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "3. ran sqlagg over the topic in %s (%.0f events/s on this machine)\n\n", took.Round(time.Millisecond), float64(sum.Records)/took.Seconds())
	printSummary(s, sum, took)
	return incidentReport(s, jc.ParquetDir, cfg)
}

func produce(ctx context.Context, addrs []string, topic string, cfg gen.Config) (int, *gen.Generator, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return 0, nil, err
	}
	defer cl.Close()
	g := gen.New(cfg)
	var ev sources.Event
	n := 0
	var firstErr error
	for g.Next(&ev) {
		rec := &kgo.Record{Topic: topic, Key: []byte(ev.Instance), Value: sources.AppendJSON(nil, &ev)}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil && firstErr == nil {
				firstErr = err
			}
		})
		n++
		if n%2000 == 0 { // a few bad records, as a real fleet sends
			cl.Produce(ctx, &kgo.Record{Topic: topic, Key: []byte(ev.Instance), Value: []byte(`{"ts_ms": "yesterday", "sql": 42}`)}, nil)
			n++
		}
	}
	if err := cl.Flush(ctx); err != nil {
		return n, g, err
	}
	return n, g, firstErr
}

// incidentReport reads the committed Parquet back (highest version per key)
// and shows the templates that dominate total latency in the incident
// minutes against the minutes before.
func incidentReport(s stdio, dir string, cfg gen.Config) error {
	rows, err := parquet.ReadLatest(dir)
	if err != nil {
		return err
	}
	start := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixMilli()
	type agg struct {
		before, during int64
		tmpl, inst     string
	}
	by := map[string]*agg{}
	for _, r := range rows {
		m := (r.Minute - start) / 60000
		a := by[r.Instance+" "+r.TemplateID]
		if a == nil {
			a = &agg{tmpl: r.Template, inst: r.Instance}
			by[r.Instance+" "+r.TemplateID] = a
		}
		switch {
		case m >= 5 && m < 10:
			a.before += r.LatencySumUs
		case m >= 10 && m < 15:
			a.during += r.LatencySumUs
		}
	}
	list := make([]*agg, 0, len(by))
	for _, a := range by {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].during-list[i].before > list[j].during-list[j].before })
	fmt.Fprintf(s.out, "\nminute rows read back: %d (highest version per key)\n", len(rows))
	fmt.Fprintln(s.out, "templates whose total latency grew most, minutes 10–15 vs 5–10 (the injected storm should lead):")
	for i := 0; i < 3 && i < len(list); i++ {
		a := list[i]
		t := a.tmpl
		if len(t) > 70 {
			t = t[:70] + "…"
		}
		fmt.Fprintf(s.out, "  %-15s %8.1fs → %8.1fs  %s\n", a.inst, float64(a.before)/1e6, float64(a.during)/1e6, t)
	}
	fmt.Fprintf(s.out, "\nopen the output with DuckDB:\n  SELECT * FROM read_parquet('%s/*.parquet') QUALIFY row_number() OVER (PARTITION BY instance, db, template_id, minute ORDER BY version DESC) = 1;\n", dir)
	return nil
}
