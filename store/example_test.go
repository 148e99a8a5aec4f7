package store_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"time"

	"github.com/earshot-dev/earshot/store"
)

// One request's way through the store, as a server takes it: authenticate,
// check the quota, count the request, hold a concurrency slot while it
// runs, record its usage once, give the slot back.
func Example() {
	ctx := context.Background()
	dir, _ := os.MkdirTemp("", "earshot-store-example")
	defer os.RemoveAll(dir)
	s, err := store.Open(ctx, "sqlite:"+filepath.Join(dir, "earshot.db"), store.Options{
		Pepper: []byte("a server secret, from the config"),
		Now:    func() time.Time { return time.Date(2026, 5, 1, 12, 0, 30, 0, time.UTC) }, // a fixed clock, for the example's output
	})
	if err != nil {
		fmt.Println(err)
		return
	}
	defer s.Close()
	secret, _, _ := s.CreateKey(ctx, store.NewKey{Name: "ci", Limits: store.Limits{RPM: 1, Concurrency: 1, MonthlyAudioSeconds: 3600}, Actor: "example"})

	p, err := s.Authenticate(ctx, secret) // 401 on ErrUnauthenticated, 503 on ErrUnavailable
	if err != nil {
		fmt.Println(err)
		return
	}
	fmt.Println("caller:", p.Name, p.Can(store.ScopeTranscribe), p.Can(store.ScopeAdmin))
	if err := s.CheckQuota(ctx, p.KeyID, p.Limits.MonthlyAudioSeconds); err != nil { // 429 insufficient_quota
		fmt.Println(err)
		return
	}
	if err := s.Allow(ctx, p.KeyID, p.Limits.RPM); err != nil { // 429 with Retry-After
		fmt.Println(err)
		return
	}
	lease, err := s.Acquire(ctx, p.KeyID, p.Limits.Concurrency, 10*time.Minute)
	if err != nil { // 429 with Retry-After
		fmt.Println(err)
		return
	}
	// ... transcribe ...
	recorded, _ := s.RecordUsage(ctx, store.UsageRecord{RequestID: "req_1", KeyID: p.KeyID, AudioSeconds: 11, ProcessingSeconds: 1.5})
	again, _ := s.RecordUsage(ctx, store.UsageRecord{RequestID: "req_1", KeyID: p.KeyID, AudioSeconds: 11, ProcessingSeconds: 1.5})
	fmt.Println("recorded:", recorded, again)
	s.Release(ctx, lease)

	err = s.Allow(ctx, p.KeyID, p.Limits.RPM)
	var le *store.LimitError
	fmt.Println("second request this minute:", errors.Is(err, store.ErrRateLimited), errors.As(err, &le) && le.RetryAfter > 0)
	// Output:
	// caller: ci true false
	// recorded: true false
	// second request this minute: true true
}
