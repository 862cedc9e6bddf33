package slowlog

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/cespare/xxhash/v2"
	"github.com/das-project/das/sources"
	"github.com/das-project/das/stream"
)

// maxFinished is how many finished files a Follower (and its position)
// remembers.
const maxFinished = 16

// Start says where a Follower without a position file begins.
type Start int

const (
	// StartBeginning reads the log from its first byte (the default).
	StartBeginning Start = iota
	// StartEnd skips what the log holds when following starts: reading
	// begins at its end, and the text up to the first entry boundary (the
	// end of an entry being written) is dropped and counted in
	// FollowStats.SkippedBytes.
	StartEnd
)

// FollowOptions configure a Follower.
type FollowOptions struct {
	Options
	// PositionFile is where Commit saves the position (written atomically)
	// and where NewFollower looks for it. Required.
	PositionFile string
	// Start applies when there is no position file. Default StartBeginning.
	Start Start
	// PollInterval is how often the file is looked at for new entries,
	// rotation and truncation when there is nothing to read. Default 250ms.
	PollInterval time.Duration
	// MaxWait bounds how long Next waits for an entry before it returns an
	// empty batch (so a caller can flush or advance idle watermarks): it
	// waits another PollInterval only if that ends before MaxWait does.
	// Default 1s.
	MaxWait time.Duration
}

// FollowStats count what happened to the followed log. They are cumulative
// for the Follower's life.
type FollowStats struct {
	Entries      int64 // entries handed out (items plus rejects)
	Rotations    int64 // switches to a new file at the path (rename/recreate)
	Truncations  int64 // the file shrank or its first bytes changed (copytruncate)
	LostFiles    int64 // the position file named a file that no longer exists: read the path from its start
	SkippedBytes int64 // bytes skipped by StartEnd
}

// FollowBatch is a batch from one file. Batch.NextOffset equals
// Position.Offset. A batch never mixes files, so (File.Dev, File.Ino,
// ItemOffsets[i], ItemHashes[i]) is a key of item i that is the same every
// time the entry is read (after a restart, or a file read twice) and
// differs between entries (a truncated file reuses offsets, a new file may
// reuse an inode, but not with the same bytes): an idempotency key.
type FollowBatch struct {
	stream.Batch[sources.Event]
	// ItemHashes and RejectHashes are the xxhash64 of each entry's bytes
	// (of its first MaxEntryBytes), parallel to Items and Rejects.
	ItemHashes   []uint64
	RejectHashes []uint64
	// File is the file the entries came from; its Offset is where the
	// batch started.
	File Position
	// Position is where to resume once the batch is delivered: pass it to
	// Commit then.
	Position Position
}

// Follower follows a slow log like `tail -F`: it reads new entries as the
// server appends them, follows the log across rotation by rename (the old
// file is read to its end first, then the new one from its start) and
// truncation in place (copytruncate), and resumes after a restart from a
// position file, so a restart neither loses nor repeats an entry once the
// caller commits each batch after delivering it. Not safe for concurrent
// use: one goroutine calls Next and Commit.
type Follower struct {
	path string
	opts FollowOptions

	f      *os.File
	id     fileID
	sp     *splitter
	p      parser
	head   uint64 // hash of the first headN bytes of f
	headN  int64
	size   int64 // f's size at the last poll
	resync bool  // StartEnd: drop text before the first entry boundary

	// finished are the files read to their end after a rotation (the
	// latest maxFinished), never to be read again.
	finished []fileID

	// switchTo is the file to continue with, from its start, once the
	// current batch is returned: the new file after a rotation, or f itself
	// after a truncation.
	switchTo *os.File

	stats FollowStats
	batch FollowBatch
	arena []byte
}

// NewFollower opens the log at path for following, resuming from the
// position file when there is one: in the file it names, found by its
// identity even if it was renamed since (it is read to its end before the
// file now at path). If that file is gone, or was truncated, reading starts
// over at the start of the file at path and FollowStats says so.
func NewFollower(path string, opts FollowOptions) (*Follower, error) {
	if opts.PositionFile == "" {
		return nil, errors.New("slowlog: FollowOptions.PositionFile is required")
	}
	if err := opts.setDefaults(); err != nil {
		return nil, err
	}
	if opts.PollInterval == 0 {
		opts.PollInterval = 250 * time.Millisecond
	}
	if opts.MaxWait == 0 {
		opts.MaxWait = time.Second
	}
	if opts.PollInterval < 0 || opts.MaxWait < 0 {
		return nil, fmt.Errorf("slowlog: PollInterval %v and MaxWait %v must be > 0", opts.PollInterval, opts.MaxWait)
	}
	fl := &Follower{path: path, opts: opts}
	if err := fl.start(); err != nil {
		return nil, err
	}
	return fl, nil
}

