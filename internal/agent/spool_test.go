package agent

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/das-project/das/internal/kafkatest"
)

// appendFile appends data to path.
func appendFile(t testing.TB, path string, data []byte) {
	t.Helper()
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := f.Close(); err != nil {
		t.Fatal(err)
	}
}

// chunks splits JSON lines into n pieces on line boundaries.
func chunks(data []byte, n int) [][]byte {
	var out [][]byte
	size := len(data) / n
	for len(data) > 0 {
		end := min(size, len(data))
		if i := bytes.IndexByte(data[end:], '\n'); i >= 0 {
			end += i + 1
		} else {
			end = len(data)
		}
		out = append(out, data[:end])
		data = data[end:]
	}
	return out
}

// waitFor polls cond until it holds or the test times out.
func waitFor(t testing.TB, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startAgent runs an agent in the background over a followed file; the
// returned stop function cancels it and returns its result.
func startAgent(t testing.TB, path string, o Options) (*Agent, func() (Summary, error)) {
	t.Helper()
	in, err := NewFileInput(path, FileOptions{Follow: true, Poll: 20 * time.Millisecond, BatchSize: 500})
	if err != nil {
		t.Fatal(err)
	}
	return startInput(t, in, o)
}

// startInput runs an agent over in in the background; the returned stop
// function cancels it and returns its result.
func startInput(t testing.TB, in Input, o Options) (*Agent, func() (Summary, error)) {
	t.Helper()
	a, err := New(in, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	type result struct {
		sum Summary
		err error
	}
	done := make(chan result, 1)
	go func() {
		sum, err := a.Run(ctx)
		done <- result{sum, err}
	}()
	stopped := false
	stop := func() (Summary, error) {
		if stopped {
			return Summary{}, nil
		}
		stopped = true
		cancel()
		select {
		case r := <-done:
			return r.sum, r.err
		case <-time.After(60 * time.Second):
			t.Fatal("agent did not stop")
			return Summary{}, nil
		}
	}
	t.Cleanup(func() { stop() })
	return a, stop
}

// With Kafka unreachable the agent keeps reading, fills memory and then the
// spool up to its bound, drops the oldest cuts with a counter, and when a
// broker comes back drains the rest in order; what reached Kafka plus what
// was dropped is everything read.
func TestKafkaDownSpoolBoundDropOldestThenDrain(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	data := writeWorkload(t, "", 20000, 5)
	_, n := truth(t, data)
	appendFile(t, path, nil)

	port := kafkatest.FreePorts(t, 1)[0]
	topic := "das.sql-events"
	o := testOptions(t, []string{"127.0.0.1:" + strconv.Itoa(port)}, topic)
	o.MemoryMaxBytes = 64 << 10
	o.SpoolMaxBytes = 512 << 10
	o.CutMaxRecords = 500
	a, stop := startAgent(t, path, o)

	var maxSpool int64
	watch := func() bool {
		maxSpool = max(maxSpool, a.st.spoolBytes.Load())
		return true
	}
	for _, ch := range chunks(data, 20) {
		appendFile(t, path, ch)
		time.Sleep(5 * time.Millisecond)
		watch()
	}
	waitFor(t, "every statement read and the spool full", 30*time.Second, func() bool {
		watch()
		return a.st.statements.Load() == n && a.st.droppedCuts.Load() > 0 && a.st.queueCuts.Load() > 0 &&
			a.st.spoolBytes.Load() > o.SpoolMaxBytes/2
	})
	if maxSpool > o.SpoolMaxBytes {
		t.Fatalf("spool reached %d bytes, bound %d", maxSpool, o.SpoolMaxBytes)
	}
	if a.st.ackedStatements.Load() != 0 {
		t.Fatalf("acknowledged %d statements with no broker", a.st.ackedStatements.Load())
	}
	if _, err := os.Stat(filepath.Join(o.StateDir, spoolDirName)); err != nil {
		t.Fatal(err)
	}

	// The broker comes back on the address the agent was given.
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Kfake: []kfake.Opt{kfake.Ports(port)}})
	c.CreateTopic(topic, 2, nil)
	waitFor(t, "the queue to drain", 60*time.Second, func() bool {
		watch()
		return a.st.queueCuts.Load() == 0 && a.st.ackedStatements.Load()+a.st.droppedStatements.Load() == n
	})
	sum, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if maxSpool > o.SpoolMaxBytes {
		t.Fatalf("spool reached %d bytes, bound %d", maxSpool, o.SpoolMaxBytes)
	}
	evs := decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format)
	counted, _ := effective(t, evs) // fails on any record out of Seq order
	var stmts int64
	for _, ev := range counted {
		stmts += ev.Statements()
	}
	if stmts+sum.DroppedStatements != n || sum.DroppedStatements == 0 {
		t.Fatalf("%d statements in Kafka + %d dropped, want %d with some dropped", stmts, sum.DroppedStatements, n)
	}
	ents, _ := os.ReadDir(filepath.Join(o.StateDir, spoolDirName))
	if len(ents) != 0 {
		t.Fatalf("%d spool files left after draining", len(ents))
	}
	t.Logf("%d statements: %d delivered, %d dropped; spool peaked at %d bytes", n, stmts, sum.DroppedStatements, maxSpool)
}

