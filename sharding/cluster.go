package sharding

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/das-project/das/leaf"
	"github.com/das-project/das/operators/fingerprint"
)

// Options configures a Cluster. The zero value of every field means its
// default.
type Options struct {
	// Strategies resolves the tables' strategy names. Default NewRegistry()
	// (mod, hash, range, time).
	Strategies *Registry

	// ID generators for TableConfig.IDGen: "segment:<tag>" uses Segment,
	// "snowflake" (or "snowflake:<tag>") uses Snowflake, any other name is
	// looked up in IDGens. The Cluster does not close them.
	Segment   *leaf.Segment
	Snowflake *leaf.Snowflake
	IDGens    map[string]leaf.IDGen

	// LagProvider measures replica lag. Default SlaveStatusLag (SHOW SLAVE
	// STATUS, Seconds_Behind_Master).
	LagProvider LagProvider
	// LagInterval is how often replica lag is measured. Default 1s.
	LagInterval time.Duration
	// LagTimeout bounds one lag measurement. Default 1s.
	LagTimeout time.Duration
	// PingTimeout bounds the ping of each new pool at Open and Reload.
	// Default 5s.
	PingTimeout time.Duration
	// DrainTimeout bounds how long Reload and Close wait for calls,
	// transactions and open Rows on the previous configuration before
	// closing its pools anyway. Default 30s.
	DrainTimeout time.Duration

	// Registerer receives the metrics (das_sharding_*); Close unregisters
	// them. Default: no metrics exported (they are still counted).
	Registerer prometheus.Registerer
	// MaxTemplates caps the distinct template label values of the SQL
	// metrics; statements of further templates are counted under
	// template="other". Default 500.
	MaxTemplates int
	// MaxStatements caps the per-configuration cache of rewritten
	// statements; statements past it are rewritten on every call. Default
	// 10000.
	MaxStatements int

	// Events receives one das SQL event per statement. Default none.
	Events EventSink

	// OnReload is called after every reload triggered by WatchFile, with
	// the new generation or the error that kept the old one. It runs on
	// the watcher goroutine: it must not block for long and must not call
	// Close.
	OnReload func(generation uint64, err error)

	// Now is the clock for event timestamps and latencies. Default
	// time.Now.
	Now func() time.Time
}

func (o Options) withDefaults() (Options, error) {
	if o.Strategies == nil {
		o.Strategies = NewRegistry()
	}
	if o.LagProvider == nil {
		o.LagProvider = SlaveStatusLag{}
	}
	def := func(d *time.Duration, v time.Duration, name string) error {
		if *d == 0 {
			*d = v
		}
		if *d < 0 {
			return fmt.Errorf("sharding: Options.%s %v must not be negative", name, *d)
		}
		return nil
	}
	for _, err := range []error{
		def(&o.LagInterval, time.Second, "LagInterval"),
		def(&o.LagTimeout, time.Second, "LagTimeout"),
		def(&o.PingTimeout, 5*time.Second, "PingTimeout"),
		def(&o.DrainTimeout, 30*time.Second, "DrainTimeout"),
	} {
		if err != nil {
			return o, err
		}
	}
	if o.MaxTemplates == 0 {
		o.MaxTemplates = 500
	}
	if o.MaxStatements == 0 {
		o.MaxStatements = 10000
	}
	if o.MaxTemplates < 0 || o.MaxStatements < 0 {
		return o, fmt.Errorf("sharding: Options.MaxTemplates and MaxStatements must not be negative")
	}
	if o.Now == nil {
		o.Now = time.Now
	}
	return o, nil
}

// Cluster is a sharded set of MySQL databases: it routes statements of
// logical tables to physical tables, splits reads from writes, and reloads
// its configuration at runtime. A Cluster is safe for concurrent use.
//
// Every call works on one configuration generation from start to end: a
// Reload that swaps the configuration waits for calls (and transactions,
// and open Rows) on the previous one to finish before closing its pools,
// so in-flight queries never fail because of a reload.
type Cluster struct {
	opts    Options
	metrics *metrics
	tmpl    *templates

	state atomic.Pointer[generation] // nil once closed

	// mu serialises Reload, Close and table registration. It is held
	// across the build, ping and drain of a reload (a reload is rare).
	mu struct {
		sync.Mutex
		closed   bool
		schemas  map[string][]*schema // struct tables bound by NewTable
		watching bool
	}
	lastReload atomic.Pointer[reloadResult]

	// bg is cancelled by Close: it stops the lag loop and the file
	// watcher, which wg waits for.
	bg     context.Context
	cancel context.CancelFunc
	wg     sync.WaitGroup
}

