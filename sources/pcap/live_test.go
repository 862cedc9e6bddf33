//go:build linux

package pcap

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"os"
	"strconv"
	"testing"
	"time"

	"github.com/das-project/das/internal/mariadbtest"
)

// TestLiveCapture captures the loopback with AF_PACKET while statements run
// against a private MariaDB. Without CAP_NET_RAW it checks the clear
// permission error instead (the capture itself cannot be tested then).
func TestLiveCapture(t *testing.T) {
	if os.Geteuid() != 0 {
		_, err := OpenInterface("lo", Options{}, LiveOptions{})
		if !errors.Is(err, ErrPermission) {
			t.Fatalf("live capture without privileges: %v, want ErrPermission", err)
		}
		t.Log("not root: checked the permission error only; live capture itself needs CAP_NET_RAW")
		return
	}
	if testing.Short() {
		t.Skip("starts MariaDB")
	}
	srv := mariadbtest.Start(t)
	_, p, _ := net.SplitHostPort(srv.Addr)
	port, _ := strconv.Atoi(p)
	s, err := OpenInterface("lo", Options{Port: port}, LiveOptions{PollInterval: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := s.Open(ctx, map[int32]int64{0: 5}); !errors.Is(err, ErrBadOffset) {
		t.Errorf("live resume: %v", err)
	}
	if err := s.Open(ctx, nil); err != nil {
		t.Fatal(err)
	}
	if s.Bounded() {
		t.Error("live source is bounded")
	}
	// An idle poll returns an empty batch, not an error.
	b, err := s.Next(ctx)
	if err != nil || len(b.Items) != 0 {
		t.Fatalf("idle poll: %v, %d items", err, len(b.Items))
	}
	db, err := sql.Open("mysql", srv.DSN(""))
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	const n = 20
	go func() {
		for i := 0; i < n; i++ {
			db.ExecContext(ctx, "DO "+strconv.Itoa(i))
		}
	}()
	seen := 0
	for seen < n && ctx.Err() == nil {
		b, err := s.Next(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, ev := range b.Items {
			if ev.SQL[0] == 'D' {
				if want := "DO " + strconv.Itoa(seen); string(ev.SQL) != want || ev.Instance != srv.Addr {
					t.Errorf("event %d: %q on %s", seen, ev.SQL, ev.Instance)
				}
				seen++
			}
		}
	}
	if seen != n {
		t.Fatalf("live capture saw %d of %d statements", seen, n)
	}
	if st := s.Stats(); st.Retransmissions != 0 {
		t.Errorf("loopback packets seen twice (%d retransmissions): the outgoing copy should be filtered", st.Retransmissions)
	}
}
