package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
)

func runGen(t *testing.T, args ...string) (stdout, stderr []byte, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	err = cmdGen(context.Background(), args, stdio{in: strings.NewReader(""), out: &out, err: &errb})
	return out.Bytes(), errb.Bytes(), err
}

func TestGenDeterministicJSONL(t *testing.T) {
	args := []string{"--events", "3000", "--seed", "4", "--late-fraction", "0.01", "--disorder", "1s", "--incident", "--bad-fraction", "0.01"}
	a, stderr, err := runGen(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	b, _, err := runGen(t, args...)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a, b) {
		t.Fatal("same flags, different bytes")
	}
	if n := bytes.Count(a, []byte("\n")); n != 3000 {
		t.Fatalf("%d lines, want 3000", n)
	}
	for _, want := range []string{"3000 records", "incident: 10.0.", "damaged records:"} {
		if !bytes.Contains(stderr, []byte(want)) {
			t.Fatalf("summary lacks %q:\n%s", want, stderr)
		}
	}
	c, _, err := runGen(t, append(args[:len(args):len(args)], "--seed", "5")...)
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Equal(a, c) {
		t.Fatal("different seeds, same bytes")
	}
}

func TestGenArrowFileAndSummary(t *testing.T) {
	dir := t.TempDir()
	out := filepath.Join(dir, "w.arrows")
	sumPath := filepath.Join(dir, "summary.json")
	stdout, _, err := runGen(t, "--events", "2500", "--format", "arrow", "--compression", "zstd", "--output", out,
		"--incident", "--summary", sumPath, "--quiet")
	if err != nil {
		t.Fatal(err)
	}
	if len(stdout) != 0 {
		t.Fatalf("%d bytes on stdout with --output", len(stdout))
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 2 {
		t.Fatalf("directory holds %v, want the output and the summary only", entries)
	}
	src, err := arrowipc.Open(out, arrowipc.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	rows := 0
	for {
		b, err := src.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		rows += len(b.Items) + len(b.Rejects)
	}
	if rows != 2500 {
		t.Fatalf("%d rows, want 2500", rows)
	}
	data, err := os.ReadFile(sumPath)
	if err != nil {
		t.Fatal(err)
	}
	var sum struct {
		Config struct {
			Events int64 `json:"events"`
		} `json:"config"`
		Summary struct {
			Events   int64 `json:"events"`
			Incident *struct {
				Instance string `json:"instance"`
			} `json:"incident"`
		} `json:"summary"`
	}
	if err := json.Unmarshal(data, &sum); err != nil {
		t.Fatal(err)
	}
	if sum.Config.Events != 2500 || sum.Summary.Events != 2500 || sum.Summary.Incident == nil || sum.Summary.Incident.Instance == "" {
		t.Fatalf("summary %s", data)
	}
}

func TestGenKeysAndFlags(t *testing.T) {
	out, stderr, err := runGen(t, "--events", "2000", "--keys", "1800")
	if err != nil {
		t.Fatal(err)
	}
	if bytes.Contains(stderr, []byte("at 200/s")) {
		t.Fatalf("--keys 1800 of 2000 events should change the rate: %s", stderr)
	}
	var d sources.Decoder
	var ev sources.Event
	line, _, _ := bytes.Cut(out, []byte("\n"))
	if err := d.Decode(line, &ev); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{
		{"--format", "csv"},
		{"--events", "0"},
		{"--rate", "-1"},
		{"--compression", "zstd"},
		{"--start", "yesterday"},
	} {
		if _, _, err := runGen(t, args...); err == nil {
			t.Errorf("das gen %v succeeded", args)
		}
	}
	if _, _, err := runGen(t, "--no-such-flag"); err != errUsage {
		t.Errorf("unknown flag: %v, want errUsage", err)
	}
	if _, _, err := runGen(t, "extra"); err != errUsage {
		t.Errorf("positional argument: %v, want errUsage", err)
	}
}

func TestGenOutputDevNull(t *testing.T) {
	if _, _, err := runGen(t, "--events", "100", "--output", os.DevNull, "--quiet"); err != nil {
		t.Fatalf("--output %s: %v", os.DevNull, err)
	}
}
