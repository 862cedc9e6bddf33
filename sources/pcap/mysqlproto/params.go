package mysqlproto

import (
	"encoding/binary"
	"errors"
	"math"
	"strconv"
)

var errShort = errors.New("packet too short")

// param is one bound parameter of a COM_STMT_EXECUTE (or a query
// attribute of a COM_QUERY): its type and its value bytes as sent.
type param struct {
	typ      byte
	unsigned bool
	null     bool
	long     bool   // value came from COM_STMT_SEND_LONG_DATA
	val      []byte // the value's bytes (for lenenc types, without the length)
}

// readValue reads one binary-protocol value of type typ from p.
func readValue(typ byte, p []byte) (val, rest []byte, err error) {
	fixed := 0
	switch typ {
	case typeNull:
		return nil, p, nil
	case typeTiny:
		fixed = 1
	case typeShort, typeYear:
		fixed = 2
	case typeLong, typeInt24, typeFloat:
		fixed = 4
	case typeLongLong, typeDouble:
		fixed = 8
	case typeDate, typeDateTime, typeTimestamp, typeTime, typeNewDate,
		typeTimestamp2, typeDateTime2, typeTime2:
		if len(p) < 1 || len(p) < 1+int(p[0]) {
			return nil, nil, errShort
		}
		return p[1 : 1+int(p[0])], p[1+int(p[0]):], nil
	default: // strings, blobs, decimals, JSON, BIT, ENUM, SET, GEOMETRY
		v, r, ok := lenencBytes(p)
		if !ok {
			return nil, nil, errShort
		}
		return v, r, nil
	}
	if len(p) < fixed {
		return nil, nil, errShort
	}
	return p[:fixed], p[fixed:], nil
}

// appendLiteral appends the SQL literal for a parameter value, the way the
// server writes a prepared statement's parameters into its logs.
func appendLiteral(dst []byte, pr *param) []byte {
	if pr.null {
		return append(dst, "NULL"...)
	}
	v := pr.val
	switch pr.typ {
	case typeTiny:
		if pr.unsigned {
			return strconv.AppendUint(dst, uint64(v[0]), 10)
		}
		return strconv.AppendInt(dst, int64(int8(v[0])), 10)
	case typeShort, typeYear:
		u := binary.LittleEndian.Uint16(v)
		if pr.unsigned || pr.typ == typeYear {
			return strconv.AppendUint(dst, uint64(u), 10)
		}
		return strconv.AppendInt(dst, int64(int16(u)), 10)
	case typeLong, typeInt24:
		u := binary.LittleEndian.Uint32(v)
		if pr.unsigned {
			return strconv.AppendUint(dst, uint64(u), 10)
		}
		return strconv.AppendInt(dst, int64(int32(u)), 10)
	case typeLongLong:
		u := binary.LittleEndian.Uint64(v)
		if pr.unsigned {
			return strconv.AppendUint(dst, u, 10)
		}
		return strconv.AppendInt(dst, int64(u), 10)
	case typeFloat:
		return appendFloat(dst, float64(math.Float32frombits(binary.LittleEndian.Uint32(v))), 32)
	case typeDouble:
		return appendFloat(dst, math.Float64frombits(binary.LittleEndian.Uint64(v)), 64)
	case typeDate, typeDateTime, typeTimestamp, typeNewDate, typeTimestamp2, typeDateTime2:
		return appendDateTime(dst, v)
	case typeTime, typeTime2:
		return appendTime(dst, v)
	case typeDecimal, typeNewDecimal:
		if isNumber(v) {
			return append(dst, v...)
		}
	}
	return appendQuoted(dst, v)
}

func appendFloat(dst []byte, f float64, bits int) []byte {
	if math.IsInf(f, 0) || math.IsNaN(f) {
		return appendQuoted(dst, strconv.AppendFloat(nil, f, 'g', -1, bits))
	}
	return strconv.AppendFloat(dst, f, 'g', -1, bits)
}

