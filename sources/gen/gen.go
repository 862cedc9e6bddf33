// Package gen generates a deterministic, realistic SQL workload: the events
// a fleet of MySQL instances would report, for tests, benchmarks and demos.
//
// The same Config (including Seed) always produces the same events, in the
// same order, with the same bytes, on every run of the same das version
// on the same CPU architecture (math.Log and friends may round differently
// elsewhere).
//
// # Workload
//
// Statements come from Config.Templates templates — point and range
// selects, joins, aggregates, IN lists of varying length, single and
// multi-row inserts, upserts, updates, deletes, SELECT … FOR UPDATE,
// SHOW/SET, BEGIN/COMMIT/ROLLBACK, a few syntax errors, a few very long
// statements (thousands of IN items), inserts of binary data that is not
// UTF-8, statements behind comments and optimizer hints, in four client
// styles (plain, qualified, backquoted, ORM-generated). Literal values vary
// per execution, so templates are recovered only by fingerprinting. Every
// template has a distinct fingerprint shape (literals, comments, hints,
// case, backquotes and IN-list lengths removed).
//
// Template popularity is Zipf-like: the template of rank r (0-based) is
// drawn with probability proportional to 1/(r+1)^Skew. Instance and
// database are uniform. Latency is log-normal per template (median and
// spread drawn per template from its kind); errors occur per kind: 1062
// duplicate key on inserts, 1213 deadlock and 1205 lock wait timeout (50 s)
// on locking writes, 3024 max execution time on heavy selects, 1064 on the
// syntax errors.
//
// # Time, disorder and lateness
//
// Event times start at Config.Start and advance as a Poisson process of
// Config.Rate events per second of event time. Events are then delivered
// out of order:
//
//   - Disorder D: each event is delivered up to D after its time (uniform),
//     so every event's ts_ms is at least (max ts_ms delivered before it) − D.
//   - LateFraction F: a fraction F of events is stamped earlier than the
//     point in the stream where it is delivered. With allowed lateness L
//     (Config.AllowedLateness), a job whose bounded out-of-orderness is D
//     and whose allowed lateness is L sees them as:
//     corrections — delay in [D+1m, D+L]: the event's minute has closed
//     (the watermark passed it) but is within the allowed lateness; and
//     beyond lateness — delay in [D+L+1m, D+2L+1m]: dead letter. Their
//     split is Config.LateBeyondShare. An event that would be stamped
//     before Config.Start is delivered on time instead, so the first
//     D+2L+1m of a run has fewer late events.
//
// # Incident
//
// With Config.Incident, one template of rank 5..39 (a select) on one
// instance runs 50× slower and 10× more often for Config.IncidentDuration:
// a slow-query storm for anomaly detection and root-cause demos.
// Generator.Incident describes it.
//
// # Bad records
//
// With Config.BadFraction, that fraction of records is written damaged
// (malformed JSON, a missing ts_ms/instance/sql, a negative latency) for
// dead-letter demos; see Damage.
//
// # Keys
//
// Benchmarks of the minute aggregation need a given number of distinct
// (instance, db, template, minute) keys per number of events. ExpectedKeys
// estimates that number for a Config and RateForKeys finds the Rate that
// gives a wanted one (fewer events per minute of event time → more keys).
package gen

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"time"

	"github.com/das-project/das/sources"
)

// Defaults of Config's zero fields.
const (
	DefaultRate             = 200.0 // events per second of event time
	DefaultInstances        = 4
	DefaultDBsPerInstance   = 3
	DefaultTemplates        = 500
	DefaultSkew             = 1.0
	DefaultMeanSQLBytes     = 240
	DefaultAllowedLateness  = 10 * time.Minute
	DefaultLateBeyondShare  = 0.25
	DefaultIncidentDuration = 3 * time.Minute
	// IncidentLatencyFactor and IncidentRateFactor are the storm's
	// multipliers of the template's latency and rate.
	IncidentLatencyFactor = 50
	IncidentRateFactor    = 10
)

