package mysqlproto

import (
	"encoding/binary"
	"strconv"
)

// Dir is the direction of a byte stream.
type Dir uint8

// The two directions of a connection.
const (
	ClientToServer Dir = 0
	ServerToClient Dir = 1
)

type phase uint8

const (
	phaseGreeting phase = iota // connection seen from its SYN: server greeting next
	phaseResponse              // client handshake response next
	phaseAuth                  // authentication exchange until OK or ERR
	phaseCommand
	phaseSkip   // TLS or replication: nothing more is decoded
	phaseClosed // quit, failed authentication, closed
)

// serverKeep is how much of a server packet is kept when it spans
// segments: OK, ERR and EOF packets are short; rows only need their first
// byte and length.
const serverKeep = 64 << 10

// problemRaw bounds the raw bytes attached to a Problem.
const problemRaw = 4 << 10

// dirState is one direction's framing: the compressed-protocol layer and
// the packet layer (with 16 MiB continuation packets joined).
type dirState struct {
	resync bool // waiting for a segment that starts with a plausible packet
	comp   bool // compressed protocol

	chdr   [7]byte
	chdrN  int
	cneed  int
	culen  int
	cbuf   []byte
	cStart int64

	hdr     [4]byte
	hdrN    int
	physLen int
	need    int  // payload bytes still to come in the current physical packet
	cont    bool // the logical packet continues in another physical packet
	seq     byte // sequence id of the logical packet's first physical packet
	buf     []byte
	full    int   // logical payload length so far
	start   int64 // capture time of the logical packet's first byte
	limit   int
}

func (s *dirState) resetFraming() {
	s.chdrN, s.cneed, s.cbuf = 0, 0, s.cbuf[:0]
	s.hdrN, s.need, s.cont, s.full, s.buf = 0, 0, false, 0, s.buf[:0]
}

// prepared is a prepared statement of a connection.
type prepared struct {
	sql     []byte
	id      uint32
	nparams int
	known   bool // the prepare's OK was seen
	failed  bool // the prepare's response was an ERR
	types   []uint16
	long    [][]byte
}

type rstate uint8

const (
	rsFirst rstate = iota // first packet of a result (or the next result)
	rsColumns
	rsColumnsEOF
	rsRows
	rsInfile
	rsPrepParams
	rsPrepParamsEOF
	rsPrepCols
	rsPrepColsEOF
	rsSingle
	rsFieldList
	rsChangeUser
	rsUnknown
)

// request is a command awaiting (or receiving) its response.
type request struct {
	cmd       byte
	ts        int64
	buf       []byte // SQL (query, prepare) or payload after the command byte (execute)
	truncated bool
	prep      *prepared
	long      [][]byte
	user, db  []byte // change user, init db
	state     rstate
	first     int64 // capture time of the first response packet, -1 before
	sawAny    bool
	progress  bool // a MariaDB progress report came first
	respSeq   byte // sequence id of the response's first packet
	left      int
	cols      int
	binary    bool
	ok        bool // an OK (or EOF) packet ended it
	rows      uint64
	affected  uint64
	err       uint16
}

// Conn decodes one connection. Create it with NewConn when the capture
// shows the connection's SYN (midStream false) or its first packet
// otherwise.
type Conn struct {
	d     *Decoder
	h     Handler
	phase phase

	serverCaps  uint64
	caps        uint64 // negotiated capabilities (capsKnown)
	capsKnown   bool
	compKnown   bool // whether the connection is compressed is known
	compAfterOK bool
	deprecate   int8 // inferred CLIENT_DEPRECATE_EOF when !capsKnown: -1 unknown, 0, 1
	midStream   bool
	tls         bool

	user, db           string
	userKnown, dbKnown bool

	dir      [2]dirState
	pending  []*request
	free     []*request
	stmts    map[uint32]*prepared
	lastPrep *prepared
	respSeq  byte // sequence id the response to the command being read starts with
}

// NewConn returns a connection decoder reporting to h. midStream says the
// capture joined the connection after its start (no SYN seen): both
// directions then wait for a plausible packet at a segment start.
func NewConn(d *Decoder, h Handler, midStream bool) *Conn {
	c := &Conn{d: d, h: h, deprecate: -1, midStream: midStream}
	c.dir[ClientToServer].limit = d.opts.MaxStatementBytes + 64
	c.dir[ServerToClient].limit = serverKeep
	if midStream {
		d.stats.MidStream++
		c.phase = phaseCommand
		c.dir[0].resync, c.dir[1].resync = true, true
	}
	return c
}

