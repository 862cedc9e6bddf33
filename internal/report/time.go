package report

import (
	"errors"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/das-project/das/sinks"
)

// ErrBadTime is wrapped by the errors of ParseTime, ParseSpan and
// ParseDuration for a value they cannot accept.
var ErrBadTime = errors.New("report: bad time")

const timeHelp = "want RFC 3339 (2026-01-02T15:04:05Z), a date (2026-01-02, UTC), now, or a relative time such as -1h, -90m, -2d, -1w"

// ParseTime parses a --from/--to value: an RFC 3339 timestamp, a date
// (YYYY-MM-DD, midnight UTC), "now", or a time relative to now: '-' and a
// duration in ParseDuration's syntax ("-1h", "-1d12h").
func ParseTime(s string, now time.Time) (time.Time, error) {
	switch {
	case s == "":
		return time.Time{}, fmt.Errorf("%w: empty value: %s", ErrBadTime, timeHelp)
	case s == "now":
		return now, nil
	case s[0] == '-':
		d, err := ParseDuration(s[1:])
		if err != nil {
			return time.Time{}, fmt.Errorf("%w: %q: %v", ErrBadTime, s, err)
		}
		return now.Add(-d), nil
	}
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	if t, err := time.Parse(time.DateOnly, s); err == nil {
		return t, nil
	}
	return time.Time{}, fmt.Errorf("%w: %q: %s", ErrBadTime, s, timeHelp)
}

// maxDuration bounds ParseDuration: about 290 years, what time.Duration holds.
const maxDuration = time.Duration(math.MaxInt64)

// ParseDuration parses a positive duration written as a sequence of
// integers with units: w (7 days), d (24 hours), h, m, s — "90m", "1d12h",
// "2w". Go's time.ParseDuration forms with fractions or ms/us/ns are also
// accepted ("1.5h").
func ParseDuration(s string) (time.Duration, error) {
	if s == "" {
		return 0, errors.New("empty duration")
	}
	if d, err := time.ParseDuration(s); err == nil {
		if d <= 0 {
			return 0, fmt.Errorf("duration %q is not positive", s)
		}
		return d, nil
	}
	var total time.Duration
	rest := s
	for rest != "" {
		i := 0
		for i < len(rest) && rest[i] >= '0' && rest[i] <= '9' {
			i++
		}
		if i == 0 || i == len(rest) {
			return 0, fmt.Errorf("duration %q: want numbers with units w, d, h, m or s (e.g. 1d12h)", s)
		}
		var n int64
		for _, c := range rest[:i] {
			if n > (math.MaxInt64-9)/10 {
				return 0, fmt.Errorf("duration %q is too long", s)
			}
			n = n*10 + int64(c-'0')
		}
		var unit time.Duration
		switch rest[i] {
		case 'w':
			unit = 7 * 24 * time.Hour
		case 'd':
			unit = 24 * time.Hour
		case 'h':
			unit = time.Hour
		case 'm':
			unit = time.Minute
		case 's':
			unit = time.Second
		default:
			return 0, fmt.Errorf("duration %q: unknown unit %q (want w, d, h, m or s)", s, rest[i])
		}
		if n > int64(maxDuration/unit) || total > maxDuration-time.Duration(n)*unit {
			return 0, fmt.Errorf("duration %q is too long", s)
		}
		total += time.Duration(n) * unit
		rest = rest[i+1:]
	}
	if total <= 0 {
		return 0, fmt.Errorf("duration %q is not positive", s)
	}
	return total, nil
}

// Span is a half-open range of whole minutes, [From, To), in epoch
// milliseconds: a minute row belongs to it when From <= minute < To.
type Span struct {
	From int64 `json:"-"`
	To   int64 `json:"-"`
}

// SpanOf returns the whole minutes that overlap [from, to): from rounded
// down to its minute, to rounded up. The span is empty when to <= from.
func SpanOf(from, to time.Time) Span {
	return Span{From: floorMinute(from.UnixMilli()), To: ceilMinute(to.UnixMilli())}
}

// Minutes returns the number of minutes in s (0 for an empty span).
func (s Span) Minutes() int64 {
	if s.To <= s.From {
		return 0
	}
	return (s.To - s.From) / sinks.MinuteMs
}

// Seconds returns the length of s in seconds.
func (s Span) Seconds() float64 { return float64(s.Minutes() * 60) }

// Contains reports whether the minute starting at minute lies in s.
func (s Span) Contains(minute int64) bool { return minute >= s.From && minute < s.To }

// String formats s as FROM..TO in RFC 3339, UTC.
func (s Span) String() string { return fmtTime(s.From) + ".." + fmtTime(s.To) }

func fmtTime(ms int64) string { return time.UnixMilli(ms).UTC().Format(time.RFC3339) }

func floorMinute(ms int64) int64 {
	m := ms - ms%sinks.MinuteMs
	if ms < 0 && ms%sinks.MinuteMs != 0 {
		m -= sinks.MinuteMs
	}
	return m
}

func ceilMinute(ms int64) int64 {
	f := floorMinute(ms)
	if f == ms {
		return f
	}
	return f + sinks.MinuteMs
}

// ParseSpan parses a --compare value FROM..TO, each side as ParseTime
// accepts, into the span of whole minutes it overlaps.
func ParseSpan(s string, now time.Time) (Span, error) {
	a, b, ok := strings.Cut(s, "..")
	if !ok {
		return Span{}, fmt.Errorf("%w: %q: want FROM..TO (e.g. -2h..-1h or 2026-01-02T10:00:00Z..2026-01-02T11:00:00Z)", ErrBadTime, s)
	}
	from, err := ParseTime(a, now)
	if err != nil {
		return Span{}, err
	}
	to, err := ParseTime(b, now)
	if err != nil {
		return Span{}, err
	}
	sp := SpanOf(from, to)
	if sp.Minutes() == 0 {
		return Span{}, fmt.Errorf("%w: %q: the range is empty (TO must be after FROM)", ErrBadTime, s)
	}
	return sp, nil
}