// DefaultStart is the event time of a run's first event when Config.Start
// is zero: 2024-01-01T00:00:00Z.
var DefaultStart = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

// Config describes a workload. The zero value is a valid workload: every
// zero field takes the default its comment names.
type Config struct {
	// Seed selects the workload; every seed (including 0) is valid.
	Seed int64
	// Events is the number of records to produce (damaged ones included);
	// 0 means unbounded.
	Events int64
	// Start is the event time of the first event. Default DefaultStart.
	Start time.Time
	// Rate is the number of events per second of event time. Default 200.
	Rate float64
	// Instances is the number of MySQL instances ("10.0.1.1:3306", …).
	// Default 4, at most 65000.
	Instances int
	// DBsPerInstance is the number of databases on each instance (the same
	// names on every instance, as in a sharded fleet). Default 3, at most
	// 1000.
	DBsPerInstance int
	// Templates is the number of statement templates. Default 500, at most
	// 20000.
	Templates int
	// Skew is the Zipf exponent of template popularity. Default 1.0; use a
	// tiny value (1e-9) for uniform popularity.
	Skew float64
	// MeanSQLBytes is the mean statement length in bytes the generator
	// tunes its templates to (column lists, IN lists, rows per insert, text
	// values). Default 240; at least 64. Reached within a few percent
	// between about 90 and several thousand bytes.
	MeanSQLBytes int
	// Disorder is the bounded out-of-orderness: events are delivered up to
	// Disorder after their event time. Default 0 (in order). At most 1h.
	Disorder time.Duration
	// LateFraction is the fraction of events delivered late (see the
	// package doc). Default 0; less than 1.
	LateFraction float64
	// AllowedLateness is the lateness L that splits late events into
	// corrections and dead letters. Default 10 minutes; at least 2 minutes.
	AllowedLateness time.Duration
	// LateBeyondShare is the share of late events delayed beyond the
	// allowed lateness. Default 0.25; a negative value means none.
	LateBeyondShare float64
	// Incident injects a slow-query storm.
	Incident bool
	// IncidentStart is when the storm starts, after Start. Default: the
	// middle of the run when Events > 0 (Events/Rate/2), else 10 minutes.
	IncidentStart time.Duration
	// IncidentDuration is how long the storm lasts. Default 3 minutes, or
	// a fifth of the run's event-time span if that is shorter.
	IncidentDuration time.Duration
	// BadFraction is the fraction of records written damaged. Default 0;
	// less than 1.
	BadFraction float64
}

// ErrConfig is wrapped by every Config validation error.
var ErrConfig = errors.New("gen: invalid config")

