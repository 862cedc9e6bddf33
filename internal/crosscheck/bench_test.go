package crosscheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/das-project/das/jobs/sqlagg"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/gen"
	"github.com/das-project/das/sources/slowlog"
)

// benchLog is the generated slow log the benchmarks share, made once per
// test binary and removed by TestMain.
var benchLog struct {
	once    sync.Once
	dir     string
	path    string
	entries int64
	err     error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if benchLog.dir != "" {
		os.RemoveAll(benchLog.dir)
	}
	os.Exit(code)
}

// benchEntries is the size of the benchmark log: DAS_BENCH_SLOWLOG_ENTRIES,
// default 200 000 (about 110 MB).
func benchEntries() int64 {
	if n, err := strconv.ParseInt(os.Getenv("DAS_BENCH_SLOWLOG_ENTRIES"), 10, 64); err == nil && n > 0 {
		return n
	}
	return 200_000
}

// slowLogFile writes the generated workload (das gen's: 500 templates,
// statements of 240 bytes on average, 4 instances × 3 databases) as one
// MySQL 8.0 slow log: a "# Time:" line per entry, "use db;" when the
// database changes, "SET timestamp".
func slowLogFile(b *testing.B) (string, int64) {
	b.Helper()
	benchLog.once.Do(func() {
		benchLog.dir, benchLog.err = os.MkdirTemp("", "das-bench-slowlog")
		if benchLog.err != nil {
			return
		}
		benchLog.path = filepath.Join(benchLog.dir, "db1-slow.log")
		benchLog.entries, benchLog.err = writeSlowLog(benchLog.path, benchEntries())
	})
	if benchLog.err != nil {
		b.Fatal(benchLog.err)
	}
	return benchLog.path, benchLog.entries
}

func writeSlowLog(path string, n int64) (int64, error) {
	g, err := gen.New(gen.Config{Seed: 1, Events: n})
	if err != nil {
		return 0, err
	}
	f, err := os.Create(path)
	if err != nil {
		return 0, err
	}
	w := bufio.NewWriterSize(f, 1<<20)
	fmt.Fprint(w, "/usr/sbin/mysqld, Version: 8.0.36 (MySQL Community Server - GPL). started with:\nTcp port: 3306  Unix socket: /var/run/mysqld/mysqld.sock\nTime                 Id Command    Argument\n")
	var ev sources.Event
	db := ""
	var count int64
	for g.Next(&ev) {
		t := time.UnixMilli(ev.TsMs).UTC()
		fmt.Fprintf(w, "# Time: %s\n# User@Host: %s[%s] @  [10.0.0.7]  Id: %d\n", t.Format("2006-01-02T15:04:05.000000Z"), ev.User, ev.User, 1000+count%64)
		fmt.Fprintf(w, "# Query_time: %d.%06d  Lock_time: %d.%06d Rows_sent: %d  Rows_examined: %d\n",
			ev.LatencyUs/1e6, ev.LatencyUs%1e6, ev.LockUs/1e6, ev.LockUs%1e6, ev.RowsSent, ev.RowsExamined)
		if ev.DB != db && ev.DB != "" {
			fmt.Fprintf(w, "use %s;\n", ev.DB)
			db = ev.DB
		}
		fmt.Fprintf(w, "SET timestamp=%d;\n", ev.TsMs/1000)
		w.Write(ev.SQL)
		w.WriteString(";\n")
		count++
	}
	if err := w.Flush(); err != nil {
		f.Close()
		return 0, err
	}
	return count, f.Close()
}

func threadCPU() time.Duration {
	const rusageThread = 1
	var ru syscall.Rusage
	if err := syscall.Getrusage(rusageThread, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func processCPU() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// parseFingerprint reads the log with das's source and fingerprints every
// statement, as the job does before aggregating: one goroutine.
func parseFingerprint(path string) (int64, error) { return readLog(path, true) }

func readLog(path string, fingerprints bool) (int64, error) {
	src, err := slowlog.Open(path, slowlog.Options{Instance: "db1:3306"})
	if err != nil {
		return 0, err
	}
	defer src.Close()
	ctx := context.Background()
	if err := src.Open(ctx, nil); err != nil {
		return 0, err
	}
	fp := fingerprint.New()
	var n int64
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return n, nil
		}
		if err != nil {
			return n, err
		}
		if fingerprints {
			for i := range b.Items {
				fp.Fingerprint(b.Items[i].SQL)
			}
		}
		n += int64(len(b.Items) + len(b.Rejects))
	}
}

