//go:build !cgo

package whisper

import "github.com/earshot-dev/earshot/transcribe"

// Model is unavailable without cgo.
type Model struct{}

// Load always fails without cgo.
func Load(path string, opts LoadOptions) (*Model, error) { return nil, ErrUnavailable }

// Info describes nothing.
func (m *Model) Info() transcribe.ModelInfo { return transcribe.ModelInfo{} }

// NewWorker always fails without cgo.
func (m *Model) NewWorker() (transcribe.Worker, error) { return nil, ErrUnavailable }

// Close does nothing.
func (m *Model) Close() error { return nil }
