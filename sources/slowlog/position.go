package slowlog

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"

	"github.com/cespare/xxhash/v2"
)

// headLen is how many leading bytes of a log identify it beyond its inode:
// enough to hold its first entries, whose timestamps differ between files.
const headLen = 4096

// ErrBadPosition is returned by NewFollower for a position file that cannot
// be read (corrupt, or written by an incompatible version). Delete the file
// to start over; das never guesses a position.
var ErrBadPosition = errors.New("slowlog: bad position file")

// Position is where a Follower resumes: a file, named by its device and
// inode (a rename does not change them) and checked by a hash of its first
// bytes (an inode number can be reused), and a byte offset in it at an
// entry boundary.
type Position struct {
	// Path is where the file was when the position was taken.
	Path string `json:"path"`
	// Dev and Ino identify the file.
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
	// Offset is the byte offset of the first entry not yet handed out.
	Offset int64 `json:"offset"`
	// DB is the database the server last named in a "use" line before
	// Offset (see Source.Open): carried so a restart needs no backward scan.
	DB string `json:"db"`
	// HeadLen and HeadHash: xxhash64 of the file's first HeadLen bytes
	// (HeadLen = min(4096, Offset)).
	HeadLen  int64  `json:"head_len"`
	HeadHash uint64 `json:"head_hash"`
	// Finished are the latest files read to their end after a rotation:
	// never read again, whatever their modification times say.
	Finished []FileRef `json:"finished,omitempty"`
}

// FileRef names a file by device and inode.
type FileRef struct {
	Dev uint64 `json:"dev"`
	Ino uint64 `json:"ino"`
}

// positionFile is the JSON document of a position file.
type positionFile struct {
	Version  int      `json:"version"`
	Position Position `json:"position"`
}

const positionVersion = 1

// loadPosition reads a position file; ok is false when there is none.
func loadPosition(path string) (pos Position, ok bool, err error) {
	b, err := os.ReadFile(path)
	if errors.Is(err, os.ErrNotExist) {
		return Position{}, false, nil
	}
	if err != nil {
		return Position{}, false, fmt.Errorf("slowlog: position file: %w", err)
	}
	var pf positionFile
	if err := json.Unmarshal(b, &pf); err != nil {
		return Position{}, false, fmt.Errorf("%w: %s: %v", ErrBadPosition, path, err)
	}
	if pf.Version != positionVersion {
		return Position{}, false, fmt.Errorf("%w: %s: version %d, want %d", ErrBadPosition, path, pf.Version, positionVersion)
	}
	if pf.Position.Offset < 0 || pf.Position.HeadLen < 0 || pf.Position.HeadLen > headLen {
		return Position{}, false, fmt.Errorf("%w: %s: offset %d, head %d", ErrBadPosition, path, pf.Position.Offset, pf.Position.HeadLen)
	}
	return pf.Position, true, nil
}

// savePosition writes a position file atomically: a temporary file in the
// same directory, fsynced, renamed over the old one, and the directory
// fsynced, so a crash leaves either the old or the new position.
func savePosition(path string, pos Position) (err error) {
	b, err := json.Marshal(positionFile{Version: positionVersion, Position: pos})
	if err != nil {
		return err
	}
	dir := filepath.Dir(path)
	tmp, err := os.CreateTemp(dir, filepath.Base(path)+".tmp*")
	if err != nil {
		return fmt.Errorf("slowlog: position file: %w", err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	if _, err = tmp.Write(append(b, '\n')); err != nil {
		return fmt.Errorf("slowlog: position file: %w", err)
	}
	if err = tmp.Sync(); err != nil {
		return fmt.Errorf("slowlog: position file: %w", err)
	}
	if err = tmp.Close(); err != nil {
		return fmt.Errorf("slowlog: position file: %w", err)
	}
	if err = os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("slowlog: position file: %w", err)
	}
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("slowlog: position file: %w", err)
	}
	defer d.Close()
	if err = d.Sync(); err != nil {
		return fmt.Errorf("slowlog: position file: sync %s: %w", dir, err)
	}
	return nil
}

// fileID is a file's identity.
type fileID struct{ dev, ino uint64 }

// headHash hashes the first n bytes of r; ok is false when r is shorter.
func headHash(r io.ReaderAt, n int64) (uint64, bool, error) {
	if n == 0 {
		return 0, true, nil
	}
	buf := make([]byte, n)
	m, err := r.ReadAt(buf, 0)
	if int64(m) < n {
		if err == nil || err == io.EOF {
			return 0, false, nil
		}
		return 0, false, err
	}
	return xxhash.Sum64(buf), true, nil
}

// findByID looks in dir for a file with identity id (a log rotated by
// rename keeps its inode).
func findByID(dir string, id fileID) (string, bool) {
	ents, err := os.ReadDir(dir)
	if err != nil {
		return "", false
	}
	for _, e := range ents {
		if !e.Type().IsRegular() {
			continue
		}
		p := filepath.Join(dir, e.Name())
		fi, err := os.Stat(p)
		if err != nil {
			continue
		}
		if got, ok := idOf(fi); ok && got == id {
			return p, true
		}
	}
	return "", false
}
