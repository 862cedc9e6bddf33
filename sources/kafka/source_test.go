package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"slices"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources/kafka"
)

const topic = "das.sql-events"

// TestResumeExactly runs Open/Next/Close cycles with random checkpoints and
// crashes: the checkpointed records must be every record exactly once.
func TestResumeExactly(t *testing.T) {
	for _, seed := range []uint64{1, 2, 3} {
		t.Run(fmt.Sprint("seed=", seed), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 0))
			c := kafkatest.NewCluster(t, kafkatest.Options{})
			c.CreateTopic(topic, 3, nil)
			w := produceWorkload(t, c.Addrs(), topic, 3, 100, 7, nil)
			l := newLedger(t)
			for cycle := 0; l.count() < total(w) || len(l.pending) > 0; cycle++ {
				if cycle > 200 {
					t.Fatalf("no progress after %d cycles: %d of %d", cycle, l.count(), total(w))
				}
				src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, PollTimeout: 50 * time.Millisecond,
					// Bounded fetches make a cycle end mid-partition. Not below
					// the largest produced batch (~25 KiB): a broker only
					// returns an over-size batch for the first partition of a
					// response (KIP-74) and kfake does not rotate partitions,
					// so a smaller bound can starve one partition for minutes.
					ClientOpts: []kgo.Opt{kgo.FetchMaxPartitionBytes(int32(32<<10 + rng.IntN(32<<10)))}})
				open(t, src, l.resume())
				ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
				for range 1 + rng.IntN(6) {
					b, err := src.Next(ctx)
					if err != nil {
						t.Fatal(err)
					}
					l.add(b)
					if rng.IntN(3) == 0 {
						l.checkpoint()
					}
				}
				cancel()
				if rng.IntN(2) == 0 {
					l.checkpoint()
				} else {
					l.crash()
				}
				if err := src.Close(); err != nil {
					t.Fatal(err)
				}
			}
			l.check(w)
		})
	}
}

func TestRejectsAndSplit(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{})
	c.CreateTopic(topic, 4, nil)
	w := produceWorkload(t, c.Addrs(), topic, 4, 40, 3, nil)
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true})
	open(t, src, nil)
	if got := src.Partitions(); !slices.Equal(got, []int32{0, 1, 2, 3}) {
		t.Fatalf("Partitions() = %v", got)
	}
	l := newLedger(t)
	multi := 0
	ctx := context.Background()
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		if len(b.Items) > 0 && len(b.Rejects) > 0 {
			multi++
		}
		l.add(b) // checks every item and reject belongs to b.Partition
	}
	l.checkpoint()
	l.check(w)
	if l.batches < 4 {
		t.Fatalf("%d batches for 4 partitions", l.batches)
	}
	if multi == 0 {
		t.Fatal("no batch mixed items and rejects")
	}
	rejects := 0
	for _, s := range l.committed {
		for _, v := range s {
			if v < 0 {
				rejects++
			}
		}
	}
	if rejects != 4*13 {
		t.Fatalf("%d rejects, want %d", rejects, 4*13)
	}
	// EOF is sticky.
	if _, err := src.Next(ctx); !errors.Is(err, io.EOF) {
		t.Fatalf("Next after EOF: %v", err)
	}
}

func TestIdleBatches(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{})
	c.CreateTopic(topic, 2, nil)
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, PollTimeout: 30 * time.Millisecond})
	open(t, src, nil)
	ctx := context.Background()
	start := time.Now()
	for range 3 {
		b, err := src.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if b.Partition != kafka.NoPartition || b.NextOffset != -1 || len(b.Items) != 0 {
			t.Fatalf("idle topic gave batch %+v", b)
		}
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("3 idle polls of 30ms took %v", d)
	}
	w := produceWorkload(t, c.Addrs(), topic, 2, 5, 0, nil)
	l := newLedger(t)
	drain(t, src, l, total(w), 10*time.Second)
	l.checkpoint()
	l.check(w)
	if l.idle == 0 {
		// Possible but unlikely; the loop above must still have ended.
		t.Log("no idle batch while draining")
	}
	// A context that is done wins over an idle batch.
	cctx, cancel := context.WithCancel(ctx)
	cancel()
	if _, err := src.Next(cctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("Next with canceled ctx: %v", err)
	}
}

