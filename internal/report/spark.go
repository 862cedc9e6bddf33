package report

import (
	"math"
	"strings"

	"github.com/das-project/das/sinks"
)

// bucketing splits a span into at most a given number of sparkline buckets
// of whole minutes: every bucket spans per minutes except the last, which
// holds what is left.
type bucketing struct {
	from    int64 // epoch ms
	minutes int64 // minutes in the span
	per     int64 // minutes per bucket
	n       int   // buckets
}

func newBucketing(s Span, most int) bucketing {
	m := max(s.Minutes(), 1)
	per := (m + int64(most) - 1) / int64(most)
	return bucketing{from: s.From, minutes: m, per: per, n: int((m + per - 1) / per)}
}

// of returns the bucket of the minute starting at minute, which must lie in
// the span.
func (b *bucketing) of(minute int64) int {
	i := int((minute - b.from) / sinks.MinuteMs / b.per)
	return min(max(i, 0), b.n-1)
}

// len returns the minutes in bucket i.
func (b *bucketing) len(i int) int64 {
	if i == b.n-1 {
		return b.lastLen()
	}
	return b.per
}

func (b *bucketing) lastLen() int64 { return b.minutes - int64(b.n-1)*b.per }

// sparkBlocks are the eight levels of a sparkline, lowest first, three
// UTF-8 bytes each.
const sparkBlocks = "▁▂▃▄▅▆▇█"

// levels maps each bucket value to 0 (nothing) or a level 1..8 relative to
// the series' largest value: level = ⌈8·v/max⌉. For an additive metric the
// value compared is the bucket's per-minute average, so that a short last
// bucket is not drawn lower for being short.
func levels(vals []int64, b *bucketing, additive bool) []int {
	rate := func(i int) float64 {
		v := float64(vals[i])
		if additive {
			v /= float64(b.len(i))
		}
		return v
	}
	var top float64
	for i := range vals {
		top = max(top, rate(i))
	}
	out := make([]int, len(vals))
	if top <= 0 {
		return out
	}
	for i := range vals {
		if vals[i] <= 0 {
			continue
		}
		// The tolerance keeps an exact multiple (v/max = 3/8) on its level
		// despite rounding in the division.
		l := int(math.Ceil(8*rate(i)/top - 1e-9))
		out[i] = min(max(l, 1), 8)
	}
	return out
}

// sparkline draws vals with the blocks ▁▂▃▄▅▆▇█, one per bucket; a bucket
// with nothing (value 0) is a space.
func sparkline(vals []int64, b *bucketing, additive bool) string {
	var sb strings.Builder
	for _, l := range levels(vals, b, additive) {
		if l == 0 {
			sb.WriteByte(' ')
		} else {
			sb.WriteString(sparkBlocks[3*(l-1) : 3*l])
		}
	}
	return sb.String()
}
