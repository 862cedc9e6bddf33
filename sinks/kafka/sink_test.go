package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"reflect"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/kafka"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

const minute0 = 1_767_225_600_000 // 2026-01-01T00:00:00Z

// rows returns n distinct minute rows of the given version, tagged with
// epoch in Count so that a reader can tell epochs apart.
func rows(epoch, version int64, n int) []sinks.MinuteRow {
	out := make([]sinks.MinuteRow, n)
	for i := range out {
		out[i] = sinks.MinuteRow{
			Instance: fmt.Sprintf("10.0.0.%d:3306", i%3), DB: "shop|eu", TemplateID: fmt.Sprintf("%016x", i),
			FingerprintVersion: 1, Template: "SELECT * FROM t WHERE id = ?",
			Minute: minute0 + int64(i/3)*sinks.MinuteMs, Version: version,
			Count: epoch*1000 + int64(i), LatencySumUs: 10 * int64(i), SampleSQL: "SELECT * FROM t WHERE id = ?",
		}
	}
	return out
}

// readRows reads every committed record of the topic and decodes it.
func readRows(t *testing.T, addrs []string, topic string) []sinks.MinuteRow {
	t.Helper()
	var out []sinks.MinuteRow
	for _, r := range kafkatest.ReadAll(t, addrs, topic) {
		row, err := kafka.DecodeRecord(r.Key, r.Value)
		if err != nil {
			t.Fatalf("record %d/%d: %v", r.Partition, r.Offset, err)
		}
		out = append(out, row)
	}
	sinks.SortByKey(out)
	return out
}

func sorted(rs ...[]sinks.MinuteRow) []sinks.MinuteRow {
	var out []sinks.MinuteRow
	for _, r := range rs {
		out = append(out, r...)
	}
	sinks.SortByKey(out)
	return out
}

func equalRows(t *testing.T, what string, got, want []sinks.MinuteRow) {
	t.Helper()
	if len(got) == 0 && len(want) == 0 {
		return
	}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("%s: got %d rows, want %d\ngot  %+v\nwant %+v", what, len(got), len(want), got, want)
	}
}

