package fingerprint

import "bytes"

// Byte classes of the lexer.
const (
	cSpace = 1 << iota // whitespace and control bytes
	cIdent             // may continue an identifier: [A-Za-z0-9_$@] and every byte >= 0x80
	cDigit             // [0-9]
	cHex               // [0-9A-Fa-f]
	cStart             // may start an identifier: [A-Za-z_$@] and every byte >= 0x80
)

// class holds the byte classes; lower maps ASCII upper case to lower case;
// identLower is lower for identifier bytes and 0 for any other byte.
var class, lower, identLower = func() (cl, lo, il [256]uint8) {
	for c := 0; c < 256; c++ {
		lo[c] = uint8(c)
		switch {
		case c <= ' ' || c == 0x7f:
			cl[c] = cSpace
		case c >= 'a' && c <= 'z', c >= 0x80, c == '_', c == '$', c == '@':
			cl[c] = cIdent | cStart
		case c >= 'A' && c <= 'Z':
			cl[c] = cIdent | cStart
			lo[c] = uint8(c + 'a' - 'A')
		case c >= '0' && c <= '9':
			cl[c] = cIdent | cDigit | cHex
		}
		if (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F') {
			cl[c] |= cHex
		}
		if cl[c]&cIdent != 0 {
			il[c] = lo[c]
		}
	}
	return
}()

// skipString returns the index just past a quoted literal whose opening
// quote q precedes s[i]. Backslash escapes and doubled quotes are honoured
// (MySQL's default sql_mode). An unterminated literal ends at len(s).
func skipString(s []byte, i int, q byte) int {
	n := len(s)
	for i < n {
		j := bytes.IndexByte(s[i:], q)
		if j < 0 {
			j = n
		} else {
			j += i
		}
		// Escapes before the candidate quote at j. Every backslash search
		// covers bytes no other search covers, so the scan stays linear.
		for i <= j {
			k := bytes.IndexByte(s[i:j], '\\')
			if k < 0 {
				break
			}
			i += k + 2
		}
		if i > j {
			continue // the quote at j was escaped
		}
		if j == n {
			return n
		}
		i = j + 1
		if i < n && s[i] == q {
			i++ // doubled quote
			continue
		}
		return i
	}
	return n
}

// skipQuotedIdent returns the index just past a backquoted identifier whose
// opening backquote precedes s[i], and the end of its body (the offset of the
// closing backquote, or len(s) if it is unterminated).
func skipQuotedIdent(s []byte, i int) (end, bodyEnd int) {
	n := len(s)
	for i < n {
		j := bytes.IndexByte(s[i:], '`')
		if j < 0 {
			return n, n
		}
		i += j + 1
		if i < n && s[i] == '`' {
			i++ // doubled backquote
			continue
		}
		return i, i - 1
	}
	return n, n
}

// scanWord returns the end of the identifier characters starting at s[i].
func scanWord(s []byte, i int) int {
	for i < len(s) && class[s[i]]&cIdent != 0 {
		i++
	}
	return i
}

// plainNumber reports whether the digit run at s[i] is a plain integer:
// it ends the input or is followed by ',', ')' or ' ', so it is a number
// whatever scanNumber would check. The common case (the job's statements
// carry about 15 numbers each): callers call scanNumber only when it is
// not. It returns the run's end.
func plainNumber(s []byte, i int) (int, bool) {
	j := i + 1
	for j < len(s) && class[s[j]]&cDigit != 0 {
		j++
	}
	return j, j == len(s) || s[j] == ',' || s[j] == ')' || s[j] == ' '
}

