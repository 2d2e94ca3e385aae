package storetest

import (
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/google/go-cmp/cmp"

	"github.com/accountd/accountd/store"
)

func testLoginFailures(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	other := mustCreateAccount(t, s, newAccount("bob", ""))
	if got := mustGetAccount(t, s, a.ID).Failures; got != (store.LoginFailures{}) {
		t.Fatalf("new account Failures = %+v, want zero", got)
	}
	for i := 1; i <= 3; i++ {
		at := t0.Add(time.Duration(i) * time.Minute)
		f, err := s.RecordLoginFailure(ctx, failure(a.ID, at))
		if err != nil {
			t.Fatalf("RecordLoginFailure #%d: %v", i, err)
		}
		if f.Count != i || !f.LastAt.Equal(at) || f.LastAt.Location() != time.UTC {
			t.Fatalf("RecordLoginFailure #%d = %+v, want {%d %v UTC}", i, f, i, at)
		}
	}
	want := store.LoginFailures{Count: 3, LastAt: t0.Add(3 * time.Minute)}
	for _, got := range []store.Account{mustGetAccount(t, s, a.ID), mustGetByUsername(t, s, "alice")} {
		if !got.Failures.LastAt.Equal(want.LastAt) || got.Failures.Count != want.Count {
			t.Fatalf("account Failures = %+v, want %+v", got.Failures, want)
		}
	}
	if got := mustGetAccount(t, s, other.ID).Failures; got != (store.LoginFailures{}) {
		t.Fatalf("another account's Failures = %+v, want zero", got)
	}
	if n, err := s.ResetLoginFailures(ctx, a.ID, store.AuthEvent{}); err != nil || n != 3 {
		t.Fatalf("ResetLoginFailures = %d, %v; want 3 cleared", n, err)
	}
	if got := mustGetAccount(t, s, a.ID).Failures; got != (store.LoginFailures{}) {
		t.Fatalf("Failures after reset = %+v, want zero", got)
	}
	// Resetting a clean account is fine (matched, not changed).
	if n, err := s.ResetLoginFailures(ctx, a.ID, store.AuthEvent{}); err != nil || n != 0 {
		t.Fatalf("ResetLoginFailures on a clean account = %d, %v; want 0, nil", n, err)
	}
	if _, err := s.RecordLoginFailure(ctx, failure(newID(), t0)); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("RecordLoginFailure(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.ResetLoginFailures(ctx, newID(), store.AuthEvent{}); !errors.Is(err, store.ErrNotFound) {
		t.Errorf("ResetLoginFailures(unknown) = %v, want ErrNotFound", err)
	}
	if _, err := s.RecordLoginFailure(ctx, failure(a.ID, time.Time{})); err == nil {
		t.Errorf("RecordLoginFailure with a zero time succeeded")
	}
	if _, err := s.RecordLoginFailure(ctx, failure("", t0)); err == nil {
		t.Errorf("RecordLoginFailure without an account id succeeded")
	}
	// Each recorded failure appended its event, in the same transaction;
	// the refused ones appended nothing.
	ev, err := s.ListAuthEvents(ctx, store.AuthEventFilter{})
	if err != nil {
		t.Fatal(err)
	}
	if len(ev) != 3 {
		t.Fatalf("%d events after 3 recorded failures, want 3", len(ev))
	}
	for i, e := range ev {
		at := t0.Add(time.Duration(3-i) * time.Minute)
		if e.AccountID != a.ID || e.Type != store.EventLoginFailed || e.Reason != store.ReasonWrongPassword || !e.At.Equal(at) || e.IP != "192.0.2.7" {
			t.Errorf("event %d = %+v, want the failure at %v", i, e, at)
		}
	}
}

// failure is the event of a wrong password for account id at a time.
func failure(id string, at time.Time) store.AuthEvent {
	return store.AuthEvent{At: at, Type: store.EventLoginFailed, Reason: store.ReasonWrongPassword, IP: "192.0.2.7", AccountID: id}
}