func TestStopAtEnd(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{})
	c.CreateTopic(topic, 2, nil)
	w := produceWorkload(t, c.Addrs(), topic, 2, 20, 0, nil)
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true})
	if !src.Bounded() {
		t.Fatal("StopAtEnd source not bounded")
	}
	open(t, src, map[int32]int64{1: 5})
	// Records produced after Open are past the end.
	produceWorkload(t, c.Addrs(), topic, 2, 10, 0, w)
	l := newLedger(t)
	l.committed[1], l.live[1] = make([]int, 5), 5 // resumed at 5
	drain(t, src, l, 1<<30, 10*time.Second)
	if got := len(l.pending[0]); got != 20 {
		t.Fatalf("p0: %d records, want 20", got)
	}
	if got := len(l.pending[1]); got != 15 {
		t.Fatalf("p1: %d records from offset 5, want 15", got)
	}
	if l.live[0] != 20 || l.live[1] != 20 {
		t.Fatalf("NextOffsets %v, want 20 and 20", l.live)
	}
	src.Close()

	// A partition whose records were all deleted is empty though its end
	// is not 0: EOF at once, from the start or from a resume offset below
	// the log start when data loss is allowed.
	if err := c.DeleteRecords(topic, 0, 30); err != nil {
		t.Fatal(err)
	}
	for _, resume := range []map[int32]int64{nil, {0: 3}} {
		src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, Partitions: []int32{0}, StopAtEnd: true, AllowDataLoss: true})
		open(t, src, resume)
		if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("emptied partition, resume %v: Next = %v, want EOF", resume, err)
		}
	}

	// Resuming at the end gives EOF at once, StartLatest too.
	for _, o := range []kafka.Options{
		{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true},
		{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true, Start: kafka.StartLatest},
	} {
		src := newSource(t, o)
		resume := map[int32]int64{0: 30, 1: 30}
		if o.Start == kafka.StartLatest {
			resume = nil
		}
		open(t, src, resume)
		if _, err := src.Next(context.Background()); !errors.Is(err, io.EOF) {
			t.Fatalf("%+v: Next at end: %v", o, err)
		}
	}
}

// TestTransactionalInput: records of aborted transactions are skipped, and
// NextOffset moves past transaction markers so a bounded source ends.
func TestTransactionalInput(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{})
	c.CreateTopic(topic, 1, nil)
	prod := kafkatest.Client(t, c.Addrs(), kgo.TransactionalID("agent-1"), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	var wantSeqs []int
	seq := 0
	for i, commit := range []bool{true, false, true, false} {
		if err := prod.BeginTransaction(); err != nil {
			t.Fatal(err)
		}
		for range 3 {
			ev := event(0, seq)
			if err := prod.ProduceSync(ctx, &kgo.Record{Topic: topic, Value: appendJSON(ev)}).FirstErr(); err != nil {
				t.Fatal(err)
			}
			if commit {
				wantSeqs = append(wantSeqs, seq)
			}
			seq++
		}
		if err := prod.EndTransaction(ctx, kgo.TransactionEndTry(commit)); err != nil {
			t.Fatalf("txn %d: %v", i, err)
		}
	}
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true})
	open(t, src, nil)
	var got []int
	var next int64
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Items {
			got = append(got, int(ev.LatencyUs))
		}
		if b.Partition == 0 {
			next = b.NextOffset
		}
	}
	if !slices.Equal(got, wantSeqs) {
		t.Fatalf("got seqs %v, want %v", got, wantSeqs)
	}
	// 12 records + 4 markers.
	if next != 16 {
		t.Fatalf("final NextOffset %d, want 16 (past the last marker)", next)
	}
}

