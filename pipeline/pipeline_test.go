package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

func jfk(t *testing.T) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "audio", "jfk.wav"))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func newPipeline(t *testing.T, e pipeline.Engine, auth pipeline.Authenticator) *pipeline.Pipeline {
	t.Helper()
	f, err := agentmode.New()
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}, Formatter: f, Transcripts: transcripts.New(0, 0), Auth: auth})
}

// Every sentinel of the core gets its kind, parameter and code, and a
// message without package prefixes.
func TestClassify(t *testing.T) {
	opt := (&transcribe.Options{Temperature: 2}).Validate()
	_, modeErr := agentmode.ParseMode("poetry")
	tests := []struct {
		err   error
		kind  pipeline.Kind
		param string
		code  string
		says  string
	}{
		{fmt.Errorf("%w: the data is not audio", audio.ErrUnsupported), pipeline.UnsupportedMedia, "file", "unsupported_audio", "The audio could not be read: the data is not audio."},
		{fmt.Errorf("%w: flac: bad header", audio.ErrCorrupt), pipeline.UnsupportedMedia, "file", "invalid_audio", "The audio could not be decoded: flac: bad header."},
		{audio.ErrEmpty, pipeline.UnsupportedMedia, "file", "invalid_audio", "The audio holds no sound: no samples."},
		{fmt.Errorf("%w: ffmpeg was stopped (signal: killed) while decoding the ogg", audio.ErrDecoderFailed), pipeline.EngineFailed, "", "decoder_failed", "The audio decoder failed: ffmpeg was stopped (signal: killed) while decoding the ogg."},
		{fmt.Errorf("%w: 5h is longer than the limit of 4h", audio.ErrTooLong), pipeline.TooLarge, "file", "audio_too_long", "5h is longer"},
		{fmt.Errorf("%w: 2 GB", audio.ErrTooLarge), pipeline.TooLarge, "file", "file_too_large", "2 GB"},
		{opt, pipeline.Invalid, "temperature", "invalid_value", "Temperature 2 is outside 0..1."},
		{modeErr, pipeline.Invalid, "mode", "invalid_value", `Mode "poetry" is not one of raw, clean, agent.`},
		{fmt.Errorf("%w: 3 tokens", agentmode.ErrBudget), pipeline.Invalid, "max_tokens", "invalid_value", "larger max_tokens"},
		{fmt.Errorf("%w: sample 3 is NaN", transcribe.ErrInvalidAudio), pipeline.Invalid, "file", "invalid_audio", "sample 3 is NaN"},
		{transcribe.ErrQueueFull, pipeline.RateLimited, "", "queue_full", "Retry-After"},
		{transcribe.ErrClosed, pipeline.Unavailable, "", "server_shutting_down", "shutting down"},
		{context.Canceled, pipeline.Cancelled, "", "request_canceled", "cancelled"},
		{fmt.Errorf("waiting: %w", context.DeadlineExceeded), pipeline.Cancelled, "", "request_timeout", "deadline"},
		{errors.New("whisper: transcription failed"), pipeline.EngineFailed, "", "engine_error", "engine failed"},
		{pipeline.InvalidParam("x", "X is bad."), pipeline.Invalid, "x", "invalid_value", "X is bad."},
	}
	for _, tt := range tests {
		e := pipeline.Classify(tt.err)
		if e.Kind != tt.kind || e.Param != tt.param || e.Code != tt.code || !strings.Contains(e.Message, tt.says) {
			t.Errorf("Classify(%v) = %v %q %q %q; want %v %q %q, saying %q", tt.err, e.Kind, e.Param, e.Code, e.Message, tt.kind, tt.param, tt.code, tt.says)
		}
		for _, p := range []string{"audio: ", "transcribe: ", "agentmode: "} {
			if strings.Contains(e.Message, p) {
				t.Errorf("Classify(%v).Message = %q carries %q", tt.err, e.Message, p)
			}
		}
		if !errors.Is(e, tt.err) && tt.kind != pipeline.Invalid {
			t.Errorf("Classify(%v) lost its cause", tt.err)
		}
	}
	if e := pipeline.Classify(transcribe.ErrQueueFull); e.RetryAfter != pipeline.DefaultRetryAfter {
		t.Errorf("queue full: Retry-After %v", e.RetryAfter)
	}
}

