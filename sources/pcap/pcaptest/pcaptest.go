// Package pcaptest writes synthetic captures of MySQL traffic for tests:
// TCP connections (handshake, segments that can be split, reordered,
// retransmitted or dropped, FIN) in pcap or pcapng files, and builders for
// the MySQL packets of both directions (greeting, handshake response,
// queries, prepared statements with bound parameters, OK/ERR/EOF, result
// sets, the compressed protocol).
package pcaptest

import (
	"bytes"
	"compress/zlib"
	"encoding/binary"
	"io"
	"math"
	"net"
	"net/netip"
	"time"

	"github.com/gopacket/gopacket"
	"github.com/gopacket/gopacket/layers"
	"github.com/gopacket/gopacket/pcapgo"
	"github.com/klauspost/compress/zstd"
)

// Capture writes packets with a clock that only moves when told to.
type Capture struct {
	pcap *pcapgo.Writer
	ng   *pcapgo.NgWriter
	Now  time.Time
	// Packets written so far (the next packet's index).
	Packets int
	// Hold, when set, makes TCPConn.Write collect segments in Held
	// instead of writing them; WriteHeld writes them later, in any order.
	Hold bool
	Held []Held
}

// Held is a segment collected while Capture.Hold was set.
type Held struct {
	Conn *TCPConn
	Seg  Segment
	Time time.Time
}

// WriteHeld writes h at its own time.
func (c *Capture) WriteHeld(h Held) error {
	now := c.Now
	c.Now = h.Time
	err := h.Conn.write(h.Seg)
	c.Now = now
	return err
}

// NewCapture writes an Ethernet capture to w, pcapng if ng, starting at
// start. Call Flush at the end (pcapng buffers).
func NewCapture(w io.Writer, ng bool, start time.Time) (*Capture, error) {
	c := &Capture{Now: start}
	if ng {
		nw, err := pcapgo.NewNgWriter(w, layers.LinkTypeEthernet)
		if err != nil {
			return nil, err
		}
		c.ng = nw
		return c, nil
	}
	c.pcap = pcapgo.NewWriterNanos(w)
	if err := c.pcap.WriteFileHeader(1<<18, layers.LinkTypeEthernet); err != nil {
		return nil, err
	}
	return c, nil
}

// Advance moves the clock.
func (c *Capture) Advance(d time.Duration) { c.Now = c.Now.Add(d) }

// Flush flushes a pcapng writer.
func (c *Capture) Flush() error {
	if c.ng != nil {
		return c.ng.Flush()
	}
	return nil
}

// WriteRaw writes an arbitrary frame.
func (c *Capture) WriteRaw(frame []byte) error {
	ci := gopacket.CaptureInfo{Timestamp: c.Now, CaptureLength: len(frame), Length: len(frame)}
	c.Packets++
	if c.ng != nil {
		return c.ng.WritePacket(ci, frame)
	}
	return c.pcap.WritePacket(ci, frame)
}

// Dir is a direction of a connection.
type Dir int

// Directions.
const (
	ToServer Dir = iota
	ToClient
)

// Segment is one TCP segment, built but not yet written.
type Segment struct {
	Dir      Dir
	Seq, Ack uint32
	Payload  []byte
	SYN, FIN bool
	RST      bool
	ACK      bool
	// Snap, if > 0, cuts the written frame to this many bytes (a capture
	// with a small snap length).
	Snap int
}

// TCPConn is a TCP connection between Client and Server.
type TCPConn struct {
	Cap            *Capture
	Client, Server netip.AddrPort
	seq            [2]uint32 // next sequence number per direction
}

// Conn returns a connection; its initial sequence numbers are derived
// from the ports so that connections differ.
func (c *Capture) Conn(client, server netip.AddrPort) *TCPConn {
	return &TCPConn{Cap: c, Client: client, Server: server,
		seq: [2]uint32{uint32(client.Port())*7919 + 1000, 0xfffff000 - uint32(client.Port())}}
}

