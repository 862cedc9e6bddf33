package sharding

import (
	"context"
	"database/sql"
	"encoding/json"
	"fmt"
	"io"
	"log"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"
	"github.com/prometheus/client_golang/prometheus"
	dto "github.com/prometheus/client_model/go"
	"go.uber.org/goleak"

	"github.com/das-project/das/internal/mariadbtest"
)

func TestMain(m *testing.M) {
	// The driver logs connections dropped by timeouts; tests make some.
	_ = mysql.SetLogger(log.New(io.Discard, "", 0))
	mariadbtest.Main(m)
}

// checkLeaks fails the test if it leaves goroutines behind. Call it first
// so that its cleanup runs last.
func checkLeaks(t *testing.T) {
	t.Helper()
	mariadbtest.Shared(t) // a private server's waiter goroutine outlives tests
	ignore := goleak.IgnoreCurrent()
	t.Cleanup(func() { goleak.VerifyNone(t, ignore) })
}

// Order is the struct of the order tables used throughout the tests.
type Order struct {
	ID     int64  `db:"id" shard:"id"`
	UserID int64  `db:"user_id" shard:"key"`
	Amount int64  `db:"amount"`
	Note   string `db:"note"`
}

const orderDDL = "CREATE TABLE `%s` (id BIGINT NOT NULL PRIMARY KEY, user_id BIGINT NOT NULL, amount BIGINT NOT NULL, note VARCHAR(64) NOT NULL DEFAULT '', KEY (user_id))"

// newDBs creates n databases (dropped when the test ends) and returns
// their DSNs and direct handles.
func newDBs(t testing.TB, n int) ([]string, []*sql.DB) {
	t.Helper()
	dsns := make([]string, n)
	dbs := make([]*sql.DB, n)
	for i := range dsns {
		dsns[i] = mariadbtest.DSN(t)
		db, err := sql.Open("mysql", dsns[i])
		if err != nil {
			t.Fatal(err)
		}
		db.SetMaxOpenConns(4)
		t.Cleanup(func() { db.Close() })
		dbs[i] = db
	}
	return dsns, dbs
}

// createTables creates the physical tables of targets in dbs (indexed by
// the datasource suffix digit order given by dsIndex).
func createTables(t testing.TB, targets []Target, dbByDS map[string]*sql.DB, ddl string) {
	t.Helper()
	ctx := context.Background()
	var wg sync.WaitGroup
	errs := make(chan error, len(targets))
	sem := make(chan struct{}, 4)
	for _, tg := range targets {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			if _, err := dbByDS[tg.DataSource].ExecContext(ctx, fmt.Sprintf(ddl, tg.Table)); err != nil {
				errs <- fmt.Errorf("%s.%s: %w", tg.DataSource, tg.Table, err)
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
}

func weight(w int) *int { return &w }

// orderCluster sets up a sharded order table: tables physical tables over
// len(dsns) datasources order_db<i>, created in those databases.
func orderConfig(dsns []string, tables int, strategy string, pool PoolConfig) Config {
	var cfg Config
	for i, dsn := range dsns {
		cfg.DataSources = append(cfg.DataSources, DataSourceConfig{
			Name: fmt.Sprintf("order_db%d", i), Primary: NodeConfig{DSN: dsn}, Pool: pool,
		})
	}
	cfg.Tables = []TableConfig{{
		Name: "order", DBPrefix: "order_db", TableShards: tables, DBShards: len(dsns),
		Strategy: strategy, ShardColumn: "user_id", IDColumn: "id",
	}}
	return cfg
}

func smallPool() PoolConfig { return PoolConfig{MaxOpen: 6, MaxIdle: 3} }

// setupOrders creates the databases and tables and opens a Cluster.
func setupOrders(t testing.TB, dbsN, tables int, opts Options) (*Cluster, []*sql.DB, Config) {
	t.Helper()
	dsns, dbs := newDBs(t, dbsN)
	cfg := orderConfig(dsns, tables, "mod", smallPool())
	byDS := map[string]*sql.DB{}
	for i, db := range dbs {
		byDS[fmt.Sprintf("order_db%d", i)] = db
	}
	s, err := NewRegistry().Build("mod", cfg.Tables[0].layout())
	if err != nil {
		t.Fatal(err)
	}
	createTables(t, s.Targets(), byDS, orderDDL)
	c := openCluster(t, cfg, opts)
	return c, dbs, cfg
}

func openCluster(t testing.TB, cfg Config, opts Options) *Cluster {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	c, err := Open(ctx, cfg, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := c.Close(); err != nil {
			t.Errorf("close: %v", err)
		}
	})
	return c
}

// seqIDs is a user IDGen handing out 1, 2, 3, …
type seqIDs struct {
	mu sync.Mutex
	n  int64
}

func (s *seqIDs) NextID(context.Context) (int64, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.n++
	return s.n, nil
}

func modIndex(v, n int64) int64 { return ((v % n) + n) % n }

// metricValue reads a counter or gauge.
func metricValue(m prometheus.Metric) float64 {
	var d dto.Metric
	if err := m.Write(&d); err != nil {
		panic(err)
	}
	switch {
	case d.Counter != nil:
		return d.Counter.GetValue()
	case d.Gauge != nil:
		return d.Gauge.GetValue()
	}
	return 0
}

func jsonMarshal(v any) ([]byte, error) { return json.MarshalIndent(v, "", "  ") }
