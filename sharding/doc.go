// Package sharding is MTDDL-style client sharding for Go services on
// database/sql and go-sql-driver/mysql: logical tables split over many
// physical tables and databases, read/write splitting, runtime
// reconfiguration, and pool and SQL monitoring that feed das.
//
// # Routing
//
// A logical table (TableConfig) names a Strategy that maps a shard key to
// one physical table and the datasource holding it. The default, "mod", is
// MTDDL's: table index = key mod table_shards, database index = table
// index / (table_shards / db_shards), tables prefix_<index> in datasources
// db_prefix<index>. "hash" does the same over a mixed hash (string keys,
// snowflake IDs), "range" over boundaries, "time" by day or month. Users
// add strategies to a Registry value passed in Options.
//
// Statements name their table as {name}: Exec("order", uid, "UPDATE
// {order} SET … WHERE user_id = ?", …) runs "UPDATE `order_37` …" on the
// right database. Every routed call needs the shard key; a query that
// cannot name it must ask for Scatter (bounded parallelism, per-shard
// timeouts, merged results). Table[T] maps a struct with tags and assigns
// IDs from leaf (segment or snowflake) or any leaf.IDGen.
//
// # Read/write splitting
//
// Writes and transactions go to a datasource's primary. Reads go to its
// replicas by weight, skipping those whose measured lag exceeds max_lag
// (SHOW SLAVE STATUS by default; LagProvider is pluggable). WithPrimary
// forces the primary for read-your-writes. A transaction is bound to the
// datasource its key routes to: a statement routing elsewhere fails with
// ErrCrossShard.
//
// # Dynamic configuration
//
// Reload (or a file watched with WatchFile/OpenFile) validates a new
// Config, opens and pings the pools of new or changed datasources, swaps
// the configuration atomically, waits for calls still running on the old
// one (each call pins the configuration it started with) and closes the
// pools no longer used. A failed reload changes nothing.
//
// # Monitoring
//
// Metrics (das_sharding_*) go to an injected prometheus.Registerer: pool
// gauges and wait counters per datasource and node, SQL latency, counts,
// errors and timeouts per datasource and template id (the das fingerprint
// of the logical statement, capped by Options.MaxTemplates). With
// Options.Events every statement becomes a sources.Event — the client-side
// view of what the das agent collects — sent to a function, a channel,
// JSON lines, or Kafka.
//
// The package has no globals, starts two goroutines per Cluster (lag
// loop, file watcher) which Close stops, and never prints.
// docs/sharding.md is the user guide.
package sharding