// start positions the follower from the position file or opts.Start.
func (fl *Follower) start() error {
	pos, ok, err := loadPosition(fl.opts.PositionFile)
	if err != nil {
		return err
	}
	cur, err := os.Open(fl.path)
	if err != nil {
		return fmt.Errorf("slowlog: %w", err)
	}
	if fl.opts.Instance == "" {
		inst, err := DefaultInstance(fl.path, cur, fl.opts.Hostname)
		if err != nil {
			cur.Close()
			return err
		}
		fl.opts.Instance = inst
	}
	fl.p = parser{loc: fl.opts.Location, instance: fl.opts.Instance}
	if !ok {
		var off int64
		if fl.opts.Start == StartEnd {
			fi, err := cur.Stat()
			if err != nil {
				cur.Close()
				return fmt.Errorf("slowlog: %w", err)
			}
			off, fl.resync = fi.Size(), fi.Size() > 0
		}
		return fl.use(cur, off, "")
	}
	for _, r := range pos.Finished {
		fl.finished = append(fl.finished, fileID{dev: r.Dev, ino: r.Ino})
	}
	// The file the position names: the one at path, or a rotated one.
	id := fileID{dev: pos.Dev, ino: pos.Ino}
	old := cur
	if fi, err := cur.Stat(); err != nil {
		cur.Close()
		return fmt.Errorf("slowlog: %w", err)
	} else if got, _ := idOf(fi); got != id {
		old = nil
		if p, found := findByID(filepath.Dir(fl.path), id); found {
			if f, err := os.Open(p); err == nil {
				old = f
			}
		}
	}
	if old != nil {
		h, full, err := headHash(old, pos.HeadLen)
		var fi os.FileInfo
		if err == nil {
			fi, err = old.Stat()
		}
		if err != nil {
			cur.Close()
			if old != cur {
				old.Close()
			}
			return fmt.Errorf("slowlog: %w", err)
		}
		switch {
		case full && h == pos.HeadHash && fi.Size() >= pos.Offset:
			if old != cur {
				cur.Close() // the rotation check switches to it after old
			}
			return fl.use(old, pos.Offset, pos.DB)
		case old == cur:
			// Same inode, other content or shorter: truncated while we
			// were away. What was written after Offset before the
			// truncation is lost.
			fl.stats.Truncations++
			return fl.use(cur, 0, pos.DB)
		default:
			old.Close() // inode reused by another file
		}
	}
	fl.stats.LostFiles++
	return fl.use(cur, 0, "")
}

// use makes f the followed file, read from off.
func (fl *Follower) use(f *os.File, off int64, db string) error {
	fi, err := f.Stat()
	if err != nil {
		f.Close()
		return fmt.Errorf("slowlog: %w", err)
	}
	if _, err := f.Seek(off, io.SeekStart); err != nil {
		f.Close()
		return fmt.Errorf("slowlog: %w", err)
	}
	if fl.f != nil && fl.f != f {
		fl.f.Close()
	}
	fl.f = f
	fl.id, _ = idOf(fi)
	fl.size = fi.Size()
	fl.headN = 0
	if fl.sp == nil {
		fl.sp = newSplitter(f, off, fl.opts.ReadSize, fl.opts.MaxEntryBytes)
	} else {
		fl.sp.reset(f, off)
	}
	fl.p.db = db
	return fl.updateHead(off)
}

// updateHead extends the identifying hash of the file's first bytes to
// cover up to headLen bytes below off (bytes that were read, so stable).
func (fl *Follower) updateHead(off int64) error {
	n := min(off, headLen)
	if n <= fl.headN {
		return nil
	}
	h, full, err := headHash(fl.f, n)
	if err != nil {
		return fmt.Errorf("slowlog: %s: %w", fl.path, err)
	}
	if full {
		fl.head, fl.headN = h, n
	}
	return nil
}

// Stats returns the counters.
func (fl *Follower) Stats() FollowStats { return fl.stats }

// Instance returns the instance the events name.
func (fl *Follower) Instance() string { return fl.opts.Instance }

