package report

import (
	"encoding/json"
	"io"
)

// WriteJSON writes rep as one indented JSON document of schema Schema
// (docs/report.md lists every field). HTML characters in SQL are not
// escaped: the document is data, not markup.
func (rep *Report) WriteJSON(w io.Writer) error {
	enc := json.NewEncoder(w)
	enc.SetEscapeHTML(false)
	enc.SetIndent("", "  ")
	return enc.Encode(rep)
}
