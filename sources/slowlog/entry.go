package slowlog

import (
	"bytes"
	"math"
	"strconv"
	"time"

	"github.com/das-project/das/sources"
)

// Reject reasons specific to slow log entries; the others are the sources
// package's (sources.ReasonMissingTs, sources.ReasonMissingSQL, …).
const (
	// ReasonMissingLatency: the entry has no "# Query_time:" field.
	ReasonMissingLatency = "missing:latency_us"
)

var (
	pfxUse = []byte("use ")
	pfxSet = []byte("SET ")
)

// parser turns entries into events. It carries, across entries, the
// database of the last "use db;" line: MySQL writes that line only when the
// database differs from the one it last wrote to the log (whatever the
// connection), so an entry without one ran in the database named by the
// last one before it — or in none, which the log does not distinguish.
// A server header resets it: a reopened log starts with no database.
type parser struct {
	loc      *time.Location // for "# Time: 240102  3:04:05" lines
	instance string
	db       string // the last "use" line's database

	// names holds the user and schema strings handed out, so that the
	// few distinct names of a log are allocated once.
	names map[string]string
}

// maxNames bounds parser.names: a log with more distinct users and schemas
// starts the table over.
const maxNames = 4096

// intern returns b as a string, allocating it only the first time.
func (p *parser) intern(b []byte) string {
	if s, ok := p.names[string(b)]; ok {
		return s
	}
	if p.names == nil || len(p.names) >= maxNames {
		p.names = make(map[string]string)
	}
	s := string(b)
	p.names[s] = s
	return s
}

// entryError is why an entry could not become an event.
type entryError struct {
	reason string
	detail string
}

// fields are the header values of one entry, before checks.
type fields struct {
	timeLine     []byte // value of "# Time:", parsed only if needed
	user         []byte
	haveUser     bool
	queryTime    []byte
	lockTime     []byte
	rowsSent     []byte
	rowsExamined []byte
	rowsAffected []byte
	schema       []byte
	haveSchema   bool
	errno        []byte
	lastErrno    []byte
}

// cutLine returns the first line of b without its newline (and without a
// CR before it), and the rest of b after the newline.
func cutLine(b []byte) (line, rest []byte) {
	i := bytes.IndexByte(b, '\n')
	if i < 0 {
		line, rest = b, nil
	} else {
		line, rest = b[:i], b[i+1:]
	}
	if n := len(line); n > 0 && line[n-1] == '\r' {
		line = line[:n-1]
	}
	return line, rest
}

// parse fills ev from one entry. truncated says data is only the start of
// a longer entry (its statement is cut and keeps no trailing ";"). ev.SQL
// points into data.
func (p *parser) parse(data []byte, truncated bool, ev *sources.Event) *entryError {
	var f fields
	rest := data
	headerLines := 0
	for len(rest) > 0 && rest[0] == '#' && !bytes.HasPrefix(rest, pfxAdmin) {
		var line []byte
		line, rest = cutLine(rest)
		headerLines++
		switch {
		case bytes.HasPrefix(line, pfxTime):
			f.timeLine = line[len(pfxTime):] // parsed (and trimmed) only if needed
		case bytes.HasPrefix(line, pfxUserHost):
			f.user, f.haveUser = userOf(line[len(pfxUserHost):]), true
		default:
			f.queryTimeLine(line[1:])
		}
	}
	if headerLines == 0 {
		return &entryError{sources.ReasonMalformed, "text outside an entry: no # Time, # User@Host or # Query_time line before it"}
	}
	// Body: an optional "use db;", an optional "SET timestamp=…;", the
	// statement.
	body := rest
	var tsSet []byte
	line, next := cutLine(body)
	if db, ok := useLine(line); ok && len(next) > 0 {
		p.setDB(db)
		body = next
		line, next = cutLine(body)
	}
	if v, ok := setLine(line); ok && len(next) > 0 {
		tsSet = v
		body = next
	}
	if len(body) == 0 {
		return &entryError{sources.ReasonMissingSQL, "entry has no statement"}
	}
	sql := body
	if !truncated {
		sql = trimStatement(sql)
	}
	if bytes.HasPrefix(sql, pfxAdmin) {
		sql = sql[2:] // "administrator command: Quit", as pt-query-digest reports it
	}

	var err *entryError
	*ev = sources.Event{Instance: p.instance, SQL: sql}
	switch {
	case tsSet != nil:
		ev.TsMs, err = epochMs(tsSet)
	case f.timeLine != nil:
		ev.TsMs, err = p.timeMs(f.timeLine)
	default:
		return &entryError{sources.ReasonMissingTs, "entry has neither SET timestamp nor # Time"}
	}
	if err != nil {
		return err
	}
	if f.queryTime == nil {
		return &entryError{ReasonMissingLatency, "entry has no # Query_time"}
	}
	if ev.LatencyUs, err = micros(f.queryTime, "latency_us"); err != nil {
		return err
	}
	if f.lockTime != nil {
		if ev.LockUs, err = micros(f.lockTime, "lock_us"); err != nil {
			return err
		}
	}
	for _, c := range [...]struct {
		dst  *int64
		v    []byte
		name string
	}{
		{&ev.RowsSent, f.rowsSent, "rows_sent"},
		{&ev.RowsExamined, f.rowsExamined, "rows_examined"},
		{&ev.RowsAffected, f.rowsAffected, "rows_affected"},
	} {
		if c.v == nil {
			continue
		}
		if *c.dst, err = count(c.v, c.name, math.MaxInt64); err != nil {
			return err
		}
	}
	code := f.errno
	if code == nil {
		code = f.lastErrno
	}
	if code != nil {
		n, err := count(code, "err_code", math.MaxInt32)
		if err != nil {
			return err
		}
		ev.ErrCode = int32(n)
	}
	if f.haveUser {
		ev.User = p.intern(f.user)
	}
	db := p.db
	if f.haveSchema {
		db = p.intern(f.schema)
	}
	ev.DB = db
	return nil
}

