package transcribe

import (
	"container/heap"
	"context"
	"errors"
	"fmt"
	"math"
	"runtime"
	"sync"
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
//
// A Model may also have a method StateBytes() int64 saying what one
// worker's state costs in memory; without it the engine measures the
// growth of the process's resident memory from before the first worker
// over the workers' first runs (whisper touches most of a state's buffers
// only then), shared among them.
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
//
// With Threads 0 the engine is adaptive: it picks each request's threads
// as the request starts, from the load, within a budget of ThreadsTotal. A
// lone request gets every thread (the lowest latency); with requests
// waiting, more states run with fewer threads each (the highest
// throughput, since whisper's work per thread falls as threads are added).
// With Threads > 0 the shape is fixed: every request runs with Threads
// threads, at most Workers at once.
type EngineOptions struct {
	// Threads per request: 0 (the default) chooses them per request from
	// the load; > 0 fixes them.
	Threads int
	// ThreadsTotal is the thread budget the adaptive engine shares out
	// (default NumCPU): never more threads than this run at once.
	ThreadsTotal int
	// Workers bounds the whisper states, so the requests that run at once
	// (default ThreadsTotal when adaptive, ThreadsTotal/Threads, at least
	// 1, when fixed). States are made as the load needs them and kept.
	Workers int
	// MaxMemory bounds the states by memory, in bytes: at most MaxMemory
	// over one state's cost (StateBytes, as measured so far), and at least
	// one. 0 means no bound beyond Workers.
	MaxMemory int64
	// MaxQueueWait admits a request only while its expected wait is at
	// most this (default DefaultMaxQueueWait); beyond it Transcribe returns
	// a *BusyError at once. Negative means no bound.
	MaxQueueWait time.Duration
	// Queue is a hard cap on the requests waiting to start: 0 means no cap
	// beyond MaxQueueWait, negative means none may wait.
	Queue int
	// Cost is the thread-seconds one second of audio costs, the estimate
	// used until the first request has been measured (default
	// DefaultCost). Measurements replace it.
	Cost float64
	// MaxDuration rejects longer audio before it reaches the model (default 4h).
	MaxDuration time.Duration
}

// Defaults of EngineOptions.
const (
	// DefaultMaxDuration is the longest audio an engine accepts by default.
	DefaultMaxDuration = 4 * time.Hour
	// DefaultMaxQueueWait is the longest expected wait admitted by default.
	DefaultMaxQueueWait = time.Minute
	// DefaultCost is the first estimate of thread-seconds per second of
	// audio: whisper tiny on one core of a laptop costs about 0.1.
	DefaultCost = 0.2
)

// window is whisper's unit of work: it encodes audio 30 seconds at a time,
// so a shorter clip costs as much as a whole window.
const window = 30.0

// costWeight is the weight of each new measurement in the cost's moving
// average.
const costWeight = 0.2

func (o EngineOptions) withDefaults() EngineOptions {
	if o.ThreadsTotal <= 0 {
		o.ThreadsTotal = runtime.NumCPU()
	}
	o.ThreadsTotal = min(o.ThreadsTotal, MaxThreads)
	o.Threads = min(max(0, o.Threads), MaxThreads)
	if o.Workers <= 0 {
		o.Workers = o.ThreadsTotal
		if o.Threads > 0 {
			o.Workers = max(1, o.ThreadsTotal/o.Threads)
		}
	}
	if o.MaxQueueWait == 0 {
		o.MaxQueueWait = DefaultMaxQueueWait
	}
	if o.Cost <= 0 || math.IsNaN(o.Cost) || math.IsInf(o.Cost, 0) {
		o.Cost = DefaultCost
	}
	if o.MaxDuration <= 0 {
		o.MaxDuration = DefaultMaxDuration
	}
	return o
}

// BusyError is a request refused because the engine is too busy for it:
// its expected wait is over EngineOptions.MaxQueueWait, the queue holds
// EngineOptions.Queue requests, or the caller's deadline would pass before
// it could finish. errors.Is(err, ErrQueueFull) holds.
type BusyError struct {
	// Wait is the expected wait before the request would start.
	Wait time.Duration
	// Limit is the MaxQueueWait it was over (0 when another reason).
	Limit time.Duration
	// Waiting is the number of requests waiting when it came.
	Waiting int
	// Deadline is how long the caller's deadline left, when the reason.
	Deadline time.Duration
	// Run is the expected run time, when the deadline was the reason.
	Run time.Duration
	// Cap is the Queue cap, when the reason.
	Cap int
}

func (e *BusyError) Error() string {
	s := ErrQueueFull.Error() + ": "
	wait := e.Wait.Round(time.Second)
	switch {
	case e.Deadline > 0:
		return s + fmt.Sprintf("the expected wait of %s and run of %s end after the request's deadline in %s",
			wait, e.Run.Round(100*time.Millisecond), e.Deadline.Round(100*time.Millisecond))
	case e.Cap > 0:
		return s + fmt.Sprintf("%d requests are waiting, the most allowed (expected wait %s)", e.Waiting, wait)
	case e.Limit > 0:
		return s + fmt.Sprintf("the expected wait of %s is over the limit of %s (%d waiting)", wait, e.Limit, e.Waiting)
	}
	return s + fmt.Sprintf("every worker is busy and no request may wait (expected wait %s)", wait)
}

// Unwrap makes errors.Is(err, ErrQueueFull) hold.
func (e *BusyError) Unwrap() error { return ErrQueueFull }

// RetryAfter is when to try again: the expected wait in whole seconds,
// rounded up, at least one.
func (e *BusyError) RetryAfter() time.Duration {
	d := e.Wait
	if r := d % time.Second; r != 0 {
		d += time.Second - r
	}
	return max(time.Second, d)
}

// Load is a snapshot of what an engine is doing and the shape it runs in.
type Load struct {
	Running int `json:"running"` // requests running, one state each
	Waiting int `json:"waiting"`
	// ThreadsBusy is the threads the running requests use, out of
	// ThreadsTotal.
	ThreadsBusy  int `json:"threads_busy"`
	ThreadsTotal int `json:"threads_total"`
	// States is how many whisper states exist now, MaxStates how many may,
	// StateBytes what one costs in memory as measured so far.
	States     int   `json:"states"`
	MaxStates  int   `json:"max_states"`
	StateBytes int64 `json:"state_bytes"`
	// ExpectedWait is what a short request arriving now would wait.
	ExpectedWait time.Duration `json:"expected_wait"`
	// Cost is the measured thread-seconds per second of audio (a moving
	// average; a clip under 30 s counts as 30 s).
	Cost float64 `json:"cost"`
}

// Engine runs transcriptions on a Model. Requests wait in a queue ordered
// by expected finish and start as threads and states free up. Create it
// with NewEngine; it is safe for concurrent use.
type Engine struct {
	model Model
	opts  EngineOptions
	now   func() time.Time
	rss   func() int64 // resident memory, to measure what a state costs

	mu         sync.Mutex
	maxStates  int
	stateBytes int64
	modelBytes bool  // stateBytes is the model's own figure
	firstMade  int64 // what making the first state grew the process by
	base       int64 // resident memory before any state was touched
	touched    int   // states that have begun a first run

	cost     float64 // thread-seconds per second of work
	measured bool    // cost comes from a run, not the option
	queue    waitQueue
	running  map[*job]struct{}
	busy     int // threads of the running jobs
	seq      uint64
	idle     []*state // workers made and free
	states   int      // workers made and open
	closed   bool
	stop     context.CancelFunc // cancels every running request on Close
	stopCtx  context.Context
	wg       sync.WaitGroup // requests admitted and not yet returned
}

// job is one admitted request, waiting or running.
type job struct {
	work    float64   // seconds of audio, at least one window
	want    int       // threads asked for; 0 lets the engine choose
	finish  time.Time // expected finish when it came: the queue's order
	seq     uint64    // arrival order, for ties
	arrival time.Time
	index   int      // in the queue; -1 once out
	grant   chan int // the threads it runs with, once it may start
	threads int
	start   time.Time
}

// state is a worker and what is known of its memory.
type state struct {
	Worker
	made  int64 // resident memory grown as it was made
	fresh bool  // not run yet: its first run is measured
}

// NewEngine makes an Engine over m. It makes one worker at once, to fail
// early if the model cannot run and to measure what a state costs; the
// others are made on first use. The Engine owns m from then on: Close
// closes it.
func NewEngine(m Model, opts EngineOptions) (*Engine, error) {
	opts = opts.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	e := &Engine{
		model:   m,
		opts:    opts,
		now:     time.Now,
		rss:     residentBytes,
		cost:    opts.Cost,
		running: make(map[*job]struct{}),
		stop:    cancel,
		stopCtx: ctx,
	}
	st, err := e.newState()
	if err != nil {
		cancel()
		return nil, err
	}
	e.idle, e.states = []*state{st}, 1
	e.stateBytes, e.firstMade = st.made, st.made
	if sb, ok := m.(interface{ StateBytes() int64 }); ok {
		e.stateBytes, e.modelBytes = sb.StateBytes(), true
	}
	e.bound()
	return e, nil
}

// newState makes a worker and measures what making it cost.
func (e *Engine) newState() (*state, error) {
	before := e.rss()
	w, err := e.model.NewWorker()
	if err != nil {
		return nil, fmt.Errorf("transcribe: making a worker: %w", err)
	}
	return &state{Worker: w, made: max(0, e.rss()-before), fresh: true}, nil
}

// bound sets maxStates from Workers and MaxMemory over a state's cost.
func (e *Engine) bound() {
	e.maxStates = e.opts.Workers
	if e.opts.MaxMemory > 0 && e.stateBytes > 0 {
		e.maxStates = max(1, min(e.maxStates, int(e.opts.MaxMemory/e.stateBytes)))
	}
}

// Options returns the engine's sizing, defaults filled in.
func (e *Engine) Options() EngineOptions { return e.opts }

// MaxStates is how many whisper states the engine may make: Workers, or
// fewer where MaxMemory bounds them.
func (e *Engine) MaxStates() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.maxStates
}

