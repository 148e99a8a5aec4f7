package transcribe_test

import (
	"context"
	"errors"
	"math"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

// fakeModel stands in for whisper in tests of the pool: its workers block
// until released or cancelled, and count how many exist and run at once.
type fakeModel struct {
	release  chan struct{}
	made     atomic.Int32
	running  atomic.Int32
	peak     atomic.Int32
	closed   atomic.Bool
	open     atomic.Int32
	failMake bool
}

func newFake() *fakeModel { return &fakeModel{release: make(chan struct{})} }

func (m *fakeModel) NewWorker() (transcribe.Worker, error) {
	if m.failMake {
		return nil, errors.New("no memory")
	}
	m.made.Add(1)
	m.open.Add(1)
	return &fakeWorker{m: m}, nil
}
func (m *fakeModel) Info() transcribe.ModelInfo { return transcribe.ModelInfo{Name: "fake"} }
func (m *fakeModel) Close() error {
	if m.open.Load() != 0 {
		return errors.New("workers still open")
	}
	m.closed.Store(true)
	return nil
}

type fakeWorker struct{ m *fakeModel }

func (w *fakeWorker) Run(ctx context.Context, req *transcribe.Request) (*transcribe.Result, error) {
	n := w.m.running.Add(1)
	defer w.m.running.Add(-1)
	for {
		p := w.m.peak.Load()
		if n <= p || w.m.peak.CompareAndSwap(p, n) {
			break
		}
	}
	select {
	case <-w.m.release:
		return &transcribe.Result{Duration: float64(len(req.Samples)) / transcribe.SampleRate}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (w *fakeWorker) Close() error { w.m.open.Add(-1); return nil }

func req() transcribe.Request {
	return transcribe.Request{Samples: make([]float32, transcribe.SampleRate)}
}

func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not reached in 5 s")
		}
		time.Sleep(time.Millisecond)
	}
}

func TestPoolBoundsWorkersAndQueue(t *testing.T) {
	m := newFake()
	e, err := transcribe.NewEngine(m, transcribe.EngineOptions{Threads: 1, Workers: 2, Queue: 3})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 10)
	for range 5 { // 2 running + 3 queued
		wg.Go(func() {
			_, err := e.Transcribe(context.Background(), req())
			errs <- err
		})
	}
	waitFor(t, func() bool { return e.Running() == 2 && e.Queued() == 3 })
	for range 3 {
		if _, err := e.Transcribe(context.Background(), req()); !errors.Is(err, transcribe.ErrQueueFull) {
			t.Errorf("6th request: err = %v, want ErrQueueFull", err)
		}
	}
	close(m.release)
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Errorf("queued request: %v", err)
		}
	}
	if got := m.peak.Load(); got != 2 {
		t.Errorf("peak concurrency = %d, want 2", got)
	}
	if got := m.made.Load(); got != 2 {
		t.Errorf("workers made = %d, want 2 (reused, not one per request)", got)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if !m.closed.Load() || m.open.Load() != 0 {
		t.Errorf("Close left the model open or %d workers open", m.open.Load())
	}
}

func TestCancelWhileQueued(t *testing.T) {
	m := newFake()
	e, err := transcribe.NewEngine(m, transcribe.EngineOptions{Threads: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	go e.Transcribe(context.Background(), req()) // occupies the only worker until Close
	waitFor(t, func() bool { return e.Running() == 1 })
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Millisecond)
	defer cancel()
	if _, err := e.Transcribe(ctx, req()); !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want DeadlineExceeded", err)
	}
	if q := e.Queued(); q != 0 {
		t.Errorf("queue holds %d after the waiter left", q)
	}
}

