package server_test

import (
	"context"
	"errors"
	"log/slog"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"
	"github.com/google/go-cmp/cmp/cmpopts"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// mustServeMail starts a server whose mail goes to a fresh SMTP server
// on loopback, in clear (the STARTTLS path has its own test).
func mustServeMail(t *testing.T, st store.Store, edit func(*server.Config)) (*testServer, *servertest.MailServer) {
	t.Helper()
	ms := servertest.StartMailServer(t, servertest.MailServerOptions{})
	ts := mustServe(t, st, func(c *server.Config) {
		c.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "Accounts <accounts@example.com>", TLS: account.SMTPNoTLS, Timeout: 5 * time.Second}
		c.MailPollInterval = 20 * time.Millisecond
		c.ServiceName = "Example Chat"
		if edit != nil {
			edit(c)
		}
	})
	return ts, ms
}

// mailsWithSubject keeps the mails whose subject holds s.
func mailsWithSubject(mails []servertest.Mail, s string) []servertest.Mail {
	var out []servertest.Mail
	for _, m := range mails {
		if strings.Contains(m.Header.Get("Subject"), s) {
			out = append(out, m)
		}
	}
	return out
}

// waitSubject waits for n mails to address whose subject holds s.
func waitSubject(t *testing.T, ctx context.Context, ms *servertest.MailServer, address, s string, n int) []servertest.Mail {
	t.Helper()
	for i := 1; ; i++ {
		got := mailsWithSubject(ms.WaitFor(t, ctx, address, i), s)
		if len(got) >= n {
			return got
		}
	}
}

const newPassword = "a brand new passphrase for alice"

