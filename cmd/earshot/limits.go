package main

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/httpapi"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/store"
)

// storeLimiter is the pipeline's Limiter over the key store: the limits of
// a key hold across every replica sharing the store.
type storeLimiter struct {
	store store.Store
	// ttl is a concurrency lease's lifetime: renewed while its request
	// runs, it lapses this long after a replica holding it dies.
	ttl time.Duration
	log *slog.Logger
	// outbox, if set, keeps the usage the store could not take.
	outbox *usageOutbox
}

// defaultLeaseTTL is long against clock skew between replicas, short
// enough that a killed replica's slots come back soon.
const defaultLeaseTTL = 2 * time.Minute

// Admit checks the month's quota, counts the request against the key's
// requests per minute, then takes a concurrency slot, held (and renewed)
// until release is called.
func (l *storeLimiter) Admit(ctx context.Context, p pipeline.Principal) (func(), error) {
	if err := l.store.CheckQuota(ctx, p.KeyID, p.Limits.MonthlyAudioSeconds); err != nil {
		return nil, limitError(err)
	}
	if err := l.store.Allow(ctx, p.KeyID, p.Limits.RPM); err != nil {
		return nil, limitError(err)
	}
	lease, err := l.store.Acquire(ctx, p.KeyID, p.Limits.Concurrency, l.ttl)
	if err != nil {
		return nil, limitError(err)
	}
	if lease.ID == "" { // no concurrency limit: nothing held
		return func() {}, nil
	}
	stop, done := make(chan struct{}), make(chan struct{})
	go l.renew(lease, stop, done)
	var once sync.Once
	return func() {
		once.Do(func() {
			close(stop)
			<-done
			// The request's context may be over; the slot must still come back.
			rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := l.store.Release(rctx, lease); err != nil {
				l.log.Warn("releasing a concurrency slot failed; it lapses on its own", "key", lease.KeyID, "ttl", l.ttl, "error", err)
			}
		})
	}, nil
}

// CheckQuota is the month's quota alone, for a live session between turns.
func (l *storeLimiter) CheckQuota(ctx context.Context, p pipeline.Principal) error {
	return limitError(l.store.CheckQuota(ctx, p.KeyID, p.Limits.MonthlyAudioSeconds))
}

// renew keeps a lease alive while its request runs, until stop closes.
func (l *storeLimiter) renew(lease store.Lease, stop <-chan struct{}, done chan<- struct{}) {
	defer close(done)
	t := time.NewTicker(l.ttl / 3)
	defer t.Stop()
	for {
		select {
		case <-stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), l.ttl/3)
			next, err := l.store.Renew(ctx, lease, l.ttl)
			cancel()
			if errors.Is(err, store.ErrLeaseExpired) {
				l.log.Warn("a concurrency slot lapsed while its request ran", "key", lease.KeyID)
				return
			}
			if err != nil {
				l.log.Warn("renewing a concurrency slot failed; trying again", "key", lease.KeyID, "error", err)
				continue
			}
			lease = next
		}
	}
}

// Record stores what a completed request used, once per request id. A
// store that is out (ErrUnavailable) gets the record again later from the
// outbox, so an outage does not lose the usage of requests that were
// answered during it.
func (l *storeLimiter) Record(ctx context.Context, p pipeline.Principal, u pipeline.Usage) error {
	rec := store.UsageRecord{RequestID: u.RequestID, KeyID: p.KeyID, At: u.At,
		AudioSeconds: u.AudioSeconds, ProcessingSeconds: u.ProcessingSeconds}
	_, err := l.store.RecordUsage(ctx, rec)
	if errors.Is(err, store.ErrUnavailable) && l.outbox != nil {
		l.outbox.add(rec)
		return nil
	}
	return err
}

// usageOutbox holds usage records the store could not take and writes
// them again, oldest first, until it does. The request id makes a record
// written twice count once, so retrying is safe. It lives in memory:
// records still held when the process dies are lost (the log says how
// many at shutdown).
type usageOutbox struct {
	store store.Store
	log   *slog.Logger
	every time.Duration // between two attempts
	max   int           // records held at most; beyond, the oldest go

	mu      sync.Mutex
	pending []store.UsageRecord
	dropped int
	stop    chan struct{}
	done    chan struct{}
}