// Handshake writes SYN, SYN-ACK, ACK.
func (t *TCPConn) Handshake() {
	t.Write(Segment{Dir: ToServer, Seq: t.seq[0], SYN: true})
	t.seq[0]++
	t.Write(Segment{Dir: ToClient, Seq: t.seq[1], Ack: t.seq[0], SYN: true, ACK: true})
	t.seq[1]++
	t.Write(Segment{Dir: ToServer, Seq: t.seq[0], Ack: t.seq[1], ACK: true})
}

// Segments cuts payload into segments of the given sizes (the last size
// repeats; none means one segment), advancing the sequence number.
func (t *TCPConn) Segments(dir Dir, payload []byte, sizes ...int) []Segment {
	var out []Segment
	for len(payload) > 0 {
		n := len(payload)
		if len(sizes) > 0 {
			n = min(n, sizes[0])
			if len(sizes) > 1 {
				sizes = sizes[1:]
			}
		}
		out = append(out, Segment{Dir: dir, Seq: t.seq[dir], Ack: t.seq[1-dir], ACK: true, Payload: payload[:n]})
		t.seq[dir] += uint32(n)
		payload = payload[n:]
	}
	return out
}

// Send writes payload in dir as segments of the given sizes.
func (t *TCPConn) Send(dir Dir, payload []byte, sizes ...int) {
	for _, s := range t.Segments(dir, payload, sizes...) {
		t.Write(s)
	}
}

// Skip advances dir's sequence number by n bytes never written (bytes
// the capture lost).
func (t *TCPConn) Skip(dir Dir, n int) { t.seq[dir] += uint32(n) }

// Close writes FIN from both sides and the last ACK.
func (t *TCPConn) Close() {
	t.Write(Segment{Dir: ToServer, Seq: t.seq[0], Ack: t.seq[1], FIN: true, ACK: true})
	t.seq[0]++
	t.Write(Segment{Dir: ToClient, Seq: t.seq[1], Ack: t.seq[0], FIN: true, ACK: true})
	t.seq[1]++
	t.Write(Segment{Dir: ToServer, Seq: t.seq[0], Ack: t.seq[1], ACK: true})
}

// Write writes one segment as an Ethernet/IP/TCP frame at the clock's time
// (or holds it, see Capture.Hold).
func (t *TCPConn) Write(s Segment) error {
	if t.Cap.Hold {
		t.Cap.Held = append(t.Cap.Held, Held{Conn: t, Seg: s, Time: t.Cap.Now})
		return nil
	}
	return t.write(s)
}

func (t *TCPConn) write(s Segment) error {
	src, dst := t.Client, t.Server
	if s.Dir == ToClient {
		src, dst = t.Server, t.Client
	}
	tcp := &layers.TCP{SrcPort: layers.TCPPort(src.Port()), DstPort: layers.TCPPort(dst.Port()),
		Seq: s.Seq, Ack: s.Ack, SYN: s.SYN, FIN: s.FIN, RST: s.RST, ACK: s.ACK, Window: 65535, DataOffset: 5}
	eth := &layers.Ethernet{SrcMAC: net.HardwareAddr{2, 0, 0, 0, 0, 1}, DstMAC: net.HardwareAddr{2, 0, 0, 0, 0, 2}}
	var ipLayer gopacket.SerializableLayer
	if src.Addr().Is4() {
		eth.EthernetType = layers.EthernetTypeIPv4
		ip := &layers.IPv4{Version: 4, TTL: 64, Protocol: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice(), Flags: layers.IPv4DontFragment}
		tcp.SetNetworkLayerForChecksum(ip)
		ipLayer = ip
	} else {
		eth.EthernetType = layers.EthernetTypeIPv6
		ip := &layers.IPv6{Version: 6, HopLimit: 64, NextHeader: layers.IPProtocolTCP, SrcIP: src.Addr().AsSlice(), DstIP: dst.Addr().AsSlice()}
		tcp.SetNetworkLayerForChecksum(ip)
		ipLayer = ip
	}
	buf := gopacket.NewSerializeBuffer()
	if err := gopacket.SerializeLayers(buf, gopacket.SerializeOptions{FixLengths: true, ComputeChecksums: true},
		eth, ipLayer, tcp, gopacket.Payload(s.Payload)); err != nil {
		return err
	}
	frame := buf.Bytes()
	c := t.Cap
	ci := gopacket.CaptureInfo{Timestamp: c.Now, CaptureLength: len(frame), Length: len(frame)}
	if s.Snap > 0 && s.Snap < len(frame) {
		frame = frame[:s.Snap]
		ci.CaptureLength = s.Snap
	}
	c.Packets++
	if c.ng != nil {
		return c.ng.WritePacket(ci, frame)
	}
	return c.pcap.WritePacket(ci, frame)
}

