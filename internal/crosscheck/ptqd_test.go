package crosscheck

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// ptEvent is one event as pt-query-digest saw it: its statement text (arg)
// and its fingerprint (class).
type ptEvent struct {
	arg, fingerprint string
}

// ptResult is pt-query-digest's view of a slow log.
type ptResult struct {
	Total   int64            // global query_count
	Classes map[string]int64 // fingerprint → query_count
	Events  []ptEvent        // every event, in log order
}

// ptFilter prints each event's arg and fingerprint (hex, so newlines and
// odd bytes survive) to stderr; it runs after the fingerprint is computed
// and keeps every event.
const ptFilter = `print STDERR "PTEV\t", unpack("H*", $event->{arg} // ""), "\t", unpack("H*", $event->{fingerprint} // ""), "\n"; 1` + "\n"

// runPtQueryDigest runs pt-query-digest on the log as a DBA would, with
// --preserve-embedded-numbers (sbtest1 stays sbtest1), every class in the
// JSON output, and a filter that lists each event.
func runPtQueryDigest(t testing.TB, log string) ptResult {
	t.Helper()
	bin := requireTool(t, "pt-query-digest", "percona-toolkit")
	filter := filepath.Join(t.TempDir(), "filter.pl")
	if err := os.WriteFile(filter, []byte(ptFilter), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(bin, "--preserve-embedded-numbers", "--output", "json", "--limit", "100%:10000000",
		"--no-version-check", "--filter", filter, log)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("pt-query-digest: %v\n%s", err, tail(stderr.Bytes()))
	}
	var doc struct {
		Global struct {
			QueryCount json.Number `json:"query_count"`
		} `json:"global"`
		Classes []struct {
			Fingerprint string      `json:"fingerprint"`
			QueryCount  json.Number `json:"query_count"`
		} `json:"classes"`
	}
	if err := json.Unmarshal(stdout.Bytes(), &doc); err != nil {
		t.Fatalf("pt-query-digest JSON: %v\n%.2000s", err, stdout.String())
	}
	res := ptResult{Classes: map[string]int64{}}
	var err error
	if res.Total, err = doc.Global.QueryCount.Int64(); err != nil {
		t.Fatalf("query_count %q: %v", doc.Global.QueryCount, err)
	}
	for _, c := range doc.Classes {
		n, err := c.QueryCount.Int64()
		if err != nil {
			t.Fatalf("class %q count %q: %v", c.Fingerprint, c.QueryCount, err)
		}
		res.Classes[c.Fingerprint] += n
	}
	sc := bufio.NewScanner(&stderr)
	sc.Buffer(nil, 64<<20)
	for sc.Scan() {
		f := strings.Split(sc.Text(), "\t")
		if len(f) != 3 || f[0] != "PTEV" {
			continue
		}
		arg, err1 := hex.DecodeString(f[1])
		fp, err2 := hex.DecodeString(f[2])
		if err1 != nil || err2 != nil {
			t.Fatalf("filter line %.100q", sc.Text())
		}
		res.Events = append(res.Events, ptEvent{arg: string(arg), fingerprint: string(fp)})
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	return res
}
