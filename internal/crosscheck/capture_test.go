package crosscheck

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/pcap"
	"github.com/das-project/das/sources/slowlog"
	"github.com/das-project/das/stream"
)

// tcpdumpObserver captures the server's port on the loopback interface
// into path for the whole workload.
func tcpdumpObserver(t *testing.T, path string) observer {
	return func(ctx context.Context, port int) (func() error, error) {
		bin := requireTool(t, "tcpdump", "tcpdump")
		// --immediate-mode: packets still in a kernel ring block at SIGINT
		// would never be written; -B: a large buffer so a loaded machine
		// does not drop.
		args := []string{"-i", "lo", "-n", "--immediate-mode", "-B", "131072", "-U", "-s", "0", "-w", path}
		if os.Geteuid() == 0 {
			args = append(args, "-Z", "root")
		}
		cmd := exec.Command(bin, append(args, "tcp", "port", strconv.Itoa(port))...)
		stderr, err := cmd.StderrPipe()
		if err != nil {
			return nil, err
		}
		if err := cmd.Start(); err != nil {
			return nil, fmt.Errorf("start tcpdump: %w", err)
		}
		ready := make(chan struct{})
		var lines []string
		done := make(chan struct{})
		go func() {
			defer close(done)
			sc := bufio.NewScanner(stderr)
			for sc.Scan() {
				lines = append(lines, sc.Text())
				if strings.Contains(sc.Text(), "listening on") {
					close(ready)
				}
			}
		}()
		select {
		case <-ready:
		case <-done:
			cmd.Wait()
			return nil, fmt.Errorf("tcpdump exited (capturing on lo needs CAP_NET_RAW): %s", strings.Join(lines, "\n"))
		case <-time.After(20 * time.Second):
			cmd.Process.Kill()
			cmd.Wait()
			return nil, errors.New("tcpdump did not start listening within 20s")
		}
		return func() error {
			time.Sleep(300 * time.Millisecond) // the last packets reach the capture
			cmd.Process.Signal(syscall.SIGINT)
			<-done
			err := cmd.Wait()
			var ee *exec.ExitError
			if err != nil && !errors.As(err, &ee) {
				return err
			}
			for _, l := range lines {
				if strings.Contains(l, "dropped by kernel") && !strings.HasPrefix(l, "0 ") {
					t.Logf("tcpdump: %s", l)
				}
			}
			return nil
		}, nil
	}
}

// side is what one source saw of the traffic, per template.
type side struct {
	count   map[fingerprint.ID]int64
	latency map[fingerprint.ID][]int64 // µs, in order
	errs    map[int32]int64
	text    map[fingerprint.ID]string
	rejects int
}

func readSide(t *testing.T, src stream.Source[sources.Event], skip func(tmpl string) bool) side {
	t.Helper()
	ctx := context.Background()
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	s := side{count: map[fingerprint.ID]int64{}, latency: map[fingerprint.ID][]int64{}, errs: map[int32]int64{}, text: map[fingerprint.ID]string{}}
	fp := fingerprint.New()
	for {
		b, err := src.Next(ctx)
		if err == io.EOF {
			return s
		}
		if err != nil {
			t.Fatal(err)
		}
		s.rejects += len(b.Rejects)
		for i := range b.Items {
			ev := &b.Items[i]
			id, tmpl := fp.Fingerprint(ev.SQL)
			if skip(string(tmpl)) {
				continue
			}
			s.count[id]++
			s.latency[id] = append(s.latency[id], ev.LatencyUs)
			s.text[id] = string(tmpl)
			if ev.ErrCode != 0 {
				s.errs[ev.ErrCode]++
			}
		}
	}
}

