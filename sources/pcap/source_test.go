package pcap

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/pcap/mysqlproto"
	pt "github.com/das-project/das/sources/pcap/pcaptest"
	"github.com/das-project/das/stream"
)

var (
	t0     = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	server = netip.MustParseAddrPort("10.0.0.1:3306")
	client = netip.MustParseAddrPort("10.0.0.9:50001")
)

// got is an event reduced to what the tests compare.
type got struct {
	TsMs      int64
	Instance  string
	DB, User  string
	SQL       string
	LatencyUs int64
	Rows      int64
	Affected  int64
	Err       int32
}

func (g got) String() string {
	return fmt.Sprintf("%s db=%q user=%q lat=%dus rows=%d aff=%d err=%d %q", g.Instance, g.DB, g.User, g.LatencyUs, g.Rows, g.Affected, g.Err, g.SQL)
}

type result struct {
	events  []got
	offsets []int64
	rejects []stream.Reject
	stats   Stats
}

// run reads a capture to its end.
func run(t testing.TB, capture []byte, opts Options, resume int64) result {
	t.Helper()
	s, err := New(bytes.NewReader(capture), "test.pcap", opts)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := context.Background()
	if err := s.Open(ctx, map[int32]int64{0: resume}); err != nil {
		t.Fatal(err)
	}
	var r result
	last := int64(-1)
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		for i, ev := range b.Items {
			r.events = append(r.events, got{ev.TsMs, ev.Instance, ev.DB, ev.User, string(ev.SQL), ev.LatencyUs, ev.RowsSent, ev.RowsAffected, ev.ErrCode})
			r.offsets = append(r.offsets, b.ItemOffsets[i])
			if b.ItemOffsets[i] < last || b.ItemOffsets[i] >= b.NextOffset {
				t.Fatalf("item offset %d out of order (last %d, next %d)", b.ItemOffsets[i], last, b.NextOffset)
			}
			last = b.ItemOffsets[i]
		}
		for _, rj := range b.Rejects {
			rj.Raw = bytes.Clone(rj.Raw)
			r.rejects = append(r.rejects, rj)
		}
	}
	r.stats = s.Stats()
	return r
}

func newCapture(t testing.TB, ng bool) (*pt.Capture, *bytes.Buffer) {
	t.Helper()
	var buf bytes.Buffer
	c, err := pt.NewCapture(&buf, ng, t0)
	if err != nil {
		t.Fatal(err)
	}
	return c, &buf
}

