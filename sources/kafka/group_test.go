package kafka_test

import (
	"context"
	"fmt"
	"maps"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources/kafka"
)

// groupState is the engines' shared durable state: the offsets every
// processed batch reached and the offsets delivered, per partition. In a
// real deployment each das process restores a moved partition's state from
// a changelog; here the processes share memory.
type groupState struct {
	mu       sync.Mutex
	next     map[int32]int64
	got      map[int32][]int64
	problems []string
}

func (g *groupState) add(member string, b *batchCopy) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for _, off := range b.offsets {
		if off != g.next[b.p] {
			g.problems = append(g.problems, fmt.Sprintf("%s: p%d offset %d, expected %d", member, b.p, off, g.next[b.p]))
		}
		g.got[b.p] = append(g.got[b.p], off)
		g.next[b.p] = off + 1
	}
	g.next[b.p] = b.next
}

func (g *groupState) count() int {
	g.mu.Lock()
	defer g.mu.Unlock()
	n := 0
	for _, s := range g.got {
		n += len(s)
	}
	return n
}

type batchCopy struct {
	p       int32
	offsets []int64
	next    int64
}

// member runs one source in its own goroutine, as one das task would.
type member struct {
	name string
	src  *kafka.Source
	do   chan func(*kafka.Source)
	stop chan struct{}
	done chan struct{}

	mu       sync.Mutex
	assigned map[int32]bool
	revokes  int
	problems []string
}

func startMember(t *testing.T, name string, addrs []string, g *groupState) *member {
	m := &member{name: name, do: make(chan func(*kafka.Source)), stop: make(chan struct{}), done: make(chan struct{}),
		assigned: map[int32]bool{}}
	src, err := kafka.New(kafka.Options{
		Brokers: addrs, Topic: topic, Group: "das-sqlagg", Assign: kafka.AssignGroup,
		PollTimeout: 20 * time.Millisecond,
		OnAssigned: func(ps []int32) (map[int32]int64, error) {
			m.mu.Lock()
			for _, p := range ps {
				m.assigned[p] = true
			}
			m.mu.Unlock()
			g.mu.Lock()
			defer g.mu.Unlock()
			offs := map[int32]int64{}
			for _, p := range ps {
				if o, ok := g.next[p]; ok {
					offs[p] = o
				}
			}
			return offs, nil
		},
		OnRevoked: func(ps []int32, lost bool) {
			m.mu.Lock()
			defer m.mu.Unlock()
			m.revokes++
			for _, p := range ps {
				delete(m.assigned, p)
			}
		},
		ClientOpts: []kgo.Opt{kgo.HeartbeatInterval(100 * time.Millisecond), kgo.FetchMaxPartitionBytes(700)},
	})
	if err != nil {
		t.Fatal(err)
	}
	m.src = src
	ctx, cancel := context.WithCancel(context.Background())
	if err := src.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	go func() {
		defer close(m.done)
		defer cancel()
		defer src.Close()
		for {
			select {
			case <-m.stop:
				return
			case f := <-m.do:
				f(src)
				continue
			default:
			}
			b, err := src.Next(ctx)
			if err != nil {
				m.mu.Lock()
				m.problems = append(m.problems, fmt.Sprintf("Next: %v", err))
				m.mu.Unlock()
				return
			}
			if b.Partition == kafka.NoPartition {
				continue
			}
			m.mu.Lock()
			if !m.assigned[b.Partition] {
				m.problems = append(m.problems, fmt.Sprintf("batch of p%d while not assigned", b.Partition))
			}
			m.mu.Unlock()
			c := &batchCopy{p: b.Partition, next: b.NextOffset}
			c.offsets = append(c.offsets, b.ItemOffsets...)
			for _, r := range b.Rejects {
				c.offsets = append(c.offsets, r.Offset)
			}
			slices.Sort(c.offsets)
			g.add(m.name, c)
		}
	}()
	t.Cleanup(m.close)
	return m
}

func (m *member) close() {
	select {
	case <-m.stop:
	default:
		close(m.stop)
	}
	<-m.done
}

func (m *member) partitions() []int32 {
	m.mu.Lock()
	defer m.mu.Unlock()
	return slices.Sorted(maps.Keys(m.assigned))
}

func waitFor(t *testing.T, what string, d time.Duration, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(d)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestGroupRebalance: two members share a topic; partitions move when the
// second joins and when the first leaves; every record is processed once,
// in order, by whoever owns its partition at the time.
func TestGroupRebalance(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	c.CreateTopic(topic, 4, nil)
	w := produceWorkload(t, c.Addrs(), topic, 4, 50, 11, nil)
	g := &groupState{next: map[int32]int64{}, got: map[int32][]int64{}}

	a := startMember(t, "a", c.Addrs(), g)
	waitFor(t, "a to read 100 records", 20*time.Second, func() bool { return g.count() >= 100 })
	b := startMember(t, "b", c.Addrs(), g)
	waitFor(t, "b to get partitions", 30*time.Second, func() bool {
		pa, pb := a.partitions(), b.partitions()
		return len(pb) > 0 && len(pa)+len(pb) == 4
	})
	produceWorkload(t, c.Addrs(), topic, 4, 50, 11, w)
	waitFor(t, "all records", 20*time.Second, func() bool { return g.count() == total(w) })

	// CommitOffsets commits only the member's own partitions.
	ownA := a.partitions()
	errc := make(chan error, 1)
	a.do <- func(s *kafka.Source) {
		errc <- s.CommitOffsets(context.Background(), map[int32]int64{0: 1, 1: 1, 2: 1, 3: 1})
	}
	if err := <-errc; err != nil {
		t.Fatal(err)
	}
	got := committed(t, c.Addrs(), "das-sqlagg")
	if !slices.Equal(slices.Sorted(maps.Keys(got)), ownA) {
		t.Fatalf("a owns %v but committed %v", ownA, got)
	}

	a.close() // leaves the group: b gets everything
	waitFor(t, "b to own all partitions", 30*time.Second, func() bool { return len(b.partitions()) == 4 })
	produceWorkload(t, c.Addrs(), topic, 4, 30, 11, w)
	waitFor(t, "all records", 20*time.Second, func() bool { return g.count() == total(w) })
	b.close()

	for _, m := range []*member{a, b} {
		if len(m.problems) > 0 {
			t.Errorf("%s: %v", m.name, m.problems)
		}
	}
	if a.revokes == 0 {
		t.Error("a never saw a revocation when b joined")
	}
	if len(g.problems) > 0 {
		t.Fatalf("delivery problems: %v", g.problems)
	}
	for p, seqs := range w {
		if len(g.got[p]) != len(seqs) {
			t.Fatalf("p%d: %d records, want %d", p, len(g.got[p]), len(seqs))
		}
	}
}
