package jobs

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/riverqueue/river"
)

// StatsMaxAge is how old the cluster's numbers in Stats may be: a scrape
// within it of the last one reads them from memory, so however many
// scrape, PostgreSQL answers at most one query per replica this often.
const StatsMaxAge = 5 * time.Second

// statsTimeout bounds the query behind Cluster.
const statsTimeout = 2 * time.Second

// Stats are the numbers /metrics shows of async jobs.
type Stats struct {
	// This replica's, since it started.
	//
	// PiecesDone are the pieces it transcribed (results stored), taking
	// DecodeTime in all. PiecesRetried are its piece attempts that failed
	// and were left for another attempt (here or on another replica);
	// PiecesFailed the pieces it gave up, failing their job.
	PiecesDone    int64
	PiecesRetried int64
	PiecesFailed  int64
	DecodeTime    time.Duration
	// Webhook deliveries it ended: delivered (a 2xx answer), failed (its
	// last attempt failed, or it could not be sent at all), refused (the
	// URL resolved to an internal address; see Config.WebhookPrivate).
	WebhooksDelivered int64
	WebhooksFailed    int64
	WebhooksRefused   int64
	// Cluster is every replica's jobs as the database had them at most
	// StatsMaxAge ago; nil while it cannot be read.
	Cluster *Cluster
}

// Cluster is the jobs in the database, whichever replica took them.
type Cluster struct {
	// Jobs counts them by status (each status present, 0 included);
	// finished ones count until their result expires (Config.TTL).
	Jobs map[Status]int
	// OldestQueued is the age of the oldest job no piece of which has
	// started (0 with none): growing, it says the workers cannot keep up.
	OldestQueued time.Duration
	// PiecesLeft are the pieces of queued and running jobs not yet
	// transcribed.
	PiecesLeft int
}

// counters are this replica's, for Stats.
type counters struct {
	piecesDone, piecesRetried, piecesFailed   atomic.Int64
	decodeNs                                  atomic.Int64
	hooksDelivered, hooksFailed, hooksRefused atomic.Int64
}

// clusterCache keeps the last Cluster for StatsMaxAge; its lock is held
// while the query runs, so concurrent scrapes wait for one answer.
type clusterCache struct {
	mu sync.Mutex
	at time.Time
	c  *Cluster
}

// Stats reports the service's numbers; it queries the database at most
// once per StatsMaxAge and never for longer than a couple of seconds.
func (s *Service) Stats(ctx context.Context) Stats {
	c := &s.counters
	return Stats{
		PiecesDone:        c.piecesDone.Load(),
		PiecesRetried:     c.piecesRetried.Load(),
		PiecesFailed:      c.piecesFailed.Load(),
		DecodeTime:        time.Duration(c.decodeNs.Load()),
		WebhooksDelivered: c.hooksDelivered.Load(),
		WebhooksFailed:    c.hooksFailed.Load(),
		WebhooksRefused:   c.hooksRefused.Load(),
		Cluster:           s.cluster(ctx),
	}
}

func (s *Service) cluster(ctx context.Context) *Cluster {
	cc := &s.clusterCache
	cc.mu.Lock()
	defer cc.mu.Unlock()
	if !cc.at.IsZero() && time.Since(cc.at) < StatsMaxAge {
		return cc.c
	}
	ctx, cancel := context.WithTimeout(ctx, statsTimeout)
	defer cancel()
	c, err := s.countJobs(ctx)
	if err != nil {
		// Kept too: a database that is down is not asked again each scrape.
		s.cfg.Logger.Warn("counting jobs for /metrics failed", "error", err)
	}
	cc.at, cc.c = time.Now(), c
	return c
}

// countJobs reads the jobs in two queries sent at once: how many by
// status, among those not expired (the expiry sweep deletes the others
// within minutes), from the status index alone; and the unfinished ones'
// oldest queued and pieces left, from the few rows of those statuses.
func (s *Service) countJobs(ctx context.Context) (*Cluster, error) {
	now := s.cfg.Now()
	c := &Cluster{Jobs: map[Status]int{Queued: 0, Running: 0, Succeeded: 0, Failed: 0, Cancelled: 0}}
	var (
		b      pgx.Batch
		oldest *time.Time
	)
	b.Queue(s.t.sql(`SELECT status, count(*) FROM {job} WHERE `+fmt.Sprintf(live, 1)+` GROUP BY status`), now).Query(func(rows pgx.Rows) error {
		for rows.Next() {
			var (
				st Status
				n  int
			)
			if err := rows.Scan(&st, &n); err != nil {
				return err
			}
			c.Jobs[st] = n
		}
		return rows.Err()
	})
	b.Queue(s.t.sql(`SELECT min(created_at) FILTER (WHERE status = 'queued'), coalesce(sum(pieces - done), 0)
		FROM {job} WHERE status IN ('queued', 'running')`)).QueryRow(func(row pgx.Row) error {
		return row.Scan(&oldest, &c.PiecesLeft)
	})
	if err := s.cfg.Pool.SendBatch(ctx, &b).Close(); err != nil {
		return nil, err
	}
	if oldest != nil {
		c.OldestQueued = max(0, now.Sub(*oldest))
	}
	return c, nil
}

// pieceFailed counts a piece attempt that failed: the job's last
// (failing it) or one left for a retry. A piece stopped because its job
// was cancelled is neither.
func (c *counters) pieceFailed(last bool, err error) {
	switch {
	case errors.Is(err, river.ErrJobCancelledRemotely):
	case last:
		c.piecesFailed.Add(1)
	default:
		c.piecesRetried.Add(1)
	}
}
