// Package jobs runs long transcriptions as durable asynchronous jobs on
// River (github.com/riverqueue/river), a job queue in the PostgreSQL that
// earshot's replicas already share.
//
// Submit decodes the audio once where the request arrives (the
// pipeline's Plan), cuts it at pauses into pieces, seals each piece with
// AES-256-GCM under the configured key, and stores the job, its sealed
// pieces and one River job per piece in a single transaction. Any replica
// with workers (Config.Workers > 0) transcribes pieces; each result is
// stored, and its sealed audio deleted, in the transaction that also
// counts it, and the last one enqueues the stitch, which joins the
// results in order (times in the whole audio's), records the caller's
// usage once for the job's id, stores the result for Config.TTL and
// deletes whatever audio is left. Delivery is at least once: a piece
// whose replica dies is worked again elsewhere (River retries it, or
// rescues it once it has been running for longer than its timeout), a
// piece decodes without context from the others so the retry gives the
// same result, and only the first stored result of a piece counts.
// Webhooks are River jobs of their own queue, retried with backoff, so a
// slow receiver never holds a transcription worker.
//
// Stats reports, for /metrics, this replica's counts (pieces, their
// failures, webhook deliveries) and the cluster's jobs by status, read
// from the database at most every StatsMaxAge.
//
// Async jobs are the one place where earshot writes audio to storage; it
// is sealed there and deleted when the job ends (done, failed, cancelled,
// or expired).
//
// A Service is safe for concurrent use. Start runs its River client
// (workers, the stitch, webhooks and the expiry sweep); Stop ends it,
// letting running pieces finish within the context given. The pool is the
// caller's to close, after Stop.
package jobs

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/riverqueue/river"
	"github.com/riverqueue/river/riverdriver/riverpgxv5"
	"github.com/riverqueue/river/rivertype"

	"github.com/earshot-dev/earshot/agentmode"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// Errors.
var (
	// ErrConfig is a configuration that cannot work (a key of the wrong
	// size, no pool).
	ErrConfig = errors.New("jobs: invalid configuration")
	// ErrNotFound is a job id the caller has no job by: unknown, another
	// key's, or expired.
	ErrNotFound = pipeline.Errorf(pipeline.NotFound, "job_not_found",
		"No such job: it does not exist, belongs to another key, or its result has expired.")
)

// Defaults.
const (
	DefaultTTL          = 24 * time.Hour
	DefaultPieceTimeout = 10 * time.Minute
	DefaultRetryDelay   = time.Second
)

// rescueMargin is how long past its timeout a piece still running is
// taken for one whose replica vanished (River's rescuer, on the leader,
// then looks every 30 s): time for a piece cut at its timeout to be
// handed back by its live replica. Half the timeout, at most a minute:
// a short timeout on fast hardware is not held a minute longer.
func rescueMargin(timeout time.Duration) time.Duration { return min(time.Minute, timeout/2) }

// Queues the River jobs run in: pieces in their own, so that the stitch
// and webhooks never wait behind transcriptions.
const (
	queuePieces   = "earshot_pieces"
	queueStitch   = "earshot_stitch"
	queueWebhooks = "earshot_webhooks"
)

