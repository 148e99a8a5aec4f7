package openai

import (
	"net/http"

	"github.com/earshot-dev/earshot/pipeline"
)

// statuses are the HTTP status and OpenAI error type of each kind.
var statuses = map[pipeline.Kind]struct {
	status int
	typ    string
}{
	pipeline.Internal:         {http.StatusInternalServerError, "server_error"},
	pipeline.Invalid:          {http.StatusBadRequest, "invalid_request_error"},
	pipeline.Unauthenticated:  {http.StatusUnauthorized, "invalid_request_error"},
	pipeline.Forbidden:        {http.StatusForbidden, "invalid_request_error"},
	pipeline.NotFound:         {http.StatusNotFound, "invalid_request_error"},
	pipeline.MethodNotAllowed: {http.StatusMethodNotAllowed, "invalid_request_error"},
	pipeline.TooLarge:         {http.StatusRequestEntityTooLarge, "invalid_request_error"},
	pipeline.UnsupportedMedia: {http.StatusUnsupportedMediaType, "invalid_request_error"},
	pipeline.RateLimited:      {http.StatusTooManyRequests, "rate_limit_error"},
	pipeline.QuotaExceeded:    {http.StatusTooManyRequests, "insufficient_quota"},
	pipeline.Unavailable:      {http.StatusServiceUnavailable, "server_error"},
	pipeline.EngineFailed:     {http.StatusBadGateway, "server_error"},
	pipeline.Cancelled:        {499, "invalid_request_error"}, // nobody reads it; the log and metrics do
}

// ErrorStatus is the HTTP status and OpenAI error type ("type" in the
// error object) of an error of kind k: one table for the HTTP API and the
// live sessions' error events and handshakes. An unknown kind is Internal's.
func ErrorStatus(k pipeline.Kind) (status int, typ string) {
	st, ok := statuses[k]
	if !ok {
		st = statuses[pipeline.Internal]
	}
	return st.status, st.typ
}
