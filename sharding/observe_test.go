package sharding

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/das-project/das/internal/kafkatest"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources"
)

// collector keeps copies of the events handed to it.
type collector struct {
	mu  sync.Mutex
	evs []sources.Event
}

func (c *collector) Emit(ev *sources.Event) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	e := *ev
	e.SQL = append([]byte(nil), ev.SQL...)
	c.evs = append(c.evs, e)
	return nil
}

func (c *collector) take() []sources.Event {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := c.evs
	c.evs = nil
	return out
}

type fanout []EventSink

func (f fanout) Emit(ev *sources.Event) error {
	for _, s := range f {
		if err := s.Emit(ev); err != nil {
			return err
		}
	}
	return nil
}

// Every statement becomes a das SQL event (to a function and to Kafka, as
// JSON lines the das decoder reads back identically) and is counted in
// Prometheus by datasource and template id.
func TestEventsAndMetrics(t *testing.T) {
	ctx := context.Background()
	kc := kafkatest.NewCluster(t, kafkatest.Options{Brokers: 1})
	kc.CreateTopic(DefaultEventTopic, 1, nil)
	cl := kafkatest.Client(t, kc.Addrs(), kgo.ProducerLinger(0))
	ks := NewKafkaSink(cl, "")
	got := &collector{}
	reg := prometheus.NewRegistry()
	start := time.Now()
	c, _, cfg := setupOrders(t, 2, 4, Options{Registerer: reg, Events: fanout{got, ks}, MaxTemplates: 4})
	mc, _ := mysql.ParseDSN(cfg.DataSources[1].Primary.DSN)

	ins := "INSERT INTO {order} (id, user_id, amount) VALUES (?, ?, ?)"
	if _, err := c.Exec(ctx, "order", 2, ins, 1, 2, 5); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Exec(ctx, "order", 2, ins, 2, 2, 6); err != nil {
		t.Fatal(err)
	}
	_, err := c.Exec(ctx, "order", 2, ins, 1, 2, 5)
	var me *mysql.MySQLError
	if !errors.As(err, &me) || me.Number != 1062 {
		t.Fatalf("duplicate insert: %v", err)
	}
	sel := "SELECT id FROM {order} WHERE user_id = ?"
	ids, err := Scatter(ctx, c, "order", "SELECT id FROM {order}", ScatterOptions{}, func(r *Rows) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	})
	if err != nil || len(ids) != 2 {
		t.Fatalf("scatter: %v %v", ids, err)
	}
	rows, err := c.Query(ctx, "order", 2, sel, 2)
	if err != nil {
		t.Fatal(err)
	}
	for rows.Next() {
	}
	if err := rows.Close(); err != nil {
		t.Fatal(err)
	}
	tctx, cancel := context.WithTimeout(ctx, 100*time.Millisecond)
	_, err = c.Exec(tctx, "order", 2, "DO SLEEP(?) + 0*LENGTH('{order}')", 1)
	cancel()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("timeout: %v", err)
	}
	// A fifth template: past MaxTemplates, counted as "other".
	if _, err := c.Exec(ctx, "order", 2, "UPDATE {order} SET amount = amount WHERE id = ?", 1); err != nil {
		t.Fatal(err)
	}

	evs := got.take()
	// 3 inserts, 4 scatter shards, 1 query, 1 timeout, 1 update.
	if len(evs) != 10 {
		t.Fatalf("%d events: %+v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev.Instance != mc.Addr || ev.User != "root" || ev.TsMs < start.UnixMilli() || ev.TsMs > time.Now().UnixMilli() || ev.LatencyUs < 0 {
			t.Fatalf("event fields: %+v", ev)
		}
		if strings.Contains(string(ev.SQL), "{order}") || sources.Check(&ev) != nil {
			t.Fatalf("event: %+v %v", ev, sources.Check(&ev))
		}
	}
	first := evs[0]
	if first.DB != mc.DBName || string(first.SQL) != "INSERT INTO `order_2` (id, user_id, amount) VALUES (?, ?, ?)" ||
		first.RowsAffected != 1 || first.ErrCode != 0 {
		t.Fatalf("insert event: %+v (%s)", first, first.SQL)
	}
	if evs[2].ErrCode != 1062 {
		t.Fatalf("duplicate key event: %+v", evs[2])
	}
	if q := evs[7]; q.RowsSent != 2 || string(q.SQL) != "SELECT id FROM `order_2` WHERE user_id = ?" {
		t.Fatalf("query event: %+v (%s)", q, q.SQL)
	}
	if to := evs[8]; to.ErrCode != CodeTimeout || to.LatencyUs < 90_000 {
		t.Fatalf("timeout event: %+v", to)
	}

	// Kafka carries the same events, keyed by instance, decodable by das.
	if err := ks.Flush(ctx); err != nil {
		t.Fatal(err)
	}
	if st := ks.Stats(); st.Produced != 10 || st.Failed != 0 {
		t.Fatalf("kafka sink: %+v", st)
	}
	recs := kafkatest.ReadAll(t, kc.Addrs(), DefaultEventTopic)
	if len(recs) != len(evs) {
		t.Fatalf("%d records, %d events", len(recs), len(evs))
	}
	// Scatter shards run in parallel, so the two sinks may see their events
	// in different orders: compare as sets.
	key := func(ev *sources.Event) string {
		return fmt.Sprintf("%d|%s|%d|%d|%d", ev.TsMs, ev.SQL, ev.LatencyUs, ev.ErrCode, ev.RowsSent)
	}
	want := map[string]int{}
	for i := range evs {
		want[key(&evs[i])]++
	}
	var dec sources.Decoder
	for i, r := range recs {
		var ev sources.Event
		if err := dec.Decode(r.Value, &ev); err != nil {
			t.Fatalf("record %d: %v: %s", i, err, r.Value)
		}
		k := key(&ev)
		if string(r.Key) != mc.Addr || want[k] == 0 {
			t.Fatalf("record %d = %+v (key %q) is not one of the events %+v", i, ev, r.Key, evs)
		}
		want[k]--
	}

	// Metrics: by template id of the logical statement, never raw SQL.
	fp := fingerprint.New()
	tid := func(q string) string {
		id, _ := fp.Fingerprint([]byte(strings.ReplaceAll(q, "{order}", "order")))
		return id.String()
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	find := func(name string, labels map[string]string) *dto.Metric {
		for _, mf := range mfs {
			if mf.GetName() != name {
				continue
			}
		next:
			for _, m := range mf.Metric {
				for _, lp := range m.Label {
					if v, ok := labels[lp.GetName()]; ok && v != lp.GetValue() {
						continue next
					}
				}
				return m
			}
		}
		return nil
	}
	val := func(name string, labels map[string]string) float64 {
		m := find(name, labels)
		if m == nil {
			t.Fatalf("no %s%v", name, labels)
		}
		switch {
		case m.Counter != nil:
			return m.Counter.GetValue()
		case m.Gauge != nil:
			return m.Gauge.GetValue()
		case m.Histogram != nil:
			return float64(m.Histogram.GetSampleCount())
		}
		return 0
	}
	db1 := map[string]string{"datasource": "order_db1", "template": tid(ins)}
	if v := val("das_sharding_sql_queries_total", db1); v != 3 {
		t.Fatalf("queries_total{insert} = %v", v)
	}
	if v := val("das_sharding_sql_errors_total", db1); v != 1 {
		t.Fatalf("errors_total{insert} = %v", v)
	}
	if v := val("das_sharding_sql_duration_seconds", db1); v != 3 {
		t.Fatalf("duration count{insert} = %v", v)
	}
	if v := val("das_sharding_sql_timeouts_total", map[string]string{"datasource": "order_db1", "template": tid("DO SLEEP(?) + 0*LENGTH('{order}')")}); v != 1 {
		t.Fatalf("timeouts_total = %v", v)
	}
	if v := val("das_sharding_sql_queries_total", map[string]string{"datasource": "order_db1", "template": "other"}); v != 1 {
		t.Fatalf("template past the cap: %v", v)
	}
	if v := val("das_sharding_pool_max_open_connections", map[string]string{"datasource": "order_db0", "node": "primary"}); v != 6 {
		t.Fatalf("pool max_open = %v", v)
	}
	for _, name := range []string{"das_sharding_pool_open_connections", "das_sharding_pool_in_use_connections",
		"das_sharding_pool_idle_connections", "das_sharding_pool_wait_total", "das_sharding_pool_wait_seconds_total",
		"das_sharding_events_total", "das_sharding_config_generation"} {
		val(name, nil)
	}
	for _, mf := range mfs {
		for _, m := range mf.Metric {
			for _, lp := range m.Label {
				if strings.Contains(lp.GetValue(), " ") {
					t.Fatalf("raw text in a label: %s{%s=%q}", mf.GetName(), lp.GetName(), lp.GetValue())
				}
			}
		}
	}
	if tm := c.Templates(); tm[tid(ins)] == "" {
		t.Fatalf("Templates: %v", tm)
	}
}

