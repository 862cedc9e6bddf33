package sources

import (
	"bytes"
	"encoding/base64"
	"errors"
	"math/rand/v2"
	"strings"
	"testing"

	"github.com/das-project/das/internal/sketch"
)

const fullRecord = `{"ts_ms":1704067200123,"instance":"10.0.1.1:3306","db":"orders","user":"app_rw",` +
	`"sql":"SELECT * FROM t WHERE id = 5","latency_us":1200,"lock_us":30,"rows_sent":1,` +
	`"rows_examined":2,"rows_affected":0,"err_code":1062}`

func TestDecode(t *testing.T) {
	full := Event{
		TsMs: 1704067200123, Instance: "10.0.1.1:3306", DB: "orders", User: "app_rw",
		SQL: []byte("SELECT * FROM t WHERE id = 5"), LatencyUs: 1200, LockUs: 30,
		RowsSent: 1, RowsExamined: 2, ErrCode: 1062,
	}
	minimal := func(sql string) Event {
		return Event{TsMs: 1, Instance: "i:1", SQL: []byte(sql)}
	}
	tests := []struct {
		name   string
		in     string
		want   Event  // when reason == ""
		reason string // expected DecodeError.Reason
	}{
		{name: "full", in: fullRecord, want: full},
		{name: "minimal", in: `{"ts_ms":1,"instance":"i:1","sql":"x"}`, want: minimal("x")},
		{name: "whitespace", in: " \t{ \"ts_ms\" : 1 , \"instance\":\"i:1\",\"sql\":\"x\" }\r\n", want: minimal("x")},
		{name: "unknown fields ignored", in: `{"ts_ms":1,"instance":"i:1","sql":"x","extra":{"a":[1,2]},"host":"h"}`, want: minimal("x")},
		{name: "null optional", in: `{"ts_ms":1,"instance":"i:1","sql":"x","db":null,"latency_us":null}`, want: minimal("x")},
		{name: "empty sql kept", in: `{"ts_ms":1,"instance":"i:1","sql":""}`, want: minimal("")},
		{name: "escapes", in: `{"ts_ms":1,"instance":"i:1","sql":"a\"b\\c\n\t\u00e9\u0000"}`, want: minimal("a\"b\\c\n\t\u00e9\x00")},
		{name: "invalid utf8 kept", in: "{\"ts_ms\":1,\"instance\":\"i:1\",\"sql\":\"\xff\xfe 'caf\xe9'\"}", want: minimal("\xff\xfe 'caf\xe9'")},
		{name: "lone surrogate kept as text", in: `{"ts_ms":1,"instance":"i:1","sql":"\ud800"}`, want: minimal(`\ud800`)},
		{name: "surrogate pair", in: `{"ts_ms":1,"instance":"i:1","sql":"\ud83d\ude00"}`, want: minimal("😀")},
		{name: "integral float", in: `{"ts_ms":1.0,"instance":"i:1","sql":"x","rows_sent":2e1}`, want: Event{TsMs: 1, Instance: "i:1", SQL: []byte("x"), RowsSent: 20}},
		{name: "last key wins", in: `{"ts_ms":1,"ts_ms":2,"instance":"i:1","sql":"a","sql":"b"}`, want: Event{TsMs: 2, Instance: "i:1", SQL: []byte("b")}},
		{name: "escaped key", in: `{"ts\u005fms":1,"instance":"i:1","sql":"x"}`, want: minimal("x")},
		{name: "max int64", in: `{"ts_ms":9223372036854775807,"instance":"i:1","sql":"x"}`, want: Event{TsMs: 1<<63 - 1, Instance: "i:1", SQL: []byte("x")}},

		{name: "not json", in: `SELECT 1`, reason: ReasonMalformed},
		{name: "empty", in: ``, reason: ReasonMalformed},
		{name: "truncated", in: fullRecord[:len(fullRecord)/2], reason: ReasonMalformed},
		{name: "trailing garbage", in: fullRecord + `x`, reason: ReasonMalformed},
		{name: "array", in: `[1,2]`, reason: ReasonMalformed},
		{name: "string", in: `"x"`, reason: ReasonMalformed},
		{name: "ts string", in: `{"ts_ms":"1","instance":"i:1","sql":"x"}`, reason: ReasonMalformed},
		{name: "sql number", in: `{"ts_ms":1,"instance":"i:1","sql":5}`, reason: ReasonMalformed},
		{name: "instance object", in: `{"ts_ms":1,"instance":{},"sql":"x"}`, reason: ReasonMalformed},
		{name: "latency bool", in: `{"ts_ms":1,"instance":"i:1","sql":"x","latency_us":true}`, reason: ReasonMalformed},

		{name: "missing ts", in: `{"instance":"i:1","sql":"x"}`, reason: ReasonMissingTs},
		{name: "null ts", in: `{"ts_ms":null,"instance":"i:1","sql":"x"}`, reason: ReasonMissingTs},
		{name: "missing instance", in: `{"ts_ms":1,"sql":"x"}`, reason: ReasonMissingInstance},
		{name: "empty instance", in: `{"ts_ms":1,"instance":"","sql":"x"}`, reason: ReasonMissingInstance},
		{name: "missing sql", in: `{"ts_ms":1,"instance":"i:1"}`, reason: ReasonMissingSQL},
		{name: "null sql", in: `{"ts_ms":1,"instance":"i:1","sql":null}`, reason: ReasonMissingSQL},
		{name: "empty object", in: `{}`, reason: ReasonMissingTs},

		{name: "fractional ts", in: `{"ts_ms":1.5,"instance":"i:1","sql":"x"}`, reason: ReasonInvalidTs},
		{name: "huge ts", in: `{"ts_ms":1e30,"instance":"i:1","sql":"x"}`, reason: ReasonInvalidTs},
		{name: "ts 2^63", in: `{"ts_ms":9223372036854775808,"instance":"i:1","sql":"x"}`, reason: ReasonInvalidTs},
		{name: "ts nan", in: `{"ts_ms":NaN,"instance":"i:1","sql":"x"}`, reason: ReasonInvalidTs},
		{name: "ts lexical junk", in: `{"ts_ms":1-2,"instance":"i:1","sql":"x"}`, reason: ReasonInvalidTs},
		{name: "negative ts", in: `{"ts_ms":-1,"instance":"i:1","sql":"x"}`, reason: ReasonNegativeTs},
		{name: "negative latency", in: `{"ts_ms":1,"instance":"i:1","sql":"x","latency_us":-3}`, reason: ReasonNegativeLatency},
		{name: "negative latency float", in: `{"ts_ms":1,"instance":"i:1","sql":"x","latency_us":-3.0}`, reason: ReasonNegativeLatency},
		{name: "negative lock", in: `{"ts_ms":1,"instance":"i:1","sql":"x","lock_us":-1}`, reason: "negative:lock_us"},
		{name: "negative rows_sent", in: `{"ts_ms":1,"instance":"i:1","sql":"x","rows_sent":-1}`, reason: "negative:rows_sent"},
		{name: "negative rows_examined", in: `{"ts_ms":1,"instance":"i:1","sql":"x","rows_examined":-1}`, reason: "negative:rows_examined"},
		{name: "negative rows_affected", in: `{"ts_ms":1,"instance":"i:1","sql":"x","rows_affected":-1}`, reason: "negative:rows_affected"},
		{name: "negative err_code", in: `{"ts_ms":1,"instance":"i:1","sql":"x","err_code":-1}`, reason: "negative:err_code"},
		{name: "err_code beyond int32", in: `{"ts_ms":1,"instance":"i:1","sql":"x","err_code":2147483648}`, reason: "invalid:err_code"},
		{name: "fractional rows", in: `{"ts_ms":1,"instance":"i:1","sql":"x","rows_sent":0.5}`, reason: "invalid:rows_sent"},
		{name: "first problem wins", in: `{"latency_us":-1,"ts_ms":"x","instance":"i:1","sql":"x"}`, reason: ReasonNegativeLatency},
	}
	var d Decoder
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var ev Event
			err := d.Decode([]byte(tt.in), &ev)
			if tt.reason != "" {
				var de *DecodeError
				if !errors.As(err, &de) {
					t.Fatalf("Decode(%q) = %v, want DecodeError %q", tt.in, err, tt.reason)
				}
				if de.Reason != tt.reason {
					t.Fatalf("Decode(%q) reason = %q (%v), want %q", tt.in, de.Reason, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%q): %v", tt.in, err)
			}
			if !eventsEqual(&ev, &tt.want) {
				t.Fatalf("Decode(%q)\n got %+v\nwant %+v", tt.in, ev, tt.want)
			}
		})
	}
}

