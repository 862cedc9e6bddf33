package fingerprint

import (
	"bytes"
	"testing"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

func xxhashSum(b []byte) uint64 { return xxhash.Sum64(b) }

// fuzzSeeds are the seed corpus of both fuzz targets.
func fuzzSeeds(f *testing.F) {
	for _, s := range []string{
		"", ";", "SELECT c FROM sbtest1 WHERE id=123",
		"INSERT INTO t (a,b) VALUES (1,'x'),(2,'y'),(3,NULL)",
		"select * from t where a in (1, -2, 'x', ?) and b in (select 1)",
		"select /*+ hint('x */ a from t -- c\n # d\n where b = -1.5e3",
		"/*!40101 SET NAMES utf8mb4 */;", "/*M!100100 select 1 */",
		"select `a``b`, `null`, @v, @@x.y, _utf8mb4'x', N'y', x'0a', b'01', 0x1F, 0b1",
		"select 'unterminated", "select `open", "/* open", "select x'0", "values (1), (",
		"select \xff\xfe\x00 from t", "select - - 1, a - -1, (a)-1, ?-1",
		"select t.1x, .5, t.5, 1.5e, 1e, 0x, 0xg, 1abc", "insert into t values (1, 2), (3, now()), (4, now())",
		"in (((1)))", "values ((1))", ")))(((", "a in (1 /* c */, 2)", "a in (- -1)",
	} {
		f.Add([]byte(s))
	}
	for _, s := range sysbenchStatements(9, 20) {
		f.Add(s)
	}
	for _, s := range longStatements(9, 20) {
		f.Add(s)
	}
}

// FuzzFingerprint: any input gives a template without panicking; the result
// is deterministic, valid UTF-8 without control bytes, single-spaced, its id
// is the hash of the template, and the literal-list fast path agrees with
// the token-by-token path. For valid UTF-8 without control bytes (which the
// template escapes) the template is a fixed point.
func FuzzFingerprint(f *testing.F) {
	fuzzSeeds(f)
	fp := New()
	f.Fuzz(func(t *testing.T, sql []byte) {
		checkFingerprint(t, fp, sql)
		if !utf8.Valid(sql) || bytes.ContainsFunc(sql, isControl) {
			return
		}
		id, tpl := fp.Fingerprint(sql)
		tpl = bytes.Clone(tpl)
		if id2, tpl2 := fp.Fingerprint(tpl); id2 != id {
			t.Fatalf("%q: template %q is not a fixed point: %q", sql, tpl, tpl2)
		}
	})
}

// FuzzRedact: any input gives a valid UTF-8 sample within max bytes; a cut
// sample is a prefix of the whole one; and for valid UTF-8 input without
// control bytes the sample fingerprints like the statement.
func FuzzRedact(f *testing.F) {
	fuzzSeeds(f)
	fp := New()
	f.Fuzz(func(t *testing.T, sql []byte) {
		whole := fp.Redact([]byte("p:"), sql, 0)
		if !bytes.HasPrefix(whole, []byte("p:")) || !utf8.Valid(whole) {
			t.Fatalf("%q: sample %q", sql, whole)
		}
		whole = whole[2:]
		for _, max := range []int{1, 3, 4, 16, 100} {
			cut := fp.Redact(nil, sql, max)
			if len(cut) > max || !utf8.Valid(cut) {
				t.Fatalf("%q max %d: sample %q", sql, max, cut)
			}
			if len(whole) <= max {
				if !bytes.Equal(cut, whole) {
					t.Fatalf("%q max %d: %q, whole %q", sql, max, cut, whole)
				}
				continue
			}
			prefix := bytes.TrimSuffix(cut, []byte(TruncMark))
			if !bytes.HasPrefix(whole, prefix) {
				t.Fatalf("%q max %d: cut %q is not a prefix of %q", sql, max, cut, whole)
			}
		}
		if !utf8.Valid(sql) || bytes.ContainsFunc(sql, isControl) {
			return
		}
		id, tpl := fp.Fingerprint(sql)
		tpl = bytes.Clone(tpl)
		if id2, tpl2 := fp.Fingerprint(whole); id2 != id {
			t.Fatalf("%q: redacted %q fingerprints to %q, the statement to %q", sql, whole, tpl2, tpl)
		}
	})
}
