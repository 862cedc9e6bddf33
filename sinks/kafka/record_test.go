package kafka_test

import (
	"errors"
	"testing"

	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/kafka"
)

func TestKey(t *testing.T) {
	for _, tc := range []struct {
		row  sinks.MinuteRow
		want string
	}{
		{sinks.MinuteRow{Instance: "10.0.0.1:3306", DB: "shop", TemplateID: "00ff", Minute: 60000}, "10.0.0.1:3306|shop|00ff|60000"},
		{sinks.MinuteRow{Instance: "i", DB: "", TemplateID: "t", Minute: 0}, "i||t|0"},
		{sinks.MinuteRow{Instance: "i", DB: `a|b\c`, TemplateID: "t", Minute: -60000}, `i|a\|b\\c|t|-60000`},
		{sinks.MinuteRow{Instance: "|", DB: "|", TemplateID: `\`, Minute: 1}, `\||\||\\|1`},
	} {
		key := kafka.AppendKey(nil, &tc.row)
		if string(key) != tc.want {
			t.Errorf("AppendKey(%+v) = %q, want %q", tc.row.Key(), key, tc.want)
		}
		k, err := kafka.ParseKey(key)
		if err != nil || k != tc.row.Key() {
			t.Errorf("ParseKey(%q) = %+v, %v; want %+v", key, k, err, tc.row.Key())
		}
		r, err := kafka.DecodeRecord(key, kafka.AppendValue(nil, &tc.row))
		if err != nil || r != tc.row {
			t.Errorf("DecodeRecord round trip of %+v = %+v, %v", tc.row, r, err)
		}
	}
	for _, bad := range []string{"", "a|b|c", "a|b|c|", "a|b|c|x", "a|b|c|01", "a|b|c|1 ", `a|b|c\`, "a|b|c|+1", "a|b|c|99999999999999999999", `a\b|c|d|1`} {
		if k, err := kafka.ParseKey([]byte(bad)); !errors.Is(err, kafka.ErrBadRecord) {
			t.Errorf("ParseKey(%q) = %+v, %v; want ErrBadRecord", bad, k, err)
		}
	}
	row := sinks.MinuteRow{Instance: "i", TemplateID: "t", Minute: 60000, Version: 2}
	for _, tc := range []struct{ key, value string }{
		{"i||t|120000", string(kafka.AppendValue(nil, &row))}, // key of another minute
		{"i||t|60000", "{"},
		{"i||t|60000", `{"minute": "x"}`},
	} {
		if _, err := kafka.DecodeRecord([]byte(tc.key), []byte(tc.value)); !errors.Is(err, kafka.ErrBadRecord) {
			t.Errorf("DecodeRecord(%q, %q) = %v; want ErrBadRecord", tc.key, tc.value, err)
		}
	}
}

func FuzzParseKey(f *testing.F) {
	for _, s := range []string{"10.0.0.1:3306|shop|00ff|60000", `i|a\|b\\c|t|-60000`, "a|b|c", `\`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, key []byte) {
		k, err := kafka.ParseKey(key)
		if err != nil {
			if !errors.Is(err, kafka.ErrBadRecord) {
				t.Fatalf("error %v is not ErrBadRecord", err)
			}
			return
		}
		row := sinks.MinuteRow{Instance: k.Instance, DB: k.DB, TemplateID: k.TemplateID, Minute: k.Minute}
		if again := kafka.AppendKey(nil, &row); string(again) != string(key) {
			t.Fatalf("ParseKey(%q) = %+v, which formats as %q", key, k, again)
		}
	})
}

func FuzzDecodeRecord(f *testing.F) {
	row := sinks.MinuteRow{Instance: "10.0.0.1:3306", DB: "a|b", TemplateID: "00ff", Minute: 60000, Version: 3, Count: 7, SampleSQL: "SELECT ?"}
	f.Add(kafka.AppendKey(nil, &row), kafka.AppendValue(nil, &row))
	f.Add([]byte("i||t|0"), []byte(`{"instance":"i","template_id":"t"}`))
	f.Fuzz(func(t *testing.T, key, value []byte) {
		r, err := kafka.DecodeRecord(key, value)
		if err != nil {
			if !errors.Is(err, kafka.ErrBadRecord) {
				t.Fatalf("error %v is not ErrBadRecord", err)
			}
			return
		}
		if !r.ValidUTF8() {
			return // the sink never writes such a row; JSON would not round-trip it
		}
		again, err := kafka.DecodeRecord(kafka.AppendKey(nil, &r), kafka.AppendValue(nil, &r))
		if err != nil || again != r {
			t.Fatalf("re-encoding %+v gave %+v, %v", r, again, err)
		}
	})
}

// TestInvalidUTF8Row: the key of a repaired row matches its JSON value; the
// key of an unrepaired one does not (which is why Write repairs rows).
func TestInvalidUTF8Row(t *testing.T) {
	row := sinks.MinuteRow{Instance: "i", DB: "caf\xe9", TemplateID: "t", Minute: 0}
	fixed := row
	fixed.MakeValidUTF8()
	r, err := kafka.DecodeRecord(kafka.AppendKey(nil, &fixed), kafka.AppendValue(nil, &fixed))
	if err != nil || r.DB != "caf\uFFFD" {
		t.Fatalf("repaired row decodes as %+v, %v", r, err)
	}
	if _, err := kafka.DecodeRecord(kafka.AppendKey(nil, &row), kafka.AppendValue(nil, &row)); err == nil {
		t.Fatal("an unrepaired invalid UTF-8 row round-tripped; Write's repair would be unnecessary")
	}
}
