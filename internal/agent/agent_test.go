package agent

import (
	"path/filepath"
	"testing"

	"go.uber.org/goleak"

	"github.com/das-project/das/internal/kafkatest"
)

func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}

// Every statement of a file arrives exactly once in effect, in each mode:
// raw records counted after the (Src, Seq) rule, edge partials by Count,
// and the engine's aggregates equal those computed directly from the file.
func TestShipsEveryStatementOnce(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	data := writeWorkload(t, path, 20000, 7)
	want, n := truth(t, data)
	for _, tc := range []struct {
		name   string
		format Format
		edge   bool
	}{
		{"json", FormatJSON, false},
		{"arrow", FormatArrow, false},
		{"edge-json", FormatJSON, true},
		{"edge-arrow", FormatArrow, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "das.sql-events"
			c := newCluster(t, topic, 3)
			o := testOptions(t, c.Addrs(), topic)
			o.Format, o.EdgeAggregate = tc.format, tc.edge
			sum := runAgent(t, path, o)
			if sum.Statements != n || sum.AckedStatements != n || sum.Pending != 0 {
				t.Fatalf("summary %s, want %d statements read and acknowledged", describe(sum), n)
			}
			recs := kafkatest.ReadAll(t, c.Addrs(), topic)
			evs := decodeRecords(t, recs, tc.format)
			counted, dups := effective(t, evs)
			if dups != 0 {
				t.Errorf("%d duplicates without a restart", dups)
			}
			var stmts int64
			for _, ev := range counted {
				stmts += ev.Statements()
				if tc.edge != (ev.Count > 0) {
					t.Fatalf("edge %v but record %+v", tc.edge, ev)
				}
			}
			if stmts != n {
				t.Fatalf("%d statements in effect, want %d", stmts, n)
			}
			sameAggregates(t, aggregate(t, counted), want)
			if tc.edge && len(counted) >= int(n)/2 {
				t.Errorf("edge aggregation made %d records for %d statements", len(counted), n)
			}
		})
	}
}

// A second run over the same file and state ships nothing new: the
// journal's position is past the end.
func TestRestartAfterCompletionShipsNothing(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	writeWorkload(t, path, 3000, 3)
	topic := "t"
	c := newCluster(t, topic, 1)
	o := testOptions(t, c.Addrs(), topic)
	first := runAgent(t, path, o)
	second := runAgent(t, path, o)
	if first.Statements != 3000 || second.Statements != 0 || second.Records != 0 {
		t.Fatalf("first %s, second %s", describe(first), describe(second))
	}
	if got := len(kafkatest.ReadAll(t, c.Addrs(), topic)); int64(got) != first.Records {
		t.Fatalf("%d records in the topic, first run made %d", got, first.Records)
	}
}