// Pool waits are exported as monotonic counters that survive pool
// replacement.
func TestPoolWaitDeltas(t *testing.T) {
	ctx := context.Background()
	c, _, cfg := setupOrders(t, 1, 2, Options{})
	cfg.DataSources[0].Pool = PoolConfig{MaxOpen: 1, MaxIdle: 1}
	if err := c.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	tx, err := c.BeginTx(ctx, "order", 0, nil) // holds the only connection
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := c.Exec(ctx, "order", 1, "DELETE FROM {order} WHERE id = 0")
		done <- err
	}()
	// Wait until the call is blocked on the pool, then free the connection.
	n := c.state.Load().nodes[0]
	for n.db.Stats().WaitCount == 0 {
		time.Sleep(time.Millisecond)
	}
	time.Sleep(10 * time.Millisecond)
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
	acc := c.metrics.fold(n)
	if acc.count != 1 || acc.dur < 10*time.Millisecond {
		t.Fatalf("wait after one blocked call: %+v", *acc)
	}
	// Replace the pool: the totals carry over, never go back.
	cfg.DataSources[0].Pool = PoolConfig{MaxOpen: 2, MaxIdle: 1}
	if err := c.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if acc2 := c.metrics.fold(c.state.Load().nodes[0]); acc2.count != 1 {
		t.Fatalf("after pool replacement: %+v", *acc2)
	}
}

