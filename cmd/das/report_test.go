package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sinks"
	sinkkafka "github.com/das-project/das/sinks/kafka"
	"github.com/das-project/das/sinks/parquet"
)

// reportT0 is 2026-03-01T10:00:00Z.
const reportT0 = int64(1772359200000)

// reportRows: two templates over [t0−10m, t0+10m). "fast" runs 60 times a
// minute at 1 ms throughout; "slow" appears at t0 (new in the second half),
// 6 times a minute at 50 ms, with one error a minute. Version 1 of the
// fast template's first current minute is wrong (count 1) and version 2
// corrects it.
func reportRows() (v1, v2 []sinks.MinuteRow) {
	mk := func(id, tpl string, i int, count, avg int64) sinks.MinuteRow {
		return sinks.MinuteRow{
			Instance: "10.0.0.1:3306", DB: "shop", TemplateID: id, FingerprintVersion: 1,
			Template: tpl, SampleSQL: tpl, Minute: reportT0 + int64(i)*sinks.MinuteMs, Version: 1,
			Count: count, LatencySumUs: count * avg, LatencyMaxUs: 3 * avg,
			LatencyP50Us: avg, LatencyP95Us: 2 * avg, LatencyP99Us: 2 * avg, RowsExaminedSum: count,
		}
	}
	for i := -10; i < 10; i++ {
		v1 = append(v1, mk("1111111111111111", "SELECT * FROM fast WHERE id = ?", i, 60, 1000))
		if i >= 0 {
			r := mk("2222222222222222", "SELECT * FROM slow WHERE a LIKE ?", i, 6, 50_000)
			r.Errors = 1
			v1 = append(v1, r)
		}
	}
	fix := v1[20] // fast, minute 0
	fix.Version = 2
	v1[20].Count = 1
	return v1, []sinks.MinuteRow{fix}
}