type reloadResult struct {
	gen uint64
	err error
	at  time.Time
}

// Open builds the pools of cfg, pings every node, measures replica lag and
// starts the lag loop. Close releases everything.
func Open(ctx context.Context, cfg Config, opts Options) (*Cluster, error) {
	opts, err := opts.withDefaults()
	if err != nil {
		return nil, err
	}
	c := &Cluster{opts: opts}
	c.tmpl = newTemplates(opts.MaxTemplates)
	c.metrics = newMetrics(c)
	c.mu.schemas = map[string][]*schema{}
	g, fresh, err := c.build(ctx, cfg, nil)
	if err != nil {
		closeNodes(fresh, c.metrics)
		return nil, err
	}
	if opts.Registerer != nil {
		if err := c.metrics.register(opts.Registerer); err != nil {
			closeNodes(fresh, c.metrics)
			return nil, fmt.Errorf("sharding: register metrics: %w", err)
		}
	}
	c.state.Store(g)
	c.lastReload.Store(&reloadResult{gen: g.id, at: opts.Now()})
	c.metrics.generation.Set(float64(g.id))
	c.bg, c.cancel = context.WithCancel(context.Background())
	c.wg.Add(1)
	go c.lagLoop()
	return c, nil
}

// Close stops the background goroutines, waits for in-flight calls (up to
// DrainTimeout) and closes every pool. Calls after Close fail with
// ErrClosed.
func (c *Cluster) Close() error {
	c.mu.Lock()
	if c.mu.closed {
		c.mu.Unlock()
		return nil
	}
	c.mu.closed = true
	old := c.state.Swap(nil)
	c.mu.Unlock()
	c.cancel()
	c.wg.Wait()
	var err error
	if old != nil {
		err = c.retire(old, nil)
	}
	if c.opts.Registerer != nil {
		c.metrics.unregister(c.opts.Registerer)
	}
	return err
}

// Reload replaces the configuration. It validates cfg, opens and pings the
// pools of new or changed datasources (unchanged ones are kept), measures
// replica lag, swaps the configuration atomically, then waits for calls on
// the previous configuration to finish and closes the pools it no longer
// uses. On any error the running configuration stays in force and the
// pools opened for cfg are closed.
func (c *Cluster) Reload(ctx context.Context, cfg Config) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.mu.closed {
		return ErrClosed
	}
	old := c.state.Load()
	g, fresh, err := c.build(ctx, cfg, old)
	if err != nil {
		closeNodes(fresh, c.metrics)
		c.metrics.reloads.WithLabelValues("error").Inc()
		c.lastReload.Store(&reloadResult{gen: old.id, err: err, at: c.opts.Now()})
		return err
	}
	c.state.Store(g)
	c.metrics.reloads.WithLabelValues("ok").Inc()
	c.metrics.generation.Set(float64(g.id))
	c.lastReload.Store(&reloadResult{gen: g.id, at: c.opts.Now()})
	return c.retire(old, g)
}

// Generation is the number of the configuration in force: 1 after Open,
// +1 per successful Reload.
func (c *Cluster) Generation() uint64 {
	if g := c.state.Load(); g != nil {
		return g.id
	}
	return 0
}

// Config returns the configuration in force.
func (c *Cluster) Config() Config {
	if g := c.state.Load(); g != nil {
		return g.cfg
	}
	return Config{}
}

// LastReload reports the last reload attempt: the generation in force
// after it and its error (nil on success).
func (c *Cluster) LastReload() (generation uint64, at time.Time, err error) {
	r := c.lastReload.Load()
	if r == nil {
		return 0, time.Time{}, nil
	}
	return r.gen, r.at, r.err
}

// Route returns the physical table of key in the logical table. It is the
// routing step every statement goes through.
func (c *Cluster) Route(table string, key Value) (Target, error) {
	g := c.state.Load()
	if g == nil {
		return Target{}, ErrClosed
	}
	t, err := g.table(table)
	if err != nil {
		return Target{}, err
	}
	if key.kind == KindNone {
		return Target{}, ErrNoShardKey
	}
	return t.strat.Route(key)
}

