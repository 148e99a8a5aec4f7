package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"mime/multipart"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper"
)

// httpBench measures the HTTP API: the overhead of a multipart upload over a
// warm in-process call, and throughput under 8 concurrent clients against
// whisper.cpp's whisper-server built from the same sources, same model,
// same threads, same decoding settings.
func httpBench(whisperRoot, earshotBin, modelPath, wav string, runs, threads int, load time.Duration) error {
	data, a, err := loadAudio(wav)
	if err != nil {
		return err
	}
	// One worker with `threads` threads: the shape of whisper-server, which
	// runs one request at a time on one context.
	e, err := whisper.NewEngine(modelPath, whisper.LoadOptions{}, transcribe.EngineOptions{Threads: threads, Workers: 1, Queue: 64})
	if err != nil {
		return err
	}
	defer e.Close()
	pipe := pipeline.New(pipeline.Config{Engine: e})
	srv := httptest.NewServer(httpapi.New(httpapi.Config{Pipeline: pipe, Stats: e, ModelName: "bench"}))
	defer srv.Close()

	opts := transcribe.Options{Language: "en"}
	direct := func() error {
		_, err := e.Transcribe(context.Background(), transcribe.Request{Samples: a.Samples, Options: opts})
		return err
	}
	fields := map[string]string{"model": "whisper-1", "language": "en", "response_format": "json"}
	earshotURL := srv.URL + "/v1/audio/transcriptions"
	post := func() error { return postFile(earshotURL, data, fields) }
	if err := post(); err != nil { // warm up
		return err
	}
	// Interleaved, so that a slow spell of the machine hits both sides.
	var dts, hts []time.Duration
	for range max(runs, 9) {
		for _, m := range []struct {
			f   func() error
			out *[]time.Duration
		}{{direct, &dts}, {post, &hts}} {
			t := time.Now()
			if err := m.f(); err != nil {
				return err
			}
			*m.out = append(*m.out, time.Since(t))
		}
	}
	directTime, httpTime := median(dts), median(hts)

	fmt.Printf("\nHTTP API: %s, 1 worker x %d threads, greedy best-of 5 with fallback, language en; overhead: median of %d interleaved pairs\n\n", filepath.Base(wav), threads, len(dts))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tearshot\tbaseline\tratio\ttarget\tmet\t")
	overhead := httpTime - directTime
	limit := max(directTime/20, 20*time.Millisecond)
	fmt.Fprintf(tw, "HTTP multipart request vs warm in-process call\t%s\t%s\t+%.1f ms\t<= +%.0f ms\t%s\t\n",
		fmtDur(httpTime), fmtDur(directTime), float64(overhead.Microseconds())/1000, float64(limit.Milliseconds()), yes(overhead <= limit))

	// Both servers run as their own processes, as users run them, with
	// the load coming from this one, in alternating rounds so that a slow
	// spell of this machine falls on both.
	es, err := startServer(earshotBin, "serve", "--model", modelPath, "--threads", strconv.Itoa(threads), "--workers", "1", "--queue", "64")
	if err != nil {
		return err
	}
	defer es.stop()
	ws, err := startServer(filepath.Join(whisperRoot, "bin", "whisper-server"), "-m", modelPath, "-t", strconv.Itoa(threads), "-l", "en", "-bo", "5")
	if err != nil {
		return err
	}
	defer ws.stop()
	const rounds = 2
	var ours, theirs loadResult
	for range rounds {
		ours.add(loadTest(es.url+"/v1/audio/transcriptions", data, fields, 8, load/rounds))
		theirs.add(loadTest(ws.url+"/inference", data, map[string]string{"language": "en", "response_format": "json", "temperature": "0"}, 8, load/rounds))
	}
	ratio := ours.throughput() / theirs.throughput()
	fmt.Fprintf(tw, "8 clients, %d x %s each: requests/min (earshot vs whisper-server)\t%.1f\t%.1f\t%.2f\t>= 1.00\t%s\t\n",
		rounds, load/rounds, ours.throughput()*60, theirs.throughput()*60, ratio, yes(ratio >= 1))
	fmt.Fprintf(tw, "  latency p50 / p99\t%s / %s\t%s / %s\t\t\t\t\n", fmtDur(ours.pct(50)), fmtDur(ours.pct(99)), fmtDur(theirs.pct(50)), fmtDur(theirs.pct(99)))
	fmt.Fprintf(tw, "  failed requests\t%d\t%d\t\t\t\t\n", ours.failed, theirs.failed)
	return tw.Flush()
}

func postFile(url string, data []byte, fields map[string]string) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "audio.wav")
	fw.Write(data)
	mw.Close()
	resp, err := http.Post(url, mw.FormDataContentType(), &body)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	if resp.StatusCode != 200 {
		return fmt.Errorf("%s: %d %s", url, resp.StatusCode, b)
	}
	return nil
}

type loadResult struct {
	// intervals and span measure the steady state: completions after the
	// first of a round, over the time from the first to the last. Work cut
	// off at the end of a round does not count against either server.
	intervals int
	span      time.Duration
	latencies []time.Duration
	failed    int
}

func (r loadResult) throughput() float64 { return float64(r.intervals) / r.span.Seconds() }

func (r *loadResult) add(o loadResult) {
	r.intervals += o.intervals
	r.span += o.span
	r.latencies = append(r.latencies, o.latencies...)
	r.failed += o.failed
}

func (r loadResult) pct(p int) time.Duration {
	if len(r.latencies) == 0 {
		return 0
	}
	s := append([]time.Duration{}, r.latencies...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, len(s)*p/100)]
}

// loadTest runs clients that each send requests back to back for d; only
// requests that finish within d count, and every client stops by itself.
func loadTest(url string, data []byte, fields map[string]string, clients int, d time.Duration) loadResult {
	var mu sync.Mutex
	var res loadResult
	var first, last time.Time
	start := time.Now()
	deadline := start.Add(d)
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for time.Now().Before(deadline) {
				t := time.Now()
				err := postFile(url, data, fields)
				end := time.Now()
				mu.Lock()
				switch {
				case err != nil:
					res.failed++
				case end.Before(deadline):
					res.latencies = append(res.latencies, end.Sub(t))
					if first.IsZero() {
						first = end
					}
					last = end
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	if n := len(res.latencies); n > 1 {
		res.intervals, res.span = n-1, last.Sub(first)
	}
	return res
}

type server struct {
	cmd *exec.Cmd
	url string
}

// startServer runs an earshot or whisper-server binary on a free loopback
// port and waits until it answers.
func startServer(bin string, args ...string) (*server, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, err
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	if filepath.Base(bin) == "whisper-server" {
		args = append(args, "--host", "127.0.0.1", "--port", strconv.Itoa(port))
	} else {
		args = append(args, "--addr", fmt.Sprintf("127.0.0.1:%d", port))
	}
	cmd := exec.Command(bin, args...)
	cmd.Env = append(os.Environ(), "EARSHOT_HOME="+os.TempDir()+"/earshot-bench-home")
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
	s := &server{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port)}
	for range 400 {
		if r, err := http.Get(s.url + "/"); err == nil {
			r.Body.Close()
			return s, nil
		}
		time.Sleep(50 * time.Millisecond)
	}
	s.stop()
	return nil, fmt.Errorf("%s did not start on %s", filepath.Base(bin), s.url)
}

func (w *server) stop() {
	w.cmd.Process.Kill()
	w.cmd.Wait()
}
