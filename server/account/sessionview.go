package account

import (
	"context"
	"sync"
	"sync/atomic"
	"time"

	"github.com/accountd/accountd/store"
)

// sessionView keeps the sessions (with their accounts) that tokens were
// recently checked against, so that authenticate and the other token
// checks need no database read for a token seen in the last
// sessionViewTTL. It stays coherent with the database through the
// revocation feed: every revocation an instance makes drops the
// account's entries here at once (guardedStore calls ended), and every
// revocation any instance makes drops the session's entry within one
// poll of the feed. While the feed is lost (its last successful read is
// older than a few poll intervals) the view answers nothing and every
// check reads the database.
//
// What the feed does not carry, an email change made at another
// instance, is seen when the entry ages out: sessionViewTTL at most.
// Safe for concurrent use.
type sessionView struct {
	clock func() time.Time
	ttl   time.Duration
	max   int
	// generation grows with every eviction: a reader that began before
	// one must not store what it read (it may predate the revocation).
	generation atomic.Uint64

	mu      sync.Mutex
	entries map[string]viewEntry
	// byAccount indexes entries by account, so that ending an account's
	// sessions does not scan the view.
	byAccount map[string]map[string]struct{}
}

type viewEntry struct {
	sess store.Session
	acct store.Account
	at   time.Time
}

// sessionViewTTL bounds how old an entry may be; sessionViewMax how many
// are kept (about 600 bytes each).
const (
	sessionViewTTL = time.Second
	sessionViewMax = 1 << 16
)

func newSessionView(clock func() time.Time) *sessionView {
	return &sessionView{clock: clock, ttl: sessionViewTTL, max: sessionViewMax,
		entries: map[string]viewEntry{}, byAccount: map[string]map[string]struct{}{}}
}

func (v *sessionView) get(id string) (store.Session, store.Account, bool) {
	v.mu.Lock()
	e, ok := v.entries[id]
	v.mu.Unlock()
	if !ok || v.clock().Sub(e.at) >= v.ttl {
		return store.Session{}, store.Account{}, false
	}
	return e.sess, e.acct, true
}

// put stores what a read that began at generation gen returned, unless
// an eviction happened since.
func (v *sessionView) put(gen uint64, sess store.Session, acct store.Account) {
	v.mu.Lock()
	defer v.mu.Unlock()
	if v.generation.Load() != gen {
		return
	}
	if len(v.entries) >= v.max {
		clear(v.entries)
		clear(v.byAccount)
	}
	v.entries[sess.ID] = viewEntry{sess: sess, acct: acct, at: v.clock()}
	ids := v.byAccount[sess.AccountID]
	if ids == nil {
		ids = map[string]struct{}{}
		v.byAccount[sess.AccountID] = ids
	}
	ids[sess.ID] = struct{}{}
}

// deleteLocked drops one session's entry.
func (v *sessionView) deleteLocked(id string) {
	e, ok := v.entries[id]
	if !ok {
		return
	}
	delete(v.entries, id)
	if ids := v.byAccount[e.sess.AccountID]; ids != nil {
		delete(ids, id)
		if len(ids) == 0 {
			delete(v.byAccount, e.sess.AccountID)
		}
	}
}

// touched records a session's new LastUsedAt in its entry.
func (v *sessionView) touched(id string, at time.Time) {
	v.mu.Lock()
	if e, ok := v.entries[id]; ok {
		e.sess.LastUsedAt = at
		v.entries[id] = e
	}
	v.mu.Unlock()
}

// evict drops the sessions the feed names.
func (v *sessionView) evict(rs []store.Revocation) {
	v.mu.Lock()
	v.generation.Add(1)
	for _, r := range rs {
		v.deleteLocked(r.SessionID)
	}
	v.mu.Unlock()
}

// ended drops every entry of an account (its sessions were revoked, or
// it changed, here).
func (v *sessionView) ended(accountID string) {
	v.mu.Lock()
	v.generation.Add(1)
	for id := range v.byAccount[accountID] {
		delete(v.entries, id)
	}
	delete(v.byAccount, accountID)
	v.mu.Unlock()
}

// sessionAccount returns a session and its account: from the view while
// the feed is current, else from the database (and then remembered).
func (s *Service) sessionAccount(ctx context.Context, id string) (store.Session, store.Account, error) {
	current := s.feed.current()
	if current {
		if sess, a, ok := s.view.get(id); ok {
			return sess, a, nil
		}
	}
	gen := s.view.generation.Load()
	sess, a, err := s.store.GetSessionAccount(ctx, id)
	if err == nil && current {
		s.view.put(gen, sess, a)
	}
	return sess, a, err
}
