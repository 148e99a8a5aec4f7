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
	"github.com/earshot-dev/earshot/httpapi/openai"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// auth requires a valid Bearer key on every /v1 route and puts the
// caller's principal in the request's context. A WebSocket handshake
// without the header may carry the key the way browsers must (they cannot
// set headers): as the subprotocol "openai-insecure-api-key.KEY", which
// OpenAI's Realtime clients send.
func (s *Server) auth(c *gin.Context) {
	h := c.GetHeader("Authorization")
	if k := subprotocolKey(c.Request.Header.Values("Sec-WebSocket-Protocol")); h == "" && k != "" {
		h = "Bearer " + k
	}
	key, err := bearer(h, s.cfg.Pipeline.AuthEnabled())
	if err != nil {
		s.fail(c, err)
		return
	}
	ctx, err := s.cfg.Pipeline.Authenticate(c.Request.Context(), key)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Request = c.Request.WithContext(ctx)
	c.Next()
}

// bearer reads the key from an Authorization header. A header without the
// "Bearer " scheme is a key sent the wrong way, and is told so.
func bearer(h string, required bool) (string, error) {
	h = strings.TrimSpace(h)
	if h == "" || !required {
		return "", nil
	}
	scheme, key, ok := strings.Cut(h, " ")
	if !ok || !strings.EqualFold(scheme, "Bearer") {
		return "", pipeline.Errorf(pipeline.Unauthenticated, "invalid_api_key",
			"The Authorization header has no 'Bearer' scheme: send 'Authorization: Bearer YOUR_KEY'.")
	}
	return strings.TrimSpace(key), nil
}

// keyProtocol starts the WebSocket subprotocol that carries a browser's key.
const keyProtocol = "openai-insecure-api-key."

// subprotocolKey is the key in a Sec-WebSocket-Protocol list ("" if none).
func subprotocolKey(values []string) string {
	for _, v := range values {
		for p := range strings.SplitSeq(v, ",") {
			if k, ok := strings.CutPrefix(strings.TrimSpace(p), keyProtocol); ok {
				return k
			}
		}
	}
	return ""
}

// route is what a transcription route takes: its fields, and how it
// answers.
type route struct {
	path      string
	translate bool
	// modes is /v1/transcriptions: agentmode's JSON (mode, max_tokens,
	// encoding) instead of OpenAI's response formats.
	modes bool
	// formats lets a modes route answer OpenAI's response formats too
	// (POST /v1/jobs).
	formats bool
	fields  []string
}

var (
	transcriptionsRoute = route{path: "/v1/audio/transcriptions", fields: []string{"file", "model", "language", "languages[]",
		"prompt", "keywords[]", "response_format", "temperature", "timestamp_granularities[]", "stream", "include[]",
		"chunking_strategy", "vad"}}
	translationsRoute = route{path: "/v1/audio/translations", translate: true, fields: []string{"file", "model", "prompt",
		"response_format", "temperature", "chunking_strategy", "vad"}}
	modesRoute = route{path: "/v1/transcriptions", modes: true, fields: []string{"file", "model", "language", "languages[]",
		"prompt", "keywords[]", "temperature", "timestamp_granularities[]", "stream", "mode", "max_tokens", "encoding", "min_confidence",
		"response_format", "chunking_strategy", "vad"}}
)

// unsupported are fields of OpenAI's API that earshot cannot honour yet:
// refused by name rather than ignored.
var unsupported = map[string]string{
	"known_speaker_names[]":      "earshot does not diarize (tell speakers apart) yet",
	"known_speaker_references[]": "earshot does not diarize (tell speakers apart) yet",
}

// elsewhere says where a field of another route works.
var elsewhere = map[string]string{
	"mode":           "mode, max_tokens and encoding are fields of POST /v1/transcriptions; this route answers in OpenAI's response formats",
	"min_confidence": "min_confidence is a field of POST /v1/transcriptions (agent mode); this route answers in OpenAI's response formats",
	"max_tokens":     "mode, max_tokens and encoding are fields of POST /v1/transcriptions; this route answers in OpenAI's response formats",
	"encoding":       "mode, max_tokens and encoding are fields of POST /v1/transcriptions; this route answers in OpenAI's response formats",
	"language":       "translations detect the spoken language and answer in English; 'language' is a field of /v1/audio/transcriptions",
	"stream":         "translations are not streamed; stream is a field of /v1/audio/transcriptions and /v1/transcriptions",
	"timestamp_granularities[]": "translations have segment timestamps only; timestamp_granularities[] is a field of " +
		"/v1/audio/transcriptions",
	"include[]": "include[]=logprobs is a field of /v1/audio/transcriptions; in /v1/transcriptions raw mode every token " +
		"carries its logprob already",
	"languages[]": "translations detect the spoken language; languages[] is a field of /v1/audio/transcriptions",
	"keywords[]":  "keywords[] is a field of /v1/audio/transcriptions and /v1/transcriptions; prompt works here",
}

