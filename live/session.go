package live

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"sync/atomic"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

const (
	rate        = transcribe.SampleRate
	vadEvery    = rate / 10       // samples of input between two detector runs
	vadWindow   = 3 * rate        // samples the detector sees
	maxPending  = 4               // committed turns waiting for their final decode before reading pauses
	minTurn     = rate / 10       // a manual commit needs 100 ms of audio
	maxMessage  = 8 << 20         // bytes of one client message (base64 of 87 s of 24 kHz PCM)
	inboxLength = 16              // client messages read ahead
	minPartial  = rate * 3 / 10   // the open turn is decoded once it holds 300 ms
	pause       = rate * 15 / 100 // silence after speech that starts a decode of all of it
)

// session is one WebSocket connection.
type session struct {
	h        *Handler
	conn     *websocket.Conn
	id       string
	beta     bool // answer in the beta (transcription_session.*) shapes
	set      settings
	created  time.Time
	stop     context.CancelFunc
	shutdown atomic.Bool

	conv converter
	// audio holds the 16 kHz input from absolute sample base on; total is
	// every sample received.
	audio []float32
	base  int64
	total int64

	// turn detection
	lastVAD    int64
	speaking   bool
	speechEnd  int64 // end of the last speech heard in the open turn
	boundary   int64 // where the last turn ended: speech before is its
	idleFrom   int64 // audio position the idle timeout counts from
	open       *turn
	finals     []*turn
	prevItem   string
	busy       bool
	jobs       chan *job
	cur        *job // the decode running, if busy
	results    chan result
	workerDone chan struct{}
}

// turn is one item: audio from start to end (absolute samples; end is set
// when it is committed) and the words sent for it so far.
type turn struct {
	item      string
	start     int64
	end       int64
	samples   []float32 // its audio, once committed
	committed bool
	dropped   bool
	emitted   []string
	prevHyp   []string
	hyp       string // the latest decode's text, for semantic_vad
	decodedTo int64
	stopAt    time.Time     // when the end of speech was found (or the commit came)
	took      time.Duration // the decoding time spent on it, partials included
}

type job struct {
	t       *turn
	samples []float32
	final   bool
	set     settings
	// A partial decode has its own context, so that it can be given up
	// when its turn ends (cancelled), unless it already holds all the
	// turn's speech, when it is the final decode (promoted).
	ctx       context.Context
	cancel    context.CancelFunc
	to        int64
	cancelled bool
	promoted  bool
}

type result struct {
	*job
	res  *pipeline.Response
	err  error
	took time.Duration
}

func newSession(h *Handler, conn *websocket.Conn, model string, beta bool) *session {
	s := &session{h: h, conn: conn, id: newID("sess_"), beta: beta, set: defaultSettings(model), created: time.Now(),
		jobs: make(chan *job), results: make(chan result, 1), workerDone: make(chan struct{})}
	s.conv.f = s.set.format
	return s
}

type inbound struct {
	typ  websocket.MessageType
	data []byte
}

