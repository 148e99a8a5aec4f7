// Package httpapi is earshot's OpenAI-compatible HTTP API, on gin.
//
// Routes: POST /v1/audio/transcriptions and /v1/audio/translations (OpenAI's
// fields and response shapes, so OpenAI SDKs work by changing the base URL
// and key), POST /v1/transcriptions (the same plus mode=raw|clean|agent,
// shaped by agentmode, with a token budget; GET /v1/transcriptions/{id}
// reads a kept one again: another mode, budget or page), the async jobs
// of /v1/jobs (jobs.go), GET /v1/models, /healthz, /readyz and /metrics;
// GET /v1/usage (the caller's usage by day) and, for keys with the admin
// scope, POST and GET /v1/keys and DELETE /v1/keys/{id}. Every /v1 route needs
// "Authorization: Bearer <key>" unless auth is off; with auth off only
// loopback Hosts and pages are answered (security.go). Errors always use
// OpenAI's envelope and come from one mapping function (errors.go).
//
// The handler translates HTTP to and from earshot's request pipeline and
// holds no transcription logic: it parses the form, calls the pipeline,
// and renders the result in OpenAI's wire shapes (httpapi/openai) or
// agentmode's JSON. It is safe for concurrent use; it owns no goroutines
// beyond those of the request being served, and holds nothing to Close.
package httpapi