// BenchmarkSlowlogVsPtQueryDigest measures, on the same generated slow log
// and in the same run: das's slow log parse + fingerprint (one core), the
// whole `das run sqlagg --input slowlog:` job (minute aggregates to
// Parquet), and pt-query-digest producing its default report. It reports
// entries per second of wall clock and per CPU-second, and the speedups.
//
//	go test ./internal/crosscheck -run '^$' -bench SlowlogVsPtQueryDigest -benchtime 1x
func BenchmarkSlowlogVsPtQueryDigest(b *testing.B) {
	path, entries := slowLogFile(b)
	pt := requireTool(b, "pt-query-digest", "percona-toolkit")
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	var dasWall, dasCPU, jobWall, jobCPU, ptWall, ptCPU time.Duration
	b.ResetTimer()
	for range b.N {
		// das parse + fingerprint, pinned to this goroutine's thread.
		runtime.LockOSThread()
		c0, t0 := threadCPU(), time.Now()
		n, err := parseFingerprint(path)
		dasWall += time.Since(t0)
		dasCPU += threadCPU() - c0
		runtime.UnlockOSThread()
		if err != nil || n != entries {
			b.Fatalf("das read %d entries of %d: %v", n, entries, err)
		}

		// The whole job.
		dir := b.TempDir()
		c0, t0 = processCPU(), time.Now()
		sum, err := sqlagg.Run(context.Background(), sqlagg.Config{Input: "slowlog:" + path, Instance: "db1:3306",
			StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"),
			Now: func() time.Time { return gen.DefaultStart.Add(365 * 24 * time.Hour) }})
		jobWall += time.Since(t0)
		jobCPU += processCPU() - c0
		if err != nil || sum.Records != entries {
			b.Fatalf("job: %d records of %d: %v", sum.Records, entries, err)
		}
		os.RemoveAll(dir)

		// pt-query-digest, default report.
		cmd := exec.Command(pt, "--no-version-check", path)
		cmd.Stdout = io.Discard
		var stderr strings.Builder
		cmd.Stderr = &stderr
		t0 = time.Now()
		if err := cmd.Run(); err != nil {
			b.Fatalf("pt-query-digest: %v %s", err, stderr.String())
		}
		ptWall += time.Since(t0)
		ptCPU += cmd.ProcessState.UserTime() + cmd.ProcessState.SystemTime()
	}
	b.StopTimer()
	per := func(d time.Duration) float64 { return float64(entries) * float64(b.N) / d.Seconds() }
	b.ReportMetric(per(dasWall), "das-entries/s")
	b.ReportMetric(per(dasCPU), "das-entries/cpu-s")
	b.ReportMetric(per(jobWall), "job-entries/s")
	b.ReportMetric(per(jobCPU), "job-entries/cpu-s")
	b.ReportMetric(per(ptWall), "pt-entries/s")
	b.ReportMetric(per(ptCPU), "pt-entries/cpu-s")
	b.ReportMetric(ptCPU.Seconds()/dasCPU.Seconds(), "x-parse-vs-pt-cpu")
	b.ReportMetric(ptCPU.Seconds()/jobCPU.Seconds(), "x-job-vs-pt-cpu")
	b.Logf("%d entries, %.1f MB: das parse+fingerprint %v wall %v CPU; job %v wall %v CPU; pt-query-digest %v wall %v CPU",
		entries, float64(st.Size())/1e6, dasWall/time.Duration(b.N), dasCPU/time.Duration(b.N), jobWall/time.Duration(b.N),
		jobCPU/time.Duration(b.N), ptWall/time.Duration(b.N), ptCPU/time.Duration(b.N))
}

// BenchmarkSlowlogParseFingerprint is das's half of the comparison alone
// (for profiling): parse + fingerprint of the generated log, and parse
// alone.
func BenchmarkSlowlogParseFingerprint(b *testing.B) {
	b.Run("parse+fingerprint", func(b *testing.B) { benchRead(b, true) })
	b.Run("parse", func(b *testing.B) { benchRead(b, false) })
}

func benchRead(b *testing.B, fingerprints bool) {
	path, entries := slowLogFile(b)
	st, _ := os.Stat(path)
	b.SetBytes(st.Size())
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ResetTimer()
	c0 := threadCPU()
	for range b.N {
		if n, err := readLog(path, fingerprints); err != nil || n != entries {
			b.Fatalf("%d of %d entries: %v", n, entries, err)
		}
	}
	cpu := threadCPU() - c0
	b.ReportMetric(float64(entries)*float64(b.N)/b.Elapsed().Seconds(), "entries/s")
	b.ReportMetric(float64(entries)*float64(b.N)/cpu.Seconds(), "entries/cpu-s")
}
