package httpapi_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// loadedStats is an engine's Stats that also reports its load and shape.
type loadedStats struct{ load transcribe.Load }

func (s loadedStats) Model() transcribe.ModelInfo { return transcribe.ModelInfo{Name: "m"} }
func (s loadedStats) Running() int                { return s.load.Running }
func (s loadedStats) Queued() int                 { return s.load.Waiting }
func (s loadedStats) Load() transcribe.Load       { return s.load }

func TestMetricsShowLoadAndShape(t *testing.T) {
	stats := loadedStats{transcribe.Load{Running: 2, Waiting: 5, ThreadsBusy: 2, ThreadsTotal: 2, States: 2, MaxStates: 2,
		ExpectedWait: 12500 * time.Millisecond, Cost: 0.125, StateBytes: 1 << 20}}
	b := scrape(t, httpapi.Config{Pipeline: pipeline.New(pipeline.Config{}), Stats: stats, ModelName: "m"})
	for _, want := range []string{
		"earshot_expected_wait_seconds 12.5",
		"earshot_threads_busy 2",
		"earshot_threads_total 2",
		"earshot_states_running 2",
		"earshot_states 2",
		"earshot_states_max 2",
		"earshot_state_bytes 1.048576e+06",
		"earshot_queue_depth 5",
		"earshot_cost_thread_seconds_per_audio_second 0.125",
	} {
		if !strings.Contains(string(b), want+"\n") {
			t.Errorf("/metrics lacks %q", want)
		}
	}
}

// scrape is GET /metrics of a server with cfg.
func scrape(t *testing.T, cfg httpapi.Config) string {
	t.Helper()
	srv := httptest.NewServer(httpapi.New(cfg))
	defer srv.Close()
	r, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Body.Close()
	b, _ := io.ReadAll(r.Body)
	if r.StatusCode != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.StatusCode, b)
	}
	return string(b)
}

// reportingJobs is a job service that serves no jobs but reports numbers.
type reportingJobs struct{ stats jobs.Stats }

func (reportingJobs) Submit(context.Context, jobs.Submission) (*jobs.Job, error) {
	return nil, jobs.ErrNotFound
}
func (reportingJobs) Get(context.Context, string) (*jobs.Job, error)         { return nil, jobs.ErrNotFound }
func (reportingJobs) List(context.Context, int, string) ([]*jobs.Job, error) { return nil, nil }
func (reportingJobs) Cancel(context.Context, string) (*jobs.Job, error)      { return nil, jobs.ErrNotFound }
func (j reportingJobs) Stats(context.Context) jobs.Stats                     { return j.stats }

// The jobs' lines are there with a job service, translated as they are
// reported; without one there are none; with a database that cannot be
// read, this replica's counters stay and the cluster's gauges go.
func TestMetricsShowJobs(t *testing.T) {
	cluster := &jobs.Cluster{Jobs: map[jobs.Status]int{jobs.Queued: 3, jobs.Running: 1, jobs.Succeeded: 12, jobs.Failed: 2, jobs.Cancelled: 0},
		OldestQueued: 42500 * time.Millisecond, PiecesLeft: 57}
	st := jobs.Stats{PiecesDone: 9, PiecesRetried: 2, PiecesFailed: 1, DecodeTime: 4250 * time.Millisecond,
		WebhooksDelivered: 5, WebhooksFailed: 1, WebhooksRefused: 3, Cluster: cluster}
	counters := []string{
		"earshot_job_pieces_total 9",
		`earshot_job_piece_failures_total{outcome="retried"} 2`,
		`earshot_job_piece_failures_total{outcome="failed"} 1`,
		"earshot_job_piece_decode_seconds_total 4.25",
		`earshot_job_webhooks_total{outcome="delivered"} 5`,
		`earshot_job_webhooks_total{outcome="failed"} 1`,
		`earshot_job_webhooks_total{outcome="refused"} 3`,
	}
	gauges := []string{
		`earshot_jobs{status="queued"} 3`,
		`earshot_jobs{status="running"} 1`,
		`earshot_jobs{status="succeeded"} 12`,
		`earshot_jobs{status="failed"} 2`,
		`earshot_jobs{status="cancelled"} 0`,
		"earshot_jobs_oldest_queued_seconds 42.5",
		"earshot_job_pieces_pending 57",
	}
	base := httpapi.Config{Pipeline: pipeline.New(pipeline.Config{}), Stats: loadedStats{}, ModelName: "m"}

	with := base
	with.Jobs = reportingJobs{st}
	b := scrape(t, with)
	for _, want := range append(counters, gauges...) {
		if !strings.Contains(b, want+"\n") {
			t.Errorf("/metrics with jobs lacks %q", want)
		}
	}

	if b := scrape(t, base); strings.Contains(b, "earshot_job") {
		t.Errorf("/metrics without jobs has job lines:\n%s", grep(b, "earshot_job"))
	}

	st.Cluster = nil
	with.Jobs = reportingJobs{st}
	b = scrape(t, with)
	for _, want := range counters {
		if !strings.Contains(b, want+"\n") {
			t.Errorf("/metrics with the database down lacks %q", want)
		}
	}
	for _, gone := range []string{"earshot_jobs{", "earshot_jobs_oldest_queued_seconds", "earshot_job_pieces_pending"} {
		if strings.Contains(b, gone) {
			t.Errorf("/metrics with the database down has %s:\n%s", gone, grep(b, gone))
		}
	}
}
