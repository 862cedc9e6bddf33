package kafka_test

import (
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/kafka"
	"github.com/das-project/das/stream"
)

const baseTs = 1_767_225_600_000 // 2026-01-01T00:00:00Z

// event returns the seq-th event of partition p. Its fields let a reader
// check where it came from: instance names the partition, latency_us is the
// sequence number and sql repeats it.
func event(p int32, seq int) sources.Event {
	return sources.Event{
		TsMs:      baseTs + int64(seq)*1000,
		Instance:  fmt.Sprintf("10.0.%d.1:3306", p),
		DB:        "shop",
		User:      "app",
		SQL:       []byte(fmt.Sprintf("SELECT * FROM t WHERE id = %d /* \u00e9\\ */", seq)),
		LatencyUs: int64(seq),
		RowsSent:  1,
	}
}

// badValue is a record value that does not decode.
func badValue(p int32, seq int) []byte {
	return []byte(fmt.Sprintf(`{"ts_ms": %d, "instance": "10.0.%d.1:3306", "sql": `, baseTs, p))
}

// want is what a partition holds: for each offset, the event sequence
// number, or -1 for a record that must be rejected.
type want map[int32][]int

// produceWorkload writes n records to each of parts partitions, every
// badEvery-th of them undecodable (never when badEvery is 0), and returns
// what each offset holds. seq numbers continue from already produced ones.
func produceWorkload(t *testing.T, addrs []string, topic string, parts int32, n, badEvery int, w want) want {
	t.Helper()
	if w == nil {
		w = want{}
	}
	var recs []*kgo.Record
	for p := range parts {
		for range n {
			seq := len(w[p])
			var v []byte
			if badEvery > 0 && seq%badEvery == badEvery-1 {
				v = badValue(p, seq)
				w[p] = append(w[p], -1)
			} else {
				ev := event(p, seq)
				v = sources.AppendJSON(nil, &ev)
				w[p] = append(w[p], seq)
			}
			recs = append(recs, &kgo.Record{Topic: topic, Partition: p, Value: v})
		}
	}
	kafkatest.Produce(t, addrs, recs...)
	for _, r := range recs {
		if got := r.Offset; got >= int64(len(w[r.Partition])) {
			t.Fatalf("produced %d/%d at unexpected offset %d", r.Partition, len(w[r.Partition]), got)
		}
	}
	return w
}

// ledger is the engine's view: what it processed and checkpointed.
type ledger struct {
	t         *testing.T
	committed map[int32][]int // offset → seq (-1 rejected), in arrival order
	pending   map[int32][]int
	offsets   map[int32]int64 // checkpointed NextOffsets
	live      map[int32]int64 // NextOffsets including pending batches
	batches   int
	idle      int
}

func newLedger(t *testing.T) *ledger {
	return &ledger{t: t, committed: map[int32][]int{}, pending: map[int32][]int{},
		offsets: map[int32]int64{}, live: map[int32]int64{}}
}

