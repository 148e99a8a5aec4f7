package models_test

import (
	"os"
	"path/filepath"
	"testing"

	"github.com/earshot-dev/earshot/models"
	"github.com/earshot-dev/earshot/transcribe/vadtest"
)

func TestInstallVAD(t *testing.T) {
	s := &models.Store{Dir: filepath.Join(t.TempDir(), "models")}
	if s.VADCached() {
		t.Fatal("an empty cache has the VAD model")
	}
	bad := filepath.Join(t.TempDir(), "bad.onnx")
	if err := os.WriteFile(bad, []byte("not onnx"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := s.InstallVAD(bad); err == nil {
		t.Fatal("installed a VAD model from a file that is not ONNX")
	}
	if _, err := os.Stat(s.VADPath()); !os.IsNotExist(err) {
		t.Errorf("a failed install left %s (%v)", s.VADPath(), err)
	}
	if _, err := os.Stat(s.VADPath() + ".partial"); !os.IsNotExist(err) {
		t.Errorf("a failed install left its partial file (%v)", err)
	}
	p, err := s.InstallVAD(vadtest.SileroONNX(t, "v5"))
	if err != nil || p != s.VADPath() || !s.VADCached() {
		t.Fatalf("InstallVAD = %q, %v; cached %v", p, err, s.VADCached())
	}
	// A damaged file is not taken for the model.
	b, err := os.ReadFile(p)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(p, b[:len(b)-10], 0o644); err != nil {
		t.Fatal(err)
	}
	if s.VADCached() {
		t.Error("a truncated VAD model counts as cached")
	}
}
