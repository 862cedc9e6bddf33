package report

import (
	"fmt"
	"html/template"
	"io"
	"math"
	"strings"
)

// WriteHTML writes rep as one self-contained HTML page: inline CSS, inline
// SVG sparklines, no script and no external asset, so the file can be
// mailed or attached to a ticket and opened anywhere.
func (rep *Report) WriteHTML(w io.Writer) error {
	bk := rep.bucketing()
	funcs := template.FuncMap{
		"us":    func(v any) string { return fmtUs(toFloat(v)) },
		"count": fmtCount,
		"rate":  fmtRate,
		"pct":   fmtPct,
		"ratio": fmtRatio,
		"score": func(f float64) string { return fmtScore(rep.OrderBy, f) },
		"sql":   sqlOf,
		"label": func(inst string, db *string) string { return strings.TrimSuffix(lineLabel(inst, db), " ") },
		"spark": func(vals []int64) sparkSVG { return newSparkSVG(vals, &bk, rep.Series.Metric) },
		"what":  metricName,
		"tags":  func(t []string) string { return strings.Join(t, ", ") },
		"share": func(a, b int64) float64 { return share(a, b) },
		"ratioOf": func(a, b any) *float64 {
			return ratioOf(toFloat(a), toFloat(b))
		},
		"bucket": func() string { return bucketText(rep.Series) },
		"filters": func() string {
			return filterLine(rep.Filters)
		},
	}
	t, err := template.New("report").Funcs(funcs).Parse(htmlPage)
	if err != nil {
		return fmt.Errorf("BUG: report: HTML template: %w", err)
	}
	return t.Execute(w, rep)
}

// fmtValue formats a series value of metric m.
func fmtValue(m Metric, v int64) string {
	switch m {
	case ByTime, ByP99, ByAvg:
		return fmtUs(float64(v))
	}
	return fmtCount(v)
}

func toFloat(v any) float64 {
	switch x := v.(type) {
	case int64:
		return float64(x)
	case float64:
		return x
	case int:
		return float64(x)
	}
	panic(fmt.Sprintf("BUG: report: number of type %T", v))
}

func (rep *Report) bucketing() bucketing {
	s := rep.Series
	n := max(s.Buckets, 1)
	per := max(s.BucketMinutes, 1)
	return bucketing{from: rep.Overall.span.From, per: per, n: n, minutes: int64(n-1)*per + max(s.LastBucketMinutes, 1)}
}

// sparkSVG is a bar sparkline: one bar per bucket, scaled to the largest.
type sparkSVG struct {
	Width, Height, BarWidth int
	Bars                    []sparkBar
}

type sparkBar struct {
	X     int
	Y, H  string
	Title string
}

const (
	sparkPixels = 120 // target width of a sparkline, px
	minBar      = 3   // px per bucket, bar and gap
	maxBar      = 9
	barHeight   = 24
)

func newSparkSVG(vals []int64, b *bucketing, m Metric) sparkSVG {
	// Bars of 2 to 8 px (and a 1 px gap) so that short series are not tiny.
	bw := min(max(sparkPixels/max(len(vals), 1), minBar), maxBar)
	s := sparkSVG{Width: max(len(vals)*bw, bw), Height: barHeight, BarWidth: bw - 1}
	var top float64
	rate := func(i int) float64 {
		v := float64(vals[i])
		if m.additive() {
			v /= float64(b.len(i))
		}
		return v
	}
	for i := range vals {
		top = max(top, rate(i))
	}
	for i := range vals {
		if vals[i] <= 0 || top <= 0 {
			continue
		}
		h := math.Max(1, barHeight*rate(i)/top)
		s.Bars = append(s.Bars, sparkBar{
			X: i * bw, Y: fmt.Sprintf("%.1f", barHeight-h), H: fmt.Sprintf("%.1f", h),
			Title: fmt.Sprintf("%s (%d min): %s", fmtTime(b.from+int64(i)*b.per*60_000), b.len(i), fmtValue(m, vals[i])),
		})
	}
	return s
}

