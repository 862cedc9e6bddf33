package perfschema

import (
	"bytes"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/das-project/das/operators/fingerprint"
)

// TestDigestSQL checks the rewrite of digest texts (as MariaDB 10.11 prints
// them) against the template das gives the original statement.
func TestDigestSQL(t *testing.T) {
	fp := fingerprint.New()
	for _, tc := range []struct {
		digest, raw string
	}{
		{"INSERT INTO `t` ( ID , `c` ) VALUES (...) ", "INSERT INTO t (id,c) VALUES (10,'x')"},
		{"REPLACE INTO `t` ( ID , `c` ) VALUES (...) /* , ... */ ", "replace into t(id,c) values (30,'r'),(31,'s')"},
		{"INSERT INTO `sbtest1` ( ID , `k` , `c` , `pad` ) VALUES (...) ", "INSERT INTO sbtest1 (id, k, c, pad) VALUES (0, 5012, '123-456', '789')"},
		{"SELECT `c` FROM `t` WHERE `t` . `id` > ? LIMIT ?, ... ", "select /* hi */ `c` from `t` where t.id > 0x1f limit 10, 20"},
		{"SELECT ? , TRUE , ? , (_charset) ? , (unknown) ", "select 'it''s', TRUE, 1.5e3, _utf8mb4'x', x'0a'"},
		{"SELECT * FROM `t` WHERE ( ID , `n` ) IN ( (...) /* , ... */ ) ", "select * from t where (id, n) in ((1,2),(3,4))"},
		{"SELECT * FROM `t` WHERE ( ID , `n` ) IN ( (...) ) ", "select * from t where (id, n) in ((1,2))"},
		{"SELECT `c` FROM `t` WHERE ID = - ? ", "SELECT c FROM t WHERE id = -5"},
		{"SELECT * FROM `t` WHERE ID IN (...) ", "select * from t where id in (1,2,3)"},
		{"SELECT COUNT ( * ) FROM `t` WHERE `c` LIKE ? ORDER BY ? ", "select count(*) from t where c like 'a%' order by 1"},
		{"INSERT INTO `t` ( `a` , `b` ) VALUES (...) ON DUPLICATE KEY UPDATE `b` = VALUES ( `b` ) + ? ", "insert into t (a, b) values (1, 2) on duplicate key update b = values(b) + 1"},
		{"SELECT `a b` , `x``y` FROM `t` ", "select `a b`, `x``y` from t"},
	} {
		wantID, want := fp.Fingerprint([]byte(tc.raw))
		want = bytes.Clone(want)
		sql := digestSQL(nil, []byte(tc.digest))
		gotID, got := fp.Fingerprint(sql)
		if gotID != wantID {
			t.Errorf("digest %q\n rewritten %q\n template  %q\n want      %q (of %q)", tc.digest, sql, got, want, tc.raw)
		}
	}
}

// TestDigestSQLKnownDifferences pins the digest texts whose template still
// differs from the statement's (docs/collection.md lists them): if one starts
// to match, the documentation must change.
func TestDigestSQLKnownDifferences(t *testing.T) {
	fp := fingerprint.New()
	for _, tc := range []struct {
		digest, raw, why string
	}{
		{"INSERT INTO `t` VALUES (...) /* , ... */ ", "insert into t values (1,'a',NULL),(2,'b',3)", "row arity unknown without a column list"},
		{"SELECT ?, ... ", "select 1, 2, 3", "a collapsed select list has no arity"},
		{"SET @? = ? ", "set @a = 1", "MariaDB replaces user variable names"},
		{"SELECT `t` . `c` FROM `t` WHERE `t` . `c` != ? ", "select t.c from t where t.c <> 'z'", "<> is printed as !="},
		{"SELECT CAST ( `n` AS CHARACTER ) FROM `t` ", "select cast(n as char) from t", "type names are canonicalised"},
	} {
		wantID, _ := fp.Fingerprint([]byte(tc.raw))
		gotID, _ := fp.Fingerprint(digestSQL(nil, []byte(tc.digest)))
		if gotID == wantID {
			t.Errorf("%q now matches %q (%s): update docs/collection.md and move it to TestDigestSQL", tc.digest, tc.raw, tc.why)
		}
	}
}

