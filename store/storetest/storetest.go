// Package storetest is the conformance suite every store.Store backend
// passes: keys and authentication, the pepper, the limits (with a fake
// clock), idempotent usage, the audit log, migrations, and two handles on
// one database standing in for two replicas.
//
// A backend's test calls Run with a function that makes a fresh, empty
// database for one subtest and returns an Opener for it; the suite opens
// one or more handles with it and closes them at the end of the subtest.
package storetest

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/keys"
	"github.com/earshot-dev/earshot/store"
)

// Opener opens a handle on one database.
type Opener func(opt store.Options) (store.Store, error)

// Backend makes a fresh, empty database for one test.
type Backend func(t *testing.T) Opener

// Pepper is the pepper the suite opens stores with.
var Pepper = []byte("storetest pepper, 32 bytes long.")

// Clock is a fake clock safe for concurrent use.
type Clock struct {
	mu sync.Mutex
	t  time.Time
}

// NewClock starts a clock at t.
func NewClock(t time.Time) *Clock { return &Clock{t: t} }

// Now is the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

// Set moves the clock to t.
func (c *Clock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

// Advance moves the clock on by d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// start is where the fake clocks begin: ten seconds into a minute, on the
// last day of a month.
var start = time.Date(2026, time.March, 31, 12, 0, 10, 0, time.UTC)

// Run runs the suite.
func Run(t *testing.T, fresh Backend) {
	tests := []struct {
		name string
		fn   func(t *testing.T, open Opener)
	}{
		{"Keys", testKeys},
		{"WrongKeys", testWrongKeys},
		{"Pepper", testPepper},
		{"PepperRotation", testPepperRotation},
		{"RateLimit", testRateLimit},
		{"Concurrency", testConcurrency},
		{"Quota", testQuota},
		{"UsageIdempotent", testUsageIdempotent},
		{"UsageByDay", testUsageByDay},
		{"Audit", testAudit},
		{"Migrations", testMigrations},
		{"ImportKeysFile", testImport},
		{"TwoReplicas", testTwoReplicas},
		{"ReplicasStartTogether", testStartTogether},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) { tt.fn(t, fresh(t)) })
	}
}

func mustOpen(t *testing.T, open Opener, clock *Clock) store.Store {
	t.Helper()
	s, err := open(store.Options{Pepper: Pepper, Now: clock.Now})
	if err != nil {
		t.Fatalf("open: %v", err)
	}
	t.Cleanup(func() { s.Close() })
	return s
}

func mustCreate(t *testing.T, s store.Store, nk store.NewKey) (string, store.Key) {
	t.Helper()
	secret, k, err := s.CreateKey(context.Background(), nk)
	if err != nil {
		t.Fatalf("CreateKey(%+v): %v", nk, err)
	}
	return secret, k
}

func testKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustOpen(t, open, NewClock(start))
	limits := store.Limits{RPM: 60, Concurrency: 2, MaxUpload: 25 << 20, MonthlyAudioSeconds: 360000}
	secret, k, err := s.CreateKey(ctx, store.NewKey{Name: " ci ", Scopes: []store.Scope{store.ScopeAdmin, store.ScopeTranscribe, store.ScopeAdmin}, Limits: limits, Actor: "test"})
	if err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(secret, store.SecretPrefix) || !strings.HasPrefix(secret, k.ID) || len(secret) < len(k.ID)+40 {
		t.Errorf("secret %q, id %q: want the id to be the secret's start", secret, k.ID)
	}
	if id, ok := store.KeyID(secret); !ok || id != k.ID {
		t.Errorf("KeyID(secret) = %q, %v; want %q", id, ok, k.ID)
	}
	wantScopes := []store.Scope{store.ScopeAdmin, store.ScopeTranscribe}
	if k.Name != "ci" || !slices.Equal(k.Scopes, wantScopes) || k.Limits != limits || !k.Created.Equal(start) || !k.Active() {
		t.Errorf("created key %+v", k)
	}
	p, err := s.Authenticate(ctx, secret)
	if err != nil {
		t.Fatalf("Authenticate: %v", err)
	}
	want := store.Principal{KeyID: k.ID, Name: "ci", Scopes: wantScopes, Limits: limits}
	if fmt.Sprint(p) != fmt.Sprint(want) || !p.Can(store.ScopeAdmin) {
		t.Errorf("principal %+v, want %+v", p, want)
	}

	if _, _, err := s.CreateKey(ctx, store.NewKey{Name: "ci"}); !errors.Is(err, store.ErrExists) {
		t.Errorf("second active key named ci: err = %v, want ErrExists", err)
	}
	plain, pk := mustCreate(t, s, store.NewKey{Name: "laptop"})
	if !slices.Equal(pk.Scopes, []store.Scope{store.ScopeTranscribe}) {
		t.Errorf("default scopes %v, want [transcribe]", pk.Scopes)
	}
	if p, err := s.Authenticate(ctx, plain); err != nil || p.Can(store.ScopeAdmin) || !p.Can(store.ScopeTranscribe) {
		t.Errorf("transcribe-only key: %+v, %v", p, err)
	}

	list, err := s.Keys(ctx)
	if err != nil {
		t.Fatal(err)
	}
	ids := []string{}
	for _, l := range list {
		ids = append(ids, l.ID)
	}
	if !slices.Equal(ids, []string{k.ID, pk.ID}) && !slices.Equal(ids, []string{pk.ID, k.ID}) {
		t.Fatalf("Keys = %+v", list)
	}
	if dump := fmt.Sprintf("%+v", list); strings.Contains(dump, secret[len(k.ID):]) {
		t.Error("Keys shows a secret")
	}

	// Revoke by name; the next key of that name is a new key.
	rk, err := s.RevokeKey(ctx, "ci", "test")
	if err != nil || rk.ID != k.ID || rk.Active() {
		t.Fatalf("RevokeKey = %+v, %v", rk, err)
	}
	if _, err := s.Authenticate(ctx, secret); !errors.Is(err, store.ErrRevoked) || !errors.Is(err, store.ErrUnauthenticated) {
		t.Errorf("revoked key: err = %v, want ErrRevoked (ErrUnauthenticated)", err)
	}
	if _, err := s.RevokeKey(ctx, k.ID, "test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("second revoke: err = %v, want ErrNotFound", err)
	}
	if _, err := s.RevokeKey(ctx, "nobody", "test"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("revoke unknown: err = %v, want ErrNotFound", err)
	}
	again, _ := mustCreate(t, s, store.NewKey{Name: "ci"})
	if _, err := s.Authenticate(ctx, again); err != nil {
		t.Errorf("new key named like a revoked one: %v", err)
	}
	// Revoke by ID.
	if _, err := s.RevokeKey(ctx, pk.ID, "test"); err != nil {
		t.Errorf("revoke by id: %v", err)
	}
	if _, err := s.Authenticate(ctx, plain); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("key revoked by id: err = %v", err)
	}

	invalid := []store.NewKey{
		{Name: ""},
		{Name: "   "},
		{Name: "tab\tname"},
		{Name: strings.Repeat("x", 201)},
		{Name: "scope", Scopes: []store.Scope{"root"}},
		{Name: "neg", Limits: store.Limits{RPM: -1}},
		{Name: "neg", Limits: store.Limits{MonthlyAudioSeconds: -1}},
	}
	for _, nk := range invalid {
		if _, _, err := s.CreateKey(ctx, nk); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("CreateKey(%+v): err = %v, want ErrInvalid", nk, err)
		}
	}
}

func testWrongKeys(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustOpen(t, open, NewClock(start))
	secret, k := mustCreate(t, s, store.NewKey{Name: "ci"})
	flip := func(s string, i int) string {
		b := []byte(s)
		if b[i] == '0' {
			b[i] = '1'
		} else {
			b[i] = '0'
		}
		return string(b)
	}
	other, _, err := s.CreateKey(ctx, store.NewKey{Name: "other"})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name, key string
	}{
		{"empty", ""},
		{"prefix only", store.SecretPrefix},
		{"id only", k.ID},
		{"one more character", secret + "0"},
		{"one character short", secret[:len(secret)-1]},
		{"last digit changed", flip(secret, len(secret)-1)},
		{"id digit changed", flip(secret, len(store.SecretPrefix))},
		{"upper case", strings.ToUpper(secret)},
		{"this id, another's secret", k.ID + other[len(k.ID):]},
		{"bearer prefix kept", "Bearer " + secret},
		{"space", secret + " "},
		{"legacy shape, unknown", "esk_" + strings.Repeat("ab", 32)},
		{"openai shape", "sk-proj-" + strings.Repeat("a", 48)},
	}
	for _, tt := range tests {
		p, err := s.Authenticate(ctx, tt.key)
		if !errors.Is(err, store.ErrUnknownKey) || errors.Is(err, store.ErrUnavailable) {
			t.Errorf("%s: Authenticate(%q) = %+v, %v; want ErrUnknownKey", tt.name, tt.key, p, err)
		}
	}
}

