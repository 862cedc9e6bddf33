package fingerprint

import (
	"bytes"
	"errors"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// TestBytes covers inputs the text golden file cannot hold: invalid UTF-8,
// control bytes, NUL.
func TestBytes(t *testing.T) {
	for _, tc := range []struct {
		name, sql, want string
	}{
		{"invalid utf8 in a name", "select \xff\xfeab from t", `select \xff\xfeab from t`},
		{"invalid utf8 in a string", "select '\xff\xfe' from t", "select ? from t"},
		{"invalid utf8 in a comment", "select a /* \xff */ from t", "select a from t"},
		{"invalid utf8 in backquotes", "select `a\xffB` from t", "select `a\\xffb` from t"},
		{"truncated rune", "select caf\xc3", `select caf\xc3`},
		{"valid utf8 kept, not lower-cased", "SELECT Ünïcödé FROM t", "select Ünïcödé from t"},
		{"valid utf8 in backquotes unquoted", "select `Ärger` from t", "select Ärger from t"},
		{"nul and controls are spaces", "select\x00a\x01from\x7ft", "select a from t"},
		{"controls in backquotes escaped", "select `a\tb\nc` from t", "select `a\\x09b\\x0ac` from t"},
		{"crlf", "select a\r\nfrom t\r\n", "select a from t"},
		{"only whitespace", " \t\r\n ", ""},
		{"only a comment", "-- nothing here", ""},
		{"only a hint", "/*+ BKA(t) */", ""},
		{"stray bytes", `select \ [ ] { } from t`, `select \ [ ] { } from t`},
		{"lone backquote", "`", "``"},
		{"lone quote", "'", "?"},
		{"dash at end", "select a -", "select a -"},
		{"double dash at end is a comment", "select a --", "select a"},
		{"dash comment before tab", "select a --\tx\nfrom t", "select a from t"},
		{"star slash outside a comment", "select 2 */ 3", "select ? * / ?"},
		{"exec comment unterminated", "/*!50000 select 1", "select ?"},
		{"hash inside exec comment body", "/*!50000 select 1 # x */", "select ?"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := New()
			id, tpl := f.Fingerprint([]byte(tc.sql))
			if string(tpl) != tc.want {
				t.Fatalf("Fingerprint(%q) = %q, want %q", tc.sql, tpl, tc.want)
			}
			if !utf8.Valid(tpl) {
				t.Fatalf("template %q is not valid UTF-8", tpl)
			}
			if want := ID(xxhash.Sum64String(tc.want)); id != want {
				t.Fatalf("id = %s, want xxhash64 of the template %s", id, want)
			}
		})
	}
}

func TestEmptyID(t *testing.T) {
	f := New()
	for _, sql := range []string{"", ";", "   ", "/* */", "-- x", "# y\n"} {
		id, tpl := f.Fingerprint([]byte(sql))
		if len(tpl) != 0 || id.String() != "ef46db3751d8e999" {
			t.Errorf("Fingerprint(%q) = %s %q, want the empty template ef46db3751d8e999", sql, id, tpl)
		}
	}
}

func TestID(t *testing.T) {
	for _, tc := range []struct {
		id ID
		s  string
	}{
		{0, "0000000000000000"},
		{1, "0000000000000001"},
		{0xdeadbeef, "00000000deadbeef"},
		{^ID(0), "ffffffffffffffff"},
		{0x0123456789abcdef, "0123456789abcdef"},
	} {
		if got := tc.id.String(); got != tc.s {
			t.Errorf("ID(%#x).String() = %q, want %q", uint64(tc.id), got, tc.s)
		}
		got, err := ParseID(tc.s)
		if err != nil || got != tc.id {
			t.Errorf("ParseID(%q) = %#x, %v; want %#x", tc.s, uint64(got), err, uint64(tc.id))
		}
		upper, err := ParseID(strings.ToUpper(tc.s))
		if err != nil || upper != tc.id {
			t.Errorf("ParseID(upper %q) = %#x, %v", tc.s, uint64(upper), err)
		}
		b, _ := tc.id.MarshalText()
		var back ID
		if err := back.UnmarshalText(b); err != nil || back != tc.id {
			t.Errorf("text round trip of %s: %s, %v", tc.id, back, err)
		}
		app, _ := tc.id.AppendText([]byte("x="))
		if string(app) != "x="+tc.s {
			t.Errorf("AppendText = %q", app)
		}
	}
	for _, bad := range []string{"", "0", "000000000000000", "00000000000000000", "000000000000000g", " 000000000000000", "-000000000000001", "0x00000000000001"} {
		if _, err := ParseID(bad); !errors.Is(err, ErrInvalidID) {
			t.Errorf("ParseID(%q) error = %v, want ErrInvalidID", bad, err)
		}
		var id ID
		if err := id.UnmarshalText([]byte(bad)); !errors.Is(err, ErrInvalidID) {
			t.Errorf("UnmarshalText(%q) error = %v, want ErrInvalidID", bad, err)
		}
	}
}

