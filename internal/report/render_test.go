package report

import (
	"bytes"
	"encoding/json"
	"flag"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"golang.org/x/net/html"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// goldenReport is the fixture's report with everything switched on: a
// comparison, grouping by instance, four buckets.
func goldenReport(t *testing.T) *Report {
	cur, base := fixture()
	o := curOpts()
	o.BaselineShift = 10 * time.Minute
	o.GroupBy = GroupBy{Instance: true}
	o.Buckets = 4
	o.Input = "minutes/"
	return mustBuild(t, concat(cur, base), o)
}

func golden(t *testing.T, name string, got []byte) {
	t.Helper()
	path := filepath.Join("testdata", name)
	if *update {
		if err := os.MkdirAll("testdata", 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from the output (go test -update rewrites it after review):\n%s", path, got)
	}
}

// TestJSONGolden pins the JSON schema (field names, types, nesting) and
// the fixture's figures.
func TestJSONGolden(t *testing.T) {
	var b bytes.Buffer
	if err := goldenReport(t).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.json", b.Bytes())

	// The documented top-level fields, and nothing else.
	var doc map[string]json.RawMessage
	if err := json.Unmarshal(b.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var keys []string
	for k := range doc {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	if want := []string{"compare", "filters", "group_by", "input", "order_by", "overall", "schema", "series", "templates", "top"}; !slices.Equal(keys, want) {
		t.Fatalf("top-level fields %v, want %v", keys, want)
	}
	// Without a comparison the field is absent, and lists are [] not null.
	cur, _ := fixture()
	b.Reset()
	if err := mustBuild(t, cur, curOpts()).WriteJSON(&b); err != nil {
		t.Fatal(err)
	}
	s := b.String()
	if strings.Contains(s, `"compare"`) || strings.Contains(s, "null") || !strings.Contains(s, `"instances": []`) {
		t.Fatalf("JSON without comparison:\n%s", s)
	}
}

// TestHTMLWellFormed: the page tokenizes with every element closed in
// order, parses, carries an inline SVG sparkline per template plus the
// overall one, and refers to nothing outside itself.
func TestHTMLWellFormed(t *testing.T) {
	rep := goldenReport(t)
	// SQL that would break naive markup.
	rep.Templates[0].SampleSQL = `SELECT '</td><script>alert(1)</script>' FROM t WHERE a < ? AND b > ? & c`
	var b bytes.Buffer
	if err := rep.WriteHTML(&b); err != nil {
		t.Fatal(err)
	}
	page := b.String()
	checkBalanced(t, page)
	doc, err := html.Parse(strings.NewReader(page))
	if err != nil {
		t.Fatal(err)
	}
	counts := map[string]int{}
	var walk func(*html.Node)
	walk = func(n *html.Node) {
		if n.Type == html.ElementNode {
			counts[n.Data]++
			for _, a := range n.Attr {
				if a.Key == "src" || a.Key == "href" || strings.Contains(a.Val, "url(") {
					t.Errorf("external reference <%s %s=%q>", n.Data, a.Key, a.Val)
				}
			}
		}
		for c := n.FirstChild; c != nil; c = c.NextSibling {
			walk(c)
		}
	}
	walk(doc)
	if counts["script"] != 0 || counts["link"] != 0 || counts["img"] != 0 || counts["style"] != 1 {
		t.Fatalf("elements %v: want inline style only, no script, link or img", counts)
	}
	if want := len(rep.Templates) + 1; counts["svg"] != want {
		t.Fatalf("%d svg sparklines, want %d", counts["svg"], want)
	}
	if !strings.Contains(page, "&lt;/td&gt;&lt;script&gt;") {
		t.Fatal("SQL is not escaped")
	}
	for _, want := range []string{"Compared with 2026-03-01T09:50:00Z", idD, "gone", "27.1ms"} {
		if !strings.Contains(page, want) {
			t.Errorf("page lacks %q", want)
		}
	}
}

// checkBalanced fails unless every non-void element of page is closed, in
// order.
func checkBalanced(t *testing.T, page string) {
	t.Helper()
	void := map[string]bool{"area": true, "base": true, "br": true, "col": true, "embed": true, "hr": true, "img": true,
		"input": true, "link": true, "meta": true, "source": true, "track": true, "wbr": true}
	z := html.NewTokenizer(strings.NewReader(page))
	var stack []string
	for {
		tt := z.Next()
		switch tt {
		case html.ErrorToken:
			if z.Err() != io.EOF {
				t.Fatal(z.Err())
			}
			if len(stack) != 0 {
				t.Fatalf("unclosed elements %v", stack)
			}
			return
		case html.StartTagToken:
			name, _ := z.TagName()
			if !void[string(name)] {
				stack = append(stack, string(name))
			}
		case html.EndTagToken:
			name, _ := z.TagName()
			if len(stack) == 0 || stack[len(stack)-1] != string(name) {
				t.Fatalf("</%s> closes %v", name, stack)
			}
			stack = stack[:len(stack)-1]
		}
	}
}

// TestTextGolden pins the terminal layout at 150 columns.
func TestTextGolden(t *testing.T) {
	var b bytes.Buffer
	if err := goldenReport(t).WriteText(&b, TextOptions{Width: 150}); err != nil {
		t.Fatal(err)
	}
	golden(t, "report.txt", b.Bytes())
}

// TestTextWidth: at any width every line fits, columns are dropped in
// priority order, and the ranked metric's column stays.
func TestTextWidth(t *testing.T) {
	rep := goldenReport(t)
	for _, w := range []int{40, 60, 80, 100, 120, 200} {
		var b bytes.Buffer
		if err := rep.WriteText(&b, TextOptions{Width: w}); err != nil {
			t.Fatal(err)
		}
		for i, l := range strings.Split(strings.TrimRight(b.String(), "\n"), "\n") {
			if width(l) > w {
				t.Errorf("width %d: line %d has %d columns: %q", w, i+1, width(l), l)
			}
		}
		if w >= 120 && !strings.Contains(b.String(), "Activity") {
			t.Errorf("width %d: no sparkline column", w)
		}
	}
	var b bytes.Buffer
	cur, _ := fixture()
	o := curOpts()
	o.OrderBy = ByErrors
	if err := mustBuild(t, cur, o).WriteText(&b, TextOptions{Width: 80}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "Errors") || strings.Contains(b.String(), "Calls%") {
		t.Errorf("at 80 columns ranked by errors, want Errors kept and Calls%% dropped:\n%s", b.String())
	}
	if err := rep.WriteText(io.Discard, TextOptions{Width: 10}); err == nil {
		t.Error("width 10 accepted")
	}
}

func TestFormat(t *testing.T) {
	for _, tc := range []struct {
		got, want string
	}{
		{fmtUs(0), "0"}, {fmtUs(0.5), "0.5µs"}, {fmtUs(850), "850µs"}, {fmtUs(3500), "3.50ms"},
		{fmtUs(27109), "27.1ms"}, {fmtUs(250_000), "250ms"}, {fmtUs(2e6), "2.00s"}, {fmtUs(12.3e6), "12.3s"},
		{fmtUs(90e6), "1.5min"}, {fmtUs(5400e6), "1.5h"}, {fmtUs(3 * 86400e6), "3.0d"},
		{fmtCount(9999), "9999"}, {fmtCount(12_345), "12.3k"}, {fmtCount(1_234_567), "1.23M"}, {fmtCount(4.56e9), "4.56G"},
		{fmtRate(0), "0"}, {fmtRate(0.0016667), "0.0017"}, {fmtRate(0.52), "0.520"}, {fmtRate(34.27), "34.27"},
		{fmtRate(1234.5), "1234.5"}, {fmtRate(12_345), "12.3k"},
		{fmtPct(0.4512), "45.1%"}, {fmtScore(ByTime, 0.002), "+0.0020"}, {fmtScore(ByP99, -1500), "-1.50ms"},
		{oneLine("SELECT a,\n\t b  FROM t\r\n"), "SELECT a, b FROM t"},
		{truncate("abcdef", 4), "abc…"}, {truncate("abc", 4), "abc"}, {truncate("▁▂▃▄", 3), "▁▂…"},
	} {
		if tc.got != tc.want {
			t.Errorf("got %q, want %q", tc.got, tc.want)
		}
	}
}

// TestCoverageNote: a range wider than its rows says so, because its rates
// are per second of the whole range.
func TestCoverageNote(t *testing.T) {
	cur, _ := fixture()
	var b bytes.Buffer
	if err := mustBuild(t, cur, Options{From: at(-5), To: at(10)}).WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(b.String(), "# rows only from 2026-03-01T10:00:00Z to 2026-03-01T10:10:00Z: rates (QPS, load) are per second of the whole range") {
		t.Fatalf("no coverage note:\n%s", b.String())
	}
	b.Reset()
	if err := mustBuild(t, cur, curOpts()).WriteText(&b, TextOptions{}); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(b.String(), "rows only from") {
		t.Fatalf("coverage note for a covered range:\n%s", b.String())
	}
}
