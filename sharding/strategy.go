package sharding

import (
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/cespare/xxhash/v2"
)

// Kind is the type of a shard key Value.
type Kind uint8

// Kinds of shard key values.
const (
	KindNone   Kind = iota // no key: the zero Value
	KindInt                // a signed 64-bit integer
	KindString             // a string (or []byte)
	KindTime               // a point in time
)

func (k Kind) String() string {
	switch k {
	case KindInt:
		return "int"
	case KindString:
		return "string"
	case KindTime:
		return "time"
	}
	return "none"
}

// Value is a shard key value. Build one with Int, String or Time, or from
// any Go value with ValueOf. The zero Value means "no key".
//
// Value exists so that routing does not box its key into an interface: the
// routing benchmark shows 0 allocations per Route.
type Value struct {
	kind Kind
	i    int64
	s    string
	t    time.Time
}

// Int returns an integer key.
func Int(v int64) Value { return Value{kind: KindInt, i: v} }

// String returns a string key.
func String(s string) Value { return Value{kind: KindString, s: s} }

// Time returns a time key.
func Time(t time.Time) Value { return Value{kind: KindTime, t: t} }

// Kind returns the key's kind.
func (v Value) Kind() Kind { return v.kind }

// IsZero reports whether v carries no key.
func (v Value) IsZero() bool { return v.kind == KindNone }

// Any returns the key as an int64, string or time.Time (nil for no key),
// e.g. to pass it as a query argument.
func (v Value) Any() any {
	switch v.kind {
	case KindInt:
		return v.i
	case KindString:
		return v.s
	case KindTime:
		return v.t
	}
	return nil
}

func (v Value) String() string {
	switch v.kind {
	case KindInt:
		return strconv.FormatInt(v.i, 10)
	case KindString:
		return strconv.Quote(v.s)
	case KindTime:
		return v.t.Format(time.RFC3339Nano)
	}
	return "<no key>"
}

// Integer returns the key as an integer: an int key, or a string key that is
// a canonical decimal integer ("42", "-7"; not "042", "+7" or " 7").
func (v Value) Integer() (int64, bool) {
	switch v.kind {
	case KindInt:
		return v.i, true
	case KindString:
		return canonicalInt(v.s)
	}
	return 0, false
}