func newSink(t *testing.T, o kafka.Options) *kafka.Sink {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	s, err := kafka.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func ok(t *testing.T, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

func precommit(t *testing.T, s *kafka.Sink, epoch uint64) sinks.Pending {
	t.Helper()
	p, err := s.Precommit(epoch)
	if err != nil {
		t.Fatalf("Precommit(%d): %v", epoch, err)
	}
	return p
}

func TestAtLeastOnce(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	s := newSink(t, kafka.Options{Brokers: c.Addrs(), Partitions: 3})
	if err := s.Recover(sinks.Pending{}); err != nil {
		t.Fatal(err)
	}
	ti := c.TopicInfo(kafka.DefaultTopic)
	if ti == nil || ti.Configs["cleanup.policy"] == nil || *ti.Configs["cleanup.policy"] != "compact" {
		t.Fatalf("topic %s not created compacted: %+v", kafka.DefaultTopic, ti)
	}
	if n := len(c.PartitionInfos(kafka.DefaultTopic)); n != 3 {
		t.Fatalf("%d partitions, want 3", n)
	}
	e1, e2 := rows(1, 1, 20), rows(2, 2, 10)
	if err := s.Write(e1[:7]); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(e1[7:]); err != nil {
		t.Fatal(err)
	}
	p := precommit(t, s, 1)
	if p.Epoch != 1 || len(p.Files) != 0 {
		t.Fatalf("Pending %+v", p)
	}
	// Visible at Precommit in this mode.
	equalRows(t, "after precommit 1", readRows(t, c.Addrs(), kafka.DefaultTopic), sorted(e1))
	if err := s.Commit(p); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(e2); err != nil {
		t.Fatal(err)
	}
	// Abort drops what was not precommitted.
	if err := s.Abort(); err != nil {
		t.Fatal(err)
	}
	if err := s.Write(e2); err != nil {
		t.Fatal(err)
	}
	precommit(t, s, 2)
	all := readRows(t, c.Addrs(), kafka.DefaultTopic)
	equalRows(t, "after epoch 2", all, sorted(e1, e2))

	// Compaction keeps the last record of each key: version 2 where the
	// keys overlap. kfake never cleans a partition's last batch, so a third
	// epoch on other keys goes first.
	e3 := rows(3, 1, 30)
	for i := range e3 {
		e3[i].Instance = "10.9.9.9:3306"
	}
	ok(t, s.Write(e3))
	precommit(t, s, 3)
	c.Compact()
	equalRows(t, "compacted", readRows(t, c.Addrs(), kafka.DefaultTopic), sinks.LatestByKey(sorted(all, e3)))
}

func txnSink(t *testing.T, c *kafkatest.Cluster, spool string) *kafka.Sink {
	return newSink(t, kafka.Options{Brokers: c.Addrs(), TransactionalID: "das-sqlagg-p0", SpoolDir: spool, NoSync: true, Timeout: 10 * time.Second})
}

func TestTransactional(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	spool := t.TempDir()
	s := txnSink(t, c, spool)
	if err := s.Recover(sinks.Pending{}); err != nil {
		t.Fatal(err)
	}
	e1, e2 := rows(1, 1, 12), rows(2, 2, 12)
	ok(t, s.Write(e1))
	p1 := precommit(t, s, 1)
	if len(p1.Files) != 1 {
		t.Fatalf("Pending %+v: want one spool file", p1)
	}
	if _, err := os.Stat(filepath.Join(spool, p1.Files[0])); err != nil {
		t.Fatalf("spool file: %v", err)
	}
	equalRows(t, "before commit", readRows(t, c.Addrs(), kafka.DefaultTopic), nil)
	// The next epoch cannot precommit while this one is open.
	if _, err := s.Precommit(2); !errors.Is(err, kafka.ErrUncommitted) {
		t.Fatalf("Precommit(2) with 1 open: %v", err)
	}
	ok(t, s.Commit(p1))
	equalRows(t, "after commit", readRows(t, c.Addrs(), kafka.DefaultTopic), sorted(e1))
	if _, err := os.Stat(filepath.Join(spool, p1.Files[0])); !errors.Is(err, os.ErrNotExist) {
		t.Fatalf("spool file after commit: %v", err)
	}
	ok(t, s.Commit(p1)) // idempotent
	// An empty epoch needs no transaction.
	p2 := precommit(t, s, 2)
	if len(p2.Files) != 0 {
		t.Fatalf("empty epoch Pending %+v", p2)
	}
	ok(t, s.Commit(p2))
	ok(t, s.Write(e2))
	p3 := precommit(t, s, 3)
	ok(t, s.Commit(p3))
	equalRows(t, "after epoch 3", readRows(t, c.Addrs(), kafka.DefaultTopic), sorted(e1, e2))

	// Misuse.
	if _, err := s.Precommit(3); !errors.Is(err, kafka.ErrEpochOrder) {
		t.Fatalf("Precommit(3) again: %v", err)
	}
	for _, bad := range []sinks.Pending{
		{Epoch: 4, Files: []string{"epoch-00000000000000000005.spool"}},
		{Epoch: 4, Files: []string{"a", "b"}},
	} {
		if err := s.Commit(bad); !errors.Is(err, kafka.ErrBadPending) {
			t.Fatalf("Commit(%+v): %v", bad, err)
		}
	}
	if err := s.Commit(sinks.Pending{Epoch: 9, Files: []string{"epoch-00000000000000000009.spool"}}); !errors.Is(err, kafka.ErrPendingLost) {
		t.Fatalf("Commit of an unknown epoch: %v", err)
	}
	s.Close()
	if err := s.Write(e1); !errors.Is(err, kafka.ErrClosed) {
		t.Fatalf("Write after Close: %v", err)
	}
}

// TestTransactionalCrashes crashes (closes without the next step) at each
// point of the protocol and checks what a restarted sink leaves visible.
func TestTransactionalCrashes(t *testing.T) {
	e1, e2 := rows(1, 1, 9), rows(2, 2, 9)
	for _, tc := range []struct {
		name string
		// checkpointed reports whether epoch 2's checkpoint became durable
		// before the crash; commit whether Commit(2) ran.
		checkpointed, commit bool
		want                 []sinks.MinuteRow
	}{
		{"before checkpoint", false, false, sorted(e1)},
		{"after checkpoint before commit", true, false, sorted(e1, e2)},
		{"after commit", true, true, sorted(e1, e2)},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
			spool := t.TempDir()
			s := txnSink(t, c, spool)
			ok(t, s.Recover(sinks.Pending{}))
			ok(t, s.Write(e1))
			p1 := precommit(t, s, 1)
			ok(t, s.Commit(p1))
			ok(t, s.Write(e2))
			p2 := precommit(t, s, 2)
			if tc.commit {
				ok(t, s.Commit(p2))
			}
			s.Close() // the crash: the transaction stays open on the broker

			last := p1
			if tc.checkpointed {
				last = p2
			}
			s2 := txnSink(t, c, spool)
			ok(t, s2.Recover(last))
			// The restarted engine commits its recovered checkpoint again.
			ok(t, s2.Commit(last))
			equalRows(t, "after recovery", readRows(t, c.Addrs(), kafka.DefaultTopic), tc.want)
			ents, _ := os.ReadDir(spool)
			if len(ents) != 0 {
				t.Fatalf("spool not empty after recovery: %v", ents)
			}
			// The sink keeps working after recovery.
			e3 := rows(3, 3, 4)
			ok(t, s2.Write(e3))
			p3 := precommit(t, s2, 3)
			ok(t, s2.Commit(p3))
			equalRows(t, "after epoch 3", readRows(t, c.Addrs(), kafka.DefaultTopic), sorted(tc.want, e3))
		})
	}
}