// User returns the connection's user and whether it is known.
func (c *Conn) User() (string, bool) { return c.user, c.userKnown }

// DB returns the connection's default schema and whether it is known.
func (c *Conn) DB() (string, bool) { return c.db, c.dbKnown }

// TLS reports whether the connection switched to TLS (nothing of it is
// decoded after that).
func (c *Conn) TLS() bool { return c.tls }

// Compressed reports whether the connection uses the compressed protocol.
func (c *Conn) Compressed() bool { return c.dir[0].comp || c.dir[1].comp }

// Done reports whether nothing more of the connection will be decoded
// (quit, TLS, replication, failed authentication).
func (c *Conn) Done() bool { return c.phase >= phaseSkip }

// Gap tells the connection that bytes of direction dir were lost. It
// resynchronises on a later segment start; after a server-side gap the
// responses of the commands sent so far are lost.
func (c *Conn) Gap(dir Dir) {
	c.d.stats.Gaps++
	s := &c.dir[dir]
	s.resetFraming()
	s.resync = true
	if dir == ServerToClient {
		c.loseAll()
	}
}

// Close ends the connection: commands still awaiting a response are lost.
func (c *Conn) Close() {
	c.loseAll()
	if c.phase != phaseSkip {
		c.phase = phaseClosed
	}
}

func (c *Conn) loseAll() {
	for _, r := range c.pending {
		c.d.stats.LostResponses++
		c.recycle(r)
	}
	c.pending = c.pending[:0]
}

// Feed gives the connection the next bytes of direction dir, captured at
// tsNs (Unix nanoseconds). segStart says data begins a TCP segment (not the
// remainder of one whose start overlapped bytes already fed). data is not
// retained.
func (c *Conn) Feed(dir Dir, data []byte, tsNs int64, segStart bool) {
	s := &c.dir[dir]
	for len(data) > 0 {
		if c.phase >= phaseSkip {
			return
		}
		if s.resync {
			if !segStart || !c.tryResync(dir, data) {
				c.d.stats.ResyncDroppedBytes += uint64(len(data))
				return
			}
		}
		var n int
		if s.comp {
			n = c.feedCompressed(dir, data, tsNs)
		} else {
			n = c.feedPlain(dir, data, tsNs, tsNs)
		}
		data = data[n:]
		segStart = false
	}
}

// feedCompressed consumes compressed-protocol packets from data.
func (c *Conn) feedCompressed(dir Dir, data []byte, ts int64) int {
	s := &c.dir[dir]
	i := 0
	for i < len(data) {
		if s.chdrN < 7 {
			k := copy(s.chdr[s.chdrN:], data[i:])
			s.chdrN += k
			i += k
			if s.chdrN < 7 {
				break
			}
			s.cneed = u24(s.chdr[:])
			s.culen = u24(s.chdr[4:])
			s.cbuf = s.cbuf[:0]
			s.cStart = ts
		}
		var payload []byte
		if avail := len(data) - i; len(s.cbuf) == 0 && avail >= s.cneed {
			payload = data[i : i+s.cneed]
			i += s.cneed
		} else {
			take := min(avail, s.cneed-len(s.cbuf))
			s.cbuf = append(s.cbuf, data[i:i+take]...)
			i += take
			if len(s.cbuf) < s.cneed {
				break
			}
			payload = s.cbuf
		}
		s.chdrN = 0
		inner := payload
		if s.culen > 0 {
			var err error
			if inner, err = c.d.inflate(payload, s.culen); err != nil {
				c.problem(ReasonMalformed, "compressed packet: "+err.Error(), ts, payload)
				c.Gap(dir)
				return len(data)
			}
		}
		for len(inner) > 0 && !s.resync && c.phase < phaseSkip {
			inner = inner[c.feedPlain(dir, inner, s.cStart, ts):]
		}
		if s.resync || c.phase >= phaseSkip {
			return len(data)
		}
	}
	return i
}