// Targets lists every physical table of a logical table.
func (c *Cluster) Targets(table string) ([]Target, error) {
	g := c.state.Load()
	if g == nil {
		return nil, ErrClosed
	}
	t, err := g.table(table)
	if err != nil {
		return nil, err
	}
	return t.targets, nil
}

// PoolStats is one node's pool, as database/sql reports it.
type PoolStats struct {
	DataSource, Node string
	Generation       uint64 // configuration that opened the pool
	sql.DBStats
}

// Stats reports the pools of the configuration in force.
func (c *Cluster) Stats() []PoolStats {
	g := c.state.Load()
	if g == nil {
		return nil
	}
	out := make([]PoolStats, 0, len(g.nodes))
	for _, n := range g.nodes {
		out = append(out, PoolStats{DataSource: n.ds, Node: n.name, Generation: n.gen, DBStats: n.db.Stats()})
	}
	return out
}

// acquire pins the configuration in force until release. The re-check
// after the increment makes the pin safe against a concurrent swap: if the
// pointer still names g after our increment, the retiring Reload (which
// swaps first, then waits for refs to reach zero) sees the increment.
func (c *Cluster) acquire() (*generation, error) {
	for {
		g := c.state.Load()
		if g == nil {
			return nil, ErrClosed
		}
		g.refs.Add(1)
		if c.state.Load() == g {
			return g, nil
		}
		g.refs.Add(-1)
	}
}

// retire waits for old's calls to finish (up to DrainTimeout) and closes
// the nodes of old that next does not use.
func (c *Cluster) retire(old, next *generation) error {
	deadline := time.Now().Add(c.opts.DrainTimeout)
	wait := 100 * time.Microsecond
	for old.refs.Load() > 0 {
		if time.Now().After(deadline) {
			c.metrics.drainTimeouts.Inc()
			break
		}
		time.Sleep(wait)
		wait = min(2*wait, 10*time.Millisecond)
	}
	keep := map[*node]bool{}
	if next != nil {
		for _, n := range next.nodes {
			keep[n] = true
		}
	}
	var drop []*node
	for _, n := range old.nodes {
		if !keep[n] {
			drop = append(drop, n)
		}
	}
	return closeNodes(drop, c.metrics)
}

func closeNodes(nodes []*node, m *metrics) error {
	var errs []error
	for _, n := range nodes {
		if err := n.close(m); err != nil {
			errs = append(errs, fmt.Errorf("sharding: close %s/%s: %w", n.ds, n.name, err))
		}
	}
	return errors.Join(errs...)
}

// generation is one configuration with its pools and caches.
type generation struct {
	id     uint64
	cfg    Config
	refs   atomic.Int64
	tables map[string]*table
	dss    map[string]*datasource
	nodes  []*node

	stmtCount atomic.Int64 // logical statements cached, all tables
}

func (g *generation) release() { g.refs.Add(-1) }

func (g *generation) table(name string) (*table, error) {
	t, ok := g.tables[name]
	if !ok {
		return nil, fmt.Errorf("%w %q", ErrUnknownTable, name)
	}
	return t, nil
}

// table is one logical table of a generation.
type table struct {
	cfg         TableConfig
	strat       Strategy
	targets     []Target
	dss         []*datasource // by target index
	placeholder string        // "{name}"
	idgen       leaf.IDGen
	stmts       sync.Map // logical query → *stmtSet
}

// route returns the target of key and its datasource.
func (t *table) route(key Value) (Target, *datasource, error) {
	if key.kind == KindNone {
		return Target{}, nil, ErrNoShardKey
	}
	tg, err := t.strat.Route(key)
	if err != nil {
		return Target{}, nil, fmt.Errorf("table %q: %w", t.cfg.Name, err)
	}
	if tg.Index < 0 || tg.Index >= len(t.dss) || t.targets[tg.Index].Table != tg.Table {
		return Target{}, nil, fmt.Errorf("sharding: BUG: strategy %q routed %s to %+v, not one of its Targets", t.strat.Name(), key, tg)
	}
	return tg, t.dss[tg.Index], nil
}

