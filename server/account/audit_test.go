package account_test

import (
	"context"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestAuditLog runs every operation and checks what auth_events holds:
// the decision, UTC time, the client IP the context carries, account and
// session, and never a password or a token.
func TestAuditLog(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	clock := servertest.NewClock()
	svc := mustService(t, testConfig(t, st, clock))
	const ip = "127.0.0.1"
	ctx := account.WithClientIP(ctxT(t), ip)
	before := clock.Now().UTC().Add(-time.Second)

	r, err := svc.Signup(ctx, protocol.SignupRequest{Username: "alice", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	id := r.Account.ID
	svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: wrongPassword})
	svc.Login(ctx, protocol.LoginRequest{Username: "nobody", Password: wrongPassword})
	tok, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	clock.Advance(time.Second)
	tok2, err := svc.Refresh(ctx, protocol.TokenRequest{Token: tok.Token})
	if err != nil {
		t.Fatal(err)
	}
	svc.Authenticate(ctx, protocol.TokenRequest{Token: "garbage.token.here"})
	if _, err := svc.Logout(ctx, protocol.TokenRequest{Token: tok2.Token}); err != nil {
		t.Fatal(err)
	}
	svc.Authenticate(ctx, protocol.TokenRequest{Token: tok.Token}) // revoked

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
	after := clock.Now().UTC().Add(time.Second)
	for _, e := range ev {
		got = append(got, row{e.Type, e.Reason, e.AccountID, e.SessionID})
		if e.IP != ip || e.At.Location() != time.UTC || e.At.Before(before) || e.At.After(after) {
			t.Errorf("event %+v: want IP %s and a UTC time in [%v, %v]", e, ip, before, after)
		}
		for _, secret := range []string{goodPassword, wrongPassword, tok.Token, tok2.Token, "garbage.token"} {
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

	// Retention: past it, PruneAuthEvents deletes the rows.
	clock.Advance(account.DefaultAuditRetention + time.Hour)
	n, err := svc.PruneAuthEvents(ctx)
	if err != nil || n != int64(len(want)) {
		t.Fatalf("PruneAuthEvents = %d, %v; want %d", n, err, len(want))
	}
}

// pruneWatch is a store that remembers the cutoff of each prune that has
// finished, so a test can wait for the pruner's next pass rather than
// for a duration.
type pruneWatch struct {
	store.Store
	mu      sync.Mutex
	cutoffs []time.Time
}

func (p *pruneWatch) PruneAuthEvents(ctx context.Context, before time.Time) (int64, error) {
	n, err := p.Store.PruneAuthEvents(ctx, before)
	if err == nil {
		p.mu.Lock()
		p.cutoffs = append(p.cutoffs, before)
		p.mu.Unlock()
	}
	return n, err
}

// prunedUpTo reports whether a prune with a cutoff at or after t has
// finished.
func (p *pruneWatch) prunedUpTo(t time.Time) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	return slices.ContainsFunc(p.cutoffs, func(c time.Time) bool { return !c.Before(t) })
}

// TestAuditPruner runs the background pruner with a one-hour retention
// and checks, after each of its passes that follows a move of the clock,
// which events it kept.
func TestAuditPruner(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	watch := &pruneWatch{Store: st}
	clock := servertest.NewClock()
	cfg := testConfig(t, watch, clock)
	cfg.AuditRetention = time.Hour
	cfg.AuditPruneInterval = 10 * time.Millisecond
	svc := mustService(t, cfg)
	ctx := ctxT(t)
	mustSignup(t, svc, "alice")
	clock.Advance(30 * time.Minute)
	mustLogin(t, svc, "alice")

	pctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() { svc.RunAuditPruner(pctx); close(done) }()
	defer func() { cancel(); <-done }()
	passAt := func() {
		t.Helper()
		cutoff := clock.Now().Add(-time.Hour)
		waitFor(t, "a pruner pass after the clock moved", func() bool { return watch.prunedUpTo(cutoff) })
	}

	// 31 min after the signup, 1 min after the login: nothing is old.
	clock.Advance(time.Minute)
	passAt()
	if ev := listEvents(t, st, store.AuthEventFilter{}); len(ev) != 2 {
		t.Fatalf("%d events before the retention age, want 2: %+v", len(ev), ev)
	}
	// 61 min after the signup: only the login is left.
	clock.Advance(30 * time.Minute)
	passAt()
	if ev := listEvents(t, st, store.AuthEventFilter{}); len(ev) != 1 || ev[0].Type != store.EventLogin {
		t.Fatalf("pruner left %d events, want the login only: %+v", len(ev), ev)
	}
}

// TestRateLimitedAudit: a run of refusals over the request rate is one
// audit event at once, its first, and the rest are aggregated (the op
// name a client sends must not make rows of its own), so that a flood
// cannot fill the table; every refusal is counted. The event names the
// refused request, cut to 32 bytes and made valid UTF-8, since a client
// may make any op name up.
func TestRateLimitedAudit(t *testing.T) {
	t.Parallel()
	st := sqltest.NewSQLite(t)
	cfg := testConfig(t, st, servertest.NewClock())
	reg := prometheus.NewRegistry()
	cfg.Metrics = reg
	svc := mustService(t, cfg)
	ctx := ctxT(t)
	const ip = "198.51.100.7"
	svc.RateLimited(ctx, ip, "bad\xffop"+strings.Repeat("x", 40))
	for range 50 {
		svc.RateLimited(ctx, ip, protocol.OpAuthenticate)
	}
	svc.RateLimited(ctx, ip, "another made-up op")

	want := []string{"bad?op" + strings.Repeat("x", 26) + "..."}
	var got []string
	for _, e := range listEvents(t, st, store.AuthEventFilter{}) {
		if e.Type != store.EventRateLimited || e.IP != ip || e.AccountID != "" {
			t.Errorf("event %+v, want rate_limited from %s (the refused client, not the context's)", e, ip)
		}
		got = append(got, e.Reason)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("rate_limited events name %q, want %q", got, want)
	}
	if n := counterValue(t, reg, "accountd_rate_limited_total", "scope="+account.ScopeIP); n != 52 {
		t.Fatalf("accountd_rate_limited_total{scope=ip} = %v after 52 refusals", n)
	}
}
