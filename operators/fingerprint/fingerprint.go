package fingerprint

import (
	"bytes"
	"errors"
	"fmt"
	"slices"
	"unicode/utf8"

	"github.com/cespare/xxhash/v2"
)

// Version identifies the fingerprint algorithm. It is written to the Parquet
// column fingerprint_version. It is bumped whenever any input would get a
// different template or id; within one Version, templates and ids are stable
// across das releases.
//
// Version 2 (2026-12): a name that starts with a digit after a dot that
// follows no name ("1 . 0a", ") .1a") is written after a space, so that
// the template is a fixed point; every other template and id is the same
// as in Version 1.
const Version = 2

// MaxTemplateLen caps the length of a returned template, marker included. A
// longer normalized text is cut on a UTF-8 boundary and ends with TruncMark;
// its ID is still computed over the whole normalized text.
const MaxTemplateLen = 64 << 10

// TruncMark ends a template or a redacted sample that was cut short.
const TruncMark = "…"

// maxInput bounds the bytes of one statement that are looked at, so that
// offsets in the normalized text (at most 4 bytes per input byte: an invalid
// byte becomes \xNN) fit in int32.
const maxInput = 256 << 20

// retainLimit is the largest buffer capacity kept between calls: one huge
// statement must not pin its buffers for the life of the Fingerprinter.
const retainLimit = 1 << 20

// maxDepth bounds the parentheses tracked for IN and VALUES lists; deeper
// ones are still printed but never collapse.
const maxDepth = 256

// ErrInvalidID is returned by ParseID for a string that is not 16 hex digits.
var ErrInvalidID = errors.New("fingerprint: invalid template id")

// ID identifies a template: the xxhash64 of its full normalized text. It does
// not depend on the database, the instance or the das release, only on the
// SQL text and Version.
type ID uint64

// String returns the id as 16 lower-case hex digits: the template_id column.
func (id ID) String() string {
	var b [16]byte
	return string(id.appendHex(b[:0]))
}

// AppendText appends the String form to b. It never fails.
func (id ID) AppendText(b []byte) ([]byte, error) {
	return id.appendHex(b), nil
}

// MarshalText returns the String form.
func (id ID) MarshalText() ([]byte, error) {
	return id.appendHex(make([]byte, 0, 16)), nil
}

// UnmarshalText parses the String form, as ParseID does.
func (id *ID) UnmarshalText(b []byte) error {
	v, err := ParseID(string(b))
	if err != nil {
		return err
	}
	*id = v
	return nil
}

func (id ID) appendHex(b []byte) []byte {
	const digits = "0123456789abcdef"
	for shift := 60; shift >= 0; shift -= 4 {
		b = append(b, digits[(id>>uint(shift))&0xf])
	}
	return b
}

// ParseID parses exactly 16 hex digits (either case) into an ID.
func ParseID(s string) (ID, error) {
	if len(s) != 16 {
		return 0, fmt.Errorf("%w %q: want 16 hex digits", ErrInvalidID, s)
	}
	var v uint64
	for i := 0; i < len(s); i++ {
		c := s[i]
		var d byte
		switch {
		case c >= '0' && c <= '9':
			d = c - '0'
		case c >= 'a' && c <= 'f':
			d = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			d = c - 'A' + 10
		default:
			return 0, fmt.Errorf("%w %q: want 16 hex digits", ErrInvalidID, s)
		}
		v = v<<4 | uint64(d)
	}
	return ID(v), nil
}

// Kinds of the tokens written to the normalized text.
const (
	tNone   uint8 = iota // before the first token
	tWord                // identifier or keyword, lower-cased
	tQuoted              // backquoted identifier that keeps its quotes
	tValue               // "?": a literal or a placeholder
	tList                // "...": a collapsed IN list
	tOp                  // operator
	tSign                // "-" or "+", binary or unary
	tLParen
	tRParen
	tComma
	tDot
	tSemi
	tOther // any other punctuation byte
	numKinds
)

