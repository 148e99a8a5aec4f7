package store

import (
	"context"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"os"

	"github.com/earshot-dev/earshot/keys"
)

// ImportKeysFile copies the keys of earshot's former keys file (package
// keys: SHA-256 hashes, no limits) into the store, once: the store remembers
// that it did, and later calls return 0 without reading the file. Imported
// keys keep their IDs, names, dates and revocations, get the transcribe
// scope and no limits, and keep working with the same secrets. The file is
// never written. A missing file imports nothing and is not remembered.
func (s *DB) ImportKeysFile(ctx context.Context, path, actor string) (int, error) {
	const flag = "keys_file_imported"
	var done string
	err := s.db.QueryRowContext(ctx, s.q(`SELECT v FROM meta WHERE k = ?`), flag).Scan(&done)
	if err == nil {
		return 0, nil
	}
	if !errors.Is(err, sql.ErrNoRows) {
		return 0, fail(ctx, "import keys", err)
	}
	if _, err := os.Stat(path); errors.Is(err, os.ErrNotExist) {
		return 0, nil
	}
	file, err := keys.Open(path)
	if err != nil {
		return 0, fmt.Errorf("store: import %s: %w", path, err)
	}
	old := file.List()

	tx, err := s.db.BeginTx(ctx, nil)
	if err != nil {
		return 0, fail(ctx, "import keys", err)
	}
	defer tx.Rollback()
	// Another replica may have imported while the file was read.
	res, err := tx.ExecContext(ctx, s.q(`INSERT INTO meta (k, v) VALUES (?, ?) ON CONFLICT (k) DO NOTHING`),
		flag, fmt.Sprintf("%s at %s", path, s.now().UTC().Format("2006-01-02T15:04:05Z")))
	if err != nil {
		return 0, fail(ctx, "import keys", err)
	}
	if n, err := res.RowsAffected(); err != nil {
		return 0, fail(ctx, "import keys", err)
	} else if n == 0 {
		return 0, nil
	}
	now := s.now()
	imported := 0
	for _, ok := range old {
		sum, err := hex.DecodeString(ok.Hash)
		if err != nil || len(sum) != 32 {
			return 0, fmt.Errorf("%w: %s: key %s has no SHA-256 hash", ErrInvalid, path, ok.ID)
		}
		k := Key{ID: ok.ID, Name: ok.Name, Scopes: []Scope{ScopeTranscribe}, Created: ok.Created}
		var revoked any
		if ok.Revoked != nil {
			revoked = ok.Revoked.UnixMilli()
		}
		// A key whose ID or active name is taken already is left out.
		res, err := tx.ExecContext(ctx, s.q(`INSERT INTO api_keys (`+keyColumns+`, hash, pepper) VALUES (?, ?, ?, 0, 0, 0, 0, ?, ?, ?, ?) ON CONFLICT DO NOTHING`),
			k.ID, k.Name, joinScopes(k.Scopes), k.Created.UnixMilli(), revoked, s.h.fromSHA256(sum), s.h.check())
		if err != nil {
			return 0, fail(ctx, "import keys", err)
		}
		n, err := res.RowsAffected()
		if err != nil {
			return 0, fail(ctx, "import keys", err)
		}
		detail := "from " + path
		if n == 0 {
			detail = "skipped (ID or name taken) from " + path
		} else {
			imported++
		}
		if ok.Revoked != nil {
			detail += " (revoked)"
		}
		if err := s.audit(ctx, tx, now, actor, "import", k, detail); err != nil {
			return 0, fail(ctx, "import keys", err)
		}
	}
	if err := tx.Commit(); err != nil {
		return 0, fail(ctx, "import keys", err)
	}
	return imported, nil
}
