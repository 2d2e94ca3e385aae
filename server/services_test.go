package server_test

import (
	"context"
	"errors"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/time/rate"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// mustServiceKey adds a service key on ts's rules and returns it.
func mustServiceKey(tb testing.TB, ts *testServer, name string, scopes ...string) string {
	tb.Helper()
	key, _, err := ts.Service().NewServiceKey(ctxT(tb), name, scopes)
	if err != nil {
		tb.Fatal(err)
	}
	return key
}

// mustBackend returns a Client that presents key on every connection.
func mustBackend(tb testing.TB, ts *testServer, key string, maxConns int) *client.Client {
	tb.Helper()
	_, ck := mustKeys(tb)
	c, err := client.NewClient(ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(tb.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
		ServiceKey:      key,
		MaxConns:        maxConns,
	})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	return c
}

// mustUser signs up and logs in username through the rules (no socket,
// no rate limit) and returns a token.
func mustUser(tb testing.TB, ts *testServer, username string) *protocol.TokenResult {
	tb.Helper()
	ctx := ctxT(tb)
	if _, err := ts.Service().Signup(ctx, protocol.SignupRequest{Username: username, Password: goodPassword}); err != nil {
		tb.Fatal(err)
	}
	tok, err := ts.Service().Login(ctx, protocol.LoginRequest{Username: username, Password: goodPassword})
	if err != nil {
		tb.Fatal(err)
	}
	return tok.TokenResult
}

// TestServiceKeyLimits: two backends with service keys each make 1,000
// authenticate calls at 1,000 a second from one IP, whose own limit is
// the default 10 a second, without a rate_limited; a connection without
// a key from the same IP is limited at once. A request naming an end
// user's IP counts against that IP and is audited under it.
func TestServiceKeyLimits(t *testing.T) {
	parallel(t)
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) {
		c.RateLimit, c.RateBurst = server.DefaultRateLimit, server.DefaultRateBurst
		c.Now = time.Now // the limits refill in real time
	})
	tok := mustUser(t, ts, "carol")
	backends := []*client.Client{
		mustBackend(t, ts, mustServiceKey(t, ts, "shop"), 4),
		mustBackend(t, ts, mustServiceKey(t, ts, "game"), 4),
	}
	const calls, perSecond = 1000, 1000
	type result struct {
		ok, limited, failed int64
		elapsed             time.Duration
		firstErr            atomic.Value
	}
	results := make([]*result, len(backends))
	var all sync.WaitGroup
	for i, b := range backends {
		r := &result{}
		results[i] = r
		all.Go(func() {
			// Far past the second the calls take at full speed: under the
			// race detector they take tens of seconds.
			ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
			defer cancel()
			if err := b.Connect(ctx); err != nil {
				r.firstErr.Store(err)
				return
			}
			pace := rate.NewLimiter(perSecond, 10)
			var n, ok, limited, failed atomic.Int64
			var wg sync.WaitGroup
			start := time.Now()
			for range 16 {
				wg.Go(func() {
					for n.Add(1) <= calls {
						if pace.Wait(ctx) != nil {
							return
						}
						_, err := b.Authenticate(ctx, tok.Token)
						switch {
						case err == nil:
							ok.Add(1)
						case errors.Is(err, client.ErrRateLimited):
							limited.Add(1)
						default:
							failed.Add(1)
							r.firstErr.CompareAndSwap(nil, err)
						}
					}
				})
			}
			wg.Wait()
			r.elapsed = time.Since(start)
			r.ok, r.limited, r.failed = ok.Load(), limited.Load(), failed.Load()
		})
	}
	all.Wait()
	for i, r := range results {
		if err := r.firstErr.Load(); err != nil {
			t.Fatalf("backend %d: %v", i, err)
		}
		t.Logf("backend %d: %d ok, %d rate_limited in %v (%.0f calls/s)", i, r.ok, r.limited, r.elapsed, float64(r.ok+r.limited)/r.elapsed.Seconds())
		if r.ok != calls || r.limited != 0 || r.failed != 0 {
			t.Errorf("backend %d: %d ok, %d rate_limited, %d failed of %d calls; want all %d ok", i, r.ok, r.limited, r.failed, calls, calls)
		}
	}

	// The same IP without a key has 20 at once, then 10 a second.
	plain := mustDial(t, ts)
	ctx := ctxT(t)
	var limited int
	for range 40 {
		if _, err := plain.Authenticate(ctx, tok.Token); errors.Is(err, client.ErrRateLimited) {
			limited++
		}
	}
	if limited == 0 {
		t.Errorf("a connection without a service key made 40 calls at once under a limit of %d/s burst %d: none rate_limited", server.DefaultRateLimit, server.DefaultRateBurst)
	}
	if _, err := plain.Authenticate(client.WithClientIP(ctx, "203.0.113.9"), tok.Token); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("client_ip without a service key: %v, want ErrForbidden", err)
	}

	// An end user's IP: its own bucket, and the audit log's address.
	const userIP = "203.0.113.7"
	uctx := client.WithClientIP(ctx, userIP)
	if _, err := backends[0].Login(uctx, "carol", "a wrong password"); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("a wrong password for end user %s: %v, want ErrInvalidCredentials", userIP, err)
	}
	// 80 calls from 8 goroutines: even under the race detector they
	// take well under the 6 s the bucket needs to refill 60 tokens.
	var userLimited atomic.Int64
	var calls8 sync.WaitGroup
	for range 8 {
		calls8.Go(func() {
			for range 10 {
				if _, err := backends[0].Authenticate(uctx, tok.Token); errors.Is(err, client.ErrRateLimited) {
					userLimited.Add(1)
				}
			}
		})
	}
	calls8.Wait()
	if userLimited.Load() == 0 {
		t.Errorf("80 calls at once for end user %s: none rate_limited (its limit is %d/s burst %d)", userIP, server.DefaultRateLimit, server.DefaultRateBurst)
	}
	if _, err := backends[1].Authenticate(client.WithClientIP(ctx, "not an address"), tok.Token); !errors.Is(err, client.ErrBadRequest) {
		t.Errorf("a malformed client_ip: %v, want ErrBadRequest", err)
	}
	events, err := ts.Config.Store.ListAuthEvents(ctx, store.AuthEventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	var failedLogins, limitedEvents int
	for _, e := range events {
		switch {
		case e.Type == store.EventLoginFailed && e.IP == userIP:
			failedLogins++
		case e.Type == store.EventRateLimited && e.IP == userIP:
			limitedEvents++
		}
	}
	if failedLogins == 0 || limitedEvents == 0 {
		t.Errorf("audit log: %d failed logins and %d rate_limited events from %s, want both", failedLogins, limitedEvents, userIP)
	}
}

