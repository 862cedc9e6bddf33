package sharding

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"strconv"
	"time"

	"github.com/go-sql-driver/mysql"
)

// Config is the dynamic part of a Cluster: datasources and logical tables.
// It is what the config file holds (JSON, see docs/sharding.md) and what
// Reload takes. Zero values mean the defaults stated on each field.
type Config struct {
	DataSources []DataSourceConfig `json:"datasources"`
	Tables      []TableConfig      `json:"tables"`
}

// DataSourceConfig is one database: a primary and optional replicas.
type DataSourceConfig struct {
	// Name is the datasource key tables route to (db_prefix + index).
	// Required, unique.
	Name     string       `json:"name"`
	Primary  NodeConfig   `json:"primary"`
	Replicas []NodeConfig `json:"replicas,omitempty"`
	// MaxLag skips replicas lagging more than this. Default 5s; a negative
	// value ("-1s") disables the lag check (replicas are always used).
	MaxLag Duration `json:"max_lag,omitempty"`
	// Pool settings, for the primary and each replica.
	Pool PoolConfig `json:"pool,omitempty"`
}

// NodeConfig is one server of a datasource.
type NodeConfig struct {
	// Name labels the node in metrics. Default "primary", "replica0", ….
	Name string `json:"name,omitempty"`
	// DSN is a go-sql-driver/mysql DSN naming the database. Required.
	DSN string `json:"dsn"`
	// Weight is the node's share of reads. Replicas default to 1; the
	// primary to 0 (it serves reads only with WithPrimary, inside a
	// transaction, or when no replica is usable).
	Weight *int `json:"weight,omitempty"`
	// LagCheck: "" (default: the cluster's LagProvider, SHOW SLAVE STATUS
	// unless replaced) or "none" (lag is taken as 0; for a replica that is
	// kept in sync by other means).
	LagCheck string `json:"lag_check,omitempty"`
}

// PoolConfig sets database/sql's pool limits.
type PoolConfig struct {
	MaxOpen         int      `json:"max_open,omitempty"`           // default 32
	MaxIdle         int      `json:"max_idle,omitempty"`           // default 8
	ConnMaxLifetime Duration `json:"conn_max_lifetime,omitempty"`  // default 30m
	ConnMaxIdleTime Duration `json:"conn_max_idle_time,omitempty"` // default 5m
}

// TableConfig is one logical table (MTDDL's @ShardInfo).
type TableConfig struct {
	// Name is the logical name; statements write it as {name}. Required,
	// unique, [A-Za-z0-9_].
	Name string `json:"name"`
	// TablePrefix names the physical tables: TablePrefix_<index> (time
	// strategy: TablePrefix_<period>). Default Name.
	TablePrefix string `json:"table_prefix,omitempty"`
	// DBPrefix names the datasources: DBPrefix<db index>. Required.
	DBPrefix string `json:"db_prefix"`
	// TableShards is the total number of physical tables (MTDDL
	// tableShardNum). Required, ≥ 1.
	TableShards int `json:"table_shards"`
	// DBShards is the number of databases (MTDDL dbShardNum). Required,
	// ≥ 1; mod, hash and range need it to divide TableShards.
	DBShards int `json:"db_shards"`
	// Strategy is a name in the Registry. Default "mod".
	Strategy string `json:"strategy,omitempty"`
	// Params are strategy parameters (range: bounds; time: unit, start,
	// location).
	Params map[string]string `json:"params,omitempty"`
	// ShardColumn is the column routed on (MTDDL @ShardOn). Needed by
	// Table[T] unless the struct tags one field `shard:"key"`.
	ShardColumn string `json:"shard_column,omitempty"`
	// IDColumn is the column Table[T].Insert fills from IDGen when it is
	// zero. Optional (or a struct field tagged `shard:"id"`).
	IDColumn string `json:"id_column,omitempty"`
	// IDGen names the ID generator (MTDDL @IDGen): "segment:<tag>" (Leaf
	// segment mode, Options.Segment), "snowflake" (Options.Snowflake), or
	// a key of Options.IDGens. Empty: the caller supplies IDs.
	IDGen string `json:"id_gen,omitempty"`
}

// Duration is a time.Duration written as a Go duration string ("5s") in
// JSON; a bare number is nanoseconds.
type Duration time.Duration

// MarshalJSON writes d as a duration string.
func (d Duration) MarshalJSON() ([]byte, error) {
	return []byte(strconv.Quote(time.Duration(d).String())), nil
}

// UnmarshalJSON reads a duration string or a number of nanoseconds.
func (d *Duration) UnmarshalJSON(b []byte) error {
	if len(b) > 0 && b[0] == '"' {
		s, err := strconv.Unquote(string(b))
		if err != nil {
			return err
		}
		v, err := time.ParseDuration(s)
		if err != nil {
			return err
		}
		*d = Duration(v)
		return nil
	}
	n, err := strconv.ParseInt(string(b), 10, 64)
	if err != nil {
		return fmt.Errorf("duration %s: want a string like \"5s\"", b)
	}
	*d = Duration(n)
	return nil
}

// ParseConfig decodes a JSON configuration. Unknown fields are errors (a
// misspelt key must not silently fall back to a default). It does not
// validate beyond the syntax: Open and Reload do.
func ParseConfig(data []byte) (Config, error) {
	var c Config
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&c); err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	if dec.More() {
		return Config{}, fmt.Errorf("%w: trailing data after the JSON object", ErrBadConfig)
	}
	return c, nil
}

