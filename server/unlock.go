package server

import (
	"context"
	"fmt"
	"time"

	"github.com/accountd/accountd/store"
)

// UnlockAccount clears an account's failed-login counter (a lock or a
// throttle) and records the administrator's decision in the audit log as
// store.EventUnlocked. It returns store.ErrNotFound (wrapped) when the
// account does not exist.
func UnlockAccount(ctx context.Context, st store.Store, accountID string, now time.Time) error {
	if err := st.ResetLoginFailures(ctx, accountID); err != nil {
		return fmt.Errorf("unlock account: %w", err)
	}
	e := store.AuthEvent{At: now.UTC().Truncate(time.Microsecond), Type: store.EventUnlocked, AccountID: accountID}
	if err := st.AddAuthEvent(ctx, e); err != nil {
		return fmt.Errorf("unlock account: record the unlock: %w", err)
	}
	return nil
}
