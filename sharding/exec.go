package sharding

import (
	"context"
	"database/sql"
	"errors"
	"net"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/das-project/das/sources"
)

// Exec runs a write on the primary of the shard that key routes to in the
// logical table. The statement names its table as {table} (the logical
// name in braces), e.g. "UPDATE {order} SET status = ? WHERE user_id = ?
// AND id = ?"; every occurrence is replaced by the physical table. A nil
// key is ErrNoShardKey.
func (c *Cluster) Exec(ctx context.Context, table string, key any, query string, args ...any) (sql.Result, error) {
	v, err := ValueOf(key)
	if err != nil {
		return nil, err
	}
	g, err := c.acquire()
	if err != nil {
		return nil, err
	}
	defer g.release()
	return c.exec(ctx, g, nil, table, v, query, args)
}

// Query runs a read on the shard key routes to: on a replica chosen by
// weight among those within their lag limit, or on the primary with
// WithPrimary(ctx) or when no replica is usable. The Rows must be closed
// (or read to the end).
func (c *Cluster) Query(ctx context.Context, table string, key any, query string, args ...any) (*Rows, error) {
	v, err := ValueOf(key)
	if err != nil {
		return nil, err
	}
	g, err := c.acquire()
	if err != nil {
		return nil, err
	}
	return c.query(ctx, g, nil, table, v, query, args, g)
}

// QueryRow is Query for at most one row; errors are deferred to Scan.
func (c *Cluster) QueryRow(ctx context.Context, table string, key any, query string, args ...any) *Row {
	rows, err := c.Query(ctx, table, key, query, args...)
	return &Row{rows: rows, err: err}
}

func (c *Cluster) exec(ctx context.Context, g *generation, tx *Tx, table string, key Value, query string, args []any) (sql.Result, error) {
	t, err := g.table(table)
	if err != nil {
		return nil, err
	}
	tg, ds, err := t.route(key)
	if err != nil {
		return nil, err
	}
	if tx != nil {
		if err := tx.check(ds, tg); err != nil {
			return nil, err
		}
	}
	st, err := c.statement(g, t, tg, query)
	if err != nil {
		return nil, err
	}
	return c.execOn(ctx, ds, tx, st, args)
}

func (c *Cluster) execOn(ctx context.Context, ds *datasource, tx *Tx, st *stmt, args []any) (sql.Result, error) {
	n := ds.primary
	start := c.opts.Now()
	var res sql.Result
	var err error
	if tx != nil {
		res, err = tx.tx.ExecContext(ctx, st.sql, args...)
	} else {
		res, err = n.db.ExecContext(ctx, st.sql, args...)
	}
	lat := c.opts.Now().Sub(start)
	var affected int64
	if err == nil {
		affected, _ = res.RowsAffected()
	}
	c.observe(ds, n, st, start, lat, 0, affected, err)
	return res, err
}

// query routes and runs a read on g. pin (may be nil) is released once
// the Rows are finished, or before query returns an error.
func (c *Cluster) query(ctx context.Context, g *generation, tx *Tx, table string, key Value, query string, args []any, pin *generation) (*Rows, error) {
	fail := func(err error) (*Rows, error) {
		if pin != nil {
			pin.release()
		}
		return nil, err
	}
	t, err := g.table(table)
	if err != nil {
		return fail(err)
	}
	tg, ds, err := t.route(key)
	if err != nil {
		return fail(err)
	}
	if tx != nil {
		if err := tx.check(ds, tg); err != nil {
			return fail(err)
		}
	}
	st, err := c.statement(g, t, tg, query)
	if err != nil {
		return fail(err)
	}
	return c.queryOn(ctx, ds, tx, st, args, pin)
}

func (c *Cluster) queryOn(ctx context.Context, ds *datasource, tx *Tx, st *stmt, args []any, pin *generation) (*Rows, error) {
	var n *node
	start := c.opts.Now()
	var rows *sql.Rows
	var err error
	if tx != nil {
		n = ds.primary
		rows, err = tx.tx.QueryContext(ctx, st.sql, args...)
	} else {
		n = ds.readNode(ctx)
		rows, err = n.db.QueryContext(ctx, st.sql, args...)
	}
	lat := c.opts.Now().Sub(start)
	if err != nil {
		c.observe(ds, n, st, start, lat, 0, 0, err)
		if pin != nil {
			pin.release()
		}
		return nil, err
	}
	return &Rows{rows: rows, c: c, ds: ds, n: n, st: st, start: start, lat: lat, pin: pin}, nil
}

// Rows is the result of a routed query, read like *sql.Rows. Its
// statement is measured and emitted as an event when it finishes: when
// Next returns false or Close is called. Latency counts the time spent in
// the query and in Next, not the caller's time between rows.
type Rows struct {
	rows  *sql.Rows
	c     *Cluster
	ds    *datasource
	n     *node
	st    *stmt
	start time.Time
	lat   time.Duration
	count int64
	pin   *generation // released when finished; nil in a transaction
	fin   bool
}

