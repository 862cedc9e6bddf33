package parquet

import (
	"fmt"
	"strconv"
	"strings"
	"time"
)

// File names. Every name this package creates is one of:
//
//	part-<prefix>-<epoch>-<seq>.parquet              committed output of one writer epoch
//	.part-<prefix>-<epoch>-<seq>.parquet.inprogress  precommitted: durable, awaiting Commit
//	.part-<prefix>-open-<seq>.parquet.inprogress     being written, epoch not yet known
//	hour-<YYYYMMDDTHH>-<seq>.parquet                 compacted hour (UTC)
//	.hour-<YYYYMMDDTHH>-<seq>.parquet.inprogress     compacted hour being written
//
// epoch is zero-padded to 10 digits and seq to 4 (wider values are written in
// full), so names sort in write order. Only committed files end in
// ".parquet": a glob for *.parquet never sees partial output. Files in
// progress also start with a dot, which directory readers (pyarrow and
// pandas, Spark, Hive) skip, as Flink's file sink does.
const (
	parquetExt    = ".parquet"
	inprogressExt = ".inprogress"
	partPrefix    = "part-"
	hourPrefix    = "hour-"
	openTag       = "open"
	hourLayout    = "20060102T15"
)

type nameKind int

const (
	kindUnknown  nameKind = iota
	kindPart              // committed part file
	kindPartPrep          // precommitted part file
	kindPartOpen          // part file being written
	kindHour              // committed hour file
	kindHourTemp          // hour file being written
)

// name is a parsed file name.
type name struct {
	kind   nameKind
	prefix string // part files
	epoch  uint64 // committed and precommitted part files
	hour   int64  // hour files: epoch ms of the start of the hour
	seq    uint64
}

func partName(prefix string, epoch, seq uint64) string {
	return fmt.Sprintf("part-%s-%010d-%04d.parquet", prefix, epoch, seq)
}

func openName(prefix string, seq uint64) string {
	return tempName(fmt.Sprintf("part-%s-open-%04d.parquet", prefix, seq))
}

// tempName is the in-progress name of the file committed as final.
func tempName(final string) string { return "." + final + inprogressExt }

func hourName(hourMs int64, seq uint64) string {
	return fmt.Sprintf("hour-%s-%04d.parquet", time.UnixMilli(hourMs).UTC().Format(hourLayout), seq)
}

// validPrefix reports whether p may be used as a writer prefix: 1 to 64
// characters from [A-Za-z0-9_]. '-' is excluded so that names parse without
// ambiguity and one writer never mistakes another's files for its own.
func validPrefix(p string) bool {
	if len(p) == 0 || len(p) > 64 {
		return false
	}
	for i := 0; i < len(p); i++ {
		c := p[i]
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_') {
			return false
		}
	}
	return true
}

// parseName parses a file name created by this package. It returns
// kindUnknown for any other name. Parsing is strict: formatting the result
// again gives back s.
func parseName(s string) name {
	base, inprogress := strings.CutSuffix(s, inprogressExt)
	if inprogress {
		var dot bool
		if base, dot = strings.CutPrefix(base, "."); !dot {
			return name{}
		}
	}
	base, ok := strings.CutSuffix(base, parquetExt)
	if !ok {
		return name{}
	}
	switch {
	case strings.HasPrefix(base, partPrefix):
		fields := strings.Split(base[len(partPrefix):], "-")
		if len(fields) != 3 || !validPrefix(fields[0]) {
			return name{}
		}
		seq, ok := parseNum(fields[2], 4)
		if !ok {
			return name{}
		}
		n := name{prefix: fields[0], seq: seq}
		if fields[1] == openTag {
			if !inprogress {
				return name{}
			}
			n.kind = kindPartOpen
			return n
		}
		if n.epoch, ok = parseNum(fields[1], 10); !ok {
			return name{}
		}
		n.kind = kindPart
		if inprogress {
			n.kind = kindPartPrep
		}
		return n
	case strings.HasPrefix(base, hourPrefix):
		fields := strings.Split(base[len(hourPrefix):], "-")
		if len(fields) != 2 {
			return name{}
		}
		t, err := time.Parse(hourLayout, fields[0])
		if err != nil || t.Format(hourLayout) != fields[0] {
			return name{}
		}
		seq, ok := parseNum(fields[1], 4)
		if !ok {
			return name{}
		}
		n := name{kind: kindHour, hour: t.UnixMilli(), seq: seq}
		if inprogress {
			n.kind = kindHourTemp
		}
		return n
	}
	return name{}
}

// parseNum parses a decimal number written with %0<width>d: at least width
// digits, and no leading zero beyond the padding.
func parseNum(s string, width int) (uint64, bool) {
	if len(s) < width || (len(s) > width && s[0] == '0') {
		return 0, false
	}
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return 0, false
		}
	}
	v, err := strconv.ParseUint(s, 10, 64)
	return v, err == nil
}
