package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"math"
	"mime/multipart"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper"
)

// httpLoad says how long the HTTP API's load tests run.
type httpLoad struct {
	load    time.Duration // 8 clients, in alternating rounds with whisper-server
	clients int
	mixed   time.Duration // 4 clients of short clips, without the long file
	long    time.Duration // the long file's length (0: no mixed load)
	cap     time.Duration // the longest the mixed load runs
	flags   []string      // more flags for earshot serve (another shape)
}

// httpBench measures `earshot serve` with its default, adaptive shape as
// users run it, in its own process: one client against a warm in-process
// call (the idle path), 8 concurrent clients against whisper.cpp's
// whisper-server built from the same sources (same model, threads and
// decoding settings), and a mixed load of short clips with and without a
// long file. It prints the shape the engine chose at each load and the
// memory a whisper state costs.
func httpBench(whisperRoot, earshotBin, modelPath, wav string, runs, threads int, hl httpLoad) error {
	data, a, err := loadAudio(wav)
	if err != nil {
		return err
	}
	fields := map[string]string{"model": "whisper-1", "language": "en", "response_format": "json"}
	es, err := startServer(earshotBin, append([]string{"serve", "--model", modelPath, "--threads-total", strconv.Itoa(threads)}, hl.flags...)...)
	if err != nil {
		return err
	}
	defer es.stop()
	earshotURL := es.url + "/v1/audio/transcriptions"
	post := func() error { return postFile(earshotURL, data, fields) }
	if err := post(); err != nil { // warm up
		return err
	}
	idle, err := es.metrics()
	if err != nil {
		return err
	}

	// The idle path: one client of the server against a warm in-process
	// pipeline of the same budget doing the same work (the file decoded,
	// the energy VAD the server uses without a Silero model, whisper, the
	// JSON format), interleaved, so that a slow spell of the machine hits
	// both sides. The ratio is what the HTTP surface costs.
	e, err := whisper.NewEngine(modelPath, whisper.LoadOptions{}, transcribe.EngineOptions{ThreadsTotal: threads})
	if err != nil {
		return err
	}
	formatter, err := agentmode.New()
	if err != nil {
		e.Close()
		return err
	}
	pipe := pipeline.New(pipeline.Config{Engine: e, Decoder: audio.Decoder{}, Formatter: formatter, VAD: transcribe.EnergyVAD{}})
	opts := transcribe.Options{Language: "en"}
	direct := func() error {
		_, err := pipe.Transcribe(context.Background(), pipeline.Request{Audio: data, Name: filepath.Base(wav), Options: opts,
			Format: &agentmode.Options{Mode: agentmode.Raw}})
		return err
	}
	if err := direct(); err != nil {
		e.Close()
		return err
	}
	var dts, hts []time.Duration
	oneShape := es.sample()
	for range max(runs, 9) {
		for _, m := range []struct {
			f   func() error
			out *[]time.Duration
		}{{direct, &dts}, {post, &hts}} {
			t := time.Now()
			if err := m.f(); err != nil {
				e.Close()
				return err
			}
			*m.out = append(*m.out, time.Since(t))
		}
	}
	oneShape.stop()
	e.Close()
	directTime, httpTime := median(dts), median(hts)

	shape := "its defaults (adaptive shape, --threads-total " + strconv.Itoa(threads) + ")"
	if len(hl.flags) > 0 {
		shape = strings.Join(hl.flags, " ")
	}
	fmt.Printf("\nHTTP API: earshot serve with %s vs whisper-server -t %d; %s (%.1f s), greedy best-of 5 with fallback, language en\n\n",
		shape, threads, filepath.Base(wav), a.Duration().Seconds())
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tearshot\tbaseline\tratio\ttarget\tmet\t")
	ratio := httpTime.Seconds() / directTime.Seconds()
	fmt.Fprintf(tw, "1 client: HTTP request vs the same in-process pipeline call (median of %d pairs)\t%s\t%s\t%.3f\t<= 1.02\t%s\t\n",
		len(dts), fmtDur(httpTime), fmtDur(directTime), ratio, yes(ratio <= 1.02))
	fmt.Fprintf(tw, "  shape\t%s\t\t\t\t\t\n", oneShape.String())

	// Both servers run as their own processes, as users run them, with
	// the load coming from this one, in alternating rounds so that a slow
	// spell of this machine falls on both.
	ws, err := startServer(filepath.Join(whisperRoot, "bin", "whisper-server"), "-m", modelPath, "-t", strconv.Itoa(threads), "-l", "en", "-bo", "5")
	if err != nil {
		return err
	}
	const rounds = 2
	var ours, theirs loadResult
	busyShape := newShapes()
	for range rounds {
		s := es.sampleInto(busyShape)
		ours.add(loadTest(earshotURL, data, fields, hl.clients, hl.load/rounds))
		s.stop()
		theirs.add(loadTest(ws.url+"/inference", data, map[string]string{"language": "en", "response_format": "json", "temperature": "0"}, hl.clients, hl.load/rounds))
	}
	ws.stop()
	if ours.span <= 0 || theirs.span <= 0 {
		// Throughput is measured between the first completion and the
		// last: a run with fewer than two measures nothing.
		fmt.Fprintf(tw, "%d clients, %d x %s each: requests/min (earshot vs whisper-server)\tn/a\tn/a\tn/a\t>= 1.15\ttoo few completions: raise -load\t\n",
			hl.clients, rounds, hl.load/rounds)
	} else {
		ratio = ours.throughput() / theirs.throughput()
		fmt.Fprintf(tw, "%d clients, %d x %s each: requests/min (earshot vs whisper-server)\t%.1f\t%.1f\t%.2f\t>= 1.15\t%s\t\n",
			hl.clients, rounds, hl.load/rounds, ours.throughput()*60, theirs.throughput()*60, ratio, yes(ratio >= 1.15))
	}
	fmt.Fprintf(tw, "  latency p50 / p99\t%s / %s\t%s / %s\t\t\t\t\n", fmtDur(ours.pct(50)), fmtDur(ours.pct(99)), fmtDur(theirs.pct(50)), fmtDur(theirs.pct(99)))
	fmt.Fprintf(tw, "  failed requests (429s included)\t%d\t%d\t\t\t\t\n", ours.failed, theirs.failed)
	fmt.Fprintf(tw, "  shape\t%s\t\t\t\t\t\n", busyShape.String())
	busy, err := es.metrics()
	if err != nil {
		return err
	}

	if hl.long <= 0 {
		return printRSS(tw, es, idle, busy)
	}
	// A mixed load: 4 clients of short clips alone, then the same 4 while
	// one long file is transcribed, measured from its upload to its answer
	// (or to the cap, when the long file is given up).
	long := longAudio(a.Samples, hl.long)
	var alone, mixed loadResult
	aloneShape := es.sample()
	alone = loadTest(earshotURL, data, fields, 4, hl.mixed)
	aloneShape.stop()
	mixedShape := es.sample()
	var longTook time.Duration
	var longErr error
	longDone := make(chan struct{})
	lctx, cancelLong := context.WithTimeout(context.Background(), hl.cap)
	go func() {
		defer close(longDone)
		t := time.Now()
		longErr = postFileCtx(lctx, earshotURL, long, fields)
		longTook = time.Since(t)
	}()
	mixed = loadUntil(earshotURL, data, fields, 4, longDone)
	cancelLong()
	mixedShape.stop()
	longNote := fmtDur(longTook)
	if longErr != nil {
		if lctx.Err() == nil {
			return fmt.Errorf("the long file: %w", longErr)
		}
		longNote = "given up at " + hl.cap.String()
	}
	rise := mixed.pct(95).Seconds()/alone.pct(95).Seconds() - 1
	fmt.Fprintf(tw, "4 clients of short clips: p95 with a %s file running vs without\t%s\t%s\t%+.0f%%\t< +50%%\t%s\t\n",
		hl.long, fmtDur(mixed.pct(95)), fmtDur(alone.pct(95)), rise*100, yes(rise < 0.5))
	fmt.Fprintf(tw, "  short clips done (without: %s)\t%d\t%d\t\t\t\t\n", hl.mixed, len(mixed.latencies), len(alone.latencies))
	fmt.Fprintf(tw, "  the long file's latency\t%s\t\t\t\t\t\n", longNote)
	fmt.Fprintf(tw, "  failed requests (429s included)\t%d\t%d\t\t\t\t\n", mixed.failed, alone.failed)
	fmt.Fprintf(tw, "  shape without / with the long file\t%s\t%s\t\t\t\t\n", aloneShape.String(), mixedShape.String())
	return printRSS(tw, es, idle, busy)
}

