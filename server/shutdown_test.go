package server_test

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestShutdownUnderLoad shuts the server down while clients sign up as
// fast as they can: every signup the server committed was answered (none
// cut mid-way), every answered signup is in the database (none lost), and
// every client is told the server is going away (close 1001).
func TestShutdownUnderLoad(t *testing.T) {
	parallel(t)
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, func(c *server.Config) {
		// Hashes that take a while, two at a time, so that at the
		// shutdown requests are running and waiting for the gate.
		c.Argon2 = account.Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
		c.HashConcurrency = 2
	})
	const clients = 8
	conns := make([]*client.Conn, clients)
	for i := range conns {
		conns[i] = mustDial(t, ts)
	}

	var (
		mu       sync.Mutex
		acked    []string
		finalErr = make([]error, clients)
		wg       sync.WaitGroup
		started  = make(chan struct{}, clients*4)
	)
	for i, c := range conns {
		wg.Add(1)
		go func() {
			defer wg.Done()
			ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
			defer cancel()
			for n := 0; ; n++ {
				name := fmt.Sprintf("user%d-%d", i, n)
				_, err := c.Signup(ctx, name, goodPassword, "")
				if err != nil {
					finalErr[i] = err
					return
				}
				mu.Lock()
				acked = append(acked, name)
				mu.Unlock()
				select {
				case started <- struct{}{}:
				default:
				}
			}
		}()
	}
	// Let a good number of signups through first.
	for range clients * 2 {
		<-started
	}
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	begin := time.Now()
	if err := ts.HTTP().Shutdown(ctx); err != nil {
		t.Fatalf("http shutdown: %v", err)
	}
	if err := ts.Server().Shutdown(ctx); err != nil {
		t.Fatalf("server shutdown: %v", err)
	}
	t.Logf("shutdown took %v with %d signups answered", time.Since(begin), len(acked))
	wg.Wait()

	// No new connection is accepted.
	_, ck := mustKeys(t)
	dctx, dcancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer dcancel()
	if c, err := client.Dial(dctx, ts.Addr, client.Options{ClientKey: ck, TrustOnFirstUse: true,
		Trust: client.NewKnownServers(filepath.Join(t.TempDir(), "known_servers"))}); err == nil {
		c.Close()
		t.Errorf("a new connection was accepted after the shutdown")
	}

	for i, err := range finalErr {
		if !errors.Is(err, client.ErrServerShuttingDown) {
			t.Errorf("client %d ended with %v, want the server going away (1001)", i, err)
		}
	}
	accounts, err := st.ListAccounts(ctxT(t))
	if err != nil {
		t.Fatal(err)
	}
	var stored []string
	for _, a := range accounts {
		stored = append(stored, a.Username)
	}
	sort.Strings(stored)
	sort.Strings(acked)
	if diff := cmp.Diff(acked, stored); diff != "" {
		t.Fatalf("answered signups (-) differ from stored accounts (+):\n%s", diff)
	}
}

// TestShutdownBounded: a connection whose request cannot finish is cut at
// the shutdown deadline, and Shutdown returns then.
func TestShutdownBounded(t *testing.T) {
	parallel(t)
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, func(c *server.Config) {
		c.Argon2 = account.Argon2Params{Time: 4, MemoryKiB: 64 * 1024, Threads: 1}
		c.HashConcurrency = 1
		c.HashWait = time.Minute
	})
	const clients = 4
	var wg sync.WaitGroup
	for range clients {
		c := mustDial(t, ts)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for n := 0; ; n++ {
				ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
				_, err := c.Signup(ctx, fmt.Sprintf("slow%p-%d", c, n), goodPassword, "")
				cancel()
				if err != nil {
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	begin := time.Now()
	ts.HTTP().Shutdown(ctx)
	err := ts.Server().Shutdown(ctx)
	took := time.Since(begin)
	wg.Wait()
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("Shutdown with requests queued behind slow hashes = %v, want the deadline", err)
	}
	if took > 5*time.Second {
		t.Fatalf("Shutdown took %v past a 50ms deadline", took)
	}
}

// TestShutdownDuringRefusalPause: a connection whose next request is not
// read yet, after a rate_limited answer, is told the server is going away
// (close 1001) like any idle one, not cut.
func TestShutdownDuringRefusalPause(t *testing.T) {
	// Mostly waiting for the close handshake, which the idle client
	// answers only when it next reads.
	t.Parallel()
	// One request a second: a refusal pauses its connection a second.
	ts := mustServe(t, sqltest.NewSQLite(t), func(c *server.Config) { c.RateLimit, c.RateBurst = 1, 5 })
	ctx := ctxT(t)
	c := mustDial(t, ts)
	for i := 0; ; i++ {
		_, err := c.Authenticate(ctx, "not.a.token")
		var se *client.ServerError
		if errors.As(err, &se) && se.Code == protocol.CodeRateLimited {
			break
		}
		if i == 20 {
			t.Fatalf("no refusal after %d requests: %v", i+1, err)
		}
	}
	sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
	defer cancel()
	if err := ts.HTTP().Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if err := ts.Server().Shutdown(sctx); err != nil {
		t.Fatal(err)
	}
	if _, err := c.Authenticate(ctx, "not.a.token"); !errors.Is(err, client.ErrServerShuttingDown) {
		t.Fatalf("a paused connection at shutdown: %v, want the server going away (1001)", err)
	}
}