// appendDateTime formats a binary DATE/DATETIME/TIMESTAMP value (length 0,
// 4, 7 or 11 bytes) as a quoted literal.
func appendDateTime(dst []byte, v []byte) []byte {
	var y, mo, d, h, mi, s, us int
	if len(v) >= 4 {
		y, mo, d = int(binary.LittleEndian.Uint16(v)), int(v[2]), int(v[3])
	}
	if len(v) >= 7 {
		h, mi, s = int(v[4]), int(v[5]), int(v[6])
	}
	if len(v) >= 11 {
		us = int(binary.LittleEndian.Uint32(v[7:]))
	}
	dst = append(dst, '\'')
	dst = appendPad(dst, y, 4)
	dst = append(dst, '-')
	dst = appendPad(dst, mo, 2)
	dst = append(dst, '-')
	dst = appendPad(dst, d, 2)
	if len(v) >= 7 {
		dst = append(dst, ' ')
		dst = appendPad(dst, h, 2)
		dst = append(dst, ':')
		dst = appendPad(dst, mi, 2)
		dst = append(dst, ':')
		dst = appendPad(dst, s, 2)
		if len(v) >= 11 {
			dst = append(dst, '.')
			dst = appendPad(dst, us, 6)
		}
	}
	return append(dst, '\'')
}

// appendTime formats a binary TIME value (length 0, 8 or 12 bytes).
func appendTime(dst []byte, v []byte) []byte {
	dst = append(dst, '\'')
	if len(v) < 8 {
		return append(dst, "00:00:00'"...)
	}
	if v[0] == 1 {
		dst = append(dst, '-')
	}
	days := int(binary.LittleEndian.Uint32(v[1:]))
	dst = appendPad(dst, days*24+int(v[5]), 2)
	dst = append(dst, ':')
	dst = appendPad(dst, int(v[6]), 2)
	dst = append(dst, ':')
	dst = appendPad(dst, int(v[7]), 2)
	if len(v) >= 12 {
		dst = append(dst, '.')
		dst = appendPad(dst, int(binary.LittleEndian.Uint32(v[8:])), 6)
	}
	return append(dst, '\'')
}

func appendPad(dst []byte, v, width int) []byte {
	var b [20]byte
	s := strconv.AppendInt(b[:0], int64(v), 10)
	for i := len(s); i < width; i++ {
		dst = append(dst, '0')
	}
	return append(dst, s...)
}

func isNumber(v []byte) bool {
	if len(v) == 0 || len(v) > 80 {
		return false
	}
	digits := 0
	for i, c := range v {
		switch {
		case c >= '0' && c <= '9':
			digits++
		case (c == '-' || c == '+') && i == 0, c == '.':
		default:
			return false
		}
	}
	return digits > 0
}

// appendQuoted appends v as a single-quoted string literal with MySQL's
// backslash escapes, byte for byte (no charset conversion).
func appendQuoted(dst []byte, v []byte) []byte {
	dst = append(dst, '\'')
	for _, c := range v {
		switch c {
		case 0:
			dst = append(dst, '\\', '0')
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\\':
			dst = append(dst, '\\', '\\')
		case '\'':
			dst = append(dst, '\\', '\'')
		case '"':
			dst = append(dst, '\\', '"')
		case 0x1a:
			dst = append(dst, '\\', 'Z')
		default:
			dst = append(dst, c)
		}
	}
	return append(dst, '\'')
}

// substitute appends sql with its '?' placeholders (those outside string
// literals, quoted identifiers and comments) replaced by the literals of
// params, in order. Placeholders beyond len(params) are kept as '?'. It
// returns the number of placeholders found.
func substitute(dst, sql []byte, params []param) ([]byte, int) {
	n := 0
	last := 0
	for i := 0; i < len(sql); i++ {
		switch c := sql[i]; c {
		case '\'', '"', '`':
			i = skipQuoted(sql, i, c)
		case '#':
			i = skipLine(sql, i)
		case '-':
			if i+2 < len(sql) && sql[i+1] == '-' && (sql[i+2] == ' ' || sql[i+2] == '\t' || sql[i+2] == '\n' || sql[i+2] == '\r') {
				i = skipLine(sql, i)
			}
		case '/':
			if i+1 < len(sql) && sql[i+1] == '*' && !(i+2 < len(sql) && (sql[i+2] == '!' || sql[i+2] == '+')) {
				end := indexFrom(sql, i+2, "*/")
				if end < 0 {
					i = len(sql)
				} else {
					i = end + 1
				}
			}
		case '?':
			if n < len(params) {
				dst = append(dst, sql[last:i]...)
				dst = appendLiteral(dst, &params[n])
				last = i + 1
			}
			n++
		}
	}
	return append(dst, sql[last:]...), n
}

// skipQuoted returns the index of the closing quote of the literal that
// opens at i (or the last index). Backslash escapes apply to ' and "
// strings; a doubled quote is an escaped quote in all three.
func skipQuoted(sql []byte, i int, q byte) int {
	for j := i + 1; j < len(sql); j++ {
		switch sql[j] {
		case '\\':
			if q != '`' {
				j++
			}
		case q:
			if j+1 < len(sql) && sql[j+1] == q {
				j++
				continue
			}
			return j
		}
	}
	return len(sql) - 1
}

