package server

import (
	"context"
	"errors"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
)

// toWire converts any error from the rules into the error object sent to
// the client. Errors that are not *account.Error are reported as busy,
// unavailable (database down) or internal; their detail is for the server
// log only (internal reports whether to log it).
func toWire(err error) (e *protocol.Error, internal bool) {
	var ae *account.Error
	switch {
	case errors.As(err, &ae):
		var retry int64
		if ae.RetryAfter > 0 {
			retry = retryAfterMS(ae.RetryAfter)
		}
		return &protocol.Error{Code: ae.Code, Message: ae.Message, RetryAfterMS: retry}, false
	case errors.Is(err, account.ErrBusy):
		return &protocol.Error{Code: protocol.CodeBusy, Message: "server is busy, try again shortly", RetryAfterMS: 1000}, false
	case errors.Is(err, store.ErrOutcomeUnknown):
		return &protocol.Error{Code: protocol.CodeOutcomeUnknown, Message: "the change may or may not have taken effect; check before repeating it"}, true
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, context.DeadlineExceeded):
		return &protocol.Error{Code: protocol.CodeUnavailable, Message: "service temporarily unavailable, try again shortly", RetryAfterMS: 1000}, true
	default:
		return &protocol.Error{Code: protocol.CodeInternal, Message: "internal error"}, true
	}
}

// retryAfterMS rounds a wait up to whole milliseconds, at least 1.
func retryAfterMS(d time.Duration) int64 {
	return max(1, int64((d+time.Millisecond-1)/time.Millisecond))
}
