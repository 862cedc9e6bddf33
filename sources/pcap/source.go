// Package pcap turns captured MySQL client/server traffic into SQL events:
// pcap and pcapng files (pure Go, gopacket's pcapgo) and, on Linux, live
// capture from an interface with AF_PACKET (no cgo, no libpcap).
//
// Packets are decoded with gopacket's layers (Ethernet with VLAN tags,
// Linux cooked capture v1 and v2, BSD loopback, raw IP; IPv4 and IPv6;
// TCP). Each TCP connection to the MySQL port is reassembled per direction
// (tcp.go) and decoded by package mysqlproto, which follows the handshake,
// the compressed protocol, commands and responses. Every executed
// statement (COM_QUERY, COM_STMT_EXECUTE, COM_STMT_BULK_EXECUTE) becomes
// one sources.Event:
//
//	ts_ms         capture time of the request (the segment completing it)
//	instance      Options.Instance, or the server's ip:port
//	db, user      from the handshake, COM_INIT_DB, USE, COM_CHANGE_USER or
//	              session tracking; "" while unknown (connection joined
//	              after its handshake)
//	sql           the statement; for an execute, the prepared text with the
//	              bound parameters substituted
//	latency_us    first response packet time − request time
//	rows_sent     result-set rows, over all result sets of the statement
//	rows_affected the OK packets' affected rows
//	err_code      the ERR packet's code, 0 if none
//
// lock_us and rows_examined are not on the wire and are 0.
//
// Offsets. A capture is one partition (0). An offset is a packet index
// (0-based, in file order; Wireshark's frame number minus one). An event's
// offset is the index of the packet whose processing completed it (its
// response's last packet), so events leave the source in offset order.
// Batch.NextOffset is the index of the next packet to read (after the end
// of a file: the packet count + 1, statements completed by the end itself,
// such as buffered segments delivered after a hole, having the packet count
// as their offset). Resuming from
// offset N re-reads the capture from its start — connection state
// (handshakes, prepared statements, schemas) can only be rebuilt that way
// — and emits only the events and rejects of packets N and later: nothing
// is lost or repeated. Live capture cannot resume: offsets count packets
// since Open.
package pcap

import (
	"bufio"
	"compress/gzip"
	"context"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"slices"
	"strconv"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/pcap/mysqlproto"
	"github.com/das-project/das/stream"
)

// Reject reasons of this source (besides those of sources.Check).
const (
	// ReasonMalformed: a MySQL packet das could not decode.
	ReasonMalformed = "malformed"
	// ReasonUnknownStatement: an execute of a statement prepared before
	// the capture started; its text is unknown.
	ReasonUnknownStatement = "unknown-statement"
	// ReasonTruncatedFile: the capture file ends inside a packet record.
	ReasonTruncatedFile = "truncated-file"
)

var (
	// ErrNotOpen is returned by Next before Open.
	ErrNotOpen = errors.New("pcap: source not opened")
	// ErrBadOffset is returned by Open for a negative resume offset, or
	// for any resume offset of a live capture.
	ErrBadOffset = errors.New("pcap: resume offset out of range")
	// ErrFormat: the file is neither pcap nor pcapng (or is gzip of
	// neither).
	ErrFormat = errors.New("pcap: not a pcap or pcapng file")
)

// Options configure a Source. The zero value means every default.
type Options struct {
	// Port is the MySQL server's TCP port: packets to it are client →
	// server, packets from it server → client. Default 3306.
	Port int
	// Instance, if set, names the instance of every event; by default an
	// event's instance is its connection's server ip:port.
	Instance string
	// BatchSize is the most records (events plus rejects) per batch; a
	// batch always ends at a packet boundary, so it may exceed this by the
	// records of one packet. Default 4096.
	BatchSize int
	// MaxConnections bounds the connections tracked at once; beyond it
	// the least recently active eighth is forgotten (their pending
	// commands count as lost). Default 65536.
	MaxConnections int
	// MaxBufferedBytes bounds the out-of-order bytes buffered per
	// connection direction while waiting for a hole to be filled; beyond
	// it the hole is skipped as lost. Default 4 MiB.
	MaxBufferedBytes int
	// Protocol bounds the MySQL decoder (statement size, prepared
	// statements, pipelining).
	Protocol mysqlproto.Options
}