// printRSS ends the table with what a whisper state costs: the server's
// resident memory with one state against with the states the load made.
func printRSS(tw *tabwriter.Writer, es *server, idle, busy gauges) error {
	stateMB := es.loggedStateMB()
	perState := "n/a"
	if n := busy.states - idle.states; n > 0 {
		perState = fmt.Sprintf("%+.0f MB/state", (busy.rss-idle.rss)/float64(n)/1e6)
	}
	fmt.Fprintf(tw, "RSS, %d state(s) idle -> %d under load\t%.0f MB\t%.0f MB\t%s\t(measured at start: %s MB)\t\t\n",
		int(idle.states), int(busy.states), busy.rss/1e6, idle.rss/1e6, perState, stateMB)
	return tw.Flush()
}

func postFile(url string, data []byte, fields map[string]string) error {
	return postFileCtx(context.Background(), url, data, fields)
}

func postFileCtx(ctx context.Context, url string, data []byte, fields map[string]string) error {
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range fields {
		mw.WriteField(k, v)
	}
	fw, _ := mw.CreateFormFile("file", "audio.wav")
	fw.Write(data)
	mw.Close()
	req, err := http.NewRequestWithContext(ctx, "POST", url, &body)
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", mw.FormDataContentType())
	resp, err := http.DefaultClient.Do(req)
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
	stop := make(chan struct{})
	t := time.AfterFunc(d, func() { close(stop) })
	defer t.Stop()
	return loadUntil(url, data, fields, clients, stop)
}

