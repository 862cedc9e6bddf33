package slowlog

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sources"
)

// benchLog writes n entries in the given flavour with sysbench-like
// statements and returns the file.
func benchLog(b *testing.B, n int, mariadb bool) string {
	b.Helper()
	var sb strings.Builder
	for i := range n {
		ts := 1704164645 + i/1000
		if mariadb {
			if i%1000 == 0 {
				fmt.Fprintf(&sb, "# Time: 240102  3:%02d:%02d\n", (i/60000)%60, (i/1000)%60)
			}
			fmt.Fprintf(&sb, "# User@Host: sbtest[sbtest] @  [10.0.0.7]\n# Thread_id: %d  Schema: sbtest  QC_hit: No\n# Query_time: 0.000%03d  Lock_time: 0.000010  Rows_sent: 1  Rows_examined: 1\n# Rows_affected: 0  Bytes_sent: 190\n", 10+i%16, i%1000)
		} else {
			fmt.Fprintf(&sb, "# Time: 2024-01-02T03:%02d:%02d.%06dZ\n# User@Host: sbtest[sbtest] @  [10.0.0.7]  Id: %d\n# Query_time: 0.000%03d  Lock_time: 0.000010 Rows_sent: 1  Rows_examined: 1\n", (i/60000)%60, (i/1000)%60, i%1000*1000, 10+i%16, i%1000)
			if i == 0 {
				sb.WriteString("use sbtest;\n")
			}
		}
		fmt.Fprintf(&sb, "SET timestamp=%d;\nSELECT c FROM sbtest1 WHERE id=%d;\n", ts, i*7%100000)
	}
	p := filepath.Join(b.TempDir(), "bench-slow.log")
	if err := os.WriteFile(p, []byte(sb.String()), 0o644); err != nil {
		b.Fatal(err)
	}
	return p
}

// BenchmarkSource reads a slow log of point selects with the bounded
// source: entries/s of parsing alone (no fingerprinting).
func BenchmarkSource(b *testing.B) {
	for _, flavour := range []string{"mysql", "mariadb"} {
		b.Run(flavour, func(b *testing.B) {
			const n = 100_000
			p := benchLog(b, n, flavour == "mariadb")
			st, _ := os.Stat(p)
			b.SetBytes(st.Size())
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
			b.ResetTimer()
			cpu0 := threadCPU()
			for range b.N {
				src, err := Open(p, Options{Instance: "db1:3306"})
				if err != nil {
					b.Fatal(err)
				}
				ctx := context.Background()
				if err := src.Open(ctx, nil); err != nil {
					b.Fatal(err)
				}
				got := 0
				for {
					bt, err := src.Next(ctx)
					if errors.Is(err, io.EOF) {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
					got += len(bt.Items) + len(bt.Rejects)
				}
				src.Close()
				if got != n {
					b.Fatalf("%d entries, want %d", got, n)
				}
			}
			b.ReportMetric(float64(n)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
			if cpu := threadCPU() - cpu0; cpu > 0 {
				b.ReportMetric(float64(n)*float64(b.N)/cpu.Seconds(), "entries/cpu-s")
			}
		})
	}
}

const benchEntry = "# Time: 2024-01-02T03:04:05.123456Z\n# User@Host: sbtest[sbtest] @  [10.0.0.7]  Id:    11\n# Query_time: 0.000319  Lock_time: 0.000004 Rows_sent: 1  Rows_examined: 1\nSET timestamp=1704164645;\nSELECT c FROM sbtest1 WHERE id=5012;\n"

// BenchmarkParseEntry is the cost of turning one split MySQL entry into an
// event.
func BenchmarkParseEntry(b *testing.B) {
	p := parser{loc: time.UTC, instance: "db1:3306"}
	var ev sources.Event
	data := []byte(benchEntry)
	for b.Loop() {
		if err := p.parse(data, false, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkSplit is the cost of finding entry boundaries.
func BenchmarkSplit(b *testing.B) {
	data := []byte(strings.Repeat(benchEntry, 10000))
	b.SetBytes(int64(len(data)))
	for b.Loop() {
		sp := newSplitter(bytes.NewReader(data), 0, 1<<20, 64<<20)
		n := 0
		for {
			_, err := sp.next(true)
			if err != nil {
				break
			}
			n++
		}
		if n != 10000 {
			b.Fatal(n)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*10000), "ns/entry")
}
