package mcp_test

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/jobs/jobstest"
	"github.com/earshot-dev/earshot/mcp"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

type jobAnswer struct {
	JobID    string          `json:"job_id"`
	Status   string          `json:"status"`
	Progress float64         `json:"progress"`
	Replayed bool            `json:"replayed"`
	Result   json.RawMessage `json:"result"`
	Error    *struct {
		Code string `json:"code"`
	} `json:"error"`
}

// submit_transcription starts a job on the test PostgreSQL; get_job polls
// it to the same answer transcribe gives.
func TestJobTools(t *testing.T) {
	db := jobstest.NewDB(t)
	pipe := pipeline.New(pipeline.Config{Engine: scripted(2), Decoder: audio.Decoder{}, Formatter: formatter,
		Transcripts: transcripts.New(time.Hour, 0), VAD: transcribe.EnergyVAD{}})
	svc := jobstest.Start(t, db.Config(t, pipe, 2))
	srv, err := mcp.New(mcp.Config{Pipeline: pipe, MaxFileBytes: 64 << 20, Version: "test", Jobs: svc})
	if err != nil {
		t.Fatal(err)
	}
	c := session(t, srv)
	wav := base64.StdEncoding.EncodeToString(jobstest.WAV(jobstest.Speech(45, 4, 1)))
	args := map[string]any{"audio_base64": wav, "mode": "clean", "idempotency_key": "call-1"}
	res := call(t, c, "submit_transcription", args)
	var j jobAnswer
	if res.IsError || json.Unmarshal([]byte(text(res)), &j) != nil || j.JobID == "" || j.Status != "queued" {
		t.Fatalf("submit_transcription: %s", text(res))
	}
	var again jobAnswer
	if res := call(t, c, "submit_transcription", args); json.Unmarshal([]byte(text(res)), &again) != nil || again.JobID != j.JobID || !again.Replayed {
		t.Errorf("replay: %s", text(res))
	}
	for deadline := time.Now().Add(20 * time.Second); j.Status == "queued" || j.Status == "running"; time.Sleep(20 * time.Millisecond) {
		res := call(t, c, "get_job", map[string]any{"job_id": j.JobID})
		if res.IsError || json.Unmarshal([]byte(text(res)), &j) != nil {
			t.Fatalf("get_job: %s", text(res))
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", j.Status)
		}
	}
	var out struct {
		Mode string `json:"mode"`
		Text string `json:"text"`
	}
	if j.Status != "succeeded" || json.Unmarshal(j.Result, &out) != nil || out.Mode != "clean" || !strings.Contains(out.Text, "weather in Paris") {
		t.Errorf("finished job: %+v %s", j, j.Result)
	}
	if res := call(t, c, "get_job", map[string]any{"job_id": "job_nope"}); !res.IsError || !strings.Contains(text(res), "No such job") {
		t.Errorf("unknown job: %s", text(res))
	}
	if res := call(t, c, "submit_transcription", map[string]any{"audio_base64": "!!"}); !res.IsError {
		t.Errorf("bad base64: %s", text(res))
	}
}
