package account_test

import (
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestSignupWithYourAddressNoticeLimited: strangers signing up with
// alice's verified address under many names, from many IPs, get the
// answer of a fresh signup each time, but alice is told once an hour,
// not once a signup.
func TestSignupWithYourAddressNoticeLimited(t *testing.T) {
	t.Parallel()
	ms := servertest.StartMailServer(t, servertest.MailServerOptions{})
	clock := servertest.NewClock()
	reg := prometheus.NewRegistry()
	cfg := testConfig(t, sqltest.NewSQLite(t), clock)
	cfg.Mail = account.MailConfig{Host: ms.Host, Port: ms.Port, From: "a@example.com", TLS: account.SMTPNoTLS}
	cfg.MailPollInterval = 10 * time.Millisecond
	cfg.Metrics = reg
	svc := mustService(t, cfg)
	ctx := ctxT(t)
	if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: "alice", Password: goodPassword, Email: "alice@example.com"}); err != nil {
		t.Fatal(err)
	}
	code := ms.WaitFor(t, ctx, "alice@example.com", 1)[0].Code()
	if _, err := svc.VerifyEmail(ctx, protocol.VerifyEmailRequest{Login: "alice", Code: code}); err != nil {
		t.Fatal(err)
	}
	signup := func(name, ip string) {
		t.Helper()
		res, err := svc.Signup(account.WithClientIP(ctx, ip), protocol.SignupRequest{Username: name, Password: goodPassword, Email: "alice@example.com"})
		if err != nil || res.Account.PendingEmail != "alice@example.com" {
			t.Fatalf("signup %s with alice's address = %+v, %v; want the answer of a fresh signup", name, res, err)
		}
	}
	const strangers = 4
	for i := range strangers {
		signup("stranger"+strconv.Itoa(i), "198.51.100."+strconv.Itoa(1+i))
	}
	// Every notice after the first is dropped when its turn comes.
	dropped := func() float64 { return counterValue(t, reg, "accountd_mail_dropped_total", "") }
	waitFor(t, "the notices to be sent or dropped", func() bool { return dropped() == strangers-1 })
	if got := len(ms.WaitFor(t, ctx, "alice@example.com", 2)); got != 2 {
		t.Fatalf("alice got %d mails, want the code and one notice", got)
	}
	if n := countSubject(ms.Mails(), "alice@example.com", "Someone used your address"); n != 1 {
		t.Fatalf("alice was told %d times of %d signups with her address within the hour, want once", n, strangers)
	}
	// An hour on, the next one is told again.
	clock.Advance(time.Hour)
	signup("stranger"+strconv.Itoa(strangers), "198.51.100.99")
	waitFor(t, "the next hour's notice", func() bool {
		return countSubject(ms.Mails(), "alice@example.com", "Someone used your address") == 2
	})
}

// countSubject counts the mails to address whose subject contains s.
func countSubject(mails []servertest.Mail, address, s string) int {
	n := 0
	for _, m := range mails {
		if slices.Contains(m.To, address) && strings.Contains(m.Header.Get("Subject"), s) {
			n++
		}
	}
	return n
}