// loadUntil runs clients that each send requests back to back until stop
// closes; only requests that finish before it count. A failed request
// (a 429 included) counts as a failure, and its client goes on after a
// pause, as a client that honours Retry-After would.
func loadUntil(url string, data []byte, fields map[string]string, clients int, stop <-chan struct{}) loadResult {
	var mu sync.Mutex
	var res loadResult
	var first, last time.Time
	stopped := func() bool {
		select {
		case <-stop:
			return true
		default:
			return false
		}
	}
	var wg sync.WaitGroup
	for range clients {
		wg.Go(func() {
			for !stopped() {
				t := time.Now()
				err := postFile(url, data, fields)
				end := time.Now()
				done := stopped()
				mu.Lock()
				switch {
				case err != nil:
					res.failed++
				case !done:
					res.latencies = append(res.latencies, end.Sub(t))
					if first.IsZero() {
						first = end
					}
					last = end
				}
				mu.Unlock()
				if err != nil {
					time.Sleep(time.Second)
				}
			}
		})
	}
	wg.Wait()
	if n := len(res.latencies); n > 1 {
		res.intervals, res.span = n-1, last.Sub(first)
	}
	return res
}

// longAudio is a WAV file of d made of the clip over and over.
func longAudio(clip []float32, d time.Duration) []byte {
	n := int(d.Seconds() * transcribe.SampleRate)
	var b bytes.Buffer
	le := binary.LittleEndian
	b.WriteString("RIFF")
	binary.Write(&b, le, uint32(36+2*n))
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(transcribe.SampleRate), uint32(2 * transcribe.SampleRate), uint16(2), uint16(16)} {
		binary.Write(&b, le, v)
	}
	b.WriteString("data")
	binary.Write(&b, le, uint32(2*n))
	pcm := make([]byte, 2*n)
	for i := range n {
		s := clip[i%len(clip)]
		le.PutUint16(pcm[2*i:], uint16(int16(math.Round(float64(max(-1, min(1, s))*32767)))))
	}
	b.Write(pcm)
	return b.Bytes()
}

