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
// The server translates MCP to and from earshot's request pipeline and
// holds no transcription logic: errors are the pipeline's, rendered as
// tool results in one function (toolResult). A Server is safe for concurrent use and
// owns no goroutines beyond those of the requests being served; its
// HTTPHandler has an idle-session sweeper and must be closed.
package mcp

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"math"
	"strconv"
	"strings"
	"sync"
	"time"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

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
	// Pipeline runs transcriptions and keeps the transcripts that
	// get_transcript pages through. Its engine may still be loading when
	// the server starts: a call then waits for it.
	Pipeline *pipeline.Pipeline
	// AllowDirs are the directories "path" may name files in (after
	// resolving symlinks). None: path is refused, audio_base64 only.
	AllowDirs []string
	// Home is the user's home directory, which "~" in a path or an allowed
	// directory stands for ("" : no expansion).
	Home string
	// MaxFileBytes is the largest audio accepted, as a file or decoded
	// from base64 (default 1 GiB).
	MaxFileBytes int64
	// Jobs, if set, adds submit_transcription and get_job (mcp/jobs.go).
	Jobs Jobs
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
	roots, err := resolveRoots(cfg.AllowDirs, cfg.Home)
	if err != nil {
		return nil, err
	}
	s := &Server{cfg: cfg, roots: roots}
	s.mcp = server.NewMCPServer("earshot", cfg.Version,
		server.WithToolCapabilities(false),
		server.WithResourceCapabilities(false, false),
		server.WithRecovery(),
		server.WithInstructions(s.instructions()),
	)
	s.mcp.AddTools(s.Tools()...)
	s.mcp.AddResourceTemplates(s.ResourceTemplates()...)
	return s, nil
}

// instructions tell the model how to call the tools, as this server is
// configured: a server that reads no files asks for base64 only.
func (s *Server) instructions() string {
	how := "Call transcribe with the absolute path of an audio file on this machine (or the audio's bytes as audio_base64)."
	if len(s.roots) == 0 {
		how = "Call transcribe with the audio file's bytes as audio_base64 (this server reads no files by path)."
	}
	return `earshot transcribes speech on this machine with whisper.cpp; the audio never leaves it.
` + how + ` Its default answer (mode agent) has the request
already cleaned up: fillers and self-corrections resolved, split into intents (command, question, statement)
with times. When "truncated" is true, call get_transcript with the transcript_id and the "next" cursor to read on.`
}

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
	transcribeTool := tool("transcribe", "Transcribe audio", s.transcribeDescription(), s.transcribeInputSchema())
	getTool := tool("get_transcript", "Read a stored transcript", getDescription, getInputSchema)
	return append([]server.ServerTool{
		{Tool: transcribeTool, Handler: s.transcribe},
		{Tool: getTool, Handler: s.getTranscript},
	}, s.jobTools()...)
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

// transcribeDescription describes the tool as this server is configured.
func (s *Server) transcribeDescription() string {
	give := `Give exactly one of "path" (an absolute path to the file, inside ` + strings.Join(s.roots, ", ") + `) or "audio_base64" (the file's bytes, base64).`
	if len(s.roots) == 0 {
		give = `Give the file's bytes, base64-encoded, as "audio_base64" (this server reads no files by path).`
	}
	return `Transcribe speech from an audio file (WAV, MP3, FLAC, Ogg/Opus, WebM, M4A/MP4, AAC...) with whisper.cpp on this machine; nothing leaves it.
` + give + `
mode "agent" (default) returns the request cleaned for you: fillers and self-corrections resolved ("book the, no wait, cancel the meeting" -> "Cancel the meeting."), split into intents (command/question/statement) with start/end seconds and confidence, plus what was removed and why.
mode "clean" returns readable paragraphs; "raw" returns whisper's segments, tokens and probabilities.
The answer stays within max_tokens (default ` + strconv.Itoa(DefaultMaxTokens) + `, at most ` + strconv.Itoa(MaxTokensLimit) + `); if "truncated" is true, call get_transcript with "transcript_id" and cursor "next" for the rest.`
}

const getDescription = `Read a transcript that transcribe stored (kept in memory for a while after its last use): another page ("cursor" from a truncated answer's "next"), another mode, or another token budget (default 8000, at most 12000). Takes "transcript_id" from transcribe's answer.`

