package whisper

import "errors"

// Errors from Load and Run.
var (
	// ErrUnavailable: this binary was built without whisper.cpp (cgo disabled).
	ErrUnavailable = errors.New("whisper: built without whisper.cpp (cgo disabled); build earshot with make")
	// ErrModel: the model file is missing, unreadable or not a whisper model.
	ErrModel = errors.New("whisper: cannot load model")
	// ErrFailed: whisper.cpp reported a failure while transcribing.
	ErrFailed = errors.New("whisper: transcription failed")
)

// LoadOptions are how a model is loaded.
type LoadOptions struct {
	// GPU uses the GPU when whisper.cpp was built with one (make CUDA=1).
	GPU bool
	// NoFlashAttention turns off flash attention, which whisper.cpp (and
	// whisper-cli) use by default.
	NoFlashAttention bool
	// Log lets whisper.cpp print its own diagnostics on stderr.
	Log bool
}
