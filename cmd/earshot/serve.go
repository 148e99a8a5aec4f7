package main

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/live"
	"github.com/earshot-dev/earshot/mcp"
	"github.com/earshot-dev/earshot/models"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/store"
	"github.com/earshot-dev/earshot/transcribe"
	"github.com/earshot-dev/earshot/transcribe/whisper"
	"github.com/earshot-dev/earshot/transcripts"
	"github.com/earshot-dev/earshot/web"
)

type serveConfig struct {
	addr            string
	model           string
	noPull          bool
	home            string
	maxUpload       string
	threads         int
	threadsTotal    int
	workers         int
	maxMemory       string
	queue           int
	maxQueueWait    time.Duration
	noAuth          bool
	sessionKey      bool
	envKey          string
	ffmpeg          string
	gpu             bool
	shutdownTimeout time.Duration
	mcp             bool
	allowDirs       []string
	allowOrigins    []string
	corsOrigins     []string
	allowHosts      []string
	storeTTL        time.Duration
	storeMax        string
	userHome        string
	keyStore        keyStoreConfig
	noVAD           bool
	maxModels       int
	modelTTL        time.Duration
	live            bool
	playground      bool
	tlsCert         string
	tlsKey          string
	jobs            jobsConfig
}

func newServeCmd(getenv func(string) string) *cobra.Command {
	var c serveConfig
	cmd := &cobra.Command{
		Use:   "serve [flags]",
		Short: "Serve the OpenAI-compatible HTTP API",
		Long: `Serve earshot's HTTP API: POST /v1/audio/transcriptions and /v1/audio/translations
(OpenAI-compatible: point an OpenAI SDK's base URL here), POST /v1/transcriptions
(mode=raw, clean or agent, with max_tokens), async jobs at /v1/jobs (with a
PostgreSQL --store and a --jobs-key-file), GET /v1/models, /healthz, /readyz
and /metrics; live transcription at GET /v1/realtime (OpenAI's Realtime
transcription protocol over WebSocket); and the MCP tools at /mcp (streamable HTTP).

With --tls-cert and --tls-key it serves HTTPS (and wss:// for /v1/realtime,
which OpenAI's Node client always dials).

Every /v1 route and /mcp need "Authorization: Bearer KEY" (browsers may send
the key on /v1/realtime as the subprotocol openai-insecure-api-key.KEY). Keys come from
'earshot keys create', from EARSHOT_API_KEY, or from --session-key. On a loopback
address without any key, auth is off; on any other address earshot refuses to
start without a key unless --insecure-no-auth is given. Without keys, only
requests addressed to localhost or a loopback address (the Host header) and
pages served from this machine are answered, so that no web page can reach
the API through DNS rebinding; --allow-host names more hosts.

Each key's limits (requests per minute, concurrent requests, upload size,
monthly audio) are enforced here and across replicas sharing --store. Keys
with the admin scope manage keys over HTTP (POST/GET /v1/keys, DELETE
/v1/keys/ID); GET /v1/usage shows a key's usage by day. CORS is off unless
--cors-origin names an origin.

SIGINT or SIGTERM stops accepting, lets running requests finish for up to
--shutdown-timeout, and exits 0.`,
		Example: `  earshot serve                       # pulls and serves the default model (base)
  EARSHOT_MODEL=ggml-base.en.bin earshot serve
  earshot keys create --name laptop && earshot serve --addr 0.0.0.0:8080 --model ggml-small.bin`,
		Args: cobra.NoArgs,
		RunE: func(cmd *cobra.Command, _ []string) error {
			if c.model == "" {
				c.model = getenv("EARSHOT_MODEL")
			}
			c.envKey = getenv("EARSHOT_API_KEY")
			c.userHome = getenv("HOME")
			c.home = dataDir(getenv)
			if err := resolveJobs(&c.jobs, c.keyStore.dsn, getenv); err != nil {
				return err
			}
			keyDB, err := openKeyStore(cmd.Context(), c.keyStore, getenv, cmd.ErrOrStderr())
			if err != nil {
				return err
			}
			defer keyDB.Close()
			return runServe(cmd.Context(), c, keyDB, modelStore(getenv, cmd.ErrOrStderr()), cmd.ErrOrStderr())
		},
	}
	f := cmd.Flags()
	f.StringVar(&c.addr, "addr", "127.0.0.1:8080", "address to listen on")
	f.StringVarP(&c.model, "model", "m", "", "model file or name, pulled if missing (default $EARSHOT_MODEL, else "+models.DefaultModel+")")
	f.BoolVar(&c.noPull, "no-pull", false, "fail instead of downloading a missing model")
	f.StringVar(&c.maxUpload, "max-upload", "25MiB", "largest audio upload (e.g. 25MiB, 100MB, 5000000)")
	engineFlags(cmd, &c.threads, &c.threadsTotal, &c.workers, &c.maxMemory)
	f.DurationVar(&c.maxQueueWait, "max-queue-wait", transcribe.DefaultMaxQueueWait, "admit a request while its expected wait is at most this, else 429 with Retry-After (negative: no bound)")
	f.IntVar(&c.queue, "queue", 0, "hard cap on requests waiting to start (0: none beyond --max-queue-wait; negative: none may wait)")
	f.BoolVar(&c.noAuth, "insecure-no-auth", false, "serve without API keys on a non-loopback address")
	f.BoolVar(&c.sessionKey, "session-key", false, "make a random API key for this run only and print it on stderr")
	f.StringVar(&c.ffmpeg, "ffmpeg", "", "ffmpeg binary for Ogg/Opus/WebM/MP4/AAC (default: ffmpeg on $PATH)")
	f.BoolVar(&c.gpu, "gpu", true, "use the GPU when earshot was built with one")
	f.DurationVar(&c.shutdownTimeout, "shutdown-timeout", 30*time.Second, "how long running requests may finish on shutdown")
	f.BoolVar(&c.mcp, "mcp", true, "serve the MCP tools at /mcp (streamable HTTP, behind the same keys)")
	f.StringArrayVar(&c.allowDirs, "allow-dir", nil, "directory the MCP transcribe tool may read files in (repeatable; default none: audio_base64 only)")
	f.StringArrayVar(&c.allowOrigins, "allow-origin", nil, "browser origin allowed to call /mcp, e.g. https://app.example (repeatable)")
	f.BoolVar(&c.playground, "playground", true, "serve the browser playground at / (it asks for a key and calls /v1 like any client)")
	f.BoolVar(&c.live, "live", true, "serve live transcription sessions at /v1/realtime (WebSocket, behind the same keys)")
	f.StringVar(&c.tlsCert, "tls-cert", "", "serve HTTPS with this PEM certificate (chain) file; needs --tls-key")
	f.StringVar(&c.tlsKey, "tls-key", "", "the PEM private key of --tls-cert")
	f.StringArrayVar(&c.corsOrigins, "cors-origin", nil, "browser origin allowed to call the API with CORS, e.g. https://app.example (repeatable; default none)")
	f.StringArrayVar(&c.allowHosts, "allow-host", nil, "Host name answered besides localhost while auth is off (repeatable; * for any)")
	storeFlags(cmd, &c.storeTTL, &c.storeMax)
	jobsFlags(cmd, &c.jobs)
	keyStoreFlags(cmd, &c.keyStore)
	f.IntVar(&c.maxModels, "max-models", 2, "downloaded models besides --model that requests may name, loaded at once (0: only --model)")
	f.DurationVar(&c.modelTTL, "model-ttl", 10*time.Minute, "unload a model requests named after it has been idle this long")
	f.BoolVar(&c.noVAD, "no-vad", false, "let whisper hear all of the audio: no voice activity detection before it (a request can also say vad=false)")
	return cmd
}

