package agent

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"

	"github.com/das-project/das/sources/slowlog"
)

// slowlogPositionName is the follower's position file in the state
// directory.
const slowlogPositionName = "slowlog.position"

// SlowlogFollowInput follows a slow log as the server appends to it and
// rotates it (slowlog.Follower). It is not Replayable: the follower cannot
// be positioned at an arbitrary earlier offset, so every cut is written to
// the spool before it is produced. It is a Committer: the follower's
// position file (in the agent's state directory) is moved forward only to
// the end of cuts the spool holds, so a crash neither loses nor repeats an
// entry.
//
// A batch's stream is the followed file's dev:inode, so a rotated log is a
// new stream (and a new Src); after a truncation in place (copytruncate),
// which reuses the inode and restarts the offsets, the stream gets a
// "~N" suffix, N counting the truncations of that file seen by this run
// (stream names are not reused within a run; across runs a name may come
// back, which is harmless: cut numbers, hence Seqs, only grow).
type SlowlogFollowInput struct {
	path string
	opts slowlog.FollowOptions

	fl     *slowlog.Follower
	reopen bool // Commit was called before Open: re-read the position file
	opened bool
	closed bool

	// file, gen and end: the file of the last batch, its truncation
	// generation and the end of the last batch.
	file slowlog.FileRef
	gen  int
	end  int64

	// marks are the positions at the ends of the batches handed out and
	// not yet checkpointed, in order.
	marks []followMark
	batch Batch
}

type followMark struct {
	stream string
	pos    slowlog.Position
}

var (
	_ Input     = (*SlowlogFollowInput)(nil)
	_ Committer = (*SlowlogFollowInput)(nil)
)

// NewSlowlogFollowInput returns an input following the slow log at path,
// keeping its position in stateDir. opts.PositionFile is set from
// stateDir. The log must exist.
func NewSlowlogFollowInput(path, stateDir string, opts slowlog.FollowOptions) (*SlowlogFollowInput, error) {
	if stateDir == "" {
		return nil, fmt.Errorf("%w: following a slow log needs the state directory", ErrBadOptions)
	}
	if err := os.MkdirAll(stateDir, 0o755); err != nil {
		return nil, fmt.Errorf("agent: state dir: %w", err)
	}
	opts.PositionFile = filepath.Join(stateDir, slowlogPositionName)
	in := &SlowlogFollowInput{path: path, opts: opts}
	// Open the follower now: a missing log or a bad position file is
	// reported before the agent starts.
	fl, err := slowlog.NewFollower(path, opts)
	if err != nil {
		return nil, fmt.Errorf("agent: %w", err)
	}
	in.fl = fl
	return in, nil
}

// Kind implements Input: "slowlog".
func (in *SlowlogFollowInput) Kind() string { return "slowlog" }

// Replayable implements Input: false.
func (in *SlowlogFollowInput) Replayable() bool { return false }

// Open implements Input. pos is ignored: the follower resumes from its
// position file.
func (in *SlowlogFollowInput) Open(_ context.Context, _ Position) error {
	if in.opened {
		return errors.New("agent: slowlog follow input already open")
	}
	if in.closed {
		return errors.New("agent: slowlog follow input closed")
	}
	if in.reopen {
		in.fl.Close()
		fl, err := slowlog.NewFollower(in.path, in.opts)
		if err != nil {
			in.closed = true
			return fmt.Errorf("agent: %w", err)
		}
		in.fl = fl
		in.reopen = false
	}
	in.opened = true
	return nil
}

// Next implements Input: the entries available now, or an empty batch
// after the follower's MaxWait.
func (in *SlowlogFollowInput) Next(ctx context.Context) (*Batch, error) {
	if !in.opened || in.closed {
		return nil, errors.New("agent: slowlog follow input not open")
	}
	fb, err := in.fl.Next(ctx)
	if err != nil {
		return nil, err
	}
	if f := (slowlog.FileRef{Dev: fb.File.Dev, Ino: fb.File.Ino}); f != in.file {
		in.file, in.gen = f, 0
	} else if fb.File.Offset < in.end {
		in.gen++ // truncated in place: offsets start again
	}
	in.end = fb.Position.Offset
	stream := strconv.FormatUint(fb.File.Dev, 10) + ":" + strconv.FormatUint(fb.File.Ino, 10)
	if in.gen > 0 {
		stream += "~" + strconv.Itoa(in.gen)
	}
	b := &in.batch
	b.Stream = stream
	b.Events, b.Offsets, b.Rejects = fb.Items, fb.ItemOffsets, fb.Rejects
	if len(b.Offsets) != len(b.Events) {
		b.Offsets = nil
	}
	b.End = fb.Position.Offset
	if n := len(in.marks); n > 0 && in.marks[n-1].stream == stream && in.marks[n-1].pos.Offset == b.End {
		in.marks[n-1].pos = fb.Position // an idle poll: same place
	} else {
		in.marks = append(in.marks, followMark{stream: stream, pos: fb.Position})
	}
	return b, nil
}

// Checkpoint implements Committer: the follower position at the end of
// the batch that ended at p.
func (in *SlowlogFollowInput) Checkpoint(p Position) ([]byte, error) {
	for i := len(in.marks) - 1; i >= 0; i-- {
		m := &in.marks[i]
		if m.stream != p.Stream || m.pos.Offset != p.Offset {
			continue
		}
		data, err := json.Marshal(m.pos)
		if err != nil {
			return nil, fmt.Errorf("agent: slowlog position: %w", err)
		}
		in.marks = append(in.marks[:0], in.marks[i:]...)
		return data, nil
	}
	return nil, fmt.Errorf("BUG: agent: no slowlog batch ended at %s offset %d", p.Stream, p.Offset)
}

// Commit implements Committer: ckpt is saved to the position file.
func (in *SlowlogFollowInput) Commit(ckpt []byte) error {
	var pos slowlog.Position
	if err := json.Unmarshal(ckpt, &pos); err != nil {
		return fmt.Errorf("%w: slowlog checkpoint: %v", ErrCorruptState, err)
	}
	// The follower only writes its position file: valid after Close too
	// (the agent's last commit, after spilling at shutdown).
	if err := in.fl.Commit(pos); err != nil {
		return fmt.Errorf("agent: %w", err)
	}
	if !in.opened && !in.closed {
		in.reopen = true
	}
	return nil
}

// Stats returns the follower's counters (rotations, truncations, files
// lost while stopped).
func (in *SlowlogFollowInput) Stats() slowlog.FollowStats { return in.fl.Stats() }

// Close implements Input.
func (in *SlowlogFollowInput) Close() error {
	if in.closed {
		return nil
	}
	in.closed = true
	return in.fl.Close()
}