// Config is the service's configuration; main fills it once.
type Config struct {
	// Pool is the PostgreSQL the replicas share.
	Pool *pgxpool.Pool
	// Schema is the PostgreSQL schema of earshot's and River's job tables
	// ("" : the connection's search_path).
	Schema string
	// Pipeline plans, transcribes and stitches.
	Pipeline *pipeline.Pipeline
	// Key seals audio at rest (KeySize bytes, the same on every replica).
	Key []byte
	// WebhookSecret signs webhook bodies (see Signature); nil refuses
	// webhook_url.
	WebhookSecret []byte
	// Workers is how many pieces this replica transcribes at once; 0 makes
	// an API-only replica that submits and answers but works nothing.
	Workers int
	// TTL is how long a finished job's result is kept (default DefaultTTL).
	TTL time.Duration
	// PieceTimeout is the longest one piece may run (default
	// DefaultPieceTimeout); a piece whose replica vanished is rescued
	// once it has run this long plus half of it (at most a minute more).
	PieceTimeout time.Duration
	// RetryDelay is the first retry's delay, doubling up to 10 minutes
	// (default DefaultRetryDelay).
	RetryDelay time.Duration
	// PollInterval is how often idle workers look for work when no
	// notification wakes them (default River's, 1 s).
	PollInterval time.Duration
	// WebhookPrivate lets webhooks reach loopback, private and link-local
	// addresses, refused by default (see internal).
	WebhookPrivate bool
	// HTTPClient delivers webhooks (default a client with a 15 s timeout
	// that holds to WebhookPrivate).
	HTTPClient *http.Client
	// Now is the clock (default time.Now).
	Now    func() time.Time
	Logger *slog.Logger
}

// Service submits, runs and answers jobs.
type Service struct {
	cfg    Config
	seal   *sealer
	client *river.Client[pgx.Tx]
	t      tables

	counters     counters
	clusterCache clusterCache
}

// New checks the configuration, migrates River's tables and earshot's,
// and makes the service's River client (started by Start).
func New(ctx context.Context, cfg Config) (*Service, error) {
	if cfg.Pool == nil || cfg.Pipeline == nil {
		return nil, fmt.Errorf("%w: a pool and a pipeline are needed", ErrConfig)
	}
	sl, err := newSealer(cfg.Key)
	if err != nil {
		return nil, err
	}
	if cfg.TTL <= 0 {
		cfg.TTL = DefaultTTL
	}
	if cfg.PieceTimeout <= 0 {
		cfg.PieceTimeout = DefaultPieceTimeout
	}
	if cfg.RetryDelay <= 0 {
		cfg.RetryDelay = DefaultRetryDelay
	}
	if cfg.HTTPClient == nil {
		cfg.HTTPClient = webhookClient(cfg.WebhookPrivate)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, seal: sl, t: newTables(cfg.Schema)}
	if err := s.migrate(ctx); err != nil {
		return nil, err
	}
	workers := river.NewWorkers()
	river.AddWorker(workers, &pieceWorker{s: s})
	river.AddWorker(workers, &stitchWorker{s: s})
	river.AddWorker(workers, &webhookWorker{s: s})
	river.AddWorker(workers, &expireWorker{s: s})
	rc := &river.Config{
		Schema:               cfg.Schema,
		Workers:              workers,
		Logger:               cfg.Logger,
		JobTimeout:           cfg.PieceTimeout,
		RescueStuckJobsAfter: cfg.PieceTimeout + rescueMargin(cfg.PieceTimeout),
		RetryPolicy:          backoff{base: cfg.RetryDelay},
		ErrorHandler:         errorHandler{s: s},
		FetchPollInterval:    cfg.PollInterval,
		FetchCooldown:        min(cfg.PollInterval, river.FetchCooldownDefault),
	}
	if cfg.PollInterval <= 0 {
		rc.FetchPollInterval, rc.FetchCooldown = 0, 0
	}
	if cfg.Workers > 0 {
		rc.Queues = map[string]river.QueueConfig{
			queuePieces:   {MaxWorkers: cfg.Workers},
			queueStitch:   {MaxWorkers: 2},
			queueWebhooks: {MaxWorkers: 4},
		}
		rc.PeriodicJobs = []*river.PeriodicJob{river.NewPeriodicJob(river.PeriodicInterval(5*time.Minute),
			func() (river.JobArgs, *river.InsertOpts) { return expireArgs{}, nil }, &river.PeriodicJobOpts{RunOnStart: true})}
	}
	if s.client, err = river.NewClient(riverpgxv5.New(cfg.Pool), rc); err != nil {
		return nil, err
	}
	return s, nil
}