// Next returns the next batch: the entries available now (up to
// BatchSize), waiting up to MaxWait for one; with none it returns an empty
// batch. Items' SQL and Rejects' Raw are valid until the next call.
func (fl *Follower) Next(ctx context.Context) (*FollowBatch, error) {
	if fl.f == nil {
		return nil, errors.New("slowlog: follower closed")
	}
	if fl.switchTo != nil {
		if err := fl.doSwitch(); err != nil {
			return nil, err
		}
	}
	resetBatch(&fl.batch.Batch)
	fl.batch.ItemHashes = fl.batch.ItemHashes[:0]
	fl.batch.RejectHashes = fl.batch.RejectHashes[:0]
	fl.arena = fl.arena[:0]
	fl.batch.File = fl.position(fl.sp.offset())
	var timer *time.Timer
	defer func() {
		if timer != nil {
			timer.Stop()
		}
	}()
	deadline := time.Now().Add(fl.opts.MaxWait)
	for {
		if err := ctx.Err(); err != nil {
			return nil, err
		}
		if err := fl.checkTruncated(); err != nil {
			return nil, err
		}
		if fl.switchTo == nil {
			if err := fl.drain(false); err != nil {
				return nil, err
			}
		}
		if fl.records() == 0 && fl.switchTo == nil {
			if err := fl.poll(); err != nil {
				return nil, err
			}
		}
		if fl.records() > 0 || fl.switchTo != nil || !time.Now().Add(fl.opts.PollInterval).Before(deadline) {
			return fl.finishBatch()
		}
		if timer == nil {
			timer = time.NewTimer(fl.opts.PollInterval)
		} else {
			timer.Reset(fl.opts.PollInterval)
		}
		select {
		case <-ctx.Done():
			return nil, ctx.Err()
		case <-timer.C:
		}
	}
}

func (fl *Follower) records() int { return len(fl.batch.Items) + len(fl.batch.Rejects) }

func (fl *Follower) finishBatch() (*FollowBatch, error) {
	off := fl.sp.offset()
	if err := fl.updateHead(off); err != nil {
		return nil, err
	}
	fl.batch.NextOffset = off
	fl.batch.Position = fl.position(off)
	fl.stats.Entries += int64(fl.records())
	return &fl.batch, nil
}

func (fl *Follower) position(off int64) Position {
	pos := Position{Path: fl.path, Dev: fl.id.dev, Ino: fl.id.ino, Offset: off,
		DB: fl.p.db, HeadLen: fl.headN, HeadHash: fl.head}
	for _, id := range fl.finished {
		pos.Finished = append(pos.Finished, FileRef{Dev: id.dev, Ino: id.ino})
	}
	return pos
}

// drain appends the entries that are complete to the batch. With final,
// the input ends here: the open entry and a last line without a newline
// are handed out too.
func (fl *Follower) drain(final bool) error {
	for final || (fl.records() < fl.opts.BatchSize && len(fl.arena) < fl.opts.BatchBytes) {
		it, err := fl.sp.next(final)
		if errors.Is(err, errMore) || errors.Is(err, io.EOF) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("slowlog: %s: %w", fl.path, err)
		}
		if it.kind == itemHeader {
			fl.p.db = ""
			fl.resync = false
			continue
		}
		n, items := len(fl.batch.Rejects), len(fl.batch.Items)
		fl.arena = appendEntry(&fl.batch.Batch, fl.arena, &fl.p, it)
		if h := xxhash.Sum64(it.data); len(fl.batch.Items) > items {
			fl.batch.ItemHashes = append(fl.batch.ItemHashes, h)
		} else {
			fl.batch.RejectHashes = append(fl.batch.RejectHashes, h)
		}
		if fl.resync {
			fl.resync = false
			if len(fl.batch.Rejects) > n && fl.batch.Rejects[n].Reason == sources.ReasonMalformed {
				// The tail of an entry that was being written when
				// following started at the end.
				fl.batch.Rejects = fl.batch.Rejects[:n]
				fl.batch.RejectHashes = fl.batch.RejectHashes[:n]
				fl.stats.SkippedBytes += it.size
			}
		}
	}
	return nil
}