// --- MySQL packets -----------------------------------------------------

// Capability flags used by the builders.
const (
	CapLongPassword     = 1 << 0
	CapConnectWithDB    = 1 << 3
	CapCompress         = 1 << 5
	CapProtocol41       = 1 << 9
	CapSSL              = 1 << 11
	CapSecureConnection = 1 << 15
	CapMultiStatements  = 1 << 16
	CapMultiResults     = 1 << 17
	CapPluginAuth       = 1 << 19
	CapPluginAuthLenenc = 1 << 21
	CapSessionTrack     = 1 << 23
	CapDeprecateEOF     = 1 << 24
	CapZstd             = 1 << 26
	CapQueryAttributes  = 1 << 27

	// BaseCaps is what a modern client and server both set.
	BaseCaps = CapLongPassword | CapProtocol41 | CapSecureConnection | CapMultiStatements |
		CapMultiResults | CapPluginAuth | CapPluginAuthLenenc
)

// Packets frames payloads as consecutive packets starting at sequence id
// seq (payloads of 16 MiB − 1 or more are split into continuation packets).
func Packets(seq byte, payloads ...[]byte) []byte {
	var out []byte
	for _, p := range payloads {
		for {
			n := min(len(p), 0xffffff)
			out = append(out, byte(n), byte(n>>8), byte(n>>16), seq)
			out = append(out, p[:n]...)
			seq++
			p = p[n:]
			if n < 0xffffff {
				break
			}
		}
	}
	return out
}

// Compress wraps stream (framed MySQL packets) in one compressed-protocol
// packet with compressed sequence id cseq; algo is "zlib", "zstd" or ""
// (stored uncompressed).
func Compress(cseq byte, stream []byte, algo string) []byte {
	body, ulen := stream, 0
	switch algo {
	case "zlib":
		var b bytes.Buffer
		zw := zlib.NewWriter(&b)
		zw.Write(stream)
		zw.Close()
		body, ulen = b.Bytes(), len(stream)
	case "zstd":
		enc, _ := zstd.NewWriter(nil, zstd.WithEncoderConcurrency(1))
		body, ulen = enc.EncodeAll(stream, nil), len(stream)
		enc.Close()
	}
	n := len(body)
	out := []byte{byte(n), byte(n >> 8), byte(n >> 16), cseq, byte(ulen), byte(ulen >> 8), byte(ulen >> 16)}
	return append(out, body...)
}

func lenenc(dst []byte, v uint64) []byte {
	switch {
	case v < 251:
		return append(dst, byte(v))
	case v < 1<<16:
		return append(dst, 0xfc, byte(v), byte(v>>8))
	case v < 1<<24:
		return append(dst, 0xfd, byte(v), byte(v>>8), byte(v>>16))
	}
	return binary.LittleEndian.AppendUint64(append(dst, 0xfe), v)
}

func lenencStr(dst []byte, s string) []byte { return append(lenenc(dst, uint64(len(s))), s...) }

// Greeting is a protocol-10 server greeting with capabilities caps; for a
// MariaDB server (no CLIENT_LONG_PASSWORD) mariaExt are the extended
// capabilities.
func Greeting(version string, caps uint32, mariaExt uint32) []byte {
	p := []byte{10}
	p = append(p, version...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 42) // thread id
	p = append(p, "abcdefgh"...)                // auth data part 1
	p = append(p, 0)                            // filler
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 45)                          // charset
	p = binary.LittleEndian.AppendUint16(p, 2) // status
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)                                 // auth data length
	p = append(p, 0, 0, 0, 0, 0, 0)                   // reserved
	p = binary.LittleEndian.AppendUint32(p, mariaExt) // MariaDB ext caps or reserved
	p = append(p, "ijklmnopqrst"...)
	p = append(p, 0)
	return append(append(p, "mysql_native_password"...), 0)
}

