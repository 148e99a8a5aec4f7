package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"modernc.org/sqlite"
)

// SQLite's extended result codes for a unique or primary-key violation.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
)

var sqliteDialect = &dialect{
	name:   "sqlite",
	autoID: "INTEGER PRIMARY KEY AUTOINCREMENT",
	isUnique: func(err error) bool {
		var se *sqlite.Error
		return errors.As(err, &se) && (se.Code() == sqliteConstraintUnique || se.Code() == sqliteConstraintPrimaryKey)
	},
}

// openSQLite opens (creating it, mode 0600, in a 0700 directory) the SQLite
// file at path: WAL, so readers never wait for the writer; synchronous FULL,
// so a recorded request survives a power cut; BEGIN IMMEDIATE for every
// transaction, so that writers queue on the busy timeout instead of failing
// to upgrade a read lock.
func openSQLite(ctx context.Context, path string, opt Options) (*DB, error) {
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	f.Close()
	dsn := "file:" + strings.ReplaceAll(path, "%", "%25") +
		"?_busy_timeout=10000&_journal_mode=WAL&_synchronous=FULL&_txlock=immediate&_foreign_keys=1"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.SetMaxOpenConns(8)
	return newDB(ctx, db, sqliteDialect, opt)
}

// IntegrityCheck runs SQLite's integrity check (after a crash, say) and
// returns its findings; nil means the file is sound. On PostgreSQL it does
// nothing.
func (s *DB) IntegrityCheck(ctx context.Context) error {
	if s.d != sqliteDialect {
		return nil
	}
	rows, err := s.db.QueryContext(ctx, `PRAGMA integrity_check`)
	if err != nil {
		return fail(ctx, "integrity check", err)
	}
	defer rows.Close()
	var problems []string
	for rows.Next() {
		var line string
		if err := rows.Scan(&line); err != nil {
			return fail(ctx, "integrity check", err)
		}
		if line != "ok" {
			problems = append(problems, line)
		}
	}
	if err := rows.Err(); err != nil {
		return fail(ctx, "integrity check", err)
	}
	if len(problems) > 0 {
		return fmt.Errorf("store: integrity check: %s", strings.Join(problems, "; "))
	}
	return nil
}
