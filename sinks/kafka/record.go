package kafka

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"

	"github.com/das-project/das/sinks"
)

// ErrBadRecord: a das.sql-minute record whose key or value is not what
// AppendKey and AppendValue write.
var ErrBadRecord = errors.New("sinks/kafka: bad minute record")

// AppendKey appends r's record key, instance|db|template_id|minute (minute
// in epoch milliseconds, decimal), to dst. A '|' or '\' inside a field is
// escaped with a '\' so that the key stays unambiguous whatever a database
// is called. Every version of a minute row has the same key, so a compacted
// topic keeps the last one written, and the highest version carries the
// final value (see sinks.MinuteRow).
func AppendKey(dst []byte, r *sinks.MinuteRow) []byte {
	dst = appendEscaped(dst, r.Instance)
	dst = append(dst, '|')
	dst = appendEscaped(dst, r.DB)
	dst = append(dst, '|')
	dst = appendEscaped(dst, r.TemplateID)
	dst = append(dst, '|')
	return strconv.AppendInt(dst, r.Minute, 10)
}

func appendEscaped(dst []byte, s string) []byte {
	for i := 0; i < len(s); i++ {
		if c := s[i]; c == '|' || c == '\\' {
			dst = append(dst, '\\')
		}
		dst = append(dst, s[i])
	}
	return dst
}

// ParseKey parses a key written by AppendKey.
func ParseKey(key []byte) (sinks.Key, error) {
	var fields [3][]byte
	var cur []byte
	n := 0
	i := 0
	for ; i < len(key) && n < 3; i++ {
		switch c := key[i]; c {
		case '\\':
			if i+1 == len(key) || key[i+1] != '|' && key[i+1] != '\\' {
				return sinks.Key{}, fmt.Errorf("%w: key %q: '\\' escapes only '|' and '\\'", ErrBadRecord, key)
			}
			i++
			cur = append(cur, key[i])
		case '|':
			fields[n] = cur
			cur = nil
			n++
		default:
			cur = append(cur, c)
		}
	}
	if n != 3 {
		return sinks.Key{}, fmt.Errorf("%w: key %q has %d of 4 fields", ErrBadRecord, key, n+1)
	}
	rest := key[i:]
	minute, err := strconv.ParseInt(string(rest), 10, 64)
	if err != nil || !bytes.Equal(strconv.AppendInt(nil, minute, 10), rest) {
		return sinks.Key{}, fmt.Errorf("%w: key %q: minute %q is not a decimal integer", ErrBadRecord, key, rest)
	}
	return sinks.Key{Instance: string(fields[0]), DB: string(fields[1]), TemplateID: string(fields[2]), Minute: minute}, nil
}

// AppendValue appends r as one JSON object with the field names of the
// data contract (sinks.MinuteRow's json tags). Strings that are not valid
// UTF-8 have their bad bytes replaced with U+FFFD, as JSON requires.
func AppendValue(dst []byte, r *sinks.MinuteRow) []byte {
	b, err := json.Marshal(r)
	if err != nil {
		// MinuteRow has only strings and integers.
		panic("BUG: sinks/kafka: marshal MinuteRow: " + err.Error())
	}
	return append(dst, b...)
}

// DecodeRecord decodes a das.sql-minute record and checks that its key is
// the key of its value.
func DecodeRecord(key, value []byte) (sinks.MinuteRow, error) {
	var r sinks.MinuteRow
	k, err := ParseKey(key)
	if err != nil {
		return r, err
	}
	if err := json.Unmarshal(value, &r); err != nil {
		return sinks.MinuteRow{}, fmt.Errorf("%w: value: %v", ErrBadRecord, err)
	}
	if r.Key() != k {
		return sinks.MinuteRow{}, fmt.Errorf("%w: key %q does not match the value's %+v", ErrBadRecord, key, r.Key())
	}
	return r, nil
}