// Next prepares the next row for Scan, as (*sql.Rows).Next.
func (r *Rows) Next() bool {
	if r.fin {
		return false
	}
	t0 := r.c.opts.Now()
	ok := r.rows.Next()
	r.lat += r.c.opts.Now().Sub(t0)
	if ok {
		r.count++
		return true
	}
	r.finish(nil)
	return false
}

// Scan copies the current row's columns, as (*sql.Rows).Scan.
func (r *Rows) Scan(dest ...any) error { return r.rows.Scan(dest...) }

// Err returns the error that ended iteration, as (*sql.Rows).Err.
func (r *Rows) Err() error { return r.rows.Err() }

// Columns returns the column names.
func (r *Rows) Columns() ([]string, error) { return r.rows.Columns() }

// ColumnTypes returns the column types.
func (r *Rows) ColumnTypes() ([]*sql.ColumnType, error) { return r.rows.ColumnTypes() }

// Node names the node that served the query: "datasource/node".
func (r *Rows) Node() string { return r.n.ds + "/" + r.n.name }

// Close closes the rows; it is safe to call more than once.
func (r *Rows) Close() error {
	err := r.rows.Close()
	r.finish(err)
	return err
}

func (r *Rows) finish(closeErr error) {
	if r.fin {
		return
	}
	r.fin = true
	err := r.rows.Err()
	if err == nil {
		err = closeErr
	}
	_ = r.rows.Close()
	r.c.observe(r.ds, r.n, r.st, r.start, r.lat, r.count, 0, err)
	if r.pin != nil {
		r.pin.release()
	}
}

// Row is the result of QueryRow.
type Row struct {
	rows *Rows
	err  error
}

// Scan copies the row's columns into dest; sql.ErrNoRows when there is no
// row.
func (r *Row) Scan(dest ...any) error {
	if r.err != nil {
		return r.err
	}
	defer r.rows.Close()
	if !r.rows.Next() {
		if err := r.rows.Err(); err != nil {
			return err
		}
		return sql.ErrNoRows
	}
	if err := r.rows.Scan(dest...); err != nil {
		return err
	}
	return r.rows.Close()
}

// Err returns the error of the query, if it failed before Scan.
func (r *Row) Err() error { return r.err }

// sqlObs are the SQL metrics children of one (datasource, template).
type sqlObs struct {
	latency                   interface{ Observe(float64) }
	queries, errors, timeouts interface{ Inc() }
}

// observe records one statement: metrics and, with Options.Events, a das
// SQL event.
func (c *Cluster) observe(ds *datasource, n *node, st *stmt, start time.Time, lat time.Duration, rowsSent, rowsAffected int64, err error) {
	o := c.metrics.obs(ds, st.tmpl)
	o.latency.Observe(lat.Seconds())
	o.queries.Inc()
	code := int32(0)
	if err != nil {
		o.errors.Inc()
		if isTimeout(err) {
			o.timeouts.Inc()
		}
		code = errCode(err)
	}
	if c.opts.Events == nil {
		return
	}
	ev := sources.Event{
		TsMs:         start.UnixMilli(),
		Instance:     n.instance,
		DB:           n.dbName,
		User:         n.user,
		SQL:          st.sqlb,
		LatencyUs:    lat.Microseconds(),
		RowsSent:     rowsSent,
		RowsAffected: rowsAffected,
		ErrCode:      code,
	}
	if err := c.opts.Events.Emit(&ev); err != nil {
		c.metrics.eventErrors.Inc()
	} else {
		c.metrics.events.Inc()
	}
}

// Error codes given to events for errors that are not MySQL errors.
const (
	// CodeClientError: a client-side failure that is not a timeout or a
	// cancellation (CR_UNKNOWN_ERROR).
	CodeClientError = 2000
	// CodeConnectionLost: the connection failed (CR_SERVER_LOST).
	CodeConnectionLost = 2013
	// CodeCanceled: the context was cancelled (ER_QUERY_INTERRUPTED).
	CodeCanceled = 1317
	// CodeTimeout: the context deadline passed
	// (ER_QUERY_TIMEOUT, MySQL's max_execution_time error).
	CodeTimeout = 3024
)

// errCode maps err to the event's err_code: the server's error number for
// MySQL errors, else one of the Code constants.
func errCode(err error) int32 {
	var me *mysql.MySQLError
	switch {
	case errors.As(err, &me):
		return int32(me.Number)
	case errors.Is(err, context.DeadlineExceeded):
		return CodeTimeout
	case errors.Is(err, context.Canceled):
		return CodeCanceled
	case errors.Is(err, mysql.ErrInvalidConn):
		return CodeConnectionLost
	}
	var ne net.Error
	if errors.As(err, &ne) {
		if ne.Timeout() {
			return CodeTimeout
		}
		return CodeConnectionLost
	}
	return CodeClientError
}

// isTimeout: a context deadline, a network timeout, or the server's
// statement timeout (MariaDB 1969 max_statement_time, MySQL 3024
// max_execution_time).
func isTimeout(err error) bool {
	if errors.Is(err, context.DeadlineExceeded) {
		return true
	}
	var me *mysql.MySQLError
	if errors.As(err, &me) {
		return me.Number == 1969 || me.Number == 3024
	}
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}
