//go:build linux || darwin || freebsd || netbsd || openbsd || dragonfly

package report

import (
	"os"
	"syscall"
	"unsafe"
)

// TerminalWidth returns the number of columns of the terminal f is, and
// false when f is not a terminal.
func TerminalWidth(f *os.File) (int, bool) {
	var ws struct{ row, col, x, y uint16 }
	_, _, errno := syscall.Syscall(syscall.SYS_IOCTL, f.Fd(), uintptr(syscall.TIOCGWINSZ), uintptr(unsafe.Pointer(&ws)))
	if errno != 0 || ws.col == 0 {
		return 0, false
	}
	return int(ws.col), true
}
