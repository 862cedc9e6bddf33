package agent

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/das-project/das/internal/kafkatest"
	pt "github.com/das-project/das/sources/pcap/pcaptest"
)

// A capture file through the agent, with a crash after part of it was
// acknowledged: every COM_QUERY of the capture counted once, literals
// redacted (the password of a CREATE USER never reaches Kafka).
func TestPcapInputCrashRestart(t *testing.T) {
	var buf bytes.Buffer
	c, err := pt.NewCapture(&buf, false, time.Date(2024, 5, 1, 10, 0, 0, 0, time.UTC))
	if err != nil {
		t.Fatal(err)
	}
	srv := netip.MustParseAddrPort("10.0.0.5:3306")
	const conns, perConn = 4, 150
	for i := range conns {
		cli := netip.AddrPortFrom(netip.MustParseAddr("10.0.1.9"), uint16(40000+i))
		s := &pt.Session{T: c.Conn(cli, srv)}
		caps := uint32(pt.BaseCaps | pt.CapConnectWithDB)
		s.Connect(pt.Greeting("10.11.6-MariaDB", caps, 0), pt.HandshakeResponse(caps, 0, "app", "shop"))
		for j := range perConn {
			q := fmt.Sprintf("SELECT * FROM orders WHERE id = %d AND email = 'user%d@example.com'", j, j)
			if j == 7 {
				q = "CREATE USER 'x'@'%' IDENTIFIED BY 'capture-secret-1'"
			}
			s.Exchange(pt.Query(q), pt.OK(1, 0, 2))
		}
	}
	if err := c.Flush(); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "mysql.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	topic := "das.sql-events"
	cl := newCluster(t, topic, 1)
	o := testOptions(t, cl.Addrs(), topic)
	o.CutMaxRecords = 100
	for run := range 2 {
		in, err := OpenInput(context.Background(), "pcap:"+path, InputOptions{Port: 3306})
		if err != nil {
			t.Fatal(err)
		}
		a, err := New(in, o)
		if err != nil {
			t.Fatal(err)
		}
		if run == 0 {
			seen := 0
			a.failpoint = func(p string) error {
				if p == fpAcked {
					if seen++; seen == 1 {
						return errors.New("killed")
					}
				}
				return nil
			}
		}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = a.Run(ctx)
		cancel()
		if (run == 0) != errors.Is(err, errCrash) || (run == 1 && err != nil) {
			t.Fatalf("run %d: %v", run, err)
		}
	}
	recs := kafkatest.ReadAll(t, cl.Addrs(), topic)
	counted, dups := effective(t, decodeRecords(t, recs, o.Format))
	if len(counted) != conns*perConn || dups == 0 {
		t.Fatalf("%d statements in effect (%d duplicates), want %d with duplicates", len(counted), dups, conns*perConn)
	}
	for _, ev := range counted {
		if ev.Instance != "10.0.0.5:3306" || ev.DB != "shop" || ev.User != "app" {
			t.Fatalf("event %+v", ev)
		}
	}
	for _, r := range recs {
		if bytes.Contains(r.Value, []byte("capture-secret-1")) || bytes.Contains(r.Value, []byte("@example.com")) {
			t.Fatalf("a literal reached Kafka: %s", r.Value)
		}
	}
}
