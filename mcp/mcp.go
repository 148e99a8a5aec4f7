// Package mcp is earshot's MCP tool server, on mark3labs/mcp-go: the
// transcribe tool, get_transcript to page through what transcribe stored,
// and transcript://{id} resources. It serves over stdio (earshot mcp, for
// Claude Desktop and Claude Code) and over streamable HTTP (mounted at /mcp
// by earshot serve).
//
// transcribe returns agentmode's JSON as structuredContent (declared by an
// outputSchema) and the same JSON as text, within max_tokens (default 8000:
// MCP clients reject large tool results). Bad input is a tool result with
// isError and a message the model can act on, never a protocol error. A
// client that sends a progressToken gets notifications/progress as the
// audio is read, transcribed and formatted; a cancelled request stops
// whisper.
//
// Audio comes as audio_base64 or, where allowed, as a path inside the
// configured directories (see Config.AllowDirs): no traversal, no symlink
// out of them, no devices or FIFOs, and the size is checked before reading.
//
// The server translates MCP to and from the transcribe core and agentmode
// and holds no transcription logic. A Server is safe for concurrent use and
// owns no goroutines beyond those of the requests being served; its
// HTTPHandler has an idle-session sweeper and must be closed.
package mcp

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strings"
	"sync"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

// Engine is what the server needs of the transcription core.
type Engine interface {
	Transcribe(ctx context.Context, req transcribe.Request) (*transcribe.Result, error)
}

// Formatter shapes transcripts (agentmode).
type Formatter interface {
	Format(res *transcribe.Result, opts agentmode.Options) (*agentmode.Output, error)
}

// Limits on max_tokens: the default keeps a result well inside what MCP
// clients accept (Claude Code refuses tool results over 25,000 tokens, and
// the JSON goes out twice: structured and as text); a larger request is
// lowered to MaxTokensLimit.
const (
	DefaultMaxTokens = 8000
	MaxTokensLimit   = 12000
)

// Config is the server's configuration; main fills it once.
type Config struct {
	// Engine transcribes. It may still be loading when the server starts:
	// Engine is then called when a transcription needs it, and may block
	// until the model is loaded or ctx ends.
	Engine func(ctx context.Context) (Engine, error)
	// Decoder turns audio bytes into samples.
	Decoder   audio.Decoder
	Formatter Formatter
	Store     *transcripts.Store
	// AllowDirs are the directories "path" may name files in (after
	// resolving symlinks). None: path is refused, audio_base64 only.
	AllowDirs []string
	// Home is the user's home directory, which "~" in a path or an allowed
	// directory stands for ("" : no expansion).
	Home string
	// MaxFileBytes is the largest audio accepted, as a file or decoded
	// from base64 (default 1 GiB).
	MaxFileBytes int64
	// Version is earshot's version, reported to clients.
	Version string
	Logger  *slog.Logger
}

// Server is earshot's MCP server.
type Server struct {
	cfg   Config
	mcp   *server.MCPServer
	roots []string // AllowDirs, resolved
}

// New builds the server and registers its tools and resources.
func New(cfg Config) (*Server, error) {
	if cfg.MaxFileBytes <= 0 {
		cfg.MaxFileBytes = 1 << 30
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Store == nil {
		cfg.Store = transcripts.New(0, 0)
	}
	roots, err := resolveRoots(cfg.AllowDirs, cfg.Home)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, roots: roots}
	s.mcp = server.NewMCPServer("earshot", cfg.Version,
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithRecovery(),
		server.WithInstructions(instructions),
	)
	s.mcp.AddTools(s.Tools()...)
	s.mcp.AddResourceTemplates(s.ResourceTemplates()...)
	return s, nil
}

const instructions = `earshot transcribes speech on this machine with whisper.cpp; the audio never leaves it.
Call transcribe with a file path (or the audio as base64). Its default answer (mode agent) has the request
already cleaned up: fillers and self-corrections resolved, split into intents (command, question, statement)
with times. When "truncated" is true, call get_transcript with the transcript_id and the "next" cursor to read on.`