func (c Config) withDefaults() (Config, error) {
	bad := func(format string, args ...any) (Config, error) {
		return c, fmt.Errorf("%w: "+format, append([]any{ErrConfig}, args...)...)
	}
	if c.Events < 0 {
		return bad("Events is %d, want >= 0 (0 means unbounded)", c.Events)
	}
	if c.Start.IsZero() {
		c.Start = DefaultStart
	}
	if c.Start.UnixMilli() < 0 {
		return bad("Start %s is before 1970", c.Start)
	}
	if c.Rate == 0 {
		c.Rate = DefaultRate
	}
	if !(c.Rate > 0 && c.Rate <= 1e8) {
		return bad("Rate is %g, want in (0, 1e8] events per second (0 means %g)", c.Rate, DefaultRate)
	}
	ints := []struct {
		v        *int
		name     string
		def, max int
	}{
		{&c.Instances, "Instances", DefaultInstances, 65000},
		{&c.DBsPerInstance, "DBsPerInstance", DefaultDBsPerInstance, 1000},
		{&c.Templates, "Templates", DefaultTemplates, 20000},
		{&c.MeanSQLBytes, "MeanSQLBytes", DefaultMeanSQLBytes, 1 << 20},
	}
	for _, f := range ints {
		if *f.v == 0 {
			*f.v = f.def
		}
		if *f.v < 1 || *f.v > f.max {
			return bad("%s is %d, want 1..%d (0 means %d)", f.name, *f.v, f.max, f.def)
		}
	}
	if c.MeanSQLBytes < 64 {
		return bad("MeanSQLBytes is %d, want >= 64", c.MeanSQLBytes)
	}
	if c.Skew == 0 {
		c.Skew = DefaultSkew
	}
	if !(c.Skew > 0 && c.Skew <= 10) {
		return bad("Skew is %g, want in (0, 10] (0 means %g)", c.Skew, DefaultSkew)
	}
	if c.Disorder < 0 || c.Disorder > time.Hour {
		return bad("Disorder is %s, want 0..1h", c.Disorder)
	}
	if !(c.LateFraction >= 0 && c.LateFraction < 1) {
		return bad("LateFraction is %g, want in [0, 1)", c.LateFraction)
	}
	if c.AllowedLateness == 0 {
		c.AllowedLateness = DefaultAllowedLateness
	}
	if c.AllowedLateness < 2*time.Minute || c.AllowedLateness > 24*time.Hour {
		return bad("AllowedLateness is %s, want 2m..24h (0 means %s)", c.AllowedLateness, DefaultAllowedLateness)
	}
	switch {
	case c.LateBeyondShare == 0:
		c.LateBeyondShare = DefaultLateBeyondShare
	case c.LateBeyondShare < 0:
		c.LateBeyondShare = 0
	case c.LateBeyondShare > 1:
		return bad("LateBeyondShare is %g, want <= 1", c.LateBeyondShare)
	}
	if !(c.BadFraction >= 0 && c.BadFraction < 1) {
		return bad("BadFraction is %g, want in [0, 1)", c.BadFraction)
	}
	if c.IncidentStart < 0 || c.IncidentDuration < 0 {
		return bad("IncidentStart %s and IncidentDuration %s must not be negative", c.IncidentStart, c.IncidentDuration)
	}
	span := time.Duration(float64(c.Events) / c.Rate * float64(time.Second))
	if c.IncidentStart == 0 {
		c.IncidentStart = 10 * time.Minute
		if c.Events > 0 {
			c.IncidentStart = span / 2
		}
	}
	if c.IncidentDuration == 0 {
		c.IncidentDuration = DefaultIncidentDuration
		if c.Events > 0 && span/5 < c.IncidentDuration {
			c.IncidentDuration = max(span/5, time.Millisecond)
		}
	}
	return c, nil
}

// Damage is how a record is written broken (Config.BadFraction).
type Damage uint8

const (
	DamageNone            Damage = iota
	DamageMalformed              // the JSON is cut in half (Arrow: ts_ms null)
	DamageMissingTs              // no ts_ms
	DamageMissingInstance        // no instance
	DamageMissingSQL             // no sql
	DamageNegativeLatency        // latency_us < 0
	numDamages
)

// Reason is the reject reason a reader gives the damaged record.
func (d Damage) Reason() string {
	return [...]string{"", sources.ReasonMalformed, sources.ReasonMissingTs, sources.ReasonMissingInstance,
		sources.ReasonMissingSQL, sources.ReasonNegativeLatency}[d]
}

// Incident describes an injected slow-query storm.
type Incident struct {
	Instance      string    `json:"instance"`
	Template      int       `json:"template"` // template rank
	Kind          string    `json:"kind"`
	SampleSQL     string    `json:"sample_sql"` // one execution of the template
	Start         time.Time `json:"start"`
	End           time.Time `json:"end"` // exclusive
	LatencyFactor float64   `json:"latency_factor"`
	RateFactor    float64   `json:"rate_factor"`
}