func mustGetByUsername(t *testing.T, s store.Store, username string) store.Account {
	t.Helper()
	a, err := s.GetAccountByUsername(ctxFor(t), username)
	if err != nil {
		t.Fatalf("GetAccountByUsername(%q): %v", username, err)
	}
	return a
}

// testConcurrentLoginFailures checks that concurrent failures each count
// once and each caller sees a distinct count.
func testConcurrentLoginFailures(t *testing.T, s store.Store) {
	a := mustCreateAccount(t, s, newAccount("alice", ""))
	counts := make([]int, concurrency)
	var wg sync.WaitGroup
	start := make(chan struct{})
	for i := range concurrency {
		wg.Go(func() {
			<-start
			f, err := s.RecordLoginFailure(ctxFor(t), failure(a.ID, t0.Add(time.Duration(i)*time.Second)))
			if err != nil {
				t.Errorf("RecordLoginFailure: %v", err)
			}
			counts[i] = f.Count
		})
	}
	close(start)
	wg.Wait()
	slices.Sort(counts)
	for i, n := range counts {
		if n != i+1 {
			t.Fatalf("counts returned to %d concurrent callers = %v, want 1..%d each once", concurrency, counts, concurrency)
		}
	}
	if got := mustGetAccount(t, s, a.ID).Failures.Count; got != concurrency {
		t.Errorf("Failures.Count = %d, want %d", got, concurrency)
	}
}

func testAuthEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	alice, bob := newID(), newID()
	events := []store.AuthEvent{
		{At: t0, Type: store.EventSignup, IP: "192.0.2.1", AccountID: alice},
		{At: t0.Add(time.Second), Type: store.EventLoginFailed, Reason: store.ReasonUnknownUser, IP: "2001:db8::1", Count: 123456789012},
		{At: t0.Add(2 * time.Second), Type: store.EventLogin, IP: "192.0.2.1", AccountID: alice, SessionID: newID()},
		{At: t0.Add(3 * time.Second), Type: store.EventLoginFailed, Reason: store.ReasonWrongPassword, IP: "192.0.2.9", AccountID: bob},
		// Same instant as the previous one: the order falls back to the id.
		{At: t0.Add(3 * time.Second), Type: store.EventUnlocked, AccountID: bob},
		{At: t0.Add(time.Hour + 123456*time.Microsecond), Type: store.EventLogout, IP: "192.0.2.1", AccountID: alice, SessionID: newID()},
	}
	for _, e := range events {
		if err := s.AddAuthEvent(ctx, e); err != nil {
			t.Fatalf("AddAuthEvent(%+v): %v", e, err)
		}
	}
	newestFirst := slices.Clone(events)
	slices.Reverse(newestFirst)
	ignoreID := cmp.Comparer(func(a, b store.AuthEvent) bool {
		return a.At.Equal(b.At) && a.At.Location() == b.At.Location() && a.Type == b.Type && a.Reason == b.Reason &&
			a.IP == b.IP && a.AccountID == b.AccountID && a.SessionID == b.SessionID && a.Count == b.Count
	})
	list := func(f store.AuthEventFilter) []store.AuthEvent {
		t.Helper()
		got, err := s.ListAuthEvents(ctx, f)
		if err != nil {
			t.Fatalf("ListAuthEvents(%+v): %v", f, err)
		}
		return got
	}

	all := list(store.AuthEventFilter{})
	if diff := cmp.Diff(newestFirst, all, ignoreID); diff != "" {
		t.Fatalf("ListAuthEvents() (-want +got):\n%s", diff)
	}
	for i := 1; i < len(all); i++ {
		if all[i].ID >= all[i-1].ID {
			t.Fatalf("ids not increasing with insertion: %d then %d", all[i].ID, all[i-1].ID)
		}
	}
	tests := []struct {
		name string
		f    store.AuthEventFilter
		want []store.AuthEvent
	}{
		{"account", store.AuthEventFilter{AccountID: alice}, []store.AuthEvent{events[5], events[2], events[0]}},
		{"since (inclusive)", store.AuthEventFilter{Since: t0.Add(3 * time.Second)}, []store.AuthEvent{events[5], events[4], events[3]}},
		{"account and since", store.AuthEventFilter{AccountID: alice, Since: t0.Add(time.Second)}, []store.AuthEvent{events[5], events[2]}},
		{"limit keeps the newest", store.AuthEventFilter{Limit: 2}, []store.AuthEvent{events[5], events[4]}},
		{"no match", store.AuthEventFilter{AccountID: newID()}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if diff := cmp.Diff(tt.want, list(tt.f), ignoreID, cmpOpts[0]); diff != "" {
				t.Errorf("(-want +got):\n%s", diff)
			}
		})
	}
	if _, err := s.ListAuthEvents(ctx, store.AuthEventFilter{Limit: -1}); err == nil {
		t.Errorf("ListAuthEvents with a negative limit succeeded")
	}

	n, err := s.PruneAuthEvents(ctx, t0.Add(3*time.Second))
	if err != nil || n != 3 {
		t.Fatalf("PruneAuthEvents = %d, %v; want 3, nil", n, err)
	}
	if diff := cmp.Diff(newestFirst[:3], list(store.AuthEventFilter{}), ignoreID); diff != "" {
		t.Fatalf("after prune (-want +got):\n%s", diff)
	}
	if n, err := s.PruneAuthEvents(ctx, t0); err != nil || n != 0 {
		t.Fatalf("PruneAuthEvents again = %d, %v; want 0, nil", n, err)
	}
}