// Start starts working jobs (with Workers > 0; else it does nothing).
func (s *Service) Start(ctx context.Context) error {
	if s.cfg.Workers <= 0 {
		return nil
	}
	return s.client.Start(ctx)
}

// Stop stops working: running pieces may finish until ctx ends, then are
// cancelled and retried later, here or elsewhere.
func (s *Service) Stop(ctx context.Context) error {
	if s.cfg.Workers <= 0 {
		return nil
	}
	return s.client.Stop(ctx)
}

// Status is where a job is.
type Status string

// The statuses; the last three are final.
const (
	Queued    Status = "queued"
	Running   Status = "running"
	Succeeded Status = "succeeded"
	Failed    Status = "failed"
	Cancelled Status = "cancelled"
)

// Submission is a job as a surface hands it over.
type Submission struct {
	// Request is the transcription. Its ID is replaced by the job's id;
	// OnSegment, OnProgress and Keep are not used.
	Request pipeline.Request
	// IdempotencyKey, if set, makes a second submission with the same key
	// by the same caller return the first one's job.
	IdempotencyKey string
	// WebhookURL, if set, is POSTed the finished job, signed.
	WebhookURL string
	// Meta is the surface's own, kept and returned as it is (how to
	// render the result).
	Meta map[string]string
}

// Job is a job as its caller sees it.
type Job struct {
	ID     string `json:"id"`
	Object string `json:"object"` // "transcription.job"
	Status Status `json:"status"`
	// Progress is 0..100: the share of pieces transcribed.
	Progress float64 `json:"progress"`
	// Pieces is how many pieces the audio was cut into; Done how many are
	// transcribed.
	Pieces     int               `json:"pieces"`
	Done       int               `json:"pieces_done"`
	Duration   float64           `json:"duration"`
	CreatedAt  time.Time         `json:"created_at"`
	FinishedAt *time.Time        `json:"finished_at,omitempty"`
	ExpiresAt  *time.Time        `json:"expires_at,omitempty"`
	WebhookURL string            `json:"webhook_url,omitempty"`
	Meta       map[string]string `json:"-"`
	// Result is the transcription (when Succeeded); Output is it shaped as
	// the request's Format said (nil without one).
	Result *transcribe.Result `json:"-"`
	Output json.RawMessage    `json:"-"`
	// Error is why it failed (when Failed), in the pipeline's taxonomy.
	Error *pipeline.Error `json:"-"`
	// Replayed is set when Submit found the job by its idempotency key.
	Replayed bool `json:"-"`
}

// stored is what a job keeps of its request.
type stored struct {
	Model    string                `json:"model,omitempty"`
	Options  transcribe.Options    `json:"options"`
	Format   *agentmode.Options    `json:"format,omitempty"`
	NoVAD    bool                  `json:"no_vad,omitempty"`
	Chunking *transcribe.ServerVAD `json:"chunking,omitempty"`
}

func (st stored) request(id string) pipeline.Request {
	return pipeline.Request{ID: id, Model: st.Model, Options: st.Options, Format: st.Format, NoVAD: st.NoVAD, Chunking: st.Chunking}
}

// storedError is a pipeline.Error as a job keeps it.
type storedError struct {
	Kind    pipeline.Kind `json:"kind"`
	Code    string        `json:"code,omitempty"`
	Param   string        `json:"param,omitempty"`
	Message string        `json:"message"`
}

func newID() string {
	var b [12]byte
	rand.Read(b[:])
	return "job_" + hex.EncodeToString(b[:])
}

// principal is the caller in ctx; a caller inside earshot is anonymous.
func principal(ctx context.Context) pipeline.Principal {
	p, ok := pipeline.FromContext(ctx)
	if !ok {
		return pipeline.Principal{Anonymous: true}
	}
	return p
}

