package sharding

import (
	"context"
	"database/sql"
	"fmt"
	"math/rand/v2"
	"runtime"
	"sync/atomic"
	"testing"
	"time"
)

// cpuPerOp runs f locked to one OS thread and reports its CPU time per
// operation as cpu-ns/op, next to the wall-clock ns/op that load on a
// shared machine inflates.
func cpuPerOp(b *testing.B, f func(b *testing.B)) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	b.ReportAllocs()
	b.ResetTimer()
	t0 := threadCPU()
	f(b)
	b.StopTimer()
	b.ReportMetric(float64(threadCPU()-t0)/float64(b.N), "cpu-ns/op")
}

// benchCluster opens MTDDL's 100-over-2 layout. Routing needs no tables.
func benchCluster(b *testing.B, strategy string) *Cluster {
	b.Helper()
	dsns, _ := newDBs(b, 2)
	return openCluster(b, orderConfig(dsns, 100, strategy, smallPool()), Options{})
}

// BenchmarkRoute is the routing step alone: configuration lookup, table
// map lookup, strategy.
func BenchmarkRoute(b *testing.B) {
	for _, s := range []string{"mod", "hash"} {
		c := benchCluster(b, s)
		b.Run(s+"/int", func(b *testing.B) {
			cpuPerOp(b, func(b *testing.B) {
				for i := range b.N {
					if _, err := c.Route("order", Int(int64(i)*7919)); err != nil {
						b.Fatal(err)
					}
				}
			})
		})
	}
	c := benchCluster(b, "hash")
	b.Run("hash/string", func(b *testing.B) {
		keys := make([]string, 1024)
		for i := range keys {
			keys[i] = fmt.Sprintf("user-%08d@example.com", i)
		}
		cpuPerOp(b, func(b *testing.B) {
			for i := range b.N {
				if _, err := c.Route("order", String(keys[i&1023])); err != nil {
					b.Fatal(err)
				}
			}
		})
	})
}

// BenchmarkStatementOverhead is everything a routed statement adds around
// the driver call: pin the configuration, route, find the rewritten
// statement, pick the node, record metrics, release.
func BenchmarkStatementOverhead(b *testing.B) {
	c := benchCluster(b, "mod")
	const q = "SELECT id, user_id, amount, note FROM {order} WHERE user_id = ? AND id = ?"
	var loop func(b *testing.B, observe bool)
	run := func(b *testing.B, observe bool) {
		cpuPerOp(b, func(b *testing.B) { loop(b, observe) })
	}
	loop = func(b *testing.B, observe bool) {
		for i := range b.N {
			g, err := c.acquire()
			if err != nil {
				b.Fatal(err)
			}
			t, err := g.table("order")
			if err != nil {
				b.Fatal(err)
			}
			tg, ds, err := t.route(Int(int64(i) * 7919))
			if err != nil {
				b.Fatal(err)
			}
			st, err := c.statement(g, t, tg, q)
			if err != nil {
				b.Fatal(err)
			}
			n := ds.readNode(context.Background())
			if observe {
				c.observe(ds, n, st, time.Time{}, 100*time.Microsecond, 1, 0, nil)
			}
			g.release()
		}
	}
	b.Run("route+rewrite+node", func(b *testing.B) { run(b, false) })
	b.Run("with-metrics", func(b *testing.B) { run(b, true) })
}

// BenchmarkPointQuery compares routed point queries with the same queries
// through database/sql directly (the physical table computed by hand, the
// same pool limits), parallel clients, in one run. Compare ns/op.
func BenchmarkPointQuery(b *testing.B) {
	ctx := context.Background()
	const tables = 16
	pool := PoolConfig{MaxOpen: 16, MaxIdle: 16}
	dsns, dbs := newDBs(b, 2)
	cfg := orderConfig(dsns, tables, "mod", pool)
	s, _ := NewRegistry().Build("mod", cfg.Tables[0].layout())
	createTables(b, s.Targets(), map[string]*sql.DB{"order_db0": dbs[0], "order_db1": dbs[1]}, orderDDL)
	c := openCluster(b, cfg, Options{})
	const rows = 2000
	for id := int64(1); id <= rows; id++ {
		if _, err := c.Exec(ctx, "order", id, "INSERT INTO {order} (id, user_id, amount) VALUES (?, ?, ?)", id, id, id*10); err != nil {
			b.Fatal(err)
		}
	}
	direct := make([]*sql.DB, 2)
	for i, dsn := range dsns {
		db, err := sql.Open("mysql", dsn)
		if err != nil {
			b.Fatal(err)
		}
		db.SetMaxOpenConns(pool.MaxOpen)
		db.SetMaxIdleConns(pool.MaxIdle)
		defer db.Close()
		direct[i] = db
	}
	directQ := make([]string, tables)
	for i := range directQ {
		directQ[i] = fmt.Sprintf("SELECT amount FROM `order_%d` WHERE user_id = ? AND id = ?", i)
	}
	check := func(b *testing.B, id, amount int64) {
		if amount != id*10 {
			b.Fatalf("id %d: amount %d", id, amount)
		}
	}
	var seed atomic.Uint64
	directRun := func(b *testing.B) {
		b.SetParallelism(4)
		b.ReportAllocs()
		t0 := processCPU()
		defer func() { b.ReportMetric(float64(processCPU()-t0)/float64(b.N), "client-cpu-ns/op") }()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seed.Add(1), 0))
			for pb.Next() {
				id := 1 + r.Int64N(rows)
				idx := id % tables
				var amount int64
				if err := direct[idx/(tables/2)].QueryRowContext(ctx, directQ[idx], id, id).Scan(&amount); err != nil {
					b.Fatal(err)
				}
				check(b, id, amount)
			}
		})
	}
	routedRun := func(b *testing.B) {
		b.SetParallelism(4)
		b.ReportAllocs()
		t0 := processCPU()
		defer func() { b.ReportMetric(float64(processCPU()-t0)/float64(b.N), "client-cpu-ns/op") }()
		b.RunParallel(func(pb *testing.PB) {
			r := rand.New(rand.NewPCG(seed.Add(1), 0))
			for pb.Next() {
				id := 1 + r.Int64N(rows)
				var amount int64
				if err := c.QueryRow(ctx, "order", id, "SELECT amount FROM {order} WHERE user_id = ? AND id = ?", id, id).Scan(&amount); err != nil {
					b.Fatal(err)
				}
				check(b, id, amount)
			}
		})
	}
	// Alternate the two in one run, so that load on a shared machine
	// affects both alike.
	for round := range 3 {
		b.Run(fmt.Sprintf("direct/round%d", round), directRun)
		b.Run(fmt.Sprintf("routed/round%d", round), routedRun)
	}
}