// Scatter-gather: bounded parallelism, per-shard timeouts, partial results
// only when asked for.
func TestScatterTimeouts(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	c, _, _ := setupOrders(t, 2, 4, Options{})
	for u := range int64(4) {
		if _, err := c.Exec(ctx, "order", u, "INSERT INTO {order} (id, user_id, amount) VALUES (?, ?, 0)", u+1, u); err != nil {
			t.Fatal(err)
		}
	}
	// Only the shard holding id 3 (order_2) sleeps.
	q := "SELECT id FROM {order} WHERE SLEEP(IF(id = 3, 2, 0)) = 0"
	scan := func(r *Rows) (int64, error) {
		var id int64
		return id, r.Scan(&id)
	}
	opts := ScatterOptions{Parallel: 2, ShardTimeout: 600 * time.Millisecond}
	ids, err := Scatter(ctx, c, "order", q, opts, scan)
	var se *ScatterError
	if ids != nil || !errors.As(err, &se) || len(se.Failed) != 1 || se.Failed[0].Target.Table != "order_2" ||
		!errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("scatter with a slow shard: %v %v", ids, err)
	}
	opts.AllowPartial = true
	ids, err = Scatter(ctx, c, "order", q, opts, scan)
	if !errors.As(err, &se) || len(ids) != 3 || ids[0] != 1 || ids[1] != 2 || ids[2] != 4 {
		t.Fatalf("partial scatter: %v %v", ids, err)
	}
	// Everything answers within the bound: no error.
	ids, err = Scatter(ctx, c, "order", "SELECT id FROM {order}", ScatterOptions{Parallel: 1, ShardTimeout: 5 * time.Second}, scan)
	if err != nil || len(ids) != 4 {
		t.Fatalf("%v %v", ids, err)
	}
	if _, err := Scatter(ctx, c, "order", "SELECT 1", ScatterOptions{}, scan); !errors.Is(err, ErrNoTablePlaceholder) {
		t.Fatalf("no placeholder: %v", err)
	}
}
