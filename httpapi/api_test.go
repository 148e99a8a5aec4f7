package httpapi_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/openai/openai-go/v3"
	"github.com/openai/openai-go/v3/option"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

// scripted serves the API on the scripted engine: HTTP behaviour without
// whisper.
func scripted(t *testing.T, e *pipelinetest.Engine, maxUpload int64) *fixture {
	t.Helper()
	return newServer(t, e, e, maxUpload, testAuth{})
}

// Every error case, over raw HTTP: status, OpenAI's envelope, the code and
// the parameter it names.
func TestErrors(t *testing.T) {
	f := scripted(t, &pipelinetest.Engine{}, 1<<20)
	jfk := testdata(t, "jfk.wav")
	big := append(bytes.Clone(jfk), make([]byte, 1<<20)...)
	ok := func(fields map[string]string) map[string]string {
		m := map[string]string{"model": "whisper-1"}
		for k, v := range fields {
			m[k] = v
		}
		return m
	}
	const (
		audioT = "/v1/audio/transcriptions"
		modes  = "/v1/transcriptions"
	)
	tests := []struct {
		name   string
		auth   string // "-" for none
		path   string
		file   []byte
		fields map[string]string
		raw    string // a non-multipart body
		status int
		code   string
		param  string
		says   string // a phrase the message must hold
	}{
		{"no key", "-", audioT, jfk, ok(nil), "", 401, "invalid_api_key", "", "didn't provide an API key"},
		{"no Bearer scheme", testKey, audioT, jfk, ok(nil), "", 401, "invalid_api_key", "", "no 'Bearer' scheme"},
		{"wrong scheme", "Basic " + testKey, audioT, jfk, ok(nil), "", 401, "invalid_api_key", "", "Bearer"},
		{"wrong key", "Bearer esk_nope", audioT, jfk, ok(nil), "", 401, "invalid_api_key", "", "EARSHOT_API_KEY"},
		{"models need a key", "-", "/v1/models", nil, nil, "", 401, "invalid_api_key", "", ""},
		{"unknown model", "", audioT, jfk, map[string]string{"model": "gpt-9"}, "", 404, "model_not_found", "model", "gpt-9"},
		{"no file", "", audioT, nil, ok(nil), "", 400, "invalid_value", "file", "'file'"},
		{"not multipart", "", audioT, nil, nil, `{"file":"x"}`, 400, "invalid_value", "", "multipart/form-data"},
		{"bad format", "", audioT, jfk, ok(map[string]string{"response_format": "xml"}), "", 400, "invalid_value", "response_format", "xml"},
		{"granularity without verbose", "", audioT, jfk, ok(map[string]string{"timestamp_granularities[]": "word"}), "", 400, "invalid_value", "timestamp_granularities[]", "verbose_json"},
		{"bad temperature", "", audioT, jfk, ok(map[string]string{"temperature": "3"}), "", 400, "invalid_value", "temperature", "between 0 and 1"},
		{"bad language", "", audioT, jfk, ok(map[string]string{"language": "zz"}), "", 400, "invalid_value", "language", "zz"},
		{"prompt with NUL", "", audioT, jfk, ok(map[string]string{"prompt": "a\x00b"}), "", 400, "invalid_value", "prompt", "NUL"},
		{"too large", "", audioT, big, ok(nil), "", 413, "file_too_large", "file", "--max-upload"},
		{"not audio", "", audioT, []byte("just some text, not audio"), ok(nil), "", 415, "unsupported_audio", "file", ""},
		{"png", "", audioT, []byte("\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR"), ok(nil), "", 415, "unsupported_audio", "file", ""},
		{"truncated wav", "", audioT, jfk[:30], ok(nil), "", 415, "invalid_audio", "file", ""},
		{"mode on the OpenAI route", "", audioT, jfk, ok(map[string]string{"mode": "agent"}), "", 400, "invalid_value", "mode", "/v1/transcriptions"},
		{"max_tokens on the OpenAI route", "", audioT, jfk, ok(map[string]string{"max_tokens": "50"}), "", 400, "invalid_value", "max_tokens", "/v1/transcriptions"},
		{"language on translations", "", "/v1/audio/translations", jfk, ok(map[string]string{"language": "de"}), "", 400, "invalid_value", "language", "English"},
		{"stream of srt", "", audioT, jfk, ok(map[string]string{"stream": "true", "response_format": "srt"}), "", 400, "invalid_value", "stream", "srt"},
		{"diarization", "", audioT, jfk, ok(map[string]string{"known_speaker_names[]": "ann"}), "", 400, "invalid_value", "known_speaker_names[]", "diarize"},
		{"logprobs of srt", "", audioT, jfk, ok(map[string]string{"include[]": "logprobs", "response_format": "srt"}), "", 400, "invalid_value", "include[]", "response_format=json"},
		{"include what", "", audioT, jfk, ok(map[string]string{"include[]": "everything"}), "", 400, "invalid_value", "include[]", "logprobs"},
		{"diarized_json", "", audioT, jfk, ok(map[string]string{"response_format": "diarized_json"}), "", 400, "invalid_value", "response_format", "diarize"},
		{"chunking without a VAD", "", audioT, jfk, ok(map[string]string{"chunking_strategy": "auto"}), "", 400, "invalid_value", "chunking_strategy", "voice activity detection"},
		{"bad candidate language", "", audioT, jfk, ok(map[string]string{"languages[]": "elvish"}), "", 400, "invalid_value", "languages[]", "elvish"},
		{"unknown field", "", audioT, jfk, ok(map[string]string{"colour": "blue"}), "", 400, "invalid_value", "colour", "takes file, model"},
		{"mode unknown", "", modes, jfk, ok(map[string]string{"mode": "poetry"}), "", 400, "invalid_value", "mode", "poetry"},
		{"response_format on modes", "", modes, jfk, ok(map[string]string{"response_format": "srt"}), "", 400, "invalid_value", "response_format", "/v1/audio/transcriptions"},
		{"budget too small", "", modes, jfk, ok(map[string]string{"mode": "agent", "max_tokens": "3"}), "", 400, "invalid_value", "max_tokens", "max_tokens"},
		{"bad max_tokens", "", modes, jfk, ok(map[string]string{"mode": "agent", "max_tokens": "-5"}), "", 400, "invalid_value", "max_tokens", "-5"},
		{"unknown encoding", "", modes, jfk, ok(map[string]string{"mode": "agent", "encoding": "gpt9"}), "", 400, "invalid_value", "encoding", "gpt9"},
		{"min_confidence out of range", "", modes, jfk, ok(map[string]string{"mode": "agent", "min_confidence": "2"}), "", 400, "invalid_value", "min_confidence", "between 0 and 1"},
		{"min_confidence on the OpenAI route", "", audioT, jfk, ok(map[string]string{"min_confidence": "0.7"}), "", 400, "invalid_value", "min_confidence", "/v1/transcriptions"},
		{"agent stream", "", modes, jfk, ok(map[string]string{"mode": "agent", "stream": "true"}), "", 400, "invalid_value", "stream", "mode=raw"},
		{"unknown route", "", "/v1/nope", nil, nil, "", 404, "unknown_url", "", "/v1/nope"},
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
			switch tt.auth {
			case "-":
			case "":
				req.Header.Set("Authorization", "Bearer "+f.key)
			default:
				req.Header.Set("Authorization", tt.auth)
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
			param := ""
			if e.Error.Param != nil {
				param = *e.Error.Param
			}
			if param != tt.param {
				t.Errorf("param = %q, want %q (%s)", param, tt.param, raw)
			}
			if !strings.Contains(e.Error.Message, tt.says) {
				t.Errorf("message %q does not say %q", e.Error.Message, tt.says)
			}
			if strings.Contains(e.Error.Message, "audio: ") || strings.Contains(e.Error.Message, "transcribe: ") || strings.Contains(e.Error.Message, "agentmode: ") {
				t.Errorf("message %q carries a package prefix", e.Error.Message)
			}
			if resp.Header.Get("X-Request-Id") == "" {
				t.Error("no x-request-id")
			}
			if tt.status == 401 && resp.Header.Get("WWW-Authenticate") == "" {
				t.Error("401 without WWW-Authenticate")
			}
		})
	}
}

