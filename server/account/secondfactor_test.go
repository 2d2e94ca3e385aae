package account_test

import (
	"errors"
	"sync"
	"testing"
	"time"

	"github.com/pquerna/otp"
	"github.com/pquerna/otp/totp"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
)

func totpCode(tb testing.TB, secret string, t time.Time) string {
	tb.Helper()
	code, err := totp.GenerateCodeCustom(secret, t, totp.ValidateOpts{Period: 30, Digits: otp.DigitsSix, Algorithm: otp.AlgorithmSHA1})
	if err != nil {
		tb.Fatal(err)
	}
	return code
}

// mustEnrol turns TOTP on for username and returns its secret.
func mustEnrol(tb testing.TB, svc *account.Service, clock *servertest.Clock, username string) string {
	tb.Helper()
	ctx := ctxT(tb)
	tok := mustLogin(tb, svc, username)
	en, err := svc.TOTPBegin(ctx, protocol.TOTPBeginRequest{Token: tok.Token, Password: goodPassword})
	if err != nil {
		tb.Fatal(err)
	}
	if _, err := svc.TOTPConfirm(ctx, protocol.TOTPConfirmRequest{Token: tok.Token, Code: totpCode(tb, en.Secret, clock.Now())}); err != nil {
		tb.Fatal(err)
	}
	return en.Secret
}

// TestParallelWrongCodes fires many wrong codes at one challenge at once,
// through two instances over one store: at most 5 are checked (the
// conditional update on the challenge, and one answer at a time per
// account at each instance), each checked one counted against the
// account, and once 5 are checked the right code finds the challenge
// dead.
func TestParallelWrongCodes(t *testing.T) {
	t.Parallel()
	eachStore(t, func(t *testing.T, st store.Store) {
		clock := servertest.NewClock()
		cfg := testConfig(t, st, clock)
		one, two := mustService(t, cfg), mustService(t, cfg)
		id := mustSignup(t, one, "alice")
		secret := mustEnrol(t, one, clock, "alice")
		clock.Advance(30 * time.Second)
		// One connection's requests, as the challenge requires.
		ctx := account.WithConnection(ctxT(t), new(account.Connection))
		res, err := one.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword})
		if err != nil || res.SecondFactorRequired == nil {
			t.Fatalf("login = %+v, %v; want second_factor_required", res, err)
		}
		challenge := res.SecondFactorRequired.Challenge
		right := totpCode(t, secret, clock.Now())
		wrong := "000000"
		if right == wrong {
			wrong = "111111"
		}
		const fired = 24
		codes := make(chan string, fired)
		var wg sync.WaitGroup
		start := make(chan struct{})
		for i := range fired {
			svc := one
			if i%2 == 1 {
				svc = two
			}
			wg.Go(func() {
				<-start
				_, err := svc.LoginSecondFactor(ctx, protocol.LoginSecondFactorRequest{Challenge: challenge, Code: wrong})
				var e *account.Error
				if !errors.As(err, &e) {
					t.Errorf("wrong code: %v", err)
					return
				}
				codes <- e.Code
			})
		}
		close(start)
		wg.Wait()
		close(codes)
		counted := map[string]int{}
		for c := range codes {
			counted[c]++
		}
		if counted[protocol.CodeInvalidCredentials]+counted[protocol.CodeChallengeExpired] != fired {
			t.Fatalf("%d wrong codes at once: %v; want only %s and %s", fired, counted, protocol.CodeInvalidCredentials, protocol.CodeChallengeExpired)
		}
		// An answer is checked (a wrong_code failure) or refused unchecked
		// (another answer on the account was in flight at that instance);
		// at most 5 are checked, whatever the interleaving.
		checked := func() int {
			return countEvents(listEvents(t, st, store.AuthEventFilter{AccountID: id}), store.EventLoginFailed, store.ReasonWrongCode)
		}
		n := checked()
		if n < 1 || n > 5 {
			t.Fatalf("%d of %d parallel wrong codes checked, want 1 to 5", n, fired)
		}
		// More wrong codes, one at a time, until 5 are checked: the
		// challenge then is dead.
		for ; n < 5; n++ {
			if _, err := one.LoginSecondFactor(ctx, protocol.LoginSecondFactorRequest{Challenge: challenge, Code: wrong}); !isCode(err, protocol.CodeInvalidCredentials) {
				t.Fatalf("wrong code %d = %v, want %s", n+1, err, protocol.CodeInvalidCredentials)
			}
		}
		if got := checked(); got != 5 {
			t.Fatalf("%d wrong codes checked, want 5", got)
		}
		a, err := st.GetAccount(ctxT(t), id)
		if err != nil || a.Failures.Count != 5 {
			t.Fatalf("failures = %d, %v; want 5", a.Failures.Count, err)
		}
		clock.Advance(time.Minute) // past the throttle's wait, within the challenge's life
		if _, err := one.LoginSecondFactor(ctx, protocol.LoginSecondFactorRequest{Challenge: challenge, Code: totpCode(t, secret, clock.Now())}); !isCode(err, protocol.CodeChallengeExpired) {
			t.Errorf("the right code after the limit = %v, want %s", err, protocol.CodeChallengeExpired)
		}
		// Without the connection the challenge was issued on, it is dead too.
		clock.Advance(time.Hour)
		res, err = one.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword})
		if err != nil || res.SecondFactorRequired == nil {
			t.Fatalf("login = %+v, %v", res, err)
		}
		other := account.WithConnection(ctxT(t), new(account.Connection))
		if _, err := one.LoginSecondFactor(other, protocol.LoginSecondFactorRequest{Challenge: res.SecondFactorRequired.Challenge, Code: totpCode(t, secret, clock.Now())}); !isCode(err, protocol.CodeChallengeExpired) {
			t.Errorf("answer on another connection = %v, want %s", err, protocol.CodeChallengeExpired)
		}
		if _, err := one.LoginSecondFactor(ctx, protocol.LoginSecondFactorRequest{Challenge: res.SecondFactorRequired.Challenge, Code: totpCode(t, secret, clock.Now())}); err != nil {
			t.Errorf("answer on the login's connection: %v", err)
		}
	})
}
