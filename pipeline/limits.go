package pipeline

import (
	"context"
	"errors"
	"strconv"
	"time"
)

// Limits are a key's limits (0: none). The store keeps them; the
// pipeline and the surfaces enforce them.
type Limits struct {
	// RPM is requests per minute; Concurrency requests (or live
	// sessions) at once.
	RPM, Concurrency int
	// MaxUpload is the largest audio file in bytes.
	MaxUpload int64
	// MonthlyAudioSeconds is the audio a key may have transcribed in a
	// calendar month.
	MonthlyAudioSeconds int64
}

// Usage is what one completed request cost, recorded once per RequestID.
type Usage struct {
	RequestID         string
	At                time.Time
	AudioSeconds      float64
	ProcessingSeconds float64
}

// Limiter admits requests within their caller's limits and records what
// they used (the store, shared by every replica). Admit's error is an
// *Error of kind RateLimited (with RetryAfter) or QuotaExceeded, or any
// other error when the store fails (answered as Unavailable); release
// ends the request's concurrency lease.
type Limiter interface {
	Admit(ctx context.Context, p Principal) (release func(), err error)
	Record(ctx context.Context, p Principal, u Usage) error
}

// storeRetry is the Retry-After of an answer given while the key store
// cannot be reached: a store call gives up after 5 s, so a client that
// waits a second and retries is not hammering it.
const storeRetry = time.Second

// admit runs the caller's limits for one request; with no limiter or no
// principal (a caller inside earshot) it admits everything.
func (p *Pipeline) admit(ctx context.Context) (func(), error) {
	who, ok := FromContext(ctx)
	if p.cfg.Limits == nil || !ok || who.Anonymous {
		return func() {}, nil
	}
	release, err := p.cfg.Limits.Admit(ctx, who)
	if err != nil {
		var e *Error
		if errors.As(err, &e) {
			return nil, e
		}
		p.cfg.Logger.Error("checking a key's limits failed", "key", who.KeyID, "error", err)
		return nil, &Error{Kind: Unavailable, Code: "limits_unavailable", Err: err, RetryAfter: storeRetry,
			Message: "The server cannot reach its key store to check this key's limits right now; retry in a moment."}
	}
	return release, nil
}

// AdmitCaller runs the limits of the key in ctx for one metered request
// (see Request.Metered): a live session, admitted at its handshake and
// holding its concurrency lease until release.
func (p *Pipeline) AdmitCaller(ctx context.Context) (release func(), err error) { return p.admit(ctx) }

// QuotaChecker is a Limiter that can also say, between the turns of a
// metered request (a live session, admitted once), whether its key's
// monthly quota is spent.
type QuotaChecker interface {
	CheckQuota(ctx context.Context, p Principal) error
}

// CheckQuota is a QuotaExceeded *Error once the key in ctx has spent its
// monthly quota, else nil. A store that cannot answer lets the caller go
// on (it was admitted; the next check may answer) and is logged.
func (p *Pipeline) CheckQuota(ctx context.Context) error {
	who, ok := FromContext(ctx)
	q, can := p.cfg.Limits.(QuotaChecker)
	if !can || !ok || who.Anonymous {
		return nil
	}
	err := q.CheckQuota(ctx, who)
	var e *Error
	if errors.As(err, &e) && e.Kind == QuotaExceeded {
		return e
	}
	if err != nil {
		p.cfg.Logger.Warn("checking a key's quota failed; the session goes on", "key", who.KeyID, "error", err)
	}
	return nil
}

// RecordUsage records what a metered request used, once per id.
func (p *Pipeline) RecordUsage(ctx context.Context, id string, audioSeconds float64, took time.Duration) {
	p.record(ctx, id, audioSeconds, took)
}

// record stores a completed request's usage; a failure is logged, never
// the caller's: the transcription has been done.
func (p *Pipeline) record(ctx context.Context, id string, audioSeconds float64, took time.Duration) {
	who, ok := FromContext(ctx)
	if p.cfg.Limits == nil || !ok || who.Anonymous {
		return
	}
	u := Usage{RequestID: id, At: time.Now(), AudioSeconds: audioSeconds, ProcessingSeconds: took.Seconds()}
	// The request's own context may be ending (a client that hung up on a
	// finished answer); its usage still counts.
	ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	defer cancel()
	if err := p.cfg.Limits.Record(ctx, who, u); err != nil {
		p.cfg.Logger.Error("recording usage failed", "key", who.KeyID, "request_id", id, "error", err)
	}
}

// UploadLimit is the largest upload the caller in ctx may send, server
// being the server's own limit: the key's limit where it is smaller. what
// names that limit for a message ("this API key's upload limit of 64 KiB",
// "this server's upload limit of 25 MiB"), the same words on every surface.
func UploadLimit(ctx context.Context, server int64) (limit int64, what string, byKey bool) {
	if who, ok := FromContext(ctx); ok && who.Limits.MaxUpload > 0 && who.Limits.MaxUpload < server {
		return who.Limits.MaxUpload, "this API key's upload limit of " + SizeText(who.Limits.MaxUpload), true
	}
	return server, "this server's upload limit of " + SizeText(server), false
}

// SizeText is a byte count as people read limits: "25 MiB", "512 KiB",
// "100 bytes".
func SizeText(n int64) string {
	switch {
	case n >= 1<<20 && n%(1<<20) == 0:
		return strconv.FormatInt(n>>20, 10) + " MiB"
	case n >= 1<<10 && n%(1<<10) == 0:
		return strconv.FormatInt(n>>10, 10) + " KiB"
	}
	return strconv.FormatInt(n, 10) + " bytes"
}
