package transcribe_test

import (
	"context"
	"errors"
	"math"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

// fakeModel stands in for whisper in tests of the pool: its workers block
// until released or cancelled, count how many exist and run at once, and
// tell started of each run (its audio seconds and threads) when set.
type fakeModel struct {
	release    chan struct{}
	started    chan run
	stateBytes int64
	made       atomic.Int32
	running    atomic.Int32
	peak       atomic.Int32
	threads    atomic.Int32 // threads of the runs now
	peakThr    atomic.Int32
	closed     atomic.Bool
	open       atomic.Int32
	failMake   bool
	growBy     int64        // resident memory a first run on a state touches
	rss        atomic.Int64 // the resident memory the engine reads
}

// run is one Run as the fake saw it start.
type run struct {
	seconds float64
	threads int
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

// memModel is a fakeModel that says what a state costs.
type memModel struct{ *fakeModel }

func (m memModel) StateBytes() int64 { return m.stateBytes }

type fakeWorker struct {
	m   *fakeModel
	ran bool
}

func raise(peak *atomic.Int32, n int32) {
	for {
		p := peak.Load()
		if n <= p || peak.CompareAndSwap(p, n) {
			return
		}
	}
}

func (w *fakeWorker) Run(ctx context.Context, req *transcribe.Request) (*transcribe.Result, error) {
	if req.Options.Threads <= 0 {
		return nil, errors.New("run without threads")
	}
	raise(&w.m.peak, w.m.running.Add(1))
	defer w.m.running.Add(-1)
	raise(&w.m.peakThr, w.m.threads.Add(int32(req.Options.Threads)))
	defer w.m.threads.Add(-int32(req.Options.Threads))
	secs := float64(len(req.Samples)) / transcribe.SampleRate
	if !w.ran {
		w.ran = true
		w.m.rss.Add(w.m.growBy)
	}
	if w.m.started != nil {
		w.m.started <- run{secs, req.Options.Threads}
	}
	select {
	case <-w.m.release:
		return &transcribe.Result{Duration: secs}, nil
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}
func (w *fakeWorker) Close() error { w.m.open.Add(-1); return nil }

// clock is a test's time: it moves only when told.
type clock struct{ ns atomic.Int64 }

func newClock() *clock {
	c := &clock{}
	c.ns.Store(time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC).UnixNano())
	return c
}
func (c *clock) now() time.Time                  { return time.Unix(0, c.ns.Load()) }
func (c *clock) advance(d time.Duration)         { c.ns.Add(int64(d)) }
func clip(seconds float64) []float32             { return make([]float32, int(seconds*transcribe.SampleRate)) }
func clipReq(seconds float64) transcribe.Request { return transcribe.Request{Samples: clip(seconds)} }

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
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		for e.Queued() != 1 {
			time.Sleep(time.Millisecond)
		}
		cancel()
	}()
	if _, err := e.Transcribe(ctx, req()); !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want Canceled", err)
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

// startOne submits a request that will run on e and waits until it runs.
func startOne(t *testing.T, e *transcribe.Engine, m *fakeModel, seconds float64, wg *sync.WaitGroup) run {
	t.Helper()
	wg.Go(func() { e.Transcribe(context.Background(), clipReq(seconds)) })
	return <-m.started
}

// queue submits requests that wait, one at a time so that their order is
// known, and returns when all are queued.
func queue(t *testing.T, e *transcribe.Engine, wg *sync.WaitGroup, seconds ...float64) {
	t.Helper()
	for _, s := range seconds {
		n := e.Queued()
		wg.Go(func() {
			if _, err := e.Transcribe(context.Background(), clipReq(s)); err != nil && !errors.Is(err, transcribe.ErrClosed) {
				t.Errorf("queued %.0f s clip: %v", s, err)
			}
		})
		waitFor(t, func() bool { return e.Queued() == n+1 })
	}
}

func TestAdaptiveShape(t *testing.T) {
	tests := []struct {
		name       string
		opts       transcribe.EngineOptions
		stateBytes int64
		queued     int   // requests waiting when the first one ends
		first      int   // threads of the lone first request
		then       []int // threads of the requests that start next, sorted
		maxStates  int
	}{
		{"lone request gets every thread", transcribe.EngineOptions{ThreadsTotal: 4}, 0, 0, 4, nil, 4},
		{"waiting requests share the budget", transcribe.EngineOptions{ThreadsTotal: 4}, 0, 4, 4, []int{1, 1, 1, 1}, 4},
		{"three share four threads", transcribe.EngineOptions{ThreadsTotal: 4}, 0, 3, 4, []int{1, 1, 2}, 4},
		{"more waiting than threads", transcribe.EngineOptions{ThreadsTotal: 2}, 0, 5, 2, []int{1, 1}, 2},
		{"workers bound the states", transcribe.EngineOptions{ThreadsTotal: 4, Workers: 2}, 0, 3, 4, []int{2, 2}, 2},
		{"memory bounds the states", transcribe.EngineOptions{ThreadsTotal: 4, MaxMemory: 250}, 100, 3, 4, []int{2, 2}, 2},
		{"memory for less than one state", transcribe.EngineOptions{ThreadsTotal: 4, MaxMemory: 10}, 100, 2, 4, []int{4}, 1},
		{"fixed threads keep their shape", transcribe.EngineOptions{Threads: 2, Workers: 1, ThreadsTotal: 8}, 0, 2, 2, []int{2}, 1},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.started = make(chan run, 16)
			f.stateBytes = tt.stateBytes
			var m transcribe.Model = f
			if tt.stateBytes > 0 {
				m = memModel{f}
			}
			tt.opts.MaxQueueWait = -1
			e, err := transcribe.NewEngine(m, tt.opts)
			if err != nil {
				t.Fatal(err)
			}
			if got := e.MaxStates(); got != tt.maxStates {
				t.Errorf("MaxStates = %d, want %d", got, tt.maxStates)
			}
			var wg sync.WaitGroup
			if r := startOne(t, e, f, 1, &wg); r.threads != tt.first {
				t.Errorf("lone request ran with %d threads, want %d", r.threads, tt.first)
			}
			queue(t, e, &wg, slices.Repeat([]float64{1}, tt.queued)...)
			if l := e.Load(); l.Waiting != tt.queued || l.Running != 1 || l.ThreadsBusy != tt.first {
				t.Errorf("Load = %+v, want %d waiting, 1 running on %d threads", l, tt.queued, tt.first)
			}
			f.release <- struct{}{} // the first ends; the next ones start
			var got []int
			for range tt.then {
				got = append(got, (<-f.started).threads)
			}
			slices.Sort(got)
			if !slices.Equal(got, tt.then) {
				t.Errorf("next requests ran with %v threads, want %v", got, tt.then)
			}
			close(f.release)
			wg.Wait()
			budget := int32(max(tt.opts.ThreadsTotal, tt.opts.Threads*tt.maxStates))
			if p := f.peakThr.Load(); p > budget {
				t.Errorf("peak threads = %d, over the budget of %d", p, budget)
			}
			if p := f.made.Load(); p > int32(tt.maxStates) {
				t.Errorf("made %d states, more than %d", p, tt.maxStates)
			}
			if err := e.Close(); err != nil {
				t.Fatal(err)
			}
		})
	}
}

