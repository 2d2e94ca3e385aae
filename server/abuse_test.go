package server_test

import (
	"context"
	"errors"
	"io"
	"math"
	"net/http"
	"slices"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// defaultLimits undoes mustServe's raised rate limit.
func defaultLimits(c *server.Config) { c.Limits = server.Limits{} }

// listEvents returns the audit log, oldest first.
func listEvents(tb testing.TB, st store.Store, f store.AuthEventFilter) []store.AuthEvent {
	tb.Helper()
	ev, err := st.ListAuthEvents(ctxT(tb), f)
	if err != nil {
		tb.Fatal(err)
	}
	slices.Reverse(ev)
	return ev
}

func countEvents(ev []store.AuthEvent, typ, reason string) int {
	n := 0
	for _, e := range ev {
		if e.Type == typ && (reason == "" || e.Reason == reason) {
			n++
		}
	}
	return n
}

// TestRateLimitDefault shows the default per-IP limit (burst 20, then
// 10/s) on a real server: operations get rate_limited with retry_after_ms,
// one audit event marks the run, and the wait it names is enough.
func TestRateLimitDefault(t *testing.T) {
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, defaultLimits)
	ctx := ctxT(t)
	start := time.Now()
	c := mustDial(t, ts) // the upgrade is one request
	allowed, limited := 1, 0
	var refusal *client.ServerError
	// Until the first refusal: a later one could come after a token
	// refilled and start a second run of refusals (a second event).
	for i := 0; i < 500 && limited == 0; i++ {
		_, err := c.Authenticate(ctx, "not.a.token")
		var se *client.ServerError
		switch {
		case errors.Is(err, client.ErrInvalidToken):
			allowed++
		case errors.As(err, &se) && se.Code == protocol.CodeRateLimited:
			limited++
			refusal = se
		default:
			t.Fatalf("request %d: %v", i, err)
		}
	}
	elapsed := time.Since(start)
	// A bucket of 20 plus 10 a second for the time the loop took.
	most := 20 + int(math.Ceil(10*elapsed.Seconds()))
	t.Logf("default limit: %d requests allowed in %v (bound %d), then rate_limited with retry_after %v",
		allowed, elapsed.Round(time.Millisecond), most, refusal.RetryAfter)
	if limited == 0 || allowed < 20 || allowed > most {
		t.Fatalf("%d allowed and %d limited in %v; want 20 to %d allowed, then limited", allowed, limited, elapsed, most)
	}
	if refusal.RetryAfter <= 0 || refusal.RetryAfter > 100*time.Millisecond {
		t.Fatalf("retry after %v, want (0, 100ms] at 10/s", refusal.RetryAfter)
	}
	ev := listEvents(t, st, store.AuthEventFilter{})
	if n := countEvents(ev, store.EventRateLimited, ""); n != 1 {
		t.Fatalf("%d rate_limited events for one run of refusals, want 1", n)
	}
	if e := ev[len(ev)-1]; e.Type != store.EventRateLimited || e.IP != "127.0.0.1" || e.Reason != "authenticate" {
		t.Fatalf("last event %+v, want rate_limited authenticate from 127.0.0.1", e)
	}
	time.Sleep(refusal.RetryAfter)
	if _, err := c.Authenticate(ctx, "not.a.token"); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("after waiting retry_after: %v", err)
	}
}

// TestRateLimitHTTP: the HTTP endpoints answer 429 with Retry-After.
func TestRateLimitHTTP(t *testing.T) {
	ts := mustServe(t, sqltest.NewSQLite(t), defaultLimits)
	start := time.Now()
	ok, limited, retryAfter := 0, 0, ""
	for range 60 {
		resp, err := http.Get("http://" + ts.addr + "/healthz")
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		switch resp.StatusCode {
		case http.StatusOK:
			ok++
		case http.StatusTooManyRequests:
			limited++
			retryAfter = resp.Header.Get("Retry-After")
		default:
			t.Fatalf("status %d", resp.StatusCode)
		}
	}
	elapsed := time.Since(start)
	most := 20 + int(math.Ceil(10*elapsed.Seconds()))
	t.Logf("HTTP: %d of 60 allowed in %v (bound %d), %d answered 429, Retry-After: %s", ok, elapsed.Round(time.Millisecond), most, limited, retryAfter)
	if ok < 20 || ok > most || limited == 0 || retryAfter != "1" {
		t.Fatalf("%d ok, %d limited (Retry-After %q) in %v; want 20 to %d ok, then 429 with Retry-After: 1", ok, limited, retryAfter, elapsed, most)
	}
}

