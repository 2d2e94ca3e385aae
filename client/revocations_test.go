package client_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestVerifierRevocationFeed: a Verifier fed from instance B refuses a
// token logged out at instance A; its feed watches again from its
// position after B restarts, so a logout made while B was down is
// refused too; while the feed is lost the Verifier fails closed (or
// open, when told). On SQLite and MariaDB.
func TestVerifierRevocationFeed(t *testing.T) {
	t.Parallel()
	for _, b := range []struct {
		name string
		open func(testing.TB) store.Store
	}{
		{"sqlite", func(tb testing.TB) store.Store { return sqltest.NewSQLite(tb) }},
		{"mysql", func(tb testing.TB) store.Store { return sqltest.NewMySQL(tb) }},
	} {
		t.Run(b.name, func(t *testing.T) {
			t.Parallel()
			testVerifierRevocationFeed(t, b.open(t))
		})
	}
}

func testVerifierRevocationFeed(t *testing.T, st store.Store) {
	ctx := ctxT(t)
	clock, master := servertest.NewClock(), servertest.MasterKey(t)
	shared := func(c *server.Config) { c.Store, c.Now, c.MasterKey = st, clock.Now, master }
	instA, instB := servertest.MustStart(t, shared), servertest.MustStart(t, shared)
	key, _, err := instA.Service().NewServiceKey(ctx, "backend", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ck := servertest.Keys(t)
	opts := client.Options{
		Trust:           client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers")),
		TrustOnFirstUse: true,
		ClientKey:       ck,
		ServiceKey:      key,
	}
	feed, err := client.NewRevocationFeed(instB.Addr, opts, client.RevocationFeedOptions{
		LostAfter: 2 * time.Second, RetryMin: 20 * time.Millisecond, RetryMax: 200 * time.Millisecond,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	closed := mustVerifier(t, client.VerifierOptions{JWKSURL: jwksURL(t, instA), Revocations: feed, Now: clock.Now})
	open := mustVerifier(t, client.VerifierOptions{JWKSURL: jwksURL(t, instA), Revocations: feed, FailOpen: true, Now: clock.Now})
	if err := feed.Synced(ctx); err != nil {
		t.Fatal(err)
	}

	users := mustClient(t, instA.Addr)
	tok := mustToken(t, users, "alice")
	if _, err := closed.Verify(ctx, tok.Token); err != nil {
		t.Fatalf("a live token: %v", err)
	}
	if err := users.Logout(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	start := time.Now()
	waitRevoked(t, feed, tok.SessionID)
	t.Logf("logout at A reached the feed from B after %v", time.Since(start))
	if _, err := closed.Verify(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("a logged-out token: %v, want ErrInvalidToken", err)
	}

	// B goes down; a logout at A meanwhile; the feed is lost, then
	// resumes from its position once B is back.
	tok2, err := users.Login(ctx, "alice", password)
	if err != nil {
		t.Fatal(err)
	}
	instB.Stop()
	if err := users.Logout(ctx, tok2.Token); err != nil {
		t.Fatal(err)
	}
	waitUntil(t, "the feed is lost", func() bool { return !feed.Current() })
	if _, err := closed.Verify(ctx, tok2.Token); !errors.Is(err, client.ErrVerifierUnavailable) {
		t.Fatalf("with the feed lost: %v, want ErrVerifierUnavailable (fail closed)", err)
	}
	if _, err := open.Verify(ctx, tok2.Token); err != nil {
		t.Fatalf("with the feed lost and FailOpen: %v, want accepted", err)
	}
	instB.MustRestart()
	waitRevoked(t, feed, tok2.SessionID)
	if _, err := closed.Verify(ctx, tok2.Token); !errors.Is(err, client.ErrInvalidToken) {
		t.Fatalf("a token logged out while the feed was lost: %v, want ErrInvalidToken", err)
	}
	if feed.Position() == 0 {
		t.Error("the feed's position did not move")
	}
}

// TestWatchRevocationsNeedsServiceKey: a connection without a service
// key may not watch.
func TestWatchRevocationsNeedsServiceKey(t *testing.T) {
	t.Parallel()
	ts := servertest.MustStart(t, nil)
	_, ck := servertest.Keys(t)
	conn, err := client.Dial(ctxT(t), ts.Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers")),
		TrustOnFirstUse: true, ClientKey: ck,
	})
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.WatchRevocations(ctxT(t), 0); !errors.Is(err, client.ErrForbidden) {
		t.Fatalf("watch without a service key: %v, want ErrForbidden", err)
	}
}

func waitRevoked(t *testing.T, feed *client.RevocationFeed, sessionID string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := feed.WaitFor(ctx, func() bool { return feed.Revoked(sessionID) }); err != nil {
		t.Fatalf("waiting for the feed to name session %s: %v", sessionID, err)
	}
}

// waitUntil checks cond every 10 ms for at most 30 s: it waits for the
// feed's own clock to pass its bound, not for a guessed duration.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	for deadline := time.Now().Add(30 * time.Second); !cond(); time.Sleep(10 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatalf("timed out after 30s waiting until %s", what)
		}
	}
}
