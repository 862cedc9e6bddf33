// Package leafhttp is the HTTP face of leaf: the handler behind
// `das leaf serve` and a client that implements leaf.Generator against it.
//
// Endpoints (Leaf-compatible where Leaf has them):
//
//	GET /api/segment/get/{tag}[?count=N]    IDs from segment mode
//	GET /api/snowflake/get/{tag}[?count=N]  IDs from snowflake mode (tag ignored)
//	GET /api/snowflake/decode/{id}          {"timestamp":…,"worker_id":…,"sequence":…}
//	GET /api/status                         JSON snapshot of tags and the lease
//	GET /                                   status page (HTML)
//	GET /metrics                            Prometheus exposition
//	GET /healthz                            "ok" (never needs the token)
//
// An ID response is the bare decimal ID as text/plain; with ?count=N it is
// N IDs, one per line, each ending in "\n". Errors are non-2xx with a
// one-line text message: 400 bad request, 401 missing or wrong bearer token,
// 404 unknown tag or mode not enabled, 503 no ID available now
// (segments exhausted, lease expired, clock moved backwards), 500 other.
package leafhttp

import (
	"crypto/subtle"
	"encoding/json"
	"errors"
	"fmt"
	"html/template"
	"math"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/das-project/das/leaf"
)

// Options configures the handler. Zero values mean defaults.
type Options struct {
	// Segment serves /api/segment; nil disables segment mode (404).
	Segment *leaf.Segment
	// Snowflake serves /api/snowflake; nil disables snowflake mode (404).
	Snowflake *leaf.Snowflake
	// Token, when set, is required as "Authorization: Bearer <Token>" on
	// every endpoint but /healthz. Default: no authentication (bind to
	// loopback then).
	Token string
	// MaxCount bounds ?count=. Default 10,000.
	MaxCount int
	// Registry is served on /metrics and receives the leaf_http_* metrics.
	// Register the generators' metrics in it too (their Registerer option).
	// Default: a new registry with only the HTTP metrics.
	Registry *prometheus.Registry
}

// NewHandler returns the leaf HTTP handler.
func NewHandler(o Options) (http.Handler, error) {
	if o.MaxCount == 0 {
		o.MaxCount = 10_000
	}
	if o.MaxCount < 1 {
		return nil, fmt.Errorf("leafhttp: MaxCount %d must be >= 1", o.MaxCount)
	}
	if o.Registry == nil {
		o.Registry = prometheus.NewRegistry()
	}
	page, err := parsePage()
	if err != nil {
		return nil, fmt.Errorf("leafhttp: BUG: status page template: %w", err)
	}
	h := &handler{o: o, pageTmpl: page}
	h.requests = prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "leaf_http_requests_total", Help: "HTTP requests by route and status code.",
	}, []string{"route", "code"})
	h.latency = prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "leaf_http_request_duration_seconds",
		Help:    "HTTP request handling time by route.",
		Buckets: prometheus.ExponentialBuckets(0.00002, 2.5, 12),
	}, []string{"route"})
	if err := o.Registry.Register(h.requests); err != nil {
		return nil, fmt.Errorf("leafhttp: register metrics: %w", err)
	}
	if err := o.Registry.Register(h.latency); err != nil {
		return nil, fmt.Errorf("leafhttp: register metrics: %w", err)
	}
	mux := http.NewServeMux()
	mux.Handle("GET /api/segment/get/{tag}", h.instrument("segment", h.segment))
	mux.Handle("GET /api/snowflake/get/{tag}", h.instrument("snowflake", h.snowflake))
	mux.Handle("GET /api/snowflake/decode/{id}", h.instrument("decode", h.decode))
	mux.Handle("GET /api/status", h.instrument("status", h.statusJSON))
	mux.Handle("GET /{$}", h.instrument("page", h.page))
	mux.Handle("GET /metrics", h.auth(promhttp.HandlerFor(o.Registry, promhttp.HandlerOpts{})))
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, "ok") })
	return mux, nil
}

type handler struct {
	o        Options
	pageTmpl *template.Template
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
}

