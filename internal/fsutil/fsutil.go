// Package fsutil holds the file-system steps that durability needs in
// several packages.
package fsutil

import "os"

// SyncDir fsyncs directory dir, making the renames, creations and removals
// of entries in it durable.
func SyncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return err
	}
	err = d.Sync()
	if cerr := d.Close(); err == nil {
		err = cerr
	}
	return err
}
