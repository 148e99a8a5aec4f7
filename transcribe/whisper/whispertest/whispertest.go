// Package whispertest gives tests a real transcription engine: whisper.cpp
// on a synthetic model that earshot writes itself (random weights: the words
// are meaningless, the work is real), and a check that no goroutine leaks.
//
// Use it from TestMain, then ask for engines in tests:
//
//	var model string
//	func TestMain(m *testing.M) { os.Exit(whispertest.Main(m, &model)) }
//	...
//	e := whispertest.Engine(t, model, transcribe.EngineOptions{Threads: 2, Workers: 1})
package whispertest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"testing"

	"go.uber.org/goleak"

	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper"
	"github.com/earshot-dev/earshot/transcribe/whisper/ggml"
)

// Main writes the synthetic test model and sets *model to its path, runs
// the tests, removes the model, and fails the run if goroutines are left
// (idle HTTP keep-alive connections aside). It returns the exit code.
func Main(m *testing.M, model *string) int {
	dir, err := os.MkdirTemp("", "earshot-test-model-")
	if err != nil {
		panic(err)
	}
	*model = filepath.Join(dir, ggml.Test.FileName())
	if err := ggml.SynthesizeFile(*model, ggml.Test, 1); err != nil {
		panic(err)
	}
	code := m.Run()
	os.RemoveAll(dir)
	if code == 0 {
		if err := goleak.Find(goleak.IgnoreTopFunction("net/http.(*persistConn).writeLoop"),
			goleak.IgnoreTopFunction("net/http.(*persistConn).readLoop"),
			goleak.IgnoreTopFunction("internal/poll.runtime_pollWait")); err != nil {
			fmt.Fprintln(os.Stderr, "goroutine leak:", err)
			code = 1
		}
	}
	return code
}

// CountingEngine is the real engine, counting the requests that ended
// cancelled (to see that a surface's cancellation reached whisper).
type CountingEngine struct {
	*transcribe.Engine
	mu       sync.Mutex
	canceled int
}

// Transcribe runs the request on the engine.
func (e *CountingEngine) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	res, err := e.Engine.Transcribe(ctx, req)
	if errors.Is(err, context.Canceled) {
		e.mu.Lock()
		e.canceled++
		e.mu.Unlock()
	}
	return res, err
}

// Canceled is the number of requests that ended cancelled.
func (e *CountingEngine) Canceled() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.canceled
}

// Engine loads the model and starts an engine, closed when the test ends.
func Engine(t testing.TB, model string, opts transcribe.EngineOptions) *CountingEngine {
	t.Helper()
	e, err := whisper.NewEngine(model, whisper.LoadOptions{}, opts)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := e.Close(); err != nil {
			t.Errorf("closing the engine: %v", err)
		}
	})
	return &CountingEngine{Engine: e}
}
