package mysqlproto

import (
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"testing"
)

type rec struct {
	stmts    []string
	problems []string
}

func (r *rec) Statement(c *Conn, st *Statement) {
	r.stmts = append(r.stmts, fmt.Sprintf("%s|db=%s|user=%s|rows=%d|aff=%d|err=%d|lat=%d|trunc=%v",
		st.SQL, st.DB, st.User, st.RowsSent, st.RowsAffected, st.ErrCode, st.LatencyNs, st.Truncated))
}

func (r *rec) Problem(c *Conn, p *Problem) { r.problems = append(r.problems, p.Reason+": "+p.Detail) }

func pkt(seq byte, payloads ...[]byte) []byte {
	var out []byte
	for _, p := range payloads {
		out = append(out, byte(len(p)), byte(len(p)>>8), byte(len(p)>>16), seq)
		out = append(out, p...)
		seq++
	}
	return out
}

func ok(aff uint64, status uint16) []byte {
	return []byte{0, byte(aff), 0, byte(status), byte(status >> 8), 0, 0}
}

// newMid returns a connection joined mid-stream with known framing.
func newMid(t *testing.T) (*Conn, *rec, *Decoder) {
	d, err := NewDecoder(Options{})
	if err != nil {
		t.Fatal(err)
	}
	r := &rec{}
	return NewConn(d, r, true), r, d
}

func TestLenencAndParams(t *testing.T) {
	for _, tc := range []struct {
		in   []byte
		v    uint64
		n    int
		good bool
	}{
		{[]byte{5}, 5, 1, true}, {[]byte{0xfc, 1, 2}, 0x201, 3, true}, {[]byte{0xfd, 1, 2, 3}, 0x30201, 4, true},
		{[]byte{0xfe, 1, 0, 0, 0, 0, 0, 0, 0}, 1, 9, true}, {[]byte{0xfb}, 0, 0, false}, {[]byte{0xfc, 1}, 0, 0, false}, {nil, 0, 0, false},
	} {
		v, n, good := lenenc(tc.in)
		if v != tc.v || n != tc.n || good != tc.good {
			t.Errorf("lenenc(%x) = %d %d %v", tc.in, v, n, good)
		}
	}
	le := binary.LittleEndian
	for _, tc := range []struct {
		p    param
		want string
	}{
		{param{typ: typeTiny, val: []byte{0xff}}, "-1"},
		{param{typ: typeTiny, unsigned: true, val: []byte{0xff}}, "255"},
		{param{typ: typeShort, val: le.AppendUint16(nil, 0xfffe)}, "-2"},
		{param{typ: typeYear, val: le.AppendUint16(nil, 2026)}, "2026"},
		{param{typ: typeLong, val: le.AppendUint32(nil, 0xffffffff)}, "-1"},
		{param{typ: typeLongLong, unsigned: true, val: le.AppendUint64(nil, math.MaxUint64)}, "18446744073709551615"},
		{param{typ: typeFloat, val: le.AppendUint32(nil, math.Float32bits(1.5))}, "1.5"},
		{param{typ: typeDouble, val: le.AppendUint64(nil, math.Float64bits(math.Inf(1)))}, "'+Inf'"},
		{param{typ: typeDate, val: []byte{0xea, 0x07, 1, 2}}, "'2026-01-02'"},
		{param{typ: typeDateTime, val: []byte{}}, "'0000-00-00'"},
		{param{typ: typeTime, val: []byte{1, 1, 0, 0, 0, 2, 3, 4}}, "'-26:03:04'"},
		{param{typ: typeTime, val: []byte{0, 0, 0, 0, 0, 2, 3, 4, 1, 0, 0, 0}}, "'02:03:04.000001'"},
		{param{typ: typeNewDecimal, val: []byte("-12.50")}, "-12.50"},
		{param{typ: typeNewDecimal, val: []byte("1e5")}, "'1e5'"},
		{param{typ: typeVarString, val: []byte("a'b\\c\x00\n\r\"\x1a")}, `'a\'b\\c\0\n\r\"\Z'`},
		{param{null: true}, "NULL"},
	} {
		if got := string(appendLiteral(nil, &tc.p)); got != tc.want {
			t.Errorf("literal %+v = %s, want %s", tc.p, got, tc.want)
		}
	}
	ps := []param{{typ: typeLong, val: le.AppendUint32(nil, 1)}, {typ: typeVarString, val: []byte("x")}}
	for _, tc := range []struct{ sql, want string }{
		{"SELECT ? , ?", "SELECT 1 , 'x'"},
		{"SELECT '?', \"?\", `?`, ? /* ? */, ? -- ?\n", "SELECT '?', \"?\", `?`, 1 /* ? */, 'x' -- ?\n"},
		{"SELECT 'it\\'s ?', ?, ?, ?", "SELECT 'it\\'s ?', 1, 'x', ?"},
		{"SELECT ?#?\n", "SELECT 1#?\n"},
		{"SELECT /*+ hint */ ?", "SELECT /*+ hint */ 1"},
	} {
		if got, _ := substitute(nil, []byte(tc.sql), ps); string(got) != tc.want {
			t.Errorf("substitute(%q) = %q, want %q", tc.sql, got, tc.want)
		}
	}
	for sql, want := range map[string]string{"USE db1": "db1", " /* c */ use `a``b`;": "a`b", "use\tx;": "x", "USEFUL": "", "select 1": "", "use": ""} {
		db, good := useDB([]byte(sql))
		if string(db) != want || good != (want != "") {
			t.Errorf("useDB(%q) = %q %v", sql, db, good)
		}
	}
}

