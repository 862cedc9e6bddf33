package sharding

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/internal/mariadbtest"
)

// withTimeout returns cfg with every DSN's dial timeout set to d: a
// different DSN, so Reload must build new pools for it.
func withTimeout(t *testing.T, cfg Config, d time.Duration) Config {
	t.Helper()
	out := cfg
	out.DataSources = append([]DataSourceConfig(nil), cfg.DataSources...)
	for i := range out.DataSources {
		mc, err := mysql.ParseDSN(out.DataSources[i].Primary.DSN)
		if err != nil {
			t.Fatal(err)
		}
		mc.Timeout = d
		out.DataSources[i].Primary.DSN = mc.FormatDSN()
	}
	return out
}

// Inserts and reads across shards run while the configuration is reloaded
// several times, each reload replacing every pool: no query may fail, the
// old pools must be closed, and the pools must be back to idle at the end.
func TestReloadUnderLoad(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	c, dbs, cfg0 := setupOrders(t, 2, 8, Options{Registerer: reg})
	orders, err := NewTable[Order](c, "order")
	if err != nil {
		t.Fatal(err)
	}
	cfgs := []Config{
		withTimeout(t, cfg0, 4*time.Second),
		func() Config { // other pool limits: new pools too
			c := withTimeout(t, cfg0, 3*time.Second)
			for i := range c.DataSources {
				c.DataSources[i].Pool = PoolConfig{MaxOpen: 5, MaxIdle: 2}
			}
			return c
		}(),
		cfg0,
		withTimeout(t, cfg0, 2*time.Second),
		cfg0,
	}

	const workers = 6
	var (
		nextID   atomic.Int64
		ops      atomic.Int64
		failures atomic.Int64
		firstErr atomic.Pointer[error]
		stop     = make(chan struct{})
		wg       sync.WaitGroup
	)
	fail := func(err error) {
		failures.Add(1)
		firstErr.CompareAndSwap(nil, &err)
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; ; i++ {
				select {
				case <-stop:
					return
				default:
				}
				id := nextID.Add(1)
				o := Order{ID: id, UserID: id * 13, Amount: id, Note: "w"}
				if err := orders.Insert(ctx, &o); err != nil {
					fail(fmt.Errorf("insert %d: %w", id, err))
					continue
				}
				got, err := orders.Get(ctx, o.UserID, o.ID)
				if err != nil || *got != o {
					fail(fmt.Errorf("get %d: %+v %w", id, got, err))
				}
				if i%5 == w%5 {
					// Rows held open across a possible swap.
					rows, err := c.Query(ctx, "order", o.UserID, "SELECT id FROM {order} WHERE user_id = ?", o.UserID)
					if err != nil {
						fail(err)
						continue
					}
					time.Sleep(time.Millisecond)
					n := 0
					for rows.Next() {
						n++
					}
					if err := rows.Close(); err != nil || n != 1 {
						fail(fmt.Errorf("query %d: %d rows, %w", id, n, err))
					}
				}
				if i%7 == w {
					tx, err := c.BeginTx(ctx, "order", o.UserID, nil)
					if err != nil {
						fail(err)
						continue
					}
					_, err = orders.In(tx).Update(ctx, &Order{ID: o.ID, UserID: o.UserID, Amount: -o.Amount, Note: "tx"})
					time.Sleep(time.Millisecond)
					if err != nil {
						fail(err)
						_ = tx.Rollback()
						continue
					}
					if err := tx.Rollback(); err != nil {
						fail(err)
					}
				}
				ops.Add(1)
			}
		}()
	}

	var closedPools []*sql.DB
	for i, cfg := range cfgs {
		time.Sleep(150 * time.Millisecond)
		before := c.state.Load().nodes
		if err := c.Reload(ctx, cfg); err != nil {
			t.Fatalf("reload %d: %v", i, err)
		}
		if g := c.Generation(); g != uint64(i+2) {
			t.Fatalf("generation %d after reload %d", g, i)
		}
		// Each of these reloads changes every DSN or pool: the previous
		// pools are closed by the time Reload returns.
		for _, n := range before {
			if !n.closed.Load() {
				t.Fatalf("reload %d: pool %s/%s (gen %d) still open", i, n.ds, n.name, n.gen)
			}
			if st := n.db.Stats(); st.OpenConnections != 0 {
				t.Fatalf("reload %d: closed pool has %d connections", i, st.OpenConnections)
			}
			closedPools = append(closedPools, n.db)
		}
	}
	time.Sleep(150 * time.Millisecond)
	close(stop)
	wg.Wait()

	if n := failures.Load(); n > 0 {
		t.Fatalf("%d failed operations during reloads (of %d); first: %v", n, ops.Load(), *firstErr.Load())
	}
	t.Logf("%d operations across %d reloads, none failed", ops.Load(), len(cfgs))
	if ops.Load() < 50 {
		t.Fatalf("only %d operations ran: the load did not overlap the reloads", ops.Load())
	}
	for _, db := range closedPools {
		if err := db.PingContext(ctx); err == nil || !strings.Contains(err.Error(), "closed") {
			t.Fatalf("an old pool still answers: %v", err)
		}
	}
	// Pools back to baseline: nothing in use, nothing above the idle limit.
	for _, st := range c.Stats() {
		if st.InUse != 0 || st.OpenConnections > 3 || st.Generation != 6 {
			t.Fatalf("pool %s/%s after the load: %+v", st.DataSource, st.Node, st)
		}
	}
	if got := metricValue(c.metrics.poolsClosed); got != float64(len(closedPools)) {
		t.Fatalf("pools_closed_total %v, want %d", got, len(closedPools))
	}
	if got := metricValue(c.metrics.reloads.WithLabelValues("ok")); got != float64(len(cfgs)) {
		t.Fatalf("reloads ok %v", got)
	}
	// Every insert is in the table it routes to.
	var total int64
	for i := range 8 {
		var n int64
		if err := dbs[i/4].QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM order_%d WHERE MOD(user_id, 8) = %d", i, i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != nextID.Load()-int64(failures.Load()) && total != ops.Load() {
		// Workers stopped mid-iteration may have inserted without
		// finishing the loop: total is between ops and ids handed out.
		if total < ops.Load() || total > nextID.Load() {
			t.Fatalf("%d rows in place; %d ops, %d ids", total, ops.Load(), nextID.Load())
		}
	}
}

