package leafhttp

import (
	"context"
	"database/sql"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log"
	"net/http"
	"net/http/httptest"
	"os"
	"slices"
	"sort"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	"go.uber.org/goleak"

	"github.com/das-project/das/internal/mariadbtest"
	"github.com/das-project/das/leaf"
)

func TestMain(m *testing.M) {
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	mariadbtest.Main(m)
}

type fixture struct {
	db  *sql.DB
	seg *leaf.Segment
	sf  *leaf.Snowflake
	reg *prometheus.Registry
	srv *httptest.Server
}

// newFixture starts a handler with both modes over a fresh database with
// tags "order" (step 100) and "user" (step 10).
func newFixture(t testing.TB, token string) *fixture {
	t.Helper()
	dsn := mariadbtest.DSN(t)
	db, err := sql.Open("mysql", dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	ctx := context.Background()
	if err := leaf.Migrate(ctx, db); err != nil {
		t.Fatal(err)
	}
	for tag, step := range map[string]int64{"order": 100, "user": 10} {
		if err := leaf.AddTag(ctx, db, tag, step, 1, ""); err != nil {
			t.Fatal(err)
		}
	}
	f := &fixture{db: db, reg: prometheus.NewRegistry()}
	if f.seg, err = leaf.OpenSegment(ctx, db, leaf.SegmentOptions{Registerer: f.reg, DefaultWait: 50 * time.Millisecond}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.seg.Close() })
	if f.sf, err = leaf.OpenSnowflake(ctx, db, leaf.SnowflakeOptions{Registerer: f.reg}); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { f.sf.Close() })
	h, err := NewHandler(Options{Segment: f.seg, Snowflake: f.sf, Token: token, Registry: f.reg, MaxCount: 1000})
	if err != nil {
		t.Fatal(err)
	}
	f.srv = httptest.NewServer(h)
	t.Cleanup(f.srv.Close)
	return f
}