// defaultOutboxMax is about 20 MB of records: hours of a busy replica.
const defaultOutboxMax = 100_000

func newUsageOutbox(s store.Store, log *slog.Logger, every time.Duration, max int) *usageOutbox {
	o := &usageOutbox{store: s, log: log, every: every, max: max, stop: make(chan struct{}), done: make(chan struct{})}
	go o.run()
	return o
}

func (o *usageOutbox) add(rec store.UsageRecord) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) == 0 {
		o.log.Warn("the store cannot record usage now; keeping it to record again", "request_id", rec.RequestID)
	}
	if len(o.pending) >= o.max {
		o.pending = o.pending[1:]
		o.dropped++
	}
	o.pending = append(o.pending, rec)
}

// held is the records waiting.
func (o *usageOutbox) held() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.pending)
}

func (o *usageOutbox) run() {
	defer close(o.done)
	t := time.NewTicker(o.every)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			ctx, cancel := context.WithTimeout(context.Background(), o.every*5)
			o.flush(ctx)
			cancel()
		}
	}
}

// flush writes the waiting records until one fails.
func (o *usageOutbox) flush(ctx context.Context) {
	for {
		o.mu.Lock()
		if len(o.pending) == 0 {
			o.mu.Unlock()
			return
		}
		rec := o.pending[0]
		o.mu.Unlock()
		if _, err := o.store.RecordUsage(ctx, rec); err != nil {
			if !errors.Is(err, store.ErrUnavailable) {
				// Not the outage: the record itself is refused; keeping it
				// would block the rest for ever.
				o.log.Error("recording usage failed", "request_id", rec.RequestID, "error", err)
				o.remove(rec)
				continue
			}
			return
		}
		if o.remove(rec) == 0 {
			o.log.Info("the store records usage again; none is waiting")
		}
	}
}

// remove takes rec off the front (where add may have dropped it since)
// and returns how many are left.
func (o *usageOutbox) remove(rec store.UsageRecord) int {
	o.mu.Lock()
	defer o.mu.Unlock()
	if len(o.pending) > 0 && o.pending[0] == rec {
		o.pending = o.pending[1:]
	}
	return len(o.pending)
}

// close stops retrying after a last attempt bounded by ctx, and logs what
// could not be recorded.
func (o *usageOutbox) close(ctx context.Context) {
	close(o.stop)
	<-o.done
	o.flush(ctx)
	o.mu.Lock()
	defer o.mu.Unlock()
	if n := len(o.pending) + o.dropped; n > 0 {
		o.log.Error("usage of requests answered while the store was out could not be recorded", "requests", n)
	}
}

// limitError is a store's refusal as every surface shows it; a store
// that failed is returned as it is (the pipeline answers 503).
func limitError(err error) error {
	var le *store.LimitError
	if !errors.As(err, &le) {
		return err
	}
	switch {
	case errors.Is(err, store.ErrQuotaExceeded):
		return &pipeline.Error{Kind: pipeline.QuotaExceeded, Code: "insufficient_quota", Err: err,
			Message: "This API key has used its monthly audio allowance; it renews on the first day of next month (UTC). 'earshot keys usage' shows the figures."}
	case errors.Is(err, store.ErrConcurrency):
		return &pipeline.Error{Kind: pipeline.RateLimited, Code: "concurrency_limit_exceeded", RetryAfter: le.RetryAfter, Err: err,
			Message: "This API key already has as many requests running as it may; retry after the Retry-After delay."}
	}
	return &pipeline.Error{Kind: pipeline.RateLimited, Code: "rate_limit_exceeded", RetryAfter: le.RetryAfter, Err: err,
		Message: "This API key has sent as many requests this minute as it may; retry after the Retry-After delay."}
}

// accounts is the HTTP API's key and usage routes over the key store.
type accounts struct{ store store.Store }