func testPepper(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustOpen(t, open, NewClock(start))
	secret, _ := mustCreate(t, s, store.NewKey{Name: "ci"})
	other, err := open(store.Options{Pepper: []byte("another pepper of 32 bytes......")})
	if !errors.Is(err, store.ErrPepperMismatch) {
		if err == nil {
			other.Close()
		}
		t.Errorf("open with another pepper: err = %v, want ErrPepperMismatch", err)
	}
	short, err := open(store.Options{Pepper: []byte("short")})
	if !errors.Is(err, store.ErrInvalid) {
		if err == nil {
			short.Close()
		}
		t.Errorf("open with a short pepper: err = %v, want ErrInvalid", err)
	}
	if _, err := s.Authenticate(ctx, secret); err != nil {
		t.Errorf("after refused opens: %v", err)
	}
}

// A pepper rotation: the new pepper takes the store over with the old one
// configured beside it; keys move to it as they are used, and once the old
// one is dropped only the keys moved (and new ones) authenticate.
func testPepperRotation(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustOpen(t, open, NewClock(start))
	used, _ := mustCreate(t, s, store.NewKey{Name: "used"})
	idle, _ := mustCreate(t, s, store.NewKey{Name: "idle"})
	s.Close()
	next := []byte("the next pepper, 32 bytes long..")
	oldPepper := func(s store.Store) map[string]bool {
		t.Helper()
		keys, err := s.Keys(ctx)
		if err != nil {
			t.Fatal(err)
		}
		m := map[string]bool{}
		for _, k := range keys {
			m[k.Name] = k.OldPepper
		}
		return m
	}
	rot, err := open(store.Options{Pepper: next, OldPeppers: [][]byte{Pepper}})
	if err != nil {
		t.Fatalf("open with the next pepper and the old one: %v", err)
	}
	if m := oldPepper(rot); !m["used"] || !m["idle"] {
		t.Errorf("before any use, keys on the old pepper: %v", m)
	}
	for range 2 { // the second use finds it moved
		if _, err := rot.Authenticate(ctx, used); err != nil {
			t.Fatalf("a key under the old pepper during the rotation: %v", err)
		}
	}
	if m := oldPepper(rot); m["used"] || !m["idle"] {
		t.Errorf("after one key's use, on the old pepper: %v (want idle only)", m)
	}
	rot.Close()
	if old, err := open(store.Options{Pepper: Pepper}); !errors.Is(err, store.ErrPepperMismatch) {
		if err == nil {
			old.Close()
		}
		t.Errorf("the old pepper alone after the rotation: err = %v, want ErrPepperMismatch", err)
	}
	after, err := open(store.Options{Pepper: next})
	if err != nil {
		t.Fatalf("the next pepper alone: %v", err)
	}
	defer after.Close()
	if _, err := after.Authenticate(ctx, used); err != nil {
		t.Errorf("the moved key with the next pepper alone: %v", err)
	}
	if _, err := after.Authenticate(ctx, idle); !errors.Is(err, store.ErrUnknownKey) {
		t.Errorf("the key never moved, with the old pepper dropped: err = %v, want ErrUnknownKey", err)
	}
	fresh, _ := mustCreate(t, after, store.NewKey{Name: "fresh"})
	if _, err := after.Authenticate(ctx, fresh); err != nil {
		t.Errorf("a key made after the rotation: %v", err)
	}
	if m := oldPepper(after); m["fresh"] || m["used"] || !m["idle"] {
		t.Errorf("keys on the old pepper at the end: %v (want idle only)", m)
	}
}

