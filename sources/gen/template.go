package gen

import (
	"strconv"
	"strings"
	"time"
)

// segKind is the kind of one piece of a statement template.
type segKind uint8

const (
	sText segKind = iota // SQL text
	sMeta                // a comment or optimizer hint: SQL that fingerprinting drops
	sLit                 // one literal value
	sList                // "(v, v, …)": an IN list of literals
	sRows                // VALUES rows: sub rendered per row, joined by ", "
)

// litClass is the kind of value a literal takes.
type litClass uint8

const (
	lID      litClass = iota // primary/foreign key: skewed towards hot rows
	lInt                     // uniform in [lo, hi]
	lMoney                   // cents, log-uniform
	lDecimal                 // 12.34
	lWord                    // one of words[lo] (enum values)
	lEmail                   //
	lName                    // person or product name, some non-ASCII
	lText                    // free text of mean length lo (scaled by stretch)
	lDate                    // datetime near the event time
	lToken                   // hex token of 32 chars
	lCode                    // short upper-case code: SKU-12345
	lIP                      // dotted quad
	lBinary                  // _binary'…' with raw bytes, most not UTF-8
)

type seg struct {
	kind   segKind
	text   string // sText, sMeta
	lit    litClass
	lo, hi int64
	mean   float64 // sList, sRows: mean count; lText: mean length
	fixed  bool    // the mean is not scaled by the template's stretch
	quoted bool    // a number written as a string ('42'), as some ORMs do
	after  bool    // lID, lInt, lDate: a value above the previous literal (BETWEEN x AND y)
	sub    []seg   // sRows: one row
}

// builder assembles the segments of a template.
type builder struct{ segs []seg }

func (b *builder) text(s ...string) *builder {
	if n := len(b.segs); n == 0 || b.segs[n-1].kind != sText {
		b.segs = append(b.segs, seg{kind: sText})
	}
	last := &b.segs[len(b.segs)-1]
	n := len(last.text)
	for _, x := range s {
		n += len(x)
	}
	var sb strings.Builder
	sb.Grow(n)
	sb.WriteString(last.text)
	for _, x := range s {
		sb.WriteString(x)
	}
	last.text = sb.String()
	return b
}

func (b *builder) meta(s string) *builder {
	b.segs = append(b.segs, seg{kind: sMeta, text: s})
	return b
}

func (b *builder) lit(l seg) *builder {
	l.kind = sLit
	b.segs = append(b.segs, l)
	return b
}

func (b *builder) list(l seg, mean float64, fixed bool) *builder {
	b.segs = append(b.segs, seg{kind: sList, lit: l.lit, lo: l.lo, hi: l.hi, quoted: l.quoted, mean: mean, fixed: fixed})
	return b
}

func (b *builder) rows(row []seg, mean float64, fixed bool) *builder {
	b.segs = append(b.segs, seg{kind: sRows, sub: row, mean: mean, fixed: fixed})
	return b
}

// shape is the template's text as a fingerprinter sees it: literals and
// lists replaced, comments and hints dropped, case, backquotes and spacing
// normalized. Two templates with the same shape would be counted as one,
// so the generator keeps shapes unique.
func shape(segs []seg) string {
	var sb strings.Builder
	for _, s := range segs {
		switch s.kind {
		case sText:
			sb.WriteString(s.text)
		case sMeta:
			sb.WriteByte(' ')
		case sLit:
			sb.WriteString(" ? ")
		case sList:
			sb.WriteString(" (...) ")
		case sRows:
			sb.WriteString(" (") // a row's own shape matters
			sb.WriteString(shape(s.sub))
			sb.WriteString(") ")
		}
	}
	t := strings.ToLower(strings.ReplaceAll(sb.String(), "`", ""))
	return strings.Join(strings.Fields(t), " ")
}

// renderer writes statements; it holds the random source of literal values
// and the stretch factor of the template being rendered.
type renderer struct {
	r       *rng
	ts      int64 // event time, ms
	stretch float64
	rows    int   // rows of the last sRows rendered (rows inserted)
	list    int   // length of the last list rendered
	last    int64 // the last number or date (ms) rendered, for after
}

func (w *renderer) render(dst []byte, segs []seg) []byte {
	for i := range segs {
		s := &segs[i]
		switch s.kind {
		case sText, sMeta:
			dst = append(dst, s.text...)
		case sLit:
			dst = w.literal(dst, s)
		case sList:
			var n int
			if s.fixed { // the very long lists: uniform around the mean
				n = int(s.mean * (0.5 + w.r.float()))
			} else {
				n = w.r.geometric(w.mean(s))
			}
			w.list = n
			dst = append(dst, '(')
			for j := range n {
				if j > 0 {
					dst = append(dst, ", "...)
				}
				dst = w.literal(dst, s)
			}
			dst = append(dst, ')')
		case sRows:
			n := w.r.geometric(w.mean(s))
			w.rows = n
			for j := range n {
				if j > 0 {
					dst = append(dst, ", "...)
				}
				dst = append(dst, '(')
				dst = w.render(dst, s.sub)
				dst = append(dst, ')')
			}
		}
	}
	return dst
}

func (w *renderer) mean(s *seg) float64 {
	if s.fixed {
		return s.mean
	}
	return max(1, s.mean*w.stretch)
}

var (
	firstNames = []string{"alice", "bob", "carol", "dave", "erin", "frank", "grace", "heidi", "ivan", "judy",
		"mallory", "niaj", "olivia", "peggy", "rupert", "sybil", "trent", "victor", "walter", "José",
		"Zoë", "Søren", "Müller", "Ōtsuka", "李雷", "Анна", "François", "O'Brien", "D'Angelo", "Nuñez"}
	domains   = []string{"example.com", "mail.test", "corp.example", "shop.example.org", "müller.example"}
	textWords = []string{"the", "order", "was", "shipped", "late", "please", "refund", "great", "product",
		"quality", "size", "color", "didn't", "fit", "box", "damaged", "fast", "delivery", "again", "would",
		"buy", "recommend", "café", "naïve", "straße", "東京", "доставка", "🚀", "it's", "\"quoted\"", "back\\slash"}
	hexDigits = "0123456789abcdef"
)

