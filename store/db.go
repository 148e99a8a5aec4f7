package store

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode"
)

// dialect is what differs between the backends; the SQL is otherwise shared
// and written with ? placeholders.
type dialect struct {
	name string
	// dollar placeholders ($1, $2...) instead of ?.
	dollar bool
	// autoID is the column type of an auto-incrementing primary key.
	autoID string
	// lockMigrations, when set, is run first in the migration transaction so
	// that replicas starting together migrate one at a time (SQLite's
	// BEGIN IMMEDIATE already does).
	lockMigrations string
	// isUnique reports a unique-constraint violation.
	isUnique func(error) bool
	// callTimeout, when set, bounds each call a request makes (see bound).
	callTimeout time.Duration
}

// DB is a store on SQLite or PostgreSQL; see the package doc.
type DB struct {
	db  *sql.DB
	d   *dialect
	h   hasher
	old []hasher // Options.OldPeppers
	now func() time.Time
}

func newDB(ctx context.Context, sqldb *sql.DB, d *dialect, opt Options) (*DB, error) {
	if len(opt.Pepper) < 16 {
		sqldb.Close()
		return nil, fmt.Errorf("%w: the key pepper must be at least 16 bytes", ErrInvalid)
	}
	s := &DB{db: sqldb, d: d, h: hasher{pepper: slices.Clone(opt.Pepper)}, now: opt.Now}
	for _, p := range opt.OldPeppers {
		if len(p) < 16 {
			sqldb.Close()
			return nil, fmt.Errorf("%w: an old key pepper must be at least 16 bytes", ErrInvalid)
		}
		s.old = append(s.old, hasher{pepper: slices.Clone(p)})
	}
	if s.now == nil {
		s.now = time.Now
	}
	if _, err := s.Migrate(ctx); err != nil {
		sqldb.Close()
		return nil, err
	}
	if err := s.checkPepper(ctx); err != nil {
		sqldb.Close()
		return nil, err
	}
	return s, nil
}

// Backend is "sqlite" or "postgres".
func (s *DB) Backend() string { return s.d.name }

// Close closes the database.
func (s *DB) Close() error { return s.db.Close() }

// q rewrites ? placeholders for the dialect.
func (s *DB) q(query string) string {
	if !s.d.dollar {
		return query
	}
	var b strings.Builder
	n := 0
	for _, c := range query {
		if c == '?' {
			n++
			b.WriteString("$" + strconv.Itoa(n))
			continue
		}
		b.WriteRune(c)
	}
	return b.String()
}

// errNoAnswer is the cause of a call that ran out of its callTimeout.
var errNoAnswer = errors.New("the database did not answer in time")

// bound limits ctx to the dialect's callTimeout: a database server that
// stops answering (a network partition sends no reset) makes the calls of
// a request ErrUnavailable within it, instead of holding the request until
// TCP gives up. Only the calls every request makes are bounded, not
// migrations, pruning or key management.
func (s *DB) bound(ctx context.Context) (context.Context, context.CancelFunc) {
	if s.d.callTimeout <= 0 {
		return ctx, func() {}
	}
	return context.WithTimeoutCause(ctx, s.d.callTimeout, errNoAnswer)
}

// fail wraps a database error: the caller's own cancellation as is, anything
// else (a call out of its callTimeout included) as ErrUnavailable.
func fail(ctx context.Context, op string, err error) error {
	if ctx.Err() != nil {
		if cause := context.Cause(ctx); errors.Is(cause, errNoAnswer) {
			return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, cause)
		}
		return fmt.Errorf("store: %s: %w", op, ctx.Err())
	}
	return fmt.Errorf("%w: %s: %w", ErrUnavailable, op, err)
}

