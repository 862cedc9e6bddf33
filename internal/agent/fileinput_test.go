package agent

import (
	"context"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
)

// readAll reads a bounded input to its end.
func readAll(t *testing.T, in Input) (lines []string, offs []int64, rejects []string, stream string, end int64) {
	t.Helper()
	ctx := context.Background()
	for {
		b, err := in.Next(ctx)
		if errors.Is(err, io.EOF) {
			return
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range b.Events {
			lines = append(lines, string(ev.SQL))
			offs = append(offs, b.Offsets[i])
		}
		for _, r := range b.Rejects {
			rejects = append(rejects, r.Reason)
		}
		stream, end = b.Stream, b.End
	}
}

func TestFileInputOffsetsRejectsAndResume(t *testing.T) {
	path := filepath.Join(t.TempDir(), "in.jsonl")
	long := `{"ts_ms":1,"instance":"i:1","sql":"` + strings.Repeat("x", 3000) + `"}`
	content := `{"ts_ms":1,"instance":"i:1","sql":"a"}` + "\n" +
		"\n" +
		`not json` + "\n" +
		long + "\n" +
		`{"ts_ms":1,"instance":"i:1","sql":"b"}` + "\n" +
		`{"ts_ms":1,"instance":"i:1","sql":"c"}` // no newline at the end
	if err := os.WriteFile(path, []byte(content), 0o644); err != nil {
		t.Fatal(err)
	}
	in, err := NewFileInput(path, FileOptions{BatchSize: 2, MaxLineBytes: 2048})
	if err != nil {
		t.Fatal(err)
	}
	if err := in.Open(context.Background(), Position{}); err != nil {
		t.Fatal(err)
	}
	lines, offs, rejects, stream, end := readAll(t, in)
	if strings.Join(lines, ",") != "a,b,c" || strings.Join(rejects, ",") != "malformed,"+ReasonOversize {
		t.Fatalf("lines %q rejects %q", lines, rejects)
	}
	bOff := int64(strings.Index(content, `{"ts_ms":1,"instance":"i:1","sql":"b"}`))
	if offs[0] != 0 || offs[1] != bOff || end != int64(len(content)) {
		t.Fatalf("offsets %v end %d", offs, end)
	}
	in.Close()

	// Resuming at b's offset reads b and c; a position in another stream,
	// or past the end, is gone.
	if err := in.Open(context.Background(), Position{Stream: stream, Offset: bOff}); err != nil {
		t.Fatal(err)
	}
	lines, _, _, _, _ = readAll(t, in)
	if strings.Join(lines, ",") != "b,c" {
		t.Fatalf("resumed: %q", lines)
	}
	in.Close()
	for _, pos := range []Position{{Stream: "0:1", Offset: 0}, {Stream: stream, Offset: int64(len(content)) + 1}} {
		if err := in.Open(context.Background(), pos); !errors.Is(err, ErrStreamGone) {
			t.Fatalf("Open(%+v) = %v, want ErrStreamGone", pos, err)
		}
	}
}

// Following a file across a rotation: the new file is a new stream, a
// partial last line waits for its newline, and the agent ships both files'
// statements exactly once under two Srcs.
func TestFollowRotation(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "events.jsonl")
	data := writeWorkload(t, "", 6000, 21)
	want, n := truth(t, data)
	parts := chunks(data, 3)
	appendFile(t, path, parts[0])

	topic := "das.sql-events"
	c := newCluster(t, topic, 1)
	o := testOptions(t, c.Addrs(), topic)
	a, stop := startAgent(t, path, o)
	// Half a line, then the rest of it.
	cut := len(parts[1]) / 2
	appendFile(t, path, parts[1][:cut])
	time.Sleep(100 * time.Millisecond)
	appendFile(t, path, parts[1][cut:])
	waitFor(t, "the first file", 30*time.Second, func() bool {
		return a.st.ackedStatements.Load() > 0
	})
	// logrotate's create mode: rename, then a new file at the path. The
	// renamed file still gets a write after the rename.
	if err := os.Rename(path, path+".1"); err != nil {
		t.Fatal(err)
	}
	last := parts[2]
	tail := chunks(last, 4)
	appendFile(t, path+".1", tail[0])
	appendFile(t, path, nil)
	for _, p := range tail[1:] {
		appendFile(t, path, p)
	}
	waitFor(t, "every statement", 30*time.Second, func() bool {
		return a.st.ackedStatements.Load() == n
	})
	if _, err := stop(); err != nil {
		t.Fatal(err)
	}
	evs := decodeRecords(t, kafkatest.ReadAll(t, c.Addrs(), topic), o.Format)
	counted, _ := effective(t, evs)
	srcs := map[string]bool{}
	for _, ev := range counted {
		srcs[ev.Src] = true
	}
	if len(srcs) != 2 {
		t.Fatalf("Srcs %v, want one per file", srcs)
	}
	sameAggregates(t, aggregate(t, counted), want)
}