func runServe(ctx context.Context, c serveConfig, keyDB *store.DB, models *models.Store, stderr io.Writer) error {
	log := slog.New(slog.NewTextHandler(stderr, nil))
	maxUpload, err := parseSize(c.maxUpload)
	if err != nil {
		return fmt.Errorf("--max-upload: %w", err)
	}
	var tlsConfig *tls.Config
	switch {
	case c.tlsCert != "" && c.tlsKey != "":
		cert, err := tls.LoadX509KeyPair(c.tlsCert, c.tlsKey)
		if err != nil {
			return fmt.Errorf("--tls-cert/--tls-key: %w", err)
		}
		tlsConfig = &tls.Config{Certificates: []tls.Certificate{cert}, MinVersion: tls.VersionTLS12}
	case c.tlsCert != "" || c.tlsKey != "":
		return errors.New("--tls-cert and --tls-key go together: give both, or neither for plain HTTP")
	}
	auth := &keyAuth{store: keyDB}
	if c.envKey != "" {
		auth.addMemory(c.envKey)
	}
	var sessionKey string
	if c.sessionKey {
		var b [32]byte
		rand.Read(b[:])
		sessionKey = store.SecretPrefix + "session-" + hex.EncodeToString(b[:])
		auth.addMemory(sessionKey)
	}
	active, err := auth.active(ctx)
	if err != nil {
		return err
	}
	var authn pipeline.Authenticator = auth
	if active == 0 {
		if !pipeline.Loopback(c.addr) && !c.noAuth {
			return fmt.Errorf("refusing to serve %s without an API key: create one with 'earshot keys create --name NAME', set EARSHOT_API_KEY, or pass --insecure-no-auth", c.addr)
		}
		log.Warn("serving without API keys: any client that can reach the address can transcribe", "addr", c.addr)
		if !pipeline.Loopback(c.addr) && len(c.allowHosts) == 0 {
			log.Warn("without API keys only requests addressed to localhost are answered (against DNS rebinding); --allow-host NAME answers NAME too")
		}
		authn = nil
	}

	// Open the listener before loading the model: a busy port fails at once.
	ln, err := net.Listen("tcp", c.addr)
	if err != nil {
		return err
	}
	defer ln.Close()

	modelPath, modelName, err := resolveModel(ctx, models, c.model, !c.noPull)
	if err != nil {
		return err
	}
	maxMemory, err := parseMemory(c.maxMemory)
	if err != nil {
		return err
	}
	engine, err := whisper.NewEngine(modelPath, whisper.LoadOptions{GPU: c.gpu}, transcribe.EngineOptions{
		Threads: c.threads, ThreadsTotal: c.threadsTotal, Workers: c.workers, MaxMemory: maxMemory,
		Queue: c.queue, MaxQueueWait: c.maxQueueWait,
	})
	if err != nil {
		return err
	}
	defer engine.Close()
	storeMax, err := parseSize(c.storeMax)
	if err != nil {
		return fmt.Errorf("--transcript-memory: %w", err)
	}
	vad, closeVAD := loadVAD(models, c.noVAD, c.gpu, log)
	defer closeVAD()
	var named pipeline.Models
	if c.maxModels > 0 {
		ms := newModelSet(models, modelName, c.gpu, engine.Options(), transcribe.EnginesOptions{Max: c.maxModels, IdleTTL: c.modelTTL})
		defer ms.engines.Close()
		named = ms
	}
	var limits pipeline.Limiter
	if authn != nil {
		outbox := newUsageOutbox(keyDB, log, 2*time.Second, defaultOutboxMax)
		defer func() { // after the requests, before the store closes
			ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
			defer cancel()
			outbox.close(ctx)
		}()
		limits = &storeLimiter{store: keyDB, ttl: defaultLeaseTTL, log: log, outbox: outbox}
	}
	pipe, err := newPipeline(pipelineConfig{
		models:   named,
		vad:      vad,
		parallel: engine.Options().Workers,
		waiting:  engine.Queued,
		engine:   engine,
		ffmpeg:   ffmpegPath(c.ffmpeg),
		maxBytes: maxUpload,
		store:    transcripts.New(c.storeTTL, storeMax),
		auth:     authn,
		limits:   limits,
		log:      log,
	})
	if err != nil {
		return err
	}
	jobSvc, stopJobs, err := startJobs(ctx, c.jobs, pipe, engine.Options().Workers, log)
	if err != nil {
		return err
	}
	defer func() { // on an error below; shutdown stops them first
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		stopJobs(sctx)
	}()
	var apiJobs httpapi.Jobs
	var mcpJobs mcp.Jobs
	if jobSvc != nil {
		apiJobs, mcpJobs = jobSvc, jobSvc
	}
	mounts := map[string]http.Handler{}
	var liveHandler *live.Handler
	if c.live {
		// A session decodes about once per step while someone speaks: beyond
		// what the workers and queue hold, more sessions only wait longer.
		sessions := engine.Options().Workers + engine.Options().Queue
		liveHandler = live.New(live.Config{Pipeline: pipe, Detector: liveDetector(vad), ModelName: modelName, Origins: c.allowOrigins, MaxSessions: sessions, Logger: log})
		mounts["/v1/realtime"] = liveHandler
	}
	if c.mcp {
		srv, err := mcp.New(mcp.Config{
			Pipeline:     pipe,
			AllowDirs:    c.allowDirs,
			Home:         c.userHome,
			MaxFileBytes: maxUpload,
			Jobs:         mcpJobs,
			Version:      version,
			Logger:       log,
		})
		if err != nil {
			return err
		}
		mcpHandler := srv.HTTPHandler(mcp.HTTPOptions{Path: "/mcp", AllowedOrigins: c.allowOrigins, MaxBody: maxUpload/3*4 + 1<<20})
		defer mcpHandler.Close(context.Background())
		mounts["/mcp"] = mcpHandler
	}
	var page http.Handler
	if c.playground {
		page = web.Handler()
	}
	api := httpapi.New(httpapi.Config{
		Page:         page,
		Pipeline:     pipe,
		Stats:        engine,
		MaxUpload:    maxUpload,
		ModelName:    modelName,
		Logger:       log,
		Mounts:       mounts,
		Accounts:     accounts{store: keyDB},
		CORSOrigins:  c.corsOrigins,
		AllowedHosts: c.allowHosts,
		Jobs:         apiJobs,
	})
	srv := &http.Server{
		Handler:           api,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       10 * time.Minute, // a 25 MB upload on a slow link
		IdleTimeout:       2 * time.Minute,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		TLSConfig:         tlsConfig,
	}
	opts := engine.Options()
	log.Info("earshot serving", "addr", ln.Addr().String(), "model", engine.Model().Name,
		"threads", threadsLabel(opts.Threads), "threads_total", opts.ThreadsTotal, "states_max", engine.MaxStates(),
		"state_mb", engine.StateBytes()>>20, "max_queue_wait", opts.MaxQueueWait, "queue", opts.Queue, "auth", authn != nil, "tls", tlsConfig != nil)
	printReady(stderr, ready{addr: ln.Addr(), sessionKey: sessionKey, auth: authn != nil, mcp: c.mcp, tls: tlsConfig != nil, playground: c.playground})

	pctx, stopPrune := context.WithCancel(ctx)
	pruned := make(chan struct{})
	go func() {
		defer close(pruned)
		pruneUsage(pctx, keyDB, log, time.Hour, usageRecordAge)
	}()
	defer func() {
		stopPrune()
		<-pruned
	}()

	errc := make(chan error, 1)
	go func() {
		if tlsConfig != nil {
			errc <- srv.ServeTLS(ln, "", "")
			return
		}
		errc <- srv.Serve(ln)
	}()
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	log.Info("shutting down: finishing running requests", "timeout", c.shutdownTimeout)
	pipe.Drain()
	sctx, cancel := context.WithTimeout(context.Background(), c.shutdownTimeout)
	defer cancel()
	if err := srv.Shutdown(sctx); err != nil {
		log.Warn("requests still running at the shutdown timeout were cut", "error", err)
	}
	if liveHandler != nil { // Shutdown does not wait for WebSockets
		if err := liveHandler.Close(sctx); err != nil {
			log.Warn("live sessions still running at the shutdown timeout were cut", "error", err)
		}
	}
	stopJobs(sctx)

	if err := <-errc; err != nil && !errors.Is(err, http.ErrServerClosed) {
		return err
	}
	log.Info("stopped")
	return nil
}

