package fingerprint

import (
	"runtime"
	"testing"
	"time"

	"github.com/pingcap/tidb/pkg/parser"
)

// BenchmarkFingerprint measures statements per second on one goroutine, for
// das and, as the baseline in the same run, TiDB's parser.NormalizeDigest
// over the same inputs. Record figures in docs/fingerprint.md with:
//
//	go test -run '^$' -bench BenchmarkFingerprint -benchtime=2s ./operators/fingerprint/
func BenchmarkFingerprint(b *testing.B) {
	workloads := []struct {
		name  string
		stmts [][]byte
	}{
		{"sysbench", sysbenchStatements(1, 4096)},
		{"long", longStatements(1, 4096)},
	}
	for _, w := range workloads {
		strs := make([]string, len(w.stmts))
		total := 0
		for i, s := range w.stmts {
			strs[i] = string(s)
			total += len(s)
		}
		// stmts/s is wall-clock; stmts/cpu-s divides by the CPU time of the
		// benchmark's own thread, which a busy shared machine does not inflate.
		var cpu0 time.Duration
		start := func(b *testing.B) {
			runtime.LockOSThread()
			b.ResetTimer()
			cpu0 = threadCPU()
		}
		report := func(b *testing.B) {
			cpu := threadCPU() - cpu0
			runtime.UnlockOSThread()
			b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stmts/s")
			if cpu > 0 {
				b.ReportMetric(float64(b.N)/cpu.Seconds(), "stmts/cpu-s")
			}
			b.ReportMetric(float64(total)/float64(len(w.stmts)), "bytes/stmt")
		}
		// name: with the template cache, as a job runs it; name_nocache:
		// every statement normalized (a workload whose shapes never repeat).
		for _, noCache := range []bool{false, true} {
			name := w.name
			if noCache {
				name += "_nocache"
			}
			b.Run(name, func(b *testing.B) {
				f := New()
				f.noCache = noCache
				b.SetBytes(int64(total / len(w.stmts)))
				b.ReportAllocs()
				start(b)
				for i, j := 0, 0; i < b.N; i++ {
					f.Fingerprint(w.stmts[j])
					if j++; j == len(w.stmts) {
						j = 0
					}
				}
				report(b)
			})
		}
		b.Run("tidb_"+w.name, func(b *testing.B) {
			b.SetBytes(int64(total / len(w.stmts)))
			b.ReportAllocs()
			start(b)
			for i, j := 0, 0; i < b.N; i++ {
				parser.NormalizeDigest(strs[j])
				if j++; j == len(strs) {
					j = 0
				}
			}
			report(b)
		})
	}
}

func BenchmarkRedact(b *testing.B) {
	stmts := longStatements(1, 4096)
	f := New()
	dst := make([]byte, 0, 1024)
	b.ReportAllocs()
	for i, j := 0, 0; i < b.N; i++ {
		dst = f.Redact(dst[:0], stmts[j], 1024)
		if j++; j == len(stmts) {
			j = 0
		}
	}
	b.ReportMetric(float64(b.N)/b.Elapsed().Seconds(), "stmts/s")
}
