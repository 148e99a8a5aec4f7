package store_test

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/store"
	"github.com/earshot-dev/earshot/store/storetest"
)

// BenchmarkSQLite and BenchmarkPostgres time what a request costs the
// store: Authenticate, Allow, Acquire+Release, CheckQuota, RecordUsage.
func BenchmarkSQLite(b *testing.B) {
	s, err := store.Open(context.Background(), filepath.Join(b.TempDir(), "earshot.db"), store.Options{Pepper: storetest.Pepper})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchStore(b, s)
}

func BenchmarkPostgres(b *testing.B) {
	s, err := store.Open(context.Background(), freshSchema(b, postgresURL(b)), store.Options{Pepper: storetest.Pepper})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	benchStore(b, s)
}

func benchStore(b *testing.B, s *store.DB) {
	ctx := context.Background()
	secret, k, err := s.CreateKey(ctx, store.NewKey{Name: "bench"})
	if err != nil {
		b.Fatal(err)
	}
	b.Run("Authenticate", func(b *testing.B) {
		for b.Loop() {
			if _, err := s.Authenticate(ctx, secret); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("Allow", func(b *testing.B) {
		for b.Loop() {
			if err := s.Allow(ctx, k.ID, 1<<30); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("AcquireRelease", func(b *testing.B) {
		for b.Loop() {
			l, err := s.Acquire(ctx, k.ID, 4, time.Minute)
			if err != nil {
				b.Fatal(err)
			}
			if err := s.Release(ctx, l); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("CheckQuota", func(b *testing.B) {
		for b.Loop() {
			if err := s.CheckQuota(ctx, k.ID, 1<<40); err != nil {
				b.Fatal(err)
			}
		}
	})
	n := 0
	b.Run("RecordUsage", func(b *testing.B) {
		for b.Loop() {
			n++
			if _, err := s.RecordUsage(ctx, store.UsageRecord{RequestID: fmt.Sprint(n), KeyID: k.ID, AudioSeconds: 1}); err != nil {
				b.Fatal(err)
			}
		}
	})
}