func TestAdmissionByExpectedWait(t *testing.T) {
	// Cost 1 on one thread: a clip of up to 30 s (one window) is 30 s of
	// work, a 600 s file 600 s. A 1 s clip runs throughout; the clock
	// stands still, so none of it is done.
	tests := []struct {
		name     string
		opts     transcribe.EngineOptions
		queued   []float64 // seconds of the clips waiting
		clip     float64   // the request under test
		deadline time.Duration
		wait     time.Duration // its expected wait
		refused  bool
		reason   string // in the error
	}{
		{"under the limit", transcribe.EngineOptions{MaxQueueWait: 45 * time.Second}, nil, 1, 0, 30 * time.Second, false, ""},
		{"over the limit", transcribe.EngineOptions{MaxQueueWait: 45 * time.Second}, []float64{1}, 1, 0, 60 * time.Second, true, "over the limit of 45s"},
		{"a short clip counts what is ahead of it only", transcribe.EngineOptions{MaxQueueWait: 45 * time.Second}, []float64{600}, 1, 0, 30 * time.Second, false, ""},
		{"a long file waits for what is ahead", transcribe.EngineOptions{MaxQueueWait: 45 * time.Second}, []float64{1}, 600, 0, 60 * time.Second, true, "over the limit"},
		{"no limit", transcribe.EngineOptions{MaxQueueWait: -1}, []float64{1, 1, 1}, 1, 0, 120 * time.Second, false, ""},
		{"queue cap", transcribe.EngineOptions{MaxQueueWait: -1, Queue: 2}, []float64{1, 1}, 1, 0, 90 * time.Second, true, "2 requests are waiting"},
		{"no waiting", transcribe.EngineOptions{Queue: -1}, nil, 1, 0, 30 * time.Second, true, "no request may wait"},
		{"deadline before the wait ends", transcribe.EngineOptions{}, nil, 1, 10 * time.Second, 30 * time.Second, true, "deadline"},
		{"deadline after the wait ends", transcribe.EngineOptions{}, nil, 1, time.Hour, 30 * time.Second, false, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.started = make(chan run, 16)
			opts := tt.opts
			opts.ThreadsTotal, opts.Workers, opts.Cost = 1, 1, 1
			e, err := transcribe.NewEngine(f, opts)
			if err != nil {
				t.Fatal(err)
			}
			transcribe.SetClock(e, newClock().now)
			var wg sync.WaitGroup
			defer func() {
				e.Close()
				wg.Wait()
			}()
			startOne(t, e, f, 1, &wg)
			queue(t, e, &wg, tt.queued...)
			if tt.clip <= 30 {
				if got := e.Load().ExpectedWait; got != tt.wait {
					t.Errorf("Load().ExpectedWait = %s, want %s", got, tt.wait)
				}
			}
			ctx := context.Background()
			if tt.deadline > 0 {
				var cancel context.CancelFunc
				ctx, cancel = context.WithTimeout(ctx, tt.deadline)
				defer cancel()
			}
			errc := make(chan error, 1)
			wg.Go(func() {
				_, err := e.Transcribe(ctx, clipReq(tt.clip))
				errc <- err
			})
			if !tt.refused {
				waitFor(t, func() bool { return e.Queued() == len(tt.queued)+1 })
				return
			}
			err = <-errc
			var busy *transcribe.BusyError
			if !errors.Is(err, transcribe.ErrQueueFull) || !errors.As(err, &busy) {
				t.Fatalf("err = %v, want a *BusyError that is ErrQueueFull", err)
			}
			if busy.Wait != tt.wait || busy.RetryAfter() != tt.wait {
				t.Errorf("Wait = %s, RetryAfter = %s; want %s", busy.Wait, busy.RetryAfter(), tt.wait)
			}
			if !strings.Contains(err.Error(), tt.reason) {
				t.Errorf("err = %q, want it to say %q", err, tt.reason)
			}
			if q := e.Queued(); q != len(tt.queued) {
				t.Errorf("a refused request is in the queue: %d waiting, want %d", q, len(tt.queued))
			}
		})
	}
}