func eventsEqual(a, b *Event) bool {
	return a.TsMs == b.TsMs && a.Instance == b.Instance && a.DB == b.DB && a.User == b.User &&
		bytes.Equal(a.SQL, b.SQL) && a.LatencyUs == b.LatencyUs && a.LockUs == b.LockUs &&
		a.RowsSent == b.RowsSent && a.RowsExamined == b.RowsExamined &&
		a.RowsAffected == b.RowsAffected && a.ErrCode == b.ErrCode &&
		a.Src == b.Src && a.Seq == b.Seq && a.TemplateID == b.TemplateID && a.Count == b.Count &&
		a.LatencyMaxUs == b.LatencyMaxUs && a.Errors == b.Errors && bytes.Equal(a.LatencySketch, b.LatencySketch) &&
		bytes.Equal(a.Template, b.Template)
}

// partialSketch returns the encoding of a sketch holding vals.
func partialSketch(vals ...int64) []byte {
	var sk sketch.Sketch
	for _, v := range vals {
		sk.Add(v)
	}
	return sk.Append(nil)
}

func TestDecodeAgentFields(t *testing.T) {
	sk := partialSketch(100, 300)
	b64 := base64.StdEncoding.EncodeToString(sk)
	base := `"ts_ms":60000,"instance":"i:1","sql":"SELECT ?"`
	tests := []struct {
		name   string
		in     string
		want   Event
		reason string
	}{
		{name: "idempotency key and template", in: `{` + base + `,"src":"h1/slowlog/ab12","seq":4096,"template_id":"00ff00ff00ff00ff"}`,
			want: Event{TsMs: 60000, Instance: "i:1", SQL: []byte("SELECT ?"), Src: "h1/slowlog/ab12", Seq: 4096, TemplateID: 0x00ff00ff00ff00ff}},
		{name: "template text", in: `{` + base + `,"template_id":"00000000000000aa","template":"select ?"}`,
			want: Event{TsMs: 60000, Instance: "i:1", SQL: []byte("SELECT ?"), TemplateID: 0xaa, Template: []byte("select ?")}},
		{name: "template text escaped", in: `{` + base + `,"template":"select \"a\""}`,
			want: Event{TsMs: 60000, Instance: "i:1", SQL: []byte("SELECT ?"), Template: []byte(`select "a"`)}},
		{name: "upper-case template id", in: `{` + base + `,"template_id":"ABCDEF0123456789"}`,
			want: Event{TsMs: 60000, Instance: "i:1", SQL: []byte("SELECT ?"), TemplateID: 0xABCDEF0123456789}},
		{name: "partial aggregate", in: `{` + base + `,"latency_us":400,"count":2,"latency_max_us":300,"errors":1,"latency_sketch":"` + b64 + `"}`,
			want: Event{TsMs: 60000, Instance: "i:1", SQL: []byte("SELECT ?"), LatencyUs: 400, Count: 2, LatencyMaxUs: 300, Errors: 1, LatencySketch: sk}},
		{name: "partial without sketch", in: `{` + base + `,"latency_us":400,"count":2}`,
			want: Event{TsMs: 60000, Instance: "i:1", SQL: []byte("SELECT ?"), LatencyUs: 400, Count: 2}},

		{name: "short template id", in: `{` + base + `,"template_id":"abc"}`, reason: "invalid:template_id"},
		{name: "non-hex template id", in: `{` + base + `,"template_id":"zzzzzzzzzzzzzzzz"}`, reason: "invalid:template_id"},
		{name: "zero template id", in: `{` + base + `,"template_id":"0000000000000000"}`, reason: "invalid:template_id"},
		{name: "numeric template id", in: `{` + base + `,"template_id":5}`, reason: ReasonMalformed},
		{name: "negative seq", in: `{` + base + `,"seq":-1}`, reason: "negative:seq"},
		{name: "negative count", in: `{` + base + `,"count":-2}`, reason: "negative:count"},
		{name: "errors above count", in: `{` + base + `,"count":1,"errors":2}`, reason: ReasonInvalidPartial},
		{name: "max above sum", in: `{` + base + `,"latency_us":5,"count":1,"latency_max_us":9}`, reason: ReasonInvalidPartial},
		{name: "errors without count", in: `{` + base + `,"errors":1}`, reason: ReasonInvalidPartial},
		{name: "sketch of fewer statements", in: `{` + base + `,"latency_us":400,"count":3,"latency_max_us":300,"latency_sketch":"` + b64 + `"}`,
			want: Event{TsMs: 60000, Instance: "i:1", SQL: []byte("SELECT ?"), LatencyUs: 400, Count: 3, LatencyMaxUs: 300, LatencySketch: sk}},
		{name: "sketch of more statements", in: `{` + base + `,"latency_us":400,"count":1,"latency_max_us":300,"latency_sketch":"` + b64 + `"}`, reason: ReasonInvalidPartial},
		{name: "sketch not base64", in: `{` + base + `,"count":1,"latency_sketch":"@@@"}`, reason: "invalid:latency_sketch"},
		{name: "sketch garbage", in: `{` + base + `,"count":1,"latency_sketch":"/////w=="}`, reason: ReasonInvalidPartial},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var d Decoder
			var ev Event
			err := d.Decode([]byte(tt.in), &ev)
			if tt.reason != "" {
				var de *DecodeError
				if !errors.As(err, &de) || de.Reason != tt.reason {
					t.Fatalf("Decode(%s) = %v, want reason %q", tt.in, err, tt.reason)
				}
				return
			}
			if err != nil {
				t.Fatalf("Decode(%s) = %v", tt.in, err)
			}
			if !eventsEqual(&ev, &tt.want) {
				t.Fatalf("Decode(%s)\n got %+v\nwant %+v", tt.in, ev, tt.want)
			}
			// Round trip through AppendJSON.
			ev.SQL, ev.LatencySketch, ev.Template = bytes.Clone(ev.SQL), bytes.Clone(ev.LatencySketch), bytes.Clone(ev.Template)
			var again Event
			if err := d.Decode(AppendJSON(nil, &ev), &again); err != nil || !eventsEqual(&again, &ev) {
				t.Fatalf("round trip: %v\n got %+v\nwant %+v", err, again, ev)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	ok := Event{TsMs: 1, Instance: "i"}
	tests := []struct {
		name   string
		mod    func(*Event)
		reason string
	}{
		{"ok", func(*Event) {}, ""},
		{"negative ts", func(e *Event) { e.TsMs = -1 }, ReasonNegativeTs},
		{"no instance", func(e *Event) { e.Instance = "" }, ReasonMissingInstance},
		{"latency", func(e *Event) { e.LatencyUs = -1 }, ReasonNegativeLatency},
		{"lock", func(e *Event) { e.LockUs = -1 }, "negative:lock_us"},
		{"rows sent", func(e *Event) { e.RowsSent = -1 }, "negative:rows_sent"},
		{"rows examined", func(e *Event) { e.RowsExamined = -1 }, "negative:rows_examined"},
		{"rows affected", func(e *Event) { e.RowsAffected = -1 }, "negative:rows_affected"},
		{"err code", func(e *Event) { e.ErrCode = -1 }, "negative:err_code"},
	}
	for _, tt := range tests {
		ev := ok
		tt.mod(&ev)
		err := Check(&ev)
		var de *DecodeError
		switch {
		case tt.reason == "" && err != nil:
			t.Errorf("%s: Check = %v, want nil", tt.name, err)
		case tt.reason != "" && (!errors.As(err, &de) || de.Reason != tt.reason):
			t.Errorf("%s: Check = %v, want reason %q", tt.name, err, tt.reason)
		}
	}
}

func TestAppendJSONRoundTrip(t *testing.T) {
	evs := []Event{
		{},
		{TsMs: 1<<63 - 1, Instance: "10.0.1.2:3306", DB: "d\"b", User: "u\\", SQL: []byte("SELECT '\xff\xfe\x00\x1f\x7f\u2028'"),
			LatencyUs: 1<<63 - 1, LockUs: 1, RowsSent: 2, RowsExamined: 3, RowsAffected: 4, ErrCode: 1<<31 - 1},
		{TsMs: 5, Instance: "\xc3", SQL: []byte{}},
		{TsMs: 5, Instance: "i", SQL: []byte(strings.Repeat("\\\"\n\r\t\b\f", 100))},
	}
	var d Decoder
	for i, ev := range evs {
		if i == 0 {
			ev.Instance, ev.SQL = "x", []byte("y")
		}
		raw := AppendJSON(nil, &ev)
		if bytes.IndexByte(raw, '\n') >= 0 {
			t.Fatalf("AppendJSON output contains a newline: %q", raw)
		}
		var got Event
		if err := d.Decode(raw, &got); err != nil {
			t.Fatalf("Decode(AppendJSON(%+v)) = %v; json %q", ev, err, raw)
		}
		if !eventsEqual(&got, &ev) {
			t.Fatalf("round trip\n got %+v\nwant %+v\njson %q", got, ev, raw)
		}
	}
}

func TestAppendJSONFields(t *testing.T) {
	ev := Event{TsMs: 7, Instance: "i", SQL: []byte("q"), LatencyUs: 3}
	got := string(AppendJSONFields(nil, &ev, FieldInstance|FieldSQL|FieldLatencyUs))
	want := `{"instance":"i","sql":"q","latency_us":3}`
	if got != want {
		t.Fatalf("AppendJSONFields = %s, want %s", got, want)
	}
	for i, n := range FieldNames {
		if jsonKeys[i] != `"`+n+`":` {
			t.Fatalf("jsonKeys[%d] = %s, FieldNames[%d] = %s", i, jsonKeys[i], i, n)
		}
	}
	if s := (FieldTsMs | FieldErrCode).String(); s != "ts_ms,err_code" {
		t.Fatalf("Fields.String = %q", s)
	}
	var d Decoder
	var out Event
	err := d.Decode([]byte(got), &out)
	var de *DecodeError
	if !errors.As(err, &de) || de.Reason != ReasonMissingTs {
		t.Fatalf("Decode of record without ts_ms = %v, want %s", err, ReasonMissingTs)
	}
}

func TestDecodeInternsAndDoesNotAllocate(t *testing.T) {
	var d Decoder
	var ev Event
	raw := []byte(fullRecord)
	if err := d.Decode(raw, &ev); err != nil {
		t.Fatal(err)
	}
	first := ev.Instance
	allocs := testing.AllocsPerRun(100, func() {
		if err := d.Decode(raw, &ev); err != nil {
			t.Fatal(err)
		}
	})
	if allocs != 0 {
		t.Fatalf("Decode allocates %.1f times per record in steady state, want 0", allocs)
	}
	if ev.Instance != first || strings.Clone(ev.Instance) != "10.0.1.1:3306" {
		t.Fatalf("instance = %q", ev.Instance)
	}
}

func TestInternerBound(t *testing.T) {
	in := NewInterner(2)
	for _, s := range []string{"a", "b", "c", "a", "c"} {
		if got := in.Get([]byte(s)); got != s {
			t.Fatalf("Get(%q) = %q", s, got)
		}
	}
	if len(in.m) != 2 {
		t.Fatalf("interner holds %d strings, want the bound 2", len(in.m))
	}
}

func FuzzDecode(f *testing.F) {
	for _, s := range []string{
		fullRecord,
		`{"ts_ms":1,"instance":"i:1","sql":""}`,
		`{"ts_ms":1.0,"instance":"i:1","sql":"\ud800\u0000","latency_us":-0}`,
		"{\"ts_ms\":1,\"instance\":\"i\",\"sql\":\"\xff\x01\"}",
		`{"ts_ms":1e3,"instance":"i","sql":"a","err_code":2147483647}`,
		`{"ts_ms":-1}`, `[]`, `{`, `nan`, ``,
		`{"ts_ms":1,"instance":"i","sql":"a","src":"s","seq":9,"template_id":"00000000000000ff"}`,
		`{"ts_ms":1,"instance":"i","sql":"a","latency_us":9,"count":1,"latency_max_us":9,"errors":1,"latency_sketch":"` +
			base64.StdEncoding.EncodeToString(partialSketch(9)) + `"}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, data []byte) {
		var d Decoder
		var ev Event
		err := d.Decode(data, &ev)
		if err != nil {
			var de *DecodeError
			if !errors.As(err, &de) || de.Reason == "" {
				t.Fatalf("Decode error %v is not a DecodeError with a reason", err)
			}
			return
		}
		if err := Check(&ev); err != nil {
			t.Fatalf("decoded event fails Check: %v", err)
		}
		ev.SQL, ev.LatencySketch, ev.Template = bytes.Clone(ev.SQL), bytes.Clone(ev.LatencySketch), bytes.Clone(ev.Template)
		raw := AppendJSON(nil, &ev)
		var again Event
		if err := d.Decode(raw, &again); err != nil {
			t.Fatalf("Decode(AppendJSON(ev)) = %v; json %q", err, raw)
		}
		if !eventsEqual(&again, &ev) {
			t.Fatalf("round trip\n got %+v\nwant %+v", again, ev)
		}
	})
}

func FuzzAppendJSON(f *testing.F) {
	f.Add(int64(1), "10.0.1.1:3306", "db", "u", []byte("SELECT 1"), int64(5), int64(0), int32(0))
	f.Add(int64(0), "\xff", "\"", "\\", []byte("\x00\xff\n"), int64(1<<62), int64(3), int32(1213))
	f.Fuzz(func(t *testing.T, ts int64, inst, db, user string, sql []byte, lat, rows int64, code int32) {
		ev := Event{TsMs: ts, Instance: inst, DB: db, User: user, SQL: sql, LatencyUs: lat, RowsSent: rows, ErrCode: code}
		if Check(&ev) != nil {
			return
		}
		var d Decoder
		var got Event
		raw := AppendJSON(nil, &ev)
		if err := d.Decode(raw, &got); err != nil {
			t.Fatalf("Decode(AppendJSON(%+v)) = %v; json %q", ev, err, raw)
		}
		if !eventsEqual(&got, &ev) {
			t.Fatalf("round trip\n got %+v\nwant %+v", got, ev)
		}
	})
}

// benchRecord is a ~400-byte record like the generator's output.
var benchRecord = []byte(`{"ts_ms":1704067261387,"instance":"10.0.1.3:3306","db":"orders_02","user":"app_rw",` +
	`"sql":"SELECT o.id, o.user_id, o.status, o.total_cents, o.created_at, i.sku, i.qty, i.price_cents ` +
	`FROM orders o JOIN order_items i ON i.order_id = o.id WHERE o.user_id = 48213377 AND o.status IN ` +
	`('paid', 'shipped') AND o.created_at >= '2024-01-01 00:00:00' ORDER BY o.created_at DESC LIMIT 20",` +
	`"latency_us":1873,"lock_us":112,"rows_sent":20,"rows_examined":188,"rows_affected":0,"err_code":0}`)

func BenchmarkDecode(b *testing.B) {
	var d Decoder
	var ev Event
	b.SetBytes(int64(len(benchRecord)))
	b.ReportAllocs()
	for b.Loop() {
		if err := d.Decode(benchRecord, &ev); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkAppendJSON(b *testing.B) {
	var d Decoder
	var ev Event
	if err := d.Decode(benchRecord, &ev); err != nil {
		b.Fatal(err)
	}
	buf := make([]byte, 0, 1024)
	b.SetBytes(int64(len(benchRecord)))
	b.ReportAllocs()
	for b.Loop() {
		buf = AppendJSON(buf[:0], &ev)
	}
}

// TestAppendJSONStringMatchesReference pins the 8-bytes-at-a-time scan to a
// byte-at-a-time reference.
func TestAppendJSONStringMatchesReference(t *testing.T) {
	ref := func(s []byte) string {
		var b strings.Builder
		b.WriteByte('"')
		for _, c := range s {
			switch {
			case c == '"' || c == '\\':
				b.WriteByte('\\')
				b.WriteByte(c)
			case c == '\n':
				b.WriteString(`\n`)
			case c == '\r':
				b.WriteString(`\r`)
			case c == '\t':
				b.WriteString(`\t`)
			case c < 0x20:
				b.WriteString(`\u00`)
				b.WriteByte(hexDigits[c>>4])
				b.WriteByte(hexDigits[c&15])
			default:
				b.WriteByte(c)
			}
		}
		b.WriteByte('"')
		return b.String()
	}
	r := rand.New(rand.NewPCG(1, 2))
	alphabet := []byte("ab \"\\\x00\x1f\x20\x21\x5b\x5c\x5d\x7f\x80\xff\n\t\r")
	for i := range 20000 {
		s := make([]byte, r.IntN(40))
		for j := range s {
			if r.IntN(4) == 0 {
				s[j] = alphabet[r.IntN(len(alphabet))]
			} else {
				s[j] = byte(r.IntN(256))
			}
		}
		if got, want := string(AppendJSONString(nil, s)), ref(s); got != want {
			t.Fatalf("case %d %q:\n got %s\nwant %s", i, s, got, want)
		}
		if got, want := string(AppendJSONString(nil, string(s))), ref(s); got != want {
			t.Fatalf("string case %d %q: got %s want %s", i, s, got, want)
		}
	}
}
