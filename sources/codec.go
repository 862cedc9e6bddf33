package sources

import (
	"encoding/base64"
	"math"
	"slices"
	"strconv"

	"github.com/das-project/das/internal/sketch"

	"github.com/valyala/fastjson"
)

// Reasons a record is rejected. They are the machine-readable Reason of a
// DecodeError and of a stream.Reject, and the reason column of the dead-letter
// output. Reasons for other fields follow the same "kind:field" pattern, e.g.
// "negative:rows_sent" or "invalid:err_code".
const (
	// ReasonMalformed: not JSON, not a JSON object, or a field of the wrong
	// JSON type (a string where a number belongs, …).
	ReasonMalformed = "malformed"
	// ReasonMissingTs: ts_ms absent or null.
	ReasonMissingTs = "missing:ts_ms"
	// ReasonMissingInstance: instance absent, null or empty.
	ReasonMissingInstance = "missing:instance"
	// ReasonMissingSQL: sql absent or null. An empty string is a statement
	// (MySQL answers it with error 1065) and is accepted.
	ReasonMissingSQL = "missing:sql"
	// ReasonInvalidTs: ts_ms is a number that is not an integer in int64 range.
	ReasonInvalidTs = "invalid:ts_ms"
	// ReasonNegativeTs: ts_ms before the Unix epoch.
	ReasonNegativeTs = "negative:ts_ms"
	// ReasonNegativeLatency: latency_us < 0.
	ReasonNegativeLatency = "negative:latency_us"
)

// DecodeError says why a record could not become an Event. Reason is one of
// the Reason constants (or "negative:FIELD" / "invalid:FIELD"); Detail is for
// humans.
type DecodeError struct {
	Reason string
	Detail string
}

func (e *DecodeError) Error() string {
	if e.Detail == "" {
		return "sources: " + e.Reason
	}
	return "sources: " + e.Reason + ": " + e.Detail
}

// Fields is a set of Event fields, as named in the data contract. It selects
// which fields AppendJSONFields writes (and which columns an Arrow writer
// leaves null).
type Fields uint32

// The fields of an Event, in the order of the data contract.
const (
	FieldTsMs Fields = 1 << iota
	FieldInstance
	FieldDB
	FieldUser
	FieldSQL
	FieldLatencyUs
	FieldLockUs
	FieldRowsSent
	FieldRowsExamined
	FieldRowsAffected
	FieldErrCode
	// The fields das agent adds (Event's doc); never required.
	FieldSrc
	FieldSeq
	FieldTemplateID
	FieldCount
	FieldLatencyMaxUs
	FieldErrors
	FieldLatencySketch
	FieldTemplate

	// AgentFields are the optional fields das agent adds.
	AgentFields = FieldSrc | FieldSeq | FieldTemplateID | FieldCount | FieldLatencyMaxUs |
		FieldErrors | FieldLatencySketch | FieldTemplate

	// AllFields is every field of the SQL event contract (DESIGN.md), the
	// ones every source fills; AgentFields come on top.
	AllFields = FieldTsMs | FieldInstance | FieldDB | FieldUser | FieldSQL |
		FieldLatencyUs | FieldLockUs | FieldRowsSent | FieldRowsExamined |
		FieldRowsAffected | FieldErrCode
	// RequiredFields are the fields a record must carry.
	RequiredFields = FieldTsMs | FieldInstance | FieldSQL
)

// FieldNames are the JSON keys (and Arrow column names) of the fields, in
// bit order: FieldNames[i] names Fields(1<<i).
var FieldNames = [...]string{
	"ts_ms", "instance", "db", "user", "sql", "latency_us", "lock_us",
	"rows_sent", "rows_examined", "rows_affected", "err_code",
	"src", "seq", "template_id", "count", "latency_max_us", "errors", "latency_sketch", "template",
}

// IsBytes reports whether field f holds a string or bytes (as opposed to
// an integer) in JSON and Arrow.
func IsBytes(f Fields) bool {
	return f&(FieldInstance|FieldDB|FieldUser|FieldSQL|FieldSrc|FieldTemplateID|FieldLatencySketch|FieldTemplate) != 0
}

// PresentAgentFields returns the agent fields ev carries (the non-zero ones).
func PresentAgentFields(ev *Event) Fields { return ev.present() }

