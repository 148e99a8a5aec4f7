//go:build unix

package mcp

import (
	"os"
	"strconv"
	"syscall"
)

// openNoFollow opens a file for reading without following a symlink in its
// last element and without blocking on a FIFO.
func openNoFollow(path string) (*os.File, error) {
	return os.OpenFile(path, os.O_RDONLY|syscall.O_NOFOLLOW|syscall.O_NONBLOCK, 0)
}

// openedPath is the real path of an open file, where the system says it
// (Linux: /proc/self/fd).
func openedPath(f *os.File) (string, bool) {
	p, err := os.Readlink("/proc/self/fd/" + strconv.Itoa(int(f.Fd())))
	return p, err == nil
}