// HandshakeResponse is a HandshakeResponse41 for user and (if caps has
// CapConnectWithDB) db. mariaExt goes in the reserved bytes.
func HandshakeResponse(caps uint32, mariaExt uint32, user, db string) []byte {
	p := binary.LittleEndian.AppendUint32(nil, caps)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 45)
	p = append(p, make([]byte, 19)...)
	p = binary.LittleEndian.AppendUint32(p, mariaExt)
	p = append(append(p, user...), 0)
	auth := "01234567890123456789"
	if caps&CapPluginAuthLenenc != 0 {
		p = lenencStr(p, auth)
	} else {
		p = append(append(p, byte(len(auth))), auth...)
	}
	if caps&CapConnectWithDB != 0 {
		p = append(append(p, db...), 0)
	}
	if caps&CapPluginAuth != 0 {
		p = append(append(p, "mysql_native_password"...), 0)
	}
	if caps&CapZstd != 0 {
		p = append(p, 3)
	}
	return p
}

// SSLRequest is the 32-byte packet a client sends before TLS.
func SSLRequest(caps uint32) []byte {
	p := binary.LittleEndian.AppendUint32(nil, caps|CapSSL)
	p = binary.LittleEndian.AppendUint32(p, 1<<24)
	p = append(p, 45)
	return append(p, make([]byte, 23)...)
}

// OK is an OK packet (header 0x00).
func OK(affected, insertID uint64, status uint16) []byte {
	p := lenenc([]byte{0}, affected)
	p = lenenc(p, insertID)
	p = binary.LittleEndian.AppendUint16(p, status)
	return binary.LittleEndian.AppendUint16(p, 0)
}

// OKSchema is an OK packet with a session-tracking schema change (needs
// CapSessionTrack).
func OKSchema(status uint16, schema string) []byte {
	p := lenenc([]byte{0}, 0)
	p = lenenc(p, 0)
	p = binary.LittleEndian.AppendUint16(p, status|0x4000)
	p = binary.LittleEndian.AppendUint16(p, 0)
	p = lenencStr(p, "") // info
	item := lenencStr(nil, schema)
	state := lenencStr([]byte{1}, string(item))
	return lenencStr(p, string(state))
}

// EOFOK is the OK packet that ends rows under CLIENT_DEPRECATE_EOF.
func EOFOK(status uint16) []byte {
	p := OK(0, 0, status)
	p[0] = 0xfe
	return p
}

// EOF is a classic EOF packet.
func EOF(status uint16) []byte {
	return binary.LittleEndian.AppendUint16([]byte{0xfe, 0, 0}, status)
}

// ERR is an ERR packet.
func ERR(code uint16, state, msg string) []byte {
	p := binary.LittleEndian.AppendUint16([]byte{0xff}, code)
	p = append(append(p, '#'), state...)
	return append(p, msg...)
}

// ColumnDef is a protocol-4.1 column definition.
func ColumnDef(name string) []byte {
	p := lenencStr(nil, "def")
	for _, s := range []string{"db", "t", "t", name, name} {
		p = lenencStr(p, s)
	}
	p = append(p, 0x0c)
	p = binary.LittleEndian.AppendUint16(p, 45)
	p = binary.LittleEndian.AppendUint32(p, 255)
	p = append(p, 0xfd, 0, 0, 0)
	return append(p, 0, 0)
}

// TextRow is a text-protocol row (nil values are not supported; use "").
func TextRow(vals ...string) []byte {
	var p []byte
	for _, v := range vals {
		p = lenencStr(p, v)
	}
	return p
}

// BinaryRow is a binary-protocol row of string columns.
func BinaryRow(vals ...string) []byte {
	p := []byte{0}
	p = append(p, make([]byte, (len(vals)+7+2)/8)...)
	for _, v := range vals {
		p = lenencStr(p, v)
	}
	return p
}