// successor returns the file to read after the current one once a rotation
// moved it away from the path: the oldest non-empty rotation sibling (the
// path itself, or PATH.N, PATH-SUFFIX, not compressed) modified no earlier
// than the current file. Usually that is the new file at the path; after
// several rotations while das was stopped it is the next rotated file, so
// none is skipped.
func (fl *Follower) successor(since time.Time) (string, bool) {
	st, err := os.Stat(fl.path)
	if err == nil {
		if id, ok := idOf(st); !ok || id == fl.id {
			return "", false // not rotated
		}
	}
	dir, base := filepath.Split(fl.path)
	if dir == "" {
		dir = "."
	}
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", false
	}
	var (
		best, bestName string
		bestTime       time.Time
		bestID         fileID
	)
	for _, e := range ents {
		name := e.Name()
		if name != base && !strings.HasPrefix(name, base+".") && !strings.HasPrefix(name, base+"-") {
			continue
		}
		switch filepath.Ext(name) {
		case ".gz", ".bz2", ".xz", ".zst", ".lz4", ".zip", ".tmp":
			continue
		}
		p := filepath.Join(dir, name)
		if p == filepath.Clean(fl.opts.PositionFile) || strings.HasPrefix(p, filepath.Clean(fl.opts.PositionFile)+".tmp") {
			continue
		}
		fi, err := os.Stat(p)
		if err != nil || !fi.Mode().IsRegular() || fi.Size() == 0 {
			continue
		}
		id, ok := idOf(fi)
		if !ok || id == fl.id {
			continue
		}
		if slices.Contains(fl.finished, id) {
			continue
		}
		mt := fi.ModTime()
		if mt.Before(since) {
			continue
		}
		// Oldest first; on a tie (coarse timestamps) a rotated file before
		// the path, then the lower inode number (usually the older file).
		if best == "" || mt.Before(bestTime) || (mt.Equal(bestTime) && (bestName == base || (name != base && id.ino < bestID.ino))) {
			best, bestName, bestTime, bestID = p, name, mt, id
		}
	}
	return best, best != ""
}

// checkTruncated looks for a truncation in place (copytruncate): the file
// is shorter than what was read, or its first bytes changed (truncated and
// written again in between). The entries read before are handed out and
// the file is read again from its start.
func (fl *Follower) checkTruncated() error {
	fi, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("slowlog: %s: %w", fl.path, err)
	}
	truncated := fi.Size() < fl.sp.readOffset()
	if !truncated && fl.headN > 0 {
		h, full, err := headHash(fl.f, fl.headN)
		if err != nil {
			return fmt.Errorf("slowlog: %s: %w", fl.path, err)
		}
		truncated = !full || h != fl.head
	}
	if !truncated {
		return nil
	}
	if err := fl.drainBuffered(); err != nil {
		return err
	}
	fl.stats.Truncations++
	fl.switchTo = fl.f // the same file, from its start
	return nil
}

// poll looks at the file when there is nothing to read: rotation, and an
// entry that is complete but not yet followed by another.
func (fl *Follower) poll() error {
	fi, err := fl.f.Stat()
	if err != nil {
		return fmt.Errorf("slowlog: %s: %w", fl.path, err)
	}
	size := fi.Size()
	grew := size != fl.size
	fl.size = size
	read := fl.sp.readOffset()

	// Rotated: a different file is at the path. Switch once the old file
	// has stopped growing, was read to its end, and the next one has data
	// (until the server reopens its log it keeps writing the old file).
	if !grew && read == size {
		if next, ok := fl.successor(fi.ModTime()); ok {
			if err := fl.drain(true); err != nil {
				return err
			}
			f, err := os.Open(next)
			if err != nil {
				return fmt.Errorf("slowlog: %w", err)
			}
			fl.stats.Rotations++
			fl.finished = append(fl.finished, fl.id)
			if len(fl.finished) > maxFinished {
				fl.finished = fl.finished[1:]
			}
			fl.switchTo = f
			return nil
		}
	}

	// Quiet: the last entry ended with ";" and nothing came after it
	// during a whole poll interval: the server wrote it whole.
	if !grew && read == size && fl.sp.flushable() {
		return fl.drainBuffered()
	}
	return nil
}

// drainBuffered hands out what has been read as if the input ended there,
// without reading more: after a truncation the bytes past the read offset
// are new content, and a quiet log may grow at any moment.
func (fl *Follower) drainBuffered() error {
	r := fl.sp.r
	fl.sp.r = eofReader{}
	defer func() { fl.sp.r = r }()
	return fl.drain(true)
}

type eofReader struct{}

func (eofReader) Read([]byte) (int, error) { return 0, io.EOF }

// doSwitch continues with the file a rotation or truncation found.
func (fl *Follower) doSwitch() error {
	f := fl.switchTo
	fl.switchTo = nil
	db := fl.p.db
	if f != fl.f {
		// A new file: the server reopened its log and starts with no
		// database. After copytruncate the server does not know, and
		// keeps its idea of the last database.
		db = ""
	}
	return fl.use(f, 0, db)
}

// Commit saves pos (a batch's Position, once the batch is delivered) to
// the position file, atomically.
func (fl *Follower) Commit(pos Position) error {
	return savePosition(fl.opts.PositionFile, pos)
}

// Close closes the files.
func (fl *Follower) Close() error {
	var err error
	if fl.switchTo != nil && fl.switchTo != fl.f {
		fl.switchTo.Close()
	}
	fl.switchTo = nil
	if fl.f != nil {
		err = fl.f.Close()
		fl.f = nil
	}
	return err
}
