package store

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"

	"modernc.org/sqlite"
)

// SQLite's extended result codes for a unique or primary-key violation.
const (
	sqliteConstraintPrimaryKey = 1555
	sqliteConstraintUnique     = 2067
	sqliteBusy                 = 5
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
		"?_busy_timeout=" + strconv.Itoa(int(sqliteBusyTimeout/time.Millisecond)) + "&_synchronous=FULL&_txlock=immediate"
	db, err := sql.Open("sqlite", dsn)
	if err != nil {
		return nil, fmt.Errorf("store: %w", err)
	}
	db.SetMaxOpenConns(8)
	if err := walMode(ctx, db); err != nil {
		db.Close()
		return nil, err
	}
	return newDB(ctx, db, sqliteDialect, opt)
}

// sqliteBusyTimeout is how long a statement waits for another writer.
const sqliteBusyTimeout = 10 * time.Second

// walMode puts the file in WAL mode, which lasts (every later connection
// finds it so). Turning a new file to WAL needs it to itself and does not
// wait on the busy timeout, so processes creating it together retry.
func walMode(ctx context.Context, db *sql.DB) error {
	deadline := time.Now().Add(sqliteBusyTimeout)
	for {
		var mode string
		err := db.QueryRowContext(ctx, `PRAGMA journal_mode=WAL`).Scan(&mode)
		if err == nil && strings.EqualFold(mode, "wal") {
			return nil
		}
		var se *sqlite.Error
		busy := err == nil || (errors.As(err, &se) && se.Code()&0xff == sqliteBusy) // a locked file keeps its mode
		if err == nil {
			err = fmt.Errorf("journal mode is still %q", mode)
		}
		if !busy || time.Now().After(deadline) {
			return fail(ctx, "WAL mode", err)
		}
		select {
		case <-ctx.Done():
			return fail(ctx, "WAL mode", ctx.Err())
		case <-time.After(20 * time.Millisecond):
		}
	}
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
