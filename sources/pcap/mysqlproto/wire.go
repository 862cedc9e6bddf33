package mysqlproto

import "encoding/binary"

// lenenc reads a length-encoded integer at p[0:]. n is the number of bytes
// it took; ok is false when p is too short or starts with 0xfb (NULL) or
// 0xff (not an integer).
func lenenc(p []byte) (v uint64, n int, ok bool) {
	if len(p) == 0 {
		return 0, 0, false
	}
	switch c := p[0]; {
	case c < 0xfb:
		return uint64(c), 1, true
	case c == 0xfc:
		if len(p) < 3 {
			return 0, 0, false
		}
		return uint64(binary.LittleEndian.Uint16(p[1:])), 3, true
	case c == 0xfd:
		if len(p) < 4 {
			return 0, 0, false
		}
		return uint64(p[1]) | uint64(p[2])<<8 | uint64(p[3])<<16, 4, true
	case c == 0xfe:
		if len(p) < 9 {
			return 0, 0, false
		}
		return binary.LittleEndian.Uint64(p[1:]), 9, true
	}
	return 0, 0, false
}

// lenencBytes reads a length-encoded string; rest is what follows it.
func lenencBytes(p []byte) (s, rest []byte, ok bool) {
	v, n, ok := lenenc(p)
	if !ok || v > uint64(len(p)-n) {
		return nil, nil, false
	}
	return p[n : n+int(v)], p[n+int(v):], true
}

// cstring reads a NUL-terminated string; without a NUL the whole of p is
// the string (as servers and clients do for the last field).
func cstring(p []byte) (s, rest []byte) {
	for i, c := range p {
		if c == 0 {
			return p[:i], p[i+1:]
		}
	}
	return p, nil
}

func u24(p []byte) int { return int(p[0]) | int(p[1])<<8 | int(p[2])<<16 }

// okPacket is the part of an OK (or OK-as-EOF) packet das uses.
type okPacket struct {
	affected uint64
	status   uint16
	schema   []byte // new default schema from session tracking, if any
	schemaOK bool
}

// parseOK parses an OK packet (first byte 0x00 or 0xfe). caps are the
// negotiated capabilities (session tracking decides the layout of the tail).
func parseOK(p []byte, caps uint64) (ok okPacket, valid bool) {
	if len(p) < 1 {
		return ok, false
	}
	p = p[1:]
	var n int
	var good bool
	if ok.affected, n, good = lenenc(p); !good {
		return ok, false
	}
	p = p[n:]
	if _, n, good = lenenc(p); !good { // last insert id
		return ok, false
	}
	p = p[n:]
	if len(p) < 4 {
		// Pre-4.1 servers send no status; das assumes protocol 4.1.
		return ok, len(p) == 0
	}
	ok.status = binary.LittleEndian.Uint16(p)
	p = p[4:]
	if caps&capSessionTrack == 0 || len(p) == 0 {
		return ok, true
	}
	if _, p, good = lenencBytes(p); !good { // info
		return ok, true
	}
	if ok.status&statusStateChanged == 0 {
		return ok, true
	}
	state, _, good := lenencBytes(p)
	if !good {
		return ok, true
	}
	for len(state) > 0 {
		typ := state[0]
		data, rest, good := lenencBytes(state[1:])
		if !good {
			break
		}
		if typ == sessionTrackSchema {
			if name, _, good := lenencBytes(data); good {
				ok.schema, ok.schemaOK = name, true
			}
		}
		state = rest
	}
	return ok, true
}

// isEOF reports whether p is an end-of-rows marker: 0xfe with a payload
// shorter than a row starting with an 8-byte length could be. With
// CLIENT_DEPRECATE_EOF it is an OK packet (< 0xffffff bytes), without it an
// EOF packet (5 bytes); full is the packet's complete length.
func isEOF(p []byte, full int, deprecateEOF bool) bool {
	if len(p) == 0 || p[0] != 0xfe {
		return false
	}
	if deprecateEOF {
		return full < maxPacket
	}
	return full < 9
}

// eofStatus returns the status flags of an EOF or OK-as-EOF packet.
func eofStatus(p []byte, full int, caps uint64) uint16 {
	if full == 5 && len(p) >= 5 { // classic EOF: 0xfe warnings(2) status(2)
		return binary.LittleEndian.Uint16(p[3:])
	}
	ok, _ := parseOK(p, caps)
	return ok.status
}

// errCode returns the error code of an ERR packet.
func errCode(p []byte) uint16 {
	if len(p) < 3 {
		return 0
	}
	return binary.LittleEndian.Uint16(p[1:])
}

// isColumnDef reports whether p looks like a column definition (protocol
// 4.1: it starts with the catalog, always the length-encoded "def").
func isColumnDef(p []byte) bool {
	return len(p) >= 4 && p[0] == 3 && p[1] == 'd' && p[2] == 'e' && p[3] == 'f'
}