func TestRetryAfter(t *testing.T) {
	for _, tt := range []struct{ wait, want time.Duration }{
		{0, time.Second},
		{300 * time.Millisecond, time.Second},
		{1200 * time.Millisecond, 2 * time.Second},
		{time.Minute, time.Minute},
	} {
		if got := (&transcribe.BusyError{Wait: tt.wait}).RetryAfter(); got != tt.want {
			t.Errorf("RetryAfter(%s) = %s, want %s", tt.wait, got, tt.want)
		}
	}
}

func TestFairOrder(t *testing.T) {
	// One thread, one state, cost 1: a 1 s clip is expected to take 30 s,
	// a 600 s file 600 s. A 1 s clip runs while the others queue.
	tests := []struct {
		name  string
		steps []step // requests queued, and the clock moved, in order
		want  []float64
	}{
		{"short clips pass a long file", []step{{clip: 600}, {clip: 1}, {clip: 2}}, []float64{1, 2, 600}},
		{"arrival order among equals", []step{{clip: 3}, {clip: 2}, {clip: 1}}, []float64{3, 2, 1}},
		{"a long file is not starved", []step{{clip: 600}, {clip: 1}, {advance: 700 * time.Second}, {clip: 2}}, []float64{1, 600, 2}},
		{"by expected finish, not by length", []step{{clip: 900}, {clip: 600}, {advance: 300 * time.Second}, {clip: 700}}, []float64{600, 900, 700}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFake()
			f.started = make(chan run, 16)
			e, err := transcribe.NewEngine(f, transcribe.EngineOptions{ThreadsTotal: 1, Workers: 1, Cost: 1, MaxQueueWait: -1})
			if err != nil {
				t.Fatal(err)
			}
			c := newClock()
			transcribe.SetClock(e, c.now)
			var wg sync.WaitGroup
			startOne(t, e, f, 1, &wg)
			for _, s := range tt.steps {
				c.advance(s.advance)
				if s.clip > 0 {
					queue(t, e, &wg, s.clip)
				}
			}
			var got []float64
			for range tt.want {
				f.release <- struct{}{}
				got = append(got, (<-f.started).seconds)
			}
			if !slices.Equal(got, tt.want) {
				t.Errorf("ran %v, want %v", got, tt.want)
			}
			close(f.release)
			wg.Wait()
			e.Close()
		})
	}
}

type step struct {
	clip    float64
	advance time.Duration
}

