// Package kafkatest runs real (fake) Kafka brokers for das tests: kfake
// clusters in-process, and kfake brokers in a child process that a test can
// kill and restart independently of the process under test.
//
// Tests talk to these brokers through the ordinary franz-go client; nothing
// here mocks the client. Everything started here is stopped by t.Cleanup.
//
// Leadership changes and restarts, the faults a consumer must survive:
//
//   - Cluster.MoveLeader moves one partition's leadership to another broker
//     and bumps its leader epoch (kfake's MoveTopicPartition); clients get
//     NOT_LEADER_FOR_PARTITION and follow the new leader.
//   - Cluster.ShufflePartitionLeaders does the same for every partition.
//   - Cluster.Restart closes an in-process cluster started with Persist and
//     starts it again on the same ports from the same data directory: every
//     connection drops, records and committed offsets survive.
//   - BrokerProcess.Kill / Start do the same with SIGKILL to a child process.
package kafkatest

import (
	"context"
	"fmt"
	"net"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kerr"
	"github.com/twmb/franz-go/pkg/kfake"
	"github.com/twmb/franz-go/pkg/kgo"
	"github.com/twmb/franz-go/pkg/kmsg"
)

// Options configures NewCluster. The zero value is a 3-broker in-memory
// cluster on random loopback ports.
type Options struct {
	// Brokers is the number of brokers. Default 3 (so leadership can move).
	Brokers int
	// Persist keeps the cluster's log in a t.TempDir() and fixes its ports so
	// that Restart brings back the same cluster at the same addresses.
	// Default false (memory only, Restart fails the test).
	Persist bool
	// Kfake are extra kfake options, applied last.
	Kfake []kfake.Opt
}

// Cluster is an in-process kfake cluster owned by one test.
//
// Restart replaces the embedded *kfake.Cluster; Cluster's methods must not be
// called concurrently with Restart.
type Cluster struct {
	*kfake.Cluster
	tb    testing.TB
	opts  []kfake.Opt // options to recreate it (ports and data dir fixed)
	addrs []string
}

// NewCluster starts a kfake cluster that is closed when the test ends.
func NewCluster(tb testing.TB, o Options) *Cluster {
	tb.Helper()
	n := o.Brokers
	if n <= 0 {
		n = 3
	}
	var opts []kfake.Opt
	if o.Persist {
		opts = append(opts, kfake.Ports(FreePorts(tb, n)...), kfake.DataDir(tb.TempDir()))
	} else {
		opts = append(opts, kfake.NumBrokers(n))
	}
	opts = append(opts, o.Kfake...)
	kc, err := kfake.NewCluster(opts...)
	if err != nil {
		tb.Fatalf("kafkatest: start cluster: %v", err)
	}
	c := &Cluster{Cluster: kc, tb: tb, addrs: kc.ListenAddrs()}
	if o.Persist {
		c.opts = opts
	}
	tb.Cleanup(func() { c.Cluster.Close() })
	return c
}

// Addrs returns the brokers' host:port addresses. They do not change across
// Restart.
func (c *Cluster) Addrs() []string { return slices.Clone(c.addrs) }

// URI returns the das input URI of topic on this cluster:
// kafka://HOST:PORT,HOST:PORT/TOPIC.
func (c *Cluster) URI(topic string) string { return URI(c.addrs, topic) }

// CreateTopic creates topic with the given partitions and configs (nil for
// none), failing the test on error.
func (c *Cluster) CreateTopic(topic string, partitions int32, configs map[string]string) {
	c.tb.Helper()
	if err := c.Cluster.CreateTopic(topic, partitions, configs); err != nil {
		c.tb.Fatalf("kafkatest: create topic %s: %v", topic, err)
	}
}

// MoveLeader moves the leadership of topic/partition to the next broker and
// returns the new leader's node ID.
func (c *Cluster) MoveLeader(topic string, partition int32) int32 {
	c.tb.Helper()
	cur := c.LeaderFor(topic, partition)
	if cur < 0 {
		c.tb.Fatalf("kafkatest: %s/%d has no leader", topic, partition)
	}
	next := (cur + 1) % int32(len(c.addrs))
	if err := c.MoveTopicPartition(topic, partition, next); err != nil {
		c.tb.Fatalf("kafkatest: move %s/%d to node %d: %v", topic, partition, next, err)
	}
	return next
}

// Restart closes the cluster and starts it again on the same ports from the
// same data directory. It requires Options.Persist. Clients see every
// connection drop and reconnect on their own.
func (c *Cluster) Restart() {
	c.tb.Helper()
	if c.opts == nil {
		c.tb.Fatal("kafkatest: Restart needs Options.Persist")
	}
	c.Cluster.Close()
	var err error
	// The ports were just released; binding them again can race with a
	// lingering accept loop, so retry briefly.
	for range 50 {
		var kc *kfake.Cluster
		if kc, err = kfake.NewCluster(c.opts...); err == nil {
			c.Cluster = kc
			return
		}
		time.Sleep(20 * time.Millisecond)
	}
	c.tb.Fatalf("kafkatest: restart cluster: %v", err)
}

// URI formats the das input URI kafka://HOST:PORT[,HOST:PORT]/TOPIC.
func URI(addrs []string, topic string) string {
	return "kafka://" + strings.Join(addrs, ",") + "/" + topic
}

// FreePorts returns n loopback TCP ports that were free a moment ago.
func FreePorts(tb testing.TB, n int) []int {
	tb.Helper()
	ports := make([]int, 0, n)
	var lns []net.Listener
	defer func() {
		for _, ln := range lns {
			ln.Close()
		}
	}()
	for range n {
		ln, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			tb.Fatalf("kafkatest: free port: %v", err)
		}
		lns = append(lns, ln)
		ports = append(ports, ln.Addr().(*net.TCPAddr).Port)
	}
	return ports
}