// literal appends one value of s's class, quoted and escaped as MySQL
// clients send it.
func (w *renderer) literal(dst []byte, s *seg) []byte {
	r := w.r
	switch s.lit {
	case lID:
		// Hot rows: a power law over [1, hi].
		u := r.float()
		v := 1 + int64(float64(s.hi-1)*u*u*u)
		if s.after {
			v = w.last + 1 + r.int63n(10000)
		}
		w.last = v
		return w.number(dst, v, s.quoted)
	case lInt:
		v := r.between(s.lo, s.hi)
		if s.after {
			v = w.last + r.between(0, s.hi-s.lo)
		}
		w.last = v
		return w.number(dst, v, s.quoted)
	case lMoney:
		v := int64(100 * (1 + r.exp()*r.exp()*20))
		return w.number(dst, v, s.quoted)
	case lDecimal:
		v := r.between(s.lo*100, s.hi*100)
		dst = strconv.AppendInt(dst, v/100, 10)
		dst = append(dst, '.', byte('0'+v%100/10), byte('0'+v%10))
		return dst
	case lWord:
		dst = append(dst, '\'')
		dst = append(dst, pick(r, enumWords[s.lo])...)
		return append(dst, '\'')
	case lEmail:
		dst = append(dst, '\'')
		start := len(dst)
		dst = appendEscaped(dst, pick(r, firstNames))
		for i := start; i < len(dst); i++ { // ASCII lower case, as mail systems do
			if c := dst[i]; 'A' <= c && c <= 'Z' {
				dst[i] = c + 'a' - 'A'
			}
		}
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, r.int63n(100000), 10)
		dst = append(dst, '@')
		dst = append(dst, pick(r, domains)...)
		return append(dst, '\'')
	case lName:
		dst = append(dst, '\'')
		dst = appendEscaped(dst, pick(r, firstNames))
		dst = append(dst, ' ')
		dst = appendEscaped(dst, pick(r, firstNames))
		return append(dst, '\'')
	case lText:
		mean := float64(s.lo)
		if !s.fixed {
			mean *= w.stretch
		}
		n := max(1, int(mean*(0.5+r.float())))
		dst = append(dst, '\'')
		start := len(dst)
		for len(dst)-start < n {
			if len(dst) > start {
				dst = append(dst, ' ')
			}
			dst = appendEscaped(dst, pick(r, textWords))
		}
		return append(dst, '\'')
	case lDate:
		// Within the last 30 days of the event time, to the second; after
		// a previous date, up to a week after it.
		ms := w.ts - r.int63n(30*24*3600*1000)
		if s.after {
			ms = w.last + r.int63n(7*24*3600*1000)
		}
		w.last = ms
		return appendDate(dst, time.UnixMilli(ms).UTC())
	case lToken:
		dst = append(dst, '\'')
		for range 4 {
			x := r.u64()
			for range 8 {
				dst = append(dst, hexDigits[x&15])
				x >>= 4
			}
		}
		return append(dst, '\'')
	case lCode:
		dst = append(dst, "'SKU-"...)
		dst = strconv.AppendInt(dst, r.between(10000, 99999), 10)
		return append(dst, '\'')
	case lIP:
		dst = append(dst, "'10."...)
		dst = strconv.AppendInt(dst, r.int63n(256), 10)
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, r.int63n(256), 10)
		dst = append(dst, '.')
		dst = strconv.AppendInt(dst, 1+r.int63n(254), 10)
		return append(dst, '\'')
	case lBinary:
		n := 8 + r.intn(24)
		dst = append(dst, "_binary'"...)
		for range n {
			c := byte(r.u64())
			switch c {
			case '\'', '\\':
				dst = append(dst, '\\', c)
			case 0:
				dst = append(dst, '\\', '0')
			default:
				dst = append(dst, c)
			}
		}
		return append(dst, '\'')
	}
	panic("BUG: gen: unknown literal class")
}

func (w *renderer) number(dst []byte, v int64, quoted bool) []byte {
	if quoted {
		dst = append(dst, '\'')
		dst = strconv.AppendInt(dst, v, 10)
		return append(dst, '\'')
	}
	return strconv.AppendInt(dst, v, 10)
}

// appendEscaped appends s as the inside of a MySQL single-quoted string.
func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		switch c := s[i]; c {
		case '\'', '\\':
			dst = append(dst, '\\', c)
		default:
			dst = append(dst, c)
		}
	}
	return dst
}

func appendDate(dst []byte, t time.Time) []byte {
	y, mo, d := t.Date()
	h, mi, s := t.Clock()
	dst = append(dst, '\'')
	dst = append4(dst, y)
	dst = append(dst, '-')
	dst = append2(dst, int(mo))
	dst = append(dst, '-')
	dst = append2(dst, d)
	dst = append(dst, ' ')
	dst = append2(dst, h)
	dst = append(dst, ':')
	dst = append2(dst, mi)
	dst = append(dst, ':')
	dst = append2(dst, s)
	return append(dst, '\'')
}

func append2(dst []byte, v int) []byte { return append(dst, byte('0'+v/10), byte('0'+v%10)) }

func append4(dst []byte, v int) []byte {
	return append(dst, byte('0'+v/1000%10), byte('0'+v/100%10), byte('0'+v/10%10), byte('0'+v%10))
}