// arrays are OpenAI's array fields, which clients send with or without the
// brackets.
var arrays = []string{"timestamp_granularities", "include", "known_speaker_names", "known_speaker_references", "languages", "keywords"}

// form is a parsed transcription request.
type form struct {
	file        []byte
	filename    string
	model       string // "" for the default model
	format      string
	stream      bool
	words       bool
	logprobs    bool
	noVAD       bool
	chunking    *transcribe.ServerVAD
	opts        transcribe.Options
	agent       agentmode.Options
	granularity []string
	webhookURL  string // POST /v1/jobs
}

const maxFieldBytes = 64 << 10

// parseForm reads the multipart body as it arrives. The file may be at most
// MaxUpload bytes; a larger one is refused while reading it, not after.
func (s *Server) parseForm(c *gin.Context, rt route) (*form, error) {
	if err := s.cfg.Pipeline.Admit(); err != nil {
		return nil, err
	}
	ct, params, err := mime.ParseMediaType(c.GetHeader("Content-Type"))
	if err != nil || ct != "multipart/form-data" || params["boundary"] == "" {
		return nil, pipeline.InvalidParam("", "Send the audio as multipart/form-data with a 'file' field (got Content-Type %q).", c.GetHeader("Content-Type"))
	}
	// The whole body may carry the file plus the small fields. A key may
	// have a smaller upload limit than the server's.
	limit, tooLarge := s.uploadLimit(c)
	c.Request.Body = http.MaxBytesReader(c.Writer, c.Request.Body, limit+1<<20)
	mr, err := c.Request.MultipartReader()
	if err != nil {
		return nil, pipeline.InvalidParam("", "Malformed multipart body: %v.", err)
	}
	f := &form{format: "json"}
	fields := map[string][]string{}
	for {
		part, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, bodyError(err, tooLarge)
		}
		name := part.FormName()
		if name == "file" {
			if f.file != nil {
				return nil, pipeline.InvalidParam("file", "Send one 'file' field, not several.")
			}
			var buf bytes.Buffer
			n, err := buf.ReadFrom(io.LimitReader(part, limit+1))
			if err != nil {
				return nil, bodyError(err, tooLarge)
			}
			if n > limit {
				return nil, tooLarge
			}
			f.file, f.filename = buf.Bytes(), part.FileName()
			continue
		}
		if part.FileName() != "" {
			return nil, pipeline.InvalidParam(name, "The field '%s' holds a file (%s): send the audio in the 'file' field.", name, part.FileName())
		}
		if err := checkField(rt, name); err != nil {
			return nil, err
		}
		v, err := io.ReadAll(io.LimitReader(part, maxFieldBytes+1))
		if err != nil {
			return nil, bodyError(err, tooLarge)
		}
		if len(v) > maxFieldBytes {
			return nil, pipeline.InvalidParam(name, "The field '%s' is longer than %d bytes.", name, maxFieldBytes)
		}
		fields[name] = append(fields[name], string(v))
	}
	if f.file == nil {
		return nil, pipeline.InvalidParam("file", "The 'file' field with the audio is missing.")
	}
	if err := f.read(fields, rt); err != nil {
		return nil, err
	}
	if f.model, err = s.checkModel(one(fields, "model")); err != nil {
		return nil, err
	}
	f.webhookURL = one(fields, "webhook_url")
	return f, nil
}

// checkField refuses a field this route does not take, saying where it
// works or why earshot cannot honour it.
func checkField(rt route, name string) error {
	canon := name
	if slices.Contains(arrays, name) {
		canon = name + "[]"
	}
	if strings.HasPrefix(name, "chunking_strategy[") { // the SDKs' form of the object
		canon = "chunking_strategy"
	}
	if slices.Contains(rt.fields, canon) {
		return nil
	}
	if why, ok := unsupported[canon]; ok {
		return pipeline.InvalidParam(canon, "'%s' is not supported: %s.", canon, why)
	}
	if why, ok := elsewhere[canon]; ok {
		return pipeline.InvalidParam(canon, "'%s' is not a field of %s: %s.", canon, rt.path, why)
	}
	return pipeline.InvalidParam(name, "'%s' is not a field of %s, which takes %s.", name, rt.path, strings.Join(rt.fields, ", "))
}

