package jobs_test

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/jobs/jobstest"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

// usage is a Limiter that admits everyone and counts what is recorded.
type usage struct {
	mu      sync.Mutex
	records []pipeline.Usage
}

func (u *usage) Admit(context.Context, pipeline.Principal) (func(), error) { return func() {}, nil }
func (u *usage) Record(_ context.Context, _ pipeline.Principal, r pipeline.Usage) error {
	u.mu.Lock()
	defer u.mu.Unlock()
	u.records = append(u.records, r)
	return nil
}
func (u *usage) all() []pipeline.Usage {
	u.mu.Lock()
	defer u.mu.Unlock()
	return append([]pipeline.Usage(nil), u.records...)
}

func newPipeline(t *testing.T, e pipeline.Engine, lim pipeline.Limiter) *pipeline.Pipeline {
	t.Helper()
	f, err := agentmode.New()
	if err != nil {
		t.Fatal(err)
	}
	return pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}, Formatter: f, VAD: transcribe.EnergyVAD{}, Limits: lim})
}

var alice = pipeline.Principal{KeyID: "key_alice", Name: "alice"}

func as(p pipeline.Principal) context.Context { return pipeline.WithPrincipal(context.Background(), p) }

func count(t *testing.T, db jobstest.DB, table, id string) int {
	t.Helper()
	var n int
	if err := db.Query(t).QueryRow(context.Background(), "SELECT count(*) FROM "+table+" WHERE job_id = $1", id).Scan(&n); err != nil {
		t.Fatal(err)
	}
	return n
}

func submission(samples []float32) jobs.Submission {
	return jobs.Submission{Request: pipeline.Request{Samples: samples, Format: &agentmode.Options{Mode: agentmode.Raw}}}
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(20 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
	}
}

// Two replicas share one job's pieces; one dies mid-piece, the other
// retries it, and the result equals a run on one replica alone, its
// usage recorded once, its audio deleted.
func TestReplicaKilledMidPiece(t *testing.T) {
	db := jobstest.NewDB(t)
	samples := jobstest.Speech(150, 4, 1) // 2.5 minutes: several pieces
	ctx := as(alice)

	// The reference: one replica, alone.
	refUse := &usage{}
	ref := jobstest.Start(t, db.Config(t, newPipeline(t, &pipelinetest.Engine{Text: "One two. Three four."}, refUse), 2))
	j, err := ref.Submit(ctx, submission(samples))
	if err != nil {
		t.Fatal(err)
	}
	want := jobstest.Wait(t, ctx, ref, j.ID, 30*time.Second)
	if want.Status != jobs.Succeeded || want.Pieces < 4 {
		t.Fatalf("reference job: %s with %d pieces, error %v", want.Status, want.Pieces, want.Error)
	}
	stopCtx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := ref.Stop(stopCtx); err != nil {
		t.Fatal(err)
	}

	// Replica a hangs in whisper; b works.
	use := &usage{}
	hung := &pipelinetest.Engine{Block: true}
	working := &pipelinetest.Engine{Text: "One two. Three four."}
	a := jobstest.Start(t, db.Config(t, newPipeline(t, hung, use), 1))
	j, err = a.Submit(ctx, submission(samples))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "replica a to take a piece", func() bool { return hung.Running() == 1 })
	b := jobstest.Start(t, db.Config(t, newPipeline(t, working, use), 2))
	waitFor(t, "replica b to take pieces", func() bool { return working.Calls() > 0 })
	// Its own 5 s: the waits above may have spent the reference's.
	killCtx, cancelKill := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancelKill()
	if err := a.Kill(killCtx); err != nil {
		t.Fatal(err)
	}
	got := jobstest.Wait(t, ctx, b, j.ID, 30*time.Second)
	if got.Status != jobs.Succeeded {
		t.Fatalf("job %s: %v", got.Status, got.Error)
	}
	t.Logf("%.0f s in %d pieces: replica a took %d and was killed (%d cancelled), replica b did %d",
		got.Duration, got.Pieces, hung.Calls(), hung.Canceled(), working.Calls())
	if hung.Canceled() != 1 || working.Calls() != got.Pieces {
		t.Errorf("a cancelled %d pieces, b transcribed %d of %d", hung.Canceled(), working.Calls(), got.Pieces)
	}
	if !reflect.DeepEqual(got.Result, want.Result) || string(got.Output) != string(want.Output) {
		g, _ := json.Marshal(got.Result)
		w, _ := json.Marshal(want.Result)
		t.Errorf("result after the kill differs from one replica's:\n got %s\nwant %s", g, w)
	}
	if u := use.all(); len(u) != 1 || u[0].RequestID != j.ID || u[0].AudioSeconds != got.Duration {
		t.Errorf("usage recorded %+v, want once for %s", u, j.ID)
	}
	if n := count(t, db, "earshot_job_audio", j.ID); n != 0 {
		t.Errorf("%d sealed pieces left after the job", n)
	}
	if n := count(t, db, "earshot_job_piece", j.ID); n != 0 {
		t.Errorf("%d piece results left after the job", n)
	}
	// The stitched result: in order, times in the whole audio's.
	segs := got.Result.Segments
	if len(segs) != 2*got.Pieces || segs[len(segs)-1].End > got.Duration || segs[len(segs)-1].End < got.Duration-10 {
		t.Fatalf("%d segments for %d pieces, the last ending at %.1f of %.1f s", len(segs), got.Pieces, segs[len(segs)-1].End, got.Duration)
	}
	for i, s := range segs {
		if s.ID != i || (i > 0 && s.Start < segs[i-1].End-1e-6) {
			t.Fatalf("segment %d out of order: %+v after %+v", i, s, segs[max(0, i-1)])
		}
	}
}

