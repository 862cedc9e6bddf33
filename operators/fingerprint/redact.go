package fingerprint

import "unicode/utf8"

// Redact appends to dst a sample of sql for the sample_sql column: every
// string, numeric, hex and bit literal is replaced by "?", and everything else
// keeps its original spelling, case and spacing, with these exceptions:
//
//   - Plain comments (/* */, -- and #) are dropped, since they are free text
//     that may carry anything; a block comment becomes one space unless a
//     space already precedes it. Optimizer hints (/*+ */) and executable
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
	limit := len(sql)*3 + base + 1 // above anything the loop can write
	if max > 0 {
		limit = base + max
	}
	n := len(sql)
	special := false // inside /*+ */ or /*! */
	for i := 0; i < n && len(dst) <= limit; {
		c := sql[i]
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
			if i+1 < n && sql[i+1] == '\'' {
				switch c | 0x20 {
				case 'x', 'b', 'n':
					i = skipString(sql, i+2, '\'')
					dst = append(dst, '?')
					continue
				}
			}
			j := scanWord(sql, i+1)
			dst = appendValid(dst, sql[i:j])
			i = j
			continue
		}
		if cl&cDigit != 0 {
			if i > 0 && sql[i-1] == '.' {
				j := scanWord(sql, i)
				dst = append(dst, sql[i:j]...)
				i = j
				continue
			}
			j, num := scanNumber(sql, i)
			if num {
				dst = append(dst, '?')
			} else {
				dst = appendValid(dst, sql[i:j])
			}
			i = j
			continue
		}
		switch c {
		case '\'', '"':
			i = skipString(sql, i+1, c)
			dst = append(dst, '?')
		case '`':
			end, _ := skipQuotedIdent(sql, i+1)
			dst = appendValid(dst, sql[i:end])
			i = end
		case '.':
			if i+1 < n && class[sql[i+1]]&cDigit != 0 && !qualifier(sql, i) {
				i, _ = scanNumber(sql, i)
				dst = append(dst, '?')
			} else {
				dst = append(dst, '.')
				i++
			}
		case '#':
			i = skipLine(sql, i)
		case '-':
			if isDashComment(sql, i) {
				i = skipLine(sql, i)
			} else {
				dst = append(dst, '-')
				i++
			}
		case '/':
			if i+1 < n && sql[i+1] == '*' {
				kind, body := blockComment(sql, i)
				if kind == commentPlain {
					i = skipBlockComment(sql, body)
					if len(dst) > base && dst[len(dst)-1] != ' ' {
						dst = append(dst, ' ')
					}
				} else {
					dst = append(dst, sql[i:body]...)
					special = true
					i = body
				}
			} else {
				dst = append(dst, '/')
				i++
			}
		case '*':
			if special && i+1 < n && sql[i+1] == '/' {
				special = false
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
