package main

import (
	"bytes"
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kfake"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/slowlog"
)

// das agent ships a JSON lines file to Kafka and exits when everything is
// acknowledged; a second run on the same state ships nothing.
func TestAgentShipsFile(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	var buf bytes.Buffer
	if err := cmdGen(context.Background(), []string{"--events", "3000", "--instances", "1", "--quiet", "--output", path},
		stdio{out: &buf, err: &buf}); err != nil {
		t.Fatal(err, buf.String())
	}
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	const topic = "das.sql-events"
	c.CreateTopic(topic, 2, nil)
	args := []string{"--input", "file:" + path, "--brokers", strings.Join(c.Addrs(), ","), "--topic", topic,
		"--state", filepath.Join(dir, "state"), "--edge-aggregate", "--flush-interval", "100ms", "--host", "db1"}
	for run := range 2 {
		var out, errb bytes.Buffer
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		err := cmdAgent(ctx, args, stdio{out: &out, err: &errb})
		cancel()
		if err != nil {
			t.Fatalf("run %d: %v\n%s", run, err, errb.String())
		}
		want := "statements read   3000 "
		if run == 1 {
			want = "statements read   0 "
		}
		if !strings.Contains(out.String(), want) || !strings.Contains(errb.String(), "agent: stopped") {
			t.Fatalf("run %d:\n%s\n%s", run, out.String(), errb.String())
		}
	}
	var total int64
	var dec sources.Decoder
	for _, r := range kafkatest.ReadAll(t, c.Addrs(), topic) {
		var ev sources.Event
		if err := dec.Decode(r.Value, &ev); err != nil {
			t.Fatal(err)
		}
		if ev.Count == 0 || !strings.HasPrefix(ev.Src, "db1/file/") {
			t.Fatalf("record %s", r.Value)
		}
		total += ev.Count
	}
	if total != 3000 {
		t.Fatalf("%d statements in Kafka, want 3000", total)
	}
}

// SIGINT/SIGTERM (the context ending) with Kafka unreachable: the agent
// spools what it read and exits cleanly.
func TestAgentStopsCleanlyWithKafkaDown(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	ev := sources.Event{TsMs: 1700000000000, Instance: "10.0.0.1:3306", SQL: []byte("SELECT 1")}
	if err := os.WriteFile(path, append(sources.AppendJSON(nil, &ev), '\n'), 0o644); err != nil {
		t.Fatal(err)
	}
	port := kafkatest.FreePorts(t, 1)[0]
	args := []string{"--input", "file:" + path, "--follow", "--brokers", "127.0.0.1:" + strconv.Itoa(port),
		"--state", filepath.Join(dir, "state"), "--flush-interval", "50ms", "--shutdown-timeout", "200ms"}
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(1500*time.Millisecond, cancel)
	var out, errb bytes.Buffer
	if err := cmdAgent(ctx, args, stdio{out: &out, err: &errb}); err != nil {
		t.Fatalf("%v\n%s", err, errb.String())
	}
	if !strings.Contains(out.String(), "pending           1 cuts (1 spooled)") {
		t.Fatalf("%s\n%s", out.String(), errb.String())
	}
	// The broker comes up; the next run sends the spooled cut.
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Kfake: []kfake.Opt{kfake.Ports(port)}})
	c.CreateTopic("das.sql-events", 1, nil)
	ctx2, cancel2 := context.WithCancel(context.Background())
	defer cancel2()
	done := make(chan error, 1)
	go func() { done <- cmdAgent(ctx2, args, stdio{out: &bytes.Buffer{}, err: &bytes.Buffer{}}) }()
	deadline := time.Now().Add(30 * time.Second)
	for {
		if got := kafkatest.ReadAll(t, c.Addrs(), "das.sql-events"); len(got) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("spooled record not delivered")
		}
		time.Sleep(50 * time.Millisecond)
	}
	cancel2()
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestAgentFlags(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--brokers", "x:1", "--state", "d"}, "required"},
		{[]string{"--input", "file:x", "--brokers", "x:1", "--state", "d", "--format", "xml"}, "want json or arrow"},
		{[]string{"--input", "file:x", "--brokers", "x:1", "--state", "d", "--spool-max-bytes", "lots"}, "byte count"},
		{[]string{"--input", "nope:x", "--brokers", "x:1", "--state", t.TempDir()}, "unknown kind"},
		{[]string{"--input", "file:x", "--brokers", "x:1", "--state", "d", "--kafka-sasl-mechanism", "PLAIN"}, "password-file"},
		{[]string{"--input", "slowlog:x", "--brokers", "x:1", "--state", "d", "--follow-poll", "1s"}, "goes with --follow"},
		{[]string{"--input", "slowlog:x", "--brokers", "x:1", "--state", "d", "--follow", "--follow-poll", "-1s"}, "must be positive"},
	} {
		var errb bytes.Buffer
		err := cmdAgent(context.Background(), tc.args, stdio{out: &bytes.Buffer{}, err: &errb})
		if err == nil || !strings.Contains(err.Error()+errb.String(), tc.want) {
			t.Errorf("%q: err %v, stderr %q; want %q", tc.args, err, errb.String(), tc.want)
		}
	}
	var b byteSize
	for in, want := range map[string]int64{"1024": 1024, "256MiB": 256 << 20, "2 GiB": 2 << 30, "64K": 64 << 10} {
		if err := b.Set(in); err != nil || int64(b) != want {
			t.Errorf("byteSize(%q) = %d, %v; want %d", in, b, err, want)
		}
	}
}