// migrations are applied in order, each once; never edit one that has
// shipped, add another. %AUTOID% is the dialect's auto-incrementing key.
var migrations = [][]string{
	1: {
		`CREATE TABLE meta (k TEXT PRIMARY KEY, v TEXT NOT NULL)`,
		`CREATE TABLE api_keys (
			id TEXT PRIMARY KEY,
			name TEXT NOT NULL,
			hash TEXT NOT NULL,
			scopes TEXT NOT NULL,
			rpm BIGINT NOT NULL,
			concurrency BIGINT NOT NULL,
			max_upload BIGINT NOT NULL,
			monthly_audio_seconds BIGINT NOT NULL,
			created BIGINT NOT NULL,
			revoked BIGINT
		)`,
		`CREATE UNIQUE INDEX api_keys_active_name ON api_keys (name) WHERE revoked IS NULL`,
		`CREATE TABLE rate_windows (key_id TEXT NOT NULL, minute BIGINT NOT NULL, n BIGINT NOT NULL, PRIMARY KEY (key_id, minute))`,
		`CREATE TABLE key_locks (key_id TEXT PRIMARY KEY, n BIGINT NOT NULL)`,
		`CREATE TABLE leases (id TEXT PRIMARY KEY, key_id TEXT NOT NULL, expires BIGINT NOT NULL)`,
		`CREATE INDEX leases_key ON leases (key_id, expires)`,
		`CREATE TABLE usage_records (
			key_id TEXT NOT NULL,
			request_id TEXT NOT NULL,
			at BIGINT NOT NULL,
			audio_seconds DOUBLE PRECISION NOT NULL,
			processing_seconds DOUBLE PRECISION NOT NULL,
			PRIMARY KEY (key_id, request_id)
		)`,
		`CREATE INDEX usage_records_at ON usage_records (at)`,
		`CREATE TABLE usage_days (
			key_id TEXT NOT NULL,
			day BIGINT NOT NULL,
			requests BIGINT NOT NULL,
			audio_seconds DOUBLE PRECISION NOT NULL,
			processing_seconds DOUBLE PRECISION NOT NULL,
			PRIMARY KEY (key_id, day)
		)`,
		`CREATE INDEX usage_days_day ON usage_days (day)`,
		`CREATE TABLE audit (
			id %AUTOID%,
			at BIGINT NOT NULL,
			actor TEXT NOT NULL,
			action TEXT NOT NULL,
			key_id TEXT NOT NULL,
			key_name TEXT NOT NULL,
			detail TEXT NOT NULL
		)`,
	},
	// Each key records the check value of the pepper its hash is under,
	// so that a pepper rotation can tell the keys not yet re-hashed.
	2: {
		`ALTER TABLE api_keys ADD COLUMN pepper TEXT NOT NULL DEFAULT ''`,
		`UPDATE api_keys SET pepper = COALESCE((SELECT v FROM meta WHERE k = 'pepper_check'), '')`,
	},
}

// SchemaVersion is the newest migration this binary knows.
func SchemaVersion() int { return len(migrations) - 1 }