// Submit plans the request (decoding its audio and running the caller's
// limits) and stores the job and its pieces, sealed. With an idempotency
// key already used by this caller it returns that job, Replayed set, and
// decodes nothing. Its error is an *pipeline.Error.
func (s *Service) Submit(ctx context.Context, sub Submission) (*Job, error) {
	who := principal(ctx)
	if sub.WebhookURL != "" && s.cfg.WebhookSecret == nil {
		return nil, pipeline.InvalidParam("webhook_url", "This server signs no webhooks (it has no webhook secret configured): poll GET /v1/jobs/{id} instead.")
	}
	if sub.WebhookURL != "" && !s.cfg.WebhookPrivate {
		if err := checkWebhookHost(sub.WebhookURL); err != nil {
			return nil, pipeline.InvalidParam("webhook_url", "webhook_url %s points at this machine or an internal network, which this server does not post to (earshot serve --jobs-webhook-private allows it).", sub.WebhookURL)
		}
	}
	if sub.IdempotencyKey != "" {
		if j, err := s.byIdempotencyKey(ctx, who.KeyID, sub.IdempotencyKey); err == nil {
			return j, nil
		} else if !errors.Is(err, ErrNotFound) {
			return nil, err
		}
	}
	req := sub.Request
	req.OnSegment, req.OnProgress, req.Keep = nil, nil, false
	plan, err := s.cfg.Pipeline.Plan(ctx, req)
	if err != nil {
		return nil, err
	}
	id := newID()
	st := stored{Model: req.Model, Options: req.Options, Format: req.Format, NoVAD: req.NoVAD, Chunking: req.Chunking}
	j, err := s.insert(ctx, id, who, sub, st, plan)
	if errors.Is(err, errDuplicate) {
		return s.byIdempotencyKey(ctx, who.KeyID, sub.IdempotencyKey)
	}
	if err != nil {
		return nil, unavailable(err)
	}
	s.cfg.Logger.Info("job submitted", "job", id, "pieces", len(plan.Pieces), "audio_s", plan.Duration)
	return j, nil
}

// Get is the caller's job by id.
func (s *Service) Get(ctx context.Context, id string) (*Job, error) {
	return s.get(ctx, principal(ctx).KeyID, id)
}

// List is the caller's jobs, newest first, at most limit (default 20,
// at most 1000) created before the job named by before ("" : the newest).
func (s *Service) List(ctx context.Context, limit int, before string) ([]*Job, error) {
	if limit <= 0 {
		limit = 20
	}
	return s.list(ctx, principal(ctx).KeyID, min(limit, 1000), before)
}

// Cancel cancels the caller's job: pieces not yet transcribed are not,
// running ones are stopped, the audio is deleted. A finished job is
// returned as it is.
func (s *Service) Cancel(ctx context.Context, id string) (*Job, error) {
	riverIDs, err := s.cancel(ctx, principal(ctx).KeyID, id)
	if err != nil {
		return nil, err
	}
	for _, rid := range riverIDs {
		if _, err := s.client.JobCancel(ctx, rid); err != nil && !errors.Is(err, river.ErrNotFound) {
			s.cfg.Logger.Warn("cancelling a piece failed", "job", id, "river_job", rid, "error", err)
		}
	}
	return s.Get(ctx, id)
}

// unavailable is a database failure as the caller sees it.
func unavailable(err error) error {
	var e *pipeline.Error
	if errors.As(err, &e) {
		return e
	}
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return pipeline.Classify(err)
	}
	return &pipeline.Error{Kind: pipeline.Unavailable, Code: "jobs_unavailable", Err: err, RetryAfter: pipeline.DefaultRetryAfter,
		Message: "The job store cannot be reached right now; retry in a moment."}
}

// backoff is the retry policy: base, doubling each attempt, at most ten
// minutes.
type backoff struct{ base time.Duration }

func (b backoff) NextRetry(job *rivertype.JobRow) time.Time {
	d := b.base
	for i := 1; i < job.Attempt && d < 10*time.Minute; i++ {
		d *= 2
	}
	return time.Now().Add(min(d, 10*time.Minute))
}
