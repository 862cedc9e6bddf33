package sharding

import (
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"strings"
	"testing"
	"time"

	"github.com/cespare/xxhash/v2"
)

func mustBuild(t *testing.T, name string, l Layout) Strategy {
	t.Helper()
	s, err := NewRegistry().Build(name, l)
	if err != nil {
		t.Fatalf("build %s %+v: %v", name, l, err)
	}
	return s
}

type routeCase struct {
	key     Value
	ds, tbl string
	err     error
}

func checkRoutes(t *testing.T, s Strategy, cases []routeCase) {
	t.Helper()
	for _, c := range cases {
		got, err := s.Route(c.key)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("%s.Route(%s) = %+v, %v; want error %v", s.Name(), c.key, got, err, c.err)
			}
			continue
		}
		if err != nil || got.DataSource != c.ds || got.Table != c.tbl {
			t.Errorf("%s.Route(%s) = %+v, %v; want %s.%s", s.Name(), c.key, got, err, c.ds, c.tbl)
			continue
		}
		if s.Targets()[got.Index] != got {
			t.Errorf("%s.Route(%s) = %+v, not Targets()[%d] = %+v", s.Name(), c.key, got, got.Index, s.Targets()[got.Index])
		}
	}
}

// MTDDL's example: tableShardNum = 100, dbShardNum = 2 → tables 0–49 in
// the first database, 50–99 in the second.
func TestModMTDDL100Over2(t *testing.T) {
	s := mustBuild(t, "mod", Layout{Table: "order", TablePrefix: "order", DBPrefix: "order_db", Tables: 100, DBs: 2})
	checkRoutes(t, s, []routeCase{
		{Int(0), "order_db0", "order_0", nil},
		{Int(1), "order_db0", "order_1", nil},
		{Int(49), "order_db0", "order_49", nil},
		{Int(50), "order_db1", "order_50", nil},
		{Int(99), "order_db1", "order_99", nil},
		{Int(100), "order_db0", "order_0", nil},
		{Int(12345), "order_db0", "order_45", nil},
		{Int(12399), "order_db1", "order_99", nil},
		{Int(math.MaxInt64), "order_db0", "order_7", nil}, // 9223372036854775807 mod 100 = 7
		// Negative keys: Euclidean remainder, never a negative index.
		{Int(-1), "order_db1", "order_99", nil},
		{Int(-100), "order_db0", "order_0", nil},
		{Int(-101), "order_db1", "order_99", nil},
		{Int(math.MinInt64), "order_db1", "order_92", nil}, // -9223372036854775808 mod 100 = 92
		// Canonical decimal strings route as their integer.
		{String("57"), "order_db1", "order_57", nil},
		{String("-1"), "order_db1", "order_99", nil},
		{String("057"), "", "", ErrKeyType},
		{String("abc"), "", "", ErrKeyType},
		{String(""), "", "", ErrKeyType},
		{Time(time.Unix(0, 0)), "", "", ErrKeyType},
		{Value{}, "", "", ErrKeyType},
	})
	if n := len(s.Targets()); n != 100 {
		t.Fatalf("%d targets", n)
	}
	for i, tg := range s.Targets() {
		want := "order_db0"
		if i >= 50 {
			want = "order_db1"
		}
		if tg.DataSource != want || tg.Table != fmt.Sprintf("order_%d", i) {
			t.Fatalf("target %d = %+v", i, tg)
		}
	}
}

func TestModLayouts(t *testing.T) {
	// 8 tables over 4 databases: 2 per database.
	s := mustBuild(t, "mod", Layout{Table: "u", TablePrefix: "user", DBPrefix: "udb", Tables: 8, DBs: 4})
	checkRoutes(t, s, []routeCase{
		{Int(0), "udb0", "user_0", nil},
		{Int(3), "udb1", "user_3", nil},
		{Int(5), "udb2", "user_5", nil},
		{Int(15), "udb3", "user_7", nil},
	})
	// One table, one database.
	s = mustBuild(t, "mod", Layout{Table: "u", TablePrefix: "t", DBPrefix: "d", Tables: 1, DBs: 1})
	checkRoutes(t, s, []routeCase{{Int(-5), "d0", "t_0", nil}})
}

