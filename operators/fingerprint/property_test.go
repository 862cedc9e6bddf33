package fingerprint

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"strings"
	"testing"
	"unicode/utf8"
)

// Statement shapes for the property tests. In a shape, "{v}" is a literal,
// "{in}" a list of 1–30 literals, "{rows:N}" 1–6 rows of N literals, and a
// space a token boundary where any whitespace or comment may stand (or none
// when punctuation is on one side).
var shapes = []string{
	"SELECT c FROM sbtest1 WHERE id = {v}",
	"SELECT c FROM sbtest1 WHERE id BETWEEN {v} AND {v} ORDER BY c",
	"UPDATE sbtest3 SET k = k + {v} WHERE id = {v}",
	"INSERT INTO sbtest2 ( id , k , c , pad ) VALUES {rows:4}",
	"INSERT INTO t VALUES {rows:2} ON DUPLICATE KEY UPDATE a = VALUES ( a )",
	"DELETE FROM `orders` WHERE `id` IN ( {in} ) AND status <> {v} LIMIT {v}",
	"SELECT a . x , COUNT ( * ) FROM a JOIN b ON a . id = b . a_id WHERE b . k IN ( {in} ) GROUP BY a . x HAVING COUNT ( * ) > {v}",
	"SELECT * FROM t WHERE ( a , b ) IN ( ( {v} , {v} ) , ( {v} , {v} ) ) OR c NOT IN ( {in} )",
	"SELECT * FROM t WHERE a = {v} AND b IS NULL AND c IS NOT NULL LIMIT {v} , {v}",
	"SELECT * FROM t WHERE name LIKE {v} AND d > DATE_SUB ( NOW ( ) , INTERVAL {v} DAY )",
	"UPDATE t SET a = {v} , b = {v} , c = CASE WHEN d > {v} THEN {v} ELSE {v} END WHERE e = {v}",
	"SELECT /*+MAX_EXECUTION_TIME(100)*/ SUM ( x * {v} ) FROM t2 WHERE y IN ( SELECT y FROM t3 WHERE z = {v} )",
	"SELECT * FROM t WHERE a = ? AND b IN ( {in} ) AND c = {v}",
}

// literal returns a random literal: numbers of every form, strings with
// escapes and comment-like or non-ASCII content, placeholders, NULL, booleans.
func literal(r *rand.Rand) string {
	strs := []string{"", "abc", "it''s", `a\'b`, `back\\slash`, "-- not a comment", "/* nor this */", "#", "ünïcödé", "(1, 2)", `"`, "x'' ''y", "`", "?"} // valid between single quotes
	switch r.IntN(16) {
	case 0:
		return fmt.Sprint(r.IntN(1000000))
	case 1:
		return fmt.Sprint(-r.IntN(1000))
	case 2:
		return fmt.Sprintf("%d.%d", r.IntN(1000), r.IntN(1000))
	case 3:
		return fmt.Sprintf("%.3e", r.Float64()*1e6)
	case 4:
		return fmt.Sprintf(".%d", r.IntN(100))
	case 5:
		return fmt.Sprintf("0x%X", r.Uint32())
	case 6:
		return fmt.Sprintf("X'%x'", r.Uint32())
	case 7:
		return "b'1011'"
	case 8:
		return "'" + strs[r.IntN(len(strs))] + "'"
	case 9:
		return `"` + strings.ReplaceAll(strs[r.IntN(len(strs))], `"`, `""`) + `"`
	case 10:
		return "?"
	case 11:
		return []string{"NULL", "null", "TRUE", "false"}[r.IntN(4)]
	case 12:
		return "_utf8mb4'" + strs[r.IntN(2)] + "'"
	case 13:
		return "N'national'"
	case 14:
		return "+" + fmt.Sprint(r.IntN(10))
	default:
		return "- " + fmt.Sprint(r.IntN(10))
	}
}

var separators = []string{" ", "  ", "\t", "\n", "\r\n ", " /* comment */ ", "/**/", " -- line comment\n", " # hash comment\n", "\n\t  "}

// render writes a shape with random literals, spacing, comments and case.
func render(r *rand.Rand, shape string) string {
	toks := strings.Fields(shape)
	var b strings.Builder
	for i, tok := range toks {
		if i > 0 {
			prev := toks[i-1]
			wordy := func(s string) bool {
				c := s[len(s)-1]
				return c == '}' || c == '?' || class[c]&cIdent != 0 || c == '`' || c == '\''
			}
			if r.IntN(3) > 0 || wordy(prev) && (tok[0] == '{' || tok[0] == '?' || class[tok[0]]&cIdent != 0 || tok[0] == '`') {
				b.WriteString(separators[r.IntN(len(separators))])
			}
		}
		switch {
		case tok == "{v}":
			b.WriteString(literal(r))
		case tok == "{in}":
			for k, n := 0, 1+r.IntN(30); k < n; k++ {
				if k > 0 {
					b.WriteString([]string{",", ", ", " ,\n"}[r.IntN(3)])
				}
				b.WriteString(literal(r))
			}
		case strings.HasPrefix(tok, "{rows:"):
			var width int
			fmt.Sscanf(tok, "{rows:%d}", &width)
			for k, n := 0, 1+r.IntN(6); k < n; k++ {
				if k > 0 {
					b.WriteString([]string{",", ", ", " ,\n"}[r.IntN(3)])
				}
				b.WriteByte('(')
				for c := 0; c < width; c++ {
					if c > 0 {
						b.WriteString([]string{",", ", "}[r.IntN(2)])
					}
					b.WriteString(literal(r))
				}
				b.WriteByte(')')
			}
		default:
			// Random case for words; quoted names and comments as they are.
			if tok[0] != '`' && tok[0] != '/' {
				bs := []byte(tok)
				for k := range bs {
					if r.IntN(2) == 0 && bs[k] >= 'a' && bs[k] <= 'z' {
						bs[k] -= 'a' - 'A'
					} else if r.IntN(2) == 0 && bs[k] >= 'A' && bs[k] <= 'Z' {
						bs[k] += 'a' - 'A'
					}
				}
				tok = string(bs)
			}
			b.WriteString(tok)
		}
	}
	if r.IntN(3) == 0 {
		b.WriteString(";")
	}
	return b.String()
}

