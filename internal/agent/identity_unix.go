//go:build unix

package agent

import (
	"os"
	"strconv"
	"syscall"
)

// fileIdentity names a file independently of its path: device and inode,
// so a log rotated by rename is recognised as a new stream.
func fileIdentity(fi os.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return strconv.FormatUint(uint64(st.Dev), 10) + ":" + strconv.FormatUint(uint64(st.Ino), 10)
	}
	return fallbackIdentity(fi)
}
