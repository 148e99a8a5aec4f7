package main

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"log/slog"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/models"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/store"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcribe/whisper"
	"github.com/earshot-dev/earshot/transcripts"
)

// pipelineConfig is what serve and mcp both set up the request path with.
type pipelineConfig struct {
	engine   pipeline.Engine
	ffmpeg   string
	maxBytes int64
	store    *transcripts.Store
	auth     pipeline.Authenticator
	vad      transcribe.VAD
	models   pipeline.Models
	parallel int // chunks of one request decoded at once
	// waiting is how many requests wait for the engine (nil for an engine
	// still loading): see pipeline.Config.Waiting.
	waiting func() int
	limits  pipeline.Limiter
	log     *slog.Logger
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
		Engine:        c.engine,
		Decoder:       audio.Decoder{FFmpeg: c.ffmpeg, Limits: audio.Limits{MaxBytes: c.maxBytes}},
		Formatter:     formatter,
		Transcripts:   c.store,
		Auth:          c.auth,
		Limits:        c.limits,
		VAD:           c.vad,
		Models:        c.models,
		ChunkParallel: c.parallel,
		Waiting:       c.waiting,
		Logger:        c.log,
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

// loadVAD loads the Silero VAD model that make build converted into the
// model cache, or falls back to the energy VAD, saying so. noVAD turns
// speech detection off altogether (whisper hears everything). close frees
// what was loaded.
func loadVAD(ms *models.Store, noVAD, gpu bool, log *slog.Logger) (vad transcribe.VAD, close func()) {
	if noVAD {
		log.Info("voice activity detection is off (--no-vad): whisper hears all of the audio")
		return nil, func() {}
	}
	if !ms.VADCached() {
		log.Warn("no Silero VAD model: using the energy VAD (make build installs Silero's; see earshot models vad)", "path", ms.VADPath())
		return transcribe.EnergyVAD{}, func() {}
	}
	v, err := whisper.LoadVAD(ms.VADPath(), whisper.VADLoadOptions{GPU: gpu})
	if err != nil {
		log.Warn("the Silero VAD model could not be loaded: using the energy VAD", "path", ms.VADPath(), "error", err)
		return transcribe.EnergyVAD{}, func() {}
	}
	return v, func() { v.Close() }
}

// modelSet serves requests that name a downloaded model other than the
// default one: loaded on first use, a few at a time (transcribe.Engines).
// A request never names a path, only a model of the catalog in the cache.
type modelSet struct {
	engines *transcribe.Engines
	store   *models.Store
	skip    string // the default model, served by the main engine
}

func newModelSet(store *models.Store, skip string, gpu bool, eo transcribe.EngineOptions, mo transcribe.EnginesOptions) *modelSet {
	load := func(name string) (*transcribe.Engine, error) {
		path, err := store.Resolve(name)
		if err != nil {
			return nil, err
		}
		return whisper.NewEngine(path, whisper.LoadOptions{GPU: gpu}, eo)
	}
	return &modelSet{engines: transcribe.NewEngines(load, mo), store: store, skip: skip}
}

func (m *modelSet) Available() []string {
	var names []string
	for _, n := range m.store.Downloaded() {
		if n != m.skip {
			names = append(names, n)
		}
	}
	return names
}

func (m *modelSet) Engine(ctx context.Context, name string) (pipeline.Engine, func(), error) {
	e, release, err := m.engines.Get(ctx, name)
	if err != nil {
		return nil, nil, err
	}
	return e, release, nil
}

// liveDetector is the speech detector of live sessions: the batch
// requests' VAD, or the energy VAD when VAD is off for batch requests (a
// live turn needs one to end).
func liveDetector(v transcribe.VAD) live.SpeechDetector {
	if v == nil {
		v = transcribe.EnergyVAD{}
	}
	return live.VADDetector{VAD: v}
}