// TestCaptureAgainstSlowLog: a tcpdump capture of the same workload sees
// the statements the slow log records — per template within 0.1 % — with
// latencies close to Query_time and the real error codes.
func TestCaptureAgainstSlowLog(t *testing.T) {
	capPath := filepath.Join(t.TempDir(), "traffic.pcap")
	w := runWorkload(t, workloadOptions{Events: 100, Observers: []observer{tcpdumpObserver(t, capPath)}})

	logSrc, err := slowlog.Open(w.slowLog, slowlog.Options{Instance: "127.0.0.1:" + strconv.Itoa(w.port)})
	if err != nil {
		t.Fatal(err)
	}
	// The slow log also records commands that are not statements
	// ("administrator command: Prepare", Quit, …): the capture counts those
	// in its metrics, by design (docs/collection.md).
	log := readSide(t, logSrc, func(tmpl string) bool { return strings.HasPrefix(tmpl, "administrator command") })
	capSrc, err := pcap.Open(capPath, pcap.Options{Port: w.port})
	if err != nil {
		t.Fatal(err)
	}
	capt := readSide(t, capSrc, func(string) bool { return false })
	st := capSrc.Stats()
	t.Logf("capture: %d packets, %d events, %d rejects, %d gaps (%d lost bytes); slow log: %d templates",
		st.Packets, st.Events, st.Rejects, st.Gaps, st.LostBytes, len(log.count))

	var logTotal, capTotal int64
	ids := map[fingerprint.ID]bool{}
	for id, n := range log.count {
		ids[id] = true
		logTotal += n
	}
	for id, n := range capt.count {
		ids[id] = true
		capTotal += n
	}
	if logTotal < 2000 {
		t.Fatalf("only %d statements in the slow log", logTotal)
	}
	// The one deliberate difference: SQL-level EXECUTE. The wire carries
	// the COM_QUERY "EXECUTE s1 USING @a"; the slow log records the
	// prepared statement it ran. (Binary-protocol prepared statements
	// agree: the capture substitutes the bound parameters.)
	fp := fingerprint.New()
	known := map[fingerprint.ID]int64{}
	for _, k := range []struct {
		sql  string
		diff int64 // capture − slow log
	}{{"EXECUTE s1 USING @a", +1}, {"SELECT k FROM sbtest1 WHERE id = 9", -1}} {
		id, _ := fp.Fingerprint([]byte(k.sql))
		known[id] = k.diff
	}
	var diffs []string
	for id := range ids {
		l, c := log.count[id], capt.count[id]
		if d, ok := known[id]; ok {
			if c-l != d {
				t.Errorf("%q: capture − slow log = %d, want %d", log.text[id]+capt.text[id], c-l, d)
			}
			continue
		}
		// Within 0.1 %, or statements whose packets the capture lost.
		if math.Abs(float64(l-c)) > 0.001*float64(l) && !(c < l && st.Gaps > 0 && l-c <= int64(st.Gaps)) {
			text := log.text[id] + capt.text[id]
			diffs = append(diffs, fmt.Sprintf("%.100q: slow log %d, capture %d", text, l, c))
		}
	}
	sort.Strings(diffs)
	if len(diffs) > 0 {
		t.Errorf("templates counted differently (%d statements in the slow log, %d captured):\n%s",
			logTotal, capTotal, strings.Join(diffs, "\n"))
	}
	// Real error codes.
	for code, n := range log.errs {
		if capt.errs[code] != n {
			t.Errorf("error %d: slow log %d, capture %d", code, n, capt.errs[code])
		}
	}
	for _, code := range []int32{1054, 1062, 1064, 1146} {
		if capt.errs[code] == 0 {
			t.Errorf("the capture saw no error %d (all: %v)", code, capt.errs)
		}
	}
	// Latency: the capture measures from the request to the first
	// response packet on the wire, the server from parse to end; per
	// template the medians agree within a factor, and the totals within
	// a few tens of percent.
	var logSum, capSum int64
	for id, ls := range log.latency {
		cs := capt.latency[id]
		if len(ls) != len(cs) {
			continue
		}
		for i := range ls {
			logSum += ls[i]
			capSum += cs[i]
		}
	}
	ratio := float64(capSum) / float64(logSum)
	t.Logf("total latency: capture %d µs, slow log %d µs (ratio %.2f)", capSum, logSum, ratio)
	if ratio < 0.5 || ratio > 5 {
		t.Errorf("capture latencies total %.2f× the slow log's Query_time", ratio)
	}
}
