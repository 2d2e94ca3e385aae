package account_test

import (
	"bufio"
	"context"
	"errors"
	"fmt"
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

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

const mib = 1 << 20

// procStatusBytes reads a "VmX:  N kB" line of /proc/self/status.
func procStatusBytes(tb testing.TB, field string) int64 {
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
			return n * 1024
		}
	}
	tb.Fatalf("no %s in /proc/self/status", field)
	return 0
}

// heapObjectsBytes is the Go heap's objects: live ones and garbage not yet
// swept, which is where the Argon2 buffers are.
func heapObjectsBytes() int64 {
	s := []metrics.Sample{{Name: "/memory/classes/heap/objects:bytes"}}
	metrics.Read(s)
	return int64(s[0].Value.Uint64())
}

func mibs(b int64) string { return fmt.Sprintf("%.1f MiB (%d bytes)", float64(b)/mib, b) }

// TestArgon2FloodMemory floods Service.Login from many goroutines at the
// production Argon2 cost (64 MiB a hash) and shows that the gate keeps the
// memory the hashes hold below HashConcurrency × 64 MiB plus a stated
// margin, however many logins arrive at once.
//
// What is asserted is what the gate controls: the peak of the Go heap's
// objects over the baseline, sampled every millisecond. The process's RSS
// is logged beside it but not asserted: it also holds what the runtime
// keeps mapped after a collection and the SQLite driver's memory, which
// the gate does not control and a loaded machine moves by tens of MiB.
//
// It measures the whole process's heap, so it does not run in parallel
// with the package's other tests.
func TestArgon2FloodMemory(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: the flood runs 64 MiB Argon2 hashes for several seconds")
	}
	if raceEnabled {
		t.Skip("-race: the race detector's allocations would be measured with the hashes; run without -race")
	}
	const (
		slots      = 2
		goroutines = 16
		perG       = 2
		// margin covers what a login holds on the heap besides its
		// hash (the request, SQL rows, the token it signs, the audit
		// event): about 100 KiB, so 32 logins at once hold about 3 MiB,
		// and their garbage does not pile up since the gate collects
		// after every hash. The rest is room for a collection that
		// ends late on a loaded machine. A gate that let a third hash
		// run, or stopped collecting, goes over by 48 MiB or more.
		margin = 16 * mib
		bound  = slots*64*mib + margin
	)
	st := sqltest.NewSQLite(t)
	cfg := testConfig(t, st, servertest.NewClock())
	cfg.Argon2 = account.DefaultArgon2
	cfg.HashConcurrency = slots
	cfg.HashWait = 2 * time.Second
	svc := mustService(t, cfg)
	ctx, cancel := context.WithTimeout(account.WithClientIP(context.Background(), testIP), 5*time.Minute)
	defer cancel()
	mustSignup(t, svc, "alice")

	runtime.GC()
	debug.FreeOSMemory()
	baseRSS := procStatusBytes(t, "VmRSS")
	// Writing 5 to clear_refs resets the peak (VmHWM) to the current RSS.
	if err := os.WriteFile("/proc/self/clear_refs", []byte("5"), 0); err != nil {
		t.Fatalf("reset peak RSS: %v", err)
	}
	baseHeap := heapObjectsBytes()

	var peakHeap atomic.Int64
	peakHeap.Store(baseHeap)
	stop := make(chan struct{})
	sampled := make(chan struct{})
	go func() {
		defer close(sampled)
		tick := time.NewTicker(time.Millisecond)
		defer tick.Stop()
		for {
			if h := heapObjectsBytes(); h > peakHeap.Load() {
				peakHeap.Store(h)
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()

	var answered, busy atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for g := range goroutines {
		wg.Go(func() {
			for i := range perG {
				password := goodPassword
				if (g+i)%2 == 1 {
					password = wrongPassword
				}
				_, err := svc.Login(ctx, protocol.LoginRequest{Username: "alice", Password: password})
				switch {
				case err == nil, errors.Is(err, account.ErrInvalidCredentials):
					answered.Add(1)
				case errors.Is(err, account.ErrBusy):
					busy.Add(1)
				default:
					t.Errorf("login: %v", err)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	close(stop)
	<-sampled

	peakRSS := procStatusBytes(t, "VmHWM")
	heapRise := peakHeap.Load() - baseHeap
	t.Logf("%d logins from %d goroutines at once, %d hash slots (64 MiB each) on %d CPUs: %d answered, %d busy in %v",
		goroutines*perG, goroutines, slots, runtime.NumCPU(), answered.Load(), busy.Load(), elapsed.Round(time.Millisecond))
	t.Logf("RSS: %s before, peak %s (+%s)", mibs(baseRSS), mibs(peakRSS), mibs(peakRSS-baseRSS))
	t.Logf("Go heap objects: %s before, peak %s: +%s, bound %s = %d×64 MiB + %s margin; unbounded would need %d MiB",
		mibs(baseHeap), mibs(peakHeap.Load()), mibs(heapRise), mibs(bound), slots, mibs(margin), goroutines*perG*64)
	if answered.Load() == 0 {
		t.Fatal("no login was answered")
	}
	if heapRise > bound {
		t.Fatalf("the Go heap's objects rose by %s during the flood, over the bound %s (%d slots × 64 MiB + %s); RSS %s before, peak %s",
			mibs(heapRise), mibs(bound), slots, mibs(margin), mibs(baseRSS), mibs(peakRSS))
	}
}