// run is the session: it returns when the client leaves, the session times
// out or the handler closes, with its goroutines joined.
func (s *session) run(ctx context.Context) {
	log := s.h.cfg.Logger.With("session", s.id)
	if p, ok := pipeline.FromContext(ctx); ok {
		log = log.With("key", p.KeyID)
	}
	// The reader's context outlives ctx, so that a session that ends
	// (shutdown, maximum duration) can still say why before closing:
	// a Read whose context ends closes the connection.
	readCtx, cancelRead := context.WithCancel(context.WithoutCancel(ctx))
	ctx, cancel := context.WithCancel(ctx)
	s.conn.SetReadLimit(maxMessage)
	in := make(chan inbound, inboxLength)
	readErr := make(chan error, 1)
	readDone := make(chan struct{})
	go func() { // reader: exits when ctx ends (Read fails then) or the client closes
		defer close(readDone)
		for {
			typ, data, err := s.conn.Read(readCtx)
			if err != nil {
				readErr <- err
				return
			}
			select {
			case in <- inbound{typ, data}:
			case <-readCtx.Done():
				return
			}
		}
	}()
	go s.decoder(ctx) // exits when jobs is closed
	defer func() {
		cancel()
		close(s.jobs)
	drain:
		for { // drain the decoder so it can see jobs closed
			select {
			case <-s.results:
			case <-s.workerDone:
				break drain
			}
		}
		cancelRead()
		<-readDone
		s.conn.CloseNow()
	}()

	s.sessionEvent(ctx, true)
	idle := time.NewTimer(s.h.cfg.IdleTimeout)
	defer idle.Stop()
	for {
		inbox := in
		if len(s.finals) >= maxPending {
			inbox = nil // slow the client down: decoding is behind
		}
		select {
		case m := <-inbox:
			idle.Reset(s.h.cfg.IdleTimeout)
			if err := s.handle(ctx, m); err != nil {
				log.Info("live session ended", "reason", err)
				return
			}
		case r := <-s.results:
			s.busy, s.cur = false, nil
			if err := s.finished(ctx, r); err != nil {
				log.Info("live session ended", "reason", err)
				return
			}
		case err := <-readErr:
			log.Debug("live session closed by client", "error", err)
			return
		case <-idle.C:
			s.closeWith(ctx, pipeline.Errorf(pipeline.Invalid, "session_idle", "The session was idle (no client event) for %s and is closed.", s.h.cfg.IdleTimeout), websocket.StatusPolicyViolation)
			return
		case <-ctx.Done():
			switch {
			case s.shutdown.Load():
				s.closeWith(context.Background(), pipeline.ErrDraining, websocket.StatusGoingAway)
			case errors.Is(context.Cause(ctx), context.DeadlineExceeded) || time.Since(s.created) >= s.h.cfg.MaxSession:
				s.closeWith(context.Background(), pipeline.Errorf(pipeline.Invalid, "session_expired", "The session reached its maximum duration of %s and is closed; open a new one.", s.h.cfg.MaxSession), websocket.StatusNormalClosure)
			}
			return
		}
		if err := s.schedule(ctx); err != nil {
			return
		}
	}
}

// closeWith sends a last error event and closes the connection.
func (s *session) closeWith(ctx context.Context, err error, code websocket.StatusCode) {
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), time.Second)
	defer cancel()
	if b, e := jsonMarshal(s.stamp(render(err, ""))); e == nil {
		s.conn.Write(wctx, websocket.MessageText, b)
	}
	s.conn.Close(code, pipeline.Classify(err).Code)
}

// decoder runs the session's decodes one at a time, on the pipeline.
func (s *session) decoder(ctx context.Context) {
	defer close(s.workerDone)
	for j := range s.jobs {
		// Greedy, without temperature fallback, final decodes too: a
		// fallback retries a window at up to five temperatures with five
		// candidates each, seconds that a live turn cannot wait. A turn is
		// seconds long, so whisper encodes only the seconds it holds
		// rather than a whole 30 s window (ShortWindow; a manual-commit
		// buffer of 30 s or more is decoded as usual).
		opts := transcribe.Options{Language: j.set.language, Prompt: j.set.prompt, NoFallback: true, ShortWindow: true}
		req := pipeline.Request{Samples: j.samples, Options: opts, Metered: true}
		start := time.Now()
		res, err := s.h.cfg.Pipeline.Transcribe(j.ctx, req)
		// A full queue is worth waiting out for a final decode (a turn
		// must not be lost); a partial one is just skipped.
		for tries := 0; j.final && err != nil && pipeline.Classify(err).Kind == pipeline.RateLimited && tries < 20; tries++ {
			select {
			case <-ctx.Done():
			case <-time.After(pipeline.Classify(err).RetryAfter / 4):
			}
			res, err = s.h.cfg.Pipeline.Transcribe(j.ctx, req)
		}
		if j.cancel != nil {
			j.cancel()
		}
		select {
		case s.results <- result{job: j, res: res, err: err, took: time.Since(start)}:
		case <-ctx.Done():
		}
	}
}

