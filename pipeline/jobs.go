package pipeline

import (
	"context"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

// The request path cut in three for durable jobs (package jobs), whose
// steps run at different times, on different replicas: Plan decodes and
// cuts the audio where the request arrives, TranscribePiece runs one piece
// wherever a worker is free, and Stitch joins the pieces' results into the
// Response that Transcribe would give.

// Plan is a request's audio decoded and cut at pauses into pieces that can
// be transcribed apart, in any order, anywhere.
type Plan struct {
	// Duration is the audio's length in seconds.
	Duration float64 `json:"duration"`
	// VAD names the detector that found Speech ("" when none ran).
	VAD    string              `json:"vad,omitempty"`
	Speech []transcribe.Speech `json:"speech,omitempty"`
	// Warning is what the decoder noticed and went on with.
	Warning string `json:"warning,omitempty"`
	// Pieces are the pieces, in order; none when the audio holds no
	// speech.
	Pieces []Piece `json:"-"`
}

// Piece is a stretch of the audio and the speech in it.
type Piece struct {
	// Offset is where Samples start in the audio.
	Offset time.Duration
	// Samples are the stretch's 16 kHz mono samples.
	Samples []float32
	// Speech are the regions to hear, relative to Offset; nil hears all
	// of Samples (no VAD).
	Speech []transcribe.Speech
}

// Plan decodes req's audio (or takes its Samples), finds its speech and
// cuts it at pauses as req.Chunking says (OpenAI's server_vad defaults
// when nil). It runs the caller's limits for the time it takes. Its error
// is an *Error.
func (p *Pipeline) Plan(ctx context.Context, req Request) (*Plan, error) {
	pl, err := p.plan(ctx, req)
	if err != nil {
		return nil, p.classify(err)
	}
	return pl, nil
}

func (p *Pipeline) plan(ctx context.Context, req Request) (*Plan, error) {
	if err := req.Options.Validate(); err != nil {
		return nil, err
	}
	if req.Model != "" && p.cfg.Models == nil {
		return nil, errNoModels
	}
	release, err := p.admit(ctx)
	if err != nil {
		return nil, err
	}
	defer release()
	samples, warning := req.Samples, ""
	if samples == nil {
		a, err := p.cfg.Decoder.Decode(ctx, req.Audio)
		if err != nil {
			return nil, named(req.Name, err)
		}
		samples, warning = a.Samples, a.Warning
	}
	pl := &Plan{Duration: float64(len(samples)) / transcribe.SampleRate, Warning: warning}
	o := req.Options
	if p.cfg.VAD == nil || req.NoVAD || o.Offset != 0 || o.Duration != 0 {
		if req.Chunking != nil {
			return nil, InvalidParam("chunking_strategy", "chunking_strategy needs voice activity detection, which is off for this request.")
		}
		pl.Pieces = []Piece{{Samples: samples}}
		return pl, nil
	}
	sv := transcribe.DefaultServerVAD()
	if req.Chunking != nil {
		sv = *req.Chunking
	}
	speech, err := p.cfg.VAD.Detect(ctx, samples, sv.VADOptions())
	if err != nil {
		return nil, err
	}
	pl.VAD, pl.Speech = p.cfg.VAD.Name(), speech
	for _, c := range sv.Chunks(samples, speech) {
		from := min(max(int(c.Start*transcribe.SampleRate/time.Second), 0), len(samples))
		to := min(max(int(c.End*transcribe.SampleRate/time.Second), from), len(samples))
		offset := time.Duration(from) * time.Second / transcribe.SampleRate
		rel := make([]transcribe.Speech, len(c.Speech))
		for i, s := range c.Speech {
			rel[i] = transcribe.Speech{Start: s.Start - offset, End: s.End - offset}
		}
		pl.Pieces = append(pl.Pieces, Piece{Offset: offset, Samples: samples[from:to:to], Speech: rel})
	}
	return pl, nil
}

// TranscribePiece transcribes one piece of a Plan, without context from
// the pieces before it (so that it gives the same result wherever and
// whenever it runs), its times in the whole audio's. It neither runs the
// caller's limits nor records usage: Stitch records the job's once. Its
// error is an *Error.
func (p *Pipeline) TranscribePiece(ctx context.Context, req Request, pc Piece) (*transcribe.Result, error) {
	res, err := p.transcribePiece(ctx, req, pc)
	if err != nil {
		return nil, p.classify(err)
	}
	return res, nil
}

func (p *Pipeline) transcribePiece(ctx context.Context, req Request, pc Piece) (*transcribe.Result, error) {
	if err := req.Options.Validate(); err != nil {
		return nil, err
	}
	eng, release, err := p.engineFor(ctx, req.Model)
	if err != nil {
		return nil, err
	}
	defer release()
	one := req
	one.OnSegment, one.OnProgress = nil, nil
	quiet := func(Stage, float64, string) {}
	if pc.Speech == nil {
		return p.whisper(ctx, eng, one, pc.Samples, transcribe.TimeMap{}, quiet, 0, 0)
	}
	one.Options.NoContext = true
	spliced, m, err := transcribe.Splice(pc.Samples, pc.Speech, transcribe.SpliceGap)
	if err != nil {
		return nil, err
	}
	res, err := p.whisper(ctx, eng, one, spliced, m, quiet, 0, 0)
	if err != nil {
		return nil, err
	}
	transcribe.Shift(res, pc.Offset.Seconds())
	return res, nil
}

// Stitch joins the results of a Plan's pieces, in order, into the Response
// Transcribe would give: segments renumbered, the plan's speech and
// duration, shaped by req.Format, kept when req.Keep. It records the
// usage of the caller in ctx once for req.ID (took is the processing
// time), however often it is called. Its error is an *Error.
func (p *Pipeline) Stitch(ctx context.Context, req Request, pl *Plan, results []*transcribe.Result, took time.Duration) (*Response, error) {
	res := stitch(results, req.Options.Language)
	if len(results) < 2 {
		res.Chunks = 0 // one piece is no chunking
	}
	res.VAD, res.Duration = pl.VAD, pl.Duration
	if pl.VAD != "" {
		res.Speech = pl.Speech
		if res.Speech == nil {
			res.Speech = []transcribe.Speech{}
		}
	}
	p.record(ctx, req.ID, res.Duration, took)
	out, err := p.finish(req, res, pl.Warning)
	if err != nil {
		return nil, p.classify(err)
	}
	return out, nil
}
