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

// isError reports whether err is an *account.Error with code and message.
func isError(err error, code, message string) bool {
	var e *account.Error
	return errors.As(err, &e) && e.Code == code && e.Message == message
}

// TestReauthenticateWithFactor: with a second factor on, change_password,
// change_email and delete_account need the password and a code, as
// totp_disable does: a missing code is refused before anything is
// checked, a wrong one is counted like a wrong password, and a code
// works once.
func TestReauthenticateWithFactor(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		ctx := ctxT(t)
		clock := servertest.NewClock()
		svc := mustService(t, testConfig(t, st, clock))
		id := mustSignup(t, svc, "alice")
		login := mustLogin(t, svc, "alice")
		tok := login.Token
		en, err := svc.TOTPBegin(ctx, protocol.TOTPBeginRequest{Token: tok, Password: goodPassword})
		if err != nil {
			t.Fatal(err)
		}
		rc, err := svc.TOTPConfirm(ctx, protocol.TOTPConfirmRequest{Token: tok, Code: totpCode(t, en.Secret, clock.Now())})
		if err != nil {
			t.Fatal(err)
		}
		clock.Advance(30 * time.Second)
		// failures counts the account's and the session's device's: a
		// re-authentication's failures count on the device the session
		// logged in from.
		failures := func() int {
			t.Helper()
			a, err := st.GetAccount(ctx, id)
			if err != nil {
				t.Fatal(err)
			}
			sess, err := st.GetSession(ctx, login.SessionID)
			if err != nil {
				t.Fatal(err)
			}
			d, err := st.GetDevice(ctx, sess.DeviceID)
			if err != nil {
				t.Fatal(err)
			}
			return a.Failures.Count + d.Failures.Count
		}
		const newPassword = "another long passphrase for alice"
		const wrongOrCode = "wrong password or code"

		// No code: refused, nothing checked or counted.
		if _, err := svc.ChangePassword(ctx, protocol.ChangePasswordRequest{Token: tok, CurrentPassword: goodPassword, NewPassword: newPassword}); !isCode(err, protocol.CodeBadRequest) {
			t.Fatalf("change_password without a code = %v, want %s", err, protocol.CodeBadRequest)
		}
		if _, err := svc.ChangeEmail(ctx, protocol.ChangeEmailRequest{Token: tok, Password: goodPassword, NewEmail: "alice@example.org"}); !isCode(err, protocol.CodeBadRequest) {
			t.Fatalf("change_email without a code = %v, want %s", err, protocol.CodeBadRequest)
		}
		if _, err := svc.DeleteOwnAccount(ctx, protocol.DeleteAccountRequest{Token: tok, Password: goodPassword}); !isCode(err, protocol.CodeBadRequest) {
			t.Fatalf("delete_account without a code = %v, want %s", err, protocol.CodeBadRequest)
		}
		if n := failures(); n != 0 {
			t.Fatalf("failures after missing codes = %d, want 0", n)
		}

		// A wrong code with the right password, and the right code with a
		// wrong password: the same answer, each counted.
		now := clock.Now()
		right := totpCode(t, en.Secret, now)
		wrong := "000000"
		for wrong == right || wrong == totpCode(t, en.Secret, now.Add(-30*time.Second)) || wrong == totpCode(t, en.Secret, now.Add(30*time.Second)) {
			wrong = string(rune(wrong[0]+1)) + wrong[1:]
		}
		if _, err := svc.ChangePassword(ctx, protocol.ChangePasswordRequest{Token: tok, CurrentPassword: goodPassword, NewPassword: newPassword, Code: wrong}); !isError(err, protocol.CodeInvalidCredentials, wrongOrCode) {
			t.Fatalf("change_password with a wrong code = %v, want %s %q", err, protocol.CodeInvalidCredentials, wrongOrCode)
		}
		if _, err := svc.ChangeEmail(ctx, protocol.ChangeEmailRequest{Token: tok, Password: "not the password at all", NewEmail: "alice@example.org", Code: right}); !isError(err, protocol.CodeInvalidCredentials, wrongOrCode) {
			t.Fatalf("change_email with a wrong password = %v, want %s %q", err, protocol.CodeInvalidCredentials, wrongOrCode)
		}
		if _, err := svc.DeleteOwnAccount(ctx, protocol.DeleteAccountRequest{Token: tok, Password: goodPassword, Code: "abcd-efgh-ijkm-nopq"}); !isError(err, protocol.CodeInvalidCredentials, wrongOrCode) {
			t.Fatalf("delete_account with a wrong recovery code = %v, want %s %q", err, protocol.CodeInvalidCredentials, wrongOrCode)
		}
		if n := failures(); n != 3 {
			t.Fatalf("failures = %d, want 3", n)
		}
		ev := listEvents(t, st, store.AuthEventFilter{AccountID: id})
		if n := countEvents(ev, store.EventLoginFailed, store.ReasonWrongCode); n != 2 {
			t.Errorf("%d wrong_code events, want 2", n)
		}
		if n := countEvents(ev, store.EventLoginFailed, store.ReasonWrongPassword); n != 1 {
			t.Errorf("%d wrong_password events, want 1", n)
		}

		// The code the wrong password came with was not used up: it
		// changes the password now, and then works no more.
		clock.Advance(time.Minute) // past the throttle's delay
		right = totpCode(t, en.Secret, clock.Now())
		res, err := svc.ChangePassword(ctx, protocol.ChangePasswordRequest{Token: tok, CurrentPassword: goodPassword, NewPassword: newPassword, Code: right})
		if err != nil {
			t.Fatalf("change_password with password and code: %v", err)
		}
		tok = res.Token
		// A password change clears the account's counter and that of the
		// session's device.
		if n := failures(); n != 0 {
			t.Errorf("failures after a full re-authentication = %d, want 0", n)
		}
		if _, err := svc.ChangeEmail(ctx, protocol.ChangeEmailRequest{Token: tok, Password: newPassword, NewEmail: "alice@example.org", Code: right}); !isError(err, protocol.CodeInvalidCredentials, wrongOrCode) {
			t.Fatalf("change_email with a used code = %v, want %s %q", err, protocol.CodeInvalidCredentials, wrongOrCode)
		}
		if n := failures(); n != 1 {
			t.Errorf("failures after a used code = %d, want 1", n)
		}

		// A recovery code, in the form a person copies it, works once.
		clock.Advance(time.Minute)
		if _, err := svc.ChangeEmail(ctx, protocol.ChangeEmailRequest{Token: tok, Password: newPassword, NewEmail: "alice@example.org", Code: rc.RecoveryCodes[0]}); err != nil {
			t.Fatalf("change_email with a recovery code: %v", err)
		}
		if _, err := svc.DeleteOwnAccount(ctx, protocol.DeleteAccountRequest{Token: tok, Password: newPassword, Code: rc.RecoveryCodes[0]}); !isError(err, protocol.CodeInvalidCredentials, wrongOrCode) {
			t.Fatalf("delete_account with a used recovery code = %v, want %s %q", err, protocol.CodeInvalidCredentials, wrongOrCode)
		}
		ev = listEvents(t, st, store.AuthEventFilter{AccountID: id})
		if n := countEvents(ev, store.EventRecoveryCodeUsed, ""); n != 1 {
			t.Errorf("%d recovery_code_used events, want 1", n)
		}
		clock.Advance(time.Minute)
		if _, err := svc.DeleteOwnAccount(ctx, protocol.DeleteAccountRequest{Token: tok, Password: newPassword, Code: rc.RecoveryCodes[1]}); err != nil {
			t.Fatalf("delete_account with another recovery code: %v", err)
		}
		if _, err := st.GetAccount(ctx, id); !errors.Is(err, store.ErrNotFound) {
			t.Errorf("account after delete_account = %v, want gone", err)
		}

		// Without a factor a code is not looked at.
		mustSignup(t, svc, "bob")
		bob := mustLogin(t, svc, "bob").Token
		if _, err := svc.ChangePassword(ctx, protocol.ChangePasswordRequest{Token: bob, CurrentPassword: goodPassword, NewPassword: newPassword, Code: "not a code"}); err != nil {
			t.Errorf("change_password without a factor, with a code: %v", err)
		}
	})
}
