// Package store keeps what earshot must remember across requests, restarts
// and replicas: API keys (hashed), the per-key limits that hold across
// replicas (requests per minute, concurrent requests, monthly audio), usage
// per request, and an audit log of key management.
//
// There is one implementation, DB, over database/sql, with two backends
// chosen by the DSN given to Open: SQLite (modernc.org/sqlite, pure Go: one
// file in the data dir, WAL, a busy timeout) for one machine, and
// PostgreSQL (pgx v5, a postgres:// URL) for several replicas that share
// keys, limits and usage. Both run the same migrations, versioned in the
// binary, and pass the same conformance suite (store/storetest).
//
// Key secrets are random and never stored: the store keeps
// HMAC-SHA256(pepper, SHA-256(secret)), where the pepper is a server secret
// from the configuration, so a copy of the database alone cannot be used to
// check guesses. A key is looked up by its non-secret ID, which is the start
// of the secret, and compared in constant time.
//
// Limits are kept in the database, not in the process, so they hold across
// replicas: Allow counts requests in fixed per-minute windows (at most rpm a
// minute, a burst of up to twice that across a minute's edge), Acquire takes
// a concurrency lease that lapses at its expiry if the replica holding it
// dies, and CheckQuota compares this calendar month's (UTC) audio seconds
// with the key's allowance. Minutes, months and lease expiries are read on
// the calling replica's clock (Options.Now), so replicas need synchronized
// clocks (NTP) and lease ttls well above any skew. Usage is recorded once
// per request id: recording it again changes nothing.
//
// A DB is safe for concurrent use by many goroutines, and any number of DBs
// (processes, replicas) may share one database. Close it when done. Errors
// from the database itself wrap ErrUnavailable, so a caller can tell a store
// that is down (503) from a key that is wrong (ErrUnauthenticated, 401). On
// PostgreSQL each call a request makes (Authenticate, Allow, Acquire,
// Renew, Release, CheckQuota, RecordUsage) is ErrUnavailable after 5 s
// without an answer, so a server that stops answering cannot hold requests.
package store

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"time"
)

// Errors. Authentication failures wrap ErrUnauthenticated; limit failures
// are a *LimitError wrapping ErrRateLimited, ErrConcurrency or
// ErrQuotaExceeded.
var (
	ErrUnauthenticated = errors.New("store: invalid API key")
	ErrUnknownKey      = fmt.Errorf("%w: unknown key", ErrUnauthenticated)
	ErrRevoked         = fmt.Errorf("%w: revoked key", ErrUnauthenticated)
	ErrUnavailable     = errors.New("store: unavailable")
	ErrPepperMismatch  = errors.New("store: the key pepper differs from the one this store was created with")
	ErrSchemaTooNew    = errors.New("store: the database was migrated by a newer earshot")
	ErrNotFound        = errors.New("store: no such key")
	ErrExists          = errors.New("store: an active key with that name exists")
	ErrInvalid         = errors.New("store: invalid")
	ErrRateLimited     = errors.New("store: requests per minute exceeded")
	ErrConcurrency     = errors.New("store: too many concurrent requests")
	ErrQuotaExceeded   = errors.New("store: monthly audio quota exceeded")
	ErrLeaseExpired    = errors.New("store: lease expired")
)

// LimitError is a refusal by a limit; RetryAfter is when trying again may
// succeed (zero for a quota, which lasts until the next month).
type LimitError struct {
	Err        error // ErrRateLimited, ErrConcurrency or ErrQuotaExceeded
	RetryAfter time.Duration
}

func (e *LimitError) Error() string {
	if e.RetryAfter > 0 {
		return fmt.Sprintf("%v (retry after %v)", e.Err, e.RetryAfter)
	}
	return e.Err.Error()
}

func (e *LimitError) Unwrap() error { return e.Err }

// Scope is what a key may do.
type Scope string

// Scopes.
const (
	ScopeTranscribe Scope = "transcribe" // transcription, live sessions, MCP tools
	ScopeAdmin      Scope = "admin"      // key management and everyone's usage
)

// ParseScope checks a scope's name.
func ParseScope(s string) (Scope, error) {
	switch sc := Scope(strings.TrimSpace(s)); sc {
	case ScopeTranscribe, ScopeAdmin:
		return sc, nil
	}
	return "", fmt.Errorf("%w: scope %q (want transcribe or admin)", ErrInvalid, s)
}

// Limits bound what one key may use. Zero means no limit (for MaxUpload:
// the server's own).
type Limits struct {
	RPM                 int   // requests per minute
	Concurrency         int   // requests and live sessions at once
	MaxUpload           int64 // bytes per upload
	MonthlyAudioSeconds int64 // audio seconds per calendar month (UTC)
}

// Key is what the store shows of a key: never its secret or hash.
type Key struct {
	ID      string // the start of the secret, not secret itself
	Name    string
	Scopes  []Scope
	Limits  Limits
	Created time.Time
	Revoked time.Time // zero while active
	// OldPepper is a key still hashed under a pepper this store no longer
	// uses: it authenticates only while that pepper is among
	// Options.OldPeppers, and is re-hashed on its next use.
	OldPepper bool
}

// Active reports whether the key can be used.
func (k Key) Active() bool { return k.Revoked.IsZero() }

// Principal is the caller a key authenticates.
type Principal struct {
	KeyID  string
	Name   string
	Scopes []Scope
	Limits Limits
}

