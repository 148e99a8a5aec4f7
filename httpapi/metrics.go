package httpapi

import (
	"context"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/transcribe"
)

// loadStats is the engine's load and shape, where it reports them.
type loadStats interface {
	Load() transcribe.Load
}

// jobStats is the job service's numbers, where it reports them
// (jobs.Service does).
type jobStats interface {
	Stats(ctx context.Context) jobs.Stats
}

// metrics are the server's Prometheus metrics, in a registry of its own (no
// global state): requests by route and status, latency, audio seconds,
// real-time factor, and the engine's queue depth and requests in flight;
// with an engine that reports its load (transcribe.Engine does), also the
// expected wait and the shape it runs in; with a job service that reports
// its numbers, the jobs' (see jobCollector).
type metrics struct {
	reg      *prometheus.Registry
	requests *prometheus.CounterVec
	latency  *prometheus.HistogramVec
	audio    prometheus.Counter
	rtf      prometheus.Histogram
}

func newMetrics(e Stats, j Jobs) *metrics {
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
	if js, ok := j.(jobStats); ok {
		m.reg.MustRegister(newJobCollector(js))
	}
	return m
}

// jobCollector turns one jobs.Stats a scrape into the job metrics: this
// replica's counters, and the cluster's gauges unless the database could
// not be read (then they are left out, not reported as zeros).
type jobCollector struct {
	j                                                        jobStats
	jobs, oldest, left, pieces, pieceFailures, decode, hooks *prometheus.Desc
}

func newJobCollector(j jobStats) *jobCollector {
	d := prometheus.NewDesc
	return &jobCollector{j: j,
		jobs:          d("earshot_jobs", "Async jobs in the database by status, across replicas (finished ones until they expire).", []string{"status"}, nil),
		oldest:        d("earshot_jobs_oldest_queued_seconds", "Age of the oldest job no piece of which has started, across replicas (0: none).", nil, nil),
		left:          d("earshot_job_pieces_pending", "Pieces of queued and running jobs not yet transcribed, across replicas.", nil, nil),
		pieces:        d("earshot_job_pieces_total", "Job pieces this replica transcribed.", nil, nil),
		pieceFailures: d("earshot_job_piece_failures_total", "Job piece attempts that failed on this replica: left for a retry (retried) or failing the job (failed).", []string{"outcome"}, nil),
		decode:        d("earshot_job_piece_decode_seconds_total", "Seconds this replica spent transcribing the pieces in earshot_job_pieces_total.", nil, nil),
		hooks:         d("earshot_job_webhooks_total", "Job webhook deliveries this replica ended, by outcome: delivered, failed (after its retries), refused (an internal address).", []string{"outcome"}, nil),
	}
}

func (c *jobCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{c.jobs, c.oldest, c.left, c.pieces, c.pieceFailures, c.decode, c.hooks} {
		ch <- d
	}
}

func (c *jobCollector) Collect(ch chan<- prometheus.Metric) {
	st := c.j.Stats(context.Background())
	counter := func(d *prometheus.Desc, v float64, labels ...string) {
		ch <- prometheus.MustNewConstMetric(d, prometheus.CounterValue, v, labels...)
	}
	counter(c.pieces, float64(st.PiecesDone))
	counter(c.pieceFailures, float64(st.PiecesRetried), "retried")
	counter(c.pieceFailures, float64(st.PiecesFailed), "failed")
	counter(c.decode, st.DecodeTime.Seconds())
	counter(c.hooks, float64(st.WebhooksDelivered), "delivered")
	counter(c.hooks, float64(st.WebhooksFailed), "failed")
	counter(c.hooks, float64(st.WebhooksRefused), "refused")
	if cl := st.Cluster; cl != nil {
		for status, n := range cl.Jobs {
			ch <- prometheus.MustNewConstMetric(c.jobs, prometheus.GaugeValue, float64(n), string(status))
		}
		ch <- prometheus.MustNewConstMetric(c.oldest, prometheus.GaugeValue, cl.OldestQueued.Seconds())
		ch <- prometheus.MustNewConstMetric(c.left, prometheus.GaugeValue, float64(cl.PiecesLeft))
	}
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
