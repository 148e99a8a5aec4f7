package pipeline

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
	"github.com/earshot-dev/earshot/transcripts"
)

// Kind is what went wrong, in the terms every surface renders: an HTTP
// status and OpenAI error type, an MCP tool error, a live session's error
// event.
type Kind int

// The kinds. The comment after each is its HTTP status.
const (
	// Internal is a bug or an unexpected failure (500).
	Internal Kind = iota
	// Invalid is a bad argument; Error.Param names it (400).
	Invalid
	// Unauthenticated is a missing or wrong API key (401).
	Unauthenticated
	// Forbidden is a valid key without the right to do this (403).
	Forbidden
	// NotFound is an unknown model, transcript or route (404).
	NotFound
	// MethodNotAllowed is a known route asked the wrong way (405).
	MethodNotAllowed
	// TooLarge is audio over a size or length limit (413).
	TooLarge
	// UnsupportedMedia is bytes that are not audio earshot can decode (415).
	UnsupportedMedia
	// RateLimited is a full queue or a rate limit; Error.RetryAfter says
	// when to try again (429).
	RateLimited
	// QuotaExceeded is a spent quota: retrying soon will not help (429).
	QuotaExceeded
	// Unavailable is a server that is not ready, draining, or whose key
	// store cannot be reached (503).
	Unavailable
	// EngineFailed is whisper failing on a valid request (502).
	EngineFailed
	// Cancelled is a request its caller gave up on (499 in logs).
	Cancelled
)

var kindNames = [...]string{"internal", "invalid_argument", "unauthenticated", "forbidden", "not_found",
	"method_not_allowed", "too_large", "unsupported_media", "rate_limited", "quota_exceeded", "unavailable",
	"engine_failed", "cancelled"}

func (k Kind) String() string {
	if k < 0 || int(k) >= len(kindNames) {
		return fmt.Sprintf("Kind(%d)", int(k))
	}
	return kindNames[k]
}

// Error is a failure as every surface shows it. Message is a whole
// sentence for the person or model reading it, with no package prefixes;
// Code is a stable machine-readable reason (OpenAI's "code": queue_full,
// model_not_found, ...); Err is the cause, for logs and errors.Is.
type Error struct {
	Kind       Kind
	Param      string
	Code       string
	Message    string
	RetryAfter time.Duration
	Err        error
}

func (e *Error) Error() string { return e.Message }
func (e *Error) Unwrap() error { return e.Err }

// Errorf makes an Error of kind k.
func Errorf(k Kind, code, format string, args ...any) *Error {
	return &Error{Kind: k, Code: code, Message: fmt.Sprintf(format, args...)}
}

// InvalidParam is an Invalid error about one request parameter.
func InvalidParam(param, format string, args ...any) *Error {
	return &Error{Kind: Invalid, Param: param, Code: "invalid_value", Message: fmt.Sprintf(format, args...)}
}

// Errors the surfaces share.
var (
	ErrDraining = Errorf(Unavailable, "server_shutting_down",
		"The server is shutting down; retry on another instance or in a moment.")
	ErrCancelled = Errorf(Cancelled, "request_canceled", "The request was cancelled.")
)

// DefaultRetryAfter is how long a client is told to wait when the queue is
// full.
const DefaultRetryAfter = time.Second

// Classify turns any error from earshot's packages into an *Error: the one
// place where the core's sentinel errors get their kind, parameter and
// wording. An *Error in err's chain is returned as it is.
func Classify(err error) *Error {
	return classify(err, DefaultRetryAfter)
}

