package sharding

import (
	"errors"
	"fmt"
	"strings"
)

// Errors returned by the package. Test with errors.Is.
var (
	// ErrNoShardKey: a routed call without a shard key. Queries that cannot
	// name the key must ask for a scatter-gather explicitly (Scatter).
	ErrNoShardKey = errors.New("sharding: no shard key (use Scatter to query every shard)")
	// ErrKeyType: a key the table's strategy cannot route (a float, a
	// non-numeric string for mod or range, …).
	ErrKeyType = errors.New("sharding: shard key type")
	// ErrOutOfRange: a key outside what the strategy covers (a date before
	// a time table's first period).
	ErrOutOfRange = errors.New("sharding: shard key out of range")
	// ErrUnknownTable: a logical table that is not configured.
	ErrUnknownTable = errors.New("sharding: unknown table")
	// ErrUnknownStrategy: a table config naming a strategy that is not in
	// the Registry.
	ErrUnknownStrategy = errors.New("sharding: unknown strategy")
	// ErrBadConfig: a configuration that cannot be loaded; the message says
	// which entry and why. A failed Reload keeps the running configuration.
	ErrBadConfig = errors.New("sharding: bad config")
	// ErrUnreachable: a datasource of a new configuration did not answer a
	// ping.
	ErrUnreachable = errors.New("sharding: datasource unreachable")
	// ErrCrossShard: a statement in a transaction that routes to another
	// datasource than the one the transaction is bound to.
	ErrCrossShard = errors.New("sharding: statement routes outside the transaction's shard")
	// ErrTxDone: a statement on a committed or rolled back transaction.
	ErrTxDone = errors.New("sharding: transaction already committed or rolled back")
	// ErrNoTablePlaceholder: a statement that does not name its logical
	// table as {table}.
	ErrNoTablePlaceholder = errors.New("sharding: statement lacks the {table} placeholder")
	// ErrNotFound: Get found no row.
	ErrNotFound = errors.New("sharding: row not found")
	// ErrClosed: a call on a closed Cluster.
	ErrClosed = errors.New("sharding: cluster closed")
	// ErrNotReplica: the lag check ran on a server that replicates from no
	// one (SHOW SLAVE STATUS is empty); the node is not used for reads.
	ErrNotReplica = errors.New("sharding: server is not a replica")
	// ErrReplicationStopped: Seconds_Behind_Master is NULL (the SQL or IO
	// thread is stopped).
	ErrReplicationStopped = errors.New("sharding: replication stopped")
	// ErrEventDropped: an event sink was full and dropped the event (it is
	// counted in das_sharding_event_errors_total).
	ErrEventDropped = errors.New("sharding: event dropped, sink full")
)

// ShardError is one shard's failure in a scatter-gather.
type ShardError struct {
	Target Target
	Err    error
}

// ScatterError reports the shards a scatter-gather could not read. It
// matches (errors.Is) each shard's error.
type ScatterError struct {
	Failed []ShardError
	Total  int // number of shards visited
}

func (e *ScatterError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "sharding: scatter: %d of %d shards failed", len(e.Failed), e.Total)
	for i, f := range e.Failed {
		if i == 3 {
			fmt.Fprintf(&b, "; …")
			break
		}
		fmt.Fprintf(&b, "; %s.%s: %v", f.Target.DataSource, f.Target.Table, f.Err)
	}
	return b.String()
}

// Unwrap returns the shards' errors.
func (e *ScatterError) Unwrap() []error {
	errs := make([]error, len(e.Failed))
	for i, f := range e.Failed {
		errs[i] = f.Err
	}
	return errs
}
