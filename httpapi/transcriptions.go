package httpapi

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"mime"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/transcribe"
)

// auth requires a valid Bearer key on every /v1 route.
func (s *Server) auth(c *gin.Context) {
	if s.cfg.Keys == nil {
		c.Next()
		return
	}
	h := c.GetHeader("Authorization")
	scheme, key, ok := strings.Cut(h, " ")
	key = strings.TrimSpace(key)
	if !ok || !strings.EqualFold(scheme, "Bearer") || key == "" {
		s.fail(c, errMissingKey)
		return
	}
	if !s.cfg.Keys.Verify(key) {
		s.fail(c, errBadKey)
		return
	}
	c.Next()
}

// form is a parsed transcription request.
type form struct {
	file        []byte
	filename    string
	model       string
	format      string
	stream      bool
	mode        string
	maxTokens   int
	encoding    string
	granularity []string
	opts        transcribe.Options
}

const maxFieldBytes = 64 << 10

// parseForm reads the multipart body as it arrives. The file may be at most
// MaxUpload bytes; a larger one is refused while reading it, not after.
func (s *Server) parseForm(c *gin.Context, translate, modes bool) (*form, error) {
	ct, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return nil, errorf(http.StatusBadRequest, "invalid_request_error", "", "invalid_content_type",
			"Send the audio as multipart/form-data with a 'file' field (got Content-Type %q).", c.GetHeader("Content-Type"))
	}
	// The whole body may carry the file plus the small fields.
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, s.cfg.MaxUpload+1<<20)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, badParam("", "Malformed multipart body: %v", err)
	}
	f := &form{format: "json", mode: "raw"}
	fields := map[string][]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bodyError(err)
		}
		name := part.FormName()
		if name == "file" {
			if f.file != nil {
				return nil, badParam("file", "Send one 'file' field, not several.")
			}
			var buf bytes.Buffer
			n, err := buf.ReadFrom(io.LimitReader(part, s.cfg.MaxUpload+1))
			if err != nil {
				return nil, bodyError(err)
			}
			if n > s.cfg.MaxUpload {
				return nil, &http.MaxBytesError{Limit: s.cfg.MaxUpload}
			}
			f.file, f.filename = buf.Bytes(), part.FileName()
			continue
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return nil, bodyError(err)
		}
		if len(v) > maxFieldBytes {
			return nil, badParam(name, "The field '%s' is longer than %d bytes.", name, maxFieldBytes)
		}
		fields[name] = append(fields[name], string(v))
	}
	if f.file == nil {
		return nil, badParam("file", "The 'file' field with the audio is missing.")
	}
	one := func(k string) string {
		if v := fields[k]; len(v) > 0 {
			return strings.TrimSpace(v[len(v)-1])
		}
		return ""
	}
	f.model = one("model")
	if v := one("response_format"); v != "" {
		f.format = v
	}
	if !slices.Contains(transcribe.ResponseFormats, f.format) {
		return nil, badParam("response_format", "'%s' is not one of %s.", f.format, strings.Join(transcribe.ResponseFormats, ", "))
	}
	if v := one("stream"); v != "" {
		if f.stream, err = strconv.ParseBool(v); err != nil {
			return nil, badParam("stream", "'%s' is not a boolean.", v)
		}
	}
	if v := one("temperature"); v != "" {
		t, err := strconv.ParseFloat(v, 32)
		if err != nil || t < 0 || t > 1 {
			return nil, badParam("temperature", "temperature must be a number between 0 and 1, got '%s'.", v)
		}
		f.opts.Temperature = float32(t)
	}
	f.opts.Prompt = one("prompt")
	f.opts.Translate = translate
	if lang := one("language"); lang != "" {
		if translate {
			return nil, badParam("language", "Translations detect the spoken language; 'language' is not a field of this endpoint.")
		}
		code, ok := transcribe.LanguageCode(lang)
		if !ok {
			return nil, badParam("language", "'%s' is not a language whisper knows; use an ISO-639-1 code such as 'en'.", lang)
		}
		f.opts.Language = code
	}
	f.granularity = append(fields["timestamp_granularities[]"], fields["timestamp_granularities"]...)
	for _, g := range f.granularity {
		switch g {
		case "word":
			f.opts.TokenTimestamps = true
		case "segment":
		default:
			return nil, badParam("timestamp_granularities", "'%s' is not one of word, segment.", g)
		}
	}
	if len(f.granularity) > 0 && f.format != "verbose_json" && !modes {
		return nil, badParam("timestamp_granularities", "timestamp_granularities requires response_format=verbose_json.")
	}
	if v := one("mode"); v != "" {
		f.mode = v
	}
	if v := one("max_tokens"); v != "" {
		if f.maxTokens, err = strconv.Atoi(v); err != nil || f.maxTokens <= 0 {
			return nil, badParam("max_tokens", "max_tokens must be a positive integer, got '%s'.", v)
		}
	}
	f.encoding = one("encoding")
	if err := s.checkModel(f.model); err != nil {
		return nil, err
	}
	return f, nil
}

