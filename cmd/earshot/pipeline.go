package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/store"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

// pipelineConfig is what serve and mcp both set up the request path with.
type pipelineConfig struct {
	engine   pipeline.Engine
	ffmpeg   string
	maxBytes int64
	store    *transcripts.Store
	auth     pipeline.Authenticator
	limits   pipeline.Limiter
	log      *slog.Logger
}

// newPipeline builds the one request path of serve and mcp: agentmode's
// formatter (its token encoding loaded now, not on the first request), the
// audio decoder and the transcript store.
func newPipeline(c pipelineConfig) (*pipeline.Pipeline, error) {
	formatter, err := agentmode.New()
	if err != nil {
		return nil, err
	}
	if _, err := formatter.Encoding(""); err != nil {
		return nil, err
	}
	if c.ffmpeg == "" {
		c.log.Warn("ffmpeg not found: Ogg/Opus/WebM/MP4/AAC audio will be refused (install: sudo apt-get install -y ffmpeg)")
	}
	return pipeline.New(pipeline.Config{
		Engine:      c.engine,
		Decoder:     audio.Decoder{FFmpeg: c.ffmpeg, Limits: audio.Limits{MaxBytes: c.maxBytes}},
		Formatter:   formatter,
		Transcripts: c.store,
		Auth:        c.auth,
		Limits:      c.limits,
		Logger:      c.log,
	}), nil
}

// keyAuth authenticates with the key store, and first with the keys held
// in memory for this run only (EARSHOT_API_KEY, --session-key), which the
// store never sees.
type keyAuth struct {
	store  *store.DB
	memory [][32]byte // SHA-256 of each in-memory key
}

func (a *keyAuth) addMemory(key string) { a.memory = append(a.memory, sha256.Sum256([]byte(key))) }

// active counts the keys that may be used: in memory and unrevoked in the store.
func (a *keyAuth) active(ctx context.Context) (int, error) {
	ks, err := a.store.Keys(ctx)
	if err != nil {
		return 0, err
	}
	n := len(a.memory)
	for _, k := range ks {
		if k.Revoked.IsZero() {
			n++
		}
	}
	return n, nil
}

func (a *keyAuth) Authenticate(ctx context.Context, key string) (pipeline.Principal, error) {
	sum := sha256.Sum256([]byte(key))
	found := 0
	for _, m := range a.memory {
		found |= subtle.ConstantTimeCompare(sum[:], m[:])
	}
	if found == 1 {
		return pipeline.Principal{KeyID: "memory", Name: "this run's key"}, nil
	}
	p, err := a.store.Authenticate(ctx, key)
	switch {
	case errors.Is(err, store.ErrUnauthenticated):
		return pipeline.Principal{}, pipeline.ErrBadKey
	case err != nil:
		return pipeline.Principal{}, err // the store is down: 503, not 401
	}
	who := pipeline.Principal{KeyID: p.KeyID, Name: p.Name, Limits: pipeline.Limits{
		RPM: p.Limits.RPM, Concurrency: p.Limits.Concurrency,
		MaxUpload: p.Limits.MaxUpload, MonthlyAudioSeconds: p.Limits.MonthlyAudioSeconds,
	}}
	for _, s := range p.Scopes {
		who.Scopes = append(who.Scopes, string(s))
	}
	return who, nil
}

// lazyEngine is an engine being loaded in the background: earshot mcp
// answers the client at once, and a first transcription waits for it.
type lazyEngine struct {
	done   chan struct{}
	engine *transcribe.Engine
	err    error
}

func (l *lazyEngine) Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error) {
	select {
	case <-l.done:
		if l.err != nil {
			return nil, l.err
		}
		return l.engine.Transcribe(ctx, req)
	case <-ctx.Done():
		return nil, ctx.Err()
	}
}

// modelUnavailable is a model that could not be loaded, as every surface
// shows it.
func modelUnavailable(err error) error {
	return &pipeline.Error{Kind: pipeline.Unavailable, Code: "model_unavailable", Err: err,
		Message: fmt.Sprintf("The speech model could not be loaded: %v", err)}
}