type server struct {
	cmd    *exec.Cmd
	url    string
	stderr *syncBuffer
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
	s := &server{cmd: cmd, url: fmt.Sprintf("http://127.0.0.1:%d", port), stderr: &syncBuffer{}}
	cmd.Stderr = s.stderr
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("%s: %w", bin, err)
	}
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
	if w.cmd.Process != nil {
		w.cmd.Process.Kill()
		w.cmd.Wait()
	}
}

var stateMBRe = regexp.MustCompile(`state_mb=(\d+)`)

// loggedStateMB is the per-state memory earshot printed at start.
func (w *server) loggedStateMB() string {
	if m := stateMBRe.FindStringSubmatch(w.stderr.String()); m != nil {
		return m[1]
	}
	return "?"
}

// gauges are what the bench reads of earshot's /metrics.
type gauges struct {
	rss, states, running, threadsBusy float64
}

func (w *server) metrics() (gauges, error) {
	resp, err := http.Get(w.url + "/metrics")
	if err != nil {
		return gauges{}, err
	}
	defer resp.Body.Close()
	var g gauges
	sc := bufio.NewScanner(resp.Body)
	for sc.Scan() {
		name, value, ok := strings.Cut(sc.Text(), " ")
		if !ok {
			continue
		}
		v, _ := strconv.ParseFloat(value, 64)
		switch name {
		case "process_resident_memory_bytes":
			g.rss = v
		case "earshot_states":
			g.states = v
		case "earshot_states_running":
			g.running = v
		case "earshot_threads_busy":
			g.threadsBusy = v
		}
	}
	return g, sc.Err()
}

// shapes counts the shapes seen: requests running x threads in all.
type shapes struct {
	mu   sync.Mutex
	seen map[string]int
	n    int
}

func newShapes() *shapes { return &shapes{seen: map[string]int{}} }

// String lists the shapes seen while busy, the most frequent first.
func (s *shapes) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := make([]string, 0, len(s.seen))
	for k := range s.seen {
		keys = append(keys, k)
	}
	sort.Slice(keys, func(i, j int) bool { return s.seen[keys[i]] > s.seen[keys[j]] })
	var parts []string
	for _, k := range keys[:min(3, len(keys))] {
		parts = append(parts, fmt.Sprintf("%s %.0f%%", k, 100*float64(s.seen[k])/float64(s.n)))
	}
	if len(parts) == 0 {
		return "idle"
	}
	return strings.Join(parts, ", ")
}

type sampler struct {
	*shapes
	done chan struct{}
	wg   sync.WaitGroup
}

func (w *server) sample() *sampler { return w.sampleInto(newShapes()) }

// sampleInto reads the shape from /metrics every 200 ms until stop.
func (w *server) sampleInto(s *shapes) *sampler {
	sm := &sampler{shapes: s, done: make(chan struct{})}
	sm.wg.Go(func() {
		tick := time.NewTicker(200 * time.Millisecond)
		defer tick.Stop()
		for {
			select {
			case <-sm.done:
				return
			case <-tick.C:
			}
			g, err := w.metrics()
			if err != nil || g.running == 0 {
				continue
			}
			k := fmt.Sprintf("%.0f x %.1f threads", g.running, g.threadsBusy/g.running)
			k = strings.Replace(k, ".0 threads", " threads", 1)
			s.mu.Lock()
			s.seen[k]++
			s.n++
			s.mu.Unlock()
		}
	})
	return sm
}

func (sm *sampler) stop() {
	close(sm.done)
	sm.wg.Wait()
}

// syncBuffer is a bytes.Buffer a child process writes while we read it.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.b.String()
}
