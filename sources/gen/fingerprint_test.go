package gen

import (
	"testing"

	"github.com/das-project/das/operators/fingerprint"
)

// TestOneFingerprintPerTemplate checks the generator's promise against the
// fingerprinter the engine uses: every execution of a template, whatever
// its literals, IN-list lengths and row counts, has the template's one
// fingerprint, and no two templates share one.
func TestOneFingerprintPerTemplate(t *testing.T) {
	for _, cfg := range []Config{{Seed: 1}, {Seed: 2, Templates: 2000, MeanSQLBytes: 400}, {Seed: 3, Templates: 60, MeanSQLBytes: 100}} {
		g := mustNew(t, cfg)
		fp := fingerprint.New()
		owner := map[fingerprint.ID]int{}
		w := renderer{r: newRNG(cfg.Seed, 99), ts: g.startMs, stretch: g.stretch}
		var buf []byte
		for i, tpl := range g.templates {
			first := fingerprint.ID(0)
			for j := range 12 {
				buf = w.render(buf[:0], tpl.segs)
				id, text := fp.Fingerprint(buf)
				if j == 0 {
					first = id
					if o, ok := owner[id]; ok {
						t.Fatalf("seed %d: templates %d and %d share the fingerprint %s", cfg.Seed, o, i, text)
					}
					owner[id] = i
				} else if id != first {
					t.Fatalf("seed %d: template %d (%s) has a second fingerprint %s for %q", cfg.Seed, i, tpl.kind, text, buf)
				}
			}
		}
	}
}
