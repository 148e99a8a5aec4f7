package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"
	"sync"
	"time"

	"github.com/jackc/pgx/v5/pgxpool"
	"github.com/spf13/cobra"

	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/store"
)

// jobsConfig is how earshot serve runs async jobs (/v1/jobs).
type jobsConfig struct {
	workers    int // -1: the engine's worker count
	keyFile    string
	secretFile string
	private    bool
	ttl        time.Duration
	timeout    time.Duration
	off        bool

	// Resolved by resolveJobs from the flags and the environment.
	dsn    string
	key    []byte
	secret []byte
}

func jobsFlags(cmd *cobra.Command, c *jobsConfig) {
	f := cmd.Flags()
	f.IntVar(&c.workers, "jobs-workers", -1, "async job pieces this replica transcribes at once (default --workers; 0: an API-only replica that works none)")
	f.StringVar(&c.keyFile, "jobs-key-file", "", "file holding the key that seals job audio at rest, the same on every replica: 64 hex digits (default $EARSHOT_JOBS_KEY; none: jobs off)")
	f.StringVar(&c.secretFile, "jobs-webhook-secret-file", "", "file holding the secret that signs job webhooks (default $EARSHOT_JOBS_WEBHOOK_SECRET; none: webhook_url refused)")
	f.BoolVar(&c.private, "jobs-webhook-private", false, "let job webhooks reach loopback, private and link-local addresses (refused by default: a key holder could reach your network)")
	f.DurationVar(&c.ttl, "jobs-ttl", jobs.DefaultTTL, "how long a finished job's result is kept")
	f.DurationVar(&c.timeout, "jobs-piece-timeout", jobs.DefaultPieceTimeout, "the longest one job piece may run; the pieces of a replica killed outright are retried elsewhere this long after they started, plus half as long again (at most a minute)")
	f.BoolVar(&c.off, "no-jobs", false, "turn async jobs (/v1/jobs) off: no audio is ever stored")
}

// resolveJobs reads the jobs key and webhook secret (files, else the
// environment) and checks that the store can hold jobs. No key: jobs are
// off, and c.key stays nil.
func resolveJobs(c *jobsConfig, storeDSN string, getenv func(string) string) error {
	if c.off {
		return nil
	}
	read := func(file, env string) (string, error) {
		if file == "" {
			return getenv(env), nil
		}
		b, err := os.ReadFile(file)
		return strings.TrimSpace(string(b)), err
	}
	keyText, err := read(c.keyFile, "EARSHOT_JOBS_KEY")
	if err != nil {
		return fmt.Errorf("--jobs-key-file: %w", err)
	}
	if keyText == "" {
		return nil
	}
	if c.key, err = jobs.ParseKey(keyText); err != nil {
		return err
	}
	secret, err := read(c.secretFile, "EARSHOT_JOBS_WEBHOOK_SECRET")
	if err != nil {
		return fmt.Errorf("--jobs-webhook-secret-file: %w", err)
	}
	if secret != "" {
		c.secret = []byte(secret)
	}
	if storeDSN == "" {
		storeDSN = getenv("EARSHOT_STORE")
	}
	if kind, _, err := store.ParseDSN(storeDSN); err != nil || kind != "postgres" {
		return errors.New("async jobs need PostgreSQL: serve with --store postgres://... (or $EARSHOT_STORE), or turn them off with --no-jobs")
	}
	c.dsn = storeDSN
	return nil
}

// jobsPoolSize is how many connections a replica's jobs may hold: one per
// worker storing a piece's result, and a few for River's listener,
// producer and leader and for the job routes' reads. pgxpool's default,
// one per CPU, would let three replicas on 64-core hosts ask for more
// than PostgreSQL's default 100 connections.
func jobsPoolSize(workers int) int32 {
	return int32(max(8, workers+4))
}

// startJobs opens the jobs' pool and starts the service; stop ends both
// (once: later calls do nothing).
// With jobs off it returns nil and a stop that does nothing.
func startJobs(ctx context.Context, c jobsConfig, pipe *pipeline.Pipeline, engineWorkers int, log *slog.Logger) (*jobs.Service, func(context.Context), error) {
	if c.key == nil {
		if !c.off {
			log.Info("async jobs off: no jobs key (--jobs-key-file or EARSHOT_JOBS_KEY) with a PostgreSQL store")
		}
		return nil, func(context.Context) {}, nil
	}
	workers := c.workers
	if workers < 0 {
		workers = engineWorkers
	}
	cfg, err := pgxpool.ParseConfig(c.dsn)
	if err != nil {
		return nil, nil, fmt.Errorf("jobs store: %w", err)
	}
	cfg.MaxConns = jobsPoolSize(workers)
	pool, err := pgxpool.NewWithConfig(ctx, cfg)
	if err != nil {
		return nil, nil, fmt.Errorf("jobs store: %w", err)
	}
	svc, err := jobs.New(ctx, jobs.Config{Pool: pool, Pipeline: pipe, Key: c.key, WebhookSecret: c.secret,
		WebhookPrivate: c.private, Workers: workers, TTL: c.ttl, PieceTimeout: c.timeout, Logger: log})
	if err != nil {
		pool.Close()
		return nil, nil, err
	}
	// The workers outlive the signal: shutdown stops them, after the
	// HTTP server, letting running pieces finish.
	if err := svc.Start(context.WithoutCancel(ctx)); err != nil {
		pool.Close()
		return nil, nil, err
	}
	log.Info("async jobs on", "workers", workers, "ttl", c.ttl, "webhooks", c.secret != nil)
	var once sync.Once
	return svc, func(ctx context.Context) {
		once.Do(func() {
			if err := svc.Stop(ctx); err != nil {
				log.Warn("job pieces still running at the shutdown timeout were cut; another replica retries them", "error", err)
			}
			pool.Close()
		})
	}, nil
}
