package workload

import (
	"bytes"
	"testing"

	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources"
)

func TestDeterministic(t *testing.T) {
	var a, b, c bytes.Buffer
	cfg := Config{Events: 5000, Seed: 7, LateFraction: 0.01, BadFraction: 0.01, Incident: true}
	if _, err := WriteJSONL(&a, cfg); err != nil {
		t.Fatal(err)
	}
	if _, err := WriteJSONL(&b, cfg); err != nil {
		t.Fatal(err)
	}
	cfg.Seed = 8
	if _, err := WriteJSONL(&c, cfg); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(a.Bytes(), b.Bytes()) {
		t.Fatal("same seed, different bytes")
	}
	if bytes.Equal(a.Bytes(), c.Bytes()) {
		t.Fatal("different seeds, same bytes")
	}
}

func TestWorkloadShape(t *testing.T) {
	g := New(Config{Events: 50_000, Templates: 300, Disorder: 2000e6})
	fp := fingerprint.New()
	seen := map[fingerprint.ID]bool{}
	var ev sources.Event
	var maxTs, totalLen int64
	n := 0
	var d sources.Decoder
	for g.Next(&ev) {
		n++
		id, _ := fp.Fingerprint(ev.SQL)
		seen[id] = true
		totalLen += int64(len(ev.SQL))
		if ev.TsMs > maxTs {
			maxTs = ev.TsMs
		}
		if maxTs-ev.TsMs > 2000 {
			t.Fatalf("event %d trails the max by %d ms, beyond the 2s disorder", n, maxTs-ev.TsMs)
		}
		var back sources.Event
		if err := d.Decode(sources.AppendJSON(nil, &ev), &back); err != nil {
			t.Fatalf("generated event does not decode: %v", err)
		}
	}
	if len(seen) < 200 {
		t.Fatalf("only %d distinct templates of 300", len(seen))
	}
	if mean := totalLen / int64(n); mean < 80 || mean > 400 {
		t.Fatalf("mean statement length %d", mean)
	}
}
