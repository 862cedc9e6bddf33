package sharding

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/das-project/das/internal/mariadbtest"
	"github.com/das-project/das/leaf"
)

// MTDDL's example end to end: an order table sharded 100 ways over two
// databases, IDs from Leaf segment mode; every row must be in the physical
// table mod gives, in the database the layout gives.
func TestOrders100Over2WithLeaf(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	leafDSN := mariadbtest.DSN(t)
	leafDB, err := sql.Open("mysql", leafDSN)
	if err != nil {
		t.Fatal(err)
	}
	defer leafDB.Close()
	if err := leaf.Migrate(ctx, leafDB); err != nil {
		t.Fatal(err)
	}
	if err := leaf.AddTag(ctx, leafDB, "order", 100, 1, "orders"); err != nil {
		t.Fatal(err)
	}
	seg, err := leaf.OpenSegment(ctx, leafDB, leaf.SegmentOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer seg.Close()

	dsns, dbs := newDBs(t, 2)
	cfg := orderConfig(dsns, 100, "mod", smallPool())
	cfg.Tables[0].IDGen = "segment:order"
	byDS := map[string]*sql.DB{"order_db0": dbs[0], "order_db1": dbs[1]}
	s, _ := NewRegistry().Build("mod", cfg.Tables[0].layout())
	createTables(t, s.Targets(), byDS, orderDDL)
	c := openCluster(t, cfg, Options{Segment: seg})
	orders, err := NewTable[Order](c, "order")
	if err != nil {
		t.Fatal(err)
	}

	// Users chosen to hit both databases, both block edges and negatives.
	users := []int64{0, 1, 49, 50, 99, 100, 149, 150, 12345, -1, -50, 987654321}
	var all []Order
	for round := range 3 {
		for _, u := range users {
			o := Order{UserID: u, Amount: int64(round*1000) + u, Note: fmt.Sprintf("r%d", round)}
			if err := orders.Insert(ctx, &o); err != nil {
				t.Fatalf("insert user %d: %v", u, err)
			}
			if o.ID == 0 {
				t.Fatalf("insert did not assign an id")
			}
			if len(all) > 0 && o.ID <= all[len(all)-1].ID {
				t.Fatalf("ids not increasing: %d after %d", o.ID, all[len(all)-1].ID)
			}
			all = append(all, o)
		}
	}

	// The data really is where MTDDL's formula says: table user mod 100,
	// database (user mod 100) / 50.
	for _, o := range all {
		idx := modIndex(o.UserID, 100)
		db := dbs[idx/50]
		other := dbs[1-idx/50]
		var got Order
		err := db.QueryRowContext(ctx, fmt.Sprintf("SELECT id, user_id, amount, note FROM `order_%d` WHERE id = ?", idx), o.ID).
			Scan(&got.ID, &got.UserID, &got.Amount, &got.Note)
		if err != nil || got != o {
			t.Fatalf("order %+v: in order_%d of db%d: %+v, %v", o, idx, idx/50, got, err)
		}
		// The other database does not even have that table.
		var n int
		if err := other.QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM `order_%d`", idx)).Scan(&n); err == nil || !strings.Contains(err.Error(), "1146") {
			t.Fatalf("order_%d exists in the other database too (%v)", idx, err)
		}
	}
	var total int
	for i := range 100 {
		var n int
		if err := dbs[i/50].QueryRowContext(ctx, fmt.Sprintf("SELECT COUNT(*) FROM `order_%d`", i)).Scan(&n); err != nil {
			t.Fatal(err)
		}
		total += n
	}
	if total != len(all) {
		t.Fatalf("%d rows in the physical tables, inserted %d", total, len(all))
	}

	// Get / List / Update / Delete route by the shard key.
	o := all[8] // user 12345, round 0
	got, err := orders.Get(ctx, o.UserID, o.ID)
	if err != nil || *got != o {
		t.Fatalf("Get: %+v, %v; want %+v", got, err, o)
	}
	if _, err := orders.Get(ctx, o.UserID+1, o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("Get with the wrong key: %v", err)
	}
	list, err := orders.List(ctx, int64(-1), Filter{OrderBy: "id"})
	if err != nil || len(list) != 3 || list[0].UserID != -1 || list[2].Note != "r2" {
		t.Fatalf("List(-1): %+v, %v", list, err)
	}
	list, err = orders.List(ctx, "50", Filter{Where: "amount >= ?", Args: []any{1000}, OrderBy: "id DESC", Limit: 1})
	if err != nil || len(list) != 1 || list[0].Amount != 2050 {
		t.Fatalf("List(50, filter): %+v, %v", list, err)
	}
	o.Amount, o.Note = 777, "updated"
	if n, err := orders.Update(ctx, &o); err != nil || n != 1 {
		t.Fatalf("Update: %d, %v", n, err)
	}
	if got, _ := orders.Get(ctx, o.UserID, o.ID); got == nil || *got != o {
		t.Fatalf("after Update: %+v", got)
	}
	if n, err := orders.Delete(ctx, o.UserID, o.ID); err != nil || n != 1 {
		t.Fatalf("Delete: %d, %v", n, err)
	}
	if _, err := orders.Get(ctx, o.UserID, o.ID); !errors.Is(err, ErrNotFound) {
		t.Fatalf("after Delete: %v", err)
	}

	// Without the shard key: refused, unless scatter-gather is asked for.
	if _, err := orders.List(ctx, nil, Filter{Where: "id = ?", Args: []any{all[0].ID}}); !errors.Is(err, ErrNoShardKey) {
		t.Fatalf("List without key: %v", err)
	}
	if _, err := orders.Get(ctx, nil, all[0].ID); !errors.Is(err, ErrNoShardKey) {
		t.Fatalf("Get without key: %v", err)
	}
	if _, err := c.Exec(ctx, "order", nil, "DELETE FROM {order}"); !errors.Is(err, ErrNoShardKey) {
		t.Fatalf("Exec without key: %v", err)
	}
	if _, err := orders.List(ctx, 3.5, Filter{}); !errors.Is(err, ErrKeyType) {
		t.Fatalf("float key: %v", err)
	}
	merged, err := orders.Scatter(ctx, Filter{Where: "note = ?", Args: []any{"r1"}, OrderBy: "id"},
		ScatterOptions{Parallel: 4, ShardTimeout: 10 * time.Second}, func(a, b *Order) int { return int(a.ID - b.ID) })
	if err != nil {
		t.Fatal(err)
	}
	var want []Order
	for _, x := range all {
		if x.Note == "r1" {
			want = append(want, x)
		}
	}
	if !slices.Equal(merged, want) {
		t.Fatalf("Scatter:\n got %+v\nwant %+v", merged, want)
	}
	top, err := orders.Scatter(ctx, Filter{OrderBy: "amount DESC", Limit: 2}, ScatterOptions{}, func(a, b *Order) int { return int(b.Amount - a.Amount) })
	if err != nil || len(top) != 2 || top[0].Amount != 2000+987654321 {
		t.Fatalf("Scatter top 2: %+v %v", top, err)
	}
}

