package kafka_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/internal/sketch"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
	"github.com/das-project/das/sources/kafka"
)

// TestArrowRecords: a record whose value is an Arrow IPC stream (das agent
// --format arrow) delivers all its rows, each at the record's offset, next
// to JSON records; a damaged row is a reject, a value that is not a
// readable stream one reject with its bytes, and the sketch bytes of every
// partial stay intact for the whole batch.
func TestArrowRecords(t *testing.T) {
	c := kafkatest.NewCluster(t, kafkatest.Options{})
	c.CreateTopic(topic, 1, nil)
	partial := func(i int64) sources.Event {
		var sk sketch.Sketch
		for j := range i {
			sk.Add(100 * (j + 1))
		}
		return sources.Event{TsMs: 60_000 * i, Instance: "10.0.0.1:3306", SQL: []byte(fmt.Sprintf("SELECT %d", i)),
			Src: "h/file/1/10.0.0.1:3306", Seq: i, TemplateID: uint64(i), Count: i, LatencyUs: 100 * i * (i + 1) / 2,
			LatencyMaxUs: 100 * i, LatencySketch: sk.Append(nil)}
	}
	var buf bytes.Buffer
	w, err := arrowipc.NewWriter(&buf, arrowipc.WriterOptions{AgentColumns: true, Compression: "zstd"})
	if err != nil {
		t.Fatal(err)
	}
	var want []sources.Event
	for i := int64(1); i <= 5; i++ {
		ev := partial(i)
		want = append(want, ev)
		if err := w.Write(&ev); err != nil {
			t.Fatal(err)
		}
	}
	bad := partial(6)
	bad.Errors = 99 // more errors than statements
	if err := w.Write(&bad); err != nil {
		t.Fatal(err)
	}
	if err := w.Close(); err != nil {
		t.Fatal(err)
	}
	stream := buf.Bytes()
	jsonEv := partial(7)
	cut := append([]byte{0xff, 0xff, 0xff, 0xff}, stream[4:len(stream)/3]...)

	cl, err := kgo.NewClient(kgo.SeedBrokers(c.Addrs()...), kgo.DefaultProduceTopic(topic))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := cl.ProduceSync(ctx,
		&kgo.Record{Value: stream},
		&kgo.Record{Value: appendJSON(jsonEv)},
		&kgo.Record{Value: cut},
	).FirstErr(); err != nil {
		t.Fatal(err)
	}

	src := newSource(t, kafka.Options{Brokers: c.Addrs(), Topic: topic, StopAtEnd: true})
	open(t, src, nil)
	var got []sources.Event
	var offsets []int64
	var rejects []string
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		// Everything in the batch stays valid until the next call.
		for i := range b.Items {
			ev := b.Items[i]
			ev.SQL, ev.LatencySketch = bytes.Clone(ev.SQL), bytes.Clone(ev.LatencySketch)
			got = append(got, ev)
		}
		offsets = append(offsets, b.ItemOffsets...)
		for _, r := range b.Rejects {
			rejects = append(rejects, fmt.Sprintf("%d %s", r.Offset, r.Reason))
		}
	}
	want = append(want, jsonEv)
	if len(got) != len(want) {
		t.Fatalf("got %d events, want %d", len(got), len(want))
	}
	for i := range want {
		g, w := sources.AppendJSON(nil, &got[i]), sources.AppendJSON(nil, &want[i])
		if !bytes.Equal(g, w) {
			t.Fatalf("event %d:\n got %s\nwant %s", i, g, w)
		}
	}
	if fmt.Sprint(offsets) != "[0 0 0 0 0 1]" {
		t.Fatalf("item offsets %v, want the record offsets [0 0 0 0 0 1]", offsets)
	}
	if fmt.Sprint(rejects) != "[0 invalid:partial 2 malformed]" {
		t.Fatalf("rejects %v", rejects)
	}
}