func TestOffsetOutOfRange(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{})
	c.CreateTopic(topic, 1, nil)
	w := produceWorkload(t, c.Addrs(), topic, 1, 20, 0, nil)
	if err := c.DeleteRecords(topic, 0, 10); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	nextErr := func(src *kafka.Source) error {
		for {
			b, err := src.Next(ctx)
			if err != nil || b.Partition != kafka.NoPartition {
				return err
			}
		}
	}
	for _, tc := range []struct {
		name   string
		resume int64
		bound  bool
	}{
		{"below log start", 3, false},
		{"past end", 25, false},
		{"past end bounded", 25, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: tc.bound})
			err := src.Open(ctx, map[int32]int64{0: tc.resume})
			if err == nil {
				err = nextErr(src)
			}
			if !errors.Is(err, kafka.ErrOffsetOutOfRange) {
				t.Fatalf("got %v, want ErrOffsetOutOfRange", err)
			}
		})
	}
	// AllowDataLoss restarts at the log start.
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, AllowDataLoss: true, StopAtEnd: true})
	open(t, src, map[int32]int64{0: 3})
	b, err := src.Next(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if b.ItemOffsets[0] != 10 || int(b.Items[0].LatencyUs) != w[0][10] {
		t.Fatalf("AllowDataLoss resumed at offset %d, want 10", b.ItemOffsets[0])
	}
}

func TestOpenErrors(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	c.CreateTopic(topic, 2, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, Partitions: []int32{1, 2}})
	if err := src.Open(ctx, nil); !errors.Is(err, kafka.ErrUnknownPartition) {
		t.Fatalf("Open with partition 2 of 2: %v", err)
	}
	src = newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic})
	if _, err := src.Next(ctx); !errors.Is(err, kafka.ErrNotOpen) {
		t.Fatalf("Next before Open: %v", err)
	}
	if err := src.Open(ctx, map[int32]int64{0: -2}); !errors.Is(err, kafka.ErrBadOptions) {
		t.Fatalf("Open with negative offset: %v", err)
	}
	// An idle batch's position recorded by a naive engine is ignored.
	open(t, src, map[int32]int64{kafka.NoPartition: -1})
	if err := src.Open(ctx, nil); !errors.Is(err, kafka.ErrOpen) {
		t.Fatalf("second Open: %v", err)
	}
	src = newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: "no.such.topic"})
	if err := src.Open(ctx, nil); err == nil {
		t.Fatal("Open of a missing topic succeeded")
	}
}

// TestLeadershipChange moves partition leaders while the source reads.
func TestLeadershipChange(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 3})
	c.CreateTopic(topic, 3, nil)
	w := produceWorkload(t, c.Addrs(), topic, 3, 60, 0, nil)
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, PollTimeout: 50 * time.Millisecond,
		ClientOpts: []kgo.Opt{kgo.FetchMaxPartitionBytes(1000)}})
	open(t, src, nil)
	l := newLedger(t)
	drain(t, src, l, 60, 10*time.Second)
	for p := range int32(3) {
		c.MoveLeader(topic, p)
	}
	produceWorkload(t, c.Addrs(), topic, 3, 30, 0, w)
	drain(t, src, l, 180, 10*time.Second)
	c.ShufflePartitionLeaders()
	produceWorkload(t, c.Addrs(), topic, 3, 30, 0, w)
	drain(t, src, l, total(w), 20*time.Second)
	l.checkpoint()
	l.check(w)
}

// TestBrokerRestart restarts the whole in-process cluster mid-read.
func TestBrokerRestart(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1, Persist: true})
	c.CreateTopic(topic, 2, nil)
	w := produceWorkload(t, c.Addrs(), topic, 2, 50, 9, nil)
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, PollTimeout: 50 * time.Millisecond,
		ClientOpts: []kgo.Opt{kgo.FetchMaxPartitionBytes(800)}})
	open(t, src, nil)
	l := newLedger(t)
	drain(t, src, l, 40, 10*time.Second)
	c.Restart()
	produceWorkload(t, c.Addrs(), topic, 2, 50, 9, w)
	drain(t, src, l, total(w), 30*time.Second)
	l.checkpoint()
	l.check(w)
}

