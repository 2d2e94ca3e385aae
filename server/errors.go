package server

import (
	"context"
	"errors"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
)

// Error is a refusal the client is told about: a code from the protocol's
// closed list and a message safe to show a user.
type Error struct {
	Code    string
	Message string
	// RetryAfter is set with rate_limited and busy.
	RetryAfter time.Duration
}

func (e *Error) Error() string { return "server: " + e.Code + ": " + e.Message }

const (
	codeBadRequest         = protocol.CodeBadRequest
	codeInvalidCredentials = protocol.CodeInvalidCredentials
	codeInvalidToken       = protocol.CodeInvalidToken
	codeUsernameTaken      = protocol.CodeUsernameTaken
	codeEmailTaken         = protocol.CodeEmailTaken
	codeWeakPassword       = protocol.CodeWeakPassword
	codeBusy               = protocol.CodeBusy
	codeUnavailable        = protocol.CodeUnavailable
	codeInternal           = protocol.CodeInternal
)

func newError(code, msg string) *Error { return &Error{Code: code, Message: msg} }

var (
	errInvalidCredentials = newError(codeInvalidCredentials, "wrong username or password")
	errInvalidToken       = newError(codeInvalidToken, "token is invalid, expired or revoked")
)

// toWire converts any error from the rules into the error object sent to
// the client. Errors that are not *Error are reported as unavailable
// (database down) or internal; their detail is for the server log only.
func toWire(err error) (e *protocol.Error, internal bool) {
	var se *Error
	switch {
	case errors.As(err, &se):
		return &protocol.Error{Code: se.Code, Message: se.Message, RetryAfterMS: se.RetryAfter.Milliseconds()}, false
	case errors.Is(err, errBusy):
		return &protocol.Error{Code: codeBusy, Message: "server is busy, try again shortly", RetryAfterMS: 1000}, false
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &protocol.Error{Code: codeUnavailable, Message: "service temporarily unavailable, try again shortly", RetryAfterMS: 1000}, true
	default:
		return &protocol.Error{Code: codeInternal, Message: "internal error"}, true
	}
}
