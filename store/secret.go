package store

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"fmt"
	"strings"
)

// SecretPrefix starts every key earshot makes, so that a leaked key is
// recognizable (secret scanners can match sk-earshot-).
const SecretPrefix = "sk-earshot-"

// legacyPrefix starts the keys of earshot's former keys file; they keep
// working after the import.
const legacyPrefix = "esk_"

const (
	idHexLen     = 12 // hex digits of the key ID after SecretPrefix
	secretHexLen = 64 // hex digits of the secret part (32 random bytes)
	legacyIDLen  = len(legacyPrefix) + 8
)

// newSecret makes a key: SecretPrefix, 12 hex digits of ID, "-", 64 hex
// digits of secret. Its ID is everything before the second dash.
func newSecret() (secret, id string, err error) {
	var b [idHexLen/2 + secretHexLen/2]byte
	if _, err := rand.Read(b[:]); err != nil {
		return "", "", fmt.Errorf("store: %w", err)
	}
	h := hex.EncodeToString(b[:])
	secret = SecretPrefix + h[:idHexLen] + "-" + h[idHexLen:]
	return secret, secret[:len(SecretPrefix)+idHexLen], nil
}

// KeyID returns the non-secret ID of a presented key, or false when it is
// not shaped like an earshot key (then no stored key can match).
func KeyID(secret string) (string, bool) {
	switch {
	case strings.HasPrefix(secret, SecretPrefix):
		rest := secret[len(SecretPrefix):]
		if len(rest) != idHexLen+1+secretHexLen || rest[idHexLen] != '-' ||
			!isLowerHex(rest[:idHexLen]) || !isLowerHex(rest[idHexLen+1:]) {
			return "", false
		}
		return secret[:len(SecretPrefix)+idHexLen], true
	case strings.HasPrefix(secret, legacyPrefix):
		if len(secret) != len(legacyPrefix)+secretHexLen || !isLowerHex(secret[len(legacyPrefix):]) {
			return "", false
		}
		return secret[:legacyIDLen], true
	}
	return "", false
}

func isLowerHex(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		if (c < '0' || c > '9') && (c < 'a' || c > 'f') {
			return false
		}
	}
	return true
}

// hasher computes stored key hashes: HMAC-SHA256(pepper, SHA-256(secret)).
// Hashing the SHA-256 rather than the secret lets the keys file of old
// (which kept SHA-256 hashes) be imported without its secrets.
type hasher struct{ pepper []byte }

func (h hasher) fromSHA256(sum []byte) string {
	m := hmac.New(sha256.New, h.pepper)
	m.Write(sum)
	return hex.EncodeToString(m.Sum(nil))
}

func (h hasher) hash(secret string) string {
	sum := sha256.Sum256([]byte(secret))
	return h.fromSHA256(sum[:])
}

// check is a value stored once per database to detect a changed pepper.
func (h hasher) check() string {
	m := hmac.New(sha256.New, h.pepper)
	m.Write([]byte("earshot key pepper check v1"))
	return hex.EncodeToString(m.Sum(nil))
}

func equalHash(a, b string) bool {
	return subtle.ConstantTimeCompare([]byte(a), []byte(b)) == 1
}