func testAuthEventInvalid(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	long := string(make([]byte, 100))
	for _, e := range []store.AuthEvent{
		{Type: store.EventLogin}, // no time
		{At: t0},                 // no type
		{At: t0, Type: store.EventLogin, IP: long},     // too long
		{At: t0, Type: store.EventLogin, Reason: long}, // too long
		{At: t0, Type: store.EventLogin, Count: -1},
	} {
		if err := s.AddAuthEvent(ctx, e); err == nil {
			t.Errorf("AddAuthEvent(%+v) succeeded, want an error", e)
		}
	}
	if got, err := s.ListAuthEvents(ctx, store.AuthEventFilter{}); err != nil || len(got) != 0 {
		t.Errorf("after refused inserts: %d events, %v; want none", len(got), err)
	}
}

// testConcurrentAuthEvents: events appended at the same time from many
// callers are each written once, whole, and a bad one among them is
// refused alone.
func testConcurrentAuthEvents(t *testing.T, s store.Store) {
	ctx := ctxFor(t)
	const callers, each = 16, 8
	account := newID()
	var wg sync.WaitGroup
	errs := make(chan error, callers*each)
	for c := range callers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				e := store.AuthEvent{At: t0.Add(time.Duration(c*each+i) * time.Millisecond), Type: store.EventRefresh,
					IP: fmt.Sprintf("192.0.2.%d", c), AccountID: account, SessionID: fmt.Sprintf("s%d-%d", c, i)}
				if c == 0 && i == 0 {
					e.Reason = strings.Repeat("x", 1000)
					if err := s.AddAuthEvent(ctx, e); err == nil {
						errs <- fmt.Errorf("an event with a 1000-byte reason was written")
					}
					continue
				}
				if err := s.AddAuthEvent(ctx, e); err != nil {
					errs <- err
				}
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Error(err)
	}
	got, err := s.ListAuthEvents(ctx, store.AuthEventFilter{AccountID: account, Limit: 2 * callers * each})
	if err != nil {
		t.Fatal(err)
	}
	seen := map[string]int{}
	for _, e := range got {
		seen[e.SessionID]++
		var c, i int
		if _, err := fmt.Sscanf(e.SessionID, "s%d-%d", &c, &i); err != nil || e.IP != fmt.Sprintf("192.0.2.%d", c) ||
			!e.At.Equal(t0.Add(time.Duration(c*each+i)*time.Millisecond)) || e.Type != store.EventRefresh {
			t.Errorf("event %+v is not the one appended for session %s", e, e.SessionID)
		}
	}
	if len(got) != callers*each-1 || len(seen) != callers*each-1 {
		t.Fatalf("%d events (%d sessions) written, want %d, each once", len(got), len(seen), callers*each-1)
	}
}
