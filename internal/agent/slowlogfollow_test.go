package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources/slowlog"
)

// followLog writes slow log entries built from the sample log's entries,
// each made unique by its Rows_examined (1, 2, 3, …), so the test can tell
// which arrived.
type followLog struct {
	t      *testing.T
	path   string
	header []byte
	blocks [][]byte
	n      int64
}

var rowsExamined = regexp.MustCompile(`Rows_examined: \d+`)

func newFollowLog(t *testing.T, path string) *followLog {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "sources", "slowlog", "testdata", "mysql57-slow.log"))
	if err != nil {
		t.Fatal(err)
	}
	parts := bytes.Split(data, []byte("# Time: "))
	l := &followLog{t: t, path: path, header: parts[0]}
	for _, p := range parts[1:] {
		// Statements only (not "# administrator command").
		if bytes.Contains(p, []byte("Rows_examined:")) && !bytes.Contains(p, []byte("# administrator")) {
			l.blocks = append(l.blocks, append([]byte("# Time: "), p...))
		}
	}
	if len(l.blocks) < 2 {
		t.Fatalf("%d usable entries in the sample log", len(l.blocks))
	}
	l.create()
	return l
}

// create puts a new file at the path holding the server's header.
func (l *followLog) create() {
	l.t.Helper()
	if err := os.WriteFile(l.path, l.header, 0o644); err != nil {
		l.t.Fatal(err)
	}
}

// append writes n more entries.
func (l *followLog) append(n int) {
	l.t.Helper()
	var buf bytes.Buffer
	for range n {
		l.n++
		b := l.blocks[int(l.n)%len(l.blocks)]
		buf.Write(rowsExamined.ReplaceAll(b, fmt.Appendf(nil, "Rows_examined: %d", l.n)))
	}
	f, err := os.OpenFile(l.path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		l.t.Fatal(err)
	}
	if _, err := f.Write(buf.Bytes()); err != nil {
		l.t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		l.t.Fatal(err)
	}
}

// copytruncate copies the log aside and truncates it in place.
func (l *followLog) copytruncate(to string) {
	l.t.Helper()
	data, err := os.ReadFile(l.path)
	if err != nil {
		l.t.Fatal(err)
	}
	if err := os.WriteFile(to, data, 0o644); err != nil {
		l.t.Fatal(err)
	}
	if err := os.Truncate(l.path, 0); err != nil {
		l.t.Fatal(err)
	}
}

// runningAgent is an agent following a slow log in the background.
type runningAgent struct {
	a      *Agent
	in     *SlowlogFollowInput
	cancel context.CancelFunc
	done   chan error
}