func (o *Options) setDefaults() error {
	for _, f := range []struct {
		v    *int
		name string
		def  int
	}{
		{&o.Port, "Port", 3306},
		{&o.BatchSize, "BatchSize", 4096},
		{&o.MaxConnections, "MaxConnections", 65536},
		{&o.MaxBufferedBytes, "MaxBufferedBytes", 4 << 20},
	} {
		switch {
		case *f.v == 0:
			*f.v = f.def
		case *f.v < 0:
			return fmt.Errorf("pcap: %s is %d, want > 0 (0 means %d)", f.name, *f.v, f.def)
		}
	}
	if o.Port > 65535 {
		return fmt.Errorf("pcap: Port is %d, want 1..65535", o.Port)
	}
	if o.Instance != "" {
		if _, err := netip.ParseAddrPort(o.Instance); err != nil {
			if _, _, ok := cutPort(o.Instance); !ok {
				return fmt.Errorf("pcap: Instance %q: want host:port", o.Instance)
			}
		}
	}
	return nil
}

func cutPort(s string) (host, port string, ok bool) {
	for i := len(s) - 1; i >= 0; i-- {
		if s[i] == ':' {
			_, err := strconv.ParseUint(s[i+1:], 10, 16)
			return s[:i], s[i+1:], i > 0 && err == nil
		}
	}
	return "", "", false
}

// Stats are a Source's counters since Open.
type Stats struct {
	// Packets read and their captured bytes.
	Packets, Bytes uint64
	// NotTCP: packets that are not TCP over IPv4/IPv6 (ARP, UDP, …) or
	// whose link layer das does not decode; OtherPort: TCP packets not to
	// or from the MySQL port.
	NotTCP, OtherPort uint64
	// Fragments: IPv4 fragments (skipped; TCP rarely fragments).
	Fragments uint64
	// Truncated: packets cut by the capture's snap length; their missing
	// bytes are handled as lost.
	Truncated uint64
	// Connections tracked, and Evicted when MaxConnections was reached.
	Connections, Evicted uint64
	// Retransmissions (segments whose bytes were all seen), Overlaps
	// (segments partly seen), OutOfOrder (buffered) segments.
	Retransmissions, Overlaps, OutOfOrder uint64
	// Gaps skipped in the TCP streams (AckGaps of them because the peer
	// acknowledged bytes the capture missed) and the bytes lost.
	Gaps, AckGaps, LostBytes uint64
	// Events emitted and Rejects reported.
	Events, Rejects uint64
	// KernelDrops: live capture only, packets the kernel dropped because
	// das did not read its ring fast enough.
	KernelDrops uint64
	// TLSServers counts, per server ip:port, the connections that switched
	// to TLS (not decodable: use the slow log or performance_schema there).
	TLSServers map[string]uint64
	// Protocol holds the MySQL decoder's counters: per-command counts,
	// lost responses, resyncs, compressed and mid-stream connections.
	Protocol mysqlproto.Stats
}

// packetReader reads captured packets. data is valid until the next call.
type packetReader interface {
	read() (data []byte, ci gopacket.CaptureInfo, link layers.LinkType, err error)
	close() error
}

// Source is a stream.Source of the statements in captured MySQL traffic.
// It is not safe for concurrent use; Stats may be called between calls to
// Next.
type Source struct {
	name    string
	opts    Options
	open    func() (packetReader, error)
	live    bool
	rd      packetReader
	file    io.Closer // the file of Open(path)
	opened  bool
	eof     bool
	pending error // returned by Next once the records before it are out

	dec     *mysqlproto.Decoder
	conns   map[connKey]*conn
	parsers map[layers.LinkType]*linkParser
	insts   map[netip.AddrPort]string

	index  int64 // index of the packet being processed
	resume int64
	stats  Stats

	batch stream.Batch[sources.Event]
	arena []byte
}

var _ stream.Source[sources.Event] = (*Source)(nil)