func get(t testing.TB, url, token string) (int, string) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func TestEndpoints(t *testing.T) {
	mariadbtest.Shared(t) // a private server's waiter goroutine outlives tests
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
	f := newFixture(t, "")
	u := f.srv.URL
	for _, tc := range []struct {
		path     string
		code     int
		body     string // exact, or prefix when ending in "…"
		contains string
	}{
		{"/api/segment/get/order", 200, "1", ""},
		{"/api/segment/get/order", 200, "2", ""},
		{"/api/segment/get/order?count=3", 200, "3\n4\n5\n", ""},
		{"/api/segment/get/user?count=12", 200, "1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n11\n12\n", ""},
		{"/api/segment/get/nope", 404, "", "tag not found"},
		{"/api/segment/get/order?count=0", 400, "", "[1, 1000]"},
		{"/api/segment/get/order?count=1001", 400, "", "[1, 1000]"},
		{"/api/segment/get/order?count=x", 400, "", "count"},
		{"/api/snowflake/decode/-5", 400, "", "non-negative"},
		{"/api/status", 200, "", `"tag": "order"`},
		{"/", 200, "", "<td>order</td>"},
		{"/healthz", 200, "ok", ""},
		{"/metrics", 200, "", "leaf_segment_remaining_ids{tag=\"order\"}"},
		{"/nothing", 404, "", ""},
	} {
		code, body := get(t, u+tc.path, "")
		if code != tc.code || (tc.body != "" && body != tc.body) || !strings.Contains(body, tc.contains) {
			t.Errorf("GET %s = %d %q; want %d %q containing %q", tc.path, code, body, tc.code, tc.body, tc.contains)
		}
	}

	// Snowflake: IDs and decode.
	code, body := get(t, u+"/api/snowflake/get/anything?count=5", "")
	ids, err := ParseIDs([]byte(body))
	if code != 200 || err != nil || len(ids) != 5 || !slices.IsSorted(ids) {
		t.Fatalf("snowflake count=5: %d %q %v", code, body, err)
	}
	code, body = get(t, u+"/api/snowflake/decode/"+strings.TrimSpace(strings.Split(body, "\n")[0]), "")
	var dec struct {
		WorkerID int64 `json:"worker_id"`
		TsMs     int64 `json:"timestamp_ms"`
	}
	if err := json.Unmarshal([]byte(body), &dec); code != 200 || err != nil || dec.WorkerID != f.sf.Status().WorkerID ||
		time.Since(time.UnixMilli(dec.TsMs)) > time.Minute {
		t.Fatalf("decode: %d %s %v", code, body, err)
	}

	// Metrics count requests by route and code.
	code, body = get(t, u+"/metrics", "")
	for _, want := range []string{
		`leaf_http_requests_total{code="200",route="segment"} 4`,
		`leaf_http_requests_total{code="404",route="segment"} 1`,
		`leaf_http_requests_total{code="400",route="segment"} 3`,
		`leaf_snowflake_issued_ids_total 5`,
	} {
		if !strings.Contains(body, want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}

	// Closed generators answer 503.
	f.seg.Close()
	f.sf.Close()
	for _, p := range []string{"/api/segment/get/order", "/api/snowflake/get/x"} {
		if code, body := get(t, u+p, ""); code != 503 || !strings.Contains(body, "closed") {
			t.Errorf("GET %s after Close = %d %q, want 503", p, code, body)
		}
	}
	// The status page still renders.
	if code, body := get(t, u+"/", ""); code != 200 || !strings.Contains(body, "not valid") {
		t.Errorf("status page after close: %d", code)
	}
}

func TestModesDisabled(t *testing.T) {
	h, err := NewHandler(Options{})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(h)
	defer srv.Close()
	for _, p := range []string{"/api/segment/get/a", "/api/snowflake/get/a", "/api/snowflake/decode/1"} {
		if code, body := get(t, srv.URL+p, ""); code != 404 || !strings.Contains(body, "not enabled") {
			t.Errorf("GET %s = %d %q; want 404 not enabled", p, code, body)
		}
	}
	if code, body := get(t, srv.URL+"/", ""); code != 200 || !strings.Contains(body, "segment mode not enabled") {
		t.Errorf("status page: %d %q", code, body)
	}
}

func TestBearerToken(t *testing.T) {
	f := newFixture(t, "s3cret")
	for _, tc := range []struct {
		path, token string
		code        int
	}{
		{"/api/segment/get/order", "", 401},
		{"/api/segment/get/order", "wrong", 401},
		{"/api/segment/get/order", "s3cret", 200},
		{"/metrics", "", 401},
		{"/metrics", "s3cret", 200},
		{"/", "", 401},
		{"/api/status", "s3cret", 200},
		{"/healthz", "", 200},
	} {
		if code, _ := get(t, f.srv.URL+tc.path, tc.token); code != tc.code {
			t.Errorf("GET %s with token %q = %d, want %d", tc.path, tc.token, code, tc.code)
		}
	}
}

func TestClient(t *testing.T) {
	f := newFixture(t, "tok")
	ctx := context.Background()
	c := &Client{BaseURL: f.srv.URL + "/", Mode: "segment", Token: "tok"}
	var g leaf.Generator = c
	a, err := g.NextID(ctx, "order")
	if err != nil {
		t.Fatal(err)
	}
	ids, err := g.NextIDs(ctx, "order", 250)
	if err != nil || len(ids) != 250 || ids[0] != a+1 || ids[249] != a+250 {
		t.Fatalf("NextIDs: %v (%d IDs), first %v", err, len(ids), ids[:1])
	}
	if _, err := g.NextID(ctx, "nope"); !errors.Is(err, leaf.ErrTagNotFound) {
		t.Fatalf("unknown tag: %v", err)
	}
	bound := leaf.Bind(&Client{BaseURL: f.srv.URL, Mode: "snowflake", Token: "tok"}, "x")
	if id, err := bound.NextID(ctx); err != nil || id <= 0 {
		t.Fatalf("snowflake via client: %d, %v", id, err)
	}
	if _, err := (&Client{BaseURL: f.srv.URL, Mode: "segment"}).NextID(ctx, "order"); err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("without token: %v", err)
	}
	f.seg.Close()
	if _, err := c.NextID(ctx, "order"); !errors.Is(err, leaf.ErrSegmentsExhausted) {
		t.Fatalf("closed server generator: %v", err)
	}
}

