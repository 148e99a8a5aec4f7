//go:build !cgo

package whisper

import (
	"context"

	"github.com/earshot-dev/earshot/transcribe"
)

// SileroVAD is unavailable without cgo; use transcribe.EnergyVAD.
type SileroVAD struct{}

// VADLoadOptions say how the Silero VAD runs.
type VADLoadOptions struct {
	Threads, Contexts int
	GPU, Log          bool
}

// LoadVAD always fails without cgo.
func LoadVAD(path string, opts VADLoadOptions) (*SileroVAD, error) { return nil, ErrUnavailable }

// Name is "silero".
func (v *SileroVAD) Name() string { return "silero" }

// Detect always fails without cgo.
func (v *SileroVAD) Detect(ctx context.Context, samples []float32, o transcribe.VADOptions) ([]transcribe.Speech, error) {
	return nil, ErrUnavailable
}

// Probabilities always fails without cgo.
func (v *SileroVAD) Probabilities(ctx context.Context, samples []float32) ([]float32, error) {
	return nil, ErrUnavailable
}

// Close does nothing.
func (v *SileroVAD) Close() error { return nil }
