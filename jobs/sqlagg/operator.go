package sqlagg

import (
	"math"
	"sync/atomic"

	"github.com/cockroachdb/pebble"
	"github.com/das-project/das/operators"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/state"
)

// minuteOperator adapts the generic window aggregate to the job: it turns
// window results into sinks.MinuteRow and writes them to the sinks, and
// stages the template dictionary with every checkpoint.
type minuteOperator struct {
	dedup  *operators.Dedup[sources.Event]
	win    *operators.WindowAggregate[sources.Event, *Acc]
	dict   *dictionary
	outs   []sinks.Sink
	rows   []sinks.MinuteRow
	strs   map[string]string // interned instance/db names
	emitFn operators.Emit[*Acc]
	qs     []float64 // scratch: p50, p95, p99 of the row being emitted
	err    error
	// horizon, if set, receives the purge horizon after each checkpoint
	// (the scheduled compaction reads it).
	horizon *atomic.Int64
}

func newMinuteOperator(dedup *operators.Dedup[sources.Event], win *operators.WindowAggregate[sources.Event, *Acc], dict *dictionary, outs []sinks.Sink) *minuteOperator {
	m := &minuteOperator{dedup: dedup, win: win, dict: dict, outs: outs, strs: map[string]string{}}
	m.emitFn = m.emit
	return m
}

// Process drops records an agent resent (same src, seq not above the
// highest counted), then aggregates.
func (m *minuteOperator) Process(items []sources.Event, wm []int64, reject func(int, string)) {
	items, wm, reject = m.dedup.Filter(items, wm, reject)
	m.win.Process(items, wm, reject)
}

func (m *minuteOperator) NeedsCheckpoint() bool { return m.win.NeedsCheckpoint() }
func (m *minuteOperator) Buffered() int         { return m.win.Buffered() }

func (m *minuteOperator) Checkpoint(b *pebble.Batch, cp *state.Checkpoint, wm int64) (int, int, error) {
	if err := m.dict.stage(b); err != nil {
		return 0, 0, err
	}
	if err := m.dedup.Stage(b, cp.Watermark); err != nil {
		return 0, 0, err
	}
	st, err := m.win.CheckpointPurging(b, wm, cp.Watermark, m.emitFn)
	if err == nil {
		err = m.flush()
	}
	if err != nil {
		return 0, 0, err
	}
	cp.FiredUpTo = m.win.FiredUpTo()
	cp.PurgedUpTo = m.win.PurgedUpTo()
	if m.horizon != nil {
		m.horizon.Store(cp.PurgedUpTo)
	}
	m.dict.trim()
	return st.Fired + st.Corrections, st.Corrections, nil
}

func (m *minuteOperator) intern(b []byte) string {
	if s, ok := m.strs[string(b)]; ok {
		return s
	}
	s := string(b)
	if len(m.strs) < 1<<16 {
		m.strs[s] = s
	}
	return s
}

// quantile rounds a sketch quantile and clamps it to the exact maximum (a
// bucket's representative value may exceed the largest value in it).
func quantile(a *Acc, v float64) int64 {
	return min(int64(math.Round(v)), a.LatencyMax)
}

func (m *minuteOperator) emit(end int64, key []byte, a *Acc, version int64) error {
	inst, db, id, err := parseKey(key)
	if err != nil {
		return err
	}
	e, err := m.dict.get(id)
	if err != nil {
		return err
	}
	m.qs = a.Latency.Quantiles(m.qs[:0], 0.50, 0.95, 0.99)
	m.rows = append(m.rows, sinks.MinuteRow{
		Instance:           m.intern(inst),
		DB:                 m.intern(db),
		TemplateID:         e.id,
		FingerprintVersion: fingerprint.Version,
		Template:           e.template,
		Minute:             end - sinks.MinuteMs,
		Version:            version,
		Count:              a.Count,
		LatencySumUs:       a.LatencySum,
		LatencyMaxUs:       a.LatencyMax,
		LatencyP50Us:       quantile(a, m.qs[0]),
		LatencyP95Us:       quantile(a, m.qs[1]),
		LatencyP99Us:       quantile(a, m.qs[2]),
		LockSumUs:          a.LockSum,
		RowsSentSum:        a.RowsSent,
		RowsExaminedSum:    a.RowsExamined,
		RowsAffectedSum:    a.RowsAffected,
		Errors:             a.Errors,
		SampleSQL:          e.sample,
	})
	if len(m.rows) >= 4096 {
		return m.flush()
	}
	return nil
}

func (m *minuteOperator) flush() error {
	if len(m.rows) == 0 {
		return nil
	}
	for _, s := range m.outs {
		if err := s.Write(m.rows); err != nil {
			return err
		}
	}
	clear(m.rows)
	m.rows = m.rows[:0]
	return nil
}
