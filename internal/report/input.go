package report

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/das-project/das/sinks"
	"github.com/das-project/das/sinks/parquet"
)

// ErrNoInput is wrapped by the errors of the readers when the input holds
// no minute rows at all: an empty directory, a directory without committed
// files, an empty topic.
var ErrNoInput = errors.New("report: no minute rows in the input")

// ParquetStats describes a ReadParquetDir.
type ParquetStats struct {
	Files   int // committed files read
	Skipped int // hour files skipped because their hour is outside the wanted minutes
}

// ReadParquetDir reads the committed minute files (*.parquet) of dir and
// hands their rows to fn, one file at a time; fn must not retain the slice.
// Compacted hour files (hour-YYYYMMDDTHH-N.parquet) whose hour holds no
// minute that wantHour accepts are skipped without being opened; wantHour
// gets the hour's start and end in epoch ms (nil reads every file).
//
// A compaction running meanwhile may delete a listed part file after
// merging it into an hour file: ReadParquetDir then lists the directory again and
// reads the files it has not read yet. Rows that reach fn twice that way
// are harmless to a Collector, which keeps one row per key.
func ReadParquetDir(ctx context.Context, dir string, wantHour func(from, to int64) bool, fn func([]sinks.MinuteRow) error) (ParquetStats, error) {
	var st ParquetStats
	fi, err := os.Stat(dir)
	if err != nil {
		return st, fmt.Errorf("report: input directory: %w", err)
	}
	if !fi.IsDir() {
		return st, fmt.Errorf("report: input %s is not a directory (want a directory of minute Parquet files, or kafka://HOST:PORT/TOPIC)", dir)
	}
	done := make(map[string]bool)
	const attempts = 5
	for attempt := 1; ; attempt++ {
		names, err := committedFiles(dir)
		if err != nil {
			return st, err
		}
		if len(names) == 0 && len(done) == 0 {
			return st, fmt.Errorf("%w: no committed minute files (*.parquet) in %s", ErrNoInput, dir)
		}
		retry := false
		for _, nm := range names {
			if done[nm] {
				continue
			}
			if err := ctx.Err(); err != nil {
				return st, err
			}
			if from, ok := hourOfName(nm); ok && wantHour != nil && !wantHour(from, from+3_600_000) {
				done[nm] = true
				st.Skipped++
				continue
			}
			rows, err := parquet.ReadFile(filepath.Join(dir, nm))
			if errors.Is(err, os.ErrNotExist) && attempt < attempts {
				retry = true // removed by a compaction: list again
				continue
			}
			if err != nil {
				return st, fmt.Errorf("report: %w", err)
			}
			done[nm] = true
			st.Files++
			if err := fn(rows); err != nil {
				return st, err
			}
		}
		if !retry {
			return st, nil
		}
	}
}

// committedFiles lists the names in dir that end in ".parquet" and do not
// start with a dot, sorted: the committed files (see sinks/parquet).
func committedFiles(dir string) ([]string, error) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return nil, fmt.Errorf("report: list %s: %w", dir, err)
	}
	var names []string
	for _, e := range ents {
		n := e.Name()
		if strings.HasSuffix(n, ".parquet") && !strings.HasPrefix(n, ".") && e.Type().IsRegular() {
			names = append(names, n)
		}
	}
	slices.Sort(names)
	return names, nil
}

// hourOfName returns the start (epoch ms) of the UTC hour of a compacted
// hour file's name, hour-YYYYMMDDTHH-N.parquet.
func hourOfName(name string) (int64, bool) {
	rest, ok := strings.CutPrefix(name, "hour-")
	if !ok || len(rest) < len("20060102T15-") || rest[len("20060102T15")] != '-' {
		return 0, false
	}
	t, err := time.Parse("20060102T15", rest[:len("20060102T15")])
	if err != nil {
		return 0, false
	}
	return t.UnixMilli(), true
}