// present returns the agent fields ev carries (non-zero).
func (ev *Event) present() Fields {
	var f Fields
	if ev.Src != "" {
		f |= FieldSrc
	}
	if ev.Seq != 0 {
		f |= FieldSeq
	}
	if ev.TemplateID != 0 {
		f |= FieldTemplateID
	}
	if ev.Count != 0 {
		f |= FieldCount
	}
	if ev.LatencyMaxUs != 0 {
		f |= FieldLatencyMaxUs
	}
	if ev.Errors != 0 {
		f |= FieldErrors
	}
	if len(ev.LatencySketch) != 0 {
		f |= FieldLatencySketch
	}
	if len(ev.Template) != 0 {
		f |= FieldTemplate
	}
	return f
}

// Check validates an Event built by a source that does not go through the
// JSON decoder (Arrow, slow log, …) with the same rules as Decode, except the
// presence of SQL, which an Event cannot express. It returns nil or a
// *DecodeError.
func Check(ev *Event) error {
	if ev.TsMs < 0 {
		return &DecodeError{Reason: ReasonNegativeTs, Detail: "ts_ms " + strconv.FormatInt(ev.TsMs, 10)}
	}
	if ev.Instance == "" {
		return &DecodeError{Reason: ReasonMissingInstance}
	}
	for _, f := range [...]struct {
		v    int64
		name string
	}{
		{ev.LatencyUs, "latency_us"}, {ev.LockUs, "lock_us"}, {ev.RowsSent, "rows_sent"},
		{ev.RowsExamined, "rows_examined"}, {ev.RowsAffected, "rows_affected"},
	} {
		if f.v < 0 {
			return negative(f.name, f.v)
		}
	}
	if ev.ErrCode < 0 {
		return negative("err_code", int64(ev.ErrCode))
	}
	return checkAgent(ev)
}

// Reasons for inconsistent agent fields.
const (
	// ReasonInvalidPartial: a partial aggregate (count > 0) whose errors
	// exceed its count, whose latency_max_us exceeds latency_us (the sum),
	// or whose sketch does not decode or holds more than count values; or
	// partial-only fields on a record without count.
	ReasonInvalidPartial = "invalid:partial"
)

func checkAgent(ev *Event) error {
	for _, f := range [...]struct {
		v    int64
		name string
	}{{ev.Seq, "seq"}, {ev.Count, "count"}, {ev.LatencyMaxUs, "latency_max_us"}, {ev.Errors, "errors"}} {
		if f.v < 0 {
			return negative(f.name, f.v)
		}
	}
	if ev.Count == 0 {
		if ev.LatencyMaxUs != 0 || ev.Errors != 0 || len(ev.LatencySketch) != 0 {
			return &DecodeError{Reason: ReasonInvalidPartial, Detail: "latency_max_us, errors or latency_sketch without count"}
		}
		return nil
	}
	switch {
	case ev.Errors > ev.Count:
		return &DecodeError{Reason: ReasonInvalidPartial, Detail: "errors " + strconv.FormatInt(ev.Errors, 10) + " > count " + strconv.FormatInt(ev.Count, 10)}
	case ev.LatencyMaxUs > ev.LatencyUs:
		return &DecodeError{Reason: ReasonInvalidPartial, Detail: "latency_max_us above the latency sum"}
	}
	if len(ev.LatencySketch) != 0 {
		var sk sketch.Sketch
		n, err := sk.Decode(ev.LatencySketch)
		switch {
		case err != nil:
			return &DecodeError{Reason: ReasonInvalidPartial, Detail: "latency_sketch: " + err.Error()}
		case n != len(ev.LatencySketch):
			return &DecodeError{Reason: ReasonInvalidPartial, Detail: "latency_sketch: trailing bytes"}
		case sk.Count() > uint64(ev.Count):
			return &DecodeError{Reason: ReasonInvalidPartial, Detail: "latency_sketch holds " + strconv.FormatUint(sk.Count(), 10) + " values, count is only " + strconv.FormatInt(ev.Count, 10)}
		}
	}
	return nil
}

func negative(field string, v int64) *DecodeError {
	return &DecodeError{Reason: "negative:" + field, Detail: field + " " + strconv.FormatInt(v, 10)}
}