// stepClock is a clock that moves only when told: a test about waits
// must not depend on how fast a loaded machine runs it.
type stepClock struct{ ns atomic.Int64 }

func newStepClock() *stepClock {
	c := &stepClock{}
	c.ns.Store(time.Now().UnixNano())
	return c
}
func (c *stepClock) Now() time.Time          { return time.Unix(0, c.ns.Load()) }
func (c *stepClock) Advance(d time.Duration) { c.ns.Add(int64(d)) }

// sharedInstance makes several servers instances of one deployment: one
// clock and one master key over one store.
func sharedInstance(clock *stepClock, masterKey []byte) func(*server.Config) {
	return func(c *server.Config) { c.Now = clock.Now; c.MasterKey = masterKey }
}

// TestLoginThrottling shows the per-account limits, kept in the database
// so that they hold across two server instances: five free failures, then
// a growing wait (during which even the right password is refused with the
// same error), and a lock after 100 consecutive failures that only an
// unlock clears.
func TestLoginThrottling(t *testing.T) {
	for _, backend := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
		{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
	} {
		t.Run(backend.name, func(t *testing.T) {
			t.Parallel()
			testLoginThrottling(t, backend.open(t))
		})
	}
}

func testLoginThrottling(t *testing.T, st store.Store) {
	clock, mk := newStepClock(), newMasterKey(t)
	a, b := mustServe(t, st, sharedInstance(clock, mk)), mustServe(t, st, sharedInstance(clock, mk))
	ca, cb := mustDial(t, a), mustDial(t, b)
	ctx := ctxT(t)
	r, err := ca.Signup(ctx, "alice", goodPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	id := r.Account.ID
	failures := func() store.LoginFailures {
		acct, err := st.GetAccount(ctx, id)
		if err != nil {
			t.Fatal(err)
		}
		return acct.Failures
	}
	_, wrongErr := ca.Login(ctx, "alice", "a wrong password, surely")
	var want *client.ServerError
	if !errors.As(wrongErr, &want) || want.Code != protocol.CodeInvalidCredentials {
		t.Fatalf("wrong password: %v", wrongErr)
	}
	sameAsWrong := func(err error, what string) {
		t.Helper()
		var got *client.ServerError
		if !errors.As(err, &got) || *got != *want {
			t.Fatalf("%s: got %v, want exactly the wrong-password reply %+v", what, err, want)
		}
	}

	// Failures 2 to 5, alternating instances, without waiting.
	for i := 2; i <= 5; i++ {
		c := []*client.Conn{ca, cb}[i%2]
		_, err := c.Login(ctx, "alice", "a wrong password, surely")
		sameAsWrong(err, "wrong password")
	}
	if f := failures(); f.Count != 5 {
		t.Fatalf("after 5 failures the count is %d", f.Count)
	}
	// Now a 1 s wait, on the other instance too: the right password is
	// refused, with the same reply, and the refusal does not count.
	_, err = cb.Login(ctx, "alice", goodPassword)
	sameAsWrong(err, "right password while throttled")
	if f := failures(); f.Count != 5 {
		t.Fatalf("a throttled attempt counted: %d", f.Count)
	}
	clock.Advance(time.Second)
	if _, err := cb.Login(ctx, "alice", goodPassword); err != nil {
		t.Fatalf("right password after the 1 s wait: %v", err)
	}
	if f := failures(); f != (store.LoginFailures{}) {
		t.Fatalf("success did not reset the count: %+v", f)
	}

	// Lock: 100 consecutive failures, each after the wait it needs.
	guesses := 0
	for range 150 {
		clock.Advance(15*time.Minute + time.Second)
		c := []*client.Conn{ca, cb}[guesses%2]
		_, err := c.Login(ctx, "alice", "a wrong password, surely")
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
	_, err = ca.Login(ctx, "alice", goodPassword)
	sameAsWrong(err, "right password on a locked account")
	_, err = cb.Login(ctx, "alice", goodPassword)
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

	// What an administrator's unlock does.
	if err := server.UnlockAccount(ctx, st, id, clock.Now()); err != nil {
		t.Fatal(err)
	}
	if err := server.UnlockAccount(ctx, st, "0123456789abcdef0123456789abcdef", clock.Now()); !errors.Is(err, store.ErrNotFound) {
		t.Fatalf("unlocking no account: %v", err)
	}
	if ev := listEvents(t, st, store.AuthEventFilter{AccountID: id}); ev[len(ev)-1].Type != store.EventUnlocked {
		t.Fatalf("last event %+v, want unlocked", ev[len(ev)-1])
	}
	if _, err := ca.Login(ctx, "alice", goodPassword); err != nil {
		t.Fatalf("after unlock: %v", err)
	}
}

// TestUnknownUsernameFailures: failures against a name that has no
// account store nothing and do not hold up a later signup of that name.
func TestUnknownUsernameFailures(t *testing.T) {
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, nil)
	c := mustDial(t, ts)
	ctx := ctxT(t)
	for range 120 {
		if _, err := c.Login(ctx, "ghost", "a wrong password, surely"); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("unknown user: %v", err)
		}
	}
	if all, err := st.ListAccounts(ctx); err != nil || len(all) != 0 {
		t.Fatalf("accounts after failures for an unknown name: %d, %v", len(all), err)
	}
	ev := listEvents(t, st, store.AuthEventFilter{})
	if n := countEvents(ev, store.EventLoginFailed, store.ReasonUnknownUser); n != 120 {
		t.Fatalf("%d unknown_user events, want 120", n)
	}
	for _, e := range ev {
		if e.AccountID != "" {
			t.Fatalf("event for an unknown user names an account: %+v", e)
		}
	}
	if _, err := c.Signup(ctx, "ghost", goodPassword, ""); err != nil {
		t.Fatalf("signup after failures: %v", err)
	}
	if _, err := c.Login(ctx, "ghost", goodPassword); err != nil {
		t.Fatalf("first login of the new account: %v", err)
	}
}

