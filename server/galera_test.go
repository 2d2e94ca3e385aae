package server_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestGaleraInstances runs three accountd instances multi-master on a
// three-node Galera cluster, each on its own node: what one instance
// decided holds at the others at once (sessions, logouts, the failed-login
// throttle), concurrent wrong logins on one account are all answered and
// recorded, and with a node killed under load and restarted no answer is
// anything but ok, unavailable or outcome_unknown, and every acknowledged
// signup is on every node with its audit row.
func TestGaleraInstances(t *testing.T) {
	t.Parallel()
	g := sqltest.StartGaleraCluster(t, 3)
	dsns := g.CreateDatabase(t)
	stores := make([]*sqlstore.DB, len(dsns))
	for i, dsn := range dsns {
		db, err := sqlstore.Open(ctxT(t), sqlstore.MySQL, dsn)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { db.Close() })
		stores[i] = db
	}
	if err := stores[0].Migrate(ctxT(t)); err != nil {
		t.Fatal(err)
	}
	clock, master := servertest.NewClock(), servertest.MasterKey(t)
	var inst []*testServer
	var conns []*client.Conn
	for i := range stores {
		ts := servertest.MustStart(t, func(c *server.Config) {
			c.Store, c.Now, c.MasterKey = stores[i], clock.Now, master
			// A Galera view change stalls commits for about 6 s: the
			// database timeout must outlast it (README, Several instances).
			c.StoreTimeout = 15 * time.Second
			c.RequestTimeout = 30 * time.Second
		})
		inst = append(inst, ts)
		conns = append(conns, mustDial(t, ts))
	}
	t.Run("AcrossInstances", func(t *testing.T) { testGaleraAcrossInstances(t, conns, clock) })
	t.Run("ConcurrentWrongLogins", func(t *testing.T) { testGaleraWrongLogins(t, inst, stores) })
	t.Run("RevocationFeed", func(t *testing.T) { testGaleraRevocationFeed(t, inst, conns) })
	t.Run("NodeKilledUnderLoad", func(t *testing.T) { testGaleraNodeKilled(t, g, inst, stores) })
}

func testGaleraAcrossInstances(t *testing.T, c []*client.Conn, clock *servertest.Clock) {
	ctx := ctxT(t)
	if _, err := c[0].Signup(ctx, "gina", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	// A login right after the signup, at another instance.
	tok, err := c[1].Login(ctx, "gina", goodPassword)
	if err != nil {
		t.Fatalf("login at instance 2 right after signup at 1: %v", err)
	}
	if _, err := c[2].Authenticate(ctx, tok.Token); err != nil {
		t.Fatalf("authenticate at 3: %v", err)
	}
	// A logout at one instance is refused at another at once.
	if err := c[2].Logout(ctx, tok.Token); err != nil {
		t.Fatal(err)
	}
	for i := range c {
		if _, err := c[i].Authenticate(ctx, tok.Token); !errors.Is(err, client.ErrInvalidToken) {
			t.Fatalf("authenticate at instance %d right after logout at 3: %v", i+1, err)
		}
	}
	// Five failures spread over two instances throttle the third: the
	// right password is refused there at once.
	for i := range 5 {
		if _, err := c[i%2].Login(ctx, "gina", "a wrong password, surely"); !errors.Is(err, client.ErrInvalidCredentials) {
			t.Fatalf("wrong password %d: %v", i+1, err)
		}
	}
	if _, err := c[2].Login(ctx, "gina", goodPassword); !errors.Is(err, client.ErrInvalidCredentials) {
		t.Fatalf("right password at instance 3 after 5 failures at 1 and 2: %v, want refused", err)
	}
	clock.Advance(time.Second)
	if _, err := c[2].Login(ctx, "gina", goodPassword); err != nil {
		t.Fatalf("after the wait: %v", err)
	}
}

// testGaleraWrongLogins sends 30 wrong logins for one account at once,
// ten at each instance: every one is answered invalid_credentials (a
// conflict between nodes is retried, never internal), and every one is in
// the audit log: a checked password counted in the account's failures, or
// a concurrent attempt refused as throttled.
func testGaleraWrongLogins(t *testing.T, inst []*testServer, stores []*sqlstore.DB) {
	ctx := ctxT(t)
	// One connection per attempt: a connection answers in order.
	var conns []*client.Conn
	for i := range 30 {
		conns = append(conns, mustDial(t, inst[i%3]))
	}
	r, err := conns[0].Signup(ctx, "walt", goodPassword, "")
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, len(conns))
	var start sync.WaitGroup
	start.Add(1)
	for _, cc := range conns {
		go func() {
			start.Wait()
			_, err := cc.Login(ctx, "walt", "a wrong password, surely")
			errs <- err
		}()
	}
	start.Done()
	for range conns {
		if err := <-errs; !errors.Is(err, client.ErrInvalidCredentials) {
			t.Errorf("concurrent wrong login: %v, want invalid_credentials", err)
		}
	}
	for i, st := range stores {
		a, err := st.GetAccount(ctx, r.Account.ID)
		if err != nil {
			t.Fatal(err)
		}
		ev, err := st.ListAuthEvents(ctx, store.AuthEventFilter{AccountID: r.Account.ID})
		if err != nil {
			t.Fatal(err)
		}
		checked, refused := countEvents(ev, store.EventLoginFailed, store.ReasonWrongPassword), countEvents(ev, store.EventLoginFailed, store.ReasonThrottled)
		if checked+refused != 30 || a.Failures.Count != checked {
			t.Fatalf("node %d: %d checked and %d refused as throttled, failure count %d; want 30 recorded, the count equal to the checked ones",
				i+1, checked, refused, a.Failures.Count)
		}
		if i == 0 {
			t.Logf("30 concurrent wrong logins over 3 instances: %d passwords checked and counted, %d refused as throttled", checked, refused)
		}
	}
}