// StateBytes is what one state costs in memory: the model's own figure, or
// the growth of the process's resident memory over the states' first
// runs, per state (0 where it cannot be measured). Until the first request
// it counts only the making, which whisper keeps small by touching its
// buffers later.
func (e *Engine) StateBytes() int64 {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.stateBytes
}

// Model describes the engine's model.
func (e *Engine) Model() ModelInfo { return e.model.Info() }

// Running is the number of requests being transcribed now.
func (e *Engine) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.running)
}

// Queued is the number of requests waiting to start.
func (e *Engine) Queued() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return len(e.queue)
}

// Load reports what the engine is doing now.
func (e *Engine) Load() Load {
	e.mu.Lock()
	defer e.mu.Unlock()
	now := e.now()
	return Load{
		Running:      len(e.running),
		Waiting:      len(e.queue),
		ThreadsBusy:  e.busy,
		ThreadsTotal: e.capacity(),
		States:       e.states,
		MaxStates:    e.maxStates,
		StateBytes:   e.stateBytes,
		ExpectedWait: e.waitLocked(now, e.finishOf(now, window), e.seq),
		Cost:         e.cost,
	}
}

// Transcribe runs one request and returns its result. It fails at once
// with a *BusyError (errors.Is ErrQueueFull) when the request's expected
// wait is over MaxQueueWait, the queue is at its cap, or ctx's deadline
// would pass before it could finish; with ErrInvalidAudio or
// ErrInvalidOptions for bad input; and with ctx.Err() when ctx is done
// first (the model stops within about a second).
func (e *Engine) Transcribe(ctx context.Context, req Request) (*Result, error) {
	if err := e.check(&req); err != nil {
		return nil, err
	}
	j, err := e.admit(ctx, &req)
	if err != nil {
		return nil, err
	}
	defer e.wg.Done()

	// Stop when the caller gives up or the engine closes.
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	stop := context.AfterFunc(e.stopCtx, cancel)
	defer stop()

	select {
	case <-j.grant:
	case <-ctx.Done():
		if e.leave(j) {
			return nil, e.ctxErr(ctx)
		}
		e.done(j, nil, 0) // granted as it gave up: hand the threads back
		return nil, e.ctxErr(ctx)
	}
	w, err := e.worker()
	if err != nil {
		e.done(j, nil, 0)
		return nil, err
	}
	req.Options.Threads = j.threads
	fresh := w.fresh
	if fresh {
		w.fresh = false
		e.touch()
	}
	res, err := w.Run(ctx, &req)
	took := e.now().Sub(j.start)
	if fresh {
		e.learn()
	}
	if err != nil {
		e.done(j, w, 0)
		if ctx.Err() != nil {
			return nil, e.ctxErr(ctx)
		}
		return nil, err
	}
	e.done(j, w, took)
	res.Timings.QueueMS = float64(j.start.Sub(j.arrival).Microseconds()) / 1000
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

// work is the seconds of audio a request will decode, at least a window.
func work(req *Request) float64 {
	d := float64(len(req.Samples))/SampleRate - req.Options.Offset.Seconds()
	if req.Options.Duration > 0 {
		d = min(d, req.Options.Duration.Seconds())
	}
	return max(window, d)
}

// capacity is the threads that run at once when the engine is full.
func (e *Engine) capacity() int {
	if e.opts.Threads > 0 {
		return e.maxStates * e.opts.Threads
	}
	return e.opts.ThreadsTotal
}

// finishOf is when a request of work seconds arriving at now is expected
// to finish if it had the whole machine: the queue's order.
func (e *Engine) finishOf(now time.Time, work float64) time.Time {
	return now.Add(seconds(work * e.cost / float64(e.capacity())))
}

// admit queues the request or refuses it. The caller must call e.wg.Done
// once an admitted request returns.
func (e *Engine) admit(ctx context.Context, req *Request) (*job, error) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.closed {
		return nil, ErrClosed
	}
	now := e.now()
	j := &job{
		work:    work(req),
		want:    req.Options.Threads,
		seq:     e.seq,
		arrival: now,
		grant:   make(chan int, 1),
	}
	if j.want == 0 {
		j.want = e.opts.Threads
	}
	if e.opts.Threads == 0 {
		j.want = min(j.want, e.opts.ThreadsTotal)
	}
	j.finish = e.finishOf(now, j.work)
	e.seq++

	startsNow := len(e.queue) == 0 && e.fits(j, 1)
	var wait time.Duration
	if !startsNow {
		wait = e.waitLocked(now, j.finish, j.seq)
		busy := &BusyError{Wait: wait, Waiting: len(e.queue)}
		switch {
		case e.opts.Queue < 0:
			return nil, busy
		case e.opts.Queue > 0 && len(e.queue) >= e.opts.Queue:
			busy.Cap = e.opts.Queue
			return nil, busy
		case e.opts.MaxQueueWait > 0 && wait > e.opts.MaxQueueWait:
			busy.Limit = e.opts.MaxQueueWait
			return nil, busy
		}
	}
	if deadline, ok := ctx.Deadline(); ok {
		left := time.Until(deadline)
		// The run's own length counts once it has been measured; before,
		// only a wait that alone outlasts the deadline refuses.
		run := time.Duration(0)
		if e.measured {
			run = seconds(j.work * e.cost / float64(e.threadsFor(j)))
		}
		if left > 0 && wait+run > left {
			return nil, &BusyError{Wait: wait, Waiting: len(e.queue), Deadline: left, Run: run}
		}
	}
	heap.Push(&e.queue, j)
	e.wg.Add(1)
	e.dispatch()
	return j, nil
}