// Client returns a franz-go client for addrs, closed when the test ends.
func Client(tb testing.TB, addrs []string, opts ...kgo.Opt) *kgo.Client {
	tb.Helper()
	cl, err := kgo.NewClient(append([]kgo.Opt{kgo.SeedBrokers(addrs...)}, opts...)...)
	if err != nil {
		tb.Fatalf("kafkatest: client: %v", err)
	}
	tb.Cleanup(cl.Close)
	return cl
}

// Produce writes records synchronously through one idempotent producer and
// fails the test on any error. Every record goes to its Partition. The
// records are updated in place with their offsets.
func Produce(tb testing.TB, addrs []string, recs ...*kgo.Record) {
	tb.Helper()
	cl, err := kgo.NewClient(kgo.SeedBrokers(addrs...), kgo.RecordPartitioner(kgo.ManualPartitioner()))
	if err != nil {
		tb.Fatalf("kafkatest: producer: %v", err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx, recs...).FirstErr(); err != nil {
		tb.Fatalf("kafkatest: produce: %v", err)
	}
}

// ProduceValues writes values to one partition of topic, in order, and
// returns their offsets.
func ProduceValues(tb testing.TB, addrs []string, topic string, partition int32, values ...[]byte) []int64 {
	tb.Helper()
	recs := make([]*kgo.Record, len(values))
	for i, v := range values {
		recs[i] = &kgo.Record{Topic: topic, Partition: partition, Value: v}
	}
	Produce(tb, addrs, recs...)
	offs := make([]int64, len(recs))
	for i, r := range recs {
		offs[i] = r.Offset
	}
	return offs
}

// EndOffsets returns each partition's end offset of topic: the high
// watermark, or with readCommitted the last stable offset.
func EndOffsets(ctx context.Context, cl *kgo.Client, topic string, readCommitted bool) (map[int32]int64, error) {
	meta := kmsg.NewPtrMetadataRequest()
	mt := kmsg.NewMetadataRequestTopic()
	mt.Topic = kmsg.StringPtr(topic)
	meta.Topics = append(meta.Topics, mt)
	mresp, err := meta.RequestWith(ctx, cl)
	if err != nil {
		return nil, err
	}
	if len(mresp.Topics) != 1 {
		return nil, fmt.Errorf("kafkatest: metadata for %s: %d topics", topic, len(mresp.Topics))
	}
	if err := kerrOf(mresp.Topics[0].ErrorCode); err != nil {
		return nil, fmt.Errorf("kafkatest: metadata for %s: %w", topic, err)
	}
	req := kmsg.NewPtrListOffsetsRequest()
	if readCommitted {
		req.IsolationLevel = 1
	}
	rt := kmsg.NewListOffsetsRequestTopic()
	rt.Topic = topic
	for _, p := range mresp.Topics[0].Partitions {
		rp := kmsg.NewListOffsetsRequestTopicPartition()
		rp.Partition = p.Partition
		rp.Timestamp = -1 // latest
		rt.Partitions = append(rt.Partitions, rp)
	}
	req.Topics = append(req.Topics, rt)
	shards := cl.RequestSharded(ctx, req)
	ends := make(map[int32]int64)
	for _, sh := range shards {
		if sh.Err != nil {
			return nil, sh.Err
		}
		for _, t := range sh.Resp.(*kmsg.ListOffsetsResponse).Topics {
			for _, p := range t.Partitions {
				if err := kerrOf(p.ErrorCode); err != nil {
					return nil, fmt.Errorf("kafkatest: list offsets %s/%d: %w", topic, p.Partition, err)
				}
				ends[p.Partition] = p.Offset
			}
		}
	}
	return ends, nil
}

// ReadAll reads every committed record of topic up to the end offsets seen
// when it starts, ordered by partition then offset.
func ReadAll(tb testing.TB, addrs []string, topic string) []*kgo.Record {
	tb.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	admin := Client(tb, addrs)
	ends, err := EndOffsets(ctx, admin, topic, true)
	if err != nil {
		tb.Fatalf("kafkatest: %v", err)
	}
	parts := make(map[int32]kgo.Offset)
	for p := range ends {
		parts[p] = kgo.NewOffset().AtStart()
	}
	cl := Client(tb, addrs,
		kgo.ConsumePartitions(map[string]map[int32]kgo.Offset{topic: parts}),
		kgo.FetchIsolationLevel(kgo.ReadCommitted()),
		kgo.KeepControlRecords(),
		kgo.FetchMaxWait(100*time.Millisecond))
	next := make(map[int32]int64)
	done := func() bool {
		for p, end := range ends {
			if next[p] < end {
				return false
			}
		}
		return true
	}
	var out []*kgo.Record
	for !done() {
		fs := cl.PollFetches(ctx)
		if err := ctx.Err(); err != nil {
			tb.Fatalf("kafkatest: read %s: %v (at %v, ends %v)", topic, err, next, ends)
		}
		fs.EachError(func(t string, p int32, err error) { tb.Fatalf("kafkatest: read %s/%d: %v", t, p, err) })
		fs.EachRecord(func(r *kgo.Record) {
			if r.Offset >= ends[r.Partition] {
				return
			}
			next[r.Partition] = r.Offset + 1
			if !r.Attrs.IsControl() {
				out = append(out, r)
			}
		})
	}
	slices.SortStableFunc(out, func(a, b *kgo.Record) int {
		if a.Partition != b.Partition {
			return int(a.Partition - b.Partition)
		}
		return int(a.Offset - b.Offset)
	})
	return out
}

func kerrOf(code int16) error { return kerr.ErrorForCode(code) }
