package httpapi_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/jobs/jobstest"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"

	"net/http/httptest"
)

// newJobsServer serves the API with async jobs on the test PostgreSQL,
// one replica with two workers.
func newJobsServer(t *testing.T, engine *pipelinetest.Engine) *fixture {
	t.Helper()
	db := jobstest.NewDB(t)
	formatter, err := agentmode.New()
	if err != nil {
		t.Fatal(err)
	}
	pipe := pipeline.New(pipeline.Config{Engine: engine, Decoder: audio.Decoder{}, Formatter: formatter,
		Transcripts: transcripts.New(0, 0), Auth: testAuth{}, VAD: transcribe.EnergyVAD{}})
	svc := jobstest.Start(t, db.Config(t, pipe, 2))
	api := httpapi.New(httpapi.Config{Pipeline: pipe, Stats: engine, ModelName: "synthetic-test", Jobs: svc})
	srv := httptest.NewServer(api)
	t.Cleanup(srv.Close)
	return &fixture{url: srv.URL, key: testKey, api: api, pipe: pipe}
}

func (f *fixture) do(t *testing.T, method, path string, hdr map[string]string, body []byte, ct string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest(method, f.url+path, bytes.NewReader(body))
	req.Header.Set("Authorization", "Bearer "+f.key)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, b
}

type jobJSON struct {
	ID       string          `json:"id"`
	Object   string          `json:"object"`
	Status   string          `json:"status"`
	Progress float64         `json:"progress"`
	Pieces   int             `json:"pieces"`
	Result   json.RawMessage `json:"result"`
	Error    *struct {
		Message string `json:"message"`
		Code    string `json:"code"`
	} `json:"error"`
}

func (f *fixture) waitJob(t *testing.T, id, query string) jobJSON {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		resp, b := f.do(t, "GET", "/v1/jobs/"+id+query, nil, nil, "")
		var j jobJSON
		if err := json.Unmarshal(b, &j); err != nil || resp.StatusCode != 200 {
			t.Fatalf("GET job: %d %s", resp.StatusCode, b)
		}
		if j.Status != "queued" && j.Status != "running" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", j.Status)
		}
	}
}

// Submit, replay, poll, read the result in several formats, list.
func TestJobsRoutes(t *testing.T) {
	f := newJobsServer(t, &pipelinetest.Engine{Text: "Hello there. How are you?"})
	wav := jobstest.WAV(jobstest.Speech(70, 4, 1))
	body, ct := multipartBody(t, wav, map[string]string{"mode": "raw"})
	resp, b := f.do(t, "POST", "/v1/jobs", map[string]string{"Idempotency-Key": "meeting-7"}, body, ct)
	var j jobJSON
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &j) != nil || j.Status != "queued" || j.Object != "transcription.job" {
		t.Fatalf("POST /v1/jobs: %d %s", resp.StatusCode, b)
	}
	if loc := resp.Header.Get("Location"); loc != "/v1/jobs/"+j.ID {
		t.Errorf("Location %q", loc)
	}
	resp, b = f.do(t, "POST", "/v1/jobs", map[string]string{"Idempotency-Key": "meeting-7"}, body, ct)
	var again jobJSON
	if resp.StatusCode != http.StatusOK || json.Unmarshal(b, &again) != nil || again.ID != j.ID || resp.Header.Get("Idempotent-Replayed") != "true" {
		t.Errorf("replay: %d %s", resp.StatusCode, b)
	}
	done := f.waitJob(t, j.ID, "")
	var out struct {
		Mode     string `json:"mode"`
		Text     string `json:"text"`
		Segments []any  `json:"segments"`
	}
	if done.Status != "succeeded" || done.Progress != 100 || json.Unmarshal(done.Result, &out) != nil || out.Mode != "raw" ||
		!strings.Contains(out.Text, "Hello there.") || len(out.Segments) != 2*done.Pieces {
		t.Fatalf("done job: %+v, result %s", done, done.Result)
	}
	// /metrics has the job, read from the database.
	resp, b = f.do(t, "GET", "/metrics", nil, nil, "")
	if resp.StatusCode != 200 || !strings.Contains(string(b), `earshot_jobs{status="succeeded"} 1`+"\n") ||
		!strings.Contains(string(b), "earshot_job_pieces_total ") || !strings.Contains(string(b), "earshot_jobs_oldest_queued_seconds 0\n") {
		t.Errorf("/metrics after a job: %d\n%s", resp.StatusCode, grep(string(b), "earshot_job"))
	}
	srt := f.waitJob(t, j.ID, "?response_format=srt")
	var s string
	if json.Unmarshal(srt.Result, &s) != nil || !strings.HasPrefix(s, "1\n00:00:") {
		t.Errorf("srt result: %s", srt.Result)
	}
	resp, b = f.do(t, "GET", "/v1/jobs/"+j.ID+"/result?response_format=vtt", nil, nil, "")
	if resp.StatusCode != 200 || !strings.HasPrefix(string(b), "WEBVTT") {
		t.Errorf("vtt result: %d %s %s", resp.StatusCode, resp.Header.Get("Content-Type"), b)
	}
	resp, b = f.do(t, "GET", "/v1/jobs/"+j.ID+"/result", nil, nil, "")
	if resp.StatusCode != 200 || !bytes.Equal(b, done.Result) {
		t.Errorf("result: %d %s, want %s", resp.StatusCode, b, done.Result)
	}
	resp, b = f.do(t, "GET", "/v1/jobs?limit=5", nil, nil, "")
	var list struct {
		Object  string    `json:"object"`
		Data    []jobJSON `json:"data"`
		HasMore bool      `json:"has_more"`
	}
	if resp.StatusCode != 200 || json.Unmarshal(b, &list) != nil || len(list.Data) != 1 || list.Data[0].ID != j.ID || list.HasMore {
		t.Errorf("list: %d %s", resp.StatusCode, b)
	}
	// A transcript as /v1/audio/transcriptions shapes it.
	body, ct = multipartBody(t, wav, map[string]string{"response_format": "verbose_json", "timestamp_granularities[]": "word"})
	resp, b = f.do(t, "POST", "/v1/jobs", nil, body, ct)
	if resp.StatusCode != http.StatusAccepted || json.Unmarshal(b, &j) != nil {
		t.Fatalf("POST verbose_json: %d %s", resp.StatusCode, b)
	}
	var verbose struct {
		Task  string `json:"task"`
		Words []any  `json:"words"`
	}
	if v := f.waitJob(t, j.ID, ""); json.Unmarshal(v.Result, &verbose) != nil || verbose.Task != "transcribe" || len(verbose.Words) == 0 {
		t.Errorf("verbose_json result: %s", v.Result)
	}
}