// ResultSet returns the packets of a result set with the named columns and
// rows (text protocol unless binary), ended per deprecateEOF, with status
// in the final packet.
func ResultSet(cols []string, rows [][]string, binaryRows, deprecateEOF bool, status uint16) [][]byte {
	out := [][]byte{lenenc(nil, uint64(len(cols)))}
	for _, c := range cols {
		out = append(out, ColumnDef(c))
	}
	if !deprecateEOF {
		out = append(out, EOF(2))
	}
	for _, r := range rows {
		if binaryRows {
			out = append(out, BinaryRow(r...))
		} else {
			out = append(out, TextRow(r...))
		}
	}
	if deprecateEOF {
		return append(out, EOFOK(status))
	}
	return append(out, EOF(status))
}

// Query is a COM_QUERY packet payload.
func Query(sql string) []byte { return append([]byte{0x03}, sql...) }

// InitDB is a COM_INIT_DB payload.
func InitDB(db string) []byte { return append([]byte{0x02}, db...) }

// Command is a payload of a command byte and arguments.
func Command(cmd byte, args ...byte) []byte { return append([]byte{cmd}, args...) }

// Prepare is a COM_STMT_PREPARE payload.
func Prepare(sql string) []byte { return append([]byte{0x16}, sql...) }

// PrepareOK is the first packet of a prepare response.
func PrepareOK(id uint32, cols, params uint16) []byte {
	p := binary.LittleEndian.AppendUint32([]byte{0}, id)
	p = binary.LittleEndian.AppendUint16(p, cols)
	p = binary.LittleEndian.AppendUint16(p, params)
	return append(p, 0, 0, 0)
}

// PrepareResponse is the complete prepare response.
func PrepareResponse(id uint32, cols, params int, deprecateEOF bool) [][]byte {
	out := [][]byte{PrepareOK(id, uint16(cols), uint16(params))}
	for i := 0; i < params; i++ {
		out = append(out, ColumnDef("?"))
	}
	if params > 0 && !deprecateEOF {
		out = append(out, EOF(2))
	}
	for i := 0; i < cols; i++ {
		out = append(out, ColumnDef("c"))
	}
	if cols > 0 && !deprecateEOF {
		out = append(out, EOF(2))
	}
	return out
}

// Param is a bound parameter of Execute: Type is a MYSQL_TYPE_* with 0x8000
// for unsigned; Value its binary encoding (see the helpers); Null for NULL.
type Param struct {
	Type  uint16
	Value []byte
	Null  bool
}

// Parameter helpers.
func Int64(v int64) Param {
	return Param{Type: 0x08, Value: binary.LittleEndian.AppendUint64(nil, uint64(v))}
}

// Int32 is a MYSQL_TYPE_LONG parameter.
func Int32(v int32) Param {
	return Param{Type: 0x03, Value: binary.LittleEndian.AppendUint32(nil, uint32(v))}
}

// Uint8 is an unsigned MYSQL_TYPE_TINY parameter.
func Uint8(v uint8) Param { return Param{Type: 0x8001, Value: []byte{v}} }

// Double is a MYSQL_TYPE_DOUBLE parameter.
func Double(f float64) Param {
	return Param{Type: 0x05, Value: binary.LittleEndian.AppendUint64(nil, math.Float64bits(f))}
}

// String is a MYSQL_TYPE_VAR_STRING parameter.
func String(s string) Param { return Param{Type: 0xfd, Value: lenencStr(nil, s)} }

// DateTime is a MYSQL_TYPE_DATETIME parameter (microseconds included when
// non-zero).
func DateTime(t time.Time) Param {
	v := binary.LittleEndian.AppendUint16(nil, uint16(t.Year()))
	v = append(v, byte(t.Month()), byte(t.Day()), byte(t.Hour()), byte(t.Minute()), byte(t.Second()))
	if us := t.Nanosecond() / 1000; us != 0 {
		v = binary.LittleEndian.AppendUint32(v, uint32(us))
	}
	return Param{Type: 0x0c, Value: append([]byte{byte(len(v))}, v...)}
}