// signupPause is how long each of testGaleraNodeKilled's workers waits
// after an acknowledged signup. What is tested is the stall, not the
// rate: the six workers still have signups in flight at all three nodes
// most of the time, and every one of them blocks through the stall,
// without spending the cores on replicating as many as they can.
const signupPause = 50 * time.Millisecond

// testGaleraNodeKilled signs up accounts at the three instances while node
// 2 is killed and restarted. During the stall an answer may be unavailable
// or outcome_unknown, nothing else; afterwards every acknowledged signup
// is on every node, with its signup event.
func testGaleraNodeKilled(t *testing.T, g *sqltest.Galera, inst []*testServer, stores []*sqlstore.DB) {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	var (
		mu       sync.Mutex
		acked    []string // account ids
		outcomes = map[string]int{}
		// failed are the usernames of signups answered with an error, by
		// the error's code.
		failed = map[string][]string{}
		stop   atomic.Bool
		wg     sync.WaitGroup
	)
	for w := range 6 {
		c := mustDial(t, inst[w%3])
		wg.Go(func() {
			for n := 0; !stop.Load() && ctx.Err() == nil; n++ {
				name := fmt.Sprintf("load%d-%d", w, n)
				r, err := c.Signup(ctx, name, goodPassword, "")
				code := "ok"
				var se *client.ServerError
				switch {
				case err == nil:
				case errors.As(err, &se):
					code = se.Code
				default:
					code = "transport: " + err.Error()
				}
				mu.Lock()
				outcomes[code]++
				if err == nil {
					acked = append(acked, r.Account.ID)
				} else {
					failed[code] = append(failed[code], name)
				}
				mu.Unlock()
				if code != "ok" {
					time.Sleep(200 * time.Millisecond)
				} else {
					time.Sleep(signupPause)
				}
			}
		})
	}
	// A second of load before the kill and after the rejoin; the node
	// stays away past the 5 s in which the others declare it gone.
	time.Sleep(time.Second)
	killed := time.Now()
	g.Kill(1)
	time.Sleep(6 * time.Second)
	g.Restart(1)
	rejoined := time.Since(killed)
	time.Sleep(time.Second)
	stop.Store(true)
	wg.Wait()
	t.Logf("signups at 3 instances, node 2 killed and rejoined after %v: %d acknowledged; answers %v",
		rejoined.Round(time.Millisecond), len(acked), outcomes)
	for code := range outcomes {
		if !slices.Contains([]string{"ok", protocol.CodeUnavailable, protocol.CodeOutcomeUnknown}, code) {
			t.Errorf("answer %q during the stall; want only ok, unavailable or outcome_unknown", code)
		}
	}
	if len(acked) == 0 {
		t.Fatal("no signup was acknowledged")
	}
	// An outcome_unknown signup may have committed; an unavailable one
	// must not have: the server reads back a write whose commit it could
	// not confirm, and answers unavailable only for one it knows failed.
	accounts := func(i int) []store.Account {
		a, err := stores[i].ListAccounts(ctx)
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		return a
	}
	usernames := map[string]bool{}
	for _, a := range accounts(0) {
		usernames[a.Username] = true
	}
	committed := func(names []string) (n int) {
		for _, name := range names {
			if usernames[name] {
				n++
			}
		}
		return n
	}
	t.Logf("of the signups answered outcome_unknown, %d of %d had committed",
		committed(failed[protocol.CodeOutcomeUnknown]), len(failed[protocol.CodeOutcomeUnknown]))
	if n := committed(failed[protocol.CodeUnavailable]); n > 0 {
		t.Errorf("%d of %d signups answered unavailable had committed", n, len(failed[protocol.CodeUnavailable]))
	}
	for i, st := range stores {
		ev, err := st.ListAuthEvents(ctx, store.AuthEventFilter{Limit: 1 << 20})
		if err != nil {
			t.Fatalf("node %d: %v", i+1, err)
		}
		audited := map[string]bool{}
		for _, e := range ev {
			if e.Type == store.EventSignup {
				audited[e.AccountID] = true
			}
		}
		present := map[string]bool{}
		for _, a := range accounts(i) {
			present[a.ID] = true
		}
		missing, unaudited := 0, 0
		for _, id := range acked {
			if !present[id] {
				missing++
			}
			if !audited[id] {
				unaudited++
			}
		}
		if missing > 0 || unaudited > 0 {
			t.Errorf("node %d: %d of %d acknowledged signups missing, %d without their signup event", i+1, missing, len(acked), unaudited)
		}
	}
}

