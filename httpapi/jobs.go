package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"slices"
	"strconv"

	"github.com/gin-gonic/gin"

	"github.com/earshot-dev/earshot/httpapi/openai"
	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/pipeline"
)

// Jobs is what the API needs of the async job service (jobs.Service).
type Jobs interface {
	Submit(ctx context.Context, sub jobs.Submission) (*jobs.Job, error)
	Get(ctx context.Context, id string) (*jobs.Job, error)
	List(ctx context.Context, limit int, before string) ([]*jobs.Job, error)
	Cancel(ctx context.Context, id string) (*jobs.Job, error)
}

// jobsRoute is POST /v1/jobs: /v1/transcriptions' fields (mode, max_tokens
// and encoding for agentmode's JSON, or OpenAI's response formats), not
// streamed, plus webhook_url.
var jobsRoute = route{path: "/v1/jobs", modes: true, formats: true, fields: append(slices.DeleteFunc(slices.Clone(modesRoute.fields),
	func(f string) bool { return f == "stream" }), "webhook_url")}

var idempotencyKeyRE = regexp.MustCompile(`^[\x21-\x7e]{1,255}$`)

func (s *Server) jobRoutes(v1 *gin.RouterGroup, scope gin.HandlerFunc) {
	v1.POST("/jobs", scope, s.submitJob)
	v1.GET("/jobs", scope, s.listJobs)
	v1.GET("/jobs/:id", scope, s.getJob)
	v1.GET("/jobs/:id/result", scope, s.getJobResult)
	v1.DELETE("/jobs/:id", scope, s.cancelJob)
}

// jobsOff answers the job routes of a server without jobs.
func (s *Server) jobsOff(c *gin.Context) bool {
	if s.cfg.Jobs != nil {
		return false
	}
	s.fail(c, pipeline.Errorf(pipeline.NotFound, "jobs_disabled",
		"Async jobs are off on this server: they need a PostgreSQL store (--store postgres://...) and a jobs key (--jobs-key-file or EARSHOT_JOBS_KEY). POST /v1/transcriptions answers at once."))
	return true
}

// submitJob serves POST /v1/jobs: 202 with the job, or, for an
// Idempotency-Key this key has used, 200 with that job.
func (s *Server) submitJob(c *gin.Context) {
	if s.jobsOff(c) {
		return
	}
	idem := c.GetHeader("Idempotency-Key")
	if idem != "" && !idempotencyKeyRE.MatchString(idem) {
		s.fail(c, pipeline.InvalidParam("Idempotency-Key", "The Idempotency-Key header must be 1 to 255 printable ASCII characters without spaces."))
		return
	}
	f, err := s.parseForm(c, jobsRoute)
	if err != nil {
		s.fail(c, err)
		return
	}
	if f.webhookURL != "" {
		if err := jobs.CheckWebhookURL(f.webhookURL); err != nil {
			s.fail(c, pipeline.InvalidParam("webhook_url", "%s, got '%s'.", err.Error(), f.webhookURL))
			return
		}
	}
	req := pipeline.Request{Audio: f.file, Name: f.filename, Model: f.model, Options: f.opts, NoVAD: f.noVAD, Chunking: f.chunking}
	if f.format == "json" {
		req.Format = &f.agent
	}
	f.file = nil
	j, err := s.cfg.Jobs.Submit(c.Request.Context(), jobs.Submission{Request: req, IdempotencyKey: idem,
		WebhookURL: f.webhookURL, Meta: map[string]string{"response_format": f.format, "words": strconv.FormatBool(f.words)}})
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Header("Location", "/v1/jobs/"+j.ID)
	status := http.StatusAccepted
	if j.Replayed {
		c.Header("Idempotent-Replayed", "true")
		status = http.StatusOK
	}
	s.writeJob(c, status, j, false)
}

// jobBody is a job on the wire: the job, its error in OpenAI's envelope,
// and its result once done.
type jobBody struct {
	*jobs.Job
	Error  *apiError       `json:"error,omitempty"`
	Result json.RawMessage `json:"result,omitempty"`
}

func (s *Server) writeJob(c *gin.Context, status int, j *jobs.Job, withResult bool) {
	b := jobBody{Job: j}
	if j.Error != nil {
		b.Error, _ = s.toAPIError(j.Error)
	}
	if withResult && j.Status == jobs.Succeeded {
		ct, body, err := s.renderJob(j, c.Query("response_format"))
		if err != nil {
			s.fail(c, err)
			return
		}
		if ct != "application/json" {
			body, _ = json.Marshal(string(body))
		}
		b.Result = body
	}
	c.JSON(status, b)
}

