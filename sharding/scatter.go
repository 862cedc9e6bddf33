package sharding

import (
	"context"
	"fmt"
	"sync"
	"sync/atomic"
	"time"
)

// ScatterOptions bound a scatter-gather.
type ScatterOptions struct {
	// Parallel is how many shards are queried at once. Default 8.
	Parallel int
	// ShardTimeout bounds each shard's query (and reading its rows).
	// Default: no bound beyond the caller's context.
	ShardTimeout time.Duration
	// AllowPartial returns the rows of the shards that answered together
	// with a *ScatterError naming those that did not. By default any
	// failed shard fails the whole call and no rows are returned.
	AllowPartial bool
}

// Scatter runs query on every physical table of the logical table and
// merges the rows: this is the explicit way to query without a shard key.
// Reads go to replicas as with Query (WithPrimary for the primaries).
// scan is called once per row, from several goroutines at once (one per
// shard in flight), and must not retain the Rows. Results are in target
// order (table index), rows of one shard in the order the server returned
// them; sort them afterwards if the query has an ORDER BY.
func Scatter[T any](ctx context.Context, c *Cluster, table, query string, opts ScatterOptions, scan func(*Rows) (T, error), args ...any) ([]T, error) {
	if opts.Parallel < 0 || opts.ShardTimeout < 0 {
		return nil, fmt.Errorf("sharding: ScatterOptions: Parallel %d and ShardTimeout %v must not be negative", opts.Parallel, opts.ShardTimeout)
	}
	if opts.Parallel == 0 {
		opts.Parallel = 8
	}
	g, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer g.release()
	t, err := g.table(table)
	if err != nil {
		return nil, err
	}
	n := len(t.targets)
	results := make([][]T, n)
	errs := make([]error, n)
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(opts.Parallel, n) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				if err := ctx.Err(); err != nil {
					errs[i] = err
					continue
				}
				results[i], errs[i] = scatterOne(ctx, c, g, t, i, query, opts.ShardTimeout, scan, args)
			}
		}()
	}
	wg.Wait()
	total := 0
	var se *ScatterError
	for i, err := range errs {
		if err != nil {
			if se == nil {
				se = &ScatterError{Total: n}
			}
			se.Failed = append(se.Failed, ShardError{Target: t.targets[i], Err: err})
			continue
		}
		total += len(results[i])
	}
	if se != nil && !opts.AllowPartial {
		return nil, se
	}
	out := make([]T, 0, total)
	for _, r := range results {
		out = append(out, r...)
	}
	if se != nil {
		return out, se
	}
	return out, nil
}

func scatterOne[T any](ctx context.Context, c *Cluster, g *generation, t *table, i int, query string, timeout time.Duration, scan func(*Rows) (T, error), args []any) (out []T, err error) {
	if timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, timeout)
		defer cancel()
	}
	st, err := c.statement(g, t, t.targets[i], query)
	if err != nil {
		return nil, err
	}
	rows, err := c.queryOn(ctx, t.dss[i], nil, st, args, nil)
	if err != nil {
		return nil, err
	}
	defer func() {
		if cerr := rows.Close(); err == nil && cerr != nil {
			err = cerr
		}
	}()
	for rows.Next() {
		v, err := scan(rows)
		if err != nil {
			return nil, err
		}
		out = append(out, v)
	}
	return out, rows.Err()
}
