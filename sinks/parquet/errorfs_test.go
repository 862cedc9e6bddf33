package parquet

import (
	"errors"
	"path/filepath"
	"sync"
)

// errInjected is the error errorFS returns for an injected fault.
var errInjected = errors.New("injected fault")

// errorFS wraps the OS file system and fails the operations fail selects.
// Operations: create, write, sync, close, rename, remove, list, syncdir.
type errorFS struct {
	osFS
	mu   sync.Mutex
	fail func(op, name string) bool
	ops  []string // every operation, as "op name"
}

func (e *errorFS) check(op, name string) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.ops = append(e.ops, op+" "+filepath.Base(name))
	if e.fail != nil && e.fail(op, filepath.Base(name)) {
		return errInjected
	}
	return nil
}

func (e *errorFS) setFail(f func(op, name string) bool) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.fail = f
}

func (e *errorFS) Create(name string) (wfile, error) {
	if err := e.check("create", name); err != nil {
		return nil, err
	}
	f, err := e.osFS.Create(name)
	if err != nil {
		return nil, err
	}
	return &errorFile{wfile: f, fs: e, name: name}, nil
}

func (e *errorFS) Rename(o, n string) error {
	if err := e.check("rename", o); err != nil {
		return err
	}
	return e.osFS.Rename(o, n)
}

func (e *errorFS) Remove(name string) error {
	if err := e.check("remove", name); err != nil {
		return err
	}
	return e.osFS.Remove(name)
}

func (e *errorFS) List(dir string) ([]string, error) {
	if err := e.check("list", dir); err != nil {
		return nil, err
	}
	return e.osFS.List(dir)
}

func (e *errorFS) SyncDir(dir string) error {
	if err := e.check("syncdir", dir); err != nil {
		return err
	}
	return e.osFS.SyncDir(dir)
}

type errorFile struct {
	wfile
	fs   *errorFS
	name string
}

func (f *errorFile) Write(p []byte) (int, error) {
	if err := f.fs.check("write", f.name); err != nil {
		return 0, err
	}
	return f.wfile.Write(p)
}

func (f *errorFile) Sync() error {
	if err := f.fs.check("sync", f.name); err != nil {
		return err
	}
	return f.wfile.Sync()
}

func (f *errorFile) Close() error {
	err := f.wfile.Close() // the descriptor is released either way
	if ierr := f.fs.check("close", f.name); ierr != nil {
		return ierr
	}
	return err
}