// build validates cfg and assembles a generation, reusing the nodes of
// prev whose datasource, name, DSN and pool settings are unchanged. fresh
// lists the nodes it opened (the caller closes them on error).
func (c *Cluster) build(ctx context.Context, cfg Config, prev *generation) (g *generation, fresh []*node, err error) {
	if err := cfg.validate(); err != nil {
		return nil, nil, err
	}
	id := uint64(1)
	if prev != nil {
		id = prev.id + 1
	}
	g = &generation{id: id, cfg: cfg, tables: map[string]*table{}, dss: map[string]*datasource{}}

	reuse := map[nodeKey]*node{}
	if prev != nil {
		for _, n := range prev.nodes {
			reuse[n.key] = n
		}
	}
	for _, dc := range cfg.DataSources {
		ds := &datasource{name: dc.Name, maxLag: time.Duration(dc.MaxLag)}
		if dc.MaxLag == 0 {
			ds.maxLag = defaultMaxLag
		}
		pool := dc.Pool.withDefaults()
		for j, nc := range append([]NodeConfig{dc.Primary}, dc.Replicas...) {
			key := nodeKey{ds: dc.Name, name: nodeName(nc, j), dsn: nc.DSN, pool: pool}
			n, ok := reuse[key]
			if !ok {
				n, err = newNode(key, g.id)
				if err != nil {
					return nil, fresh, err
				}
				fresh = append(fresh, n)
			}
			w := 1
			if j == 0 {
				w = 0
			}
			if nc.Weight != nil {
				w = *nc.Weight
			}
			if j == 0 {
				ds.primary = n
			} else {
				ds.replicas = append(ds.replicas, n)
				ds.lagCheck = append(ds.lagCheck, nc.LagCheck != "none")
			}
			ds.weights = append(ds.weights, w)
			g.nodes = append(g.nodes, n)
		}
		g.dss[dc.Name] = ds
	}

	for _, tc := range cfg.Tables {
		s, err := c.opts.Strategies.Build(tc.strategy(), tc.layout())
		if err != nil {
			return nil, fresh, fmt.Errorf("%w: table %q: %w", ErrBadConfig, tc.Name, err)
		}
		t := &table{cfg: tc, strat: s, targets: s.Targets(), placeholder: "{" + tc.Name + "}"}
		for _, tg := range t.targets {
			ds, ok := g.dss[tg.DataSource]
			if !ok {
				return nil, fresh, fmt.Errorf("%w: table %q: table %s routes to datasource %q, which is not configured", ErrBadConfig, tc.Name, tg.Table, tg.DataSource)
			}
			t.dss = append(t.dss, ds)
		}
		if t.idgen, err = c.idgen(tc); err != nil {
			return nil, fresh, err
		}
		g.tables[tc.Name] = t
	}
	for name, schemas := range c.mu.schemas {
		t, ok := g.tables[name]
		if !ok {
			return nil, fresh, fmt.Errorf("%w: table %q is used by NewTable but missing from the config", ErrBadConfig, name)
		}
		for _, s := range schemas {
			if _, err := s.resolve(t.cfg); err != nil {
				return nil, fresh, err
			}
		}
	}

	if err := pingAll(ctx, fresh, c.opts.PingTimeout); err != nil {
		return nil, fresh, err
	}
	c.checkLag(ctx, g)
	return g, fresh, nil
}

func (c *Cluster) idgen(tc TableConfig) (leaf.IDGen, error) {
	spec := tc.IDGen
	switch {
	case spec == "":
		return nil, nil
	case strings.HasPrefix(spec, "segment:"):
		if c.opts.Segment == nil {
			return nil, fmt.Errorf("%w: table %q: id_gen %q needs Options.Segment", ErrBadConfig, tc.Name, spec)
		}
		tag := strings.TrimPrefix(spec, "segment:")
		if tag == "" {
			return nil, fmt.Errorf("%w: table %q: id_gen %q names no tag", ErrBadConfig, tc.Name, spec)
		}
		return c.opts.Segment.Tag(tag), nil
	case spec == "snowflake" || strings.HasPrefix(spec, "snowflake:"):
		if c.opts.Snowflake == nil {
			return nil, fmt.Errorf("%w: table %q: id_gen %q needs Options.Snowflake", ErrBadConfig, tc.Name, spec)
		}
		return leaf.Bind(c.opts.Snowflake, strings.TrimPrefix(strings.TrimPrefix(spec, "snowflake"), ":")), nil
	}
	gen, ok := c.opts.IDGens[spec]
	if !ok || gen == nil {
		return nil, fmt.Errorf("%w: table %q: id_gen %q is not segment:<tag>, snowflake, or a key of Options.IDGens", ErrBadConfig, tc.Name, spec)
	}
	return gen, nil
}

