package account

import (
	"context"
	"crypto/rand"
	"sync"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestIssueCodeLimitAcrossInstances: two instances' mail senders issue
// reset codes for one account at once, on one MariaDB database; at most
// codesPerWindow are issued in the window, however the issues
// interleave. (Each counted from the code it had read, and wrote its
// count over the others'.)
func TestIssueCodeLimitAcrossInstances(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	st := sqltest.NewMySQL(t)
	mk := make([]byte, 32)
	rand.Read(mk)
	var instances [2]*Service
	for i := range instances {
		svc, err := New(ctx, Config{Store: st, MasterKey: mk, Argon2: Argon2Params{Time: 1, MemoryKiB: 1024, Threads: 1}})
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(svc.Close)
		instances[i] = svc
	}
	if _, err := instances[0].Signup(ctx, protocol.SignupRequest{Username: "alice", Password: "correct horse battery staple"}); err != nil {
		t.Fatal(err)
	}
	a, err := st.GetAccountByUsername(ctx, "alice")
	if err != nil {
		t.Fatal(err)
	}
	const tries = 24
	var (
		wg     sync.WaitGroup
		mu     sync.Mutex
		issued int
	)
	for i := range tries {
		wg.Go(func() {
			code, err := instances[i%2].issueCode(ctx, a, store.PurposeReset, "alice@example.com", true)
			if err != nil {
				t.Error(err)
				return
			}
			if code != "" {
				mu.Lock()
				issued++
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	t.Logf("%d concurrent issues from two instances: %d codes issued", tries, issued)
	if issued > codesPerWindow {
		t.Fatalf("%d codes issued in one window, over the limit of %d", issued, codesPerWindow)
	}
	if issued == 0 {
		t.Fatal("no code issued")
	}
	c, err := st.GetEmailCode(ctx, a.ID, store.PurposeReset)
	if err != nil || c.Issued != issued {
		t.Fatalf("stored code counts %d issued (%v), want %d", c.Issued, err, issued)
	}
}