// Decoder decodes JSON event records (one JSON object per record, the data
// contract of DESIGN.md) into Events. The zero value is ready to use. A
// Decoder is not safe for concurrent use.
//
// Rules:
//   - ts_ms, instance and sql are required; instance must not be empty.
//   - Other fields are optional and default to zero or "". A null value is
//     the same as an absent field. Unknown fields are ignored. When a key
//     repeats, the last non-null value wins.
//   - Numbers must be integers. A number written with a fraction or exponent
//     (1.0, 1e3) is accepted when its value is integral and fits int64
//     (err_code: int32); otherwise the reason is "invalid:FIELD".
//   - ts_ms, latency_us, lock_us, rows_* must not be negative
//     ("negative:FIELD"); err_code must be within 0..2^31-1.
//   - sql keeps its bytes exactly: raw bytes that are not UTF-8, control
//     characters and escapes that do not form a code point (a lone \ud800)
//     are kept, never rejected.
//
// The first problem found, in the record's key order, is reported.
//
// Decode allocates nothing in steady state: Instance, DB and User are
// interned per decoder (at most MaxInterned distinct strings per decoder,
// beyond that they are allocated per record), and SQL points into the
// decoder's memory.
type Decoder struct {
	p      fastjson.Parser
	str    Interner
	sql    []byte // the fast path's copy of the last record's sql
	sketch []byte // the last record's decoded latency_sketch
	tmpl   []byte // the fast path's copy of the last record's template
}

// MaxInterned bounds a Decoder's interned Instance/DB/User strings.
const MaxInterned = 4096

// Decode decodes raw into ev, overwriting all of ev. On error ev is in an
// unspecified state and the error is a *DecodeError.
//
// ev.SQL points into the decoder's memory: it is valid until the next call
// to Decode on d. Callers that retain it must copy it. ev.Instance, ev.DB and
// ev.User are ordinary strings and may be retained.
func (d *Decoder) Decode(raw []byte, ev *Event) error {
	if d.str.max == 0 {
		d.str.max = MaxInterned
	}
	if d.decodeFast(raw, ev) {
		return nil
	}
	return d.decodeSlow(raw, ev)
}

// decodeSlow is Decode through fastjson: the reference for every record, and
// the only path for the records decodeFast hands back (escapes, floats,
// nulls, duplicate keys, nested values, every error).
func (d *Decoder) decodeSlow(raw []byte, ev *Event) error {
	*ev = Event{}
	if d.str.max == 0 {
		d.str.max = MaxInterned
	}
	v, err := d.p.ParseBytes(raw)
	if err != nil {
		return &DecodeError{Reason: ReasonMalformed, Detail: err.Error()}
	}
	o, err := v.Object()
	if err != nil {
		return &DecodeError{Reason: ReasonMalformed, Detail: "record is a JSON " + v.Type().String() + ", not an object"}
	}
	var (
		seen Fields
		derr *DecodeError
	)
	o.Visit(func(key []byte, v *fastjson.Value) {
		if derr != nil || v.Type() == fastjson.TypeNull {
			return
		}
		var f Fields
		switch string(key) {
		case "ts_ms":
			f = FieldTsMs
			ev.TsMs, derr = intField(v, "ts_ms", math.MaxInt64)
		case "instance":
			f = FieldInstance
			var b []byte
			b, derr = strField(v, "instance")
			ev.Instance = d.str.Get(b)
		case "db":
			f = FieldDB
			var b []byte
			b, derr = strField(v, "db")
			ev.DB = d.str.Get(b)
		case "user":
			f = FieldUser
			var b []byte
			b, derr = strField(v, "user")
			ev.User = d.str.Get(b)
		case "sql":
			f = FieldSQL
			ev.SQL, derr = strField(v, "sql")
		case "latency_us":
			f = FieldLatencyUs
			ev.LatencyUs, derr = intField(v, "latency_us", math.MaxInt64)
		case "lock_us":
			f = FieldLockUs
			ev.LockUs, derr = intField(v, "lock_us", math.MaxInt64)
		case "rows_sent":
			f = FieldRowsSent
			ev.RowsSent, derr = intField(v, "rows_sent", math.MaxInt64)
		case "rows_examined":
			f = FieldRowsExamined
			ev.RowsExamined, derr = intField(v, "rows_examined", math.MaxInt64)
		case "rows_affected":
			f = FieldRowsAffected
			ev.RowsAffected, derr = intField(v, "rows_affected", math.MaxInt64)
		case "err_code":
			f = FieldErrCode
			var c int64
			c, derr = intField(v, "err_code", math.MaxInt32)
			ev.ErrCode = int32(c)
		case "src":
			f = FieldSrc
			var b []byte
			b, derr = strField(v, "src")
			ev.Src = d.str.Get(b)
		case "seq":
			f = FieldSeq
			ev.Seq, derr = intField(v, "seq", math.MaxInt64)
		case "template_id":
			f = FieldTemplateID
			var b []byte
			if b, derr = strField(v, "template_id"); derr == nil {
				ev.TemplateID, derr = parseTemplateID(b)
			}
		case "count":
			f = FieldCount
			ev.Count, derr = intField(v, "count", math.MaxInt64)
		case "latency_max_us":
			f = FieldLatencyMaxUs
			ev.LatencyMaxUs, derr = intField(v, "latency_max_us", math.MaxInt64)
		case "errors":
			f = FieldErrors
			ev.Errors, derr = intField(v, "errors", math.MaxInt64)
		case "template":
			f = FieldTemplate
			ev.Template, derr = strField(v, "template")
		case "latency_sketch":
			f = FieldLatencySketch
			var b []byte
			if b, derr = strField(v, "latency_sketch"); derr == nil {
				d.sketch, derr = decodeBase64(d.sketch[:0], b)
				ev.LatencySketch = d.sketch
			}
		default:
			return
		}
		seen |= f
	})
	if derr != nil {
		return derr
	}
	switch {
	case seen&FieldTsMs == 0:
		return &DecodeError{Reason: ReasonMissingTs}
	case seen&FieldInstance == 0 || ev.Instance == "":
		return &DecodeError{Reason: ReasonMissingInstance}
	case seen&FieldSQL == 0:
		return &DecodeError{Reason: ReasonMissingSQL}
	}
	if seen&AgentFields != 0 {
		if err := checkAgent(ev); err != nil {
			return err.(*DecodeError)
		}
	}
	return nil
}

