package agent

import (
	"bytes"
	"fmt"
	"unicode/utf8"

	"github.com/das-project/das/operators/fingerprint"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
)

// Format is how events are encoded in Kafka record values.
type Format uint8

const (
	// FormatJSON: one event per record, a JSON object (sources.AppendJSON).
	FormatJSON Format = iota
	// FormatArrow: one Arrow IPC stream per record (schema, one record
	// batch of many events with the agent columns, end-of-stream marker).
	FormatArrow
)

// String returns "json" or "arrow".
func (f Format) String() string {
	switch f {
	case FormatJSON:
		return "json"
	case FormatArrow:
		return "arrow"
	}
	return fmt.Sprintf("Format(%d)", uint8(f))
}

// ParseFormat parses "json" or "arrow".
func ParseFormat(s string) (Format, error) {
	switch s {
	case "json", "jsonl":
		return FormatJSON, nil
	case "arrow":
		return FormatArrow, nil
	}
	return 0, fmt.Errorf("%w: format %q, want json or arrow", ErrBadOptions, s)
}

// encoder turns a cut's events into Kafka records.
type encoder struct {
	format    Format
	maxRecord int
	buf       []byte
	ends      []int
	keys      map[string][]byte
	arrow     bytes.Buffer
	short     []byte
	cutSQL    int64 // statements whose SQL was cut further to fit a record
}

func newEncoder(f Format, maxRecord int) *encoder {
	return &encoder{format: f, maxRecord: maxRecord, keys: map[string][]byte{}}
}

func (e *encoder) key(instance string) []byte {
	k, ok := e.keys[instance]
	if !ok {
		if len(e.keys) > 1<<12 {
			clear(e.keys)
		}
		k = []byte(instance)
		e.keys[instance] = k
	}
	return k
}

// encode returns the records of evs (Src and Seq set), keyed by instance,
// in Seq order per key. The records own their memory.
func (e *encoder) encode(evs []sources.Event) ([]record, error) {
	if e.format == FormatArrow {
		return e.encodeArrow(evs)
	}
	e.buf, e.ends = e.buf[:0], e.ends[:0]
	for i := range evs {
		start := len(e.buf)
		e.buf = sources.AppendJSON(e.buf, &evs[i])
		if len(e.buf)-start > e.maxRecord {
			// Escapes can make a statement up to six times longer in JSON.
			ev := evs[i]
			ev.SQL = e.shorten(ev.SQL, (e.maxRecord-4096)/6)
			e.buf = sources.AppendJSON(e.buf[:start], &ev)
			e.cutSQL++
		}
		e.ends = append(e.ends, len(e.buf))
	}
	val := make([]byte, len(e.buf))
	copy(val, e.buf)
	recs := make([]record, len(evs))
	start := 0
	for i, end := range e.ends {
		recs[i] = record{key: e.key(evs[i].Instance), value: val[start:end:end]}
		start = end
	}
	return recs, nil
}

// shorten returns sql cut to at most n bytes on a UTF-8 boundary, with
// fingerprint.TruncMark.
func (e *encoder) shorten(sql []byte, n int) []byte {
	if len(sql) <= n {
		return sql
	}
	cut := max(n-len(fingerprint.TruncMark), 0)
	for cut > 0 && !utf8.RuneStart(sql[cut]) {
		cut--
	}
	e.short = append(append(e.short[:0], sql[:cut]...), fingerprint.TruncMark...)
	return e.short
}

// encodeArrow writes one Arrow IPC stream per run of events of one
// instance, cut so that a record stays under maxRecord bytes.
func (e *encoder) encodeArrow(evs []sources.Event) ([]record, error) {
	// Stable partition by instance: Seq order is kept within each key.
	byInst := map[string][]int{}
	var order []string
	for i := range evs {
		in := evs[i].Instance
		if _, ok := byInst[in]; !ok {
			order = append(order, in)
		}
		byInst[in] = append(byInst[in], i)
	}
	var recs []record
	for _, in := range order {
		idx := byInst[in]
		for len(idx) > 0 {
			n, size := 0, 0
			for n < len(idx) {
				ev := &evs[idx[n]]
				rs := len(ev.SQL) + len(ev.Src) + len(ev.Instance) + len(ev.DB) + len(ev.User) + len(ev.LatencySketch) + 128
				if n > 0 && size+rs > e.maxRecord/2 {
					break
				}
				size += rs
				n++
			}
			val, err := e.arrowRecord(evs, idx[:n])
			if err != nil {
				return nil, err
			}
			recs = append(recs, record{key: e.key(in), value: val})
			idx = idx[n:]
		}
	}
	return recs, nil
}

func (e *encoder) arrowRecord(evs []sources.Event, idx []int) ([]byte, error) {
	e.arrow.Reset()
	w, err := arrowipc.NewWriter(&e.arrow, arrowipc.WriterOptions{BatchRows: len(idx) + 1, AgentColumns: true})
	if err != nil {
		return nil, err
	}
	for _, i := range idx {
		ev := &evs[i]
		if len(ev.SQL) > e.maxRecord/2 {
			c := *ev
			c.SQL = e.shorten(c.SQL, e.maxRecord/2)
			e.cutSQL++
			ev = &c
		}
		if err := w.Write(ev); err != nil {
			return nil, err
		}
	}
	if err := w.Close(); err != nil {
		return nil, err
	}
	return bytes.Clone(e.arrow.Bytes()), nil
}
