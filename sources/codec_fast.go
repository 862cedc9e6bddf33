package sources

import (
	"bytes"
	"math"
	"unicode/utf16"
	"unicode/utf8"
)

// decodeFast decodes the common record in one pass over raw: a flat object
// whose keys and non-sql strings hold no escapes, whose known fields are
// strings and plain non-negative integers (no sign, fraction, exponent or
// leading zero), each at most once, whose unknown fields are scalars, with
// every required field present and a non-empty instance. It reports whether
// it did; when it did not, ev is untouched and nothing was interned, and the
// caller decodes raw with decodeSlow. It accepts only records fastjson
// parses and gives them the same Event, so Decode's results and reject
// reasons are decodeSlow's (FuzzDecodeFastPath checks it).
//
// SQL is copied (unescaped) into d.sql rather than aliasing raw: Decode's
// contract is that ev.SQL lives in the decoder until the next Decode, and
// callers may reuse raw sooner.
func (d *Decoder) decodeFast(raw []byte, ev *Event) bool {
	s := raw
	i := skipSpace(s, 0)
	if i >= len(s) || s[i] != '{' {
		return false
	}
	i = skipSpace(s, i+1)
	var (
		seen                   Fields
		inst, db, user, src    []byte
		tmpl                   []byte
		seq                    int64
		tid                    uint64
		ts, lat, lock, sent    int64
		examined, affected, ec int64
		ok                     bool
	)
	for {
		// Key.
		if i >= len(s) || s[i] != '"' {
			return false
		}
		var key []byte
		if key, i, ok = plainString(s, i+1); !ok {
			return false
		}
		i = skipSpace(s, i)
		if i >= len(s) || s[i] != ':' {
			return false
		}
		i = skipSpace(s, i+1)
		if i >= len(s) {
			return false
		}
		// Value.
		var f Fields
		switch string(key) {
		case "ts_ms":
			f = FieldTsMs
			ts, i, ok = plainInt(s, i, 18)
		case "instance":
			f = FieldInstance
			inst, i, ok = quoted(s, i)
		case "db":
			f = FieldDB
			db, i, ok = quoted(s, i)
		case "user":
			f = FieldUser
			user, i, ok = quoted(s, i)
		case "sql":
			f = FieldSQL
			i, ok = d.sqlString(s, i)
		case "latency_us":
			f = FieldLatencyUs
			lat, i, ok = plainInt(s, i, 18)
		case "lock_us":
			f = FieldLockUs
			lock, i, ok = plainInt(s, i, 18)
		case "rows_sent":
			f = FieldRowsSent
			sent, i, ok = plainInt(s, i, 18)
		case "rows_examined":
			f = FieldRowsExamined
			examined, i, ok = plainInt(s, i, 18)
		case "rows_affected":
			f = FieldRowsAffected
			affected, i, ok = plainInt(s, i, 18)
		case "err_code":
			f = FieldErrCode
			ec, i, ok = plainInt(s, i, 10)
			ok = ok && ec <= math.MaxInt32
		case "src":
			f = FieldSrc
			src, i, ok = quoted(s, i)
		case "seq":
			f = FieldSeq
			seq, i, ok = plainInt(s, i, 18)
		case "template_id":
			f = FieldTemplateID
			var b []byte
			if b, i, ok = quoted(s, i); ok {
				var err *DecodeError
				tid, err = parseTemplateID(b)
				ok = err == nil
			}
		case "template":
			f = FieldTemplate
			tmpl, i, ok = quoted(s, i) // escapes: decodeSlow
		case "count", "latency_max_us", "errors", "latency_sketch":
			return false // edge partial aggregates: decodeSlow checks them
		default:
			i, ok = skipScalar(s, i)
		}
		if !ok || seen&f != 0 {
			return false
		}
		seen |= f
		// Separator.
		i = skipSpace(s, i)
		if i >= len(s) {
			return false
		}
		if s[i] == ',' {
			i = skipSpace(s, i+1)
			continue
		}
		if s[i] != '}' {
			return false
		}
		break
	}
	if skipSpace(s, i+1) != len(s) || seen&RequiredFields != RequiredFields || len(inst) == 0 {
		return false
	}
	*ev = Event{
		TsMs:         ts,
		Instance:     d.str.Get(inst),
		DB:           d.str.Get(db),
		User:         d.str.Get(user),
		SQL:          d.sql,
		LatencyUs:    lat,
		LockUs:       lock,
		RowsSent:     sent,
		RowsExamined: examined,
		RowsAffected: affected,
		ErrCode:      int32(ec),
		Src:          d.str.Get(src),
		Seq:          seq,
		TemplateID:   tid,
	}
	if len(tmpl) > 0 { // like SQL, never aliases raw
		d.tmpl = append(d.tmpl[:0], tmpl...)
		ev.Template = d.tmpl
	}
	return true
}

// skipSpace returns the index of the first byte at or after i that is not
// JSON whitespace (the set fastjson skips).
func skipSpace(s []byte, i int) int {
	for i < len(s) && (s[i] == ' ' || s[i] == '\n' || s[i] == '\t' || s[i] == '\r') {
		i++
	}
	return i
}

