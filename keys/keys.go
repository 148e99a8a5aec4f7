// Package keys is earshot's first key file, keys.json: API keys kept as
// SHA-256 hashes, a short prefix to recognize each by, its name and dates.
// Keys are 32 random bytes, so a fast hash is the right one: there is
// nothing to brute-force.
//
// The store (package store) has replaced it: `earshot keys` no longer writes
// this file, and store.DB.ImportKeysFile reads it once, after which its keys
// live, and keep working, in the store.
//
// A Store is a JSON file written atomically (temporary file, then rename),
// with mode 0600. It is safe for concurrent use within one process; Verify
// reads an in-memory copy, compares hashes in constant time and sees keys
// created or revoked by another process (earshot keys create/revoke while
// the server runs) as soon as the file changes.
package keys

import (
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"time"
)

// Prefix starts every earshot key, so that leaked keys are recognizable.
const Prefix = "esk_"

// Errors.
var (
	ErrNotFound = errors.New("keys: no such key")
	ErrExists   = errors.New("keys: a key with that name exists")
)

// Key is what the store remembers of a key.
type Key struct {
	ID      string     `json:"id"`     // the first characters of the key, shown in lists
	Name    string     `json:"name"`   // what the user called it
	Hash    string     `json:"sha256"` // hex SHA-256 of the whole key
	Created time.Time  `json:"created"`
	Revoked *time.Time `json:"revoked,omitempty"`
}

// Store is a key file.
type Store struct {
	path string

	mu    sync.RWMutex
	keys  []Key
	mtime time.Time // of the file when last read
	size  int64
	// extra are keys that live only in memory (EARSHOT_API_KEY).
	extra [][32]byte
}

// Open reads the key file at path; a missing file is an empty store.
func Open(path string) (*Store, error) {
	s := &Store{path: path}
	if err := s.Reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// Reload rereads the file.
func (s *Store) Reload() error {
	var mtime time.Time
	var size int64
	if st, err := os.Stat(s.path); err == nil {
		mtime, size = st.ModTime(), st.Size()
	}
	data, err := os.ReadFile(s.path)
	var keys []Key
	switch {
	case errors.Is(err, os.ErrNotExist):
	case err != nil:
		return fmt.Errorf("keys: %w", err)
	default:
		if err := json.Unmarshal(data, &keys); err != nil {
			return fmt.Errorf("keys: %s is damaged: %w", s.path, err)
		}
	}
	s.mu.Lock()
	s.keys, s.mtime, s.size = keys, mtime, size
	s.mu.Unlock()
	return nil
}

// reloadIfChanged rereads the file when another process has changed it. A
// file that cannot be read keeps the keys already loaded.
func (s *Store) reloadIfChanged() {
	st, err := os.Stat(s.path)
	if err != nil {
		return
	}
	s.mu.RLock()
	same := st.ModTime().Equal(s.mtime) && st.Size() == s.size
	s.mu.RUnlock()
	if !same {
		s.Reload()
	}
}

// AddInMemory accepts key without storing it (a key given in the environment).
func (s *Store) AddInMemory(key string) {
	s.mu.Lock()
	s.extra = append(s.extra, sha256.Sum256([]byte(key)))
	s.mu.Unlock()
}

// Create makes a new key named name, stores its hash and returns the key:
// the only time it is ever seen.
func (s *Store) Create(name string) (string, Key, error) {
	name = strings.TrimSpace(name)
	if name == "" {
		return "", Key{}, errors.New("keys: a key needs a name")
	}
	var raw [32]byte
	if _, err := rand.Read(raw[:]); err != nil {
		return "", Key{}, err
	}
	key := Prefix + hex.EncodeToString(raw[:])
	sum := sha256.Sum256([]byte(key))
	k := Key{ID: key[:len(Prefix)+8], Name: name, Hash: hex.EncodeToString(sum[:]), Created: time.Now().UTC()}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, o := range s.keys {
		if o.Name == name && o.Revoked == nil {
			return "", Key{}, fmt.Errorf("%w: %q", ErrExists, name)
		}
	}
	keys := append(append([]Key{}, s.keys...), k)
	if err := s.write(keys); err != nil {
		return "", Key{}, err
	}
	s.keys = keys
	s.noteWritten()
	return key, k, nil
}

// Revoke revokes the key whose name or ID is nameOrID.
func (s *Store) Revoke(nameOrID string) (Key, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := append([]Key{}, s.keys...)
	for i, k := range keys {
		if (k.Name == nameOrID || k.ID == nameOrID) && k.Revoked == nil {
			now := time.Now().UTC()
			keys[i].Revoked = &now
			if err := s.write(keys); err != nil {
				return Key{}, err
			}
			s.keys = keys
			s.noteWritten()
			return keys[i], nil
		}
	}
	return Key{}, fmt.Errorf("%w: %q", ErrNotFound, nameOrID)
}

// List returns every key, revoked ones included.
func (s *Store) List() []Key {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return append([]Key{}, s.keys...)
}

// Active is the number of keys that can be used.
func (s *Store) Active() int {
	s.mu.RLock()
	defer s.mu.RUnlock()
	n := len(s.extra)
	for _, k := range s.keys {
		if k.Revoked == nil {
			n++
		}
	}
	return n
}

// Verify reports whether key is a valid, unrevoked key. Every stored hash is
// compared, in constant time, whatever matches first.
func (s *Store) Verify(key string) bool {
	s.reloadIfChanged()
	sum := sha256.Sum256([]byte(key))
	hexSum := []byte(hex.EncodeToString(sum[:]))
	s.mu.RLock()
	defer s.mu.RUnlock()
	ok := 0
	for _, k := range s.keys {
		m := subtle.ConstantTimeCompare(hexSum, []byte(k.Hash))
		if k.Revoked != nil {
			m = 0
		}
		ok |= m
	}
	for _, e := range s.extra {
		ok |= subtle.ConstantTimeCompare(sum[:], e[:])
	}
	return ok == 1
}

// noteWritten records the file's state after this store wrote it; the caller
// holds mu.
func (s *Store) noteWritten() {
	if st, err := os.Stat(s.path); err == nil {
		s.mtime, s.size = st.ModTime(), st.Size()
	}
}

func (s *Store) write(keys []Key) error {
	data, err := json.MarshalIndent(keys, "", "  ")
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.path), 0o700); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(s.path), ".keys-*.json")
	if err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	defer os.Remove(f.Name()) // no-op after the rename
	if _, err := f.Write(append(data, '\n')); err != nil {
		f.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if err := f.Chmod(0o600); err != nil {
		f.Close()
		return fmt.Errorf("keys: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("keys: %w", err)
	}
	return os.Rename(f.Name(), s.path)
}
