package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"time"

	"github.com/das-project/das/jobs/sqlagg"
	"github.com/das-project/das/sinks/parquet"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/gen"
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

	cfg := gen.Config{Seed: int64(*seed), Events: int64(*events), Instances: 6, DBsPerInstance: 3, Rate: 250,
		Disorder: 2 * time.Second, LateFraction: 0.005, BadFraction: 0.0005, Incident: true}
	g, err := gen.New(cfg)
	if err != nil {
		return err
	}
	start := time.Now()
	n, err := produce(ctx, addrs, topic, g)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "2. produced %d generated SQL records keyed by instance in %s\n", n, time.Since(start).Round(time.Millisecond))
	fmt.Fprintf(s.out, "   (6 instances × 3 databases, 500 templates, 2s disorder, 0.5%% late, 0.05%% bad records)\n")
	if inc := g.Incident(); inc != nil {
		fmt.Fprintf(s.out, "   incident: %s on %s, template rank %d, ×%.0f latency ×%.0f rate, %s – %s\n", inc.Kind, inc.Instance,
			inc.Template, inc.LatencyFactor, inc.RateFactor, inc.Start.Format(time.RFC3339), inc.End.Format(time.RFC3339))
	}

	jc := sqlagg.Config{
		Input:          fmt.Sprintf("kafka://%s/%s?group=das-demo", addrs[0], topic),
		StateDir:       filepath.Join(*out, "state"),
		ParquetDir:     filepath.Join(*out, "parquet"),
		KafkaStopAtEnd: true,
		// Six instances keyed onto four partitions may leave a partition
		// empty; it must not hold the watermark back for the whole demo.
		IdleTimeout:        500 * time.Millisecond,
		CheckpointInterval: 200 * time.Millisecond,
	}
	start = time.Now()
	res, err := sqlagg.Run(ctx, jc)
	took := time.Since(start)
	if err != nil {
		return err
	}
	fmt.Fprintf(s.out, "3. ran sqlagg over the topic in %s (%.0f events/s on this machine)\n\n", took.Round(time.Millisecond), float64(res.Records)/took.Seconds())
	printSummary(s, res, took)
	return incidentReport(s, jc.ParquetDir, g.Incident())
}

// produce writes the generator's records (bad ones included, as a real
// fleet sends them) into topic, keyed by instance.
func produce(ctx context.Context, addrs []string, topic string, g *gen.Generator) (int, error) {
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.ProducerLinger(5*time.Millisecond), kgo.MaxBufferedRecords(100_000))
	if err != nil {
		return 0, err
	}
	defer cl.Close()
	var ev sources.Event
	n := 0
	errs := make(chan error, 1)
	for g.Next(&ev) {
		rec := &kgo.Record{Topic: topic, Key: []byte(ev.Instance), Value: gen.AppendRecord(nil, &ev, g.Damage())}
		cl.Produce(ctx, rec, func(_ *kgo.Record, err error) {
			if err != nil {
				select {
				case errs <- err:
				default:
				}
			}
		})
		n++
	}
	if err := cl.Flush(ctx); err != nil {
		return n, err
	}
	select {
	case err := <-errs:
		return n, err
	default:
		return n, nil
	}
}

// incidentReport reads the committed Parquet back (highest version per key)
// and shows the templates that dominate total latency in the incident
// minutes against the minutes before.
func incidentReport(s stdio, dir string, inc *gen.Incident) error {
	rows, err := parquet.ReadLatest(dir)
	if err != nil {
		return err
	}
	if inc == nil {
		return nil
	}
	dur := inc.End.Sub(inc.Start).Milliseconds()
	start := inc.Start.UnixMilli()
	type agg struct {
		before, during int64
		tmpl, inst     string
	}
	by := map[string]*agg{}
	for _, r := range rows {
		m := r.Minute - start
		a := by[r.Instance+" "+r.TemplateID]
		if a == nil {
			a = &agg{tmpl: r.Template, inst: r.Instance}
			by[r.Instance+" "+r.TemplateID] = a
		}
		switch {
		case m >= -dur && m < 0:
			a.before += r.LatencySumUs
		case m >= 0 && m < dur:
			a.during += r.LatencySumUs
		}
	}
	list := make([]*agg, 0, len(by))
	for _, a := range by {
		list = append(list, a)
	}
	sort.Slice(list, func(i, j int) bool { return list[i].during-list[i].before > list[j].during-list[j].before })
	fmt.Fprintf(s.out, "\nminute rows read back: %d (highest version per key)\n", len(rows))
	fmt.Fprintf(s.out, "templates whose total latency grew most during the incident vs the %s before it (the injected storm should lead):\n", inc.End.Sub(inc.Start))
	for i := 0; i < 3 && i < len(list); i++ {
		a := list[i]
		t := a.tmpl
		if len(t) > 70 {
			t = t[:70] + "…"
		}
		fmt.Fprintf(s.out, "  %-15s %8.1fs → %8.1fs  %s\n", a.inst, float64(a.before)/1e6, float64(a.during)/1e6, t)
	}
	fmt.Fprintf(s.out, "\nopen the output with DuckDB:\n  SELECT * FROM read_parquet('%s/*.parquet') QUALIFY row_number() OVER (PARTITION BY instance, db, template_id, minute ORDER BY version DESC) = 1;\n", dir)
	fmt.Fprintf(s.out, "or rank the templates, pt-query-digest style (docs/report.md):\n  das report --input %s --from 2024-01-01T00:00:00Z --to 2024-01-01T01:00:00Z\n", dir)
	return nil
}