// feedPlain consumes MySQL packets from data. start is the capture time of
// data's first byte, end that of its last. It returns early (with the
// count consumed) when the framing mode changes.
func (c *Conn) feedPlain(dir Dir, data []byte, start, end int64) int {
	s := &c.dir[dir]
	comp := s.comp
	i := 0
	for i < len(data) {
		if s.hdrN < 4 {
			k := copy(s.hdr[s.hdrN:], data[i:])
			s.hdrN += k
			i += k
			if s.hdrN < 4 {
				break
			}
			s.physLen = u24(s.hdr[:])
			s.need = s.physLen
			if !s.cont {
				s.seq, s.buf, s.full, s.start = s.hdr[3], s.buf[:0], 0, start
			}
		}
		avail := len(data) - i
		if !s.cont && s.full == 0 && len(s.buf) == 0 && avail >= s.need && s.physLen < maxPacket {
			p := data[i : i+s.need]
			i += s.need
			s.hdrN, s.need = 0, 0
			c.deliver(dir, s.seq, p, len(p), s.start, end)
		} else {
			take := min(avail, s.need)
			if keep := s.limit - len(s.buf); keep > 0 {
				s.buf = append(s.buf, data[i:i+min(take, keep)]...)
			}
			s.full += take
			s.need -= take
			i += take
			if s.need > 0 {
				break
			}
			s.hdrN = 0
			if s.physLen == maxPacket {
				s.cont = true
				continue
			}
			s.cont = false
			full := s.full
			s.full = 0
			c.deliver(dir, s.seq, s.buf, full, s.start, end)
		}
		if s.comp != comp || s.resync || c.phase >= phaseSkip {
			break
		}
	}
	return i
}

func (c *Conn) deliver(dir Dir, seq byte, p []byte, full int, start, end int64) {
	if dir == ClientToServer {
		// A response's sequence ids follow the request's last packet's.
		c.respSeq = c.dir[dir].hdr[3] + 1
		c.clientPacket(seq, p, full, end)
	} else {
		c.serverPacket(seq, p, full, start)
	}
}

func (c *Conn) problem(reason, detail string, ts int64, raw []byte) {
	if reason == ReasonMalformed {
		c.d.stats.Malformed++
	}
	pr := &c.d.prob
	pr.Reason, pr.Detail, pr.TimeNs = reason, detail, ts
	pr.Raw = raw[:min(len(raw), problemRaw)]
	c.h.Problem(c, pr)
}

func (c *Conn) setTLS() {
	c.tls = true
	c.phase = phaseSkip
	c.d.stats.TLS++
	c.loseAll()
}

func (c *Conn) setCompressed() {
	if !c.dir[0].comp {
		c.d.stats.Compressed++
	}
	c.dir[0].comp, c.dir[1].comp = true, true
	c.compKnown = true
}

// --- handshake -------------------------------------------------------

func (c *Conn) clientPacket(seq byte, p []byte, full int, ts int64) {
	switch c.phase {
	case phaseGreeting:
		if seq != 0 || full == 0 {
			return
		}
		// The client spoke first: the greeting was not captured.
		c.phase = phaseCommand
		c.midStream = true
		c.d.stats.MidStream++
	case phaseResponse:
		c.handshakeResponse(p, ts)
		return
	case phaseAuth:
		return // auth switch response, password, public key request
	case phaseCommand:
	default:
		return
	}
	if seq != 0 {
		// LOAD DATA LOCAL contents (ended by an empty packet), or the
		// authentication exchange of a COM_CHANGE_USER.
		if r := c.head(); r != nil && r.state == rsInfile && full == 0 {
			r.state = rsFirst
		}
		return
	}
	if full == 0 {
		c.problem(ReasonMalformed, "empty command packet", ts, p)
		return
	}
	c.command(p, full, ts)
}

// greeting parses the server's initial handshake packet.
func (c *Conn) greeting(p []byte, ts int64) {
	if len(p) > 0 && p[0] == 0xff { // "too many connections", "host blocked"
		c.phase = phaseClosed
		return
	}
	if len(p) < 1 || p[0] != 10 {
		c.problem(ReasonMalformed, "server greeting with protocol version other than 10", ts, p)
		c.phase = phaseClosed
		return
	}
	_, rest := cstring(p[1:])
	if len(rest) < 15 {
		c.problem(ReasonMalformed, "short server greeting", ts, p)
		c.phase = phaseClosed
		return
	}
	rest = rest[13:] // thread id, auth data part 1, filler
	caps := uint64(binary.LittleEndian.Uint16(rest))
	rest = rest[2:]
	if len(rest) >= 5 {
		caps |= uint64(binary.LittleEndian.Uint16(rest[3:])) << 16
		rest = rest[5:]
		if len(rest) >= 11 && caps&capLongPassword == 0 { // MariaDB extended capabilities
			caps |= uint64(binary.LittleEndian.Uint32(rest[7:])) << 32
		}
	}
	c.serverCaps = caps
	c.d.stats.Handshakes++
	c.phase = phaseResponse
}