func canonicalInt(s string) (int64, bool) {
	if len(s) == 0 || len(s) > 20 {
		return 0, false
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil {
		return 0, false
	}
	// Canonical form only: "042" and "+7" would otherwise route like 42
	// and 7 while comparing unequal in SQL.
	if s[0] == '+' || (s[0] == '0' && len(s) > 1) || (len(s) > 1 && s[0] == '-' && s[1] == '0') {
		return 0, false
	}
	return n, true
}

// ValueOf converts a Go value into a shard key: any signed or unsigned
// integer type (unsigned above MaxInt64 is an error), string, []byte,
// time.Time, Value, or a non-nil pointer to one of these. nil is
// ErrNoShardKey; floats and other types are ErrKeyType.
func ValueOf(x any) (Value, error) {
	switch v := x.(type) {
	case nil:
		return Value{}, ErrNoShardKey
	case Value:
		if v.kind == KindNone {
			return v, ErrNoShardKey
		}
		return v, nil
	case int64:
		return Int(v), nil
	case int:
		return Int(int64(v)), nil
	case int32:
		return Int(int64(v)), nil
	case int16:
		return Int(int64(v)), nil
	case int8:
		return Int(int64(v)), nil
	case uint64:
		return uintValue(v)
	case uint:
		return uintValue(uint64(v))
	case uint32:
		return Int(int64(v)), nil
	case uint16:
		return Int(int64(v)), nil
	case uint8:
		return Int(int64(v)), nil
	case string:
		return String(v), nil
	case []byte:
		return String(string(v)), nil
	case time.Time:
		return Time(v), nil
	case *int64:
		if v != nil {
			return Int(*v), nil
		}
		return Value{}, ErrNoShardKey
	case *int:
		if v != nil {
			return Int(int64(*v)), nil
		}
		return Value{}, ErrNoShardKey
	case *string:
		if v != nil {
			return String(*v), nil
		}
		return Value{}, ErrNoShardKey
	case *time.Time:
		if v != nil {
			return Time(*v), nil
		}
		return Value{}, ErrNoShardKey
	}
	return Value{}, fmt.Errorf("%w: %T is not a shard key type (integers, string, []byte, time.Time)", ErrKeyType, x)
}

func uintValue(u uint64) (Value, error) {
	if u > math.MaxInt64 {
		return Value{}, fmt.Errorf("%w: %d overflows int64", ErrKeyType, u)
	}
	return Int(int64(u)), nil
}

// Target is one physical table: the datasource that holds it and its name.
type Target struct {
	DataSource string // datasource key, e.g. "order_db1"
	Table      string // physical table name, e.g. "order_57"
	// Index is the target's position in the strategy's Targets(): the
	// table index for the built-in strategies.
	Index int
}

// Strategy routes a shard key to one physical table. Implementations must
// be safe for concurrent use and should not allocate in Route (it runs for
// every statement).
type Strategy interface {
	// Name is the name the strategy is registered under.
	Name() string
	// Route returns the physical table of key. Keys the strategy cannot
	// route (wrong kind, out of range) give an error wrapping ErrKeyType or
	// ErrOutOfRange; Route never panics.
	Route(key Value) (Target, error)
	// Targets lists every physical table, Targets()[i].Index == i. Scatter
	// queries visit all of them. The caller must not modify the slice.
	Targets() []Target
}

// Layout is what a strategy is built from: one logical table's entry in
// the configuration.
type Layout struct {
	Table       string            // logical table name
	TablePrefix string            // physical tables are TablePrefix_<index>
	DBPrefix    string            // datasources are DBPrefix<index>
	Tables      int               // total number of physical tables (MTDDL tableShardNum)
	DBs         int               // number of databases (MTDDL dbShardNum)
	Params      map[string]string // strategy-specific parameters
}

// Factory builds a Strategy for a layout, validating it.
type Factory func(Layout) (Strategy, error)

// Registry maps strategy names to factories. NewRegistry returns one with
// the built-in strategies; user strategies are added with Register. A
// Registry is safe for concurrent use.
type Registry struct {
	mu sync.RWMutex
	m  map[string]Factory
}

// NewRegistry returns a registry holding the built-in strategies "mod",
// "hash", "range" and "time".
func NewRegistry() *Registry {
	return &Registry{m: map[string]Factory{
		"mod":   newMod,
		"hash":  newHash,
		"range": newRange,
		"time":  newTime,
	}}
}

// Register adds a strategy. Registering a name twice is an error.
func (r *Registry) Register(name string, f Factory) error {
	if name == "" || f == nil {
		return fmt.Errorf("sharding: Register needs a name and a factory")
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, ok := r.m[name]; ok {
		return fmt.Errorf("sharding: strategy %q already registered", name)
	}
	r.m[name] = f
	return nil
}

// Names lists the registered strategies, sorted.
func (r *Registry) Names() []string {
	r.mu.RLock()
	defer r.mu.RUnlock()
	names := make([]string, 0, len(r.m))
	for n := range r.m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

// Build returns the strategy name for layout l.
func (r *Registry) Build(name string, l Layout) (Strategy, error) {
	r.mu.RLock()
	f, ok := r.m[name]
	r.mu.RUnlock()
	if !ok {
		return nil, fmt.Errorf("%w %q (registered: %s)", ErrUnknownStrategy, name, strings.Join(r.Names(), ", "))
	}
	s, err := f(l)
	if err != nil {
		return nil, err
	}
	if s == nil || len(s.Targets()) == 0 {
		return nil, fmt.Errorf("sharding: strategy %q built no targets", name)
	}
	for i, t := range s.Targets() {
		if t.Index != i {
			return nil, fmt.Errorf("sharding: strategy %q: Targets()[%d].Index = %d", name, i, t.Index)
		}
	}
	return s, nil
}

// checkCounts validates the shard counts of the block layouts.
func checkCounts(l Layout) error {
	if l.Tables < 1 || l.DBs < 1 {
		return fmt.Errorf("%w: table %q: table_shards %d and db_shards %d must be ≥ 1", ErrBadConfig, l.Table, l.Tables, l.DBs)
	}
	if l.Tables%l.DBs != 0 {
		return fmt.Errorf("%w: table %q: db_shards %d does not divide table_shards %d", ErrBadConfig, l.Table, l.DBs, l.Tables)
	}
	return nil
}

// blockTargets lays tables out MTDDL's way: table i lives in database
// i / (tables/dbs), so each database holds a contiguous block.
func blockTargets(l Layout) []Target {
	per := l.Tables / l.DBs
	ts := make([]Target, l.Tables)
	for i := range ts {
		ts[i] = Target{
			DataSource: l.DBPrefix + strconv.Itoa(i/per),
			Table:      l.TablePrefix + "_" + strconv.Itoa(i),
			Index:      i,
		}
	}
	return ts
}

// mod is MTDDL's default strategy: table index = value mod tableShardNum,
// db index = table index / (tableShardNum / dbShardNum).
type mod struct{ targets []Target }

func newMod(l Layout) (Strategy, error) {
	if err := checkCounts(l); err != nil {
		return nil, err
	}
	return &mod{targets: blockTargets(l)}, nil
}

func (*mod) Name() string        { return "mod" }
func (s *mod) Targets() []Target { return s.targets }

// Route: negative values use the Euclidean remainder (−1 → the last table),
// where Java's % (MTDDL) would give a negative index and fail.
func (s *mod) Route(key Value) (Target, error) {
	v, ok := key.Integer()
	if !ok {
		return Target{}, fmt.Errorf("%w: mod needs an integer key, got %s %s (use hash for string keys)", ErrKeyType, key.kind, key)
	}
	n := int64(len(s.targets))
	i := v % n
	if i < 0 {
		i += n
	}
	return s.targets[i], nil
}

// hash routes like mod but over a mixed 64-bit hash of the key, so keys
// whose low bits are not uniform (snowflake IDs: sequence numbers restart
// each millisecond and usually stay small; power-of-two table counts see
// only those bits) still spread evenly. Integers (and canonical decimal
// strings, so "42" routes like 42) go through the murmur3 finalizer; other
// strings through xxhash64; times hash their Unix nanoseconds.
type hash struct{ targets []Target }

func newHash(l Layout) (Strategy, error) {
	if err := checkCounts(l); err != nil {
		return nil, err
	}
	return &hash{targets: blockTargets(l)}, nil
}

func (*hash) Name() string        { return "hash" }
func (s *hash) Targets() []Target { return s.targets }

func (s *hash) Route(key Value) (Target, error) {
	var h uint64
	switch key.kind {
	case KindInt:
		h = Mix64(uint64(key.i))
	case KindString:
		if v, ok := canonicalInt(key.s); ok {
			h = Mix64(uint64(v))
		} else {
			h = xxhash.Sum64String(key.s)
		}
	case KindTime:
		h = Mix64(uint64(key.t.UnixNano()))
	default:
		return Target{}, ErrNoShardKey
	}
	return s.targets[h%uint64(len(s.targets))], nil
}

// Mix64 is the murmur3 64-bit finalizer (fmix64): a bijection on uint64
// whose every output bit depends on every input bit. The hash strategy
// applies it to integer keys.
func Mix64(x uint64) uint64 {
	x ^= x >> 33
	x *= 0xff51afd7ed558ccd
	x ^= x >> 33
	x *= 0xc4ceb9fe1a85ec53
	x ^= x >> 33
	return x
}

// rng routes integer keys by boundaries: with bounds b0 < b1 < … < b(n-2)
// (param "bounds", comma-separated, n = table_shards), table 0 holds keys
// below b0, table i holds [b(i-1), b(i)), the last table holds keys ≥
// b(n-2). Databases hold contiguous blocks of tables as with mod.
type rng struct {
	bounds  []int64
	targets []Target
}

func newRange(l Layout) (Strategy, error) {
	if err := checkCounts(l); err != nil {
		return nil, err
	}
	raw := strings.TrimSpace(l.Params["bounds"])
	var bounds []int64
	if raw != "" {
		for _, f := range strings.Split(raw, ",") {
			b, err := strconv.ParseInt(strings.TrimSpace(f), 10, 64)
			if err != nil {
				return nil, fmt.Errorf("%w: table %q: range bound %q is not an integer", ErrBadConfig, l.Table, f)
			}
			if len(bounds) > 0 && b <= bounds[len(bounds)-1] {
				return nil, fmt.Errorf("%w: table %q: range bounds must increase strictly (%d after %d)", ErrBadConfig, l.Table, b, bounds[len(bounds)-1])
			}
			bounds = append(bounds, b)
		}
	}
	if len(bounds) != l.Tables-1 {
		return nil, fmt.Errorf("%w: table %q: range needs table_shards-1 = %d bounds in params.bounds, got %d", ErrBadConfig, l.Table, l.Tables-1, len(bounds))
	}
	return &rng{bounds: bounds, targets: blockTargets(l)}, nil
}

func (*rng) Name() string        { return "range" }
func (s *rng) Targets() []Target { return s.targets }

func (s *rng) Route(key Value) (Target, error) {
	v, ok := key.Integer()
	if !ok {
		return Target{}, fmt.Errorf("%w: range needs an integer key, got %s %s", ErrKeyType, key.kind, key)
	}
	// Number of bounds ≤ v is the table index.
	lo, hi := 0, len(s.bounds)
	for lo < hi {
		m := int(uint(lo+hi) >> 1)
		if s.bounds[m] <= v {
			lo = m + 1
		} else {
			hi = m
		}
	}
	return s.targets[lo], nil
}

// timeStrategy routes by calendar period: params "unit" (day or month),
// "start" (the first period, 2006-01-02 or 2006-01) and "location" (IANA
// zone, default UTC). Table i covers the i-th period from start and is
// named TablePrefix_YYYYMMDD or TablePrefix_YYYYMM; database index = i mod
// db_shards (round robin, so extending table_shards to add periods never
// moves an existing table). Keys: time.Time, integers as epoch
// milliseconds, strings in RFC 3339, "2006-01-02 15:04:05" or "2006-01-02".
// A key outside the covered periods is ErrOutOfRange.
type timeStrategy struct {
	month   bool
	loc     *time.Location
	start   time.Time // first period start, in loc
	startN  int64     // start's day number (days since 1970-01-01 in loc) or month number
	targets []Target
}

func newTime(l Layout) (Strategy, error) {
	if l.Tables < 1 || l.DBs < 1 {
		return nil, fmt.Errorf("%w: table %q: table_shards %d and db_shards %d must be ≥ 1", ErrBadConfig, l.Table, l.Tables, l.DBs)
	}
	s := &timeStrategy{loc: time.UTC}
	switch u := l.Params["unit"]; u {
	case "day":
	case "month":
		s.month = true
	default:
		return nil, fmt.Errorf("%w: table %q: time strategy needs params.unit day or month, got %q", ErrBadConfig, l.Table, u)
	}
	if name := l.Params["location"]; name != "" {
		loc, err := time.LoadLocation(name)
		if err != nil {
			return nil, fmt.Errorf("%w: table %q: location: %v", ErrBadConfig, l.Table, err)
		}
		s.loc = loc
	}
	layout := "2006-01-02"
	if s.month {
		layout = "2006-01"
	}
	start, err := time.ParseInLocation(layout, l.Params["start"], s.loc)
	if err != nil {
		return nil, fmt.Errorf("%w: table %q: params.start must be %s: %v", ErrBadConfig, l.Table, layout, err)
	}
	s.start = start
	s.startN = s.period(start)
	s.targets = make([]Target, l.Tables)
	for i := range s.targets {
		var p time.Time
		var suffix string
		if s.month {
			p = start.AddDate(0, i, 0)
			suffix = p.Format("200601")
		} else {
			p = start.AddDate(0, 0, i)
			suffix = p.Format("20060102")
		}
		s.targets[i] = Target{
			DataSource: l.DBPrefix + strconv.Itoa(i%l.DBs),
			Table:      l.TablePrefix + "_" + suffix,
			Index:      i,
		}
	}
	return s, nil
}

func (*timeStrategy) Name() string        { return "time" }
func (s *timeStrategy) Targets() []Target { return s.targets }

// period numbers t's day (days since 1970-01-01 on the calendar of loc) or
// month (12*year + month).
func (s *timeStrategy) period(t time.Time) int64 {
	y, m, d := t.In(s.loc).Date()
	if s.month {
		return int64(y)*12 + int64(m) - 1
	}
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC).Unix() / 86400
}

func (s *timeStrategy) Route(key Value) (Target, error) {
	var t time.Time
	switch key.kind {
	case KindTime:
		t = key.t
	case KindInt:
		t = time.UnixMilli(key.i)
	case KindString:
		var err error
		if t, err = parseTimeKey(key.s, s.loc); err != nil {
			return Target{}, err
		}
	default:
		return Target{}, ErrNoShardKey
	}
	i := s.period(t) - s.startN
	if i < 0 || i >= int64(len(s.targets)) {
		return Target{}, fmt.Errorf("%w: %s is outside the %d periods from %s", ErrOutOfRange, key, len(s.targets), s.targets[0].Table)
	}
	return s.targets[i], nil
}

func parseTimeKey(s string, loc *time.Location) (time.Time, error) {
	if t, err := time.Parse(time.RFC3339Nano, s); err == nil {
		return t, nil
	}
	for _, layout := range []string{"2006-01-02 15:04:05.999999999", "2006-01-02"} {
		if t, err := time.ParseInLocation(layout, s, loc); err == nil {
			return t, nil
		}
	}
	return time.Time{}, fmt.Errorf("%w: time key %q is not RFC 3339, 2006-01-02 15:04:05 or 2006-01-02", ErrKeyType, s)
}
