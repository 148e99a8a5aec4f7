package main

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"maps"
	"mime/multipart"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/jobs/jobstest"
)

// Jobs run only with a key and a PostgreSQL store; anything else is off or
// an error that says what to do.
func TestResolveJobs(t *testing.T) {
	key := strings.Repeat("0f", 32)
	keyFile := filepath.Join(t.TempDir(), "jobs.key")
	os.WriteFile(keyFile, []byte(key+"\n"), 0o600)
	pg := "postgres://u:p@db/earshot"
	for _, tc := range []struct {
		name    string
		c       jobsConfig
		dsn     string
		env     map[string]string
		on      bool
		wantErr string
	}{
		{"no key: off", jobsConfig{}, pg, nil, false, ""},
		{"key from env", jobsConfig{}, pg, map[string]string{"EARSHOT_JOBS_KEY": key}, true, ""},
		{"key file", jobsConfig{keyFile: keyFile}, pg, nil, true, ""},
		{"store from env", jobsConfig{keyFile: keyFile}, "", map[string]string{"EARSHOT_STORE": pg}, true, ""},
		{"sqlite", jobsConfig{keyFile: keyFile}, "sqlite:/tmp/e.db", nil, false, "need PostgreSQL"},
		{"bad key", jobsConfig{}, pg, map[string]string{"EARSHOT_JOBS_KEY": "short"}, false, "64 hex digits"},
		{"missing file", jobsConfig{keyFile: "/nonexistent/key"}, pg, nil, false, "--jobs-key-file"},
		{"--no-jobs", jobsConfig{off: true, keyFile: keyFile}, "sqlite:/tmp/e.db", nil, false, ""},
	} {
		c := tc.c
		err := resolveJobs(&c, tc.dsn, func(k string) string { return tc.env[k] })
		if tc.wantErr != "" {
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("%s: error %v, want one saying %q", tc.name, err, tc.wantErr)
			}
			continue
		}
		if err != nil || (c.key != nil) != tc.on || (tc.on && c.dsn != pg) {
			t.Errorf("%s: on %v (dsn %q), %v; want on %v", tc.name, c.key != nil, c.dsn, err, tc.on)
		}
	}
}

// Two earshot serve replicas on one PostgreSQL: an API-only one takes the
// upload and answers the polls, the other one (one job worker) runs
// whisper on the pieces; the audio is gone from the database at the end.
func TestServeJobsAcrossReplicas(t *testing.T) {
	db := jobstest.NewDB(t)
	model := testModel(t)
	dsn := db.URL + "&search_path=" + db.Schema
	env := map[string]string{"EARSHOT_MODEL": model, "EARSHOT_API_KEY": "esk_test", "EARSHOT_STORE": dsn,
		"EARSHOT_KEY_PEPPER": strings.Repeat("5e", 32), "EARSHOT_JOBS_KEY": strings.Repeat("0f", 32)}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	defer wg.Wait()
	defer cancel()
	start := func(workers string) string {
		addr := freeAddr(t)
		e := maps.Clone(env)
		e["EARSHOT_HOME"] = t.TempDir()
		wg.Go(func() {
			root := newRoot(strings.NewReader(""), io.Discard, io.Discard, func(k string) string { return e[k] })
			root.SetArgs([]string{"serve", "--addr", addr, "--threads", "1", "--workers", "1", "--jobs-workers", workers})
			if err := root.ExecuteContext(ctx); err != nil {
				t.Errorf("serve --jobs-workers %s: %v", workers, err)
			}
		})
		for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
			if r, err := http.Get("http://" + addr + "/readyz"); err == nil {
				r.Body.Close()
				return "http://" + addr
			}
			if time.Now().After(deadline) {
				t.Fatal("server did not come up")
			}
		}
	}
	api := start("0")
	start("1")
	data, err := os.ReadFile("../../testdata/audio/jfk.wav")
	if err != nil {
		t.Fatal(err)
	}
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("response_format", "verbose_json")
	fw, _ := mw.CreateFormFile("file", "jfk.wav")
	fw.Write(data)
	mw.Close()
	do := func(method, url string, body io.Reader, ct string) (int, []byte) {
		req, _ := http.NewRequest(method, url, body)
		req.Header.Set("Authorization", "Bearer esk_test")
		if ct != "" {
			req.Header.Set("Content-Type", ct)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, b
	}
	status, b := do("POST", api+"/v1/jobs", &body, mw.FormDataContentType())
	var j struct {
		ID     string `json:"id"`
		Status string `json:"status"`
		Pieces int    `json:"pieces"`
		Result struct {
			Duration float64 `json:"duration"`
			Segments []any   `json:"segments"`
		} `json:"result"`
	}
	if status != 202 || json.Unmarshal(b, &j) != nil {
		t.Fatalf("POST /v1/jobs: %d %s", status, b)
	}
	for deadline := time.Now().Add(2 * time.Minute); j.Status == "queued" || j.Status == "running"; time.Sleep(50 * time.Millisecond) {
		status, b = do("GET", api+"/v1/jobs/"+j.ID, nil, "")
		if status != 200 || json.Unmarshal(b, &j) != nil {
			t.Fatalf("GET: %d %s", status, b)
		}
		if time.Now().After(deadline) {
			t.Fatalf("job still %s", j.Status)
		}
	}
	if j.Status != "succeeded" || j.Pieces < 1 || j.Result.Duration < 10 || j.Result.Segments == nil {
		t.Fatalf("job: %s", b)
	}
	var left int
	if err := db.Query(t).QueryRow(ctx, "SELECT count(*) FROM earshot_job_audio").Scan(&left); err != nil || left != 0 {
		t.Errorf("%d sealed pieces left (%v)", left, err)
	}
}