// Summary counts what a generator produced so far.
type Summary struct {
	Events int64 `json:"events"` // records produced, damaged ones included
	// Late counts events stamped late within the allowed lateness
	// (corrections); LateBeyond those beyond it (dead letters).
	Late       int64            `json:"late"`
	LateBeyond int64            `json:"late_beyond"`
	Bad        map[string]int64 `json:"bad,omitempty"` // damaged records by reject reason
	// FirstTsMs and LastTsMs are the smallest and largest event times.
	FirstTsMs     int64     `json:"first_ts_ms"`
	LastTsMs      int64     `json:"last_ts_ms"`
	TemplatesSeen int       `json:"templates_seen"` // distinct templates among the events
	MeanSQLBytes  float64   `json:"mean_sql_bytes"`
	Errors        int64     `json:"errors"` // events with err_code != 0
	Instances     []string  `json:"instances"`
	DBs           []string  `json:"dbs"`
	Incident      *Incident `json:"incident,omitempty"`
}

type lateKind uint8

const (
	onTime lateKind = iota
	lateCorrection
	lateBeyond
)

// slot is an event waiting for its delivery time.
type slot struct {
	ev       sources.Event
	sql      []byte
	delivery int64 // ms
	seq      uint64
	tmpl     int32
	late     lateKind
}

// Generator produces a workload's events. It is not safe for concurrent
// use.
type Generator struct {
	cfg       Config
	templates []*template
	cdf       []float64 // cumulative template popularity by rank
	instances []string
	dbs       []string
	stretch   float64

	timeline *rng // arrival times and the choice of template, instance, db
	content  *rng // literal values, latency, rows, errors
	delays   *rng // disorder and lateness
	damages  *rng // bad records
	rend     renderer

	startMs  int64
	nextBase float64 // ms after start of the next ordinary arrival
	nextInc  float64 // ms after start of the next storm arrival, or +Inf

	inc                *Incident
	incT, incI         int
	incStart, incEnd   float64 // ms after start
	incRate            float64 // extra storm events per ms
	generated, emitted int64

	heap []*slot
	free []*slot
	seq  uint64
	out  *slot // the slot Next returned last; recycled on the next call

	lastDamage Damage
	sum        Summary
	seen       []bool
	sqlBytes   int64
}

// New returns a generator for cfg, or an error wrapping ErrConfig.
func New(cfg Config) (*Generator, error) {
	cfg, err := cfg.withDefaults()
	if err != nil {
		return nil, err
	}
	g := &Generator{
		cfg:      cfg,
		cdf:      zipfCDF(cfg.Templates, cfg.Skew),
		timeline: newRNG(cfg.Seed, 1),
		content:  newRNG(cfg.Seed, 2),
		delays:   newRNG(cfg.Seed, 3),
		damages:  newRNG(cfg.Seed, 4),
		startMs:  cfg.Start.UnixMilli(),
		nextInc:  math.Inf(1),
		seen:     make([]bool, cfg.Templates),
	}
	for i := range cfg.Instances {
		g.instances = append(g.instances, instanceName(i))
	}
	g.dbs = dbNames(cfg.DBsPerInstance)
	g.templates, g.stretch = calibrate(cfg, g.cdf)
	g.rend = renderer{r: g.content, stretch: g.stretch}
	g.nextBase = g.gap(cfg.Rate / 1000)
	if cfg.Incident {
		g.planIncident()
	}
	g.sum.FirstTsMs = math.MaxInt64
	g.sum.Instances = g.instances
	g.sum.DBs = g.dbs
	g.sum.Incident = g.inc
	return g, nil
}

func instanceName(i int) string {
	return "10.0." + strconv.Itoa(1+i/254) + "." + strconv.Itoa(1+i%254) + ":3306"
}

var dbBases = []string{"shop", "users", "billing", "catalog", "orders", "inventory", "crm", "analytics",
	"auth", "notify", "search", "ledger"}

func dbNames(n int) []string {
	var out []string
	for i := range n {
		name := dbBases[i%len(dbBases)]
		if i >= len(dbBases) {
			name += "_" + strconv.Itoa(i/len(dbBases))
		}
		out = append(out, name)
	}
	return out
}