func classify(err error, retryAfter time.Duration) *Error {
	if err == nil {
		return nil
	}
	var ne *namedError
	if errors.As(err, &ne) {
		e := classify(ne.err, retryAfter)
		c := *e
		c.Message = ne.name + ": " + e.Message
		return &c
	}
	var e *Error
	if errors.As(err, &e) {
		return e
	}
	var named interface{ Parameter() string }
	param := ""
	if errors.As(err, &named) {
		param = named.Parameter()
	}
	mk := func(k Kind, param, code, msg string) *Error {
		return &Error{Kind: k, Param: param, Code: code, Message: sentence(msg), Err: err}
	}
	switch {
	case errors.Is(err, context.Canceled):
		return &Error{Kind: Cancelled, Code: "request_canceled", Message: ErrCancelled.Message, Err: err}
	case errors.Is(err, context.DeadlineExceeded):
		return &Error{Kind: Cancelled, Code: "request_timeout", Message: "The request took longer than its deadline and was stopped.", Err: err}
	case errors.Is(err, audio.ErrTooLarge):
		return mk(TooLarge, "file", "file_too_large", detail(err, audio.ErrTooLarge, "The audio file is too large"))
	case errors.Is(err, audio.ErrTooLong):
		return mk(TooLarge, "file", "audio_too_long", detail(err, audio.ErrTooLong, "The audio is too long"))
	case errors.Is(err, audio.ErrUnsupported):
		return mk(UnsupportedMedia, "file", "unsupported_audio", "The audio could not be read: "+detail(err, audio.ErrUnsupported, "the format is not supported"))
	case errors.Is(err, audio.ErrCorrupt):
		return mk(UnsupportedMedia, "file", "invalid_audio", "The audio could not be decoded: "+detail(err, audio.ErrCorrupt, "corrupt data"))
	case errors.Is(err, audio.ErrDecoderFailed):
		return mk(EngineFailed, "", "decoder_failed", "The audio decoder failed: "+detail(err, audio.ErrDecoderFailed, "ffmpeg stopped"))
	case errors.Is(err, audio.ErrEmpty):
		return mk(UnsupportedMedia, "file", "invalid_audio", "The audio holds no sound: "+detail(err, audio.ErrEmpty, "no samples"))
	case errors.Is(err, transcribe.ErrInvalidAudio):
		return mk(Invalid, "file", "invalid_audio", "The audio was refused: "+detail(err, transcribe.ErrInvalidAudio, "invalid samples"))
	case errors.Is(err, transcribe.ErrInvalidOptions):
		return mk(Invalid, param, "invalid_value", upper(detail(err, transcribe.ErrInvalidOptions, "invalid options")))
	case errors.Is(err, agentmode.ErrBudget):
		return mk(Invalid, "max_tokens", "invalid_value", upper(detail(err, agentmode.ErrBudget, "token budget too small"))+"; ask for a larger max_tokens")
	case errors.Is(err, agentmode.ErrInvalid):
		return mk(Invalid, param, "invalid_value", upper(detail(err, agentmode.ErrInvalid, "invalid options")))
	case errors.Is(err, transcribe.ErrQueueFull):
		// The engine's own estimate of the wait, where it gives one.
		var busy interface{ RetryAfter() time.Duration }
		if errors.As(err, &busy) {
			e := mk(RateLimited, "", "queue_full", "The server is busy: "+detail(err, transcribe.ErrQueueFull, "")+"; retry after the Retry-After delay")
			e.RetryAfter = busy.RetryAfter()
			return e
		}
		e := mk(RateLimited, "", "queue_full", "The server is busy: every worker is transcribing and the queue is full; retry after the Retry-After delay")
		e.RetryAfter = retryAfter
		return e
	case errors.Is(err, transcribe.ErrClosed):
		return &Error{Kind: Unavailable, Code: ErrDraining.Code, Message: ErrDraining.Message, Err: err}
	case errors.Is(err, transcripts.ErrTooLarge):
		return mk(Internal, "", "transcript_too_large", "The transcript is too large to keep")
	}
	return mk(EngineFailed, "", "engine_error", "The transcription engine failed: "+err.Error())
}

// detail is what err says beyond its sentinel ("audio: unsupported
// format: the data is not ..." -> "the data is not ..."); the fallback
// when it says nothing more. Everything before the sentinel (a file name a
// caller added) is kept.
func detail(err, sentinel error, fallback string) string {
	msg, s := err.Error(), sentinel.Error()
	i := strings.Index(msg, s)
	if i < 0 {
		return msg
	}
	before, after := msg[:i], strings.TrimPrefix(msg[i+len(s):], ": ")
	if after == "" {
		after = fallback
	}
	return before + after
}

// sentence makes msg one sentence: a capital first letter and a full stop.
func sentence(msg string) string {
	msg = upper(strings.TrimSpace(msg))
	if msg != "" && !strings.ContainsAny(msg[len(msg)-1:], ".!?") {
		msg += "."
	}
	return msg
}

// upper capitalises s, unless it starts with a parameter's name
// (max_tokens, timestamp_granularities[]), which is spelt as sent.
func upper(s string) string {
	if s == "" || s[0] < 'a' || s[0] > 'z' {
		return s
	}
	if first, _, _ := strings.Cut(s, " "); strings.ContainsAny(first, "_[]") {
		return s
	}
	return string(s[0]-'a'+'A') + s[1:]
}
