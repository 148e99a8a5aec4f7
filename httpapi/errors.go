package httpapi

import (
	"errors"
	"math"
	"net/http"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/earshot-dev/earshot/httpapi/openai"
	"github.com/earshot-dev/earshot/pipeline"
)

// apiError is an error in OpenAI's shape, with its HTTP status.
type apiError struct {
	Status  int     `json:"-"`
	Message string  `json:"message"`
	Type    string  `json:"type"`
	Param   *string `json:"param"`
	Code    *string `json:"code"`
}

// statusKey holds, in the gin context, the status a request really ended
// with when its headers had gone out as 200 already (a failed stream).
const statusKey = "earshot_status"

// toAPIError renders an error in OpenAI's envelope. Every error from
// earshot's packages goes through pipeline.Classify here and nowhere else.
func (s *Server) toAPIError(err error) (*apiError, *pipeline.Error) {
	var mbe *http.MaxBytesError
	if errors.As(err, &mbe) {
		err = s.tooLarge()
	}
	e := pipeline.Classify(err)
	status, typ := openai.ErrorStatus(e.Kind)
	ae := &apiError{Status: status, Type: typ, Message: e.Message}
	if e.Param != "" {
		ae.Param = &e.Param
	}
	if e.Code != "" {
		ae.Code = &e.Code
	}
	return ae, e
}

func (s *Server) tooLarge() *pipeline.Error {
	return &pipeline.Error{Kind: pipeline.TooLarge, Param: "file", Code: "file_too_large",
		Message: "The audio file is larger than this server's upload limit of " + pipeline.SizeText(s.cfg.MaxUpload) + "; the server's --max-upload flag raises it."}
}

// fail writes err as an OpenAI error response and stops the chain. When a
// stream has already sent its 200, the error goes out as a stream event
// and the real status is kept for the log and metrics.
func (s *Server) fail(c *gin.Context, err error) {
	ae, e := s.toAPIError(err)
	if ae.Status >= 500 && ae.Status != http.StatusServiceUnavailable {
		s.cfg.Logger.Error("request failed", "id", c.GetString("request_id"), "status", ae.Status, "error", e.Err)
	}
	if c.Writer.Written() {
		c.Set(statusKey, ae.Status)
		writeEvent(c, gin.H{"error": ae})
		c.Abort()
		return
	}
	if e.RetryAfter > 0 {
		c.Header("Retry-After", strconv.Itoa(int(math.Ceil(e.RetryAfter.Seconds()))))
	}
	if ae.Status == http.StatusUnauthorized {
		c.Header("WWW-Authenticate", `Bearer realm="earshot"`)
	}
	c.AbortWithStatusJSON(ae.Status, gin.H{"error": ae})
}