// The same Idempotency-Key from the same caller returns the same job and
// decodes nothing; another caller's key is their own.
func TestIdempotencyKey(t *testing.T) {
	db := jobstest.NewDB(t)
	e := &pipelinetest.Engine{}
	s := jobstest.Start(t, db.Config(t, newPipeline(t, e, nil), 0)) // API-only: nothing runs
	sub := submission(jobstest.Speech(10, 3, 1))
	sub.IdempotencyKey = "upload-42"
	first, err := s.Submit(as(alice), sub)
	if err != nil {
		t.Fatal(err)
	}
	again, err := s.Submit(as(alice), jobs.Submission{Request: pipeline.Request{Audio: []byte("not even audio")}, IdempotencyKey: "upload-42"})
	if err != nil {
		t.Fatal(err)
	}
	if again.ID != first.ID || !again.Replayed || first.Replayed {
		t.Errorf("replay gave %s (replayed %v), first %s (replayed %v)", again.ID, again.Replayed, first.ID, first.Replayed)
	}
	bob, err := s.Submit(as(pipeline.Principal{KeyID: "key_bob"}), sub)
	if err != nil {
		t.Fatal(err)
	}
	if bob.ID == first.ID || bob.Replayed {
		t.Errorf("bob's job with alice's key: %s (replayed %v)", bob.ID, bob.Replayed)
	}
	if _, err := s.Get(as(pipeline.Principal{KeyID: "key_bob"}), first.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("bob reads alice's job: %v", err)
	}
	list, err := s.List(as(alice), 0, "")
	if err != nil || len(list) != 1 || list[0].ID != first.ID || list[0].Status != jobs.Queued {
		t.Errorf("alice's list: %v, %v", list, err)
	}
	if e.Calls() != 0 {
		t.Errorf("an API-only replica ran %d pieces", e.Calls())
	}
}

// Cancelling stops the running piece, deletes the audio, and the job
// stays cancelled.
func TestCancel(t *testing.T) {
	db := jobstest.NewDB(t)
	e := &pipelinetest.Engine{Block: true}
	s := jobstest.Start(t, db.Config(t, newPipeline(t, e, nil), 1))
	j, err := s.Submit(as(alice), submission(jobstest.Speech(90, 4, 1)))
	if err != nil {
		t.Fatal(err)
	}
	waitFor(t, "a piece to run", func() bool { return e.Running() == 1 })
	c, err := s.Cancel(as(alice), j.ID)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != jobs.Cancelled || c.Error == nil || c.Error.Kind != pipeline.Cancelled {
		t.Errorf("after cancel: %s, %v", c.Status, c.Error)
	}
	waitFor(t, "the running piece to stop", func() bool { return e.Canceled() == 1 })
	if n := count(t, db, "earshot_job_audio", j.ID); n != 0 {
		t.Errorf("%d sealed pieces left after cancel", n)
	}
	time.Sleep(200 * time.Millisecond)
	if g, _ := s.Get(as(alice), j.ID); g.Status != jobs.Cancelled || e.Calls() != 1 {
		t.Errorf("later: %s, %d pieces started", g.Status, e.Calls())
	}
	if _, err := s.Cancel(as(pipeline.Principal{KeyID: "key_bob"}), j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("bob cancels alice's job: %v", err)
	}
}