// hasStatement reports whether an entry (as parse reads it) has a line of
// statement after its header and its "use" and "SET timestamp" lines.
func hasStatement(data []byte) bool {
	rest := data
	for len(rest) > 0 && rest[0] == '#' && !bytes.HasPrefix(rest, pfxAdmin) {
		_, rest = cutLine(rest)
	}
	line, next := cutLine(rest)
	if _, ok := useLine(line); ok {
		line, next = cutLine(next)
	}
	if _, ok := setLine(line); ok {
		return len(next) > 0
	}
	return len(rest) > 0
}

// queryTimeLine reads the line every flavour writes the same way,
// " Query_time: N  Lock_time: N Rows_sent: N  Rows_examined: N", without
// the generic search; the rest of it (MySQL 8's log_slow_extra fields) and
// any other line go to pairs.
func (f *fields) queryTimeLine(b []byte) {
	rest := b
	for _, k := range [...]struct {
		key string
		dst *[]byte
	}{{" Query_time: ", &f.queryTime}, {"Lock_time: ", &f.lockTime}, {"Rows_sent: ", &f.rowsSent}, {"Rows_examined: ", &f.rowsExamined}} {
		if len(rest) <= len(k.key) || string(rest[:len(k.key)]) != k.key {
			f.pairs(b)
			return
		}
		rest = rest[len(k.key):]
		e := 0
		for e < len(rest) && rest[e] != ' ' && rest[e] != '\t' {
			e++
		}
		*k.dst = rest[:e]
		for e < len(rest) && rest[e] == ' ' {
			e++
		}
		rest = rest[e:]
	}
	if len(rest) > 0 {
		f.pairs(rest)
	}
}

// pairs reads "Key: value" pairs from a header line: "Query_time: 0.1
// Lock_time: 0 Rows_sent: 1" (MySQL), "Thread_id: 3  Schema: db  QC_hit:
// No" (MariaDB, where an empty Schema is followed directly by the next key),
// MySQL 8's log_slow_extra fields (Errno, Killed, Bytes_received, …),
// Percona's. A key is a word that starts with a letter, follows a space and
// ends with ": " (so the colons inside "Start: 2024-01-02T03:04:05Z" are
// not keys). Unknown keys are ignored.
func (f *fields) pairs(b []byte) {
	for i := 0; i < len(b); {
		c := bytes.IndexByte(b[i:], ':')
		if c < 0 {
			return
		}
		c += i
		i = c + 1
		if i < len(b) && b[i] != ' ' && b[i] != '\t' {
			continue
		}
		k := c
		for k > 0 && isKeyByte(b[k-1]) {
			k--
		}
		if k == c || !isLetter(b[k]) || (k > 0 && b[k-1] != ' ' && b[k-1] != '\t') {
			continue
		}
		key := b[k:c]
		if key[0] == 'S' && string(key) == "Schema" {
			// "Schema: my db  QC_hit: No": a name may hold spaces; the
			// server puts two before the next key.
			f.schema, i = schemaValue(b, i)
			f.haveSchema = true
			continue
		}
		// The value is the next word, unless that is a key itself.
		v := i
		for v < len(b) && (b[v] == ' ' || b[v] == '\t') {
			v++
		}
		e := v
		for e < len(b) && b[e] != ' ' && b[e] != '\t' {
			e++
		}
		val := b[v:e]
		if len(val) > 0 && val[len(val)-1] == ':' && isKey(val[:len(val)-1]) {
			val = b[v:v]
		} else {
			i = e
		}
		switch key[0] {
		case 'Q':
			if string(key) == "Query_time" {
				f.queryTime = val
			}
		case 'L':
			switch string(key) {
			case "Lock_time":
				f.lockTime = val
			case "Last_errno":
				f.lastErrno = val
			}
		case 'R':
			switch string(key) {
			case "Rows_sent":
				f.rowsSent = val
			case "Rows_examined":
				f.rowsExamined = val
			case "Rows_affected":
				f.rowsAffected = val
			}
		case 'E':
			if string(key) == "Errno" {
				f.errno = val
			}
		}
	}
}