// statusWriter records the status code for the metrics.
type statusWriter struct {
	http.ResponseWriter
	code int
}

func (w *statusWriter) WriteHeader(code int) {
	w.code = code
	w.ResponseWriter.WriteHeader(code)
}

func (h *handler) instrument(route string, f http.HandlerFunc) http.Handler {
	lat := h.latency.WithLabelValues(route)
	ok := h.requests.WithLabelValues(route, "200")
	return h.auth(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		sw := &statusWriter{ResponseWriter: w, code: http.StatusOK}
		f(sw, r)
		lat.Observe(time.Since(start).Seconds())
		if sw.code == http.StatusOK {
			ok.Inc()
		} else {
			h.requests.WithLabelValues(route, strconv.Itoa(sw.code)).Inc()
		}
	}))
}

func (h *handler) auth(next http.Handler) http.Handler {
	if h.o.Token == "" {
		return next
	}
	want := []byte("Bearer " + h.o.Token)
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got := []byte(r.Header.Get("Authorization"))
		if subtle.ConstantTimeCompare(got, want) != 1 {
			w.Header().Set("WWW-Authenticate", `Bearer realm="leaf"`)
			http.Error(w, "missing or wrong bearer token", http.StatusUnauthorized)
			return
		}
		next.ServeHTTP(w, r)
	})
}

// count parses ?count=; 0 means "absent" (a single bare ID).
func (h *handler) count(r *http.Request) (int, error) {
	v := r.URL.Query().Get("count")
	if v == "" {
		return 0, nil
	}
	n, err := strconv.Atoi(v)
	if err != nil || n < 1 || n > h.o.MaxCount {
		return 0, fmt.Errorf("count %q: want an integer in [1, %d]", v, h.o.MaxCount)
	}
	return n, nil
}

func (h *handler) segment(w http.ResponseWriter, r *http.Request) {
	if h.o.Segment == nil {
		http.Error(w, "segment mode is not enabled", http.StatusNotFound)
		return
	}
	h.serveIDs(w, r, h.o.Segment)
}

func (h *handler) snowflake(w http.ResponseWriter, r *http.Request) {
	if h.o.Snowflake == nil {
		http.Error(w, "snowflake mode is not enabled", http.StatusNotFound)
		return
	}
	h.serveIDs(w, r, h.o.Snowflake)
}

func (h *handler) serveIDs(w http.ResponseWriter, r *http.Request, g leaf.Generator) {
	tag := r.PathValue("tag")
	n, err := h.count(r)
	if err != nil {
		http.Error(w, err.Error(), http.StatusBadRequest)
		return
	}
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("Cache-Control", "no-store")
	if n == 0 {
		id, err := g.NextID(r.Context(), tag)
		if err != nil {
			writeErr(w, err)
			return
		}
		var buf [20]byte
		_, _ = w.Write(strconv.AppendInt(buf[:0], id, 10))
		return
	}
	ids, err := g.NextIDs(r.Context(), tag, n)
	if err != nil {
		writeErr(w, err)
		return
	}
	buf := make([]byte, 0, n*20)
	for _, id := range ids {
		buf = strconv.AppendInt(buf, id, 10)
		buf = append(buf, '\n')
	}
	_, _ = w.Write(buf)
}

// StatusCode maps a leaf error to the HTTP status the service answers with.
func StatusCode(err error) int {
	switch {
	case errors.Is(err, leaf.ErrTagNotFound):
		return http.StatusNotFound
	case errors.Is(err, leaf.ErrInvalidCount):
		return http.StatusBadRequest
	case errors.Is(err, leaf.ErrSegmentsExhausted), errors.Is(err, leaf.ErrLeaseExpired),
		errors.Is(err, leaf.ErrClockBackwards), errors.Is(err, leaf.ErrNoWorkerID),
		errors.Is(err, leaf.ErrClosed):
		return http.StatusServiceUnavailable
	default:
		return http.StatusInternalServerError
	}
}

func writeErr(w http.ResponseWriter, err error) {
	w.Header().Del("Cache-Control")
	http.Error(w, err.Error(), StatusCode(err))
}