func pingAll(ctx context.Context, nodes []*node, timeout time.Duration) error {
	errs := make([]error, len(nodes))
	var wg sync.WaitGroup
	sem := make(chan struct{}, 8)
	for i, n := range nodes {
		wg.Add(1)
		sem <- struct{}{}
		go func() {
			defer wg.Done()
			defer func() { <-sem }()
			pctx, cancel := context.WithTimeout(ctx, timeout)
			defer cancel()
			if err := n.db.PingContext(pctx); err != nil {
				errs[i] = fmt.Errorf("%w: datasource %q node %q (%s): %v", ErrUnreachable, n.ds, n.name, n.instance, err)
			}
		}()
	}
	wg.Wait()
	return errors.Join(errs...)
}

// stmt is a statement rewritten for one physical table.
type stmt struct {
	sql  string
	sqlb []byte // sql, for events; shared, never modified
	tmpl *template
}

// stmtSet holds one logical statement's rewrites, by target index.
type stmtSet struct {
	by []atomic.Pointer[stmt]
}

// statement returns query rewritten for target tg of t: every {name}
// placeholder replaced by the physical table. Rewrites are cached per
// table of a generation (so a reload starts afresh), up to MaxStatements
// logical statements per generation; past that they are rewritten on every
// call.
func (c *Cluster) statement(g *generation, t *table, tg Target, query string) (*stmt, error) {
	var set *stmtSet
	if v, ok := t.stmts.Load(query); ok {
		set = v.(*stmtSet)
		if s := set.by[tg.Index].Load(); s != nil {
			return s, nil
		}
	}
	if !strings.Contains(query, t.placeholder) {
		return nil, fmt.Errorf("%w: table %q: write it as %s", ErrNoTablePlaceholder, t.cfg.Name, t.placeholder)
	}
	phys := strings.ReplaceAll(query, t.placeholder, "`"+tg.Table+"`")
	s := &stmt{sql: phys, sqlb: []byte(phys), tmpl: c.tmpl.get(query, t)}
	if set == nil && g.stmtCount.Load() < int64(c.opts.MaxStatements) {
		v, loaded := t.stmts.LoadOrStore(query, &stmtSet{by: make([]atomic.Pointer[stmt], len(t.targets))})
		if !loaded {
			g.stmtCount.Add(1)
		}
		set = v.(*stmtSet)
	}
	if set != nil {
		set.by[tg.Index].CompareAndSwap(nil, s)
	}
	return s, nil
}

// template is the metrics identity of a logical statement.
type template struct {
	id    fingerprint.ID
	label string // id.String(), or "other" past MaxTemplates
}

// templates fingerprints logical statements (placeholder replaced by the
// logical table name, so every physical table shares one template) and
// caps the label values.
type templates struct {
	max int
	mu  struct {
		sync.Mutex
		fp     *fingerprint.Fingerprinter
		byID   map[fingerprint.ID]*template
		text   map[fingerprint.ID]string
		other  *template
		byText map[string]*template // logical query → template
	}
}

func newTemplates(max int) *templates {
	t := &templates{max: max}
	t.mu.fp = fingerprint.New()
	t.mu.byID = map[fingerprint.ID]*template{}
	t.mu.text = map[fingerprint.ID]string{}
	t.mu.byText = map[string]*template{}
	t.mu.other = &template{label: "other"}
	return t
}

func (ts *templates) get(query string, t *table) *template {
	ts.mu.Lock()
	defer ts.mu.Unlock()
	if tp, ok := ts.mu.byText[query]; ok {
		return tp
	}
	logical := strings.ReplaceAll(query, t.placeholder, t.cfg.Name)
	id, text := ts.mu.fp.Fingerprint([]byte(logical))
	tp, ok := ts.mu.byID[id]
	if !ok {
		if len(ts.mu.byID) >= ts.max {
			tp = ts.mu.other
		} else {
			tp = &template{id: id, label: id.String()}
			ts.mu.byID[id] = tp
			ts.mu.text[id] = string(text)
		}
	}
	if len(ts.mu.byText) < 4*ts.max {
		ts.mu.byText[query] = tp
	}
	return tp
}

// Templates returns the text of every template label in use (label →
// fingerprinted logical statement), to decode the template label of the
// SQL metrics.
func (c *Cluster) Templates() map[string]string {
	c.tmpl.mu.Lock()
	defer c.tmpl.mu.Unlock()
	out := make(map[string]string, len(c.tmpl.mu.text))
	for id, text := range c.tmpl.mu.text {
		out[id.String()] = text
	}
	return out
}