// handshakeResponse parses HandshakeResponse41 (or 320), or an SSLRequest.
func (c *Conn) handshakeResponse(p []byte, ts int64) {
	if len(p) < 4 {
		c.problem(ReasonMalformed, "short handshake response", ts, p)
		c.phase = phaseClosed
		return
	}
	caps := uint64(binary.LittleEndian.Uint16(p))
	var rest []byte
	if caps&capProtocol41 != 0 {
		if len(p) < 32 {
			c.problem(ReasonMalformed, "short handshake response", ts, p)
			c.phase = phaseClosed
			return
		}
		caps = uint64(binary.LittleEndian.Uint32(p))
		if caps&capSSL != 0 && len(p) == 32 {
			c.setTLS()
			return
		}
		if c.serverCaps&capLongPassword == 0 {
			caps |= uint64(binary.LittleEndian.Uint32(p[28:])) << 32
		}
		rest = p[32:]
	} else {
		if caps&capSSL != 0 && len(p) <= 5 {
			c.setTLS()
			return
		}
		if len(p) < 5 {
			c.problem(ReasonMalformed, "short handshake response", ts, p)
			c.phase = phaseClosed
			return
		}
		rest = p[5:]
	}
	user, rest := cstring(rest)
	switch {
	case caps&capProtocol41 == 0:
		_, rest = cstring(rest)
	case caps&capPluginAuthLenenc != 0:
		var ok bool
		if _, rest, ok = lenencBytes(rest); !ok {
			rest = nil
		}
	case caps&capSecureConnection != 0:
		if len(rest) > 0 && len(rest) > int(rest[0]) {
			rest = rest[1+int(rest[0]):]
		} else {
			rest = nil
		}
	default:
		_, rest = cstring(rest)
	}
	c.user, c.userKnown = string(user), true
	if caps&capConnectWithDB != 0 && len(rest) > 0 {
		db, _ := cstring(rest)
		c.db, c.dbKnown = string(db), true
	} else {
		c.db, c.dbKnown = "", true // no default schema
	}
	c.caps = caps & c.serverCaps
	c.capsKnown, c.compKnown = true, true
	c.compAfterOK = c.caps&capCompress != 0
	c.phase = phaseAuth
}

func (c *Conn) serverPacket(seq byte, p []byte, full int, ts int64) {
	switch c.phase {
	case phaseGreeting:
		c.greeting(p, ts)
	case phaseAuth:
		if len(p) == 0 {
			return
		}
		switch p[0] {
		case 0x00:
			c.phase = phaseCommand
			if c.compAfterOK {
				c.setCompressed()
			}
		case 0xff:
			c.d.stats.AuthFailures++
			c.phase = phaseClosed
		}
		// 0xfe auth switch, 0x01 more data: the exchange goes on.
	case phaseCommand:
		c.response(seq, p, full, ts)
	}
}

// --- commands --------------------------------------------------------

func (c *Conn) head() *request {
	if len(c.pending) == 0 {
		return nil
	}
	return c.pending[0]
}

func (c *Conn) push(cmd byte, ts int64, state rstate) *request {
	if len(c.pending) >= c.d.opts.MaxPending {
		c.d.stats.LostResponses++
		c.recycle(c.pending[0])
		c.pending = c.pending[:copy(c.pending, c.pending[1:])]
	}
	var r *request
	if n := len(c.free); n > 0 {
		r = c.free[n-1]
		c.free = c.free[:n-1]
	} else {
		r = &request{}
	}
	buf := r.buf[:0]
	*r = request{cmd: cmd, ts: ts, state: state, first: -1, buf: buf, respSeq: c.respSeq}
	c.pending = append(c.pending, r)
	return r
}

func (c *Conn) recycle(r *request) {
	if cap(r.buf) > 1<<20 {
		r.buf = nil
	}
	r.prep, r.long, r.user, r.db = nil, nil, nil, nil
	if len(c.free) < 8 {
		c.free = append(c.free, r)
	}
}

// pop removes the head request (which must be r).
func (c *Conn) pop() {
	n := copy(c.pending, c.pending[1:])
	c.pending[n] = nil
	c.pending = c.pending[:n]
}