// TestPropertyLiterals: for every shape, random literals, whitespace,
// comments and keyword case never change the template, and the template is
// a fixed point.
func TestPropertyLiterals(t *testing.T) {
	const seed = 20240601
	r := rand.New(rand.NewPCG(seed, 1))
	f, slow := New(), New()
	slow.noFastLists = true
	ids := map[ID]string{}
	for si, shape := range shapes {
		var first string
		var firstID ID
		for k := 0; k < 300; k++ {
			sql := render(r, shape)
			id, tpl := f.Fingerprint([]byte(sql))
			if k == 0 {
				first, firstID = string(tpl), id
				if prev, ok := ids[id]; ok {
					t.Fatalf("seed %d: shapes %q and %q share template %q", seed, prev, shape, tpl)
				}
				ids[id] = shape
			} else if id != firstID {
				t.Fatalf("seed %d shape %d: %q\n  gives %q\n  want  %q", seed, si, sql, tpl, first)
			}
			if sid, stpl := slow.Fingerprint([]byte(sql)); sid != id {
				t.Fatalf("seed %d: fast path differs on %q:\n  fast %q\n  slow %q", seed, sql, tpl, stpl)
			}
			// Fixed point: the template fingerprints to itself.
			tpl = bytes.Clone(tpl)
			if id2, tpl2 := f.Fingerprint(tpl); id2 != id || !bytes.Equal(tpl2, tpl) {
				t.Fatalf("seed %d: template %q of %q is not a fixed point: %q", seed, tpl, sql, tpl2)
			}
			// Redaction keeps the template: literals become ? and comments go.
			red := f.Redact(nil, []byte(sql), 0)
			if id3, tpl3 := f.Fingerprint(red); id3 != id {
				t.Fatalf("seed %d: redacted %q of %q fingerprints to %q, want %q", seed, red, sql, tpl3, first)
			}
		}
	}
}

// TestPropertyGolden: every template of the golden corpus and of the
// benchmark workloads is a fixed point, and the fast path changes nothing.
func TestPropertyWorkloads(t *testing.T) {
	f, slow := New(), New()
	slow.noFastLists = true
	for _, s := range append(sysbenchStatements(7, 2000), longStatements(8, 2000)...) {
		id, tpl := f.Fingerprint(s)
		if sid, stpl := slow.Fingerprint(s); sid != id {
			t.Fatalf("fast path differs on %q: %q vs %q", s, tpl, stpl)
		}
		tpl = bytes.Clone(tpl)
		if id2, tpl2 := f.Fingerprint(tpl); id2 != id {
			t.Fatalf("template %q of %q is not a fixed point: %q", tpl, s, tpl2)
		}
	}
}

// checkFingerprint asserts the invariants that hold for any input.
func checkFingerprint(t *testing.T, f *Fingerprinter, sql []byte) {
	t.Helper()
	id, tpl := f.Fingerprint(sql)
	if !utf8.Valid(tpl) {
		t.Fatalf("%q: template %q is not valid UTF-8", sql, tpl)
	}
	if len(tpl) > MaxTemplateLen {
		t.Fatalf("%q: template of %d bytes", sql, len(tpl))
	}
	for _, c := range tpl {
		if c < ' ' || c == 0x7f {
			t.Fatalf("%q: control byte %#x in template %q", sql, c, tpl)
		}
	}
	if len(tpl) > 0 && (tpl[0] == ' ' || tpl[len(tpl)-1] == ' ' || bytes.Contains(unquoted(tpl), []byte("  "))) {
		t.Fatalf("%q: template %q is not trimmed and single-spaced", sql, tpl)
	}
	if !bytes.HasSuffix(tpl, []byte(TruncMark)) && ID(xxhashSum(tpl)) != id {
		t.Fatalf("%q: id %s is not the hash of %q", sql, id, tpl)
	}
	tpl = bytes.Clone(tpl)
	if id2, tpl2 := New().Fingerprint(sql); id2 != id || !bytes.Equal(tpl2, tpl) {
		t.Fatalf("%q: a fresh Fingerprinter gives %s %q, the used one %s %q", sql, id2, tpl2, id, tpl)
	}
	plain := New()
	plain.noCache = true
	if id4, tpl4 := plain.Fingerprint(sql); id4 != id || !bytes.Equal(tpl4, tpl) {
		t.Fatalf("%q: cached %s %q, normalized %s %q", sql, id, tpl, id4, tpl4)
	}
	slow := New()
	slow.noFastLists = true
	if id3, tpl3 := slow.Fingerprint(sql); id3 != id {
		t.Fatalf("%q: fast path %q, token path %q", sql, tpl, tpl3)
	}
}

// unquoted returns tpl with the bodies of its backquoted names, which keep
// their spaces, blanked out.
func unquoted(tpl []byte) []byte {
	out := bytes.Clone(tpl)
	in := false
	for i, c := range out {
		switch {
		case c == '`':
			in = !in // a doubled backquote toggles twice
		case in:
			out[i] = 'x'
		}
	}
	return out
}
