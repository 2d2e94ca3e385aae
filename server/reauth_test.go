package server_test

import (
	"errors"
	"slices"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
)

// TestReauthWithSecondFactor: over the wire, on both stores, with a
// second factor on, change_password, change_email and delete_account
// need a code besides the password (a missing one refused and not
// counted, a wrong one counted, a recovery code used up), and a
// password reset by mailed code leaves the factor on: the next login
// still asks for it.
func TestReauthWithSecondFactor(t *testing.T) {
	t.Parallel()
	for _, backend := range stores {
		t.Run(backend.name, func(t *testing.T) {
			parallel(t)
			st := backend.open(t)
			ts, ms := mustServeMail(t, st, nil)
			clock := ts.Clock
			c := mustDial(t, ts)
			ctx := ctxT(t)
			if _, err := c.Signup(ctx, "alice", goodPassword, "alice@example.com"); err != nil {
				t.Fatal(err)
			}
			tok, err := c.Login(ctx, "alice", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			if _, err := c.VerifyEmail(ctx, tok.Token, waitSubject(t, ctx, ms, "alice@example.com", "verification code", 1)[0].Code()); err != nil {
				t.Fatal(err)
			}
			secret, recovery := mustEnrol(t, c, clock, "alice")
			clock.Advance(30 * time.Second)
			// failures counts the account's and the session's device's: a
			// re-authentication's failures count on the device the session
			// logged in from.
			failures := func() int {
				t.Helper()
				a, err := st.GetAccountByUsername(ctx, "alice")
				if err != nil {
					t.Fatal(err)
				}
				sess, err := st.GetSession(ctx, tok.SessionID)
				if err != nil {
					t.Fatal(err)
				}
				d, err := st.GetDevice(ctx, sess.DeviceID)
				if err != nil {
					t.Fatal(err)
				}
				return a.Failures.Count + d.Failures.Count
			}

			if _, err := c.DeleteAccount(ctx, tok.Token, goodPassword); !errors.Is(err, client.ErrBadRequest) {
				t.Fatalf("delete_account without a code = %v, want ErrBadRequest", err)
			}
			if n := failures(); n != 0 {
				t.Fatalf("failures after a missing code = %d, want 0", n)
			}
			req := client.ChangePasswordRequest{Token: tok.Token, CurrentPassword: goodPassword, NewPassword: newPassword, Code: wrongCode(t, secret, clock.Now())}
			if _, err := c.ChangePassword(ctx, req); !errors.Is(err, client.ErrInvalidCredentials) {
				t.Fatalf("change_password with a wrong code = %v, want ErrInvalidCredentials", err)
			}
			if n := failures(); n != 1 {
				t.Fatalf("failures after a wrong code = %d, want 1", n)
			}
			clock.Advance(time.Minute)
			if _, err := c.ChangeEmailWith(ctx, client.ChangeEmailRequest{Token: tok.Token, Password: goodPassword, NewEmail: "alice@example.org", Code: recovery[0]}); err != nil {
				t.Fatalf("change_email with a recovery code: %v", err)
			}
			if _, err := c.DeleteAccountWith(ctx, client.DeleteAccountRequest{Token: tok.Token, Password: goodPassword, Code: recovery[0]}); !errors.Is(err, client.ErrInvalidCredentials) {
				t.Fatalf("delete_account with a used recovery code = %v, want ErrInvalidCredentials", err)
			}

			// A mailed code resets the password, not the factor, nor the
			// failures its wrong codes counted.
			before := failures()
			if before == 0 {
				t.Fatal("no failures counted before the reset")
			}
			clock.Advance(time.Minute)
			if err := c.RequestPasswordReset(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			code := waitSubject(t, ctx, ms, "alice@example.com", "password reset code", 1)[0].Code()
			if _, err := c.ResetPassword(ctx, "alice", code, newPassword); err != nil {
				t.Fatalf("reset_password: %v", err)
			}
			if n := failures(); n != before {
				t.Errorf("failures after a reset with the factor on = %d, want the %d before kept", n, before)
			}
			if _, err := c.Login(ctx, "alice", newPassword); !errors.Is(err, client.ErrSecondFactorRequired) {
				t.Fatalf("login after a password reset = %v, want ErrSecondFactorRequired", err)
			}
			sf := mustSecondFactorRequiredWith(t, c, "alice", newPassword)
			two, err := c.LoginSecondFactor(ctx, sf.Challenge, client.SecondFactorAnswer{Code: totpCode(t, secret, clock.Now())})
			if err != nil {
				t.Fatalf("second step after a password reset: %v", err)
			}
			id, err := c.Authenticate(ctx, two.Token)
			if err != nil || !slices.Equal(id.AMR, []string{"pwd", "otp"}) || !id.Account.SecondFactor {
				t.Fatalf("authenticate after reset = %+v, %v; want amr [pwd otp] and the factor on", id, err)
			}

			clock.Advance(30 * time.Second)
			req = client.ChangePasswordRequest{Token: two.Token, CurrentPassword: newPassword, NewPassword: goodPassword, Code: totpCode(t, secret, clock.Now())}
			if _, err := c.ChangePassword(ctx, req); err != nil {
				t.Fatalf("change_password with password and code: %v", err)
			}
			if _, err := c.Login(ctx, "alice", goodPassword); !errors.Is(err, client.ErrSecondFactorRequired) {
				t.Fatalf("login after change_password = %v, want ErrSecondFactorRequired", err)
			}
		})
	}
}

// mustSecondFactorRequiredWith logs in with password and returns the
// challenge.
func mustSecondFactorRequiredWith(tb testing.TB, c *client.Conn, username, password string) *client.SecondFactorRequired {
	tb.Helper()
	_, err := c.Login(ctxT(tb), username, password)
	var sf *client.SecondFactorRequired
	if !errors.As(err, &sf) {
		tb.Fatalf("login with a factor on = %v, want SecondFactorRequired", err)
	}
	return sf
}