func TestEngineErrors(t *testing.T) {
	for _, tc := range []struct {
		name       string
		err        error
		status     int
		code       string
		retryAfter string
	}{
		{"queue full", transcribe.ErrQueueFull, 429, "queue_full", "1"},
		{"engine closed", transcribe.ErrClosed, 503, "server_shutting_down", ""},
		{"whisper failed", errors.New("whisper: transcription failed: code -7"), 502, "engine_error", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := scripted(t, &pipelinetest.Engine{Fail: tc.err}, 0)
			resp := f.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), nil)
			defer resp.Body.Close()
			var e apiErr
			json.NewDecoder(resp.Body).Decode(&e)
			if resp.StatusCode != tc.status || e.Error.Code == nil || *e.Error.Code != tc.code || resp.Header.Get("Retry-After") != tc.retryAfter {
				t.Errorf("got %d %+v Retry-After %q; want %d %s %q", resp.StatusCode, e, resp.Header.Get("Retry-After"), tc.status, tc.code, tc.retryAfter)
			}
		})
	}
}

// A key store that is down is a 503 that says so, not a 401: the key may
// be right. The principal of a good key reaches the engine in the context.
func TestAuthenticator(t *testing.T) {
	e := &pipelinetest.Engine{}
	f := newServer(t, e, e, 0, testAuth{err: errors.New("connection refused")})
	resp := f.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), nil)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("key store down: %d, want 503", resp.StatusCode)
	}
	f = scripted(t, e, 0)
	resp = f.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), nil)
	resp.Body.Close()
	if p := e.Principals(); resp.StatusCode != 200 || len(p) != 1 || p[0].KeyID != "esk_test" {
		t.Errorf("status %d, principals %+v; want the key's principal", resp.StatusCode, p)
	}
	// Auth off: everyone is the anonymous principal.
	anon := newServer(t, e, e, 0, nil)
	anon.key = ""
	resp = anon.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), nil)
	resp.Body.Close()
	if p := e.Principals(); resp.StatusCode != 200 || !p[len(p)-1].Anonymous {
		t.Errorf("auth off: status %d, principal %+v", resp.StatusCode, p[len(p)-1])
	}
}