// A piece that fails for good fails the job with the pipeline's error;
// a job with no speech succeeds without whisper.
func TestFailureAndSilence(t *testing.T) {
	db := jobstest.NewDB(t)
	e := &pipelinetest.Engine{Fail: transcribe.ErrInvalidAudio}
	s := jobstest.Start(t, db.Config(t, newPipeline(t, e, nil), 2))
	j, err := s.Submit(as(alice), submission(jobstest.Speech(20, 3, 1)))
	if err != nil {
		t.Fatal(err)
	}
	got := jobstest.Wait(t, as(alice), s, j.ID, 20*time.Second)
	if got.Status != jobs.Failed || got.Error == nil || got.Error.Kind != pipeline.Invalid || got.Error.Code != "invalid_audio" {
		t.Errorf("failed job: %s, %+v", got.Status, got.Error)
	}
	if n := count(t, db, "earshot_job_audio", j.ID); n != 0 {
		t.Errorf("%d sealed pieces left after failing", n)
	}
	if st := s.Stats(context.Background()); st.PiecesFailed < 1 || st.PiecesDone != 0 || st.Cluster == nil || st.Cluster.Jobs[jobs.Failed] != 1 {
		t.Errorf("after a piece failed its job: %d pieces failed, %d done, cluster %+v", st.PiecesFailed, st.PiecesDone, st.Cluster)
	}
	quiet, err := s.Submit(as(alice), submission(make([]float32, 5*transcribe.SampleRate)))
	if err != nil {
		t.Fatal(err)
	}
	got = jobstest.Wait(t, as(alice), s, quiet.ID, 20*time.Second)
	if got.Status != jobs.Succeeded || got.Pieces != 0 || len(got.Result.Segments) != 0 || got.Progress != 100 {
		t.Errorf("silent job: %s, %d pieces, %v", got.Status, got.Pieces, got.Result)
	}
	if _, err := s.Submit(as(alice), jobs.Submission{Request: pipeline.Request{Audio: []byte("no audio here")}}); pipeline.Classify(err).Kind != pipeline.UnsupportedMedia {
		t.Errorf("undecodable audio: %v", err)
	}
}

// A finished job's webhook is signed and retried until the receiver takes
// it; results expire after the TTL.
func TestWebhookAndExpiry(t *testing.T) {
	db := jobstest.NewDB(t)
	var (
		attempts atomic.Int32
		got      = make(chan []byte, 1)
	)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		if !jobs.Verify(jobstest.WebhookSecret, body, r.Header.Get(jobs.SignatureHeader), time.Now(), time.Minute) {
			t.Errorf("bad signature %q", r.Header.Get(jobs.SignatureHeader))
		}
		if attempts.Add(1) < 3 {
			http.Error(w, "down for a moment", http.StatusServiceUnavailable)
			return
		}
		got <- body
	}))
	defer recv.Close()
	var now atomic.Pointer[time.Time]
	start := time.Now()
	now.Store(&start)
	cfg := db.Config(t, newPipeline(t, &pipelinetest.Engine{}, nil), 1)
	cfg.Now = func() time.Time { return *now.Load() }
	cfg.TTL = time.Hour
	s := jobstest.Start(t, cfg)
	sub := submission(jobstest.Speech(10, 3, 1))
	sub.WebhookURL = recv.URL
	sub.IdempotencyKey = "daily-standup"
	j, err := s.Submit(as(alice), sub)
	if err != nil {
		t.Fatal(err)
	}
	var body []byte
	select {
	case body = <-got:
	case <-time.After(20 * time.Second):
		t.Fatalf("no webhook after %d attempts", attempts.Load())
	}
	var ev jobs.Event
	if err := json.Unmarshal(body, &ev); err != nil || ev.Type != "transcription.job.succeeded" || ev.Job.ID != j.ID {
		t.Errorf("webhook body %s: %v", body, err)
	}
	if jobs.Verify([]byte("another secret"), body, jobs.Signature(jobstest.WebhookSecret, body, time.Now()), time.Now(), time.Minute) {
		t.Error("a signature verified under the wrong secret")
	}
	later := start.Add(2 * time.Hour)
	now.Store(&later)
	if _, err := s.Get(as(alice), j.ID); !errors.Is(err, jobs.ErrNotFound) {
		t.Errorf("expired job: %v", err)
	}
	// An expired job's idempotency key starts a new job.
	sub.WebhookURL = ""
	fresh, err := s.Submit(as(alice), sub)
	if err != nil || fresh.ID == j.ID || fresh.Replayed {
		t.Errorf("the key of an expired job: %+v, %v", fresh, err)
	}
}