func startFollowAgent(t *testing.T, path string, o Options, failpoint func(string) error) *runningAgent {
	t.Helper()
	in, err := NewSlowlogFollowInput(path, o.StateDir, slowlog.FollowOptions{PollInterval: 10 * time.Millisecond, MaxWait: 40 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(in, o)
	if err != nil {
		t.Fatal(err)
	}
	a.failpoint = failpoint
	ctx, cancel := context.WithCancel(context.Background())
	r := &runningAgent{a: a, in: in, cancel: cancel, done: make(chan error, 1)}
	go func() {
		_, err := a.Run(ctx)
		r.done <- err
	}()
	t.Cleanup(func() { r.stop(t) })
	return r
}

// stop stops the agent (if running) and returns Run's error.
func (r *runningAgent) stop(t *testing.T) error {
	t.Helper()
	if r.done == nil {
		return nil
	}
	r.cancel()
	select {
	case err := <-r.done:
		r.done = nil
		return err
	case <-time.After(20 * time.Second):
		t.Fatal("agent did not stop")
		return nil
	}
}

// waitAcked waits until the agent's Kafka acknowledged n statements.
func (r *runningAgent) waitAcked(t *testing.T, n int64) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for r.a.st.ackedStatements.Load() < n {
		if time.Now().After(deadline) {
			t.Fatalf("acknowledged %d statements, want %d (read %d)", r.a.st.ackedStatements.Load(), n, r.a.st.statements.Load())
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// checkExactlyOnce decodes the topic, applies the engine's (Src, Seq)
// rule and checks that entries 1..n each count exactly once. It returns
// the Srcs seen.
func checkExactlyOnce(t *testing.T, c *kafkatest.Cluster, topic string, o Options, n int64) map[string]bool {
	t.Helper()
	counted, dups := effective(t, decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format))
	srcs := map[string]bool{}
	var count, sumExam int64
	var exam []int64
	for _, ev := range counted {
		srcs[ev.Src] = true
		if ev.Count > 0 {
			count += ev.Count
		} else {
			count++
			exam = append(exam, ev.RowsExamined)
		}
		sumExam += ev.RowsExamined
	}
	if count != n || sumExam != n*(n+1)/2 {
		t.Errorf("%d statements counted (rows examined sum %d), want %d (%d)", count, sumExam, n, n*(n+1)/2)
	}
	if !o.EdgeAggregate {
		slices.Sort(exam)
		for i, v := range exam {
			if v != int64(i+1) {
				t.Fatalf("entry %d: got %d (missing or repeated)", i+1, v)
			}
		}
	}
	t.Logf("%d records counted, %d duplicates dropped, %d srcs", len(counted), dups, len(srcs))
	return srcs
}

// An agent follows a slow log that grows, is rotated by rename and by
// copytruncate, grows while the agent is stopped, and is killed between
// spooling cuts and committing the follower's position: every entry is
// counted exactly once, and a rotated file gets a new Src.
func TestAgentSlowlogFollow(t *testing.T) {
	for _, edge := range []bool{false, true} {
		t.Run(map[bool]string{false: "raw", true: "edge"}[edge], func(t *testing.T) {
			dir := t.TempDir()
			path := filepath.Join(dir, "db1-slow.log")
			l := newFollowLog(t, path)
			topic := "das.sql-events"
			c := newCluster(t, topic, 1)
			o := testOptions(t, c.Addrs(), topic)
			o.EdgeAggregate = edge
			o.FlushInterval = 20 * time.Millisecond
			o.ShutdownTimeout = 5 * time.Second

			l.append(20)
			r := startFollowAgent(t, path, o, nil)
			r.waitAcked(t, 20)
			for range 5 { // grows while followed
				l.append(7)
				time.Sleep(15 * time.Millisecond)
			}
			r.waitAcked(t, l.n)

			// Rotation by rename: the old file gets a last entry after
			// the rename (the server writes it until it reopens its log).
			if err := os.Rename(path, path+".1"); err != nil {
				t.Fatal(err)
			}
			old := *l
			old.path = path + ".1"
			old.append(3)
			l.n = old.n
			l.create()
			l.append(10)
			r.waitAcked(t, l.n)
			if got := r.a.st.followRotations.Load(); got != 1 {
				t.Errorf("das_agent_slowlog_rotations_total %d after one rotation", got)
			}

			// Stopped: the log grows meanwhile; the restart resumes.
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}
			l.append(15)
			r = startFollowAgent(t, path, o, nil)
			r.waitAcked(t, 15) // only what was appended while stopped

			// copytruncate.
			l.copytruncate(path + ".2")
			l.append(12)
			r.waitAcked(t, 15+12)
			if got := r.a.st.followTruncations.Load(); got != 1 {
				t.Errorf("das_agent_slowlog_truncations_total %d after one copytruncate", got)
			}
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}

			// Killed after cuts are spooled, before the position moved:
			// the restart sends the spooled cuts and reads on after them.
			l.append(9)
			crashed := false
			r = startFollowAgent(t, path, o, func(p string) error {
				if p == fpCommit && !crashed {
					crashed = true
					return errors.New("killed")
				}
				return nil
			})
			select {
			case err := <-r.done:
				r.done = nil
				if !errors.Is(err, errCrash) {
					t.Fatalf("run with a crash point: %v", err)
				}
			case <-time.After(10 * time.Second):
				t.Fatal("the crash point was not reached")
			}
			l.append(11)
			r = startFollowAgent(t, path, o, nil)
			r.waitAcked(t, 9+11)
			l.append(5)
			r.waitAcked(t, 9+11+5)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}

			// Killed after Kafka acknowledged the cuts, before the position
			// moved: the restart must not read them again (under new keys,
			// which the engine could not recognise as duplicates).
			l.append(6)
			var running atomic.Pointer[Agent]
			crashed = false
			r = startFollowAgent(t, path, o, func(p string) error {
				if p != fpCommit || crashed {
					return nil
				}
				for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline); time.Sleep(2 * time.Millisecond) {
					if a := running.Load(); a != nil && a.st.ackedStatements.Load() >= 6 {
						break
					}
				}
				crashed = true
				return errors.New("killed")
			})
			running.Store(r.a)
			select {
			case err := <-r.done:
				r.done = nil
				if !errors.Is(err, errCrash) {
					t.Fatalf("run with a crash point: %v", err)
				}
			case <-time.After(15 * time.Second):
				t.Fatal("the crash point was not reached")
			}
			if got := r.a.st.ackedStatements.Load(); got != 6 {
				t.Fatalf("crashed with %d statements acknowledged, want 6", got)
			}
			r = startFollowAgent(t, path, o, nil)
			l.append(4)
			r.waitAcked(t, 4)
			if err := r.stop(t); err != nil {
				t.Fatal(err)
			}

			srcs := checkExactlyOnce(t, c, topic, o, l.n)
			// The first file, the one after the rename, and its truncated
			// generation: at least three streams.
			if len(srcs) < 3 {
				t.Errorf("%d Srcs, want a new one per followed file: %v", len(srcs), srcs)
			}
		})
	}
}

