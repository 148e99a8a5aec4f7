// Package pipeline is earshot's one request path, shared by every surface
// (the HTTP API, the MCP tools, and those to come): audio bytes and options
// in; decoded audio, a whisper run, a stored transcript and output shaped
// by agentmode out; and one error taxonomy (Kind, Error, Classify) that
// each surface renders in a single function of its own.
//
//	bytes ─ audio.Decode ─ Engine.Transcribe ─ transcripts.Put ─ agentmode.Format
//	        (progress)      (segments, progress)                  (mode, budget)
//
// It also holds who is calling: Authenticate puts a Principal in the
// request's context for the limits and usage that read it.
//
// It is its own package, not part of transcribe, because it joins packages
// that transcribe must not know (audio decoding, agentmode, the transcript
// store) and because its errors speak for the surfaces, not the engine.
//
// A Pipeline is safe for concurrent use. It owns no goroutines: every call
// runs on its caller's, and callbacks are made on that goroutine too. It
// holds nothing to close; the engine it is given is closed by its owner.
package pipeline

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

// Engine is what the pipeline needs of the transcription core.
type Engine interface {
	Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error)
}

// Models are the models a request may name besides the one Engine
// serves: those downloaded, loaded on first use (transcribe.Engines).
type Models interface {
	// Available names the models a request may ask for, sorted.
	Available() []string
	// Engine is the named model's engine, loaded first if need be;
	// release it when the request is done.
	Engine(ctx context.Context, name string) (e Engine, release func(), err error)
}

// Formatter shapes transcriptions (agentmode).
type Formatter interface {
	Format(res *transcribe.Result, opts agentmode.Options) (*agentmode.Output, error)
}

// Config is the pipeline's configuration; main fills it once.
type Config struct {
	// Engine transcribes. It may block while a model loads (earshot mcp
	// answers the client before its model is loaded).
	Engine    Engine
	Decoder   audio.Decoder
	Formatter Formatter
	// Models serve requests that name another model; nil: only Engine.
	Models Models
	// Transcripts keeps results that callers may page through again
	// (Request.Keep); nil keeps nothing.
	Transcripts *transcripts.Store
	// Auth checks API keys; nil turns auth off.
	Auth Authenticator
	// Limits enforces each key's limits and records its usage; nil
	// enforces none.
	Limits Limiter
	// VAD finds speech before whisper runs; nil lets whisper hear
	// everything.
	VAD transcribe.VAD
	// ChunkAfter is the length past which audio is cut at pauses and its
	// pieces decoded at once (default DefaultChunkAfter); ChunkParallel is
	// how many pieces of one request run at once (default 1: main sets the
	// engine's worker count).
	ChunkAfter    time.Duration
	ChunkParallel int
	// Waiting says how many requests wait for the engine (nil: unknown).
	// While any do, a chunked request runs one piece at a time, so a long
	// file takes the workers nobody else wants rather than holding them all.
	Waiting func() int
	// RetryAfter is what a full queue tells clients to wait (default 1 s).
	RetryAfter time.Duration
	Logger     *slog.Logger
}

// Pipeline runs requests.
type Pipeline struct {
	cfg      Config
	draining atomic.Bool
}

