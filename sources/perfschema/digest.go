package perfschema

import (
	"bytes"

	"github.com/das-project/das/operators/fingerprint"
)

// OverflowTemplate is the template of the overflow row: statements the
// server counted but could not give a digest because the digest table was
// full (performance_schema_digests_size rows). It is a valid das template
// (a fixed point of the fingerprint), so it has a stable template id.
const OverflowTemplate = "performance_schema_digest_overflow"

// PreparedTemplate is the template of statements executed through the
// binary protocol (COM_STMT_EXECUTE: server-side prepared statements, which
// Go's database/sql uses for every query with arguments unless
// interpolateParams is set, and JDBC with useServerPrepStmts). MariaDB
// does not put them in the digest table; the source counts them from the
// statement/com/Execute row of events_statements_summary_global_by_event_name,
// for the whole server (Schema ""), so that they are not silently missing.
const PreparedTemplate = "performance_schema_prepared_executions"

// TemplateSource says what a MinuteDelta's template was computed from.
type TemplateSource uint8

const (
	// FromNone: the row's text could not be read (it vanished between the
	// snapshot and the text query); the template is empty.
	FromNone TemplateSource = iota
	// FromSample: QUERY_SAMPLE_TEXT (MySQL 8.0), a real statement; its
	// template is exactly what the slow log and capture sources give it.
	FromSample
	// FromDigest: DIGEST_TEXT, rewritten by digestSQL where the server's
	// normalisation can be undone; see docs/collection.md for where the
	// template still differs from the other sources'.
	FromDigest
	// FromOverflow: the overflow row; the template is OverflowTemplate.
	FromOverflow
	// FromPrepared: the prepared-execution counter (MariaDB); the template
	// is PreparedTemplate.
	FromPrepared
)

func (s TemplateSource) String() string {
	switch s {
	case FromSample:
		return "sample"
	case FromDigest:
		return "digest"
	case FromOverflow:
		return "overflow"
	case FromPrepared:
		return "prepared"
	}
	return "none"
}

// templateInfo is what a digest row's text gives, computed once per digest.
type templateInfo struct {
	id         fingerprint.ID
	template   string
	digestText string
	sample     string // redacted
	from       TemplateSource
}

// digestSQL appends to dst the DIGEST_TEXT text rewritten into the SQL that
// das's fingerprint would have seen, where the server's normalisation can be
// undone, so that the template id matches the other sources':
//
//   - the "/* , ... */" comment after a collapsed VALUES or IN row list is
//     dropped, and "IN ( (...) )" (a list of row tuples) becomes "IN (...)";
//   - "(_charset) ?" (a literal with a charset introducer) becomes "?", and
//     "(unknown)" (MariaDB's text for a hex or bit literal) becomes "?";
//   - "LIMIT ?, ..." becomes "LIMIT ?, ?";
//   - in an INSERT or REPLACE with a column list, "VALUES (...)" becomes a
//     row of one "?" per column: the server collapses a row made only of
//     literals, and das keeps one row of the statement's arity.
//
// Everything else is kept; the fingerprint lower-cases, drops backquotes and
// re-spaces. The input may be any bytes.
func digestSQL(dst, text []byte) []byte {
	toks := digestTokens(text)
	out := toks[:0:0]
	for i := 0; i < len(toks); i++ {
		t := toks[i]
		switch {
		case string(t) == "/*" && i+3 < len(toks) && string(toks[i+1]) == "," &&
			string(toks[i+2]) == "..." && string(toks[i+3]) == "*/":
			i += 3
		case string(t) == "(_charset)":
		case string(t) == "(unknown)":
			out = append(out, []byte("?"))
		case bytes.EqualFold(t, []byte("IN")) && i+3 < len(toks) && string(toks[i+1]) == "(" &&
			string(toks[i+2]) == "(...)" && string(toks[i+3]) == ")":
			out = append(out, t, []byte("(...)"))
			i += 3
		case bytes.EqualFold(t, []byte("IN")) && i+4 < len(toks) && string(toks[i+1]) == "(" &&
			string(toks[i+2]) == "(...)" && string(toks[i+3]) == "/*":
			// IN ( (...) /* , ... */ ): the comment is dropped on the next
			// turns, so look past it for the closing parenthesis.
			if j := i + 7; j < len(toks) && string(toks[i+4]) == "," && string(toks[i+5]) == "..." &&
				string(toks[i+6]) == "*/" && string(toks[j]) == ")" {
				out = append(out, t, []byte("(...)"))
				i = j
			} else {
				out = append(out, t)
			}
		case bytes.EqualFold(t, []byte("LIMIT")) && i+2 < len(toks) && string(toks[i+1]) == "?," &&
			string(toks[i+2]) == "...":
			out = append(out, t, []byte("?,"), []byte("?"))
			i += 2
		default:
			out = append(out, t)
		}
	}
	out = expandValues(out)
	for i, t := range out {
		if i > 0 {
			dst = append(dst, ' ')
		}
		dst = append(dst, t...)
	}
	return dst
}

