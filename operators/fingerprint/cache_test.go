package fingerprint

import (
	"bytes"
	"fmt"
	"math/rand/v2"
	"testing"
)

// mutateLiterals returns s with the content of its literals and comments
// replaced by other content, walking s with the lexer's own primitives: a
// generator of statements that should share s's skeleton. It does not need
// to be exact (the tests compare skeletons before concluding anything), only
// to make equal skeletons likely.
func mutateLiterals(r *rand.Rand, s []byte) []byte {
	numbers := []string{"0", "7", "12345", "1.5", "2e10", "3.25E-4", "0x1F", "0b101", "1.", "99999999999999999999"}
	strs := []string{"", "x", "it''s", `a\'b`, `\\`, "-- c", "/* c */", "#", "ünï", "(1, 2)", "``", "?", "a\nb"}
	var out []byte
	n := len(s)
	for i := 0; i < n; {
		c := s[i]
		switch {
		case class[c]&cStart != 0:
			j := scanWord(s, i+1)
			out = append(out, s[i:j]...)
			i = j
		case class[c]&cDigit != 0 && (i == 0 || s[i-1] != '.'):
			j, num := scanNumber(s, i)
			if num && (j == n || s[j] != '.' && class[s[j]]&cIdent == 0) {
				out = append(out, numbers[r.IntN(len(numbers))]...)
			} else {
				out = append(out, s[i:j]...)
			}
			i = j
		case c == '\'' || c == '"':
			j := skipString(s, i+1, c)
			if j < n || (j > i+1 && s[j-1] == c) {
				str := strs[r.IntN(len(strs))]
				if c == '"' {
					str = string(bytes.ReplaceAll([]byte(str), []byte("'"), []byte(`"`)))
				}
				out = append(append(append(out, c), str...), c)
			} else {
				out = append(out, s[i:j]...) // unterminated: keep
			}
			i = j
		case c == '/' && i+1 < n && s[i+1] == '*' && !(i+2 < n && (s[i+2] == '!' || s[i+2] == 'M')):
			j := skipBlockComment(s, i+2)
			if j <= n && j >= i+4 && string(s[j-2:j]) == "*/" {
				out = append(out, fmt.Sprintf("/* %d 'x */", r.IntN(1000))...)
			} else {
				out = append(out, s[i:j]...)
			}
			i = j
		default:
			out = append(out, c)
			i++
		}
	}
	return out
}

// checkSkeleton asserts the cache's claim on a pair of statements: equal
// skeletons mean equal templates. It reports whether the skeletons were
// equal.
func checkSkeleton(t *testing.T, a, b []byte) bool {
	t.Helper()
	ska, oka := skeleton(nil, a)
	skb, okb := skeleton(nil, b)
	if !oka || !okb || !bytes.Equal(ska, skb) {
		return false
	}
	fa, fb := New(), New()
	fa.noCache, fb.noCache = true, true
	ida, ta := fa.Fingerprint(a)
	idb, tb := fb.Fingerprint(b)
	if ida != idb || !bytes.Equal(ta, tb) {
		t.Fatalf("same skeleton %q\n%q -> %q\n%q -> %q", ska, a, ta, b, tb)
	}
	return true
}

// TestSkeletonPreservesTemplate: statements that differ in their literals
// and comments (generated shapes with every kind of literal, separator and
// case; the sysbench and long benchmark statements) share a skeleton often,
// and whenever they do, they share a template.
func TestSkeletonPreservesTemplate(t *testing.T) {
	r := rand.New(rand.NewPCG(3, 4))
	var corpus [][]byte
	for i := 0; i < 3000; i++ {
		corpus = append(corpus, []byte(render(r, shapes[r.IntN(len(shapes))])))
	}
	corpus = append(corpus, sysbenchStatements(5, 500)...)
	corpus = append(corpus, longStatements(5, 500)...)
	same := 0
	for _, a := range corpus {
		for k := 0; k < 3; k++ {
			if checkSkeleton(t, a, mutateLiterals(r, a)) {
				same++
			}
		}
	}
	if same < len(corpus) {
		t.Fatalf("only %d of %d mutated pairs share a skeleton: the test exercises too little", same, 3*len(corpus))
	}
	t.Logf("%d of %d mutated pairs share a skeleton", same, 3*len(corpus))
}

// TestCacheMatchesNormalize: a Fingerprinter with its cache gives, call for
// call, the template and id of one without, over a mixed stream in which
// shapes repeat (hits), alternate and change (misses), including statements
// too long for the cache, uncacheable ones and the fuzz seeds.
func TestCacheMatchesNormalize(t *testing.T) {
	r := rand.New(rand.NewPCG(8, 9))
	var stream [][]byte
	for _, s := range []string{
		"select t.5 from t", "select 1.5.5", "select `a`.1", "/*!40101 select 1 */ */ 2",
		"/*!select 1 */*/ 3", "select 1 /*! , 2 */ /* x */", "x'0a' 'a' \"b\" -- c\n1",
		"select \x00 1", "select 'a\x00b'", "a.1x", "a .5", "(.5)", "?.5", "1..5", "0x1..5", "1...5",
	} {
		stream = append(stream, []byte(s), []byte(s))
	}
	for i := 0; i < 2000; i++ {
		s := []byte(render(r, shapes[r.IntN(len(shapes))]))
		stream = append(stream, s, mutateLiterals(r, s))
	}
	long := bytes.Repeat([]byte("select 1, "), cacheMaxInput/10+1) // > cacheMaxInput
	stream = append(stream, long, long)
	stream = append(stream, longStatements(2, 2000)...)
	cached, plain := New(), New()
	plain.noCache = true
	for pass := 0; pass < 2; pass++ {
		for _, s := range stream {
			id, tpl := cached.Fingerprint(s)
			tpl = bytes.Clone(tpl)
			wid, wtpl := plain.Fingerprint(s)
			if id != wid || !bytes.Equal(tpl, wtpl) {
				t.Fatalf("%q: cached %s %q, normalized %s %q", s, id, tpl, wid, wtpl)
			}
		}
	}
}

