package account

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"errors"
	"fmt"
	"net/mail"
	"regexp"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

var usernameRE = regexp.MustCompile(`^[a-z0-9._-]{3,32}$`)

// normalizeUsername lowercases and checks a username.
func normalizeUsername(u string) (string, error) {
	u = strings.ToLower(u)
	if !usernameRE.MatchString(u) {
		return "", NewError(protocol.CodeBadRequest, "username must be 3 to 32 characters of a-z, 0-9, '.', '_' and '-'")
	}
	return u, nil
}

// normalizeEmail checks a plain address (no display name) and lowercases
// it. It is the one check of every email the server stores. Control,
// format (bidirectional overrides, zero-width characters) and line or
// paragraph separator characters are refused: they would reach admin
// terminals and logs, and make two addresses look alike.
func normalizeEmail(e string) (string, error) {
	if e == "" {
		return "", nil
	}
	if !utf8.ValidString(e) || strings.IndexFunc(e, func(r rune) bool {
		return unicode.In(r, unicode.Cc, unicode.Cf, unicode.Zl, unicode.Zp)
	}) >= 0 {
		return "", NewError(protocol.CodeBadRequest, "email must not contain control, formatting or invisible characters")
	}
	a, err := mail.ParseAddress(e)
	if err != nil || a.Address != e || a.Name != "" || len(e) > 254 || !strings.Contains(e[strings.LastIndexByte(e, '@'):], ".") {
		return "", NewError(protocol.CodeBadRequest, "email is not a valid address")
	}
	return strings.ToLower(e), nil
}

// Signup creates an account. Without a password it generates one and
// returns it once in the result. An email waits as the account's pending
// address while a code is mailed to it; when another account has already
// verified that address, its owner is mailed a notice instead, and the
// answer is the same, so signup tells nobody which addresses are
// registered.
func (s *Service) Signup(ctx context.Context, req protocol.SignupRequest) (*protocol.SignupResult, error) {
	username, err := normalizeUsername(req.Username)
	if err != nil {
		return nil, err
	}
	email, err := normalizeEmail(req.Email)
	if err != nil {
		return nil, err
	}
	if err := protocol.CheckIdempotencyKey(req.IdempotencyKey); err != nil {
		return nil, NewError(protocol.CodeBadRequest, err.Error())
	}
	if req.IdempotencyKey != "" && req.Password == "" {
		// A generated password is returned once only: a retry could not
		// get it again.
		return nil, NewError(protocol.CodeBadRequest, "idempotency_key needs a password")
	}
	if email == "" && s.settings().RequireVerifiedEmail {
		return nil, NewError(protocol.CodeBadRequest, "an email is required: this server requires a verified one before login")
	}
	password, generated := req.Password, ""
	if password == "" {
		if generated, err = GeneratePassword(); err != nil {
			return nil, err
		}
		password = generated
	} else if err := checkPassword(password, username, s.settings().MinPasswordLength); err != nil {
		return nil, err
	}
	if email != "" && s.mailOn() {
		if err := s.admitMail(ctx); err != nil {
			return nil, err
		}
	}
	hash, err := s.hash(ctx, password)
	if err != nil {
		return nil, err
	}
	id, err := randomID()
	if err != nil {
		return nil, err
	}
	now := s.stamp()
	a := store.Account{ID: id, Username: username, PendingEmail: email, PasswordHash: hash, SignupKey: signupKey(req.IdempotencyKey), CreatedAt: now, UpdatedAt: now}
	err = s.store.CreateAccount(ctx, a, s.event(ctx, store.AuthEvent{Type: store.EventSignup, AccountID: a.ID}))
	if errors.Is(err, store.ErrOutcomeUnknown) {
		err = s.settle(ctx, err, func(ctx context.Context) (bool, error) {
			got, err := s.store.GetAccount(ctx, a.ID)
			return err == nil && got.ID == a.ID, notFound(err)
		})
	}
	if err != nil {
		var ce *store.ConflictError
		if errors.As(err, &ce) {
			// A repeat collides with the first on every unique field.
			if first, ok, err := s.sameSignup(ctx, a, password); err != nil {
				return nil, err
			} else if ok {
				return &protocol.SignupResult{Account: publicAccount(first)}, nil
			}
			switch ce.Field {
			case "username":
				return nil, NewError(protocol.CodeUsernameTaken, "that username is taken")
			}
		}
		return nil, fmt.Errorf("create account: %w", err)
	}
	if email != "" {
		s.mailAddressCheck(ctx, a, email)
	}
	return &protocol.SignupResult{Account: publicAccount(a), GeneratedPassword: generated}, nil
}

// signupKey is what an account keeps of its signup's idempotency key.
func signupKey(k string) []byte {
	if k == "" {
		return nil
	}
	sum := sha256.Sum256([]byte(k))
	return sum[:]
}

// sameSignup reports whether a, refused because its username is taken,
// repeats the signup that took it: the same idempotency key and the
// same password. It returns that account.
func (s *Service) sameSignup(ctx context.Context, a store.Account, password string) (store.Account, bool, error) {
	if a.SignupKey == nil {
		return store.Account{}, false, nil
	}
	first, err := s.store.GetAccountByUsername(ctx, a.Username)
	if errors.Is(err, store.ErrNotFound) {
		return store.Account{}, false, nil // deleted since
	}
	if err != nil {
		return store.Account{}, false, fmt.Errorf("get account: %w", err)
	}
	if first.SignupKey == nil || subtle.ConstantTimeCompare(first.SignupKey, a.SignupKey) != 1 {
		return store.Account{}, false, nil
	}
	ok, _, _, err := s.verifyPassword(ctx, password, first.PasswordHash)
	if err != nil {
		return store.Account{}, false, err
	}
	return first, ok, nil
}
