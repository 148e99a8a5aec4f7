// Package live serves OpenAI's Realtime transcription protocol over
// WebSocket: GET /v1/realtime (?intent=transcription or ?model=NAME), the
// GA session.update with session.type "transcription" and the beta
// transcription_session.update, input_audio_buffer.append/commit/clear,
// and the server events a transcription client reads (speech_started,
// speech_stopped, committed, cleared, timeout_triggered, the
// conversation.item.input_audio_transcription delta/completed/failed
// events, and error). Extensions: 16 kHz PCM input, and with
// "earshot": {"mode": "agent"} in the session an earshot.turn.agent event
// with agentmode's JSON after every completed turn.
//
// Whisper is not a streaming model. A session finds turns with a
// SpeechDetector (server_vad; semantic_vad also reads the words heard so
// far), re-decodes the open turn whenever the engine is free and enough
// new audio has come, and sends as deltas only the words on which two
// successive decodes agree (local agreement): a delta is never taken back,
// so the deltas of a turn are always a prefix of its final transcript,
// which they equal once the completed event's last delta has been sent.
// Every decode goes through pipeline.Pipeline.Transcribe, so sessions
// share the engine's workers and bounded queue with every other request.
//
// A Handler is safe for concurrent use; each session runs on its
// request's goroutine plus two of its own (a reader and a decoder), both
// joined before ServeHTTP returns. Close ends the sessions still running.
// Authentication is the HTTP server's: main mounts the Handler behind the
// same keys as the API (the principal is in the request's context).
package live

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/coder/websocket"

	"github.com/earshot-dev/earshot/httpapi/openai"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// Config is a Handler's configuration; zero durations take the defaults.
type Config struct {
	Pipeline *pipeline.Pipeline
	// Model checks a model name a client asks for (?model= or
	// transcription.model), returning an error pipeline.Classify
	// understands (NotFound) for one the server does not serve; nil takes
	// ModelName and OpenAI's names (see OpenAIModel).
	Model func(name string) error
	// ModelName is the served model's name, the default a session reports.
	ModelName string
	// Detector finds speech for server_vad and semantic_vad (default
	// VADDetector over the energy VAD).
	Detector SpeechDetector
	// Origins are the browser origins allowed besides the server's own
	// ("https://app.example"); see the --allow-origin flag.
	Origins []string
	// IdleTimeout ends a session with no client event for that long
	// (default 2 minutes); MaxSession ends any session (default 60
	// minutes, as OpenAI's).
	IdleTimeout time.Duration
	MaxSession  time.Duration
	// MaxTurn commits a turn that has gone on that long (default 30 s,
	// whisper's window); MaxBuffer is the most audio a manual-commit
	// buffer holds before appends are refused (default 120 s).
	MaxTurn   time.Duration
	MaxBuffer time.Duration
	// Step is the least new audio between two decodes of the open turn
	// (default 300 ms); the decodes also wait for the engine, so on a busy
	// machine they come less often, never more.
	Step time.Duration
	// MaxSessions is the most sessions open at once (0: no limit beyond
	// the engine's queue); one more is refused with 429 at the handshake.
	MaxSessions int
	// WriteTimeout is how long an event may wait for a client that does not
	// read before the session is closed (default 10 s).
	WriteTimeout time.Duration
	Logger       *slog.Logger
}

// Handler serves sessions.
type Handler struct {
	cfg     Config
	origins []string

	mu       sync.Mutex
	closed   bool
	sessions map[*session]struct{}
	wg       sync.WaitGroup
}

// Defaults for Config.
const (
	DefaultIdleTimeout = 2 * time.Minute
	DefaultMaxSession  = 60 * time.Minute
	DefaultMaxTurn     = 30 * time.Second
	DefaultMaxBuffer   = 120 * time.Second
	DefaultStep        = 300 * time.Millisecond
)

