package pcap

import (
	"net/netip"
	"slices"

	"github.com/das-project/das/sources/pcap/mysqlproto"
)

// connKey identifies a TCP connection by its server and client endpoints.
type connKey struct {
	server, client netip.AddrPort
}

// segment is an out-of-order TCP segment waiting for the bytes before it.
type segment struct {
	seq  uint32
	data []byte
	ts   int64
}

// tcpDir reassembles one direction of a connection: bytes are handed to
// the decoder in sequence order, each exactly once. Retransmitted bytes are
// dropped, overlapping segments trimmed, segments ahead of the expected
// sequence number buffered until the hole is filled. A hole that will never
// be filled from the capture (the peer acknowledged the bytes, or the
// buffer bound is reached, or the connection ends) is skipped and the
// decoder told of the gap.
type tcpDir struct {
	init     bool
	next     uint32 // next sequence number expected
	ooo      []segment
	oooBytes int
	fin      bool
	finSeq   uint32
}

// conn is one MySQL connection of the capture.
type conn struct {
	src      *Source
	key      connKey
	proto    *mysqlproto.Conn
	instance string
	dirs     [2]tcpDir
	lastSeen int64
	tls      bool // counted in the per-server TLS figures
	closed   bool
}

// seqDiff is a − b in sequence space (RFC 1982 style).
func seqDiff(a, b uint32) int32 { return int32(a - b) }

// maxJump: a segment further ahead than this is not buffered but taken
// as a sign that everything before it was lost.
const maxJump = 64 << 20

// segment handles a payload-carrying segment of direction dir.
func (c *conn) segment(dir mysqlproto.Dir, seq uint32, payload []byte, ts int64) {
	d := &c.dirs[dir]
	st := &c.src.stats
	if !d.init {
		d.init, d.next = true, seq
	}
	diff := seqDiff(seq, d.next)
	switch {
	case diff == 0:
		c.deliver(dir, payload, ts, true)
		c.drain(dir)
	case diff < 0:
		end := seqDiff(seq+uint32(len(payload)), d.next)
		if end <= 0 {
			st.Retransmissions++
			return
		}
		st.Overlaps++
		c.deliver(dir, payload[len(payload)-int(end):], ts, false)
		c.drain(dir)
	case diff > maxJump:
		st.Gaps++
		c.proto.Gap(dir)
		d.next = seq
		d.ooo, d.oooBytes = d.ooo[:0], 0
		c.deliver(dir, payload, ts, true)
	default:
		st.OutOfOrder++
		i, found := slices.BinarySearchFunc(d.ooo, seq, func(s segment, seq uint32) int { return int(seqDiff(s.seq, seq)) })
		if found && len(d.ooo[i].data) >= len(payload) {
			st.Retransmissions++
			return
		}
		s := segment{seq: seq, data: append([]byte(nil), payload...), ts: ts}
		if found {
			d.oooBytes -= len(d.ooo[i].data)
			d.ooo[i] = s
		} else {
			d.ooo = slices.Insert(d.ooo, i, s)
		}
		d.oooBytes += len(payload)
		if d.oooBytes > c.src.opts.MaxBufferedBytes || len(d.ooo) > maxOOOSegments {
			c.skipGap(dir, 0, false)
		}
	}
}

const maxOOOSegments = 4096

// deliver hands in-order bytes to the decoder and advances next.
func (c *conn) deliver(dir mysqlproto.Dir, data []byte, ts int64, segStart bool) {
	c.dirs[dir].next += uint32(len(data))
	c.proto.Feed(dir, data, ts, segStart)
}

// drain delivers buffered segments that have become in order.
func (c *conn) drain(dir mysqlproto.Dir) {
	d := &c.dirs[dir]
	for len(d.ooo) > 0 {
		s := d.ooo[0]
		diff := seqDiff(s.seq, d.next)
		if diff > 0 {
			return
		}
		d.ooo = d.ooo[1:]
		d.oooBytes -= len(s.data)
		end := seqDiff(s.seq+uint32(len(s.data)), d.next)
		if end <= 0 {
			c.src.stats.Retransmissions++
			continue
		}
		c.deliver(dir, s.data[len(s.data)-int(end):], s.ts, diff == 0)
	}
	if len(d.ooo) == 0 {
		d.ooo = d.ooo[:0:0] // let the buffers go
	}
}

// skipGap gives up on the hole before the first buffered segment (or, when
// to is set, up to sequence number upto) and tells the decoder.
func (c *conn) skipGap(dir mysqlproto.Dir, upto uint32, to bool) {
	d := &c.dirs[dir]
	target := upto
	if len(d.ooo) > 0 && (!to || seqDiff(d.ooo[0].seq, upto) < 0) {
		target = d.ooo[0].seq
	} else if !to {
		return
	}
	if seqDiff(target, d.next) <= 0 {
		c.drain(dir)
		return
	}
	c.src.stats.Gaps++
	c.src.stats.LostBytes += uint64(seqDiff(target, d.next))
	c.proto.Gap(dir)
	d.next = target
	c.drain(dir)
}

// ack handles an acknowledgement sent in direction from: it covers the
// other direction's bytes. Bytes the peer acknowledged but the capture
// never showed are lost for good; waiting for them would wedge the
// connection.
func (c *conn) ack(from mysqlproto.Dir, ack uint32) {
	other := 1 - from
	d := &c.dirs[other]
	if !d.init || seqDiff(ack, d.next) <= 0 {
		return
	}
	if d.fin && seqDiff(d.next, d.finSeq) >= 0 && seqDiff(ack, d.finSeq) <= 1 {
		return // the FIN's sequence number
	}
	c.src.stats.AckGaps++
	c.skipGap(other, ack, true)
}

// flush ends the connection's reassembly: buffered segments are delivered
// after their holes.
func (c *conn) flush() {
	for dir := range c.dirs {
		for len(c.dirs[dir].ooo) > 0 {
			c.skipGap(mysqlproto.Dir(dir), 0, false)
		}
	}
}

// Statement implements mysqlproto.Handler.
func (c *conn) Statement(_ *mysqlproto.Conn, st *mysqlproto.Statement) { c.src.statement(c, st) }

// Problem implements mysqlproto.Handler.
func (c *conn) Problem(_ *mysqlproto.Conn, p *mysqlproto.Problem) { c.src.problem(c, p) }
