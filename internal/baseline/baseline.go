// Package baseline is the yardstick das's engine is measured against in
// docs/performance.md: the plain Go loop the engine issue describes, written
// the way a competent engineer would write it in an afternoon.
//
// It reads JSON lines with a fast JSON scanner (fastjson), turns the
// statement into a template with TiDB's parser.NormalizeDigest, and counts
// into a Go map keyed by (instance, db, template, event-time minute). There
// is no engine, no watermark, no late-data handling, no durability and no
// output: whatever the loop costs is the floor a real job has to beat with
// all of those included.
//
// Three modes peel the loop apart so that the cost of each stage shows:
// ModeDecode only scans and decodes, ModeMap adds the map without
// fingerprinting (the template is left empty, so the map holds one key per
// (instance, db, minute)), and ModeDigest is the whole loop.
package baseline

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/pingcap/tidb/pkg/parser"
	"github.com/valyala/fastjson"
)

// Mode selects how much of the loop runs.
type Mode int

const (
	// ModeDecode scans lines and decodes the fields the aggregation needs.
	ModeDecode Mode = iota
	// ModeMap decodes and aggregates per (instance, db, minute): the whole
	// loop without fingerprinting.
	ModeMap
	// ModeDigest decodes, fingerprints with parser.NormalizeDigest and
	// aggregates per (instance, db, template, minute).
	ModeDigest
)

// ParseMode maps "decode", "map" and "digest" to a Mode.
func ParseMode(s string) (Mode, error) {
	switch s {
	case "decode":
		return ModeDecode, nil
	case "map":
		return ModeMap, nil
	case "digest":
		return ModeDigest, nil
	}
	return 0, fmt.Errorf("baseline: mode %q: want decode, map or digest", s)
}

func (m Mode) String() string {
	switch m {
	case ModeDecode:
		return "decode"
	case ModeMap:
		return "map"
	case ModeDigest:
		return "digest"
	}
	return fmt.Sprintf("Mode(%d)", int(m))
}

// Key is the aggregation key. Template is the SHA-256 digest of the
// normalized statement that NormalizeDigest returns (zero in ModeMap), kept
// as an array rather than its hex string so that the map holds no pointer
// per template; Minute is the event time truncated to the minute, in epoch
// milliseconds.
type Key struct {
	Instance string
	DB       string
	Template [32]byte
	Minute   int64
}

// Agg is what the loop keeps per key: the additive columns of the minute
// aggregate (no quantiles).
type Agg struct {
	Count        int64
	LatencySum   int64
	LatencyMax   int64
	LockSum      int64
	RowsSent     int64
	RowsExamined int64
	RowsAffected int64
	Errors       int64
}

// Result is what a run saw.
type Result struct {
	Events   int64       // lines decoded and counted
	Rejected int64       // lines that are not a JSON object with ts_ms, instance and sql
	Keys     map[Key]Agg // nil in ModeDecode
}

// ErrLineTooLong is returned for a line longer than MaxLine.
var ErrLineTooLong = errors.New("baseline: line too long")

// MaxLine bounds one JSON line (a statement may be a megabyte long).
const MaxLine = 16 << 20

// Run runs the loop over r in the given mode until EOF or ctx is done
// (checked every 64 k lines).
func Run(ctx context.Context, r io.Reader, mode Mode) (Result, error) {
	res := Result{}
	if mode != ModeDecode {
		res.Keys = make(map[Key]Agg)
	}
	br := bufio.NewReaderSize(r, 1<<20)
	var (
		p     fastjson.Parser
		names = map[string]string{} // interned instance and db names
		long  []byte
	)
	intern := func(b []byte) string {
		if s, ok := names[string(b)]; ok {
			return s
		}
		s := string(b)
		names[s] = s
		return s
	}
	for n := 0; ; n++ {
		if n&0xffff == 0 {
			if err := ctx.Err(); err != nil {
				return res, err
			}
		}
		line, err := br.ReadSlice('\n')
		if errors.Is(err, bufio.ErrBufferFull) {
			long = append(long[:0], line...)
			for errors.Is(err, bufio.ErrBufferFull) {
				line, err = br.ReadSlice('\n')
				long = append(long, line...)
				if len(long) > MaxLine {
					return res, ErrLineTooLong
				}
			}
			line = long
		}
		if len(line) > 0 && !(len(line) == 1 && line[0] == '\n') {
			v, perr := p.ParseBytes(line)
			var ts int64
			var inst, db, sql []byte
			if perr == nil {
				ts = v.GetInt64("ts_ms")
				inst = v.GetStringBytes("instance")
				db = v.GetStringBytes("db")
				sql = v.GetStringBytes("sql")
			}
			if perr != nil || v.Get("ts_ms") == nil || len(inst) == 0 || v.Get("sql") == nil {
				res.Rejected++
			} else {
				res.Events++
				if mode != ModeDecode {
					k := Key{Instance: intern(inst), DB: intern(db), Minute: ts - ts%60000}
					if mode == ModeDigest {
						_, d := parser.NormalizeDigest(string(sql))
						copy(k.Template[:], d.Bytes())
					}
					a := res.Keys[k]
					lat := v.GetInt64("latency_us")
					a.Count++
					a.LatencySum += lat
					a.LatencyMax = max(a.LatencyMax, lat)
					a.LockSum += v.GetInt64("lock_us")
					a.RowsSent += v.GetInt64("rows_sent")
					a.RowsExamined += v.GetInt64("rows_examined")
					a.RowsAffected += v.GetInt64("rows_affected")
					if v.GetInt("err_code") != 0 {
						a.Errors++
					}
					res.Keys[k] = a
				}
			}
		}
		if err == io.EOF {
			return res, nil
		}
		if err != nil {
			return res, fmt.Errorf("baseline: %w", err)
		}
	}
}
