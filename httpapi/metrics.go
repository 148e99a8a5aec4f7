package httpapi

import (
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/earshot-dev/earshot/transcribe"
)

// loadStats is the engine's load and shape, where it reports them.
type loadStats interface {
	Load() transcribe.Load
}

// metrics are the server's Prometheus metrics, in a registry of its own (no
// global state): requests by route and status, latency, audio seconds,
// real-time factor, and the engine's queue depth and requests in flight;
// with an engine that reports its load (transcribe.Engine does), also the
// expected wait and the shape it runs in.
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	audio    prometheus.Counter
	rtf      prometheus.Histogram
}

func newMetrics(e Stats) *metrics {
	m := &metrics{
		reg: prometheus.NewRegistry(),
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "earshot_http_requests_total", Help: "HTTP requests by route and status.",
		}, []string{"route", "status"}),
		latency: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name: "earshot_http_request_duration_seconds", Help: "HTTP request latency by route.",
			Buckets: prometheus.ExponentialBuckets(0.005, 2.5, 12),
		}, []string{"route"}),
		audio: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "earshot_audio_seconds_total", Help: "Seconds of audio transcribed.",
		}),
		rtf: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name: "earshot_real_time_factor", Help: "Transcription time over audio duration (lower is faster).",
			Buckets: []float64{0.01, 0.02, 0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5},
		}),
	}
	m.reg.MustRegister(m.requests, m.latency, m.audio, m.rtf,
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "earshot_queue_depth", Help: "Requests waiting for a worker.",
		}, func() float64 { return float64(e.Queued()) }),
		prometheus.NewGaugeFunc(prometheus.GaugeOpts{
			Name: "earshot_requests_in_flight", Help: "Requests being transcribed.",
		}, func() float64 { return float64(e.Running()) }),
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
	)
	if ls, ok := e.(loadStats); ok {
		gauge := func(name, help string, f func(transcribe.Load) float64) prometheus.Collector {
			return prometheus.NewGaugeFunc(prometheus.GaugeOpts{Name: name, Help: help}, func() float64 { return f(ls.Load()) })
		}
		m.reg.MustRegister(
			gauge("earshot_expected_wait_seconds", "Expected wait of a short request arriving now.",
				func(l transcribe.Load) float64 { return l.ExpectedWait.Seconds() }),
			gauge("earshot_threads_busy", "Threads the running requests use.",
				func(l transcribe.Load) float64 { return float64(l.ThreadsBusy) }),
			gauge("earshot_threads_total", "The engine's thread budget.",
				func(l transcribe.Load) float64 { return float64(l.ThreadsTotal) }),
			gauge("earshot_states_running", "Whisper states running a request.",
				func(l transcribe.Load) float64 { return float64(l.Running) }),
			gauge("earshot_states", "Whisper states made and kept.",
				func(l transcribe.Load) float64 { return float64(l.States) }),
			gauge("earshot_states_max", "The most whisper states the engine may make.",
				func(l transcribe.Load) float64 { return float64(l.MaxStates) }),
			gauge("earshot_state_bytes", "Memory one whisper state costs, as measured so far.",
				func(l transcribe.Load) float64 { return float64(l.StateBytes) }),
			gauge("earshot_cost_thread_seconds_per_audio_second", "Measured thread-seconds per second of audio (moving average; clips under 30 s count as 30 s).",
				func(l transcribe.Load) float64 { return l.Cost }),
		)
	}
	return m
}

func (m *metrics) handler() http.Handler {
	return promhttp.HandlerFor(m.reg, promhttp.HandlerOpts{})
}

func (m *metrics) request(route string, status int, d time.Duration) {
	m.requests.WithLabelValues(route, strconv.Itoa(status)).Inc()
	m.latency.WithLabelValues(route).Observe(d.Seconds())
}

func (m *metrics) transcribed(audioSeconds float64, took time.Duration) {
	m.audio.Add(audioSeconds)
	if audioSeconds > 0 {
		m.rtf.Observe(took.Seconds() / audioSeconds)
	}
}
