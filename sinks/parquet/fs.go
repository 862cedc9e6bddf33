package parquet

import (
	"errors"
	"io"
	"os"
	"path/filepath"

	"github.com/das-project/das/internal/fsutil"
)

// fsys is the file system the writer and the compactor use. It exists so
// that tests can inject faults (a failing fsync, rename or write) into the
// commit protocol; production code always uses osFS.
type fsys interface {
	// Create creates a new file for writing; it fails if name exists.
	Create(name string) (wfile, error)
	Rename(oldname, newname string) error
	Remove(name string) error
	// Exists reports whether name exists.
	Exists(name string) (bool, error)
	// List returns the names of the entries of dir.
	List(dir string) ([]string, error)
	// SyncDir makes the directory's entries (creations, renames, removals)
	// durable.
	SyncDir(dir string) error
}

type wfile interface {
	io.Writer
	Sync() error
	Close() error
}

type osFS struct{}

func (osFS) Create(name string) (wfile, error) {
	return os.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o644)
}

func (osFS) Rename(oldname, newname string) error { return os.Rename(oldname, newname) }

func (osFS) Remove(name string) error { return os.Remove(name) }

func (osFS) Exists(name string) (bool, error) {
	_, err := os.Lstat(name)
	if err == nil {
		return true, nil
	}
	if errors.Is(err, os.ErrNotExist) {
		return false, nil
	}
	return false, err
}

func (osFS) List(dir string) ([]string, error) {
	entries, err := os.ReadDir(dir)
	if err != nil {
		return nil, err
	}
	names := make([]string, len(entries))
	for i, e := range entries {
		names[i] = e.Name()
	}
	return names, nil
}

func (osFS) SyncDir(dir string) error { return fsutil.SyncDir(filepath.Clean(dir)) }