// Null is a NULL parameter.
func Null() Param { return Param{Type: 0x06, Null: true} }

// Execute is a COM_STMT_EXECUTE payload; bind says whether the parameter
// types are sent (new-params-bound flag).
func Execute(id uint32, params []Param, bind bool) []byte {
	p := binary.LittleEndian.AppendUint32([]byte{0x17}, id)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint32(p, 1)
	if len(params) == 0 {
		return p
	}
	nulls := make([]byte, (len(params)+7)/8)
	for i, pr := range params {
		if pr.Null {
			nulls[i/8] |= 1 << (i % 8)
		}
	}
	p = append(p, nulls...)
	if bind {
		p = append(p, 1)
		for _, pr := range params {
			p = binary.LittleEndian.AppendUint16(p, pr.Type)
		}
	} else {
		p = append(p, 0)
	}
	for _, pr := range params {
		if !pr.Null {
			p = append(p, pr.Value...)
		}
	}
	return p
}

// Close is a COM_STMT_CLOSE payload.
func Close(id uint32) []byte { return binary.LittleEndian.AppendUint32([]byte{0x19}, id) }

// SendLongData is a COM_STMT_SEND_LONG_DATA payload.
func SendLongData(id uint32, param uint16, data string) []byte {
	p := binary.LittleEndian.AppendUint32([]byte{0x18}, id)
	p = binary.LittleEndian.AppendUint16(p, param)
	return append(p, data...)
}

// Session writes MySQL exchanges on a TCP connection.
type Session struct {
	T *TCPConn
	// Compress is the compressed protocol used after authentication:
	// "" (none), "zlib", "zstd" or "stored" (compressed framing with
	// uncompressed payloads).
	Compress string
	// Latency is the time between a request and its response; Think the
	// time after a response. Defaults 1ms and 10ms.
	Latency, Think time.Duration
	// Sizes, if set, cuts every write into segments of these sizes.
	Sizes []int
	on    bool // compression active
}

func (s *Session) frame(seq byte, payloads [][]byte) []byte {
	return s.wrap(seq, Packets(seq, payloads...))
}

func (s *Session) wrap(seq byte, raw []byte) []byte {
	if !s.on {
		return raw
	}
	algo := s.Compress
	if algo == "stored" {
		algo = ""
	}
	return Compress(seq, raw, algo)
}

func (s *Session) latency() time.Duration {
	if s.Latency == 0 {
		return time.Millisecond
	}
	return s.Latency
}

func (s *Session) think() time.Duration {
	if s.Think == 0 {
		return 10 * time.Millisecond
	}
	return s.Think
}

// Connect writes the TCP handshake, the greeting, the handshake response
// and the authentication OK; compression starts after it if s.Compress is
// set (the caller puts CapCompress in the capabilities).
func (s *Session) Connect(greeting, response []byte) {
	s.T.Handshake()
	c := s.T.Cap
	s.T.Send(ToClient, Packets(0, greeting), s.Sizes...)
	c.Advance(100 * time.Microsecond)
	s.T.Send(ToServer, Packets(1, response), s.Sizes...)
	c.Advance(100 * time.Microsecond)
	s.T.Send(ToClient, Packets(2, OK(0, 0, 2)), s.Sizes...)
	c.Advance(s.think())
	s.on = s.Compress != ""
}

// Exchange writes a command and its response packets, s.Latency apart.
func (s *Session) Exchange(req []byte, resp ...[]byte) {
	s.Request(req)
	s.Response(resp...)
}

// Request writes commands (each with sequence id 0; several are
// pipelined in one write).
func (s *Session) Request(req ...[]byte) {
	var raw []byte
	for _, r := range req {
		raw = append(raw, Packets(0, r)...)
	}
	s.T.Send(ToServer, s.wrap(0, raw), s.Sizes...)
	s.T.Cap.Advance(s.latency())
}

// Response writes response packets (sequence ids from 1).
func (s *Session) Response(resp ...[]byte) {
	if len(resp) > 0 {
		s.T.Send(ToClient, s.frame(1, resp), s.Sizes...)
	}
	s.T.Cap.Advance(s.think())
}
