package parquet

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"

	"github.com/das-project/das/sinks"
)

var (
	// ErrInvalidOptions is wrapped by the errors New and Compact return for
	// options out of their allowed range.
	ErrInvalidOptions = errors.New("sinks/parquet: invalid options")
	// ErrBadPending is returned by Commit and Recover for a Pending that
	// this writer did not produce: a file name that is not one of its part
	// files, or one whose epoch differs from the Pending's.
	ErrBadPending = errors.New("sinks/parquet: pending does not belong to this writer")
	// ErrPendingLost is returned by Commit when a file of the Pending exists
	// neither precommitted nor committed: something removed durable output.
	ErrPendingLost = errors.New("sinks/parquet: precommitted file missing")
	// ErrEpochOrder is returned by Precommit for an epoch not greater than
	// the previous one.
	ErrEpochOrder = errors.New("sinks/parquet: epoch not increasing")
	// ErrBroken is wrapped by every call after a failed Write or Precommit
	// until Abort: the open file is in an unknown state.
	ErrBroken = errors.New("sinks/parquet: writer failed; call Abort")
	// ErrClosed is returned by calls on a closed Writer.
	ErrClosed = errors.New("sinks/parquet: writer closed")
)

// Options configure a Writer. The zero value of each field means its
// default.
type Options struct {
	// Prefix names this writer's files, part-<Prefix>-<epoch>-<seq>.parquet:
	// writers sharing a directory (one per task or partition) must use
	// distinct prefixes, e.g. "sqlagg_p3". 1 to 64 characters from
	// [A-Za-z0-9_]. Default "0".
	Prefix string
	// Compression of every column. Default CompressionZstd.
	Compression Compression
	// TargetFileSize closes the current file and starts the next sequence
	// number of the epoch once the file's estimated size reaches it. The
	// estimate counts open row groups before compression, so files end up
	// somewhat smaller. 4 KiB to 1 TiB; default 128 MiB.
	TargetFileSize int64
	// RowGroupRows is the most rows a row group holds. 1 to 2^30; default
	// 131072 (128 Ki), about DuckDB's own row group size: each row group is
	// a unit of parallelism for readers.
	RowGroupRows int64
	// RowGroupBytes flushes a row group once its estimated in-memory size
	// (encoded pages, dictionaries and uncompressed buffers) reaches it.
	// With RowGroupRows it bounds the writer's memory: about RowGroupBytes
	// plus a 256 KiB page buffer per column. 64 KiB to 1 GiB; default 64 MiB.
	RowGroupBytes int64
	// NoSync skips every fsync of files and of the directory. Only for tests
	// and benchmarks: after a machine crash committed output may be lost or
	// torn. Default false.
	NoSync bool

	fs fsys // tests inject faults here; nil means the OS
}

const (
	defaultPrefix        = "0"
	defaultTargetSize    = 128 << 20
	defaultRowGroupRows  = 128 << 10
	defaultRowGroupBytes = 64 << 20
)

func (o *Options) resolve() error {
	if o.Prefix == "" {
		o.Prefix = defaultPrefix
	}
	if !validPrefix(o.Prefix) {
		return fmt.Errorf("%w: Prefix %q: want 1 to 64 characters from [A-Za-z0-9_]", ErrInvalidOptions, o.Prefix)
	}
	if err := resolveInt(&o.TargetFileSize, defaultTargetSize, 4<<10, 1<<40, "TargetFileSize"); err != nil {
		return err
	}
	if err := resolveInt(&o.RowGroupRows, defaultRowGroupRows, 1, 1<<30, "RowGroupRows"); err != nil {
		return err
	}
	if err := resolveInt(&o.RowGroupBytes, defaultRowGroupBytes, 64<<10, 1<<30, "RowGroupBytes"); err != nil {
		return err
	}
	if o.fs == nil {
		o.fs = osFS{}
	}
	return nil
}

func resolveInt(v *int64, def, lo, hi int64, field string) error {
	if *v == 0 {
		*v = def
		return nil
	}
	if *v < lo || *v > hi {
		return fmt.Errorf("%w: %s %d: want 0 (default %d) or %d to %d", ErrInvalidOptions, field, *v, def, lo, hi)
	}
	return nil
}

// Writer writes minute rows into Parquet files in one directory and commits
// them in two phases with the engine's checkpoints: it implements
// sinks.Sink. See the package documentation for the protocol.
//
// A Writer is owned by one task and is not safe for concurrent use.
type Writer struct {
	dir  string
	opts Options
	cfg  fileConfig

	cur     *fileWriter // open file of the current epoch, nil before its first row
	opened  []string    // open-name files of the current epoch, in seq order
	renamed []string    // precommitted names created by a Precommit that failed

	lastEpoch uint64
	hasEpoch  bool  // lastEpoch is set: the next epoch must be greater
	broken    error // first failure since the last Abort
	closed    bool
	syncDir   func() error
}

