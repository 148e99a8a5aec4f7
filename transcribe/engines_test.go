package transcribe_test

import (
	"context"
	"errors"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

type loads struct {
	mu    sync.Mutex
	n     map[string]int
	fakes map[string]*fakeModel
}

func (l *loads) load(name string) (*transcribe.Engine, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.n[name]++
	if name == "broken" {
		return nil, errors.New("not a whisper model")
	}
	m := newFake()
	l.fakes[name] = m
	return transcribe.NewEngine(m, transcribe.EngineOptions{Threads: 1, Workers: 1})
}

func (l *loads) count(name string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[name]
}

func TestEnginesOnDemand(t *testing.T) {
	l := &loads{n: map[string]int{}, fakes: map[string]*fakeModel{}}
	s := transcribe.NewEngines(l.load, transcribe.EnginesOptions{Max: 2, IdleTTL: time.Hour})
	defer s.Close()
	ctx := context.Background()

	// Requests for one model share one load.
	var wg sync.WaitGroup
	for range 5 {
		wg.Go(func() {
			_, release, err := s.Get(ctx, "base")
			if err != nil {
				t.Error(err)
				return
			}
			release()
		})
	}
	wg.Wait()
	if n := l.count("base"); n != 1 {
		t.Errorf("base loaded %d times for 5 requests", n)
	}

	// A model that fails to load fails its requests, not the others', and
	// is tried again next time.
	if _, _, err := s.Get(ctx, "broken"); err == nil {
		t.Error("a broken model loaded")
	}
	if _, _, err := s.Get(ctx, "broken"); err == nil || l.count("broken") != 2 {
		t.Errorf("broken: %v, loaded %d times", err, l.count("broken"))
	}

	// Full: the least recently used idle model makes room; one in use does not.
	_, releaseSmall, err := s.Get(ctx, "small")
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Loaded(); !slices.Equal(got, []string{"base", "small"}) {
		t.Errorf("loaded %v", got)
	}
	_, releaseTiny, err := s.Get(ctx, "tiny") // base is idle: it goes
	if err != nil {
		t.Fatal(err)
	}
	if got := s.Loaded(); !slices.Equal(got, []string{"small", "tiny"}) {
		t.Errorf("after loading tiny: %v", got)
	}
	if !l.fakes["base"].closed.Load() {
		t.Error("the unloaded model was not closed")
	}
	if _, _, err := s.Get(ctx, "medium"); !errors.Is(err, transcribe.ErrModelsBusy) {
		t.Errorf("every slot in use: %v, want ErrModelsBusy", err)
	}
	releaseSmall()
	releaseTiny()
	releaseTiny() // twice is once
	if _, release, err := s.Get(ctx, "medium"); err != nil {
		t.Errorf("after release: %v", err)
	} else {
		release()
	}
}

func TestEnginesIdleUnload(t *testing.T) {
	l := &loads{n: map[string]int{}, fakes: map[string]*fakeModel{}}
	s := transcribe.NewEngines(l.load, transcribe.EnginesOptions{Max: 2, IdleTTL: 20 * time.Millisecond})
	_, release, err := s.Get(context.Background(), "base")
	if err != nil {
		t.Fatal(err)
	}
	release()
	deadline := time.Now().Add(10 * time.Second)
	for len(s.Loaded()) != 0 {
		if time.Now().After(deadline) {
			t.Fatal("an idle model was never unloaded")
		}
		time.Sleep(5 * time.Millisecond)
	}
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	if _, _, err := s.Get(context.Background(), "base"); !errors.Is(err, transcribe.ErrClosed) {
		t.Errorf("after Close: %v", err)
	}
}
