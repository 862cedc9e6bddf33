package baseline

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sources/gen"
)

const lines = `{"ts_ms":60000,"instance":"10.0.0.1:3306","db":"app","sql":"SELECT * FROM t WHERE id = 1","latency_us":10,"lock_us":1,"rows_sent":1,"rows_examined":2,"rows_affected":0,"err_code":0}
{"ts_ms":61000,"instance":"10.0.0.1:3306","db":"app","sql":"select * from t where id = 2","latency_us":30,"lock_us":1,"rows_sent":1,"rows_examined":2,"rows_affected":0,"err_code":1062}
{"ts_ms":62000,"instance":"10.0.0.1:3306","db":"app","sql":"UPDATE t SET a = 3 WHERE id = 4","latency_us":5,"rows_affected":1}
{"ts_ms":121000,"instance":"10.0.0.1:3306","db":"app","sql":"SELECT * FROM t WHERE id = 9","latency_us":7}
{"ts_ms":62000,"instance":"10.0.0.2:3306","db":"app","sql":"SELECT * FROM t WHERE id = 1","latency_us":1}
{"ts_ms":62000,"instance":"10.0.0.2:3306","db":"app"}
{"instance":"10.0.0.2:3306","sql":"SELECT 1"}
{"ts_ms":62000,"instance":"","sql":"SELECT 1"}
not json

{"ts_ms":63000,"instance":"10.0.0.2:3306","db":"app","sql":"SELECT * FROM t WHERE id = 5","latency_us":2}`

func TestRun(t *testing.T) {
	tests := []struct {
		mode     Mode
		keys     int
		firstKey Agg // aggregate of the first two lines' key
	}{
		{ModeDecode, 0, Agg{}},
		// (10.0.0.1, app, minute 1), (10.0.0.1, app, minute 2), (10.0.0.2, app, minute 1)
		{ModeMap, 3, Agg{Count: 3, LatencySum: 45, LatencyMax: 30, LockSum: 2, RowsSent: 2, RowsExamined: 4, RowsAffected: 1, Errors: 1}},
		// the SELECT and the UPDATE split minute 1 of 10.0.0.1
		{ModeDigest, 4, Agg{Count: 2, LatencySum: 40, LatencyMax: 30, LockSum: 2, RowsSent: 2, RowsExamined: 4, Errors: 1}},
	}
	for _, tt := range tests {
		t.Run(tt.mode.String(), func(t *testing.T) {
			res, err := Run(context.Background(), strings.NewReader(lines), tt.mode)
			if err != nil {
				t.Fatal(err)
			}
			if res.Events != 6 || res.Rejected != 4 {
				t.Fatalf("events %d rejected %d, want 6 and 4", res.Events, res.Rejected)
			}
			if len(res.Keys) != tt.keys {
				t.Fatalf("%d keys, want %d: %v", len(res.Keys), tt.keys, res.Keys)
			}
			if tt.mode == ModeDecode {
				if res.Keys != nil {
					t.Fatal("decode mode built a map")
				}
				return
			}
			var got *Agg
			for k, a := range res.Keys {
				if k.Instance == "10.0.0.1:3306" && k.Minute == 60000 && a.LatencyMax == 30 {
					got = &a
				}
				if (tt.mode == ModeDigest) == (k.Template == [32]byte{}) {
					t.Errorf("key %+v: template presence wrong for mode %v", k, tt.mode)
				}
			}
			if got == nil || *got != tt.firstKey {
				t.Fatalf("first key aggregate %+v, want %+v", got, tt.firstKey)
			}
		})
	}
}

// TestRunGenerated checks the loop against the generator's own count of
// templates: every generated template has one digest, so the digest loop
// sees as many templates as the workload has.
func TestRunGenerated(t *testing.T) {
	var buf bytes.Buffer
	g, err := gen.New(gen.Config{Seed: 7, Events: 20_000, Templates: 50})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := gen.WriteJSONL(context.Background(), &buf, g); err != nil {
		t.Fatal(err)
	}
	res, err := Run(context.Background(), bytes.NewReader(buf.Bytes()), ModeDigest)
	if err != nil {
		t.Fatal(err)
	}
	if res.Events != 20_000 || res.Rejected != 0 {
		t.Fatalf("events %d rejected %d", res.Events, res.Rejected)
	}
	templates := map[[32]byte]bool{}
	var total int64
	for k, a := range res.Keys {
		templates[k.Template] = true
		total += a.Count
	}
	if total != 20_000 {
		t.Fatalf("counts sum to %d", total)
	}
	if len(templates) != 50 {
		t.Fatalf("%d templates, want 50", len(templates))
	}
}

func TestLongLine(t *testing.T) {
	sql := strings.Repeat("x", 3<<20) // longer than the reader's buffer
	in := `{"ts_ms":1,"instance":"i","sql":"SELECT '` + sql + `'"}` + "\n"
	res, err := Run(context.Background(), strings.NewReader(in), ModeDigest)
	if err != nil || res.Events != 1 {
		t.Fatalf("events %d, err %v", res.Events, err)
	}
	huge := `{"sql":"` + strings.Repeat("x", MaxLine+1) + `"}`
	if _, err := Run(context.Background(), strings.NewReader(huge), ModeDecode); !errors.Is(err, ErrLineTooLong) {
		t.Fatalf("err %v, want ErrLineTooLong", err)
	}
}

func TestCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Run(ctx, strings.NewReader(lines), ModeDecode); !errors.Is(err, context.Canceled) {
		t.Fatalf("err %v, want context.Canceled", err)
	}
}

func TestParseMode(t *testing.T) {
	for _, m := range []Mode{ModeDecode, ModeMap, ModeDigest} {
		got, err := ParseMode(m.String())
		if err != nil || got != m {
			t.Fatalf("ParseMode(%q) = %v, %v", m.String(), got, err)
		}
	}
	if _, err := ParseMode("fast"); err == nil {
		t.Fatal("ParseMode accepted an unknown mode")
	}
}

// BenchmarkRun runs each mode over a generated workload held in memory.
// The figures docs/performance.md quotes come from scripts/bench.sh, which
// runs the same loop as a process over the benchmark file.
func BenchmarkRun(b *testing.B) {
	var buf bytes.Buffer
	g, err := gen.New(gen.Config{Seed: 1, Events: 100_000, MeanSQLBytes: 241})
	if err != nil {
		b.Fatal(err)
	}
	if _, err := gen.WriteJSONL(context.Background(), &buf, g); err != nil {
		b.Fatal(err)
	}
	for _, m := range []Mode{ModeDecode, ModeMap, ModeDigest} {
		b.Run(m.String(), func(b *testing.B) {
			b.SetBytes(int64(buf.Len()))
			start := time.Now()
			for b.Loop() {
				if _, err := Run(context.Background(), bytes.NewReader(buf.Bytes()), m); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.N)*100_000/time.Since(start).Seconds(), "events/s")
		})
	}
}