func TestBlockLayoutsRejectBadCounts(t *testing.T) {
	for _, name := range []string{"mod", "hash", "range"} {
		for _, c := range []struct{ tables, dbs int }{{100, 3}, {0, 1}, {10, 0}, {-4, 2}, {3, 6}} {
			l := Layout{Table: "o", TablePrefix: "o", DBPrefix: "d", Tables: c.tables, DBs: c.dbs}
			if c.tables > 0 {
				l.Params = map[string]string{"bounds": ""}
			}
			if _, err := NewRegistry().Build(name, l); !errors.Is(err, ErrBadConfig) {
				t.Errorf("%s %d over %d: err %v, want ErrBadConfig", name, c.tables, c.dbs, err)
			}
		}
	}
}

func TestHash(t *testing.T) {
	s := mustBuild(t, "hash", Layout{Table: "order", TablePrefix: "order", DBPrefix: "order_db", Tables: 100, DBs: 2})
	// Expected indexes computed independently (murmur3 fmix64 in Python):
	// fmix64(1) = 0xb456bcfc34c2cb2c → 4; fmix64(42) = 0x810879608e4259cc →
	// 40; fmix64(-1) = 0x64b5720b4b825f21 → 89; fmix64(12345) =
	// 0x17d2abfbf90baef9 → 53; fmix64(1<<40) = 0xe80f632ed2f232f6 → 50.
	checkRoutes(t, s, []routeCase{
		{Int(0), "order_db0", "order_0", nil},
		{Int(1), "order_db0", "order_4", nil},
		{Int(42), "order_db0", "order_40", nil},
		{String("42"), "order_db0", "order_40", nil},
		{Int(-1), "order_db1", "order_89", nil},
		{Int(12345), "order_db1", "order_53", nil},
		{Int(1 << 40), "order_db1", "order_50", nil},
		{Value{}, "", "", ErrNoShardKey},
	})
	if Mix64(1) != 0xb456bcfc34c2cb2c {
		t.Fatalf("Mix64(1) = %#x", Mix64(1))
	}
	// Non-numeric strings: xxhash64.
	want := int(xxhash.Sum64String("alice@example.com") % 100)
	got, err := s.Route(String("alice@example.com"))
	if err != nil || got.Index != want {
		t.Fatalf("string key: %+v %v, want index %d", got, err, want)
	}
}

// Snowflake IDs (timestamp | worker | sequence, the sequence restarting
// each millisecond) all share their low bits at low load: with 64 tables
// plain mod puts every ID of a worker in one table. Hash spreads them.
func TestHashSpreadsSnowflakeIDs(t *testing.T) {
	const tables = 64
	mod := mustBuild(t, "mod", Layout{Table: "o", TablePrefix: "o", DBPrefix: "d", Tables: tables, DBs: 2})
	hash := mustBuild(t, "hash", Layout{Table: "o", TablePrefix: "o", DBPrefix: "d", Tables: tables, DBs: 2})
	rng := rand.New(rand.NewPCG(1, 2))
	const n = 64000
	modCount := make([]int, tables)
	hashCount := make([]int, tables)
	ms := int64(100_000_000)
	for range n {
		ms += 1 + rng.Int64N(3)                   // one ID every few ms
		id := ms<<22 | 7<<12 | int64(rng.IntN(2)) // worker 7, sequence 0 or 1
		a, _ := mod.Route(Int(id))
		b, _ := hash.Route(Int(id))
		modCount[a.Index]++
		hashCount[b.Index]++
	}
	used := 0
	for _, c := range modCount {
		if c > 0 {
			used++
		}
	}
	if used > 2 {
		t.Fatalf("plain mod used %d tables; the skew this test demonstrates is gone", used)
	}
	// Chi-square against uniform, 63 degrees of freedom: the 0.999
	// quantile is about 104.
	exp := float64(n) / tables
	chi := 0.0
	for _, c := range hashCount {
		d := float64(c) - exp
		chi += d * d / exp
	}
	if chi > 104 {
		t.Fatalf("hash of snowflake IDs is skewed: chi² = %.1f, counts %v", chi, hashCount)
	}
}

