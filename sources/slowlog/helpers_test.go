package slowlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// record is what a source delivered for one entry: an item or a reject.
type record struct {
	off    int64
	ev     sources.Event // SQL copied
	reason string        // "" for an item
	detail string
	raw    string
}

func (r record) String() string {
	if r.reason != "" {
		return fmt.Sprintf("@%d reject %s: %s", r.off, r.reason, r.detail)
	}
	e := r.ev
	return fmt.Sprintf("@%d %s db=%q user=%q %s lat=%d lock=%d sent=%d exam=%d aff=%d err=%d sql=%s",
		r.off, e.Instance, e.DB, e.User, time.UnixMilli(e.TsMs).UTC().Format("2006-01-02T15:04:05.000Z"),
		e.LatencyUs, e.LockUs, e.RowsSent, e.RowsExamined, e.RowsAffected, e.ErrCode, strconv.Quote(string(e.SQL)))
}

func render(recs []record) string {
	var b strings.Builder
	for _, r := range recs {
		b.WriteString(r.String())
		b.WriteByte('\n')
	}
	return b.String()
}

// appendBatch copies a batch's items and rejects, in offset order, checking
// the batch contract on the way.
func appendBatch(t testing.TB, out []record, b *stream.Batch[sources.Event]) []record {
	t.Helper()
	if len(b.ItemOffsets) != len(b.Items) {
		t.Fatalf("batch has %d items and %d item offsets", len(b.Items), len(b.ItemOffsets))
	}
	var recs []record
	for i, ev := range b.Items {
		ev.SQL = []byte(string(ev.SQL))
		recs = append(recs, record{off: b.ItemOffsets[i], ev: ev})
	}
	for _, rj := range b.Rejects {
		if rj.Offset >= b.NextOffset {
			t.Fatalf("reject at %d not before NextOffset %d", rj.Offset, b.NextOffset)
		}
		recs = append(recs, record{off: rj.Offset, reason: rj.Reason, detail: rj.Detail, raw: string(rj.Raw)})
	}
	sortRecords(recs)
	for _, r := range recs {
		if r.off >= b.NextOffset {
			t.Fatalf("record at %d not before NextOffset %d", r.off, b.NextOffset)
		}
		if n := len(out); n > 0 && out[n-1].off >= r.off {
			t.Fatalf("record at %d after one at %d", r.off, out[n-1].off)
		}
		out = append(out, r)
	}
	return out
}

func sortRecords(recs []record) {
	for i := 1; i < len(recs); i++ {
		for j := i; j > 0 && recs[j].off < recs[j-1].off; j-- {
			recs[j], recs[j-1] = recs[j-1], recs[j]
		}
	}
}

// readAll reads the log at path to its end from offset from and returns the
// records and each batch's NextOffset.
func readAll(t testing.TB, path string, opts Options, from int64) ([]record, []int64) {
	t.Helper()
	src, err := Open(path, opts)
	if err != nil {
		t.Fatal(err)
	}
	defer src.Close()
	ctx := context.Background()
	if err := src.Open(ctx, map[int32]int64{0: from}); err != nil {
		t.Fatalf("Open at %d: %v", from, err)
	}
	var out []record
	var offs []int64
	for {
		b, err := src.Next(ctx)
		if errors.Is(err, io.EOF) {
			return out, offs
		}
		if err != nil {
			t.Fatal(err)
		}
		if n := len(offs); n > 0 && b.NextOffset <= offs[n-1] {
			t.Fatalf("NextOffset %d after %d", b.NextOffset, offs[n-1])
		}
		out = appendBatch(t, out, b)
		offs = append(offs, b.NextOffset)
	}
}

func writeFile(t testing.TB, name, data string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

func noHostname() (string, error) { return "", errors.New("no hostname in tests") }

// testOpts are options for tests: a fixed instance.
func testOpts() Options { return Options{Instance: "db1:3306", Hostname: noHostname} }