// spaceBefore[prev][cur] says whether a space separates two tokens:
// 0 never, 1 always, 2 when prev is a keyword with kwParen (cur is "(").
var spaceBefore = func() (t [numKinds][numKinds]uint8) {
	for p := range numKinds {
		for c := range numKinds {
			switch {
			case p == tNone, p == tLParen, p == tDot:
				t[p][c] = 0
			case c == tComma, c == tRParen, c == tDot, c == tSemi:
				t[p][c] = 0
			case c == tLParen && p == tWord:
				t[p][c] = 2
			case c == tLParen && p == tQuoted:
				t[p][c] = 0
			default:
				t[p][c] = 1
			}
		}
	}
	return t
}()

// token is one token of the normalized text.
type token struct {
	start int32 // offset of the separating space, or of the text if none
	text  int32 // offset of the text
	end   int32 // end of the text
	kind  uint8
}

// Kinds of open parentheses.
const (
	fPlain      uint8 = iota
	fIn               // IN ( ... )
	fValues           // VALUES ( ... ): the first tuple of a row list
	fValuesNext       // , ( ... ) right after a row-list tuple
)

type frame struct {
	kind  uint8
	open  int32 // offset of "("
	comma int32 // fValuesNext: start of the "," before it
}

// Fingerprinter computes templates. It reuses its buffers and allocates
// nothing in steady state. It is not safe for concurrent use: give each
// goroutine its own.
type Fingerprinter struct {
	out    []byte  // the normalized text being built
	capped []byte  // the template when out exceeds MaxTemplateLen
	hist   []token // the tokens of out
	frames []frame // open parentheses
	deep   int     // open parentheses beyond maxDepth

	// The last tuple of a VALUES row list, as offsets in out, or -1.
	tupleStart, tupleEnd int32

	cache templateCache

	noFastLists bool // tests: disable the valueRun fast path
	noCache     bool // tests and benchmarks: normalize every statement
}

// New returns a Fingerprinter.
func New(opts ...Option) *Fingerprinter {
	f := &Fingerprinter{
		out:    make([]byte, 0, 512),
		hist:   make([]token, 0, 64),
		frames: make([]frame, 0, 8),
		cache:  templateCache{maxBytes: cacheBytes, maxEntries: cacheEntries},
	}
	for _, o := range opts {
		o(f)
	}
	return f
}

// Option configures New.
type Option func(*Fingerprinter)

// WithCacheBytes bounds the template cache (cache.go) at n bytes of
// skeletons and templates, and at one shape per 512 bytes of n. The default,
// 8 MiB, suits a Fingerprinter of a library or an agent; a job that
// fingerprints a fleet's statements gains from more (sqlagg uses 32 MiB:
// the large multi-row INSERT shapes then stop evicting the rest). n ≤ 0
// turns the cache off.
func WithCacheBytes(n int) Option {
	return func(f *Fingerprinter) {
		if n <= 0 {
			f.noCache = true
			return
		}
		f.cache.maxBytes, f.cache.maxEntries = n, max(n/512, 64)
	}
}

// Fingerprint returns the template of sql and its id. The returned template
// slice is owned by f, must not be modified, and is valid until the next call
// of a method of f. Any input gives a template: the template of empty or
// comment-only text is empty. The template is valid UTF-8 and has no control
// characters.
//
// f remembers the templates of the statement shapes it has seen (cache.go):
// a statement that differs from an earlier one only in its literals and
// comments gets that statement's template without being normalized again.
func (f *Fingerprinter) Fingerprint(sql []byte) (ID, []byte) {
	if f.noCache || !f.cache.use(len(sql)) {
		return f.fingerprint(sql)
	}
	id, tmpl, h, hit, cacheable := f.cache.lookup(sql)
	switch {
	case hit:
		return id, tmpl
	case cacheable:
		id, tmpl = f.fingerprint(sql)
		return id, f.cache.store(h, id, tmpl)
	}
	return f.fingerprint(sql)
}

