package httpapi_test

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/httpapi"
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
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pipeline: pipeline.New(pipeline.Config{}), Stats: stats, ModelName: "m"}))
	defer srv.Close()
	r, err := http.Get(srv.URL + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(r.Body)
	r.Body.Close()
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