// New makes a pipeline.
func New(cfg Config) *Pipeline {
	if cfg.RetryAfter <= 0 {
		cfg.RetryAfter = DefaultRetryAfter
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	return &Pipeline{cfg: cfg}
}

// Stage is where a request is.
type Stage string

// The stages, in order.
const (
	Decoding     Stage = "decoding"
	Transcribing Stage = "transcribing"
	Formatting   Stage = "formatting"
)

// Progress is a step of a request: its stage and how far the whole request
// is, 0..100, never decreasing. Decoding starts at 3, transcription runs
// from 6 to 94, formatting is 95; below 3 is the surface's own (reading a
// file).
type Progress struct {
	Stage   Stage
	Percent float64
	// Message says it for a person: "transcribing 40%".
	Message string
}

// Request is one transcription as a surface hands it over.
type Request struct {
	// ID identifies the request (the HTTP x-request-id): usage is recorded
	// once per ID.
	ID string
	// Audio is the file's bytes, in any format audio.Decode reads.
	Audio []byte
	// Samples, instead of Audio, are already decoded 16 kHz mono samples
	// (a live session's buffer); the pipeline does not keep them.
	Samples []float32
	// Metered says the caller has admitted this request against its key's
	// limits and records its usage itself (AdmitCaller, RecordUsage): a
	// live session is admitted once and records each turn once, however
	// many decodes its partials take.
	Metered bool
	// Name says where Audio came from ("a.wav"), for messages; may be "".
	Name string
	// Model names one of Config.Models' models; "" is the default engine.
	Model   string
	Options transcribe.Options
	// Format shapes the result with agentmode; nil leaves that to the
	// surface (OpenAI's wire shapes are the HTTP surface's own).
	Format *agentmode.Options
	// NoVAD lets whisper hear all of the audio, silence included.
	NoVAD bool
	// Chunking cuts the audio at pauses found with these settings and
	// decodes the pieces at once (OpenAI's chunking_strategy); nil does so
	// only for audio longer than the pipeline's ChunkAfter.
	Chunking *transcribe.ServerVAD
	// Keep stores the transcript so it can be read again (Reformat);
	// Response.TranscriptID names it.
	Keep bool
	// OnSegment, if set, gets each segment as whisper decodes it; an error
	// stops the request and is returned.
	OnSegment func(transcribe.Segment) error
	// OnProgress, if set, is told of each stage and of whisper's progress.
	OnProgress func(Progress)
}

// Response is a finished request.
type Response struct {
	Result *transcribe.Result
	// Output is the result shaped as Request.Format asked (nil without).
	Output *agentmode.Output
	// TranscriptID names the stored transcript ("" when not kept, or too
	// large to keep: the answer still comes, without paging).
	TranscriptID string
	// Warning is what the decoder noticed and went on with ("" if
	// nothing), for the logs.
	Warning string
}

// Drain marks the pipeline as shutting down. Surfaces refuse requests that
// arrive from then on (Admit), while those already accepted, an upload
// still arriving included, run to the end.
func (p *Pipeline) Drain() { p.draining.Store(true) }

// Draining reports whether Drain was called.
func (p *Pipeline) Draining() bool { return p.draining.Load() }

// Admit is what a surface calls as a request arrives, before reading its
// body: ErrDraining once the pipeline drains.
func (p *Pipeline) Admit() error {
	if p.Draining() {
		return ErrDraining
	}
	return nil
}

// Transcribe runs a request through every stage. Its error is always an
// *Error (see Classify).
func (p *Pipeline) Transcribe(ctx context.Context, req Request) (*Response, error) {
	res, err := p.transcribe(ctx, req)
	if err != nil {
		return nil, p.classify(err)
	}
	return res, nil
}

func (p *Pipeline) transcribe(ctx context.Context, req Request) (*Response, error) {
	// Options first: a bad option is answered without decoding anything.
	if err := req.Options.Validate(); err != nil {
		return nil, err
	}
	release := func() {}
	if !req.Metered {
		var err error
		if release, err = p.admit(ctx); err != nil {
			return nil, err
		}
	}
	defer release()
	last := -1.0
	report := func(st Stage, pct float64, msg string) {
		if req.OnProgress != nil && pct >= last { // a retried decode does not go back
			last = pct
			req.OnProgress(Progress{Stage: st, Percent: pct, Message: msg})
		}
	}
	a := &audio.Audio{Samples: req.Samples}
	if req.Samples == nil {
		report(Decoding, 3, "decoding audio")
		var err error
		if a, err = p.cfg.Decoder.Decode(ctx, req.Audio); err != nil {
			return nil, named(req.Name, err)
		}
		req.Audio = nil // only the samples are needed from here on
	}
	report(Transcribing, 6, "transcribing "+a.Duration().Round(time.Second).String()+" of audio")
	start := time.Now()
	res, err := p.decode(ctx, req, a.Samples, report)
	if err != nil {
		return nil, err
	}
	p.cfg.Logger.Debug("transcribed", "audio_s", res.Duration, "took", time.Since(start))
	if !req.Metered {
		p.record(ctx, req.ID, res.Duration, time.Since(start))
	}
	if req.Format != nil {
		report(Formatting, 95, "formatting")
	}
	return p.finish(req, res, a.Warning)
}

// finish keeps the transcript when the request asks and shapes it as the
// request says: the last steps of every request and of every job.
func (p *Pipeline) finish(req Request, res *transcribe.Result, warning string) (*Response, error) {
	out := &Response{Result: res, Warning: warning}
	if req.Keep && p.cfg.Transcripts != nil {
		id, err := p.cfg.Transcripts.Put(res)
		if err != nil {
			p.cfg.Logger.Warn("transcript not stored", "error", err)
		}
		out.TranscriptID = id
	}
	if req.Format != nil {
		opts := *req.Format
		opts.TranscriptID = out.TranscriptID
		var err error
		if out.Output, err = p.cfg.Formatter.Format(res, opts); err != nil {
			return nil, err
		}
	}
	return out, nil
}

// Reformat reads a stored transcript again: another page, mode or budget.
// An unknown or expired id is NotFound.
func (p *Pipeline) Reformat(id string, opts agentmode.Options) (*agentmode.Output, error) {
	if id == "" {
		return nil, InvalidParam("transcript_id", "transcript_id is required: the transcript_id of an earlier answer.")
	}
	var res *transcribe.Result
	ok := false
	if p.cfg.Transcripts != nil {
		res, ok = p.cfg.Transcripts.Get(id)
	}
	if !ok {
		return nil, &Error{Kind: NotFound, Param: "transcript_id", Code: "transcript_not_found",
			Message: "No transcript " + quote(id) + " is stored: transcripts are kept in memory for " +
				p.transcriptTTL() + " after their last use (and not across restarts). Transcribe the audio again."}
	}
	opts.TranscriptID = id
	return p.Format(res, opts)
}

// Format shapes a result the caller holds, as Request.Format would have:
// a live turn's transcript, which can differ from its final decode.
func (p *Pipeline) Format(res *transcribe.Result, opts agentmode.Options) (*agentmode.Output, error) {
	if p.cfg.Formatter == nil {
		return nil, errors.New("pipeline: no Formatter configured")
	}
	out, err := p.cfg.Formatter.Format(res, opts)
	if err != nil {
		return nil, p.classify(err)
	}
	return out, nil
}

// Models names the models a request may ask for besides the default one.
func (p *Pipeline) Models() []string {
	if p.cfg.Models == nil {
		return nil
	}
	return p.cfg.Models.Available()
}

// Transcript is a stored transcript, whole.
func (p *Pipeline) Transcript(id string) (*transcribe.Result, error) {
	if p.cfg.Transcripts != nil {
		if res, ok := p.cfg.Transcripts.Get(id); ok {
			return res, nil
		}
	}
	_, err := p.Reformat(id, agentmode.Options{})
	return nil, err
}

// Classify is the package's Classify with this pipeline's Retry-After.
func (p *Pipeline) classify(err error) *Error { return classify(err, p.cfg.RetryAfter) }

func (p *Pipeline) transcriptTTL() string {
	if p.cfg.Transcripts == nil {
		return "no time"
	}
	s := p.cfg.Transcripts.TTL().String()
	return strings.TrimSuffix(strings.TrimSuffix(s, "0s"), "0m")
}

// named puts the audio's name before a decoding error, once.
func named(name string, err error) error {
	if name == "" {
		return err
	}
	return &namedError{name, err}
}

type namedError struct {
	name string
	err  error
}

func (e *namedError) Error() string { return e.name + ": " + e.err.Error() }
func (e *namedError) Unwrap() error { return e.err }

func quote(s string) string {
	if len(s) > 80 {
		s = s[:80] + "..."
	}
	return strconv.Quote(s)
}
