// Package fingerprint turns SQL text into a template: the statement with its
// literal values removed, so that every execution of the same query shape is
// counted under one template and one template id.
//
// The fingerprinter is a single-pass lexer, not a parser. It accepts any bytes
// (invalid SQL, comment-only text, non-UTF-8, truncated statements, megabyte
// statements) and always produces a template; it never fails and never panics.
// It works in the spirit of pt-query-digest's fingerprint and TiDB's
// parser.Normalize, with these rules (docs/fingerprint.md has examples and the
// deliberate differences):
//
//   - String, numeric, hex and bit literals, prepared-statement placeholders,
//     and NULL/TRUE/FALSE where they stand as values become "?". A unary sign
//     before a literal and a charset introducer (_utf8mb4'x') go with it.
//     Digits inside identifiers (t1, col_2, 2fa) are not literals.
//   - A list of values after IN becomes "in (...)", whatever its length.
//     Repeated identical VALUES tuples collapse into the first one.
//   - Comments and optimizer hints are removed; the body of a MySQL
//     executable comment (/*!40101 ... */) is treated as SQL.
//   - Keywords and identifiers are lower-cased (ASCII only). Backquotes are
//     dropped around plain identifiers.
//   - Tokens are re-spaced canonically: whitespace, comments and keyword case
//     never split a template.
//
// The template id is the xxhash64 of the whole normalized text; it depends on
// nothing but the SQL bytes and Version.
package fingerprint
