// Package transcripts keeps finished transcriptions in memory for a while,
// so that a client can page through a long one (MCP's get_transcript and
// transcript:// resources) without sending the audio again.
//
// Nothing is written to disk. A transcript is dropped when it has not been
// read for the store's TTL, or, oldest first, when the store would exceed
// its size cap. Expired entries are dropped as the store is used: it runs no
// goroutine and holds nothing to close.
//
// A Store is safe for concurrent use.
package transcripts

import (
	"container/list"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"sync"
	"time"

	"github.com/earshot-dev/earshot/transcribe"
)

// ErrTooLarge is returned by Put for a transcript larger than the store.
var ErrTooLarge = errors.New("transcripts: transcript larger than the store's size cap")

// Defaults for New.
const (
	DefaultTTL      = time.Hour
	DefaultMaxBytes = 256 << 20
)

// Store holds transcripts by id.
type Store struct {
	ttl      time.Duration
	maxBytes int64
	now      func() time.Time

	mu    sync.Mutex
	items map[string]*list.Element // of *entry
	lru   *list.List               // front: most recently used
	bytes int64
}

type entry struct {
	id      string
	res     *transcribe.Result
	size    int64
	expires time.Time
}

// New makes a store that keeps each transcript ttl after its last use and
// at most maxBytes of them (estimated); zero values take the defaults.
func New(ttl time.Duration, maxBytes int64) *Store {
	if ttl <= 0 {
		ttl = DefaultTTL
	}
	if maxBytes <= 0 {
		maxBytes = DefaultMaxBytes
	}
	return &Store{ttl: ttl, maxBytes: maxBytes, now: time.Now, items: map[string]*list.Element{}, lru: list.New()}
}

// TTL is how long a transcript is kept after its last use.
func (s *Store) TTL() time.Duration { return s.ttl }

// Put stores a transcript and returns its new id ("tr_" and 20 hex
// digits). The transcript must not be changed afterwards.
func (s *Store) Put(res *transcribe.Result) (string, error) {
	size := Size(res)
	if size > s.maxBytes {
		return "", fmt.Errorf("%w (%d MB, the cap is %d MB)", ErrTooLarge, size>>20, s.maxBytes>>20)
	}
	var b [10]byte
	rand.Read(b[:])
	id := "tr_" + hex.EncodeToString(b[:])
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	for s.bytes+size > s.maxBytes && s.lru.Len() > 0 {
		s.drop(s.lru.Back())
	}
	s.items[id] = s.lru.PushFront(&entry{id: id, res: res, size: size, expires: s.now().Add(s.ttl)})
	s.bytes += size
	return id, nil
}

// Get returns a stored transcript and keeps it for another TTL.
func (s *Store) Get(id string) (*transcribe.Result, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	el, ok := s.items[id]
	if !ok {
		return nil, false
	}
	e := el.Value.(*entry)
	e.expires = s.now().Add(s.ttl)
	s.lru.MoveToFront(el)
	return e.res, true
}

// Len is the number of transcripts held and Bytes their estimated size.
func (s *Store) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	return s.lru.Len()
}

// Bytes is the estimated size of the transcripts held.
func (s *Store) Bytes() int64 {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.expire()
	return s.bytes
}

// expire drops what has not been used for the TTL. The least recently used
// are at the back, so it stops at the first one still fresh.
func (s *Store) expire() {
	now := s.now()
	for el := s.lru.Back(); el != nil; el = s.lru.Back() {
		if el.Value.(*entry).expires.After(now) {
			return
		}
		s.drop(el)
	}
}

func (s *Store) drop(el *list.Element) {
	e := s.lru.Remove(el).(*entry)
	delete(s.items, e.id)
	s.bytes -= e.size
}

// Size estimates the memory a transcript takes, in bytes.
func Size(res *transcribe.Result) int64 {
	n := int64(256)
	for _, seg := range res.Segments {
		n += 128 + int64(len(seg.Text))
		for _, t := range seg.Tokens {
			n += 72 + int64(len(t.Text))
		}
	}
	for _, w := range res.Words {
		n += 56 + int64(len(w.Word))
	}
	return n
}