// Migrate applies the migrations the database lacks, in one transaction,
// and returns how many it applied; a second call applies none. A database
// migrated by a newer binary is ErrSchemaTooNew.
func (s *DB) Migrate(ctx context.Context) (int, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fail(ctx, "migrate", err)
	}
	defer tx.Rollback()
	if s.d.lockMigrations != "" {
		if _, err := tx.ExecContext(ctx, s.d.lockMigrations); err != nil {
			return 0, fail(ctx, "migrate", err)
		}
	}
	if _, err := tx.ExecContext(ctx, `CREATE TABLE IF NOT EXISTS schema_migrations (version BIGINT PRIMARY KEY, applied BIGINT NOT NULL)`); err != nil {
		return 0, fail(ctx, "migrate", err)
	}
	var cur int
	if err := tx.QueryRowContext(ctx, `SELECT COALESCE(MAX(version), 0) FROM schema_migrations`).Scan(&cur); err != nil {
		return 0, fail(ctx, "migrate", err)
	}
	if cur > SchemaVersion() {
		return 0, fmt.Errorf("%w (schema %d, this binary knows %d)", ErrSchemaTooNew, cur, SchemaVersion())
	}
	for v := cur + 1; v <= SchemaVersion(); v++ {
		for _, stmt := range migrations[v] {
			if _, err := tx.ExecContext(ctx, strings.ReplaceAll(stmt, "%AUTOID%", s.d.autoID)); err != nil {
				return 0, fail(ctx, fmt.Sprintf("migration %d", v), err)
			}
		}
		if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO schema_migrations (version, applied) VALUES (?, ?)`), v, s.now().UnixMilli()); err != nil {
			return 0, fail(ctx, "migrate", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fail(ctx, "migrate", err)
	}
	return SchemaVersion() - cur, nil
}

func (s *DB) checkPepper(ctx context.Context) error {
	want := s.h.check()
	if _, err := s.db.ExecContext(ctx, s.q(`INSERT INTO meta (k, v) VALUES ('pepper_check', ?) ON CONFLICT (k) DO NOTHING`), want); err != nil {
		return fail(ctx, "pepper check", err)
	}
	var got string
	if err := s.db.QueryRowContext(ctx, `SELECT v FROM meta WHERE k = 'pepper_check'`).Scan(&got); err != nil {
		return fail(ctx, "pepper check", err)
	}
	if equalHash(got, want) {
		return nil
	}
	// A rotation: the store was made under an old pepper, and Pepper
	// takes it over. Its keys move to Pepper one by one as they are used.
	for _, h := range s.old {
		if equalHash(got, h.check()) {
			if _, err := s.db.ExecContext(ctx, s.q(`UPDATE meta SET v = ? WHERE k = 'pepper_check' AND v = ?`), want, got); err != nil {
				return fail(ctx, "pepper check", err)
			}
			return nil
		}
	}
	return ErrPepperMismatch
}

func joinScopes(sc []Scope) string {
	parts := make([]string, len(sc))
	for i, s := range sc {
		parts[i] = string(s)
	}
	return strings.Join(parts, ",")
}

func splitScopes(s string) []Scope {
	var out []Scope
	for p := range strings.SplitSeq(s, ",") {
		if p != "" {
			out = append(out, Scope(p))
		}
	}
	return out
}

func normScopes(in []Scope) ([]Scope, error) {
	if len(in) == 0 {
		return []Scope{ScopeTranscribe}, nil
	}
	var out []Scope
	for _, s := range in {
		sc, err := ParseScope(string(s))
		if err != nil {
			return nil, err
		}
		if !slices.Contains(out, sc) {
			out = append(out, sc)
		}
	}
	slices.Sort(out)
	return out, nil
}

func checkName(name string) error {
	if name == "" {
		return fmt.Errorf("%w: a key needs a name", ErrInvalid)
	}
	if len(name) > 200 || strings.ContainsFunc(name, unicode.IsControl) {
		return fmt.Errorf("%w: key name %q: at most 200 printable characters", ErrInvalid, name)
	}
	return nil
}

func msTime(ms int64) time.Time { return time.UnixMilli(ms).UTC() }

const keyColumns = `id, name, scopes, rpm, concurrency, max_upload, monthly_audio_seconds, created, revoked`

type scanner interface{ Scan(...any) error }

func scanKey(r scanner, extra ...any) (Key, error) {
	var k Key
	var scopes string
	var rpm, conc, created int64
	var revoked sql.NullInt64
	dest := append([]any{&k.ID, &k.Name, &scopes, &rpm, &conc, &k.Limits.MaxUpload, &k.Limits.MonthlyAudioSeconds, &created, &revoked}, extra...)
	if err := r.Scan(dest...); err != nil {
		return Key{}, err
	}
	k.Scopes = splitScopes(scopes)
	k.Limits.RPM, k.Limits.Concurrency = int(rpm), int(conc)
	k.Created = msTime(created)
	if revoked.Valid {
		k.Revoked = msTime(revoked.Int64)
	}
	return k, nil
}

func (s *DB) audit(ctx context.Context, tx *sql.Tx, at time.Time, actor, action string, k Key, detail string) error {
	_, err := tx.ExecContext(ctx, s.q(`INSERT INTO audit (at, actor, action, key_id, key_name, detail) VALUES (?, ?, ?, ?, ?, ?)`),
		at.UnixMilli(), actor, action, k.ID, k.Name, detail)
	return err
}

// CreateKey makes a key and returns its secret: the only time it exists
// outside the caller's hands.
func (s *DB) CreateKey(ctx context.Context, nk NewKey) (string, Key, error) {
	name := strings.TrimSpace(nk.Name)
	if err := checkName(name); err != nil {
		return "", Key{}, err
	}
	scopes, err := normScopes(nk.Scopes)
	if err != nil {
		return "", Key{}, err
	}
	l := nk.Limits
	if l.RPM < 0 || l.Concurrency < 0 || l.MaxUpload < 0 || l.MonthlyAudioSeconds < 0 {
		return "", Key{}, fmt.Errorf("%w: limits cannot be negative", ErrInvalid)
	}
	secret, id, err := newSecret()
	if err != nil {
		return "", Key{}, err
	}
	k := Key{ID: id, Name: name, Scopes: scopes, Limits: l, Created: msTime(s.now().UnixMilli())}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return "", Key{}, fail(ctx, "create key", err)
	}
	defer tx.Rollback()
	_, err = tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (`+keyColumns+`, hash, pepper) VALUES (?, ?, ?, ?, ?, ?, ?, ?, NULL, ?, ?)`),
		k.ID, k.Name, joinScopes(k.Scopes), l.RPM, l.Concurrency, l.MaxUpload, l.MonthlyAudioSeconds, k.Created.UnixMilli(), s.h.hash(secret), s.h.check())
	if err != nil {
		if s.d.isUnique(err) {
			return "", Key{}, fmt.Errorf("%w: %q", ErrExists, name)
		}
		return "", Key{}, fail(ctx, "create key", err)
	}
	detail := fmt.Sprintf("scopes=%s rpm=%d concurrency=%d max_upload=%d monthly_audio_seconds=%d",
		joinScopes(scopes), l.RPM, l.Concurrency, l.MaxUpload, l.MonthlyAudioSeconds)
	if err := s.audit(ctx, tx, k.Created, nk.Actor, "create", k, detail); err != nil {
		return "", Key{}, fail(ctx, "create key", err)
	}
	if err := tx.Commit(); err != nil {
		return "", Key{}, fail(ctx, "create key", err)
	}
	return secret, k, nil
}