// aliases are OpenAI's transcription model names, all served by the loaded
// model: whisper-1, and the names OpenAI moves users to as it retires
// whisper-1, so that code written for OpenAI keeps working unchanged.
var aliases = []string{"whisper-1", "gpt-transcribe", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}

// bodyError is a failure reading the multipart body: over the size limit
// (413 through the error mapping) or malformed (400), never the engine's.
func bodyError(err error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return err
	}
	return badParam("", "Malformed multipart body: %v", err)
}

// checkModel accepts the served model's name, an alias, or none.
func (s *Server) checkModel(name string) error {
	if name == "" || name == s.cfg.ModelName || slices.Contains(aliases, name) {
		return nil
	}
	return errorf(http.StatusNotFound, "invalid_request_error", "model", "model_not_found",
		"The model '%s' does not exist on this server; it serves '%s' (alias 'whisper-1').", name, s.cfg.ModelName)
}

// openAI serves /v1/audio/transcriptions and /v1/audio/translations.
func (s *Server) openAI(translate bool) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, res, ok := s.run(c, translate)
		if !ok {
			return
		}
		if f.format == "verbose_json" {
			v := res.Verbose()
			if translate {
				v.Task = "translate"
			}
			if !slices.Contains(f.granularity, "word") {
				v.Words = nil
			}
			c.JSON(http.StatusOK, v)
			return
		}
		var b bytes.Buffer
		if err := transcribe.Write(&b, res, f.format); err != nil {
			s.fail(c, err)
			return
		}
		c.Data(http.StatusOK, transcribe.ContentType(f.format), b.Bytes())
	}
}

// modes serves /v1/transcriptions: the transcription shaped by agentmode
// as mode says (raw, clean or agent), within max_tokens when given.
func (s *Server) modes(c *gin.Context) {
	f, err := s.parseForm(c, false, true)
	if err != nil {
		s.fail(c, err)
		return
	}
	mode, err := agentmode.ParseMode(f.mode)
	if err != nil {
		s.fail(c, badParam("mode", "'%s' is not one of raw, clean, agent.", f.mode))
		return
	}
	if f.stream && mode != agentmode.Raw {
		s.fail(c, badParam("stream", "stream=true sends whisper's text as it is decoded: it needs mode=raw (clean and agent shape the whole transcript)."))
		return
	}
	if f.stream && f.maxTokens > 0 {
		s.fail(c, badParam("max_tokens", "max_tokens does not apply to a stream."))
		return
	}
	opts := agentmode.Options{Mode: mode, MaxTokens: f.maxTokens, Encoding: f.encoding, Words: f.opts.TokenTimestamps}
	res, ok := s.transcribe(c, f)
	if !ok {
		return
	}
	out, err := s.cfg.Formatter.Format(res, opts)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", out.JSON)
}

