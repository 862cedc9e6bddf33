package agent

import (
	"bytes"
	"path/filepath"
	"strings"
	"testing"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/sources"
)

// Statements carrying a password, and literals with personal data.
var sensitive = []struct {
	sql     string
	secrets []string // must never reach Kafka
	literal string   // reaches Kafka only with RawSQL
}{
	{sql: "CREATE USER 'bob'@'%' IDENTIFIED BY 'Hunter2-pw!'", secrets: []string{"Hunter2-pw!"}},
	{sql: "create user if not exists carol@localhost identified by \"Sw0rdfish#9\"", secrets: []string{"Sw0rdfish#9"}},
	{sql: "ALTER USER 'bob'@'%' IDENTIFIED WITH mysql_native_password BY 'N3wPass*word'", secrets: []string{"N3wPass*word"}},
	{sql: "SET PASSWORD FOR 'bob'@'%' = PASSWORD('Pa55-phrase')", secrets: []string{"Pa55-phrase"}},
	{sql: "SET PASSWORD = 'plain-old-pw'", secrets: []string{"plain-old-pw"}},
	{sql: "GRANT ALL PRIVILEGES ON shop.* TO 'app'@'10.%' IDENTIFIED BY 'gr4nt-secret'", secrets: []string{"gr4nt-secret"}},
	{sql: "CREATE USER dave@'%' IDENTIFIED VIA ed25519 USING PASSWORD('ed-secret-1')", secrets: []string{"ed-secret-1"}},
	{sql: "CHANGE MASTER TO MASTER_HOST='10.0.0.9', MASTER_USER='repl', MASTER_PASSWORD='r3pl-secret'", secrets: []string{"r3pl-secret"}},
	{sql: "SELECT AES_ENCRYPT(card, 'k3y-material') FROM cards", secrets: []string{"k3y-material"}},
	{sql: "/* login for alice */ SELECT * FROM users WHERE email = 'alice@example.com' AND ssn = '078-05-1120'", literal: "alice@example.com"},
	{sql: "INSERT INTO customers (name, phone) VALUES ('Zoë Ünal', '+49 30 1234567')", literal: "+49 30 1234567"},
	{sql: "UPDATE accounts SET balance = 1234567.89 WHERE iban = 'DE89370400440532013000'", literal: "DE89370400440532013000"},
}

func writeSensitive(t *testing.T, path string) int64 {
	t.Helper()
	var buf []byte
	for i, s := range sensitive {
		for rep := range 3 {
			ev := sources.Event{TsMs: 1700000000000 + int64(i*1000+rep), Instance: "10.0.0.1:3306", DB: "shop", User: "app",
				SQL: []byte(s.sql), LatencyUs: int64(100 + i)}
			buf = sources.AppendJSON(buf, &ev)
			buf = append(buf, '\n')
		}
	}
	appendFile(t, path, buf)
	return int64(3 * len(sensitive))
}

// Passwords never reach Kafka, in any mode; literals only with RawSQL.
// The check is on the record bytes as the consumer sees them.
func TestRedaction(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sensitive.jsonl")
	n := writeSensitive(t, path)
	for _, tc := range []struct {
		name   string
		raw    bool
		edge   bool
		format Format
	}{
		{"default", false, false, FormatJSON},
		{"default-arrow", false, false, FormatArrow},
		{"edge", false, true, FormatJSON},
		{"raw-sql", true, false, FormatJSON},
		{"raw-sql-arrow", true, false, FormatArrow},
		{"raw-sql-edge", true, true, FormatJSON},
	} {
		t.Run(tc.name, func(t *testing.T) {
			topic := "das.sql-events"
			c := newCluster(t, topic, 1)
			o := testOptions(t, c.Addrs(), topic)
			o.RawSQL, o.EdgeAggregate, o.Format = tc.raw, tc.edge, tc.format
			sum := runAgent(t, path, o)
			if sum.AckedStatements != n {
				t.Fatalf("%s", describe(sum))
			}
			recs := kafkatest.ReadAll(t, c.Addrs(), topic)
			var all []byte
			for _, r := range recs {
				all = append(all, r.Key...)
				all = append(all, r.Value...)
			}
			for _, s := range sensitive {
				for _, sec := range s.secrets {
					if bytes.Contains(all, []byte(sec)) {
						t.Errorf("secret %q of %q reached Kafka", sec, s.sql)
					}
				}
				if s.literal != "" {
					if got := bytes.Contains(all, []byte(s.literal)); got != (tc.raw && !tc.edge) {
						t.Errorf("literal %q in Kafka: %v, want %v", s.literal, got, tc.raw && !tc.edge)
					}
				}
			}
			if bytes.Contains(all, []byte("login for alice")) != (tc.raw && !tc.edge) {
				t.Errorf("comment text in Kafka: %v, want %v", !(tc.raw && !tc.edge), tc.raw && !tc.edge)
			}
			evs := decodeRecords(t, recs, tc.format)
			counted, _ := effective(t, evs)
			var stmts int64
			for _, ev := range counted {
				stmts += ev.Statements()
				if !tc.raw || tc.edge {
					if strings.Contains(string(ev.SQL), "'") {
						t.Errorf("sample still has a quoted literal: %s", ev.SQL)
					}
				}
			}
			if stmts != n {
				t.Fatalf("%d statements, want %d", stmts, n)
			}
		})
	}
}

func TestRedactorRawCut(t *testing.T) {
	r := newRedactor(true, 64*1024)
	long := "SELECT '" + strings.Repeat("é", 70000) + "'"
	id, out := r.apply([]byte(long))
	if id == 0 || len(out) > 64*1024 || !bytes.HasSuffix(out, []byte("…")) {
		t.Fatalf("id %x, %d bytes, suffix %q", id, len(out), out[max(0, len(out)-8):])
	}
	if r.cut != 1 {
		t.Fatalf("cut %d", r.cut)
	}
	r2 := newRedactor(false, 0)
	_, s := r2.apply([]byte(long))
	if len(s) > SampleMaxBytes {
		t.Fatalf("sample of %d bytes", len(s))
	}
}