// TestAuditLog runs every operation and checks what auth_events holds:
// the decision, UTC time, client IP, account and session, and never a
// password or a token.
func TestAuditLog(t *testing.T) {
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, nil)
	c := mustDial(t, ts)
	ctx := ctxT(t)
	before := ts.clock.Now().UTC().Add(-time.Second)

	r, err := c.Signup(ctx, "alice", goodPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	id := r.Account.ID
	c.Login(ctx, "alice", "a wrong password, surely")
	c.Login(ctx, "nobody", "a wrong password, surely")
	tok, err := c.Login(ctx, "alice", goodPassword)
	if err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(time.Second)
	tok2, err := c.Refresh(ctx, tok.Token)
	if err != nil {
		t.Fatal(err)
	}
	c.Authenticate(ctx, "garbage.token.here")
	if err := c.Logout(ctx, tok2.Token); err != nil {
		t.Fatal(err)
	}
	c.Authenticate(ctx, tok.Token) // revoked

	type row struct{ Type, Reason, Account, Session string }
	want := []row{
		{store.EventSignup, "", id, ""},
		{store.EventLoginFailed, store.ReasonWrongPassword, id, ""},
		{store.EventLoginFailed, store.ReasonUnknownUser, "", ""},
		{store.EventLogin, "", id, tok.SessionID},
		{store.EventRefresh, "", id, tok.SessionID},
		{store.EventTokenRejected, protocol.OpAuthenticate, "", ""},
		{store.EventLogout, "", id, tok.SessionID},
		{store.EventTokenRejected, protocol.OpAuthenticate, id, tok.SessionID},
	}
	ev := listEvents(t, st, store.AuthEventFilter{})
	var got []row
	after := ts.clock.Now().UTC().Add(time.Second)
	for _, e := range ev {
		got = append(got, row{e.Type, e.Reason, e.AccountID, e.SessionID})
		if e.IP != "127.0.0.1" || e.At.Location() != time.UTC || e.At.Before(before) || e.At.After(after) {
			t.Errorf("event %+v: want IP 127.0.0.1 and a UTC time in [%v, %v]", e, before, after)
		}
		for _, secret := range []string{goodPassword, "a wrong password", tok.Token, tok2.Token, "garbage.token"} {
			for _, field := range []string{e.Type, e.Reason, e.IP, e.AccountID, e.SessionID} {
				if strings.Contains(field, secret) || (len(field) > 20 && strings.Contains(secret, field) && field != e.SessionID && field != e.AccountID) {
					t.Errorf("event %+v holds a secret", e)
				}
			}
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events:\n got %+v\nwant %+v", got, want)
	}

	// Retention: past it, the pruner deletes the rows.
	ts.clock.Advance(server.DefaultAuditRetention + time.Hour)
	n, err := ts.srv.Service().PruneAuthEvents(ctx)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("PruneAuthEvents = %d, %v; want %d", n, err, len(want))
	}
}

