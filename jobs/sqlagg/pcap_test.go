package sqlagg

import (
	"bytes"
	"context"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/das-project/das/sinks/parquet"
	pt "github.com/das-project/das/sources/pcap/pcaptest"
)

// writeCapture writes two connections to two servers (one on a
// non-default port) over three minutes: 30 point selects, 20 updates
// (prepared), 5 errors, and one execute of a statement prepared before the
// capture (which must be dead-lettered, not lost).
func writeCapture(t *testing.T, port uint16) (path string, statements int) {
	t.Helper()
	var buf bytes.Buffer
	start := time.UnixMilli(t0)
	c, err := pt.NewCapture(&buf, false, start)
	if err != nil {
		t.Fatal(err)
	}
	srvA := netip.AddrPortFrom(netip.MustParseAddr("10.1.0.1"), port)
	srvB := netip.AddrPortFrom(netip.MustParseAddr("10.1.0.2"), port)
	caps := uint32(pt.BaseCaps | pt.CapConnectWithDB | pt.CapDeprecateEOF)
	a := &pt.Session{T: c.Conn(netip.MustParseAddrPort("10.9.0.1:40001"), srvA), Think: 2 * time.Second}
	a.Connect(pt.Greeting("10.11", caps, 0), pt.HandshakeResponse(caps, 0, "app", "shop"))
	b := &pt.Session{T: c.Conn(netip.MustParseAddrPort("10.9.0.1:40002"), srvB), Think: 2 * time.Second}
	b.Connect(pt.Greeting("10.11", caps, 0), pt.HandshakeResponse(caps, 0, "app", "shop"))
	b.Exchange(pt.Prepare("UPDATE stock SET n = n - ? WHERE id = ?"), pt.PrepareResponse(1, 0, 2, true)...)
	for i := 0; i < 30; i++ {
		a.Exchange(pt.Query(fmt.Sprintf("SELECT * FROM orders WHERE id = %d", i)),
			pt.ResultSet([]string{"id"}, [][]string{{fmt.Sprint(i)}}, false, true, 2)...)
		statements++
		if i < 20 {
			b.Exchange(pt.Execute(1, []pt.Param{pt.Int32(1), pt.Int64(int64(i))}, i == 0), pt.OK(1, 0, 2))
			statements++
		}
		if i < 5 {
			a.Exchange(pt.Query("SELEC oops"), pt.ERR(1064, "42000", "syntax error"))
			statements++
		}
	}
	b.Exchange(pt.Execute(99, nil, false), pt.OK(1, 0, 2))
	a.T.Close()
	b.T.Close()
	path = filepath.Join(t.TempDir(), "traffic.pcap")
	if err := os.WriteFile(path, buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	return path, statements
}

func TestPcapInput(t *testing.T) {
	for _, tc := range []struct {
		name     string
		port     uint16
		instance string
	}{{"default_port", 3306, ""}, {"port_and_instance", 3307, "db-main:3306"}} {
		t.Run(tc.name, func(t *testing.T) {
			path, n := writeCapture(t, tc.port)
			dir := t.TempDir()
			cfg := Config{Input: "pcap:" + path, MySQLPort: int(tc.port), Instance: tc.instance,
				StateDir: filepath.Join(dir, "state"), ParquetDir: filepath.Join(dir, "pq"),
				Now: func() time.Time { return time.UnixMilli(t0).Add(time.Hour) }}
			sum, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			rows, err := parquet.ReadLatest(cfg.ParquetDir)
			if err != nil {
				t.Fatal(err)
			}
			var total, errs int64
			insts := map[string]bool{}
			tmpl := map[string]int64{}
			for _, r := range rows {
				total += r.Count
				errs += r.Errors
				insts[r.Instance] = true
				tmpl[r.Template] += r.Count
				if r.DB != "shop" {
					t.Errorf("row db %q", r.DB)
				}
			}
			if total != int64(n) || errs != 5 {
				t.Errorf("aggregated %d statements (%d errors), want %d (5)", total, errs, n)
			}
			var upd int64
			for k, v := range tmpl {
				if strings.HasPrefix(k, "update stock") {
					upd += v
				}
			}
			if upd != 20 {
				t.Errorf("prepared updates aggregated %d, want 20 (templates %v)", upd, tmpl)
			}
			wantInst := map[string]bool{fmt.Sprintf("10.1.0.1:%d", tc.port): true, fmt.Sprintf("10.1.0.2:%d", tc.port): true}
			if tc.instance != "" {
				wantInst = map[string]bool{tc.instance: true}
			}
			if fmt.Sprint(insts) != fmt.Sprint(wantInst) {
				t.Errorf("instances %v, want %v", insts, wantInst)
			}
			if sum.DeadLettered["unknown-statement"] != 1 {
				t.Errorf("dead lettered %v", sum.DeadLettered)
			}
			dl := readDeadLetter(t, sum.DeadLetter)
			if len(dl) != 1 || !strings.Contains(dl[0]["detail"].(string), "statement 99") {
				t.Errorf("dead letter %v", dl)
			}
			// A second run resumes after the last packet: nothing new
			// (Records is cumulative over the state's runs).
			sum2, err := Run(context.Background(), cfg)
			if err != nil {
				t.Fatal(err)
			}
			rows2, err := parquet.ReadLatest(cfg.ParquetDir)
			if err != nil {
				t.Fatal(err)
			}
			if sum2.Records != sum.Records || len(rows2) != len(rows) {
				t.Errorf("second run: records %d → %d, rows %d → %d", sum.Records, sum2.Records, len(rows), len(rows2))
			}
		})
	}
}

func TestPcapInputErrors(t *testing.T) {
	dir := t.TempDir()
	bad := filepath.Join(dir, "x.pcap")
	os.WriteFile(bad, []byte("not a capture"), 0o644)
	for _, in := range []string{"pcap:" + bad, "pcap:" + filepath.Join(dir, "missing.pcap")} {
		_, err := Run(context.Background(), Config{Input: in, StateDir: filepath.Join(dir, "s"), ParquetDir: filepath.Join(dir, "p")})
		if err == nil {
			t.Errorf("%s: no error", in)
		}
	}
}
