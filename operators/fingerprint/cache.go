package fingerprint

import (
	"bytes"

	"github.com/cespare/xxhash/v2"
)

// The template cache. Statements of one shape differ only in their literals,
// so most calls of a job's Fingerprinter see a shape it has seen before. The
// cache keys each statement by its skeleton: the statement with the content
// of every string literal, every numeric literal and every plain comment
// replaced by a marker, and every other byte kept as it is. Computing the
// skeleton is a light scan (no lower-casing, no token history, no spacing
// rules); on a hit, the template and id of the first statement with that
// skeleton are returned without normalizing.
//
// Why a hit is exact: the skeleton marks exactly the spans that normalize
// treats as string literals (from the same opening quotes, ended by the same
// skipString), numeric literals (scanNumber at a token start not preceded by
// '.', the rule normalize applies) and skipped comments (the same
// blockComment, skipBlockComment, skipLine and isDashComment), and keeps
// every other byte. normalize writes "?" for a literal whatever its content,
// drops a comment whatever its content, and decides everything else from the
// kept bytes and the kinds of the tokens before (which the kept bytes and the
// markers determine in turn). Whenever a decision of normalize could look at
// bytes inside a literal (a '.' followed by digits, whose reading depends on
// the token before), the scan keeps those bytes verbatim instead. Two
// statements with equal skeletons therefore normalize to the same text. The
// marker escape (0x00) makes the encoding unambiguous, and a hit compares the
// whole skeleton, not only its hash. FuzzSkeleton and
// TestSkeletonPreservesTemplate check the claim against normalize directly.

const (
	// cacheEntries and cacheBytes bound the skeletons remembered (the
	// bytes count skeletons and templates); past either bound the cache is
	// emptied and refills with the shapes still in use.
	cacheEntries = 16 * 1024
	cacheBytes   = 8 << 20
	// cacheMaxInput is the longest statement the cache looks at; longer
	// ones are normalized directly. Multi-row INSERTs of a few kilobytes are
	// common and repeat their shape (one skeleton per row count).
	cacheMaxInput = 64 << 10
	// The cache watches its hit rate over windows of cacheWindow lookups and,
	// when fewer than 1 in cacheMinHitRate hit (every statement of its own
	// shape), stands aside for cacheBypass statements before trying again, so
	// that a workload without repeated shapes pays little for it.
	cacheWindow     = 1024
	cacheMinHitRate = 4
	cacheBypass     = 16 * 1024
)

// Markers in a skeleton, each after the escape byte 0x00 (a 0x00 of the
// statement itself is written as 0x00 0x00).
const (
	markEscape  = 0x00
	markNumber  = 'n'
	markString  = 's' // after the opening quote, which is kept
	markBlock   = 'b' // a plain or hint block comment
	markLine    = 'l' // a -- or # comment (the newline that ends it is kept)
	markLiteral = 0x00
)

type cacheEntry struct {
	skeleton []byte
	id       ID
	template []byte
}

type templateCache struct {
	entries map[uint64]*cacheEntry
	buf     []byte // the skeleton being built
	arena   []byte // storage for entries' skeletons and templates
	bytes   int    // skeleton and template bytes of the entries

	lookups, hits int // in the current window
	bypass        int // statements left to normalize without the cache

	maxBytes, maxEntries int // bounds: cacheBytes, cacheEntries unless WithCacheBytes
}

// lookup returns the cached template of sql's skeleton (hit), or the hash
// under which store may remember it (cacheable: the skeleton is kept for
// store), or neither when sql has no skeleton.
func (c *templateCache) lookup(sql []byte) (id ID, tmpl []byte, h uint64, hit, cacheable bool) {
	c.buf, cacheable = skeleton(c.buf[:0], sql)
	if !cacheable {
		return 0, nil, 0, false, false
	}
	h = xxhash.Sum64(c.buf)
	if e := c.entries[h]; e != nil && bytes.Equal(e.skeleton, c.buf) {
		c.hits++
		return e.id, e.template, h, true, true
	}
	return 0, nil, h, false, true
}