// A reload that leaves a datasource unchanged keeps its pool.
func TestReloadKeepsUnchangedPools(t *testing.T) {
	ctx := context.Background()
	c, _, cfg := setupOrders(t, 2, 4, Options{})
	before := c.state.Load().nodes
	cfg2 := cfg
	cfg2.DataSources = append([]DataSourceConfig(nil), cfg.DataSources...)
	cfg2.DataSources[1] = withTimeout(t, Config{DataSources: cfg.DataSources[1:]}, 3*time.Second).DataSources[0]
	if err := c.Reload(ctx, cfg2); err != nil {
		t.Fatal(err)
	}
	after := c.state.Load().nodes
	if after[0] != before[0] || before[0].closed.Load() {
		t.Fatal("unchanged datasource got a new pool")
	}
	if after[1] == before[1] || !before[1].closed.Load() {
		t.Fatal("changed datasource kept its pool")
	}
}

// Bad configurations fail at Open, and at Reload leave the running
// configuration in force.
func TestBadConfig(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	reg := prometheus.NewRegistry()
	c, _, good := setupOrders(t, 2, 4, Options{Registerer: reg})
	if _, err := NewTable[Order](c, "order"); err != nil {
		t.Fatal(err)
	}
	port, err := mariadbtest.FreePort()
	if err != nil {
		t.Fatal(err)
	}
	edit := func(f func(*Config)) Config {
		cfg := good
		cfg.DataSources = append([]DataSourceConfig(nil), good.DataSources...)
		cfg.Tables = append([]TableConfig(nil), good.Tables...)
		f(&cfg)
		return cfg
	}
	cases := []struct {
		name string
		cfg  Config
		want []error
		msg  string
	}{
		{"unknown strategy", edit(func(c *Config) { c.Tables[0].Strategy = "consistent" }), []error{ErrUnknownStrategy, ErrBadConfig}, `"consistent"`},
		{"table shards 0", edit(func(c *Config) { c.Tables[0].TableShards = 0 }), []error{ErrBadConfig}, "table_shards 0"},
		{"db shards 0", edit(func(c *Config) { c.Tables[0].DBShards = 0 }), []error{ErrBadConfig}, "db_shards 0"},
		{"db shards do not divide", edit(func(c *Config) { c.Tables[0].TableShards = 5 }), []error{ErrBadConfig}, "does not divide"},
		{"duplicate datasource", edit(func(c *Config) { c.DataSources[1].Name = "order_db0" }), []error{ErrBadConfig}, `duplicate datasource key "order_db0"`},
		{"unreachable dsn", edit(func(c *Config) {
			c.DataSources[1].Primary.DSN = fmt.Sprintf("root@tcp(127.0.0.1:%d)/x?timeout=2s", port)
		}), []error{ErrUnreachable}, fmt.Sprintf("127.0.0.1:%d", port)},
		{"malformed dsn", edit(func(c *Config) { c.DataSources[0].Primary.DSN = "root@tcp(127.0.0.1:3306" }), []error{ErrBadConfig}, "primary"},
		{"missing datasource", edit(func(c *Config) { c.Tables[0].DBPrefix = "orders_db" }), []error{ErrBadConfig}, `"orders_db0", which is not configured`},
		{"no datasources", edit(func(c *Config) { c.DataSources = nil }), []error{ErrBadConfig}, "no datasources"},
		{"unknown id generator", edit(func(c *Config) { c.Tables[0].IDGen = "uuid" }), []error{ErrBadConfig}, `"uuid"`},
		{"segment without Options.Segment", edit(func(c *Config) { c.Tables[0].IDGen = "segment:order" }), []error{ErrBadConfig}, "Options.Segment"},
		{"shard column not in struct", edit(func(c *Config) { c.Tables[0].ShardColumn = "amount" }), []error{ErrBadConfig}, `tags "user_id"`},
		{"table used by NewTable dropped", edit(func(c *Config) { c.Tables[0].Name = "orders" }), []error{ErrBadConfig}, "used by NewTable"},
		{"bad table name", edit(func(c *Config) { c.Tables[0].Name = "or-der" }), []error{ErrBadConfig}, "or-der"},
		{"negative weight", edit(func(c *Config) { c.DataSources[0].Primary.Weight = weight(-1) }), []error{ErrBadConfig}, "weight -1"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			err := c.Reload(ctx, tc.cfg)
			for _, w := range tc.want {
				if !errors.Is(err, w) {
					t.Fatalf("Reload: %v; want %v", err, w)
				}
			}
			if !strings.Contains(err.Error(), tc.msg) {
				t.Fatalf("error %q does not say %q", err, tc.msg)
			}
			if g := c.Generation(); g != 1 {
				t.Fatalf("generation %d after a failed reload", g)
			}
			if gen, _, lerr := c.LastReload(); gen != 1 || lerr == nil {
				t.Fatalf("LastReload: %d %v", gen, lerr)
			}
			// The running configuration still serves.
			if _, err := c.Exec(ctx, "order", 3, "DELETE FROM {order} WHERE id = ?", 0); err != nil {
				t.Fatalf("query after failed reload: %v", err)
			}
			// Open refuses the same configuration (the struct checks apply
			// only to a running Cluster).
			if tc.name != "shard column not in struct" && tc.name != "table used by NewTable dropped" {
				if c2, err := Open(ctx, tc.cfg, Options{PingTimeout: 2 * time.Second}); err == nil {
					c2.Close()
					t.Fatal("Open accepted it")
				}
			}
		})
	}
	if got := metricValue(c.metrics.reloads.WithLabelValues("error")); got != float64(len(cases)) {
		t.Fatalf("reloads error = %v, want %d", got, len(cases))
	}
	// Pools opened for failed reloads are closed; the running ones remain.
	if n := len(c.Stats()); n != 2 {
		t.Fatalf("%d pools", n)
	}
	if err := c.Reload(ctx, good); err != nil {
		t.Fatalf("good config after bad ones: %v", err)
	}
}