const htmlPage = `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="generator" content="das report ({{.Schema}})">
<title>das report {{.Overall.From}} .. {{.Overall.To}}</title>
<style>
body { font: 14px/1.4 -apple-system, "Segoe UI", Helvetica, Arial, sans-serif; margin: 24px; color: #1f2328; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; }
h2 { font-size: 16px; margin: 28px 0 8px; }
p.meta { color: #59636e; margin: 2px 0; }
table { border-collapse: collapse; }
th, td { padding: 3px 8px; text-align: right; white-space: nowrap; vertical-align: bottom; }
th { border-bottom: 1px solid #d1d9e0; font-weight: 600; background: #f6f8fa; }
td.l, th.l { text-align: left; }
tbody tr.fig td { border-top: 1px solid #eef1f4; }
tr.sql td { text-align: left; white-space: normal; color: #59636e; padding-bottom: 8px; }
code { font: 12px/1.4 ui-monospace, SFMono-Regular, Menlo, Consolas, monospace; }
tr.sql code { word-break: break-all; }
table.overall th { text-align: left; background: none; border: none; font-weight: 600; padding-left: 0; }
svg.spark { display: block; }
svg.spark rect { fill: #0969da; }
span.tag { display: inline-block; padding: 0 6px; margin-right: 4px; border-radius: 8px; font-size: 12px; background: #eef1f4; }
span.tag.new, span.tag.slower, span.tag.more_errors { background: #ffebe9; color: #a40e26; }
span.tag.more_frequent { background: #fff8c5; color: #7d4e00; }
span.tag.faster, span.tag.gone, span.tag.fewer_errors, span.tag.less_frequent { background: #dafbe1; color: #116329; }
.note { color: #59636e; font-size: 12px; margin-top: 24px; }
</style>
</head>
<body>
<h1>das report</h1>
<p class="meta">{{.Overall.From}} .. {{.Overall.To}} ({{.Overall.Minutes}} min){{with .Input}} · input <code>{{.}}</code>{{end}}{{with filters}} · {{.}}{{end}}</p>
<p class="meta">ranked by {{what .OrderBy}}{{if gt (len .GroupBy) 1}}, one line per {{range $i, $f := .GroupBy}}{{if $i}} × {{end}}{{$f}}{{end}}{{end}}; activity: {{what .Series.Metric}}, {{bucket}}</p>

<h2>Overall</h2>
{{with .Overall}}
<table class="overall">
<tr><th>Statements</th><td>{{count .Statements}}</td><th>Unique templates</th><td>{{.UniqueTemplates}}</td><th>QPS</th><td>{{rate .QPS}}</td><th>Load</th><td>{{rate .Load}}</td></tr>
<tr><th>Exec time</th><td>{{us .ExecTimeUs}}</td><th>Avg</th><td>{{us .AvgLatencyUs}}</td><th>p95~ / p99~</th><td>{{us .P95LatencyUs}} / {{us .P99LatencyUs}} (≤ {{us .P99UpperUs}})</td><th>Max</th><td>{{us .MaxLatencyUs}}</td></tr>
<tr><th>Lock time</th><td>{{us .LockTimeUs}}</td><th>Rows sent</th><td>{{count .RowsSent}}</td><th>Rows examined</th><td>{{count .RowsExamined}}</td><th>Rows affected</th><td>{{count .RowsAffected}}</td></tr>
<tr><th>Errors</th><td>{{count .Errors}} ({{pct (share .Errors .Statements)}})</td><th>First minute</th><td>{{.FirstMinute}}</td><th>Last minute</th><td>{{.LastMinute}}</td><th></th><td></td></tr>
</table>
{{template "spark" (spark .Series)}}
{{end}}

<h2>{{if lt (len .Templates) .Overall.Lines}}Top {{len .Templates}} of {{.Overall.Lines}}{{else}}All {{.Overall.Lines}}{{end}} templates by {{what .OrderBy}}</h2>
<table class="templates">
<thead><tr><th>Rank</th><th class="l">Template ID</th><th>Time</th><th>Time%</th><th>Calls</th><th>Calls%</th><th>QPS</th><th>Avg</th><th>p95~</th><th>p99~</th><th>Max</th><th>Lock</th><th>Rows sent</th><th>Rows exam.</th><th>Exam./call</th><th>Errors</th><th class="l">Activity</th></tr></thead>
<tbody>
{{range .Templates}}<tr class="fig"><td>{{.Rank}}</td><td class="l"><code>{{.TemplateID}}</code></td><td>{{us .ExecTimeUs}}</td><td>{{pct .TimeShare}}</td><td>{{count .Count}}</td><td>{{pct .CountShare}}</td><td>{{rate .QPS}}</td><td>{{us .AvgLatencyUs}}</td><td>{{us .P95LatencyUs}}</td><td title="upper bound {{us .P99UpperUs}}">{{us .P99LatencyUs}}</td><td>{{us .MaxLatencyUs}}</td><td>{{us .LockTimeUs}}</td><td>{{count .RowsSent}}</td><td>{{count .RowsExamined}}</td><td>{{rate .RowsExaminedPer}}</td><td>{{count .Errors}}</td><td class="l">{{template "spark" (spark .Series)}}</td></tr>
<tr class="sql"><td></td><td colspan="16">{{with label .Instance .DB}}<strong>{{.}}</strong> {{end}}<code>{{sql .SampleSQL .Template}}</code></td></tr>
{{end}}</tbody>
</table>
{{with .Compare}}
<h2>Compared with {{.Baseline.From}} .. {{.Baseline.To}} ({{.Baseline.Minutes}} min)</h2>
<table class="overall">
<tr><th></th><th>current</th><th>baseline</th><th>change</th></tr>
<tr><th>Statements</th><td>{{count $.Overall.Statements}}</td><td>{{count .Baseline.Statements}}</td><td>{{ratio (ratioOf $.Overall.Statements .Baseline.Statements)}}</td></tr>
<tr><th>QPS</th><td>{{rate $.Overall.QPS}}</td><td>{{rate .Baseline.QPS}}</td><td>{{ratio (ratioOf $.Overall.QPS .Baseline.QPS)}}</td></tr>
<tr><th>Load</th><td>{{rate $.Overall.Load}}</td><td>{{rate .Baseline.Load}}</td><td>{{ratio (ratioOf $.Overall.Load .Baseline.Load)}}</td></tr>
<tr><th>Avg latency</th><td>{{us $.Overall.AvgLatencyUs}}</td><td>{{us .Baseline.AvgLatencyUs}}</td><td>{{ratio (ratioOf $.Overall.AvgLatencyUs .Baseline.AvgLatencyUs)}}</td></tr>
<tr><th>p99~ latency</th><td>{{us $.Overall.P99LatencyUs}}</td><td>{{us .Baseline.P99LatencyUs}}</td><td>{{ratio (ratioOf $.Overall.P99LatencyUs .Baseline.P99LatencyUs)}}</td></tr>
<tr><th>Errors</th><td>{{count $.Overall.Errors}}</td><td>{{count .Baseline.Errors}}</td><td>{{ratio (ratioOf $.Overall.Errors .Baseline.Errors)}}</td></tr>
<tr><th>Lines</th><td>{{$.Overall.Lines}}</td><td>{{.Baseline.Lines}}</td><td>{{.New}} new, {{.Gone}} gone</td></tr>
</table>
<h2>{{if lt (len .Changes) .Lines}}Top {{len .Changes}} of {{.Lines}}{{else}}All {{.Lines}}{{end}} changes by {{what $.OrderBy}} increase</h2>
<table class="changes">
<thead><tr><th>Rank</th><th class="l">Template ID</th><th class="l">Change</th><th>Score</th><th>QPS</th><th>base</th><th>×</th><th>Avg</th><th>base</th><th>×</th><th>p99~</th><th>base</th><th>×</th><th>Errors</th><th>base</th></tr></thead>
<tbody>
{{range .Changes}}<tr class="fig"><td>{{.Rank}}</td><td class="l"><code>{{.TemplateID}}</code></td><td class="l">{{range .Tags}}<span class="tag {{.}}">{{.}}</span>{{else}}-{{end}}</td><td>{{score .Score}}</td>
{{with .Current}}<td>{{rate .QPS}}</td>{{else}}<td>-</td>{{end}}{{with .Baseline}}<td>{{rate .QPS}}</td>{{else}}<td>-</td>{{end}}<td>{{ratio .QPSRatio}}</td>
{{with .Current}}<td>{{us .AvgLatencyUs}}</td>{{else}}<td>-</td>{{end}}{{with .Baseline}}<td>{{us .AvgLatencyUs}}</td>{{else}}<td>-</td>{{end}}<td>{{ratio .AvgLatencyRatio}}</td>
{{with .Current}}<td>{{us .P99LatencyUs}}</td>{{else}}<td>-</td>{{end}}{{with .Baseline}}<td>{{us .P99LatencyUs}}</td>{{else}}<td>-</td>{{end}}<td>{{ratio .P99LatencyRatio}}</td>
{{with .Current}}<td>{{count .Errors}}</td>{{else}}<td>-</td>{{end}}{{with .Baseline}}<td>{{count .Errors}}</td>{{else}}<td>-</td>{{end}}</tr>
<tr class="sql"><td></td><td colspan="14">{{with label .Instance .DB}}<strong>{{.}}</strong> {{end}}<code>{{sql .SampleSQL .Template}}</code></td></tr>
{{end}}</tbody>
</table>
{{end}}
<p class="note">Figures are sums of das minute aggregates (highest version of each minute). Quantiles marked ~ over more than one minute are estimates from the per-minute p50/p95/p99 (the true value lies between the smallest and the largest per-minute value; the largest is shown as the upper bound). See docs/report.md.</p>
</body>
</html>
{{define "spark"}}<svg class="spark" xmlns="http://www.w3.org/2000/svg" width="{{.Width}}" height="{{.Height}}" viewBox="0 0 {{.Width}} {{.Height}}" role="img">{{$w := .BarWidth}}{{range .Bars}}<rect x="{{.X}}" y="{{.Y}}" width="{{$w}}" height="{{.H}}"><title>{{.Title}}</title></rect>{{end}}</svg>{{end}}`