func (h *handler) decode(w http.ResponseWriter, r *http.Request) {
	if h.o.Snowflake == nil {
		http.Error(w, "snowflake mode is not enabled", http.StatusNotFound)
		return
	}
	id, err := strconv.ParseInt(r.PathValue("id"), 10, 64)
	if err != nil || id < 0 {
		http.Error(w, fmt.Sprintf("id %q: want a non-negative decimal int64", r.PathValue("id")), http.StatusBadRequest)
		return
	}
	ts, worker, seq := h.o.Snowflake.Layout().Decode(id)
	writeJSON(w, map[string]any{"id": id, "timestamp": ts.Format(time.RFC3339Nano), "timestamp_ms": ts.UnixMilli(), "worker_id": worker, "sequence": seq})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	_ = enc.Encode(v)
}

// Status is the /api/status document.
type Status struct {
	Tags      []TagStatus      `json:"tags"`
	Snowflake *SnowflakeStatus `json:"snowflake,omitempty"`
}

// TagStatus is one tag of /api/status. RunwaySeconds is null when idle.
type TagStatus struct {
	Tag           string             `json:"tag"`
	TableStep     int64              `json:"table_step"`
	Step          int64              `json:"step"`
	Current       *leaf.SegmentRange `json:"current"`
	Next          *leaf.SegmentRange `json:"next"`
	Remaining     int64              `json:"remaining"`
	Rate          float64            `json:"rate_per_second"`
	RunwaySeconds *float64           `json:"runway_seconds"`
	Issued        int64              `json:"issued"`
	Loads         int64              `json:"loads"`
	LoadErrors    int64              `json:"load_errors"`
	Exhausted     int64              `json:"exhausted"`
	LastLoad      time.Time          `json:"last_load"`
	LastError     string             `json:"last_error,omitempty"`
}

// SnowflakeStatus is the snowflake part of /api/status.
type SnowflakeStatus struct {
	Namespace      string    `json:"namespace"`
	Owner          string    `json:"owner"`
	WorkerID       int64     `json:"worker_id"`
	Epoch          time.Time `json:"epoch"`
	WorkerBits     int       `json:"worker_bits"`
	SequenceBits   int       `json:"sequence_bits"`
	LeaseValid     bool      `json:"lease_valid"`
	LeaseAgeSec    float64   `json:"lease_age_seconds"`
	FenceInSec     float64   `json:"fence_in_seconds"`
	LastTimestamp  time.Time `json:"last_timestamp"`
	Issued         int64     `json:"issued"`
	ClockBackwards int64     `json:"clock_backwards"`
	LastError      string    `json:"last_error,omitempty"`
}

func (h *handler) snapshot() Status {
	st := Status{Tags: []TagStatus{}}
	if h.o.Segment != nil {
		for _, t := range h.o.Segment.Status() {
			ts := TagStatus{Tag: t.Tag, TableStep: t.TableStep, Step: t.Step, Current: t.Current, Next: t.Next,
				Remaining: t.Remaining, Rate: t.Rate, Issued: t.Issued, Loads: t.Loads, LoadErrors: t.LoadErrors,
				Exhausted: t.Exhausted, LastLoad: t.LastLoad, LastError: t.LastError}
			if !math.IsInf(t.RunwaySeconds, 0) {
				r := t.RunwaySeconds
				ts.RunwaySeconds = &r
			}
			st.Tags = append(st.Tags, ts)
		}
	}
	if h.o.Snowflake != nil {
		s := h.o.Snowflake.Status()
		st.Snowflake = &SnowflakeStatus{Namespace: s.Namespace, Owner: s.Owner, WorkerID: s.WorkerID,
			Epoch: s.Layout.Epoch, WorkerBits: s.Layout.WorkerBits, SequenceBits: s.Layout.SequenceBits,
			LeaseValid: s.LeaseValid, LeaseAgeSec: s.LeaseAge.Seconds(), FenceInSec: s.FenceIn.Seconds(),
			LastTimestamp: s.LastTimestamp, Issued: s.Issued, ClockBackwards: s.ClockBackwards, LastError: s.LastError}
	}
	return st
}