// schedule starts the next decode when the engine is free: a committed
// turn's final decode first, else the open turn once it has grown.
func (s *session) schedule(ctx context.Context) error {
	if s.busy || ctx.Err() != nil {
		return nil
	}
	var j *job
	switch {
	case len(s.finals) > 0:
		t := s.finals[0]
		j = &job{t: t, samples: t.samples, final: true, set: s.set, ctx: ctx}
	case s.open != nil && !s.open.dropped && s.total-s.open.start >= minPartial &&
		(s.total-s.open.decodedTo >= int64(s.h.cfg.Step.Seconds()*rate) || s.paused()):
		t := s.open
		t.decodedTo = s.total
		j = &job{t: t, samples: s.slice(t.start, s.total), set: s.set, to: s.total}
		j.ctx, j.cancel = context.WithCancel(ctx)
	default:
		return nil
	}
	s.busy, s.cur = true, j
	select {
	case s.jobs <- j:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// paused is whether the open turn's speaker has paused (server_vad) and
// no decode has heard all the speech before the pause yet.
func (s *session) paused() bool {
	return s.speaking && s.total-s.speechEnd >= pause && s.open.decodedTo < s.speechEnd+rate/10
}

// slice copies the audio from a to b (absolute samples).
func (s *session) slice(a, b int64) []float32 {
	a = max(a, s.base)
	return append([]float32(nil), s.audio[a-s.base:b-s.base]...)
}

// handle is one client message. Only a connection that cannot be written
// ends the session; everything else is an error event.
func (s *session) handle(ctx context.Context, m inbound) error {
	if m.typ != websocket.MessageText {
		return s.fail(ctx, invalid("", "Send client events as JSON text messages, not binary ones; audio goes base64-encoded in input_audio_buffer.append."), "")
	}
	var ev clientEvent
	if err := json.Unmarshal(m.data, &ev); err != nil {
		return s.fail(ctx, pipeline.Errorf(pipeline.Invalid, "invalid_json", "The message is not valid JSON: %s.", jsonReason(err)), "")
	}
	switch ev.Type {
	case "session.update", "transcription_session.update":
		if len(ev.Session) == 0 {
			return s.fail(ctx, invalid("session", "%s needs a session object.", ev.Type), ev.EventID)
		}
		apply := s.set.applyGA
		if ev.Type == "transcription_session.update" {
			apply = s.set.applyBeta
		}
		set, err := apply(ev.Session, s.h.cfg.Model)
		if err != nil {
			return s.fail(ctx, err, ev.EventID)
		}
		s.beta = ev.Type == "transcription_session.update"
		if set.format != s.set.format {
			if s.open != nil || len(s.conv.pending) > 0 {
				return s.fail(ctx, invalid("session.audio.input.format", "The audio format cannot change while the buffer holds audio: commit or clear it first."), ev.EventID)
			}
			s.conv = converter{f: set.format}
		}
		if (set.turn == nil) != (s.set.turn == nil) && s.open != nil {
			s.open.dropped = true // its audio is still in the buffer for the next mode
			s.open, s.speaking = nil, false
		}
		s.set = set
		return s.sessionEvent(ctx, false)
	case "input_audio_buffer.append":
		if ev.Audio == nil {
			return s.fail(ctx, invalid("audio", "input_audio_buffer.append needs audio: base64 of %s.", s.describeFormat()), ev.EventID)
		}
		raw, err := base64.StdEncoding.DecodeString(*ev.Audio)
		if err != nil {
			e := pipeline.Errorf(pipeline.Invalid, "invalid_base64", "audio is not valid base64 (byte %s is the first bad one).", strings.TrimPrefix(err.Error(), "illegal base64 data at input byte "))
			e.Param = "audio"
			return s.fail(ctx, e, ev.EventID)
		}
		return s.append(ctx, raw, ev.EventID)
	case "input_audio_buffer.commit":
		return s.commitManual(ctx, ev.EventID)
	case "input_audio_buffer.clear":
		return s.clear(ctx)
	case "":
		return s.fail(ctx, invalid("type", "The event has no type."), ev.EventID)
	case "session.close":
		return errors.New("client closed the session")
	}
	if strings.HasPrefix(ev.Type, "response.") || strings.HasPrefix(ev.Type, "conversation.") || ev.Type == "output_audio_buffer.clear" {
		return s.fail(ctx, typeError(pipeline.Errorf(pipeline.Invalid, "unsupported_event", "%q needs a speech-to-speech realtime session; an earshot transcription session takes session.update, input_audio_buffer.append, .commit and .clear.", ev.Type)), ev.EventID)
	}
	return s.fail(ctx, typeError(pipeline.Errorf(pipeline.Invalid, "unknown_event", "Unknown event type %q; a transcription session takes session.update (or transcription_session.update), input_audio_buffer.append, .commit and .clear.", ev.Type)), ev.EventID)
}

func (s *session) describeFormat() string {
	switch s.set.format {
	case PCMU, PCMA:
		return "8 kHz G.711 (" + s.set.format.Type + ")"
	}
	if s.set.format.Rate == 16000 {
		return "16-bit little-endian mono PCM at 16 kHz"
	}
	return "16-bit little-endian mono PCM at 24 kHz"
}

// append takes input audio: converts it, runs turn detection on it.
func (s *session) append(ctx context.Context, raw []byte, eventID string) error {
	if s.set.turn == nil && s.open != nil &&
		s.total-s.open.start+int64(len(raw)/s.set.format.frameBytes()*rate/s.set.format.Rate) > int64(s.h.cfg.MaxBuffer.Seconds()*rate) {
		e := pipeline.Errorf(pipeline.TooLarge, "input_audio_buffer_full", "The input audio buffer holds %s, its limit: commit it (input_audio_buffer.commit) before appending more.", s.h.cfg.MaxBuffer)
		e.Param = "audio"
		return s.fail(ctx, e, eventID)
	}
	samples, err := s.conv.push(raw)
	if err != nil {
		return s.fail(ctx, err, eventID)
	}
	s.audio = append(s.audio, samples...)
	s.total += int64(len(samples))
	if s.set.turn == nil {
		if s.open == nil && len(raw) > 0 {
			s.open = &turn{item: newID("item_"), start: max(s.base, s.boundary)}
		}
		return nil
	}
	for s.total-s.lastVAD >= vadEvery {
		s.lastVAD += vadEvery
		if err := s.detect(ctx, s.lastVAD); err != nil {
			return err
		}
	}
	s.trim()
	return nil
}

// detect runs the speech detector on the window that ends at now.
func (s *session) detect(ctx context.Context, now int64) error {
	td := s.set.turn
	from := max(s.base, now-vadWindow, s.boundary)
	if now-from < rate/10 {
		return nil
	}
	spans, err := s.h.cfg.Detector.Detect(ctx, s.audio[from-s.base:now-s.base], td.Threshold)
	if err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return s.fail(ctx, err, "")
	}
	at := func(d time.Duration) int64 { return from + int64(d.Seconds()*rate) }
	if !s.speaking {
		if len(spans) > 0 {
			start := at(spans[0].Start)
			s.speaking, s.speechEnd = true, at(spans[len(spans)-1].End)
			s.open = &turn{item: newID("item_"), start: max(s.boundary, s.base, start-int64(td.PrefixPaddingMS)*rate/1000)}
			if err := s.send(ctx, map[string]any{"type": "input_audio_buffer.speech_started", "audio_start_ms": ms(s.open.start), "item_id": s.open.item}); err != nil {
				return err
			}
		} else if td.IdleTimeoutMS != nil && now-s.idleFrom >= int64(*td.IdleTimeoutMS)*rate/1000 {
			s.idleFrom = now
			return s.send(ctx, map[string]any{"type": "input_audio_buffer.timeout_triggered", "audio_start_ms": ms(s.boundary), "audio_end_ms": ms(now), "item_id": newID("item_")})
		}
		return nil
	}
	if len(spans) > 0 {
		s.speechEnd = max(s.speechEnd, at(spans[len(spans)-1].End))
	}
	// A pause may be the end of the turn: a decode that lacks the speech
	// before it gives way to one that has it all, so that if the turn
	// does end, its final decode is already running.
	if j := s.cur; now-s.speechEnd >= pause && j != nil && j.t == s.open && !j.final && !j.cancelled && j.to < s.speechEnd+rate/10 {
		j.cancelled = true
		j.cancel()
	}
	silence := s.silence()
	switch {
	case now-s.speechEnd >= silence:
		return s.endTurn(ctx, min(now, s.speechEnd+silence), true)
	case now-s.open.start >= int64(s.h.cfg.MaxTurn.Seconds()*rate):
		// A turn as long as whisper's window: commit it and go on with a
		// new one at once, speech still running.
		if err := s.endTurn(ctx, now, true); err != nil {
			return err
		}
		s.speaking, s.speechEnd = true, now
		s.open = &turn{item: newID("item_"), start: now}
		return s.send(ctx, map[string]any{"type": "input_audio_buffer.speech_started", "audio_start_ms": ms(now), "item_id": s.open.item})
	}
	return nil
}

// silence is how much silence ends the open turn: silence_duration_ms for
// server_vad; for semantic_vad, what the words so far say (see semantic).
func (s *session) silence() int64 {
	td := s.set.turn
	if td.Type != "semantic_vad" {
		return int64(td.SilenceDurationMS) * rate / 1000
	}
	return int64(semanticSilence(td.Eagerness, s.open.hyp).Seconds() * rate)
}

// endTurn ends the open turn at end: speech_stopped (VAD) and committed.
func (s *session) endTurn(ctx context.Context, end int64, vad bool) error {
	t := s.open
	s.open, s.speaking = nil, false
	t.end, t.committed, t.stopAt = end, true, time.Now()
	t.samples = s.slice(t.start, end)
	s.boundary, s.idleFrom = end, end
	if j := s.cur; j != nil && j.t == t && !j.final {
		// The partial decode running for this turn is its final one if it
		// heard all the speech; otherwise it is given up, so the final
		// decode starts now instead of after it.
		heard := s.speechEnd + rate/10
		if !vad {
			heard = end
		}
		if j.to >= min(heard, end) {
			j.promoted = true
		} else {
			j.cancelled = true
			j.cancel()
		}
	}
	if vad {
		if err := s.send(ctx, map[string]any{"type": "input_audio_buffer.speech_stopped", "audio_end_ms": ms(end), "item_id": t.item}); err != nil {
			return err
		}
	}
	var prev any
	if s.prevItem != "" {
		prev = s.prevItem
	}
	s.prevItem = t.item
	s.finals = append(s.finals, t)
	if err := s.send(ctx, map[string]any{"type": "input_audio_buffer.committed", "previous_item_id": prev, "item_id": t.item}); err != nil {
		return err
	}
	// The committed audio is a user message in the conversation, as
	// OpenAI says right after the commit; its transcript comes with
	// .completed.
	// The GA protocol then says the item is done (its content will not
	// change; the transcript is the transcription events' business); the
	// beta one had only conversation.item.created.
	item := map[string]any{
		"id": t.item, "object": "realtime.item", "type": "message", "status": "completed", "role": "user",
		"content": []any{map[string]any{"type": "input_audio", "transcript": nil}},
	}
	if s.beta {
		if err := s.send(ctx, map[string]any{"type": "conversation.item.created", "previous_item_id": prev, "item": item}); err != nil {
			return err
		}
	} else {
		if err := s.send(ctx, map[string]any{"type": "conversation.item.added", "previous_item_id": prev, "item": item}); err != nil {
			return err
		}
		if err := s.send(ctx, map[string]any{"type": "conversation.item.done", "previous_item_id": prev, "item": item}); err != nil {
			return err
		}
	}
	return s.checkQuota(ctx, t)
}

// quotaWait bounds the quota check at each commit.
const quotaWait = 500 * time.Millisecond

// checkQuota ends the session once its key's monthly quota is spent (the
// handshake checked it, but a session can run for an hour): the turn just
// committed is not decoded and fails with the reason, then the session
// closes with it.
func (s *session) checkQuota(ctx context.Context, t *turn) error {
	// A store that is slow to answer must not hold the turn up: past
	// quotaWait the session goes on (CheckQuota lets it, and logs).
	qctx, cancel := context.WithTimeout(ctx, quotaWait)
	err := s.h.cfg.Pipeline.CheckQuota(qctx)
	cancel()
	if err == nil {
		return nil
	}
	s.finals = s.finals[:len(s.finals)-1]
	if e := s.send(ctx, map[string]any{"type": "conversation.item.input_audio_transcription.failed", "item_id": t.item, "content_index": 0, "error": render(err, "")["error"]}); e != nil {
		return e
	}
	s.closeWith(ctx, err, websocket.StatusPolicyViolation)
	return err
}

// commitManual is input_audio_buffer.commit.
func (s *session) commitManual(ctx context.Context, eventID string) error {
	samples, err := s.conv.flush()
	if err != nil {
		return s.fail(ctx, err, eventID)
	}
	s.audio = append(s.audio, samples...)
	s.total += int64(len(samples))
	start := max(s.base, s.boundary)
	if s.open != nil {
		start = s.open.start
	}
	if s.total-start < minTurn {
		return s.fail(ctx, pipeline.Errorf(pipeline.Invalid, "input_audio_buffer_commit_empty",
			"The input audio buffer holds %d ms of audio; a commit needs at least 100 ms.", ms(s.total-start)), eventID)
	}
	if s.open == nil {
		s.open = &turn{item: newID("item_"), start: start}
	}
	err = s.endTurn(ctx, s.total, false)
	s.trim()
	return err
}

// clear is input_audio_buffer.clear: the uncommitted audio goes.
func (s *session) clear(ctx context.Context) error {
	s.conv.flush()
	if s.open != nil {
		s.open.dropped = true
		s.open = nil
	}
	s.speaking = false
	s.audio = s.audio[:0]
	s.base = s.total
	s.boundary, s.lastVAD, s.idleFrom = s.total, s.total, s.total
	return s.send(ctx, map[string]any{"type": "input_audio_buffer.cleared"})
}

// trim drops audio that neither the open turn nor the detector needs.
func (s *session) trim() {
	keep := s.total - vadWindow - rate // the detector's window and the prefix padding
	if s.open != nil {
		keep = min(keep, s.open.start)
	}
	if drop := keep - s.base; drop > rate {
		s.audio = append(s.audio[:0], s.audio[drop:]...)
		s.base = keep
	}
}

// finished handles a decode's result.
func (s *session) finished(ctx context.Context, r result) error {
	t := r.t
	t.took += r.took
	if r.cancelled {
		return nil
	}
	final := r.final || r.promoted
	if r.err != nil {
		e := pipeline.Classify(r.err)
		if e.Kind == pipeline.Cancelled && ctx.Err() != nil {
			return ctx.Err()
		}
		if !final {
			if e.Kind == pipeline.RateLimited {
				return nil // the next step tries again
			}
			return s.fail(ctx, r.err, "")
		}
		s.finals = s.finals[1:]
		return s.send(ctx, map[string]any{"type": "conversation.item.input_audio_transcription.failed", "item_id": t.item, "content_index": 0, "error": render(r.err, "")["error"]})
	}
	words := strings.Fields(r.res.Result.Text())
	if !final {
		if t.dropped || t.committed {
			return nil // the final decode speaks for it now
		}
		t.hyp = r.res.Result.Text()
		agreed := agree(t.prevHyp, words, t.emitted)
		t.prevHyp = words
		if len(agreed) > len(t.emitted) {
			return s.delta(ctx, t, agreed)
		}
		return nil
	}
	s.finals = s.finals[1:]
	// Usage: the turn's audio once, and all the decoding it took.
	s.h.cfg.Pipeline.RecordUsage(ctx, s.id+"/"+t.item, float64(len(t.samples))/rate, t.took)
	text := extend(t.emitted, words)
	if len(text) > len(t.emitted) {
		if err := s.delta(ctx, t, text); err != nil {
			return err
		}
	}
	ev := map[string]any{"type": "conversation.item.input_audio_transcription.completed", "item_id": t.item, "content_index": 0,
		"transcript": strings.Join(text, " "), "usage": map[string]any{"type": "duration", "seconds": float64(len(t.samples)) / rate}}
	if s.set.logprobs {
		ev["logprobs"] = logprobs(r.res.Result)
	}
	if len(r.res.Result.Language) > 0 {
		ev["languages"] = []map[string]any{{"code": r.res.Result.Language, "probability": r.res.Result.LanguageProb}}
	}
	ev["earshot"] = map[string]any{"turn_end_ms": time.Since(t.stopAt).Milliseconds(), "decode_ms": r.took.Milliseconds()}
	if err := s.send(ctx, ev); err != nil {
		return err
	}
	if r.set.mode == "" {
		return nil
	}
	// The turn's agent (or clean) output is made from its transcript, which
	// keeps the words partials already gave; the final decode may have
	// heard them differently, and the two events must not disagree.
	res := r.res.Result
	if transcript := strings.Join(text, " "); transcript != strings.Join(words, " ") {
		c := *res
		// One token holding the text, probability unknown (0), as a
		// transcript read back from OpenAI's verbose_json is.
		line := " " + transcript
		c.Segments = []transcribe.Segment{{Start: 0, End: c.Duration, Text: line,
			Tokens: []transcribe.Token{{Text: line, Start: 0, End: c.Duration}}}}
		c.Words = nil
		res = &c
	}
	out, err := s.h.cfg.Pipeline.Format(res, agentmode.Options{Mode: agentmode.Mode(r.set.mode), Language: r.set.language})
	if err != nil {
		return s.fail(ctx, err, "")
	}
	return s.send(ctx, map[string]any{"type": "earshot.turn." + r.set.mode, "item_id": t.item, "output": json.RawMessage(out.JSON)})
}

func (s *session) delta(ctx context.Context, t *turn, words []string) error {
	d := strings.Join(words[len(t.emitted):], " ")
	if len(t.emitted) > 0 {
		d = " " + d
	}
	t.emitted = words
	return s.send(ctx, map[string]any{"type": "conversation.item.input_audio_transcription.delta", "item_id": t.item, "content_index": 0, "delta": d})
}

func logprobs(res *transcribe.Result) []map[string]any {
	out := []map[string]any{}
	for _, seg := range res.Segments {
		for _, tok := range seg.Tokens {
			if tok.Special {
				continue
			}
			out = append(out, map[string]any{"token": tok.Text, "logprob": tok.Logprob, "bytes": []byte(tok.Text)})
		}
	}
	return out
}

func ms(samples int64) int64 { return samples * 1000 / rate }

// sessionEvent sends session.created (first) or session.updated, in the
// shape of the protocol the client speaks.
func (s *session) sessionEvent(ctx context.Context, created bool) error {
	typ := "session."
	if s.beta {
		typ = "transcription_session."
	}
	if created {
		typ += "created"
	} else {
		typ += "updated"
	}
	return s.send(ctx, map[string]any{"type": typ, "session": s.object()})
}

// object is the session as the server reports it.
func (s *session) object() map[string]any {
	set := s.set
	tr := map[string]any{"model": set.model}
	if set.language != "" {
		tr["language"] = set.language
	}
	if set.prompt != "" {
		tr["prompt"] = set.prompt
	}
	var noise, turn any
	if set.noiseReduction != "" {
		noise = map[string]any{"type": set.noiseReduction}
	}
	if set.turn != nil {
		turn = set.turn
	}
	include := []string{}
	if set.logprobs {
		include = append(include, "item.input_audio_transcription.logprobs")
	}
	earshot := map[string]any{"mode": set.mode}
	if set.mode == "" {
		earshot["mode"] = "raw"
	}
	expires := s.created.Add(s.h.cfg.MaxSession).Unix()
	if s.beta {
		return map[string]any{"id": s.id, "object": "realtime.transcription_session", "expires_at": expires, "client_secret": nil,
			"modalities": []string{"text"}, "input_audio_format": set.format.beta(), "input_audio_transcription": tr,
			"input_audio_noise_reduction": noise, "turn_detection": turn, "include": include, "earshot": earshot}
	}
	format := map[string]any{"type": set.format.Type}
	if set.format.Type == "audio/pcm" {
		format["rate"] = set.format.Rate
	}
	return map[string]any{"type": "transcription", "id": s.id, "object": "realtime.transcription_session", "expires_at": expires,
		"audio":   map[string]any{"input": map[string]any{"format": format, "transcription": tr, "noise_reduction": noise, "turn_detection": turn}},
		"include": include, "earshot": earshot}
}

// fail sends an error event; the session goes on.
func (s *session) fail(ctx context.Context, err error, eventID string) error {
	return s.send(ctx, render(err, eventID))
}

func (s *session) stamp(ev map[string]any) map[string]any {
	ev["event_id"] = newID("event_")
	return ev
}

// send writes one server event. A client that does not take it within
// the write timeout ends the session.
func (s *session) send(ctx context.Context, ev map[string]any) error {
	b, err := jsonMarshal(s.stamp(ev))
	if err != nil {
		return err
	}
	// The write is bounded by the write timeout, not by the session: the
	// websocket closes its connection when a write's context ends, even
	// one whose bytes have just left, and a session that ends (shutdown,
	// maximum duration) still has its last event to say.
	wctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), s.h.cfg.WriteTimeout)
	defer cancel()
	if err := s.conn.Write(wctx, websocket.MessageText, b); err != nil {
		if ctx.Err() == nil && wctx.Err() != nil {
			return errSlowClient
		}
		return err
	}
	return nil
}

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

// typeError is an Invalid error about the event's type.
func typeError(e *pipeline.Error) *pipeline.Error {
	e.Param = "type"
	return e
}