// TestHuge checks megabyte statements: a template always comes back, capped
// at MaxTemplateLen, with the id computed over the whole normalized text.
func TestHuge(t *testing.T) {
	f := New()

	// A megabyte IN list collapses: the template is short.
	var b bytes.Buffer
	b.WriteString("SELECT * FROM t WHERE id IN (")
	for i := 0; b.Len() < 1<<20; i++ {
		if i > 0 {
			b.WriteString(", ")
		}
		b.WriteString("123456")
	}
	b.WriteString(") AND k = 'x'")
	id, tpl := f.Fingerprint(b.Bytes())
	if want := "select * from t where id in (...) and k = ?"; string(tpl) != want {
		t.Fatalf("huge IN list: %q, want %q", tpl, want)
	}
	if _, small := f.Fingerprint([]byte("select * from t where id in (1) and k = 'y'")); string(small) != string(tpl) {
		t.Fatalf("huge and small IN list differ: %q", small)
	}
	_ = id

	// A megabyte multi-row INSERT collapses to one tuple.
	b.Reset()
	b.WriteString("INSERT INTO t (a, b) VALUES ")
	for i := 0; b.Len() < 1<<20; i++ {
		if i > 0 {
			b.WriteString(",")
		}
		b.WriteString("(1, 'abcdefgh')")
	}
	if _, tpl := f.Fingerprint(b.Bytes()); string(tpl) != "insert into t(a, b) values (?, ?)" {
		t.Fatalf("huge INSERT: %q", tpl)
	}

	// A megabyte of distinct columns cannot collapse: the template is cut.
	long := func(last string) []byte {
		var b bytes.Buffer
		b.WriteString("SELECT ")
		for i := 0; b.Len() < 1<<20; i++ {
			b.WriteString("côl_")
			b.WriteString(strings.Repeat("x", i%7))
			b.WriteString(", ")
		}
		b.WriteString(last)
		b.WriteString(" FROM t WHERE x = 1")
		return b.Bytes()
	}
	idA, tplA := f.Fingerprint(long("a"))
	if len(tplA) > MaxTemplateLen || !bytes.HasSuffix(tplA, []byte(TruncMark)) || !utf8.Valid(tplA) {
		t.Fatalf("capped template: len %d, suffix %q, valid %v", len(tplA), tplA[len(tplA)-8:], utf8.Valid(tplA))
	}
	if !bytes.HasPrefix(tplA, []byte("select côl_, côl_x, ")) {
		t.Fatalf("capped template starts %q", tplA[:30])
	}
	tplA = bytes.Clone(tplA)
	idB, tplB := f.Fingerprint(long("b"))
	if !bytes.Equal(tplA, tplB) {
		t.Fatal("the two capped templates differ before the cut")
	}
	if idA == idB {
		t.Fatal("statements that differ after the cut share an id")
	}
	// Back to small statements: buffers were released, results unchanged.
	if _, tpl := f.Fingerprint([]byte("select 1")); string(tpl) != "select ?" {
		t.Fatalf("after huge: %q", tpl)
	}
	if cap(f.out) > retainLimit {
		t.Fatalf("normalized buffer of %d bytes retained after a huge statement", cap(f.out))
	}
}

