package report

import (
	"context"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sinks"
	sinkkafka "github.com/das-project/das/sinks/kafka"
)

// writeKafka writes each epoch's rows through the real Kafka sink.
func writeKafka(t *testing.T, o sinkkafka.Options, epochs ...[]sinks.MinuteRow) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	s, err := sinkkafka.New(ctx, o)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Recover(sinks.Pending{}); err != nil {
		t.Fatal(err)
	}
	for i, rows := range epochs {
		if err := s.Write(rows); err != nil {
			t.Fatal(err)
		}
		p, err := s.Precommit(uint64(i + 1))
		if err != nil {
			t.Fatal(err)
		}
		if err := s.Commit(p); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
}

func readKafka(t *testing.T, o KafkaOptions, keep Options) (*Collector, KafkaStats, error) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c := NewCollector(keep.Keep())
	st, err := ReadKafka(ctx, o, func(rows []sinks.MinuteRow) error {
		c.Add(rows)
		return nil
	})
	return c, st, err
}

// TestKafkaInput: the compacted das.sql-minute topic, written by the real
// sink (at-least-once and transactional), with corrections and a record
// that is not a minute row, read to its end offsets, gives the report of
// the final rows — before and after the broker compacts the topic.
func TestKafkaInput(t *testing.T) {
	cur, base := fixture()
	v1 := make([]sinks.MinuteRow, len(cur))
	copy(v1, cur)
	fix := v1[3]
	fix.Version = 2
	v1[3].Count = 1 // A, minute 3: the correction replaces it
	want := mustBuild(t, concat(cur, base), curOpts())

	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	const topic, txnTopic = "das.sql-minute", "das.sql-minute-txn"
	writeKafka(t, sinkkafka.Options{Brokers: c.Addrs(), Topic: topic, Partitions: 3}, v1, []sinks.MinuteRow{fix}, base)
	writeKafka(t, sinkkafka.Options{Brokers: c.Addrs(), Topic: txnTopic, Partitions: 2, TransactionalID: "das-report-test",
		SpoolDir: t.TempDir(), NoSync: true, Timeout: 10 * time.Second}, v1, []sinks.MinuteRow{fix}, base)
	kafkatest.Produce(t, c.Addrs(), &kgo.Record{Topic: topic, Partition: 1, Key: []byte("not|a|key"), Value: []byte("{}")})

	for _, tp := range []string{topic, txnTopic} {
		col, st, err := readKafka(t, KafkaOptions{Brokers: c.Addrs(), Topic: tp}, Options{})
		if err != nil {
			t.Fatalf("%s: %v", tp, err)
		}
		wantBad := int64(0)
		if tp == topic {
			wantBad = 1
		}
		if st.Records != int64(len(v1)+1+len(base)) || st.BadRecords != wantBad || (wantBad > 0) != strings.Contains(st.FirstBad, "offset") {
			t.Fatalf("%s: stats %+v", tp, st)
		}
		got := mustBuild(t, col.Rows(), curOpts())
		if !reflect.DeepEqual(got.Templates, want.Templates) || got.Overall.Statements != 1101 {
			t.Fatalf("%s: report differs from the final rows' (%d statements)", tp, got.Overall.Statements)
		}
	}

	// Compaction removes the superseded version 1; the result is the same.
	c.Compact()
	col, st, err := readKafka(t, KafkaOptions{Brokers: c.Addrs(), Topic: topic}, curOpts())
	if err != nil {
		t.Fatal(err)
	}
	if got := mustBuild(t, col.Rows(), curOpts()); !reflect.DeepEqual(got.Templates, want.Templates) {
		t.Fatalf("after compaction the report differs (%d records read)", st.Records)
	}
	if col.Stats().Kept != len(cur) {
		t.Fatalf("the range filter kept %d rows, want %d", col.Stats().Kept, len(cur))
	}
}

func TestKafkaInputErrors(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	c.CreateTopic("empty", 2, nil)
	for _, tc := range []struct {
		name string
		o    KafkaOptions
		want error
		msg  string
	}{
		{"empty topic", KafkaOptions{Brokers: c.Addrs(), Topic: "empty"}, ErrNoInput, "topic empty is empty"},
		{"missing topic", KafkaOptions{Brokers: c.Addrs(), Topic: "missing"}, ErrNoInput, "does not exist"},
		{"no broker", KafkaOptions{Brokers: []string{"127.0.0.1:1"}, Topic: "t", OpenTimeout: 500 * time.Millisecond},
			nil, "(check the broker addresses, TLS and credentials)"},
		{"no topic", KafkaOptions{Brokers: c.Addrs()}, nil, "needs brokers and a topic"},
	} {
		_, _, err := readKafka(t, tc.o, Options{})
		if err == nil || tc.want != nil && !errors.Is(err, tc.want) || !strings.Contains(err.Error(), tc.msg) {
			t.Errorf("%s: %v, want %v containing %q", tc.name, err, tc.want, tc.msg)
		}
	}
}