// LoadConfigFile reads and parses a configuration file.
func LoadConfigFile(path string) (Config, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return Config{}, fmt.Errorf("%w: %v", ErrBadConfig, err)
	}
	c, err := ParseConfig(data)
	if err != nil {
		return Config{}, fmt.Errorf("%s: %w", path, err)
	}
	return c, nil
}

// Pool defaults.
const (
	defaultMaxOpen         = 32
	defaultMaxIdle         = 8
	defaultConnMaxLifetime = 30 * time.Minute
	defaultConnMaxIdleTime = 5 * time.Minute
	defaultMaxLag          = 5 * time.Second
)

func (p PoolConfig) withDefaults() PoolConfig {
	if p.MaxOpen == 0 {
		p.MaxOpen = defaultMaxOpen
	}
	if p.MaxIdle == 0 {
		p.MaxIdle = min(defaultMaxIdle, p.MaxOpen)
	}
	if p.ConnMaxLifetime == 0 {
		p.ConnMaxLifetime = Duration(defaultConnMaxLifetime)
	}
	if p.ConnMaxIdleTime == 0 {
		p.ConnMaxIdleTime = Duration(defaultConnMaxIdleTime)
	}
	return p
}

func validName(s string) bool {
	if s == "" || len(s) > 64 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		if !(c == '_' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9') {
			return false
		}
	}
	return true
}

// validate checks everything that does not need a strategy registry or a
// server: names, counts, DSNs, weights, references between tables and
// datasources.
func (c *Config) validate() error {
	if len(c.DataSources) == 0 {
		return fmt.Errorf("%w: no datasources", ErrBadConfig)
	}
	seen := make(map[string]bool, len(c.DataSources))
	for i, ds := range c.DataSources {
		if ds.Name == "" {
			return fmt.Errorf("%w: datasources[%d]: name is required", ErrBadConfig, i)
		}
		if seen[ds.Name] {
			return fmt.Errorf("%w: duplicate datasource key %q", ErrBadConfig, ds.Name)
		}
		seen[ds.Name] = true
		p := ds.Pool
		if p.MaxOpen < 0 || p.MaxIdle < 0 || p.ConnMaxLifetime < 0 || p.ConnMaxIdleTime < 0 {
			return fmt.Errorf("%w: datasource %q: pool limits must not be negative", ErrBadConfig, ds.Name)
		}
		nodes := map[string]bool{}
		for j, n := range append([]NodeConfig{ds.Primary}, ds.Replicas...) {
			what := "primary"
			if j > 0 {
				what = fmt.Sprintf("replicas[%d]", j-1)
			}
			if n.DSN == "" {
				return fmt.Errorf("%w: datasource %q: %s: dsn is required", ErrBadConfig, ds.Name, what)
			}
			if _, err := mysql.ParseDSN(n.DSN); err != nil {
				return fmt.Errorf("%w: datasource %q: %s: %v", ErrBadConfig, ds.Name, what, err)
			}
			if n.Weight != nil && *n.Weight < 0 {
				return fmt.Errorf("%w: datasource %q: %s: weight %d must not be negative", ErrBadConfig, ds.Name, what, *n.Weight)
			}
			if n.LagCheck != "" && n.LagCheck != "none" {
				return fmt.Errorf("%w: datasource %q: %s: lag_check %q: want \"\" or \"none\"", ErrBadConfig, ds.Name, what, n.LagCheck)
			}
			name := nodeName(n, j)
			if nodes[name] {
				return fmt.Errorf("%w: datasource %q: duplicate node name %q", ErrBadConfig, ds.Name, name)
			}
			nodes[name] = true
		}
	}
	tables := make(map[string]bool, len(c.Tables))
	for i, t := range c.Tables {
		if !validName(t.Name) {
			return fmt.Errorf("%w: tables[%d]: name %q must be 1..64 of [A-Za-z0-9_]", ErrBadConfig, i, t.Name)
		}
		if tables[t.Name] {
			return fmt.Errorf("%w: duplicate table %q", ErrBadConfig, t.Name)
		}
		tables[t.Name] = true
		if t.TablePrefix != "" && !validName(t.TablePrefix) {
			return fmt.Errorf("%w: table %q: table_prefix %q must be of [A-Za-z0-9_]", ErrBadConfig, t.Name, t.TablePrefix)
		}
		if t.DBPrefix == "" {
			return fmt.Errorf("%w: table %q: db_prefix is required", ErrBadConfig, t.Name)
		}
		if t.TableShards < 1 || t.DBShards < 1 {
			return fmt.Errorf("%w: table %q: table_shards %d and db_shards %d must be ≥ 1", ErrBadConfig, t.Name, t.TableShards, t.DBShards)
		}
		for _, col := range []string{t.ShardColumn, t.IDColumn} {
			if col != "" && !validName(col) {
				return fmt.Errorf("%w: table %q: column %q must be of [A-Za-z0-9_]", ErrBadConfig, t.Name, col)
			}
		}
	}
	return nil
}

func nodeName(n NodeConfig, j int) string {
	if n.Name != "" {
		return n.Name
	}
	if j == 0 {
		return "primary"
	}
	return "replica" + strconv.Itoa(j-1)
}

func (t TableConfig) layout() Layout {
	prefix := t.TablePrefix
	if prefix == "" {
		prefix = t.Name
	}
	return Layout{Table: t.Name, TablePrefix: prefix, DBPrefix: t.DBPrefix, Tables: t.TableShards, DBs: t.DBShards, Params: t.Params}
}

func (t TableConfig) strategy() string {
	if t.Strategy == "" {
		return "mod"
	}
	return t.Strategy
}
