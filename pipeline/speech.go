package pipeline

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

// Whisper's reference thresholds for a segment that is not speech: a
// no-speech probability above 0.6 together with an average log probability
// under -1 (whisper.transcribe's no_speech_threshold and logprob_threshold).
const (
	noSpeechThreshold = 0.6
	logprobThreshold  = -1.0
)

// DefaultChunkAfter is how long audio must be before it is cut at pauses
// and decoded in parallel when the request does not say.
const DefaultChunkAfter = 3 * time.Minute

// decode runs the engine on samples the way the request and the
// configuration say: speech regions only (VAD), long audio cut at pauses
// into chunks decoded at once and stitched in order, no-speech segments
// dropped, and a repetition loop retried without context, then flagged.
func (p *Pipeline) decode(ctx context.Context, req Request, samples []float32, report func(Stage, float64, string)) (*transcribe.Result, error) {
	eng, release, err := p.engineFor(ctx, req.Model)
	if err != nil {
		return nil, err
	}
	defer release()
	o := req.Options
	useVAD := p.cfg.VAD != nil && !req.NoVAD && o.Offset == 0 && o.Duration == 0
	if !useVAD {
		if req.Chunking != nil {
			return nil, InvalidParam("chunking_strategy", "chunking_strategy needs voice activity detection, which is off for this request.")
		}
		return p.whisper(ctx, eng, req, samples, transcribe.TimeMap{}, report, 6, 94)
	}
	sv := transcribe.DefaultServerVAD()
	if req.Chunking != nil {
		sv = *req.Chunking
	}
	speech, err := p.cfg.VAD.Detect(ctx, samples, sv.VADOptions())
	if err != nil {
		return nil, err
	}
	duration := float64(len(samples)) / transcribe.SampleRate
	if len(speech) == 0 {
		// Nothing to hear: whisper would only invent words ("Thank you.").
		return &transcribe.Result{Language: o.Language, LanguageProb: 1, Duration: duration,
			Segments: []transcribe.Segment{}, VAD: p.cfg.VAD.Name(), Speech: []transcribe.Speech{}}, nil
	}
	chunkAfter := p.cfg.ChunkAfter
	if chunkAfter <= 0 {
		chunkAfter = DefaultChunkAfter
	}
	var res *transcribe.Result
	if req.Chunking == nil && time.Duration(len(samples))*time.Second/transcribe.SampleRate <= chunkAfter {
		spliced, m, err := transcribe.Splice(samples, speech, transcribe.SpliceGap)
		if err != nil {
			return nil, err
		}
		if res, err = p.whisper(ctx, eng, req, spliced, m, report, 6, 94); err != nil {
			return nil, err
		}
	} else if res, err = p.chunked(ctx, eng, req, samples, sv.Chunks(samples, speech), report); err != nil {
		return nil, err
	}
	res.VAD, res.Speech, res.Duration = p.cfg.VAD.Name(), speech, duration
	return res, nil
}

// whisper runs one engine request on samples whose times m maps back to
// the audio's, delivering each kept segment, remapped, as it comes.
func (p *Pipeline) whisper(ctx context.Context, eng Engine, req Request, samples []float32, m transcribe.TimeMap, report func(Stage, float64, string), from, to float64) (*transcribe.Result, error) {
	run := func(o transcribe.Options, onSegment func(transcribe.Segment) error) (*transcribe.Result, error) {
		res, err := eng.Transcribe(ctx, transcribe.Request{
			Samples: samples,
			Options: o,
			OnSegment: func(seg transcribe.Segment) error {
				if onSegment == nil || droppable(seg) {
					return nil
				}
				one := transcribe.Result{Segments: []transcribe.Segment{seg}}
				m.Remap(&one)
				return onSegment(one.Segments[0])
			},
			OnProgress: func(percent int) {
				report(Transcribing, from+float64(percent)*(to-from)/100, fmt.Sprintf("transcribing %d%%", percent))
			},
		})
		if err != nil {
			return nil, err
		}
		m.Remap(res)
		return res, nil
	}
	res, err := run(req.Options, req.OnSegment)
	if err != nil {
		return nil, err
	}
	if looping(res) && !req.Options.NoContext && req.OnSegment == nil {
		// A loop usually feeds on the previous window's text: decode again
		// without it (a stream's segments are out already, so it is only
		// flagged).
		o := req.Options
		o.NoContext = true
		if again, err := run(o, nil); err == nil {
			res = again
		} else if ctx.Err() != nil {
			return nil, err
		}
	}
	settle(res)
	return res, nil
}