// fingerprint normalizes sql: Fingerprint without the cache.
func (f *Fingerprinter) fingerprint(sql []byte) (ID, []byte) {
	f.reset()
	f.normalize(sql)
	for n := len(f.hist); n > 0 && f.hist[n-1].kind == tSemi; n = len(f.hist) {
		f.truncate(f.hist[n-1].start) // trailing ";" does not split a template
	}
	id := ID(xxhash.Sum64(f.out))
	if len(f.out) <= MaxTemplateLen {
		return id, f.out
	}
	cut := MaxTemplateLen - len(TruncMark)
	for cut > 0 && f.out[cut]&0xc0 == 0x80 {
		cut--
	}
	f.capped = append(append(f.capped[:0], f.out[:cut]...), TruncMark...)
	return id, f.capped
}

func (f *Fingerprinter) reset() {
	if cap(f.out) > retainLimit {
		f.out = nil
	}
	if cap(f.hist) > retainLimit/16 {
		f.hist = nil
	}
	f.out = f.out[:0]
	f.hist = f.hist[:0]
	f.frames = f.frames[:0]
	f.deep = 0
	f.tupleStart, f.tupleEnd = -1, -1
}

// normalize lexes s and writes the normalized text to f.out.
func (f *Fingerprinter) normalize(s []byte) {
	if len(s) > maxInput {
		s = s[:maxInput]
	}
	n := len(s)
	exec := false // inside /*! ... */
	for i := 0; i < n; {
		c := s[i]
		cl := class[c]
		if cl&cSpace != 0 {
			i++
			continue
		}
		if cl&cStart != 0 {
			if i+1 < n && s[i+1] == '\'' {
				switch c | 0x20 {
				case 'x', 'b', 'n': // X'0A', B'01', N'national'
					i = skipString(s, i+2, '\'')
					f.value()
					continue
				}
			}
			i = f.word(s, i)
			continue
		}
		if cl&cDigit != 0 {
			if i > 0 && s[i-1] == '.' { // t.1x: a name after a qualifier dot
				i = f.word(s, i)
				continue
			}
			j, num := plainNumber(s, i)
			if !num {
				j, num = scanNumber(s, i)
			}
			if num {
				f.value()
				i = j
			} else {
				i = f.word(s, i)
			}
			continue
		}
		switch c {
		case '\'', '"':
			i = skipString(s, i+1, c)
			f.value()
		case '`':
			end, bodyEnd := skipQuotedIdent(s, i+1)
			f.quoted(s[i+1 : bodyEnd])
			i = end
		case '?':
			f.value()
			i++
		case '(':
			i = f.lparen(s, i)
		case ')':
			f.rparen()
			i++
		case ',':
			start := int32(len(f.out))
			f.out = append(f.out, ',')
			f.hist = append(f.hist, token{start: start, text: start, end: start + 1, kind: tComma})
			i++
		case ';':
			f.emit(tSemi, ';')
			i++
		case '.':
			if i+1 < n && class[s[i+1]]&cDigit != 0 && !f.qualifier(s, i) {
				i, _ = scanNumber(s, i) // .5
				f.value()
			} else {
				f.emit(tDot, '.')
				i++
			}
		case '#':
			i = skipLine(s, i)
		case '-':
			if isDashComment(s, i) {
				i = skipLine(s, i)
			} else {
				i = f.op(s, i)
			}
		case '/':
			if i+1 < n && s[i+1] == '*' {
				kind, body := blockComment(s, i)
				if kind == commentExec {
					exec = true
					i = body
				} else {
					i = skipBlockComment(s, body)
				}
			} else {
				i = f.op(s, i)
			}
		case '*':
			if exec && i+1 < n && s[i+1] == '/' {
				exec = false
				i += 2
			} else {
				i = f.op(s, i)
			}
		case '+', '<', '>', '=', '!', '|', '&', ':', '%', '^', '~':
			i = f.op(s, i)
		default:
			f.emit(tOther, c)
			i++
		}
	}
}

// qualifier reports whether the '.' at s[i] follows a name (t.5 is a column
// reference, not t followed by 0.5).
func qualifier(s []byte, i int) bool {
	return i > 0 && (class[s[i-1]]&cIdent != 0 || s[i-1] == '`')
}

// qualifier reports whether the '.' at s[i] qualifies the name just before
// it: it touches the name (t.5 is column 5 of t, t .5 is t then 0.5) and the
// token before is a name, not a number (1.5.5 is two numbers).
func (f *Fingerprinter) qualifier(s []byte, i int) bool {
	if !qualifier(s, i) {
		return false
	}
	n := len(f.hist)
	return n > 0 && (f.hist[n-1].kind == tWord || f.hist[n-1].kind == tQuoted)
}

