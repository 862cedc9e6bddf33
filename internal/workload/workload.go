// Package workload generates a deterministic, realistic SQL event workload: a
// fleet of instances and databases running hundreds of statement templates
// with Zipf-like popularity and varying literals, log-normal latencies,
// bounded disorder, late stragglers, an optional incident (a slow-query
// storm on one template of one instance) and optional bad records.
// The same Config gives the same bytes.
//
// It feeds das demo; sources/gen is the user-facing generator.
package workload

import (
	"bufio"
	"fmt"
	"io"
	"math"
	"math/rand/v2"
	"strconv"
	"time"

	"github.com/das-project/das/sources"
)

// Config configures a Generator. Zero values take the stated defaults.
type Config struct {
	Seed uint64 // default 1
	// Events is the number of events (records) to produce. Default 100,000.
	Events int
	// Instances in the fleet ("10.0.<i/250>.<i%250>:3306"). Default 6.
	Instances int
	// DBs per instance. Default 3.
	DBs int
	// Templates is the number of distinct statement templates. Default 500.
	Templates int
	// Start is the event time of the first event. Default 2026-01-01T00:00:00Z.
	Start time.Time
	// Rate is events per second of event time. Default 2,000.
	Rate float64
	// Disorder bounds how far an event's timestamp may trail the ones
	// delivered before it. Default 2s; negative means none.
	Disorder time.Duration
	// LateFraction of events are delivered 1–20 minutes after their
	// timestamp (those within the job's allowed lateness become
	// corrections, the rest dead-letter). Default 0.
	LateFraction float64
	// BadFraction of records are malformed, lack a field or carry a
	// negative latency (JSON output only). Default 0.
	BadFraction float64
	// Incident injects a slow-query storm: from minute 10 to minute 15 of
	// event time, one template on the first instance runs 10× as often and
	// 50× slower. Default false.
	Incident bool
}

func (c *Config) defaults() {
	if c.Seed == 0 {
		c.Seed = 1
	}
	if c.Events == 0 {
		c.Events = 100_000
	}
	if c.Instances <= 0 {
		c.Instances = 6
	}
	if c.DBs <= 0 {
		c.DBs = 3
	}
	if c.Templates <= 0 {
		c.Templates = 500
	}
	if c.Start.IsZero() {
		c.Start = time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	}
	if c.Rate <= 0 {
		c.Rate = 2000
	}
	if c.Disorder == 0 {
		c.Disorder = 2 * time.Second
	}
}

type template struct {
	shape    int
	table    string
	col      string
	medianUs float64
	errRate  float64
}

// Generator produces events. Not safe for concurrent use.
type Generator struct {
	cfg       Config
	r         *rand.Rand
	zipf      *rand.Zipf
	tmpls     []template
	instances []string
	dbs       []string
	i         int
	sql       []byte
	incident  int // template index of the storm
}

// New returns a generator for cfg.
func New(cfg Config) *Generator {
	cfg.defaults()
	g := &Generator{cfg: cfg, r: rand.New(rand.NewPCG(cfg.Seed, cfg.Seed^0x9e3779b97f4a7c15))}
	g.zipf = rand.NewZipf(g.r, 1.1, 4, uint64(cfg.Templates-1))
	for i := 0; i < cfg.Instances; i++ {
		g.instances = append(g.instances, fmt.Sprintf("10.0.%d.%d:3306", i/250, i%250+1))
	}
	names := []string{"orders", "users", "payments", "items", "carts", "sessions", "inventory", "audit_log", "coupons", "shipments"}
	for i := 0; i < cfg.DBs; i++ {
		g.dbs = append(g.dbs, []string{"shop", "billing", "auth", "search", "crm"}[i%5]+suffix(i/5))
	}
	cols := []string{"status", "created_at", "user_id", "amount", "sku", "email", "region"}
	for i := 0; i < cfg.Templates; i++ {
		g.tmpls = append(g.tmpls, template{
			shape:    i % numShapes,
			table:    names[i%len(names)] + "_" + strconv.Itoa(i/len(names)),
			col:      cols[(i/numShapes)%len(cols)],
			medianUs: math.Exp(5 + g.r.Float64()*4), // ~150 µs … 8 ms
			errRate:  []float64{0, 0, 0, 0.001, 0.01}[i%5],
		})
	}
	g.incident = 7 % cfg.Templates
	return g
}