func flush(t testing.TB, c *pt.Capture, buf *bytes.Buffer) []byte {
	t.Helper()
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// variant is one way of writing the standard session.
type variant struct {
	name         string
	ng           bool
	ipv6         bool
	deprecateEOF bool
	compress     string // "", zlib, zstd, stored
	mariadb      bool
	sizes        []int
}

// standardSession writes a connection exercising every statement kind and
// returns the events it must give.
func standardSession(c *pt.Capture, v variant, cli, srv netip.AddrPort) []got {
	caps := uint32(pt.BaseCaps | pt.CapConnectWithDB)
	if v.deprecateEOF {
		caps |= pt.CapDeprecateEOF
	}
	if v.compress != "" {
		caps |= pt.CapCompress
		if v.compress == "zstd" {
			caps |= pt.CapZstd
		}
	}
	var ext uint32
	if v.mariadb {
		caps &^= pt.CapLongPassword
		ext = 1 << 2 // MARIADB_CLIENT_STMT_BULK_OPERATIONS
	}
	s := &pt.Session{T: c.Conn(cli, srv), Compress: v.compress, Latency: 1500 * time.Microsecond, Sizes: v.sizes}
	s.Connect(pt.Greeting("10.11.6-MariaDB", caps, ext), pt.HandshakeResponse(caps, ext, "app", "shop"))
	dep := v.deprecateEOF
	inst := srv.String()
	var want []got
	ts := func() int64 { return c.Now.UnixMilli() }
	add := func(db, sql string, rows, aff int64, err int32) {
		want = append(want, got{ts(), inst, db, "app", sql, 1500, rows, aff, err})
	}

	add("shop", "SELECT id, name FROM users WHERE id IN (1,2,3)", 3, 0, 0)
	s.Exchange(pt.Query("SELECT id, name FROM users WHERE id IN (1,2,3)"),
		pt.ResultSet([]string{"id", "name"}, [][]string{{"1", "a"}, {"2", "b"}, {"3", "c"}}, false, dep, 2)...)

	add("shop", "INSERT INTO t VALUES (1),(2)", 0, 2, 0)
	s.Exchange(pt.Query("INSERT INTO t VALUES (1),(2)"), pt.OK(2, 7, 2))

	add("shop", "SELECT * FROM missing", 0, 0, 1146)
	s.Exchange(pt.Query("SELECT * FROM missing"), pt.ERR(1146, "42S02", "Table 'shop.missing' doesn't exist"))

	add("shop", "SELECT 1", 0, 0, 0) // empty result set
	s.Exchange(pt.Query("SELECT 1"), pt.ResultSet([]string{"1"}, nil, false, dep, 2)...)

	// Like the slow log, a USE statement is reported in the schema it
	// switched to.
	add("other db", "/* x */ USE `other db`", 0, 0, 0)
	s.Exchange(pt.Query("/* x */ USE `other db`"), pt.OK(0, 0, 2))
	add("other db", "SELECT 2", 1, 0, 0)
	s.Exchange(pt.Query("SELECT 2"), pt.ResultSet([]string{"2"}, [][]string{{"2"}}, false, dep, 2)...)

	s.Exchange(pt.InitDB("third"), pt.OK(0, 0, 2))
	s.Exchange(pt.InitDB("nope"), pt.ERR(1049, "42000", "Unknown database 'nope'"))
	s.Exchange(pt.Command(0x0e), pt.OK(0, 0, 2)) // ping

	// Multi-statement: two result sets and an OK, one event.
	add("third", "SELECT 1; SELECT 2; UPDATE t SET a=1", 2, 5, 0)
	multi := pt.ResultSet([]string{"1"}, [][]string{{"1"}}, false, dep, 2|8)
	multi = append(multi, pt.ResultSet([]string{"2"}, [][]string{{"2"}}, false, dep, 2|8)...)
	multi = append(multi, pt.OK(5, 0, 2))
	s.Exchange(pt.Query("SELECT 1; SELECT 2; UPDATE t SET a=1"), multi...)

	// Prepared statements.
	s.Exchange(pt.Prepare("SELECT * FROM t WHERE id = ? AND name = ? AND d = ? -- why?\n AND x = '?'"),
		pt.PrepareResponse(7, 2, 3, dep)...)
	add("third", "SELECT * FROM t WHERE id = -42 AND name = 'o\\'k' AND d = '2026-01-02 03:04:05.250000' -- why?\n AND x = '?'", 2, 0, 0)
	s.Exchange(pt.Execute(7, []pt.Param{pt.Int64(-42), pt.String("o'k"), pt.DateTime(time.Date(2026, 1, 2, 3, 4, 5, 250e6, time.UTC))}, true),
		pt.ResultSet([]string{"a", "b"}, [][]string{{"x", "y"}, {"z", "w"}}, true, dep, 2)...)
	// Types remembered from the first execute.
	add("third", "SELECT * FROM t WHERE id = 7 AND name = NULL AND d = '2026-01-02 03:04:05.250000' -- why?\n AND x = '?'", 0, 0, 0)
	s.Exchange(pt.Execute(7, []pt.Param{pt.Int64(7), pt.Null(), pt.DateTime(time.Date(2026, 1, 2, 3, 4, 5, 250e6, time.UTC))}, false),
		pt.ResultSet([]string{"a", "b"}, nil, true, dep, 2)...)
	s.Exchange(pt.Prepare("UPDATE t SET v = ? WHERE id = ?"), pt.PrepareResponse(8, 0, 2, dep)...)
	// A long-data parameter.
	s.Request(pt.SendLongData(8, 0, "big "), pt.SendLongData(8, 0, "blob"))
	add("third", "UPDATE t SET v = 'big blob' WHERE id = 3.5", 0, 1, 0)
	s.Exchange(pt.Execute(8, []pt.Param{{Type: 0xfc}, pt.Double(3.5)}, true), pt.OK(1, 0, 2))
	add("third", "UPDATE t SET v = 255 WHERE id = 1", 0, 0, 1062)
	s.Exchange(pt.Execute(8, []pt.Param{pt.Uint8(255), pt.Int32(1)}, true), pt.ERR(1062, "23000", "Duplicate entry"))
	s.Request(pt.Close(7))
	s.Request(pt.Close(8))
	// Pipelined: two queries in one write, both responses in one write.
	add("third", "SELECT 'a'", 1, 0, 0)
	add("third", "DO 1", 0, 0, 0)
	want[len(want)-1].LatencyUs = 1500
	s.Request(pt.Query("SELECT 'a'"), pt.Query("DO 1"))
	resp := pt.ResultSet([]string{"a"}, [][]string{{"a"}}, false, dep, 2)
	s.Response(resp...)
	// The second response shares the first's segment: write it as its own
	// exchange-less response right after (sequence ids restart at 1).
	s.Response(pt.OK(0, 0, 2))
	want[len(want)-1].LatencyUs += 10000 // think time of the first Response
	s.Request(pt.Command(0x01))          // quit
	s.T.Close()
	return want
}

func standardVariants() []variant {
	return []variant{
		{name: "pcap"},
		{name: "pcapng", ng: true},
		{name: "deprecate_eof", deprecateEOF: true},
		{name: "ipv6", ipv6: true},
		{name: "mariadb_ext", mariadb: true, deprecateEOF: true},
		{name: "zlib", compress: "zlib"},
		{name: "zstd", compress: "zstd", deprecateEOF: true},
		{name: "stored", compress: "stored"},
		{name: "tiny_segments", sizes: []int{3}},
		{name: "zlib_tiny_segments", compress: "zlib", sizes: []int{1, 5, 2}},
	}
}

func addrs(v variant) (netip.AddrPort, netip.AddrPort) {
	if v.ipv6 {
		return netip.MustParseAddrPort("[fd00::9]:50001"), netip.MustParseAddrPort("[fd00::1]:3306")
	}
	return client, server
}

func diff(t *testing.T, want, have []got) {
	t.Helper()
	n := max(len(want), len(have))
	bad := 0
	for i := 0; i < n; i++ {
		var w, h string
		if i < len(want) {
			w = want[i].String() + fmt.Sprintf(" ts=%d", want[i].TsMs)
		}
		if i < len(have) {
			h = have[i].String() + fmt.Sprintf(" ts=%d", have[i].TsMs)
		}
		if w != h {
			t.Errorf("event %d:\n want %s\n have %s", i, w, h)
			if bad++; bad > 5 {
				return
			}
		}
	}
}

func TestStandardSession(t *testing.T) {
	for _, v := range standardVariants() {
		t.Run(v.name, func(t *testing.T) {
			c, buf := newCapture(t, v.ng)
			cli, srv := addrs(v)
			want := standardSession(c, v, cli, srv)
			r := run(t, flush(t, c, buf), Options{}, 0)
			diff(t, want, r.events)
			if len(r.rejects) != 0 {
				t.Errorf("rejects: %+v", r.rejects)
			}
			p := r.stats.Protocol
			for cmd, n := range map[byte]uint64{mysqlproto.ComQuery: 9, mysqlproto.ComStmtPrepare: 2, mysqlproto.ComStmtExecute: 4,
				mysqlproto.ComStmtClose: 2, mysqlproto.ComStmtSendLongData: 2, mysqlproto.ComPing: 1, mysqlproto.ComInitDB: 2, mysqlproto.ComQuit: 1} {
				if p.Commands[cmd] != n {
					t.Errorf("%s commands: %d, want %d", mysqlproto.CommandName(cmd), p.Commands[cmd], n)
				}
			}
			if p.LostResponses != 0 || p.OrphanResponses != 0 || p.Statements != uint64(len(want)) || p.StatementErrors != 2 || p.Handshakes != 1 {
				t.Errorf("protocol stats: %+v", p)
			}
			if (v.compress != "") != (p.Compressed == 1) || (v.compress == "zstd") != (p.ZstdPackets > 0) {
				t.Errorf("compressed %d, zstd packets %d for %q", p.Compressed, p.ZstdPackets, v.compress)
			}
			if r.stats.Connections != 1 || r.stats.Gaps != 0 {
				t.Errorf("stats: %+v", r.stats)
			}
		})
	}
}

// held writes the standard session with every segment held, then writes
// the segments as reorder says.
func heldCapture(t testing.TB, v variant, reorder func(h []pt.Held) []pt.Held) ([]byte, []got) {
	c, buf := newCapture(t, v.ng)
	c.Hold = true
	cli, srv := addrs(v)
	want := standardSession(c, v, cli, srv)
	c.Hold = false
	for _, h := range reorder(c.Held) {
		if err := c.WriteHeld(h); err != nil {
			t.Fatal(err)
		}
	}
	return flush(t, c, buf), want
}

// shuffleRuns reorders, duplicates and re-splits segments within runs of
// one direction (what a capture can show: segments of one direction out of
// order and retransmitted, never a response before its request).
func shuffleRuns(rng *rand.Rand, h []pt.Held) []pt.Held {
	var out []pt.Held
	for i := 0; i < len(h); {
		j := i + 1
		for j < len(h) && h[j].Seg.Dir == h[i].Seg.Dir && !h[j].Seg.SYN && !h[j].Seg.FIN && !h[i].Seg.SYN && !h[i].Seg.FIN {
			j++
		}
		run := append([]pt.Held(nil), h[i:j]...)
		var extra []pt.Held
		for _, x := range run {
			if len(x.Seg.Payload) > 1 && rng.IntN(4) == 0 {
				// A retransmission overlapping x's tail and nothing else.
				k := 1 + rng.IntN(len(x.Seg.Payload)-1)
				y := x
				y.Seg.Seq += uint32(k)
				y.Seg.Payload = x.Seg.Payload[k:]
				extra = append(extra, y)
			}
			if rng.IntN(5) == 0 {
				extra = append(extra, x) // duplicate
			}
		}
		run = append(run, extra...)
		rng.Shuffle(len(run), func(a, b int) { run[a], run[b] = run[b], run[a] })
		// The latest time of the run goes to every segment delivered after
		// its bytes could be complete: keep each segment's own time (what
		// a capture records).
		out = append(out, run...)
		i = j
	}
	return out
}

// TestReassemblyInvariance: reordered, duplicated and overlapping segments
// of one direction give exactly the events of the clean capture.
func TestReassemblyInvariance(t *testing.T) {
	for seed := uint64(1); seed <= 20; seed++ {
		v := standardVariants()[seed%uint64(len(standardVariants()))]
		v.sizes = []int{1 + int(seed%7), 2 + int(seed%13)}
		t.Run(fmt.Sprintf("seed%d_%s", seed, v.name), func(t *testing.T) {
			rng := rand.New(rand.NewPCG(seed, 99))
			capture, want := heldCapture(t, v, func(h []pt.Held) []pt.Held { return shuffleRuns(rng, h) })
			r := run(t, capture, Options{}, 0)
			// Latency and time come from the segment that completed the
			// request or started the response, which reordering may change
			// only within the run's times; compare everything else exactly
			// and times within the run's spread.
			if len(r.events) != len(want) {
				diff(t, want, r.events)
				return
			}
			for i := range want {
				w, h := want[i], r.events[i]
				w.TsMs, h.TsMs, w.LatencyUs, h.LatencyUs = 0, 0, 0, 0
				if w != h {
					t.Errorf("event %d:\n want %s\n have %s", i, w, h)
				}
			}
			if r.stats.Protocol.LostResponses != 0 || r.stats.Gaps != 0 || len(r.rejects) != 0 {
				t.Errorf("stats %+v rejects %v", r.stats, r.rejects)
			}
		})
	}
}

// TestLossResync: bytes the capture missed (acknowledged by the peer) cost
// only the statements they carried; the connection resynchronises.
func TestLossResync(t *testing.T) {
	for _, dir := range []pt.Dir{pt.ToServer, pt.ToClient} {
		for _, comp := range []string{"", "zlib"} {
			t.Run(fmt.Sprintf("dir%d_%q", dir, comp), func(t *testing.T) {
				c, buf := newCapture(t, false)
				caps := uint32(pt.BaseCaps | pt.CapConnectWithDB)
				if comp != "" {
					caps |= pt.CapCompress
				}
				s := &pt.Session{T: c.Conn(client, server), Compress: comp}
				s.Connect(pt.Greeting("8.0.36", caps, 0), pt.HandshakeResponse(caps, 0, "u", "d"))
				s.Exchange(pt.Query("SELECT 1"), pt.OK(0, 0, 2))
				// The lost exchange: one direction's bytes never captured.
				lostReq := pt.Packets(0, pt.Query("SELECT lost"))
				lostResp := pt.Packets(1, pt.ResultSet([]string{"a"}, [][]string{{"1"}, {"2"}}, false, false, 2)...)
				if comp != "" {
					lostReq, lostResp = pt.Compress(0, lostReq, "zlib"), pt.Compress(1, lostResp, "zlib")
				}
				if dir == pt.ToServer {
					s.T.Skip(pt.ToServer, len(lostReq))
					c.Advance(time.Millisecond)
					s.T.Send(pt.ToClient, lostResp)
				} else {
					s.T.Send(pt.ToServer, lostReq)
					c.Advance(time.Millisecond)
					s.T.Skip(pt.ToClient, len(lostResp))
				}
				c.Advance(10 * time.Millisecond)
				for i := 0; i < 3; i++ {
					s.Exchange(pt.Query(fmt.Sprintf("SELECT %d", i+10)), pt.ResultSet([]string{"a"}, [][]string{{"1"}}, false, false, 2)...)
				}
				s.T.Close()
				r := run(t, flush(t, c, buf), Options{}, 0)
				var sqls []string
				for _, e := range r.events {
					sqls = append(sqls, e.SQL)
					if e.DB != "d" || e.User != "u" || (e.SQL != "SELECT 1" && e.Rows != 1) {
						t.Errorf("event %s", e)
					}
				}
				if got := strings.Join(sqls, "|"); got != "SELECT 1|SELECT 10|SELECT 11|SELECT 12" {
					t.Errorf("statements %s", got)
				}
				if r.stats.Gaps != 1 || r.stats.AckGaps != 1 {
					t.Errorf("gaps %d ack gaps %d", r.stats.Gaps, r.stats.AckGaps)
				}
			})
		}
	}
}

// TestMidStream: a capture that starts after the handshake decodes from
// the first command; user and db are unknown until a USE shows the db.
func TestMidStream(t *testing.T) {
	for _, tc := range []struct {
		name     string
		compress string
		dep      bool
	}{{"plain", "", false}, {"deprecate_eof", "", true}, {"zlib", "zlib", false}, {"zstd", "zstd", true}, {"stored", "stored", false}} {
		t.Run(tc.name, func(t *testing.T) {
			c, buf := newCapture(t, false)
			s := &pt.Session{T: c.Conn(client, server), Compress: tc.compress}
			c.Hold = true
			s.Connect(pt.Greeting("8.0", pt.BaseCaps, 0), pt.HandshakeResponse(pt.BaseCaps, 0, "u", ""))
			// Half a response whose request was before the capture.
			s.Exchange(pt.Query("SELECT before"), pt.ResultSet([]string{"a"}, [][]string{{"1"}, {"2"}}, false, tc.dep, 2)...)
			c.Hold = false
			held := c.Held
			last := held[len(held)-1]
			last.Seg.Payload = last.Seg.Payload[len(last.Seg.Payload)/2:]
			last.Seg.Seq += uint32(len(held[len(held)-1].Seg.Payload) - len(last.Seg.Payload))
			c.WriteHeld(last)
			s.Exchange(pt.Query("SELECT 1"), pt.ResultSet([]string{"a"}, [][]string{{"1"}, {"2"}}, false, tc.dep, 2)...)
			s.Exchange(pt.Query("use shop"), pt.OK(0, 0, 2))
			s.Exchange(pt.Query("SELECT 2"), pt.ResultSet([]string{"a"}, nil, false, tc.dep, 2)...)
			s.Exchange(pt.Execute(3, nil, false), pt.OK(1, 0, 2))
			s.Exchange(pt.Query("SELECT 3"), pt.ERR(1064, "42000", "syntax"))
			r := run(t, flush(t, c, buf), Options{}, 0)
			want := []string{`db="" user="" lat=1000us rows=2 aff=0 err=0 "SELECT 1"`,
				`db="shop" user="" lat=1000us rows=0 aff=0 err=0 "use shop"`,
				`db="shop" user="" lat=1000us rows=0 aff=0 err=0 "SELECT 2"`,
				`db="shop" user="" lat=1000us rows=0 aff=0 err=1064 "SELECT 3"`}
			var have []string
			for _, e := range r.events {
				have = append(have, strings.TrimPrefix(e.String(), server.String()+" "))
			}
			if strings.Join(have, "\n") != strings.Join(want, "\n") {
				t.Errorf("events:\n%s\nwant:\n%s", strings.Join(have, "\n"), strings.Join(want, "\n"))
			}
			if len(r.rejects) != 1 || r.rejects[0].Reason != ReasonUnknownStatement || !strings.Contains(r.rejects[0].Detail, "statement 3") {
				t.Errorf("rejects %+v", r.rejects)
			}
			if p := r.stats.Protocol; p.MidStream != 1 || (tc.compress != "") != (p.Compressed == 1) || p.UnknownStatements != 1 {
				t.Errorf("protocol stats %+v", p)
			}
		})
	}
}

// TestTLS: a connection that switches to TLS is counted per server and
// yields nothing; its neighbour is decoded.
func TestTLS(t *testing.T) {
	c, buf := newCapture(t, false)
	caps := uint32(pt.BaseCaps)
	tls := c.Conn(client, server)
	tls.Handshake()
	tls.Send(pt.ToClient, pt.Packets(0, pt.Greeting("8.0", caps|pt.CapSSL, 0)))
	tls.Send(pt.ToServer, pt.Packets(1, pt.SSLRequest(caps)))
	tls.Send(pt.ToServer, []byte{0x16, 3, 1, 0, 5, 1, 2, 3, 4, 5})
	tls.Send(pt.ToClient, []byte{0x16, 3, 3, 0, 5, 1, 2, 3, 4, 5})
	tls.Send(pt.ToServer, []byte{0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5})
	tls.Close()
	// A connection joined mid-stream whose first bytes are TLS records.
	mid := c.Conn(netip.MustParseAddrPort("10.0.0.9:50002"), server)
	mid.Send(pt.ToServer, []byte{0x17, 3, 3, 0, 5, 1, 2, 3, 4, 5})
	plain := &pt.Session{T: c.Conn(netip.MustParseAddrPort("10.0.0.9:50003"), server)}
	plain.Connect(pt.Greeting("8.0", caps, 0), pt.HandshakeResponse(caps, 0, "u", ""))
	plain.Exchange(pt.Query("SELECT 1"), pt.OK(0, 0, 2))
	r := run(t, flush(t, c, buf), Options{}, 0)
	if len(r.events) != 1 || r.events[0].SQL != "SELECT 1" {
		t.Errorf("events %v", r.events)
	}
	if n := r.stats.TLSServers[server.String()]; n != 2 || r.stats.Protocol.TLS != 2 {
		t.Errorf("TLS servers %v, protocol TLS %d", r.stats.TLSServers, r.stats.Protocol.TLS)
	}
}

// TestResume: resuming from any batch's NextOffset gives exactly the
// events after it.
func TestResume(t *testing.T) {
	c, buf := newCapture(t, false)
	total := 0
	for i := 0; i < 3; i++ {
		total += len(standardSession(c, variant{}, netip.AddrPortFrom(client.Addr(), uint16(50001+i)), server))
	}
	capture := flush(t, c, buf)
	all := run(t, capture, Options{}, 0)
	s, err := New(bytes.NewReader(capture), "x", Options{BatchSize: 7})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	s.Open(ctx, nil)
	seen := 0
	for {
		b, err := s.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		seen += len(b.Items)
		r := run(t, capture, Options{}, b.NextOffset)
		if len(r.events) != len(all.events)-seen {
			t.Fatalf("resume at %d: %d events, want %d", b.NextOffset, len(r.events), len(all.events)-seen)
		}
		for i := range r.events {
			if r.events[i] != all.events[seen+i] {
				t.Fatalf("resume at %d: event %d differs", b.NextOffset, i)
			}
		}
	}
	s.Close()
	if seen != len(all.events) || seen != total {
		t.Fatalf("batched read saw %d events, whole read %d", seen, len(all.events))
	}
}

// TestTruncatedFileAndSnaplen: a file cut inside a record ends with a
// reject; a packet cut by the snap length is a gap, not a misread.
func TestTruncatedFileAndSnaplen(t *testing.T) {
	c, buf := newCapture(t, false)
	s := &pt.Session{T: c.Conn(client, server)}
	s.Connect(pt.Greeting("8.0", pt.BaseCaps, 0), pt.HandshakeResponse(pt.BaseCaps, 0, "u", ""))
	s.Exchange(pt.Query("SELECT 1"), pt.OK(0, 0, 2))
	// A statement cut by a small snap length: lost, counted.
	seg := s.T.Segments(pt.ToServer, pt.Packets(0, pt.Query("SELECT "+strings.Repeat("x", 200))))
	seg[0].Snap = 96
	s.T.Write(seg[0])
	c.Advance(time.Millisecond)
	s.Response(pt.OK(0, 0, 2))
	s.Exchange(pt.Query("SELECT 2"), pt.OK(0, 0, 2))
	capture := flush(t, c, buf)
	r := run(t, capture, Options{}, 0)
	if len(r.events) != 2 || r.events[1].SQL != "SELECT 2" || r.stats.Truncated != 1 {
		t.Errorf("events %v stats %+v", r.events, r.stats)
	}
	cut := run(t, capture[:len(capture)-10], Options{}, 0)
	if len(cut.rejects) != 1 || cut.rejects[0].Reason != ReasonTruncatedFile || len(cut.events) != 1 {
		t.Errorf("cut file: events %v rejects %+v", cut.events, cut.rejects)
	}
}

func TestOpenErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "bad.pcap")
	os.WriteFile(bad, []byte("this is not a capture file at all"), 0o644)
	if _, err := Open(bad, Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("bad file: %v", err)
	}
	empty := filepath.Join(dir, "empty.pcap")
	os.WriteFile(empty, nil, 0o644)
	if _, err := Open(empty, Options{}); !errors.Is(err, ErrFormat) {
		t.Errorf("empty file: %v", err)
	}
	if _, err := Open(filepath.Join(dir, "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing file: %v", err)
	}
	for _, o := range []Options{{Port: -1}, {Port: 70000}, {BatchSize: -1}, {Instance: "nohostport"}} {
		if _, err := New(bytes.NewReader(nil), "x", o); err == nil {
			t.Errorf("options %+v accepted", o)
		}
	}
	s, _ := New(bytes.NewReader(nil), "x", Options{})
	if _, err := s.Next(context.Background()); !errors.Is(err, ErrNotOpen) {
		t.Errorf("Next before Open: %v", err)
	}
	if err := s.Open(context.Background(), map[int32]int64{0: -1}); !errors.Is(err, ErrBadOffset) {
		t.Errorf("negative resume: %v", err)
	}
}

