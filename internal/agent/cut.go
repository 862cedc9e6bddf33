package agent

import (
	"cmp"
	"math"
	"slices"
	"strings"
	"time"

	"github.com/das-project/das/internal/sketch"
	"github.com/das-project/das/sources"
)

// SeqBits is the number of low bits of a Seq that index a record inside
// its cut: Seq = k<<SeqBits | i.
const SeqBits = 20

// MaxCutRecords is the most records one cut can hold (2^SeqBits).
const MaxCutRecords = 1 << SeqBits

// maxInputBatch bounds the events of one input batch, so that a cut closed
// at a batch boundary never exceeds MaxCutRecords (Options.CutMaxRecords is
// at most MaxCutRecords/2).
const maxInputBatch = MaxCutRecords / 2

// maxK is the largest cut number: Seq must stay a positive int64.
const maxK = math.MaxInt64 >> SeqBits

// record is one Kafka record of a cut.
type record struct {
	key, value []byte
}

// cut is a sealed cut: the records made from the statements read in
// [from, to) of one input stream, numbered k. Its records are in memory
// (records != nil) or only in its spool segment (spooled), or both.
type cut struct {
	k          int64
	stream     string
	from, to   int64
	statements int64 // statements the records stand for
	nrec       int   // number of records
	size       int64 // bytes of keys and values
	records    []record
	spooled    bool   // a segment holds it in the spool
	inMem      bool   // records held in memory, counted in the outbox's memory bytes
	ckpt       []byte // a Committer input's checkpoint at to (nil otherwise)
}

// groupKey is the edge aggregation key.
type groupKey struct {
	instance, db string
	tid          uint64
	minute       int64 // start of the event-time minute, ms
}

// group is an edge partial aggregate being built.
type group struct {
	key                groupKey
	count              int64
	latSum, latMax     int64
	lock               int64
	sent, exam, affect int64
	errors             int64
	maxTs              int64
	sk                 sketch.Sketch
	sample             []byte
	template           []byte
}

// template returns ev's template text: the one its input computed, or das's
// fingerprint of its SQL. It is valid until the next call.
func (b *builder) template(ev *sources.Event) []byte {
	if len(ev.Template) > 0 {
		return ev.Template
	}
	_, tmpl := b.red.fp.Fingerprint(ev.SQL)
	return tmpl
}

// builder accumulates the statements of the open cut.
type builder struct {
	edge     bool
	instance string // overrides every event's instance when set
	red      *redactor
	sk       sketch.Sketch       // scratch for merging partial inputs
	named    map[uint64]struct{} // raw mode: templates whose text this cut already carries

	stream     string
	from, to   int64
	opened     time.Time
	statements int64
	mem        int64 // approximate bytes held

	events []sources.Event // raw mode, read order; SQL in arena
	arena  []byte
	groups map[groupKey]*group
	free   []*group
}

func newBuilder(edge bool, instance string, red *redactor) *builder {
	return &builder{edge: edge, instance: instance, red: red, groups: map[groupKey]*group{}, named: map[uint64]struct{}{}}
}

// empty reports whether the open cut holds no statement.
func (b *builder) empty() bool { return b.statements == 0 }

// records returns how many records sealing now would make.
func (b *builder) records() int {
	if b.edge {
		return len(b.groups)
	}
	return len(b.events)
}

// start opens a cut at pos.
func (b *builder) start(stream string, from int64, now time.Time) {
	b.stream, b.from, b.to, b.opened = stream, from, from, now
}