func (c *Conn) command(p []byte, full int, ts int64) {
	cmd := p[0]
	c.d.stats.Commands[cmd]++
	truncated := len(p) < full
	switch cmd {
	case ComQuery:
		sql := p[1:]
		if c.capsKnown && c.caps&capQueryAttributes != 0 {
			s, err := skipQueryAttributes(sql)
			if err != nil {
				c.problem(ReasonMalformed, "COM_QUERY query attributes: "+err.Error(), ts, p)
			} else {
				sql = s
			}
		} else if !c.capsKnown && len(sql) >= 2 && sql[0] == 0 && sql[1] == 1 {
			sql = sql[2:] // query attributes (none) of a MySQL 8 client
		}
		r := c.push(cmd, ts, rsFirst)
		r.buf = append(r.buf, sql...)
		r.truncated = truncated
	case ComStmtPrepare:
		r := c.push(cmd, ts, rsFirst)
		r.buf = append(r.buf, p[1:]...)
		r.truncated = truncated
		r.prep = &prepared{sql: r.buf[:len(r.buf):len(r.buf)]}
		r.buf = nil // the prepared statement owns it
		c.lastPrep = r.prep
	case ComStmtExecute, ComStmtBulkExecute:
		if len(p) < 5 {
			c.problem(ReasonMalformed, "short "+CommandName(cmd)+" packet", ts, p)
			return
		}
		r := c.push(cmd, ts, rsFirst)
		r.binary = true
		r.buf = append(r.buf, p[1:]...)
		r.truncated = truncated
		r.prep = c.stmt(binary.LittleEndian.Uint32(p[1:]))
		if r.prep != nil && cmd == ComStmtExecute {
			r.long, r.prep.long = r.prep.long, nil
		}
	case ComStmtSendLongData:
		if len(p) < 7 {
			c.problem(ReasonMalformed, "short stmt_send_long_data packet", ts, p)
			return
		}
		ps := c.stmt(binary.LittleEndian.Uint32(p[1:]))
		idx := int(binary.LittleEndian.Uint16(p[5:]))
		if ps == nil || idx > 65535 {
			return
		}
		for len(ps.long) <= idx {
			ps.long = append(ps.long, nil)
		}
		if room := c.d.opts.MaxStatementBytes - len(ps.long[idx]); room > 0 {
			data := p[7:]
			ps.long[idx] = append(ps.long[idx], data[:min(len(data), room)]...)
		}
	case ComStmtClose:
		if len(p) >= 5 {
			id := binary.LittleEndian.Uint32(p[1:])
			if ps := c.stmt(id); ps != nil {
				delete(c.stmts, ps.id)
				if c.lastPrep == ps {
					c.lastPrep = nil
				}
			}
		}
	case ComStmtReset:
		if len(p) >= 5 {
			if ps := c.stmt(binary.LittleEndian.Uint32(p[1:])); ps != nil {
				ps.long = nil
			}
		}
		c.push(cmd, ts, rsSingle)
	case ComStmtFetch:
		r := c.push(cmd, ts, rsRows)
		r.binary = true
	case ComQuit:
		c.phase = phaseClosed
	case ComInitDB:
		r := c.push(cmd, ts, rsSingle)
		r.db = append([]byte(nil), p[1:]...)
	case ComChangeUser:
		r := c.push(cmd, ts, rsChangeUser)
		user, rest := cstring(p[1:])
		r.user = append([]byte(nil), user...)
		if c.capsKnown && c.caps&capSecureConnection != 0 {
			if len(rest) > 0 && len(rest) > int(rest[0]) {
				rest = rest[1+int(rest[0]):]
			} else {
				rest = nil
			}
		} else {
			_, rest = cstring(rest)
		}
		db, _ := cstring(rest)
		r.db = append([]byte{}, db...)
	case ComFieldList:
		c.push(cmd, ts, rsFieldList)
	case ComProcessInfo:
		c.push(cmd, ts, rsFirst)
	case ComBinlogDump, ComBinlogDumpGTID, ComClone, ComSubscribeGroup, ComTableDump:
		c.d.stats.Replication++
		c.loseAll()
		c.phase = phaseSkip
	case ComPing, ComRefresh, ComShutdown, ComStatistics, ComProcessKill, ComDebug,
		ComSetOption, ComResetConnection, ComRegisterSlave, ComCreateDB, ComDropDB, ComTime:
		c.push(cmd, ts, rsSingle)
	default:
		c.push(cmd, ts, rsUnknown)
	}
}

// stmt finds a prepared statement by id; 0xffffffff is MariaDB's "the
// statement prepared last".
func (c *Conn) stmt(id uint32) *prepared {
	if id == 0xffffffff {
		return c.lastPrep
	}
	return c.stmts[id]
}

// --- responses -------------------------------------------------------

func (c *Conn) deprecateEOF() int8 {
	if c.capsKnown {
		if c.caps&capDeprecateEOF != 0 {
			return 1
		}
		return 0
	}
	return c.deprecate
}

