package audio

import (
	"fmt"
	"os"
	"os/exec"

	"golang.org/x/sys/unix"
)

// memInput is an anonymous in-memory file (memfd) holding the input. ffmpeg
// inherits it as fd 3 and opens /proc/self/fd/3, a seekable file that exists
// only in memory: MP4/M4A with the index at the end decodes, and no audio is
// written to disk.
type memInput struct {
	f    *os.File
	path string
}

func ffmpegInput(data []byte) (*memInput, error) {
	fd, err := unix.MemfdCreate("earshot-audio", unix.MFD_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("audio: creating an in-memory file: %w", err)
	}
	f := os.NewFile(uintptr(fd), "earshot-audio")
	if _, err := f.Write(data); err != nil {
		f.Close()
		return nil, fmt.Errorf("audio: writing the in-memory file: %w", err)
	}
	return &memInput{f: f, path: "/proc/self/fd/3"}, nil
}

func (m *memInput) attach(cmd *exec.Cmd) { cmd.ExtraFiles = []*os.File{m.f} }

// started releases the parent's copy once the child holds its own.
func (m *memInput) started() {}

func (m *memInput) close() { m.f.Close() }
