package slowlog

import (
	"bytes"
	"errors"
	"fmt"
	"io"
)

// headMax is how many leading bytes of a line are enough to classify it. A
// line longer than this is never a server header line.
const headMax = 1024

// lineKind is what a line of a slow log is, judged by its first bytes.
type lineKind uint8

const (
	lkOther    lineKind = iota // statement text (or anything unrecognised)
	lkBlank                    // only spaces, tabs and CR
	lkTime                     // "# Time: …"
	lkUserHost                 // "# User@Host: …"
	lkAdmin                    // "# administrator command: …"
	lkComment                  // any other "#" line: "# Query_time: …", "# Thread_id: …"
	lkVersion                  // "…, Version: … started with:" — a server (re)opened the log
	lkTCPPort                  // "Tcp port: 3306  Unix socket: …" (after lkVersion)
	lkColumns                  // "Time  Id Command  Argument" (after lkVersion)
)

var (
	pfxTime     = []byte("# Time: ")
	pfxUserHost = []byte("# User@Host: ")
	pfxAdmin    = []byte("# administrator command: ")
	pfxTCPPort  = []byte("Tcp port: ")
	sepVersion  = []byte(", Version: ")
	sfxStarted  = []byte("started with:")
	sfxEmbedded = []byte("embedded library")
)

// classify judges a line from its first bytes (head, at most headMax of
// them), its full length n (without the newline) and whether it is blank.
// It looks at nothing else, so a line seen whole and the same line seen in
// pieces (while an oversize entry is skipped) get the same kind.
func classify(head []byte, n int64, blank bool) lineKind {
	if blank {
		return lkBlank
	}
	if head[0] == '#' {
		if len(head) > 2 {
			switch head[2] {
			case 'T':
				if bytes.HasPrefix(head, pfxTime) {
					return lkTime
				}
			case 'U':
				if bytes.HasPrefix(head, pfxUserHost) {
					return lkUserHost
				}
			case 'a':
				if bytes.HasPrefix(head, pfxAdmin) {
					return lkAdmin
				}
			}
		}
		return lkComment
	}
	if n > headMax {
		return lkOther
	}
	line := head
	if line[len(line)-1] == '\r' {
		line = line[:len(line)-1]
		if len(line) == 0 {
			return lkOther
		}
	}
	if line[0]|0x20 == 't' {
		switch {
		case len(line) >= len(pfxTCPPort) && bytes.EqualFold(line[:len(pfxTCPPort)], pfxTCPPort):
			return lkTCPPort // "Tcp port: 3306  Unix socket: …", Windows: "TCP Port: 3306, Named Pipe: …"
		case len(line) > 4 && string(line[:4]) == "Time" && isColumnsLine(line):
			return lkColumns
		}
	}
	switch line[len(line)-1] {
	case ':':
		if bytes.HasSuffix(line, sfxStarted) && bytes.Contains(line, sepVersion) {
			return lkVersion
		}
	case 'y':
		if bytes.HasSuffix(line, sfxEmbedded) && bytes.Contains(line, sepVersion) {
			return lkVersion
		}
	}
	return lkOther
}

// isColumnsLine matches "Time  Id Command  Argument" with any spacing, the
// last line of the header a server writes when it opens the log.
func isColumnsLine(line []byte) bool {
	f := bytes.Fields(line)
	return len(f) == 4 && string(f[0]) == "Time" && string(f[1]) == "Id" && string(f[2]) == "Command" && string(f[3]) == "Argument"
}

func isBlank(b []byte) bool {
	for _, c := range b {
		if c != ' ' && c != '\t' && c != '\r' {
			return false
		}
	}
	return true
}

// endsSemi reports whether a line (without its newline) ends with ';',
// ignoring a trailing CR.
func endsSemi(last, prev byte, n int64) bool {
	if n > 0 && last == '\r' {
		return n > 1 && prev == ';'
	}
	return n > 0 && last == ';'
}

// action is what a line does to the entry being assembled.
type action uint8

const (
	actContinue action = iota // the line belongs to the open entry
	actSkip                   // a blank line between entries: no record
	actStart                  // the line starts a new entry (ending the open one)
	actHeader                 // a server header line: ends the open entry, belongs to none
)