// chunking reads OpenAI's chunking_strategy: "auto", a server_vad object
// as JSON, or the object as the SDKs send it in a form
// (chunking_strategy[type]=server_vad, chunking_strategy[threshold]=...).
func chunking(fields map[string][]string) (*transcribe.ServerVAD, error) {
	var obj struct {
		Type              string   `json:"type"`
		PrefixPaddingMS   *int     `json:"prefix_padding_ms"`
		SilenceDurationMS *int     `json:"silence_duration_ms"`
		Threshold         *float64 `json:"threshold"`
	}
	bad := func(format string, args ...any) error {
		return pipeline.InvalidParam("chunking_strategy", format, args...)
	}
	v := one(fields, "chunking_strategy")
	switch {
	case v == "auto":
		sv := transcribe.DefaultServerVAD()
		return &sv, nil
	case strings.HasPrefix(v, "{"):
		dec := json.NewDecoder(strings.NewReader(v))
		dec.DisallowUnknownFields()
		if err := dec.Decode(&obj); err != nil {
			return nil, bad("chunking_strategy is not \"auto\" or a server_vad object: %v.", err)
		}
	case v != "":
		return nil, bad("chunking_strategy '%s' is not \"auto\" or a server_vad object.", v)
	default:
		obj.Type = one(fields, "chunking_strategy[type]")
		if obj.Type == "" {
			for k := range fields {
				if strings.HasPrefix(k, "chunking_strategy[") {
					return nil, bad("chunking_strategy needs a type (\"server_vad\").")
				}
			}
			return nil, nil
		}
		for name, dst := range map[string]**int{"prefix_padding_ms": &obj.PrefixPaddingMS, "silence_duration_ms": &obj.SilenceDurationMS} {
			if s := one(fields, "chunking_strategy["+name+"]"); s != "" {
				n, err := strconv.Atoi(s)
				if err != nil {
					return nil, bad("chunking_strategy[%s] '%s' is not a whole number of milliseconds.", name, s)
				}
				*dst = &n
			}
		}
		if s := one(fields, "chunking_strategy[threshold]"); s != "" {
			t, err := strconv.ParseFloat(s, 64)
			if err != nil {
				return nil, bad("chunking_strategy[threshold] '%s' is not a number.", s)
			}
			obj.Threshold = &t
		}
		for k := range fields {
			if strings.HasPrefix(k, "chunking_strategy[") && !slices.Contains([]string{"chunking_strategy[type]",
				"chunking_strategy[prefix_padding_ms]", "chunking_strategy[silence_duration_ms]", "chunking_strategy[threshold]"}, k) {
				return nil, bad("'%s' is not a field of a server_vad chunking_strategy.", k)
			}
		}
	}
	if obj.Type != "server_vad" {
		return nil, bad("chunking_strategy's type must be \"server_vad\", not %q.", obj.Type)
	}
	sv, err := transcribe.ServerVADFromOpenAI(obj.PrefixPaddingMS, obj.SilenceDurationMS, obj.Threshold)
	if err != nil {
		return nil, bad("%s", pipeline.Classify(err).Message)
	}
	return &sv, nil
}

// list is an array field, sent as name[] or name, repeated or as one
// comma-free value per part.
func list(fields map[string][]string, name string) []string {
	var out []string
	for _, v := range append(fields[name+"[]"], fields[name]...) {
		if v = strings.TrimSpace(v); v != "" {
			out = append(out, v)
		}
	}
	return out
}

func one(fields map[string][]string, k string) string {
	if v := fields[k]; len(v) > 0 {
		return strings.TrimSpace(v[len(v)-1])
	}
	return ""
}

