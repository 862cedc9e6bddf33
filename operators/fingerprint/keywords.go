package fingerprint

// Keyword flags. The fingerprinter needs to know very few keywords: those
// that change how the next token is read, and those that decide spacing.
const (
	kwKnown  = 1 << iota // a word with a role below; kept backquoted when quoted
	kwExpr               // an expression follows: a sign or NULL after it belongs to a value
	kwParen              // "(" after it is not a call: printed with a space
	kwIn                 // IN: a following parenthesized value list collapses
	kwValues             // VALUES/VALUE: a following tuple starts a row list
	kwValue              // NULL, TRUE, FALSE: a literal where a value stands
)

// keyword returns the flags of a lower-cased word, or 0.
func keyword(w []byte) uint8 {
	if len(w) < 2 || len(w) > 13 {
		return 0
	}
	switch string(w) {
	case "select", "where", "and", "or", "xor", "then", "when", "else", "case",
		"return", "like", "between", "having", "on", "distinct", "all",
		"regexp", "rlike", "div", "interval", "any", "some":
		return kwKnown | kwExpr | kwParen
	case "in":
		return kwKnown | kwExpr | kwParen | kwIn
	case "values", "value":
		return kwKnown | kwExpr | kwParen | kwValues
	case "by", "limit", "offset", "escape", "default", "mod":
		return kwKnown | kwExpr
	case "from", "join", "straight_join", "as", "using", "union", "exists",
		"not", "over", "key", "index", "lateral":
		return kwKnown | kwParen
	case "is", "set", "unknown":
		return kwKnown
	case "null", "true", "false":
		return kwKnown | kwValue
	}
	return 0
}

// charset reports whether a lower-cased word is a charset introducer such as
// _utf8mb4 or _binary, which belongs to the literal that follows it.
func charset(w []byte) bool {
	if len(w) < 4 || w[0] != '_' {
		return false
	}
	switch string(w[1:]) {
	case "utf8mb4", "utf8", "utf8mb3", "binary", "latin1", "ascii", "utf16",
		"utf16le", "utf32", "ucs2", "gbk", "gb2312", "gb18030", "big5", "sjis",
		"cp932", "ujis", "eucjpms", "euckr", "latin2", "latin5", "latin7",
		"cp1250", "cp1251", "cp1256", "cp1257", "cp850", "cp852", "cp866",
		"koi8r", "koi8u", "greek", "hebrew", "tis620", "armscii8", "dec8",
		"geostd8", "hp8", "keybcs2", "macce", "macroman", "swe7":
		return true
	}
	return false
}