// ParseTemplateID parses a template_id (16 hex digits, not all zero); the
// error is a *DecodeError with reason "invalid:template_id".
func ParseTemplateID(b []byte) (uint64, error) {
	id, err := parseTemplateID(b)
	if err != nil {
		return 0, err
	}
	return id, nil
}

// parseTemplateID parses the 16 lower- or upper-case hex digits of a
// template_id. Zero is not a valid id.
func parseTemplateID(b []byte) (uint64, *DecodeError) {
	if len(b) != 16 {
		return 0, &DecodeError{Reason: "invalid:template_id", Detail: "template_id must be 16 hex digits"}
	}
	var id uint64
	for _, c := range b {
		var v byte
		switch {
		case c >= '0' && c <= '9':
			v = c - '0'
		case c >= 'a' && c <= 'f':
			v = c - 'a' + 10
		case c >= 'A' && c <= 'F':
			v = c - 'A' + 10
		default:
			return 0, &DecodeError{Reason: "invalid:template_id", Detail: "template_id must be 16 hex digits"}
		}
		id = id<<4 | uint64(v)
	}
	if id == 0 {
		return 0, &DecodeError{Reason: "invalid:template_id", Detail: "template_id 0"}
	}
	return id, nil
}

// decodeBase64 appends the standard base64 (padded) decoding of b to dst.
func decodeBase64(dst, b []byte) ([]byte, *DecodeError) {
	n := base64.StdEncoding.DecodedLen(len(b))
	dst = slices.Grow(dst, n)[:len(dst)+n]
	m, err := base64.StdEncoding.Decode(dst[len(dst)-n:], b)
	if err != nil {
		return nil, &DecodeError{Reason: "invalid:latency_sketch", Detail: "latency_sketch: " + err.Error()}
	}
	return dst[:len(dst)-n+m], nil
}

func strField(v *fastjson.Value, name string) ([]byte, *DecodeError) {
	if v.Type() != fastjson.TypeString {
		return nil, &DecodeError{Reason: ReasonMalformed, Detail: name + ": want a string, got a " + v.Type().String()}
	}
	b, _ := v.StringBytes()
	return b, nil
}