// das agent --input slowlog:PATH --follow ships entries as they are
// appended, keeps its position in --state, and a restart ships only what
// came after.
func TestAgentFollowsSlowlog(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "db1-slow.log")
	sample, err := os.ReadFile(filepath.Join("..", "..", "sources", "slowlog", "testdata", "mysql57-slow.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, sample, 0o644); err != nil {
		t.Fatal(err)
	}
	entry := []byte("# Time: 2024-01-02T03:05:00.000001Z\n# User@Host: app[app] @ web1 [10.0.0.7]  Id:     3\n" +
		"# Query_time: 0.001000  Lock_time: 0.000010 Rows_sent: 0  Rows_examined: 1\nSET timestamp=1704164700;\nDELETE FROM carts WHERE id = 7;\n")
	appendLog := func(n int) {
		t.Helper()
		f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := f.Write(bytes.Repeat(entry, n)); err != nil {
			t.Fatal(err)
		}
		if err := f.Close(); err != nil {
			t.Fatal(err)
		}
	}
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	c.CreateTopic("das.sql-events", 1, nil)
	args := []string{"--input", "slowlog:" + path, "--follow", "--follow-poll", "20ms", "--brokers", strings.Join(c.Addrs(), ","),
		"--state", filepath.Join(dir, "state"), "--flush-interval", "50ms", "--shutdown-timeout", "2s", "--host", "db1"}
	// waitFor runs the agent until the topic holds want records, then stops it.
	run := func(want int, during func()) {
		t.Helper()
		ctx, cancel := context.WithCancel(context.Background())
		defer cancel()
		var errb bytes.Buffer
		done := make(chan error, 1)
		go func() { done <- cmdAgent(ctx, args, stdio{out: &bytes.Buffer{}, err: &errb}) }()
		if during != nil {
			during()
		}
		deadline := time.Now().Add(15 * time.Second)
		for len(kafkatest.ReadAll(t, c.Addrs(), "das.sql-events")) < want {
			if time.Now().After(deadline) {
				cancel()
				<-done
				t.Fatalf("fewer than %d records in Kafka\n%s", want, errb.String())
			}
			time.Sleep(50 * time.Millisecond)
		}
		cancel()
		if err := <-done; err != nil {
			t.Fatalf("%v\n%s", err, errb.String())
		}
	}
	first := countSlowlog(t, path) + 4
	run(first, func() { time.Sleep(300 * time.Millisecond); appendLog(4) })
	appendLog(3)
	run(first+3, nil)
	time.Sleep(200 * time.Millisecond)
	if got := len(kafkatest.ReadAll(t, c.Addrs(), "das.sql-events")); got != first+3 {
		t.Fatalf("%d records after the restart, want %d (the restart re-sent entries)", got, first+3)
	}
	if _, err := os.Stat(filepath.Join(dir, "state", "slowlog.position")); err != nil {
		t.Fatalf("no position file in --state: %v", err)
	}
}

// countSlowlog counts the statements the slow log source reads from path.
func countSlowlog(t *testing.T, path string) int {
	t.Helper()
	src, err := slowlog.Open(path, slowlog.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	if err := src.Open(context.Background(), nil); err != nil {
		t.Fatal(err)
	}
	n := 0
	for {
		b, err := src.Next(context.Background())
		if errors.Is(err, io.EOF) {
			return n
		}
		if err != nil {
			t.Fatal(err)
		}
		n += len(b.Items)
	}
}
