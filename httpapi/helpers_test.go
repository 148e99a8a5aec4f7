package httpapi_test

import (
	"bytes"
	"context"
	"encoding/binary"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

const testKey = "esk_test-key"

// testAuth knows one key; err, when set, is what a key store that is down
// answers.
type testAuth struct{ err error }

func (a testAuth) Authenticate(_ context.Context, key string) (pipeline.Principal, error) {
	if a.err != nil {
		return pipeline.Principal{}, a.err
	}
	if key != testKey {
		return pipeline.Principal{}, pipeline.ErrBadKey
	}
	return pipeline.Principal{KeyID: "esk_test", Name: "test"}, nil
}

type fixture struct {
	url  string
	key  string
	api  *httpapi.Server
	pipe *pipeline.Pipeline
}

// newServer serves the API over engine (the scripted one, or whisper) with
// auth on, behind a real HTTP server.
func newServer(t testing.TB, engine pipeline.Engine, stats httpapi.Stats, maxUpload int64, auth pipeline.Authenticator) *fixture {
	t.Helper()
	formatter, err := agentmode.New()
	if err != nil {
		t.Fatal(err)
	}
	pipe := pipeline.New(pipeline.Config{
		Engine:      engine,
		Decoder:     audio.Decoder{FFmpeg: audio.LookFFmpeg()},
		Formatter:   formatter,
		Transcripts: transcripts.New(0, 0),
		Auth:        auth,
	})
	api := httpapi.New(httpapi.Config{Pipeline: pipe, Stats: stats, MaxUpload: maxUpload, ModelName: "synthetic-test"})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL, key: testKey, api: api, pipe: pipe}
}

// post posts file with fields to path, with the fixture's key.
func (f *fixture) post(t testing.TB, path string, file []byte, fields map[string]string) *http.Response {
	t.Helper()
	body, ct := multipartBody(t, file, fields)
	req, _ := http.NewRequest("POST", f.url+path, bytes.NewReader(body))
	req.Header.Set("Content-Type", ct)
	req.Header.Set("Authorization", "Bearer "+f.key)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	return resp
}

func testdata(t testing.TB, name string) []byte {
	t.Helper()
	b, err := os.ReadFile(filepath.Join("..", "testdata", "audio", name))
	if err != nil {
		t.Fatal(err)
	}
	return b
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
