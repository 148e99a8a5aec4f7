package transcripts

import (
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

func result(words int) *transcribe.Result {
	seg := transcribe.Segment{Text: strings.Repeat(" word", words)}
	for range words {
		seg.Tokens = append(seg.Tokens, transcribe.Token{Text: " word"})
	}
	return &transcribe.Result{Segments: []transcribe.Segment{seg}}
}

func TestPutGetExpire(t *testing.T) {
	s := New(time.Minute, 0)
	clock := time.Unix(1000, 0)
	s.now = func() time.Time { return clock }
	id, err := s.Put(result(3))
	if err != nil || !strings.HasPrefix(id, "tr_") || len(id) != 23 {
		t.Fatalf("Put = %q, %v", id, err)
	}
	clock = clock.Add(50 * time.Second)
	if _, ok := s.Get(id); !ok {
		t.Fatal("gone before its TTL")
	}
	// Get renewed it: 50 s more is still within a minute of the last use.
	clock = clock.Add(50 * time.Second)
	if _, ok := s.Get(id); !ok {
		t.Fatal("a read did not renew the TTL")
	}
	clock = clock.Add(61 * time.Second)
	if _, ok := s.Get(id); ok || s.Len() != 0 || s.Bytes() != 0 {
		t.Fatalf("kept past its TTL: len %d, bytes %d", s.Len(), s.Bytes())
	}
	if _, ok := s.Get("tr_nope"); ok {
		t.Fatal("found an id never stored")
	}
}

func TestSizeCap(t *testing.T) {
	one := Size(result(100))
	s := New(time.Hour, 3*one)
	var ids []string
	for range 5 {
		id, err := s.Put(result(100))
		if err != nil {
			t.Fatal(err)
		}
		ids = append(ids, id)
	}
	if s.Len() != 3 || s.Bytes() > 3*one {
		t.Fatalf("len %d, bytes %d; cap %d", s.Len(), s.Bytes(), 3*one)
	}
	// The oldest went first.
	for i, id := range ids {
		if _, ok := s.Get(id); ok != (i >= 2) {
			t.Errorf("transcript %d kept = %v", i, ok)
		}
	}
	if _, err := s.Put(result(1000)); !errors.Is(err, ErrTooLarge) {
		t.Errorf("oversized Put: %v", err)
	}
}

func TestConcurrent(t *testing.T) {
	s := New(time.Hour, 40*Size(result(10)))
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 200 {
				id, err := s.Put(result(10))
				if err != nil {
					t.Error(err)
					return
				}
				s.Get(id)
				s.Len()
			}
		})
	}
	wg.Wait()
	if s.Len() > 40 {
		t.Errorf("len %d over the cap", s.Len())
	}
}