// intField returns the non-negative integer value of v, at most max.
func intField(v *fastjson.Value, name string, max int64) (int64, *DecodeError) {
	if v.Type() != fastjson.TypeNumber {
		return 0, &DecodeError{Reason: ReasonMalformed, Detail: name + ": want a number, got a " + v.Type().String()}
	}
	if n, err := v.Int64(); err == nil {
		switch {
		case n < 0:
			return 0, negative(name, n)
		case n > max:
			return 0, &DecodeError{Reason: "invalid:" + name, Detail: name + " " + strconv.FormatInt(n, 10) + " out of range"}
		}
		return n, nil
	}
	// Not a plain integer: 1.0, 1e3, 1.5, overflow, or junk that fastjson's
	// lenient number scanner let through (1-2). Rare, so allocating is fine.
	raw := v.MarshalTo(nil)
	f, err := strconv.ParseFloat(string(raw), 64)
	if err != nil && !isRangeErr(err) {
		return 0, &DecodeError{Reason: "invalid:" + name, Detail: name + ": " + err.Error()}
	}
	switch {
	case math.IsNaN(f) || math.IsInf(f, 0) || f != math.Trunc(f) || f >= 1<<63 || f < -(1<<63):
		return 0, &DecodeError{Reason: "invalid:" + name, Detail: name + " " + string(raw) + " is not an integer in range"}
	case f < 0:
		return 0, negative(name, int64(f))
	case f > float64(max):
		return 0, &DecodeError{Reason: "invalid:" + name, Detail: name + " " + string(raw) + " out of range"}
	}
	return int64(f), nil
}

func isRangeErr(err error) bool {
	ne, ok := err.(*strconv.NumError)
	return ok && ne.Err == strconv.ErrRange
}

// Interner maps byte strings to shared Go strings so that a decoder returns
// the same string for the same bytes without allocating. It holds at most
// its bound of entries; beyond that, unseen strings are allocated on each
// call. The zero value interns nothing (use NewInterner). Not safe for
// concurrent use.
type Interner struct {
	m   map[string]string
	max int
}

// NewInterner returns an Interner holding at most max strings, each at most
// 256 bytes long.
func NewInterner(max int) *Interner { return &Interner{max: max} }