func (c *Conn) response(seq byte, p []byte, full int, ts int64) {
	for {
		r := c.head()
		if r == nil {
			c.d.stats.OrphanResponses++
			return
		}
		plainSeq := !c.dir[ServerToClient].comp
		if len(p) >= 3 && p[0] == 0xff && errCode(p) == progressReportError {
			r.progress = true // MariaDB progress report: not the response yet
			return
		}
		if !r.sawAny && !r.progress {
			// A response starts after its request and (uncompressed) with
			// sequence id 1; anything else is left over from a response
			// whose request das did not see.
			if ts < r.ts || (plainSeq && seq != r.respSeq) {
				c.d.stats.OrphanResponses++
				return
			}
		} else if plainSeq && seq == 1 && len(c.pending) > 1 && r.state != rsUnknown {
			// A new response began while this one looked unfinished
			// (a format das misread): end this one, give the packet to
			// the next.
			c.finish(r)
			continue
		}
		if r.state == rsUnknown && r.sawAny && plainSeq && seq == 1 && len(c.pending) > 1 {
			c.finish(r)
			continue
		}
		if c.step(r, p, full, ts) {
			return
		}
		// step returned false: r ended before this packet, which belongs
		// to the next response.
	}
}

// step applies one response packet to r. It returns false when the packet
// is not r's (r has been finished and the packet must go to the next one).
func (c *Conn) step(r *request, p []byte, full int, ts int64) bool {
	if len(p) == 0 {
		c.problem(ReasonMalformed, "empty response packet to "+CommandName(r.cmd), ts, p)
		return true
	}
	if !r.sawAny {
		r.sawAny, r.first = true, ts
	}
	h := p[0]
	if h == 0xff && r.state != rsUnknown {
		r.err = errCode(p)
		if r.cmd == ComStmtPrepare && r.prep != nil {
			r.prep.failed = true
		}
		c.finish(r)
		return true
	}
	dep := c.deprecateEOF()
	switch r.state {
	case rsFirst, rsInfile:
		if r.cmd == ComStmtPrepare {
			return c.prepareOK(r, p, ts)
		}
		switch {
		case h == 0x00:
			ok, _ := parseOK(p, c.caps)
			r.affected += ok.affected
			c.applySchema(ok)
			c.endResult(r, ok.status)
		case h == 0xfe && full < 9:
			c.endResult(r, eofStatus(p, full, c.caps))
		case h == 0xfb && r.cmd == ComQuery:
			r.state = rsInfile
		default:
			c.columnCount(r, p, ts)
		}
	case rsColumns:
		if !c.capsKnown && !isColumnDef(p) {
			// Metadata was skipped after all (unknown capabilities).
			r.state = rsColumnsEOF
			return c.step(r, p, full, ts)
		}
		if r.left--; r.left <= 0 {
			r.state = rsColumnsEOF
		}
	case rsColumnsEOF:
		switch {
		case h == 0xfe && full == 5 && dep != 1:
			if dep < 0 {
				c.deprecate = 0
			}
			st := eofStatus(p, full, c.caps)
			if st&statusCursorExists != 0 {
				c.finish(r)
				return true
			}
			r.state = rsRows
		case h == 0xfe && full < maxPacket && dep != 0:
			if dep < 0 {
				c.deprecate = 1
			}
			c.endResult(r, eofStatus(p, full, c.caps))
		default:
			if dep < 0 {
				c.deprecate = 1
			}
			r.rows++
			r.state = rsRows
		}
	case rsRows:
		if isEOF(p, full, dep == 1) || (dep < 0 && h == 0xfe && full < maxPacket) {
			c.endResult(r, eofStatus(p, full, c.caps))
		} else {
			r.rows++
		}
	case rsPrepParams:
		if r.left--; r.left <= 0 {
			r.state = rsPrepParamsEOF
			if dep == 1 {
				c.prepareColumns(r)
			}
		}
	case rsPrepParamsEOF:
		if h == 0xfe && full == 5 {
			if dep < 0 {
				c.deprecate = 0
			}
			c.prepareColumns(r)
			return true
		}
		if dep < 0 {
			c.deprecate = 1
		}
		c.prepareColumns(r)
		if r.state == rsPrepCols {
			return c.step(r, p, full, ts)
		}
		return false
	case rsPrepCols:
		if r.left--; r.left <= 0 {
			if dep == 1 {
				c.finish(r)
			} else {
				r.state = rsPrepColsEOF
			}
		}
	case rsPrepColsEOF:
		c.finish(r)
		if h == 0xfe && full == 5 {
			if dep < 0 {
				c.deprecate = 0
			}
			return true
		}
		return false
	case rsSingle:
		if h == 0x00 {
			ok, _ := parseOK(p, c.caps)
			c.applySchema(ok)
		}
		r.ok = h == 0x00 || h == 0xfe
		c.finish(r)
	case rsFieldList:
		if h == 0xfe && full < 9 {
			c.finish(r)
		}
	case rsChangeUser:
		if h == 0x00 {
			r.ok = true
			c.finish(r)
		}
		// 0xfe auth switch, 0x01 more data: the exchange goes on.
	case rsUnknown:
		// Consumed until the next response starts (see response).
	}
	return true
}

