package account_test

import (
	"errors"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

// lastEvent returns an account's newest audit event.
func lastEvent(tb testing.TB, st store.Store, id string) store.AuthEvent {
	tb.Helper()
	ev := listEvents(tb, st, store.AuthEventFilter{AccountID: id})
	if len(ev) == 0 {
		tb.Fatalf("no event for account %s", id)
	}
	return ev[len(ev)-1]
}

// checkAdminEvent checks that e is an administrator's decision of type
// typ about account id, made now from the test's IP.
func checkAdminEvent(tb testing.TB, e store.AuthEvent, typ, id string, now time.Time) {
	tb.Helper()
	if e.Type != typ || e.Reason != store.ReasonAdmin || e.AccountID != id || e.IP != testIP || !e.At.Equal(now) {
		tb.Fatalf("event %+v; want %s, reason %s, account %s, IP %s at %v", e, typ, store.ReasonAdmin, id, testIP, now)
	}
}

// stamp is the clock's time as the store keeps it.
func stamp(c *servertest.Clock) time.Time { return c.Now().UTC().Truncate(time.Microsecond) }

// TestDisableAccount: disabling revokes the account's live sessions in the
// same call (their tokens are refused at once), refuses its logins like a
// wrong password, and is audited; enabling lets it log in again.
func TestDisableAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := servertest.NewClock()
		svc := mustService(t, testConfig(t, st, clock))
		ctx := ctxT(t)
		id := mustSignup(t, svc, "alice")
		bob := mustSignup(t, svc, "bob")
		live1, live2 := mustLogin(t, svc, "alice"), mustLogin(t, svc, "alice")
		loggedOut := mustLogin(t, svc, "alice")
		if _, err := svc.Logout(ctx, protocol.TokenRequest{Token: loggedOut.Token}); err != nil {
			t.Fatal(err)
		}
		bobs := mustLogin(t, svc, "bob")
		for _, tok := range []*protocol.TokenResult{live1, live2} {
			if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
				t.Fatalf("before disabling: %v", err)
			}
		}

		clock.Advance(time.Second)
		n, err := svc.DisableAccount(ctx, id)
		if err != nil || n != 2 {
			t.Fatalf("DisableAccount = %d, %v; want 2 live sessions revoked", n, err)
		}
		checkAdminEvent(t, lastEvent(t, st, id), store.EventDisabled, id, stamp(clock))
		for _, tok := range []*protocol.TokenResult{live1, live2} {
			if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); !errors.Is(err, account.ErrInvalidToken) {
				t.Fatalf("a token of a disabled account: %v, want invalid_token", err)
			}
			s, err := st.GetSession(ctx, tok.SessionID)
			if err != nil || !s.RevokedAt.Equal(stamp(clock)) {
				t.Fatalf("session of a disabled account: revoked at %v, %v; want %v", s.RevokedAt, err, stamp(clock))
			}
		}
		if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword}); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("login of a disabled account: %v, want invalid_credentials", err)
		}
		if e := lastEvent(t, st, id); e.Type != store.EventLoginFailed || e.Reason != store.ReasonDisabled {
			t.Fatalf("refused login recorded as %+v, want login_failed/disabled", e)
		}
		a, err := svc.FindAccount(ctx, id)
		if err != nil || !a.Disabled {
			t.Fatalf("FindAccount after disabling: disabled %v, %v", a.Disabled, err)
		}
		// Another account is untouched.
		if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: bobs.Token}); err != nil {
			t.Fatalf("another account's token after disabling alice: %v", err)
		}
		if b, err := svc.FindAccount(ctx, bob); err != nil || b.Disabled {
			t.Fatalf("another account: disabled %v, %v", b.Disabled, err)
		}

		clock.Advance(time.Second)
		if err := svc.EnableAccount(ctx, id); err != nil {
			t.Fatal(err)
		}
		checkAdminEvent(t, lastEvent(t, st, id), store.EventEnabled, id, stamp(clock))
		tok := mustLogin(t, svc, "alice")
		if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); err != nil {
			t.Fatalf("a new token after enabling: %v", err)
		}
		if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: live1.Token}); !errors.Is(err, account.ErrInvalidToken) {
			t.Fatalf("a token revoked by disabling, after enabling: %v, want invalid_token", err)
		}
	})
}

