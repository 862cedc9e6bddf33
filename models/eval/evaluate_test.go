package eval

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestEvaluate(t *testing.T) {
	reg := testRegistry()
	opt := Options{
		Registry:     reg,
		Detectors:    []string{"z", "never", "always"},
		TuningSeeds:  []uint64{1},
		HeldOutSeeds: []uint64{2},
		Gen:          GenOptions{Scale: 0.1},
	}
	rep, err := Evaluate(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	if len(rep.Results) != 6 || len(rep.Splits) != 2 {
		t.Fatalf("%d results, %d splits", len(rep.Results), len(rep.Splits))
	}
	get := func(det string, sp Split) Result {
		for _, r := range rep.Results {
			if r.Detector == det && r.Split == sp {
				return r
			}
		}
		t.Fatalf("no result for %s %s", det, sp)
		return Result{}
	}
	for _, sp := range []Split{SplitTuning, SplitHeldOut} {
		never, always, z := get("never", sp), get("always", sp), get("z", sp)
		if never.Total.TP != 0 || never.Total.FP != 0 || never.Total.WindowScore() != 0 {
			t.Errorf("%s never: %+v", sp, never.Total)
		}
		if always.Total.TP != always.Total.Windows || always.Total.WindowScore() >= 0 || always.Total.MeanDelay() != 0 {
			t.Errorf("%s always: %+v score %v", sp, always.Total, always.Total.WindowScore())
		}
		// The robust z-score finds spikes and bursts and beats both.
		if r := z.ByKind[KindSpike].Recall(); r < 0.4 {
			t.Errorf("%s z: spike recall %v", sp, r)
		}
		if r := z.ByKind[KindCountBurst].Recall(); r < 0.6 {
			t.Errorf("%s z: burst recall %v", sp, r)
		}
		if z.Total.WindowScore() <= always.Total.WindowScore() || z.Total.F1() <= always.Total.F1() {
			t.Errorf("%s z: %v / %v", sp, z.Total.WindowScore(), z.Total.F1())
		}
		if z.Invalid != 0 || never.Invalid != 0 || always.Invalid != 0 {
			t.Errorf("%s: invalid results", sp)
		}
	}
	var md bytes.Buffer
	if err := rep.WriteMarkdown(&md); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"| z | tuning |", "| never | held-out |", "| always |", "level_shift", "count_burst"} {
		if !strings.Contains(md.String(), want) {
			t.Errorf("markdown lacks %q:\n%s", want, md.String())
		}
	}
	// The markdown is reproducible: a second run gives the same bytes.
	rep2, err := Evaluate(context.Background(), opt)
	if err != nil {
		t.Fatal(err)
	}
	var md2 bytes.Buffer
	rep2.WriteMarkdown(&md2)
	if md.String() != md2.String() {
		t.Fatal("two evaluations gave different tables")
	}
	var timing bytes.Buffer
	if err := rep.WriteTiming(&timing); err != nil || strings.Count(timing.String(), "\n") != 3 {
		t.Fatalf("timing %q, %v", timing.String(), err)
	}
}

func TestEvaluateErrors(t *testing.T) {
	ctx := context.Background()
	if _, err := Evaluate(ctx, Options{}); err == nil {
		t.Fatal("no registry accepted")
	}
	reg := testRegistry()
	opt := Options{Registry: reg, Detectors: []string{"broken"}, TuningSeeds: []uint64{1}, Gen: GenOptions{Scale: 0.05}}
	_, err := Evaluate(ctx, opt)
	if err == nil || !strings.Contains(err.Error(), "interval too short") || !strings.Contains(err.Error(), "fast_10s") {
		t.Fatalf("factory error: %v", err)
	}
	opt.Detectors = []string{"nope"}
	if _, err := Evaluate(ctx, opt); err == nil || !strings.Contains(err.Error(), "unknown detector") {
		t.Fatalf("unknown detector: %v", err)
	}
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	opt.Detectors = []string{"z"}
	if _, err := Evaluate(cctx, opt); !errors.Is(err, context.Canceled) {
		t.Fatalf("canceled: %v", err)
	}
}

// TestEvaluateInvalid: results that break the contract are reported.
func TestEvaluateInvalid(t *testing.T) {
	reg := testRegistry()
	series := Generate(1, GenOptions{Scale: 0.05})
	var slow []Series
	for _, s := range series {
		if s.Interval.Seconds() >= 60 {
			slow = append(slow, s)
		}
	}
	runs, err := RunAll(context.Background(), slow, func(s Series) (_ modelsDetector, err error) {
		return reg.New("broken", modelsConfig(s))
	}, 2)
	if err != nil {
		t.Fatal(err)
	}
	for i, r := range runs {
		if r.Invalid != len(slow[i].Points) {
			t.Fatalf("%s: %d invalid of %d", slow[i].Name, r.Invalid, len(slow[i].Points))
		}
	}
}

func TestWriteDataset(t *testing.T) {
	dir := t.TempDir()
	series := Generate(5, GenOptions{Scale: 0.05})
	if err := WriteDataset(dir, 5, series); err != nil {
		t.Fatal(err)
	}
	for _, s := range series {
		b, err := os.ReadFile(filepath.Join(dir, "seed-5", s.Name+".csv"))
		if err != nil {
			t.Fatal(err)
		}
		if n := strings.Count(string(b), "\n"); n != len(s.Points)+1 || !strings.HasPrefix(string(b), "timestamp,value\n") {
			t.Fatalf("%s: %d lines for %d points", s.Name, n, len(s.Points))
		}
	}
	b, err := os.ReadFile(filepath.Join(dir, "seed-5", "labels.csv"))
	if err != nil || !strings.Contains(string(b), "qps_1m-spike,spike,2024-") {
		t.Fatalf("labels: %v\n%s", err, b)
	}
	if err := WriteDataset(filepath.Join(dir, "seed-5", "labels.csv"), 5, series); err == nil {
		t.Fatal("writing under a file succeeded")
	}
}