func suffix(n int) string {
	if n == 0 {
		return ""
	}
	return strconv.Itoa(n)
}

// IncidentSummary describes the injected incident, or "" without one.
func (g *Generator) IncidentSummary() string {
	if !g.cfg.Incident {
		return ""
	}
	t := g.tmpls[g.incident]
	from := g.cfg.Start.Add(10 * time.Minute)
	return fmt.Sprintf("slow-query storm on %s, table %s (template #%d): 10× rate, 50× latency from %s to %s",
		g.instances[0], t.table, g.incident, from.Format(time.RFC3339), from.Add(5*time.Minute).Format(time.RFC3339))
}

const numShapes = 9

// Next fills ev with the next event and returns false after Config.Events.
// ev.SQL is valid until the next call.
func (g *Generator) Next(ev *sources.Event) bool {
	if g.i >= g.cfg.Events {
		return false
	}
	g.i++
	r := g.r
	nominal := g.cfg.Start.UnixMilli() + int64(float64(g.i)*1000/g.cfg.Rate)
	ts := nominal
	if g.cfg.Disorder > 0 {
		ts -= r.Int64N(g.cfg.Disorder.Milliseconds() + 1)
	}
	ti := int(g.zipf.Uint64())
	inst := r.IntN(len(g.instances))
	slow := 1.0
	if g.cfg.Incident {
		m := (nominal - g.cfg.Start.UnixMilli()) / 60000
		if m >= 10 && m < 15 && r.IntN(4) == 0 { // storm traffic on top
			ti, inst, slow = g.incident, 0, 50
		}
	}
	if g.cfg.LateFraction > 0 && r.Float64() < g.cfg.LateFraction {
		ts -= 60_000 + r.Int64N(19*60_000)
	}
	t := &g.tmpls[ti]
	*ev = sources.Event{
		TsMs:      ts,
		Instance:  g.instances[inst],
		DB:        g.dbs[(ti+inst)%len(g.dbs)],
		User:      []string{"app", "app", "app", "report", "admin"}[r.IntN(5)],
		LatencyUs: int64(t.medianUs * slow * math.Exp(r.NormFloat64()*0.6)),
		LockUs:    r.Int64N(50),
	}
	g.sql = g.statement(g.sql[:0], t)
	ev.SQL = g.sql
	switch t.shape {
	case 0, 1, 2, 3:
		ev.RowsSent = 1 + r.Int64N(20)
		ev.RowsExamined = ev.RowsSent * (1 + r.Int64N(50))
	default:
		ev.RowsAffected = 1 + r.Int64N(3)
		ev.RowsExamined = ev.RowsAffected
	}
	if t.errRate > 0 && r.Float64() < t.errRate {
		ev.ErrCode = []int32{1062, 1213, 1205}[r.IntN(3)]
	}
	return true
}

func (g *Generator) str(b []byte) []byte {
	const letters = "abcdefghijklmnopqrstuvwxyz0123456789"
	n := 6 + g.r.IntN(20)
	b = append(b, '\'')
	for i := 0; i < n; i++ {
		b = append(b, letters[g.r.IntN(len(letters))])
	}
	return append(b, '\'')
}

func (g *Generator) num(b []byte) []byte { return strconv.AppendInt(b, g.r.Int64N(10_000_000), 10) }