func TestExpandValuesLeavesOthers(t *testing.T) {
	for _, in := range []string{
		"INSERT INTO `t` ( ) VALUES (...) ",
		"INSERT INTO `t` ) VALUES (...) ",
		"INSERT INTO `t` SELECT * FROM `u` ",
		"SELECT * FROM ( VALUES (...) ) `x` ",
		"VALUES (...)",
		"",
	} {
		got := string(digestSQL(nil, []byte(in)))
		if got != strings.Join(strings.Fields(in), " ") {
			t.Errorf("digestSQL(%q) = %q, want it unchanged", in, got)
		}
	}
}

func TestTemplateFor(t *testing.T) {
	fp := fingerprint.New()
	sample := []byte("SELECT c FROM t WHERE id = 42 AND name = 'secret'")
	digest := []byte("SELECT `c` FROM `t` WHERE ID = ? AND `name` = ? ")
	ti, _ := templateFor(fp, nil, digest, sample, 1024, 1024)
	if ti.from != FromSample || strings.Contains(ti.sample, "secret") || strings.Contains(ti.sample, "42") {
		t.Errorf("from sample: %+v", ti)
	}
	wantID, _ := fp.Fingerprint(sample)
	if ti.id != wantID {
		t.Errorf("id %v, want the sample's %v", ti.id, wantID)
	}
	// A sample as long as max_sql_text_length may have been cut: the digest
	// text is used instead (and gives the same template here).
	ti2, _ := templateFor(fp, nil, digest, sample, len(sample), 1024)
	if ti2.from != FromDigest || ti2.id != wantID || ti2.sample != strings.TrimSpace(string(digest)) {
		t.Errorf("from digest: %+v", ti2)
	}
	ti3, _ := templateFor(fp, nil, nil, nil, 0, 1024)
	if ti3.from != FromNone || ti3.template != "" {
		t.Errorf("none: %+v", ti3)
	}
	// The sample bound.
	long := []byte("SELECT " + strings.Repeat("a, ", 1000) + "b FROM t")
	ti4, _ := templateFor(fp, nil, long, nil, 0, 64)
	if len(ti4.sample) > 64 || !strings.HasSuffix(ti4.sample, fingerprint.TruncMark) {
		t.Errorf("sample not bounded: %d bytes %q", len(ti4.sample), ti4.sample)
	}
	for _, pseudo := range []string{OverflowTemplate, PreparedTemplate} {
		ti := pseudoInfo(fp, pseudo, FromOverflow)
		if id, tmpl := fp.Fingerprint([]byte(ti.template)); id != ti.id || string(tmpl) != pseudo {
			t.Errorf("template %q is not a fixed point of the fingerprint (%q)", pseudo, tmpl)
		}
	}
}

// FuzzDigestSQL: any bytes are rewritten without a panic; the output is
// made of the input's tokens (never longer than a fixed expansion); and the
// template is valid UTF-8, whatever the input.
func FuzzDigestSQL(f *testing.F) {
	for _, s := range []string{
		"INSERT INTO `t` ( ID , `c` ) VALUES (...) /* , ... */ ",
		"SELECT * FROM `t` WHERE ( ID , `n` ) IN ( (...) /* , ... */ ) ",
		"SELECT ? , (_charset) ? , (unknown) LIMIT ?, ... ",
		"INSERT ( ( ) , , ) VALUES (...)",
		"IN ( (...) /* , ... */",
		"`unterminated",
		"REPLACE ( a ) VALUE (...) VALUES (...)",
		"\xff\x00 ` `` ",
	} {
		f.Add([]byte(s))
	}
	fp := fingerprint.New()
	f.Fuzz(func(t *testing.T, b []byte) {
		out := digestSQL(nil, b)
		if len(out) > 3*len(b)+8 {
			t.Fatalf("digestSQL(%q) grew to %d bytes", b, len(out))
		}
		if again := digestSQL(nil, b); !bytes.Equal(out, again) {
			t.Fatalf("not deterministic: %q vs %q", out, again)
		}
		_, tmpl := fp.Fingerprint(out)
		if !utf8.Valid(tmpl) {
			t.Fatalf("template of %q is not UTF-8", out)
		}
	})
}