// renderJob is a finished job's result as its request asked (or in
// format, when given): agentmode's JSON for response_format=json, else
// OpenAI's text, srt, vtt or verbose_json.
func (s *Server) renderJob(j *jobs.Job, format string) (string, []byte, error) {
	if format == "" {
		format = j.Meta["response_format"]
	}
	if !slices.Contains(openai.ResponseFormats, format) {
		return "", nil, pipeline.InvalidParam("response_format", "'%s' is not one of %s.", format, "json, text, srt, vtt, verbose_json")
	}
	if format == "json" {
		if j.Output != nil && j.Meta["response_format"] == "json" {
			return "application/json", j.Output, nil
		}
		b, err := json.Marshal(openai.JSON{Text: j.Result.Text(), Usage: openai.UsageOf(j.Result)})
		return "application/json", b, err
	}
	if format == "verbose_json" {
		v := openai.VerboseOf(j.Result)
		if j.Meta["words"] != "true" {
			v.Words = nil
		}
		b, err := json.Marshal(v)
		return "application/json", b, err
	}
	var b bytes.Buffer
	if err := openai.Write(&b, j.Result, format); err != nil {
		return "", nil, err
	}
	return openai.ContentType(format), b.Bytes(), nil
}

// getJob serves GET /v1/jobs/{id}: status, progress, and the result or
// error once it has ended.
func (s *Server) getJob(c *gin.Context) {
	if s.jobsOff(c) || !s.jobQuery(c) {
		return
	}
	j, err := s.cfg.Jobs.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJob(c, http.StatusOK, j, true)
}

// getJobResult serves GET /v1/jobs/{id}/result: the result alone, as
// POST /v1/transcriptions (or /v1/audio/transcriptions, for OpenAI's
// response formats) would have answered it; 409 while the job runs, the
// job's own error when it failed.
func (s *Server) getJobResult(c *gin.Context) {
	if s.jobsOff(c) || !s.jobQuery(c) {
		return
	}
	j, err := s.cfg.Jobs.Get(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	conflict := func(code, msg string) {
		ae := &apiError{Status: http.StatusConflict, Type: "invalid_request_error", Message: msg, Code: &code}
		c.AbortWithStatusJSON(ae.Status, gin.H{"error": ae})
	}
	switch j.Status {
	case jobs.Failed:
		s.fail(c, j.Error)
		return
	case jobs.Cancelled:
		conflict("job_cancelled", "The job was cancelled; it has no result.")
		return
	case jobs.Queued, jobs.Running:
		c.Header("Retry-After", "2")
		conflict("job_not_finished", "The job is "+string(j.Status)+" ("+strconv.FormatFloat(j.Progress, 'f', -1, 64)+
			"% done); its result is not ready yet.")
		return
	}
	ct, body, err := s.renderJob(j, c.Query("response_format"))
	if err != nil {
		s.fail(c, err)
		return
	}
	c.Data(http.StatusOK, ct, body)
}

// jobQuery refuses query parameters the job routes do not take.
func (s *Server) jobQuery(c *gin.Context) bool {
	for k := range c.Request.URL.Query() {
		if k != "response_format" {
			s.fail(c, pipeline.InvalidParam(k, "'%s' is not a parameter of GET %s, which takes response_format.", k, c.FullPath()))
			return false
		}
	}
	return true
}

// cancelJob serves DELETE /v1/jobs/{id}: the job, cancelled unless it had
// ended already.
func (s *Server) cancelJob(c *gin.Context) {
	if s.jobsOff(c) {
		return
	}
	j, err := s.cfg.Jobs.Cancel(c.Request.Context(), c.Param("id"))
	if err != nil {
		s.fail(c, err)
		return
	}
	s.writeJob(c, http.StatusOK, j, false)
}

// listJobs serves GET /v1/jobs: the caller's jobs, newest first, limit at a
// time (default 20, at most 100), after the job id "after" names.
func (s *Server) listJobs(c *gin.Context) {
	if s.jobsOff(c) {
		return
	}
	q := c.Request.URL.Query()
	limit := 20
	for k := range q {
		switch k {
		case "limit", "after":
		default:
			s.fail(c, pipeline.InvalidParam(k, "'%s' is not a parameter of GET /v1/jobs, which takes limit and after.", k))
			return
		}
	}
	if v := q.Get("limit"); v != "" {
		n, err := strconv.Atoi(v)
		if err != nil || n < 1 || n > 100 {
			s.fail(c, pipeline.InvalidParam("limit", "limit must be a whole number from 1 to 100, got '%s'.", v))
			return
		}
		limit = n
	}
	// One more than asked tells whether there are more.
	list, err := s.cfg.Jobs.List(c.Request.Context(), limit+1, q.Get("after"))
	if err != nil {
		s.fail(c, err)
		return
	}
	more := len(list) > limit
	list = list[:min(len(list), limit)]
	data := make([]jobBody, len(list))
	for i, j := range list {
		data[i] = jobBody{Job: j}
		if j.Error != nil {
			data[i].Error, _ = s.toAPIError(j.Error)
		}
	}
	body := gin.H{"object": "list", "data": data, "has_more": more}
	if len(list) > 0 {
		body["first_id"], body["last_id"] = list[0].ID, list[len(list)-1].ID
	}
	c.JSON(http.StatusOK, body)
}