// Bad requests are refused before anything is stored.
func TestJobsRefused(t *testing.T) {
	f := newJobsServer(t, &pipelinetest.Engine{})
	wav := jobstest.WAV(jobstest.Speech(5, 2, 1))
	for _, tc := range []struct {
		name   string
		fields map[string]string
		hdr    map[string]string
		status int
		param  string
	}{
		{"webhook not a URL", map[string]string{"webhook_url": "ftp://x"}, nil, 400, "webhook_url"},
		{"stream", map[string]string{"stream": "true"}, nil, 400, "stream"},
		{"bad key", nil, map[string]string{"Idempotency-Key": "has space"}, 400, "Idempotency-Key"},
		{"unknown mode", map[string]string{"mode": "poetry"}, nil, 400, "mode"},
	} {
		body, ct := multipartBody(t, wav, tc.fields)
		resp, b := f.do(t, "POST", "/v1/jobs", tc.hdr, body, ct)
		var e apiErr
		if resp.StatusCode != tc.status || json.Unmarshal(b, &e) != nil || e.Error.Param == nil || *e.Error.Param != tc.param {
			t.Errorf("%s: %d %s, want %d about %s", tc.name, resp.StatusCode, b, tc.status, tc.param)
		}
	}
	if resp, b := f.do(t, "GET", "/v1/jobs/job_nope", nil, nil, ""); resp.StatusCode != 404 || !strings.Contains(string(b), "job_not_found") {
		t.Errorf("unknown job: %d %s", resp.StatusCode, b)
	}
	f.key = "wrong"
	if resp, _ := f.do(t, "GET", "/v1/jobs", nil, nil, ""); resp.StatusCode != 401 {
		t.Errorf("wrong key: %d", resp.StatusCode)
	}
}

// DELETE cancels a running job; its result is then a 409.
func TestJobsCancelRoute(t *testing.T) {
	e := &pipelinetest.Engine{Block: true}
	f := newJobsServer(t, e)
	body, ct := multipartBody(t, jobstest.WAV(jobstest.Speech(40, 4, 1)), nil)
	resp, b := f.do(t, "POST", "/v1/jobs", nil, body, ct)
	var j jobJSON
	if resp.StatusCode != 202 || json.Unmarshal(b, &j) != nil {
		t.Fatalf("POST: %d %s", resp.StatusCode, b)
	}
	for deadline := time.Now().Add(10 * time.Second); e.Running() == 0; time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("no piece started")
		}
	}
	if resp, b := f.do(t, "GET", "/v1/jobs/"+j.ID+"/result", nil, nil, ""); resp.StatusCode != 409 || resp.Header.Get("Retry-After") == "" {
		t.Errorf("result while running: %d %s", resp.StatusCode, b)
	}
	resp, b = f.do(t, "DELETE", "/v1/jobs/"+j.ID, nil, nil, "")
	if resp.StatusCode != 200 || json.Unmarshal(b, &j) != nil || j.Status != "cancelled" || j.Error == nil || j.Error.Code != "job_cancelled" {
		t.Errorf("DELETE: %d %s", resp.StatusCode, b)
	}
	if resp, b := f.do(t, "GET", "/v1/jobs/"+j.ID+"/result", nil, nil, ""); resp.StatusCode != 409 || !strings.Contains(string(b), "job_cancelled") {
		t.Errorf("result after cancel: %d %s", resp.StatusCode, b)
	}
}

// Without a job service the routes say how to turn jobs on.
func TestJobsOff(t *testing.T) {
	f := newServer(t, &pipelinetest.Engine{}, &pipelinetest.Engine{}, 0, testAuth{})
	resp, b := f.do(t, "GET", "/v1/jobs", nil, nil, "")
	if resp.StatusCode != 404 || !strings.Contains(string(b), "jobs_disabled") || !strings.Contains(string(b), "--jobs-key-file") {
		t.Errorf("jobs off: %d %s", resp.StatusCode, b)
	}
}
