package storetest

import (
	"slices"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/store"
)

// mustListRevocations reads the whole log past after, one small page at
// a time, so that paging is exercised too.
func mustListRevocations(t *testing.T, s store.Store, after int64) []store.Revocation {
	t.Helper()
	var all []store.Revocation
	for {
		page, err := s.ListRevocations(ctxFor(t), after, 2)
		if err != nil {
			t.Fatalf("ListRevocations(%d): %v", after, err)
		}
		if len(page) > 2 {
			t.Fatalf("ListRevocations with limit 2 returned %d entries", len(page))
		}
		if len(page) == 0 {
			return all
		}
		for _, r := range page {
			if r.ID <= after {
				t.Fatalf("ListRevocations: id %d not above %d (ids must grow, by id)", r.ID, after)
			}
			after = r.ID
		}
		all = append(all, page...)
	}
}

// revokedIDs returns the session ids of entries, sorted.
func revokedIDs(rs []store.Revocation) []string {
	ids := []string{}
	for _, r := range rs {
		ids = append(ids, r.SessionID)
	}
	slices.Sort(ids)
	return ids
}

func sorted(ids ...string) []string {
	ids = slices.Clone(ids)
	slices.Sort(ids)
	return ids
}

// testRevocationLog: every store method that ends live sessions appends
// each of them, with its end and the time of the revocation, to the
// revocation log in its transaction; a session already revoked or past
// its end is not appended again; a refused change appends nothing.
func testRevocationLog(t *testing.T, s store.Store) {
	at := t0.Add(time.Hour)
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	b := mustCreateAccount(t, s, newAccount("bob", ""))
	var aS, bS []store.Session
	for range 4 {
		aS = append(aS, mustCreateSession(t, s, newSession(a.ID)))
		bS = append(bS, mustCreateSession(t, s, newSession(b.ID)))
	}
	expired := newSession(a.ID)
	expired.ExpiresAt = t0.Add(time.Minute)
	mustCreateSession(t, s, expired)

	if got := mustListRevocations(t, s, 0); len(got) != 0 {
		t.Fatalf("log before any revocation = %v, want empty", got)
	}
	step := func(name string, do func() error, want ...string) {
		t.Helper()
		before := mustListRevocations(t, s, 0)
		var last int64
		if len(before) > 0 {
			last = before[len(before)-1].ID
		}
		if err := do(); err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		got := mustListRevocations(t, s, last)
		if diff := cmp.Diff(sorted(want...), revokedIDs(got), cmpOpts...); diff != "" {
			t.Errorf("%s appended (-want +got):\n%s", name, diff)
		}
		for _, r := range got {
			if !r.RevokedAt.Equal(at) || !r.ExpiresAt.Equal(t0.Add(24*time.Hour)) {
				t.Errorf("%s: entry %+v, want revoked at %v, expiring at %v", name, r, at, t0.Add(24*time.Hour))
			}
		}
	}
	ev := func(id string) store.AuthEvent { return ownerEvent(store.EventLogout, "", id, "", at) }
	step("RevokeSession", func() error { return s.RevokeSession(ctxFor(t), a.ID, aS[0].ID, ev(a.ID)) }, aS[0].ID)
	step("RevokeSession again", func() error { return s.RevokeSession(ctxFor(t), a.ID, aS[0].ID, ev(a.ID)) })
	step("RevokeAccountSessions keeping one", func() error {
		_, err := s.RevokeAccountSessions(ctxFor(t), a.ID, aS[3].ID, ev(a.ID))
		return err
	}, aS[1].ID, aS[2].ID)
	step("ChangePassword ending the others", func() error {
		_, err := s.ChangePassword(ctxFor(t), b.ID, "$argon2id$new", true, bS[0].ID, ev(b.ID))
		return err
	}, bS[1].ID, bS[2].ID, bS[3].ID)
	step("ChangePassword keeping the others", func() error {
		_, err := s.ChangePassword(ctxFor(t), b.ID, "$argon2id$newer", false, "", ev(b.ID))
		return err
	})
	step("SetAccountDisabled", func() error {
		_, err := s.SetAccountDisabled(ctxFor(t), b.ID, true, adminEvent(store.EventDisabled, b.ID, at))
		return err
	}, bS[0].ID)
	// Deleting alice ends aS[3], her last live session; the expired one
	// and the revoked ones are not logged again.
	step("DeleteAccount", func() error {
		n, err := s.DeleteAccount(ctxFor(t), a.ID, adminEvent(store.EventDeleted, a.ID, at))
		if err == nil && n != 1 {
			t.Errorf("DeleteAccount counted %d live sessions, want 1", n)
		}
		return err
	}, aS[3].ID)
	if _, err := s.DeleteAccount(ctxFor(t), a.ID, adminEvent(store.EventDeleted, a.ID, at)); err == nil {
		t.Fatal("DeleteAccount of a deleted account succeeded")
	}
	if got := mustListRevocations(t, s, 0); len(got) != 8 {
		t.Errorf("log holds %d entries, want 8: %v", len(got), revokedIDs(got))
	}
}

// testPruneRevocations: pruning removes the entries whose session has
// ended, and ids keep growing past the pruned ones.
func testPruneRevocations(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	short := newSession(a.ID)
	short.ExpiresAt = t0.Add(time.Hour)
	mustCreateSession(t, s, short)
	long := mustCreateSession(t, s, newSession(a.ID))
	at := t0.Add(time.Minute)
	for _, id := range []string{short.ID, long.ID} {
		if err := s.RevokeSession(ctxFor(t), a.ID, id, store.AuthEvent{At: at}); err != nil {
			t.Fatal(err)
		}
	}
	n, err := s.PruneRevocations(ctxFor(t), t0.Add(2*time.Hour))
	if err != nil || n != 1 {
		t.Fatalf("PruneRevocations = %d, %v; want 1 entry", n, err)
	}
	left := mustListRevocations(t, s, 0)
	if len(left) != 1 || left[0].SessionID != long.ID {
		t.Fatalf("after the prune the log holds %v, want only %s", revokedIDs(left), long.ID)
	}
	// Prune the last one too: the next id must still be above it.
	if _, err := s.PruneRevocations(ctxFor(t), t0.Add(48*time.Hour)); err != nil {
		t.Fatal(err)
	}
	next := mustCreateSession(t, s, newSession(a.ID))
	if err := s.RevokeSession(ctxFor(t), a.ID, next.ID, store.AuthEvent{At: at}); err != nil {
		t.Fatal(err)
	}
	got := mustListRevocations(t, s, 0)
	if len(got) != 1 || got[0].ID <= left[0].ID {
		t.Fatalf("entry after a full prune = %+v, want an id above %d", got, left[0].ID)
	}
	if _, err := s.ListRevocations(ctxFor(t), 0, 0); err == nil {
		t.Error("ListRevocations with limit 0 succeeded")
	}
}