// syncBuffer is a log sink the server may write from its goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

// A stream that fails after its 200 sends the error as an event, and the
// log and /metrics count it with its real status.
func TestStreamFailureIsCounted(t *testing.T) {
	e := &pipelinetest.Engine{Text: "One. Two. Three.", Fail: errors.New("whisper: transcription failed"), FailAfter: 2}
	var logs syncBuffer
	pipe := pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}})
	api := httpapi.New(httpapi.Config{Pipeline: pipe, Stats: e, Logger: slog.New(slog.NewTextHandler(&logs, nil))})
	srv := httptest.NewServer(api)
	defer srv.Close()
	f := &fixture{url: srv.URL}
	resp := f.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), map[string]string{"stream": "true"})
	var events []string
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		if line, ok := strings.CutPrefix(sc.Text(), "data: "); ok {
			events = append(events, line)
		}
	}
	resp.Body.Close()
	if resp.StatusCode != 200 || len(events) != 3 || !strings.Contains(events[2], `"error"`) || !strings.Contains(events[2], "engine_error") {
		t.Fatalf("status %d, events %q; want two deltas and an error event", resp.StatusCode, events)
	}
	m, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(m.Body)
	m.Body.Close()
	if !strings.Contains(string(b), `earshot_http_requests_total{route="/v1/audio/transcriptions",status="502"} 1`) {
		t.Errorf("metrics do not count the failed stream as 502:\n%s", grep(string(b), "earshot_http_requests_total"))
	}
	if !strings.Contains(logs.String(), "status=502") {
		t.Errorf("the log does not show the failed stream's 502:\n%s", logs.String())
	}
}

func grep(s, sub string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if strings.Contains(l, sub) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// OpenAI's response formats come back as OpenAI shapes them.
func TestResponseFormats(t *testing.T) {
	f := scripted(t, &pipelinetest.Engine{}, 0)
	jfk := testdata(t, "jfk.wav")
	for _, tc := range []struct {
		format, contentType, starts string
	}{
		{"json", "application/json", `{"text":"Hello there. How are you?","usage":{"type":"duration","seconds":11}}`},
		{"text", "text/plain; charset=utf-8", "Hello there. How are you?\n"},
		{"srt", "text/plain; charset=utf-8", "1\n00:00:00,000 --> 00:00:05,500\nHello there.\n"},
		{"vtt", "text/plain; charset=utf-8", "WEBVTT\n\n00:00:00.000 --> 00:00:05.500\nHello there.\n"},
		{"verbose_json", "application/json; charset=utf-8", `{"task":"transcribe","language":"english","duration":11,`},
	} {
		resp := f.post(t, "/v1/audio/transcriptions", jfk, map[string]string{"response_format": tc.format})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 || resp.Header.Get("Content-Type") != tc.contentType || !strings.HasPrefix(string(b), tc.starts) {
			t.Errorf("%s: %d %q %q; want %q...", tc.format, resp.StatusCode, resp.Header.Get("Content-Type"), b, tc.starts)
		}
	}
}

func TestHealthAndDrain(t *testing.T) {
	f := scripted(t, &pipelinetest.Engine{}, 0)
	resp := f.post(t, "/v1/transcriptions", testdata(t, "jfk.wav"), nil)
	resp.Body.Close()
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
	f.pipe.Drain()
	for path, want := range map[string]int{"/readyz": 503} {
		r, err := http.Get(f.url + path)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("%s while draining: %d, want %d", path, r.StatusCode, want)
		}
	}
	resp = f.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), nil)
	resp.Body.Close()
	if resp.StatusCode != 503 {
		t.Errorf("transcription while draining: %d, want 503", resp.StatusCode)
	}
}