// run parses, decodes and transcribes a request, streaming it when asked.
// It reports false when the response has been written already.
func (s *Server) run(c *gin.Context, translate bool) (*form, *transcribe.Result, bool) {
	f, err := s.parseForm(c, translate, false)
	if err != nil {
		s.fail(c, err)
		return nil, nil, false
	}
	res, ok := s.transcribe(c, f)
	return f, res, ok
}

func (s *Server) transcribe(c *gin.Context, f *form) (*transcribe.Result, bool) {
	if s.draining.Load() {
		s.fail(c, errDraining)
		return nil, false
	}
	ctx := c.Request.Context()
	a, err := s.cfg.Decoder.Decode(ctx, f.file)
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	f.file = nil // let the upload go; only the samples are needed now
	req := transcribe.Request{Samples: a.Samples, Options: f.opts}
	var sse *sseWriter
	if f.stream {
		sse = &sseWriter{c: c}
		req.OnSegment = sse.delta
	}
	start := time.Now()
	res, err := s.cfg.Engine.Transcribe(ctx, req)
	if err == nil {
		s.metrics.transcribed(res.Duration, time.Since(start))
	}
	if sse != nil {
		if err != nil && !sse.started {
			s.fail(c, err)
		} else if err != nil {
			ae := s.toAPIError(err)
			sse.event(gin.H{"error": ae})
			c.Status(ae.Status) // for the log and metrics; the stream said 200
		} else {
			sse.done(res)
		}
		return nil, false
	}
	if err != nil {
		s.fail(c, err)
		return nil, false
	}
	return res, true
}

// sseWriter streams transcript deltas as OpenAI's server-sent events.
type sseWriter struct {
	c       *gin.Context
	started bool
	text    strings.Builder
}

func (w *sseWriter) start() {
	if w.started {
		return
	}
	w.started = true
	h := w.c.Writer.Header()
	h.Set("Content-Type", "text/event-stream")
	h.Set("Cache-Control", "no-cache")
	h.Set("X-Accel-Buffering", "no")
	w.c.Status(http.StatusOK)
}

func (w *sseWriter) event(v any) error {
	w.start()
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(w.c.Writer, "data: %s\n\n", b); err != nil {
		return err
	}
	w.c.Writer.Flush()
	return nil
}

// delta sends one segment as it is decoded. The first delta drops the
// leading space whisper puts before words, so that the deltas concatenate
// to exactly the done event's text.
func (w *sseWriter) delta(seg transcribe.Segment) error {
	d := seg.Text
	if w.text.Len() == 0 {
		d = strings.TrimLeft(d, " ")
	}
	if d == "" {
		return nil
	}
	w.text.WriteString(d)
	return w.event(gin.H{"type": "transcript.text.delta", "delta": d})
}

func (w *sseWriter) done(res *transcribe.Result) {
	w.event(gin.H{"type": "transcript.text.done", "text": w.text.String(), "usage": res.Usage()})
}

// model is an entry of GET /v1/models, in OpenAI's shape.
type model struct {
	ID      string `json:"id"`
	Object  string `json:"object"`
	Created int64  `json:"created"`
	OwnedBy string `json:"owned_by"`
}

func (s *Server) models() []model {
	ms := []model{{ID: s.cfg.ModelName, Object: "model", OwnedBy: "earshot"}}
	for _, a := range aliases {
		ms = append(ms, model{ID: a, Object: "model", OwnedBy: "earshot"})
	}
	return ms
}

func (s *Server) listModels(c *gin.Context) {
	c.JSON(http.StatusOK, gin.H{"object": "list", "data": s.models()})
}

func (s *Server) getModel(c *gin.Context) {
	id := c.Param("id")
	for _, m := range s.models() {
		if m.ID == id {
			c.JSON(http.StatusOK, m)
			return
		}
	}
	s.fail(c, s.checkModel(id))
}