// Can reports whether the principal has scope s.
func (p Principal) Can(s Scope) bool { return slices.Contains(p.Scopes, s) }

// NewKey describes a key to create.
type NewKey struct {
	Name   string
	Scopes []Scope // default: transcribe
	Limits Limits
	Actor  string // who creates it, for the audit log
}

// Lease is a held slot of a key's concurrency limit. The zero Lease (from a
// key without a concurrency limit) holds nothing; releasing it is a no-op.
type Lease struct {
	ID      string
	KeyID   string
	Expires time.Time
}

// UsageRecord is what one completed request or live turn used.
type UsageRecord struct {
	RequestID         string // idempotency key, unique per key
	KeyID             string
	At                time.Time // when it completed; its UTC day and month count it
	AudioSeconds      float64
	ProcessingSeconds float64
}

// UsageQuery selects usage by key and UTC day.
type UsageQuery struct {
	KeyID string    // "" for every key
	From  time.Time // first day counted (its UTC date)
	To    time.Time // last day counted (its UTC date), inclusive
}

// DayUsage is one key's usage on one UTC day.
type DayUsage struct {
	KeyID             string
	Day               time.Time // UTC midnight
	Requests          int64
	AudioSeconds      float64
	ProcessingSeconds float64
}

// AuditEntry is one key-management event. It never holds a secret.
type AuditEntry struct {
	At      time.Time
	Actor   string
	Action  string // "create", "revoke" or "import"
	KeyID   string
	KeyName string
	Detail  string
}

// Store is what earshot needs from its store; *DB implements it with either
// backend, and store/storetest checks any implementation.
type Store interface {
	CreateKey(ctx context.Context, k NewKey) (secret string, key Key, err error)
	RevokeKey(ctx context.Context, idOrName, actor string) (Key, error)
	Keys(ctx context.Context) ([]Key, error)
	Authenticate(ctx context.Context, secret string) (Principal, error)

	Allow(ctx context.Context, keyID string, rpm int) error
	Acquire(ctx context.Context, keyID string, limit int, ttl time.Duration) (Lease, error)
	Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error)
	Release(ctx context.Context, l Lease) error
	CheckQuota(ctx context.Context, keyID string, monthlyAudioSeconds int64) error

	RecordUsage(ctx context.Context, u UsageRecord) (recorded bool, err error)
	Usage(ctx context.Context, q UsageQuery) ([]DayUsage, error)
	PruneUsage(ctx context.Context, before time.Time) (int64, error)
	Audit(ctx context.Context, since time.Time) ([]AuditEntry, error)

	ImportKeysFile(ctx context.Context, path, actor string) (int, error)
	Close() error
}

// Options configure a DB.
type Options struct {
	// Pepper is the server secret keyed into every key hash; required, at
	// least 16 bytes, the same on every replica. A store remembers a check
	// value of the first pepper it saw and refuses any other
	// (ErrPepperMismatch).
	Pepper []byte
	// OldPeppers rotate the pepper: a store made under one of them is
	// taken over by Pepper (its check value replaced), and a key hashed
	// under one still authenticates and is re-hashed under Pepper on that
	// use. Keep them configured until no key is left on an old pepper
	// (Key.OldPepper, `earshot keys list`); a key not used by then must be
	// made again.
	OldPeppers [][]byte
	// Now is the clock; time.Now when nil.
	Now func() time.Time
}

var _ Store = (*DB)(nil)

// Open opens the store a DSN names and applies its migrations:
// "postgres://..." or "postgresql://..." is PostgreSQL; "sqlite:PATH",
// "file:PATH" or a plain file path is SQLite.
func Open(ctx context.Context, dsn string, opt Options) (*DB, error) {
	kind, target, err := ParseDSN(dsn)
	if err != nil {
		return nil, err
	}
	switch kind {
	case "postgres":
		return openPostgres(ctx, target, opt)
	default:
		return openSQLite(ctx, target, opt)
	}
}

// ParseDSN says which backend a DSN names ("sqlite" or "postgres") and what
// to hand its driver: the URL itself, or the SQLite file's path.
func ParseDSN(dsn string) (kind, target string, err error) {
	dsn = strings.TrimSpace(dsn)
	switch {
	case dsn == "":
		return "", "", fmt.Errorf("%w: empty store DSN", ErrInvalid)
	case strings.HasPrefix(dsn, "postgres://"), strings.HasPrefix(dsn, "postgresql://"):
		return "postgres", dsn, nil
	case strings.HasPrefix(dsn, "sqlite://"):
		dsn = strings.TrimPrefix(dsn, "sqlite://")
	case strings.HasPrefix(dsn, "sqlite:"):
		dsn = strings.TrimPrefix(dsn, "sqlite:")
	case strings.HasPrefix(dsn, "file:"):
		dsn = strings.TrimPrefix(dsn, "file:")
	case strings.Contains(dsn, "://"):
		return "", "", fmt.Errorf("%w: store %q: want postgres://, sqlite: or a file path", ErrInvalid, dsn)
	}
	if dsn == "" || strings.ContainsAny(dsn, "?#") || dsn == ":memory:" {
		return "", "", fmt.Errorf("%w: SQLite store %q: want a file path (without ? or #)", ErrInvalid, dsn)
	}
	return "sqlite", dsn, nil
}