// splitState is the state machine that finds entry boundaries. An entry is
// a header of "#" lines followed by a body (use, SET timestamp, the
// statement). A new entry starts at "# Time:" or "# User@Host:" when the
// open entry's body has ended with ";" (the server ends every statement
// with ";\n"), or when the open entry's header already had that line. A
// server header ("…, Version: … started with:" and the two lines after it)
// ends any entry. Text before the first header line of an entry (garbage,
// a log cut in the middle of an entry) ends at the next "# Time:" or
// "# User@Host:" line whatever it ends with.
type splitState struct {
	inEntry  bool
	inBody   bool
	seenTime bool
	seenUH   bool
	seenKV   bool // a "#" line other than Time and User@Host
	headless bool // the entry began with a body line: text outside any entry
	lastSemi bool // the last non-blank body line ended with ';'
	afterVer int  // header lines still expected after a Version line
}

func (s *splitState) begin(k lineKind, semi bool) {
	*s = splitState{inEntry: true}
	switch k {
	case lkTime:
		s.seenTime = true
	case lkUserHost:
		s.seenUH = true
	case lkComment:
		s.seenKV = true
	default:
		s.inBody, s.lastSemi, s.headless = true, semi, true
	}
}

func (s *splitState) step(k lineKind, semi bool) action {
	if k == lkVersion {
		*s = splitState{afterVer: 2}
		return actHeader
	}
	if s.afterVer > 0 && (k == lkTCPPort || k == lkColumns) {
		s.afterVer--
		return actHeader
	}
	s.afterVer = 0
	if !s.inEntry {
		if k == lkBlank {
			return actSkip
		}
		s.begin(k, semi)
		return actStart
	}
	if s.inBody {
		if (s.lastSemi || s.headless) && (k == lkTime || k == lkUserHost) {
			s.begin(k, semi)
			return actStart
		}
		if k != lkBlank {
			s.lastSemi = semi
		}
		return actContinue
	}
	switch k {
	case lkTime:
		if s.seenTime || s.seenUH || s.seenKV {
			s.begin(k, semi)
			return actStart
		}
		s.seenTime = true
	case lkUserHost:
		if s.seenUH || s.seenKV {
			s.begin(k, semi)
			return actStart
		}
		s.seenUH = true
	case lkComment:
		s.seenKV = true
	default:
		s.inBody, s.lastSemi = true, semi
	}
	return actContinue
}

// itemKind is what the splitter hands out.
type itemKind uint8

const (
	itemEntry  itemKind = iota // one log entry
	itemHeader                 // a server header (the log was reopened)
)

// item is an entry or a header line. data is valid until the next call to
// next.
type item struct {
	kind      itemKind
	off       int64  // byte offset of the entry or header line
	data      []byte // the entry's bytes (at most maxEntry of them); the header line
	size      int64  // the entry's full length in the file
	truncated bool   // data is the first maxEntry bytes of a longer entry
}

// errMore says the input ended (for now) before the open entry did.
var errMore = errors.New("slowlog: more input needed")

// classifyLine classifies a whole line (without its newline). A line longer
// than headMax is judged by its first headMax bytes only, exactly as when it
// is seen in pieces.
func classifyLine(line []byte) lineKind {
	if len(line) == 0 {
		return lkBlank
	}
	head := line[:min(len(line), headMax)]
	return classify(head, int64(len(line)), isBlank(head))
}

// tail remembers the last two bytes and the length of a line folded away
// in pieces, which is all that is needed to know whether it ends with ';'.
type tail struct {
	n          int64
	last, prev byte
}

func (t *tail) add(b []byte) {
	switch len(b) {
	case 0:
		return
	case 1:
		t.prev, t.last = t.last, b[0]
	default:
		t.prev, t.last = b[len(b)-2], b[len(b)-1]
	}
	t.n += int64(len(b))
}

// splitter cuts a slow log into entries and server headers. It reads r in
// chunks into a window; entries are handed out as slices of the window.
// An entry longer than maxEntry keeps its first maxEntry bytes (copied
// aside) and the rest is read and dropped while the state machine still
// sees every line, so memory stays bounded by maxEntry plus a read or two
// whatever the input.
//
// A line longer than headMax is classified (and stepped through the state
// machine) as soon as its first headMax bytes are in, so that a huge line
// never has to be held whole; whether it ends with ';' is patched in when
// its end arrives.
type splitter struct {
	r        io.Reader
	readSize int
	maxEntry int

	// buf[lo:hi] is unconsumed input, buf[0] is at byte offset base.
	// Lines before scan have been classified; the open entry, if any,
	// starts at lo (unless skipping).
	buf      []byte
	lo, scan int
	hi       int
	nl       int // buf[scan:nl] holds no '\n' (so a long line is searched once)
	base     int64
	open     bool
	st       splitState
	readErr  error
	atEOF    bool // the last read hit the end of the input (for now)
	pendHdr  bool // a header line ended the entry just returned: hand it out next
	hdr      item
	hdrStart int64 // offset of the last Version line
	out      item  // the item lines, act and finish made ready

	stepped  bool     // the partial line at scan has been stepped already
	stepKind lineKind // … as this kind
	partSkip bool     // … and it is a blank line between entries
	inPart   bool     // … and its first bytes have been folded into part
	part     tail

	skipping bool // the open entry is longer than maxEntry
	big      []byte
	bigOff   int64
}