func TestParseConfig(t *testing.T) {
	good := `{"datasources": [{"name": "d0", "primary": {"dsn": "root@tcp(127.0.0.1:3306)/a"},
		"replicas": [{"dsn": "root@tcp(127.0.0.1:3307)/a", "weight": 2, "lag_check": "none"}],
		"max_lag": "3s", "pool": {"max_open": 10, "conn_max_lifetime": "10m"}}],
		"tables": [{"name": "t", "db_prefix": "d", "table_shards": 4, "db_shards": 1, "strategy": "range",
		"params": {"bounds": "1,2,3"}, "shard_column": "k", "id_gen": "snowflake"}]}`
	cfg, err := ParseConfig([]byte(good))
	if err != nil {
		t.Fatal(err)
	}
	if cfg.DataSources[0].MaxLag != Duration(3*time.Second) || *cfg.DataSources[0].Replicas[0].Weight != 2 ||
		cfg.DataSources[0].Pool.ConnMaxLifetime != Duration(10*time.Minute) || cfg.Tables[0].Params["bounds"] != "1,2,3" {
		t.Fatalf("%+v", cfg)
	}
	if err := cfg.validate(); err != nil {
		t.Fatal(err)
	}
	for _, bad := range []string{
		`{"datasources": [], "tabels": []}`,
		`{"datasources": [{"name": "d", "max_lag": "soon"}]}`,
		`{"datasources": [{"name": "d", "max_lag": 1.5}]}`,
		`{} {}`,
		`[`,
	} {
		if _, err := ParseConfig([]byte(bad)); !errors.Is(err, ErrBadConfig) {
			t.Errorf("ParseConfig(%s): %v", bad, err)
		}
	}
}

