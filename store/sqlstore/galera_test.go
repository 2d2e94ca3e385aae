package sqlstore_test

import (
	"context"
	"crypto/rand"
	"database/sql"
	"encoding/hex"
	"errors"
	"fmt"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/go-sql-driver/mysql"

	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestGalera runs sqlstore multi-master on a three-node Galera cluster:
// one store per node on the same database, as accountd instances spread
// over the nodes would.
func TestGalera(t *testing.T) {
	t.Parallel()
	g := sqltest.StartGaleraCluster(t, 3)
	dsns := g.CreateDatabase(t)
	dbs := make([]*sqlstore.DB, len(dsns))
	for i, dsn := range dsns {
		dbs[i] = mustOpen(t, sqlstore.MySQL, dsn)
		if v, err := sqlstore.SessionSyncWait(ctxFor(t), dbs[i]); err != nil || v != "3" {
			t.Fatalf("node %d: wsrep_sync_wait = %q, %v; want 3", i, v, err)
		}
	}
	if err := dbs[0].Migrate(ctxFor(t)); err != nil {
		t.Fatal(err)
	}
	// Subtests in turn: they share the cluster, and the last one kills a
	// node.
	t.Run("ReadYourWrites", func(t *testing.T) { testGaleraReadYourWrites(t, g, dsns, dbs) })
	t.Run("ConcurrentFailures", func(t *testing.T) { testGaleraConcurrentFailures(t, dbs) })
	t.Run("NodeKilledUnderLoad", func(t *testing.T) { testGaleraNodeKilled(t, g, dsns, dbs) })
}

// testGaleraReadYourWrites holds back the applying of replicated writes on
// the node that reads (FLUSH TABLES WITH READ LOCK pauses it), writes
// through the others, and releases it while the read waits: the read must
// return the write, not what the node had before.
func testGaleraReadYourWrites(t *testing.T, g *sqltest.Galera, dsns []string, dbs []*sqlstore.DB) {
	now := time.Now()
	a := galeraAccount(t, now)
	check := func(what string, node int, write func() error, read func() error) {
		t.Helper()
		admin := rawDB(t, dsns[node])
		conn, err := admin.Conn(ctxFor(t))
		if err != nil {
			t.Fatal(err)
		}
		defer conn.Close()
		if _, err := conn.ExecContext(ctxFor(t), "FLUSH TABLES WITH READ LOCK"); err != nil {
			t.Fatalf("%s: pause node %d: %v", what, node, err)
		}
		unlocked := false
		unlock := func() {
			if !unlocked {
				unlocked = true
				if _, err := conn.ExecContext(ctxFor(t), "UNLOCK TABLES"); err != nil {
					t.Fatalf("%s: resume node %d: %v", what, node, err)
				}
			}
		}
		defer unlock()
		if err := write(); err != nil {
			t.Fatalf("%s: write: %v", what, err)
		}
		done := make(chan error, 1)
		go func() { done <- read() }()
		// A read that does not wait answers from the paused node now.
		select {
		case err := <-done:
			unlock()
			t.Fatalf("%s: node %d answered before applying the write: %v", what, node, err)
		case <-time.After(300 * time.Millisecond):
		}
		unlock()
		if err := <-done; err != nil {
			t.Errorf("%s: read at node %d: %v", what, node, err)
		}
	}

	check("account created at node 0", 1,
		func() error { return dbs[0].CreateAccount(ctxFor(t), a, store.AuthEvent{}) },
		func() error {
			got, err := dbs[1].GetAccountByUsername(ctxFor(t), a.Username)
			if err == nil && got.ID != a.ID {
				err = fmt.Errorf("got account %s, want %s", got.ID, a.ID)
			}
			return err
		})

	s := store.Session{ID: randomID(t), AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	if err := dbs[0].CreateSession(ctxFor(t), s, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	check("session revoked at node 1", 2,
		func() error { return dbs[1].RevokeSession(ctxFor(t), a.ID, s.ID, store.AuthEvent{At: time.Now()}) },
		func() error {
			got, _, err := dbs[2].GetSessionAccount(ctxFor(t), s.ID)
			if err == nil && !got.Revoked() {
				err = errors.New("the session is not revoked")
			}
			return err
		})

	check("5 failures at nodes 0 and 1", 2,
		func() error {
			for i := range 5 {
				e := store.AuthEvent{At: time.Now(), Type: store.EventLoginFailed, AccountID: a.ID}
				if _, err := dbs[i%2].RecordLoginFailure(ctxFor(t), e); err != nil {
					return err
				}
			}
			return nil
		},
		func() error {
			got, err := dbs[2].GetAccount(ctxFor(t), a.ID)
			if err == nil && got.Failures.Count != 5 {
				err = fmt.Errorf("failed-login count %d, want 5", got.Failures.Count)
			}
			return err
		})

	// An UPDATE by id waits too: a session created at node 0 and revoked
	// at once at node 2, before node 2 applied it, is revoked.
	s2 := store.Session{ID: randomID(t), AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
	check("session created at node 0, revoked at node 2", 2,
		func() error { return dbs[0].CreateSession(ctxFor(t), s2, store.AuthEvent{}) },
		func() error { return dbs[2].RevokeSession(ctxFor(t), a.ID, s2.ID, store.AuthEvent{At: time.Now()}) })
	if got, err := dbs[0].GetSession(ctxFor(t), s2.ID); err != nil || !got.Revoked() {
		t.Errorf("session revoked at node 2, read at node 0: revoked %v, %v; want revoked", got.Revoked(), err)
	}
}

// testGaleraConcurrentFailures records 30 failed logins of one account at
// once, spread over the nodes: the row conflicts across nodes, and every
// call must still succeed and count.
func testGaleraConcurrentFailures(t *testing.T, dbs []*sqlstore.DB) {
	const n = 30
	a := galeraAccount(t, time.Now())
	if err := dbs[0].CreateAccount(ctxFor(t), a, store.AuthEvent{}); err != nil {
		t.Fatal(err)
	}
	before := totalRetries(dbs)
	start := make(chan struct{})
	errs := make(chan error, n)
	var wg sync.WaitGroup
	for i := range n {
		wg.Go(func() {
			<-start
			e := store.AuthEvent{At: time.Now(), Type: store.EventLoginFailed, AccountID: a.ID, IP: "192.0.2.1"}
			_, err := dbs[i%len(dbs)].RecordLoginFailure(ctxFor(t), e)
			errs <- err
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	failed := 0
	for err := range errs {
		if err != nil {
			failed++
			t.Errorf("RecordLoginFailure: %v", err)
		}
	}
	after := totalRetries(dbs)
	t.Logf("%d concurrent failures over %d nodes: %d failed, %d retries, %d gave up",
		n, len(dbs), failed, after.Retries-before.Retries, after.GaveUp-before.GaveUp)
	for i, db := range dbs {
		got, err := db.GetAccount(ctxFor(t), a.ID)
		if err != nil || got.Failures.Count != n {
			t.Errorf("node %d: failed-login count %d, %v; want %d", i, got.Failures.Count, err, n)
		}
		events, err := db.ListAuthEvents(ctxFor(t), store.AuthEventFilter{AccountID: a.ID, Limit: 2 * n})
		if err != nil || len(events) != n {
			t.Errorf("node %d: %d audit rows, %v; want %d", i, len(events), err, n)
		}
	}
}

// Load for testGaleraNodeKilled.
const (
	galeraWriters   = 8
	galeraOpTimeout = 5 * time.Second // accountd's default --db-timeout
	// galeraWriteEvery paces each writer (an account and its session),
	// about 160 writes/s in all: a restarted node on a loaded two-core
	// machine must be able to catch up with the cluster while it runs.
	galeraWriteEvery = 100 * time.Millisecond
	galeraKillAfter  = 4 * time.Second
	// galeraDownFor is longer than Galera's suspect timeout (5 s), so the
	// others evict the node before it comes back.
	galeraDownFor = 8 * time.Second
	// galeraLoadAfterRestart keeps the load on after the node rejoined.
	galeraLoadAfterRestart = 3 * time.Second
)

// testGaleraNodeKilled runs writers at every node, SIGKILLs one node,
// restarts it, and checks that every acknowledged write is on every node
// and that every error was an honest one.
func testGaleraNodeKilled(t *testing.T, g *sqltest.Galera, dsns []string, dbs []*sqlstore.DB) {
	const victim = 1
	var (
		mu       sync.Mutex
		acked    = map[string]bool{} // account and session ids
		unacked  = map[string]bool{} // ids whose write returned an error
		errKinds = map[string]int{}
		ackTimes []time.Time // acknowledgements by writers at other nodes
	)
	record := func(node int, id string, err error) bool {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil:
			acked[id] = true
			if node != victim {
				ackTimes = append(ackTimes, time.Now())
			}
			return true
		case errors.Is(err, store.ErrOutcomeUnknown):
			errKinds["outcome unknown"]++
		case errors.Is(err, store.ErrUnavailable):
			errKinds["unavailable"]++
		case errors.Is(err, context.DeadlineExceeded):
			errKinds["deadline"]++
		default:
			errKinds["other"]++
			if errKinds["other"] <= 5 {
				t.Errorf("node %d: write error that is neither unavailable, outcome unknown nor the deadline: %v", node, err)
			}
		}
		unacked[id] = true
		return false
	}

	stop := make(chan struct{})
	var wg sync.WaitGroup
	for w := range galeraWriters {
		node := w % len(dbs)
		db := dbs[node]
		wg.Go(func() {
			tick := time.NewTicker(galeraWriteEvery)
			defer tick.Stop()
			for {
				select {
				case <-stop:
					return
				case <-tick.C:
				}
				now := time.Now()
				a := galeraAccount(t, now)
				ctx, cancel := context.WithTimeout(t.Context(), galeraOpTimeout)
				if record(node, a.ID, db.CreateAccount(ctx, a, store.AuthEvent{})) {
					s := store.Session{ID: randomID(t), AccountID: a.ID, CreatedAt: now, ExpiresAt: now.Add(time.Hour)}
					record(node, s.ID, db.CreateSession(ctx, s, store.AuthEvent{}))
				}
				cancel()
			}
		})
	}

	retriesBefore := totalRetries(dbs)
	start := time.Now()
	time.Sleep(galeraKillAfter)
	g.Kill(victim)
	killedAt := time.Now()
	time.Sleep(galeraDownFor)
	g.Restart(victim)
	rejoined := time.Since(killedAt)
	time.Sleep(galeraLoadAfterRestart)
	close(stop)
	wg.Wait()
	elapsed := time.Since(start)
	retries := totalRetries(dbs)

	// Every acknowledged write on every node, read directly.
	for i, dsn := range dsns {
		present := presentIDs(t, dsn)
		missing := 0
		for id := range acked {
			if !present[id] {
				missing++
			}
		}
		if missing > 0 {
			t.Errorf("node %d: %d of %d acknowledged writes missing", i, missing, len(acked))
		}
	}
	present := presentIDs(t, dsns[0])
	committedAnyway := 0
	for id := range unacked {
		if present[id] {
			committedAnyway++
		}
	}
	stall := longestGap(ackTimes, killedAt, killedAt.Add(galeraDownFor))
	t.Logf("load %v, %d writers over %d nodes, node %d SIGKILLed at %v and Synced again %v later",
		elapsed.Round(time.Millisecond), galeraWriters, len(dbs), victim,
		killedAt.Sub(start).Round(time.Millisecond), rejoined.Round(time.Millisecond))
	t.Logf("acknowledged writes %d (accounts and sessions), lost 0 of them unless reported above", len(acked))
	t.Logf("errors by kind: %s; of the %d failed writes %d were committed all the same",
		formatKinds(errKinds), len(unacked), committedAnyway)
	t.Logf("longest pause in acknowledgements at the surviving nodes after the kill: %v", stall.Round(time.Millisecond))
	t.Logf("write retries %d, gave up %d", retries.Retries-retriesBefore.Retries, retries.GaveUp-retriesBefore.GaveUp)
	if len(acked) == 0 {
		t.Error("no write was acknowledged")
	}
}

func galeraAccount(t *testing.T, now time.Time) store.Account {
	id := randomID(t)
	return store.Account{ID: id, Username: "u" + id[:16], PasswordHash: "h", CreatedAt: now, UpdatedAt: now}
}

func randomID(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

func totalRetries(dbs []*sqlstore.DB) sqlstore.RetryStats {
	var sum sqlstore.RetryStats
	for _, db := range dbs {
		s := db.RetryStats()
		sum.Retries += s.Retries
		sum.GaveUp += s.GaveUp
	}
	return sum
}

// rawDB opens a plain connection pool on dsn, outside sqlstore.
func rawDB(t *testing.T, dsn string) *sql.DB {
	t.Helper()
	cfg, err := mysql.ParseDSN(dsn)
	if err != nil {
		t.Fatal(err)
	}
	connector, err := mysql.NewConnector(cfg)
	if err != nil {
		t.Fatal(err)
	}
	db := sql.OpenDB(connector)
	t.Cleanup(func() { db.Close() })
	return db
}

// presentIDs returns the ids of every account and session on the node
// dsn names, read without sqlstore.
func presentIDs(t *testing.T, dsn string) map[string]bool {
	t.Helper()
	conn, err := rawDB(t, dsn).Conn(ctxFor(t))
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	// A node applies the others' commits after they are certified, a
	// little later under load: wait for it, as the store's reads do.
	if _, err := conn.ExecContext(ctxFor(t), "SET SESSION wsrep_sync_wait = 1"); err != nil {
		t.Fatal(err)
	}
	ids := map[string]bool{}
	for _, q := range []string{"SELECT id FROM accounts", "SELECT id FROM sessions"} {
		rows, err := conn.QueryContext(ctxFor(t), q)
		if err != nil {
			t.Fatal(err)
		}
		for rows.Next() {
			var id string
			if err := rows.Scan(&id); err != nil {
				t.Fatal(err)
			}
			ids[id] = true
		}
		if err := rows.Err(); err != nil {
			t.Fatal(err)
		}
		rows.Close()
	}
	return ids
}

// longestGap returns the longest interval without a time in times that
// starts within [from, to].
func longestGap(times []time.Time, from, to time.Time) time.Duration {
	sorted := append([]time.Time(nil), times...)
	sort.Slice(sorted, func(i, j int) bool { return sorted[i].Before(sorted[j]) })
	prev := from
	var longest time.Duration
	for _, at := range sorted {
		if at.Before(from) {
			continue
		}
		if gap := at.Sub(prev); gap > longest {
			longest = gap
		}
		prev = at
		if at.After(to) {
			break
		}
	}
	return longest
}

func formatKinds(kinds map[string]int) string {
	if len(kinds) == 0 {
		return "none"
	}
	names := make([]string, 0, len(kinds))
	for k := range kinds {
		names = append(names, k)
	}
	sort.Strings(names)
	s := ""
	for i, k := range names {
		if i > 0 {
			s += ", "
		}
		s += fmt.Sprintf("%s %d", k, kinds[k])
	}
	return s
}