// space writes the separator that goes before a token of kind cur and
// returns the token's start offset.
func (f *Fingerprinter) space(cur uint8) int32 {
	start := int32(len(f.out))
	n := len(f.hist)
	if n == 0 {
		return start
	}
	p := &f.hist[n-1]
	switch spaceBefore[p.kind][cur] {
	case 1:
		f.out = append(f.out, ' ')
	case 2:
		if keyword(f.out[p.text:p.end])&kwParen != 0 {
			f.out = append(f.out, ' ')
		}
	}
	return start
}

// emit writes a one-byte token.
func (f *Fingerprinter) emit(kind uint8, c byte) {
	start := f.space(kind)
	f.out = append(f.out, c)
	end := int32(len(f.out))
	f.hist = append(f.hist, token{start: start, text: end - 1, end: end, kind: kind})
}

// op writes the operator that starts at s[i] and returns its end.
func (f *Fingerprinter) op(s []byte, i int) int {
	j := opEnd(s, i)
	kind := tOp
	if j == i+1 && (s[i] == '-' || s[i] == '+') {
		kind = tSign
	}
	start := f.space(kind)
	text := int32(len(f.out))
	f.out = append(f.out, s[i:j]...)
	f.hist = append(f.hist, token{start: start, text: text, end: int32(len(f.out)), kind: kind})
	return j
}

// valueContext reports whether the token at hist[k] (k < 0: none) leaves the
// lexer expecting a value, so that a sign after it is unary and NULL after
// it is a literal.
func (f *Fingerprinter) valueContext(k int) bool {
	if k < 0 {
		return true
	}
	p := &f.hist[k]
	switch p.kind {
	case tOp, tSign, tLParen, tComma, tSemi:
		return true
	case tWord:
		return keyword(f.out[p.text:p.end])&kwExpr != 0
	}
	return false
}

// value writes "?" for a literal, taking with it a unary sign and a charset
// introducer before it.
func (f *Fingerprinter) value() {
	h := len(f.hist)
	if h == 0 {
		f.out = append(f.out, '?')
		f.hist = append(f.hist, token{start: 0, text: 0, end: 1, kind: tValue})
		return
	}
	switch f.hist[h-1].kind {
	case tSign, tWord:
		f.valueSlow()
		return
	case tLParen, tDot:
		start := int32(len(f.out))
		f.out = append(f.out, '?')
		f.hist = append(f.hist, token{start: start, text: start, end: start + 1, kind: tValue})
		return
	}
	start := int32(len(f.out))
	f.out = append(f.out, ' ', '?')
	f.hist = append(f.hist, token{start: start, text: start + 1, end: start + 2, kind: tValue})
}

func (f *Fingerprinter) valueSlow() {
	for n := len(f.hist); n > 0; n = len(f.hist) {
		p := &f.hist[n-1]
		if p.kind == tSign && f.valueContext(n-2) ||
			p.kind == tWord && f.out[p.text] == '_' && charset(f.out[p.text:p.end]) {
			f.truncate(p.start)
			continue
		}
		break
	}
	f.emit(tValue, '?')
}

