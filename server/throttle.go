package server

import (
	"context"
	"fmt"
	"time"

	"github.com/accountd/accountd/store"
)

// claimAttempt decides whether a login for a known account may check its
// password. It returns store.ReasonLocked or store.ReasonThrottled when
// not; otherwise it counts the attempt as a failure in the store before
// the check (a success resets the count), so that concurrent attempts
// each use up one of the LockAfter tries. lastTry is set when this attempt,
// if it fails, locks the account.
func (s *Service) claimAttempt(ctx context.Context, a store.Account, now time.Time) (refused string, lastTry bool, err error) {
	f := a.Failures
	if f.Count >= s.cfg.LockAfter {
		return store.ReasonLocked, false, nil
	}
	if wait := s.cfg.throttleDelay(f.Count); wait > 0 && now.Before(f.LastAt.Add(wait)) {
		return store.ReasonThrottled, false, nil
	}
	nf, err := s.store.RecordLoginFailure(ctx, a.ID, now)
	if err != nil {
		return "", false, fmt.Errorf("record login attempt: %w", err)
	}
	if nf.Count > s.cfg.LockAfter {
		return store.ReasonLocked, false, nil
	}
	return "", nf.Count == s.cfg.LockAfter, nil
}
