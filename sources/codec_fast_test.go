package sources_test

import (
	"bytes"
	"errors"
	"math/rand/v2"
	"testing"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/gen"
)

// genRecords returns n generated records, a share of them damaged, with
// their damage.
func genRecords(t testing.TB, seed int64, n int) ([][]byte, []gen.Damage) {
	g, err := gen.New(gen.Config{Seed: seed, Events: int64(n), BadFraction: 0.2})
	if err != nil {
		t.Fatal(err)
	}
	var (
		recs [][]byte
		dmg  []gen.Damage
		ev   sources.Event
	)
	for g.Next(&ev) {
		recs = append(recs, gen.AppendRecord(nil, &ev, g.Damage()))
		dmg = append(dmg, g.Damage())
	}
	return recs, dmg
}

// sameDecode fails t unless Decode and the fastjson-only decoder agree on
// raw: the same reason and detail, or the same Event.
func sameDecode(t *testing.T, fast, slow *sources.Decoder, raw []byte) {
	t.Helper()
	var got, want sources.Event
	gerr := fast.Decode(raw, &got)
	werr := slow.DecodeSlowForTest(raw, &want)
	if (gerr == nil) != (werr == nil) {
		t.Fatalf("Decode(%q)\n err %v\nslow %v", raw, gerr, werr)
	}
	if werr != nil {
		var g, w *sources.DecodeError
		if !errors.As(gerr, &g) || !errors.As(werr, &w) || *g != *w {
			t.Fatalf("Decode(%q)\n err %#v\nslow %#v", raw, gerr, werr)
		}
		return
	}
	if got.TsMs != want.TsMs || got.Instance != want.Instance || got.DB != want.DB ||
		got.User != want.User || !bytes.Equal(got.SQL, want.SQL) || got.LatencyUs != want.LatencyUs ||
		got.LockUs != want.LockUs || got.RowsSent != want.RowsSent || got.RowsExamined != want.RowsExamined ||
		got.RowsAffected != want.RowsAffected || got.ErrCode != want.ErrCode ||
		got.Src != want.Src || got.Seq != want.Seq || got.TemplateID != want.TemplateID || got.Count != want.Count ||
		got.LatencyMaxUs != want.LatencyMaxUs || got.Errors != want.Errors || !bytes.Equal(got.LatencySketch, want.LatencySketch) ||
		!bytes.Equal(got.Template, want.Template) {
		t.Fatalf("Decode(%q)\n got %+v\nslow %+v", raw, got, want)
	}
}

// fastSeeds are records the fast path must take or refuse: the FuzzDecode
// seeds plus each kind of record it hands back.
var fastSeeds = []string{
	`{"ts_ms":60000,"instance":"i:1","sql":"SELECT ?","src":"h/slowlog/1","seq":4096,"template_id":"00ff00ff00ff00ff"}`,
	`{"ts_ms":60000,"instance":"i:1","sql":"x","src":"a","src":"b","seq":1}`,
	`{"ts_ms":60000,"instance":"i:1","sql":"x","template_id":"00000000000000aa","template":"select ?"}`,
	`{"ts_ms":60000,"instance":"i:1","sql":"x","template":"select \u0041"}`,
	`{"ts_ms":60000,"instance":"i:1","sql":"x","template_id":"00ff00ff00ff00fg"}`,
	`{"ts_ms":60000,"instance":"i:1","sql":"x","latency_us":3,"count":1,"errors":2}`,
	`{"ts_ms":1704067200123,"instance":"10.0.1.1:3306","db":"orders","user":"app_rw","sql":"SELECT * FROM t WHERE id = 5","latency_us":1200,"lock_us":30,"rows_sent":1,"rows_examined":2,"rows_affected":0,"err_code":1062}`,
	`{"ts_ms":1,"instance":"i:1","sql":""}`,
	`{"ts_ms":1.0,"instance":"i:1","sql":"\ud800\u0000","latency_us":-0}`,
	"{\"ts_ms\":1,\"instance\":\"i\",\"sql\":\"\xff\x01\"}",
	`{"ts_ms":1e3,"instance":"i","sql":"a","err_code":2147483647}`,
	`{"ts_ms":-1}`, `[]`, `{`, `nan`, ``, `{}`, ` `, `null`,
	" \t\r\n{ \"ts_ms\" :\n1 , \"instance\":\"i\"\t,\"sql\":\"x\" } \n",
	`{"ts_ms":1,"instance":"i","sql":"a"}x`,
	`{"ts_ms":1,"instance":"i","sql":"a",}`,
	`{"ts_ms":01,"instance":"i","sql":"a"}`,
	`{"ts_ms":0,"instance":"i","sql":"a","err_code":2147483648}`,
	`{"ts_ms":9223372036854775807,"instance":"i","sql":"a"}`,
	`{"ts_ms":9223372036854775808,"instance":"i","sql":"a"}`,
	`{"ts_ms":999999999999999999,"instance":"i","sql":"a"}`,
	`{"ts_ms":1,"instance":"","sql":"a"}`,
	`{"ts_ms":1,"instance":"i","sql":"a","ts_ms":2}`,
	`{"ts_ms":1,"instance":"i","sql":null}`,
	`{"ts_ms":1,"instance":"i","sql":"a","db":null}`,
	`{"ts_ms":1,"instance":"i","sql":"a","x":{"y":[1,2]}}`,
	`{"ts_ms":1,"instance":"i","sql":"a","x":-12,"y":true,"z":false,"w":null,"v":"s"}`,
	`{"ts_ms":1,"instance":"i","sql":"a","x":truex}`,
	`{"ts_ms":1,"instance":"i","sql":"a","x":1.5e3}`,
	`{"ts_ms":1,"instance":"i","sql":"a\"b"}`,
	`{"ts\u005fms":1,"instance":"i","sql":"a"}`,
	`{"ts_ms":"1","instance":"i","sql":"a"}`,
	`{"ts_ms":1,"instance":2,"sql":"a"}`,
	`{"ts_ms":1,"instance":"i","sql":"a","latency_us":-1}`,
	`{"ts_ms":1,"instance":"i","sql":"a","latency_us":1-2}`,
	`{"ts_ms":1,"instance":"i","sql":"a","latency_us":+1}`,
	`{"ts_ms":1,"instance":"i","sql":"a","latency_us":Inf}`,
	`{"ts_ms":1,"instance":"i","sql":"a"`,
	`{"ts_ms":1,"instance":"i","sql":"a`,
	`{"ts_ms":1,"instance":"i","sql":"a"}}`,
	"{\"ts_ms\":1,\"instance\":\"i\",\"sql\":\"a\"}\x00",
	"{\"ts_ms\":1,\"instance\":\"i\",\"sql\":\"a\"}\v",
	`{"ts_ms":1,"instance":"i","sql":"a" "db":"d"}`,
	`{"ts_ms" 1,"instance":"i","sql":"a"}`,
}