// TestDeep checks nesting deeper than the tracked parentheses.
func TestDeep(t *testing.T) {
	f := New()
	n := maxDepth * 4
	sql := "select " + strings.Repeat("(", n) + "1" + strings.Repeat(")", n) + " from t where a in (1, 2)"
	want := "select " + strings.Repeat("(", n) + "?" + strings.Repeat(")", n) + " from t where a in (...)"
	if _, tpl := f.Fingerprint([]byte(sql)); string(tpl) != want {
		t.Fatalf("deep nesting: got %d bytes, want %d", len(tpl), len(want))
	}
	// An IN list below the tracked depth is printed as is, but consistently.
	deepIn := strings.Repeat("(", maxDepth) + "a in (1, 2)" + strings.Repeat(")", maxDepth)
	_, tpl := f.Fingerprint([]byte(deepIn))
	if !strings.Contains(string(tpl), "a in (?, ?)") {
		t.Fatalf("IN below the depth limit: %q", tpl[maxDepth:])
	}
	// Unbalanced parentheses.
	for _, sql := range []string{")))", "((( a in (1", "a in (1)) , (2)", "values (1)), (1)"} {
		f.Fingerprint([]byte(sql))
	}
}

func TestAllocs(t *testing.T) {
	f := New()
	stmts := sysbenchStatements(1, 200)
	stmts = append(stmts, longStatements(2, 200)...)
	for _, s := range stmts { // warm up the buffers
		f.Fingerprint(s)
	}
	allocs := testing.AllocsPerRun(20, func() {
		for _, s := range stmts {
			f.Fingerprint(s)
		}
	})
	if allocs != 0 {
		t.Errorf("Fingerprint allocates %.1f times per %d statements in steady state", allocs, len(stmts))
	}
	dst := make([]byte, 0, 4096)
	allocs = testing.AllocsPerRun(20, func() {
		for _, s := range stmts {
			dst = f.Redact(dst[:0], s, 1024)
		}
	})
	if allocs != 0 {
		t.Errorf("Redact allocates %.1f times per %d statements", allocs, len(stmts))
	}
}

// TestReuse checks that a reused Fingerprinter answers like a fresh one.
func TestReuse(t *testing.T) {
	reused := New()
	for _, s := range append(sysbenchStatements(3, 300), longStatements(4, 300)...) {
		id1, tpl1 := reused.Fingerprint(s)
		id2, tpl2 := New().Fingerprint(s)
		if id1 != id2 || !bytes.Equal(tpl1, tpl2) {
			t.Fatalf("%q: reused %s %q, fresh %s %q", s, id1, tpl1, id2, tpl2)
		}
	}
}

func TestRedact(t *testing.T) {
	f := New()
	for _, tc := range []struct {
		name, sql string
		max       int
		want      string
	}{
		{"invalid utf8 replaced", "select '\xff' from \xfft", 0, "select ? from \uFFFDt"},
		{"controls become spaces", "select\x00a\x01from t", 0, "select a from t"},
		{"controls in backquotes", "select `a\x00b` from t", 0, "select `a b` from t"},
		{"max smaller than the marker", "select a from t", 2, "se"},
		{"max equal to the length", "select ?", 8, "select ?"},
		{"max one short", "select ?", 7, "sele" + TruncMark},
		{"cut before a multibyte rune", "select ééé", 11, "select " + TruncMark},
		{"no marker inside a rune", "ééé", 1, ""},
		{"hint with a quote inside", "select /*+ 'x */ a from t where b = 'y'", 0, "select /*+ ?*/ a from t where b = ?"},
		{"hint with a comment opener inside", "select /*+ a /* b */ c", 0, "select /*+ a /* b */ c"},
		{"unterminated hint", "select /*+ a 'b", 0, "select /*+ a ?"},
		{"number after a qualifier dot", "select t.1, .5 from t", 0, "select t.1, ? from t"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			got := f.Redact([]byte("prefix:"), []byte(tc.sql), tc.max)
			if string(got) != "prefix:"+tc.want {
				t.Fatalf("Redact(%q, %d) = %q, want %q", tc.sql, tc.max, got[7:], tc.want)
			}
			if !utf8.Valid(got) {
				t.Fatalf("not valid UTF-8: %q", got)
			}
		})
	}
	// A megabyte statement is not redacted past the limit.
	huge := bytes.Repeat([]byte("select 'abc', 12345 from t; "), 40000)
	got := f.Redact(nil, huge, 1024)
	if len(got) != 1024 || !bytes.HasSuffix(got, []byte(TruncMark)) {
		t.Fatalf("huge redact: len %d", len(got))
	}
}
