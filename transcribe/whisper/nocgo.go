//go:build !cgo

package whisper

import (
	"errors"

	"github.com/earshot-dev/earshot/transcribe"
)

// Errors from Load and Run.
var (
	// ErrUnavailable: this binary was built without whisper.cpp.
	ErrUnavailable = errors.New("whisper: built without whisper.cpp (cgo disabled); build earshot with make")
	// ErrModel: the model file is missing, unreadable or not a whisper model.
	ErrModel = errors.New("whisper: cannot load model")
	// ErrFailed: whisper.cpp reported a failure while transcribing.
	ErrFailed = errors.New("whisper: transcription failed")
)

// LoadOptions are how a model is loaded.
type LoadOptions struct {
	GPU              bool
	NoFlashAttention bool
	Log              bool
}

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
