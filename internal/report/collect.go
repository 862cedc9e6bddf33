package report

import (
	"fmt"
	"math"

	"github.com/das-project/das/sinks"
)

// Collector applies the highest-version rule to minute rows read in any
// order, from any number of files or partitions, keeping only the rows a
// predicate accepts. Rows read twice (a file listed again during a
// compaction, a record before and after a topic's compaction) are harmless:
// a key keeps one row, its highest version.
//
// Strings are interned: a template's text and sample are stored once
// however many minute rows repeat them. A Collector is not safe for
// concurrent use.
type Collector struct {
	keep   func(*sinks.MinuteRow) bool
	rows   map[sinks.Key]sinks.MinuteRow
	intern map[string]string

	read       int64 // rows offered to Add
	readFirst  int64 // smallest minute offered, math.MaxInt64 when none
	readLast   int64 // largest minute offered, math.MinInt64 when none
	duplicates int64 // rows replaced by a higher version or equal to the kept one
}

// NewCollector returns a Collector that keeps the rows for which keep
// returns true (every row when keep is nil). keep may look only at the
// key fields of a row (instance, db, template_id, minute): it then never
// separates the versions of a key.
func NewCollector(keep func(*sinks.MinuteRow) bool) *Collector {
	return &Collector{
		keep:      keep,
		rows:      make(map[sinks.Key]sinks.MinuteRow),
		intern:    make(map[string]string),
		readFirst: math.MaxInt64,
		readLast:  math.MinInt64,
	}
}

// Add offers rows to the collector. It does not retain the slice; the
// strings of kept rows are copied into the collector's own table.
func (c *Collector) Add(rows []sinks.MinuteRow) {
	for i := range rows {
		r := &rows[i]
		c.read++
		c.readFirst = min(c.readFirst, r.Minute)
		c.readLast = max(c.readLast, r.Minute)
		if c.keep != nil && !c.keep(r) {
			continue
		}
		k := r.Key()
		if old, ok := c.rows[k]; ok {
			c.duplicates++
			if !r.Supersedes(&old) {
				continue
			}
		}
		row := *r
		row.Instance = c.str(row.Instance)
		row.DB = c.str(row.DB)
		row.TemplateID = c.str(row.TemplateID)
		row.Template = c.str(row.Template)
		row.SampleSQL = c.str(row.SampleSQL)
		c.rows[sinks.Key{Instance: row.Instance, DB: row.DB, TemplateID: row.TemplateID, Minute: row.Minute}] = row
	}
}

func (c *Collector) str(s string) string {
	if v, ok := c.intern[s]; ok {
		return v
	}
	s = string([]byte(s)) // detach from the caller's buffer
	c.intern[s] = s
	return s
}

// Rows returns the kept rows, one per key at its highest version, in no
// particular order. The slice is new; the collector may still be used.
func (c *Collector) Rows() []sinks.MinuteRow {
	out := make([]sinks.MinuteRow, 0, len(c.rows))
	for _, r := range c.rows {
		out = append(out, r)
	}
	return out
}

// ReadStats describes what a Collector was offered.
type ReadStats struct {
	// Rows is the number of rows offered, every version counted.
	Rows int64
	// Kept is the number of keys kept (rows the predicate accepted, one per
	// key).
	Kept int
	// Superseded counts offered rows that shared a key with another row
	// the predicate accepted: older versions and repeated copies.
	Superseded int64
	// First and Last are the smallest and largest minute offered, epoch
	// ms; both 0 when Rows is 0.
	First, Last int64
}

// Stats returns what the collector has been offered so far.
func (c *Collector) Stats() ReadStats {
	s := ReadStats{Rows: c.read, Kept: len(c.rows), Superseded: c.duplicates}
	if c.read > 0 {
		s.First, s.Last = c.readFirst, c.readLast
	}
	return s
}

// EmptyError returns the error to give when a Collector with o's Keep
// predicate kept no row although the input had some (st): it names the
// range and filters, and the minutes the input does cover.
func EmptyError(o Options, st ReadStats) error {
	lo, hi := o.bounds()
	what := fmt.Sprintf("the range %s..%s%s", boundText(lo), boundText(hi), filterText(o))
	if blo, bhi, ok := o.baselineBounds(); ok {
		what += fmt.Sprintf(" or the baseline %s..%s", boundText(blo), boundText(bhi))
	}
	return fmt.Errorf("%w in %s; the input's %d rows cover %s..%s", ErrNoRows, what, st.Rows, fmtTime(st.First), fmtTime(st.Last+sinks.MinuteMs))
}