// Open returns a Source reading the pcap or pcapng file at path (gzip
// compressed or not). The file is opened and its header checked now; the
// Source's Open method positions it.
func Open(path string, opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, fmt.Errorf("pcap: %w", err)
	}
	s := newSource(path, opts)
	s.file = f
	s.open = func() (packetReader, error) {
		if _, err := f.Seek(0, io.SeekStart); err != nil {
			return nil, fmt.Errorf("pcap: %s: %w", path, err)
		}
		return newFileReader(f, path, nil)
	}
	rd, err := s.open()
	if err != nil {
		f.Close()
		return nil, err
	}
	s.rd = rd
	return s, nil
}

// New returns a Source reading a pcap or pcapng stream from r, named name
// in errors. Reopening (resume) needs r to be an io.Seeker at its start.
// Close does not close r.
func New(r io.Reader, name string, opts Options) (*Source, error) {
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	s := newSource(name, opts)
	rw := sources.Rewinder(r, "pcap", name)
	s.open = func() (packetReader, error) {
		rr, _, err := rw()
		if err != nil {
			return nil, err
		}
		return newFileReader(rr, name, nil)
	}
	return s, nil
}

func newSource(name string, opts Options) *Source {
	return &Source{name: name, opts: opts}
}

// Open positions the source at packet resume[0] (see the package doc) and
// resets all connection state. Calling it again repositions.
func (s *Source) Open(ctx context.Context, resume map[int32]int64) error {
	off := resume[0]
	if off < 0 || (s.live && off != 0) {
		return fmt.Errorf("%w: %s: %d", ErrBadOffset, s.name, off)
	}
	if s.rd == nil {
		rd, err := s.open()
		if err != nil {
			return err
		}
		s.rd = rd
	} else if s.opened {
		if s.live {
			return fmt.Errorf("pcap: %s: a live capture cannot be reopened", s.name)
		}
		s.rd.close()
		rd, err := s.open()
		if err != nil {
			return err
		}
		s.rd = rd
	}
	if s.dec != nil {
		s.dec.Close()
	}
	dec, err := mysqlproto.NewDecoder(s.opts.Protocol)
	if err != nil {
		return fmt.Errorf("pcap: %w", err)
	}
	s.dec = dec
	s.conns = make(map[connKey]*conn)
	s.parsers = make(map[layers.LinkType]*linkParser)
	s.insts = make(map[netip.AddrPort]string)
	s.index, s.resume, s.eof, s.pending = 0, off, false, nil
	s.stats = Stats{TLSServers: map[string]uint64{}}
	s.opened = true
	return nil
}