func TestCostIsMeasured(t *testing.T) {
	f := newFake()
	f.started = make(chan run, 16)
	e, err := transcribe.NewEngine(f, transcribe.EngineOptions{ThreadsTotal: 2, Workers: 1, Cost: 1})
	if err != nil {
		t.Fatal(err)
	}
	defer e.Close()
	c := newClock()
	transcribe.SetClock(e, c.now)
	// Each run of a 1 s clip (30 s of work) on 2 threads takes took; the
	// first measurement replaces the option, the next ones average in.
	for _, tt := range []struct {
		took time.Duration
		want float64
	}{
		{15 * time.Second, 1},                  // 15 s x 2 threads / 30 s
		{30 * time.Second, 1 + 0.2*(2-1)},      // moving average
		{3 * time.Second, 1.2 + 0.2*(0.2-1.2)}, // faster runs pull it down
	} {
		done := make(chan error)
		go func() {
			_, err := e.Transcribe(context.Background(), clipReq(1))
			done <- err
		}()
		<-f.started
		c.advance(tt.took)
		f.release <- struct{}{}
		if err := <-done; err != nil {
			t.Fatal(err)
		}
		if got := e.Load().Cost; math.Abs(got-tt.want) > 1e-9 {
			t.Errorf("after a run of %s: cost = %v, want %v", tt.took, got, tt.want)
		}
	}
}

// TestBudgetUnderLoad runs many requests at once through a small budget:
// the threads in use never exceed it, nor the states their bound, and
// every request finishes (run it with -race).
func TestBudgetUnderLoad(t *testing.T) {
	f := newFake()
	close(f.release)
	e, err := transcribe.NewEngine(f, transcribe.EngineOptions{ThreadsTotal: 3, Workers: 5, MaxQueueWait: -1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	var failed atomic.Int32
	for i := range 60 {
		wg.Go(func() {
			r := clipReq(float64(1 + i%7*10))
			if i%5 == 0 {
				r.Options.Threads = 2
			}
			if _, err := e.Transcribe(context.Background(), r); err != nil {
				failed.Add(1)
			}
		})
	}
	wg.Wait()
	if n := failed.Load(); n != 0 {
		t.Errorf("%d requests failed", n)
	}
	if p := f.peakThr.Load(); p > 3 {
		t.Errorf("peak threads = %d, over the budget of 3", p)
	}
	if p := f.peak.Load(); p > 3 {
		t.Errorf("peak concurrency = %d, more than the 3 threads allow", p)
	}
	if l := e.Load(); l.ThreadsBusy != 0 || l.Running != 0 || l.Waiting != 0 {
		t.Errorf("idle engine reports %+v", l)
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}

func TestCloseWhileQueued(t *testing.T) {
	f := newFake()
	f.started = make(chan run, 4)
	e, err := transcribe.NewEngine(f, transcribe.EngineOptions{ThreadsTotal: 1, Workers: 1})
	if err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	startOne(t, e, f, 1, &wg)
	errc := make(chan error, 1)
	go func() {
		_, err := e.Transcribe(context.Background(), clipReq(1))
		errc <- err
	}()
	waitFor(t, func() bool { return e.Queued() == 1 })
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
	if err := <-errc; !errors.Is(err, transcribe.ErrClosed) {
		t.Errorf("queued request: err = %v, want ErrClosed", err)
	}
	wg.Wait()
}

func TestStateCostIsMeasured(t *testing.T) {
	const mb = 1 << 20
	f := newFake()
	f.started = make(chan run, 8)
	f.growBy = 100 * mb
	e, err := transcribe.NewEngine(f, transcribe.EngineOptions{Threads: 1, Workers: 4, MaxMemory: 250 * mb})
	if err != nil {
		t.Fatal(err)
	}
	transcribe.SetRSS(e, f.rss.Load)
	if n := e.MaxStates(); n != 4 {
		t.Fatalf("before any run: MaxStates = %d, want 4 (making a state costs next to nothing)", n)
	}
	var wg sync.WaitGroup
	for range 4 { // four states, each touching 100 MB in its first run
		startOne(t, e, f, 1, &wg)
	}
	close(f.release)
	wg.Wait()
	if got := e.StateBytes(); got < 100*mb {
		t.Errorf("StateBytes = %d MB, want at least 100 MB", got/mb)
	}
	if n := e.MaxStates(); n != 2 {
		t.Errorf("MaxStates = %d, want 2 (250 MB over 100 MB a state)", n)
	}
	if l := e.Load(); l.States != 2 || f.open.Load() != 2 {
		t.Errorf("%d states kept (%d open), want the 2 the memory allows", l.States, f.open.Load())
	}
	if err := e.Close(); err != nil {
		t.Fatal(err)
	}
}