func TestTranscribe(t *testing.T) {
	e := &pipelinetest.Engine{Text: "Book a table. And call Dana."}
	p := newPipeline(t, e, nil)
	ctx := context.Background()

	// A bad option is refused before the audio is decoded or whisper runs.
	_, err := p.Transcribe(ctx, pipeline.Request{Audio: []byte("not audio"), Options: transcribe.Options{Language: "klingon"}})
	if pe := pipeline.Classify(err); pe.Param != "language" || e.Calls() != 0 {
		t.Errorf("bad language: %v (param %q), engine calls %d", err, pe.Param, e.Calls())
	}
	// A decoding error names the file, once.
	_, err = p.Transcribe(ctx, pipeline.Request{Audio: []byte("not audio at all"), Name: "notes.txt"})
	if pe := pipeline.Classify(err); pe.Kind != pipeline.UnsupportedMedia || !strings.HasPrefix(pe.Message, "notes.txt: The audio could not be read") {
		t.Errorf("not audio: %v %q", pe.Kind, pe.Message)
	}

	var progress []pipeline.Progress
	var segments int
	agent := agentmode.Options{Mode: agentmode.Agent}
	res, err := p.Transcribe(ctx, pipeline.Request{
		Audio: jfk(t), Name: "jfk.wav", Format: &agent, Keep: true,
		OnProgress: func(pr pipeline.Progress) { progress = append(progress, pr) },
		OnSegment:  func(transcribe.Segment) error { segments++; return nil },
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.TranscriptID == "" || res.Output == nil || res.Result.Duration != 11 || segments != 2 {
		t.Errorf("response %+v, %d segments", res, segments)
	}
	if !strings.Contains(string(res.Output.JSON), res.TranscriptID) {
		t.Errorf("the output does not name its transcript %s", res.TranscriptID)
	}
	for i := 1; i < len(progress); i++ {
		if progress[i].Percent < progress[i-1].Percent {
			t.Errorf("progress went back: %+v", progress)
		}
	}
	if len(progress) < 4 || progress[0].Stage != pipeline.Decoding || progress[len(progress)-1].Stage != pipeline.Formatting {
		t.Errorf("progress %+v", progress)
	}

	// The stored transcript reads again in another mode.
	out, err := p.Reformat(res.TranscriptID, agentmode.Options{Mode: agentmode.Raw})
	if err != nil || !strings.Contains(string(out.JSON), `"mode":"raw"`) {
		t.Errorf("reformat: %v", err)
	}
	if _, err := p.Reformat("tr_nope", agentmode.Options{}); pipeline.Classify(err).Kind != pipeline.NotFound {
		t.Errorf("unknown transcript: %v", err)
	}

	// An error from a segment callback stops the request and comes back.
	stop := errors.New("client gone")
	if _, err := p.Transcribe(ctx, pipeline.Request{Audio: jfk(t), OnSegment: func(transcribe.Segment) error { return stop }}); !errors.Is(err, stop) {
		t.Errorf("callback error: %v", err)
	}

	if err := p.Admit(); err != nil {
		t.Errorf("admit: %v", err)
	}
	p.Drain()
	if err := p.Admit(); pipeline.Classify(err).Kind != pipeline.Unavailable {
		t.Errorf("draining: %v", err)
	}
}

type auth struct{ err error }

func (a auth) Authenticate(_ context.Context, key string) (pipeline.Principal, error) {
	if a.err != nil {
		return pipeline.Principal{}, a.err
	}
	if key != "good" {
		return pipeline.Principal{}, pipeline.ErrBadKey
	}
	return pipeline.Principal{KeyID: "k1", Scopes: []string{"transcribe"}}, nil
}

func TestAuthenticate(t *testing.T) {
	ctx := context.Background()
	tests := []struct {
		name string
		auth pipeline.Authenticator
		key  string
		kind pipeline.Kind // -1: accepted
		who  string
	}{
		{"auth off", nil, "", -1, ""},
		{"no key", auth{}, "", pipeline.Unauthenticated, ""},
		{"bad key", auth{}, "bad", pipeline.Unauthenticated, ""},
		{"good key", auth{}, "good", -1, "k1"},
		{"store down", auth{errors.New("dial tcp: connection refused")}, "good", pipeline.Unavailable, ""},
	}
	for _, tt := range tests {
		p := newPipeline(t, &pipelinetest.Engine{}, tt.auth)
		got, err := p.Authenticate(ctx, tt.key)
		if tt.kind >= 0 {
			if pipeline.Classify(err).Kind != tt.kind {
				t.Errorf("%s: err %v, want %v", tt.name, err, tt.kind)
			}
			continue
		}
		who, ok := pipeline.FromContext(got)
		if err != nil || !ok || who.KeyID != tt.who || (tt.auth == nil) != who.Anonymous {
			t.Errorf("%s: %+v %v %v", tt.name, who, ok, err)
		}
		if !who.Can("transcribe") || (tt.auth != nil && who.Can("admin")) {
			t.Errorf("%s: scopes %+v", tt.name, who)
		}
	}
}

func TestLoopback(t *testing.T) {
	for host, want := range map[string]bool{
		"127.0.0.1:8080": true, "localhost": true, "LOCALHOST:80": true, "[::1]:8080": true, "::1": true, "127.1.2.3": true,
		"0.0.0.0:8080": false, "example.com": false, "192.168.1.2:80": false, "localhost.evil.example": false, "": false,
	} {
		if got := pipeline.Loopback(host); got != want {
			t.Errorf("Loopback(%q) = %v, want %v", host, got, want)
		}
	}
}
