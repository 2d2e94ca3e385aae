package client

import (
	"crypto/sha256"
	"sync"
	"time"
)

// maxVerifiedTokens bounds the Verifier's memory of verified tokens: a
// backend's live tokens, about 5 MB at most. Only tokens that verified
// are remembered, so junk cannot fill it.
const maxVerifiedTokens = 1 << 14

// verifiedTokens remembers the claims of tokens whose signature and
// claims verified, keyed by the SHA-256 of the token's exact bytes, so
// that a token seen again skips the signature check. What it remembers
// cannot widen what verifies:
//
//   - only the very same bytes match (a changed byte is another key, and
//     SHA-256 admits no known collision);
//   - the time claims are checked again at every use, against the
//     Verifier's clock, as the parser would;
//   - an entry lives no longer than the token, nor than one refresh of
//     the key set, so a key withdrawn from the JWKS stops verifying its
//     tokens as late as it would without the cache;
//   - the issuer, audience and algorithm were checked against options
//     that do not change for the life of the Verifier;
//   - checks that are not about the token's bytes (the Authenticator's
//     answer, revocation) run at every use as before.
type verifiedTokens struct {
	mu sync.RWMutex
	m  map[[32]byte]verifiedToken
}

type verifiedToken struct {
	claims Claims
	until  time.Time // end of the entry's life, by the Verifier's clock
}

func newVerifiedTokens() *verifiedTokens {
	return &verifiedTokens{m: make(map[[32]byte]verifiedToken)}
}

// get returns the claims remembered under key when they are still good
// at now: inside the entry's life and the token's own validity window
// (iat and nbf not in the future, exp not passed, with leeway).
func (vt *verifiedTokens) get(key [32]byte, now time.Time, leeway time.Duration) (*Claims, bool) {
	vt.mu.RLock()
	e, ok := vt.m[key]
	vt.mu.RUnlock()
	if !ok || !now.Before(e.until) || !now.Before(e.claims.ExpiresAt.Add(leeway)) ||
		now.Add(leeway).Before(e.claims.NotBefore) || now.Add(leeway).Before(e.claims.IssuedAt) {
		return nil, false
	}
	c := e.claims
	c.Audience = append([]string(nil), c.Audience...)
	return &c, true
}

// verifiedKey is the key of token in a verifiedTokens.
func verifiedKey(token string) [32]byte { return sha256.Sum256([]byte(token)) }

// put remembers c under key until the earlier of its expiry and until.
func (vt *verifiedTokens) put(key [32]byte, c *Claims, now, until time.Time) {
	if c.ExpiresAt.Before(until) {
		until = c.ExpiresAt
	}
	if !now.Before(until) {
		return
	}
	e := verifiedToken{claims: *c, until: until}
	e.claims.Account = nil
	e.claims.Audience = append([]string(nil), c.Audience...)
	vt.mu.Lock()
	defer vt.mu.Unlock()
	if len(vt.m) >= maxVerifiedTokens {
		for k, old := range vt.m {
			if !now.Before(old.until) {
				delete(vt.m, k)
			}
		}
		if len(vt.m) >= maxVerifiedTokens {
			clear(vt.m)
		}
	}
	vt.m[key] = e
}
