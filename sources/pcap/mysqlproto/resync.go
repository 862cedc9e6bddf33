package mysqlproto

// Resynchronisation: after a gap, or on a connection joined mid-stream, a
// direction's framing is unknown. Clients write each command with one
// write, so commands start segments; servers start each response at a
// segment boundary too. A segment is accepted when it starts with a chain
// of packet headers that fits it exactly (or one packet that continues
// beyond it) and whose contents look like what that direction sends next.

// tryResync reports whether data (the start of a segment) is a plausible
// place to resume decoding dir, and sets the framing mode accordingly.
func (c *Conn) tryResync(dir Dir, data []byte) bool {
	s := &c.dir[dir]
	if dir == ServerToClient && len(c.pending) == 0 {
		return false // nothing to attribute a response to
	}
	if !c.capsKnown && isTLSRecord(data) && (dir == ClientToServer || len(data) > 5 && data[0] == 0x17) {
		c.setTLS()
		return false
	}
	want := 0
	if dir == ServerToClient {
		want = int(c.pending[0].respSeq)
	}
	plain := plausiblePlain(dir, data, want)
	comp := !plain && plausibleCompressed(dir, data)
	switch {
	case c.compKnown && s.comp:
		if !plausibleCompressed(dir, data) {
			return false
		}
	case c.compKnown:
		if !plain {
			return false
		}
	case plain:
		// Not proof of an uncompressed connection: keep looking at the
		// other direction the same way.
	case comp:
		c.setCompressed()
	default:
		return false
	}
	c.d.stats.Resyncs++
	s.resync = false
	s.resetFraming()
	return true
}

func isTLSRecord(p []byte) bool {
	return len(p) >= 5 && p[0] >= 0x14 && p[0] <= 0x17 && p[1] == 3 && p[2] <= 4
}

// validCommand reports whether b is a command byte a resync may start at.
func validCommand(b byte) bool {
	return (b >= ComQuit && b <= ComResetConnection && b != ComConnect && b != ComTime &&
		b != ComDelayedInsert && b != ComConnectOut && b != ComDaemon) || b == ComStmtBulkExecute
}

// plausiblePlain checks a chain of uncompressed packets at data's start.
// For the server, firstSeq is the sequence id the response must start with
// (-1: any, inside compressed packets whose inner ids servers do not keep).
func plausiblePlain(dir Dir, data []byte, firstSeq int) bool {
	off := 0
	prev := byte(0)
	for first := true; off+4 <= len(data); first = false {
		l := u24(data[off:])
		seq := data[off+3]
		body := data[off+4:]
		if dir == ClientToServer {
			if (seq != 0 && firstSeq >= 0) || l == 0 || len(body) == 0 || !validCommand(body[0]) {
				return false
			}
			if first && (body[0] == ComQuery || body[0] == ComStmtPrepare) && !sqlLike(body[1:min(len(body), l)]) {
				return false
			}
		} else {
			if first && firstSeq >= 0 && int(seq) != firstSeq {
				return false
			}
			if !first && firstSeq >= 0 && seq != prev+1 && seq != 1 {
				return false
			}
			if first && l > 0 && len(body) > 0 && !responseStart(body[0], l) {
				return false
			}
		}
		end := off + 4 + l
		if end == len(data) {
			return true
		}
		if end > len(data) {
			// One packet continuing in later segments: only as the first
			// (a client's large statement, a server's large row).
			return first && (dir == ServerToClient || body[0] == ComQuery || body[0] == ComStmtPrepare ||
				body[0] == ComStmtExecute || body[0] == ComStmtSendLongData || body[0] == ComStmtBulkExecute)
		}
		off = end
		prev = seq
	}
	return false
}

// responseStart: the first byte of a response's first packet: OK, ERR,
// EOF, LOCAL INFILE request, or a column count.
func responseStart(b byte, l int) bool {
	switch {
	case b == 0x00 || b == 0xff || b == 0xfb:
		return true
	case b == 0xfe:
		return l < 9
	case b == 0xfc:
		return l <= 4
	default:
		return l <= 2 && b > 0
	}
}

// sqlLike: the first bytes of a statement text are printable (or common
// whitespace), so a random slice of a large packet is not taken for one.
func sqlLike(p []byte) bool {
	if len(p) == 0 {
		return false
	}
	for _, c := range p[:min(len(p), 16)] {
		if c < 0x20 && c != '\n' && c != '\r' && c != '\t' {
			return false
		}
	}
	return true
}

// plausibleCompressed checks a compressed-protocol packet at data's start.
func plausibleCompressed(dir Dir, data []byte) bool {
	if len(data) < 8 {
		return false
	}
	clen, cseq, ulen := u24(data), data[3], u24(data[4:])
	if clen == 0 || (dir == ClientToServer && cseq != 0) || (dir == ServerToClient && cseq == 0) {
		return false
	}
	if 7+clen < len(data) {
		// Several compressed packets in the segment: the next header must
		// follow on.
		next := data[7+clen:]
		if len(next) >= 4 && next[3] != cseq+1 {
			return false
		}
	}
	body := data[7:min(len(data), 7+clen)]
	if ulen == 0 {
		if 7+clen > len(data) {
			return len(body) >= 5 && plausiblePlain(dir, body, -1)
		}
		return plausiblePlain(dir, body, -1)
	}
	if ulen < clen/4 {
		return false
	}
	if len(body) >= 4 && body[0] == zstdMagic[0] && body[1] == zstdMagic[1] && body[2] == zstdMagic[2] && body[3] == zstdMagic[3] {
		return true
	}
	return len(body) >= 2 && body[0] == 0x78 && (uint16(body[0])<<8|uint16(body[1]))%31 == 0
}
