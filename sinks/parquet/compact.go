package parquet

import (
	"context"
	"errors"
	"fmt"
	"math"
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
		return CompactStats{}, err
	}
	if err := resolveInt(&opts.RowGroupBytes, defaultRowGroupBytes, 64<<10, 1<<30, "RowGroupBytes"); err != nil {
		return CompactStats{}, err
	}
	codec, err := opts.Compression.codec()
	if err != nil {
		return CompactStats{}, err
	}
	c := &compactor{
		dir:  dir,
		opts: &opts,
		cfg:  fileConfig{codec: codec, rowGroupRows: opts.RowGroupRows, rowGroupBytes: opts.RowGroupBytes, sorted: true},
	}
	p, err := c.plan(ctx, floorHour(opts.Before.UnixMilli()))
	if err != nil {
		return c.st, err
	}
	return c.st, c.run(ctx, p)
}

// compactor is the state of one Compact call.
type compactor struct {
	dir  string
	opts *CompactOptions
	cfg  fileConfig
	st   CompactStats
}

// compactPlan is what one Compact call merges.
type compactPlan struct {
	hours     []int64            // hours to rewrite, ascending
	hourFiles map[int64][]string // existing hour files per hour
	maxSeq    map[int64]uint64   // highest hour-file seq per hour, temporaries included
	parts     []string           // part files old enough to merge
	partHours map[string][]int64 // hours each of parts has rows in
}

func (c *compactor) path(name string) string { return filepath.Join(c.dir, name) }

func (c *compactor) syncDir() error {
	if c.opts.NoSync {
		return nil
	}
	return c.opts.fs.SyncDir(c.dir)
}

// plan lists the directory, removes temporaries of an interrupted run, and
// selects the part files whose rows all lie before cutoff (epoch ms, an
// hour boundary). It reads only their minute column.
func (c *compactor) plan(ctx context.Context, cutoff int64) (*compactPlan, error) {
	names, err := c.opts.fs.List(c.dir)
	if err != nil {
		return nil, fmt.Errorf("sinks/parquet: compact: list %s: %w", c.dir, err)
	}
	slices.Sort(names)
	p := &compactPlan{hourFiles: map[int64][]string{}, maxSeq: map[int64]uint64{}, partHours: map[string][]int64{}}
	todo := map[int64]bool{}
	for _, nm := range names {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		n := parseName(nm)
		switch n.kind {
		case kindHourTemp:
			// Left by an interrupted Compact: never renamed, so never read.
			if err := c.opts.fs.Remove(c.path(nm)); err != nil && !errors.Is(err, os.ErrNotExist) {
				return nil, fmt.Errorf("sinks/parquet: compact: remove %s: %w", nm, err)
			}
			c.st.FilesRemoved++
			p.maxSeq[n.hour] = max(p.maxSeq[n.hour], n.seq)
		case kindHour:
			p.hourFiles[n.hour] = append(p.hourFiles[n.hour], nm)
			p.maxSeq[n.hour] = max(p.maxSeq[n.hour], n.seq)
			if len(p.hourFiles[n.hour]) > 1 {
				todo[n.hour] = true // left by an interrupted Compact
			}
		case kindPart:
			hours := map[int64]bool{}
			last := int64(math.MinInt64)
			err := scanMinutes(c.path(nm), func(minutes []int64) {
				for _, m := range minutes {
					hours[floorHour(m)] = true
					last = max(last, m)
				}
			})
			if errors.Is(err, os.ErrNotExist) {
				continue // removed since the listing: nothing to merge
			}
			if err != nil {
				return nil, fmt.Errorf("sinks/parquet: compact: %w", err)
			}
			if last >= cutoff {
				continue // still has rows of an hour a job may be writing
			}
			p.parts = append(p.parts, nm)
			for h := range hours {
				p.partHours[nm] = append(p.partHours[nm], h)
				todo[h] = true
			}
		}
	}
	for h := range todo {
		p.hours = append(p.hours, h)
	}
	slices.Sort(p.hours)
	return p, nil
}

// run writes the plan's hour files, then deletes what they replace.
func (c *compactor) run(ctx context.Context, p *compactPlan) error {
	var merged []string
	for _, h := range p.hours {
		if err := ctx.Err(); err != nil {
			return err
		}
		inputs := slices.Clone(p.hourFiles[h])
		for _, nm := range p.parts {
			if slices.Contains(p.partHours[nm], h) {
				inputs = append(inputs, nm)
			}
		}
		if err := c.compactHour(h, p.maxSeq[h]+1, inputs); err != nil {
			return err
		}
		c.st.FilesMerged += len(p.hourFiles[h])
		merged = append(merged, p.hourFiles[h]...)
	}
	c.st.FilesMerged += len(p.parts)
	merged = append(merged, p.parts...)
	// Every new hour file must be durable under its name before an input
	// it replaces disappears.
	if len(p.hours) > 0 {
		if err := c.syncDir(); err != nil {
			return fmt.Errorf("sinks/parquet: compact: sync directory: %w", err)
		}
	}
	for _, nm := range merged {
		if err := c.opts.fs.Remove(c.path(nm)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sinks/parquet: compact: remove %s: %w", nm, err)
		}
		c.st.FilesRemoved++
	}
	if c.st.FilesRemoved > 0 {
		if err := c.syncDir(); err != nil {
			return fmt.Errorf("sinks/parquet: compact: sync directory: %w", err)
		}
	}
	return nil
}

// compactHour merges the rows of hour h found in inputs into
// hour-<h>-<seq>.parquet, keeping the highest version of each key.
func (c *compactor) compactHour(h int64, seq uint64, inputs []string) error {
	best := map[sinks.Key]sinks.MinuteRow{}
	for _, nm := range inputs {
		err := scanFile(c.path(nm), func(rows []sinks.MinuteRow) error {
			for i := range rows {
				r := &rows[i]
				if floorHour(r.Minute) != h {
					continue
				}
				c.st.RowsIn++
				k := r.Key()
				if old, ok := best[k]; !ok || r.Supersedes(&old) {
					best[k] = *r
				}
			}
			return nil
		})
		if err != nil {
			return fmt.Errorf("sinks/parquet: compact hour %s: %w", hourName(h, seq), err)
		}
	}
	out := make([]sinks.MinuteRow, 0, len(best))
	for _, r := range best {
		out = append(out, r)
	}
	sinks.SortByKey(out)
	name := hourName(h, seq)
	if err := writeFile(c.opts.fs, c.path(tempName(name)), out, &c.cfg, !c.opts.NoSync); err != nil {
		return fmt.Errorf("sinks/parquet: compact: write %s: %w", name, err)
	}
	if err := c.opts.fs.Rename(c.path(tempName(name)), c.path(name)); err != nil {
		return fmt.Errorf("sinks/parquet: compact: %w", err)
	}
	c.st.Hours++
	c.st.RowsOut += int64(len(out))
	return nil
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
