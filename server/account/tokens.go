package account

import (
	"context"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"time"

	"github.com/golang-jwt/jwt/v5"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/internal/keyring"
	"github.com/accountd/accountd/store"
)

// Claims are the claims of an accountd token.
type Claims struct {
	jwt.RegisteredClaims
	// SessionID is the "sid" claim: the session behind the token.
	SessionID string `json:"sid"`
	// AMR and AAL say how the session's login was authenticated (RFC
	// 8176 method references; the NIST SP 800-63B level they make).
	AMR []string `json:"amr,omitempty"`
	AAL int      `json:"aal,omitempty"`
}

// sessionAMR is how a session was authenticated, and the assurance level
// that makes: 2 with a second factor, else 1.
func sessionAMR(sess store.Session) ([]string, int) {
	amr := sess.AMR
	if len(amr) == 0 {
		amr = []string{"pwd"}
	}
	if len(amr) > 1 {
		return amr, 2
	}
	return amr, 1
}

// maxTokenLength bounds a token before any parsing.
const maxTokenLength = 8192

// issue signs a token for a session: it expires after TokenLifetime, but
// never after the session's absolute end.
func (s *Service) issue(a store.Account, sess store.Session) (*protocol.TokenResult, error) {
	now := s.now().UTC().Truncate(time.Second)
	exp := now.Add(s.cfg.TokenLifetime)
	if sess.ExpiresAt.Before(exp) {
		exp = sess.ExpiresAt.Truncate(time.Second)
	}
	jti, err := randomID()
	if err != nil {
		return nil, err
	}
	c := Claims{
		RegisteredClaims: jwt.RegisteredClaims{
			Issuer:   s.cfg.Issuer,
			Subject:  a.ID,
			IssuedAt: jwt.NewNumericDate(now),
			// Valid from a little before issue, so that another instance
			// (or an outside verifier) whose clock is behind by up to
			// clockLeeway accepts it at once.
			NotBefore: jwt.NewNumericDate(now.Add(-clockLeeway)),
			ExpiresAt: jwt.NewNumericDate(exp),
			ID:        jti,
		},
		SessionID: sess.ID,
	}
	c.AMR, c.AAL = sessionAMR(sess)
	if s.cfg.Audience != "" {
		c.Audience = jwt.ClaimStrings{s.cfg.Audience}
	}
	tok, kid, err := s.keys.Sign(c)
	if err != nil {
		return nil, fmt.Errorf("sign token: %w", err)
	}
	// The token is known good: its next check here (a refresh, or an
	// app's authenticate) skips the signature.
	s.verified.put(tok, verifiedToken{claims: c, kid: kid, expiresAt: c.ExpiresAt.Time, notBefore: c.NotBefore.Time})
	return &protocol.TokenResult{Token: tok, ExpiresAt: exp, SessionID: sess.ID, Account: publicAccount(a)}, nil
}

// verify checks a token's signature and claims, then that its session is
// live and its account enabled: a database check on every call, so a
// logout at any instance is seen by all of them at once. A refused token
// is written to the audit log with op and, when the signature was good,
// the session and account it named.
func (s *Service) verify(ctx context.Context, token, op string) (store.Account, store.Session, error) {
	a, sess, err := s.checkToken(ctx, token)
	if err == ErrInvalidToken {
		s.audit(ctx, store.AuthEvent{Type: store.EventTokenRejected, Reason: op, AccountID: sess.AccountID, SessionID: sess.ID})
	}
	if err == nil {
		sess = s.touch(ctx, sess)
	}
	return a, sess, err
}

// checkToken is verify without the audit. On ErrInvalidToken for a token
// whose signature was good, the session it returns carries the session
// and account ids the token named.
func (s *Service) checkToken(ctx context.Context, token string) (store.Account, store.Session, error) {
	if token == "" || len(token) > maxTokenLength || !compactJWS(token) {
		return store.Account{}, store.Session{}, ErrInvalidToken
	}
	c, err := s.verifySignature(ctx, token)
	if err != nil {
		return store.Account{}, store.Session{}, err
	}
	rejected := store.Session{ID: c.SessionID, AccountID: c.Subject}
	sess, a, err := s.sessionAccount(ctx, c.SessionID)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, rejected, ErrInvalidToken
	}
	if err != nil {
		return store.Account{}, store.Session{}, fmt.Errorf("get session: %w", err)
	}
	if sess.Revoked() || !s.now().Before(sess.ExpiresAt) || sess.AccountID != c.Subject || a.Disabled {
		return store.Account{}, rejected, ErrInvalidToken
	}
	return a, sess, nil
}