func TestRange(t *testing.T) {
	s := mustBuild(t, "range", Layout{Table: "o", TablePrefix: "o", DBPrefix: "d", Tables: 4, DBs: 2,
		Params: map[string]string{"bounds": "100, 200,300"}})
	checkRoutes(t, s, []routeCase{
		{Int(math.MinInt64), "d0", "o_0", nil},
		{Int(-5), "d0", "o_0", nil},
		{Int(99), "d0", "o_0", nil},
		{Int(100), "d0", "o_1", nil},
		{Int(199), "d0", "o_1", nil},
		{Int(200), "d1", "o_2", nil},
		{Int(299), "d1", "o_2", nil},
		{Int(300), "d1", "o_3", nil},
		{Int(math.MaxInt64), "d1", "o_3", nil},
		{String("150"), "d0", "o_1", nil},
		{String("x"), "", "", ErrKeyType},
	})
	for _, bounds := range []string{"100,200", "100,200,300,400", "300,200,100", "100,100,200", "1,x,3"} {
		_, err := NewRegistry().Build("range", Layout{Table: "o", TablePrefix: "o", DBPrefix: "d", Tables: 4, DBs: 2,
			Params: map[string]string{"bounds": bounds}})
		if !errors.Is(err, ErrBadConfig) {
			t.Errorf("bounds %q: %v, want ErrBadConfig", bounds, err)
		}
	}
}

func TestTime(t *testing.T) {
	month := mustBuild(t, "time", Layout{Table: "o", TablePrefix: "order", DBPrefix: "d", Tables: 12, DBs: 2,
		Params: map[string]string{"unit": "month", "start": "2024-01"}})
	utc := func(s string) Value {
		tm, err := time.Parse(time.RFC3339, s)
		if err != nil {
			t.Fatal(err)
		}
		return Time(tm)
	}
	checkRoutes(t, month, []routeCase{
		{utc("2024-01-15T10:00:00Z"), "d0", "order_202401", nil},
		{utc("2024-01-31T23:59:59Z"), "d0", "order_202401", nil},
		{utc("2024-02-01T00:00:00Z"), "d1", "order_202402", nil},
		{utc("2024-12-31T23:59:59Z"), "d1", "order_202412", nil},
		{utc("2023-12-31T23:59:59Z"), "", "", ErrOutOfRange},
		{utc("2025-01-01T00:00:00Z"), "", "", ErrOutOfRange},
		{Int(time.Date(2024, 3, 5, 0, 0, 0, 0, time.UTC).UnixMilli()), "d0", "order_202403", nil},
		{String("2024-03-05"), "d0", "order_202403", nil},
		{String("2024-04-30 23:00:00"), "d1", "order_202404", nil},
		{String("2024-05-01T01:00:00+02:00"), "d1", "order_202404", nil}, // 2024-04-30T23:00Z
		{String("tomorrow"), "", "", ErrKeyType},
		{Value{}, "", "", ErrNoShardKey},
	})
	// Calendar days in a zone: 2024-01-31T20:00Z is 2024-02-01 04:00 in
	// Shanghai. Leap day included.
	day := mustBuild(t, "time", Layout{Table: "o", TablePrefix: "log", DBPrefix: "d", Tables: 5, DBs: 2,
		Params: map[string]string{"unit": "day", "start": "2024-02-27", "location": "Asia/Shanghai"}})
	checkRoutes(t, day, []routeCase{
		{utc("2024-02-26T16:00:00Z"), "d0", "log_20240227", nil},
		{utc("2024-02-26T15:59:59Z"), "", "", ErrOutOfRange},
		{utc("2024-02-28T16:30:00Z"), "d0", "log_20240229", nil},
		{utc("2024-03-01T17:00:00Z"), "d0", "log_20240302", nil},
		{utc("2024-03-02T16:00:00Z"), "", "", ErrOutOfRange},
	})
	for _, p := range []map[string]string{
		{"unit": "week", "start": "2024-01"},
		{"unit": "month", "start": "2024-13"},
		{"unit": "month"},
		{"unit": "day", "start": "2024-01-01", "location": "Mars/Base"},
	} {
		if _, err := NewRegistry().Build("time", Layout{Table: "o", TablePrefix: "o", DBPrefix: "d", Tables: 3, DBs: 1, Params: p}); !errors.Is(err, ErrBadConfig) {
			t.Errorf("params %v: %v, want ErrBadConfig", p, err)
		}
	}
}

type constStrategy struct{ ts []Target }

func (constStrategy) Name() string                  { return "const" }
func (s constStrategy) Targets() []Target           { return s.ts }
func (s constStrategy) Route(Value) (Target, error) { return s.ts[0], nil }

