package jobs_test

import (
	"context"
	"errors"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/jobs/jobstest"
	"github.com/earshot-dev/earshot/pipeline/pipelinetest"
	"github.com/earshot-dev/earshot/transcribe"
)

// flakyEngine is the scripted engine failing its first fails calls the
// way a busy or broken whisper does (a failure worth a retry).
type flakyEngine struct {
	pipelinetest.Engine
	fails atomic.Int32
}

func (e *flakyEngine) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	if e.fails.Add(-1) >= 0 {
		return nil, errors.New("whisper hiccup")
	}
	return e.Engine.Transcribe(ctx, req)
}

func stats(s *jobs.Service) jobs.Stats { return s.Stats(context.Background()) }

// The replica counts what it did: pieces transcribed and their time, a
// failed attempt that was retried, a webhook delivered and one that could
// not be sent; the cluster's numbers have the two jobs succeeded.
func TestStatsCount(t *testing.T) {
	db := jobstest.NewDB(t)
	hooks := make(chan string, 4)
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hooks <- r.Header.Get("Earshot-Webhook-Id")
	}))
	defer recv.Close()
	e := &flakyEngine{}
	e.fails.Store(1)
	s := jobstest.Start(t, db.Config(t, newPipeline(t, e, nil), 1))
	if st := stats(s); st.PiecesDone != 0 || st.PiecesRetried != 0 || st.WebhooksDelivered != 0 {
		t.Fatalf("a new replica's counts: %+v", st)
	}

	sub := submission(jobstest.Speech(20, 3, 1))
	sub.WebhookURL = recv.URL
	j, err := s.Submit(as(alice), sub)
	if err != nil {
		t.Fatal(err)
	}
	done := jobstest.Wait(t, as(alice), s, j.ID, 20*time.Second)
	if done.Status != jobs.Succeeded {
		t.Fatalf("job: %s, %v", done.Status, done.Error)
	}
	if id := <-hooks; id != j.ID {
		t.Errorf("webhook for %q, want %s", id, j.ID)
	}
	waitFor(t, "the delivery to be counted", func() bool { return stats(s).WebhooksDelivered == 1 })

	// A webhook_url that cannot be sent to at all (no check refused it:
	// the tests' replicas allow private addresses) is given up at once.
	sub = submission(jobstest.Speech(5, 2, 1))
	sub.WebhookURL = "http://hooks.example:no-port/"
	bad, err := s.Submit(as(alice), sub)
	if err != nil {
		t.Fatal(err)
	}
	badDone := jobstest.Wait(t, as(alice), s, bad.ID, 20*time.Second)
	waitFor(t, "the failed delivery to be counted", func() bool { return stats(s).WebhooksFailed == 1 })

	st := stats(s)
	if want := int64(done.Pieces + badDone.Pieces); st.PiecesDone != want || st.PiecesRetried != 1 || st.PiecesFailed != 0 {
		t.Errorf("pieces done %d (want %d), retried %d (want 1), failed %d (want 0)", st.PiecesDone, want, st.PiecesRetried, st.PiecesFailed)
	}
	if st.DecodeTime <= 0 {
		t.Errorf("decode time %v for %d pieces", st.DecodeTime, st.PiecesDone)
	}
	if st.WebhooksDelivered != 1 || st.WebhooksFailed != 1 || st.WebhooksRefused != 0 {
		t.Errorf("webhooks delivered %d, failed %d, refused %d; want 1, 1, 0", st.WebhooksDelivered, st.WebhooksFailed, st.WebhooksRefused)
	}
	// Read by another replica (the first has cached what it read above).
	c := stats(jobstest.Start(t, db.Config(t, newPipeline(t, &pipelinetest.Engine{}, nil), 0))).Cluster
	if c == nil {
		t.Fatal("no cluster numbers")
	}
	want := map[jobs.Status]int{jobs.Queued: 0, jobs.Running: 0, jobs.Succeeded: 2, jobs.Failed: 0, jobs.Cancelled: 0}
	for status, n := range want {
		if got, ok := c.Jobs[status]; !ok || got != n {
			t.Errorf("%s jobs: %d (present %v), want %d", status, got, ok, n)
		}
	}
	if c.OldestQueued != 0 || c.PiecesLeft != 0 {
		t.Errorf("with nothing to do: oldest queued %v, %d pieces left", c.OldestQueued, c.PiecesLeft)
	}
}

