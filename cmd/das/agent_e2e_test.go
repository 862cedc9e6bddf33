package main

import (
	"bytes"
	"context"
	"fmt"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sinks/parquet"
)

// TestAgentToJob: a workload shipped by das agent to Kafka — statement by
// statement as JSON, or as edge partial aggregates in Arrow — and
// aggregated by das run gives the same minute rows (counts, sums, maxima,
// quantiles, templates) as das run over the file itself.
func TestAgentToJob(t *testing.T) {
	dir := t.TempDir()
	events := filepath.Join(dir, "events.jsonl")
	quiet := stdio{out: &bytes.Buffer{}, err: &bytes.Buffer{}}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	if err := cmdGen(ctx, []string{"--events", "6000", "--instances", "2", "--quiet", "--output", events}, quiet); err != nil {
		t.Fatal(err)
	}
	run := func(name, input string) map[string]string {
		t.Helper()
		var errb bytes.Buffer
		if err := cmdRun(ctx, []string{"sqlagg", "--input", input, "--state", filepath.Join(dir, name, "state"),
			"--parquet", filepath.Join(dir, name, "pq"), "--kafka-stop-at-end", "--checkpoint-interval", "200ms"},
			stdio{out: &bytes.Buffer{}, err: &errb}); err != nil {
			t.Fatalf("%s: %v\n%s", name, err, errb.String())
		}
		rows, err := parquet.ReadLatest(filepath.Join(dir, name, "pq"))
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, r := range rows {
			out[fmt.Sprintf("%s|%s|%s|%d", r.Instance, r.DB, r.TemplateID, r.Minute)] = fmt.Sprintf(
				"%s n=%d sum=%d max=%d p50=%d p95=%d p99=%d lock=%d sent=%d exam=%d aff=%d err=%d",
				r.Template, r.Count, r.LatencySumUs, r.LatencyMaxUs, r.LatencyP50Us, r.LatencyP95Us, r.LatencyP99Us,
				r.LockSumUs, r.RowsSentSum, r.RowsExaminedSum, r.RowsAffectedSum, r.Errors)
		}
		return out
	}
	want := run("direct", events)
	if len(want) < 100 {
		t.Fatalf("only %d rows from the file", len(want))
	}

	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	for _, mode := range []struct {
		name string
		args []string
	}{
		{"json-statements", []string{"--format", "json"}},
		{"arrow-edge", []string{"--format", "arrow", "--edge-aggregate"}},
	} {
		t.Run(mode.name, func(t *testing.T) {
			topic := "das.sql-events." + mode.name
			c.CreateTopic(topic, 2, nil)
			var errb bytes.Buffer
			args := append([]string{"--input", "file:" + events, "--brokers", strings.Join(c.Addrs(), ","), "--topic", topic,
				"--state", filepath.Join(dir, mode.name, "agent"), "--flush-interval", "100ms", "--host", "db1"}, mode.args...)
			if err := cmdAgent(ctx, args, stdio{out: &bytes.Buffer{}, err: &errb}); err != nil {
				t.Fatalf("agent: %v\n%s", err, errb.String())
			}
			got := run(mode.name, "kafka://"+c.Addrs()[0]+"/"+topic)
			for k, w := range want {
				if g, ok := got[k]; !ok || g != w {
					t.Errorf("%s:\n got %q\nwant %q", k, g, w)
				}
			}
			if len(got) != len(want) {
				t.Errorf("%d rows via the agent, %d from the file", len(got), len(want))
			}
		})
	}
}