// plainString scans a string body starting at i (after its opening quote)
// and returns it and the index after its closing quote; ok is false when it
// is unterminated or holds a backslash.
func plainString(s []byte, i int) (str []byte, next int, ok bool) {
	n := bytes.IndexByte(s[i:], '"')
	if n < 0 {
		return nil, i, false
	}
	str = s[i : i+n]
	if bytes.IndexByte(str, '\\') >= 0 {
		return nil, i, false
	}
	return str, i + n + 1, true
}

// quoted is plainString for a value that must be a string.
func quoted(s []byte, i int) ([]byte, int, bool) {
	if s[i] != '"' {
		return nil, i, false
	}
	return plainString(s, i+1)
}

// plainInt parses 1 to maxDigits decimal digits at i with no leading zero
// (a lone 0 is fine). The byte after the digits is left for the caller's
// separator check, which rejects '.', 'e' and the like.
func plainInt(s []byte, i, maxDigits int) (int64, int, bool) {
	start := i
	var n int64
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		n = n*10 + int64(s[i]-'0')
		i++
	}
	switch digits := i - start; {
	case digits == 0 || digits > maxDigits:
		return 0, i, false
	case digits > 1 && s[start] == '0':
		return 0, i, false
	}
	return n, i, true
}

// skipScalar skips the value of an unknown key when it is a string without
// escapes, an optionally negative plain integer, true, false or null.
func skipScalar(s []byte, i int) (int, bool) {
	switch c := s[i]; {
	case c == '"':
		_, i, ok := plainString(s, i+1)
		return i, ok
	case c == '-' || c >= '0' && c <= '9':
		if c == '-' {
			i++
		}
		_, i, ok := plainInt(s, i, 18)
		return i, ok
	case bytes.HasPrefix(s[i:], []byte("true")):
		return i + 4, true
	case bytes.HasPrefix(s[i:], []byte("false")):
		return i + 5, true
	case bytes.HasPrefix(s[i:], []byte("null")):
		return i + 4, true
	}
	return i, false
}

// sqlString decodes the string value at i into d.sql, unescaping it as
// fastjson does, and returns the index after its closing quote.
func (d *Decoder) sqlString(s []byte, i int) (int, bool) {
	if s[i] != '"' {
		return i, false
	}
	i++
	start, escaped := i, false
	for {
		n := bytes.IndexByte(s[i:], '"')
		if n < 0 {
			return i, false
		}
		// The quote closes the string unless an odd run of backslashes
		// precedes it (fastjson's parseRawString).
		q, b := i+n, i+n
		for b > start && s[b-1] == '\\' {
			b--
		}
		if q > b {
			escaped = true
		}
		if (q-b)%2 == 0 {
			raw := s[start:q]
			if escaped || bytes.IndexByte(raw, '\\') >= 0 {
				d.sql = unescape(d.sql[:0], raw)
			} else {
				d.sql = append(d.sql[:0], raw...)
			}
			return q + 1, true
		}
		i = q + 1
	}
}

// unescape appends s with its escapes decoded exactly as fastjson's
// unescapeStringBestEffort decodes them: unknown or broken escapes are
// kept as written, a lone surrogate is kept as its escape, and a surrogate
// pair that does not form a code point becomes U+FFFD.
func unescape(b, s []byte) []byte {
	n := bytes.IndexByte(s, '\\')
	if n < 0 {
		return append(b, s...)
	}
	b = append(b, s[:n]...)
	s = s[n+1:]
	for len(s) > 0 {
		ch := s[0]
		s = s[1:]
		switch ch {
		case '"':
			b = append(b, '"')
		case '\\':
			b = append(b, '\\')
		case '/':
			b = append(b, '/')
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if len(s) < 4 {
				b = append(b, "\\u"...)
				break
			}
			xs := s[:4]
			x, ok := hex4(xs)
			if !ok {
				b = append(b, "\\u"...)
				break
			}
			s = s[4:]
			if !utf16.IsSurrogate(rune(x)) {
				b = utf8.AppendRune(b, rune(x))
				break
			}
			if len(s) < 6 || s[0] != '\\' || s[1] != 'u' {
				b = append(b, "\\u"...)
				b = append(b, xs...)
				break
			}
			x1, ok := hex4(s[2:6])
			if !ok {
				b = append(b, "\\u"...)
				b = append(b, xs...)
				break
			}
			b = utf8.AppendRune(b, utf16.DecodeRune(rune(x), rune(x1)))
			s = s[6:]
		default:
			b = append(b, '\\', ch)
		}
		n = bytes.IndexByte(s, '\\')
		if n < 0 {
			b = append(b, s...)
			break
		}
		b = append(b, s[:n]...)
		s = s[n+1:]
	}
	return b
}

// hex4 parses four hex digits (strconv.ParseUint(s, 16, 16) without the
// allocation).
func hex4(s []byte) (uint32, bool) {
	var x uint32
	for _, c := range s[:4] {
		switch {
		case c >= '0' && c <= '9':
			c -= '0'
		case c >= 'a' && c <= 'f':
			c -= 'a' - 10
		case c >= 'A' && c <= 'F':
			c -= 'A' - 10
		default:
			return 0, false
		}
		x = x<<4 | uint32(c)
	}
	return x, true
}