func (g *Generator) statement(b []byte, t *template) []byte {
	r := g.r
	switch t.shape {
	case 0:
		b = append(b, "SELECT id, user_id, status, amount, created_at, updated_at FROM "...)
		b = append(b, t.table...)
		b = append(b, " WHERE id = "...)
		b = g.num(b)
		b = append(b, " AND tenant_id = "...)
		b = g.num(b)
	case 1:
		b = append(b, "SELECT o.id, o.amount, u.email, u.region FROM "...)
		b = append(b, t.table...)
		b = append(b, " o JOIN users u ON u.id = o.user_id WHERE o."...)
		b = append(b, t.col...)
		b = append(b, " = "...)
		b = g.str(b)
		b = append(b, " AND o.created_at > '2026-01-0"...)
		b = strconv.AppendInt(b, 1+r.Int64N(9), 10)
		b = append(b, " 00:00:00' ORDER BY o.created_at DESC LIMIT 50"...)
	case 2:
		b = append(b, "SELECT id, sku, qty, price FROM "...)
		b = append(b, t.table...)
		b = append(b, " WHERE sku IN ("...)
		n := 1 + r.IntN(30)
		for i := 0; i < n; i++ {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = g.str(b)
		}
		b = append(b, ") AND deleted = 0"...)
	case 3:
		b = append(b, "/* app:checkout */ SELECT COUNT(*), SUM(amount) FROM "...)
		b = append(b, t.table...)
		b = append(b, " WHERE "...)
		b = append(b, t.col...)
		b = append(b, " BETWEEN "...)
		b = g.num(b)
		b = append(b, " AND "...)
		b = g.num(b)
	case 4:
		b = append(b, "INSERT INTO "...)
		b = append(b, t.table...)
		b = append(b, " (user_id, sku, qty, price, note) VALUES "...)
		n := 1 + r.IntN(5)
		for i := 0; i < n; i++ {
			if i > 0 {
				b = append(b, ", "...)
			}
			b = append(b, '(')
			b = g.num(b)
			b = append(b, ", "...)
			b = g.str(b)
			b = append(b, ", "...)
			b = strconv.AppendInt(b, 1+r.Int64N(9), 10)
			b = append(b, ", "...)
			b = strconv.AppendFloat(b, float64(r.IntN(100000))/100, 'f', 2, 64)
			b = append(b, ", "...)
			b = g.str(b)
			b = append(b, ')')
		}
	case 5:
		b = append(b, "UPDATE "...)
		b = append(b, t.table...)
		b = append(b, " SET "...)
		b = append(b, t.col...)
		b = append(b, " = "...)
		b = g.str(b)
		b = append(b, ", updated_at = NOW() WHERE id = "...)
		b = g.num(b)
		b = append(b, " AND version = "...)
		b = g.num(b)
	case 6:
		b = append(b, "DELETE FROM "...)
		b = append(b, t.table...)
		b = append(b, " WHERE expires_at < "...)
		b = g.num(b)
		b = append(b, " LIMIT 1000"...)
	case 7:
		b = append(b, "select\n  id,\n  payload\nfrom "...)
		b = append(b, t.table...)
		b = append(b, "\nwhere user_id = "...)
		b = g.num(b)
		b = append(b, " -- dashboard\n  and status <> 'archived'"...)
	default:
		b = append(b, "UPDATE "...)
		b = append(b, t.table...)
		b = append(b, " SET counter = counter + 1 WHERE k = "...)
		b = g.str(b)
	}
	return b
}

// badRecords are the kinds of broken input a fleet produces.
var badRecords = []string{
	`{"ts_ms": 1767225600000, "instance": "10.0.0.1:3306", "sql": "SELECT 1`,
	`{"instance": "10.0.0.1:3306", "sql": "SELECT 1"}`,
	`{"ts_ms": 1767225600000, "instance": "10.0.0.1:3306", "sql": "SELECT 1", "latency_us": -5}`,
	`not json at all`,
}

// WriteJSONL writes cfg.Events records as JSON lines to w.
func WriteJSONL(w io.Writer, cfg Config) (*Generator, error) {
	g := New(cfg)
	bw := bufio.NewWriterSize(w, 1<<20)
	var ev sources.Event
	var line []byte
	for g.Next(&ev) {
		if g.cfg.BadFraction > 0 && g.r.Float64() < g.cfg.BadFraction {
			line = append(line[:0], badRecords[g.r.IntN(len(badRecords))]...)
		} else {
			line = sources.AppendJSON(line[:0], &ev)
		}
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return g, err
		}
	}
	return g, bw.Flush()
}