// testGaleraRevocationFeed: logouts made at the same time at all three
// instances (so on three nodes, each handing out its own revocation ids,
// committed in no particular id order) all reach instance 2's session
// view and a revocation feed that follows instance 3.
func testGaleraRevocationFeed(t *testing.T, inst []*testServer, c []*client.Conn) {
	ctx := ctxT(t)
	key, _, err := inst[0].Service().NewServiceKey(ctx, "galera-feed", nil)
	if err != nil {
		t.Fatal(err)
	}
	_, ck := mustKeys(t)
	feed, err := client.NewRevocationFeed(inst[2].Addr, client.Options{
		Trust:           client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers")),
		TrustOnFirstUse: true, ClientKey: ck, ServiceKey: key,
	}, client.RevocationFeedOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer feed.Close()
	if err := feed.Synced(ctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c[0].Signup(ctx, "rita", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	const perInstance = 10
	tokens := make([][]*client.Token, len(c))
	for i := range c {
		for range perInstance {
			tok, err := c[i].Login(ctx, "rita", goodPassword)
			if err != nil {
				t.Fatal(err)
			}
			// Into instance 2's session view.
			if _, err := c[1].Authenticate(ctx, tok.Token); err != nil {
				t.Fatal(err)
			}
			tokens[i] = append(tokens[i], tok)
		}
	}
	var wg sync.WaitGroup
	errs := make(chan error, len(c)*perInstance)
	for i := range c {
		wg.Go(func() {
			for _, tok := range tokens[i] {
				errs <- c[i].Logout(ctx, tok.Token)
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("logout: %v", err)
		}
	}
	wctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	for i := range c {
		for _, tok := range tokens[i] {
			if err := feed.WaitFor(wctx, func() bool { return feed.Revoked(tok.SessionID) }); err != nil {
				t.Fatalf("the feed from instance 3 never named a session logged out at instance %d: %v", i+1, err)
			}
			for deadline := time.Now().Add(30 * time.Second); ; time.Sleep(5 * time.Millisecond) {
				_, err := c[1].Authenticate(ctx, tok.Token)
				if errors.Is(err, client.ErrInvalidToken) {
					break
				}
				if err != nil || time.Now().After(deadline) {
					t.Fatalf("instance 2 still accepts a token logged out at instance %d (%v)", i+1, err)
				}
			}
		}
	}
}
