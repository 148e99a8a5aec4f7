package transcribe

import (
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
)

// Errors returned by the engine, each wrapped with the details. The
// pipeline classifies them into its error kinds (ErrQueueFull is "rate
// limited", ErrInvalidAudio and ErrInvalidOptions "invalid argument": an
// invalid option is an *OptionError that names it).
var (
	ErrQueueFull      = errors.New("transcribe: queue is full")
	ErrClosed         = errors.New("transcribe: engine is closed")
	ErrInvalidAudio   = errors.New("transcribe: invalid audio")
	ErrInvalidOptions = errors.New("transcribe: invalid options")
)

// Model is a loaded speech model that can make workers. Weights are shared:
// a worker holds only its own decoding state.
type Model interface {
	// NewWorker allocates the state for one request at a time.
	NewWorker() (Worker, error)
	// Info describes the model.
	Info() ModelInfo
	// Close frees the model. Every worker must be closed first.
	Close() error
}

// Worker runs one request at a time on a Model.
type Worker interface {
	// Run transcribes req with already validated options and a positive
	// thread count. It returns ctx.Err() promptly once ctx is done.
	Run(ctx context.Context, req *Request) (*Result, error)
	Close() error
}

// ModelInfo describes a loaded model.
type ModelInfo struct {
	Name         string `json:"name"` // a short name, such as the file's base name
	Path         string `json:"path"`
	Type         string `json:"type"` // whisper's size name: tiny, base, ...
	Multilingual bool   `json:"multilingual"`
	Vocab        int    `json:"vocab"`
	AudioLayers  int    `json:"audio_layers"`
	TextLayers   int    `json:"text_layers"`
	State        int    `json:"state"`
	Bytes        int64  `json:"bytes"` // size of the model file
}

// EngineOptions sizes an Engine. Zero values pick defaults from the machine.
type EngineOptions struct {
	// Threads per request (default min(4, NumCPU)).
	Threads int
	// Workers is how many requests run at once (default NumCPU/Threads, at
	// least 1). Each holds a whisper state: tens of MB for small models.
	Workers int
	// Queue is how many requests may wait for a worker (default 4*Workers);
	// beyond it Transcribe returns ErrQueueFull at once. Negative means none.
	Queue int
	// MaxDuration rejects longer audio before it reaches the model (default 4h).
	MaxDuration time.Duration
}

// DefaultMaxDuration is the longest audio an engine accepts by default.
const DefaultMaxDuration = 4 * time.Hour

func (o EngineOptions) withDefaults() EngineOptions {
	n := runtime.NumCPU()
	if o.Threads <= 0 {
		o.Threads = min(4, n)
	}
	if o.Workers <= 0 {
		o.Workers = max(1, n/o.Threads)
	}
	if o.Queue == 0 {
		o.Queue = 4 * o.Workers
	}
	o.Queue = max(0, o.Queue)
	if o.MaxDuration <= 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	return o
}

// Engine runs transcriptions on a Model with a fixed pool of workers behind a
// bounded queue. Create it with NewEngine; it is safe for concurrent use.
type Engine struct {
	model Model
	opts  EngineOptions

	slots    chan struct{} // one token per worker that may run
	admitted atomic.Int64  // requests queued or running
	running  atomic.Int64

	mu      sync.Mutex
	idle    []Worker // workers made and free
	closed  bool
	stop    context.CancelFunc // cancels every running request on Close
	stopCtx context.Context
	wg      sync.WaitGroup // requests admitted and not yet returned
}

