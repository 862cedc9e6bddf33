package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/internal/sketch"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
	"github.com/das-project/das/sources/gen"
)

// writeWorkload writes n generated statements of one instance as JSON
// lines to path and returns their bytes.
func writeWorkload(t testing.TB, path string, n int64, seed int64) []byte {
	t.Helper()
	g, err := gen.New(gen.Config{Events: n, Seed: seed, Instances: 1, Rate: 500})
	if err != nil {
		t.Fatal(err)
	}
	var buf bytes.Buffer
	if _, err := gen.WriteJSONL(context.Background(), &buf, g); err != nil {
		t.Fatal(err)
	}
	if path != "" {
		if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

// aggKey is the engine's aggregation key.
type aggKey struct {
	instance, db string
	tid          uint64
	minute       int64
}

// aggVal is what the engine sums per key.
type aggVal struct {
	count, latSum, latMax, lock, sent, exam, affect, errors int64
	sketchN                                                 uint64
}

// truth aggregates the statements of JSON lines directly.
func truth(t testing.TB, data []byte) (map[aggKey]aggVal, int64) {
	t.Helper()
	fp := fingerprint.New()
	var dec sources.Decoder
	out := map[aggKey]aggVal{}
	var n int64
	for _, line := range bytes.Split(data, []byte("\n")) {
		if len(bytes.TrimSpace(line)) == 0 {
			continue
		}
		var ev sources.Event
		if err := dec.Decode(line, &ev); err != nil {
			continue
		}
		id, _ := fp.Fingerprint(ev.SQL)
		k := aggKey{ev.Instance, ev.DB, uint64(id), ev.TsMs - ev.TsMs%60000}
		v := out[k]
		v.count++
		v.latSum += ev.LatencyUs
		v.latMax = max(v.latMax, ev.LatencyUs)
		v.lock += ev.LockUs
		v.sent += ev.RowsSent
		v.exam += ev.RowsExamined
		v.affect += ev.RowsAffected
		if ev.ErrCode != 0 {
			v.errors++
		}
		v.sketchN++
		out[k] = v
		n++
	}
	return out, n
}

// decodeRecords decodes the records of the topic into events (copied).
func decodeRecords(t testing.TB, recs []*kgo.Record, format Format) []sources.Event {
	t.Helper()
	var out []sources.Event
	var dec sources.Decoder
	for _, r := range recs {
		switch format {
		case FormatJSON:
			var ev sources.Event
			if err := dec.Decode(r.Value, &ev); err != nil {
				t.Fatalf("record %d/%d: %v: %s", r.Partition, r.Offset, err, r.Value)
			}
			out = append(out, copyEvent(ev))
		case FormatArrow:
			src, err := arrowipc.New(bytes.NewReader(r.Value), "record", arrowipc.Options{})
			if err != nil {
				t.Fatal(err)
			}
			if err := src.Open(context.Background(), nil); err != nil {
				t.Fatal(err)
			}
			for {
				b, err := src.Next(context.Background())
				if errors.Is(err, io.EOF) {
					break
				}
				if err != nil {
					t.Fatalf("record %d/%d: %v", r.Partition, r.Offset, err)
				}
				if len(b.Rejects) > 0 {
					t.Fatalf("record %d/%d: rejected rows: %+v", r.Partition, r.Offset, b.Rejects[0])
				}
				for _, ev := range b.Items {
					out = append(out, copyEvent(ev))
				}
			}
			src.Close()
		}
		if string(r.Key) != out[len(out)-1].Instance {
			t.Fatalf("record key %q, instance %q", r.Key, out[len(out)-1].Instance)
		}
	}
	return out
}

func copyEvent(ev sources.Event) sources.Event {
	ev.SQL = bytes.Clone(ev.SQL)
	ev.LatencySketch = bytes.Clone(ev.LatencySketch)
	return ev
}

// effective applies the engine's idempotency rule in topic order: a record
// counts when its Seq is above the highest counted for its Src. It returns
// the counted events and the number of duplicates dropped. It fails the
// test if a duplicate differs from the record it repeats.
func effective(t testing.TB, evs []sources.Event) ([]sources.Event, int) {
	t.Helper()
	high := map[string]int64{}
	seen := map[[2]any]sources.Event{}
	var out []sources.Event
	dups := 0
	for _, ev := range evs {
		if ev.Src == "" || ev.Seq <= 0 {
			t.Fatalf("record without idempotency key: %+v", ev)
		}
		id := [2]any{ev.Src, ev.Seq}
		prev, repeat := seen[id]
		if repeat && !sameEvent(&prev, &ev) {
			t.Fatalf("duplicate (%s, %d) differs:\n%+v\n%+v", ev.Src, ev.Seq, prev, ev)
		}
		seen[id] = ev
		if ev.Seq <= high[ev.Src] {
			if !repeat {
				t.Fatalf("record (%s, %d) arrived after a higher Seq (%d) and would be dropped", ev.Src, ev.Seq, high[ev.Src])
			}
			dups++
			continue
		}
		high[ev.Src] = ev.Seq
		out = append(out, ev)
	}
	return out, dups
}

// aggregate sums counted events like the engine does.
func aggregate(t testing.TB, evs []sources.Event) map[aggKey]aggVal {
	t.Helper()
	out := map[aggKey]aggVal{}
	var sk sketch.Sketch
	for _, ev := range evs {
		if ev.TemplateID == 0 {
			t.Fatalf("record without template_id: %+v", ev)
		}
		k := aggKey{ev.Instance, ev.DB, ev.TemplateID, ev.TsMs - ev.TsMs%60000}
		v := out[k]
		if ev.Count > 0 {
			v.count += ev.Count
			v.latMax = max(v.latMax, ev.LatencyMaxUs)
			v.errors += ev.Errors
			if _, err := sk.Decode(ev.LatencySketch); err != nil {
				t.Fatal(err)
			}
			v.sketchN += sk.Count()
		} else {
			v.count++
			v.latMax = max(v.latMax, ev.LatencyUs)
			if ev.ErrCode != 0 {
				v.errors++
			}
			v.sketchN++
		}
		v.latSum += ev.LatencyUs
		v.lock += ev.LockUs
		v.sent += ev.RowsSent
		v.exam += ev.RowsExamined
		v.affect += ev.RowsAffected
		out[k] = v
	}
	return out
}

func sameAggregates(t testing.TB, got, want map[aggKey]aggVal) {
	t.Helper()
	if len(got) != len(want) {
		t.Errorf("%d keys, want %d", len(got), len(want))
	}
	bad := 0
	for k, w := range want {
		if g := got[k]; g != w {
			if bad++; bad <= 5 {
				t.Errorf("key %+v: got %+v, want %+v", k, g, w)
			}
		}
	}
	if bad > 0 {
		t.Fatalf("%d keys differ", bad)
	}
}

// newCluster starts a one-broker kfake cluster with the topic.
func newCluster(t testing.TB, topic string, partitions int32) *kafkatest.Cluster {
	t.Helper()
	c := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	c.CreateTopic(topic, partitions, nil)
	return c
}

// testOptions are fast options for tests.
func testOptions(t testing.TB, brokers []string, topic string) Options {
	return Options{
		Brokers:        brokers,
		Topic:          topic,
		StateDir:       filepath.Join(t.TempDir(), "state"),
		Host:           "dbhost",
		FlushInterval:  50 * time.Millisecond,
		NoSync:         true,
		ReportInterval: -1,
		ClientOpts:     []kgo.Opt{kgo.RetryBackoffFn(func(int) time.Duration { return 50 * time.Millisecond })},
	}
}

// runAgent runs an agent over a bounded file input to completion.
func runAgent(t testing.TB, path string, o Options) Summary {
	t.Helper()
	in, err := NewFileInput(path, FileOptions{})
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(in, o)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
	defer cancel()
	sum, err := a.Run(ctx)
	if err != nil {
		t.Fatal(err)
	}
	return sum
}

func describe(s Summary) string {
	return fmt.Sprintf("%+v", s)
}

// sameEvent reports whether two events are equal in every field.
func sameEvent(a, b *sources.Event) bool {
	return a.TsMs == b.TsMs && a.Instance == b.Instance && a.DB == b.DB && a.User == b.User &&
		bytes.Equal(a.SQL, b.SQL) && a.LatencyUs == b.LatencyUs && a.LockUs == b.LockUs &&
		a.RowsSent == b.RowsSent && a.RowsExamined == b.RowsExamined && a.RowsAffected == b.RowsAffected &&
		a.ErrCode == b.ErrCode && a.Src == b.Src && a.Seq == b.Seq && a.TemplateID == b.TemplateID &&
		a.Count == b.Count && a.LatencyMaxUs == b.LatencyMaxUs && a.Errors == b.Errors &&
		bytes.Equal(a.LatencySketch, b.LatencySketch)
}