// chunked decodes each chunk on its own, as many at once as the pipeline
// allows, and stitches them in order; segments are delivered in order as
// the chunks before them finish.
func (p *Pipeline) chunked(ctx context.Context, eng Engine, req Request, samples []float32, chunks []transcribe.Chunk, report func(Stage, float64, string)) (*transcribe.Result, error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	parallel := max(1, p.cfg.ChunkParallel)
	results := make([]*transcribe.Result, len(chunks))
	errs := make([]error, len(chunks))
	var (
		mu        sync.Mutex
		delivered int // chunks whose segments went to OnSegment
		finished  int
		streamErr error
	)
	deliver := func() { // under mu
		for delivered < len(chunks) && results[delivered] != nil {
			if req.OnSegment != nil && streamErr == nil {
				for _, seg := range results[delivered].Segments {
					if streamErr = req.OnSegment(seg); streamErr != nil {
						cancel()
						break
					}
				}
			}
			delivered++
		}
	}
	sem := make(chan struct{}, parallel) // a slot per piece started and not ended
	freed := make(chan struct{}, 1)      // a piece ended
	var wg sync.WaitGroup
	for i, c := range chunks {
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
		}
		// While other requests wait for the engine (or a piece of this
		// one does), one piece at a time: a long file does not hold every
		// worker while short requests queue behind it. The slot just
		// taken is this piece's; any other is a piece still running.
		for p.cfg.Waiting != nil && ctx.Err() == nil && len(sem) > 1 && p.cfg.Waiting() > 0 {
			select {
			case <-freed:
			case <-time.After(50 * time.Millisecond):
			case <-ctx.Done():
			}
		}
		if ctx.Err() != nil {
			break
		}
		wg.Go(func() {
			defer func() {
				<-sem
				select {
				case freed <- struct{}{}:
				default:
				}
			}()
			spliced, m, err := transcribe.Splice(samples, c.Speech, transcribe.SpliceGap)
			var res *transcribe.Result
			if err == nil {
				one := req
				one.OnSegment = nil // delivered in order below
				one.Options.NoContext = true
				res, err = p.whisper(ctx, eng, one, spliced, m, func(Stage, float64, string) {}, 0, 0)
			}
			mu.Lock()
			defer mu.Unlock()
			if err != nil {
				errs[i] = err
				cancel()
				return
			}
			results[i] = res
			finished++
			report(Transcribing, 6+88*float64(finished)/float64(len(chunks)),
				fmt.Sprintf("transcribing: %d of %d pieces", finished, len(chunks)))
			deliver()
		})
	}
	wg.Wait()
	if streamErr != nil {
		return nil, streamErr
	}
	// The error that stopped the others, not the cancellations it caused.
	var first error
	for _, err := range errs {
		if err != nil && (first == nil || errors.Is(first, context.Canceled)) {
			first = err
		}
	}
	if first != nil {
		return nil, first
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return stitch(results, req.Options.Language), nil
}

// stitch joins the results of pieces decoded on their own, in order: one
// transcript, segments renumbered, timings summed, language and prompt
// facts from the first piece (language when there is none).
func stitch(results []*transcribe.Result, language string) *transcribe.Result {
	out := &transcribe.Result{Language: language, LanguageProb: 1, Segments: []transcribe.Segment{}, Chunks: len(results)}
	if len(results) > 0 {
		first := results[0]
		out.Language, out.LanguageProb, out.PromptTokens, out.DroppedKeywords = first.Language, first.LanguageProb, first.PromptTokens, first.DroppedKeywords
	}
	for _, r := range results {
		for _, s := range r.Segments {
			s.ID = len(out.Segments)
			out.Segments = append(out.Segments, s)
		}
		out.Words = append(out.Words, r.Words...)
		out.Dropped = append(out.Dropped, r.Dropped...)
		out.Timings.QueueMS += r.Timings.QueueMS
		out.Timings.EncodeMS += r.Timings.EncodeMS
		out.Timings.DecodeMS += r.Timings.DecodeMS
		out.Timings.TotalMS += r.Timings.TotalMS
	}
	return out
}

// engineFor is the engine of the named model ("" is the default one),
// loaded first if need be; release it when done.
func (p *Pipeline) engineFor(ctx context.Context, model string) (Engine, func(), error) {
	if model == "" {
		return p.cfg.Engine, func() {}, nil
	}
	if p.cfg.Models == nil {
		return nil, nil, errNoModels
	}
	e, release, err := p.cfg.Models.Engine(ctx, model)
	if err != nil {
		return nil, nil, modelError(model, err)
	}
	return e, release, nil
}

var errNoModels = &Error{Kind: NotFound, Param: "model", Code: "model_not_found", Message: "This server serves one model; leave model out or use its name."}

// modelError is a named model that cannot serve the request now.
func modelError(name string, err error) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, transcribe.ErrModelsBusy) {
		return &Error{Kind: Unavailable, Param: "model", Code: "models_busy", Err: err, RetryAfter: DefaultRetryAfter,
			Message: "Every model this server keeps loaded is in use, so " + name + " cannot be loaded now; retry in a moment."}
	}
	return &Error{Kind: Unavailable, Param: "model", Code: "model_unavailable", Err: err,
		Message: "The model " + name + " could not be loaded: " + err.Error() + "."}
}

// droppable is whisper's own test for a segment that is not speech.
func droppable(s transcribe.Segment) bool {
	return s.NoSpeechProb > noSpeechThreshold && s.AvgLogprob < logprobThreshold
}

func looping(r *transcribe.Result) bool {
	for _, s := range r.Segments {
		if _, ok := transcribe.DetectRepetition(s.Text); ok {
			return true
		}
	}
	return false
}

// settle drops the segments that are not speech and flags those that
// still loop, renumbering what is kept.
func settle(r *transcribe.Result) {
	kept := r.Segments[:0]
	for _, s := range r.Segments {
		if droppable(s) {
			r.Dropped = append(r.Dropped, transcribe.DroppedSegment{Segment: s,
				Reason: fmt.Sprintf("no speech: no_speech_prob %.2f > %.1f with avg_logprob %.2f < %.0f", s.NoSpeechProb, noSpeechThreshold, s.AvgLogprob, logprobThreshold)})
			continue
		}
		if rep, ok := transcribe.DetectRepetition(s.Text); ok {
			s.Repetition = &rep
		}
		s.ID = len(kept)
		kept = append(kept, s)
	}
	r.Segments = kept
	if len(r.Dropped) > 0 && len(r.Words) > 0 {
		r.Words = transcribe.Words(r.Segments)
	}
}
