package server

import (
	"sync"
	"time"

	"github.com/accountd/accountd/store"
)

// admit decides whether a login for a known account may check its
// password. It returns store.ReasonLocked, store.ReasonThrottled or
// store.ReasonDisabled when not. Otherwise it marks the account as having
// an attempt in flight on this instance until release is called (after
// the failure, if any, is recorded): a concurrent attempt for the same
// account is refused as throttled, so that a burst of parallel guesses at
// the moment a wait ends gets one guess, not many. release is never nil.
func (s *Service) admit(a store.Account, now time.Time) (refused string, release func()) {
	if r := s.refusal(a, now); r != "" {
		return r, func() {}
	}
	if !s.attempts.begin(a.ID) {
		return store.ReasonThrottled, func() {}
	}
	return "", func() { s.attempts.end(a.ID) }
}

// refusal is the reason a login for a may not check its password at now,
// or "".
func (s *Service) refusal(a store.Account, now time.Time) string {
	f := a.Failures
	switch {
	case f.Count >= s.cfg.LockAfter:
		s.metrics.LockedOut()
		return store.ReasonLocked
	case now.Before(f.LastAt.Add(s.cfg.throttleDelay(f.Count))):
		s.metrics.RateLimited("account")
		return store.ReasonThrottled
	case a.Disabled:
		return store.ReasonDisabled
	}
	return ""
}

// inFlight is the set of accounts with a login attempt in progress on this
// instance. Safe for concurrent use; its size is bounded by the number of
// requests in progress.
type inFlight struct {
	mu  sync.Mutex
	ids map[string]struct{}
}

func (f *inFlight) begin(id string) bool {
	f.mu.Lock()
	defer f.mu.Unlock()
	if _, busy := f.ids[id]; busy {
		return false
	}
	if f.ids == nil {
		f.ids = make(map[string]struct{})
	}
	f.ids[id] = struct{}{}
	return true
}

func (f *inFlight) end(id string) {
	f.mu.Lock()
	defer f.mu.Unlock()
	delete(f.ids, id)
}