// New makes a Handler.
func New(cfg Config) *Handler {
	def := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	def(&cfg.IdleTimeout, DefaultIdleTimeout)
	def(&cfg.MaxSession, DefaultMaxSession)
	def(&cfg.MaxTurn, DefaultMaxTurn)
	def(&cfg.MaxBuffer, DefaultMaxBuffer)
	def(&cfg.Step, DefaultStep)
	def(&cfg.WriteTimeout, 10*time.Second)
	if cfg.Detector == nil {
		cfg.Detector = VADDetector{transcribe.EnergyVAD{}}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Model == nil {
		served := cfg.ModelName
		cfg.Model = func(name string) error {
			if name == served || OpenAIModel(name) {
				return nil
			}
			return &pipeline.Error{Kind: pipeline.NotFound, Param: "model", Code: "model_not_found",
				Message: fmt.Sprintf("The model '%s' does not exist on this server; it serves '%s' (and OpenAI's transcription and realtime model names, such as gpt-4o-transcribe).", name, served)}
		}
	}
	h := &Handler{cfg: cfg, sessions: map[*session]struct{}{}}
	for _, o := range cfg.Origins {
		if u, err := url.Parse(o); err == nil && u.Host != "" {
			h.origins = append(h.origins, u.Host)
		} else {
			h.origins = append(h.origins, o)
		}
	}
	return h
}

// OpenAIModel reports whether name is one of OpenAI's model names a
// Realtime client may dial or ask to transcribe with: whisper-1, the
// gpt-*transcribe* models, and the gpt-*realtime* ones (OpenAI's SDK dials
// ?model= with a realtime model and then sends session.update with type
// "transcription"). earshot's one loaded model serves them all.
func OpenAIModel(name string) bool {
	return name == "whisper-1" || strings.HasPrefix(name, "gpt-") &&
		(strings.Contains(name, "transcribe") || strings.Contains(name, "realtime"))
}

// Subprotocol is what a session answers to browser clients, which offer
// it next to "openai-insecure-api-key.KEY" (never echoed).
const Subprotocol = "realtime"

// KeyProtocolPrefix starts the subprotocol that carries a browser's key.
const KeyProtocolPrefix = "openai-insecure-api-key."

// ServeHTTP upgrades GET /v1/realtime to a session.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	fail := func(status int, err *pipeline.Error) {
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(status)
		b, _ := jsonMarshal(map[string]any{"error": render(err, "")["error"]})
		w.Write(b)
	}
	if r.Method != http.MethodGet {
		fail(http.StatusMethodNotAllowed, pipeline.Errorf(pipeline.MethodNotAllowed, "method_not_allowed", "%s is not allowed on %s: open a WebSocket with GET.", r.Method, r.URL.Path))
		return
	}
	if err := h.cfg.Pipeline.Admit(); err != nil {
		fail(http.StatusServiceUnavailable, pipeline.Classify(err))
		return
	}
	q := r.URL.Query()
	if intent := q.Get("intent"); intent != "" && intent != "transcription" {
		fail(http.StatusBadRequest, invalid("intent", "intent %q is not one earshot serves: use intent=transcription (or ?model=NAME and a session.update with type \"transcription\").", intent))
		return
	}
	model := h.cfg.ModelName
	if m := q.Get("model"); m != "" {
		if err := h.cfg.Model(m); err != nil {
			e := *pipeline.Classify(err)
			e.Param = "model"
			fail(http.StatusNotFound, &e)
			return
		}
		model = m
	}
	if !websocketUpgrade(r) {
		fail(http.StatusUpgradeRequired, pipeline.Errorf(pipeline.Invalid, "websocket_required", "/v1/realtime is a WebSocket endpoint: connect with a Realtime client (wss://HOST/v1/realtime?intent=transcription)."))
		return
	}
	if limit := h.cfg.MaxSessions; limit > 0 && h.Sessions() >= limit {
		w.Header().Set("Retry-After", "1")
		fail(http.StatusTooManyRequests, pipeline.Errorf(pipeline.RateLimited, "too_many_sessions",
			"The server holds its limit of %d live sessions; retry in a moment.", limit))
		return
	}
	// The session is one request against the key's limits: admitted here
	// (quota, requests per minute, one concurrency lease held while it is
	// open), its turns recorded as they complete.
	release, err := h.cfg.Pipeline.AdmitCaller(r.Context())
	if err != nil {
		e := pipeline.Classify(err)
		status, _ := openai.ErrorStatus(e.Kind)
		if e.RetryAfter > 0 {
			w.Header().Set("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
		}
		fail(status, e)
		return
	}
	defer release()
	conn, err := websocket.Accept(w, r, &websocket.AcceptOptions{
		Subprotocols:   []string{Subprotocol},
		OriginPatterns: h.origins,
	})
	if err != nil {
		h.cfg.Logger.Info("live: websocket handshake refused", "error", err)
		return // Accept has answered
	}
	ctx, cancel := context.WithTimeout(r.Context(), h.cfg.MaxSession)
	defer cancel()
	s := newSession(h, conn, model, strings.Contains(r.Header.Get("OpenAI-Beta"), "realtime=v1") && q.Get("intent") == "transcription")
	if !h.add(s, cancel) {
		conn.Close(websocket.StatusGoingAway, "server is shutting down")
		return
	}
	defer h.remove(s)
	s.run(ctx)
}

func websocketUpgrade(r *http.Request) bool {
	return strings.EqualFold(r.Header.Get("Upgrade"), "websocket")
}

func (h *Handler) add(s *session, cancel context.CancelFunc) bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.closed {
		return false
	}
	s.stop = cancel
	h.sessions[s] = struct{}{}
	h.wg.Add(1)
	return true
}

func (h *Handler) remove(s *session) {
	h.mu.Lock()
	delete(h.sessions, s)
	h.mu.Unlock()
	h.wg.Done()
}

// Close ends every session (each is told with an error event that the
// server is shutting down) and waits for them, or for ctx.
func (h *Handler) Close(ctx context.Context) error {
	h.mu.Lock()
	h.closed = true
	for s := range h.sessions {
		s.shutdown.Store(true)
		s.stop()
	}
	h.mu.Unlock()
	done := make(chan struct{})
	go func() { h.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Sessions is the number of sessions open.
func (h *Handler) Sessions() int {
	h.mu.Lock()
	defer h.mu.Unlock()
	return len(h.sessions)
}

func newID(prefix string) string {
	var b [12]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// render is the one place a session turns an error into OpenAI's error
// object (as the error event carries it): every error goes through
// pipeline.Classify. eventID is the client event it answers ("" if none).
func render(err error, eventID string) map[string]any {
	e := pipeline.Classify(err)
	_, typ := openai.ErrorStatus(e.Kind)
	obj := map[string]any{"type": typ, "message": e.Message, "code": nil, "param": nil, "event_id": nil}
	if e.Code != "" {
		obj["code"] = e.Code
	}
	if e.Param != "" {
		obj["param"] = e.Param
	}
	if eventID != "" {
		obj["event_id"] = eventID
	}
	return map[string]any{"type": "error", "error": obj}
}

var errSlowClient = errors.New("live: client does not read its events")
