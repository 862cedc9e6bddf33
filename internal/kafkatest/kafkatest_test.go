package kafkatest_test

import (
	"fmt"
	"testing"

	"github.com/twmb/franz-go/pkg/kgo"
	"go.uber.org/goleak"

	"github.com/das-project/das/internal/kafkatest"
)

func TestMain(m *testing.M) {
	kafkatest.ServeBrokerIfChild()
	goleak.VerifyTestMain(m)
}

func values(n, from int) [][]byte {
	out := make([][]byte, n)
	for i := range out {
		out[i] = fmt.Appendf(nil, "v%d", from+i)
	}
	return out
}

func checkRead(t *testing.T, addrs []string, topic string, want int) {
	t.Helper()
	recs := kafkatest.ReadAll(t, addrs, topic)
	if len(recs) != want {
		t.Fatalf("read %d records, want %d", len(recs), want)
	}
	for i, r := range recs {
		if string(r.Value) != fmt.Sprintf("v%d", i) || r.Offset != int64(i) {
			t.Fatalf("record %d: offset %d value %q", i, r.Offset, r.Value)
		}
	}
}

func TestClusterRestartKeepsData(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 2, Persist: true})
	c.CreateTopic("t", 1, nil)
	addrs := c.Addrs()
	if offs := kafkatest.ProduceValues(t, addrs, "t", 0, values(5, 0)...); offs[4] != 4 {
		t.Fatalf("offsets %v", offs)
	}
	c.Restart()
	if got := c.Addrs(); fmt.Sprint(got) != fmt.Sprint(addrs) {
		t.Fatalf("addresses changed across restart: %v → %v", addrs, got)
	}
	kafkatest.ProduceValues(t, addrs, "t", 0, values(5, 5)...)
	checkRead(t, addrs, "t", 10)
	before := c.LeaderFor("t", 0)
	if after := c.MoveLeader("t", 0); after == before || c.LeaderFor("t", 0) != after {
		t.Fatalf("leader %d → %d, LeaderFor says %d", before, after, c.LeaderFor("t", 0))
	}
	checkRead(t, addrs, "t", 10)
}

func TestBrokerProcessSurvivesKill(t *testing.T) {
	b := kafkatest.StartBrokerProcess(t, kafkatest.BrokerConfig{Topics: map[string]int32{"t": 1}})
	kafkatest.ProduceValues(t, b.Addrs(), "t", 0, values(5, 0)...)
	b.Kill()
	b.Start()
	kafkatest.CreateTopic(t, b.Addrs(), "t", 1, nil) // exists: not an error
	kafkatest.ProduceValues(t, b.Addrs(), "t", 0, values(5, 5)...)
	checkRead(t, b.Addrs(), "t", 10)
	b.Stop()
	b.Start()
	checkRead(t, b.Addrs(), "t", 10)
	if u := b.URI("t"); u != "kafka://"+b.Addrs()[0]+"/t" {
		t.Fatalf("URI %q", u)
	}
}

func TestProduceToPartitions(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	c.CreateTopic("t", 3, nil)
	var recs []*kgo.Record
	for p := range int32(3) {
		for i := range 4 {
			recs = append(recs, &kgo.Record{Topic: "t", Partition: p, Value: fmt.Appendf(nil, "%d-%d", p, i)})
		}
	}
	kafkatest.Produce(t, c.Addrs(), recs...)
	got := kafkatest.ReadAll(t, c.Addrs(), "t")
	if len(got) != 12 {
		t.Fatalf("read %d records", len(got))
	}
	for i, r := range got {
		if want := fmt.Sprintf("%d-%d", i/4, i%4); string(r.Value) != want || r.Partition != int32(i/4) {
			t.Fatalf("record %d: p%d %q, want %q", i, r.Partition, r.Value, want)
		}
	}
}