func skipLine(sql []byte, i int) int {
	for j := i; j < len(sql); j++ {
		if sql[j] == '\n' {
			return j
		}
	}
	return len(sql) - 1
}

func indexFrom(s []byte, from int, sub string) int {
	for j := from; j+len(sub) <= len(s); j++ {
		if string(s[j:j+len(sub)]) == sub {
			return j
		}
	}
	return -1
}

// parseExecuteParams decodes the parameters of a COM_STMT_EXECUTE payload
// (after the command byte) for a statement with nparams placeholders.
// types holds the statement's types from an earlier execute and is updated
// when the packet binds new ones. long marks parameters sent with
// COM_STMT_SEND_LONG_DATA (their values are not in the packet).
// queryAttrs says CLIENT_QUERY_ATTRIBUTES was negotiated.
func parseExecuteParams(p []byte, nparams int, types *[]uint16, long [][]byte, queryAttrs bool, out []param) ([]param, error) {
	out = out[:0]
	if len(p) < 9 {
		return out, errShort
	}
	flags := p[4]
	p = p[9:] // stmt id, flags, iteration count
	count := nparams
	if queryAttrs && (nparams > 0 || flags&0x08 != 0) {
		v, n, ok := lenenc(p)
		if !ok {
			return out, errShort
		}
		p = p[n:]
		count = int(v)
		if count < nparams || count > 65535 {
			return out, errors.New("parameter count " + strconv.Itoa(count) + " below the statement's " + strconv.Itoa(nparams))
		}
	}
	if count == 0 {
		return out, nil
	}
	nb := (count + 7) / 8
	if len(p) < nb+1 {
		return out, errShort
	}
	nulls := p[:nb]
	bound := p[nb]
	p = p[nb+1:]
	if bound == 1 {
		if len(p) < 2*count {
			return out, errShort
		}
		ts := (*types)[:0]
		for i := 0; i < count; i++ {
			ts = append(ts, binary.LittleEndian.Uint16(p[2*i:]))
		}
		*types = ts
		p = p[2*count:]
		if queryAttrs {
			for i := 0; i < count; i++ {
				var ok bool
				if _, p, ok = lenencBytes(p); !ok {
					return out, errShort
				}
			}
		}
	}
	if len(*types) < count {
		return out, errors.New("no parameter types bound for " + strconv.Itoa(count) + " parameters")
	}
	for i := 0; i < count; i++ {
		t := (*types)[i]
		pr := param{typ: byte(t), unsigned: t&0x8000 != 0}
		switch {
		case nulls[i/8]&(1<<(i%8)) != 0:
			pr.null = true
		case i < len(long) && long[i] != nil:
			pr.long, pr.val = true, long[i]
			pr.typ = typeBlob
		default:
			var err error
			if pr.val, p, err = readValue(pr.typ, p); err != nil {
				return out, errors.New("parameter " + strconv.Itoa(i+1) + ": " + err.Error())
			}
		}
		if i < nparams {
			out = append(out, pr)
		}
	}
	return out, nil
}

// skipQueryAttributes returns the SQL of a COM_QUERY payload (after the
// command byte) sent with CLIENT_QUERY_ATTRIBUTES: parameter count,
// parameter set count, and the attributes precede the text.
func skipQueryAttributes(p []byte) ([]byte, error) {
	count, n, ok := lenenc(p)
	if !ok {
		return nil, errShort
	}
	p = p[n:]
	if _, n, ok = lenenc(p); !ok { // parameter set count, always 1
		return nil, errShort
	}
	p = p[n:]
	if count == 0 {
		return p, nil
	}
	if count > 65535 {
		return nil, errors.New("query attribute count " + strconv.FormatUint(count, 10))
	}
	c := int(count)
	nb := (c + 7) / 8
	if len(p) < nb+1 {
		return nil, errShort
	}
	nulls := p[:nb]
	bound := p[nb]
	p = p[nb+1:]
	if bound != 1 {
		return p, nil
	}
	if len(p) < 2*c {
		return nil, errShort
	}
	types := p[:2*c]
	p = p[2*c:]
	for i := 0; i < c; i++ {
		if _, p, ok = lenencBytes(p); !ok {
			return nil, errShort
		}
	}
	for i := 0; i < c; i++ {
		if nulls[i/8]&(1<<(i%8)) != 0 {
			continue
		}
		var err error
		if _, p, err = readValue(types[2*i], p); err != nil {
			return nil, err
		}
	}
	return p, nil
}