func testRateLimit(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(start) // 10 s into a minute
	s := mustOpen(t, open, clock)
	for i := range 3 {
		if err := s.Allow(ctx, "k1", 3); err != nil {
			t.Fatalf("request %d of 3: %v", i+1, err)
		}
	}
	var le *store.LimitError
	err := s.Allow(ctx, "k1", 3)
	if !errors.Is(err, store.ErrRateLimited) || !errors.As(err, &le) || le.RetryAfter != 50*time.Second {
		t.Fatalf("4th request: err = %v, want ErrRateLimited retry after 50s", err)
	}
	if err := s.Allow(ctx, "k2", 3); err != nil {
		t.Errorf("another key: %v", err)
	}
	clock.Advance(49*time.Second + 999*time.Millisecond)
	if err := s.Allow(ctx, "k1", 3); !errors.As(err, &le) || le.RetryAfter != time.Millisecond {
		t.Errorf("last millisecond of the minute: err = %v, want retry after 1ms", err)
	}
	clock.Advance(time.Millisecond) // the next minute
	for i := range 3 {
		if err := s.Allow(ctx, "k1", 3); err != nil {
			t.Fatalf("next minute, request %d: %v", i+1, err)
		}
	}
	if err := s.Allow(ctx, "k1", 3); !errors.Is(err, store.ErrRateLimited) {
		t.Errorf("next minute, 4th: err = %v", err)
	}
	// A raised limit applies at once; no limit is no limit.
	if err := s.Allow(ctx, "k1", 4); err != nil {
		t.Errorf("raised limit: %v", err)
	}
	for range 100 {
		if err := s.Allow(ctx, "k1", 0); err != nil {
			t.Fatalf("rpm 0: %v", err)
		}
	}
}

// race runs n calls of f at once and returns how many succeeded; the other
// errors must all satisfy ok.
func race(t *testing.T, n int, f func(i int) error, ok func(error) bool) int {
	t.Helper()
	var wg sync.WaitGroup
	var wins atomic.Int64
	errs := make(chan error, n)
	startGun := make(chan struct{})
	for i := range n {
		wg.Go(func() {
			<-startGun
			if err := f(i); err != nil {
				errs <- err
				return
			}
			wins.Add(1)
		})
	}
	close(startGun)
	wg.Wait()
	close(errs)
	for err := range errs {
		if !ok(err) {
			t.Errorf("unexpected error: %v", err)
		}
	}
	return int(wins.Load())
}

func isConc(err error) bool {
	var le *store.LimitError
	return errors.Is(err, store.ErrConcurrency) && errors.As(err, &le) && le.RetryAfter > 0
}

// acquireAll makes n acquisitions at once, the i-th on on(i), and returns
// the leases taken; every refusal must be ErrConcurrency.
func acquireAll(t *testing.T, n int, on func(i int) store.Store, keyID string, limit int, ttl time.Duration) []store.Lease {
	t.Helper()
	var mu sync.Mutex
	var held []store.Lease
	race(t, n, func(i int) error {
		l, err := on(i).Acquire(context.Background(), keyID, limit, ttl)
		if err == nil {
			mu.Lock()
			held = append(held, l)
			mu.Unlock()
		}
		return err
	}, isConc)
	return held
}

func testConcurrency(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(start)
	s := mustOpen(t, open, clock)
	const ttl = time.Minute
	held := acquireAll(t, 16, func(int) store.Store { return s }, "k", 2, ttl)
	if len(held) != 2 {
		t.Fatalf("16 at once against a limit of 2: %d acquired", len(held))
	}
	if held[0].ID == held[1].ID || held[0].KeyID != "k" || !held[0].Expires.Equal(start.Add(ttl)) {
		t.Errorf("leases %+v", held)
	}
	if _, err := s.Acquire(ctx, "other", 2, ttl); err != nil {
		t.Errorf("another key: %v", err)
	}
	if err := s.Release(ctx, held[0]); err != nil {
		t.Fatal(err)
	}
	if err := s.Release(ctx, held[0]); err != nil {
		t.Errorf("second release: %v", err)
	}
	l3, err := s.Acquire(ctx, "k", 2, ttl)
	if err != nil {
		t.Fatalf("after a release: %v", err)
	}
	if _, err := s.Acquire(ctx, "k", 2, ttl); !isConc(err) {
		t.Fatalf("full again: err = %v", err)
	}

	// held[1] is renewed; l3 is not, and lapses (its replica died).
	clock.Advance(ttl / 2)
	renewed, err := s.Renew(ctx, held[1], ttl)
	if err != nil || !renewed.Expires.Equal(clock.Now().Add(ttl)) {
		t.Fatalf("Renew = %+v, %v", renewed, err)
	}
	clock.Advance(ttl/2 + time.Millisecond)
	if _, err := s.Renew(ctx, l3, ttl); !errors.Is(err, store.ErrLeaseExpired) {
		t.Errorf("renew a lapsed lease: err = %v, want ErrLeaseExpired", err)
	}
	if _, err := s.Acquire(ctx, "k", 2, ttl); err != nil {
		t.Errorf("a lapsed lease's slot: %v", err)
	}
	if _, err := s.Acquire(ctx, "k", 2, ttl); !isConc(err) {
		t.Errorf("the renewed lease still holds its slot: err = %v", err)
	}
	clock.Advance(2 * ttl)
	for i := range 2 {
		if _, err := s.Acquire(ctx, "k", 2, ttl); err != nil {
			t.Errorf("after every lease lapsed, %d: %v", i, err)
		}
	}

	zero, err := s.Acquire(ctx, "k", 0, ttl)
	if err != nil || zero != (store.Lease{}) || s.Release(ctx, zero) != nil {
		t.Errorf("no limit: %+v, %v", zero, err)
	}
	if _, err := s.Acquire(ctx, "k", 1, 0); !errors.Is(err, store.ErrInvalid) {
		t.Errorf("ttl 0: err = %v", err)
	}
}

