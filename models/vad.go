package models

import (
	"fmt"
	"os"
	"path/filepath"

	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// VAD describes the Silero VAD model earshot uses to find speech. Its ONNX
// weights come from the npm package @ricky0123/vad-web@0.0.31 (fetched and
// integrity-checked by scripts/silero-vad.sh at build time) and earshot
// converts them to whisper.cpp's ggml VAD format into the cache directory,
// as ggml-silero-v5.bin, where the binary finds them offline. It is Silero
// v5, not v6: on jfk.wav v5's regions are within 100 ms of the recording's
// energy envelope and v6's are 110 ms off at one boundary (both find the
// same speech; earshot's tests run on both).
var VAD = Info{Name: "silero-v5", MiB: 1}

// VADPath is where the converted VAD model lives in the cache (whether or
// not it is there).
func (s *Store) VADPath() string { return filepath.Join(s.Dir, VAD.File()) }

// VADCached reports whether the VAD model is in the cache and whole.
func (s *Store) VADCached() bool {
	f, err := os.Open(s.VADPath())
	if err != nil {
		return false
	}
	defer f.Close()
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		return false
	}
	_, err = ggml.CheckVAD(f, st.Size())
	return err == nil
}

// InstallVAD converts Silero's ONNX file (silero_vad_v5.onnx) into the
// cache as the VAD model and returns its path. The file appears under its
// final name only once complete and checked.
func (s *Store) InstallVAD(onnxPath string) (string, error) {
	out := s.VADPath()
	if err := ggml.ConvertSileroFile(onnxPath, out, ggml.SileroVersion{Major: 5}); err != nil {
		return "", fmt.Errorf("models: install the VAD model: %w", err)
	}
	return out, nil
}