// columnCount starts a result set.
func (c *Conn) columnCount(r *request, p []byte, ts int64) {
	q := p
	metadata := true
	if c.capsKnown && c.caps&capOptionalMetadata != 0 {
		metadata = len(q) > 0 && q[0] != 0
		q = q[1:]
	}
	n, k, ok := lenenc(q)
	if !ok || n == 0 {
		c.problem(ReasonMalformed, "bad column count in response to "+CommandName(r.cmd), ts, p)
		r.state = rsUnknown
		return
	}
	if r.binary && len(q) == k+1 {
		// MariaDB: MARIADB_CLIENT_CACHE_METADATA adds "metadata follows".
		if !c.capsKnown || c.caps&mariaCacheMetadata != 0 {
			metadata = q[k] != 0
		}
	}
	if !metadata {
		r.state = rsColumnsEOF
		return
	}
	r.left = int(min(n, 1<<20))
	r.state = rsColumns
}

// prepareOK handles the first packet of a COM_STMT_PREPARE response.
func (c *Conn) prepareOK(r *request, p []byte, ts int64) bool {
	if p[0] != 0x00 || len(p) < 9 {
		c.problem(ReasonMalformed, "bad COM_STMT_PREPARE response", ts, p)
		c.finish(r)
		return true
	}
	ps := r.prep
	ps.id = binary.LittleEndian.Uint32(p[1:])
	cols := int(binary.LittleEndian.Uint16(p[5:]))
	params := int(binary.LittleEndian.Uint16(p[7:]))
	ps.nparams, ps.known = params, true
	if c.stmts == nil {
		c.stmts = make(map[uint32]*prepared)
	}
	if len(c.stmts) >= c.d.opts.MaxPrepared {
		for id := range c.stmts { // forget one (the client leaked statements)
			delete(c.stmts, id)
			break
		}
	}
	c.stmts[ps.id] = ps
	r.ok = true
	if c.capsKnown && c.caps&capOptionalMetadata != 0 && len(p) >= 13 && p[12] == 0 {
		c.finish(r) // no metadata follows
		return true
	}
	r.cols = cols
	switch {
	case params > 0:
		r.left = params
		r.state = rsPrepParams
	case cols > 0:
		r.left = cols
		r.state = rsPrepCols
	default:
		c.finish(r)
	}
	return true
}

// prepareColumns moves a prepare response from its parameters to its
// columns, or ends it.
func (c *Conn) prepareColumns(r *request) {
	if r.cols > 0 {
		r.left = r.cols
		r.state = rsPrepCols
		return
	}
	c.finish(r)
}

// endResult ends one result of a response: more follow, or the response
// is complete.
func (c *Conn) endResult(r *request, status uint16) {
	if status&statusMoreResults != 0 {
		r.state = rsFirst
		return
	}
	r.ok = true
	c.finish(r)
}

func (c *Conn) applySchema(ok okPacket) {
	if ok.schemaOK && (!c.dbKnown || string(ok.schema) != c.db) {
		c.db, c.dbKnown = string(ok.schema), true
	}
}

// finish completes the head request r: emits its statement or applies its
// effect, and removes it.
func (c *Conn) finish(r *request) {
	c.pop()
	defer c.recycle(r)
	switch r.cmd {
	case ComQuery:
		if r.err == 0 {
			if db, ok := useDB(r.buf); ok && (!c.dbKnown || string(db) != c.db) {
				c.db, c.dbKnown = string(db), true
			}
		}
		c.emit(r, r.buf, r.truncated)
	case ComStmtExecute, ComStmtBulkExecute:
		c.emitExecute(r)
	case ComInitDB:
		if r.ok && r.err == 0 {
			c.db, c.dbKnown = string(r.db), true
		}
	case ComChangeUser:
		if r.ok {
			c.user, c.userKnown = string(r.user), true
			c.db, c.dbKnown = string(r.db), true
			c.stmts, c.lastPrep = nil, nil
		}
	case ComResetConnection:
		if r.ok {
			c.stmts, c.lastPrep = nil, nil
		}
	}
}