var _ sinks.Sink = (*Writer)(nil)

// New returns a Writer into dir, which must exist. The caller must call
// Recover before the first Write when dir may hold output of an earlier run
// of the same prefix.
func New(dir string, opts Options) (*Writer, error) {
	if err := opts.resolve(); err != nil {
		return nil, err
	}
	codec, err := opts.Compression.codec()
	if err != nil {
		return nil, err
	}
	st, err := os.Stat(dir)
	if err != nil {
		return nil, fmt.Errorf("sinks/parquet: output directory: %w", err)
	}
	if !st.IsDir() {
		return nil, fmt.Errorf("sinks/parquet: output directory %s is not a directory", dir)
	}
	w := &Writer{
		dir:  dir,
		opts: opts,
		cfg: fileConfig{
			codec:         codec,
			rowGroupRows:  opts.RowGroupRows,
			rowGroupBytes: opts.RowGroupBytes,
		},
	}
	w.syncDir = func() error {
		if w.opts.NoSync {
			return nil
		}
		return w.opts.fs.SyncDir(w.dir)
	}
	return w, nil
}

func (w *Writer) path(name string) string { return filepath.Join(w.dir, name) }

func (w *Writer) check() error {
	if w.closed {
		return ErrClosed
	}
	if w.broken != nil {
		return fmt.Errorf("%w: %w", ErrBroken, w.broken)
	}
	return nil
}

func (w *Writer) fail(err error) error {
	if w.broken == nil {
		w.broken = err
	}
	return err
}

// Write appends rows to the current epoch's file, starting a file on the
// first row of an epoch and a new one whenever the current file reaches
// Options.TargetFileSize. Rows are encoded before Write returns; the caller
// may reuse the slice. Strings that are not valid UTF-8 are written with
// invalid sequences replaced by U+FFFD (sinks.MinuteRow.MakeValidUTF8).
func (w *Writer) Write(rows []sinks.MinuteRow) error {
	if err := w.check(); err != nil {
		return err
	}
	for len(rows) > 0 {
		if w.cur == nil {
			name := openName(w.opts.Prefix, uint64(len(w.opened)))
			f, err := w.opts.fs.Create(w.path(name))
			if err != nil {
				return w.fail(fmt.Errorf("sinks/parquet: create %s (a stale file of an earlier run is removed by Recover): %w", name, err))
			}
			w.opened = append(w.opened, name)
			w.cur = newFileWriter(f, &w.cfg)
		}
		chunk := rows[:min(len(rows), chunkRows)]
		rows = rows[len(chunk):]
		if err := w.cur.write(chunk); err != nil {
			return w.fail(fmt.Errorf("sinks/parquet: write %s: %w", w.opened[len(w.opened)-1], err))
		}
		if w.cur.size() >= w.opts.TargetFileSize {
			if err := w.finishCurrent(); err != nil {
				return err
			}
		}
	}
	return nil
}

func (w *Writer) finishCurrent() error {
	if w.cur == nil {
		return nil
	}
	err := w.cur.finish(!w.opts.NoSync)
	w.cur = nil
	if err != nil {
		return w.fail(fmt.Errorf("sinks/parquet: finish %s: %w", w.opened[len(w.opened)-1], err))
	}
	return nil
}

// Precommit finishes the epoch's files (footer, fsync), renames each to
// .part-<prefix>-<epoch>-<seq>.parquet.inprogress and fsyncs the directory.
// The returned Pending lists the committed names. An epoch without rows
// creates no file. epoch must be greater than the epoch of the previous
// Precommit (and of the Pending given to Recover).
func (w *Writer) Precommit(epoch uint64) (sinks.Pending, error) {
	if err := w.check(); err != nil {
		return sinks.Pending{}, err
	}
	if w.hasEpoch && epoch <= w.lastEpoch {
		return sinks.Pending{}, fmt.Errorf("%w: epoch %d after %d", ErrEpochOrder, epoch, w.lastEpoch)
	}
	if err := w.finishCurrent(); err != nil {
		return sinks.Pending{}, err
	}
	p := sinks.Pending{Epoch: epoch}
	for seq, open := range w.opened {
		final := partName(w.opts.Prefix, epoch, uint64(seq))
		if err := w.opts.fs.Rename(w.path(open), w.path(tempName(final))); err != nil {
			return sinks.Pending{}, w.fail(fmt.Errorf("sinks/parquet: precommit %s: %w", open, err))
		}
		w.renamed = append(w.renamed, tempName(final))
		p.Files = append(p.Files, final)
	}
	if len(p.Files) > 0 {
		if err := w.syncDir(); err != nil {
			return sinks.Pending{}, w.fail(fmt.Errorf("sinks/parquet: precommit epoch %d: sync directory: %w", epoch, err))
		}
	}
	w.opened, w.renamed = w.opened[:0], w.renamed[:0]
	w.lastEpoch, w.hasEpoch = epoch, true
	return p, nil
}

