package account_test

import (
	"errors"
	"fmt"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestLoginThrottling shows the per-account limits, kept in the database
// so that they hold across two instances of one deployment (one store,
// one clock, one master key): five free failures, then a growing wait
// (during which even the right password is refused with the same error),
// and a lock after 100 consecutive failures that only an unlock clears.
func TestLoginThrottling(t *testing.T) {
	t.Parallel()
	eachStore(t, testLoginThrottling)
}

func testLoginThrottling(t *testing.T, st store.Store) {
	clock := servertest.NewClock()
	cfg := testConfig(t, st, clock)
	a, b := mustService(t, cfg), mustService(t, cfg)
	instances := []*account.Service{a, b}
	ctx := ctxT(t)
	id := mustSignup(t, a, "alice")
	failures := func() store.LoginFailures {
		t.Helper()
		acct, err := st.GetAccount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return acct.Failures
	}
	wrong := protocol.LoginRequest{Username: "alice", Password: wrongPassword}
	right := protocol.LoginRequest{Username: "alice", Password: goodPassword}
	_, wrongErr := a.Login(ctx, wrong)
	var want *account.Error
	if !errors.As(wrongErr, &want) || want.Code != protocol.CodeInvalidCredentials {
		t.Fatalf("wrong password: %v", wrongErr)
	}
	sameAsWrong := func(err error, what string) {
		t.Helper()
		var got *account.Error
		if !errors.As(err, &got) || *got != *want {
			t.Fatalf("%s: got %v, want exactly the wrong-password refusal %+v", what, err, want)
		}
	}

	// Failures 2 to 5, alternating instances, without waiting.
	for i := 2; i <= 5; i++ {
		_, err := instances[i%2].Login(ctx, wrong)
		sameAsWrong(err, "wrong password")
	}
	if f := failures(); f.Count != 5 {
		t.Fatalf("after 5 failures the count is %d", f.Count)
	}
	// Now a 1 s wait, on the other instance too: the right password is
	// refused, with the same error, and the refusal does not count.
	_, err := b.Login(ctx, right)
	sameAsWrong(err, "right password while throttled")
	if f := failures(); f.Count != 5 {
		t.Fatalf("a throttled attempt counted: %d", f.Count)
	}
	clock.Advance(time.Second)
	if _, err := b.Login(ctx, right); err != nil {
		t.Fatalf("right password after the 1 s wait: %v", err)
	}
	if f := failures(); f != (store.LoginFailures{}) {
		t.Fatalf("success did not reset the count: %+v", f)
	}

	// Lock: 100 consecutive failures, each after the wait it needs.
	guesses := 0
	for range 150 {
		clock.Advance(15*time.Minute + time.Second)
		_, err := instances[guesses%2].Login(ctx, wrong)
		sameAsWrong(err, "wrong password")
		guesses++
		if failures().Count >= 100 {
			break
		}
	}
	if guesses != 100 {
		t.Fatalf("locked after %d guesses, want 100", guesses)
	}
	clock.Advance(24 * time.Hour)
	_, err = a.Login(ctx, right)
	sameAsWrong(err, "right password on a locked account")
	_, err = b.Login(ctx, right)
	sameAsWrong(err, "right password on a locked account, other instance")

	ev := listEvents(t, st, store.AuthEventFilter{AccountID: id})
	if n := countEvents(ev, store.EventLoginFailed, store.ReasonThrottled); n != 1 {
		t.Errorf("%d throttled events, want 1", n)
	}
	if n := countEvents(ev, store.EventLocked, ""); n != 1 {
		t.Errorf("%d locked events, want 1", n)
	}
	if n := countEvents(ev, store.EventLoginFailed, store.ReasonLocked); n != 2 {
		t.Errorf("%d login_failed/locked events, want 2", n)
	}
	if n := countEvents(ev, store.EventLoginFailed, store.ReasonWrongPassword); n != 105 {
		t.Errorf("%d wrong_password events, want 105", n)
	}
	t.Logf("throttled after 5 failures (1 s wait), locked after %d consecutive failures", guesses)

	// What an administrator's unlock does, from the other instance.
	n, err := b.UnlockAccount(ctx, id)
	if err != nil || n != 100 {
		t.Fatalf("UnlockAccount = %d, %v; want 100 failures cleared", n, err)
	}
	if _, err := b.UnlockAccount(ctx, noAccountID); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unlocking no account: %v", err)
	}
	if ev := listEvents(t, st, store.AuthEventFilter{AccountID: id}); ev[len(ev)-1].Type != store.EventUnlocked {
		t.Fatalf("last event %+v, want unlocked", ev[len(ev)-1])
	}
	if _, err := a.Login(ctx, right); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// TestUnknownUsernameFailures: failures against a name that has no
// account store nothing and do not hold up a later signup of that name.
func TestUnknownUsernameFailures(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	cfg := testConfig(t, st, servertest.NewClock())
	svc := mustService(t, cfg)
	ctx := ctxT(t)
	for range 120 {
		if _, err := svc.Login(ctx, protocol.LoginRequest{Username: "ghost", Password: wrongPassword}); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("unknown user: %v", err)
		}
	}
	if all, err := st.ListAccounts(ctx); err != nil || len(all) != 0 {
		t.Fatalf("accounts after failures for an unknown name: %d, %v", len(all), err)
	}
	// Refusals tied to no account are aggregated: the first is a row at
	// once, the other 119 one row with their count when the interval
	// ends (here: when the service closes).
	ev := listEvents(t, st, store.AuthEventFilter{})
	if n := countEvents(ev, store.EventLoginFailed, store.ReasonUnknownUser); n != 1 {
		t.Fatalf("%d unknown_user rows before the interval ended, want 1", n)
	}
	svc.Close()
	ev = listEvents(t, st, store.AuthEventFilter{})
	var total int64
	for _, e := range ev {
		if e.Type == store.EventLoginFailed && e.Reason == store.ReasonUnknownUser {
			total += max(e.Count, 1)
		}
	}
	if rows := countEvents(ev, store.EventLoginFailed, store.ReasonUnknownUser); rows != 2 || total != 120 {
		t.Fatalf("%d unknown_user rows counting %d failures, want 2 rows counting 120", rows, total)
	}
	svc = mustService(t, cfg)
	for _, e := range ev {
		if e.AccountID != "" {
			t.Fatalf("event for an unknown user names an account: %+v", e)
		}
	}
	mustSignup(t, svc, "ghost")
	mustLogin(t, svc, "ghost")
}