func TestCloseCancelsRunning(t *testing.T) {
	m := newFake()
	e, err := transcribe.NewEngine(m, transcribe.EngineOptions{Threads: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan error)
	go func() {
		_, err := e.Transcribe(context.Background(), req())
		done <- err
	}()
	waitFor(t, func() bool { return e.Running() == 1 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-done; !errors.Is(err, transcribe.ErrClosed) {
		t.Errorf("running request: err = %v, want ErrClosed", err)
	}
	if _, err := e.Transcribe(context.Background(), req()); !errors.Is(err, transcribe.ErrClosed) {
		t.Errorf("after Close: err = %v, want ErrClosed", err)
	}
	if err := e.Close(); err != nil {
		t.Errorf("second Close: %v", err)
	}
}

func TestNewEngineFailsEarly(t *testing.T) {
	m := newFake()
	m.failMake = true
	if _, err := transcribe.NewEngine(m, transcribe.EngineOptions{}); err == nil {
		t.Fatal("NewEngine succeeded with a model that cannot make workers")
	}
}

func TestValidation(t *testing.T) {
	m := newFake()
	close(m.release)
	e, err := transcribe.NewEngine(m, transcribe.EngineOptions{Threads: 1, Workers: 1, MaxDuration: time.Minute})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	nan := make([]float32, 10)
	nan[3] = float32(math.NaN())
	inf := make([]float32, 10)
	inf[9] = float32(math.Inf(-1))
	tests := []struct {
		name    string
		samples []float32
		opts    transcribe.Options
		want    error
		param   string // the option an *OptionError names
	}{
		{"ok", make([]float32, 100), transcribe.Options{Language: "English"}, nil, ""},
		{"empty", nil, transcribe.Options{}, transcribe.ErrInvalidAudio, ""},
		{"NaN", nan, transcribe.Options{}, transcribe.ErrInvalidAudio, ""},
		{"Inf", inf, transcribe.Options{}, transcribe.ErrInvalidAudio, ""},
		{"too long", make([]float32, 61*transcribe.SampleRate), transcribe.Options{}, transcribe.ErrInvalidAudio, ""},
		{"language", make([]float32, 10), transcribe.Options{Language: "xx"}, transcribe.ErrInvalidOptions, "language"},
		{"temperature NaN", make([]float32, 10), transcribe.Options{Temperature: float32(math.NaN())}, transcribe.ErrInvalidOptions, "temperature"},
		{"negative offset", make([]float32, 10), transcribe.Options{Offset: -time.Second}, transcribe.ErrInvalidOptions, "offset"},
		{"offset past the end", make([]float32, transcribe.SampleRate), transcribe.Options{Offset: time.Second}, transcribe.ErrInvalidOptions, "offset"},
		{"threads", make([]float32, 10), transcribe.Options{Threads: 1000}, transcribe.ErrInvalidOptions, "threads"},
		{"best of", make([]float32, 10), transcribe.Options{BestOf: -1}, transcribe.ErrInvalidOptions, "best_of"},
		{"max len", make([]float32, 10), transcribe.Options{MaxSegmentLen: -1}, transcribe.ErrInvalidOptions, "max_segment_len"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := e.Transcribe(context.Background(), transcribe.Request{Samples: tt.samples, Options: tt.opts})
			if !errors.Is(err, tt.want) {
				t.Errorf("err = %v, want %v", err, tt.want)
			}
			var named interface{ Parameter() string }
			if errors.As(err, &named) != (tt.param != "") || (named != nil && named.Parameter() != tt.param) {
				t.Errorf("err = %#v, want an error naming %q", err, tt.param)
			}
		})
	}
}

func TestLanguages(t *testing.T) {
	tests := []struct{ in, code, name string }{
		{"en", "en", "english"},
		{"EN", "en", "english"},
		{"German", "de", "german"},
		{" yue ", "yue", "cantonese"},
		{"xx", "", ""},
	}
	for _, tt := range tests {
		code, ok := transcribe.LanguageCode(tt.in)
		if code != tt.code || ok != (tt.code != "") {
			t.Errorf("LanguageCode(%q) = %q, %v; want %q", tt.in, code, ok, tt.code)
		}
		if name, _ := transcribe.LanguageName(code); name != tt.name {
			t.Errorf("LanguageName(%q) = %q, want %q", code, name, tt.name)
		}
	}
}