// threadsFor is the threads j would get when it starts on an engine as
// loaded as now: what it asked for, or an even share of the budget.
func (e *Engine) threadsFor(j *job) int {
	if j.want > 0 {
		return j.want
	}
	return max(1, e.opts.ThreadsTotal/max(1, min(len(e.queue)+len(e.running)+1, e.maxStates)))
}

// fits reports whether j could start now with lanes requests sharing the
// free threads.
func (e *Engine) fits(j *job, lanes int) bool {
	if len(e.running) >= e.maxStates {
		return false
	}
	if e.opts.Threads > 0 {
		return true // the fixed shape: states bound it, not threads
	}
	free := e.opts.ThreadsTotal - e.busy
	if j.want > 0 {
		return free >= j.want
	}
	return free >= 1 && lanes >= 1
}

// dispatch starts waiting jobs, first to finish first, while threads and
// states are free. An adaptive job gets an even share of the free threads
// among the jobs that can start now: all of them when it is alone.
func (e *Engine) dispatch() {
	now := e.now()
	for len(e.queue) > 0 {
		j := e.queue[0]
		slots := e.maxStates - len(e.running)
		free := e.opts.ThreadsTotal - e.busy
		lanes := min(len(e.queue), slots, free)
		if !e.fits(j, lanes) {
			return
		}
		t := j.want
		if t == 0 {
			t = free / lanes
		}
		heap.Pop(&e.queue)
		j.threads, j.start = t, now
		e.busy += t
		e.running[j] = struct{}{}
		j.grant <- t
	}
}

