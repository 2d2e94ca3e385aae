package server

import (
	"crypto/sha256"
	"sync"
	"time"
)

// verifiedCache remembers tokens whose signature has been verified, so a
// token checked again (the common case: an app authenticates the same
// token on every request) skips the RSA operation. Only the signature
// result is cached: expiry is checked against the clock and the session
// against the database on every call, so logout still takes effect at
// once. Keys are SHA-256 of the whole token: any changed byte misses.
// Memory is bounded: when full, the cache is cleared and refills from
// live traffic. Safe for concurrent use.
type verifiedCache struct {
	mu      sync.Mutex
	max     int
	entries map[[32]byte]verifiedToken
}

// verifiedToken is what a verified token says.
type verifiedToken struct {
	claims    Claims
	kid       string
	expiresAt time.Time
	notBefore time.Time
}

func newVerifiedCache(max int) *verifiedCache {
	return &verifiedCache{max: max, entries: make(map[[32]byte]verifiedToken)}
}

func (c *verifiedCache) get(token string) (verifiedToken, bool) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	v, ok := c.entries[k]
	c.mu.Unlock()
	return v, ok
}

func (c *verifiedCache) put(token string, v verifiedToken) {
	k := sha256.Sum256([]byte(token))
	c.mu.Lock()
	if len(c.entries) >= c.max {
		clear(c.entries)
	}
	c.entries[k] = v
	c.mu.Unlock()
}
