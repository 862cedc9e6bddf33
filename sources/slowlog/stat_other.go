//go:build !unix

package slowlog

import "os"

// idOf: without inode numbers a file is known by its size history only, so
// rotation by rename is seen as truncation or not at all. Following a log is
// supported on Unix systems.
func idOf(fi os.FileInfo) (fileID, bool) { return fileID{}, false }