// Next returns the next batch of events. Event SQL and reject bytes are
// valid until the next call. It returns io.EOF at the end of a file.
func (s *Source) Next(ctx context.Context) (*stream.Batch[sources.Event], error) {
	if !s.opened {
		return nil, ErrNotOpen
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	b := &s.batch
	b.Partition = 0
	b.Items, b.ItemOffsets, b.Rejects = b.Items[:0], b.ItemOffsets[:0], b.Rejects[:0]
	s.arena = s.arena[:0]
	if s.eof {
		if s.pending != nil {
			err := s.pending
			s.pending = nil
			return nil, err
		}
		return nil, io.EOF
	}
	for n := 0; len(b.Items)+len(b.Rejects) < s.opts.BatchSize; n++ {
		if n&1023 == 1023 {
			if err := ctx.Err(); err != nil {
				return nil, err
			}
		}
		data, ci, link, err := s.rd.read()
		if err != nil {
			if errors.Is(err, errTimeout) {
				break // live capture: nothing for a while; hand back what we have
			}
			s.endOfInput(err)
			// What the end completed has the offset of a virtual packet
			// after the last; the end itself is consumed.
			s.index++
			break
		}
		s.packet(data, ci, link)
		s.index++
	}
	b.NextOffset = s.index
	if s.eof && len(b.Items) == 0 && len(b.Rejects) == 0 {
		if s.pending != nil {
			err := s.pending
			s.pending = nil
			return nil, err
		}
		return nil, io.EOF
	}
	return b, nil
}

// endOfInput finishes every connection (their out-of-order data is
// delivered after the holes; commands without a response are lost) and
// records how the input ended.
func (s *Source) endOfInput(err error) {
	s.eof = true
	switch {
	case err == io.EOF:
	case errors.Is(err, io.ErrUnexpectedEOF):
		s.rejectAt(s.index, ReasonTruncatedFile, "the capture ends inside packet record "+strconv.FormatInt(s.index, 10), nil)
	default:
		s.pending = fmt.Errorf("pcap: %s: packet %d: %w", s.name, s.index, err)
	}
	keys := make([]connKey, 0, len(s.conns))
	for k := range s.conns {
		keys = append(keys, k)
	}
	// Deterministic order: events of different connections completed at
	// the end leave in the same order on every run.
	slices.SortFunc(keys, func(a, b connKey) int {
		if c := a.server.Compare(b.server); c != 0 {
			return c
		}
		return a.client.Compare(b.client)
	})
	for _, k := range keys {
		c := s.conns[k]
		c.flush()
		s.closeConn(c)
	}
}

// Stats returns the counters since Open.
func (s *Source) Stats() Stats {
	st := s.stats
	st.TLSServers = make(map[string]uint64, len(s.stats.TLSServers))
	for k, v := range s.stats.TLSServers {
		st.TLSServers[k] = v
	}
	if s.dec != nil {
		st.Protocol = s.dec.Stats()
	}
	if lr, ok := s.rd.(interface{ kernelDrops() uint64 }); ok {
		st.KernelDrops = lr.kernelDrops()
	}
	return st
}

// Partitions returns [0].
func (s *Source) Partitions() []int32 { return []int32{0} }

// Bounded reports true for files, false for live capture.
func (s *Source) Bounded() bool { return !s.live }

// Close releases the file or capture socket.
func (s *Source) Close() error {
	var err error
	if s.rd != nil {
		err = s.rd.close()
		s.rd = nil
	}
	if s.file != nil {
		if e := s.file.Close(); err == nil {
			err = e
		}
		s.file = nil
	}
	if s.dec != nil {
		s.dec.Close()
		s.dec = nil
	}
	s.opened = false
	if err != nil {
		return fmt.Errorf("pcap: %s: %w", s.name, err)
	}
	return nil
}

// --- per packet --------------------------------------------------------

func (s *Source) packet(data []byte, ci gopacket.CaptureInfo, link layers.LinkType) {
	s.stats.Packets++
	s.stats.Bytes += uint64(len(data))
	p := s.parsers[link]
	if p == nil {
		p = newLinkParser(link)
		s.parsers[link] = p
	}
	pk, ok := p.decode(data)
	if !ok {
		s.stats.NotTCP++
		return
	}
	if pk.fragment {
		s.stats.Fragments++
		return
	}
	tcp := &p.tcp
	port := uint16(s.opts.Port)
	var dir mysqlproto.Dir
	var key connKey
	src := netip.AddrPortFrom(pk.src, uint16(tcp.SrcPort))
	dst := netip.AddrPortFrom(pk.dst, uint16(tcp.DstPort))
	switch port {
	case uint16(tcp.DstPort):
		dir, key = mysqlproto.ClientToServer, connKey{server: dst, client: src}
	case uint16(tcp.SrcPort):
		dir, key = mysqlproto.ServerToClient, connKey{server: src, client: dst}
	default:
		s.stats.OtherPort++
		return
	}
	ts := ci.Timestamp.UnixNano()
	payload := tcp.Payload
	truncated := pk.payloadLen > len(payload)
	if truncated {
		s.stats.Truncated++
	}
	c := s.conns[key]
	if tcp.SYN {
		if dir == mysqlproto.ClientToServer && !tcp.ACK && c != nil {
			if d := &c.dirs[dir]; !d.init || tcp.Seq+1 != d.next {
				s.closeConn(c) // a new connection reusing the ports
				c = nil
			}
		}
		if c == nil {
			c = s.newConn(key, false, ts)
		}
		d := &c.dirs[dir]
		d.init, d.next = true, tcp.Seq+1
		c.lastSeen = ts
		if tcp.ACK {
			c.ack(dir, tcp.Ack)
		}
		return
	}
	if c == nil {
		if tcp.RST || (len(payload) == 0 && !truncated) {
			return // the end of a connection das never saw, or a bare ACK
		}
		c = s.newConn(key, true, ts)
	}
	c.lastSeen = ts
	if tcp.ACK {
		c.ack(dir, tcp.Ack)
	}
	if len(payload) > 0 || truncated {
		if truncated {
			// The missing tail is lost: deliver nothing of the segment and
			// skip it as a gap (a cut statement would be misread).
			d := &c.dirs[dir]
			if !d.init {
				d.init, d.next = true, tcp.Seq
			}
			if seqDiff(tcp.Seq, d.next) <= 0 && seqDiff(tcp.Seq+uint32(pk.payloadLen), d.next) > 0 {
				c.skipGap(dir, tcp.Seq+uint32(pk.payloadLen), true)
			}
		} else {
			c.segment(dir, tcp.Seq, payload, ts)
		}
	}
	if tcp.FIN {
		d := &c.dirs[dir]
		d.fin, d.finSeq = true, tcp.Seq+uint32(pk.payloadLen)
	}
	if tcp.RST || (c.dirs[0].fin && c.dirs[1].fin) {
		c.flush()
		s.closeConn(c)
		return
	}
	if c.proto.TLS() && !c.tls {
		c.tls = true
		s.stats.TLSServers[key.server.String()]++
	}
}

func (s *Source) newConn(key connKey, midStream bool, ts int64) *conn {
	if len(s.conns) >= s.opts.MaxConnections {
		s.evict()
	}
	c := &conn{src: s, key: key, lastSeen: ts}
	c.instance = s.instance(key.server)
	c.proto = mysqlproto.NewConn(s.dec, c, midStream)
	s.conns[key] = c
	s.stats.Connections++
	return c
}

func (s *Source) instance(server netip.AddrPort) string {
	if s.opts.Instance != "" {
		return s.opts.Instance
	}
	if v, ok := s.insts[server]; ok {
		return v
	}
	v := server.String()
	if len(s.insts) < sources.MaxInterned {
		s.insts[server] = v
	}
	return v
}

// evict forgets the least recently active eighth of the connections.
func (s *Source) evict() {
	seen := make([]int64, 0, len(s.conns))
	for _, c := range s.conns {
		seen = append(seen, c.lastSeen)
	}
	slices.Sort(seen)
	cut := seen[len(seen)/8]
	for _, c := range s.conns {
		if c.lastSeen <= cut {
			s.stats.Evicted++
			s.closeConn(c)
		}
	}
}

func (s *Source) closeConn(c *conn) {
	if c.closed {
		return
	}
	c.closed = true
	if c.proto.TLS() && !c.tls {
		c.tls = true
		s.stats.TLSServers[c.key.server.String()]++
	}
	c.proto.Close()
	delete(s.conns, c.key)
}

// --- output ------------------------------------------------------------

func (s *Source) statement(c *conn, st *mysqlproto.Statement) {
	if s.index < s.resume {
		return
	}
	ev := sources.Event{
		TsMs:         floorDiv(st.TimeNs, 1e6),
		Instance:     c.instance,
		DB:           st.DB,
		User:         st.User,
		LatencyUs:    st.LatencyNs / 1000,
		RowsSent:     clampInt64(st.RowsSent),
		RowsAffected: clampInt64(st.RowsAffected),
		ErrCode:      int32(st.ErrCode),
	}
	if err := sources.Check(&ev); err != nil {
		var de *sources.DecodeError
		reason, detail := ReasonMalformed, err.Error()
		if errors.As(err, &de) {
			reason, detail = de.Reason, de.Detail
		}
		s.rejectAt(s.index, reason, detail+" ("+s.where(c)+")", st.SQL)
		return
	}
	start := len(s.arena)
	s.arena = append(s.arena, st.SQL...)
	ev.SQL = s.arena[start:len(s.arena):len(s.arena)]
	s.batch.Items = append(s.batch.Items, ev)
	s.batch.ItemOffsets = append(s.batch.ItemOffsets, s.index)
	s.stats.Events++
}

func (s *Source) problem(c *conn, p *mysqlproto.Problem) {
	if s.index < s.resume {
		return
	}
	s.rejectAt(s.index, p.Reason, p.Detail+" ("+s.where(c)+")", p.Raw)
}

// where describes the current packet for a reject's detail.
func (s *Source) where(c *conn) string {
	return "packet " + strconv.FormatInt(s.index, 10) + " (frame " + strconv.FormatInt(s.index+1, 10) +
		"), connection " + c.key.client.String() + " -> " + c.key.server.String()
}

func (s *Source) rejectAt(idx int64, reason, detail string, raw []byte) {
	if idx < s.resume {
		return
	}
	start := len(s.arena)
	s.arena = append(s.arena, raw...)
	s.batch.Rejects = append(s.batch.Rejects, stream.Reject{
		Partition: 0, Offset: idx, Reason: reason, Detail: detail,
		Raw: s.arena[start:len(s.arena):len(s.arena)],
	})
	s.stats.Rejects++
}

func floorDiv(a, b int64) int64 {
	q := a / b
	if (a%b != 0) && (a < 0) {
		q--
	}
	return q
}

func clampInt64(v uint64) int64 {
	if v > 1<<63-1 {
		return 1<<63 - 1
	}
	return int64(v)
}

// --- files ---------------------------------------------------------------

// maxSnaplen bounds the packet records read (tcpdump's default snap length).
const maxSnaplen = 1 << 18

// fileReader reads pcap or pcapng.
type fileReader struct {
	pcap   *pcapgo.Reader
	ng     *pcapgo.NgReader
	links  []layers.LinkType // pcapng: per interface
	closer io.Closer
}

func newFileReader(r io.Reader, name string, closer io.Closer) (*fileReader, error) {
	br := bufio.NewReaderSize(r, 1<<20)
	head, err := br.Peek(4)
	if err != nil {
		if err == io.EOF {
			return nil, fmt.Errorf("%w: %s: empty or shorter than a header", ErrFormat, name)
		}
		return nil, fmt.Errorf("pcap: %s: %w", name, err)
	}
	fr := &fileReader{closer: closer}
	if head[0] == 0x1f && head[1] == 0x8b {
		zr, err := gzip.NewReader(br)
		if err != nil {
			return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
		}
		br = bufio.NewReaderSize(zr, 1<<20)
		if head, err = br.Peek(4); err != nil {
			return nil, fmt.Errorf("%w: %s: gzip of %v", ErrFormat, name, err)
		}
	}
	if head[0] == 0x0a && head[1] == 0x0d && head[2] == 0x0d && head[3] == 0x0a {
		fr.ng, err = pcapgo.NewNgReader(br, pcapgo.NgReaderOptions{})
	} else if fr.pcap, err = pcapgo.NewReader(br); err == nil && fr.pcap.Snaplen() > maxSnaplen {
		// A larger declared snap length only makes pcapgo size its
		// buffers by it; no real packet record is that long.
		fr.pcap.SetSnaplen(maxSnaplen)
	}
	if err != nil {
		return nil, fmt.Errorf("%w: %s: %v", ErrFormat, name, err)
	}
	return fr, nil
}

func (f *fileReader) read() ([]byte, gopacket.CaptureInfo, layers.LinkType, error) {
	if f.pcap != nil {
		data, ci, err := f.pcap.ZeroCopyReadPacketData()
		return data, ci, f.pcap.LinkType(), err
	}
	data, ci, err := f.ng.ZeroCopyReadPacketData()
	if err != nil {
		return nil, ci, 0, err
	}
	i := ci.InterfaceIndex
	for len(f.links) <= i {
		intf, err := f.ng.Interface(len(f.links))
		if err != nil {
			return nil, ci, 0, fmt.Errorf("packet of unknown interface %d: %w", i, err)
		}
		f.links = append(f.links, intf.LinkType)
	}
	return data, ci, f.links[i], nil
}

func (f *fileReader) close() error {
	if f.closer != nil {
		err := f.closer.Close()
		f.closer = nil
		return err
	}
	return nil
}
