package sharding

import (
	"context"
	"database/sql"
	"fmt"
	"sync"
)

// Tx is a transaction bound to one shard: the primary of the datasource
// that its key routes to. Statements in it may touch any table of that
// database (one local transaction); a statement whose key routes to
// another datasource fails with ErrCrossShard before it is sent, so a
// transaction never writes across shards.
//
// A Tx pins the configuration it began under: a Reload waits for it (up to
// DrainTimeout) before closing that configuration's pools. Commit or
// Rollback it promptly.
type Tx struct {
	c      *Cluster
	g      *generation
	ds     *datasource
	target Target
	tx     *sql.Tx

	mu   sync.Mutex
	done bool
}

// BeginTx starts a transaction on the primary of the shard key routes to
// in table.
func (c *Cluster) BeginTx(ctx context.Context, table string, key any, opts *sql.TxOptions) (*Tx, error) {
	v, err := ValueOf(key)
	if err != nil {
		return nil, err
	}
	g, err := c.acquire()
	if err != nil {
		return nil, err
	}
	t, err := g.table(table)
	if err != nil {
		g.release()
		return nil, err
	}
	tg, ds, err := t.route(v)
	if err != nil {
		g.release()
		return nil, err
	}
	stx, err := ds.primary.db.BeginTx(ctx, opts)
	if err != nil {
		g.release()
		return nil, err
	}
	return &Tx{c: c, g: g, ds: ds, target: tg, tx: stx}, nil
}

// Target is the physical table the transaction's key routed to; its
// DataSource is the shard the transaction is bound to.
func (tx *Tx) Target() Target { return tx.target }

func (tx *Tx) check(ds *datasource, tg Target) error {
	tx.mu.Lock()
	done := tx.done
	tx.mu.Unlock()
	if done {
		return ErrTxDone
	}
	if ds != tx.ds {
		return fmt.Errorf("%w: %s.%s is on %q, the transaction is bound to %q", ErrCrossShard, tg.DataSource, tg.Table, tg.DataSource, tx.target.DataSource)
	}
	return nil
}

// Exec runs a write in the transaction; key must route to the
// transaction's datasource.
func (tx *Tx) Exec(ctx context.Context, table string, key any, query string, args ...any) (sql.Result, error) {
	v, err := ValueOf(key)
	if err != nil {
		return nil, err
	}
	return tx.c.exec(ctx, tx.g, tx, table, v, query, args)
}

// Query runs a read in the transaction (on the primary).
func (tx *Tx) Query(ctx context.Context, table string, key any, query string, args ...any) (*Rows, error) {
	v, err := ValueOf(key)
	if err != nil {
		return nil, err
	}
	return tx.c.query(ctx, tx.g, tx, table, v, query, args, nil)
}

// QueryRow is Query for at most one row.
func (tx *Tx) QueryRow(ctx context.Context, table string, key any, query string, args ...any) *Row {
	rows, err := tx.Query(ctx, table, key, query, args...)
	return &Row{rows: rows, err: err}
}

// Commit commits the transaction.
func (tx *Tx) Commit() error { return tx.end(true) }

// Rollback aborts the transaction. After Commit it returns ErrTxDone.
func (tx *Tx) Rollback() error { return tx.end(false) }

func (tx *Tx) end(commit bool) error {
	tx.mu.Lock()
	if tx.done {
		tx.mu.Unlock()
		return ErrTxDone
	}
	tx.done = true
	tx.mu.Unlock()
	defer tx.g.release()
	if commit {
		return tx.tx.Commit()
	}
	return tx.tx.Rollback()
}