// add checks a batch's invariants and records it as processed.
func (l *ledger) add(b *stream.Batch[sources.Event]) {
	t := l.t
	t.Helper()
	if b.Partition == kafka.NoPartition {
		if len(b.Items)+len(b.Rejects) != 0 || b.NextOffset != -1 {
			t.Fatalf("idle batch with %d items, %d rejects, next %d", len(b.Items), len(b.Rejects), b.NextOffset)
		}
		l.idle++
		return
	}
	l.batches++
	p := b.Partition
	if len(b.ItemOffsets) != len(b.Items) {
		t.Fatalf("p%d: %d items, %d item offsets", p, len(b.Items), len(b.ItemOffsets))
	}
	type rec struct {
		off int64
		seq int
	}
	var recs []rec
	for i := range b.Items {
		ev := &b.Items[i]
		seq := int(ev.LatencyUs)
		wantEv := event(p, seq)
		if ev.Instance != wantEv.Instance || string(ev.SQL) != string(wantEv.SQL) || ev.TsMs != wantEv.TsMs {
			t.Fatalf("p%d offset %d: got %+v (sql %q), want %+v", p, b.ItemOffsets[i], *ev, ev.SQL, wantEv)
		}
		recs = append(recs, rec{b.ItemOffsets[i], seq})
	}
	for _, r := range b.Rejects {
		if r.Partition != p || r.Reason != sources.ReasonMalformed || r.Detail == "" {
			t.Fatalf("p%d: reject %+v", p, r)
		}
		if want := string(badValue(p, 0)); string(r.Raw) != want {
			t.Fatalf("p%d offset %d: reject raw %q, want %q", p, r.Offset, r.Raw, want)
		}
		recs = append(recs, rec{r.Offset, -1})
	}
	// Merge by offset: items and rejects are each in partition order.
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && recs[j].off < recs[j-1].off; j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
	prev := l.live[p]
	for _, r := range recs {
		if r.off < prev {
			t.Fatalf("p%d: offset %d delivered again (next was %d)", p, r.off, prev)
		}
		if r.off >= b.NextOffset {
			t.Fatalf("p%d: offset %d at or past the batch's NextOffset %d", p, r.off, b.NextOffset)
		}
		l.pending[p] = append(l.pending[p], r.seq)
		if int(r.off) != len(l.committed[p])+len(l.pending[p])-1 {
			t.Fatalf("p%d: offset %d delivered after %d records (gap or repeat)", p, r.off, len(l.committed[p])+len(l.pending[p])-1)
		}
		prev = r.off + 1
	}
	if b.NextOffset < l.live[p] {
		t.Fatalf("p%d: NextOffset went back from %d to %d", p, l.live[p], b.NextOffset)
	}
	l.live[p] = b.NextOffset
}

// checkpoint makes the pending batches durable.
func (l *ledger) checkpoint() {
	for p, s := range l.pending {
		l.committed[p] = append(l.committed[p], s...)
	}
	clear(l.pending)
	for p, o := range l.live {
		l.offsets[p] = o
	}
}

// crash forgets what was processed since the last checkpoint.
func (l *ledger) crash() {
	clear(l.pending)
	clear(l.live)
	for p, o := range l.offsets {
		l.live[p] = o
	}
}

func (l *ledger) resume() map[int32]int64 {
	m := make(map[int32]int64, len(l.offsets))
	for p, o := range l.offsets {
		m[p] = o
	}
	return m
}

// check compares the committed records with w.
func (l *ledger) check(w want) {
	l.t.Helper()
	for p, seqs := range w {
		got := l.committed[p]
		if len(got) != len(seqs) {
			l.t.Fatalf("p%d: committed %d records, want %d", p, len(got), len(seqs))
		}
		for i := range seqs {
			if got[i] != seqs[i] {
				l.t.Fatalf("p%d offset %d: got seq %d, want %d", p, i, got[i], seqs[i])
			}
		}
	}
	for p := range l.committed {
		if _, ok := w[p]; !ok {
			l.t.Fatalf("records from unexpected partition %d", p)
		}
	}
}

func total(w want) int {
	n := 0
	for _, s := range w {
		n += len(s)
	}
	return n
}

func (l *ledger) count() int {
	n := 0
	for _, s := range l.committed {
		n += len(s)
	}
	for _, s := range l.pending {
		n += len(s)
	}
	return n
}

// drain calls Next until the ledger holds n records (committed + pending)
// or the source ends, failing after timeout.
func drain(t *testing.T, src *kafka.Source, l *ledger, n int, timeout time.Duration) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), timeout)
	defer cancel()
	for l.count() < n {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatalf("Next after %d of %d records: %v", l.count(), n, err)
		}
		l.add(b)
	}
}

func newSource(t *testing.T, o kafka.Options) *kafka.Source {
	t.Helper()
	src, err := kafka.New(o)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { src.Close() })
	return src
}

func open(t *testing.T, src *kafka.Source, resume map[int32]int64) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := src.Open(ctx, resume); err != nil {
		t.Fatalf("Open(%v): %v", resume, err)
	}
}

func appendJSON(ev sources.Event) []byte { return sources.AppendJSON(nil, &ev) }
