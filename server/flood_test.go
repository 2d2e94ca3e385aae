package server_test

import (
	"bufio"
	"errors"
	"os"
	"runtime"
	"runtime/debug"
	"runtime/metrics"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/accountd/accountd/client"
	"github.com/accountd/accountd/server"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

const mib = 1 << 20

// procStatusKiB reads a "VmX:  N kB" line of /proc/self/status.
func procStatusKiB(tb testing.TB, field string) int64 {
	tb.Helper()
	f, err := os.Open("/proc/self/status")
	if err != nil {
		tb.Fatalf("read memory use: %v", err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), field+":"); ok {
			n, err := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")), 10, 64)
			if err != nil {
				tb.Fatalf("parse %s: %v", field, err)
			}
			return n
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// goHeapBytes is the Go heap in use: live objects and garbage not yet
// swept, i.e. what the Argon2 buffers occupy.
func goHeapBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

// TestArgon2FloodMemory floods a real server with logins at the production
// Argon2 cost (64 MiB a hash) and shows that the gate keeps the process's
// memory below N × 64 MiB plus a fixed margin, N being HashConcurrency,
// while requests that cannot get a slot in time are answered busy.
func TestArgon2FloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the flood runs 64 MiB Argon2 hashes for several seconds")
	}
	if raceEnabled {
		t.Skip("the race detector's shadow memory would be measured with the server's; run without -race")
	}
	const (
		slots   = 2
		clients = 16
		perConn = 2
		// margin covers what the flood adds besides the hashes:
		// connections, SQLite, the clients in this same process.
		margin = 64 * mib
	)
	st := sqltest.NewSQLite(t)
	ts := mustServe(t, st, func(c *server.Config) {
		c.Argon2 = server.DefaultArgon2
		c.HashConcurrency = slots
		c.HashWait = 2 * time.Second
	})
	setup := mustDial(t, ts)
	ctx := ctxT(t)
	if _, err := setup.Signup(ctx, "alice", goodPassword, ""); err != nil {
		t.Fatal(err)
	}
	conns := make([]*client.Conn, clients)
	for i := range conns {
		conns[i] = mustDial(t, ts)
	}

	runtime.GC()
	debug.FreeOSMemory()
	baseRSS := procStatusKiB(t, "VmRSS") * 1024
	// Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
	baseHeap := goHeapBytes()

	var peakHeap atomic.Int64
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(2 * time.Millisecond)
		defer tick.Stop()
		for {
			if h := goHeapBytes(); h > peakHeap.Load() {
				peakHeap.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	var ok, busy, other atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for _, c := range conns {
		wg.Go(func() {
			for range perConn {
				password := goodPassword
				if ok.Load()%2 == 1 {
					password = "a wrong password, surely"
				}
				_, err := c.Login(ctx, "alice", password)
				switch {
				case err == nil, errors.Is(err, client.ErrInvalidCredentials):
					ok.Add(1)
				case errors.Is(err, client.ErrBusy):
					busy.Add(1)
				default:
					other.Add(1)
					t.Errorf("login: %v", err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-sampled

	peakRSS := procStatusKiB(t, "VmHWM") * 1024
	bound := baseRSS + slots*64*mib + margin
	t.Logf("%d logins from %d connections at once, %d hash slots (64 MiB each) on %d CPUs: %d answered, %d busy in %v",
		clients*perConn, clients, slots, runtime.NumCPU(), ok.Load(), busy.Load(), elapsed.Round(time.Millisecond))
	t.Logf("RSS: %d MiB before, peak %d MiB (bound %d MiB = before + %d×64 MiB + %d MiB); Go heap peak +%d MiB; unbounded would need %d MiB",
		baseRSS/mib, peakRSS/mib, bound/mib, slots, margin/mib, (peakHeap.Load()-baseHeap)/mib, clients*64)
	if ok.Load() == 0 {
		t.Fatal("no login was answered")
	}
	if peakRSS > bound {
		t.Fatalf("peak RSS %d MiB over the bound %d MiB", peakRSS/mib, bound/mib)
	}
}