func TestMidStreamFeatures(t *testing.T) {
	c, r, d := newMid(t)
	ts := int64(1e9)
	feed := func(dir Dir, b []byte) {
		ts += 1e6
		c.Feed(dir, b, ts, true)
	}
	// LOAD DATA LOCAL INFILE: the server asks for a file, the client sends
	// it and an empty packet, then the OK.
	feed(ClientToServer, pkt(0, append([]byte{ComQuery}, "LOAD DATA LOCAL INFILE 'f' INTO TABLE t"...)))
	feed(ServerToClient, pkt(1, append([]byte{0xfb}, 'f')))
	feed(ClientToServer, pkt(2, []byte("1\n2\n"), []byte{}))
	feed(ServerToClient, pkt(4, ok(2, 2)))
	// A MariaDB progress report before the result.
	feed(ClientToServer, pkt(0, append([]byte{ComQuery}, "ALTER TABLE t ADD c INT"...)))
	feed(ServerToClient, pkt(1, []byte{0xff, 0xff, 0xff, 1, 1, 2, 0, 0, 0, 0}))
	feed(ServerToClient, pkt(2, ok(0, 2)))
	// COM_QUERY with (empty) query attributes of a MySQL 8 client.
	feed(ClientToServer, pkt(0, append([]byte{ComQuery, 0, 1}, "SELECT 1"...)))
	feed(ServerToClient, pkt(1, ok(0, 2)))
	// MariaDB pipelining: prepare and execute(-1) in one segment.
	exec := []byte{ComStmtExecute, 0xff, 0xff, 0xff, 0xff, 0, 1, 0, 0, 0, 0, 1, 3, 0, 7, 0, 0, 0}
	seg := append(pkt(0, append([]byte{ComStmtPrepare}, "DELETE FROM t WHERE id = ?"...)), pkt(0, exec)...)
	seg = append(seg, pkt(0, []byte{ComStmtClose, 0xff, 0xff, 0xff, 0xff})...)
	feed(ClientToServer, seg)
	prepOK := []byte{0, 9, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0}
	colDef := append([]byte{3, 'd', 'e', 'f'}, make([]byte, 20)...)
	feed(ServerToClient, append(pkt(1, prepOK, colDef, []byte{0xfe, 0, 0, 2, 0}), pkt(1, ok(1, 2))...))
	// COM_CHANGE_USER with an auth switch.
	feed(ClientToServer, pkt(0, append([]byte{ComChangeUser}, "bob\x00\x00newdb\x00"...)))
	feed(ServerToClient, pkt(1, append([]byte{0xfe}, "mysql_native_password\x00salt"...)))
	feed(ClientToServer, pkt(2, []byte("scramble")))
	feed(ServerToClient, pkt(3, ok(0, 2)))
	feed(ClientToServer, pkt(0, append([]byte{ComQuery}, "SELECT 2"...)))
	feed(ServerToClient, pkt(1, ok(0, 2)))
	want := []string{
		"LOAD DATA LOCAL INFILE 'f' INTO TABLE t|db=|user=|rows=0|aff=2|err=0|lat=1000000|trunc=false",
		"ALTER TABLE t ADD c INT|db=|user=|rows=0|aff=0|err=0|lat=2000000|trunc=false",
		"SELECT 1|db=|user=|rows=0|aff=0|err=0|lat=1000000|trunc=false",
		"DELETE FROM t WHERE id = 7|db=|user=|rows=0|aff=1|err=0|lat=1000000|trunc=false",
		"SELECT 2|db=newdb|user=bob|rows=0|aff=0|err=0|lat=1000000|trunc=false",
	}
	if strings.Join(r.stmts, "\n") != strings.Join(want, "\n") || len(r.problems) != 0 {
		t.Errorf("statements:\n%s\nwant:\n%s\nproblems %v", strings.Join(r.stmts, "\n"), strings.Join(want, "\n"), r.problems)
	}
	if st := d.Stats(); st.OrphanResponses != 0 || st.LostResponses != 0 || st.Commands[ComStmtClose] != 1 {
		t.Errorf("stats %+v", st)
	}
}

