package transcribe

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"sync"
	"time"
)

// ErrModelsBusy is returned by Engines.Get when every model slot holds a
// model that requests are using, so no other can be loaded now.
var ErrModelsBusy = errors.New("transcribe: every loaded model is in use")

// EnginesOptions bound an Engines.
type EnginesOptions struct {
	// Max is how many models may be loaded at once (default 2).
	Max int
	// IdleTTL unloads a model no request has used for that long
	// (default 10 minutes).
	IdleTTL time.Duration
}

// Engines loads models on demand, one Engine each, shared by every request
// that names the model: at most Max at once, the least recently used idle
// one unloaded to make room, and any idle for IdleTTL unloaded. A model
// that fails to load fails the requests for it, and only those.
//
// It is safe for concurrent use. It starts a timer per idle model and no
// goroutine; Close unloads everything.
type Engines struct {
	load func(name string) (*Engine, error)
	opts EnginesOptions

	mu     sync.Mutex
	m      map[string]*loaded
	closed bool
}

type loaded struct {
	ready  chan struct{} // closed once engine or err is set
	engine *Engine
	err    error
	users  int
	used   time.Time
	timer  *time.Timer
}

// NewEngines makes an empty set; load makes the engine of a model name
// (main resolves the name in the model cache; a path is never a name).
func NewEngines(load func(name string) (*Engine, error), opts EnginesOptions) *Engines {
	if opts.Max <= 0 {
		opts.Max = 2
	}
	if opts.IdleTTL <= 0 {
		opts.IdleTTL = 10 * time.Minute
	}
	return &Engines{load: load, opts: opts, m: map[string]*loaded{}}
}

// Get returns the engine of model name, loading it first if need be (the
// caller waits, or gives up when ctx ends). Call release when the request
// is done with it.
func (s *Engines) Get(ctx context.Context, name string) (e *Engine, release func(), err error) {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return nil, nil, ErrClosed
	}
	l, ok := s.m[name]
	if !ok {
		if err := s.makeRoom(); err != nil {
			s.mu.Unlock()
			return nil, nil, err
		}
		l = &loaded{ready: make(chan struct{})}
		s.m[name] = l
		go s.loadInto(name, l) // joined by ready; Close waits on it
	}
	l.users++
	if l.timer != nil {
		l.timer.Stop()
		l.timer = nil
	}
	s.mu.Unlock()

	done := func() { s.release(name, l) }
	select {
	case <-l.ready:
	case <-ctx.Done():
		done()
		return nil, nil, ctx.Err()
	}
	if l.err != nil {
		done()
		return nil, nil, l.err
	}
	return l.engine, sync.OnceFunc(done), nil
}

func (s *Engines) loadInto(name string, l *loaded) {
	e, err := s.load(name)
	if err != nil {
		err = fmt.Errorf("loading model %s: %w", name, err)
	}
	s.mu.Lock()
	l.engine, l.err = e, err
	if err != nil && s.m[name] == l {
		delete(s.m, name) // the next request tries again
	}
	s.mu.Unlock()
	close(l.ready)
}

// makeRoom unloads the least recently used idle model when the set is
// full; the caller holds mu.
func (s *Engines) makeRoom() error {
	if len(s.m) < s.opts.Max {
		return nil
	}
	var victim string
	var oldest time.Time
	for name, l := range s.m {
		if l.users > 0 || !isDone(l.ready) {
			continue
		}
		if victim == "" || l.used.Before(oldest) {
			victim, oldest = name, l.used
		}
	}
	if victim == "" {
		return fmt.Errorf("%w (%d models loaded, the most this server keeps)", ErrModelsBusy, len(s.m))
	}
	s.unload(victim)
	return nil
}

func (s *Engines) release(name string, l *loaded) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l.users--
	l.used = time.Now()
	if l.users == 0 && !s.closed && s.m[name] == l {
		l.timer = time.AfterFunc(s.opts.IdleTTL, func() {
			s.mu.Lock()
			defer s.mu.Unlock()
			if s.m[name] == l && l.users == 0 {
				s.unload(name)
			}
		})
	}
}

// unload closes an idle model; the caller holds mu.
func (s *Engines) unload(name string) {
	l := s.m[name]
	delete(s.m, name)
	if l.timer != nil {
		l.timer.Stop()
	}
	if l.engine != nil {
		l.engine.Close()
	}
}

func isDone(c chan struct{}) bool {
	select {
	case <-c:
		return true
	default:
		return false
	}
}

// Loaded names the models loaded now, sorted.
func (s *Engines) Loaded() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	var names []string
	for name, l := range s.m {
		if isDone(l.ready) && l.err == nil {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	return names
}

// Close waits for loads under way, then closes every engine (cancelling
// what runs on them). Get fails with ErrClosed afterwards.
func (s *Engines) Close() error {
	s.mu.Lock()
	s.closed = true
	all := make([]*loaded, 0, len(s.m))
	for _, l := range s.m {
		all = append(all, l)
	}
	s.m = map[string]*loaded{}
	s.mu.Unlock()
	var errs []error
	for _, l := range all {
		<-l.ready
		if l.timer != nil {
			l.timer.Stop()
		}
		if l.engine != nil {
			errs = append(errs, l.engine.Close())
		}
	}
	return errors.Join(errs...)
}
