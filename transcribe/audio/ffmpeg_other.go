//go:build !linux

package audio

import (
	"bytes"
	"os/exec"
)

// memInput feeds ffmpeg through its stdin where no in-memory file exists:
// nothing touches the disk, but containers that need seeking (MP4 with the
// index at the end) cannot be read this way.
type memInput struct {
	data []byte
	path string
}

func ffmpegInput(data []byte) (*memInput, error) { return &memInput{data: data, path: "pipe:0"}, nil }

func (m *memInput) attach(cmd *exec.Cmd) { cmd.Stdin = bytes.NewReader(m.data) }

func (m *memInput) started() {}

func (m *memInput) close() {}
