package account

import (
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/internal/argon2id"
)

// Error is a refusal the client is told about: a code from the protocol's
// closed list and a message safe to show a user.
type Error struct {
	Code    string
	Message string
	// RetryAfter is set with rate_limited and busy.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return "account: " + e.Code + ": " + e.Message }

// NewError returns an *Error with code (a protocol.Code constant) and a
// message for the user.
func NewError(code, msg string) *Error { return &Error{Code: code, Message: msg} }

// Refusals shared by several rules.
var (
	// ErrInvalidCredentials answers every failed login alike.
	ErrInvalidCredentials = NewError(protocol.CodeInvalidCredentials, "wrong username or password")
	// ErrInvalidToken answers every refused token alike.
	ErrInvalidToken = NewError(protocol.CodeInvalidToken, "token is invalid, expired or revoked")
	// ErrBusy is returned when no password-hashing slot freed in time.
	ErrBusy = argon2id.ErrBusy
)

// ErrRateLimited is the refusal of a request over its rate; wait is how
// long until the next may pass.
func ErrRateLimited(wait time.Duration) *Error {
	return &Error{Code: protocol.CodeRateLimited, Message: "too many requests, slow down", RetryAfter: wait}
}