// word writes the identifier or keyword that starts at s[i] and returns its
// end. It is the hottest path: it scans, lower-cases and writes in one pass.
//
// It also writes the words that follow, each after exactly one space, so
// that a run like "from users u join orders o on" costs one call.
func (f *Fingerprinter) word(s []byte, i int) int {
	n := len(s)
	// The run writes at most one byte more than it reads.
	if cap(f.out)-len(f.out) <= n-i+1 {
		f.grow(n - i + 2)
	}
	out := f.out
	start := len(out)
	space := false
	if h := len(f.hist); h > 0 {
		k := f.hist[h-1].kind
		space = k != tLParen && k != tDot
		if k == tDot && class[s[i]]&cDigit != 0 && (h < 2 || f.hist[h-2].kind != tWord && f.hist[h-2].kind != tQuoted) {
			// A dot that qualifies nothing, then a name that starts with
			// a digit ("1 . 0a"): "?.0a" would read back as "?", ".0",
			// "a", so the template keeps the name apart: "?. 0a".
			space = true
		}
	}
	for {
		if space {
			out = out[:start+1]
			out[start] = ' '
		}
		text := len(out)
		k, hi := lowerWord(out[text:cap(out)], s[i:])
		j := i + k
		out = out[:text+k]
		if hi >= utf8.RuneSelf || k == 4 && (out[text] == 'n' || out[text] == 't') || k == 5 && out[text] == 'f' {
			return f.wordSlow(s, i, j, out, start, text, hi)
		}
		f.hist = append(f.hist, token{start: int32(start), text: int32(text), end: int32(len(out)), kind: tWord})
		if j+2 < n && s[j] == ' ' && class[s[j+1]]&cStart != 0 && s[j+2] != '\'' {
			i, start, space = j+1, len(out), true
			continue
		}
		f.out = out
		return j
	}
}

// wordSlow finishes word for names that are not plain ASCII and for words
// that may be NULL, TRUE or FALSE.
func (f *Fingerprinter) wordSlow(s []byte, i, j int, out []byte, start, text int, hi byte) int {
	if hi >= utf8.RuneSelf && !utf8.Valid(s[i:j]) {
		out = appendLower(out[:text], s[i:j], false)
	}
	if w := out[text:]; (len(w) == 4 || len(w) == 5) && valueWord(w) && f.valueContext(len(f.hist)-1) {
		f.out = out[:start]
		f.value()
		return j
	}
	f.out = out
	f.hist = append(f.hist, token{start: int32(start), text: int32(text), end: int32(len(out)), kind: tWord})
	return j
}

// grow makes room for n more bytes of normalized text.
//
//go:noinline
func (f *Fingerprinter) grow(n int) {
	f.out = slices.Grow(f.out, n)
}

// lowerWord copies to buf, lower-cased, the identifier bytes at the start
// of s, and returns their number and their bitwise OR. buf must be at least
// as long as s. A leaf function, so that its loop keeps everything in
// registers.
//
//go:noinline
func lowerWord(buf, s []byte) (int, byte) {
	buf = buf[:len(s)]
	var hi byte
	for k, c := range s {
		l := identLower[c]
		if l == 0 {
			return k, hi
		}
		hi |= c
		buf[k] = l
	}
	return len(s), hi
}

// valueWord reports whether w is NULL, TRUE or FALSE in any case. w holds
// identifier bytes only, for which c|0x20 matches a lower-case letter
// exactly when c is that letter in either case.
func valueWord(w []byte) bool {
	if len(w) == 4 {
		a, b, c, d := w[0]|0x20, w[1]|0x20, w[2]|0x20, w[3]|0x20
		return a == 'n' && b == 'u' && c == 'l' && d == 'l' ||
			a == 't' && b == 'r' && c == 'u' && d == 'e'
	}
	return len(w) == 5 && w[0]|0x20 == 'f' && w[1]|0x20 == 'a' && w[2]|0x20 == 'l' &&
		w[3]|0x20 == 's' && w[4]|0x20 == 'e'
}

// quoted writes a backquoted identifier whose raw body (doubled backquotes
// still doubled) is body. A plain name loses its quotes, so `t` and t share a
// template; a name that is a keyword, starts with a digit or holds any other
// character keeps them.
func (f *Fingerprinter) quoted(body []byte) {
	plain := len(body) > 0 && class[body[0]]&cDigit == 0
	var hi byte
	for _, c := range body {
		hi |= c
		if class[c]&cIdent == 0 || c == '@' {
			plain = false
			break
		}
	}
	if plain && hi >= 0x80 && !utf8.Valid(body) {
		plain = false
	}
	if plain {
		start := f.space(tWord)
		text := int32(len(f.out))
		f.out = appendLower(f.out, body, false)
		if w := f.out[text:]; keyword(w) == 0 && !charset(w) {
			f.hist = append(f.hist, token{start: start, text: text, end: int32(len(f.out)), kind: tWord})
			return
		}
		f.out = f.out[:start]
	}
	start := f.space(tQuoted)
	text := int32(len(f.out))
	f.out = append(f.out, '`')
	f.out = appendLower(f.out, body, true)
	f.out = append(f.out, '`')
	f.hist = append(f.hist, token{start: start, text: text, end: int32(len(f.out)), kind: tQuoted})
}