// validate checks that every file of p is a part file of this writer for
// p.Epoch.
func (w *Writer) validate(p sinks.Pending) error {
	for _, f := range p.Files {
		n := parseName(f)
		if n.kind != kindPart || n.prefix != w.opts.Prefix || n.epoch != p.Epoch || partName(n.prefix, n.epoch, n.seq) != f {
			return fmt.Errorf("%w: file %q of epoch %d (prefix %q)", ErrBadPending, f, p.Epoch, w.opts.Prefix)
		}
	}
	return nil
}

// commit renames each precommitted file of p to its committed name. A file
// already committed is skipped; one missing in both forms is returned in
// missing.
func (w *Writer) commit(p sinks.Pending) (missing []string, err error) {
	renamed := false
	for _, f := range p.Files {
		err := w.opts.fs.Rename(w.path(tempName(f)), w.path(f))
		if err == nil {
			renamed = true
			continue
		}
		if !errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("sinks/parquet: commit %s: %w", f, err)
		}
		ok, err := w.opts.fs.Exists(w.path(f))
		if err != nil {
			return nil, fmt.Errorf("sinks/parquet: commit %s: %w", f, err)
		}
		if !ok {
			missing = append(missing, f)
		}
	}
	if renamed {
		if err := w.syncDir(); err != nil {
			return nil, fmt.Errorf("sinks/parquet: commit epoch %d: sync directory: %w", p.Epoch, err)
		}
	}
	return missing, nil
}

// Commit renames the files of p to their committed names and fsyncs the
// directory. Files already committed are left alone, so Commit is
// idempotent. A file missing in both forms gives ErrPendingLost (after the
// others are committed).
func (w *Writer) Commit(p sinks.Pending) error {
	if w.closed {
		return ErrClosed
	}
	if err := w.validate(p); err != nil {
		return err
	}
	missing, err := w.commit(p)
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		return fmt.Errorf("%w: %q", ErrPendingLost, missing)
	}
	return nil
}

// Abort closes and deletes the files written since the last Precommit,
// including those of a Precommit that failed, and clears a failure so the
// writer can be used again. Output of a successful Precommit is kept; see
// sinks.Sink.
func (w *Writer) Abort() error {
	if w.closed {
		return ErrClosed
	}
	var errs []error
	if w.cur != nil {
		if err := w.cur.discard(); err != nil {
			errs = append(errs, err)
		}
		w.cur = nil
	}
	for _, name := range slices.Concat(w.opened, w.renamed) {
		if err := w.opts.fs.Remove(w.path(name)); err != nil && !errors.Is(err, os.ErrNotExist) {
			errs = append(errs, err)
		}
	}
	w.opened, w.renamed = w.opened[:0], w.renamed[:0]
	w.broken = nil
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("sinks/parquet: abort: %w", err)
	}
	return nil
}

// Recover finishes the commit of p, the Pending of the last durable
// checkpoint (zero if none), and deletes every other in-progress file of
// this writer's prefix: open files and precommitted files of epochs whose
// checkpoint never became durable. It must be called before the first Write.
//
// A file of p that exists neither precommitted nor committed is taken to be
// committed and since merged by Compact (which a restart after a long stop
// can see), so it is not an error.
func (w *Writer) Recover(p sinks.Pending) error {
	if w.closed {
		return ErrClosed
	}
	if w.cur != nil || len(w.opened) > 0 {
		return errors.New("sinks/parquet: Recover called after Write")
	}
	if err := w.validate(p); err != nil {
		return err
	}
	if _, err := w.commit(p); err != nil {
		return err
	}
	names, err := w.opts.fs.List(w.dir)
	if err != nil {
		return fmt.Errorf("sinks/parquet: recover: %w", err)
	}
	removed := false
	for _, nm := range names {
		n := parseName(nm)
		if n.prefix != w.opts.Prefix || (n.kind != kindPartOpen && n.kind != kindPartPrep) {
			continue
		}
		if err := w.opts.fs.Remove(w.path(nm)); err != nil && !errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sinks/parquet: recover: remove %s: %w", nm, err)
		}
		removed = true
	}
	if removed {
		if err := w.syncDir(); err != nil {
			return fmt.Errorf("sinks/parquet: recover: sync directory: %w", err)
		}
	}
	if p.Epoch > 0 || len(p.Files) > 0 {
		w.lastEpoch, w.hasEpoch = p.Epoch, true
	}
	return nil
}

// Close discards output not yet precommitted (as Abort) and releases the
// writer. It never commits. Calling Close again returns nil.
func (w *Writer) Close() error {
	if w.closed {
		return nil
	}
	err := w.Abort()
	w.closed = true
	return err
}
