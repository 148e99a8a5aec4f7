package main

import (
	"context"
	"fmt"
	"log/slog"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/keys"
	"github.com/earshot-dev/earshot/pipeline"
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
		Logger:      c.log,
	}), nil
}

// keyAuth authenticates with the key file (and the keys held in memory).
type keyAuth struct{ keys *keys.Store }

func (a keyAuth) Authenticate(_ context.Context, key string) (pipeline.Principal, error) {
	if !a.keys.Verify(key) {
		return pipeline.Principal{}, pipeline.ErrBadKey
	}
	id := key
	if n := len(keys.Prefix) + 8; len(id) > n {
		id = id[:n] // the id 'earshot keys list' shows
	}
	return pipeline.Principal{KeyID: id}, nil
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