// appendLower appends w lower-cased (ASCII only). Bytes that are not valid
// UTF-8, and control bytes when ctl is set, are written as \xNN.
func appendLower(dst, w []byte, ctl bool) []byte {
	k := len(dst)
	dst = slices.Grow(dst, len(w))[:k+len(w)]
	d := dst[k:]
	var hi byte
	for i, c := range w {
		hi |= c
		d[i] = lower[c]
	}
	if hi < utf8.RuneSelf && (!ctl || bytes.IndexFunc(w, isControl) < 0) ||
		hi >= utf8.RuneSelf && !ctl && utf8.Valid(w) {
		return dst
	}
	dst = dst[:k]
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if ctl && (c < ' ' || c == 0x7f) {
				dst = appendEscape(dst, c)
			} else {
				dst = append(dst, lower[c])
			}
			i++
			continue
		}
		r, size := utf8.DecodeRune(w[i:])
		if r == utf8.RuneError && size == 1 {
			dst = appendEscape(dst, c)
		} else {
			dst = append(dst, w[i:i+size]...)
		}
		i += size
	}
	return dst
}

func isControl(r rune) bool { return r < ' ' || r == 0x7f }

func appendEscape(dst []byte, c byte) []byte {
	const digits = "0123456789abcdef"
	return append(dst, '\\', 'x', digits[c>>4], digits[c&0xf])
}

// lparen handles the "(" at s[i] and returns the index after what it
// consumed: the "(" alone, or a whole list of plain literals, which is
// written at once (the fast path for IN lists, VALUES rows and call
// arguments; it writes exactly what the token-by-token path would).
func (f *Fingerprinter) lparen(s []byte, i int) int {
	var fr frame
	n := len(f.hist)
	start := int32(len(f.out))
	if n > 0 {
		p := &f.hist[n-1]
		space := true
		switch p.kind {
		case tWord:
			kw := keyword(f.out[p.text:p.end])
			space = kw&kwParen != 0
			if kw&kwIn != 0 {
				fr.kind = fIn
			} else if kw&kwValues != 0 {
				fr.kind = fValues
			}
		case tQuoted, tLParen, tDot:
			space = false
		case tComma:
			if n > 1 && f.hist[n-2].kind == tRParen && f.hist[n-2].end == f.tupleEnd {
				fr.kind = fValuesNext
				fr.comma = p.start
			}
		}
		if space {
			f.out = append(f.out, ' ')
		}
	}
	fr.open = int32(len(f.out))
	if len(f.frames) >= maxDepth {
		f.out = append(f.out, '(')
		f.hist = append(f.hist, token{start: start, text: fr.open, end: fr.open + 1, kind: tLParen})
		f.deep++
		return i + 1
	}
	if end, count, ok := valueRun(s, i+1); ok && !f.noFastLists {
		// One token from "(" to ")", of kind tRParen: what follows only
		// ever looks at the kind and end of the token before it.
		if fr.kind == fIn {
			f.out = append(f.out, "(...)"...)
		} else {
			f.out = append(f.out, "(?"...)
			for ; count > 1; count-- {
				f.out = append(f.out, ", ?"...)
			}
			f.out = append(f.out, ')')
		}
		f.hist = append(f.hist, token{start: start, text: fr.open, end: int32(len(f.out)), kind: tRParen})
		f.closeTuple(fr)
		return end
	}
	f.out = append(f.out, '(')
	f.hist = append(f.hist, token{start: start, text: fr.open, end: fr.open + 1, kind: tLParen})
	f.frames = append(f.frames, fr)
	return i + 1
}