// scanNumber scans a token that starts with a digit, or with '.' followed by
// a digit. It returns the token's end and whether it is a numeric literal;
// otherwise it is an identifier that starts with digits (MySQL allows 2fa or
// 1e_x as names).
func scanNumber(s []byte, i int) (int, bool) {
	n := len(s)
	start := i
	if s[i] == '0' && i+1 < n && (s[i+1]|0x20 == 'x' || s[i+1]|0x20 == 'b') {
		// 0x1F, 0b101
		hex := s[i+1]|0x20 == 'x'
		j := i + 2
		for j < n && (hex && class[s[j]]&cHex != 0 || !hex && (s[j] == '0' || s[j] == '1')) {
			j++
		}
		if j > i+2 && (j == n || class[s[j]]&cIdent == 0) {
			return j, true
		}
		return scanWord(s, start), false
	}
	for i < n && class[s[i]]&cDigit != 0 {
		i++
	}
	frac := false
	if i < n && s[i] == '.' {
		frac = true
		i++
		for i < n && class[s[i]]&cDigit != 0 {
			i++
		}
	}
	if i < n && s[i]|0x20 == 'e' {
		j := i + 1
		if j < n && (s[j] == '+' || s[j] == '-') {
			j++
		}
		if j < n && class[s[j]]&cDigit != 0 {
			for j < n && class[s[j]]&cDigit != 0 {
				j++
			}
			return j, true
		}
	}
	if !frac && i < n && class[s[i]]&cIdent != 0 {
		return scanWord(s, start), false
	}
	return i, true
}

// skipBlockComment returns the index just past the "*/" that closes a comment
// whose body starts at s[i], or len(s) if it is unterminated.
func skipBlockComment(s []byte, i int) int {
	if i >= len(s) {
		return len(s)
	}
	j := bytes.Index(s[i:], commentEnd)
	if j < 0 {
		return len(s)
	}
	return i + j + 2
}

var commentEnd = []byte("*/")

// skipLine returns the index of the newline that ends a line comment (or len(s)).
func skipLine(s []byte, i int) int {
	j := bytes.IndexByte(s[i:], '\n')
	if j < 0 {
		return len(s)
	}
	return i + j
}

// isDashComment reports whether "--" at s[i] starts a comment: MySQL requires
// whitespace or a control character (or the end) after the two dashes.
func isDashComment(s []byte, i int) bool {
	return i+1 < len(s) && s[i+1] == '-' && (i+2 == len(s) || class[s[i+2]]&cSpace != 0)
}

// commentKind tells apart the block comments that start at s[i] ("/*").
const (
	commentPlain = iota // /* ... */
	commentHint         // /*+ ... */ optimizer hint
	commentExec         // /*! ... */ or /*M! ... */ executable comment
)

// blockComment classifies the block comment at s[i] and returns the index
// where its body starts (past the opener and, for executable comments, the
// version number).
func blockComment(s []byte, i int) (kind, body int) {
	n := len(s)
	j := i + 2
	switch {
	case j < n && s[j] == '+':
		return commentHint, j + 1
	case j < n && s[j] == '!':
		j++
	case j+1 < n && s[j] == 'M' && s[j+1] == '!':
		j += 2
	default:
		return commentPlain, j
	}
	for j < n && class[s[j]]&cDigit != 0 {
		j++
	}
	return commentExec, j
}

// opEnd returns the end of the operator that starts at s[i]. Multi-character
// operators are MySQL's; any other punctuation is one byte.
func opEnd(s []byte, i int) int {
	n := len(s)
	c := s[i]
	var d byte
	if i+1 < n {
		d = s[i+1]
	}
	switch c {
	case '<':
		if d == '=' && i+2 < n && s[i+2] == '>' {
			return i + 3 // <=>
		}
		if d == '=' || d == '>' || d == '<' {
			return i + 2
		}
	case '>':
		if d == '=' || d == '>' {
			return i + 2
		}
	case '!':
		if d == '=' {
			return i + 2
		}
	case '|':
		if d == '|' {
			return i + 2
		}
	case '&':
		if d == '&' {
			return i + 2
		}
	case ':':
		if d == '=' {
			return i + 2
		}
	case '-':
		if d == '>' {
			if i+2 < n && s[i+2] == '>' {
				return i + 3 // ->>
			}
			return i + 2 // ->
		}
	}
	return i + 1
}