// TestDeleteAccount: deleting removes the account and its sessions (its
// tokens are refused), frees the username, and the audit log keeps the
// account id.
func TestDeleteAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := servertest.NewClock()
		svc := mustService(t, testConfig(t, st, clock))
		ctx := ctxT(t)
		id := mustSignup(t, svc, "alice")
		tok := mustLogin(t, svc, "alice")
		clock.Advance(time.Second)
		n, err := svc.DeleteAccount(ctx, id)
		if err != nil || n != 1 {
			t.Fatalf("DeleteAccount = %d, %v; want 1 live session", n, err)
		}
		checkAdminEvent(t, lastEvent(t, st, id), store.EventDeleted, id, stamp(clock))
		if _, err := svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}); !errors.Is(err, account.ErrInvalidToken) {
			t.Fatalf("a token of a deleted account: %v, want invalid_token", err)
		}
		if _, err := st.GetSession(ctx, tok.SessionID); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("session of a deleted account: %v, want not found", err)
		}
		if _, err := svc.FindAccount(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Fatalf("FindAccount of a deleted account: %v, want not found", err)
		}
		if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword}); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("login of a deleted account: %v", err)
		}
		again := mustSignup(t, svc, "alice")
		if again == id {
			t.Fatal("a new account took a deleted account's id")
		}
		mustLogin(t, svc, "alice")
	})
}

// TestUnlockAccount: an administrator's unlock clears a lock, is audited,
// and lets the right password in again.
func TestUnlockAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := servertest.NewClock()
		cfg := testConfig(t, st, clock)
		cfg.LockAfter = 3
		svc := mustService(t, cfg)
		ctx := ctxT(t)
		id := mustSignup(t, svc, "alice")
		for range 3 {
			svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: wrongPassword})
		}
		if e := lastEvent(t, st, id); e.Type != store.EventLocked {
			t.Fatalf("after 3 failures with LockAfter 3 the last event is %+v, want locked", e)
		}
		clock.Advance(24 * time.Hour)
		if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword}); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("right password on a locked account: %v", err)
		}
		n, err := svc.UnlockAccount(ctx, id)
		if err != nil || n != 3 {
			t.Fatalf("UnlockAccount = %d, %v; want 3 failures cleared", n, err)
		}
		checkAdminEvent(t, lastEvent(t, st, id), store.EventUnlocked, id, stamp(clock))
		if a, err := st.GetAccount(ctx, id); err != nil || a.Failures != (store.LoginFailures{}) {
			t.Fatalf("failures after unlock: %+v, %v", a.Failures, err)
		}
		mustLogin(t, svc, "alice")
		// Nothing to clear: still a decision, still audited.
		if n, err := svc.UnlockAccount(ctx, id); err != nil || n != 0 {
			t.Fatalf("UnlockAccount of an unlocked account = %d, %v; want 0", n, err)
		}
	})
}

// TestAdminUnknownAccount: every decision about an id that has no
// account fails with store.ErrNotFound and writes no event.
func TestAdminUnknownAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		svc := mustService(t, testConfig(t, st, servertest.NewClock()))
		ctx := ctxT(t)
		mustSignup(t, svc, "alice")
		before := len(listEvents(t, st, store.AuthEventFilter{}))
		for name, decide := range map[string]func() error{
			"DisableAccount": func() error { _, err := svc.DisableAccount(ctx, noAccountID); return err },
			"EnableAccount":  func() error { return svc.EnableAccount(ctx, noAccountID) },
			"DeleteAccount":  func() error { _, err := svc.DeleteAccount(ctx, noAccountID); return err },
			"UnlockAccount":  func() error { _, err := svc.UnlockAccount(ctx, noAccountID); return err },
		} {
			if err := decide(); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("%s of no account: %v, want store.ErrNotFound", name, err)
			}
		}
		if ev := listEvents(t, st, store.AuthEventFilter{}); len(ev) != before {
			t.Fatalf("decisions about no account wrote %d events: %+v", len(ev)-before, ev[before:])
		}
	})
}

// TestFindAccount: by username in any case, or by id; a username that
// looks like an id is found as a username.
func TestFindAccount(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		svc := mustService(t, testConfig(t, st, servertest.NewClock()))
		ctx := ctxT(t)
		id := mustSignup(t, svc, "alice")
		lookalike := mustSignup(t, svc, noAccountID)
		for _, who := range []string{"alice", "ALICE", "Alice", id} {
			a, err := svc.FindAccount(ctx, who)
			if err != nil || a.ID != id || a.Username != "alice" {
				t.Errorf("FindAccount(%q) = %s %s, %v; want alice %s", who, a.ID, a.Username, err, id)
			}
		}
		if a, err := svc.FindAccount(ctx, noAccountID); err != nil || a.ID != lookalike {
			t.Errorf("FindAccount(%q) = %s, %v; want the account of that username, %s", noAccountID, a.ID, err, lookalike)
		}
		for _, who := range []string{"nobody", "fedcba9876543210fedcba9876543210", ""} {
			if _, err := svc.FindAccount(ctx, who); !errors.Is(err, store.ErrNotFound) {
				t.Errorf("FindAccount(%q): %v, want store.ErrNotFound", who, err)
			}
		}
		all, err := svc.ListAccounts(ctx)
		if err != nil || len(all) != 2 || all[0].Username != noAccountID || all[1].Username != "alice" {
			t.Fatalf("ListAccounts = %+v, %v; want the two accounts by username", all, err)
		}
	})
}
