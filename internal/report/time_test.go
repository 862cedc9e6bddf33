package report

import (
	"errors"
	"strings"
	"testing"
	"time"
)

func TestParseTime(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 17, 23, 0, time.UTC)
	for _, tc := range []struct {
		in   string
		want time.Time
		err  string
	}{
		{in: "now", want: now},
		{in: "-1h", want: now.Add(-time.Hour)},
		{in: "-90m", want: now.Add(-90 * time.Minute)},
		{in: "-1d12h", want: now.Add(-36 * time.Hour)},
		{in: "-2w", want: now.Add(-14 * 24 * time.Hour)},
		{in: "-1.5h", want: now.Add(-90 * time.Minute)},
		{in: "-30s", want: now.Add(-30 * time.Second)},
		{in: "2026-02-28T23:00:00Z", want: time.Date(2026, 2, 28, 23, 0, 0, 0, time.UTC)},
		{in: "2026-02-28T23:00:00+02:00", want: time.Date(2026, 2, 28, 21, 0, 0, 0, time.UTC)},
		{in: "2026-02-28T23:00:00.5Z", want: time.Date(2026, 2, 28, 23, 0, 0, 5e8, time.UTC)},
		{in: "2026-02-28", want: time.Date(2026, 2, 28, 0, 0, 0, 0, time.UTC)},
		{in: "", err: "empty value"},
		{in: "yesterday", err: "want RFC 3339"},
		{in: "2026-02-28 23:00", err: "want RFC 3339"},
		{in: "1h", err: "want RFC 3339"}, // relative times are in the past: -1h
		{in: "-", err: "empty duration"},
		{in: "-1y", err: "unknown unit"},
		{in: "-0h", err: "not positive"},
		{in: "-h", err: "want numbers with units"},
		{in: "-99999999999w", err: "too long"},
	} {
		got, err := ParseTime(tc.in, now)
		if tc.err != "" {
			if !errors.Is(err, ErrBadTime) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want ErrBadTime containing %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || !got.Equal(tc.want) {
			t.Errorf("%q: %v %v, want %v", tc.in, got, err, tc.want)
		}
	}
}

func TestSpans(t *testing.T) {
	now := time.Date(2026, 3, 1, 10, 17, 23, 0, time.UTC)
	for _, tc := range []struct {
		in, want string
		minutes  int64
		err      string
	}{
		// -1h..now at 10:17:23 overlaps the minutes 09:17 .. 10:17 inclusive.
		{in: "-1h..now", want: "2026-03-01T09:17:00Z..2026-03-01T10:18:00Z", minutes: 61},
		{in: "2026-03-01T09:00:00Z..2026-03-01T10:00:00Z", want: "2026-03-01T09:00:00Z..2026-03-01T10:00:00Z", minutes: 60},
		{in: "2026-02-28..2026-03-01", want: "2026-02-28T00:00:00Z..2026-03-01T00:00:00Z", minutes: 1440},
		{in: "-1h", err: "want FROM..TO"},
		{in: "now..-1h", err: "range is empty"},
		{in: "-1h..later", err: "want RFC 3339"},
	} {
		sp, err := ParseSpan(tc.in, now)
		if tc.err != "" {
			if !errors.Is(err, ErrBadTime) || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("%q: error %v, want %q", tc.in, err, tc.err)
			}
			continue
		}
		if err != nil || sp.String() != tc.want || sp.Minutes() != tc.minutes {
			t.Errorf("%q: %v (%d min) %v, want %s (%d min)", tc.in, sp, sp.Minutes(), err, tc.want, tc.minutes)
		}
	}
	// Minute arithmetic before 1970 rounds towards minus infinity too.
	if f, c := floorMinute(-1), ceilMinute(-1); f != -60_000 || c != 0 {
		t.Errorf("floor/ceil of -1 ms: %d %d", f, c)
	}
}

// FuzzParseTime: any input either parses or fails with ErrBadTime, never
// panics; a parsed relative time lies in the past.
func FuzzParseTime(f *testing.F) {
	for _, s := range []string{"now", "-1h", "-1d12h", "-1.5h", "2026-02-28T23:00:00Z", "2026-02-28", "-99999999999w", "-1h..now", "", "-", "..", "-1w2d3h4m5s"} {
		f.Add(s)
	}
	now := time.Date(2026, 3, 1, 10, 17, 23, 0, time.UTC)
	f.Fuzz(func(t *testing.T, s string) {
		got, err := ParseTime(s, now)
		if err != nil {
			if !errors.Is(err, ErrBadTime) {
				t.Fatalf("%q: error %v does not wrap ErrBadTime", s, err)
			}
		} else if strings.HasPrefix(s, "-") && !got.Before(now) {
			t.Fatalf("%q: relative time %v not before now", s, got)
		}
		sp, err := ParseSpan(s, now)
		if err == nil && sp.Minutes() <= 0 {
			t.Fatalf("%q: empty span %v accepted", s, sp)
		}
	})
}
