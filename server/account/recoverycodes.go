package account

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"fmt"
	"strings"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// Recovery codes are lookup secrets (NIST SP 800-63B): 10 per account,
// each 80 random bits written as 16 base32 letters and digits in four
// groups ("abcd-efgh-ijkm-nopq"), each usable once. Only their SHA-256 is
// stored: a code has 80 bits of entropy, so a stolen hash cannot be
// searched the way a password's can, and a slow hash would add nothing.
const (
	recoveryCodeCount = 10
	recoveryCodeBytes = 10
	recoveryCodeChars = 16
	recoveryGroup     = 4
)

var recoveryEncoding = base32.NewEncoding("abcdefghijklmnopqrstuvwxyz234567").WithPadding(base32.NoPadding)

// newRecoveryCodes returns a fresh set of codes as shown to the owner,
// and their hashes for the store.
func newRecoveryCodes(accountID string) ([]string, [][]byte, error) {
	codes := make([]string, recoveryCodeCount)
	hashes := make([][]byte, recoveryCodeCount)
	for i := range codes {
		b := make([]byte, recoveryCodeBytes)
		if _, err := rand.Read(b); err != nil {
			return nil, nil, fmt.Errorf("recovery code: %w", err)
		}
		plain := recoveryEncoding.EncodeToString(b)
		var shown strings.Builder
		for j := 0; j < len(plain); j += recoveryGroup {
			if j > 0 {
				shown.WriteByte('-')
			}
			shown.WriteString(plain[j : j+recoveryGroup])
		}
		codes[i], hashes[i] = shown.String(), hashRecoveryCode(accountID, plain)
	}
	return codes, hashes, nil
}

// hashRecoveryCode is the stored form of a code (in canonical form); the
// account id keeps one account's hashes from matching another's.
func hashRecoveryCode(accountID, canonical string) []byte {
	h := sha256.Sum256([]byte("accountd recovery code " + accountID + " " + canonical))
	return h[:]
}

// canonicalRecoveryCode accepts the forms the clients show a code in,
// and nothing looser: the four groups of four joined by dashes (as
// shown), by single spaces (as copied by hand), or not at all; letters
// in either case. It returns the code without separators in lowercase.
func canonicalRecoveryCode(code string) (string, bool) {
	switch len(code) {
	case recoveryCodeChars:
	case recoveryCodeChars + recoveryCodeChars/recoveryGroup - 1:
		sep := code[recoveryGroup]
		if sep != '-' && sep != ' ' {
			return "", false
		}
		var b strings.Builder
		for i := 0; i < len(code); i++ {
			if (i+1)%(recoveryGroup+1) == 0 {
				if code[i] != sep {
					return "", false
				}
				continue
			}
			b.WriteByte(code[i])
		}
		code = b.String()
	default:
		return "", false
	}
	code = strings.ToLower(code)
	for i := 0; i < len(code); i++ {
		if c := code[i]; !(c >= 'a' && c <= 'z' || c >= '2' && c <= '7') {
			return "", false
		}
	}
	return code, true
}

// recoveryCodeStep is a recovery code as a login step.
type recoveryCodeStep struct{}

func (recoveryCodeStep) method() string { return protocol.MethodRecoveryCode }

// amr is "otp": a recovery code is a one-time password (RFC 8176 has no
// narrower value).
func (recoveryCodeStep) amr() string { return "otp" }
func (recoveryCodeStep) answer(req protocol.LoginSecondFactorRequest) string {
	return req.RecoveryCode
}

// check spends an unused code of the account, with its audit event, in
// one conditional update: of two requests with the same code, one wins.
func (recoveryCodeStep) check(ctx context.Context, s *Service, a store.Account, sessionID, code string) (bool, error) {
	canonical, ok := canonicalRecoveryCode(code)
	if !ok {
		return false, nil
	}
	// Stamped, not logged: the store writes it only if the code was there.
	e := s.stampEvent(ctx, store.AuthEvent{Type: store.EventRecoveryCodeUsed, AccountID: a.ID, SessionID: sessionID})
	used, err := s.store.UseRecoveryCode(ctx, a.ID, hashRecoveryCode(a.ID, canonical), e)
	if err != nil {
		return false, fmt.Errorf("use recovery code: %w", err)
	}
	if used {
		s.logEvent(e)
		s.notify(ctx, a, NoticeRecoveryCodeUsed)
	}
	return used, nil
}
