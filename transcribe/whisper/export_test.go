//go:build cgo

package whisper

import "github.com/earshot-dev/earshot/transcribe"

// NativeSpeech exposes whisper.cpp's own region decision to the tests.
func NativeSpeech(v *SileroVAD, samples []float32, o transcribe.VADOptions) ([]transcribe.Speech, error) {
	return v.nativeSpeech(samples, o)
}

var ShortWindow = shortWindow