// FuzzParseConfig: any bytes parse or fail cleanly, and what parses
// validates without panicking.
func FuzzParseConfig(f *testing.F) {
	f.Add([]byte(`{"datasources": [{"name": "d0", "primary": {"dsn": "root@tcp(h:1)/a"}}], "tables": [{"name": "t", "db_prefix": "d", "table_shards": 2, "db_shards": 1}]}`))
	f.Add([]byte(`{"datasources": [{"name": "d0", "primary": {"dsn": "x"}, "max_lag": -1}]}`))
	f.Add([]byte(`{"tables": [{"name": "", "table_shards": -1}]}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		cfg, err := ParseConfig(data)
		if err != nil {
			return
		}
		_ = cfg.validate()
		r := NewRegistry()
		for _, tc := range cfg.Tables {
			_, _ = r.Build(tc.strategy(), tc.layout())
		}
	})
}

// The config file is watched: valid changes are loaded, invalid ones
// reported while the running configuration stays.
func TestWatchFile(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	dsns, dbs := newDBs(t, 2)
	cfg := orderConfig(dsns, 4, "mod", smallPool())
	byDS := map[string]*sql.DB{"order_db0": dbs[0], "order_db1": dbs[1]}
	s, _ := NewRegistry().Build("mod", cfg.Tables[0].layout())
	createTables(t, s.Targets(), byDS, orderDDL)

	path := filepath.Join(t.TempDir(), "sharding.json")
	write := func(cfg Config) {
		t.Helper()
		data, err := jsonMarshal(cfg)
		if err != nil {
			t.Fatal(err)
		}
		// Replace by rename, as editors and config managers do.
		tmp := path + ".tmp"
		if err := os.WriteFile(tmp, data, 0o600); err != nil {
			t.Fatal(err)
		}
		if err := os.Rename(tmp, path); err != nil {
			t.Fatal(err)
		}
	}
	write(cfg)
	type result struct {
		gen uint64
		err error
	}
	results := make(chan result, 16)
	c, err := OpenFile(ctx, path, Options{OnReload: func(g uint64, err error) { results <- result{g, err} }})
	if err != nil {
		t.Fatal(err)
	}
	defer func() {
		if err := c.Close(); err != nil {
			t.Error(err)
		}
	}()
	next := func() result {
		t.Helper()
		select {
		case r := <-results:
			return r
		case <-time.After(10 * time.Second):
			t.Fatal("no reload reported")
			return result{}
		}
	}

	cfg.DataSources[0].Pool.MaxOpen = 3
	write(cfg)
	if r := next(); r.err != nil || r.gen != 2 {
		t.Fatalf("reload: %+v", r)
	}
	for _, st := range c.Stats() {
		if st.DataSource == "order_db0" && st.MaxOpenConnections != 3 {
			t.Fatalf("new pool limit not applied: %+v", st)
		}
	}

	if err := os.WriteFile(path, []byte(`{"datasources": [`), 0o600); err != nil {
		t.Fatal(err)
	}
	if r := next(); !errors.Is(r.err, ErrBadConfig) {
		t.Fatalf("truncated file: %+v", r)
	}
	bad := cfg
	bad.Tables = []TableConfig{cfg.Tables[0]}
	bad.Tables[0].Strategy = "nope"
	write(bad)
	if r := next(); !errors.Is(r.err, ErrUnknownStrategy) {
		t.Fatalf("unknown strategy: %+v", r)
	}
	if c.Generation() != 2 {
		t.Fatalf("generation %d after bad files", c.Generation())
	}
	if _, err := c.Exec(ctx, "order", 1, "DELETE FROM {order} WHERE id = 0"); err != nil {
		t.Fatal(err)
	}
	cfg.DataSources[0].Pool.MaxOpen = 4
	write(cfg)
	if r := next(); r.err != nil || r.gen != 3 {
		t.Fatalf("reload after bad files: %+v", r)
	}
}