// MCPServer is the mcp-go server, for transports and tests.
func (s *Server) MCPServer() *server.MCPServer { return s.mcp }

// Tools are transcribe and get_transcript.
func (s *Server) Tools() []server.ServerTool {
	annotations := mcpgo.ToolAnnotation{
		ReadOnlyHint:    mcpgo.ToBoolPtr(true),
		DestructiveHint: mcpgo.ToBoolPtr(false),
		IdempotentHint:  mcpgo.ToBoolPtr(true),
		OpenWorldHint:   mcpgo.ToBoolPtr(false),
	}
	tool := func(name, title, description string, input json.RawMessage) mcpgo.Tool {
		t := mcpgo.NewToolWithRawSchema(name, description, input)
		t.RawOutputSchema = agentmode.Schema()
		t.Annotations = annotations
		t.Annotations.Title = title
		return t
	}
	transcribeTool := tool("transcribe", "Transcribe audio", transcribeDescription, transcribeInputSchema)
	getTool := tool("get_transcript", "Read a stored transcript", getDescription, getInputSchema)
	return []server.ServerTool{
		{Tool: transcribeTool, Handler: s.transcribe},
		{Tool: getTool, Handler: s.getTranscript},
	}
}

// ResourceTemplates are transcript://{id}.
func (s *Server) ResourceTemplates() []server.ServerResourceTemplate {
	return []server.ServerResourceTemplate{{
		Template: mcpgo.NewResourceTemplate("transcript://{id}", "transcript",
			mcpgo.WithTemplateDescription("A stored transcript, whole: whisper's segments, tokens, words and timings (raw mode)."),
			mcpgo.WithTemplateMIMEType("application/json")),
		Handler: s.readTranscript,
	}}
}

const transcribeDescription = `Transcribe speech from an audio file on this machine (WAV, MP3, FLAC, Ogg/Opus, WebM, M4A/MP4, AAC...) with whisper.cpp; nothing leaves the machine.
Give exactly one of "path" (an absolute path to the file) or "audio_base64" (the file's bytes, base64).
mode "agent" (default) returns the request cleaned for you: fillers and self-corrections resolved ("book the, no wait, cancel the meeting" -> "Cancel the meeting."), split into intents (command/question/statement) with start/end seconds and confidence, plus what was removed and why.
mode "clean" returns readable paragraphs; "raw" returns whisper's segments, tokens and probabilities.
The answer stays within max_tokens; if "truncated" is true, call get_transcript with "transcript_id" and cursor "next" for the rest.`

const getDescription = `Read a transcript that transcribe stored (kept in memory for a while after its last use): another page ("cursor" from a truncated answer's "next"), another mode, or another token budget. Takes "transcript_id" from transcribe's answer.`

var transcribeInputSchema = json.RawMessage(`{
  "type": "object",
  "properties": {
    "path": {"type": "string", "description": "Absolute path of the audio file (inside the directories this server may read; ~ is the home directory)."},
    "audio_base64": {"type": "string", "description": "The audio file's bytes, base64-encoded (use instead of path)."},
    "filename": {"type": "string", "description": "Name of the audio file sent as audio_base64, for messages only (the format is read from the bytes)."},
    "mode": {"type": "string", "enum": ["agent", "clean", "raw"], "default": "agent", "description": "agent: cleaned and split into intents (default); clean: readable paragraphs; raw: whisper's output."},
    "language": {"type": "string", "description": "Spoken language as a code (en, de, fr...) or name; default: detected."},
    "prompt": {"type": "string", "description": "Text that guides spelling and style: names, jargon."},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 8000, "description": "Largest answer in tokens (o200k_base); more than 12000 is lowered to 12000."},
    "timestamps": {"type": "boolean", "default": false, "description": "Add each word's time and probability (computes token timestamps; slower)."}
  }
}`)