// add adds one statement (or, for an input that aggregates itself, one
// partial aggregate). ev.SQL is copied.
func (b *builder) add(ev *sources.Event) {
	inst := ev.Instance
	if b.instance != "" {
		inst = b.instance
	}
	n := ev.Statements()
	b.statements += n
	if !b.edge {
		tid, sql := b.red.apply(ev.SQL)
		if ev.TemplateID != 0 {
			tid = ev.TemplateID
		}
		start := len(b.arena)
		b.arena = append(b.arena, sql...)
		e := *ev
		e.Instance, e.SQL, e.TemplateID = inst, b.arena[start:len(b.arena):len(b.arena)], tid
		e.Src, e.Seq, e.Template = "", 0, nil
		// The first record of a template in the cut carries its text, so
		// the job never has to guess it from the (redacted, truncated)
		// sample; a re-read of the cut names the same records.
		if _, ok := b.named[tid]; !ok {
			b.named[tid] = struct{}{}
			tmpl := b.template(ev)
			start = len(b.arena)
			b.arena = append(b.arena, tmpl...)
			e.Template = b.arena[start:len(b.arena):len(b.arena)]
		}
		b.events = append(b.events, e)
		b.mem += int64(len(sql)) + 192
		return
	}
	tid := ev.TemplateID
	if tid == 0 {
		id, _ := b.red.fp.Fingerprint(ev.SQL)
		tid = uint64(id)
	}
	k := groupKey{instance: inst, db: ev.DB, tid: tid, minute: ev.TsMs - ev.TsMs%60000}
	g := b.groups[k]
	if g == nil {
		if len(b.free) > 0 {
			g = b.free[len(b.free)-1]
			b.free = b.free[:len(b.free)-1]
			g.sk.Reset()
			*g = group{sk: g.sk, sample: g.sample[:0], template: g.template[:0]}
		} else {
			g = &group{}
		}
		g.key = k
		g.latMax = -1
		g.sample = b.red.sample(g.sample, ev.SQL)
		g.template = append(g.template[:0], b.template(ev)...)
		b.groups[k] = g
		b.mem += int64(len(g.sample)) + 256
	}
	g.count += n
	g.latSum += ev.LatencyUs
	g.lock += ev.LockUs
	g.sent += ev.RowsSent
	g.exam += ev.RowsExamined
	g.affect += ev.RowsAffected
	g.maxTs = max(g.maxTs, ev.TsMs)
	if ev.Count > 0 {
		g.latMax = max(g.latMax, ev.LatencyMaxUs)
		g.errors += ev.Errors
		// Only known latencies enter the sketch: a performance_schema
		// delta has none, and the job then reports the quantiles of the
		// statements it does know (docs/events.md).
		if len(ev.LatencySketch) > 0 {
			b.sk.Reset()
			if _, err := b.sk.Decode(ev.LatencySketch); err == nil {
				g.sk.Merge(&b.sk)
			}
		}
		return
	}
	g.latMax = max(g.latMax, ev.LatencyUs)
	if ev.ErrCode != 0 {
		g.errors++
	}
	g.sk.Add(ev.LatencyUs)
}

// events returns the cut's records as events, in Seq order, without Src
// and Seq: raw statements in read order, or partial aggregates sorted by
// (minute, instance, db, template), so that a re-read of the same input
// range gives the same records in the same order.
func (b *builder) sealEvents(dst []sources.Event) []sources.Event {
	if !b.edge {
		return append(dst, b.events...)
	}
	gs := make([]*group, 0, len(b.groups))
	for _, g := range b.groups {
		gs = append(gs, g)
	}
	slices.SortFunc(gs, func(x, y *group) int {
		if c := cmp.Compare(x.key.minute, y.key.minute); c != 0 {
			return c
		}
		if c := strings.Compare(x.key.instance, y.key.instance); c != 0 {
			return c
		}
		if c := strings.Compare(x.key.db, y.key.db); c != 0 {
			return c
		}
		return cmp.Compare(x.key.tid, y.key.tid)
	})
	for _, g := range gs {
		dst = append(dst, sources.Event{
			TsMs:          g.maxTs,
			Instance:      g.key.instance,
			DB:            g.key.db,
			SQL:           g.sample,
			LatencyUs:     g.latSum,
			LockUs:        g.lock,
			RowsSent:      g.sent,
			RowsExamined:  g.exam,
			RowsAffected:  g.affect,
			TemplateID:    g.key.tid,
			Count:         g.count,
			LatencyMaxUs:  max(g.latMax, 0),
			Errors:        g.errors,
			LatencySketch: g.sk.Append(nil),
			Template:      g.template,
		})
	}
	return dst
}

// reset empties the builder for the next cut, keeping its memory.
func (b *builder) reset() {
	clear(b.events)
	b.events = b.events[:0]
	b.arena = b.arena[:0]
	if len(b.groups) > 0 {
		for _, g := range b.groups {
			if len(b.free) < 1<<16 {
				b.free = append(b.free, g)
			}
		}
		clear(b.groups)
	}
	clear(b.named)
	b.statements, b.mem = 0, 0
}

// srcOf returns the Src of a record of instance read from stream.
func srcOf(host, kind, stream, instance string) string {
	return host + "/" + kind + "/" + stream + "/" + instance
}
