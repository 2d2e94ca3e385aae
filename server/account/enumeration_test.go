package account_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"testing"
	"time"

	"github.com/accountd/accountd/protocol"
	"github.com/accountd/accountd/server/account"
	"github.com/accountd/accountd/server/servertest"
	"github.com/accountd/accountd/store"
	"github.com/accountd/accountd/store/sqlstore/sqltest"
)

// TestLoginTimingIndistinguishable compares how long a refused login takes
// for an unknown username, a wrong password and a locked account: each
// runs one Argon2 verification and one database write, so their medians
// agree. The Argon2 cost is cheap but real (8 MiB, one pass) so that the
// hash still dominates. A login refused before any hash (a password over
// the length bound) is measured too, to show the test can tell a missing
// hash apart.
//
// It measures time, so it does not run in parallel with the package's
// other tests: they would load the CPU unevenly between its samples.
func TestLoginTimingIndistinguishable(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: takes a few hundred hashes")
	}
	st := sqltest.NewSQLite(t)
	cfg := testConfig(t, st, servertest.NewClock())
	cfg.Argon2 = account.Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	cfg.ThrottleAfter = account.MaxLockAfter // no waits: this test is about the work
	svc := mustService(t, cfg)
	// Up to three runs of 240 logins: more than ctxT's 30 s on a loaded
	// machine.
	tctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctx := account.WithClientIP(tctx, testIP)
	alice, err := svc.Signup(ctx, protocol.SignupRequest{Username: "alice", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	bob, err := svc.Signup(ctx, protocol.SignupRequest{Username: "bob", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	for range account.MaxLockAfter {
		if _, err := st.RecordLoginFailure(ctx, store.AuthEvent{At: cfg.Now().UTC(), Type: store.EventLoginFailed, AccountID: bob.Account.ID}); err != nil {
			t.Fatal(err)
		}
	}
	kinds := []loginKind{
		{"unknown user", protocol.LoginRequest{Username: "nobody", Password: wrongPassword}},
		{"wrong password", protocol.LoginRequest{Username: "alice", Password: wrongPassword}},
		{"locked account", protocol.LoginRequest{Username: "bob", Password: goodPassword}},
		{"no hash (control)", protocol.LoginRequest{Username: "alice", Password: string(make([]byte, 4*account.MaxPasswordLength+1))}},
	}
	// The machine may be shared and loaded: a run whose medians disagree
	// is measured again, up to three times. A real difference (a missing
	// hash) shows in every run; a burst of load does not.
	const attempts = 3
	for attempt := 1; ; attempt++ {
		med := measureLogins(ctx, t, svc, st, alice.Account.ID, kinds)
		// The control must stand apart, or the comparison proves nothing.
		lo, hi := min(med[0], med[1], med[2]), max(med[0], med[1], med[2])
		if float64(med[3]) > 0.5*float64(lo) {
			t.Fatalf("a login without a hash took %v, not clearly less than %v: the test cannot see the hash", med[3], lo)
		}
		// The three refusals that hash: medians within 25% of each other.
		diff := float64(hi-lo) / float64(hi)
		if diff <= 0.25 {
			t.Logf("run %d: medians within %.0f%% of each other", attempt, 100*diff)
			return
		}
		msg := fmt.Sprintf("run %d: medians differ by %v (%.0f%%): unknown %v, wrong %v, locked %v", attempt, hi-lo, 100*diff, med[0], med[1], med[2])
		if attempt == attempts {
			t.Fatal(msg)
		}
		t.Log(msg + "; measuring again")
	}
}

type loginKind struct {
	name string
	req  protocol.LoginRequest
}

// measureLogins times 60 logins of each kind, interleaved, and returns
// the median of each.
func measureLogins(ctx context.Context, t *testing.T, svc *account.Service, st store.Store, aliceID string, kinds []loginKind) []time.Duration {
	const rounds = 60
	samples := make([][]time.Duration, len(kinds))
	for round := range rounds {
		if round%50 == 0 {
			// Keep alice below the lock; outside the timed calls.
			if _, err := st.ResetLoginFailures(ctx, aliceID, store.AuthEvent{}); err != nil {
				t.Fatal(err)
			}
		}
		// Rotate the order so that no kind always follows another.
		for j := range kinds {
			k := (j + round) % len(kinds)
			start := time.Now()
			_, err := svc.Login(ctx, kinds[k].req)
			samples[k] = append(samples[k], time.Since(start))
			var se *account.Error
			if !errors.As(err, &se) || se.Code != protocol.CodeInvalidCredentials {
				t.Fatalf("%s: %v", kinds[k].name, err)
			}
		}
	}
	med := make([]time.Duration, len(kinds))
	for i, s := range samples {
		slices.Sort(s)
		med[i] = s[len(s)/2]
		t.Logf("%-18s median %v (p10 %v, p90 %v) over %d logins", kinds[i].name, med[i].Round(10*time.Microsecond),
			s[len(s)/10].Round(10*time.Microsecond), s[len(s)*9/10].Round(10*time.Microsecond), len(s))
	}
	return med
}

// TestLoginTimingAfterParameterChange: after the Argon2 cost is raised,
// the accounts' hashes keep their old, cheaper parameters until their
// owners log in again. An unknown username must then cost what those
// accounts cost, not the new cost, or its answer would tell that it
// names no account. An account made under the new cost is measured too,
// to show the test can see the difference.
//
// It measures time, so it does not run in parallel with the package's
// other tests.
func TestLoginTimingAfterParameterChange(t *testing.T) {
	if testing.Short() {
		t.Skip("-short: takes a few hundred hashes")
	}
	st := sqltest.NewSQLite(t)
	clock := servertest.NewClock()
	cfg := testConfig(t, st, clock)
	cfg.Argon2 = account.Argon2Params{Time: 1, MemoryKiB: 8 * 1024, Threads: 1}
	cfg.ThrottleAfter = account.MaxLockAfter
	tctx, cancel := context.WithTimeout(context.Background(), 5*time.Minute)
	defer cancel()
	ctx := account.WithClientIP(tctx, testIP)
	old := mustService(t, cfg)
	alice, err := old.Signup(ctx, protocol.SignupRequest{Username: "alice", Password: goodPassword})
	if err != nil {
		t.Fatal(err)
	}
	old.Close()

	// The operator raises the cost sixfold and restarts.
	cfg.Argon2.Time = 6
	svc := mustService(t, cfg)
	if _, err := svc.Signup(ctx, protocol.SignupRequest{Username: "carol", Password: goodPassword}); err != nil {
		t.Fatal(err)
	}
	kinds := []loginKind{
		{"unknown user", protocol.LoginRequest{Username: "nobody", Password: wrongPassword}},
		{"old-cost account", protocol.LoginRequest{Username: "alice", Password: wrongPassword}},
		{"new-cost (control)", protocol.LoginRequest{Username: "carol", Password: wrongPassword}},
	}
	const attempts = 3
	for attempt := 1; ; attempt++ {
		med := measureLogins(ctx, t, svc, st, alice.Account.ID, kinds)
		lo, hi := min(med[0], med[1]), max(med[0], med[1])
		if float64(med[2]) < 1.5*float64(hi) {
			t.Fatalf("the new-cost account took %v, not clearly more than %v: the test cannot see the cost", med[2], hi)
		}
		diff := float64(hi-lo) / float64(hi)
		if diff <= 0.25 {
			t.Logf("run %d: unknown and old-cost medians within %.0f%% of each other", attempt, 100*diff)
			return
		}
		msg := fmt.Sprintf("run %d: medians differ by %v (%.0f%%): unknown %v, old-cost %v", attempt, hi-lo, 100*diff, med[0], med[1])
		if attempt == attempts {
			t.Fatal(msg)
		}
		t.Log(msg + "; measuring again")
	}
}