// RevokeKey revokes the active key whose ID (preferred) or name is
// idOrName; requests with it fail from then on, on every replica.
func (s *DB) RevokeKey(ctx context.Context, idOrName, actor string) (Key, error) {
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Key{}, fail(ctx, "revoke key", err)
	}
	defer tx.Rollback()
	row := tx.QueryRowContext(ctx, s.q(`SELECT `+keyColumns+` FROM api_keys
		WHERE (id = ? OR name = ?) AND revoked IS NULL
		ORDER BY CASE WHEN id = ? THEN 0 ELSE 1 END LIMIT 1`), idOrName, idOrName, idOrName)
	k, err := scanKey(row)
	if errors.Is(err, sql.ErrNoRows) {
		return Key{}, fmt.Errorf("%w: %q", ErrNotFound, idOrName)
	}
	if err != nil {
		return Key{}, fail(ctx, "revoke key", err)
	}
	now := s.now()
	res, err := tx.ExecContext(ctx, s.q(`UPDATE api_keys SET revoked = ? WHERE id = ? AND revoked IS NULL`), now.UnixMilli(), k.ID)
	if err != nil {
		return Key{}, fail(ctx, "revoke key", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Key{}, fail(ctx, "revoke key", err)
	} else if n == 0 { // revoked meanwhile by another replica
		return Key{}, fmt.Errorf("%w: %q", ErrNotFound, idOrName)
	}
	k.Revoked = msTime(now.UnixMilli())
	if err := s.audit(ctx, tx, now, actor, "revoke", k, ""); err != nil {
		return Key{}, fail(ctx, "revoke key", err)
	}
	if err := tx.Commit(); err != nil {
		return Key{}, fail(ctx, "revoke key", err)
	}
	return k, nil
}

// Keys lists every key, revoked ones included, oldest first.
func (s *DB) Keys(ctx context.Context) ([]Key, error) {
	rows, err := s.db.QueryContext(ctx, `SELECT `+keyColumns+`, pepper FROM api_keys ORDER BY created, id`)
	if err != nil {
		return nil, fail(ctx, "list keys", err)
	}
	defer rows.Close()
	var out []Key
	current := s.h.check()
	for rows.Next() {
		var pepper string
		k, err := scanKey(rows, &pepper)
		if err != nil {
			return nil, fail(ctx, "list keys", err)
		}
		k.OldPepper = pepper != current
		out = append(out, k)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "list keys", err)
	}
	return out, nil
}

