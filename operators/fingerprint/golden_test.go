package fingerprint

import (
	"fmt"
	"strings"
	"testing"

	"github.com/cockroachdb/datadriven"
)

// TestGolden runs the data-driven cases in testdata/fingerprint.
func TestGolden(t *testing.T) {
	f := New()
	show := func(tpl []byte) string {
		if len(tpl) == 0 {
			return "<empty>"
		}
		return string(tpl)
	}
	datadriven.RunTest(t, "testdata/fingerprint", func(t *testing.T, d *datadriven.TestData) string {
		var b strings.Builder
		lines := strings.Split(d.Input, "\n")
		switch d.Cmd {
		case "fp":
			for _, l := range lines {
				_, tpl := f.Fingerprint([]byte(l))
				fmt.Fprintln(&b, show(tpl))
			}
		case "fp-multi":
			_, tpl := f.Fingerprint([]byte(d.Input))
			fmt.Fprintln(&b, show(tpl))
		case "id":
			for _, l := range lines {
				id, tpl := f.Fingerprint([]byte(l))
				fmt.Fprintf(&b, "%s\t%s\n", id, show(tpl))
			}
		case "same":
			id0, tpl0 := f.Fingerprint([]byte(lines[0]))
			want := string(tpl0)
			for _, l := range lines[1:] {
				id, tpl := f.Fingerprint([]byte(l))
				if id != id0 {
					t.Errorf("%s: %q\n  got  %s %q\n  want %s %q (from %q)", d.Pos, l, id, tpl, id0, want, lines[0])
				}
			}
			fmt.Fprintln(&b, show([]byte(want)))
		case "distinct":
			seen := map[ID]string{}
			for _, l := range lines {
				id, tpl := f.Fingerprint([]byte(l))
				if prev, ok := seen[id]; ok {
					t.Errorf("%s: %q and %q share template %q", d.Pos, prev, l, tpl)
				}
				seen[id] = l
				fmt.Fprintln(&b, show(tpl))
			}
		case "redact":
			max := 0
			d.MaybeScanArgs(t, "max", &max)
			for _, l := range lines {
				fmt.Fprintln(&b, string(f.Redact(nil, []byte(l), max)))
			}
		default:
			t.Fatalf("%s: unknown directive %q", d.Pos, d.Cmd)
		}
		return b.String()
	})
}