func testQuota(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(start) // the last day of March
	s := mustOpen(t, open, clock)
	record := func(id string, sec float64) {
		t.Helper()
		if _, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: id, KeyID: "k", AudioSeconds: sec, ProcessingSeconds: sec / 10}); err != nil {
			t.Fatal(err)
		}
	}
	if err := s.CheckQuota(ctx, "k", 100); err != nil {
		t.Fatalf("nothing used: %v", err)
	}
	record("r1", 60)
	if err := s.CheckQuota(ctx, "k", 100); err != nil {
		t.Errorf("60 of 100 used: %v", err)
	}
	record("r2", 39.5)
	if err := s.CheckQuota(ctx, "k", 100); err != nil {
		t.Errorf("99.5 of 100 used: %v", err)
	}
	record("r3", 0.5)
	var le *store.LimitError
	if err := s.CheckQuota(ctx, "k", 100); !errors.Is(err, store.ErrQuotaExceeded) || !errors.As(err, &le) {
		t.Errorf("100 of 100 used: err = %v, want ErrQuotaExceeded", err)
	}
	if err := s.CheckQuota(ctx, "other", 100); err != nil {
		t.Errorf("another key: %v", err)
	}
	if err := s.CheckQuota(ctx, "k", 0); err != nil {
		t.Errorf("no quota: %v", err)
	}
	clock.Set(time.Date(2026, time.April, 1, 0, 0, 0, 0, time.UTC))
	if err := s.CheckQuota(ctx, "k", 100); err != nil {
		t.Errorf("a new month: %v", err)
	}
	record("r4", 100)
	if err := s.CheckQuota(ctx, "k", 100); !errors.Is(err, store.ErrQuotaExceeded) {
		t.Errorf("April used up: err = %v", err)
	}
}

func testUsageIdempotent(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustOpen(t, open, NewClock(start))
	u := store.UsageRecord{RequestID: "req-1", KeyID: "k", AudioSeconds: 12.5, ProcessingSeconds: 1.25}
	n := race(t, 16, func(int) error {
		ok, err := s.RecordUsage(ctx, u)
		if err == nil && !ok {
			return errDuplicate
		}
		return err
	}, func(err error) bool { return err == errDuplicate })
	if n != 1 {
		t.Errorf("16 recordings of one request: %d reported recorded, want 1", n)
	}
	// 20 more requests, each recorded by two goroutines at once.
	n = race(t, 40, func(i int) error {
		ok, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: fmt.Sprintf("req-%d", 100+i/2), KeyID: "k", AudioSeconds: 1, ProcessingSeconds: 0.5})
		if err == nil && !ok {
			return errDuplicate
		}
		return err
	}, func(err error) bool { return err == errDuplicate })
	if n != 20 {
		t.Errorf("20 requests recorded twice each: %d reported recorded, want 20", n)
	}
	// The same request id under another key is another request.
	if ok, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: "req-1", KeyID: "k2", AudioSeconds: 1}); !ok || err != nil {
		t.Errorf("same id, other key: %v, %v", ok, err)
	}
	got, err := s.Usage(ctx, store.UsageQuery{KeyID: "k"})
	if err != nil {
		t.Fatal(err)
	}
	want := []store.DayUsage{{KeyID: "k", Day: day(start), Requests: 21, AudioSeconds: 32.5, ProcessingSeconds: 11.25}}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("Usage = %+v\nwant %+v", got, want)
	}
	bad := []store.UsageRecord{
		{KeyID: "k", AudioSeconds: 1},
		{RequestID: "r", AudioSeconds: 1},
		{RequestID: "r", KeyID: "k", AudioSeconds: -1},
		{RequestID: "r", KeyID: "k", ProcessingSeconds: nan()},
	}
	for _, u := range bad {
		if _, err := s.RecordUsage(ctx, u); !errors.Is(err, store.ErrInvalid) {
			t.Errorf("RecordUsage(%+v): err = %v, want ErrInvalid", u, err)
		}
	}
}