func isKeyByte(c byte) bool { return isLetter(c) || (c >= '0' && c <= '9') || c == '_' }

// schemaValue returns the value that starts after "Schema:" at b[i] (one
// space follows the colon) and runs to two spaces before a "Key:" or to the
// end of the line, and where scanning resumes.
func schemaValue(b []byte, i int) ([]byte, int) {
	if i < len(b) && b[i] == ' ' {
		i++
	}
	for j := i; j+1 < len(b); j++ {
		if b[j] != ' ' || b[j+1] != ' ' {
			continue
		}
		k := j
		for k < len(b) && b[k] == ' ' {
			k++
		}
		e := k
		for e < len(b) && b[e] != ' ' && b[e] != ':' {
			e++
		}
		if e < len(b) && b[e] == ':' && isKey(b[k:e]) {
			return b[i:j], k
		}
	}
	return bytes.TrimRight(b[i:], " \t"), len(b)
}

// isKey reports whether b looks like a field name: a letter, then letters,
// digits and underscores.
func isKey(b []byte) bool {
	if len(b) == 0 || !isLetter(b[0]) {
		return false
	}
	for _, c := range b[1:] {
		if !isLetter(c) && (c < '0' || c > '9') && c != '_' {
			return false
		}
	}
	return true
}

func isLetter(c byte) bool { return c|0x20 >= 'a' && c|0x20 <= 'z' }

// userOf returns the account of "priv_user[user] @ host [ip]  Id: N": the
// privilege user before '[', or the login user inside the brackets when the
// former is empty (an anonymous account).
func userOf(b []byte) []byte {
	i := bytes.IndexByte(b, '[')
	if i < 0 {
		if j := bytes.Index(b, []byte(" @ ")); j >= 0 {
			return bytes.TrimSpace(b[:j])
		}
		return bytes.TrimSpace(b)
	}
	if u := bytes.TrimSpace(b[:i]); len(u) > 0 {
		return u
	}
	if j := bytes.IndexByte(b[i:], ']'); j > 0 {
		return b[i+1 : i+j]
	}
	return nil
}

// useLine matches "use db;" (MySQL) and "use `db`;" (MariaDB) and returns
// the name, quoted or not.
func useLine(line []byte) ([]byte, bool) {
	if len(line) < len(pfxUse)+2 || string(line[:len(pfxUse)]) != "use " || line[len(line)-1] != ';' {
		return nil, false
	}
	name := line[len(pfxUse) : len(line)-1]
	if len(name) >= 2 && name[0] == '`' && name[len(name)-1] == '`' {
		return name, true
	}
	for _, c := range name {
		if c == ' ' || c == '\t' || c == ';' {
			return nil, false
		}
	}
	return name, true
}

// setDB makes a use line's name the carried database, allocating only
// when it changes.
func (p *parser) setDB(name []byte) {
	if len(name) >= 2 && name[0] == '`' && name[len(name)-1] == '`' {
		name = name[1 : len(name)-1]
		if bytes.Contains(name, []byte("``")) {
			name = bytes.ReplaceAll(name, []byte("``"), []byte("`"))
		}
	}
	if string(name) != p.db {
		p.db = string(name)
	}
}

