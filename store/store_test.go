package store_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"net/url"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/earshot-dev/earshot/store"
	"github.com/earshot-dev/earshot/store/storetest"
)

func TestSQLite(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		path := filepath.Join(t.TempDir(), "data", "earshot.db")
		return func(opt store.Options) (store.Store, error) {
			return store.Open(context.Background(), "sqlite:"+path, opt)
		}
	})
}

// TestPostgres runs the suite on the server EARSHOT_TEST_POSTGRES names
// (a postgres:// URL), each subtest in a schema of its own. Without one it
// skips, saying why, except under CI=true, where it fails.
func TestPostgres(t *testing.T) {
	base := postgresURL(t)
	storetest.Run(t, func(t *testing.T) storetest.Opener {
		dsn := freshSchema(t, base)
		return func(opt store.Options) (store.Store, error) {
			return store.Open(context.Background(), dsn, opt)
		}
	})
}

func postgresURL(t testing.TB) string {
	t.Helper()
	miss := t.Skipf
	if os.Getenv("CI") == "true" {
		miss = t.Fatalf
	}
	u := os.Getenv("EARSHOT_TEST_POSTGRES")
	if u == "" {
		miss("EARSHOT_TEST_POSTGRES is not set (a postgres:// URL of a server to test against; .ci/run starts one)")
		return ""
	}
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		miss("no PostgreSQL at EARSHOT_TEST_POSTGRES: %v", err)
		return ""
	}
	conn.Close(ctx)
	return u
}

// freshSchema makes an empty schema, dropped at the end of the test, and
// returns base with its search_path set to it.
func freshSchema(t testing.TB, base string) string {
	t.Helper()
	var b [6]byte
	rand.Read(b[:])
	schema := "earshot_test_" + hex.EncodeToString(b[:])
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, base)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		conn, err := pgx.Connect(ctx, base)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	u, err := url.Parse(base)
	if err != nil {
		t.Fatal(err)
	}
	q := u.Query()
	q.Set("search_path", schema)
	u.RawQuery = q.Encode()
	return u.String()
}

// A server that is not there is ErrUnavailable, not a wrong key, and not a
// hang.
func TestPostgresUnreachable(t *testing.T) {
	start := time.Now()
	_, err := store.Open(context.Background(), "postgres://earshot@127.0.0.1:1/earshot?connect_timeout=2", store.Options{Pepper: storetest.Pepper})
	if !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrUnauthenticated) {
		t.Errorf("err = %v, want ErrUnavailable", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("took %v", d)
	}
}

// A store whose database goes away answers ErrUnavailable to Authenticate,
// so the HTTP surface says 503, not 401.
func TestSQLiteGoneIsUnavailable(t *testing.T) {
	ctx := context.Background()
	dir := t.TempDir()
	s, err := store.Open(ctx, filepath.Join(dir, "earshot.db"), store.Options{Pepper: storetest.Pepper})
	if err != nil {
		t.Fatal(err)
	}
	secret, _, err := s.CreateKey(ctx, store.NewKey{Name: "ci"})
	if err != nil {
		t.Fatal(err)
	}
	if err := s.IntegrityCheck(ctx); err != nil {
		t.Errorf("integrity check: %v", err)
	}
	s.Close()
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, store.ErrUnavailable) || errors.Is(err, store.ErrUnauthenticated) {
		t.Errorf("closed store: err = %v, want ErrUnavailable", err)
	}
	if _, err := s.Authenticate(ctx, "not a key"); !errors.Is(err, store.ErrUnknownKey) {
		t.Errorf("malformed key needs no store: err = %v", err)
	}
}

func TestSQLiteFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "sub", "earshot.db")
	s, err := store.Open(context.Background(), path, store.Options{Pepper: storetest.Pepper})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if st, err := os.Stat(path); err != nil || st.Mode().Perm() != 0o600 {
		t.Errorf("store file: %v, %v; want mode 0600", st, err)
	}
	if _, err := os.Stat(path + "-wal"); err != nil {
		t.Errorf("no WAL file: %v", err)
	}
	if s.Backend() != "sqlite" {
		t.Errorf("backend %q", s.Backend())
	}
}

func TestParseDSN(t *testing.T) {
	tests := []struct {
		dsn, kind, target string
		ok                bool
	}{
		{"postgres://u:p@h/db?sslmode=disable", "postgres", "postgres://u:p@h/db?sslmode=disable", true},
		{"postgresql://h/db", "postgres", "postgresql://h/db", true},
		{"sqlite:/var/lib/earshot/earshot.db", "sqlite", "/var/lib/earshot/earshot.db", true},
		{"sqlite:///var/lib/earshot.db", "sqlite", "/var/lib/earshot.db", true},
		{"sqlite://rel.db", "sqlite", "rel.db", true},
		{"file:/tmp/x.db", "sqlite", "/tmp/x.db", true},
		{" /tmp/x.db ", "sqlite", "/tmp/x.db", true},
		{"relative/x.db", "sqlite", "relative/x.db", true},
		{"", "", "", false},
		{"sqlite:", "", "", false},
		{":memory:", "", "", false},
		{"/tmp/x.db?mode=ro", "", "", false},
		{"mysql://h/db", "", "", false},
	}
	for _, tt := range tests {
		kind, target, err := store.ParseDSN(tt.dsn)
		if (err == nil) != tt.ok || kind != tt.kind || target != tt.target {
			t.Errorf("ParseDSN(%q) = %q, %q, %v; want %q, %q, ok %v", tt.dsn, kind, target, err, tt.kind, tt.target, tt.ok)
		}
		if err != nil && !errors.Is(err, store.ErrInvalid) {
			t.Errorf("ParseDSN(%q): err = %v, want ErrInvalid", tt.dsn, err)
		}
	}
}

// FuzzKeyID: the parser of presented keys (Authorization headers) never
// panics, and what it accepts is exactly an earshot key's shape.
func FuzzKeyID(f *testing.F) {
	for _, s := range []string{"", "sk-earshot-", "sk-earshot-0123456789ab-" + string(make([]byte, 64)), "esk_", "esk_" + hex.EncodeToString(make([]byte, 32)),
		"sk-earshot-0123456789ab-" + hex.EncodeToString(make([]byte, 32)), "Bearer x", "sk-earshot-\xff"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		id, ok := store.KeyID(s)
		if !ok {
			if id != "" {
				t.Errorf("KeyID(%q) = %q, false", s, id)
			}
			return
		}
		switch {
		case len(s) == 88 && len(id) == 23 && s[:23] == id && s[:11] == store.SecretPrefix && s[23] == '-':
		case len(s) == 68 && len(id) == 12 && s[:12] == id && s[:4] == "esk_":
		default:
			t.Errorf("KeyID(%q) = %q: not a key's shape", s, id)
		}
		if _, err := hex.DecodeString(s[len(s)-64:]); err != nil {
			t.Errorf("KeyID(%q) accepted a non-hex secret", s)
		}
	})
}
