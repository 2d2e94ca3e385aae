package server

import (
	"context"
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
)

// TestToWire: what each kind of error from the rules becomes on the wire,
// and which ones are logged as the server's own failures.
func TestToWire(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name     string
		err      error
		code     string
		retryMS  int64
		internal bool
	}{
		{"refusal", account.ErrInvalidCredentials, protocol.CodeInvalidCredentials, 0, false},
		{"wrapped refusal", fmt.Errorf("login: %w", account.ErrInvalidToken), protocol.CodeInvalidToken, 0, false},
		{"rate limited", account.ErrRateLimited(1500 * time.Microsecond), protocol.CodeRateLimited, 2, false},
		{"busy", fmt.Errorf("hash: %w", account.ErrBusy), protocol.CodeBusy, 1000, false},
		{"database down", fmt.Errorf("get: %w", store.ErrUnavailable), protocol.CodeUnavailable, 1000, true},
		{"database call timed out", fmt.Errorf("get: %w", context.DeadlineExceeded), protocol.CodeUnavailable, 1000, true},
		{"commit unconfirmed", fmt.Errorf("create: %w: %w", store.ErrOutcomeUnknown, store.ErrUnavailable), protocol.CodeOutcomeUnknown, 0, true},
		{"anything else", errors.New("boom"), protocol.CodeInternal, 0, true},
	} {
		w, internal := toWire(tt.err)
		if w.Code != tt.code || w.RetryAfterMS != tt.retryMS || internal != tt.internal {
			t.Errorf("%s: %+v internal=%v; want code %s, retry %d ms, internal=%v", tt.name, w, internal, tt.code, tt.retryMS, tt.internal)
		}
		if tt.code == protocol.CodeInternal && w.Message != "internal error" {
			t.Errorf("%s: message %q leaks the detail", tt.name, w.Message)
		}
	}
}