// parseSize reads "25MiB", "100MB", "512KiB" or a number of bytes.
func parseSize(s string) (int64, error) {
	s = strings.TrimSpace(s)
	units := []struct {
		suffix string
		mult   int64
	}{{"GiB", 1 << 30}, {"MiB", 1 << 20}, {"KiB", 1 << 10}, {"GB", 1e9}, {"MB", 1e6}, {"KB", 1e3}, {"B", 1}}
	mult := int64(1)
	for _, u := range units {
		if strings.HasSuffix(s, u.suffix) {
			s, mult = strings.TrimSpace(strings.TrimSuffix(s, u.suffix)), u.mult
			break
		}
	}
	n, err := strconv.ParseFloat(s, 64)
	if err != nil || n <= 0 || n*float64(mult) > 1<<40 {
		return 0, fmt.Errorf("%q is not a size such as 25MiB", s)
	}
	return int64(n * float64(mult)), nil
}

// usageRecordAge is how long a request's usage record (its idempotency
// key) is kept; the daily totals are kept for good.
const usageRecordAge = 35 * 24 * time.Hour

// pruneUsage forgets old usage records every interval until ctx ends. Any
// replica may do it; doing it twice is harmless.
func pruneUsage(ctx context.Context, s *store.DB, log *slog.Logger, every, age time.Duration) {
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			if n, err := s.PruneUsage(ctx, time.Now().Add(-age)); err != nil && ctx.Err() == nil {
				log.Warn("pruning old usage records failed", "error", err)
			} else if n > 0 {
				log.Debug("pruned old usage records", "records", n)
			}
		}
	}
}