// TestServiceKeyAdmin: an admin-scoped key disables a user over the
// protocol, audited with the service's name; a key without the scope,
// and a connection without a key, cannot; a revoked key loses the scope
// on a connection that presented it.
func TestServiceKeyAdmin(t *testing.T) {
	t.Parallel()
	for _, backend := range stores {
		t.Run(backend.name, func(t *testing.T) {
			parallel(t)
			ts := mustServe(t, backend.open(t), nil)
			testServiceKeyAdmin(t, ts)
		})
	}
}

func testServiceKeyAdmin(t *testing.T, ts *testServer) {
	ctx := ctxT(t)
	tok := mustUser(t, ts, "bob")
	mustUser(t, ts, "alice")
	ops := mustBackend(t, ts, mustServiceKey(t, ts, "ops", protocol.ScopeAdmin), 2)
	shop := mustBackend(t, ts, mustServiceKey(t, ts, "shop"), 2)
	plain := mustDial(t, ts)

	if _, err := shop.AdminDisableUser(ctx, "bob"); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("disable with a key without the admin scope: %v, want ErrForbidden", err)
	}
	if _, err := plain.AdminDisableUser(ctx, "bob"); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("disable without a service key: %v, want ErrForbidden", err)
	}
	if _, err := plain.AdminListUsers(ctx); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("list without a service key: %v, want ErrForbidden", err)
	}
	if a, err := ts.Service().FindAccount(ctx, "bob"); err != nil || a.Disabled {
		t.Fatalf("after the refused disables bob is %+v, %v; want enabled", a, err)
	}

	users, err := ops.AdminListUsers(ctx)
	if err != nil {
		t.Fatal(err)
	}
	if names := []string{users[0].Username, users[len(users)-1].Username}; len(users) != 2 || !slices.Equal(names, []string{"alice", "bob"}) {
		t.Errorf("list: %+v, want alice and bob", users)
	}
	ended, err := ops.AdminDisableUser(ctx, "BOB")
	if err != nil || ended != 1 {
		t.Fatalf("disable bob: %d sessions ended, %v; want 1", ended, err)
	}
	if _, err := shop.Authenticate(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Errorf("bob's token after the disable: %v, want ErrInvalidToken", err)
	}
	shown, err := ops.AdminShowUser(ctx, "bob")
	if err != nil || !shown.Disabled {
		t.Errorf("show bob: %+v, %v; want disabled", shown, err)
	}
	events, err := ts.Config.Store.ListAuthEvents(ctx, store.AuthEventFilter{AccountID: shown.ID})
	if err != nil {
		t.Fatal(err)
	}
	if i := slices.IndexFunc(events, func(e store.AuthEvent) bool { return e.Type == store.EventDisabled }); i < 0 || events[i].Reason != store.ReasonServicePrefix+"ops" {
		t.Errorf("audit of the disable: %+v, want an %s event with reason %q", events, store.EventDisabled, store.ReasonServicePrefix+"ops")
	}

	if u, err := ops.AdminEnableUser(ctx, "bob"); err != nil || u.Disabled {
		t.Errorf("enable bob: %+v, %v", u, err)
	}
	if _, err := ts.Service().Login(ctx, protocol.LoginRequest{Username: "bob", Password: "wrong password entirely"}); err == nil {
		t.Fatal("a wrong password logged in")
	}
	if n, err := ops.AdminUnlockUser(ctx, "bob"); err != nil || n != 1 {
		t.Errorf("unlock bob: %d failures cleared, %v; want 1", n, err)
	}
	mustLoginRule(t, ts, "bob")
	if n, err := ops.AdminEndSessions(ctx, "bob"); err != nil || n != 1 {
		t.Errorf("end bob's sessions: %d, %v; want 1", n, err)
	}
	if _, err := ops.AdminShowUser(ctx, "nobody"); !errors.Is(err, client.ErrNotFound) {
		t.Errorf("show an unknown user: %v, want ErrNotFound", err)
	}
	if _, err := ops.AdminDeleteUser(ctx, "alice"); err != nil {
		t.Errorf("delete alice: %v", err)
	}
	if _, err := ts.Service().FindAccount(ctx, "alice"); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("alice after the delete: %v, want not found", err)
	}

	if err := ts.Service().RevokeServiceKey(ctx, "ops"); err != nil {
		t.Fatal(err)
	}
	if _, err := ops.AdminShowUser(ctx, "bob"); !errors.Is(err, client.ErrForbidden) {
		t.Errorf("an admin call after the key was revoked: %v, want ErrForbidden", err)
	}
	ops.Close()
	if err := ops.Connect(ctx); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Errorf("a new connection with the revoked key: %v, want ErrInvalidCredentials", err)
	}

	// A key's id with another secret, and keys of the wrong shape.
	good := mustServiceKey(t, ts, "good")
	flipped := good[:len(good)-1] + map[bool]string{true: "1", false: "0"}[good[len(good)-1] == '0']
	for _, bad := range []string{flipped, good[:len(good)-2], "ask_" + strings.Repeat("g", 32) + "_" + strings.Repeat("0", 64), "nonsense"} {
		if err := mustBackend(t, ts, bad, 1).Connect(ctx); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("service key %.12s…: %v, want ErrInvalidCredentials", bad, err)
		}
	}
	if err := mustBackend(t, ts, good, 1).Connect(ctx); err != nil {
		t.Errorf("the good key: %v", err)
	}
}

func mustLoginRule(tb testing.TB, ts *testServer, username string) {
	tb.Helper()
	if _, err := ts.Service().Login(account.WithClientIP(context.Background(), "127.0.0.1"), protocol.LoginRequest{Username: username, Password: goodPassword}); err != nil {
		tb.Fatal(err)
	}
}