// A stop while Kafka is unreachable spools what is pending and exits
// cleanly; the next run sends it, nothing lost.
func TestStopWhileKafkaDownResumesFromSpool(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	data := writeWorkload(t, path, 5000, 9)
	want, n := truth(t, data)
	port := kafkatest.FreePorts(t, 1)[0]
	topic := "das.sql-events"
	o := testOptions(t, []string{"127.0.0.1:" + strconv.Itoa(port)}, topic)
	o.ShutdownTimeout = 100 * time.Millisecond
	o.EdgeAggregate = true
	a, stop := startAgent(t, path, o)
	waitFor(t, "the file to be read", 30*time.Second, func() bool {
		return a.st.statements.Load() == n && a.st.queueCuts.Load() > 0 && a.st.memBytes.Load() > 0
	})
	time.Sleep(3 * o.FlushInterval)
	sum, err := stop()
	if err != nil {
		t.Fatal(err)
	}
	if sum.Spooled == 0 || sum.Pending != sum.Spooled {
		t.Fatalf("stopped with %d pending cuts, %d spooled; want all spooled", sum.Pending, sum.Spooled)
	}

	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Kfake: []kfake.Opt{kfake.Ports(port)}})
	c.CreateTopic(topic, 1, nil)
	a2, stop2 := startAgent(t, path, o)
	waitFor(t, "the spool to drain", 60*time.Second, func() bool {
		return a2.st.ackedStatements.Load() == n
	})
	if _, err := stop2(); err != nil {
		t.Fatal(err)
	}
	if got := a2.st.statements.Load(); got != 0 {
		t.Fatalf("second run read %d statements again; the spool had them", got)
	}
	evs := decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format)
	counted, _ := effective(t, evs)
	sameAggregates(t, aggregate(t, counted), want)
}

// A spool segment that cannot be read (damaged disk) is counted as lost
// and logged; the agent does not retry it forever, and the other cuts are
// delivered.
func TestDamagedSegmentIsLostNotRetried(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	writeWorkload(t, path, 3000, 4)
	port := kafkatest.FreePorts(t, 1)[0]
	topic := "das.sql-events"
	o := testOptions(t, []string{"127.0.0.1:" + strconv.Itoa(port)}, topic)
	o.ShutdownTimeout = 50 * time.Millisecond
	o.CutMaxRecords = 500
	a, stop := startAgent(t, path, o)
	waitFor(t, "the file to be read", 30*time.Second, func() bool { return a.st.statements.Load() == 3000 })
	time.Sleep(3 * o.FlushInterval)
	sum, err := stop()
	if err != nil || sum.Spooled < 2 {
		t.Fatalf("%v %s", err, describe(sum))
	}
	segs, _ := os.ReadDir(filepath.Join(o.StateDir, spoolDirName))
	victim := filepath.Join(o.StateDir, spoolDirName, segs[len(segs)/2].Name())
	data, _ := os.ReadFile(victim)
	data[len(data)/2] ^= 0xff
	os.WriteFile(victim, data, 0o644)

	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Kfake: []kfake.Opt{kfake.Ports(port)}})
	c.CreateTopic(topic, 1, nil)
	a2, stop2 := startAgent(t, path, o)
	waitFor(t, "the rest to be delivered", 30*time.Second, func() bool {
		return a2.st.lostStatements.Load() > 0 && a2.st.ackedStatements.Load()+a2.st.lostStatements.Load() == 3000
	})
	if _, err := stop2(); err != nil {
		t.Fatal(err)
	}
	evs := decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format)
	counted, _ := effective(t, evs)
	if int64(len(counted))+a2.st.lostStatements.Load() != 3000 {
		t.Fatalf("%d delivered + %d lost != 3000", len(counted), a2.st.lostStatements.Load())
	}
}