func TestModes(t *testing.T) {
	f := scripted(t, &pipelinetest.Engine{Text: "Um, book a table for two. And then call Dana."}, 0)
	for _, tc := range []struct {
		fields map[string]string
		check  func(t *testing.T, d map[string]any)
	}{
		{map[string]string{"mode": "raw"}, func(t *testing.T, d map[string]any) {
			if d["mode"] != "raw" || d["segments"] == nil {
				t.Errorf("raw: %v", d)
			}
		}},
		{map[string]string{"mode": "agent", "timestamp_granularities[]": "word"}, func(t *testing.T, d map[string]any) {
			intents, _ := d["intents"].([]any)
			if d["mode"] != "agent" || d["timestamps"] != "word" || len(intents) != 2 {
				t.Errorf("agent: %v", d)
				return
			}
			it := intents[0].(map[string]any)
			if it["start"] == nil || it["confidence"] == nil || it["words"] == nil {
				t.Errorf("intent lacks times, confidence or words: %v", it)
			}
		}},
		{map[string]string{"mode": "clean"}, func(t *testing.T, d map[string]any) {
			if d["mode"] != "clean" || d["paragraphs"] == nil || d["timestamps"] != "segment" {
				t.Errorf("clean: %v", d)
			}
		}},
	} {
		resp := f.post(t, "/v1/transcriptions", testdata(t, "jfk.wav"), tc.fields)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%v: %d %s", tc.fields, resp.StatusCode, body)
		}
		if err := agentmode.Validate(body); err != nil {
			t.Errorf("%v: the answer does not match agentmode's schema: %v", tc.fields, err)
		}
		var d map[string]any
		if err := json.Unmarshal(body, &d); err != nil {
			t.Fatal(err)
		}
		tc.check(t, d)
	}
}