// zipfCDF returns the cumulative popularity of n ranks with exponent s.
func zipfCDF(n int, s float64) []float64 {
	cdf := make([]float64, n)
	sum := 0.0
	for r := range n {
		sum += math.Pow(float64(r+1), -s)
		cdf[r] = sum
	}
	for r := range cdf {
		cdf[r] /= sum
	}
	cdf[n-1] = 1
	return cdf
}

func popularity(cdf []float64, r int) float64 {
	if r == 0 {
		return cdf[0]
	}
	return cdf[r] - cdf[r-1]
}

// gap returns an exponential inter-arrival time in ms for a rate per ms.
func (g *Generator) gap(ratePerMs float64) float64 { return g.timeline.exp() / ratePerMs }

func (g *Generator) planIncident() {
	r := newRNG(g.cfg.Seed, 5)
	var cands []int
	for i := 5; i < min(40, len(g.templates)); i++ {
		if k := g.templates[i].kind; k.isSelect() && k != kLong {
			cands = append(cands, i)
		}
	}
	g.incT = r.intn(len(g.templates))
	if len(cands) > 0 {
		g.incT = pick(r, cands)
	}
	g.incI = r.intn(len(g.instances))
	g.incStart = float64(g.cfg.IncidentStart.Milliseconds())
	g.incEnd = g.incStart + float64(g.cfg.IncidentDuration.Milliseconds())
	perInstance := g.cfg.Rate / 1000 * popularity(g.cdf, g.incT) / float64(len(g.instances))
	g.incRate = (IncidentRateFactor - 1) * perInstance
	g.nextInc = g.incStart + g.gap(g.incRate)
	if g.nextInc >= g.incEnd {
		g.nextInc = math.Inf(1)
	}
	tpl := g.templates[g.incT]
	sample := (&renderer{r: newRNG(g.cfg.Seed, 6), ts: g.startMs + int64(g.incStart), stretch: g.stretch}).render(nil, tpl.segs)
	g.inc = &Incident{
		Instance:      g.instances[g.incI],
		Template:      g.incT,
		Kind:          tpl.kind.String(),
		SampleSQL:     string(sample),
		Start:         time.UnixMilli(g.startMs + int64(g.incStart)).UTC(),
		End:           time.UnixMilli(g.startMs + int64(g.incEnd)).UTC(),
		LatencyFactor: IncidentLatencyFactor,
		RateFactor:    IncidentRateFactor,
	}
}

// Incident describes the injected storm, or is nil without Config.Incident.
func (g *Generator) Incident() *Incident { return g.inc }

// Config returns the generator's configuration with defaults filled in.
func (g *Generator) Config() Config { return g.cfg }

// Summary returns the counts of what Next has produced so far.
func (g *Generator) Summary() Summary {
	s := g.sum
	s.Events = g.emitted
	if g.emitted == 0 {
		s.FirstTsMs = 0
	} else {
		s.MeanSQLBytes = float64(g.sqlBytes) / float64(g.emitted)
	}
	for _, b := range g.seen {
		if b {
			s.TemplatesSeen++
		}
	}
	if s.Bad != nil {
		s.Bad = make(map[string]int64, len(g.sum.Bad))
		for k, v := range g.sum.Bad {
			s.Bad[k] = v
		}
	}
	return s
}

// Damage reports how the record last returned by Next is to be written:
// DamageNone, or the damage that makes a reader reject it. Writers in this
// package apply it; callers using events in-process may skip damaged ones.
func (g *Generator) Damage() Damage { return g.lastDamage }