// waitLocked is the expected wait of a job that would be queued at the
// place of finish (seq breaks ties): the thread-seconds left of the
// running jobs and of those queued ahead, over the threads that share them.
func (e *Engine) waitLocked(now, finish time.Time, seq uint64) time.Duration {
	if len(e.queue) == 0 && len(e.running) < e.maxStates && (e.opts.Threads > 0 || e.busy < e.opts.ThreadsTotal) {
		return 0
	}
	var ts float64
	for j := range e.running {
		ts += max(0, j.work*e.cost-now.Sub(j.start).Seconds()*float64(j.threads))
	}
	for _, j := range e.queue {
		if j.finish.Before(finish) || j.finish.Equal(finish) && j.seq < seq {
			ts += j.work * e.cost
		}
	}
	return seconds(ts / float64(e.capacity()))
}

// leave takes a job that gave up out of the queue; false if it was
// granted first.
func (e *Engine) leave(j *job) bool {
	e.mu.Lock()
	defer e.mu.Unlock()
	if j.index < 0 {
		return false
	}
	heap.Remove(&e.queue, j.index)
	e.dispatch() // the head may have been what held the others back
	return true
}

// touch notes that a state begins its first run, when whisper touches
// its buffers.
func (e *Engine) touch() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if e.touched == 0 {
		e.base = e.rss() - e.firstMade
	}
	e.touched++
}