func TestTxBoundToOneShard(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	// 4 tables over 2 databases: keys 0,1 → order_db0; 2,3 → order_db1.
	c, dbs, _ := setupOrders(t, 2, 4, Options{IDGens: map[string]leaf.IDGen{}})
	count := func(db *sql.DB, table string) int {
		var n int
		if err := db.QueryRowContext(ctx, "SELECT COUNT(*) FROM `"+table+"`").Scan(&n); err != nil {
			t.Fatal(err)
		}
		return n
	}
	ins := "INSERT INTO {order} (id, user_id, amount) VALUES (?, ?, ?)"

	tx, err := c.BeginTx(ctx, "order", 0, nil)
	if err != nil {
		t.Fatal(err)
	}
	if tg := tx.Target(); tg.DataSource != "order_db0" || tg.Table != "order_0" {
		t.Fatalf("tx target %+v", tg)
	}
	if _, err := tx.Exec(ctx, "order", 0, ins, 1, 0, 10); err != nil {
		t.Fatal(err)
	}
	// Another table of the same database: the same local transaction.
	if _, err := tx.Exec(ctx, "order", 1, ins, 2, 1, 10); err != nil {
		t.Fatal(err)
	}
	// Another database: refused before anything is sent.
	_, err = tx.Exec(ctx, "order", 2, ins, 3, 2, 10)
	if !errors.Is(err, ErrCrossShard) || !strings.Contains(err.Error(), "order_db1") {
		t.Fatalf("cross-shard exec: %v", err)
	}
	if _, err := tx.Query(ctx, "order", 3, "SELECT id FROM {order}"); !errors.Is(err, ErrCrossShard) {
		t.Fatalf("cross-shard query: %v", err)
	}
	orders, err := NewTable[Order](c, "order")
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.In(tx).Insert(ctx, &Order{ID: 4, UserID: 7}); !errors.Is(err, ErrCrossShard) {
		t.Fatalf("cross-shard Insert: %v", err)
	}
	if _, err := orders.In(tx).Scatter(ctx, Filter{}, ScatterOptions{}, nil); !errors.Is(err, ErrCrossShard) {
		t.Fatalf("Scatter in tx: %v", err)
	}
	// Reads in the transaction see its writes.
	var n int
	if err := tx.QueryRow(ctx, "order", 1, "SELECT COUNT(*) FROM {order}").Scan(&n); err != nil || n != 1 {
		t.Fatalf("read in tx: %d %v", n, err)
	}
	if count(dbs[1], "order_2") != 0 {
		t.Fatal("cross-shard statement reached order_db1")
	}
	if err := tx.Rollback(); err != nil {
		t.Fatal(err)
	}
	if count(dbs[0], "order_0")+count(dbs[0], "order_1") != 0 {
		t.Fatal("rollback left rows")
	}
	if _, err := tx.Exec(ctx, "order", 0, ins, 1, 0, 10); !errors.Is(err, ErrTxDone) {
		t.Fatalf("exec after rollback: %v", err)
	}

	tx, err = c.BeginTx(ctx, "order", 3, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := orders.In(tx).Insert(ctx, &Order{ID: 5, UserID: 3, Amount: 1}); err != nil {
		t.Fatal(err)
	}
	if err := orders.In(tx).Insert(ctx, &Order{ID: 6, UserID: 6, Amount: 1}); err != nil { // 6 mod 4 = 2: order_db1
		t.Fatal(err)
	}
	if err := tx.Commit(); err != nil {
		t.Fatal(err)
	}
	if err := tx.Commit(); !errors.Is(err, ErrTxDone) {
		t.Fatalf("second commit: %v", err)
	}
	if count(dbs[1], "order_3") != 1 || count(dbs[1], "order_2") != 1 {
		t.Fatal("committed rows missing")
	}
}

// A statement must name its table as {table}.
func TestStatementNeedsPlaceholder(t *testing.T) {
	ctx := context.Background()
	c, _, _ := setupOrders(t, 1, 2, Options{})
	if _, err := c.Exec(ctx, "order", 1, "DELETE FROM order_1"); !errors.Is(err, ErrNoTablePlaceholder) {
		t.Fatalf("%v", err)
	}
	if _, err := c.Exec(ctx, "orders", 1, "DELETE FROM {orders}"); !errors.Is(err, ErrUnknownTable) {
		t.Fatalf("%v", err)
	}
	tg, err := c.Route("order", Int(3))
	if err != nil || tg.Table != "order_1" || tg.DataSource != "order_db0" {
		t.Fatalf("Route: %+v %v", tg, err)
	}
}

// lagTable is what the read/write tests read: one row whose note names the
// database it was read from.
const kvDDL = "CREATE TABLE `%s` (k BIGINT NOT NULL PRIMARY KEY, note VARCHAR(16) NOT NULL)"

// setupReplicas makes a datasource "kv_db0" whose primary and two replicas
// are three databases on the same server (a real replication setup is not
// needed to test routing), each holding kv_0 and kv_1 with a row naming
// the database.
func setupReplicas(t *testing.T, lag LagProvider, maxLag time.Duration) (*Cluster, []*sql.DB) {
	t.Helper()
	ctx := context.Background()
	dsns, dbs := newDBs(t, 3)
	for i, db := range dbs {
		for _, tbl := range []string{"kv_0", "kv_1"} {
			if _, err := db.ExecContext(ctx, fmt.Sprintf(kvDDL, tbl)); err != nil {
				t.Fatal(err)
			}
			if _, err := db.ExecContext(ctx, "INSERT INTO `"+tbl+"` VALUES (1, ?)", []string{"P", "R1", "R2"}[i]); err != nil {
				t.Fatal(err)
			}
		}
	}
	cfg := Config{
		DataSources: []DataSourceConfig{{
			Name:     "kv_db0",
			Primary:  NodeConfig{DSN: dsns[0]},
			Replicas: []NodeConfig{{Name: "r1", DSN: dsns[1], Weight: weight(1)}, {Name: "r2", DSN: dsns[2], Weight: weight(3)}},
			MaxLag:   Duration(maxLag),
			Pool:     smallPool(),
		}},
		Tables: []TableConfig{{Name: "kv", DBPrefix: "kv_db", TableShards: 2, DBShards: 1}},
	}
	return openCluster(t, cfg, Options{LagProvider: lag, LagInterval: time.Hour}), dbs
}

// fakeLag is an injectable lag provider: lag (or an error) per node.
type fakeLag struct {
	mu   sync.Mutex
	lag  map[string]time.Duration
	errs map[string]error
}

func (f *fakeLag) set(node string, lag time.Duration, err error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.lag[node], f.errs[node] = lag, err
}

func (f *fakeLag) Lag(_ context.Context, n NodeInfo, _ *sql.DB) (time.Duration, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.lag[n.Node], f.errs[n.Node]
}

func readNotes(t *testing.T, ctx context.Context, c *Cluster, n int) map[string]int {
	t.Helper()
	seen := map[string]int{}
	for i := range n {
		var note string
		if err := c.QueryRow(ctx, "kv", i, "SELECT note FROM {kv} WHERE k = 1").Scan(&note); err != nil {
			t.Fatal(err)
		}
		seen[note]++
	}
	return seen
}

func TestReadWriteSplit(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	lag := &fakeLag{lag: map[string]time.Duration{}, errs: map[string]error{}}
	c, dbs := setupReplicas(t, lag, 5*time.Second)

	// Healthy replicas share reads 1:3; the primary (weight 0) gets none.
	seen := readNotes(t, ctx, c, 400)
	if seen["P"] != 0 || seen["R1"] < 50 || seen["R2"] < 3*seen["R1"]/2 || seen["R1"]+seen["R2"] != 400 {
		t.Fatalf("weighted reads: %v", seen)
	}
	// WithPrimary: read-your-writes.
	if seen := readNotes(t, WithPrimary(ctx), c, 20); seen["P"] != 20 {
		t.Fatalf("WithPrimary: %v", seen)
	}
	// Writes go to the primary.
	if _, err := c.Exec(ctx, "kv", 1, "INSERT INTO {kv} VALUES (2, 'new')"); err != nil {
		t.Fatal(err)
	}
	var note string
	if err := dbs[0].QueryRowContext(ctx, "SELECT note FROM kv_1 WHERE k = 2").Scan(&note); err != nil || note != "new" {
		t.Fatalf("write not on the primary: %q %v", note, err)
	}
	if err := c.QueryRow(WithPrimary(ctx), "kv", 1, "SELECT note FROM {kv} WHERE k = 2").Scan(&note); err != nil || note != "new" {
		t.Fatalf("read-your-writes: %q %v", note, err)
	}

	// r2 falls 10 s behind (limit 5 s): skipped.
	lag.set("r2", 10*time.Second, nil)
	if err := c.RefreshLag(ctx); err != nil {
		t.Fatal(err)
	}
	if seen := readNotes(t, ctx, c, 50); seen["R1"] != 50 {
		t.Fatalf("lagging r2 not skipped: %v", seen)
	}
	// Exactly at the limit is still usable.
	lag.set("r2", 5*time.Second, nil)
	lag.set("r1", 0, ErrReplicationStopped)
	if err := c.RefreshLag(ctx); err != nil {
		t.Fatal(err)
	}
	if seen := readNotes(t, ctx, c, 30); seen["R2"] != 30 {
		t.Fatalf("r1 stopped, r2 at the limit: %v", seen)
	}
	// No replica usable: the primary serves reads.
	lag.set("r2", time.Minute, nil)
	if err := c.RefreshLag(ctx); err != nil {
		t.Fatal(err)
	}
	if seen := readNotes(t, ctx, c, 30); seen["P"] != 30 {
		t.Fatalf("all replicas lagging: %v", seen)
	}
	// Recovery is picked up by the next measurement.
	lag.set("r1", time.Second, nil)
	lag.set("r2", 0, nil)
	if err := c.RefreshLag(ctx); err != nil {
		t.Fatal(err)
	}
	if seen := readNotes(t, ctx, c, 100); seen["P"] != 0 || seen["R1"] == 0 || seen["R2"] == 0 {
		t.Fatalf("after recovery: %v", seen)
	}
}

// The default lag provider asks the server; a database that replicates
// from no one is not used for reads.
func TestDefaultLagProviderOnNonReplica(t *testing.T) {
	checkLeaks(t)
	ctx := context.Background()
	dsns, dbs := newDBs(t, 1)
	if _, err := (SlaveStatusLag{}).Lag(ctx, NodeInfo{}, dbs[0]); !errors.Is(err, ErrNotReplica) {
		t.Fatalf("SlaveStatusLag on a plain server: %v", err)
	}
	c, _ := setupReplicas(t, nil, 0)
	if seen := readNotes(t, ctx, c, 20); seen["P"] != 20 {
		t.Fatalf("non-replicas used for reads: %v", seen)
	}
	// lag_check "none" trusts the node.
	cfg := c.Config()
	cfg.DataSources[0].Replicas[0].LagCheck = "none"
	cfg.DataSources[0].Replicas = cfg.DataSources[0].Replicas[:1]
	if err := c.Reload(ctx, cfg); err != nil {
		t.Fatal(err)
	}
	if seen := readNotes(t, ctx, c, 20); seen["R1"] != 20 {
		t.Fatalf("lag_check none: %v", seen)
	}
	_ = dsns
}