var getInputSchema = json.RawMessage(`{
  "type": "object",
  "required": ["transcript_id"],
  "properties": {
    "transcript_id": {"type": "string", "description": "The transcript_id of a transcribe answer."},
    "mode": {"type": "string", "enum": ["agent", "clean", "raw"], "default": "agent"},
    "cursor": {"type": "string", "description": "Where to start: a truncated answer's \"next\" (of the same mode). Default: the beginning."},
    "max_tokens": {"type": "integer", "minimum": 1, "maximum": 1000000, "default": 8000},
    "timestamps": {"type": "boolean", "default": false, "description": "Add each word's time and probability (when the transcript has them)."}
  }
}`)

type transcribeArgs struct {
	Path        string  `json:"path"`
	AudioBase64 string  `json:"audio_base64"`
	Filename    string  `json:"filename"`
	Mode        string  `json:"mode"`
	Language    string  `json:"language"`
	Prompt      string  `json:"prompt"`
	MaxTokens   float64 `json:"max_tokens"`
	Timestamps  bool    `json:"timestamps"`
}

type getArgs struct {
	TranscriptID string  `json:"transcript_id"`
	Mode         string  `json:"mode"`
	Cursor       string  `json:"cursor"`
	MaxTokens    float64 `json:"max_tokens"`
	Timestamps   bool    `json:"timestamps"`
}

// toolError is a failure the model can act on: it becomes a result with
// isError, never a protocol error.
type toolError struct{ msg string }

func (e *toolError) Error() string { return e.msg }

func toolErrorf(format string, args ...any) error {
	return &toolError{fmt.Sprintf(format, args...)}
}

// bind decodes a tool's arguments into v; an argument of the wrong type is
// a tool error.
func bind(req mcpgo.CallToolRequest, v any) error {
	b, err := json.Marshal(req.GetArguments())
	if err == nil {
		err = json.Unmarshal(b, v)
	}
	if err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) {
			return toolErrorf("argument %q has the wrong type: want a %s.", te.Field, te.Type)
		}
		return toolErrorf("arguments could not be read: %v", err)
	}
	return nil
}

// options checks the arguments common to both tools.
func options(mode string, maxTokens float64, timestamps bool) (agentmode.Options, error) {
	opts := agentmode.Options{Mode: agentmode.Agent, MaxTokens: DefaultMaxTokens, Words: timestamps}
	if mode != "" {
		m, err := agentmode.ParseMode(mode)
		if err != nil {
			return opts, toolErrorf("mode %q is not one of agent, clean, raw.", mode)
		}
		opts.Mode = m
	}
	if maxTokens != 0 {
		if maxTokens < 1 || maxTokens != math.Trunc(maxTokens) {
			return opts, toolErrorf("max_tokens must be a positive whole number, got %v.", maxTokens)
		}
		opts.MaxTokens = int(min(maxTokens, MaxTokensLimit))
	}
	return opts, nil
}

func (s *Server) transcribe(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	p := s.progress(ctx, req.Params.Meta)
	id, out, err := s.runTranscribe(ctx, req, p)
	if err != nil {
		return s.toolResult(ctx, "transcribe", err), nil
	}
	s.cfg.Logger.Info("transcribed", "transcript_id", id, "tokens", out.Tokens, "truncated", out.Truncated)
	return structured(out), nil
}

