package mcp

import (
	"context"
	"encoding/json"

	mcpgo "github.com/mark3labs/mcp-go/mcp"
	"github.com/mark3labs/mcp-go/server"

	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// Jobs is what the tools need of the async job service (jobs.Service).
type Jobs interface {
	Submit(ctx context.Context, sub jobs.Submission) (*jobs.Job, error)
	Get(ctx context.Context, id string) (*jobs.Job, error)
}

// jobTools are submit_transcription and get_job, offered where the
// server has a job service: a long recording becomes a job that the
// model polls, instead of a tool call that waits for it.
func (s *Server) jobTools() []server.ServerTool {
	if s.cfg.Jobs == nil {
		return nil
	}
	submit := mcpgo.NewToolWithRawSchema("submit_transcription", `Start transcribing a long recording as a background job (minutes to hours of audio) and return its job_id at once; then call get_job with it until "status" is "succeeded" (or "failed"). The result is what transcribe would answer. Same arguments as transcribe, plus "idempotency_key": a submission repeated with the same key returns the first one's job instead of starting another.`,
		s.submitInputSchema())
	submit.RawOutputSchema = jobSchema
	submit.Annotations = mcpgo.ToolAnnotation{Title: "Start a transcription job", ReadOnlyHint: mcpgo.ToBoolPtr(false),
		DestructiveHint: mcpgo.ToBoolPtr(false), IdempotentHint: mcpgo.ToBoolPtr(false), OpenWorldHint: mcpgo.ToBoolPtr(false)}
	get := mcpgo.NewToolWithRawSchema("get_job", `Read a transcription job that submit_transcription started: its status (queued, running, succeeded, failed, cancelled), progress 0-100, and, once succeeded, its result (the transcript in the mode asked for); a failed job carries its error. Poll every few seconds while it runs.`,
		getJobInputSchema)
	get.RawOutputSchema = jobSchema
	get.Annotations = mcpgo.ToolAnnotation{Title: "Read a transcription job", ReadOnlyHint: mcpgo.ToBoolPtr(true),
		DestructiveHint: mcpgo.ToBoolPtr(false), IdempotentHint: mcpgo.ToBoolPtr(true), OpenWorldHint: mcpgo.ToBoolPtr(false)}
	return []server.ServerTool{{Tool: submit, Handler: s.submitJob}, {Tool: get, Handler: s.getJob}}
}

// submitInputSchema is transcribe's input plus idempotency_key.
func (s *Server) submitInputSchema() json.RawMessage {
	var schema map[string]any
	if err := json.Unmarshal(s.transcribeInputSchema(), &schema); err != nil {
		panic(err) // a constant of this package
	}
	schema["properties"].(map[string]any)["idempotency_key"] = map[string]any{"type": "string",
		"description": "Any string naming this submission: submitting again with it returns the same job."}
	b, _ := json.Marshal(schema)
	return b
}

var getJobInputSchema = json.RawMessage(`{
  "type": "object",
  "required": ["job_id"],
  "properties": {
    "job_id": {"type": "string", "description": "The job_id of a submit_transcription answer."}
  }
}`)

var jobSchema = json.RawMessage(`{
  "type": "object",
  "required": ["job_id", "status", "progress"],
  "properties": {
    "job_id": {"type": "string"},
    "status": {"type": "string", "enum": ["queued", "running", "succeeded", "failed", "cancelled"]},
    "progress": {"type": "number", "minimum": 0, "maximum": 100},
    "pieces": {"type": "integer", "description": "How many pieces, cut at pauses, the audio is transcribed in."},
    "pieces_done": {"type": "integer"},
    "duration": {"type": "number", "description": "Seconds of audio."},
    "replayed": {"type": "boolean", "description": "The idempotency_key had been used: this is the first submission's job."},
    "result": {"type": "object", "description": "The transcript, as transcribe answers it (once succeeded)."},
    "error": {"type": "object", "properties": {"kind": {"type": "string"}, "code": {"type": "string"}, "message": {"type": "string"}}}
  }
}`)

// jobAnswer is a job as the tools return it.
type jobAnswer struct {
	JobID    string           `json:"job_id"`
	Status   jobs.Status      `json:"status"`
	Progress float64          `json:"progress"`
	Pieces   int              `json:"pieces"`
	Done     int              `json:"pieces_done"`
	Duration float64          `json:"duration"`
	Replayed bool             `json:"replayed,omitempty"`
	Result   json.RawMessage  `json:"result,omitempty"`
	Error    *jobs.EventError `json:"error,omitempty"`
}

func answer(j *jobs.Job) *mcpgo.CallToolResult {
	a := jobAnswer{JobID: j.ID, Status: j.Status, Progress: j.Progress, Pieces: j.Pieces, Done: j.Done, Duration: j.Duration,
		Replayed: j.Replayed, Result: j.Output}
	if j.Error != nil {
		a.Error = &jobs.EventError{Kind: j.Error.Kind.String(), Code: j.Error.Code, Param: j.Error.Param, Message: j.Error.Message}
	}
	b, _ := json.Marshal(a)
	return &mcpgo.CallToolResult{Content: []mcpgo.Content{mcpgo.TextContent{Type: "text", Text: string(b)}}, StructuredContent: json.RawMessage(b)}
}

type submitArgs struct {
	transcribeArgs
	IdempotencyKey string `json:"idempotency_key"`
}

func (s *Server) submitJob(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	j, err := s.runSubmit(ctx, req)
	if err != nil {
		return s.toolResult(ctx, "submit_transcription", err), nil
	}
	return answer(j), nil
}

func (s *Server) runSubmit(ctx context.Context, req mcpgo.CallToolRequest) (*jobs.Job, error) {
	if err := s.cfg.Pipeline.Admit(); err != nil {
		return nil, err
	}
	var args submitArgs
	if err := bind(req, &args); err != nil {
		return nil, err
	}
	opts, err := options(args.Mode, args.MaxTokens, args.Timestamps)
	if err != nil {
		return nil, err
	}
	data, name, err := s.audioArg(ctx, args.Path, args.AudioBase64, args.Filename, nil)
	if err != nil {
		return nil, err
	}
	return s.cfg.Jobs.Submit(ctx, jobs.Submission{IdempotencyKey: args.IdempotencyKey, Request: pipeline.Request{
		Audio: data, Name: name, Format: &opts,
		Options: transcribe.Options{Language: args.Language, Prompt: args.Prompt, TokenTimestamps: args.Timestamps},
	}})
}

func (s *Server) getJob(ctx context.Context, req mcpgo.CallToolRequest) (*mcpgo.CallToolResult, error) {
	var args struct {
		JobID string `json:"job_id"`
	}
	if err := bind(req, &args); err != nil {
		return s.toolResult(ctx, "get_job", err), nil
	}
	if args.JobID == "" {
		return s.toolResult(ctx, "get_job", badArg("job_id", "job_id is required: the job_id of a submit_transcription answer.")), nil
	}
	j, err := s.cfg.Jobs.Get(ctx, args.JobID)
	if err != nil {
		return s.toolResult(ctx, "get_job", err), nil
	}
	return answer(j), nil
}
