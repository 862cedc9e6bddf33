package sqlagg

import (
	"encoding/binary"
	"fmt"
	"math"

	"github.com/das-project/das/internal/sketch"
	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/state"
)

// Acc is the per-(instance, db, template, minute) accumulator.
type Acc struct {
	Count        int64
	LatencySum   int64
	LatencyMax   int64
	LockSum      int64
	RowsSent     int64
	RowsExamined int64
	RowsAffected int64
	Errors       int64
	Latency      sketch.Sketch // µs
}

// aggregator implements operators.Aggregator for SQL events: the key is
// (instance, db, template id), the template coming from the fingerprinter.
// Key, Add and Reset run on the task goroutine only; New, Decode, Merge and
// Append are also called by Pebble's merge operator from other goroutines
// and touch no shared state.
type aggregator struct {
	fp   *fingerprint.Fingerprinter
	dict *dictionary
	cur  fingerprint.ID // template of the item last passed to Key
	sk   sketch.Sketch  // scratch for a partial aggregate's sketch
}

// jobCacheBytes bounds the fingerprint template cache of the job's one
// Fingerprinter: 32 MiB instead of the library's 8 MiB cut the CPU of the
// make bench Arrow run by 7–12 % for 50 MiB of RSS (docs/performance.md).
const jobCacheBytes = 32 << 20

func newAggregator(dict *dictionary) *aggregator {
	return &aggregator{fp: fingerprint.New(fingerprint.WithCacheBytes(jobCacheBytes)), dict: dict}
}

func (a *aggregator) EventTime(ev *sources.Event) int64 { return ev.TsMs }

// Key appends uvarint(len(instance)) instance uvarint(len(db)) db id(8).
// The template is the one das agent computed at the edge when the record
// carries template_id, else the fingerprint of its SQL.
func (a *aggregator) Key(dst []byte, ev *sources.Event) []byte {
	var id fingerprint.ID
	if ev.TemplateID != 0 {
		id = fingerprint.ID(ev.TemplateID)
		if !a.dict.known(id) {
			tmpl := ev.Template
			if len(tmpl) == 0 { // not sent: the sample's template is close
				_, tmpl = a.fp.Fingerprint(ev.SQL)
			}
			a.dict.observe(a.fp, id, tmpl, ev.SQL)
		}
	} else {
		var tmpl []byte
		id, tmpl = a.fp.Fingerprint(ev.SQL)
		a.dict.observe(a.fp, id, tmpl, ev.SQL)
	}
	a.cur = id
	dst = binary.AppendUvarint(dst, uint64(len(ev.Instance)))
	dst = append(dst, ev.Instance...)
	dst = binary.AppendUvarint(dst, uint64(len(ev.DB)))
	dst = append(dst, ev.DB...)
	return binary.BigEndian.AppendUint64(dst, uint64(id))
}

// parseKey splits a key built by Key. The strings alias key.
func parseKey(key []byte) (instance, db []byte, id fingerprint.ID, err error) {
	r := state.Reader{B: key}
	instance = r.Bytes()
	db = r.Bytes()
	if r.Err != nil || len(r.B) != 8 {
		return nil, nil, 0, fmt.Errorf("sqlagg: corrupt key %x", key)
	}
	return instance, db, fingerprint.ID(binary.BigEndian.Uint64(r.B)), nil
}

func (a *aggregator) New() *Acc { return &Acc{} }

func (a *aggregator) Reset(acc *Acc) {
	l := acc.Latency
	l.Reset()
	*acc = Acc{Latency: l}
}

func (a *aggregator) Add(acc *Acc, _ []byte, ev *sources.Event) {
	if ev.Count > 0 {
		a.addPartial(acc, ev)
		return
	}
	acc.Count++
	acc.LatencySum += ev.LatencyUs
	if ev.LatencyUs > acc.LatencyMax {
		acc.LatencyMax = ev.LatencyUs
	}
	acc.LockSum += ev.LockUs
	acc.RowsSent += ev.RowsSent
	acc.RowsExamined += ev.RowsExamined
	acc.RowsAffected += ev.RowsAffected
	if ev.ErrCode != 0 {
		acc.Errors++
	}
	acc.Latency.Add(ev.LatencyUs)
}

// addPartial folds in an edge partial aggregate (validated by the decoder:
// errors ≤ count, a sketch holds count values). A partial without a sketch
// (performance_schema deltas know sums, not distributions) adds nothing to
// the latency sketch (nor do the unsketched statements of one that has): the minute's quantiles then describe the statements
// whose latencies are known, and are 0 (unknown) when there are none.
func (a *aggregator) addPartial(acc *Acc, ev *sources.Event) {
	acc.Count += ev.Count
	acc.LatencySum += ev.LatencyUs
	acc.LatencyMax = max(acc.LatencyMax, ev.LatencyMaxUs)
	acc.LockSum += ev.LockUs
	acc.RowsSent += ev.RowsSent
	acc.RowsExamined += ev.RowsExamined
	acc.RowsAffected += ev.RowsAffected
	acc.Errors += ev.Errors
	if len(ev.LatencySketch) > 0 {
		a.sk.Reset()
		if _, err := a.sk.Decode(ev.LatencySketch); err == nil {
			acc.Latency.Merge(&a.sk)
		}
	}
}

func (a *aggregator) Merge(dst, src *Acc) {
	dst.Count += src.Count
	dst.LatencySum += src.LatencySum
	dst.LatencyMax = max(dst.LatencyMax, src.LatencyMax)
	dst.LockSum += src.LockSum
	dst.RowsSent += src.RowsSent
	dst.RowsExamined += src.RowsExamined
	dst.RowsAffected += src.RowsAffected
	dst.Errors += src.Errors
	dst.Latency.Merge(&src.Latency)
}

// Append encodes acc: eight uvarints then the sketch. Values are
// non-negative by validation (negative latency or rows are dead-lettered).
func (a *aggregator) Append(dst []byte, acc *Acc) []byte {
	for _, v := range [...]int64{acc.Count, acc.LatencySum, acc.LatencyMax, acc.LockSum,
		acc.RowsSent, acc.RowsExamined, acc.RowsAffected, acc.Errors} {
		dst = binary.AppendUvarint(dst, uint64(v))
	}
	return acc.Latency.Append(dst)
}

func (a *aggregator) Decode(acc *Acc, src []byte) error {
	var vals [8]int64
	for i := range vals {
		v, n := binary.Uvarint(src)
		if n <= 0 || v > math.MaxInt64 {
			return fmt.Errorf("sqlagg: corrupt accumulator (field %d)", i)
		}
		vals[i] = int64(v)
		src = src[n:]
	}
	acc.Count, acc.LatencySum, acc.LatencyMax, acc.LockSum = vals[0], vals[1], vals[2], vals[3]
	acc.RowsSent, acc.RowsExamined, acc.RowsAffected, acc.Errors = vals[4], vals[5], vals[6], vals[7]
	n, err := acc.Latency.Decode(src)
	if err != nil {
		return fmt.Errorf("sqlagg: corrupt accumulator: %w", err)
	}
	if n != len(src) {
		return fmt.Errorf("sqlagg: corrupt accumulator: %d trailing bytes", len(src)-n)
	}
	return nil
}
