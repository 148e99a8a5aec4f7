package main

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"sync"
	"text/tabwriter"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper"
)

// liveBench measures live sessions: clients stream live/testdata/turns.wav
// (two sentences with a pause) again and again at real time in 40 ms
// chunks, with server_vad (silence 500 ms), and time each turn from the
// end of its speech to its completed event; the partial interval is the
// time between two decodes of the same turn. Then it
// adds sessions until the p95 turn latency passes 2 s.
func liveBench(modelPath string, threads, turns int) error {
	pcm, regions, err := turnsAudio()
	if err != nil {
		return err
	}
	e, err := whisper.NewEngine(modelPath, whisper.LoadOptions{}, transcribe.EngineOptions{Threads: threads, Workers: 1, Queue: 64})
	if err != nil {
		return err
	}
	defer e.Close()
	te := &timedEngine{Engine: e}
	h := live.New(live.Config{Pipeline: pipeline.New(pipeline.Config{Engine: te}), ModelName: "bench"})
	srv := httptest.NewServer(h)
	defer srv.Close()
	defer h.Close(context.Background())

	reps := (turns + len(regions) - 1) / len(regions)
	one, err := sessions(srv.URL, 1, reps, pcm, regions)
	if err != nil {
		return err
	}
	partials, took := te.intervals()

	fmt.Printf("\nLive sessions: %s at real time in 40 ms chunks (16 kHz PCM), server_vad silence 500 ms, 1 worker x %d threads, %d turns\n\n",
		"live/testdata/turns.wav", threads, len(one.latency))
	tw := tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "measurement\tp50\tp95\tn\ttarget\tmet\t")
	p50, p95 := pct(one.latency, 50), pct(one.latency, 95)
	fmt.Fprintf(tw, "end of speech -> completed (includes the 500 ms of silence)\t%s\t%s\t%d\t<= 1.000 s p50\t%s\t\n", fmtDur(p50), fmtDur(p95), len(one.latency), yes(p50 <= time.Second))
	fmt.Fprintf(tw, "speech_stopped -> completed\t%s\t%s\t%d\t\t\t\n", fmtDur(pct(one.afterStop, 50)), fmtDur(pct(one.afterStop, 95)), len(one.afterStop))
	fmt.Fprintf(tw, "interval between decodes of the open turn\t%s\t%s\t%d\t<= 1.500 s\t%s\t\n", fmtDur(pct(partials, 50)), fmtDur(pct(partials, 95)), len(partials), yes(pct(partials, 50) <= 1500*time.Millisecond))
	fmt.Fprintf(tw, "one decode (open turn or final, greedy, no fallback)\t%s\t%s\t%d\t\t\t\n", fmtDur(pct(took, 50)), fmtDur(pct(took, 95)), len(took))
	fmt.Fprintf(tw, "interval between deltas (words that changed)\t%s\t%s\t%d\t\t\t\n", fmtDur(pct(one.deltas, 50)), fmtDur(pct(one.deltas, 95)), len(one.deltas))
	fmt.Fprintf(tw, "whisper-stream defaults (reference, not run: needs SDL)\t\t\t\tstep 3.000 s, length 10 s\t\t\n")
	tw.Flush()

	fmt.Printf("\nConcurrent real-time sessions on that one engine (2 passes of the file each)\n\n")
	tw = tabwriter.NewWriter(os.Stdout, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "sessions\tturn p50\tturn p95\tturns\tp95 <= 2 s\t")
	held := 0
	fmt.Fprintf(tw, "1\t%s\t%s\t%d\t%s\t\n", fmtDur(p50), fmtDur(p95), len(one.latency), yes(p95 <= 2*time.Second))
	if p95 <= 2*time.Second {
		held = 1
	}
	for n := 2; held > 0 && n <= 8; n++ {
		r, err := sessions(srv.URL, n, 2, pcm, regions)
		if err != nil {
			return err
		}
		q50, q95 := pct(r.latency, 50), pct(r.latency, 95)
		fmt.Fprintf(tw, "%d\t%s\t%s\t%d\t%s\t\n", n, fmtDur(q50), fmtDur(q95), len(r.latency), yes(q95 <= 2*time.Second))
		if q95 > 2*time.Second || len(r.latency) < n*2*len(regions) {
			break
		}
		held = n
	}
	tw.Flush()
	fmt.Printf("\nThis machine holds %d real-time session(s) with p95 turn latency under 2 s.\n", held)
	return nil
}

// turnsAudio is turns.wav as 16 kHz PCM and where its speech is.
func turnsAudio() ([]byte, [][2]time.Duration, error) {
	_, a, err := loadAudio(filepath.Join("live", "testdata", "turns.wav"))
	if err != nil {
		return nil, nil, err
	}
	pcm := make([]byte, 2*len(a.Samples))
	for i, v := range a.Samples {
		binary.LittleEndian.PutUint16(pcm[2*i:], uint16(int16(math.Round(float64(max(-1, min(1, v)))*32767))))
	}
	b, err := os.ReadFile(filepath.Join("live", "testdata", "turns.txt"))
	if err != nil {
		return nil, nil, err
	}
	var regions [][2]time.Duration
	for _, line := range strings.Split(strings.TrimSpace(string(b)), "\n") {
		var s, e int
		if _, err := fmt.Sscan(line, &s, &e); err != nil {
			return nil, nil, err
		}
		regions = append(regions, [2]time.Duration{time.Duration(s) * time.Millisecond, time.Duration(e) * time.Millisecond})
	}
	return pcm, regions, nil
}

type liveResult struct {
	latency, afterStop, deltas []time.Duration
}