func TestRegistry(t *testing.T) {
	r := NewRegistry()
	f := func(l Layout) (Strategy, error) {
		return constStrategy{ts: []Target{{DataSource: l.DBPrefix + "0", Table: l.TablePrefix + "_all"}}}, nil
	}
	if err := r.Register("const", f); err != nil {
		t.Fatal(err)
	}
	if err := r.Register("const", f); err == nil {
		t.Fatal("registering a name twice succeeded")
	}
	if err := r.Register("mod", f); err == nil {
		t.Fatal("replacing a built-in succeeded")
	}
	s, err := r.Build("const", Layout{TablePrefix: "x", DBPrefix: "d"})
	if err != nil {
		t.Fatal(err)
	}
	if tg, _ := s.Route(Int(1)); tg.Table != "x_all" {
		t.Fatalf("%+v", tg)
	}
	_, err = r.Build("consistent", Layout{})
	if !errors.Is(err, ErrUnknownStrategy) || !strings.Contains(err.Error(), "const, hash, mod, range, time") {
		t.Fatalf("unknown strategy: %v", err)
	}
	// Two registries are independent: no package state.
	if _, err := NewRegistry().Build("const", Layout{}); !errors.Is(err, ErrUnknownStrategy) {
		t.Fatalf("registry leaked: %v", err)
	}
}

func TestValueOf(t *testing.T) {
	n := int64(7)
	cases := []struct {
		in   any
		want Value
		err  error
	}{
		{int64(-3), Int(-3), nil},
		{int(5), Int(5), nil},
		{uint8(9), Int(9), nil},
		{uint64(math.MaxInt64), Int(math.MaxInt64), nil},
		{uint64(math.MaxUint64), Value{}, ErrKeyType},
		{"k", String("k"), nil},
		{[]byte("b"), String("b"), nil},
		{&n, Int(7), nil},
		{(*int64)(nil), Value{}, ErrNoShardKey},
		{nil, Value{}, ErrNoShardKey},
		{Value{}, Value{}, ErrNoShardKey},
		{3.5, Value{}, ErrKeyType},
		{struct{}{}, Value{}, ErrKeyType},
	}
	for _, c := range cases {
		got, err := ValueOf(c.in)
		if c.err != nil {
			if !errors.Is(err, c.err) {
				t.Errorf("ValueOf(%#v) err %v, want %v", c.in, err, c.err)
			}
			continue
		}
		if err != nil || got != c.want {
			t.Errorf("ValueOf(%#v) = %v, %v; want %v", c.in, got, err, c.want)
		}
	}
}

// FuzzRoute: any key through every built-in strategy either routes to one
// of its targets or errors; it never panics.
func FuzzRoute(f *testing.F) {
	f.Add(int64(0), "", int64(0), uint8(0))
	f.Add(int64(-1), "2024-02-29", int64(1), uint8(1))
	f.Add(int64(math.MinInt64), "-9223372036854775808", int64(-1), uint8(2))
	f.Add(int64(math.MaxInt64), "2024-01-31T20:00:00+08:00", int64(1<<62), uint8(3))
	r := NewRegistry()
	var ss []Strategy
	for _, c := range []struct {
		name string
		l    Layout
	}{
		{"mod", Layout{TablePrefix: "t", DBPrefix: "d", Tables: 100, DBs: 2}},
		{"hash", Layout{TablePrefix: "t", DBPrefix: "d", Tables: 64, DBs: 4}},
		{"range", Layout{TablePrefix: "t", DBPrefix: "d", Tables: 3, DBs: 1, Params: map[string]string{"bounds": "-10,10"}}},
		{"time", Layout{TablePrefix: "t", DBPrefix: "d", Tables: 400, DBs: 3, Params: map[string]string{"unit": "day", "start": "2023-06-01"}}},
		{"time", Layout{TablePrefix: "t", DBPrefix: "d", Tables: 24, DBs: 2, Params: map[string]string{"unit": "month", "start": "2024-01", "location": "America/New_York"}}},
	} {
		s, err := r.Build(c.name, c.l)
		if err != nil {
			f.Fatal(err)
		}
		ss = append(ss, s)
	}
	f.Fuzz(func(t *testing.T, i int64, s string, ms int64, kind uint8) {
		var v Value
		switch kind % 4 {
		case 0:
			v = Int(i)
		case 1:
			v = String(s)
		case 2:
			v = Time(time.UnixMilli(ms))
		}
		for _, st := range ss {
			tg, err := st.Route(v)
			if err != nil {
				continue
			}
			if tg.Index < 0 || tg.Index >= len(st.Targets()) || st.Targets()[tg.Index] != tg {
				t.Fatalf("%s.Route(%s) = %+v: not a target", st.Name(), v, tg)
			}
		}
	})
}
