// Package pipelinetest has a scripted engine for the tests of the surfaces
// and the pipeline: tests of HTTP or MCP behaviour (errors, auth, limits,
// formats, streaming) run on it in milliseconds and without cgo; the
// tests that need whisper itself use transcribe/whisper/whispertest.
//
// An Engine is safe for concurrent use.
package pipelinetest

import (
	"context"
	"strings"
	"sync"

	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// Engine answers each request with Text split into one segment per
// sentence, timed evenly over the audio, words included when token
// timestamps are asked for. Fail, FailAfter and Block script failures.
type Engine struct {
	// Text is what every request "says" (default "Hello there. How are you?").
	Text string
	// Fail, if set, is returned by every request: after FailAfter segments
	// have been delivered, or at once when FailAfter is 0.
	Fail      error
	FailAfter int
	// Block makes every request wait for its context to end.
	Block bool
	// NoSpeech marks every segment the way whisper marks one it thinks
	// is not speech (high no_speech_prob, low avg_logprob).
	NoSpeech bool

	mu         sync.Mutex
	calls      int
	samples    []int // len(Samples) of each request, in order
	cancelled  int
	running    int
	principals []pipeline.Principal
	last       transcribe.Request
}

// Transcribe plays the script.
func (e *Engine) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	e.mu.Lock()
	e.calls++
	e.samples = append(e.samples, len(req.Samples))
	e.running++
	e.last = req
	e.last.Samples = nil
	if p, ok := pipeline.FromContext(ctx); ok {
		e.principals = append(e.principals, p)
	}
	e.mu.Unlock()
	defer func() {
		e.mu.Lock()
		e.running--
		e.mu.Unlock()
	}()
	if e.Block {
		<-ctx.Done()
		e.mu.Lock()
		e.cancelled++
		e.mu.Unlock()
		return nil, ctx.Err()
	}
	if e.Fail != nil && e.FailAfter == 0 {
		return nil, e.Fail
	}
	if err := req.Options.Validate(); err != nil {
		return nil, err
	}
	res := e.result(float64(len(req.Samples))/transcribe.SampleRate, req.Options)
	for i, seg := range res.Segments {
		if e.Fail != nil && i == e.FailAfter {
			return nil, e.Fail
		}
		if req.OnProgress != nil {
			req.OnProgress(100 * i / len(res.Segments))
		}
		if req.OnSegment != nil {
			if err := req.OnSegment(seg); err != nil {
				return nil, err
			}
		}
	}
	if e.Fail != nil {
		return nil, e.Fail
	}
	if req.OnProgress != nil {
		req.OnProgress(100)
	}
	return res, nil
}

func (e *Engine) result(duration float64, o transcribe.Options) *transcribe.Result {
	text := e.Text
	if text == "" {
		text = "Hello there. How are you?"
	}
	var sentences []string
	for _, s := range strings.SplitAfter(text, ". ") {
		if s = strings.TrimSpace(s); s != "" {
			sentences = append(sentences, s)
		}
	}
	lang := o.Language
	if lang == "" {
		lang = "en"
	}
	res := &transcribe.Result{Language: lang, LanguageProb: 1, Duration: duration}
	step := duration / float64(max(1, len(sentences)))
	for i, s := range sentences {
		seg := transcribe.Segment{ID: i, Start: float64(i) * step, End: float64(i+1) * step, Text: " " + s, AvgLogprob: -0.2}
		if e.NoSpeech {
			seg.NoSpeechProb, seg.AvgLogprob = 0.9, -1.5
		}
		words := strings.Fields(s)
		wstep := step / float64(len(words))
		for j, w := range words {
			at := seg.Start + float64(j)*wstep
			seg.Tokens = append(seg.Tokens, transcribe.Token{ID: 1000 + j, Text: " " + w, P: 0.9, Logprob: -0.1, Start: at, End: at + wstep})
		}
		res.Segments = append(res.Segments, seg)
	}
	if o.TokenTimestamps {
		res.Words = transcribe.Words(res.Segments)
	}
	return res
}

// Model, Running and Queued make the Engine an httpapi.Stats.
func (e *Engine) Model() transcribe.ModelInfo { return transcribe.ModelInfo{Name: "scripted"} }

// Running is the number of requests in Transcribe.
func (e *Engine) Running() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.running
}

// Queued is always 0: the script has no queue.
func (e *Engine) Queued() int { return 0 }

// Calls is how many requests reached the engine.
func (e *Engine) Calls() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.calls
}

// Canceled is how many blocked requests ended because their context did.
func (e *Engine) Canceled() int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.cancelled
}

// Samples are how many samples each request brought, in order.
func (e *Engine) Samples() []int {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]int(nil), e.samples...)
}

// Principals are the callers the requests came from, in order.
func (e *Engine) Principals() []pipeline.Principal {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]pipeline.Principal(nil), e.principals...)
}

// Last is the last request, without its samples.
func (e *Engine) Last() transcribe.Request {
	e.mu.Lock()
	defer e.mu.Unlock()
	return e.last
}