func newSplitter(r io.Reader, base int64, readSize, maxEntry int) *splitter {
	return &splitter{r: r, base: base, readSize: readSize, maxEntry: maxEntry}
}

// reset repositions the splitter at byte offset base of reader r, between
// entries. The buffers are kept.
func (s *splitter) reset(r io.Reader, base int64) {
	*s = splitter{r: r, base: base, readSize: s.readSize, maxEntry: s.maxEntry, buf: s.buf[:0], big: s.big[:0]}
}

// offset returns the byte offset of the first input byte that belongs to
// no item handed out yet: where to resume.
func (s *splitter) offset() int64 {
	if s.skipping {
		return s.bigOff
	}
	if s.pendHdr || s.st.afterVer > 0 {
		// Inside a server header block: resuming must start at its
		// Version line, or the lines after it would not be known as header.
		return s.hdrStart
	}
	return s.base + int64(s.lo)
}

// readOffset returns the offset just after the last byte read.
func (s *splitter) readOffset() int64 { return s.base + int64(s.hi) }

// flushable reports whether the open entry looks complete: it has a
// statement (not only "use" and "SET timestamp" lines, which a server
// writing a long entry in pieces may have flushed first), that ended with
// ";", and no partial line follows. A follower hands such an
// entry out once the writer has gone quiet.
func (s *splitter) flushable() bool {
	return s.open && !s.skipping && s.st.inBody && s.st.lastSemi && s.scan == s.hi && !s.inPart && !s.pendHdr &&
		hasStatement(s.buf[s.lo:s.hi])
}

// next returns the next entry or header. When the input ends, final says
// whether the open entry (and a last line without a newline) is complete
// — a file read to its end — or may still grow, in which case next returns
// errMore; calling next again reads on. At the end of a final input it
// returns io.EOF.
func (s *splitter) next(final bool) (item, error) {
	if s.pendHdr {
		s.pendHdr = false
		return s.hdr, nil
	}
	for {
		if s.lines() {
			return s.out, nil
		}
		if s.atEOF {
			s.atEOF = false
			if !final {
				return item{}, errMore
			}
			if s.finish() {
				return s.out, nil
			}
			return item{}, io.EOF
		}
		if s.readErr != nil {
			err := s.readErr
			s.readErr = nil
			return item{}, err
		}
		s.fill()
	}
}

// lines handles the complete lines after scan until an item is ready in
// s.out.
func (s *splitter) lines() bool {
	for {
		from := max(s.scan, s.nl)
		i := bytes.IndexByte(s.buf[from:s.hi], '\n')
		if i < 0 {
			s.nl = s.hi
			return s.partial()
		}
		end := from + i
		if s.line(end, end+1) {
			return true
		}
	}
}

// line handles the line from scan (after what was folded into part) to
// end; the next line starts at next. It reports whether s.out is ready.
func (s *splitter) line(end, next int) bool {
	start := s.scan
	seg := s.buf[start:end]
	var semi bool
	if s.inPart {
		s.part.add(seg)
		semi = endsSemi(s.part.last, s.part.prev, s.part.n)
	} else {
		semi = len(seg) > 0 && endsSemi(seg[len(seg)-1], byteAt(seg, len(seg)-2), int64(len(seg)))
	}
	s.scan = next
	if s.stepped {
		if s.st.inBody && s.stepKind != lkBlank {
			s.st.lastSemi = semi
		}
		skip := s.partSkip
		s.stepped, s.partSkip, s.inPart, s.part = false, false, false, tail{}
		switch {
		case skip || s.skipping:
			s.lo = s.scan
		case s.open && s.scan-s.lo > s.maxEntry:
			s.startSkip()
		}
		return false
	}
	return s.act(s.st.step(classifyLine(seg), semi), start, end)
}