// digestTokens splits a digest text on spaces, keeping a backquoted name
// (which may hold spaces, and doubled backquotes) in one token.
func digestTokens(text []byte) [][]byte {
	var toks [][]byte
	for i := 0; i < len(text); {
		if text[i] == ' ' {
			i++
			continue
		}
		j := i
		for j < len(text) && text[j] != ' ' {
			if text[j] == '`' {
				j++
				for j < len(text) {
					if text[j] == '`' {
						if j+1 < len(text) && text[j+1] == '`' {
							j += 2
							continue
						}
						break
					}
					j++
				}
			}
			if j < len(text) {
				j++
			}
		}
		toks = append(toks, text[i:j])
		i = j
	}
	return toks
}

// expandValues rewrites "INSERT|REPLACE … ( c1 , c2 ) VALUES (...)" into
// "… VALUES (?, ?)". Only the first VALUES of the statement is considered
// (a later one is the VALUES() function of ON DUPLICATE KEY UPDATE).
func expandValues(toks [][]byte) [][]byte {
	if len(toks) == 0 || !(bytes.EqualFold(toks[0], []byte("INSERT")) || bytes.EqualFold(toks[0], []byte("REPLACE"))) {
		return toks
	}
	for i, t := range toks {
		if !(bytes.EqualFold(t, []byte("VALUES")) || bytes.EqualFold(t, []byte("VALUE"))) {
			continue
		}
		if i+1 >= len(toks) || string(toks[i+1]) != "(...)" || i == 0 || string(toks[i-1]) != ")" {
			return toks
		}
		depth, cols := 0, 1
		j := i - 1
		for ; j >= 0; j-- {
			switch string(toks[j]) {
			case ")":
				depth++
			case "(":
				depth--
			case ",":
				if depth == 1 {
					cols++
				}
			}
			if depth == 0 {
				break
			}
		}
		if j < 0 || j == i-2 { // unbalanced, or "( )"
			return toks
		}
		row := make([]byte, 0, 2+3*cols)
		row = append(row, '(')
		for c := 0; c < cols; c++ {
			if c > 0 {
				row = append(row, ", "...)
			}
			row = append(row, '?')
		}
		row = append(row, ')')
		toks[i+1] = row
		return toks
	}
	return toks
}

// templateFor computes the template of a digest row from its texts. sample is
// QUERY_SAMPLE_TEXT (nil when the server has no such column or the row has no
// sample); maxSQLText is performance_schema_max_sql_text_length (0 unknown):
// a sample that long may have been cut, and a cut statement fingerprints
// differently, so the digest text is used instead.
func templateFor(fp *fingerprint.Fingerprinter, buf []byte, digestText, sample []byte, maxSQLText, sampleMax int) (templateInfo, []byte) {
	var ti templateInfo
	ti.digestText = string(digestText)
	var src []byte
	switch {
	case len(sample) > 0 && (maxSQLText <= 0 || len(sample)+3 < maxSQLText):
		ti.from = FromSample
		src = sample
		id, tmpl := fp.Fingerprint(sample)
		ti.id, ti.template = id, string(tmpl)
	case len(digestText) > 0:
		ti.from = FromDigest
		src = digestText
		buf = digestSQL(buf[:0], digestText)
		id, tmpl := fp.Fingerprint(buf)
		ti.id, ti.template = id, string(tmpl)
	default:
		ti.from = FromNone
		id, tmpl := fp.Fingerprint(nil)
		ti.id, ti.template = id, string(tmpl)
		return ti, buf
	}
	// MariaDB ends every digest text with a space.
	buf = fp.Redact(buf[:0], bytes.TrimSpace(src), sampleMax)
	ti.sample = string(buf)
	return ti, buf
}

// pseudoInfo is the templateInfo of the overflow row or the
// prepared-execution counter.
func pseudoInfo(fp *fingerprint.Fingerprinter, template string, from TemplateSource) templateInfo {
	id, tmpl := fp.Fingerprint([]byte(template))
	return templateInfo{id: id, template: string(tmpl), from: from}
}