// Authenticate finds the key a secret belongs to. A secret that matches no
// key is ErrUnknownKey, a revoked one ErrRevoked (both wrap
// ErrUnauthenticated); a store that cannot answer is ErrUnavailable.
func (s *DB) Authenticate(ctx context.Context, secret string) (Principal, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	id, ok := KeyID(secret)
	if !ok {
		return Principal{}, ErrUnknownKey
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT `+keyColumns+`, hash FROM api_keys WHERE id = ?`), id)
	if err != nil {
		return Principal{}, fail(ctx, "authenticate", err)
	}
	defer rows.Close()
	want := s.h.hash(secret)
	olds := make([]string, len(s.old))
	for i, h := range s.old {
		olds[i] = h.hash(secret)
	}
	var found *Key
	var oldHash string // the hash found under an old pepper
	for rows.Next() {
		var hash string
		k, err := scanKey(rows, &hash)
		if err != nil {
			return Principal{}, fail(ctx, "authenticate", err)
		}
		// Every row with this ID is compared, in constant time.
		if equalHash(hash, want) && found == nil {
			found = &k
		}
		for _, o := range olds {
			if equalHash(hash, o) && found == nil {
				found, oldHash = &k, hash
			}
		}
	}
	if err := rows.Err(); err != nil {
		return Principal{}, fail(ctx, "authenticate", err)
	}
	rows.Close()
	if oldHash != "" {
		// Moved to the current pepper now; if this fails, the next use
		// tries again.
		_, _ = s.db.ExecContext(ctx, s.q(`UPDATE api_keys SET hash = ?, pepper = ? WHERE id = ? AND hash = ?`), want, s.h.check(), found.ID, oldHash)
	}
	switch {
	case found == nil:
		return Principal{}, ErrUnknownKey
	case !found.Active():
		return Principal{}, ErrRevoked
	}
	return Principal{KeyID: found.ID, Name: found.Name, Scopes: found.Scopes, Limits: found.Limits}, nil
}

// Allow counts one request against a key's per-minute limit, or refuses it
// with a *LimitError (ErrRateLimited) whose RetryAfter is the time left in
// this minute. Refused requests are not counted. rpm <= 0 is no limit.
func (s *DB) Allow(ctx context.Context, keyID string, rpm int) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if rpm <= 0 {
		return nil
	}
	now := s.now()
	minute := now.Unix() / 60
	var n int64
	err := s.db.QueryRowContext(ctx, s.q(`INSERT INTO rate_windows (key_id, minute, n) VALUES (?, ?, 1)
		ON CONFLICT (key_id, minute) DO UPDATE SET n = rate_windows.n + 1 WHERE rate_windows.n < ?
		RETURNING n`), keyID, minute, rpm).Scan(&n)
	if errors.Is(err, sql.ErrNoRows) {
		return &LimitError{Err: ErrRateLimited, RetryAfter: time.Unix((minute+1)*60, 0).Sub(now)}
	}
	if err != nil {
		return fail(ctx, "rate limit", err)
	}
	if n == 1 { // a new window: forget the old ones, this key's and others'
		if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM rate_windows WHERE minute < ?`), minute); err != nil {
			return fail(ctx, "rate limit", err)
		}
	}
	return nil
}

// leaseRetry is the Retry-After of a refused lease: leases end when requests
// do, which the store cannot foresee.
const leaseRetry = time.Second

func newLeaseID() (string, error) {
	var b [16]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", fmt.Errorf("store: %w", err)
	}
	return hex.EncodeToString(b[:]), nil
}

// Acquire takes one of a key's limit concurrent slots for ttl, or refuses
// with a *LimitError (ErrConcurrency). Release the lease when the request or
// session ends; Renew it before ttl passes for work that lasts longer. A
// lease its holder never releases (a killed replica) lapses after ttl.
// limit <= 0 is no limit and returns the zero Lease.
func (s *DB) Acquire(ctx context.Context, keyID string, limit int, ttl time.Duration) (Lease, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if limit <= 0 {
		return Lease{}, nil
	}
	if ttl <= 0 {
		return Lease{}, fmt.Errorf("%w: lease ttl %v", ErrInvalid, ttl)
	}
	id, err := newLeaseID()
	if err != nil {
		return Lease{}, err
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return Lease{}, fail(ctx, "acquire", err)
	}
	defer tx.Rollback()
	// Lock the key's row first, so that acquisitions for one key take turns
	// (PostgreSQL's row lock; SQLite's BEGIN IMMEDIATE already serializes).
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO key_locks (key_id, n) VALUES (?, 1)
		ON CONFLICT (key_id) DO UPDATE SET n = key_locks.n + 1`), keyID); err != nil {
		return Lease{}, fail(ctx, "acquire", err)
	}
	now := s.now()
	if _, err := tx.ExecContext(ctx, s.q(`DELETE FROM leases WHERE key_id = ? AND expires <= ?`), keyID, now.UnixMilli()); err != nil {
		return Lease{}, fail(ctx, "acquire", err)
	}
	var held int
	if err := tx.QueryRowContext(ctx, s.q(`SELECT COUNT(*) FROM leases WHERE key_id = ?`), keyID).Scan(&held); err != nil {
		return Lease{}, fail(ctx, "acquire", err)
	}
	if held >= limit {
		return Lease{}, &LimitError{Err: ErrConcurrency, RetryAfter: leaseRetry}
	}
	l := Lease{ID: id, KeyID: keyID, Expires: msTime(now.Add(ttl).UnixMilli())}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO leases (id, key_id, expires) VALUES (?, ?, ?)`), l.ID, l.KeyID, l.Expires.UnixMilli()); err != nil {
		return Lease{}, fail(ctx, "acquire", err)
	}
	if err := tx.Commit(); err != nil {
		return Lease{}, fail(ctx, "acquire", err)
	}
	return l, nil
}