// TestParallelGuesses: when an account's wait ends, a burst of parallel
// guesses gets one password check, not one each.
func TestParallelGuesses(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	clock := servertest.NewClock()
	svc := mustService(t, testConfig(t, st, clock))
	ctx := ctxT(t)
	id := mustSignup(t, svc, "alice")
	wrong := protocol.LoginRequest{Username: "alice", Password: wrongPassword}
	for range 5 {
		if _, err := svc.Login(ctx, wrong); !errors.Is(err, account.ErrInvalidCredentials) {
			t.Fatalf("wrong password: %v", err)
		}
	}
	clock.Advance(time.Second)
	const guesses = 10
	errs := make(chan error, guesses)
	// From as many client IPs: one IP's guesses would queue for the
	// hash gate behind each other, and the guard tested here is the
	// account's, across every source.
	for i := range guesses {
		gctx := account.WithClientIP(ctx, fmt.Sprintf("192.0.2.%d", 10+i))
		go func() { _, err := svc.Login(gctx, wrong); errs <- err }()
	}
	for range guesses {
		if err := <-errs; !isCode(err, protocol.CodeInvalidCredentials) {
			t.Fatalf("parallel guess: %v", err)
		}
	}
	ev := listEvents(t, st, store.AuthEventFilter{AccountID: id})
	checked, throttled := countEvents(ev, store.EventLoginFailed, store.ReasonWrongPassword), countEvents(ev, store.EventLoginFailed, store.ReasonThrottled)
	if checked != 6 || throttled != guesses-1 {
		t.Fatalf("%d parallel guesses: %d checked, %d throttled; want 1 checked, %d throttled", guesses, checked-5, throttled, guesses-1)
	}
	acct, err := st.GetAccount(ctx, id)
	if err != nil || acct.Failures.Count != 6 {
		t.Fatalf("failure count %d, %v; want 6", acct.Failures.Count, err)
	}
}