// read checks and converts the small fields.
func (f *form) read(fields map[string][]string, rt route) error {
	var err error
	if v := one(fields, "response_format"); v != "" {
		f.format = v
	}
	if f.format == "diarized_json" {
		return pipeline.InvalidParam("response_format", "earshot does not diarize (tell speakers apart) yet; use json, text, srt, vtt or verbose_json.")
	}
	if rt.modes && !rt.formats && f.format != "json" {
		return pipeline.InvalidParam("response_format", "/v1/transcriptions answers agentmode's JSON (choose it with mode=raw|clean|agent); "+
			"response_format=%s is answered by /v1/audio/transcriptions.", f.format)
	}
	if !slices.Contains(openai.ResponseFormats, f.format) {
		return pipeline.InvalidParam("response_format", "'%s' is not one of %s.", f.format, strings.Join(openai.ResponseFormats, ", "))
	}
	if v := one(fields, "stream"); v != "" {
		if f.stream, err = strconv.ParseBool(v); err != nil {
			return pipeline.InvalidParam("stream", "'%s' is not a boolean.", v)
		}
	}
	if f.stream && f.format != "json" && f.format != "text" {
		return pipeline.InvalidParam("stream", "stream=true sends transcript.text.delta events; response_format=%s cannot be streamed (use json or text, or stream=false).", f.format)
	}
	if v := one(fields, "temperature"); v != "" {
		t, err := strconv.ParseFloat(v, 32)
		if err != nil || t < 0 || t > 1 {
			return pipeline.InvalidParam("temperature", "temperature must be a number between 0 and 1, got '%s'.", v)
		}
		f.opts.Temperature = float32(t)
	}
	f.opts.Prompt = one(fields, "prompt")
	f.opts.Languages = list(fields, "languages")
	f.opts.Keywords = list(fields, "keywords")
	if f.chunking, err = chunking(fields); err != nil {
		return err
	}
	if v := one(fields, "vad"); v != "" {
		on, err := strconv.ParseBool(v)
		if err != nil {
			return pipeline.InvalidParam("vad", "'%s' is not a boolean.", v)
		}
		f.noVAD = !on
	}
	for _, inc := range list(fields, "include") {
		if inc != "logprobs" {
			return pipeline.InvalidParam("include[]", "'%s' is not something earshot can include; the one value is logprobs.", inc)
		}
		if f.format != "json" {
			return pipeline.InvalidParam("include[]", "include[]=logprobs needs response_format=json (or stream=true), as in OpenAI's API.")
		}
		f.logprobs = true
	}
	f.opts.Translate = rt.translate
	f.opts.Language = one(fields, "language") // checked by the pipeline, with every surface's wording
	f.granularity = list(fields, "timestamp_granularities")
	for _, g := range f.granularity {
		switch g {
		case "word":
			f.words, f.opts.TokenTimestamps = true, true
		case "segment":
		default:
			return pipeline.InvalidParam("timestamp_granularities[]", "'%s' is not one of word, segment.", g)
		}
	}
	if len(f.granularity) > 0 && f.format != "verbose_json" && !rt.modes {
		return pipeline.InvalidParam("timestamp_granularities[]", "timestamp_granularities[] requires response_format=verbose_json.")
	}
	if !rt.modes {
		return nil
	}
	f.agent = agentmode.Options{Mode: agentmode.Raw, Encoding: one(fields, "encoding"), Words: f.words}
	if v := one(fields, "mode"); v != "" {
		if f.agent.Mode, err = agentmode.ParseMode(v); err != nil {
			return err
		}
	}
	if v := one(fields, "max_tokens"); v != "" {
		if f.agent.MaxTokens, err = strconv.Atoi(v); err != nil || f.agent.MaxTokens <= 0 {
			return pipeline.InvalidParam("max_tokens", "max_tokens must be a positive integer, got '%s'.", v)
		}
	}
	if f.agent.MinConfidence, err = minConfidence(one(fields, "min_confidence")); err != nil {
		return err
	}
	if f.stream && f.agent.Mode != agentmode.Raw {
		return pipeline.InvalidParam("stream", "stream=true sends whisper's text as it is decoded: it needs mode=raw (clean and agent shape the whole transcript).")
	}
	if f.stream && f.agent.MaxTokens > 0 {
		return pipeline.InvalidParam("max_tokens", "max_tokens does not apply to a stream.")
	}
	return nil
}

// minConfidence reads agent mode's min_confidence ("" is the default).
func minConfidence(v string) (float64, error) {
	if v == "" {
		return 0, nil
	}
	c, err := strconv.ParseFloat(v, 64)
	if err != nil || !(c >= 0 && c <= 1) {
		return 0, pipeline.InvalidParam("min_confidence", "min_confidence must be a number between 0 and 1, got '%s'.", v)
	}
	return c, nil
}