// Renew extends a held lease to ttl from now; a lease that has lapsed is
// ErrLeaseExpired (its slot may be someone else's by now).
func (s *DB) Renew(ctx context.Context, l Lease, ttl time.Duration) (Lease, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if l.ID == "" {
		return l, nil
	}
	now := s.now()
	l.Expires = msTime(now.Add(ttl).UnixMilli())
	res, err := s.db.ExecContext(ctx, s.q(`UPDATE leases SET expires = ? WHERE id = ? AND expires > ?`), l.Expires.UnixMilli(), l.ID, now.UnixMilli())
	if err != nil {
		return Lease{}, fail(ctx, "renew", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return Lease{}, fail(ctx, "renew", err)
	} else if n == 0 {
		return Lease{}, ErrLeaseExpired
	}
	return l, nil
}

// Release gives a lease's slot back. Releasing twice, or a lapsed lease, is
// not an error.
func (s *DB) Release(ctx context.Context, l Lease) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if l.ID == "" {
		return nil
	}
	if _, err := s.db.ExecContext(ctx, s.q(`DELETE FROM leases WHERE id = ?`), l.ID); err != nil {
		return fail(ctx, "release", err)
	}
	return nil
}

// day is the UTC day number (days since 1970-01-01) of t.
func day(t time.Time) int64 {
	return int64(math.Floor(float64(t.Unix()) / 86400))
}

func dayTime(d int64) time.Time { return time.Unix(d*86400, 0).UTC() }

// CheckQuota refuses (a *LimitError wrapping ErrQuotaExceeded) once the key
// has used monthlyAudioSeconds of audio in this calendar month (UTC). The
// check is made before a request, so the request that crosses the line
// completes. monthlyAudioSeconds <= 0 is no quota.
func (s *DB) CheckQuota(ctx context.Context, keyID string, monthlyAudioSeconds int64) error {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if monthlyAudioSeconds <= 0 {
		return nil
	}
	now := s.now().UTC()
	first := time.Date(now.Year(), now.Month(), 1, 0, 0, 0, 0, time.UTC)
	var used float64
	err := s.db.QueryRowContext(ctx, s.q(`SELECT COALESCE(SUM(audio_seconds), 0) FROM usage_days WHERE key_id = ? AND day >= ? AND day < ?`),
		keyID, day(first), day(first.AddDate(0, 1, 0))).Scan(&used)
	if err != nil {
		return fail(ctx, "quota", err)
	}
	if used >= float64(monthlyAudioSeconds) {
		return &LimitError{Err: ErrQuotaExceeded}
	}
	return nil
}

