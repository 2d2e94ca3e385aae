package account_test

import (
	"context"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

// TestRevocationAcrossInstances: a revocation is refused at once by the
// instance that made it, and by another instance (whose session view
// holds the token) once it has read the revocation log, for every way
// sessions end.
func TestRevocationAcrossInstances(t *testing.T) {
	t.Parallel()
	eachStore(t, testRevocationAcrossInstances)
}

func testRevocationAcrossInstances(t *testing.T, st store.Store) {
	clock := servertest.NewClock()
	cfg := testConfig(t, st, clock)
	a := mustService(t, cfg)
	reads := &countingStore{Store: st}
	cfg.Store = reads
	b := mustService(t, cfg)
	// Entries never age out, and the view answers however late a loaded
	// machine runs the poll: only the feed can make b refuse.
	for _, svc := range []*account.Service{a, b} {
		account.SetSessionViewTTL(svc, time.Hour)
		account.SetFeedLostAfter(svc, time.Hour)
	}
	ctx := ctxT(t)
	authenticates := func(svc *account.Service, tok string) bool {
		_, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok})
		if err != nil && !isCode(err, protocol.CodeInvalidToken) {
			t.Fatalf("authenticate: %v", err)
		}
		return err == nil
	}
	// seen makes both instances hold the token in their session views.
	seen := func(toks ...string) {
		t.Helper()
		for _, tok := range toks {
			for _, svc := range []*account.Service{a, b} {
				for range 2 {
					if !authenticates(svc, tok) {
						t.Fatal("a live token was refused")
					}
				}
			}
		}
	}
	refused := func(what string, toks ...string) {
		t.Helper()
		for _, tok := range toks {
			if authenticates(a, tok) {
				t.Fatalf("%s: the instance that revoked still accepts the token", what)
			}
		}
		start := time.Now()
		for _, tok := range toks {
			waitFor(t, what+" refused by the other instance", func() bool { return !authenticates(b, tok) })
		}
		t.Logf("%s: refused by the other instance after %v", what, time.Since(start))
	}

	mustSignup(t, a, "alice")
	mustSignup(t, a, "bob")
	login := func(user string) string { return mustLogin(t, a, user).Token }

	t1, t2, t3 := login("alice"), login("alice"), login("alice")
	seen(t1, t2, t3)
	before := reads.sessionReads.Load()
	for range 100 {
		if !authenticates(b, t1) {
			t.Fatal("a live token was refused")
		}
	}
	if n := reads.sessionReads.Load() - before; n != 0 {
		t.Fatalf("100 authenticates of a token in the session view read the database %d times, want 0", n)
	}
	if _, err := a.Logout(ctx, protocol.TokenRequest{Token: t1}); err != nil {
		t.Fatal(err)
	}
	refused("logout", t1)
	if !authenticates(b, t2) || !authenticates(a, t2) {
		t.Fatal("another session of the account was refused after a logout")
	}
	sid3 := mustAuthenticate(t, a, t3).Session.ID
	if _, err := a.RevokeSession(ctx, protocol.RevokeSessionRequest{Token: t2, SessionID: sid3}); err != nil {
		t.Fatal(err)
	}
	refused("revoke_session", t3)
	if _, err := a.LogoutAll(ctx, protocol.LogoutAllRequest{Token: t2}); err != nil {
		t.Fatal(err)
	}
	refused("logout_all", t2)

	t4, t5 := login("alice"), login("alice")
	seen(t4, t5)
	endOthers := true
	res, err := a.ChangePassword(ctx, protocol.ChangePasswordRequest{Token: t4, CurrentPassword: goodPassword, NewPassword: goodPassword + " again", EndOtherSessions: &endOthers})
	if err != nil {
		t.Fatal(err)
	}
	refused("change_password", t5)
	seen(t4, res.Token)

	bob := login("bob")
	seen(bob)
	if _, err := a.DisableAccount(ctx, mustAuthenticate(t, a, bob).Account.ID); err != nil {
		t.Fatal(err)
	}
	refused("disable", bob)

	if _, err := a.DeleteAccount(ctx, mustAuthenticate(t, a, t4).Account.ID); err != nil {
		t.Fatal(err)
	}
	refused("delete", t4, res.Token)
}

// countingStore counts the session reads behind token checks.
type countingStore struct {
	store.Store
	sessionReads atomic.Int64
}

func (c *countingStore) GetSessionAccount(ctx context.Context, id string) (store.Session, store.Account, error) {
	c.sessionReads.Add(1)
	return c.Store.GetSessionAccount(ctx, id)
}

func mustAuthenticate(tb testing.TB, svc *account.Service, tok string) *protocol.AuthenticateResult {
	tb.Helper()
	r, err := svc.Authenticate(ctxT(tb), protocol.TokenRequest{Token: tok})
	if err != nil {
		tb.Fatal(err)
	}
	return r
}

// TestPruneRevocations: the session pruner also removes revocations of
// sessions that ended more than a few minutes ago, and keeps the others.
func TestPruneRevocations(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := servertest.NewClock()
		svc := mustService(t, testConfig(t, st, clock))
		ctx := ctxT(t)
		mustSignup(t, svc, "alice")
		early := mustLogin(t, svc, "alice")
		if _, err := svc.Logout(ctx, protocol.TokenRequest{Token: early.Token}); err != nil {
			t.Fatal(err)
		}
		clock.Advance(12 * time.Hour)
		late := mustLogin(t, svc, "alice")
		if _, err := svc.Logout(ctx, protocol.TokenRequest{Token: late.Token}); err != nil {
			t.Fatal(err)
		}
		// The first session ended 24 h after its login; the second has
		// 12 h left.
		clock.Advance(12*time.Hour + 10*time.Minute)
		if _, err := svc.PruneSessions(ctx); err != nil {
			t.Fatal(err)
		}
		left, err := st.ListRevocations(ctx, 0, 10)
		if err != nil {
			t.Fatal(err)
		}
		if len(left) != 1 || left[0].SessionID != late.SessionID {
			t.Fatalf("after the prune the log holds %+v, want only session %s", left, late.SessionID)
		}
	})
}
