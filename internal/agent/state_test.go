package agent

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"testing"
)

func TestJournalTornLineCompactionAndCorruption(t *testing.T) {
	dir := t.TempDir()
	j, pending, err := openJournal(dir, true)
	if err != nil || len(pending) != 0 {
		t.Fatal(pending, err)
	}
	for k := int64(1); k <= 5000; k++ {
		e := entry{T: "cut", K: k, Stream: "1:2", From: (k - 1) * 10, To: k * 10, Statements: 3, Records: 3, Config: "c"}
		if err := j.append(true, e); err != nil {
			t.Fatal(err)
		}
		if k != 4000 && k != 4999 {
			if err := j.append(false, entry{T: "done", K: k}); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := j.close(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(dir, journalName)
	fi, _ := os.Stat(path)
	if fi.Size() > journalCompact {
		t.Fatalf("journal of %d bytes was not compacted", fi.Size())
	}
	// A torn last line (the crash came in the middle of an append) is
	// ignored and cut off.
	f, _ := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0)
	f.Write([]byte(`0badc0de {"t":"cut","k":5001`))
	f.Close()
	j, pending, err = openJournal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	lastK, last := j.last()
	if len(pending) != 2 || pending[0].K != 4000 || pending[1].K != 4999 || lastK != 5000 || last != (Position{"1:2", 50000}) {
		t.Fatalf("pending %+v last %d %+v", pending, lastK, last)
	}
	j.close()
	data, _ := os.ReadFile(path)
	if bytes.Contains(data, []byte("5001")) {
		t.Fatal("torn line kept")
	}
	// A damaged line in the middle is an error, not silently skipped.
	i := bytes.IndexByte(data, '\n')
	data[i-3] ^= 1
	os.WriteFile(path, data, 0o644)
	if _, _, err := openJournal(dir, true); !errors.Is(err, ErrCorruptState) {
		t.Fatalf("got %v, want ErrCorruptState", err)
	}
}

// The settled prefix (the last acknowledged or dropped cut before the first
// pending one, with its Committer checkpoint) follows out-of-order marks and
// survives compaction and a reopen.
func TestJournalSettledPrefix(t *testing.T) {
	dir := t.TempDir()
	j, _, err := openJournal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	ck := func(k int64) string { return fmt.Sprintf(`{"file":"f","offset":%d}`, k*10) }
	check := func(step string, wantK int64, want string) {
		t.Helper()
		if k, c := j.settledPrefix(); k != wantK || c != want {
			t.Fatalf("%s: settled prefix %d %q, want %d %q", step, k, c, wantK, want)
		}
	}
	check("empty", -1, "")
	for k := int64(1); k <= 6; k++ {
		if err := j.append(true, entry{T: "cut", K: k, Stream: "1:2", From: (k - 1) * 10, To: k * 10, Statements: 1, Records: 1, Ckpt: ck(k)}); err != nil {
			t.Fatal(err)
		}
	}
	check("nothing settled", -1, "")
	mark := func(typ string, k int64) {
		t.Helper()
		if err := j.append(false, entry{T: typ, K: k}); err != nil {
			t.Fatal(err)
		}
	}
	mark("done", 2) // out of order: 1 is still pending
	check("2 acknowledged before 1", -1, "")
	mark("drop", 1)
	check("1 dropped", 2, ck(2))
	mark("done", 5)
	check("5 acknowledged, 3 pending", 2, ck(2))
	j.mu.Lock()
	if err := j.compactLocked(); err != nil {
		t.Fatal(err)
	}
	j.mu.Unlock()
	j.close()
	j, pending, err := openJournal(dir, true)
	if err != nil {
		t.Fatal(err)
	}
	if len(pending) != 3 || pending[0].K != 3 || pending[2].K != 6 {
		t.Fatalf("pending after compaction %+v", pending)
	}
	check("after compaction and reopen", 2, ck(2))
	mark("done", 3)
	mark("done", 4)
	check("3 and 4 acknowledged: 5 was, before them", 5, ck(5))
	mark("done", 6)
	check("all settled", 6, ck(6))
	j.close()
}

func FuzzJournalEntry(f *testing.F) {
	f.Add(appendEntry(nil, entry{T: "cut", K: 1, Stream: "8:9", From: 0, To: 99, Statements: 4, Records: 2, Config: "v1"}))
	f.Add(appendEntry(nil, entry{T: "done", K: 7}))
	f.Add([]byte("00000000 {}\n"))
	f.Add([]byte("zzzzzzzz {\"t\":\"pos\"}"))
	f.Fuzz(func(t *testing.T, line []byte) {
		line = bytes.TrimSuffix(line, []byte("\n"))
		e, err := parseEntry(line)
		if err != nil {
			return
		}
		again, err := parseEntry(bytes.TrimSuffix(appendEntry(nil, e), []byte("\n")))
		if err != nil || again != e {
			t.Fatalf("round trip: %+v → %+v, %v", e, again, err)
		}
	})
}

func FuzzSegment(f *testing.F) {
	sp, err := openSpool(f.TempDir(), true)
	if err != nil {
		f.Fatal(err)
	}
	c := &cut{k: 42, stream: "1:1", from: 3, to: 90, statements: 5, nrec: 2}
	recs := []record{{key: []byte("10.0.0.1:3306"), value: []byte(`{"ts_ms":1}`)}, {key: []byte("k"), value: bytes.Repeat([]byte("v"), 300)}}
	f.Add(sp.encode(c, recs, "cfg"))
	c0 := &cut{k: 1}
	f.Add(sp.encode(c0, nil, ""))
	f.Add([]byte(segmentMagic))
	f.Fuzz(func(t *testing.T, data []byte) {
		recs, e, err := sp.decode(data)
		if err != nil {
			return
		}
		c := &cut{k: e.K, stream: e.Stream, from: e.From, to: e.To, statements: e.Statements, nrec: e.Records}
		recs2, e2, err := sp.decode(sp.encode(c, recs, e.Config))
		if err != nil || e2 != e || len(recs2) != len(recs) {
			t.Fatalf("round trip: %+v %v", e2, err)
		}
		for i := range recs {
			if !bytes.Equal(recs[i].key, recs2[i].key) || !bytes.Equal(recs[i].value, recs2[i].value) {
				t.Fatalf("record %d differs", i)
			}
		}
	})
}
