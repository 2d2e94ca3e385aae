package server_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// stores are the two backends the loopback tests run on.
var stores = []struct {
	name string
	open func(testing.TB) store.Store
}{
	{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
	{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
}

// mustPair starts two server instances over one store, with one master
// key and one clock, as two instances behind a load balancer run.
func mustPair(t *testing.T, st store.Store) (a, b *testServer) {
	t.Helper()
	a = mustServe(t, st, nil)
	b = mustServe(t, st, func(c *server.Config) {
		c.MasterKey = a.Config.MasterKey
		c.Now = a.Clock.Now
	})
	return a, b
}

func TestSelfService(t *testing.T) {
	t.Parallel()
	for _, backend := range stores {
		t.Run(backend.name, func(t *testing.T) {
			parallel(t)
			st := backend.open(t)
			first, second := mustPair(t, st)
			testSelfService(t, first, second, st)
		})
	}
}

func testSelfService(t *testing.T, first, second *testServer, st store.Store) {
	ctx := ctxT(t)
	c1, c2 := mustDial(t, first), mustDial(t, second)
	clock := first.Clock
	const newPassword = "a much longer passphrase than before"

	policy, err := c1.Policy(ctx)
	if err != nil || policy.MinPasswordLength != account.DefaultMinPasswordLength || policy.MaxPasswordLength != account.MaxPasswordLength {
		t.Fatalf("Policy = %+v, %v; want %d and %d", policy, err, account.DefaultMinPasswordLength, account.MaxPasswordLength)
	}

	alice, err := c1.Signup(ctx, "alice", goodPassword, "alice@example.com")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.Signup(ctx, "bob", goodPassword, "bob@example.com"); err != nil {
		t.Fatal(err)
	}
	mine, err := c1.LoginWith(ctx, client.LoginRequest{Username: "alice", Password: goodPassword, Client: "selfservice test/1"})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second) // sessions are listed oldest first
	other, err := c2.Login(ctx, "alice", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	bobs, err := c2.Login(ctx, "bob", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c1.LoginWith(ctx, client.LoginRequest{Username: "alice", Password: goodPassword, Client: "bad\x1b[2J"}); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("login with a control character in client = %v, want bad request", err)
	}

	t.Run("sessions lists both", func(t *testing.T) {
		list, err := c2.Sessions(ctx, mine.Token)
		if err != nil {
			t.Fatal(err)
		}
		if len(list) != 2 || list[0].ID != mine.SessionID || !list[0].Current || list[1].ID != other.SessionID || list[1].Current {
			t.Fatalf("sessions = %+v; want %s (current) then %s", list, mine.SessionID, other.SessionID)
		}
		if list[0].Client != "selfservice test/1" || list[0].ClientIP != "127.0.0.1" || list[1].Client != "" {
			t.Errorf("client, ip = %q, %q and %q; want the login's description and 127.0.0.1", list[0].Client, list[0].ClientIP, list[1].Client)
		}
	})

	t.Run("last used moves at most once a minute", func(t *testing.T) {
		start := clock.Now().UTC().Truncate(time.Microsecond) // the login of other
		clock.Advance(30 * time.Second)
		if _, err := c2.Authenticate(ctx, other.Token); err != nil {
			t.Fatal(err)
		}
		lastUsed := func() time.Time {
			s, err := st.GetSession(ctx, other.SessionID)
			if err != nil {
				t.Fatal(err)
			}
			return s.LastUsedAt
		}
		if got := lastUsed(); got.After(start) {
			t.Errorf("30 s after login, last used = %v; want unchanged (login at %v)", got, start)
		}
		clock.Advance(31 * time.Second)
		want := clock.Now().UTC().Truncate(time.Microsecond)
		if _, err := c1.Authenticate(ctx, other.Token); err != nil {
			t.Fatal(err)
		}
		if got := lastUsed(); !got.Equal(want) {
			t.Errorf("61 s after login, last used = %v; want %v", got, want)
		}
	})

	t.Run("change password refusals change nothing", func(t *testing.T) {
		req := client.ChangePasswordRequest{Token: mine.Token, CurrentPassword: goodPassword + "!", NewPassword: newPassword}
		if _, err := c1.ChangePassword(ctx, req); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("wrong current password: %v, want invalid credentials", err)
		}
		req.CurrentPassword, req.NewPassword = goodPassword, "short"
		if _, err := c1.ChangePassword(ctx, req); !errors.Is(err, client.ErrWeakPassword) {
			t.Errorf("weak new password: %v, want weak password", err)
		}
		req.NewPassword = newPassword
		req.Token = bobs.Token
		req.CurrentPassword = "not bob's password at all"
		if _, err := c1.ChangePassword(ctx, req); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("another account's token with alice's password: %v, want invalid credentials", err)
		}
		if _, err := c2.Authenticate(ctx, other.Token); err != nil {
			t.Errorf("the other session after refused changes: %v", err)
		}
		// The wrong current password counts on the device the session
		// logged in from, not on the strangers' counter.
		a, err := st.GetAccount(ctx, alice.Account.ID)
		if err != nil || a.Failures.Count != 0 {
			t.Errorf("account failed-login count %d, %v; want 0", a.Failures.Count, err)
		}
		deviceID, _, _ := strings.Cut(mine.DeviceToken, ".")
		if d, err := st.GetDevice(ctx, deviceID); err != nil || d.Failures.Count != 1 {
			t.Errorf("the session's device failed-login count %d, %v; want 1 (the wrong current password)", d.Failures.Count, err)
		}
	})

	var fresh *client.PasswordChange
	t.Run("change password ends the other sessions", func(t *testing.T) {
		var err error
		fresh, err = c1.ChangePassword(ctx, client.ChangePasswordRequest{Token: mine.Token, CurrentPassword: goodPassword, NewPassword: newPassword})
		if err != nil {
			t.Fatal(err)
		}
		if fresh.SessionsEnded != 1 || fresh.SessionID != mine.SessionID || fresh.Token == mine.Token {
			t.Errorf("result: ended %d, session %s; want 1 and %s with a new token", fresh.SessionsEnded, fresh.SessionID, mine.SessionID)
		}
		if _, err := c1.Authenticate(ctx, other.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Errorf("the other session's token at the instance that ended it: %v, want invalid token at once", err)
		}
		if err := waitRefused(ctx, c2, other.Token); err != nil {
			t.Errorf("the other session's token at the second instance: %v", err)
		}
		for _, tok := range []string{mine.Token, fresh.Token} {
			if _, err := c2.Authenticate(ctx, tok); err != nil {
				t.Errorf("the caller's session at the second instance: %v", err)
			}
		}
		if _, err := c2.Login(ctx, "alice", goodPassword); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("login with the old password: %v", err)
		}
		list, err := c2.Sessions(ctx, fresh.Token)
		if err != nil || len(list) != 1 || list[0].ID != mine.SessionID {
			t.Errorf("sessions after the change = %+v, %v; want the caller's only", list, err)
		}
	})

	t.Run("revoke session", func(t *testing.T) {
		errOther := c1.RevokeSession(ctx, fresh.Token, bobs.SessionID)
		errMissing := c1.RevokeSession(ctx, fresh.Token, "0123456789abcdef0123456789abcdef")
		if !errors.Is(errOther, client.ErrNotFound) || !errors.Is(errMissing, client.ErrNotFound) || errOther.Error() != errMissing.Error() {
			t.Errorf("another account's session: %v; a missing one: %v; want the same not found", errOther, errMissing)
		}
		if _, err := c2.Authenticate(ctx, bobs.Token); err != nil {
			t.Errorf("bob's session after alice tried to revoke it: %v", err)
		}
		extra, err := c2.Login(ctx, "alice", newPassword)
		if err != nil {
			t.Fatal(err)
		}
		if err := c1.RevokeSession(ctx, fresh.Token, extra.SessionID); err != nil {
			t.Fatal(err)
		}
		if err := waitRefused(ctx, c2, extra.Token); err != nil {
			t.Errorf("revoked session's token: %v", err)
		}
	})

	t.Run("logout all", func(t *testing.T) {
		extra, err := c2.Login(ctx, "alice", newPassword)
		if err != nil {
			t.Fatal(err)
		}
		if n, err := c1.LogoutAll(ctx, fresh.Token, true); err != nil || n != 1 {
			t.Fatalf("LogoutAll keeping the current = %d, %v; want 1", n, err)
		}
		if err := waitRefused(ctx, c2, extra.Token); err != nil {
			t.Errorf("another session after logout_all: %v", err)
		}
		if n, err := c1.LogoutAll(ctx, fresh.Token, false); err != nil || n != 1 {
			t.Fatalf("LogoutAll = %d, %v; want 1 (the caller's)", n, err)
		}
		if _, err := c1.Authenticate(ctx, fresh.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Errorf("the caller's token after logout_all, at the same instance: %v, want invalid token at once", err)
		}
		if err := waitRefused(ctx, c2, fresh.Token); err != nil {
			t.Errorf("the caller's token after logout_all: %v", err)
		}
	})

	tok, err := c1.Login(ctx, "alice", newPassword)
	if err != nil {
		t.Fatal(err)
	}
	t.Run("change email", func(t *testing.T) {
		if _, err := c1.ChangeEmail(ctx, tok.Token, goodPassword, "alice@example.org"); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("wrong password: %v", err)
		}
		// Another account's address answers like any other: it waits
		// as the pending address, and nothing tells it is taken.
		if a, err := c1.ChangeEmail(ctx, tok.Token, newPassword, "Bob@example.com"); err != nil || a.PendingEmail != "bob@example.com" {
			t.Errorf("another account's email: %+v, %v", a, err)
		}
		if _, err := c1.ChangeEmail(ctx, tok.Token, newPassword, "not an address"); !errors.Is(err, client.ErrBadRequest) {
			t.Errorf("invalid email: %v", err)
		}
		a, err := c1.ChangeEmail(ctx, tok.Token, newPassword, "Alice@Example.org")
		if err != nil || a.PendingEmail != "alice@example.org" || a.Email != "" {
			t.Fatalf("ChangeEmail = %+v, %v", a, err)
		}
		id, err := c2.Authenticate(ctx, tok.Token)
		if err != nil || id.Account.PendingEmail != "alice@example.org" {
			t.Errorf("email at the second instance = %+v, %v", id, err)
		}
	})

	t.Run("delete account", func(t *testing.T) {
		if _, err := c1.DeleteAccount(ctx, tok.Token, goodPassword); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("wrong password: %v", err)
		}
		n, err := c1.DeleteAccount(ctx, tok.Token, newPassword)
		if err != nil || n != 1 {
			t.Fatalf("DeleteAccount = %d, %v; want 1", n, err)
		}
		if _, err := c1.Authenticate(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Errorf("deleted account's token at the same instance: %v, want invalid token at once", err)
		}
		if err := waitRefused(ctx, c2, tok.Token); err != nil {
			t.Errorf("deleted account's token: %v", err)
		}
		again, err := c2.Signup(ctx, "alice", goodPassword, "alice@example.org")
		if err != nil {
			t.Fatalf("signup with the deleted account's name and email: %v", err)
		}
		if again.Account.ID == alice.Account.ID {
			t.Fatal("the new account has the deleted account's id")
		}
		newTok, err := c2.Login(ctx, "alice", goodPassword)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := c1.Authenticate(ctx, newTok.Token); err != nil {
			t.Errorf("the new account's token: %v", err)
		}
		for _, old := range []string{tok.Token, mine.Token, fresh.Token} {
			if _, err := c1.Authenticate(ctx, old); !errors.Is(err, client.ErrInvalidToken) {
				t.Errorf("the deleted account's token after the name was taken again: %v", err)
			}
		}
	})

	t.Run("audit", func(t *testing.T) {
		ev, err := st.ListAuthEvents(ctx, store.AuthEventFilter{AccountID: alice.Account.ID})
		if err != nil {
			t.Fatal(err)
		}
		var got []string
		for _, e := range ev {
			got = append(got, e.Type+"/"+e.Reason)
		}
		for _, want := range []string{"signup/", "login/", "password_changed/others", "sessions_revoked/one",
			"sessions_revoked/others", "sessions_revoked/all", "email_changed/", "account_deleted/self", "login_failed/wrong_password"} {
			if !slices.Contains(got, want) {
				t.Errorf("no %s event in %v", want, got)
			}
		}
	})
}