import (
	"crypto/rand"
	"encoding/hex"
	"log/slog"
	"net/http"
	"regexp"
	"time"

	"github.com/gin-gonic/gin"

	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// Stats is what the API reads of the engine for /metrics and /v1/models.
type Stats interface {
	Model() transcribe.ModelInfo
	Running() int
	Queued() int
}

// Config is the API's configuration; main fills it from flags once.
type Config struct {
	// Pipeline runs every transcription and checks every key.
	Pipeline *pipeline.Pipeline
	// Stats is the engine, for its gauges and model name.
	Stats Stats
	// MaxUpload is the largest accepted audio file in bytes (default 25 MiB).
	MaxUpload int64
	// ModelName is the served model's name; "whisper-1" is an alias of it.
	ModelName string
	// Jobs serves the async job routes (/v1/jobs); nil answers them with
	// a 404 saying jobs are off.
	Jobs Jobs
	// Mounts are more handlers by path, served behind the same keys: main
	// mounts the MCP endpoint at /mcp here.
	Mounts map[string]http.Handler
	// Page is the browser playground, served at / and its assets under
	// /playground/ without a key (the page asks for one and sends it to
	// /v1 like any client); nil serves none.
	Page http.Handler
	// Accounts serves key management (POST/GET /v1/keys, DELETE
	// /v1/keys/{id}, admin scope only) and GET /v1/usage; nil serves none.
	Accounts Accounts
	// CORSOrigins are the browser origins allowed to call the API
	// ("https://app.example"); none (the default) sends no CORS headers.
	CORSOrigins []string
	// AllowedHosts are Host names answered besides loopback ones while
	// auth is off ("*": any); see door.
	AllowedHosts []string
	Logger       *slog.Logger
}

// DefaultMaxUpload is OpenAI's limit, which clients already expect.
const DefaultMaxUpload = 25 << 20

// Server is the API's http.Handler.
type Server struct {
	cfg     Config
	router  *gin.Engine
	metrics *metrics
}

// New builds the handler.
func New(cfg Config) *Server {
	if cfg.MaxUpload <= 0 {
		cfg.MaxUpload = DefaultMaxUpload
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.ModelName == "" {
		cfg.ModelName = cfg.Stats.Model().Name
	}
	gin.SetMode(gin.ReleaseMode)
	r := gin.New()
	r.HandleMethodNotAllowed = true
	s := &Server{cfg: cfg, router: r, metrics: newMetrics(cfg.Stats, cfg.Jobs)}
	r.Use(s.recover, s.requestID, s.observe, s.headers, s.cors, s.door)
	r.NoRoute(func(c *gin.Context) {
		s.fail(c, pipeline.Errorf(pipeline.NotFound, "unknown_url", "Unknown request URL: %s %s.", c.Request.Method, c.Request.URL.Path))
	})
	r.NoMethod(func(c *gin.Context) {
		s.fail(c, pipeline.Errorf(pipeline.MethodNotAllowed, "method_not_allowed", "%s is not allowed on %s.", c.Request.Method, c.Request.URL.Path))
	})
	r.GET("/healthz", func(c *gin.Context) { c.JSON(http.StatusOK, gin.H{"status": "ok"}) })
	r.GET("/readyz", s.ready)
	r.GET("/metrics", gin.WrapH(s.metrics.handler()))
	v1 := r.Group("/v1", s.auth)
	v1.GET("/models", s.listModels)
	v1.GET("/models/:id", s.getModel)
	tr := s.need(scopeTranscribe, "transcribe")
	v1.POST("/audio/transcriptions", tr, s.openAI(transcriptionsRoute))
	v1.POST("/audio/translations", tr, s.openAI(translationsRoute))
	v1.POST("/transcriptions", tr, s.modes)
	v1.GET("/transcriptions/:id", tr, s.getTranscription)
	v1.GET("/usage", s.usage)
	v1.POST("/keys", s.admin("create keys"), s.createKey)
	v1.GET("/keys", s.admin("list keys"), s.listKeys)
	v1.DELETE("/keys/:id", s.admin("revoke keys"), s.revokeKey)
	s.jobRoutes(v1, tr)
	if cfg.Page != nil {
		page := gin.WrapH(cfg.Page)
		r.GET("/", page)
		r.HEAD("/", page)
		r.GET("/playground/*asset", page)
		r.HEAD("/playground/*asset", page)
	}
	for path, h := range cfg.Mounts {
		r.Any(path, s.auth, tr, gin.WrapH(h))
	}
	return s
}

// ServeHTTP serves the API.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.router.ServeHTTP(w, r) }

// ready is 503 once the pipeline drains (main drains it on shutdown: new
// transcriptions are refused with 503 while those running finish).
func (s *Server) ready(c *gin.Context) {
	if s.cfg.Pipeline.Draining() {
		s.fail(c, pipeline.ErrDraining)
		return
	}
	c.JSON(http.StatusOK, gin.H{"status": "ready", "model": s.cfg.ModelName})
}

// usageIDKey holds, in the gin context, the id usage is recorded under.
const usageIDKey = "earshot_usage_id"

var requestIDRE = regexp.MustCompile(`^[A-Za-z0-9._:-]{1,128}$`)

// requestID gives every response an x-request-id: the client's own when it
// sent a sane one, else a new random one. Usage is recorded under an id
// the server makes (the same one when the client sent none): a client that
// sent one id with every request would otherwise be counted once.
func (s *Server) requestID(c *gin.Context) {
	var b [12]byte
	rand.Read(b[:])
	own := "req_" + hex.EncodeToString(b[:])
	id := c.GetHeader("X-Request-Id")
	if !requestIDRE.MatchString(id) {
		id = own
	}
	c.Set("request_id", id)
	c.Set(usageIDKey, own)
	c.Header("X-Request-Id", id)
	c.Next()
}

// recover turns a panic in a handler into a 500 in OpenAI's envelope; the
// process keeps serving.
func (s *Server) recover(c *gin.Context) {
	defer func() {
		if v := recover(); v != nil {
			s.cfg.Logger.Error("panic serving request", "path", c.Request.URL.Path, "panic", v)
			s.fail(c, pipeline.Errorf(pipeline.Internal, "internal_error", "Internal server error."))
		}
	}()
	c.Next()
}

// observe logs each request (never its audio, transcript or key) and counts it.
func (s *Server) observe(c *gin.Context) {
	start := time.Now()
	c.Next()
	route := c.FullPath()
	if route == "" {
		route = "unmatched"
	}
	status := c.Writer.Status()
	if st, ok := c.Get(statusKey); ok { // a stream that failed after its 200
		status = st.(int)
	}
	d := time.Since(start)
	s.metrics.request(route, status, d)
	s.cfg.Logger.Info("request", "id", c.GetString("request_id"), "method", c.Request.Method,
		"route", route, "status", status, "ms", d.Milliseconds())
}