// TestContinuationPacket: a statement of 16 MiB or more arrives in
// continuation packets and is joined (and cut at MaxStatementBytes).
func TestContinuationPacket(t *testing.T) {
	d, _ := NewDecoder(Options{MaxStatementBytes: 1 << 20})
	r := &rec{}
	c := NewConn(d, r, true)
	sql := append([]byte{ComQuery}, "SELECT '"...)
	sql = append(sql, strings.Repeat("x", 0xffffff+10)...)
	sql = append(sql, '\'')
	var wire []byte
	rest, seq := sql, byte(0)
	for {
		n := min(len(rest), 0xffffff)
		wire = append(wire, byte(n), byte(n>>8), byte(n>>16), seq)
		wire = append(wire, rest[:n]...)
		rest, seq = rest[n:], seq+1
		if n < 0xffffff {
			break
		}
	}
	for i := 0; i < len(wire); i += 65536 {
		c.Feed(ClientToServer, wire[i:min(len(wire), i+65536)], 1, i == 0)
	}
	c.Feed(ServerToClient, pkt(2, ok(0, 2)), 2, true)
	if len(r.stmts) != 1 || !strings.HasSuffix(r.stmts[0], "trunc=true") || !strings.HasPrefix(r.stmts[0], "SELECT 'xxx") {
		t.Fatalf("statements %d: %.80q", len(r.stmts), r.stmts)
	}
	if i := strings.IndexByte(r.stmts[0], '|'); i != 1<<20+64-1 {
		t.Errorf("kept %d bytes of SQL", i)
	}
}

// FuzzConn feeds arbitrary bytes to both directions of a connection, from
// its handshake and mid-stream, in arbitrary pieces and with gaps: the
// decoder must not panic, and statements must have sane values.
func FuzzConn(f *testing.F) {
	f.Add([]byte{}, uint8(0))
	f.Add(pkt(0, append([]byte{ComQuery}, "SELECT 1"...)), uint8(3))
	f.Add(append(pkt(1, ok(0, 2)), pkt(0, []byte{ComStmtExecute, 1, 0, 0, 0, 0, 1, 0, 0, 0})...), uint8(7))
	f.Add([]byte{10, 0, 0, 0, 10, '5', 0, 1, 2, 3, 4, 5, 6, 7, 8, 0, 0xff, 0xf7}, uint8(1))
	f.Fuzz(func(t *testing.T, data []byte, ctl uint8) {
		d, _ := NewDecoder(Options{MaxStatementBytes: 4096, MaxPending: 8, MaxPrepared: 4})
		defer d.Close()
		h := &checker{t: t}
		c := NewConn(d, h, ctl&1 == 1)
		ts := int64(0)
		for i := 0; len(data) > 0; i++ {
			n := 1 + int(data[0])%64
			n = min(n, len(data))
			dir := Dir((int(ctl) >> (i % 7)) & 1)
			if data[0]%17 == 0 {
				c.Gap(dir)
			}
			ts += int64(data[0])
			c.Feed(dir, data[:n], ts, data[0]%3 != 0)
			data = data[n:]
		}
		c.Close()
	})
}

type checker struct{ t *testing.T }

func (k *checker) Statement(c *Conn, st *Statement) {
	if st.LatencyNs < 0 || len(st.SQL) > 4096+64 {
		k.t.Fatalf("bad statement %+v", st)
	}
}

func (k *checker) Problem(c *Conn, p *Problem) {
	if p.Reason == "" || len(p.Raw) > problemRaw {
		k.t.Fatalf("bad problem %+v", p)
	}
}