// learn measures a state's cost as a first run ends: the growth of
// resident memory since before the first state, shared among the states
// touched. The largest figure so far bounds the states.
func (e *Engine) learn() {
	e.mu.Lock()
	defer e.mu.Unlock()
	if b := (e.rss() - e.base) / int64(e.touched); !e.modelBytes && b > e.stateBytes {
		e.stateBytes = b
		e.bound()
	}
}

// done ends a started job: its worker goes back to the idle ones, its
// threads to the budget, and a run that took took teaches the cost.
func (e *Engine) done(j *job, w *state, took time.Duration) {
	e.mu.Lock()
	defer e.mu.Unlock()
	switch {
	case w == nil:
	case e.states > e.maxStates:
		// The memory bound fell as states were measured: free this one.
		e.states--
		w.Close()
	default:
		e.idle = append(e.idle, w)
	}
	delete(e.running, j)
	e.busy -= j.threads
	if took > 0 {
		sample := took.Seconds() * float64(j.threads) / j.work
		if e.measured {
			e.cost += costWeight * (sample - e.cost)
		} else {
			e.cost, e.measured = sample, true
		}
	}
	e.dispatch()
}

// worker takes an idle worker or makes one; the caller runs a job, so at
// most maxStates exist.
func (e *Engine) worker() (*state, error) {
	e.mu.Lock()
	if n := len(e.idle); n > 0 {
		w := e.idle[n-1]
		e.idle = e.idle[:n-1]
		e.mu.Unlock()
		return w, nil
	}
	e.mu.Unlock()
	w, err := e.newState()
	if err != nil {
		return nil, err
	}
	e.mu.Lock()
	e.states++
	e.mu.Unlock()
	return w, nil
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
	e.states = 0
	errs = append(errs, e.model.Close())
	return errors.Join(errs...)
}

// waitQueue is a heap of jobs, the one expected to finish first on top.
type waitQueue []*job

func (q waitQueue) Len() int { return len(q) }
func (q waitQueue) Less(a, b int) bool {
	if !q[a].finish.Equal(q[b].finish) {
		return q[a].finish.Before(q[b].finish)
	}
	return q[a].seq < q[b].seq
}
func (q waitQueue) Swap(a, b int) {
	q[a], q[b] = q[b], q[a]
	q[a].index, q[b].index = a, b
}
func (q *waitQueue) Push(x any) {
	j := x.(*job)
	j.index = len(*q)
	*q = append(*q, j)
}
func (q *waitQueue) Pop() any {
	old := *q
	j := old[len(old)-1]
	old[len(old)-1] = nil
	j.index = -1
	*q = old[:len(old)-1]
	return j
}