// maxTokensSchema is the max_tokens property both tools share.
var maxTokensSchema = `{"type": "integer", "minimum": 1, "maximum": ` + strconv.Itoa(MaxTokensLimit) + `, "default": ` + strconv.Itoa(DefaultMaxTokens) +
	`, "description": "Largest answer in tokens (o200k_base), at most ` + strconv.Itoa(MaxTokensLimit) + `: the answer goes out twice, as structured content and as text."}`

// transcribeInputSchema is the transcribe tool's input; "path" is offered
// only where this server reads files.
func (s *Server) transcribeInputSchema() json.RawMessage {
	path := ""
	if len(s.roots) > 0 {
		path = `"path": {"type": "string", "description": "Absolute path of the audio file (inside ` + strings.Join(s.roots, ", ") + `; ~ is the home directory)."},
    `
	}
	return json.RawMessage(`{
  "type": "object",
  "properties": {
    ` + path + `"audio_base64": {"type": "string", "description": "The audio file's bytes, base64-encoded."},
    "filename": {"type": "string", "description": "Name of the audio file sent as audio_base64, for messages only (the format is read from the bytes)."},
    "mode": {"type": "string", "enum": ["agent", "clean", "raw"], "default": "agent", "description": "agent: cleaned and split into intents (default); clean: readable paragraphs; raw: whisper's output."},
    "language": {"type": "string", "description": "Spoken language as a code (en, de, fr...) or name; default: detected."},
    "prompt": {"type": "string", "description": "Text that guides spelling and style: names, jargon."},
    "max_tokens": ` + maxTokensSchema + `,
    "timestamps": {"type": "boolean", "default": false, "description": "Add each word's time and probability (computes token timestamps; slower)."},
    "min_confidence": ` + minConfidenceSchema + `
  }
}`)
}

// minConfidenceSchema is the min_confidence property both tools share.
const minConfidenceSchema = `{"type": "number", "minimum": 0, "maximum": 1, "default": 0.5, "description": "Agent mode: the confidence a removal or a split between requests must reach; higher keeps more words (when unsure, words stay)."}`