// TestZombieFenced: once a new incarnation recovered, the old one cannot
// commit its open transaction.
func TestZombieFenced(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	old := txnSink(t, c, t.TempDir())
	ok(t, old.Recover(sinks.Pending{}))
	ok(t, old.Write(rows(1, 1, 5)))
	p := precommit(t, old, 1)
	fresh := txnSink(t, c, t.TempDir())
	ok(t, fresh.Recover(sinks.Pending{}))
	if err := old.Commit(p); err == nil {
		t.Fatal("a fenced producer committed its transaction")
	}
	equalRows(t, "after fencing", readRows(t, c.Addrs(), kafka.DefaultTopic), nil)
}

func TestNewValidates(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	for name, o := range map[string]kafka.Options{
		"no brokers":          {},
		"negative partitions": {Brokers: c.Addrs(), Partitions: -1},
		"negative timeout":    {Brokers: c.Addrs(), Timeout: -1},
		"txn without spool":   {Brokers: c.Addrs(), TransactionalID: "x"},
		"spool without txn":   {Brokers: c.Addrs(), SpoolDir: t.TempDir()},
	} {
		if _, err := kafka.New(ctx, o); !errors.Is(err, kafka.ErrBadOptions) {
			t.Errorf("%s: New = %v, want ErrBadOptions", name, err)
		}
	}
	if _, err := kafka.New(ctx, kafka.Options{Brokers: c.Addrs(), Topic: "missing", NoCreateTopic: true}); err == nil {
		t.Error("New with NoCreateTopic created or accepted a missing topic")
	}
	// An existing topic is used as it is.
	c.CreateTopic("existing", 2, nil)
	s := newSink(t, kafka.Options{Brokers: c.Addrs(), Topic: "existing", NoCreateTopic: true})
	// A row that is not valid UTF-8 is repaired so that key and value agree
	// (readRows fails on a record whose key does not match its value).
	rs := rows(1, 1, 3)
	rs[0].DB = "caf\xe9"
	ok(t, s.Write(rs))
	precommit(t, s, 1)
	got := readRows(t, c.Addrs(), "existing")
	if len(got) != 3 {
		t.Fatalf("%d rows in existing topic, want 3", len(got))
	}
	if got[0].DB != "caf\uFFFD" && got[1].DB != "caf\uFFFD" && got[2].DB != "caf\uFFFD" {
		t.Fatalf("invalid UTF-8 db not repaired: %+v", got)
	}
	if err := s.Commit(sinks.Pending{Epoch: 1, Files: []string{"epoch-00000000000000000001.spool"}}); !errors.Is(err, kafka.ErrBadPending) {
		t.Fatalf("at-least-once Commit of a spool: %v", err)
	}
}