// partial handles an incomplete line at scan: once it is longer than
// headMax it is stepped, and while an oversize entry is skipped it is
// folded away piece by piece.
func (s *splitter) partial() bool {
	if !s.stepped {
		if s.hi-s.scan <= headMax {
			return false
		}
		head := s.buf[s.scan : s.scan+headMax]
		s.stepped = true
		s.stepKind = classify(head, int64(s.hi-s.scan), isBlank(head))
		a := s.st.step(s.stepKind, false)
		s.partSkip = a == actSkip
		if a != actSkip && s.act(a, s.scan, s.scan) {
			return true
		}
	}
	if s.open && !s.skipping && s.hi-s.lo > s.maxEntry {
		s.startSkip()
	}
	if (s.skipping || s.partSkip) && s.hi-s.scan >= s.readSize {
		s.part.add(s.buf[s.scan:s.hi])
		s.inPart = true
		s.scan, s.lo = s.hi, s.hi
	}
	return false
}

// act applies a line's action; the line spans buf[start:end] and scan is
// already past it (or at start for a partial line). It reports whether an
// item is ready in s.out.
func (s *splitter) act(a action, start, end int) bool {
	switch a {
	case actContinue:
		if s.skipping {
			s.lo = max(s.scan, start)
		} else if s.open && s.scan-s.lo > s.maxEntry {
			s.startSkip()
		}
		return false
	case actSkip:
		s.lo = s.scan
		return false
	}
	ok := false
	if s.open {
		s.entry(start)
		ok = true
	}
	s.lo = start
	if a == actStart {
		s.open = true
		if s.scan-s.lo > s.maxEntry {
			s.startSkip()
		}
		return ok
	}
	s.open = false
	hdr := item{kind: itemHeader, off: s.base + int64(start), data: s.buf[start:end], size: int64(end - start)}
	if s.st.afterVer == 2 {
		s.hdrStart = hdr.off // a Version line: the header block starts here
	}
	s.lo = s.scan
	if ok {
		s.pendHdr, s.hdr = true, hdr
		return true
	}
	s.out = hdr
	return true
}

func byteAt(b []byte, i int) byte {
	if i < 0 {
		return 0
	}
	return b[i]
}

// entry puts the open entry, which ends at buffer index end, in s.out.
func (s *splitter) entry(end int) {
	if s.skipping {
		s.skipping = false
		s.out = item{kind: itemEntry, off: s.bigOff, data: s.big, size: s.base + int64(end) - s.bigOff, truncated: true}
		return
	}
	s.out = item{kind: itemEntry, off: s.base + int64(s.lo), data: s.buf[s.lo:end], size: int64(end - s.lo)}
}

// startSkip keeps the first maxEntry bytes of the open entry aside and
// drops what has been classified after them.
func (s *splitter) startSkip() {
	s.skipping = true
	s.bigOff = s.base + int64(s.lo)
	s.big = append(s.big[:0], s.buf[s.lo:s.lo+s.maxEntry]...)
	s.lo = s.scan
}

// finish ends a final input: a last line without a newline is handled,
// and the open entry is put in s.out.
func (s *splitter) finish() bool {
	if s.scan < s.hi || s.inPart || s.stepped {
		if s.line(s.hi, s.hi) {
			return true
		}
	}
	s.st = splitState{}
	if !s.open {
		s.lo = s.hi
		return false
	}
	s.entry(s.hi)
	s.open = false
	s.lo = s.hi
	return true
}

// fill reads more input into the window, compacting it first.
func (s *splitter) fill() {
	if s.lo > 0 && (s.lo == s.hi || cap(s.buf)-s.hi < s.readSize) {
		n := copy(s.buf[:cap(s.buf)], s.buf[s.lo:s.hi])
		s.base += int64(s.lo)
		s.scan -= s.lo
		s.nl = max(s.nl-s.lo, 0)
		s.hi = n
		s.lo = 0
		s.buf = s.buf[:n]
	}
	if cap(s.buf)-s.hi < s.readSize {
		nb := make([]byte, s.hi, max(2*cap(s.buf), s.hi+s.readSize))
		copy(nb, s.buf[:s.hi])
		s.buf = nb
	}
	for range 100 {
		n, err := s.r.Read(s.buf[s.hi:cap(s.buf)])
		s.hi += n
		s.buf = s.buf[:s.hi]
		if err == io.EOF {
			s.atEOF = true
			return
		}
		if err != nil {
			s.readErr = fmt.Errorf("read at byte %d: %w", s.base+int64(s.hi), err)
			return
		}
		if n > 0 {
			return
		}
	}
	s.readErr = fmt.Errorf("read at byte %d: %w", s.base+int64(s.hi), io.ErrNoProgress)
}