func (s *Server) runTranscribe(ctx context.Context, req mcpgo.CallToolRequest, p *progress) (string, *agentmode.Output, error) {
	var args transcribeArgs
	if err := bind(req, &args); err != nil {
		return "", nil, err
	}
	opts, err := options(args.Mode, args.MaxTokens, args.Timestamps)
	if err != nil {
		return "", nil, err
	}
	topts := transcribe.Options{Language: args.Language, Prompt: args.Prompt, TokenTimestamps: args.Timestamps}
	if err := topts.Validate(); err != nil {
		return "", nil, toolErrorf("%s.", strings.TrimPrefix(err.Error(), "transcribe: invalid options: "))
	}
	var data []byte
	name := args.Filename
	switch {
	case args.Path != "" && args.AudioBase64 != "":
		return "", nil, toolErrorf("Give either path or audio_base64, not both.")
	case args.Path != "":
		p.report(1, "reading "+args.Path)
		name = args.Path
		if data, err = s.readFile(args.Path); err != nil {
			return "", nil, err
		}
	case args.AudioBase64 != "":
		if int64(len(args.AudioBase64)) > s.cfg.MaxFileBytes/3*4+4 {
			return "", nil, toolErrorf("audio_base64 holds more than the %d MB this server accepts.", s.cfg.MaxFileBytes>>20)
		}
		if data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(args.AudioBase64)); err != nil {
			return "", nil, toolErrorf("audio_base64 is not valid base64: %v.", err)
		}
		if name == "" {
			name = "audio_base64"
		}
	default:
		return "", nil, toolErrorf("Give the audio: a file path (path) or its bytes as base64 (audio_base64).")
	}
	p.report(3, "decoding audio")
	a, err := s.cfg.Decoder.Decode(ctx, data)
	if err != nil {
		return "", nil, fmt.Errorf("%s: %w", name, err)
	}
	data = nil
	engine, err := s.cfg.Engine(ctx) // waits while the model loads
	if err != nil {
		return "", nil, err
	}
	p.report(6, fmt.Sprintf("transcribing %.0f s of audio", a.Duration().Seconds()))
	res, err := engine.Transcribe(ctx, transcribe.Request{
		Samples: a.Samples,
		Options: topts,
		OnProgress: func(percent int) {
			p.step(6+float64(percent)*0.88, fmt.Sprintf("transcribing %d%%", percent))
		},
	})
	if err != nil {
		return "", nil, err
	}
	p.report(95, "formatting")
	id, err := s.cfg.Store.Put(res)
	if err != nil {
		// Too large to keep: the answer still comes, without paging.
		s.cfg.Logger.Warn("transcript not stored", "error", err)
		id = ""
	}
	opts.TranscriptID = id
	out, err := s.cfg.Formatter.Format(res, opts)
	if err != nil {
		return "", nil, err
	}
	return id, out, nil
}

func (s *Server) getTranscript(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	var args getArgs
	if err := bind(req, &args); err != nil {
		return s.toolResult(ctx, "get_transcript", err), nil
	}
	opts, err := options(args.Mode, args.MaxTokens, args.Timestamps)
	if err != nil {
		return s.toolResult(ctx, "get_transcript", err), nil
	}
	res, ok := s.cfg.Store.Get(args.TranscriptID)
	if !ok {
		return s.toolResult(ctx, "get_transcript", s.notStored(args.TranscriptID)), nil
	}
	opts.TranscriptID, opts.Cursor = args.TranscriptID, args.Cursor
	out, err := s.cfg.Formatter.Format(res, opts)
	if err != nil {
		return s.toolResult(ctx, "get_transcript", err), nil
	}
	return structured(out), nil
}

func (s *Server) notStored(id string) error {
	if id == "" {
		return toolErrorf("transcript_id is required: the transcript_id of a transcribe answer.")
	}
	return toolErrorf("No transcript %q is stored: transcripts are kept in memory for %s after their last use (and not across restarts). Call transcribe again.",
		id, strings.TrimSuffix(strings.TrimSuffix(s.cfg.Store.TTL().String(), "0s"), "0m"))
}

func (s *Server) readTranscript(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
	id := strings.TrimPrefix(req.Params.URI, "transcript://")
	res, ok := s.cfg.Store.Get(id)
	if !ok {
		return nil, s.notStored(id)
	}
	out, err := s.cfg.Formatter.Format(res, agentmode.Options{Mode: agentmode.Raw, TranscriptID: id})
	if err != nil {
		return nil, err
	}
	return []mcpgo.ResourceContents{mcpgo.TextResourceContents{URI: req.Params.URI, MIMEType: "application/json", Text: string(out.JSON)}}, nil
}

