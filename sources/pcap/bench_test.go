package pcap

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/netip"
	"testing"
	"time"

	pt "github.com/das-project/das/sources/pcap/pcaptest"
)

// benchCapture is an OLTP-like capture: conns connections, each running
// per statements: point selects (text protocol, one row), prepared
// selects (binary protocol, 3 rows), updates and one error in twenty.
func benchCapture(b *testing.B, conns, per int, compress string) []byte {
	var buf bytes.Buffer
	c, err := pt.NewCapture(&buf, false, t0)
	if err != nil {
		b.Fatal(err)
	}
	caps := uint32(pt.BaseCaps | pt.CapConnectWithDB | pt.CapDeprecateEOF)
	if compress != "" {
		caps |= pt.CapCompress
	}
	var ss []*pt.Session
	bound := make([]bool, conns)
	for i := 0; i < conns; i++ {
		s := &pt.Session{T: c.Conn(netip.AddrPortFrom(client.Addr(), uint16(20000+i)), server), Compress: compress,
			Latency: 200 * time.Microsecond, Think: 50 * time.Microsecond}
		s.Connect(pt.Greeting("10.11", caps, 0), pt.HandshakeResponse(caps, 0, "app", "sbtest"))
		s.Exchange(pt.Prepare("SELECT c FROM sbtest1 WHERE id BETWEEN ? AND ?"), pt.PrepareResponse(1, 1, 2, true)...)
		ss = append(ss, s)
	}
	for j := 0; j < per; j++ {
		for i, s := range ss {
			switch (i + j) % 20 {
			case 0:
				s.Exchange(pt.Query("SELECT * FROM missing"), pt.ERR(1146, "42S02", "no such table"))
			case 1, 2, 3, 4:
				s.Exchange(pt.Query(fmt.Sprintf("UPDATE sbtest1 SET k=k+1 WHERE id=%d", i*per+j)), pt.OK(1, 0, 2))
			case 5, 6, 7, 8, 9, 10:
				s.Exchange(pt.Execute(1, []pt.Param{pt.Int64(int64(j)), pt.Int64(int64(j + 2))}, !bound[i]),
					pt.ResultSet([]string{"c"}, [][]string{{"aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"}, {"bbbb"}, {"cccc"}}, true, true, 2)...)
				bound[i] = true
			default:
				s.Exchange(pt.Query(fmt.Sprintf("SELECT c FROM sbtest1 WHERE id=%d", i*per+j)),
					pt.ResultSet([]string{"c"}, [][]string{{"83868641912-28773972837-60736120486-75162659906"}}, false, true, 2)...)
			}
		}
	}
	return buf.Bytes()
}

// BenchmarkDecode measures the whole source on one goroutine: pcap
// parsing, TCP reassembly, MySQL decoding and event building.
//
//	taskset -c 0 go test ./sources/pcap -run '^$' -bench Decode -benchtime 2s -cpu 1
func BenchmarkDecode(b *testing.B) {
	for _, compress := range []string{"", "zlib"} {
		name := "plain"
		if compress != "" {
			name = compress
		}
		b.Run(name, func(b *testing.B) {
			capture := benchCapture(b, 50, 400, compress)
			var packets, events uint64
			b.SetBytes(int64(len(capture)))
			b.ReportAllocs()
			ctx := context.Background()
			b.ResetTimer()
			for b.Loop() {
				s, err := New(bytes.NewReader(capture), "bench", Options{})
				if err != nil {
					b.Fatal(err)
				}
				if err := s.Open(ctx, nil); err != nil {
					b.Fatal(err)
				}
				for {
					_, err := s.Next(ctx)
					if err == io.EOF {
						break
					}
					if err != nil {
						b.Fatal(err)
					}
				}
				st := s.Stats()
				if st.Events != 50*400 || st.Rejects != 0 || st.Protocol.Truncated != 0 {
					b.Fatalf("events %d rejects %d truncated %d", st.Events, st.Rejects, st.Protocol.Truncated)
				}
				packets += st.Packets
				events += st.Events
				s.Close()
			}
			sec := b.Elapsed().Seconds()
			b.ReportMetric(float64(packets)/sec, "packets/s")
			b.ReportMetric(float64(events)/sec, "statements/s")
		})
	}
}