// TestCacheBypass: a stream without repeated shapes turns the cache off for
// a while; repeated shapes bring it back.
func TestCacheBypass(t *testing.T) {
	f := New()
	for i := 0; i < cacheWindow; i++ {
		f.Fingerprint(fmt.Appendf(nil, "select c%d from t", i)) // every shape new
	}
	if f.cache.bypass == 0 {
		t.Fatal("cache still consulted after a window without hits")
	}
	for i := 0; i < cacheBypass; i++ {
		f.Fingerprint([]byte("select 1"))
	}
	if f.cache.bypass != 0 {
		t.Fatalf("bypass %d after %d statements", f.cache.bypass, cacheBypass)
	}
	before := f.cache.hits
	f.Fingerprint([]byte("select 1"))
	f.Fingerprint([]byte("select 2"))
	if f.cache.hits != before+1 {
		t.Fatalf("hits %d, want %d", f.cache.hits, before+1)
	}
}

// TestCacheBounded: the cache never holds more than cacheEntries shapes nor
// more than cacheBytes of skeletons and templates.
func TestCacheBounded(t *testing.T) {
	f := New()
	check := func(s []byte) {
		t.Helper()
		f.Fingerprint(s)
		f.Fingerprint(s) // a hit, so the cache stays on
		if len(f.cache.entries) > cacheEntries || f.cache.bytes > cacheBytes {
			t.Fatalf("%d entries, %d bytes", len(f.cache.entries), f.cache.bytes)
		}
	}
	for i := 0; i < 3*cacheEntries; i++ {
		check(fmt.Appendf(nil, "select c%d from t", i))
	}
	for i := 0; i < 3*cacheBytes/cacheMaxInput; i++ {
		check(fmt.Appendf(bytes.Repeat([]byte("select c, "), cacheMaxInput/10-2), "c%d", i))
	}
}

// TestWithCacheBytes: the option's bounds hold (bytes, and one shape per
// 512 bytes), a cache of any size or none gives the same templates, and
// n ≤ 0 turns the cache off.
func TestWithCacheBytes(t *testing.T) {
	stmts := longStatements(3, 3000)
	ref := New(WithCacheBytes(0))
	if !ref.noCache {
		t.Fatal("WithCacheBytes(0) left the cache on")
	}
	for _, n := range []int{64 << 10, 1 << 20, 32 << 20} {
		f := New(WithCacheBytes(n))
		for round := range 2 {
			for i, s := range stmts {
				id, tpl := f.Fingerprint(s)
				wid, wtpl := ref.Fingerprint(s)
				if id != wid || !bytes.Equal(tpl, wtpl) {
					t.Fatalf("cache %d, round %d, statement %d: %x %q, uncached %x %q", n, round, i, id, tpl, wid, wtpl)
				}
				if f.cache.bytes > n || len(f.cache.entries) > max(n/512, 64) {
					t.Fatalf("cache %d: %d bytes, %d entries", n, f.cache.bytes, len(f.cache.entries))
				}
			}
		}
	}
}

// FuzzSkeleton: equal skeletons give equal templates, for two arbitrary
// inputs and for an input and its literal-mutated variant.
func FuzzSkeleton(f *testing.F) {
	r := rand.New(rand.NewPCG(1, 2))
	for _, s := range longStatements(11, 20) {
		f.Add(s, mutateLiterals(r, s), uint64(1))
	}
	for i := 0; i < 40; i++ {
		s := []byte(render(r, shapes[i%len(shapes)]))
		f.Add(s, mutateLiterals(r, s), uint64(i))
	}
	f.Add([]byte("/*!1 */*/ 1"), []byte("/*!1 */*/ 2"), uint64(0))
	f.Add([]byte("select t.5e+3"), []byte("select t.5e+0x1F"), uint64(0))
	f.Fuzz(func(t *testing.T, a, b []byte, seed uint64) {
		checkSkeleton(t, a, b)
		checkSkeleton(t, a, mutateLiterals(rand.New(rand.NewPCG(seed, seed)), a))
	})
}

func BenchmarkSkeleton(b *testing.B) {
	stmts := longStatements(1, 4096)
	var buf []byte
	total := 0
	for _, s := range stmts {
		total += len(s)
	}
	b.SetBytes(int64(total / len(stmts)))
	for i := 0; b.Loop(); i++ {
		buf, _ = skeleton(buf[:0], stmts[i%len(stmts)])
	}
}
