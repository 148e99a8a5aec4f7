package main

import (
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/transcribe/vadtest"
)

// make build runs `earshot models vad --onnx FILE`; afterwards the binary
// finds the model in $EARSHOT_HOME/models and lists it.
func TestModelsVAD(t *testing.T) {
	env := map[string]string{"EARSHOT_HOME": t.TempDir()}
	want := filepath.Join(env["EARSHOT_HOME"], "models", "ggml-silero-v5.bin")
	if _, _, err := run(t, env, "", "models", "vad"); err == nil || !strings.Contains(err.Error(), "make build") {
		t.Errorf("models vad before install: %v, want an error naming make build", err)
	}
	if out, _, _ := run(t, env, "", "models", "list"); !strings.Contains(out, "silero-v5 (VAD)") || !strings.Contains(out, "no (make build") {
		t.Errorf("models list before install:\n%s", out)
	}
	out, _, err := run(t, env, "", "models", "vad", "--onnx", vadtest.SileroONNX(t, "v5"))
	if err != nil || strings.TrimSpace(out) != want {
		t.Fatalf("models vad --onnx: %q, %v; want %s", out, err, want)
	}
	if out, _, err := run(t, env, "", "models", "vad"); err != nil || strings.TrimSpace(out) != want {
		t.Errorf("models vad: %q, %v", out, err)
	}
	out, _, _ = run(t, env, "", "models", "list")
	line := out[strings.Index(out, "silero-v5 (VAD)"):]
	if !strings.HasSuffix(strings.TrimSpace(strings.SplitN(line, "\n", 2)[0]), "yes") {
		t.Errorf("models list after install: %q", line)
	}
	if _, _, err := run(t, env, "", "models", "vad", "--onnx", filepath.Join(t.TempDir(), "missing.onnx")); err == nil {
		t.Error("models vad --onnx of a missing file succeeded")
	}
}