// Next stores the next event in ev and reports true, or reports false once
// Config.Events records have been produced. ev.SQL is owned by the
// generator and valid until the next call to Next.
func (g *Generator) Next(ev *sources.Event) bool {
	if g.out != nil {
		g.free = append(g.free, g.out)
		g.out = nil
	}
	bounded := g.cfg.Events > 0
	if bounded && g.emitted >= g.cfg.Events {
		return false
	}
	for {
		frontier := g.startMs + int64(min(g.nextBase, g.nextInc))
		if len(g.heap) > 0 && (g.heap[0].delivery <= frontier || (bounded && g.generated >= g.cfg.Events)) {
			s := g.pop()
			g.out = s
			*ev = s.ev
			ev.SQL = s.sql
			g.account(s)
			return true
		}
		g.generate()
	}
}

func (g *Generator) account(s *slot) {
	g.emitted++
	g.lastDamage = DamageNone
	if g.cfg.BadFraction > 0 && g.damages.chance(g.cfg.BadFraction) {
		g.lastDamage = Damage(1 + g.damages.intn(int(numDamages)-1))
		if g.sum.Bad == nil {
			g.sum.Bad = map[string]int64{}
		}
		g.sum.Bad[g.lastDamage.Reason()]++
	}
	switch s.late {
	case lateCorrection:
		g.sum.Late++
	case lateBeyond:
		g.sum.LateBeyond++
	}
	g.sum.FirstTsMs = min(g.sum.FirstTsMs, s.ev.TsMs)
	g.sum.LastTsMs = max(g.sum.LastTsMs, s.ev.TsMs)
	if s.ev.ErrCode != 0 {
		g.sum.Errors++
	}
	g.seen[s.tmpl] = true
	g.sqlBytes += int64(len(s.sql))
}

// generate makes the next arrival and queues it for delivery.
func (g *Generator) generate() {
	g.generated++
	var t float64
	tmpl, inst := 0, 0
	if g.nextInc < g.nextBase {
		t = g.nextInc
		tmpl, inst = g.incT, g.incI
		g.nextInc += g.gap(g.incRate)
		if g.nextInc >= g.incEnd {
			g.nextInc = math.Inf(1)
		}
	} else {
		t = g.nextBase
		g.nextBase += g.gap(g.cfg.Rate / 1000)
		tmpl = sort.SearchFloat64s(g.cdf, g.timeline.float())
		inst = g.timeline.intn(len(g.instances))
	}
	db := g.timeline.intn(len(g.dbs))
	ts := g.startMs + int64(t)

	s := g.newSlot()
	s.late = onTime
	s.delivery = ts
	d := g.cfg.Disorder.Milliseconds()
	if g.cfg.LateFraction > 0 && g.delays.chance(g.cfg.LateFraction) {
		L := g.cfg.AllowedLateness.Milliseconds()
		var delay int64
		kind := lateCorrection
		if g.delays.chance(g.cfg.LateBeyondShare) {
			kind = lateBeyond
			delay = g.delays.between(d+L+60_000, d+2*L+60_000)
		} else {
			delay = g.delays.between(d+60_000, d+L)
		}
		if ts-delay >= g.startMs {
			s.late = kind
			ts -= delay
		}
	} else if d > 0 {
		s.delivery += g.delays.between(0, d)
	}
	g.fill(s, ts, tmpl, inst, db)
	g.push(s)
}

func (g *Generator) newSlot() *slot {
	if n := len(g.free); n > 0 {
		s := g.free[n-1]
		g.free = g.free[:n-1]
		return s
	}
	return &slot{}
}