var errDuplicate = errors.New("recorded already")

func nan() float64 { var z float64; return z / z }

func day(t time.Time) time.Time {
	t = t.UTC()
	return time.Date(t.Year(), t.Month(), t.Day(), 0, 0, 0, 0, time.UTC)
}

func testUsageByDay(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustOpen(t, open, NewClock(start))
	d1 := time.Date(2026, time.May, 1, 0, 0, 0, 0, time.UTC)
	d2, d3 := d1.AddDate(0, 0, 1), d1.AddDate(0, 0, 2)
	recs := []store.UsageRecord{
		{RequestID: "a1", KeyID: "a", At: d1, AudioSeconds: 10, ProcessingSeconds: 1},
		{RequestID: "a2", KeyID: "a", At: d1.Add(24*time.Hour - time.Millisecond), AudioSeconds: 20, ProcessingSeconds: 2},
		{RequestID: "a3", KeyID: "a", At: d2.Add(time.Hour), AudioSeconds: 30, ProcessingSeconds: 3},
		{RequestID: "b1", KeyID: "b", At: d2.Add(2 * time.Hour), AudioSeconds: 40, ProcessingSeconds: 4},
		{RequestID: "a4", KeyID: "a", At: d3, AudioSeconds: 50, ProcessingSeconds: 5},
		// Another time zone: counted on its UTC day.
		{RequestID: "b2", KeyID: "b", At: time.Date(2026, time.May, 3, 1, 0, 0, 0, time.FixedZone("CEST", 2*3600)), AudioSeconds: 1, ProcessingSeconds: 1},
	}
	for _, u := range recs {
		if _, err := s.RecordUsage(ctx, u); err != nil {
			t.Fatal(err)
		}
	}
	tests := []struct {
		name string
		q    store.UsageQuery
		want []store.DayUsage
	}{
		{"key a, days 1-2", store.UsageQuery{KeyID: "a", From: d1, To: d2.Add(5 * time.Hour)}, []store.DayUsage{
			{KeyID: "a", Day: d1, Requests: 2, AudioSeconds: 30, ProcessingSeconds: 3},
			{KeyID: "a", Day: d2, Requests: 1, AudioSeconds: 30, ProcessingSeconds: 3},
		}},
		{"all keys, day 2", store.UsageQuery{From: d2, To: d2}, []store.DayUsage{
			{KeyID: "a", Day: d2, Requests: 1, AudioSeconds: 30, ProcessingSeconds: 3},
			{KeyID: "b", Day: d2, Requests: 2, AudioSeconds: 41, ProcessingSeconds: 5},
		}},
		{"all keys from day 3", store.UsageQuery{From: d3}, []store.DayUsage{
			{KeyID: "a", Day: d3, Requests: 1, AudioSeconds: 50, ProcessingSeconds: 5},
		}},
		{"key b, everything", store.UsageQuery{KeyID: "b"}, []store.DayUsage{
			{KeyID: "b", Day: d2, Requests: 2, AudioSeconds: 41, ProcessingSeconds: 5},
		}},
		{"nobody", store.UsageQuery{KeyID: "c"}, nil},
		{"before everything", store.UsageQuery{To: d1.Add(-time.Millisecond)}, nil},
	}
	check := func(when string) {
		t.Helper()
		for _, tt := range tests {
			got, err := s.Usage(ctx, tt.q)
			if err != nil {
				t.Fatal(err)
			}
			if fmt.Sprint(got) != fmt.Sprint(tt.want) {
				t.Errorf("%s, %s: Usage(%+v) =\n%+v\nwant\n%+v", when, tt.name, tt.q, got, tt.want)
			}
		}
	}
	check("recorded")
	// Pruning forgets the request ids before day 2, not the totals.
	if n, err := s.PruneUsage(ctx, d2); n != 2 || err != nil {
		t.Errorf("PruneUsage = %d, %v; want the 2 records of day 1", n, err)
	}
	check("pruned")
	if ok, err := s.RecordUsage(ctx, recs[2]); ok || err != nil {
		t.Errorf("a request of day 2, again, after pruning day 1: %v, %v; want it still known", ok, err)
	}
}