// sessions runs n sessions at once, each streaming pcm reps times at real
// time, and collects their turn latencies.
func sessions(url string, n, reps int, pcm []byte, regions [][2]time.Duration) (liveResult, error) {
	var (
		mu   sync.Mutex
		all  liveResult
		wg   sync.WaitGroup
		errs = make(chan error, n)
	)
	for range n {
		wg.Go(func() {
			r, err := oneSession(url, reps, pcm, regions)
			if err != nil {
				errs <- err
				return
			}
			mu.Lock()
			all.latency = append(all.latency, r.latency...)
			all.afterStop = append(all.afterStop, r.afterStop...)
			all.deltas = append(all.deltas, r.deltas...)
			mu.Unlock()
		})
	}
	wg.Wait()
	close(errs)
	return all, <-errs
}

func oneSession(url string, reps int, pcm []byte, regions [][2]time.Duration) (liveResult, error) {
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Minute)
	defer cancel()
	conn, _, err := websocket.Dial(ctx, strings.Replace(url, "http", "ws", 1)+"/v1/realtime?model=gpt-4o-transcribe", nil)
	if err != nil {
		return liveResult{}, err
	}
	defer conn.CloseNow()
	send := func(v any) error {
		b, _ := json.Marshal(v)
		return conn.Write(ctx, websocket.MessageText, b)
	}
	if err := send(map[string]any{"type": "session.update", "session": map[string]any{"type": "transcription", "audio": map[string]any{"input": map[string]any{
		"format": map[string]any{"type": "audio/pcm", "rate": 16000}, "transcription": map[string]any{"language": "en"},
		"turn_detection": map[string]any{"type": "server_vad", "silence_duration_ms": 500}}}}}); err != nil {
		return liveResult{}, err
	}
	total := time.Duration(len(pcm)/2) * time.Second / 16000
	// Where each turn's speech ends in the stream, and (filled in as the
	// audio goes out) when the chunk that holds that end was sent.
	var ends []time.Duration
	for r := range reps {
		for _, reg := range regions {
			ends = append(ends, time.Duration(r)*total+reg[1])
		}
	}
	speechEnds := make([]time.Time, len(ends))
	var sentMu sync.Mutex
	sentAt := func(turn int) time.Time {
		sentMu.Lock()
		defer sentMu.Unlock()
		return speechEnds[turn]
	}
	var res liveResult
	readErr := make(chan error, 1)
	go func() {
		var stopped, lastDelta time.Time
		turn := 0
		for turn < len(speechEnds) {
			_, b, err := conn.Read(ctx)
			if err != nil {
				readErr <- err
				return
			}
			now := time.Now()
			var ev struct {
				Type  string
				Error *struct{ Message string }
			}
			json.Unmarshal(b, &ev)
			switch ev.Type {
			case "error":
				readErr <- fmt.Errorf("error event: %s", ev.Error.Message)
				return
			case "input_audio_buffer.speech_started":
				lastDelta = now
			case "input_audio_buffer.speech_stopped":
				stopped = now
			case "conversation.item.input_audio_transcription.delta":
				res.deltas = append(res.deltas, now.Sub(lastDelta))
				lastDelta = now
			case "conversation.item.input_audio_transcription.completed":
				res.latency = append(res.latency, now.Sub(sentAt(turn)))
				res.afterStop = append(res.afterStop, now.Sub(stopped))
				turn++
			}
		}
		readErr <- nil
	}()
	const chunk = 1280 // 40 ms
	stream := append(append([]byte(nil), pcmRepeat(pcm, reps)...), make([]byte, 32000)...)
	start, next := time.Now(), 0
	for off := 0; off < len(stream); off += chunk {
		if err := send(map[string]any{"type": "input_audio_buffer.append", "audio": base64.StdEncoding.EncodeToString(stream[off:min(off+chunk, len(stream))])}); err != nil {
			return res, err
		}
		for ; next < len(ends) && ends[next] <= time.Duration(off+chunk)*time.Second/32000; next++ {
			sentMu.Lock()
			speechEnds[next] = time.Now()
			sentMu.Unlock()
		}
		time.Sleep(time.Until(start.Add(time.Duration(off+chunk) * time.Second / 32000)))
	}
	return res, <-readErr
}

func pcmRepeat(pcm []byte, n int) []byte {
	out := make([]byte, 0, n*len(pcm))
	for range n {
		out = append(out, pcm...)
	}
	return out
}

// timedEngine notes when each decode ends and how long it took, to
// measure how often partials can change.
type timedEngine struct {
	*transcribe.Engine
	mu    sync.Mutex
	ends  []time.Time
	lens  []int
	tooks []time.Duration
}

func (e *timedEngine) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	start := time.Now()
	res, err := e.Engine.Transcribe(ctx, req)
	if err == nil {
		e.mu.Lock()
		e.ends = append(e.ends, time.Now())
		e.lens = append(e.lens, len(req.Samples))
		e.tooks = append(e.tooks, time.Since(start))
		e.mu.Unlock()
	}
	return res, err
}

// intervals are the times between successive decodes of the same turn
// (whose audio grew from one to the next: a shorter one began a new turn),
// and how long every decode took.
func (e *timedEngine) intervals() (between, took []time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	for i := 1; i < len(e.ends); i++ {
		if e.lens[i] > e.lens[i-1] {
			between = append(between, e.ends[i].Sub(e.ends[i-1]))
		}
	}
	took = e.tooks
	e.ends, e.lens, e.tooks = nil, nil, nil
	return between, took
}

// pct is the p-th percentile of ds (0 for none).
func pct(ds []time.Duration, p int) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := append([]time.Duration(nil), ds...)
	sort.Slice(s, func(i, j int) bool { return s[i] < s[j] })
	return s[min(len(s)-1, (len(s)*p+99)/100-1)]
}
