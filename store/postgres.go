package store

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/stdlib"
)

// pgUniqueViolation is PostgreSQL's SQLSTATE for a unique violation.
const pgUniqueViolation = "23505"

// pgMigrationLock is the advisory lock key replicas take while migrating.
const pgMigrationLock = 0x65617273 // "ears"

var postgresDialect = &dialect{
	name:           "postgres",
	dollar:         true,
	autoID:         "BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY",
	lockMigrations: fmt.Sprintf("SELECT pg_advisory_xact_lock(%d)", pgMigrationLock),
	isUnique: func(err error) bool {
		var pe *pgconn.PgError
		return errors.As(err, &pe) && pe.Code == pgUniqueViolation
	},
	callTimeout: pgCallTimeout,
}

// pgCallTimeout bounds each call a request makes, as connect_timeout
// bounds connecting: 5 s, long against a busy server's lock waits.
const pgCallTimeout = 5 * time.Second

// openPostgres connects to the PostgreSQL server a postgres:// URL names
// (libpq's parameters apply: sslmode, search_path, connect_timeout, which
// defaults to 5 s here so that a server that is gone is an error, not a
// hang).
func openPostgres(ctx context.Context, url string, opt Options) (*DB, error) {
	cfg, err := pgx.ParseConfig(url)
	if err != nil {
		return nil, fmt.Errorf("%w: store URL: %w", ErrInvalid, err)
	}
	if cfg.ConnectTimeout == 0 {
		cfg.ConnectTimeout = 5 * time.Second
	}
	db := stdlib.OpenDB(*cfg)
	db.SetMaxOpenConns(16)
	db.SetConnMaxIdleTime(5 * time.Minute)
	return newDB(ctx, db, postgresDialect, opt)
}
