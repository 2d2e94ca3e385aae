package server_test

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// outcome is one operation a load worker ran.
type outcome struct {
	phase string
	op    string
	err   error
	took  time.Duration
}

// loadGen runs signup, login and authenticate in a loop on several
// connections and records every outcome with the phase it started in.
type loadGen struct {
	phase atomic.Value // string
	stop  atomic.Bool
	wg    sync.WaitGroup

	mu       sync.Mutex
	outcomes []outcome
	acked    []string // usernames whose signup was answered ok
}

func (l *loadGen) setPhase(p string) { l.phase.Store(p) }

func (l *loadGen) record(op string, start time.Time, phase string, err error) {
	l.mu.Lock()
	l.outcomes = append(l.outcomes, outcome{phase: phase, op: op, err: err, took: time.Since(start)})
	l.mu.Unlock()
}

// run drives each connection with its own account (usernames[i]): an
// instance checks one password per account at a time.
func (l *loadGen) run(conns []*client.Conn, usernames []string) {
	for i, c := range conns {
		username := usernames[i]
		l.wg.Add(1)
		go func() {
			defer l.wg.Done()
			var token string
			for n := 0; !l.stop.Load(); n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				phase, start := l.phase.Load().(string), time.Now()
				name := fmt.Sprintf("load%d-%d", i, n)
				_, err := c.Signup(ctx, name, goodPassword, "")
				l.record("signup", start, phase, err)
				if err == nil {
					l.mu.Lock()
					l.acked = append(l.acked, name)
					l.mu.Unlock()
				}
				phase, start = l.phase.Load().(string), time.Now()
				tok, err := c.Login(ctx, username, goodPassword)
				l.record("login", start, phase, err)
				if err == nil {
					token = tok.Token
				}
				if token != "" {
					phase, start = l.phase.Load().(string), time.Now()
					_, err = c.Authenticate(ctx, token)
					l.record("authenticate", start, phase, err)
				}
				cancel()
				if errors.Is(err, client.ErrConnection) || errors.Is(err, client.ErrServerShuttingDown) {
					return
				}
				time.Sleep(50 * time.Millisecond)
			}
		}()
	}
}

func (l *loadGen) outcomesIn(phase string) []outcome {
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []outcome
	for _, o := range l.outcomes {
		if o.phase == phase {
			out = append(out, o)
		}
	}
	return out
}

func readyz(tb testing.TB, addr string) int {
	tb.Helper()
	code, _ := httpGet(tb, "http://"+addr+"/readyz")
	return code
}

// TestDatabaseOutage stops a private MariaDB under load, then starts it
// again, then freezes it and lets it go: while it is away every operation
// answers unavailable within the store timeout, /readyz says 503, the
// server stays up; when it is back everything works again without a
// restart, and no answered signup is lost.
func TestDatabaseOutage(t *testing.T) {
	t.Parallel()
	m := sqltest.StartMariaDB(t)
	dsn := m.CreateDatabase(t)
	ctx := ctxT(t) // for the setup; the load has contexts of its own
	db, err := sqlstore.Open(ctx, sqlstore.MySQL, dsn)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	const storeTimeout = time.Second
	// The bound on any answer while the database is away: the store
	// timeout and the time to hash and send.
	const answerBound = storeTimeout + 2*time.Second
	ts := mustServe(t, db, func(c *server.Config) {
		c.StoreTimeout = storeTimeout
		c.RequestTimeout = 10 * time.Second
	})
	setupConn := mustDial(t, ts)
	var conns []*client.Conn
	var usernames []string
	for i := range 4 {
		name := fmt.Sprintf("steady%d", i)
		if _, err := setupConn.Signup(ctx, name, goodPassword, ""); err != nil {
			t.Fatal(err)
		}
		usernames = append(usernames, name)
		conns = append(conns, mustDial(t, ts))
	}
	load := &loadGen{}
	load.setPhase("up")
	load.run(conns, usernames)
	t.Cleanup(func() { load.stop.Store(true); load.wg.Wait() })

	// expectUp waits until operations succeed again, then requires a clean
	// second of load.
	expectUp := func(phase string) {
		t.Helper()
		waitFor(t, "/readyz 200", func() bool { return readyz(t, ts.Addr) == http.StatusOK })
		load.setPhase(phase)
		time.Sleep(time.Second)
		got := load.outcomesIn(phase)
		if len(got) == 0 {
			t.Fatalf("%s: no operation ran", phase)
		}
		for _, o := range got {
			if o.err != nil {
				t.Errorf("%s: %s failed: %v", phase, o.op, o.err)
			}
		}
		t.Logf("%s: %d operations, all ok", phase, len(got))
	}
	// expectDown waits until /readyz says 503, then requires every
	// operation to answer unavailable within the bound, /readyz to stay
	// 503 and /healthz 200. Until the server has noticed, a session it
	// read within the revocation feed's last poll may still be answered
	// from memory (the feed is current for two polls after its last
	// good read), and rightly so.
	expectDown := func(phase string) {
		t.Helper()
		waitFor(t, "/readyz 503", func() bool { return readyz(t, ts.Addr) == http.StatusServiceUnavailable })
		load.setPhase(phase)
		time.Sleep(2 * answerBound)
		if code := readyz(t, ts.Addr); code != http.StatusServiceUnavailable {
			t.Errorf("%s: /readyz = %d, want 503", phase, code)
		}
		if code, _ := httpGet(t, "http://"+ts.Addr+"/healthz"); code != http.StatusOK {
			t.Errorf("%s: /healthz = %d, want 200 (the server stays up)", phase, code)
		}
		got := load.outcomesIn(phase)
		if len(got) == 0 {
			t.Fatalf("%s: no operation answered", phase)
		}
		var slowest time.Duration
		for _, o := range got {
			slowest = max(slowest, o.took)
			if !errors.Is(o.err, client.ErrUnavailable) {
				t.Errorf("%s: %s = %v, want unavailable", phase, o.op, o.err)
			}
			if o.took > answerBound {
				t.Errorf("%s: %s took %v, want at most %v", phase, o.op, o.took, answerBound)
			}
		}
		t.Logf("%s: %d operations answered unavailable, slowest %v", phase, len(got), slowest)
	}

	expectUp("up")

	load.setPhase("stopping")
	m.Stop()
	expectDown("stopped")

	load.setPhase("starting")
	m.Start()
	expectUp("restarted")

	load.setPhase("pausing")
	m.Pause()
	expectDown("paused")

	load.setPhase("resuming")
	m.Resume()
	expectUp("resumed")

	load.stop.Store(true)
	load.wg.Wait()

	// Every answered signup is in the database.
	load.mu.Lock()
	acked := load.acked
	load.mu.Unlock()
	ctx = ctxT(t)
	for _, name := range acked {
		if _, err := db.GetAccountByUsername(ctx, name); err != nil {
			if errors.Is(err, store.ErrNotFound) {
				t.Errorf("answered signup %s is lost", name)
			} else {
				t.Fatal(err)
			}
		}
	}
	t.Logf("%d answered signups, all stored", len(acked))
}