func testAudit(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(start)
	s := mustOpen(t, open, clock)
	secret, k := mustCreate(t, s, store.NewKey{Name: "ci", Limits: store.Limits{RPM: 60}, Actor: "cli:alice"})
	clock.Advance(time.Hour)
	if _, _, err := s.CreateKey(ctx, store.NewKey{Name: "ci", Actor: "cli:bob"}); !errors.Is(err, store.ErrExists) {
		t.Fatal(err)
	}
	if _, err := s.RevokeKey(ctx, "ci", "key:"+k.ID); err != nil {
		t.Fatal(err)
	}
	got, err := s.Audit(ctx, time.Time{})
	if err != nil {
		t.Fatal(err)
	}
	if len(got) != 2 {
		t.Fatalf("Audit = %+v, want a create and a revoke (not the refused create)", got)
	}
	tests := []struct {
		e                     store.AuditEntry
		at                    time.Time
		actor, action, detail string
	}{
		{got[0], start, "cli:alice", "create", "rpm=60"},
		{got[1], start.Add(time.Hour), "key:" + k.ID, "revoke", ""},
	}
	for _, tt := range tests {
		if !tt.e.At.Equal(tt.at) || tt.e.Actor != tt.actor || tt.e.Action != tt.action || tt.e.KeyID != k.ID || tt.e.KeyName != "ci" || !strings.Contains(tt.e.Detail, tt.detail) {
			t.Errorf("entry %+v, want %s by %s at %v", tt.e, tt.action, tt.actor, tt.at)
		}
	}
	if dump := fmt.Sprintf("%+v", got); strings.Contains(dump, secret[len(k.ID):]) {
		t.Error("the audit log holds a secret")
	}
	later, err := s.Audit(ctx, start.Add(time.Minute))
	if err != nil || len(later) != 1 || later[0].Action != "revoke" {
		t.Errorf("Audit(since) = %+v, %v", later, err)
	}
}

// Migrator is what the migrations test needs beyond store.Store.
type Migrator interface {
	Migrate(ctx context.Context) (int, error)
}

func testMigrations(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(start)
	s := mustOpen(t, open, clock)
	secret, _ := mustCreate(t, s, store.NewKey{Name: "ci"})
	m, ok := s.(Migrator)
	if !ok {
		t.Skip("the store has no Migrate method")
	}
	for i := range 2 {
		if n, err := m.Migrate(ctx); err != nil || n != 0 {
			t.Errorf("migrating a migrated store (%d): %d applied, %v", i, n, err)
		}
	}
	s.Close()
	// Several handles opening at once (replicas starting together).
	var wg sync.WaitGroup
	for range 4 {
		wg.Go(func() {
			s2, err := open(store.Options{Pepper: Pepper, Now: clock.Now})
			if err != nil {
				t.Errorf("reopen: %v", err)
				return
			}
			defer s2.Close()
			if _, err := s2.Authenticate(ctx, secret); err != nil {
				t.Errorf("after reopening: %v", err)
			}
		})
	}
	wg.Wait()
}

func testImport(t *testing.T, open Opener) {
	ctx := context.Background()
	s := mustOpen(t, open, NewClock(start))
	dir := t.TempDir()
	path := filepath.Join(dir, "keys.json")
	if n, err := s.ImportKeysFile(ctx, path, "test"); n != 0 || err != nil {
		t.Errorf("no file: %d, %v", n, err)
	}
	old, err := keys.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	laptop, _, err := old.Create("laptop")
	if err != nil {
		t.Fatal(err)
	}
	gone, _, err := old.Create("gone")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := old.Revoke("gone"); err != nil {
		t.Fatal(err)
	}
	before, _ := os.ReadFile(path)

	n, err := s.ImportKeysFile(ctx, path, "test")
	if err != nil || n != 2 {
		t.Fatalf("import: %d, %v; want 2", n, err)
	}
	p, err := s.Authenticate(ctx, laptop)
	if err != nil || p.Name != "laptop" || !p.Can(store.ScopeTranscribe) || p.Can(store.ScopeAdmin) || p.Limits != (store.Limits{}) {
		t.Errorf("imported key: %+v, %v", p, err)
	}
	if _, err := s.Authenticate(ctx, gone); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("imported revoked key: err = %v", err)
	}
	if _, err := s.Authenticate(ctx, laptop[:len(laptop)-1]+"x"); !errors.Is(err, store.ErrUnknownKey) {
		t.Errorf("imported key, wrong secret: err = %v", err)
	}
	if after, _ := os.ReadFile(path); string(after) != string(before) {
		t.Error("the import changed the keys file")
	}
	// Once only: a key added to the file later is not imported.
	later, _, err := old.Create("later")
	if err != nil {
		t.Fatal(err)
	}
	if n, err := s.ImportKeysFile(ctx, path, "test"); n != 0 || err != nil {
		t.Errorf("second import: %d, %v; want 0", n, err)
	}
	if _, err := s.Authenticate(ctx, later); !errors.Is(err, store.ErrUnknownKey) {
		t.Errorf("a key added to the file after the import: err = %v, want ErrUnknownKey", err)
	}
	list, err := s.Keys(ctx)
	if err != nil || len(list) != 2 {
		t.Errorf("Keys after import = %+v, %v", list, err)
	}
	entries, err := s.Audit(ctx, time.Time{})
	if err != nil || len(entries) != 2 || entries[0].Action != "import" {
		t.Errorf("audit after import = %+v, %v", entries, err)
	}
	if _, err := s.RevokeKey(ctx, "laptop", "test"); err != nil {
		t.Errorf("revoke an imported key: %v", err)
	}
}