// aliases are OpenAI's transcription model names, all served by the loaded
// model: whisper-1, and the names OpenAI moves users to as it retires
// whisper-1, so that code written for OpenAI keeps working unchanged.
var aliases = []string{"whisper-1", "gpt-transcribe", "gpt-4o-transcribe", "gpt-4o-mini-transcribe"}

// uploadLimit is the largest file this request may upload: the server's
// limit, or the calling key's when that is smaller, and the error a larger
// one gets.
func (s *Server) uploadLimit(c *gin.Context) (int64, *pipeline.Error) {
	limit, what, byKey := pipeline.UploadLimit(c.Request.Context(), s.cfg.MaxUpload)
	if !byKey {
		return limit, s.tooLarge()
	}
	return limit, &pipeline.Error{Kind: pipeline.TooLarge, Param: "file", Code: "file_too_large",
		Message: "The audio file is larger than " + what + "."}
}

// bodyError is a failure reading the multipart body: over the size limit
// (413, as tooLarge says) or malformed (400), never the engine's.
func bodyError(err error, tooLarge error) error {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		return tooLarge
	}
	return pipeline.InvalidParam("", "Malformed multipart body: %v.", err)
}

// checkModel accepts the served model's name, an alias, or none (all the
// default model), or a model downloaded on this server, which it names.
func (s *Server) checkModel(name string) (string, error) {
	if name == "" || name == s.cfg.ModelName || slices.Contains(aliases, name) {
		return "", nil
	}
	available := s.cfg.Pipeline.Models()
	if slices.Contains(available, name) {
		return name, nil
	}
	msg := fmt.Sprintf("The model '%s' does not exist on this server; it serves '%s' (alias 'whisper-1')", name, s.cfg.ModelName)
	if len(available) > 0 {
		msg += " and the downloaded models " + strings.Join(available, ", ")
	}
	return "", &pipeline.Error{Kind: pipeline.NotFound, Param: "model", Code: "model_not_found", Message: msg + "."}
}

// openAI serves /v1/audio/transcriptions and /v1/audio/translations in
// OpenAI's wire shapes.
func (s *Server) openAI(rt route) gin.HandlerFunc {
	return func(c *gin.Context) {
		f, err := s.parseForm(c, rt)
		if err != nil {
			s.fail(c, err)
			return
		}
		res, ok := s.run(c, f, nil)
		if !ok {
			return
		}
		if f.format == "verbose_json" {
			v := openai.VerboseOf(res.Result)
			if rt.translate {
				v.Task = "translate"
			}
			if !f.words {
				v.Words = nil
			}
			c.JSON(http.StatusOK, v)
			return
		}
		if f.format == "json" && (f.logprobs || len(f.opts.Languages) > 0) {
			out := openai.JSON{Text: res.Result.Text(), Usage: openai.UsageOf(res.Result)}
			if f.logprobs {
				out.Logprobs = openai.Logprobs(res.Result.Segments...)
			}
			if len(f.opts.Languages) > 0 {
				out.Languages = []openai.Language{{Code: res.Result.Language}}
			}
			c.JSON(http.StatusOK, out)
			return
		}
		var b bytes.Buffer
		if err := openai.Write(&b, res.Result, f.format); err != nil {
			s.fail(c, err)
			return
		}
		c.Data(http.StatusOK, openai.ContentType(f.format), b.Bytes())
	}
}

// modes serves /v1/transcriptions: the transcription shaped by agentmode
// as mode says (raw, clean or agent), within max_tokens when given.
func (s *Server) modes(c *gin.Context) {
	f, err := s.parseForm(c, modesRoute)
	if err != nil {
		s.fail(c, err)
		return
	}
	res, ok := s.run(c, f, &f.agent)
	if !ok {
		return
	}
	c.Data(http.StatusOK, "application/json", res.Output.JSON)
}