// A truncated answer reads on, page by page, through GET
// /v1/transcriptions/{id}: every page within its budget, every intent once.
func TestPagingOverHTTP(t *testing.T) {
	var text strings.Builder
	for i := range 30 {
		fmt.Fprintf(&text, "Call number %d now. ", i)
	}
	f := scripted(t, &pipelinetest.Engine{Text: text.String()}, 0)
	resp := f.post(t, "/v1/transcriptions", testdata(t, "jfk.wav"), map[string]string{"mode": "agent", "max_tokens": "200"})
	var seen []string
	for range 50 {
		var page struct {
			TranscriptID string `json:"transcript_id"`
			Truncated    bool   `json:"truncated"`
			Next         string `json:"next"`
			Tokens       struct {
				Count int `json:"count"`
			} `json:"tokens"`
			Intents []struct {
				Text string `json:"text"`
			} `json:"intents"`
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != 200 {
			t.Fatalf("%d %s", resp.StatusCode, b)
		}
		if err := json.Unmarshal(b, &page); err != nil {
			t.Fatal(err)
		}
		if page.Tokens.Count > 200 || page.TranscriptID == "" {
			t.Fatalf("page of %d tokens, id %q", page.Tokens.Count, page.TranscriptID)
		}
		for _, it := range page.Intents {
			seen = append(seen, it.Text)
		}
		if !page.Truncated {
			break
		}
		u := f.url + "/v1/transcriptions/" + page.TranscriptID + "?mode=agent&max_tokens=200&cursor=" + url.QueryEscape(page.Next)
		req, _ := http.NewRequest("GET", u, nil)
		req.Header.Set("Authorization", "Bearer "+f.key)
		var err error
		if resp, err = http.DefaultClient.Do(req); err != nil {
			t.Fatal(err)
		}
	}
	if len(seen) != 30 || seen[0] != "Call number 0 now." || seen[29] != "Call number 29 now." {
		t.Errorf("read %d intents across pages: %q", len(seen), seen)
	}
	for path, want := range map[string]int{"/v1/transcriptions/tr_nope": 404, "/v1/transcriptions/tr_nope?colour=blue": 400} {
		req, _ := http.NewRequest("GET", f.url+path, nil)
		req.Header.Set("Authorization", "Bearer "+f.key)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		r.Body.Close()
		if r.StatusCode != want {
			t.Errorf("%s: %d, want %d", path, r.StatusCode, want)
		}
	}
}

// OpenAI's Go SDK sends the newer fields the way it sends them, and gets
// what the contract says: logprobs, the chosen language, or a 400 naming
// what earshot cannot do.
func TestOpenAISDKContract(t *testing.T) {
	e := &pipelinetest.Engine{}
	f := scripted(t, e, 0)
	client := openai.NewClient(option.WithBaseURL(f.url+"/v1/"), option.WithAPIKey(f.key), option.WithMaxRetries(0))
	ctx := t.Context()
	jfk := testdata(t, "jfk.wav")
	res, err := client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(jfk), "jfk.wav", "audio/wav"), Model: "gpt-4o-transcribe",
		Include:   []openai.TranscriptionInclude{openai.TranscriptionIncludeLogprobs},
		Languages: []string{"de", "en-GB"}, Keywords: []string{"Dana", "earshot"},
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(res.Logprobs) != 5 || res.Logprobs[0].Token != " Hello" || len(res.Logprobs[0].Bytes) != 6 || len(res.Languages) != 1 {
		t.Errorf("logprobs %+v, languages %+v", res.Logprobs, res.Languages)
	}
	if last := e.Last().Options; !slices.Equal(last.Languages, []string{"de", "en"}) || !slices.Equal(last.Keywords, []string{"Dana", "earshot"}) {
		t.Errorf("the engine was asked for languages %q, keywords %q", last.Languages, last.Keywords)
	}
	_, err = client.Audio.Transcriptions.New(ctx, openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(jfk), "jfk.wav", "audio/wav"), Model: "whisper-1",
		KnownSpeakerNames: []string{"agent", "customer"},
	})
	var apiErr *openai.Error
	if !errors.As(err, &apiErr) || apiErr.StatusCode != 400 || apiErr.Param != "known_speaker_names[]" {
		t.Errorf("known_speaker_names: %v", err)
	}
}

// Over HTTP: silence answers "" without whisper; OpenAI's SDK sends
// chunking_strategy as a form object and gets the audio cut at pauses;
// vad=false lets whisper hear everything.
func TestSpeechAwareOverHTTP(t *testing.T) {
	e := &pipelinetest.Engine{}
	pipe := pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}, VAD: transcribe.EnergyVAD{}, Auth: testAuth{}})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pipeline: pipe, Stats: e}))
	defer srv.Close()
	f := &fixture{url: srv.URL, key: testKey}
	resp := f.post(t, "/v1/audio/transcriptions", testdata(t, "silence-noise-1.5s.wav"), nil)
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), `{"text":""`) || e.Calls() != 0 {
		t.Errorf("silence: %d %s, %d engine calls", resp.StatusCode, b, e.Calls())
	}
	client := openai.NewClient(option.WithBaseURL(f.url+"/v1/"), option.WithAPIKey(f.key), option.WithMaxRetries(0))
	res, err := client.Audio.Transcriptions.New(t.Context(), openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(testdata(t, "jfk.wav")), "jfk.wav", "audio/wav"), Model: "whisper-1",
		ChunkingStrategy: openai.AudioTranscriptionNewParamsChunkingStrategyUnion{OfAudioTranscriptionNewsChunkingStrategyVadConfig: &openai.AudioTranscriptionNewParamsChunkingStrategyVadConfig{
			Type: "server_vad", SilenceDurationMs: openai.Int(300), Threshold: openai.Float(0.5)}},
	})
	if err != nil || res.Text == "" || e.Calls() != 1 {
		t.Errorf("server_vad chunking: %v %q, %d calls", err, res.Text, e.Calls())
	}
	for _, tc := range []struct {
		fields map[string]string
		status int
	}{
		{map[string]string{"chunking_strategy": "auto"}, 200},
		{map[string]string{"chunking_strategy": `{"type":"server_vad","threshold":0.3}`}, 200},
		{map[string]string{"chunking_strategy": `{"type":"client_vad"}`}, 400},
		{map[string]string{"chunking_strategy": "sometimes"}, 400},
		{map[string]string{"chunking_strategy[threshold]": "0.4"}, 400},
		{map[string]string{"chunking_strategy[type]": "server_vad", "chunking_strategy[colour]": "blue"}, 400},
		{map[string]string{"vad": "maybe"}, 400},
	} {
		resp := f.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), tc.fields)
		resp.Body.Close()
		if resp.StatusCode != tc.status {
			t.Errorf("%v: %d, want %d", tc.fields, resp.StatusCode, tc.status)
		}
	}
	before := e.Calls()
	resp = f.post(t, "/v1/audio/transcriptions", testdata(t, "silence-noise-1.5s.wav"), map[string]string{"vad": "false"})
	resp.Body.Close()
	if resp.StatusCode != 200 || e.Calls() != before+1 {
		t.Errorf("vad=false on silence: %d, whisper ran %d times", resp.StatusCode, e.Calls()-before)
	}
}

