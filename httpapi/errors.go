package httpapi

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/audio"
)

// apiError is an error in OpenAI's shape, with its HTTP status.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

func (e *apiError) Error() string { return e.Message }

func errorf(status int, typ, param, code, format string, args ...any) *apiError {
	e := &apiError{Status: status, Type: typ, Message: fmt.Sprintf(format, args...)}
	if param != "" {
		e.Param = &param
	}
	if code != "" {
		e.Code = &code
	}
	return e
}

// badParam is a 400 for one request field.
func badParam(param, format string, args ...any) *apiError {
	return errorf(http.StatusBadRequest, "invalid_request_error", param, "invalid_value", format, args...)
}

var (
	errMissingKey = errorf(http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
		"You didn't provide an API key. Send it as 'Authorization: Bearer YOUR_KEY'; create one with 'earshot keys create --name NAME'.")
	errBadKey = errorf(http.StatusUnauthorized, "invalid_request_error", "", "invalid_api_key",
		"Incorrect API key provided. Keys are listed by 'earshot keys list'.")
	errDraining = errorf(http.StatusServiceUnavailable, "server_error", "", "server_shutting_down",
		"The server is shutting down; retry on another instance or in a moment.")
)

// toAPIError is the one place where earshot's errors become HTTP statuses
// and OpenAI error bodies.
func (s *Server) toAPIError(err error) *apiError {
	var ae *apiError
	var mbe *http.MaxBytesError
	switch {
	case errors.As(err, &ae):
		return ae
	case errors.As(err, &mbe), errors.Is(err, audio.ErrTooLarge):
		return errorf(http.StatusRequestEntityTooLarge, "invalid_request_error", "file", "file_too_large",
			"The audio file is larger than this server's limit of %d MB.", s.cfg.MaxUpload>>20)
	case errors.Is(err, audio.ErrTooLong):
		return errorf(http.StatusRequestEntityTooLarge, "invalid_request_error", "file", "audio_too_long", "%s", trim(err))
	case errors.Is(err, audio.ErrUnsupported):
		return errorf(http.StatusUnsupportedMediaType, "invalid_request_error", "file", "unsupported_audio", "%s", trim(err))
	case errors.Is(err, audio.ErrCorrupt), errors.Is(err, audio.ErrEmpty):
		return errorf(http.StatusUnsupportedMediaType, "invalid_request_error", "file", "invalid_audio", "%s", trim(err))
	case errors.Is(err, transcribe.ErrInvalidAudio):
		return errorf(http.StatusBadRequest, "invalid_request_error", "file", "invalid_audio", "%s", trim(err))
	case errors.Is(err, agentmode.ErrBudget):
		return errorf(http.StatusBadRequest, "invalid_request_error", "max_tokens", "invalid_value", "%s", trim(err))
	case errors.Is(err, agentmode.ErrInvalid):
		return errorf(http.StatusBadRequest, "invalid_request_error", "", "invalid_value", "%s", trim(err))
	case errors.Is(err, transcribe.ErrInvalidOptions):
		return errorf(http.StatusBadRequest, "invalid_request_error", "", "invalid_value", "%s", trim(err))
	case errors.Is(err, transcribe.ErrQueueFull):
		return errorf(http.StatusTooManyRequests, "rate_limit_error", "", "queue_full",
			"The server is busy: every worker is transcribing and the queue is full. Retry after the Retry-After delay.")
	case errors.Is(err, transcribe.ErrClosed):
		return errDraining
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The client went away; nobody reads this, but the log and metrics do.
		return errorf(499, "invalid_request_error", "", "request_canceled", "The request was cancelled.")
	}
	return errorf(http.StatusBadGateway, "server_error", "", "engine_error", "The transcription engine failed: %s", trim(err))
}

// trim drops the package prefix ("audio: ") that reads oddly in an API message.
func trim(err error) string {
	msg := err.Error()
	for _, p := range []string{"audio: ", "transcribe: ", "whisper: ", "agentmode: "} {
		if len(msg) > len(p) && msg[:len(p)] == p {
			msg = msg[len(p):]
		}
	}
	return msg
}

// fail writes err as an OpenAI error response and stops the chain.
func (s *Server) fail(c *gin.Context, err error) {
	ae := s.toAPIError(err)
	if ae.Status == http.StatusTooManyRequests {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(s.cfg.RetryAfter.Seconds()))))
	}
	if ae.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="earshot"`)
	}
	if ae.Status >= 500 && ae.Status != http.StatusServiceUnavailable {
		s.cfg.Logger.Error("request failed", "id", c.GetString("request_id"), "status", ae.Status, "error", err)
	}
	c.AbortWithStatusJSON(ae.Status, gin.H{"error": ae})
}