// getTranscription serves GET /v1/transcriptions/{id}: a transcript that
// POST /v1/transcriptions kept, read again in any mode, budget or page
// (cursor is a truncated answer's "next").
func (s *Server) getTranscription(c *gin.Context) {
	q := c.Request.URL.Query()
	opts := agentmode.Options{Mode: agentmode.Raw, Cursor: q.Get("cursor"), Encoding: q.Get("encoding")}
	for k := range q {
		switch k {
		case "mode", "cursor", "max_tokens", "encoding", "min_confidence", "timestamp_granularities[]", "timestamp_granularities":
		default:
			s.fail(c, pipeline.InvalidParam(k, "'%s' is not a parameter of GET /v1/transcriptions/{id}, which takes mode, cursor, max_tokens, encoding, min_confidence and timestamp_granularities[].", k))
			return
		}
	}
	var err error
	if v := q.Get("mode"); v != "" {
		if opts.Mode, err = agentmode.ParseMode(v); err != nil {
			s.fail(c, err)
			return
		}
	}
	if v := q.Get("max_tokens"); v != "" {
		if opts.MaxTokens, err = strconv.Atoi(v); err != nil || opts.MaxTokens <= 0 {
			s.fail(c, pipeline.InvalidParam("max_tokens", "max_tokens must be a positive integer, got '%s'.", v))
			return
		}
	}
	if opts.MinConfidence, err = minConfidence(q.Get("min_confidence")); err != nil {
		s.fail(c, err)
		return
	}
	for _, g := range append(q["timestamp_granularities[]"], q["timestamp_granularities"]...) {
		switch g {
		case "word":
			opts.Words = true
		case "segment":
		default:
			s.fail(c, pipeline.InvalidParam("timestamp_granularities[]", "'%s' is not one of word, segment.", g))
			return
		}
	}
	out, err := s.cfg.Pipeline.Reformat(c.Param("id"), opts)
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, "application/json", out.JSON)
}

// run sends a parsed request through the pipeline, streaming it when
// asked. It reports false when the response has been written already.
func (s *Server) run(c *gin.Context, f *form, shape *agentmode.Options) (*pipeline.Response, bool) {
	// Shaped answers are kept, so that a truncated one can be read on
	// (GET /v1/transcriptions/{id}?cursor=...).
	req := pipeline.Request{ID: c.GetString(usageIDKey), Audio: f.file, Name: f.filename, Model: f.model, Options: f.opts,
		Format: shape, Keep: shape != nil, NoVAD: f.noVAD, Chunking: f.chunking}
	f.file = nil // the pipeline holds the only reference: it lets go once decoded
	var sse *sseWriter
	if f.stream {
		sse = &sseWriter{c: c, logprobs: f.logprobs}
		req.OnSegment = sse.delta
		req.Format = nil // a stream is whisper's text, as it comes
	}
	start := time.Now()
	res, err := s.cfg.Pipeline.Transcribe(c.Request.Context(), req)
	if err != nil {
		s.fail(c, err) // as an event when the stream has started
		return nil, false
	}
	s.metrics.transcribed(res.Result.Duration, time.Since(start))
	if sse != nil {
		sse.done(res.Result)
		return nil, false
	}
	return res, true
}

// sseWriter streams transcript deltas as OpenAI's server-sent events.
type sseWriter struct {
	c        *gin.Context
	logprobs bool
	text     strings.Builder
}

// writeEvent sends one server-sent event, starting the stream (its headers
// and 200) on the first.
func writeEvent(c *gin.Context, v any) error {
	if !c.Writer.Written() {
		h := c.Writer.Header()
		h.Set("Content-Type", "text/event-stream")
		h.Set("Cache-Control", "no-cache")
		h.Set("X-Accel-Buffering", "no")
		c.Status(http.StatusOK)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	if _, err := fmt.Fprintf(c.Writer, "data: %s\n\n", b); err != nil {
		return err
	}
	c.Writer.Flush()
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
	ev := gin.H{"type": "transcript.text.delta", "delta": d}
	if w.logprobs {
		ev["logprobs"] = openai.Logprobs(seg)
	}
	return writeEvent(w.c, ev)
}

// done ends the stream. Its usage is OpenAI's token usage, the shape its
// done event defines.
func (w *sseWriter) done(res *transcribe.Result) {
	ev := gin.H{"type": "transcript.text.done", "text": w.text.String(), "usage": openai.TokenUsageOf(res)}
	if w.logprobs {
		ev["logprobs"] = openai.Logprobs(res.Segments...)
	}
	writeEvent(w.c, ev)
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
	for _, name := range s.cfg.Pipeline.Models() {
		if name != s.cfg.ModelName {
			ms = append(ms, model{ID: name, Object: "model", OwnedBy: "earshot"})
		}
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
	_, err := s.checkModel(id)
	s.fail(c, err)
}