// NewEngine makes an Engine over m. It makes one worker at once, to fail
// early if the model cannot run; the others are made on first use. The
// Engine owns m from then on: Close closes it.
func NewEngine(m Model, opts EngineOptions) (*Engine, error) {
	opts = opts.withDefaults()
	w, err := m.NewWorker()
	if err != nil {
		return nil, fmt.Errorf("transcribe: making a worker: %w", err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		model:   m,
		opts:    opts,
		slots:   make(chan struct{}, opts.Workers),
		idle:    []Worker{w},
		stop:    cancel,
		stopCtx: ctx,
	}
	for range opts.Workers {
		e.slots <- struct{}{}
	}
	return e, nil
}

// Options returns the engine's sizing, defaults filled in.
func (e *Engine) Options() EngineOptions { return e.opts }

// Model describes the engine's model.
func (e *Engine) Model() ModelInfo { return e.model.Info() }

// Running is the number of requests being transcribed now.
func (e *Engine) Running() int { return int(e.running.Load()) }

// Queued is the number of requests waiting for a worker.
func (e *Engine) Queued() int { return max(0, int(e.admitted.Load()-e.running.Load())) }

// Transcribe runs one request and returns its result. It fails at once with
// ErrQueueFull when Workers requests run and Queue more wait, with
// ErrInvalidAudio or ErrInvalidOptions for bad input, and with ctx.Err()
// when ctx is done first (the model stops within about a second).
func (e *Engine) Transcribe(ctx context.Context, req Request) (*Result, error) {
	if err := e.check(&req); err != nil {
		return nil, err
	}
	if err := e.admit(); err != nil {
		return nil, err
	}
	defer e.wg.Done()
	defer e.admitted.Add(-1)

	queued := time.Now()
	// Stop when the caller gives up or the engine closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(e.stopCtx, cancel)
	defer stop()

	select {
	case <-e.slots:
	case <-ctx.Done():
		return nil, e.ctxErr(ctx)
	}
	defer func() { e.slots <- struct{}{} }()
	w, err := e.worker()
	if err != nil {
		return nil, err
	}
	e.running.Add(1)
	wait := time.Since(queued)
	res, err := w.Run(ctx, &req)
	e.running.Add(-1)
	e.release(w)
	if err != nil {
		if ctx.Err() != nil {
			return nil, e.ctxErr(ctx)
		}
		return nil, err
	}
	res.Timings.QueueMS = float64(wait.Microseconds()) / 1000
	return res, nil
}

// ctxErr reports why ctx ended: the caller's reason, or ErrClosed when the
// engine closed under the request.
func (e *Engine) ctxErr(ctx context.Context) error {
	if e.stopCtx.Err() != nil {
		return ErrClosed
	}
	return ctx.Err()
}

// check validates the request in Go, before any of it reaches C.
func (e *Engine) check(req *Request) error {
	if err := req.Options.Validate(); err != nil {
		return err
	}
	if req.Options.Threads == 0 {
		req.Options.Threads = e.opts.Threads
	}
	n := len(req.Samples)
	if n == 0 {
		return fmt.Errorf("%w: no samples", ErrInvalidAudio)
	}
	if max := e.opts.MaxDuration.Seconds() * SampleRate; float64(n) > max {
		return fmt.Errorf("%w: %s of audio is longer than the limit of %s", ErrInvalidAudio,
			(time.Duration(n) * time.Second / SampleRate).Round(time.Second), e.opts.MaxDuration)
	}
	if d := time.Duration(n) * time.Second / SampleRate; req.Options.Offset >= d {
		return optionErrorf("offset", "offset %s is past the end of %s of audio", req.Options.Offset, d.Round(time.Millisecond))
	}
	for i, s := range req.Samples {
		if math.IsNaN(float64(s)) || math.IsInf(float64(s), 0) {
			return fmt.Errorf("%w: sample %d is %v", ErrInvalidAudio, i, s)
		}
	}
	return nil
}

func (e *Engine) admit() error {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return ErrClosed
	}
	if e.admitted.Load() >= int64(e.opts.Workers+e.opts.Queue) {
		return ErrQueueFull
	}
	e.admitted.Add(1)
	e.wg.Add(1)
	return nil
}

// worker takes an idle worker or makes one; the caller holds a slot, so at
// most Workers exist.
func (e *Engine) worker() (Worker, error) {
	e.mu.Lock()
	if n := len(e.idle); n > 0 {
		w := e.idle[n-1]
		e.idle = e.idle[:n-1]
		e.mu.Unlock()
		return w, nil
	}
	e.mu.Unlock()
	w, err := e.model.NewWorker()
	if err != nil {
		return nil, fmt.Errorf("transcribe: making a worker: %w", err)
	}
	return w, nil
}

func (e *Engine) release(w Worker) {
	e.mu.Lock()
	e.idle = append(e.idle, w)
	e.mu.Unlock()
}

// Close refuses new requests, cancels the running ones, waits for them to
// return and frees the workers and the model. It is safe to call more than
// once and concurrently with Transcribe.
func (e *Engine) Close() error {
	e.mu.Lock()
	if e.closed {
		e.mu.Unlock()
		return nil
	}
	e.closed = true
	e.mu.Unlock()
	e.stop()
	e.wg.Wait()
	var errs []error
	for _, w := range e.idle {
		errs = append(errs, w.Close())
	}
	e.idle = nil
	errs = append(errs, e.model.Close())
	return errors.Join(errs...)
}