// TestAuditPruner runs the background pruner with a short retention.
func TestAuditPruner(t *testing.T) {
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, func(c *server.Config) {
		c.AuditRetention = time.Hour
		c.AuditPruneInterval = 10 * time.Millisecond
	})
	c := mustDial(t, ts)
	ctx := ctxT(t)
	if _, err := c.Signup(ctx, "alice", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	ts.clock.Advance(30 * time.Minute)
	if _, err := c.Login(ctx, "alice", goodPassword); err != nil {
		t.Fatal(err)
	}
	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { ts.srv.Service().RunAuditPruner(pctx); close(done) }()
	defer func() { cancel(); <-done }()
	// 31 min after the signup, 1 min after the login: nothing is old.
	ts.clock.Advance(time.Minute)
	time.Sleep(50 * time.Millisecond)
	if ev := listEvents(t, st, store.AuthEventFilter{}); len(ev) != 2 {
		t.Fatalf("%d events before the retention age, want 2", len(ev))
	}
	// 61 min after the signup: only the login is left.
	ts.clock.Advance(30 * time.Minute)
	deadline := time.Now().Add(30 * time.Second)
	for {
		ev := listEvents(t, st, store.AuthEventFilter{})
		if len(ev) == 1 && ev[0].Type == store.EventLogin {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("pruner left %d events: %+v", len(ev), ev)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestParallelGuesses: when an account's wait ends, a burst of parallel
// guesses gets one password check, not one each.
func TestParallelGuesses(t *testing.T) {
	st := sqltest.NewSQLite(t)
	clock := newStepClock()
	ts := mustServe(t, st, func(c *server.Config) { c.Now = clock.Now })
	svc := ts.srv.Service()
	ctx := server.WithClientIP(ctxT(t), "192.0.2.1")
	r, err := svc.Signup(ctx, protocol.SignupRequest{Username: "alice", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	wrong := protocol.LoginRequest{Username: "alice", Password: "a wrong password, surely"}
	for range 5 {
		svc.Login(ctx, wrong)
	}
	clock.Advance(time.Second)
	const guesses = 10
	errs := make(chan error, guesses)
	for range guesses {
		go func() { _, err := svc.Login(ctx, wrong); errs <- err }()
	}
	for range guesses {
		var se *server.Error
		if err := <-errs; !errors.As(err, &se) || se.Code != protocol.CodeInvalidCredentials {
			t.Fatalf("parallel guess: %v", err)
		}
	}
	ev := listEvents(t, st, store.AuthEventFilter{AccountID: r.Account.ID})
	checked, throttled := countEvents(ev, store.EventLoginFailed, store.ReasonWrongPassword), countEvents(ev, store.EventLoginFailed, store.ReasonThrottled)
	if checked != 6 || throttled != guesses-1 {
		t.Fatalf("%d parallel guesses: %d checked, %d throttled; want 1 checked, %d throttled", guesses, checked-5, throttled, guesses-1)
	}
	acct, _ := st.GetAccount(ctx, r.Account.ID)
	if acct.Failures.Count != 6 {
		t.Fatalf("failure count %d, want 6", acct.Failures.Count)
	}
}