func writeReportParquet(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	w, err := parquet.New(dir, parquet.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	if err := w.Recover(sinks.Pending{}); err != nil {
		t.Fatal(err)
	}
	v1, v2 := reportRows()
	for i, rows := range [][]sinks.MinuteRow{v1, v2} {
		if err := w.Write(rows); err != nil {
			t.Fatal(err)
		}
		p, err := w.Precommit(uint64(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := w.Commit(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	return dir
}

// fixedNow is t0 + 10m + 20s: "-10m" is 09:50:20 → the minute 09:50.
func fixedNow() time.Time { return time.UnixMilli(reportT0 + 10*sinks.MinuteMs + 20_000).UTC() }

func reportCmd(t *testing.T, args ...string) (string, string, error) {
	t.Helper()
	var out, errb bytes.Buffer
	err := runReport(context.Background(), args, stdio{out: &out, err: &errb}, fixedNow)
	return out.String(), errb.String(), err
}

type reportDoc struct {
	Overall struct {
		From, To   string
		Statements int64
		Errors     int64
	}
	Templates []struct {
		TemplateID string `json:"template_id"`
		Count      int64
		Sparkline  string
	}
	Compare *struct {
		New     int
		Changes []struct {
			TemplateID string `json:"template_id"`
			Status     string
		}
	}
}

func TestReportCommand(t *testing.T) {
	dir := writeReportParquet(t)

	// Text: the second half, relative to the injected clock; the
	// correction replaced version 1 (600 + 60 statements, not 541 + 60).
	out, _, err := reportCmd(t, "--input", dir, "--from", "-10m", "--to", "now", "--width", "120")
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		"# das report: 2026-03-01T10:00:00Z .. 2026-03-01T10:11:00Z (11 minutes)",
		"# Overall: 660 statements, 2 unique templates",
		"2222222222222222", "SELECT * FROM slow WHERE a LIKE ?",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("text output lacks %q:\n%s", want, out)
		}
	}
	for _, l := range strings.Split(out, "\n") {
		if width := len([]rune(l)); width > 120 {
			t.Errorf("line of %d columns: %q", width, l)
		}
	}

	// JSON with a shifted baseline, to a file.
	file := filepath.Join(t.TempDir(), "r.json")
	if _, _, err := reportCmd(t, "--input", dir, "--from", "2026-03-01T10:00:00Z", "--to", "2026-03-01T10:10:00Z",
		"--compare-shift", "10m", "--format", "json", "--output", file, "--order-by", "count"); err != nil {
		t.Fatal(err)
	}
	var doc reportDoc
	b, err := os.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(b, &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Overall.Statements != 660 || doc.Overall.Errors != 10 || len(doc.Templates) != 2 || doc.Templates[0].Count != 600 {
		t.Fatalf("json: %+v", doc)
	}
	if doc.Compare == nil || doc.Compare.New != 1 || doc.Compare.Changes[0].TemplateID != "2222222222222222" || doc.Compare.Changes[0].Status != "new" {
		t.Fatalf("json comparison: %+v", doc.Compare)
	}

	// HTML with an explicit baseline range.
	out, _, err = reportCmd(t, "--input", dir, "--from", "2026-03-01T10:00:00Z", "--compare", "-20m..-10m", "--format", "html", "--top", "1")
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(out, "<!DOCTYPE html>") || !strings.Contains(out, "<svg") || !strings.Contains(out, "Top 1 of 2") {
		t.Fatalf("html:\n%s", out)
	}

	// Filters that match nothing, and a range without rows, say so.
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--db", "other"}, "no minute rows in the range (data)..(data) (db other); the input's 31 rows cover 2026-03-01T09:50:00Z..2026-03-01T10:10:00Z"},
		{[]string{"--from", "2026-03-02"}, "no minute rows in the range 2026-03-02T00:00:00Z..(data); the input's 31 rows cover"},
		{[]string{"--from", "2026-03-01T10:00:00Z", "--compare", "2026-02-01..2026-02-02"}, "no minute rows in the baseline range 2026-02-01T00:00:00Z..2026-02-02T00:00:00Z"},
	} {
		if _, _, err := reportCmd(t, append([]string{"--input", dir}, tc.args...)...); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

func TestReportFlagErrors(t *testing.T) {
	dir := writeReportParquet(t)
	empty := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string // "" = errUsage
	}{
		{[]string{}, ""},
		{[]string{"--input", dir, "extra"}, ""},
		{[]string{"--bogus"}, ""},
		{[]string{"--input", dir, "--from", "yesterday"}, "--from: report: bad time: \"yesterday\": want RFC 3339"},
		{[]string{"--input", dir, "--to", "-1x"}, "--to:"},
		{[]string{"--input", dir, "--from", "now", "--to", "-1h"}, "is not after --from"},
		{[]string{"--input", dir, "--format", "xml"}, "--format \"xml\": want text, json or html"},
		{[]string{"--input", dir, "--order-by", "speed"}, "--order-by:"},
		{[]string{"--input", dir, "--group-by", "user"}, "--group-by:"},
		{[]string{"--input", dir, "--compare", "-1h"}, "--compare: report: bad time: \"-1h\": want FROM..TO"},
		{[]string{"--input", dir, "--compare", "-2h..-1h", "--compare-shift", "1d"}, "exclude each other"},
		{[]string{"--input", dir, "--compare-shift", "soon"}, "--compare-shift:"},
		{[]string{"--input", dir, "--top", "-1"}, "--top -1"},
		{[]string{"--input", empty}, "no committed minute files (*.parquet) in"},
		{[]string{"--input", filepath.Join(empty, "nope")}, "no such file or directory"},
		{[]string{"--input", "kafka://127.0.0.1:9092/t?group=g"}, "group, assign and start do not apply"},
		{[]string{"--input", "kafka://nohost/t"}, "not HOST:PORT"},
		{[]string{"--input", "kafka://127.0.0.1:9092/t", "--kafka-sasl-mechanism", "PLAIN"}, "needs --kafka-sasl-password-file"},
	} {
		_, _, err := reportCmd(t, tc.args...)
		switch {
		case tc.want == "":
			if !errors.Is(err, errUsage) {
				t.Errorf("%v: %v, want usage", tc.args, err)
			}
		case err == nil || !strings.Contains(err.Error(), tc.want):
			t.Errorf("%v: %v, want %q", tc.args, err, tc.want)
		}
	}
}

// TestReportKafka: das report reads the compacted das.sql-minute topic
// written by the Kafka sink, to its end offsets.
func TestReportKafka(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	s, err := sinkkafka.New(ctx, sinkkafka.Options{Brokers: c.Addrs(), Partitions: 2})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Recover(sinks.Pending{}); err != nil {
		t.Fatal(err)
	}
	v1, v2 := reportRows()
	for i, rows := range [][]sinks.MinuteRow{v1, v2} {
		if err := s.Write(rows); err != nil {
			t.Fatal(err)
		}
		if _, err := s.Precommit(uint64(i + 1)); err != nil {
			t.Fatal(err)
		}
	}
	out, _, err := reportCmd(t, "--input", c.URI(sinkkafka.DefaultTopic), "--from", "2026-03-01T10:00:00Z", "--format", "json")
	if err != nil {
		t.Fatal(err)
	}
	var doc reportDoc
	if err := json.Unmarshal([]byte(out), &doc); err != nil {
		t.Fatal(err)
	}
	if doc.Overall.Statements != 660 || doc.Overall.To != "2026-03-01T10:10:00Z" {
		t.Fatalf("kafka report: %+v", doc.Overall)
	}
	if _, _, err := reportCmd(t, "--input", c.URI("das.missing"), "--open-timeout", "2s"); err == nil || !strings.Contains(err.Error(), "das.missing does not exist") {
		t.Fatalf("missing topic: %v", err)
	}
}