// TestFileFormats: the same capture as gzip'd pcap and pcapng, read from a
// path, with --instance and another port.
func TestFileFormats(t *testing.T) {
	for _, ng := range []bool{false, true} {
		c, buf := newCapture(t, ng)
		srv := netip.MustParseAddrPort("10.0.0.1:3307")
		want := standardSession(c, variant{}, client, srv)
		capture := flush(t, c, buf)
		var gz bytes.Buffer
		zw := gzipWriter(&gz)
		zw.Write(capture)
		zw.Close()
		path := filepath.Join(t.TempDir(), "c.pcap.gz")
		os.WriteFile(path, gz.Bytes(), 0o644)
		s, err := Open(path, Options{Port: 3307, Instance: "db1:3306"})
		if err != nil {
			t.Fatal(err)
		}
		ctx := context.Background()
		s.Open(ctx, nil)
		n := 0
		for {
			b, err := s.Next(ctx)
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatal(err)
			}
			for _, ev := range b.Items {
				if ev.Instance != "db1:3306" || string(ev.SQL) != want[n].SQL {
					t.Errorf("ng=%v event %d: %s %q", ng, n, ev.Instance, ev.SQL)
				}
				n++
			}
		}
		// Resume on the same path-opened Source reopens the file.
		if err := s.Open(ctx, map[int32]int64{0: 0}); err != nil {
			t.Fatal(err)
		}
		b, err := s.Next(ctx)
		if err != nil || len(b.Items) != len(want) {
			t.Errorf("reopened: %v, %d items", err, len(b.Items))
		}
		if err := s.Close(); err != nil {
			t.Fatal(err)
		}
		if n != len(want) {
			t.Errorf("ng=%v: %d events, want %d", ng, n, len(want))
		}
	}
}

var _ = sources.Event{}
