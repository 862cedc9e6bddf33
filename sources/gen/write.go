package gen

import (
	"bufio"
	"context"
	"fmt"
	"io"

	"github.com/das-project/das/sources"
	"github.com/das-project/das/sources/arrowipc"
)

// WriteJSONL writes g's events to w as JSON lines (sources.AppendJSON, one
// record per line) until g is exhausted or ctx is done, applying each
// record's Damage. It returns the number of records written. With an
// unbounded Config it runs until ctx is done and returns ctx's error.
func WriteJSONL(ctx context.Context, w io.Writer, g *Generator) (int64, error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	var (
		ev   sources.Event
		line []byte
		n    int64
	)
	for g.Next(&ev) {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		line = AppendRecord(line[:0], &ev, g.Damage())
		line = append(line, '\n')
		if _, err := bw.Write(line); err != nil {
			return n, fmt.Errorf("gen: write: %w", err)
		}
		n++
	}
	if err := bw.Flush(); err != nil {
		return n, fmt.Errorf("gen: write: %w", err)
	}
	return n, nil
}

// AppendRecord appends ev as one JSON record damaged by d (no newline).
func AppendRecord(dst []byte, ev *sources.Event, d Damage) []byte {
	switch d {
	case DamageMalformed:
		start := len(dst)
		dst = sources.AppendJSON(dst, ev)
		// A strict prefix of an object is never valid JSON.
		return dst[:start+(len(dst)-start)/2]
	case DamageMissingTs:
		return sources.AppendJSONFields(dst, ev, sources.AllFields&^sources.FieldTsMs)
	case DamageMissingInstance:
		return sources.AppendJSONFields(dst, ev, sources.AllFields&^sources.FieldInstance)
	case DamageMissingSQL:
		return sources.AppendJSONFields(dst, ev, sources.AllFields&^sources.FieldSQL)
	case DamageNegativeLatency:
		bad := *ev
		bad.LatencyUs = -1 - ev.LatencyUs
		return sources.AppendJSON(dst, &bad)
	}
	return sources.AppendJSON(dst, ev)
}

// WriteArrow writes g's events to w as an Arrow IPC stream until g is
// exhausted or ctx is done. Damage becomes null columns (a malformed record
// has a null ts_ms, Arrow having no malformed rows) or a negative latency.
func WriteArrow(ctx context.Context, w io.Writer, g *Generator, opts arrowipc.WriterOptions) (n int64, err error) {
	bw := bufio.NewWriterSize(w, 1<<20)
	aw, err := arrowipc.NewWriter(bw, opts)
	if err != nil {
		return 0, err
	}
	defer func() {
		if cerr := aw.Close(); cerr != nil && err == nil {
			err = cerr
		}
		if ferr := bw.Flush(); ferr != nil && err == nil {
			err = fmt.Errorf("gen: write: %w", ferr)
		}
	}()
	var ev sources.Event
	for g.Next(&ev) {
		if n&4095 == 0 {
			if err := ctx.Err(); err != nil {
				return n, err
			}
		}
		present := sources.AllFields
		switch g.Damage() {
		case DamageMalformed, DamageMissingTs:
			present &^= sources.FieldTsMs
		case DamageMissingInstance:
			present &^= sources.FieldInstance
		case DamageMissingSQL:
			present &^= sources.FieldSQL
		case DamageNegativeLatency:
			ev.LatencyUs = -1 - ev.LatencyUs
		}
		if err := aw.WriteFields(&ev, present); err != nil {
			return n, err
		}
		n++
	}
	return n, nil
}
