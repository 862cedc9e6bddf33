package state

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"math"

	"github.com/cockroachdb/pebble"
	"github.com/cockroachdb/pebble/bloom"
	"github.com/cockroachdb/pebble/vfs"
)

// Key namespaces (the first byte of every key).
const (
	NSMeta    byte = 0x01
	NSPartial byte = 0x02
	NSFired   byte = 0x03
	NSDict    byte = 0x04
	NSDedup   byte = 0x05 // operators.Dedup: per-stream positions
)

// FormatVersion is the version of das's state layout. A store written by a
// different layout is refused with ErrFormat rather than misread.
const FormatVersion = 1

var (
	// ErrFormat is returned by Open for a store of an unknown layout version.
	ErrFormat = errors.New("state: incompatible state format")
	// ErrCorrupt is returned when a stored record cannot be decoded.
	ErrCorrupt = errors.New("state: corrupt record")
)

var (
	keyFormat     = []byte{NSMeta, 'f'}
	keyCheckpoint = []byte{NSMeta, 'c'}
)

// Combine merges two encoded values of one namespace: the result must equal
// the encoding of the union of both (associative and commutative). It may
// append to dst and must not retain older or newer.
type Combine func(dst, older, newer []byte) ([]byte, error)

// Options configures a Store. The zero value is usable.
type Options struct {
	// Combiners maps a namespace to the merge function for values written
	// with Batch.Merge in it. Default: none (Merge is then an error on read).
	Combiners map[byte]Combine
	// CacheSize is the block cache size in bytes. Default 32 MiB.
	CacheSize int64
	// MemTableSize is the size of one Pebble memtable. Default 32 MiB.
	MemTableSize uint64
	// FS overrides the filesystem (vfs.NewMem() in tests). Default: the OS.
	FS vfs.FS
	// NoSync skips the fsync of checkpoint commits. Default false: every
	// checkpoint is durable before Commit returns. Only for benchmarks of
	// the non-durable path; das run never sets it.
	NoSync bool
}

// Store is a Pebble database holding a job's keyed state.
type Store struct {
	db   *pebble.DB
	opts Options
}

// Open opens or creates the store in dir.
func Open(dir string, opts Options) (*Store, error) {
	if opts.CacheSize == 0 {
		opts.CacheSize = 32 << 20
	}
	if opts.MemTableSize == 0 {
		opts.MemTableSize = 32 << 20
	}
	cache := pebble.NewCache(opts.CacheSize)
	defer cache.Unref()
	popts := &pebble.Options{
		Cache:                       cache,
		MemTableSize:                opts.MemTableSize,
		MemTableStopWritesThreshold: 4,
		L0CompactionThreshold:       4,
		L0StopWritesThreshold:       24,
		MaxConcurrentCompactions:    func() int { return 1 },
		FS:                          opts.FS,
		Merger: &pebble.Merger{
			Name:  "das.state.v1",
			Merge: (&merger{combiners: opts.Combiners}).newValueMerger,
		},
		Logger: quietLogger{},
	}
	popts.Levels = make([]pebble.LevelOptions, 7)
	for i := range popts.Levels {
		l := &popts.Levels[i]
		l.BlockSize = 32 << 10
		l.FilterPolicy = bloom.FilterPolicy(10)
		l.Compression = pebble.SnappyCompression
	}
	db, err := pebble.Open(dir, popts)
	if err != nil {
		return nil, fmt.Errorf("state: open %s: %w", dir, err)
	}
	s := &Store{db: db, opts: opts}
	if err := s.checkFormat(); err != nil {
		db.Close()
		return nil, err
	}
	return s, nil
}

func (s *Store) checkFormat() error {
	v, closer, err := s.db.Get(keyFormat)
	if errors.Is(err, pebble.ErrNotFound) {
		return s.db.Set(keyFormat, binary.AppendUvarint(nil, FormatVersion), pebble.Sync)
	}
	if err != nil {
		return fmt.Errorf("state: read format: %w", err)
	}
	defer closer.Close()
	ver, n := binary.Uvarint(v)
	if n <= 0 || ver != FormatVersion {
		return fmt.Errorf("%w: store has version %d, this das reads version %d", ErrFormat, ver, FormatVersion)
	}
	return nil
}

