// Package jobstest gives tests of async jobs (package jobs and the
// surfaces that serve them) a job service on a real PostgreSQL: the
// server EARSHOT_TEST_POSTGRES names, each test in a schema of its own
// that is dropped when it ends. Without that variable the test is skipped
// with the reason printed, except under CI=true, where it fails.
package jobstest

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/binary"
	"encoding/hex"
	"math"
	"os"
	"sync"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/earshot-dev/earshot/jobs"
	"github.com/earshot-dev/earshot/pipeline"
	"github.com/earshot-dev/earshot/transcribe"
)

// Key is the key tests seal audio with; WebhookSecret signs their
// webhooks.
var (
	Key           = bytes.Repeat([]byte{7}, jobs.KeySize)
	WebhookSecret = []byte("whsec_test")
)

// URL is the PostgreSQL server to test against, or skips (fails under CI).
func URL(t testing.TB) string {
	t.Helper()
	miss := t.Skipf
	if os.Getenv("CI") == "true" {
		miss = t.Fatalf
	}
	u := os.Getenv("EARSHOT_TEST_POSTGRES")
	if u == "" {
		miss("EARSHOT_TEST_POSTGRES is not set (a postgres:// URL of a server to test jobs against; .ci/run starts one)")
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

// DB is one test's database: a fresh schema on the test server.
type DB struct {
	URL    string
	Schema string
	// query is the one pool Query returns, made on first use: a test that
	// polls the database must not open a pool (and its connections) per
	// look, or a few seconds of polling fill the server's connection
	// slots.
	query *lazyPool
}

type lazyPool struct {
	once sync.Once
	pool *pgxpool.Pool
	err  error
}

// NewDB makes a fresh schema, dropped when the test ends.
func NewDB(t testing.TB) DB {
	t.Helper()
	u := URL(t)
	var b [6]byte
	rand.Read(b[:])
	db := DB{URL: u, Schema: "earshot_jobs_test_" + hex.EncodeToString(b[:]), query: &lazyPool{}}
	ctx := context.Background()
	conn, err := pgx.Connect(ctx, u)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close(ctx)
	if _, err := conn.Exec(ctx, "CREATE SCHEMA "+db.Schema); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		db.query.once.Do(func() {}) // after any Query, whichever goroutine made it
		if db.query.pool != nil {
			db.query.pool.Close()
		}
		conn, err := pgx.Connect(ctx, u)
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close(ctx)
		if _, err := conn.Exec(ctx, "DROP SCHEMA "+db.Schema+" CASCADE"); err != nil {
			t.Error(err)
		}
	})
	return db
}

// Pool is a new pool on db's schema, closed when the test ends: one per
// replica a test starts. For the test's own looks at the tables use
// Query.
func (db DB) Pool(t testing.TB) *pgxpool.Pool {
	t.Helper()
	pool, err := db.newPool(8)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(pool.Close)
	return pool
}

// Query is the pool a test reads db's tables through: the same one on
// every call, closed with the schema.
func (db DB) Query(t testing.TB) *pgxpool.Pool {
	t.Helper()
	db.query.once.Do(func() { db.query.pool, db.query.err = db.newPool(2) })
	if db.query.err != nil {
		t.Fatal(db.query.err)
	}
	return db.query.pool
}

func (db DB) newPool(size int32) (*pgxpool.Pool, error) {
	cfg, err := pgxpool.ParseConfig(db.URL)
	if err != nil {
		return nil, err
	}
	cfg.ConnConfig.RuntimeParams["search_path"] = db.Schema
	cfg.MaxConns = size
	return pgxpool.NewWithConfig(context.Background(), cfg)
}

// Config is a service configuration for tests: db's schema, the test
// key and webhook secret, fast polling and retries. Set Pipeline.
func (db DB) Config(t testing.TB, p *pipeline.Pipeline, workers int) jobs.Config {
	return jobs.Config{Pool: db.Pool(t), Schema: db.Schema, Pipeline: p, Key: Key, WebhookSecret: WebhookSecret, WebhookPrivate: true,
		Workers: workers, PollInterval: 20 * time.Millisecond, RetryDelay: 50 * time.Millisecond,
		PieceTimeout: time.Minute}
}

// Start makes and starts a service (a replica), stopped when the test
// ends.
func Start(t testing.TB, cfg jobs.Config) *jobs.Service {
	t.Helper()
	s, err := jobs.New(context.Background(), cfg)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Start(context.Background()); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		s.Stop(ctx)
	})
	return s
}

// Wait polls the job until it is final or the timeout passes.
func Wait(t testing.TB, ctx context.Context, s *jobs.Service, id string, timeout time.Duration) *jobs.Job {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		j, err := s.Get(ctx, id)
		if err != nil {
			t.Fatalf("get %s: %v", id, err)
		}
		if j.Status != jobs.Queued && j.Status != jobs.Running {
			return j
		}
		if time.Now().After(deadline) {
			t.Fatalf("job %s still %s (%d of %d pieces) after %v", id, j.Status, j.Done, j.Pieces, timeout)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// Speech is about seconds of audio the energy VAD hears as speech in
// bursts of burst with pauses of pause between them: a tone whose
// loudness varies like a voice.
func Speech(seconds, burst, pause float64) []float32 {
	var out []float32
	for len(out) < int(seconds*transcribe.SampleRate) {
		n := int(burst * transcribe.SampleRate)
		for i := range n {
			x := float64(i) / transcribe.SampleRate
			out = append(out, float32(0.3*math.Sin(2*math.Pi*220*x)*(0.6+0.4*math.Sin(2*math.Pi*3*x))))
		}
		out = append(out, make([]float32, int(pause*transcribe.SampleRate))...)
	}
	return out
}

// WAV is samples as a 16-bit 16 kHz mono WAV file.
func WAV(samples []float32) []byte {
	var b bytes.Buffer
	n := uint32(2 * len(samples))
	b.WriteString("RIFF")
	binary.Write(&b, binary.LittleEndian, 36+n)
	b.WriteString("WAVEfmt ")
	for _, v := range []any{uint32(16), uint16(1), uint16(1), uint32(transcribe.SampleRate), uint32(2 * transcribe.SampleRate), uint16(2), uint16(16)} {
		binary.Write(&b, binary.LittleEndian, v)
	}
	b.WriteString("data")
	binary.Write(&b, binary.LittleEndian, n)
	for _, v := range samples {
		binary.Write(&b, binary.LittleEndian, int16(max(-1, min(1, v))*32767))
	}
	return b.Bytes()
}