func FuzzDecodeFastPath(f *testing.F) {
	for _, s := range fastSeeds {
		f.Add([]byte(s))
	}
	recs, _ := genRecords(f, 7, 64)
	for _, r := range recs {
		f.Add(r)
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var fast, slow sources.Decoder
		sameDecode(t, &fast, &slow, data)
	})
}

// TestDecodeFastPathTaken checks that the fast path decodes every
// undamaged generated record (so the speed-up is real) and leaves every
// damaged one to the fastjson path, and that both agree on all of them.
func TestDecodeFastPathTaken(t *testing.T) {
	recs, dmg := genRecords(t, 11, 2000)
	var fast, slow, only sources.Decoder
	var ev sources.Event
	damaged := 0
	for i, r := range recs {
		sameDecode(t, &fast, &slow, r)
		took := only.DecodeFastForTest(r, &ev)
		if took != (dmg[i] == gen.DamageNone) {
			t.Fatalf("record %d (damage %v): fast path taken = %v\n%s", i, dmg[i], took, r)
		}
		if dmg[i] != gen.DamageNone {
			damaged++
		}
	}
	if damaged == 0 || damaged == len(recs) {
		t.Fatalf("%d of %d records damaged; want a mix", damaged, len(recs))
	}
}

// TestDecodeFastPathMutations compares the two paths on seeded random
// mutations of generated records and the seeds: byte flips, insertions of
// JSON punctuation and whitespace, deletions and truncations.
func TestDecodeFastPathMutations(t *testing.T) {
	recs, _ := genRecords(t, 3, 200)
	for _, s := range fastSeeds {
		recs = append(recs, []byte(s))
	}
	const alphabet = " \t\r\n\v{}[]\":,\\-+.eE0123456789nultrfaxs_\x00\xff"
	rng := rand.New(rand.NewPCG(1, 2))
	var fast, slow sources.Decoder
	for range 20000 {
		r := bytes.Clone(recs[rng.IntN(len(recs))])
		for range 1 + rng.IntN(3) {
			if len(r) == 0 {
				break
			}
			p := rng.IntN(len(r))
			switch rng.IntN(4) {
			case 0:
				r[p] = alphabet[rng.IntN(len(alphabet))]
			case 1:
				r = append(r[:p], append([]byte{alphabet[rng.IntN(len(alphabet))]}, r[p:]...)...)
			case 2:
				r = append(r[:p], r[p+1:]...)
			case 3:
				r = r[:p]
			}
		}
		sameDecode(t, &fast, &slow, r)
	}
}