// fill renders the event of template tmpl on instance inst at ts.
func (g *Generator) fill(s *slot, ts int64, tmpl, inst, db int) {
	tpl := g.templates[tmpl]
	r := g.content
	g.rend.ts = ts
	g.rend.rows, g.rend.list = 1, 0
	s.sql = g.rend.render(s.sql[:0], tpl.segs)
	s.tmpl = int32(tmpl)

	lat := tpl.latMedian * math.Exp(tpl.latSigma*r.norm())
	rel := float64(ts - g.startMs)
	if g.inc != nil && tmpl == g.incT && inst == g.incI && rel >= g.incStart && rel < g.incEnd {
		lat *= IncidentLatencyFactor
	}
	var code int32
	for _, e := range tpl.errs {
		if r.chance(e.p) {
			code = e.code
			if e.latency == 0 {
				lat = 50e6 + 1e6*r.float() // innodb_lock_wait_timeout
				if e.code == 1064 {
					lat = 30 + 100*r.float()
				}
			} else {
				lat *= e.latency
			}
			break
		}
	}
	var lock float64
	if tpl.lockMed > 0 {
		lock = min(lat, tpl.lockMed*math.Exp(0.8*r.norm()))
		if code == 1205 {
			lock = lat
		}
	}
	sent, examined, affected := g.rows(tpl, r)
	if code != 0 {
		sent, affected = 0, 0
	}
	s.ev = sources.Event{
		TsMs:         ts,
		Instance:     g.instances[inst],
		DB:           g.dbs[db],
		User:         tpl.user,
		LatencyUs:    max(1, int64(lat)),
		LockUs:       int64(lock),
		RowsSent:     sent,
		RowsExamined: examined,
		RowsAffected: affected,
		ErrCode:      code,
	}
}

func (g *Generator) rows(tpl *template, r *rng) (sent, examined, affected int64) {
	limit := tpl.limit
	if limit == 0 {
		limit = 200
	}
	many := func(mean float64, scan int) (int64, int64) {
		s := min(limit, int64(r.geometric(mean))-1)
		return s, s*int64(1+r.geometric(float64(scan))) + int64(r.intn(8))
	}
	switch tpl.kind {
	case kPoint, kForUpdate:
		if r.chance(0.93) {
			return 1, 1, 0
		}
		return 0, 1, 0
	case kSecondary:
		sent, examined = many(8, 3)
	case kRange:
		sent, examined = many(30, 10)
	case kJoin:
		sent, examined = many(15, 25)
	case kSubquery:
		sent, examined = many(10, 60)
	case kAggregate:
		sent := int64(r.geometric(6))
		return sent, sent + int64(r.geometric(20000)), 0
	case kCount:
		return 1, int64(r.geometric(5000)), 0
	case kInList, kLong:
		n := int64(g.rend.list)
		return r.between(n/2, n), n, 0
	case kInsert, kBinaryInsert:
		return 0, 0, 1
	case kUpsert:
		return 0, 0, r.between(1, 2)
	case kMultiInsert:
		return 0, 0, int64(g.rend.rows)
	case kUpdate, kCounterUpdate:
		if r.chance(0.9) {
			return 0, 1, 1
		}
		return 0, 1, 0
	case kDelete:
		if tpl.limit > 0 {
			a := r.between(0, tpl.limit)
			return 0, a + int64(r.intn(50)), a
		}
		a := r.between(0, 1)
		return 0, a, a
	case kShow:
		n := r.between(1, 400)
		return n, n, 0
	}
	return sent, examined, 0
}

// The delivery queue: a binary min-heap on (delivery, seq).
func (g *Generator) push(s *slot) {
	g.seq++
	s.seq = g.seq
	g.heap = append(g.heap, s)
	h := g.heap
	i := len(h) - 1
	for i > 0 {
		p := (i - 1) / 2
		if !less(h[i], h[p]) {
			break
		}
		h[i], h[p] = h[p], h[i]
		i = p
	}
}

func (g *Generator) pop() *slot {
	h := g.heap
	top := h[0]
	n := len(h) - 1
	h[0] = h[n]
	h[n] = nil
	h = h[:n]
	i := 0
	for {
		l := 2*i + 1
		if l >= n {
			break
		}
		m := l
		if r := l + 1; r < n && less(h[r], h[l]) {
			m = r
		}
		if !less(h[m], h[i]) {
			break
		}
		h[i], h[m] = h[m], h[i]
		i = m
	}
	g.heap = h
	return top
}

func less(a, b *slot) bool {
	if a.delivery != b.delivery {
		return a.delivery < b.delivery
	}
	return a.seq < b.seq
}