// slowEngine is the scripted engine with a fixed cost per piece, standing
// in for whisper's so that the fan-out shows.
type slowEngine struct {
	pipelinetest.Engine
	cost time.Duration
}

func (e *slowEngine) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	select {
	case <-time.After(e.cost):
	case <-ctx.Done():
		return nil, ctx.Err()
	}
	return e.Engine.Transcribe(ctx, req)
}

// TestFanOut runs one 10-minute job on 1, 2 and 3 replicas (one worker
// each, 100 ms a piece) and prints the table; every run's result is the
// same, and usage is recorded once per job.
func TestFanOut(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the fan-out table takes a few seconds")
	}
	samples := jobstest.Speech(600, 6, 1)
	var first *jobs.Job
	t.Logf("%-9s %-7s %-9s %-10s %s", "replicas", "pieces", "wall", "x 1 repl.", "pieces per replica")
	var base time.Duration
	for replicas := 1; replicas <= 3; replicas++ {
		db := jobstest.NewDB(t)
		use := &usage{}
		engines := make([]*slowEngine, replicas)
		var svcs []*jobs.Service
		for i := range engines {
			engines[i] = &slowEngine{Engine: pipelinetest.Engine{Text: "One two. Three four."}, cost: 100 * time.Millisecond}
			svcs = append(svcs, jobstest.Start(t, db.Config(t, newPipeline(t, engines[i], use), 1)))
		}
		j, err := svcs[0].Submit(as(alice), submission(samples))
		if err != nil {
			t.Fatal(err)
		}
		start := time.Now()
		got := jobstest.Wait(t, as(alice), svcs[0], j.ID, time.Minute)
		wall := time.Since(start)
		if got.Status != jobs.Succeeded {
			t.Fatalf("%d replicas: %s %v", replicas, got.Status, got.Error)
		}
		if replicas == 1 {
			first, base = got, wall
		} else if !reflect.DeepEqual(got.Result, first.Result) {
			t.Errorf("%d replicas: the result differs from one replica's", replicas)
		}
		if n := len(use.all()); n != 1 {
			t.Errorf("%d replicas: usage recorded %d times", replicas, n)
		}
		var per []int
		for _, e := range engines {
			per = append(per, e.Calls())
		}
		t.Logf("%-9d %-7d %-9s %-10.2f %v", replicas, got.Pieces, wall.Round(10*time.Millisecond), base.Seconds()/wall.Seconds(), per)
	}
}

// By default a webhook_url written as this machine or an internal address
// is refused at submission, before anything is decoded or stored.
func TestInternalWebhookRefused(t *testing.T) {
	db := jobstest.NewDB(t)
	engine := &pipelinetest.Engine{}
	cfg := db.Config(t, newPipeline(t, engine, nil), 1)
	cfg.WebhookPrivate = false
	s := jobstest.Start(t, cfg)
	for _, hook := range []string{"http://127.0.0.1:9/hook", "http://localhost/hook", "http://169.254.169.254/latest/meta-data"} {
		sub := submission(jobstest.Speech(5, 2, 1))
		sub.WebhookURL = hook
		_, err := s.Submit(as(alice), sub)
		if e := pipeline.Classify(err); e.Kind != pipeline.Invalid || e.Param != "webhook_url" || !strings.Contains(e.Message, "--jobs-webhook-private") {
			t.Errorf("%s: %v", hook, err)
		}
	}
	if n := engine.Calls(); n != 0 {
		t.Errorf("%d decodes for refused jobs", n)
	}
}