// TestSessionPruner: the pruner deletes the sessions whose absolute
// lifetime has passed on the test clock, and only those.
func TestSessionPruner(t *testing.T) {
	t.Parallel()
	for _, backend := range stores {
		t.Run(backend.name, func(t *testing.T) {
			parallel(t)
			st := backend.open(t)
			ts := mustServe(t, st, func(c *server.Config) { c.SessionPruneInterval = 5 * time.Millisecond })
			c := mustDial(t, ts)
			ctx := ctxT(t)
			if _, err := c.Signup(ctx, "alice", goodPassword, ""); err != nil {
				t.Fatal(err)
			}
			old, err := c.Login(ctx, "alice", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			svc := ts.Service()
			if n, err := svc.PruneSessions(ctx); err != nil || n != 0 {
				t.Fatalf("PruneSessions with every session live = %d, %v; want 0", n, err)
			}
			ts.Clock.Advance(svc.Config().SessionLifetime - 30*time.Minute)
			young, err := c.Login(ctx, "alice", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			ts.Clock.Advance(30*time.Minute + time.Second) // the first session's end has passed

			pctx, stop := context.WithCancel(ctx)
			var wg sync.WaitGroup
			wg.Go(func() { svc.RunSessionPruner(pctx) })
			waitFor(t, "the pruner to delete the ended session", func() bool {
				_, err := st.GetSession(ctx, old.SessionID)
				return errors.Is(err, store.ErrNotFound)
			})
			stop()
			wg.Wait()
			if _, err := st.GetSession(ctx, young.SessionID); err != nil {
				t.Errorf("the live session after pruning: %v", err)
			}
			if _, err := c.Authenticate(ctx, young.Token); err != nil {
				t.Errorf("the live session's token after pruning: %v", err)
			}
			if _, err := c.Authenticate(ctx, old.Token); !errors.Is(err, client.ErrInvalidToken) {
				t.Errorf("the pruned session's token: %v", err)
			}
		})
	}
}

// waitRefused waits until c's instance refuses token: an instance other
// than the one that revoked it does within one read of the revocation
// log (SPEC.md §5.4.3). It returns an error for any other answer, or when
// 10 s pass, far beyond the 50 ms the instances are held to, so that
// only a missed revocation fails.
func waitRefused(ctx context.Context, c *client.Conn, token string) error {
	start := time.Now()
	for {
		_, err := c.Authenticate(ctx, token)
		if errors.Is(err, client.ErrInvalidToken) {
			return nil
		}
		if err != nil {
			return fmt.Errorf("authenticate: %w, want invalid token", err)
		}
		if time.Since(start) > 10*time.Second {
			return errors.New("still accepted 10 s after the revocation")
		}
		time.Sleep(5 * time.Millisecond)
	}
}