// setLine matches the server's "SET timestamp=N;" and "SET
// last_insert_id=N,insert_id=N,timestamp=N;" and returns the timestamp.
func setLine(line []byte) ([]byte, bool) {
	if len(line) < len(pfxSet)+2 || string(line[:len(pfxSet)]) != "SET " || line[len(line)-1] != ';' {
		return nil, false
	}
	var ts []byte
	rest := line[len(pfxSet) : len(line)-1]
	for len(rest) > 0 {
		item := rest
		if i := bytes.IndexByte(rest, ','); i >= 0 {
			item, rest = rest[:i], rest[i+1:]
		} else {
			rest = nil
		}
		eq := bytes.IndexByte(item, '=')
		if eq < 0 || eq == len(item)-1 {
			return nil, false
		}
		switch string(item[:eq]) {
		case "timestamp":
			ts = item[eq+1:]
		case "insert_id", "last_insert_id":
		default:
			return nil, false
		}
	}
	return ts, ts != nil
}

// trimStatement removes the ";\n" the server appends to every statement
// it logs (and blank lines after it).
func trimStatement(b []byte) []byte {
	for n := len(b); n > 0 && (b[n-1] == '\n' || b[n-1] == '\r'); n = len(b) {
		b = b[:n-1]
	}
	if n := len(b); n > 0 && b[n-1] == ';' {
		b = b[:n-1]
	}
	return b
}

// decimal parses "123" or "123.456789" into whole units and micro-units
// (the fraction's first six digits; further digits are dropped).
func decimal(b []byte) (whole, micro int64, ok bool) {
	i := 0
	for ; i < len(b) && b[i] >= '0' && b[i] <= '9'; i++ {
		if whole > (math.MaxInt64-9)/10 {
			return 0, 0, false
		}
		whole = whole*10 + int64(b[i]-'0')
	}
	if i == 0 {
		return 0, 0, false
	}
	if i == len(b) {
		return whole, 0, true
	}
	if b[i] != '.' {
		return 0, 0, false
	}
	i++
	scale := int64(100000)
	for ; i < len(b); i++ {
		c := b[i]
		if c < '0' || c > '9' {
			return 0, 0, false
		}
		micro += int64(c-'0') * scale
		scale /= 10
	}
	return whole, micro, true
}

// micros parses seconds with up to six decimals ("0.000177") into µs.
func micros(b []byte, name string) (int64, *entryError) {
	s, us, ok := decimal(b)
	if !ok || s > math.MaxInt64/1_000_000-1 {
		return 0, &entryError{"invalid:" + name, "not a number of seconds: " + strconv.Quote(string(b))}
	}
	return s*1e6 + us, nil
}

// epochMs parses a SET timestamp value (epoch seconds, maybe with a
// fraction) into epoch milliseconds.
func epochMs(b []byte) (int64, *entryError) {
	s, us, ok := decimal(b)
	if !ok || s > math.MaxInt64/1000-1 {
		return 0, &entryError{"invalid:ts_ms", "SET timestamp is not epoch seconds: " + strconv.Quote(string(b))}
	}
	return s*1000 + us/1000, nil
}

// count parses a non-negative integer no larger than limit.
func count(b []byte, name string, limit int64) (int64, *entryError) {
	var n int64
	for _, c := range b {
		if c < '0' || c > '9' || n > (limit-int64(c-'0'))/10 {
			return 0, &entryError{"invalid:" + name, "not a count: " + strconv.Quote(string(b))}
		}
		n = n*10 + int64(c-'0')
	}
	if len(b) == 0 {
		return 0, &entryError{"invalid:" + name, "not a count: \"\""}
	}
	return n, nil
}

// timeMs parses the value of a "# Time:" line: MySQL 5.7+'s
// "2024-01-02T03:04:05.123456Z" (or with a "+08:00" offset under
// log_timestamps=SYSTEM) and MariaDB's / MySQL 5.6's "240102  3:04:05"
// (local server time without a zone, read in p.loc).
func (p *parser) timeMs(b []byte) (int64, *entryError) {
	s := string(bytes.TrimSpace(b))
	if len(s) >= 10 && s[4] == '-' {
		for _, layout := range []string{time.RFC3339Nano, "2006-01-02T15:04:05.999999999"} {
			loc := p.loc
			if layout == time.RFC3339Nano {
				loc = time.UTC
			}
			if t, err := time.ParseInLocation(layout, s, loc); err == nil {
				return t.UnixMilli(), nil
			}
		}
	} else if len(s) >= 13 && s[6] == ' ' {
		date, clock := s[:6], bytes.TrimLeft([]byte(s[6:]), " ")
		if len(clock) == 7 || (len(clock) > 8 && clock[7] == '.') {
			clock = append([]byte("0"), clock...)
		}
		if t, err := time.ParseInLocation("060102 15:04:05.999999999", date+" "+string(clock), p.loc); err == nil {
			return t.UnixMilli(), nil
		}
	}
	return 0, &entryError{"invalid:ts_ms", "cannot read # Time: " + strconv.Quote(s)}
}
