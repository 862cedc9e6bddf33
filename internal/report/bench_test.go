package report

import (
	"context"
	"fmt"
	"io"
	"math/rand/v2"
	"testing"
	"time"

	"github.com/das-project/das/sinks"
)

// benchRows returns a day of minute rows of a small fleet: instances ×
// templates series, each present in about half the minutes.
func benchRows(instances, templates, minutes int) []sinks.MinuteRow {
	rng := rand.New(rand.NewPCG(7, 11))
	var rows []sinks.MinuteRow
	for m := range minutes {
		for i := range instances {
			for tp := range templates {
				if rng.IntN(2) == 0 {
					continue
				}
				n := 1 + rng.Int64N(500)
				p50 := 100 + rng.Int64N(5000)
				tpl := fmt.Sprintf("SELECT a, b, c FROM t%d WHERE id = ? AND status IN (...)", tp)
				rows = append(rows, sinks.MinuteRow{
					Instance: fmt.Sprintf("10.0.0.%d:3306", i), DB: "shop", TemplateID: fmt.Sprintf("%016x", tp),
					FingerprintVersion: 1, Template: tpl, SampleSQL: tpl, Minute: t0 + int64(m)*sinks.MinuteMs, Version: 1,
					Count: n, LatencySumUs: n * p50 * 12 / 10, LatencyMaxUs: p50 * 30, LatencyP50Us: p50,
					LatencyP95Us: p50 * 4, LatencyP99Us: p50 * 8, RowsExaminedSum: n * 10, Errors: rng.Int64N(2),
				})
			}
		}
	}
	return rows
}

// BenchmarkBuild: one report (ranking, quantile estimates, sparklines) over
// a day of minutes for 5 instances × 200 templates (~720 k rows), and the
// same with a comparison against the previous 12 hours.
func BenchmarkBuild(b *testing.B) {
	rows := benchRows(5, 200, 1440)
	for _, cmp := range []bool{false, true} {
		b.Run(fmt.Sprintf("compare=%v", cmp), func(b *testing.B) {
			o := Options{Top: 20}
			if cmp {
				o.From, o.To, o.BaselineShift = at(720), at(1440), 12*time.Hour
			}
			b.ReportMetric(float64(len(rows)), "rows")
			b.ResetTimer()
			for range b.N {
				rep, err := Build(rows, o)
				if err != nil {
					b.Fatal(err)
				}
				if err := rep.WriteText(io.Discard, TextOptions{}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkParquetReport: the whole path of das report over a directory:
// read the committed files, keep the highest version of each key, build.
func BenchmarkParquetReport(b *testing.B) {
	rows := benchRows(5, 200, 1440)
	dir := b.TempDir()
	writeParquet(b, dir, "p0", rows)
	b.ReportMetric(float64(len(rows)), "rows")
	b.ResetTimer()
	for range b.N {
		c := NewCollector(nil)
		if _, err := ReadParquetDir(context.Background(), dir, nil, func(r []sinks.MinuteRow) error { c.Add(r); return nil }); err != nil {
			b.Fatal(err)
		}
		if _, err := Build(c.Rows(), Options{Top: 20}); err != nil {
			b.Fatal(err)
		}
	}
}
