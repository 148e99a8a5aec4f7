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
// as ggml-silero-v6.bin, where the binary finds them offline.
var VAD = Info{Name: "silero-v6", MiB: 1}

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

// InstallVAD converts Silero's ONNX file (silero_vad_v6.onnx) into the
// cache as the VAD model and returns its path. The file appears under its
// final name only once complete and checked.
func (s *Store) InstallVAD(onnxPath string) (string, error) {
	out := s.VADPath()
	if err := ggml.ConvertSileroFile(onnxPath, out, ggml.SileroVersion{Major: 6}); err != nil {
		return "", fmt.Errorf("models: install the VAD model: %w", err)
	}
	return out, nil
}