func (a accounts) CreateKey(ctx context.Context, k httpapi.NewKey, actor string) (string, httpapi.Key, error) {
	nk := store.NewKey{Name: k.Name, Actor: actor, Limits: store.Limits{RPM: k.Limits.RPM, Concurrency: k.Limits.Concurrency,
		MaxUpload: k.Limits.MaxUploadBytes, MonthlyAudioSeconds: k.Limits.MonthlyAudioSeconds}}
	for _, s := range k.Scopes {
		sc, err := store.ParseScope(s)
		if err != nil {
			return "", httpapi.Key{}, pipeline.InvalidParam("scopes", "%v.", err)
		}
		nk.Scopes = append(nk.Scopes, sc)
	}
	secret, key, err := a.store.CreateKey(ctx, nk)
	if err != nil {
		return "", httpapi.Key{}, accountError(err)
	}
	return secret, wireKey(key), nil
}

func (a accounts) Keys(ctx context.Context) ([]httpapi.Key, error) {
	ks, err := a.store.Keys(ctx)
	if err != nil {
		return nil, accountError(err)
	}
	out := make([]httpapi.Key, len(ks))
	for i, k := range ks {
		out[i] = wireKey(k)
	}
	return out, nil
}

func (a accounts) RevokeKey(ctx context.Context, id, actor string) (httpapi.Key, error) {
	k, err := a.store.RevokeKey(ctx, id, actor)
	if err != nil {
		return httpapi.Key{}, accountError(err)
	}
	return wireKey(k), nil
}

func (a accounts) Usage(ctx context.Context, q httpapi.UsageQuery) ([]httpapi.DayUsage, error) {
	days, err := a.store.Usage(ctx, store.UsageQuery{KeyID: q.KeyID, From: q.From, To: q.To})
	if err != nil {
		return nil, accountError(err)
	}
	out := make([]httpapi.DayUsage, len(days))
	for i, d := range days {
		out[i] = httpapi.DayUsage{KeyID: d.KeyID, Day: d.Day, Requests: d.Requests, AudioSeconds: d.AudioSeconds, ProcessingSeconds: d.ProcessingSeconds}
	}
	return out, nil
}

func wireKey(k store.Key) httpapi.Key {
	w := httpapi.Key{ID: k.ID, Name: k.Name, CreatedAt: k.Created.Unix(), Limits: httpapi.Limits{RPM: k.Limits.RPM,
		Concurrency: k.Limits.Concurrency, MaxUploadBytes: k.Limits.MaxUpload, MonthlyAudioSeconds: k.Limits.MonthlyAudioSeconds}}
	for _, s := range k.Scopes {
		w.Scopes = append(w.Scopes, string(s))
	}
	if !k.Revoked.IsZero() {
		r := k.Revoked.Unix()
		w.RevokedAt = &r
	}
	return w
}

// accountError is a key store's error as the HTTP API shows it.
func accountError(err error) error {
	switch {
	case errors.Is(err, store.ErrNotFound):
		return &pipeline.Error{Kind: pipeline.NotFound, Code: "key_not_found", Err: err,
			Message: "No active key has that id (GET /v1/keys lists them)."}
	case errors.Is(err, store.ErrExists):
		return &pipeline.Error{Kind: pipeline.Invalid, Param: "name", Code: "key_exists", Err: err,
			Message: "An active key already has that name; revoke it first or choose another."}
	case errors.Is(err, store.ErrInvalid):
		return &pipeline.Error{Kind: pipeline.Invalid, Code: "invalid_value", Err: err,
			Message: "The key was refused: " + trimStore(err.Error()) + "."}
	case errors.Is(err, store.ErrUnavailable):
		return &pipeline.Error{Kind: pipeline.Unavailable, Code: "store_unavailable", Err: err,
			Message: "The key store cannot be reached right now; retry in a moment."}
	}
	return err
}

func trimStore(msg string) string {
	for _, p := range []string{"store: invalid: ", "store: "} {
		if m, ok := strings.CutPrefix(msg, p); ok {
			return m
		}
	}
	return msg
}
