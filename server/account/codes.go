package account

import (
	"context"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"math/big"
	"strings"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// Mailed codes: 8 decimal digits from crypto/rand (26.6 bits, above the
// 20 NIST SP 800-63B asks for), used once, for 10 minutes (OWASP ASVS
// 5.0's bound for out-of-band codes), at most 5 attempts each, and at most
// codesPerWindow mailed per account and purpose an hour.
const (
	codeDigits      = 8
	codeLifetime    = 10 * time.Minute
	codeMaxAttempts = 5
	codesPerWindow  = 5
	codeWindow      = time.Hour
)

// errInvalidCode answers every refused code alike: wrong, expired, used,
// used up or another account's.
var errInvalidCode = NewError(protocol.CodeInvalidCode, "the code is wrong or no longer valid; ask for a new one")

// newCode returns codeDigits random decimal digits.
func newCode() (string, error) {
	max := big.NewInt(1)
	for range codeDigits {
		max.Mul(max, big.NewInt(10))
	}
	n, err := rand.Int(rand.Reader, max)
	if err != nil {
		return "", err
	}
	return fmt.Sprintf("%0*d", codeDigits, n), nil
}

// codeKey derives, from the master key, the key codes are hashed under:
// a database dump alone cannot be searched for the codes it holds.
func codeKey(masterKey []byte) []byte {
	m := hmac.New(sha256.New, masterKey)
	m.Write([]byte("accountd email codes v1"))
	return m.Sum(nil)
}

// hashCode binds a code to the account, the purpose and the address it
// was mailed to, so that a code is worth nothing anywhere else.
func (s *Service) hashCode(accountID, purpose, email, code string) []byte {
	m := hmac.New(sha256.New, s.codeKey)
	for _, part := range []string{accountID, purpose, email, code} {
		m.Write([]byte(part))
		m.Write([]byte{0})
	}
	return m.Sum(nil)
}

// cleanCode drops the spaces and dashes a person may type in a code.
func cleanCode(code string) string {
	if len(code) > 64 {
		return ""
	}
	return strings.Map(func(r rune) rune {
		if r == ' ' || r == '-' {
			return -1
		}
		return r
	}, code)
}

// checkCode counts an attempt at the account's code for purpose and
// returns the hash of code when it is the live code mailed to email.
// Every refusal is errInvalidCode, audited.
func (s *Service) checkCode(ctx context.Context, a store.Account, purpose, email, code string) ([]byte, error) {
	c, err := s.store.CountEmailCodeAttempt(ctx, a.ID, purpose)
	if errors.Is(err, store.ErrNotFound) {
		return nil, s.refuseCode(ctx, a.ID, purpose)
	}
	if err != nil {
		return nil, fmt.Errorf("count code attempt: %w", err)
	}
	h := s.hashCode(a.ID, purpose, email, cleanCode(code))
	good := subtle.ConstantTimeCompare(h, c.Hash) == 1
	if !good || c.Attempts > codeMaxAttempts || !s.stamp().Before(c.ExpiresAt) || c.Email != email {
		return nil, s.refuseCode(ctx, a.ID, purpose)
	}
	return h, nil
}

func (s *Service) refuseCode(ctx context.Context, accountID, purpose string) error {
	s.audit(ctx, store.AuthEvent{Type: store.EventCodeRejected, Reason: purpose, AccountID: accountID})
	return errInvalidCode
}

// issueTries is how many times issueCode reads the account's code again
// when a concurrent issue (another instance's mail sender) replaced it
// first.
const issueTries = 5

// issueCode makes a fresh code for the account and purpose, mailed to
// email, and stores its hash, replacing the one before. counted says
// whether it counts against the per-account limit (not when the same
// mail is tried again). It returns "" when the limit is reached, or when
// concurrent issues for the account kept replacing the code first
// (then they are the mail that goes out).
func (s *Service) issueCode(ctx context.Context, a store.Account, purpose, email string, counted bool) (string, error) {
	for range issueTries {
		code, err := s.tryIssueCode(ctx, a, purpose, email, counted)
		if !errors.Is(err, store.ErrStale) {
			return code, err
		}
	}
	s.log.Warn("email code not issued: replaced concurrently every time", "account", a.ID, "purpose", purpose)
	return "", nil
}

// tryIssueCode is issueCode, once: the count it stores is counted from
// the code it read, and the store refuses it (ErrStale) when that code
// was replaced meanwhile.
func (s *Service) tryIssueCode(ctx context.Context, a store.Account, purpose, email string, counted bool) (string, error) {
	now := s.stamp()
	prev, err := s.store.GetEmailCode(ctx, a.ID, purpose)
	if err != nil && !errors.Is(err, store.ErrNotFound) {
		return "", fmt.Errorf("get code: %w", err)
	}
	issued, window := prev.Issued, prev.WindowStart
	if err != nil || !now.Before(window.Add(codeWindow)) {
		issued, window = 0, now
	}
	if counted {
		if issued >= codesPerWindow {
			return "", nil
		}
		issued++
	}
	code, err := newCode()
	if err != nil {
		return "", err
	}
	err = s.store.PutEmailCode(ctx, store.EmailCode{
		AccountID: a.ID, Purpose: purpose, Email: email, Hash: s.hashCode(a.ID, purpose, email, code),
		ExpiresAt: now.Add(codeLifetime), Issued: issued, WindowStart: window,
	}, prev.Hash)
	switch {
	case errors.Is(err, store.ErrStale):
		return "", err
	case err != nil:
		return "", fmt.Errorf("put code: %w", err)
	}
	return code, nil
}

// codeLimitWait is how long until the account may be mailed another
// code for purpose, or 0.
func (s *Service) codeLimitWait(ctx context.Context, accountID, purpose string) (time.Duration, error) {
	c, err := s.store.GetEmailCode(ctx, accountID, purpose)
	if errors.Is(err, store.ErrNotFound) {
		return 0, nil
	}
	if err != nil {
		return 0, fmt.Errorf("get code: %w", err)
	}
	end := c.WindowStart.Add(codeWindow)
	if now := s.stamp(); c.Issued >= codesPerWindow && now.Before(end) {
		return end.Sub(now), nil
	}
	return 0, nil
}