// Get returns b as a string, shared with previous calls for the same bytes.
func (in *Interner) Get(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if s, ok := in.m[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(in.m) < in.max && len(b) <= 256 {
		if in.m == nil {
			in.m = make(map[string]string)
		}
		in.m[s] = s
	}
	return s
}

// AppendJSON appends ev as one JSON object (no newline) with every field of
// the data contract, in contract order, and returns the extended buffer.
// Decode(AppendJSON(nil, ev)) gives back ev exactly, for every ev that
// passes Check.
//
// Strings are written byte-exactly: '"', '\\' and control characters are
// escaped; every other byte, including bytes that are not valid UTF-8, is
// written as is. So the output is JSON that Decode (and any lenient reader)
// returns byte for byte, but a strict UTF-8 JSON reader would replace
// invalid bytes with U+FFFD. There is no JSON escape that carries a raw
// byte (\u00ff is the code point ÿ, two bytes in UTF-8), so this is the only
// lossless choice that keeps sql a JSON string.
//
// The agent fields (AgentFields) are written after the contract fields
// when they are not zero.
func AppendJSON(dst []byte, ev *Event) []byte {
	return AppendJSONFields(dst, ev, AllFields|ev.present())
}

// AppendJSONFields is AppendJSON writing only the fields in present. The
// generator uses it to produce records with missing fields, and sources that
// reject a row of a columnar batch use it to give the dead-letter output the
// row's raw form.
func AppendJSONFields(dst []byte, ev *Event, present Fields) []byte {
	dst = append(dst, '{')
	sep := false
	for i := range len(FieldNames) {
		if present&(1<<i) == 0 {
			continue
		}
		if sep {
			dst = append(dst, ',')
		}
		sep = true
		dst = append(dst, jsonKeys[i]...)
		switch Fields(1 << i) {
		case FieldTsMs:
			dst = strconv.AppendInt(dst, ev.TsMs, 10)
		case FieldInstance:
			dst = AppendJSONString(dst, ev.Instance)
		case FieldDB:
			dst = AppendJSONString(dst, ev.DB)
		case FieldUser:
			dst = AppendJSONString(dst, ev.User)
		case FieldSQL:
			dst = AppendJSONString(dst, ev.SQL)
		case FieldLatencyUs:
			dst = strconv.AppendInt(dst, ev.LatencyUs, 10)
		case FieldLockUs:
			dst = strconv.AppendInt(dst, ev.LockUs, 10)
		case FieldRowsSent:
			dst = strconv.AppendInt(dst, ev.RowsSent, 10)
		case FieldRowsExamined:
			dst = strconv.AppendInt(dst, ev.RowsExamined, 10)
		case FieldRowsAffected:
			dst = strconv.AppendInt(dst, ev.RowsAffected, 10)
		case FieldErrCode:
			dst = strconv.AppendInt(dst, int64(ev.ErrCode), 10)
		case FieldSrc:
			dst = AppendJSONString(dst, ev.Src)
		case FieldSeq:
			dst = strconv.AppendInt(dst, ev.Seq, 10)
		case FieldTemplateID:
			dst = append(dst, '"')
			dst = AppendTemplateID(dst, ev.TemplateID)
			dst = append(dst, '"')
		case FieldCount:
			dst = strconv.AppendInt(dst, ev.Count, 10)
		case FieldLatencyMaxUs:
			dst = strconv.AppendInt(dst, ev.LatencyMaxUs, 10)
		case FieldErrors:
			dst = strconv.AppendInt(dst, ev.Errors, 10)
		case FieldTemplate:
			dst = AppendJSONString(dst, ev.Template)
		case FieldLatencySketch:
			dst = append(dst, '"')
			dst = base64.StdEncoding.AppendEncode(dst, ev.LatencySketch)
			dst = append(dst, '"')
		}
	}
	return append(dst, '}')
}

// jsonKeys are the quoted keys with their colon, by field bit (FieldNames;
// TestAppendJSONFields checks they agree).
var jsonKeys = [len(FieldNames)]string{
	`"ts_ms":`, `"instance":`, `"db":`, `"user":`, `"sql":`, `"latency_us":`, `"lock_us":`,
	`"rows_sent":`, `"rows_examined":`, `"rows_affected":`, `"err_code":`,
	`"src":`, `"seq":`, `"template_id":`, `"count":`, `"latency_max_us":`, `"errors":`, `"latency_sketch":`, `"template":`,
}

// AppendTemplateID appends id as 16 lower-case hex digits, the form of the
// template_id column and of das fingerprint.
func AppendTemplateID(dst []byte, id uint64) []byte {
	for shift := 60; shift >= 0; shift -= 4 {
		dst = append(dst, hexDigits[id>>uint(shift)&0xf])
	}
	return dst
}

// String lists the fields' names, e.g. "ts_ms,sql".
func (f Fields) String() string {
	var b []byte
	for i, n := range FieldNames {
		if f&(1<<i) != 0 {
			if len(b) > 0 {
				b = append(b, ',')
			}
			b = append(b, n...)
		}
	}
	return string(b)
}

// AppendJSONString appends s as a quoted JSON string, escaping '"', '\\' and
// control characters and copying every other byte unchanged (see
// AppendJSON).
func AppendJSONString[S ~string | ~[]byte](dst []byte, s S) []byte {
	dst = append(dst, '"')
	start := 0
	for i := 0; i < len(s); {
		// Skip 8 plain bytes at a time: none below 0x20, '"' or '\\'.
		if i+8 <= len(s) {
			x := uint64(s[i]) | uint64(s[i+1])<<8 | uint64(s[i+2])<<16 | uint64(s[i+3])<<24 |
				uint64(s[i+4])<<32 | uint64(s[i+5])<<40 | uint64(s[i+6])<<48 | uint64(s[i+7])<<56
			if !hasSpecial(x) {
				i += 8
				continue
			}
		}
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			i++
			continue
		}
		dst = append(dst, s[start:i]...)
		switch c {
		case '"', '\\':
			dst = append(dst, '\\', c)
		case '\n':
			dst = append(dst, '\\', 'n')
		case '\r':
			dst = append(dst, '\\', 'r')
		case '\t':
			dst = append(dst, '\\', 't')
		default:
			dst = append(dst, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
		}
		i++
		start = i
	}
	dst = append(dst, s[start:]...)
	return append(dst, '"')
}

// hasSpecial reports whether any byte of x is below 0x20, '"' or '\\'
// (the bit tricks of "Bit Twiddling Hacks": a byte below n, a zero byte).
func hasSpecial(x uint64) bool {
	const (
		ones = 0x0101010101010101
		high = 0x8080808080808080
	)
	below := (x - 0x20*ones) &^ x
	quote := x ^ '"'*ones
	bslash := x ^ '\\'*ones
	zq := (quote - ones) &^ quote
	zb := (bslash - ones) &^ bslash
	return (below|zq|zb)&high != 0
}

const hexDigits = "0123456789abcdef"
