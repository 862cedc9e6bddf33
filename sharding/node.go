package sharding

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/go-sql-driver/mysql"
)

// nodeKey is a node's identity across reloads: a node whose key is
// unchanged keeps its pool.
type nodeKey struct {
	ds, name, dsn string
	pool          PoolConfig
}

// node is one server's pool.
type node struct {
	key      nodeKey
	ds, name string
	gen      uint64 // generation that opened it
	db       *sql.DB
	instance string // host:port, for events
	dbName   string
	user     string

	lagNanos atomic.Int64
	lagErr   atomic.Pointer[error] // nil: last check succeeded
	closed   atomic.Bool

	// Pool wait counters already folded into the metrics; guarded by
	// metrics.mu.
	seenWaitCount int64
	seenWaitDur   time.Duration
}

func newNode(key nodeKey, gen uint64) (*node, error) {
	mc, err := mysql.ParseDSN(key.dsn)
	if err != nil {
		return nil, fmt.Errorf("%w: datasource %q node %q: %v", ErrBadConfig, key.ds, key.name, err)
	}
	conn, err := mysql.NewConnector(mc)
	if err != nil {
		return nil, fmt.Errorf("%w: datasource %q node %q: %v", ErrBadConfig, key.ds, key.name, err)
	}
	db := sql.OpenDB(conn)
	db.SetMaxOpenConns(key.pool.MaxOpen)
	db.SetMaxIdleConns(key.pool.MaxIdle)
	db.SetConnMaxLifetime(time.Duration(key.pool.ConnMaxLifetime))
	db.SetConnMaxIdleTime(time.Duration(key.pool.ConnMaxIdleTime))
	addr := mc.Addr
	if mc.Net == "unix" {
		addr = "unix:" + mc.Addr
	}
	return &node{key: key, ds: key.ds, name: key.name, gen: gen, db: db,
		instance: addr, dbName: mc.DBName, user: mc.User}, nil
}

func (n *node) close(m *metrics) error {
	if n.closed.Swap(true) {
		return nil
	}
	err := n.db.Close()
	m.fold(n)
	m.poolsClosed.Inc()
	return err
}

// Lag reports the last measured lag and its error.
func (n *node) lag() (time.Duration, error) {
	if p := n.lagErr.Load(); p != nil {
		return 0, *p
	}
	return time.Duration(n.lagNanos.Load()), nil
}

// datasource is one datasource of a generation: its nodes and the read
// weights among those currently usable.
type datasource struct {
	name     string
	primary  *node
	replicas []*node
	weights  []int  // primary first, then replicas
	lagCheck []bool // per replica
	maxLag   time.Duration

	reads atomic.Pointer[readSet]
	obs   sync.Map // *template → *sqlObs
}

// readSet is the weighted choice among usable nodes.
type readSet struct {
	nodes []*node
	cum   []uint64 // cumulative weights
}

// usable reports whether replica i may serve reads.
func (ds *datasource) usable(i int) bool {
	if !ds.lagCheck[i] || ds.maxLag < 0 {
		return true
	}
	lag, err := ds.replicas[i].lag()
	return err == nil && lag <= ds.maxLag
}

// refresh recomputes the read set from the nodes' lag.
func (ds *datasource) refresh() {
	rs := &readSet{}
	var total uint64
	add := func(n *node, w int) {
		if w <= 0 {
			return
		}
		total += uint64(w)
		rs.nodes = append(rs.nodes, n)
		rs.cum = append(rs.cum, total)
	}
	add(ds.primary, ds.weights[0])
	for i, r := range ds.replicas {
		if ds.usable(i) {
			add(r, ds.weights[i+1])
		}
	}
	ds.reads.Store(rs)
}

// readNode picks the node for a read: the primary when forced, else a
// usable node by weight, else the primary.
func (ds *datasource) readNode(ctx context.Context) *node {
	if len(ds.replicas) == 0 || forcedPrimary(ctx) {
		return ds.primary
	}
	rs := ds.reads.Load()
	if rs == nil || len(rs.nodes) == 0 {
		return ds.primary
	}
	if len(rs.nodes) == 1 {
		return rs.nodes[0]
	}
	x := rand.Uint64N(rs.cum[len(rs.cum)-1])
	for i, c := range rs.cum {
		if x < c {
			return rs.nodes[i]
		}
	}
	return ds.primary
}

type primaryKey struct{}