// verifySignature checks a token's signature and claims. A token verified
// before skips the signature check (see verifiedCache) but not the time
// claims, and only while its signing key is still in the ring.
func (s *Service) verifySignature(ctx context.Context, token string) (Claims, error) {
	now := s.now()
	if v, ok := s.verified.get(token); ok && s.keys.Verifies(v.kid, now) {
		if !now.Before(v.expiresAt) || now.Before(v.notBefore) {
			return Claims{}, ErrInvalidToken
		}
		return v.claims, nil
	}
	if !strictJOSE(token) {
		return Claims{}, ErrInvalidToken
	}
	var c Claims
	t, err := s.parser.ParseWithClaims(token, &c, s.keys.Keyfunc(ctx))
	if err != nil {
		if errors.Is(err, store.ErrUnavailable) {
			return Claims{}, err
		}
		return Claims{}, ErrInvalidToken
	}
	if c.ExpiresAt == nil || c.NotBefore == nil {
		return Claims{}, ErrInvalidToken
	}
	kid, _ := t.Header["kid"].(string)
	s.verified.put(token, verifiedToken{claims: c, kid: kid, expiresAt: c.ExpiresAt.Time, notBefore: c.NotBefore.Time})
	return c, nil
}

// compactJWS reports whether token is three base64url segments and
// nothing else: the parser would otherwise skip some bytes (CR, LF), so
// that one token had unlimited spellings.
func compactJWS(token string) bool {
	dots := 0
	for i := 0; i < len(token); i++ {
		switch c := token[i]; {
		case c == '.':
			dots++
		case c >= 'A' && c <= 'Z', c >= 'a' && c <= 'z', c >= '0' && c <= '9', c == '-', c == '_':
		default:
			return false
		}
	}
	return dots == 2
}

// strictJOSE refuses what golang-jwt would let through: a "crit" header
// (RFC 7515 requires refusing extensions it does not understand, and it
// understands none) and time claims that are not JSON numbers ("exp" as
// a string).
func strictJOSE(token string) bool {
	parts := strings.Split(token, ".")
	var header map[string]json.RawMessage
	if hb, err := base64.RawURLEncoding.DecodeString(parts[0]); err != nil || json.Unmarshal(hb, &header) != nil {
		return false
	}
	if _, ok := header["crit"]; ok {
		return false
	}
	var payload map[string]json.RawMessage
	if pb, err := base64.RawURLEncoding.DecodeString(parts[1]); err != nil || json.Unmarshal(pb, &payload) != nil {
		return false
	}
	for _, name := range []string{"exp", "nbf", "iat"} {
		if v, ok := payload[name]; ok && (len(v) == 0 || !(v[0] == '-' || (v[0] >= '0' && v[0] <= '9'))) {
			return false
		}
	}
	return true
}

// Authenticate returns the account and session behind a valid token.
func (s *Service) Authenticate(ctx context.Context, req protocol.TokenRequest) (*protocol.AuthenticateResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpAuthenticate)
	if err != nil {
		return nil, err
	}
	amr, aal := sessionAMR(sess)
	return &protocol.AuthenticateResult{
		Account: publicAccount(a),
		Session: protocol.SessionInfo{ID: sess.ID, CreatedAt: sess.CreatedAt, ExpiresAt: sess.ExpiresAt},
		AMR:     amr, AAL: aal,
	}, nil
}

// Logout revokes the session behind a valid token, at once.
func (s *Service) Logout(ctx context.Context, req protocol.TokenRequest) (*protocol.LogoutResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpLogout)
	if err != nil {
		return nil, err
	}
	e := s.event(ctx, store.AuthEvent{Type: store.EventLogout, AccountID: a.ID, SessionID: sess.ID})
	err = s.store.RevokeSession(ctx, a.ID, sess.ID, e)
	if errors.Is(err, store.ErrOutcomeUnknown) {
		err = s.settle(ctx, err, func(ctx context.Context) (bool, error) {
			got, err := s.store.GetSession(ctx, sess.ID)
			return err == nil && got.Revoked(), notFound(err)
		})
	}
	if err != nil {
		return nil, fmt.Errorf("revoke session: %w", err)
	}
	return &protocol.LogoutResult{SessionID: sess.ID}, nil
}

// Refresh issues a new token for the session behind a valid token; it
// never extends the session's absolute lifetime.
func (s *Service) Refresh(ctx context.Context, req protocol.TokenRequest) (*protocol.TokenResult, error) {
	a, sess, err := s.verify(ctx, req.Token, protocol.OpRefresh)
	if err != nil {
		return nil, err
	}
	res, err := s.issue(a, sess)
	if err != nil {
		return nil, err
	}
	// A refresh changes nothing stored: its audit row is its write, and
	// the token is handed out only once the row is.
	if err := s.store.AddAuthEvent(ctx, s.event(ctx, store.AuthEvent{Type: store.EventRefresh, AccountID: a.ID, SessionID: sess.ID})); err != nil {
		return nil, fmt.Errorf("record refresh: %w", err)
	}
	return res, nil
}

// JWK is one public key in the JWKS.
type JWK = keyring.JWK

// JWKS returns the public keys that verify live tokens, and the next key
// of a rotation before it signs.
func (s *Service) JWKS() []JWK { return s.keys.JWKS() }

// verifiedCache remembers tokens whose signature has been verified, so a
// token checked again (the common case: an app authenticates the same
// token on every request), or issued here, skips the signature check.
// Only the signature
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