// store remembers the template of the skeleton built by the last lookup
// and returns the cached copy.
func (c *templateCache) store(h uint64, id ID, tmpl []byte) []byte {
	need := len(c.buf) + len(tmpl)
	if len(c.entries) >= c.maxEntries || c.bytes+need > c.maxBytes || c.entries == nil {
		c.entries = make(map[uint64]*cacheEntry, 256)
		c.arena, c.bytes = nil, 0
	}
	c.bytes += need
	if cap(c.arena)-len(c.arena) < need {
		c.arena = make([]byte, 0, max(64<<10, need))
	}
	k := len(c.arena)
	c.arena = append(c.arena, c.buf...)
	c.arena = append(c.arena, tmpl...)
	e := &cacheEntry{
		skeleton: c.arena[k : k+len(c.buf) : k+len(c.buf)],
		id:       id,
		template: c.arena[k+len(c.buf) : k+need : k+need],
	}
	c.entries[h] = e
	return e.template
}

// use reports whether the cache should be consulted for the next statement,
// and keeps the hit-rate accounting.
func (c *templateCache) use(n int) bool {
	if n > cacheMaxInput {
		return false
	}
	if c.bypass > 0 {
		c.bypass--
		return false
	}
	c.lookups++
	if c.lookups == cacheWindow {
		if c.hits*cacheMinHitRate < c.lookups {
			c.bypass = cacheBypass
		}
		c.lookups, c.hits = 0, 0
	}
	return true
}

// skeleton appends the skeleton of s to dst (see the comment at the top of
// this file). It copies runs of ordinary bytes at once and stops only at the
// bytes where normalize's reading can start a literal or a comment (a digit
// that does not continue a name, a quote, '.', '-', '/', '#', '*' closing an
// executable comment, a backquote whose content it must not misread, 0x00).
// It returns ok false, and s is not cached, when normalize's reading of a
// '.' before a digit would depend on the token before it (t.5 is a column,
// 1.5.5 two numbers): a case too rare to be worth mirroring.
func skeleton(dst, s []byte) (_ []byte, ok bool) {
	n := len(s)
	exec := false // inside /*! ... */, as in normalize
	for i := 0; i < n; {
		j := i
		for j < n && skelStop[s[j]] == 0 {
			j++
		}
		dst = append(dst, s[i:j]...)
		if j == n {
			break
		}
		i = j
		c := s[i]
		switch {
		case class[c]&cDigit != 0:
			if i > 0 && class[s[i-1]]&cIdent != 0 {
				// Inside a name (t1, col_2): normalize's word goes on.
				dst = append(dst, c)
				i++
				continue
			}
			j, num := plainNumber(s, i)
			if !num {
				j, num = scanNumber(s, i)
			}
			if num {
				dst = append(dst, markEscape, markNumber)
			} else {
				dst = append(dst, s[i:j]...) // a name that starts with digits
			}
			i = j
		case c == '\'' || c == '"':
			dst = append(dst, c, markEscape, markString)
			i = skipString(s, i+1, c)
		case c == '`':
			end, _ := skipQuotedIdent(s, i+1)
			dst = append(dst, s[i:end]...)
			i = end
		case c == '.':
			if i+1 < n && class[s[i+1]]&cDigit != 0 {
				if qualifier(s, i) {
					return dst, false
				}
				dst = append(dst, markEscape, markNumber)
				i, _ = scanNumber(s, i) // .5: a number whatever came before
				continue
			}
			dst = append(dst, c)
			i++
		case c == '#':
			dst = append(dst, markEscape, markLine)
			i = skipLine(s, i)
		case c == '-' && isDashComment(s, i):
			dst = append(dst, markEscape, markLine)
			i = skipLine(s, i)
		case c == '/' && i+1 < n && s[i+1] == '*':
			kind, body := blockComment(s, i)
			if kind == commentExec {
				// Executable comment: its body is SQL; the opener is kept.
				exec = true
				dst = append(dst, s[i:body]...)
				i = body
			} else {
				dst = append(dst, markEscape, markBlock)
				i = skipBlockComment(s, body)
			}
		case c == '*' && exec && i+1 < n && s[i+1] == '/':
			exec = false
			dst = append(dst, '*', '/')
			i += 2
		case c == markEscape:
			dst = append(dst, markEscape, markLiteral)
			i++
		default: // '-', '/' or '*' of an operator
			dst = append(dst, c)
			i++
		}
	}
	return dst, true
}

// skelStop marks the bytes at which skeleton stops copying.
var skelStop = func() (t [256]uint8) {
	for _, c := range []byte("0123456789'\"`.#-/*") {
		t[c] = 1
	}
	t[markEscape] = 1
	return t
}()
