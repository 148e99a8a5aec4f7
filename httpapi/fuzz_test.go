package httpapi_test

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

// FuzzRequest: any body with any content type gets a response with a status
// the API documents, never a panic (a 500 would mean one was recovered).
func FuzzRequest(f *testing.F) {
	jfk := testdata(f, "jfk.wav")[:4000]
	body, ct := multipartBody(f, jfk, map[string]string{"model": "whisper-1", "response_format": "verbose_json", "timestamp_granularities[]": "word", "stream": "true"})
	f.Add(body, ct, "/v1/audio/transcriptions")
	body, ct = multipartBody(f, jfk, map[string]string{"mode": "raw", "language": "de", "temperature": "0.3"})
	f.Add(body, ct, "/v1/transcriptions")
	f.Add([]byte("--x\r\nContent-Disposition: form-data; name=\"file\"\r\n\r\nRIFF\r\n--x--"), "multipart/form-data; boundary=x", "/v1/audio/translations")
	formatter, err := agentmode.New()
	if err != nil {
		f.Fatal(err)
	}
	// The scripted engine answers at once, so the fuzzer spends its time in
	// request parsing and audio decoding, the code that reads outside bytes.
	e := &pipelinetest.Engine{}
	pipe := pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}, Formatter: formatter})
	api := httpapi.New(httpapi.Config{Pipeline: pipe, Stats: e, MaxUpload: 1 << 16})
	f.Fuzz(func(t *testing.T, body []byte, contentType, path string) {
		req := httptest.NewRequest(http.MethodPost, "/v1/transcriptions", bytes.NewReader(body))
		if path == "/v1/audio/transcriptions" || path == "/v1/audio/translations" {
			req.URL.Path = path
		}
		req.Host = "127.0.0.1:8080" // auth is off: only loopback Hosts are answered
		req.Header.Set("Content-Type", contentType)
		w := httptest.NewRecorder()
		api.ServeHTTP(w, req)
		switch w.Code {
		case 200, 400, 404, 413, 415:
		default:
			t.Fatalf("status %d for %q: %s", w.Code, contentType, w.Body.String())
		}
	})
}
