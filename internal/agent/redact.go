package agent

import (
	"bytes"
	"unicode/utf8"

	"github.com/das-project/das/operators/fingerprint"
)

// SampleMaxBytes bounds a redacted sample: the engine's sample_sql bound
// (jobs/sqlagg.SampleMaxBytes), so a sample never carries more than the
// engine keeps.
const SampleMaxBytes = 1024

// secretWords mark statements that may carry a credential or a key. Such a
// statement is always redacted, even with RawSQL: CREATE USER / ALTER USER /
// GRANT … IDENTIFIED BY, SET PASSWORD, CHANGE MASTER TO MASTER_PASSWORD=,
// START SLAVE … PASSWORD=, CREATE SERVER … OPTIONS (PASSWORD …), and the
// encryption functions whose second argument is a key. The match is
// case-insensitive anywhere in the text, comments included: a column named
// password_hash makes its statements redacted too, which costs nothing but
// the raw text of those statements.
var secretWords = [...]string{"identified", "password", "aes_encrypt", "aes_decrypt", "des_encrypt", "des_decrypt", "encode(", "decode(", "create user", "alter user"}

// redactor computes the template id of a statement and the text that leaves
// the host for it. Not safe for concurrent use.
type redactor struct {
	fp      *fingerprint.Fingerprinter
	raw     bool // ship SQL as is, except statements with secrets
	maxRaw  int  // raw SQL longer than this is cut (with fingerprint.TruncMark)
	buf     []byte
	lower   []byte
	secrets int64 // statements redacted although raw was asked for
	cut     int64 // raw statements cut to maxRaw
}

func newRedactor(raw bool, maxRaw int) *redactor {
	return &redactor{fp: fingerprint.New(), raw: raw, maxRaw: maxRaw}
}

// apply returns the template id of sql and the SQL to ship: the redacted
// sample (literals replaced by ?, comments dropped, at most SampleMaxBytes),
// or with raw the statement itself (cut to maxRaw bytes) unless it may
// carry a secret. The returned slice is valid until the next call.
func (r *redactor) apply(sql []byte) (uint64, []byte) {
	id, _ := r.fp.Fingerprint(sql)
	if r.raw && !r.hasSecret(sql) {
		if len(sql) <= r.maxRaw {
			return uint64(id), sql
		}
		r.cut++
		cut := r.maxRaw - len(fingerprint.TruncMark)
		for cut > 0 && !utf8.RuneStart(sql[cut]) {
			cut--
		}
		r.buf = append(append(r.buf[:0], sql[:cut]...), fingerprint.TruncMark...)
		return uint64(id), r.buf
	}
	if r.raw {
		r.secrets++
	}
	r.buf = r.fp.Redact(r.buf[:0], sql, SampleMaxBytes)
	return uint64(id), r.buf
}

// hasSecret reports whether sql contains one of secretWords, ignoring ASCII
// case.
func (r *redactor) hasSecret(sql []byte) bool {
	r.lower = r.lower[:0]
	for _, c := range sql {
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		r.lower = append(r.lower, c)
	}
	for _, w := range secretWords {
		if bytes.Contains(r.lower, []byte(w)) {
			return true
		}
	}
	return false
}

// sample returns the redacted sample of sql (for an edge partial
// aggregate, whose SQL is always a redacted sample).
func (r *redactor) sample(dst, sql []byte) []byte {
	return r.fp.Redact(dst, sql, SampleMaxBytes)
}