// DB returns the underlying Pebble database for reads and iteration.
func (s *Store) DB() *pebble.DB { return s.db }

// NewBatch returns a write batch. Nothing in it is visible or durable until
// Commit.
func (s *Store) NewBatch() *pebble.Batch { return s.db.NewBatch() }

// Commit writes the checkpoint record into b and commits b atomically:
// either all of the batch's state and the checkpoint become durable, or none.
func (s *Store) Commit(b *pebble.Batch, cp *Checkpoint) error {
	if err := b.Set(keyCheckpoint, cp.Append(nil), nil); err != nil {
		return fmt.Errorf("state: stage checkpoint: %w", err)
	}
	wo := pebble.Sync
	if s.opts.NoSync {
		wo = pebble.NoSync
	}
	if err := b.Commit(wo); err != nil {
		return fmt.Errorf("state: commit checkpoint %d: %w", cp.Epoch, err)
	}
	return nil
}

// LoadCheckpoint returns the last committed checkpoint, or a zero
// Checkpoint (Epoch 0) for a new store.
func (s *Store) LoadCheckpoint() (*Checkpoint, error) {
	v, closer, err := s.db.Get(keyCheckpoint)
	if errors.Is(err, pebble.ErrNotFound) {
		return &Checkpoint{Watermark: math.MinInt64, FiredUpTo: math.MinInt64, PurgedUpTo: math.MinInt64}, nil
	}
	if err != nil {
		return nil, fmt.Errorf("state: read checkpoint: %w", err)
	}
	defer closer.Close()
	cp := &Checkpoint{}
	if err := cp.Decode(v); err != nil {
		return nil, err
	}
	return cp, nil
}

// SizeBytes returns the on-disk size of the store.
func (s *Store) SizeBytes() uint64 { return s.db.Metrics().DiskSpaceUsage() }

// Close closes the database. Uncommitted batches are lost, by design.
func (s *Store) Close() error {
	if err := s.db.Close(); err != nil {
		return fmt.Errorf("state: close: %w", err)
	}
	return nil
}

// merger adapts namespace Combine functions to Pebble's merge operator.
type merger struct{ combiners map[byte]Combine }

func (m *merger) newValueMerger(key, value []byte) (pebble.ValueMerger, error) {
	if len(key) == 0 {
		return nil, fmt.Errorf("state: merge on empty key")
	}
	c := m.combiners[key[0]]
	if c == nil {
		return nil, fmt.Errorf("state: no combiner for namespace %#x", key[0])
	}
	return &valueMerger{combine: c, cur: append([]byte(nil), value...)}, nil
}

type valueMerger struct {
	combine  Combine
	cur, tmp []byte
}

func (v *valueMerger) merge(older, newer []byte) error {
	out, err := v.combine(v.tmp[:0], older, newer)
	if err != nil {
		return err
	}
	v.tmp, v.cur = v.cur, out
	return nil
}

func (v *valueMerger) MergeNewer(value []byte) error { return v.merge(v.cur, value) }
func (v *valueMerger) MergeOlder(value []byte) error { return v.merge(value, v.cur) }
func (v *valueMerger) Finish(bool) ([]byte, io.Closer, error) {
	return v.cur, nil, nil
}

// quietLogger keeps Pebble's informational logs out of the user's terminal;
// library code does not print. Fatal errors still panic as Pebble expects.
type quietLogger struct{}

func (quietLogger) Infof(string, ...interface{})  {}
func (quietLogger) Errorf(string, ...interface{}) {}
func (quietLogger) Fatalf(format string, args ...interface{}) {
	panic(fmt.Sprintf("BUG: pebble fatal: "+format, args...))
}