var getInputSchema = json.RawMessage(`{
  "type": "object",
  "required": ["transcript_id"],
  "properties": {
    "transcript_id": {"type": "string", "description": "The transcript_id of a transcribe answer."},
    "mode": {"type": "string", "enum": ["agent", "clean", "raw"], "default": "agent"},
    "cursor": {"type": "string", "description": "Where to start: a truncated answer's \"next\" (of the same mode). Default: the beginning."},
    "max_tokens": ` + maxTokensSchema + `,
    "timestamps": {"type": "boolean", "default": false, "description": "Add each word's time and probability (when the transcript has them)."},
    "min_confidence": ` + minConfidenceSchema + `
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
	MinConf     float64 `json:"min_confidence"`
	Timestamps  bool    `json:"timestamps"`
}

type getArgs struct {
	TranscriptID string  `json:"transcript_id"`
	Mode         string  `json:"mode"`
	Cursor       string  `json:"cursor"`
	MaxTokens    float64 `json:"max_tokens"`
	MinConf      float64 `json:"min_confidence"`
	Timestamps   bool    `json:"timestamps"`
}

// badArg is a bad tool argument: a tool result with isError that names
// it, never a protocol error.
func badArg(param, format string, args ...any) error {
	return pipeline.InvalidParam(param, format, args...)
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
			return badArg(te.Field, "Argument %q has the wrong type: want a %s.", te.Field, te.Type)
		}
		return badArg("", "The arguments could not be read: %v.", err)
	}
	return nil
}

// options checks the arguments common to both tools.
func options(mode string, maxTokens float64, timestamps bool) (agentmode.Options, error) {
	opts := agentmode.Options{Mode: agentmode.Agent, MaxTokens: DefaultMaxTokens, Words: timestamps}
	if mode != "" {
		m, err := agentmode.ParseMode(mode)
		if err != nil {
			return opts, badArg("mode", "mode %q is not one of agent, clean, raw.", mode)
		}
		opts.Mode = m
	}
	if maxTokens != 0 {
		if maxTokens < 1 || maxTokens != math.Trunc(maxTokens) {
			return opts, badArg("max_tokens", "max_tokens must be a positive whole number, got %v.", maxTokens)
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

// audioArg reads a tool call's audio: the file at path (inside the
// allowed directories) or the bytes in b64, within the server's limit and
// the calling key's own upload limit. name is what messages call it.
func (s *Server) audioArg(ctx context.Context, path, b64, name string, p *progress) ([]byte, string, error) {
	limit, what, _ := pipeline.UploadLimit(ctx, s.cfg.MaxFileBytes)
	tooLarge := "more than " + what
	param := "audio_base64"
	var data []byte
	var err error
	switch {
	case path != "" && b64 != "":
		return nil, "", badArg("path", "Give either path or audio_base64, not both.")
	case path != "":
		param, name = "path", path
		if p != nil {
			p.report(1, "reading "+path)
		}
		if data, err = s.readFile(path); err != nil {
			return nil, "", err
		}
	case b64 != "":
		if int64(len(b64)) > limit/3*4+4 {
			return nil, "", &pipeline.Error{Kind: pipeline.TooLarge, Param: param, Code: "file_too_large", Message: "audio_base64 holds " + tooLarge + "."}
		}
		if data, err = base64.StdEncoding.DecodeString(strings.TrimSpace(b64)); err != nil {
			return nil, "", badArg("audio_base64", "audio_base64 is not valid base64: %v.", err)
		}
		if name == "" {
			name = "audio_base64"
		}
	case len(s.roots) == 0:
		return nil, "", badArg("audio_base64", "Give the audio's bytes as base64 (audio_base64).")
	default:
		return nil, "", badArg("path", "Give the audio: a file path (path) or its bytes as base64 (audio_base64).")
	}
	if int64(len(data)) > limit {
		return nil, "", &pipeline.Error{Kind: pipeline.TooLarge, Param: param, Code: "file_too_large", Message: fmt.Sprintf("%s holds %s.", name, tooLarge)}
	}
	return data, name, nil
}

func (s *Server) runTranscribe(ctx context.Context, req mcpgo.CallToolRequest, p *progress) (string, *agentmode.Output, error) {
	if err := s.cfg.Pipeline.Admit(); err != nil {
		return "", nil, err
	}
	var args transcribeArgs
	if err := bind(req, &args); err != nil {
		return "", nil, err
	}
	opts, err := options(args.Mode, args.MaxTokens, args.Timestamps)
	if err != nil {
		return "", nil, err
	}
	opts.MinConfidence = args.MinConf
	data, name, err := s.audioArg(ctx, args.Path, args.AudioBase64, args.Filename, p)
	if err != nil {
		return "", nil, err
	}
	res, err := s.cfg.Pipeline.Transcribe(ctx, pipeline.Request{
		ID:      callID(),
		Audio:   data,
		Name:    name,
		Options: transcribe.Options{Language: args.Language, Prompt: args.Prompt, TokenTimestamps: args.Timestamps},
		Format:  &opts,
		Keep:    true,
		OnProgress: func(pr pipeline.Progress) {
			if pr.Stage == pipeline.Transcribing {
				p.step(pr.Percent, pr.Message)
			} else {
				p.report(pr.Percent, pr.Message)
			}
		},
	})
	if err != nil {
		return "", nil, err
	}
	return res.TranscriptID, res.Output, nil
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
	opts.MinConfidence = args.MinConf
	opts.Cursor = args.Cursor
	out, err := s.cfg.Pipeline.Reformat(args.TranscriptID, opts)
	if err != nil {
		return s.toolResult(ctx, "get_transcript", err), nil
	}
	return structured(out), nil
}

func (s *Server) readTranscript(ctx context.Context, req mcpgo.ReadResourceRequest) ([]mcpgo.ResourceContents, error) {
	id := strings.TrimPrefix(req.Params.URI, "transcript://")
	out, err := s.cfg.Pipeline.Reformat(id, agentmode.Options{Mode: agentmode.Raw})
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
// a result with isError and the pipeline's message, which says what to do.
func (s *Server) toolResult(ctx context.Context, tool string, err error) *mcpgo.CallToolResult {
	e := pipeline.Classify(err)
	switch {
	case e.Kind == pipeline.EngineFailed || e.Kind == pipeline.Internal:
		s.cfg.Logger.Error("tool failed", "tool", tool, "error", err)
	case ctx.Err() == nil:
		s.cfg.Logger.Info("tool error", "tool", tool, "kind", e.Kind, "error", e.Message)
	}
	return &mcpgo.CallToolResult{Content: []mcpgo.Content{mcpgo.TextContent{Type: "text", Text: e.Message}}, IsError: true}
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

// callID names one tool call for its usage record: made here, since the
// JSON-RPC id of a call is the client's and repeats across sessions.
func callID() string {
	var b [12]byte
	rand.Read(b[:])
	return "mcp_" + hex.EncodeToString(b[:])
}