// scriptedModels are downloaded models, each its own scripted engine;
// "broken" fails to load.
type scriptedModels map[string]*pipelinetest.Engine

func (m scriptedModels) Available() []string {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	slices.Sort(names)
	return names
}

func (m scriptedModels) Engine(_ context.Context, name string) (pipeline.Engine, func(), error) {
	if name == "broken" {
		return nil, nil, errors.New("not a whisper model")
	}
	return m[name], func() {}, nil
}

// A request may name a downloaded model: /v1/models lists them, the
// request runs on that model's engine, and one that fails to load answers
// a clear 503 without disturbing the others.
func TestModelsOnDemand(t *testing.T) {
	def := &pipelinetest.Engine{}
	models := scriptedModels{"small.en": {Text: "From small."}, "broken": {}}
	pipe := pipeline.New(pipeline.Config{Engine: def, Decoder: audio.Decoder{}, Models: models, Auth: testAuth{}})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pipeline: pipe, Stats: def, ModelName: "base"}))
	defer srv.Close()
	f := &fixture{url: srv.URL, key: testKey}
	client := openai.NewClient(option.WithBaseURL(f.url+"/v1/"), option.WithAPIKey(f.key), option.WithMaxRetries(0))
	list, err := client.Models.List(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, m := range list.Data {
		ids = append(ids, m.ID)
	}
	if !slices.Contains(ids, "small.en") || !slices.Contains(ids, "base") || !slices.Contains(ids, "whisper-1") {
		t.Errorf("models %v", ids)
	}
	res, err := client.Audio.Transcriptions.New(t.Context(), openai.AudioTranscriptionNewParams{
		File: openai.File(bytes.NewReader(testdata(t, "jfk.wav")), "jfk.wav", "audio/wav"), Model: "small.en"})
	if err != nil || res.Text != "From small." || def.Calls() != 0 {
		t.Errorf("small.en: %v %q, default engine calls %d", err, res.Text, def.Calls())
	}
	for _, tc := range []struct {
		model  string
		status int
		says   string
	}{
		{"broken", 503, "could not be loaded"},
		{"large-v9", 404, "small.en"},
		{"/etc/passwd", 404, "does not exist"},
		{"whisper-1", 200, ""},
	} {
		resp := f.post(t, "/v1/audio/transcriptions", testdata(t, "jfk.wav"), map[string]string{"model": tc.model})
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != tc.status || !strings.Contains(string(b), tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.model, resp.StatusCode, b, tc.status, tc.says)
		}
	}
	if def.Calls() != 1 {
		t.Errorf("whisper-1 ran on the default model %d times, want 1", def.Calls())
	}
}

// Browsers cannot set headers on a WebSocket: OpenAI's Realtime clients
// send the key as the subprotocol "openai-insecure-api-key.KEY".
func TestSubprotocolKey(t *testing.T) {
	f := newServer(t, &pipelinetest.Engine{}, nil, 0, testAuth{})
	for _, tc := range []struct {
		name, protocols string
		want            int
	}{
		{"key in the subprotocols", "realtime, openai-insecure-api-key." + f.key, http.StatusOK},
		{"wrong key", "realtime, openai-insecure-api-key.nope", http.StatusUnauthorized},
		{"no key", "realtime", http.StatusUnauthorized},
	} {
		req, _ := http.NewRequest("GET", f.url+"/v1/models", nil)
		req.Header.Set("Sec-WebSocket-Protocol", tc.protocols)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, res.StatusCode, tc.want)
		}
	}
}