// WithPrimary returns a context whose reads go to the primary: the
// read-your-writes escape hatch after a write.
func WithPrimary(ctx context.Context) context.Context {
	return context.WithValue(ctx, primaryKey{}, true)
}

func forcedPrimary(ctx context.Context) bool {
	v, _ := ctx.Value(primaryKey{}).(bool)
	return v
}

// NodeInfo names the node a lag measurement is for.
type NodeInfo struct {
	DataSource, Node string
	Instance         string // host:port
}

// LagProvider measures how far a replica is behind its primary. It is
// called from the Cluster's lag loop (one call at a time per node) and
// during Open and Reload.
type LagProvider interface {
	Lag(ctx context.Context, n NodeInfo, db *sql.DB) (time.Duration, error)
}

// LagFunc adapts a function to LagProvider.
type LagFunc func(ctx context.Context, n NodeInfo, db *sql.DB) (time.Duration, error)

// Lag calls f.
func (f LagFunc) Lag(ctx context.Context, n NodeInfo, db *sql.DB) (time.Duration, error) {
	return f(ctx, n, db)
}

// SlaveStatusLag reads Seconds_Behind_Master from SHOW SLAVE STATUS (MySQL
// and MariaDB). A server with no replication configured gives
// ErrNotReplica; a NULL lag (replication stopped) ErrReplicationStopped.
// On a multi-source replica the largest lag counts.
type SlaveStatusLag struct{}

// Lag implements LagProvider.
func (SlaveStatusLag) Lag(ctx context.Context, _ NodeInfo, db *sql.DB) (time.Duration, error) {
	rows, err := db.QueryContext(ctx, "SHOW SLAVE STATUS")
	if err != nil {
		return 0, err
	}
	defer rows.Close()
	cols, err := rows.Columns()
	if err != nil {
		return 0, err
	}
	col := -1
	for i, c := range cols {
		if c == "Seconds_Behind_Master" {
			col = i
		}
	}
	if col < 0 {
		return 0, fmt.Errorf("sharding: SHOW SLAVE STATUS has no Seconds_Behind_Master column")
	}
	vals := make([]sql.RawBytes, len(cols))
	ptrs := make([]any, len(cols))
	for i := range vals {
		ptrs[i] = &vals[i]
	}
	found := false
	var worst int64
	for rows.Next() {
		if err := rows.Scan(ptrs...); err != nil {
			return 0, err
		}
		found = true
		if vals[col] == nil {
			return 0, ErrReplicationStopped
		}
		s, err := strconv.ParseInt(string(vals[col]), 10, 64)
		if err != nil {
			return 0, fmt.Errorf("sharding: Seconds_Behind_Master %q: %v", vals[col], err)
		}
		worst = max(worst, s)
	}
	if err := rows.Err(); err != nil {
		return 0, err
	}
	if !found {
		return 0, ErrNotReplica
	}
	return time.Duration(worst) * time.Second, nil
}

// checkLag measures every replica of g that has a lag check and refreshes
// the read sets. Measurements run in parallel, each bounded by LagTimeout.
func (c *Cluster) checkLag(ctx context.Context, g *generation) {
	var wg sync.WaitGroup
	for _, ds := range g.dss {
		for i, r := range ds.replicas {
			if !ds.lagCheck[i] || r.closed.Load() {
				continue
			}
			wg.Add(1)
			go func() {
				defer wg.Done()
				lctx, cancel := context.WithTimeout(ctx, c.opts.LagTimeout)
				defer cancel()
				lag, err := c.opts.LagProvider.Lag(lctx, NodeInfo{DataSource: r.ds, Node: r.name, Instance: r.instance}, r.db)
				if err != nil {
					r.lagErr.Store(&err)
					return
				}
				r.lagNanos.Store(int64(lag))
				r.lagErr.Store(nil)
			}()
		}
	}
	wg.Wait()
	for _, ds := range g.dss {
		ds.refresh()
	}
}

// RefreshLag measures replica lag now instead of waiting for the lag loop.
func (c *Cluster) RefreshLag(ctx context.Context) error {
	g, err := c.acquire()
	if err != nil {
		return err
	}
	defer g.release()
	c.checkLag(ctx, g)
	return nil
}

func (c *Cluster) lagLoop() {
	defer c.wg.Done()
	t := time.NewTicker(c.opts.LagInterval)
	defer t.Stop()
	for {
		select {
		case <-c.bg.Done():
			return
		case <-t.C:
		}
		g, err := c.acquire()
		if err != nil {
			return
		}
		c.checkLag(c.bg, g)
		g.release()
	}
}