func (h *handler) statusJSON(w http.ResponseWriter, r *http.Request) { writeJSON(w, h.snapshot()) }

// pageSource is the status page; parsed by NewHandler.
func parsePage() (*template.Template, error) {
	return template.New("page").Funcs(template.FuncMap{
		"deref": func(p *float64) float64 { return *p },
		"runway": func(p *float64) string {
			if p == nil {
				return "∞ (idle)"
			}
			return time.Duration(*p * float64(time.Second)).Round(time.Millisecond).String()
		},
		"seg": func(r *leaf.SegmentRange) string {
			if r == nil {
				return "—"
			}
			return fmt.Sprintf("[%d, %d) next %d", r.Start, r.Max, r.Next)
		},
		"rate": func(f float64) string { return strconv.FormatFloat(f, 'f', 1, 64) },
	}).Parse(`<!doctype html>
<html><head><meta charset="utf-8"><title>leaf</title>
<style>
body{font:14px system-ui,sans-serif;margin:2em;color:#222}
table{border-collapse:collapse}th,td{padding:.3em .8em;border-bottom:1px solid #ddd;text-align:right}
th:first-child,td:first-child{text-align:left}.err{color:#b00}.low{background:#fee}
table.kv td{text-align:left}
</style></head><body>
<h1>leaf</h1>
<h2>Segment mode</h2>
{{if .Tags}}<table>
<tr><th>tag</th><th>step (table)</th><th>current segment</th><th>next segment</th><th>remaining IDs</th><th>rate /s</th><th>runway</th><th>issued</th><th>loads (errors)</th><th>last error</th></tr>
{{range .Tags}}<tr{{if and .RunwaySeconds (lt (deref .RunwaySeconds) 10.0)}} class="low"{{end}}>
<td>{{.Tag}}</td><td>{{.Step}} ({{.TableStep}})</td><td>{{seg .Current}}</td><td>{{seg .Next}}</td>
<td>{{.Remaining}}</td><td>{{rate .Rate}}</td><td>{{runway .RunwaySeconds}}</td><td>{{.Issued}}</td>
<td>{{.Loads}} ({{.LoadErrors}})</td><td class="err">{{.LastError}}</td></tr>
{{end}}</table>{{else}}<p>No tags{{if not .SegmentOn}} (segment mode not enabled){{end}}.</p>{{end}}
<h2>Snowflake mode</h2>
{{with .Snowflake}}<table class="kv">
<tr><td>namespace / owner</td><td>{{.Namespace}} / {{.Owner}}</td></tr>
<tr><td>worker id</td><td>{{.WorkerID}}</td></tr>
<tr><td>layout</td><td>epoch {{.Epoch.Format "2006-01-02T15:04:05Z07:00"}}, {{.WorkerBits}} worker bits, {{.SequenceBits}} sequence bits</td></tr>
<tr><td>lease</td><td>{{if .LeaseValid}}valid{{else}}<span class="err">not valid</span>{{end}}, age {{printf "%.2f" .LeaseAgeSec}} s, fences in {{printf "%.2f" .FenceInSec}} s</td></tr>
<tr><td>last timestamp</td><td>{{.LastTimestamp.Format "2006-01-02T15:04:05.000Z07:00"}}</td></tr>
<tr><td>issued / clock-backwards refusals</td><td>{{.Issued}} / {{.ClockBackwards}}</td></tr>
<tr><td>last error</td><td class="err">{{.LastError}}</td></tr>
</table>{{else}}<p>Not enabled.</p>{{end}}
<p><a href="metrics">metrics</a> · <a href="api/status">status JSON</a></p>
</body></html>
`)
}

func (h *handler) page(w http.ResponseWriter, r *http.Request) {
	st := h.snapshot()
	w.Header().Set("Content-Type", "text/html; charset=utf-8")
	data := struct {
		Status
		SegmentOn bool
	}{st, h.o.Segment != nil}
	if err := h.pageTmpl.Execute(w, data); err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
	}
}
