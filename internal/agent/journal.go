package agent

import (
	"bytes"
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"hash/crc32"
	"math"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"sync"

	"github.com/das-project/das/internal/fsutil"
)

// ErrCorruptState: a state file (journal, spool segment) that is not what
// the agent wrote, other than a torn last journal line.
var ErrCorruptState = errors.New("agent: corrupt state")

// ErrStateInUse: another agent holds the state directory.
var ErrStateInUse = errors.New("agent: state directory in use")

const (
	journalName    = "journal"
	journalCompact = 1 << 20 // rewrite the journal past this size
)

var castagnoli = crc32.MakeTable(crc32.Castagnoli)

// entry is one journal line.
//
//	cut   the intent of cut K: input range [From, To) of Stream, the
//	      statements and records it holds, the configuration that built it
//	done  cut K was acknowledged by Kafka (compaction adds the Ckpt of a
//	      settled cut above the settled prefix)
//	drop  cut K was dropped (spool full) or lost (could not be re-read)
//	pos   written by compaction: the last cut number and its end position,
//	      and (PK, Ckpt) the last cut of the settled prefix with its
//	      Committer checkpoint
type entry struct {
	T          string `json:"t"`
	K          int64  `json:"k"`
	Stream     string `json:"stream,omitempty"`
	From       int64  `json:"from,omitempty"`
	To         int64  `json:"to,omitempty"`
	Statements int64  `json:"statements,omitempty"`
	Records    int    `json:"records,omitempty"`
	Config     string `json:"config,omitempty"`
	// Ckpt is the resume state of a Committer input just after To (a
	// followed slow log's position): after a restart the input resumes at
	// the Ckpt of the last cut the spool holds.
	Ckpt string `json:"ckpt,omitempty"`
	// PK (pos entries only) is the cut whose Ckpt this is.
	PK int64 `json:"pk,omitempty"`
}

// journal is the agent's durable record of cuts: intents are fsynced before
// a cut is produced; done and drop marks are appended without waiting for
// the disk (losing one only makes a restart send a cut again, which the
// engine drops as a duplicate). Safe for concurrent use.
type journal struct {
	dir    string
	noSync bool

	mu struct {
		sync.Mutex
		f       *os.File
		size    int64
		lastK   int64
		last    Position // end of the last cut (or the pos entry)
		pending map[int64]entry
		// settled holds the Ckpt of settled (done or dropped) cuts of a
		// Committer input: all above the first pending cut, and the
		// highest below it, the end of the settled prefix (settledPrefix).
		settled map[int64]string
		buf     []byte
		frozen  bool // tests: a crash was injected; writes are ignored
	}
}

// openJournal reads the journal in dir (creating it if absent). It returns
// the journal, ready to append, and the pending cut intents in k order.
func openJournal(dir string, noSync bool) (*journal, []entry, error) {
	j := &journal{dir: dir, noSync: noSync}
	j.mu.pending = map[int64]entry{}
	j.mu.settled = map[int64]string{}
	path := filepath.Join(dir, journalName)
	data, err := os.ReadFile(path)
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return nil, nil, fmt.Errorf("agent: journal: %w", err)
	}
	valid := 0
	for off := 0; off < len(data); {
		nl := bytes.IndexByte(data[off:], '\n')
		if nl < 0 {
			break // torn last line: the append it belonged to never completed
		}
		line := data[off : off+nl]
		e, err := parseEntry(line)
		if err != nil {
			if off+nl+1 == len(data) {
				break // a torn last line can end in a newline of a later page
			}
			return nil, nil, fmt.Errorf("%w: %s at byte %d: %v", ErrCorruptState, path, off, err)
		}
		j.apply(e)
		off += nl + 1
		valid = off
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE, 0o644)
	if err != nil {
		return nil, nil, fmt.Errorf("agent: journal: %w", err)
	}
	if err := f.Truncate(int64(valid)); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("agent: journal: %w", err)
	}
	if _, err := f.Seek(int64(valid), 0); err != nil {
		f.Close()
		return nil, nil, fmt.Errorf("agent: journal: %w", err)
	}
	j.mu.f, j.mu.size = f, int64(valid)
	return j, j.pendingLocked(), nil
}

func parseEntry(line []byte) (entry, error) {
	var e entry
	if len(line) < 10 || line[8] != ' ' {
		return e, errors.New("short line")
	}
	sum, err := strconv.ParseUint(string(line[:8]), 16, 32)
	if err != nil {
		return e, err
	}
	if crc32.Checksum(line[9:], castagnoli) != uint32(sum) {
		return e, errors.New("checksum mismatch")
	}
	if err := json.Unmarshal(line[9:], &e); err != nil {
		return e, err
	}
	switch e.T {
	case "cut", "done", "drop", "pos":
	default:
		return e, fmt.Errorf("unknown entry type %q", e.T)
	}
	return e, nil
}

// apply updates the in-memory view with e. Caller holds mu (or owns j).
func (j *journal) apply(e entry) {
	switch e.T {
	case "cut":
		j.mu.pending[e.K] = e
		if e.K >= j.mu.lastK {
			j.mu.lastK = e.K
			j.mu.last = Position{Stream: e.Stream, Offset: e.To}
		}
	case "done", "drop":
		if p, ok := j.mu.pending[e.K]; ok && p.Ckpt != "" {
			j.mu.settled[e.K] = p.Ckpt
		} else if e.Ckpt != "" {
			j.mu.settled[e.K] = e.Ckpt // rewritten by compaction
		}
		delete(j.mu.pending, e.K)
	case "pos":
		j.mu.lastK = max(j.mu.lastK, e.K)
		j.mu.last = Position{Stream: e.Stream, Offset: e.To}
		if e.Ckpt != "" {
			j.mu.settled[e.PK] = e.Ckpt
		}
	}
}

