package jobs

import (
	"crypto/aes"
	"crypto/cipher"
	"crypto/rand"
	"encoding/base64"
	"encoding/binary"
	"encoding/hex"
	"errors"
	"fmt"
	"math"
	"strings"
)

// KeySize is the length of the key audio is sealed with (AES-256).
const KeySize = 32

// ParseKey reads a key as it is kept in a file or an environment
// variable: 64 hex digits or 32 bytes in standard base64, surrounding
// space ignored.
func ParseKey(s string) ([]byte, error) {
	s = strings.TrimSpace(s)
	if b, err := hex.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	if b, err := base64.StdEncoding.DecodeString(s); err == nil && len(b) == KeySize {
		return b, nil
	}
	return nil, fmt.Errorf("%w: a jobs key is %d bytes written as 64 hex digits or in base64 (make one with 'openssl rand -hex 32')", ErrConfig, KeySize)
}

// sealer encrypts audio at rest with AES-256-GCM. The additional data
// binds each sealed piece to its job and place, so that rows cannot be
// swapped between jobs unnoticed.
type sealer struct{ aead cipher.AEAD }

func newSealer(key []byte) (*sealer, error) {
	if len(key) != KeySize {
		return nil, fmt.Errorf("%w: the jobs key is %d bytes, not %d", ErrConfig, len(key), KeySize)
	}
	block, err := aes.NewCipher(key)
	if err != nil {
		return nil, err
	}
	aead, err := cipher.NewGCM(block)
	if err != nil {
		return nil, err
	}
	return &sealer{aead: aead}, nil
}

// seal encrypts samples: a random nonce, then the ciphertext of the
// little-endian float32s.
func (s *sealer) seal(samples []float32, aad string) []byte {
	plain := make([]byte, 4*len(samples))
	for i, v := range samples {
		binary.LittleEndian.PutUint32(plain[4*i:], math.Float32bits(v))
	}
	nonce := make([]byte, s.aead.NonceSize(), s.aead.NonceSize()+len(plain)+s.aead.Overhead())
	rand.Read(nonce)
	return s.aead.Seal(nonce, nonce, plain, []byte(aad))
}

var errSealed = errors.New("jobs: sealed audio cannot be opened with this key (is --jobs-key the same on every replica?)")

func (s *sealer) open(sealed []byte, aad string) ([]float32, error) {
	n := s.aead.NonceSize()
	if len(sealed) < n {
		return nil, errSealed
	}
	plain, err := s.aead.Open(nil, sealed[:n], sealed[n:], []byte(aad))
	if err != nil || len(plain)%4 != 0 {
		return nil, errSealed
	}
	out := make([]float32, len(plain)/4)
	for i := range out {
		out[i] = math.Float32frombits(binary.LittleEndian.Uint32(plain[4*i:]))
	}
	return out, nil
}