// RecordUsage records what a completed request used, once: recording the
// same (KeyID, RequestID) again, even at the same moment from another
// replica, changes nothing and reports false.
func (s *DB) RecordUsage(ctx context.Context, u UsageRecord) (bool, error) {
	ctx, cancel := s.bound(ctx)
	defer cancel()
	if u.RequestID == "" || u.KeyID == "" {
		return false, fmt.Errorf("%w: usage needs a request id and a key id", ErrInvalid)
	}
	for _, v := range []float64{u.AudioSeconds, u.ProcessingSeconds} {
		if v < 0 || math.IsNaN(v) || math.IsInf(v, 0) {
			return false, fmt.Errorf("%w: usage seconds %v", ErrInvalid, v)
		}
	}
	if u.At.IsZero() {
		u.At = s.now()
	}
	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return false, fail(ctx, "record usage", err)
	}
	defer tx.Rollback()
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_records (key_id, request_id, at, audio_seconds, processing_seconds)
		VALUES (?, ?, ?, ?, ?) ON CONFLICT (key_id, request_id) DO NOTHING`),
		u.KeyID, u.RequestID, u.At.UnixMilli(), u.AudioSeconds, u.ProcessingSeconds)
	if err != nil {
		return false, fail(ctx, "record usage", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return false, fail(ctx, "record usage", err)
	} else if n == 0 {
		return false, nil
	}
	if _, err := tx.ExecContext(ctx, s.q(`INSERT INTO usage_days (key_id, day, requests, audio_seconds, processing_seconds)
		VALUES (?, ?, 1, ?, ?) ON CONFLICT (key_id, day) DO UPDATE SET
			requests = usage_days.requests + 1,
			audio_seconds = usage_days.audio_seconds + excluded.audio_seconds,
			processing_seconds = usage_days.processing_seconds + excluded.processing_seconds`),
		u.KeyID, day(u.At), u.AudioSeconds, u.ProcessingSeconds); err != nil {
		return false, fail(ctx, "record usage", err)
	}
	if err := tx.Commit(); err != nil {
		return false, fail(ctx, "record usage", err)
	}
	return true, nil
}

// PruneUsage forgets the per-request records (the idempotency keys) of
// requests completed before before, and returns how many; the daily totals
// that Usage and CheckQuota read stay. Run it now and then (a server might
// keep a few days: a duplicate older than that is counted again).
func (s *DB) PruneUsage(ctx context.Context, before time.Time) (int64, error) {
	res, err := s.db.ExecContext(ctx, s.q(`DELETE FROM usage_records WHERE at < ?`), before.UnixMilli())
	if err != nil {
		return 0, fail(ctx, "prune usage", err)
	}
	n, err := res.RowsAffected()
	if err != nil {
		return 0, fail(ctx, "prune usage", err)
	}
	return n, nil
}

// Usage returns usage per key and UTC day, by day then key. A zero From is
// the beginning, a zero To the end.
func (s *DB) Usage(ctx context.Context, q UsageQuery) ([]DayUsage, error) {
	from, to := int64(math.MinInt64), int64(math.MaxInt64)
	if !q.From.IsZero() {
		from = day(q.From)
	}
	if !q.To.IsZero() {
		to = day(q.To)
	}
	query := `SELECT key_id, day, requests, audio_seconds, processing_seconds FROM usage_days WHERE day >= ? AND day <= ?`
	args := []any{from, to}
	if q.KeyID != "" {
		query += ` AND key_id = ?`
		args = append(args, q.KeyID)
	}
	rows, err := s.db.QueryContext(ctx, s.q(query+` ORDER BY day, key_id`), args...)
	if err != nil {
		return nil, fail(ctx, "usage", err)
	}
	defer rows.Close()
	var out []DayUsage
	for rows.Next() {
		var u DayUsage
		var d int64
		if err := rows.Scan(&u.KeyID, &d, &u.Requests, &u.AudioSeconds, &u.ProcessingSeconds); err != nil {
			return nil, fail(ctx, "usage", err)
		}
		u.Day = dayTime(d)
		out = append(out, u)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "usage", err)
	}
	return out, nil
}

// Audit returns the key-management log from since on, oldest first.
func (s *DB) Audit(ctx context.Context, since time.Time) ([]AuditEntry, error) {
	var from int64 = math.MinInt64
	if !since.IsZero() {
		from = since.UnixMilli()
	}
	rows, err := s.db.QueryContext(ctx, s.q(`SELECT at, actor, action, key_id, key_name, detail FROM audit WHERE at >= ? ORDER BY id`), from)
	if err != nil {
		return nil, fail(ctx, "audit", err)
	}
	defer rows.Close()
	var out []AuditEntry
	for rows.Next() {
		var e AuditEntry
		var at int64
		if err := rows.Scan(&at, &e.Actor, &e.Action, &e.KeyID, &e.KeyName, &e.Detail); err != nil {
			return nil, fail(ctx, "audit", err)
		}
		e.At = msTime(at)
		out = append(out, e)
	}
	if err := rows.Err(); err != nil {
		return nil, fail(ctx, "audit", err)
	}
	return out, nil
}