// settledPrefix returns the last cut before the first pending one whose
// Committer checkpoint is known, and that checkpoint ("" if none). The
// input's committed position can lag it: a crash can come after Kafka
// acknowledged a cut and before the agent committed the input position
// (fpCommit); a restart then commits this checkpoint, so that the input
// does not read acknowledged statements again under new keys.
func (j *journal) settledPrefix() (int64, string) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.prefixLocked()
}

func (j *journal) prefixLocked() (int64, string) {
	first := int64(math.MaxInt64)
	for k := range j.mu.pending {
		first = min(first, k)
	}
	best, ck := int64(-1), ""
	for k, c := range j.mu.settled {
		if k < first && k > best {
			best, ck = k, c
		}
	}
	return best, ck
}

func (j *journal) pendingLocked() []entry {
	out := make([]entry, 0, len(j.mu.pending))
	for _, e := range j.mu.pending {
		out = append(out, e)
	}
	slices.SortFunc(out, func(a, b entry) int { return cmp.Compare(a.K, b.K) })
	return out
}

// last returns the highest cut number recorded and the input position
// after it.
func (j *journal) last() (int64, Position) {
	j.mu.Lock()
	defer j.mu.Unlock()
	return j.mu.lastK, j.mu.last
}

// append writes entries; with sync it waits for the disk.
func (j *journal) append(sync bool, es ...entry) error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.frozen {
		return nil
	}
	if j.mu.f == nil {
		return errors.New("agent: journal closed")
	}
	j.mu.buf = j.mu.buf[:0]
	for _, e := range es {
		j.mu.buf = appendEntry(j.mu.buf, e)
		j.apply(e)
	}
	n, err := j.mu.f.Write(j.mu.buf)
	j.mu.size += int64(n)
	if err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	if sync && !j.noSync {
		if err := j.mu.f.Sync(); err != nil {
			return fmt.Errorf("agent: journal: %w", err)
		}
	}
	if j.mu.size > journalCompact {
		return j.compactLocked()
	}
	return nil
}

func appendEntry(dst []byte, e entry) []byte {
	js, err := json.Marshal(e)
	if err != nil {
		panic("BUG: agent: journal entry does not marshal: " + err.Error())
	}
	dst = fmt.Appendf(dst, "%08x ", crc32.Checksum(js, castagnoli))
	dst = append(dst, js...)
	return append(dst, '\n')
}

// compactLocked rewrites the journal as a pos entry and the pending cuts.
func (j *journal) compactLocked() error {
	pk, pc := j.prefixLocked()
	for k := range j.mu.settled {
		if k < pk {
			delete(j.mu.settled, k)
		}
	}
	var buf []byte
	buf = appendEntry(buf, entry{T: "pos", K: j.mu.lastK, Stream: j.mu.last.Stream, To: j.mu.last.Offset, PK: max(pk, 0), Ckpt: pc})
	// Settled cuts above the prefix (acknowledged out of order) are kept
	// as done marks carrying their checkpoints.
	var above []entry
	for _, e := range j.pendingLocked() {
		buf = appendEntry(buf, e)
	}
	for k, c := range j.mu.settled {
		if k > pk {
			above = append(above, entry{T: "done", K: k, Ckpt: c})
		}
	}
	slices.SortFunc(above, func(a, b entry) int { return cmp.Compare(a.K, b.K) })
	for _, e := range above {
		buf = appendEntry(buf, e)
	}
	path := filepath.Join(j.dir, journalName)
	if err := writeFileSync(path, buf, j.noSync); err != nil {
		return fmt.Errorf("agent: journal compaction: %w", err)
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return fmt.Errorf("agent: journal: %w", err)
	}
	j.mu.f.Close()
	j.mu.f, j.mu.size = f, int64(len(buf))
	return nil
}

// freeze makes the journal ignore every later write (an injected crash).
func (j *journal) freeze() {
	j.mu.Lock()
	j.mu.frozen = true
	j.mu.Unlock()
}

// sync flushes appended marks to disk.
func (j *journal) sync() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.f == nil || j.noSync {
		return nil
	}
	return j.mu.f.Sync()
}

func (j *journal) close() error {
	j.mu.Lock()
	defer j.mu.Unlock()
	if j.mu.f == nil {
		return nil
	}
	err := j.mu.f.Sync()
	if cerr := j.mu.f.Close(); err == nil {
		err = cerr
	}
	j.mu.f = nil
	return err
}

// writeFileSync writes data to path atomically: a temporary file, fsync,
// rename, fsync of the directory.
func writeFileSync(path string, data []byte, noSync bool) (err error) {
	tmp := path + ".tmp"
	f, err := os.OpenFile(tmp, os.O_WRONLY|os.O_CREATE|os.O_TRUNC, 0o644)
	if err != nil {
		return err
	}
	defer func() {
		if err != nil {
			os.Remove(tmp)
		}
	}()
	if _, err = f.Write(data); err != nil {
		f.Close()
		return err
	}
	if !noSync {
		if err = f.Sync(); err != nil {
			f.Close()
			return err
		}
	}
	if err = f.Close(); err != nil {
		return err
	}
	if err = os.Rename(tmp, path); err != nil {
		return err
	}
	if noSync {
		return nil
	}
	return fsutil.SyncDir(filepath.Dir(path))
}
