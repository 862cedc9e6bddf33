package fingerprint

import "unicode/utf8"

// Redact appends to dst a sample of sql for the sample_sql column: every
// string, numeric, hex and bit literal is replaced by "?", and everything else
// keeps its original spelling, case and spacing, with these exceptions:
//
//   - Plain comments (/* */, -- and #) are dropped, since they are free text
//     that may carry anything; a block comment becomes one space unless a
//     space already precedes it (or "/**/" right after "--", which a space
//     would turn into a comment). Optimizer hints (/*+ */) and executable
//     comments (/*! */) are kept, with literals inside them redacted.
//   - Control bytes other than tab, newline and carriage return become spaces;
//     bytes that are not valid UTF-8 become U+FFFD (U+FFFD is 3 bytes, so the
//     sample can be longer than sql when max does not cut it).
//   - NULL, TRUE and FALSE are kept; a sign before a number is kept.
//
// If the result is longer than max bytes (max > 0), it is cut on a UTF-8
// boundary so that, with TruncMark appended, it fits in max bytes. The
// appended bytes are always valid UTF-8. A max <= 0 means no limit.
func (f *Fingerprinter) Redact(dst, sql []byte, max int) []byte {
	base := len(dst)
	limit := -1
	if max > 0 {
		limit = base + max
	}
	if len(sql) > maxInput {
		sql = sql[:maxInput]
	}
	dst = redact(dst, sql, base, limit, false)
	if max <= 0 || len(dst)-base <= max {
		return dst
	}
	cut := base + max - len(TruncMark)
	mark := true
	if cut < base {
		cut, mark = base+max, false
	}
	for cut > base && !utf8.RuneStart(dst[cut]) {
		cut--
	}
	dst = dst[:cut]
	if mark {
		dst = append(dst, TruncMark...)
	}
	return dst
}

// redact appends the redacted s to dst, whose bytes before base are the
// caller's, and stops once dst is longer than limit (limit < 0: no limit). In a hint body (hint set) comments are not
// recognized: the body has no "*/", and nested openers are plain text.
func redact(dst, s []byte, base, limit int, hint bool) []byte {
	n := len(s)
	exec := false // inside /*! */
	for i := 0; i < n && (limit < 0 || len(dst) <= limit); {
		c := s[i]
		cl := class[c]
		if cl&cSpace != 0 {
			if c == ' ' || c == '\t' || c == '\n' || c == '\r' {
				dst = append(dst, c)
			} else {
				dst = append(dst, ' ')
			}
			i++
			continue
		}
		if cl&cStart != 0 {
			if i+1 < n && s[i+1] == '\'' {
				switch c | 0x20 {
				case 'x', 'b', 'n':
					i = skipString(s, i+2, '\'')
					dst = append(dst, '?')
					continue
				}
			}
			j := scanWord(s, i+1)
			dst = appendValid(dst, s[i:j])
			i = j
			continue
		}
		if cl&cDigit != 0 {
			if i > 0 && s[i-1] == '.' {
				j := scanWord(s, i)
				dst = appendValid(dst, s[i:j])
				i = j
				continue
			}
			j, num := scanNumber(s, i)
			if num {
				dst = append(dst, '?')
			} else {
				dst = appendValid(dst, s[i:j])
			}
			i = j
			continue
		}
		switch c {
		case '\'', '"':
			i = skipString(s, i+1, c)
			dst = append(dst, '?')
		case '`':
			end, _ := skipQuotedIdent(s, i+1)
			dst = appendValid(dst, s[i:end])
			i = end
		case '.':
			if i+1 < n && class[s[i+1]]&cDigit != 0 && !qualifier(s, i) {
				i, _ = scanNumber(s, i)
				dst = append(dst, '?')
			} else {
				dst = append(dst, '.')
				i++
			}
		case '#':
			if hint {
				dst = append(dst, c)
				i++
				break
			}
			i = skipLine(s, i)
			dst = afterComment(dst, base, false)
		case '-':
			if !hint && isDashComment(s, i) {
				i = skipLine(s, i)
				dst = afterComment(dst, base, false)
			} else {
				dst = append(dst, '-')
				i++
			}
		case '/':
			if hint || i+1 >= n || s[i+1] != '*' {
				dst = append(dst, '/')
				i++
				break
			}
			kind, body := blockComment(s, i)
			switch kind {
			case commentPlain:
				i = skipBlockComment(s, body)
				dst = afterComment(dst, base, true)
			case commentExec:
				dst = append(dst, s[i:body]...)
				exec = true
				i = body
			case commentHint:
				// The hint ends at the first "*/", whatever it holds, as
				// in Fingerprint; only its body is redacted.
				end := skipBlockComment(s, body)
				bodyEnd := end
				if end-body >= 2 && s[end-2] == '*' && s[end-1] == '/' {
					bodyEnd = end - 2
				}
				dst = append(dst, s[i:body]...)
				dst = redact(dst, s[body:bodyEnd], base, limit, true)
				dst = append(dst, s[bodyEnd:end]...)
				i = end
			}
		case '*':
			if exec && i+1 < n && s[i+1] == '/' {
				exec = false
				dst = append(dst, '*', '/')
				i += 2
			} else {
				dst = append(dst, '*')
				i++
			}
		default:
			dst = append(dst, c) // ASCII punctuation; bytes >= 0x80 start words
			i++
		}
	}
	return dst
}

// afterComment keeps the tokens on both sides of a dropped comment apart:
// a block comment becomes a space (unless one precedes it). Where the sample
// ends with "--", a space would start a comment that was not there, so an
// empty "/**/" stands in for any dropped comment.
func afterComment(dst []byte, base int, block bool) []byte {
	n := len(dst)
	switch {
	case n-base >= 2 && dst[n-1] == '-' && dst[n-2] == '-':
		return append(dst, "/**/"...)
	case block && n > base && dst[n-1] != ' ':
		return append(dst, ' ')
	}
	return dst
}

// appendValid appends w with every byte that is not valid UTF-8 replaced by
// U+FFFD and every control byte other than tab, newline and carriage return
// (possible inside backquotes) replaced by a space.
func appendValid(dst, w []byte) []byte {
	plain := true
	for _, c := range w {
		if c >= utf8.RuneSelf || c < ' ' || c == 0x7f {
			plain = false
			break
		}
	}
	if plain {
		return append(dst, w...)
	}
	for i := 0; i < len(w); {
		c := w[i]
		if c < utf8.RuneSelf {
			if (c < ' ' && c != '\t' && c != '\n' && c != '\r') || c == 0x7f {
				c = ' '
			}
			dst = append(dst, c)
			i++
			continue
		}
		r, size := utf8.DecodeRune(w[i:])
		if r == utf8.RuneError && size == 1 {
			dst = append(dst, "\uFFFD"...)
		} else {
			dst = append(dst, w[i:i+size]...)
		}
		i += size
	}
	return dst
}
