package slowlog

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"testing"
	"testing/iotest"
	"time"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// FuzzParse feeds arbitrary bytes to the splitter and the parser. Whatever
// the input: no panic; records come in offset order inside the input; every
// event passes sources.Check; reading one byte at a time, with a tiny
// window, or as a growing file (entries handed out only once the input is
// final) gives the same records.
func FuzzParse(f *testing.F) {
	files, _ := filepath.Glob("testdata/*-slow.log")
	for _, p := range files {
		b, err := os.ReadFile(p)
		if err != nil {
			f.Fatal(err)
		}
		f.Add(b)
	}
	for _, s := range []string{
		"",
		"\n\n",
		"# Time: 2024-01-02T03:04:05Z\n# Query_time: 1\nselect 1;",
		"garbage\n# User@Host: a[a] @ h []\n# Query_time: 1\nSET timestamp=1;\n;\n",
		"mysqld, Version: 8 started with:\nTcp port: 1\nTime Id Command Argument\n",
		"# Time: 240102  3:04:05\n# Thread_id: 1  Schema: a b  QC_hit: No\n# Query_time: 0.1\nuse `a``b`;\nSET last_insert_id=1,timestamp=1.5;\n# administrator command: Quit;\n",
		"# Query_time: 99999999999999999999\n# Time: 9999-99-99T99:99:99Z\n",
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		whole := fuzzRead(t, bytes.NewReader(data), 1<<16, 64<<10, true)
		for i, r := range whole {
			if r.off < 0 || r.off >= int64(len(data)) || (i > 0 && r.off <= whole[i-1].off) {
				t.Fatalf("record %d at offset %d (input %d bytes, previous %v)", i, r.off, len(data), whole[max(i-1, 0)].off)
			}
			if r.reason == "" {
				if err := sources.Check(&r.ev); err != nil {
					t.Fatalf("record %d fails Check: %v", i, err)
				}
			}
		}
		if got := fuzzRead(t, iotest.OneByteReader(bytes.NewReader(data)), 1, 64<<10, true); !equalRecs(got, whole) {
			t.Fatalf("one byte at a time:\n%s\nwant\n%s", render(got), render(whole))
		}
		if got := fuzzRead(t, bytes.NewReader(data), 1<<16, 64<<10, false); !equalRecs(got, whole) {
			t.Fatalf("as a growing file:\n%s\nwant\n%s", render(got), render(whole))
		}
		small := fuzzRead(t, bytes.NewReader(data), 1<<16, 300, true)
		tiny := fuzzRead(t, iotest.OneByteReader(bytes.NewReader(data)), 7, 300, true)
		if !equalRecs(small, tiny) {
			t.Fatalf("window of 300 bytes, read whole vs bytewise:\n%s\nwant\n%s", render(tiny), render(small))
		}
		if len(small) != len(whole) {
			t.Fatalf("window of 300 bytes gives %d records, 64 KiB gives %d", len(small), len(whole))
		}
	})
}

// fuzzRead reads everything from r. Unless final, it first reads as a
// follower does (next(false) until errMore) and only then ends the input.
func fuzzRead(t *testing.T, r io.Reader, readSize, maxEntry int, final bool) []record {
	sp := newSplitter(r, 0, readSize, maxEntry)
	p := parser{loc: time.UTC, instance: "i:1"}
	var b stream.Batch[sources.Event]
	var out []record
	for {
		it, err := sp.next(final)
		if errors.Is(err, errMore) {
			final = true
			continue
		}
		if errors.Is(err, io.EOF) {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		if it.kind == itemHeader {
			p.db = ""
			continue
		}
		resetBatch(&b)
		appendEntry(&b, nil, &p, it)
		for i := range b.Items {
			ev := b.Items[i]
			ev.SQL = bytes.Clone(ev.SQL)
			out = append(out, record{off: b.ItemOffsets[i], ev: ev})
		}
		for _, rj := range b.Rejects {
			out = append(out, record{off: rj.Offset, reason: rj.Reason, detail: rj.Detail, raw: string(rj.Raw)})
		}
	}
}

func equalRecs(a, b []record) bool {
	_, ok := sameRecords(a, b)
	return ok
}