func testTwoReplicas(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(start)
	a, b := mustOpen(t, open, clock), mustOpen(t, open, clock)
	replicas := []store.Store{a, b}
	secret, k := mustCreate(t, a, store.NewKey{Name: "shared", Limits: store.Limits{RPM: 10, Concurrency: 3}})
	if p, err := b.Authenticate(ctx, secret); err != nil || p.KeyID != k.ID {
		t.Fatalf("a key made on one replica, used on the other: %+v, %v", p, err)
	}
	isRate := func(err error) bool { return errors.Is(err, store.ErrRateLimited) }
	if n := race(t, 40, func(i int) error { return replicas[i%2].Allow(ctx, k.ID, 10) }, isRate); n != 10 {
		t.Errorf("40 requests over two replicas, limit 10 a minute: %d allowed", n)
	}
	leases := acquireAll(t, 20, func(i int) store.Store { return replicas[i%2] }, k.ID, 3, time.Minute)
	if len(leases) != 3 {
		t.Fatalf("20 sessions over two replicas, limit 3: %d acquired", len(leases))
	}
	// A lease taken on one replica is released on the other.
	if err := b.Release(ctx, leases[0]); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Acquire(ctx, k.ID, 3, time.Minute); err != nil {
		t.Errorf("after a release on the other replica: %v", err)
	}
	n := race(t, 10, func(i int) error {
		ok, err := replicas[i%2].RecordUsage(ctx, store.UsageRecord{RequestID: "once", KeyID: k.ID, AudioSeconds: 3})
		if err == nil && !ok {
			return errDuplicate
		}
		return err
	}, func(err error) bool { return err == errDuplicate })
	if n != 1 {
		t.Errorf("one request recorded on both replicas: %d recorded", n)
	}
	for _, r := range replicas {
		got, err := r.Usage(ctx, store.UsageQuery{KeyID: k.ID})
		if err != nil || len(got) != 1 || got[0].Requests != 1 || got[0].AudioSeconds != 3 {
			t.Errorf("usage seen by a replica: %+v, %v", got, err)
		}
	}
	if _, err := b.RevokeKey(ctx, k.ID, "test"); err != nil {
		t.Fatal(err)
	}
	if _, err := a.Authenticate(ctx, secret); !errors.Is(err, store.ErrRevoked) {
		t.Errorf("revoked on the other replica: err = %v", err)
	}
}

// Replicas starting at once on an empty database: one migrates, the others
// wait and find it done; the first pepper wins and all agree on it.
func testStartTogether(t *testing.T, open Opener) {
	ctx := context.Background()
	clock := NewClock(start)
	handles := make([]store.Store, 4)
	var wg sync.WaitGroup
	for i := range handles {
		wg.Go(func() {
			s, err := open(store.Options{Pepper: Pepper, Now: clock.Now})
			if err != nil {
				t.Errorf("replica %d: %v", i, err)
				return
			}
			handles[i] = s
		})
	}
	wg.Wait()
	for _, s := range handles {
		if s != nil {
			t.Cleanup(func() { s.Close() })
		}
	}
	if t.Failed() {
		return
	}
	secret, _ := mustCreate(t, handles[0], store.NewKey{Name: "ci"})
	for i, s := range handles {
		if _, err := s.Authenticate(ctx, secret); err != nil {
			t.Errorf("replica %d: %v", i, err)
		}
		if m, ok := s.(Migrator); ok {
			if n, err := m.Migrate(ctx); n != 0 || err != nil {
				t.Errorf("replica %d: migrating again applied %d, %v", i, n, err)
			}
		}
	}
}