// closeTuple keeps the row-list state when the tuple opened by fr has just
// been closed: a row identical to the row before it is removed.
func (f *Fingerprinter) closeTuple(fr frame) {
	switch fr.kind {
	case fValues:
		f.tupleStart, f.tupleEnd = fr.open, int32(len(f.out))
	case fValuesNext:
		if f.tupleEnd >= 0 && bytes.Equal(f.out[fr.open:], f.out[f.tupleStart:f.tupleEnd]) {
			f.truncate(fr.comma)
		} else {
			f.tupleStart, f.tupleEnd = fr.open, int32(len(f.out))
		}
	}
}

// valueRun scans, from s[i] just after a "(", a list of plain literals
// closed by ")": literal {"," literal} ")", with whitespace and unary signs.
// It returns the index after ")" and the number of literals, or ok false if
// anything else comes first (a comment, a name, an expression, the end).
func valueRun(s []byte, i int) (end, count int, ok bool) {
	n := len(s)
	for {
		for i < n && class[s[i]]&cSpace != 0 {
			i++
		}
		if i >= n {
			return 0, 0, false
		}
		c := s[i]
		if c == '-' || c == '+' {
			if isDashComment(s, i) {
				return 0, 0, false
			}
			i++
			for i < n && class[s[i]]&cSpace != 0 {
				i++
			}
			if i >= n {
				return 0, 0, false
			}
			c = s[i]
		}
		switch {
		case class[c]&cDigit != 0:
			// Plain integers, the common case, without scanNumber.
			j := i + 1
			for j < n && class[s[j]]&cDigit != 0 {
				j++
			}
			if j < n && (s[j] == ',' || s[j] == ')' || s[j] == ' ') {
				i = j
				break
			}
			j, num := scanNumber(s, i)
			if !num {
				return 0, 0, false
			}
			i = j
		case c == '\'' || c == '"':
			i = skipString(s, i+1, c)
		case c == '?':
			i++
		case c == '.':
			if i+1 >= n || class[s[i+1]]&cDigit == 0 {
				return 0, 0, false
			}
			i, _ = scanNumber(s, i)
		case class[c]&cStart != 0:
			if i+1 < n && s[i+1] == '\'' && (c|0x20 == 'x' || c|0x20 == 'b' || c|0x20 == 'n') {
				i = skipString(s, i+2, '\'')
				break
			}
			j := scanWord(s, i+1)
			if j-i != 4 && j-i != 5 || !valueWord(s[i:j]) {
				return 0, 0, false
			}
			i = j
		default:
			return 0, 0, false
		}
		count++
		for i < n && class[s[i]]&cSpace != 0 {
			i++
		}
		if i >= n {
			return 0, 0, false
		}
		switch s[i] {
		case ',':
			i++
		case ')':
			return i + 1, count, true
		default:
			return 0, 0, false
		}
	}
}

func (f *Fingerprinter) rparen() {
	n := len(f.frames)
	if f.deep > 0 || n == 0 {
		if f.deep > 0 {
			f.deep--
		}
		f.emit(tRParen, ')')
		return
	}
	fr := f.frames[n-1]
	f.frames = f.frames[:n-1]
	switch fr.kind {
	case fIn:
		if valueList(f.out[fr.open+1:]) {
			f.truncate(fr.open + 1)
			start := int32(len(f.out))
			f.out = append(f.out, "..."...)
			f.hist = append(f.hist, token{start: start, text: start, end: start + 3, kind: tList})
		}
		f.emit(tRParen, ')')
	default:
		f.emit(tRParen, ')')
		f.closeTuple(fr)
	}
}

// valueList reports whether the body of an IN list holds values only:
// placeholders, commas, parentheses (row values) and collapsed lists.
func valueList(b []byte) bool {
	has := false
	for _, c := range b {
		switch c {
		case '?':
			has = true
		case ',', ' ', '(', ')', '.':
		default:
			return false
		}
	}
	return has
}

// truncate cuts the normalized text back to pos, forgetting the tokens that
// started at or after it.
func (f *Fingerprinter) truncate(pos int32) {
	f.out = f.out[:pos]
	h := f.hist
	for len(h) > 0 && h[len(h)-1].start >= pos {
		h = h[:len(h)-1]
	}
	f.hist = h
	if f.tupleEnd > pos {
		f.tupleStart, f.tupleEnd = -1, -1
	}
}
