package parquet

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"time"

	"github.com/das-project/das/sinks"
)

const hourMs = 3_600_000

// CompactOptions configure Compact. The zero value of each field means its
// default.
type CompactOptions struct {
	// Before bounds what is compacted: a part file is merged only if all its
	// rows belong to hours that end at or before Before (rounded down to
	// the hour), so the files a running job still writes into are left
	// alone. Default: Now() minus one hour.
	Before time.Time
	// Now is the clock behind the default of Before. Default time.Now.
	Now func() time.Time
	// Compression, RowGroupRows, RowGroupBytes and NoSync are as in
	// Options and apply to the hour files written.
	Compression   Compression
	RowGroupRows  int64
	RowGroupBytes int64
	NoSync        bool

	fs fsys // tests inject faults here; nil means the OS
}

// CompactStats tell what one Compact call did.
type CompactStats struct {
	Hours        int   // hour files written, one per hour rewritten
	FilesMerged  int   // input files (part and earlier hour files) merged
	FilesRemoved int   // input files deleted after the merge, plus stale temporaries
	RowsIn       int64 // rows read from the merged files
	RowsOut      int64 // rows written: one per key, its highest version
}

// Compact merges the committed part files of dir whose rows all belong to
// hours before opts.Before into one file per UTC hour,
// hour-<YYYYMMDDTHH>-<seq>.parquet, sorted by (instance, db, template_id,
// minute) and holding only the highest version of each key. Earlier hour
// files of the hours it rewrites are merged too, as are hours left with
// several hour files by an interrupted run. Files of all prefixes are
// merged; files in progress are never touched.
//
// Each hour file is written as .hour-…parquet.inprogress, fsynced and
// renamed; the
// directory is fsynced; only then are the inputs deleted. A crash before the
// deletions complete leaves inputs beside the new hour file: readers that
// keep the highest version per key see the same result, and the next
// Compact merges them again. Compact is therefore idempotent, and running it
// again on its own output changes nothing.
//
// Only one Compact may run on a directory at a time. It may run while jobs
// write into the directory. A reader that lists the directory while Compact
// deletes inputs may find a listed file gone and must retry.
//
// Memory: the rows of one hour (all keys of all instances) are held at once.
func Compact(ctx context.Context, dir string, opts CompactOptions) (CompactStats, error) {
	var st CompactStats
	if opts.Now == nil {
		opts.Now = time.Now
	}
	if opts.Before.IsZero() {
		opts.Before = opts.Now().Add(-time.Hour)
	}
	if opts.fs == nil {
		opts.fs = osFS{}
	}
	if err := resolveInt(&opts.RowGroupRows, defaultRowGroupRows, 1, 1<<30, "RowGroupRows"); err != nil {
		return st, err
	}
	if err := resolveInt(&opts.RowGroupBytes, defaultRowGroupBytes, 64<<10, 1<<30, "RowGroupBytes"); err != nil {
		return st, err
	}
	codec, err := opts.Compression.codec()
	if err != nil {
		return st, err
	}
	cfg := fileConfig{codec: codec, rowGroupRows: opts.RowGroupRows, rowGroupBytes: opts.RowGroupBytes, sorted: true}
	cutoff := floorHour(opts.Before.UnixMilli())
	fs := opts.fs
	path := func(name string) string { return filepath.Join(dir, name) }
	syncDir := func() error {
		if opts.NoSync {
			return nil
		}
		return fs.SyncDir(dir)
	}

	names, err := fs.List(dir)
	if err != nil {
		return st, fmt.Errorf("sinks/parquet: compact: list %s: %w", dir, err)
	}
	slices.Sort(names)

	// Inputs by hour. parts[name] = the hours the part file has rows in.
	hourFiles := map[int64][]string{}
	maxSeq := map[int64]uint64{}
	var eligible []string
	partHours := map[string][]int64{}
	todo := map[int64]bool{}
	for _, nm := range names {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		n := parseName(nm)
		switch n.kind {
		case kindHourTemp:
			// Left by an interrupted Compact: never renamed, so never read.
			if err := fs.Remove(path(nm)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return st, fmt.Errorf("sinks/parquet: compact: remove %s: %w", nm, err)
			}
			st.FilesRemoved++
			maxSeq[n.hour] = max(maxSeq[n.hour], n.seq)
		case kindHour:
			hourFiles[n.hour] = append(hourFiles[n.hour], nm)
			maxSeq[n.hour] = max(maxSeq[n.hour], n.seq)
			if len(hourFiles[n.hour]) > 1 {
				todo[n.hour] = true
			}
		case kindPart:
			hours := map[int64]bool{}
			last := int64(-1 << 63)
			err := scanMinutes(path(nm), func(minutes []int64) {
				for _, m := range minutes {
					hours[floorHour(m)] = true
					last = max(last, m)
				}
			})
			if err != nil {
				if errors.Is(err, os.ErrNotExist) {
					continue // deleted under us: nothing to merge
				}
				return st, fmt.Errorf("sinks/parquet: compact: %w", err)
			}
			if last >= cutoff {
				continue
			}
			eligible = append(eligible, nm)
			for h := range hours {
				partHours[nm] = append(partHours[nm], h)
				todo[h] = true
			}
		}
	}

	hours := make([]int64, 0, len(todo))
	for h := range todo {
		hours = append(hours, h)
	}
	slices.Sort(hours)
	var merged []string // inputs to delete once every hour is written
	for _, h := range hours {
		if err := ctx.Err(); err != nil {
			return st, err
		}
		inputs := slices.Clone(hourFiles[h])
		for _, nm := range eligible {
			if slices.Contains(partHours[nm], h) {
				inputs = append(inputs, nm)
			}
		}
		best := map[sinks.Key]sinks.MinuteRow{}
		for _, nm := range inputs {
			err := scanFile(path(nm), func(rows []sinks.MinuteRow) error {
				for i := range rows {
					r := &rows[i]
					if floorHour(r.Minute) != h {
						continue
					}
					st.RowsIn++
					k := r.Key()
					if old, ok := best[k]; !ok || r.Supersedes(&old) {
						best[k] = *r
					}
				}
				return nil
			})
			if err != nil {
				return st, fmt.Errorf("sinks/parquet: compact hour %s: %w", hourName(h, 0), err)
			}
		}
		st.FilesMerged += len(hourFiles[h])
		merged = append(merged, hourFiles[h]...)
		out := make([]sinks.MinuteRow, 0, len(best))
		for _, r := range best {
			out = append(out, r)
		}
		clear(best)
		sinks.SortByKey(out)
		name := hourName(h, maxSeq[h]+1)
		if err := writeFile(fs, path(tempName(name)), out, &cfg, !opts.NoSync); err != nil {
			return st, fmt.Errorf("sinks/parquet: compact: write %s: %w", name, err)
		}
		if err := fs.Rename(path(tempName(name)), path(name)); err != nil {
			return st, fmt.Errorf("sinks/parquet: compact: %w", err)
		}
		st.Hours++
		st.RowsOut += int64(len(out))
	}
	st.FilesMerged += len(eligible)
	merged = append(merged, eligible...)
	if len(hours) > 0 {
		if err := syncDir(); err != nil {
			return st, fmt.Errorf("sinks/parquet: compact: sync directory: %w", err)
		}
	}
	for _, nm := range merged {
		if err := fs.Remove(path(nm)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return st, fmt.Errorf("sinks/parquet: compact: remove %s: %w", nm, err)
		}
		st.FilesRemoved++
	}
	if st.FilesRemoved > 0 {
		if err := syncDir(); err != nil {
			return st, fmt.Errorf("sinks/parquet: compact: sync directory: %w", err)
		}
	}
	return st, nil
}

// writeFile writes rows into a new file at path. On error the partial file
// is removed.
func writeFile(fs fsys, path string, rows []sinks.MinuteRow, cfg *fileConfig, sync bool) error {
	f, err := fs.Create(path)
	if err != nil {
		return err
	}
	fw := newFileWriter(f, cfg)
	err = fw.write(rows)
	if err != nil {
		err = errors.Join(err, fw.discard())
	} else {
		err = fw.finish(sync)
	}
	if err != nil {
		if rerr := fs.Remove(path); rerr != nil && !errors.Is(rerr, os.ErrNotExist) {
			err = errors.Join(err, rerr)
		}
	}
	return err
}

// floorHour rounds an epoch-ms timestamp down to the start of its UTC hour.
func floorHour(ms int64) int64 {
	h := ms / hourMs * hourMs
	if h > ms {
		h -= hourMs // negative timestamps round toward minus infinity
	}
	return h
}