// The follower's position file is in the state directory and moves only
// with durable cuts: an input that is never opened by an agent leaves it
// alone, and OpenInput needs the state directory to follow a slow log.
func TestOpenInputSlowlogFollow(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db1-slow.log")
	l := newFollowLog(t, path)
	l.append(3)
	if _, err := OpenInput(context.Background(), "slowlog:"+path, InputOptions{Follow: true}); !errors.Is(err, ErrBadOptions) {
		t.Fatalf("without a state dir: %v", err)
	}
	state := filepath.Join(dir, "state")
	in, err := OpenInput(context.Background(), "slowlog:"+path, InputOptions{Follow: true, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer in.Close()
	if in.Replayable() {
		t.Error("a followed slow log must not be replayable: its cuts are spooled")
	}
	if _, ok := in.(Committer); !ok {
		t.Fatal("not a Committer")
	}
	if err := in.Open(context.Background(), Position{}); err != nil {
		t.Fatal(err)
	}
	var b *Batch
	for n := 0; n < 3; {
		b, err = in.Next(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Offsets) != len(b.Events) || b.Stream == "" || (len(b.Events) > 0 && b.End <= b.Offsets[len(b.Offsets)-1]) {
			t.Fatalf("batch: %d events, stream %q, offsets %v, end %d", len(b.Events), b.Stream, b.Offsets, b.End)
		}
		n += len(b.Events)
	}
	if _, err := os.Stat(filepath.Join(state, slowlogPositionName)); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("position file written before any commit: %v", err)
	}
	ck, err := in.(Committer).Checkpoint(Position{Stream: b.Stream, Offset: b.End})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.(Committer).Commit(ck); err != nil {
		t.Fatal(err)
	}
	if _, err := in.(Committer).Checkpoint(Position{Stream: b.Stream, Offset: b.End + 1}); err == nil {
		t.Error("a checkpoint at an offset no batch ended at")
	}
	in.Close()

	// A new input resumes after the committed entries.
	l.append(2)
	in2, err := OpenInput(context.Background(), "slowlog:"+path, InputOptions{Follow: true, StateDir: state})
	if err != nil {
		t.Fatal(err)
	}
	defer in2.Close()
	if err := in2.Open(context.Background(), Position{}); err != nil {
		t.Fatal(err)
	}
	var got []int64
	for len(got) < 2 {
		b, err := in2.Next(context.Background())
		if errors.Is(err, io.EOF) || err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Events {
			got = append(got, ev.RowsExamined)
		}
	}
	if !slices.Equal(got, []int64{4, 5}) {
		t.Fatalf("after the restart: entries %v, want [4 5]", got)
	}
}

// A second agent on a state directory in use stops at once with
// ErrStateInUse, naming the holder; the first keeps running, and the
// directory is free again once it stopped.
func TestStateDirectoryLock(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db1-slow.log")
	l := newFollowLog(t, path)
	l.append(5)
	topic := "das.sql-events"
	c := newCluster(t, topic, 1)
	o := testOptions(t, c.Addrs(), topic)
	r := startFollowAgent(t, path, o, nil)
	r.waitAcked(t, 5)

	in2, err := NewSlowlogFollowInput(path, o.StateDir, slowlog.FollowOptions{PollInterval: 10 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	a2, err := New(in2, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if _, err := a2.Run(ctx); !errors.Is(err, ErrStateInUse) || !strings.Contains(err.Error(), fmt.Sprint(os.Getpid())) {
		t.Fatalf("second agent on the same state: %v", err)
	}
	l.append(2)
	r.waitAcked(t, 7) // the first one is unaffected
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	r = startFollowAgent(t, path, o, nil) // free again
	l.append(1)
	r.waitAcked(t, 1)
	if err := r.stop(t); err != nil {
		t.Fatal(err)
	}
	checkExactlyOnce(t, c, topic, o, l.n)
}