func TestParseIDs(t *testing.T) {
	for _, tc := range []struct {
		in   string
		want []int64
		ok   bool
	}{
		{"1", []int64{1}, true},
		{"1\n", []int64{1}, true},
		{"1\r\n2\r\n", []int64{1, 2}, true},
		{"1\n2\n3", []int64{1, 2, 3}, true},
		{"", nil, false},
		{"\n", nil, false},
		{"1\n\n2", nil, false},
		{"x", nil, false},
		{"99999999999999999999", nil, false},
	} {
		got, err := ParseIDs([]byte(tc.in))
		if (err == nil) != tc.ok || !slices.Equal(got, tc.want) {
			t.Errorf("ParseIDs(%q) = %v, %v", tc.in, got, err)
		}
	}
}

func FuzzParseIDs(f *testing.F) {
	for _, s := range []string{"1", "1\n2\n", "1\r\n", "", "-5\n", "a"} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, b []byte) {
		ids, err := ParseIDs(b)
		if err != nil {
			return
		}
		// Re-encoding as the server does parses back to the same IDs.
		var sb strings.Builder
		for _, id := range ids {
			sb.WriteString(strings.TrimSpace(jsonInt(id)))
			sb.WriteByte('\n')
		}
		again, err := ParseIDs([]byte(sb.String()))
		if err != nil || !slices.Equal(again, ids) {
			t.Fatalf("round trip of %v: %v, %v", ids, again, err)
		}
	})
}

func jsonInt(v int64) string {
	b, _ := json.Marshal(v)
	return string(b)
}

// BenchmarkHTTPSegment is the loopback load test: a bounded Go load
// generator (C keep-alive clients, b.N requests in all) against the handler
// on a real TCP listener in the same process, on the same cores. It reports
// requests/s, latency percentiles and CPU per request.
//
// With LEAF_BENCH_URL set (e.g. http://127.0.0.1:8080/api/segment/get/order)
// it loads that URL instead, e.g. a `das leaf serve` in another process.
func BenchmarkHTTPSegment(b *testing.B) {
	for _, c := range []int{4, 16} {
		b.Run(fmt.Sprintf("clients=%d", c), func(b *testing.B) {
			if u := os.Getenv("LEAF_BENCH_URL"); u != "" {
				benchLoad(b, u, c)
				return
			}
			f := newFixture(b, "")
			if _, err := f.db.Exec("UPDATE leaf_alloc SET step = 100000"); err != nil {
				b.Fatal(err)
			}
			benchLoad(b, f.srv.URL+"/api/segment/get/order", c)
		})
	}
}

func BenchmarkHTTPSnowflake(b *testing.B) {
	f := newFixture(b, "")
	benchLoad(b, f.srv.URL+"/api/snowflake/get/order", 16)
}

func benchLoad(b *testing.B, url string, clients int) {
	tr := &http.Transport{MaxIdleConnsPerHost: clients, MaxConnsPerHost: clients}
	defer tr.CloseIdleConnections()
	hc := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	lat := make([][]time.Duration, clients)
	var next sync.Mutex
	remaining := b.N
	take := func() bool {
		next.Lock()
		defer next.Unlock()
		if remaining == 0 {
			return false
		}
		remaining--
		return true
	}
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	var wg sync.WaitGroup
	for c := range clients {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for take() {
				t0 := time.Now()
				resp, err := hc.Get(url)
				if err != nil {
					b.Error(err)
					return
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != 200 {
					b.Errorf("status %d", resp.StatusCode)
					return
				}
				lat[c] = append(lat[c], time.Since(t0))
			}
		}()
	}
	wg.Wait()
	el := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	var all []time.Duration
	for _, l := range lat {
		all = append(all, l...)
	}
	sort.Slice(all, func(i, j int) bool { return all[i] < all[j] })
	if len(all) == 0 {
		return
	}
	q := func(p float64) float64 { return float64(all[int(p*float64(len(all)-1))].Microseconds()) }
	b.ReportMetric(float64(len(all))/el.Seconds(), "req/s")
	b.ReportMetric(q(0.5), "p50-µs")
	b.ReportMetric(q(0.99), "p99-µs")
	b.ReportMetric(q(0.999), "p99.9-µs")
	// CPU of this process (server and load generator together) per
	// request: on a loaded machine, a better guide than req/s to what two
	// idle cores would do (2 s of CPU per second / cpu-µs/req).
	b.ReportMetric(float64(cpu.Microseconds())/float64(len(all)), "cpu-µs/req")
}

// cpuTime is the user+system CPU time of this process so far.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