// TestMailLoopback runs the email features against a real SMTP server on
// loopback, on both stores: signup → code mailed → verify; forgot
// password → code → reset → old sessions refused, notice mailed; a second
// signup with a verified address answers like a fresh one and its owner
// is told; five wrong codes kill the code; with the SMTP server stopped
// the operations still answer and the mail goes out once it is back.
func TestMailLoopback(t *testing.T) {
	t.Parallel()
	for _, backend := range stores {
		t.Run(backend.name, func(t *testing.T) {
			parallel(t)
			ts, ms := mustServeMail(t, backend.open(t), nil)
			c := mustDial(t, ts)
			ctx := ctxT(t)
			if p, err := c.Policy(ctx); err != nil || !p.Mail {
				t.Errorf("policy = %+v, %v; want mail announced", p, err)
			}
			if p, err := mustDial(t, mustServe(t, backend.open(t), nil)).Policy(ctx); err != nil || p.Mail {
				t.Errorf("policy without mail = %+v, %v; want no mail announced", p, err)
			}

			// Signup with an email: the address waits, a code is mailed.
			res, err := c.Signup(ctx, "alice", goodPassword, "Alice@Example.com")
			if err != nil {
				t.Fatal(err)
			}
			if res.Account.Email != "" || res.Account.PendingEmail != "alice@example.com" {
				t.Fatalf("signup account: email %q pending %q; want the address pending", res.Account.Email, res.Account.PendingEmail)
			}
			verify := waitSubject(t, ctx, ms, "alice@example.com", "verification code", 1)[0]
			if verify.Code() == "" || !strings.Contains(verify.HTML, verify.Code()) {
				t.Fatalf("verification mail holds no code in both parts:\n%s", verify.Raw)
			}
			if got := verify.Header.Get("From"); !strings.Contains(got, "accounts@example.com") {
				t.Errorf("From = %q", got)
			}
			if !strings.Contains(verify.Header.Get("Subject"), "Example Chat") {
				t.Errorf("subject %q does not name the service", verify.Header.Get("Subject"))
			}
			tok, err := c.Login(ctx, "alice", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			// Password reset needs a verified address: before verification,
			// a request mails nothing. The sender judges a request when its
			// turn comes, so wait for that before verifying.
			dropped, _ := metricNow(t, ts, "accountd_mail_dropped_total")
			if err := c.RequestPasswordReset(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			waitMetric(t, ctx, ts, "accountd_mail_dropped_total", dropped+1)
			acct, err := c.VerifyEmail(ctx, tok.Token, verify.Code())
			if err != nil {
				t.Fatalf("verify_email with the mailed code: %v", err)
			}
			if acct.Email != "alice@example.com" || acct.PendingEmail != "" {
				t.Fatalf("after verify: email %q pending %q", acct.Email, acct.PendingEmail)
			}
			if _, err := c.VerifyEmail(ctx, tok.Token, verify.Code()); !errors.Is(err, client.ErrBadRequest) {
				t.Errorf("verify again with nothing pending = %v, want bad_request", err)
			}

			// Forgot password → code → reset → old sessions refused.
			other, err := c.Login(ctx, "alice", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			if err := c.RequestPasswordReset(ctx, "ALICE@example.com"); err != nil {
				t.Fatal(err)
			}
			reset := waitSubject(t, ctx, ms, "alice@example.com", "password reset code", 1)
			if len(reset) != 1 {
				t.Fatalf("%d reset mails; the request before verification must mail none", len(reset))
			}
			code := reset[0].Code()
			if _, err := c.ResetPassword(ctx, "alice", code, "short"); !errors.Is(err, client.ErrWeakPassword) {
				t.Fatalf("reset with a weak password = %v, want weak_password", err)
			}
			n, err := c.ResetPassword(ctx, "alice", code, newPassword)
			if err != nil {
				t.Fatalf("reset_password: %v", err)
			}
			if n != 2 {
				t.Errorf("reset ended %d sessions, want 2", n)
			}
			for _, old := range []string{tok.Token, other.Token} {
				if _, err := c.Authenticate(ctx, old); !errors.Is(err, client.ErrInvalidToken) {
					t.Errorf("a token from before the reset: %v, want invalid_token", err)
				}
			}
			if _, err := c.ResetPassword(ctx, "alice", code, newPassword+"!"); !errors.Is(err, client.ErrInvalidCode) {
				t.Errorf("the reset code used twice = %v, want invalid_code", err)
			}
			if _, err := c.Login(ctx, "alice", goodPassword); !errors.Is(err, client.ErrInvalidCredentials) {
				t.Errorf("login with the old password = %v", err)
			}
			if _, err := c.Login(ctx, "alice", newPassword); err != nil {
				t.Errorf("login with the new password: %v", err)
			}
			waitSubject(t, ctx, ms, "alice@example.com", "password was reset", 1)

			// A second signup with alice's verified address answers like a
			// fresh one; alice is told, and no code goes out for bob.
			before := len(mailsWithSubject(ms.Mails(), "verification code"))
			bob, err := c.Signup(ctx, "bob", goodPassword, "alice@example.com")
			if err != nil {
				t.Fatalf("signup with a registered address: %v", err)
			}
			carol, err := c.Signup(ctx, "carol", goodPassword, "carol@example.com")
			if err != nil {
				t.Fatal(err)
			}
			shape := cmpopts.IgnoreFields(client.Account{}, "ID", "Username", "PendingEmail", "CreatedAt")
			if diff := cmp.Diff(carol, bob, shape); diff != "" || bob.Account.PendingEmail != "alice@example.com" {
				t.Errorf("signup with a registered address differs from a fresh one (-fresh +taken):\n%s", diff)
			}
			notice := waitSubject(t, ctx, ms, "alice@example.com", "Someone used your address", 1)[0]
			if notice.Code() != "" || !strings.Contains(notice.Text, "alice") {
				t.Errorf("owner notice:\n%s", notice.Text)
			}
			waitSubject(t, ctx, ms, "carol@example.com", "verification code", 1)
			if got := len(mailsWithSubject(ms.WaitFor(t, ctx, "alice@example.com", 1), "verification code")); got != before {
				t.Errorf("a verification code was mailed to alice's address for bob (%d codes, want %d)", got, before)
			}

			// Five wrong codes kill the code: the right one fails after.
			if err := c.RequestPasswordReset(ctx, "alice"); err != nil {
				t.Fatal(err)
			}
			code = waitSubject(t, ctx, ms, "alice@example.com", "password reset code", 2)[1].Code()
			for i := range 5 {
				wrong := strconv.Itoa((mustAtoi(t, code) + 1 + i) % 100000000)
				wrong = strings.Repeat("0", 8-len(wrong)) + wrong
				if _, err := c.ResetPassword(ctx, "alice", wrong, newPassword+"x"); !errors.Is(err, client.ErrInvalidCode) {
					t.Fatalf("wrong code %d = %v, want invalid_code", i+1, err)
				}
			}
			if _, err := c.ResetPassword(ctx, "alice", code, newPassword+"x"); !errors.Is(err, client.ErrInvalidCode) {
				t.Fatalf("the right code after 5 wrong ones = %v, want invalid_code", err)
			}
			if got := servertest.CountEvents(servertest.Events(t, ts.Config.Store, store.AuthEventFilter{}), store.EventCodeRejected, store.PurposeReset); got < 6 {
				t.Errorf("%d code_rejected events, want at least 6", got)
			}

			// SMTP down: the operation answers at once, the failure is
			// counted, and the mail goes out after the server returns.
			ms.Stop()
			if err := c.RequestPasswordReset(ctx, "alice"); err != nil {
				t.Fatalf("request_password_reset with SMTP down: %v", err)
			}
			waitMetric(t, ctx, ts, "accountd_mail_failures_total", 1)
			if code, body := httpGet(t, "http://"+ts.Addr+"/readyz"); code != 200 {
				t.Errorf("/readyz = %d %q with SMTP down", code, body)
			}
			ms.Start(t)
			ts.Clock.Advance(time.Minute) // past the first retry pause
			code = waitSubject(t, ctx, ms, "alice@example.com", "password reset code", 3)[2].Code()
			if _, err := c.ResetPassword(ctx, "alice", code, newPassword+"y"); err != nil {
				t.Fatalf("reset with the code mailed after the outage: %v", err)
			}
		})
	}
}

func mustAtoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatalf("code %q: %v", s, err)
	}
	return n
}

// waitMetric waits until a counter of /metrics reaches at least min.
func waitMetric(t *testing.T, ctx context.Context, ts *testServer, name string, min float64) {
	t.Helper()
	for {
		v, body := metricNow(t, ts, name)
		if v >= min {
			return
		}
		select {
		case <-ctx.Done():
			t.Fatalf("%s did not reach %v:\n%s", name, min, body)
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// metricNow reads a counter of /metrics (0 when absent) and returns the
// page too.
func metricNow(t *testing.T, ts *testServer, name string) (float64, string) {
	t.Helper()
	_, body := httpGet(t, metricsURL(t, ts))
	m := regexp.MustCompile(`(?m)^` + name + ` ([0-9.e+]+)$`).FindStringSubmatch(body)
	if m == nil {
		return 0, body
	}
	v, _ := strconv.ParseFloat(m[1], 64)
	return v, body
}

// TestMailChangeEmailAndRequireVerified: change_email mails a code to the
// new address and a notice to the old, which stays until the code is
// typed; a code expires after 10 minutes; with require_verified_email a
// login is refused until the owner verifies with the login and the
// mailed code.
func TestMailChangeEmailAndRequireVerified(t *testing.T) {
	parallel(t)
	ts, ms := mustServeMail(t, sqltest.NewSQLite(t), func(c *server.Config) { c.RequireVerifiedEmail = true })
	c := mustDial(t, ts)
	ctx := ctxT(t)

	if _, err := c.Signup(ctx, "nomail", goodPassword, ""); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("signup without an email where one is required: %v", err)
	}
	if _, err := c.Signup(ctx, "dave", goodPassword, "dave@example.com"); err != nil {
		t.Fatal(err)
	}
	first := waitSubject(t, ctx, ms, "dave@example.com", "verification code", 1)[0].Code()
	if _, err := c.Login(ctx, "dave", goodPassword); !errors.Is(err, client.ErrEmailUnverified) {
		t.Fatalf("login before verification = %v, want email_unverified", err)
	}
	if _, err := c.Login(ctx, "dave", goodPassword+"x"); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("a wrong password before verification = %v, want invalid_credentials", err)
	}
	// The refused login mailed a fresh code: the first no longer works.
	second := waitSubject(t, ctx, ms, "dave@example.com", "verification code", 2)[1].Code()
	if _, err := c.VerifyEmailLogin(ctx, "dave", first); !errors.Is(err, client.ErrInvalidCode) && first != second {
		t.Errorf("the replaced code = %v, want invalid_code", err)
	}
	ts.Clock.Advance(11 * time.Minute)
	if _, err := c.VerifyEmailLogin(ctx, "dave", second); !errors.Is(err, client.ErrInvalidCode) {
		t.Errorf("a code 11 minutes old = %v, want invalid_code", err)
	}
	if _, err := c.Login(ctx, "dave", goodPassword); !errors.Is(err, client.ErrEmailUnverified) {
		t.Fatal(err)
	}
	third := waitSubject(t, ctx, ms, "dave@example.com", "verification code", 3)[2].Code()
	if a, err := c.VerifyEmailLogin(ctx, "dave", third[:4]+" "+third[4:]); err != nil || a.Email != "dave@example.com" {
		t.Fatalf("verify_email by login with a spaced code = %+v, %v", a, err)
	}
	tok, err := c.Login(ctx, "dave", goodPassword)
	if err != nil {
		t.Fatalf("login after verification: %v", err)
	}

	// change_email: the old address stays and is told; the new one gets
	// a code.
	a, err := c.ChangeEmail(ctx, tok.Token, goodPassword, "dave@example.org")
	if err != nil || a.Email != "dave@example.com" || a.PendingEmail != "dave@example.org" {
		t.Fatalf("change_email = %+v, %v", a, err)
	}
	waitSubject(t, ctx, ms, "dave@example.com", "email address is changing", 1)
	code := waitSubject(t, ctx, ms, "dave@example.org", "verification code", 1)[0].Code()
	if err := c.RequestPasswordReset(ctx, "dave@example.org"); err != nil {
		t.Fatal(err)
	}
	if a, err := c.VerifyEmail(ctx, tok.Token, code); err != nil || a.Email != "dave@example.org" || a.PendingEmail != "" {
		t.Fatalf("verify the new address = %+v, %v", a, err)
	}
	// The reset asked for while the new address was pending mailed
	// nothing to it; one asked for now does.
	if err := c.RequestPasswordReset(ctx, "dave@example.org"); err != nil {
		t.Fatal(err)
	}
	if got := waitSubject(t, ctx, ms, "dave@example.org", "password reset code", 1); len(got) != 1 {
		t.Errorf("%d reset mails to the new address, want 1", len(got))
	}
	if err := c.ResendVerification(ctx, tok.Token); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("resend with nothing pending = %v, want bad_request", err)
	}
}

// TestMailStartTLSAndAuth: mail goes through STARTTLS with SMTP auth;
// with a wrong SMTP password the operation still answers, the failure
// is counted, no mail arrives, and the log names the failure without
// the SMTP password.
func TestMailStartTLSAndAuth(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name, password string
		delivered      bool
	}{{"right password", "smtp secret", true}, {"wrong password", "not the smtp secret", false}} {
		t.Run(tc.name, func(t *testing.T) {
			parallel(t)
			var logs syncBuffer
			ms := servertest.StartMailServer(t, servertest.MailServerOptions{StartTLS: true, Username: "mailer", Password: "smtp secret"})
			ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) {
				c.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "accounts@example.com", TLS: account.SMTPStartTLS,
					TLSConfig: ms.TLSConfig, Username: "mailer", Password: tc.password, Timeout: 5 * time.Second}
				c.MailPollInterval = 20 * time.Millisecond
				c.Logger = slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
			})
			c := mustDial(t, ts)
			ctx := ctxT(t)
			if _, err := c.Signup(ctx, "erin", goodPassword, "erin@example.com"); err != nil {
				t.Fatal(err)
			}
			if tc.delivered {
				m := waitSubject(t, ctx, ms, "erin@example.com", "verification code", 1)[0]
				if m.Code() == "" {
					t.Fatal("no code")
				}
				return
			}
			waitMetric(t, ctx, ts, "accountd_mail_failures_total", 1)
			if n := len(ms.Mails()); n != 0 {
				t.Errorf("%d mails delivered with a wrong SMTP password", n)
			}
			if s := logs.String(); strings.Contains(s, tc.password) || !strings.Contains(s, "mail send failed") {
				t.Errorf("log:\n%s", s)
			}
		})
	}
}
