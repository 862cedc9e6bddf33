package report

import (
	"fmt"
	"math"
	"strings"
	"unicode"
	"unicode/utf8"
)

// fmtUs formats a duration in microseconds with three significant digits
// and a unit: 850µs, 3.50ms, 12.3s, 4.2min, 1.5h, 2.0d.
func fmtUs(us float64) string {
	switch a := math.Abs(us); {
	case us == 0:
		return "0"
	case a < 10:
		return fmt.Sprintf("%.1fµs", us)
	case a < 1e3:
		return fmt.Sprintf("%.0fµs", us)
	case a < 1e4:
		return fmt.Sprintf("%.2fms", us/1e3)
	case a < 1e5:
		return fmt.Sprintf("%.1fms", us/1e3)
	case a < 1e6:
		return fmt.Sprintf("%.0fms", us/1e3)
	case a < 1e7:
		return fmt.Sprintf("%.2fs", us/1e6)
	case a < 60e6:
		return fmt.Sprintf("%.1fs", us/1e6)
	case a < 3600e6:
		return fmt.Sprintf("%.1fmin", us/60e6)
	case a < 48*3600e6:
		return fmt.Sprintf("%.1fh", us/3600e6)
	}
	return fmt.Sprintf("%.1fd", us/86400e6)
}

// fmtCount formats a count: 9999, 12.3k, 1.23M, 4.56G.
func fmtCount(n int64) string {
	switch a := math.Abs(float64(n)); {
	case a < 1e4:
		return fmt.Sprintf("%d", n)
	case a < 1e6:
		return fmt.Sprintf("%.1fk", float64(n)/1e3)
	case a < 1e9:
		return fmt.Sprintf("%.2fM", float64(n)/1e6)
	}
	return fmt.Sprintf("%.2fG", float64(n)/1e9)
}

// fmtRate formats a rate or a small ratio: 0.004, 0.52, 34.3, 1234, 12.3k.
func fmtRate(f float64) string {
	switch a := math.Abs(f); {
	case f == 0:
		return "0"
	case a < 0.01:
		return fmt.Sprintf("%.4f", f)
	case a < 1:
		return fmt.Sprintf("%.3f", f)
	case a < 100:
		return fmt.Sprintf("%.2f", f)
	case a < 1e4:
		return fmt.Sprintf("%.1f", f)
	}
	return fmtCount(int64(math.Round(f)))
}

// fmtPct formats a share of 1 as a percentage: 45.1%.
func fmtPct(f float64) string { return fmt.Sprintf("%.1f%%", f*100) }

// fmtRatio formats a current/baseline ratio: ×1.22, or - when undefined.
func fmtRatio(r *float64) string {
	if r == nil {
		return "-"
	}
	return fmt.Sprintf("×%.2f", *r)
}

func signed(s string, f float64) string {
	if f > 0 {
		return "+" + s
	}
	return s
}

// fmtScore formats a Change.Score in the unit of its metric.
func fmtScore(m Metric, f float64) string {
	switch m {
	case ByP99, ByAvg:
		return signed(fmtUs(f), f)
	}
	return signed(fmtRate(f), f)
}

// oneLine collapses every run of white space and control characters in s
// into one space, so that a multi-line statement fits on one line.
func oneLine(s string) string {
	var b strings.Builder
	b.Grow(len(s))
	space := false
	for _, r := range strings.TrimSpace(s) {
		if unicode.IsSpace(r) || unicode.IsControl(r) {
			space = true
			continue
		}
		if space {
			b.WriteByte(' ')
			space = false
		}
		b.WriteRune(r)
	}
	return b.String()
}

// width is the number of terminal columns s takes: one per rune (the
// blocks, µ, × and Δ the report prints are all one column wide).
func width(s string) int { return utf8.RuneCountInString(s) }

// truncate cuts s to at most n columns, ending a cut string with "…".
func truncate(s string, n int) string {
	if n <= 0 {
		return ""
	}
	if width(s) <= n {
		return s
	}
	var b strings.Builder
	i := 0
	for _, r := range s {
		if i == n-1 {
			break
		}
		b.WriteRune(r)
		i++
	}
	b.WriteString("…")
	return b.String()
}
