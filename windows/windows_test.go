package windows

import (
	"errors"
	"math"
	"testing"
	"time"
)

func TestTumbling(t *testing.T) {
	w, err := NewTumbling(time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ ts, start int64 }{
		{0, 0}, {59_999, 0}, {60_000, 60_000}, {-1, -60_000}, {-60_000, -60_000}, {-60_001, -120_000},
	} {
		if got := w.Start(c.ts); got != c.start {
			t.Errorf("Start(%d) = %d, want %d", c.ts, got, c.start)
		}
		if got := w.End(c.ts); got != c.start+60_000 {
			t.Errorf("End(%d) = %d", c.ts, got)
		}
	}
	for _, bad := range []time.Duration{0, -time.Second, 1500 * time.Microsecond} {
		if _, err := NewTumbling(bad); !errors.Is(err, ErrInvalid) {
			t.Errorf("NewTumbling(%v): %v, want ErrInvalid", bad, err)
		}
	}
}

func TestFireAndLateness(t *testing.T) {
	const end = 60_000
	for _, c := range []struct {
		wm, lateness  int64
		fires, toLate bool
	}{
		{59_998, 0, false, false},
		{59_999, 0, true, true},
		{59_999, 1, true, false},
		{60_000, 1, true, true},
		{179_998, 120_000, true, false},
		{179_999, 120_000, true, true},
		{math.MinInt64, 0, false, false},
		{math.MaxInt64, math.MaxInt64 / 2, true, true},
	} {
		if got := end <= FireLimit(c.wm); got != c.fires {
			t.Errorf("window ending %d complete at %d: %v", end, c.wm, got)
		}
		if got := TooLate(end, c.lateness, c.wm); got != c.toLate {
			t.Errorf("TooLate(end, %d, %d) = %v", c.lateness, c.wm, got)
		}
		// PurgeLimit agrees with TooLate: everything at or below it is too late.
		if p := PurgeLimit(c.lateness, c.wm); p >= end != c.toLate && c.wm != math.MaxInt64 {
			t.Errorf("PurgeLimit(%d, %d) = %d disagrees with TooLate", c.lateness, c.wm, p)
		}
	}
	if FireLimit(math.MaxInt64) != math.MaxInt64 || FireLimit(10) != 11 {
		t.Error("FireLimit")
	}
}

func TestSlidingPanes(t *testing.T) {
	s, err := NewSliding(5*time.Minute, time.Minute)
	if err != nil {
		t.Fatal(err)
	}
	if s.PanesPerWindow() != 5 {
		t.Fatalf("panes %d", s.PanesPerWindow())
	}
	// Each pane belongs to exactly the windows whose pane lists contain it.
	pane := s.Pane().End(123_456)
	for _, we := range s.WindowEnds(pane) {
		found := 0
		for _, pe := range s.PaneEnds(we) {
			if pe == pane {
				found++
			}
		}
		if found != 1 {
			t.Fatalf("window %d lists pane %d %d times", we, pane, found)
		}
	}
	if s.LastWindowEnd(pane) != s.WindowEnds(pane)[4] {
		t.Fatal("LastWindowEnd")
	}
	if _, err := NewSliding(5*time.Minute, 2*time.Minute); !errors.Is(err, ErrInvalid) {
		t.Fatal("slide must divide size")
	}
}