func (c *Conn) emitExecute(r *request) {
	ps := r.prep
	if ps == nil {
		c.d.stats.UnknownStatements++
		raw := append([]byte{r.cmd}, r.buf[:min(len(r.buf), problemRaw-1)]...)
		id := uint32(0)
		if len(r.buf) >= 4 {
			id = binary.LittleEndian.Uint32(r.buf)
		}
		c.problem(ReasonUnknownStatement, CommandName(r.cmd)+" of statement "+strconv.FormatUint(uint64(id), 10)+
			" prepared before the capture started (its text is unknown)", r.ts, raw)
		return
	}
	if r.cmd == ComStmtBulkExecute || !ps.known {
		c.emit(r, ps.sql, r.truncated)
		return
	}
	d := c.d
	queryAttrs := c.capsKnown && c.caps&capQueryAttributes != 0
	params, err := parseExecuteParams(r.buf, ps.nparams, &ps.types, r.long, queryAttrs, d.params)
	d.params = params
	truncated := r.truncated
	if err != nil {
		if !r.truncated {
			c.problem(ReasonMalformed, "COM_STMT_EXECUTE parameters: "+err.Error(), r.ts, append([]byte{r.cmd}, r.buf[:min(len(r.buf), problemRaw-1)]...))
		}
		truncated = true
		params = params[:0]
	}
	d.sqlBuf, _ = substitute(d.sqlBuf[:0], ps.sql, params)
	if len(d.sqlBuf) > d.opts.MaxStatementBytes {
		d.sqlBuf = d.sqlBuf[:d.opts.MaxStatementBytes]
		truncated = true
	}
	c.emit(r, d.sqlBuf, truncated)
	if cap(d.sqlBuf) > 4<<20 {
		d.sqlBuf = nil
	}
}

func (c *Conn) emit(r *request, sql []byte, truncated bool) {
	d := c.d
	st := &d.st
	*st = Statement{
		TimeNs: r.ts, Command: r.cmd, SQL: sql, Truncated: truncated,
		User: c.user, DB: c.db, UserKnown: c.userKnown, DBKnown: c.dbKnown,
		RowsSent: r.rows, RowsAffected: r.affected, ErrCode: r.err,
	}
	if r.first > r.ts {
		st.LatencyNs = r.first - r.ts
	}
	d.stats.Statements++
	if r.err != 0 {
		d.stats.StatementErrors++
	}
	if truncated {
		d.stats.Truncated++
	}
	c.h.Statement(c, st)
}

// useDB recognises "USE db" (after comments and blanks) and returns db.
func useDB(sql []byte) ([]byte, bool) {
	s := skipSpaceComments(sql)
	if len(s) < 4 || (s[0]|0x20) != 'u' || (s[1]|0x20) != 's' || (s[2]|0x20) != 'e' {
		return nil, false
	}
	if c := s[3]; c != ' ' && c != '\t' && c != '\n' && c != '\r' && c != '`' && c != '/' {
		return nil, false
	}
	s = skipSpaceComments(s[3:])
	var name []byte
	if len(s) > 0 && s[0] == '`' {
		for i := 1; i < len(s); i++ {
			if s[i] == '`' {
				if i+1 < len(s) && s[i+1] == '`' {
					name = append(name, '`')
					i++
					continue
				}
				return name, len(name) > 0
			}
			name = append(name, s[i])
		}
		return nil, false
	}
	i := 0
	for i < len(s) && s[i] != ' ' && s[i] != '\t' && s[i] != '\n' && s[i] != '\r' && s[i] != ';' && s[i] != '/' && s[i] != '#' {
		i++
	}
	if i == 0 {
		return nil, false
	}
	return s[:i], true
}

func skipSpaceComments(s []byte) []byte {
	for len(s) > 0 {
		switch {
		case s[0] == ' ' || s[0] == '\t' || s[0] == '\n' || s[0] == '\r':
			s = s[1:]
		case s[0] == '#' || (len(s) > 2 && s[0] == '-' && s[1] == '-' && (s[2] == ' ' || s[2] == '\t')):
			i := 0
			for i < len(s) && s[i] != '\n' {
				i++
			}
			s = s[i:]
		case len(s) > 1 && s[0] == '/' && s[1] == '*' && (len(s) < 3 || s[2] != '!'):
			end := indexFrom(s, 2, "*/")
			if end < 0 {
				return nil
			}
			s = s[end+2:]
		default:
			return s
		}
	}
	return s
}
