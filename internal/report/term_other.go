//go:build !(linux || darwin || freebsd || netbsd || openbsd || dragonfly)

package report

import "os"

// TerminalWidth returns the number of columns of the terminal f is, and
// false when f is not a terminal. On this platform it always returns
// false: das report uses --width or $COLUMNS.
func TerminalWidth(f *os.File) (int, bool) { return 0, false }