// TestBrokerProcessKill SIGKILLs a broker process mid-read and starts it
// again; the source rides through.
func TestBrokerProcessKill(t *testing.T) {
	if testing.Short() {
		t.Skip("starts a broker process")
	}
	b := kafkatest.StartBrokerProcess(t, kafkatest.BrokerConfig{Topics: map[string]int32{topic: 2}})
	w := produceWorkload(t, b.Addrs(), topic, 2, 50, 0, nil)
	src := newSource(t, kafka.Options{Brokers: b.Addrs(), Topic: topic, PollTimeout: 50 * time.Millisecond,
		ClientOpts: []kgo.Opt{kgo.FetchMaxPartitionBytes(800)}})
	open(t, src, nil)
	l := newLedger(t)
	drain(t, src, l, 30, 10*time.Second)
	b.Kill()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	// Whatever was already fetched keeps coming; then idle batches.
	for range 5 {
		bt, err := src.Next(ctx)
		if err != nil {
			t.Fatalf("Next while the broker is down: %v", err)
		}
		l.add(bt)
	}
	cancel()
	b.Start()
	produceWorkload(t, b.Addrs(), topic, 2, 50, 0, w)
	drain(t, src, l, total(w), 30*time.Second)
	l.checkpoint()
	l.check(w)
}

func TestCommitOffsets(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	c.CreateTopic(topic, 2, nil)
	produceWorkload(t, c.Addrs(), topic, 2, 10, 0, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()

	// Without a group there is nowhere to commit: a no-op.
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic})
	open(t, src, nil)
	if err := src.CommitOffsets(ctx, map[int32]int64{0: 3}); err != nil {
		t.Fatal(err)
	}
	src.Close()

	src = newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, Group: "das-direct"})
	if err := src.CommitOffsets(ctx, map[int32]int64{0: 3}); !errors.Is(err, kafka.ErrNotOpen) {
		t.Fatalf("CommitOffsets before Open: %v", err)
	}
	open(t, src, nil)
	if err := src.CommitOffsets(ctx, map[int32]int64{0: 3, 1: 7}); err != nil {
		t.Fatal(err)
	}
	if got := committed(t, c.Addrs(), "das-direct"); got[0] != 3 || got[1] != 7 || len(got) != 2 {
		t.Fatalf("committed %v, want 0:3 1:7", got)
	}
	// Commits are never read back: a new source starts where the engine says.
	src.Close()
	src = newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, Group: "das-direct", Partitions: []int32{0}})
	open(t, src, nil)
	b, err := src.Next(ctx)
	for err == nil && b.Partition == kafka.NoPartition {
		b, err = src.Next(ctx)
	}
	if err != nil || b.ItemOffsets[0] != 0 {
		t.Fatalf("first batch %+v, %v: want offset 0", b, err)
	}
}

func committed(t *testing.T, addrs []string, group string) map[int32]int64 {
	t.Helper()
	cl := kafkatest.Client(t, addrs)
	req := kmsg.NewPtrOffsetFetchRequest()
	req.Group = group
	rt := kmsg.NewOffsetFetchRequestTopic()
	rt.Topic = topic
	rt.Partitions = []int32{0, 1, 2, 3}
	req.Topics = append(req.Topics, rt)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	resp, err := req.RequestWith(ctx, cl)
	if err != nil {
		t.Fatal(err)
	}
	got := map[int32]int64{}
	for _, tp := range resp.Topics {
		for _, p := range tp.Partitions {
			if p.Offset >= 0 {
				got[p.Partition] = p.Offset
			}
		}
	}
	return got
}

// TestFinishedPartitions: a bounded read reports an empty partition as
// finished at once and a read one as soon as its end is delivered, so the
// engine's watermark does not wait for them.
func TestFinishedPartitions(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{})
	c.CreateTopic(topic, 3, nil)
	produceWorkload(t, c.Addrs(), topic, 2, 10, 0, nil) // partitions 0 and 1; 2 stays empty
	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true})
	open(t, src, nil)
	if got := src.FinishedPartitions(); len(got) != 1 || got[0] != 2 {
		t.Fatalf("after Open: finished %v, want [2] (the empty partition)", got)
	}
	for {
		if _, err := src.Next(context.Background()); err != nil {
			if !errors.Is(err, io.EOF) {
				t.Fatal(err)
			}
			break
		}
	}
	if got := src.FinishedPartitions(); len(got) != 3 {
		t.Fatalf("at EOF: finished %v, want all three", got)
	}
	unbounded := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic})
	open(t, unbounded, nil)
	if got := unbounded.FinishedPartitions(); got != nil {
		t.Fatalf("unbounded read reports finished partitions %v", got)
	}
}