// structured is a tool result with the JSON both as structuredContent and,
// for clients that read only content, as text.
func structured(out *agentmode.Output) *mcpgo.CallToolResult {
	return &mcpgo.CallToolResult{
		Content:           []mcpgo.Content{mcpgo.TextContent{Type: "text", Text: string(out.JSON)}},
		StructuredContent: json.RawMessage(out.JSON),
	}
}

// toolResult is the one place where errors become what the model reads:
// a result with isError and a message that says what to do.
func (s *Server) toolResult(ctx context.Context, tool string, err error) *mcpgo.CallToolResult {
	var te *toolError
	var msg string
	switch {
	case errors.As(err, &te):
		msg = te.msg
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		msg = "The transcription was cancelled."
	case errors.Is(err, audio.ErrTooLarge), errors.Is(err, audio.ErrTooLong):
		msg = "The audio is too large or too long: " + err.Error()
	case errors.Is(err, audio.ErrUnsupported), errors.Is(err, audio.ErrCorrupt), errors.Is(err, audio.ErrEmpty):
		msg = "The audio could not be read: " + err.Error()
	case errors.Is(err, transcribe.ErrInvalidAudio), errors.Is(err, transcribe.ErrInvalidOptions):
		msg = "The request was refused: " + err.Error()
	case errors.Is(err, transcribe.ErrQueueFull):
		msg = "The server is busy with other transcriptions; try again in a moment."
	case errors.Is(err, transcribe.ErrClosed):
		msg = "The server is shutting down."
	case errors.Is(err, agentmode.ErrBudget):
		msg = err.Error() + ": ask for more max_tokens."
	case errors.Is(err, agentmode.ErrInvalid):
		msg = err.Error()
	default:
		s.cfg.Logger.Error("tool failed", "tool", tool, "error", err)
		msg = "Transcription failed: " + err.Error()
	}
	if ctx.Err() == nil {
		s.cfg.Logger.Info("tool error", "tool", tool, "error", msg)
	}
	return &mcpgo.CallToolResult{Content: []mcpgo.Content{mcpgo.TextContent{Type: "text", Text: msg}}, IsError: true}
}

// progress sends notifications/progress for a request that asked for them
// (with a progressToken): progress only ever increases, and whisper's
// percent steps are thinned to one every 250 ms.
type progress struct {
	send  func(pct float64, msg string)
	mu    sync.Mutex
	last  float64
	sent  time.Time
	token any
}

func (s *Server) progress(ctx context.Context, meta *mcpgo.Meta) *progress {
	p := &progress{last: -1}
	if meta == nil || meta.ProgressToken == nil {
		return p
	}
	p.token = meta.ProgressToken
	srv := server.ServerFromContext(ctx) // the server handling this request
	if srv == nil {
		srv = s.mcp
	}
	p.send = func(pct float64, msg string) {
		err := srv.SendNotificationToClient(ctx, "notifications/progress", map[string]any{
			"progressToken": p.token, "progress": pct, "total": 100, "message": msg,
		})
		if err != nil {
			s.cfg.Logger.Debug("progress not sent", "error", err)
		}
	}
	return p
}

// report announces a new phase: reading, decoding, formatting.
func (p *progress) report(pct float64, msg string) { p.notify(pct, msg, false) }

// step announces progress within a phase, at most every 250 ms.
func (p *progress) step(pct float64, msg string) { p.notify(pct, msg, true) }

func (p *progress) notify(pct float64, msg string, thin bool) {
	if p.send == nil {
		return
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	pct = math.Round(pct*10) / 10
	if pct <= p.last || (thin && time.Since(p.sent) < 250*time.Millisecond) {
		return
	}
	p.last, p.sent = pct, time.Now()
	p.send(pct, msg)
}