// A webhook_url that looks public but resolves to an internal address is
// refused when the delivery connects, and counted so.
func TestStatsWebhookRefused(t *testing.T) {
	db := jobstest.NewDB(t)
	var hits atomic.Int32
	recv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { hits.Add(1) }))
	defer recv.Close()
	cfg := db.Config(t, newPipeline(t, &pipelinetest.Engine{}, nil), 1)
	cfg.WebhookPrivate, cfg.HTTPClient = false, jobs.LoopbackClient()
	s := jobstest.Start(t, cfg)
	sub := submission(jobstest.Speech(5, 2, 1))
	sub.WebhookURL = "http://hooks.example:" + recv.URL[strings.LastIndex(recv.URL, ":")+1:] + "/earshot"
	j, err := s.Submit(as(alice), sub)
	if err != nil {
		t.Fatal(err)
	}
	jobstest.Wait(t, as(alice), s, j.ID, 20*time.Second)
	waitFor(t, "the refusal to be counted", func() bool { return stats(s).WebhooksRefused == 1 })
	if st := stats(s); st.WebhooksDelivered != 0 || st.WebhooksFailed != 0 || hits.Load() != 0 {
		t.Errorf("delivered %d, failed %d, %d posts reached the receiver", st.WebhooksDelivered, st.WebhooksFailed, hits.Load())
	}
}

// The cluster's numbers come from the database, whichever replica took
// the jobs: queued jobs, their pieces and the oldest one's age; they are
// read at most every StatsMaxAge.
func TestStatsCluster(t *testing.T) {
	db := jobstest.NewDB(t)
	var now atomic.Pointer[time.Time]
	start := time.Now().Truncate(time.Millisecond) // as PostgreSQL keeps it
	now.Store(&start)
	cfg := db.Config(t, newPipeline(t, &pipelinetest.Engine{}, nil), 0) // API-only: the jobs stay queued
	cfg.Now = func() time.Time { return *now.Load() }
	s := jobstest.Start(t, cfg)
	other := jobstest.Start(t, cfg) // another replica on the same database
	first, err := s.Submit(as(alice), submission(jobstest.Speech(40, 3, 1)))
	if err != nil {
		t.Fatal(err)
	}
	later := start.Add(30 * time.Second)
	now.Store(&later)
	second, err := other.Submit(as(alice), submission(jobstest.Speech(10, 3, 1)))
	if err != nil {
		t.Fatal(err)
	}
	later = start.Add(90 * time.Second)
	now.Store(&later)
	c := stats(s).Cluster
	if c == nil {
		t.Fatal("no cluster numbers")
	}
	if c.Jobs[jobs.Queued] != 2 || c.Jobs[jobs.Running] != 0 || c.Jobs[jobs.Succeeded] != 0 || len(c.Jobs) != 5 {
		t.Errorf("jobs by status: %v, want 2 queued and every status present", c.Jobs)
	}
	if c.OldestQueued != 90*time.Second {
		t.Errorf("oldest queued %v, want 1m30s", c.OldestQueued)
	}
	if want := first.Pieces + second.Pieces; c.PiecesLeft != want {
		t.Errorf("%d pieces left, want %d", c.PiecesLeft, want)
	}
	if _, err := other.Submit(as(alice), submission(jobstest.Speech(10, 3, 1))); err != nil {
		t.Fatal(err)
	}
	if n := stats(s).Cluster.Jobs[jobs.Queued]; n != 2 {
		t.Errorf("read again at once: %d queued, want the 2 counted a moment ago", n)
	}
}

// With the database out of reach the cluster's numbers are missing, not
// zeros, and this replica's counters are still there.
func TestStatsDatabaseDown(t *testing.T) {
	db := jobstest.NewDB(t)
	cfg := db.Config(t, newPipeline(t, &pipelinetest.Engine{}, nil), 0)
	s := jobstest.Start(t, cfg)
	cfg.Pool.Close()
	start := time.Now()
	if st := stats(s); st.Cluster != nil || st.PiecesDone != 0 {
		t.Errorf("with the database closed: %+v, cluster %+v", st, st.Cluster)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("reading took %v", d)
	}
}
